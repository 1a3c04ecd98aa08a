"""Who may do what, through the real gateway configured with a tokens file and JWTs: every public
endpoint against no token, a wrong token, an expired JWT, two customers, staff and admin, with
the exact status each must get. Then spoofed identities, calls around the gateway, token guessing,
and logs that must never hold a token."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from devtools.system import LocalSystem

JWT_SECRET = "test-jwt-secret-of-a-decent-length-0123456789"
TOKENS = {
    "alice": "tok-alice-5b0e",
    "bob": "tok-bob-91c2",
    "staff": "tok-staff-77aa",
    "admin": "tok-admin-3f10",
    "josé": "tok-jose-0c4d",
}
ROLES = {"alice": "customer", "bob": "customer", "staff": "staff", "admin": "admin", "josé": "customer"}


def a_jwt(
    subject: str, roles: list[str], *, expires_in: float = 6 * 3600, audience: str = "bookstore"
) -> str:
    claims = {"sub": subject, "roles": roles, "aud": audience, "exp": int(time.time() + expires_in)}
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


CALLERS: dict[str, str | None] = {
    "none": None,
    "wrong": "tok-nobody",
    "expired jwt": a_jwt("carol", ["customer"], expires_in=-60),
    "wrong audience": a_jwt("carol", ["customer"], audience="elsewhere"),
    "alice": TOKENS["alice"],
    "bob": TOKENS["bob"],
    "carol (jwt)": a_jwt("carol", ["customer"]),
    "staff": TOKENS["staff"],
    "sam (staff jwt)": a_jwt("sam", ["staff"]),
    "admin": TOKENS["admin"],
}
UNAUTHENTICATED = ("none", "wrong", "expired jwt", "wrong audience")
CUSTOMERS = ("alice", "bob", "carol (jwt)")
STAFF = ("staff", "sam (staff jwt)")


def expect(customer: int | dict[str, int], staff: int, admin: int) -> dict[str, int]:
    per_customer = customer if isinstance(customer, dict) else dict.fromkeys(CUSTOMERS, customer)
    return {
        **dict.fromkeys(UNAUTHENTICATED, 401),
        **per_customer,
        **dict.fromkeys(STAFF, staff),
        "admin": admin,
    }


def isbn13(n: int) -> str:
    body = f"978{n:09d}"
    check = (10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body)) % 10) % 10
    return body + str(check)


def new_book(caller: str) -> dict[str, Any]:
    slug = caller.split()[0]
    n = int(hashlib.sha256(slug.encode()).hexdigest()[:8], 16) % 10**9
    return {"id": f"sec-{slug}", "title": "T", "author": "A", "price": 9.5, "stock": 3, "isbn": isbn13(n)}


def own_order(caller: str) -> dict[str, Any]:
    subject = {"carol (jwt)": "carol", "sam (staff jwt)": "sam"}.get(caller, caller)
    return {"customer_id": subject, "books": [{"book_id": "123", "quantity": 1}], "payment_method": "paypal"}


FOREIGN_ORDER = {
    "customer_id": "mallory",
    "books": [{"book_id": "123", "quantity": 1}],
    "payment_method": "paypal",
}

# (name, method, path, body or a function of the caller, expected status per caller)
MATRIX: list[tuple[str, str, str, Any, dict[str, int]]] = [
    ("list books", "GET", "/api/books", None, expect(200, 200, 200)),
    ("read a book", "GET", "/api/books/123", None, expect(200, 200, 200)),
    ("add a book", "POST", "/api/books", new_book, expect(403, 201, 201)),
    ("edit a book", "PATCH", "/api/books/456", {"title": "1984"}, expect(403, 200, 200)),
    ("change stock", "POST", "/api/books/456/stock", {"delta": 1}, expect(403, 200, 200)),
    ("delete a book", "DELETE", "/api/books/doomed", None, expect(403, 403, 204)),
    ("order for oneself", "POST", "/api/orders", own_order, expect(201, 201, 201)),
    ("order for another", "POST", "/api/orders", FOREIGN_ORDER, expect(403, 201, 201)),
    ("list orders", "GET", "/api/orders", None, expect(200, 200, 200)),
    (
        "read alice's order",
        "GET",
        "/api/orders/order_1",
        None,
        expect({"alice": 200, "bob": 404, "carol (jwt)": 404}, 200, 200),
    ),
    (
        "cancel bob's order",
        "POST",
        "/api/orders/order_2/cancel",
        None,
        expect({"alice": 404, "bob": 200, "carol (jwt)": 404}, 200, 200),
    ),
    ("list deliveries", "GET", "/api/deliveries", None, expect(200, 200, 200)),
    (
        "read alice's delivery",
        "GET",
        "/api/deliveries/del_1",
        None,
        expect({"alice": 200, "bob": 404, "carol (jwt)": 404}, 200, 200),
    ),
    (
        "move a delivery out of turn",
        "PATCH",
        "/api/deliveries/del_1",
        {"status": "Delivered"},
        expect(403, 409, 409),
    ),
]


def tokens_file(directory: Path) -> Path:
    entries = [
        {"subject": name, "roles": [ROLES[name]], "token_sha256": hashlib.sha256(token.encode()).hexdigest()}
        for name, token in TOKENS.items()
    ]
    path = directory / "tokens.json"
    path.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    return path


def secured(root: Path, **env: str) -> LocalSystem:
    return LocalSystem(
        root,
        env={
            "TOKENS_FILE": str(tokens_file(root)),
            "GATEWAY_JWT_SECRET": JWT_SECRET,
            "GATEWAY_JWT_AUDIENCE": "bookstore",
            **env,
        },
    )


def call(
    system: LocalSystem, caller: str, method: str, path: str, body: Any = None, **headers: str
) -> httpx.Response:
    token = CALLERS[caller]
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.request(method, system.url + path, json=body, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSystem]:
    root = tmp_path_factory.mktemp("secure")
    # Many deliberate 401s come from this one address: keep the guessing brake out of the matrix.
    system = secured(root, GATEWAY_AUTH_FAILURES_BURST="10000")
    try:
        system.start()
        assert call(system, "alice", "POST", "/api/orders", own_order("alice")).status_code == 201  # order_1
        assert call(system, "bob", "POST", "/api/orders", own_order("bob")).status_code == 201  # order_2
        delivery = call(
            system, "alice", "POST", "/api/deliveries", {"order_id": "order_1", "address": "1 A St"}
        )
        assert delivery.status_code == 201, delivery.text
        doomed = {**new_book("x"), "id": "doomed", "isbn": isbn13(7)}
        assert call(system, "admin", "POST", "/api/books", doomed).status_code == 201
        yield system
    finally:
        system.close()


@pytest.mark.parametrize(
    ("name", "method", "path", "body", "caller"),
    [(n, m, p, b, c) for n, m, p, b, exp in MATRIX for c in exp],
    ids=[f"{n} as {c}" for n, _, _, _, exp in MATRIX for c in exp],
)
def test_every_caller_gets_exactly_the_status_its_role_allows(
    shop: LocalSystem, name: str, method: str, path: str, body: Any, caller: str
) -> None:
    expected = next(exp for n, *_, exp in MATRIX if n == name)[caller]
    payload = body(caller) if callable(body) else body

    response = call(shop, caller, method, path, payload)

    assert response.status_code == expected, response.text
    if expected == 401:
        assert response.json()["error"] == "Unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
    if expected == 403:
        assert "error" in response.json()


def test_a_customer_lists_only_its_own_orders_and_deliveries(shop: LocalSystem) -> None:
    orders = call(shop, "alice", "GET", "/api/orders").json()
    deliveries = call(shop, "bob", "GET", "/api/deliveries").json()

    assert orders and {o["customer_id"] for o in orders.values()} == {"alice"}
    assert deliveries == {}


def test_a_customer_cannot_schedule_the_delivery_of_anothers_order(shop: LocalSystem) -> None:
    response = call(shop, "alice", "POST", "/api/deliveries", {"order_id": "order_2", "address": "1 A St"})

    assert response.status_code == 400
    assert response.json()["error"] == "Order order_2 not found"


@pytest.mark.parametrize("token", [TOKENS["josé"], a_jwt("josé", ["customer"])], ids=["tokens file", "jwt"])
def test_a_subject_that_is_not_ascii_is_the_same_principal_end_to_end(shop: LocalSystem, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    order = {**own_order("alice"), "customer_id": "josé"}

    placed = httpx.post(shop.url + "/api/orders", json=order, headers=headers, timeout=30)
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["order_id"]
    read = httpx.get(f"{shop.url}/api/orders/{order_id}", headers=headers, timeout=30)
    listed = httpx.get(shop.url + "/api/orders", headers=headers, timeout=30)
    foreign = httpx.post(shop.url + "/api/orders", json=FOREIGN_ORDER, headers=headers, timeout=30)

    assert read.status_code == 200 and read.json()["customer_id"] == "josé"
    assert {o["customer_id"] for o in listed.json().values()} == {"josé"}
    assert foreign.status_code == 403, foreign.text


def test_identity_headers_sent_by_a_client_are_ignored(shop: LocalSystem) -> None:
    forged = {"X-Principal-Subject": "bob", "X-Principal-Roles": "admin", "X-Internal-Signature": "t=1,s=00"}

    assert call(shop, "alice", "GET", "/api/orders/order_2", **forged).status_code == 404
    assert call(shop, "alice", "POST", "/api/books", new_book("forged"), **forged).status_code == 403


@pytest.mark.parametrize("service", ["inventory", "sales", "delivery"])
def test_a_service_cannot_be_called_around_the_gateway(shop: LocalSystem, service: str) -> None:
    path = {"inventory": "/api/books", "sales": "/api/orders", "delivery": "/api/deliveries"}[service]
    base = shop.service_url(service)
    admin = {"X-Principal-Subject": "admin", "X-Principal-Roles": "admin"}

    for headers in ({}, admin, {**admin, "X-Internal-Signature": "t=1,s=00"}):
        response = httpx.get(base + path, headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.json()["error"] == "Unauthorized"
    internal = httpx.post(base + "/internal/holds/order_1/release", headers=admin)
    assert internal.status_code == 401
    assert httpx.get(base + "/healthz").status_code == 200  # load balancers still see it


def test_logs_never_hold_a_token(shop: LocalSystem) -> None:
    call(shop, "wrong", "GET", "/api/books")
    for name in shop.specs:
        log = shop.log(name)
        for token in (*TOKENS.values(), *(t for t in CALLERS.values() if t)):
            assert token not in log, name
        assert "Bearer " not in log, name


def test_guessing_tokens_gets_429_before_it_gets_far(tmp_path: Path) -> None:
    # A refill slow enough that 31 calls on a loaded machine never earn a guess back (at the
    # default 0.5/s a 13 s run earned six, and the 13th guess was a 401).
    system = secured(tmp_path, GATEWAY_AUTH_FAILURES_PER_SECOND="0.01")
    try:
        system.start()
        statuses = [call(system, "wrong", "GET", "/api/books").status_code for _ in range(30)]
        after = call(system, "admin", "GET", "/api/books")
    finally:
        system.close()

    assert statuses[:10] == [401] * 10
    assert statuses[10:] == [429] * 20
    assert after.status_code == 429, "a right guess must not stand out while the address is braked"
    assert int(after.headers["retry-after"]) >= 1


def test_a_privileged_action_leaves_an_audit_line_with_who_did_it(shop: LocalSystem) -> None:
    response = call(
        shop, "staff", "POST", "/api/books/789/stock", {"delta": 2}, **{"X-Request-ID": "audit-me-1"}
    )
    assert response.status_code == 200

    lines = [json.loads(line) for line in shop.log("gateway").splitlines() if '"audit-me-1"' in line]
    audit = [line for line in lines if line["logger"] == "audit"]
    assert len(audit) == 1
    assert audit[0] | {"time": None} == audit[0] | {
        "time": None,
        "message": "privileged action",
        "subject": "staff",
        "roles": ["staff"],
        "method": "POST",
        "path": "/api/books/789/stock",
        "status": 200,
        "request_id": "audit-me-1",
    }

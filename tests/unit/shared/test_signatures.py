"""The internal signature (shared/internal.py): what it covers, and that it is good once."""

from __future__ import annotations

import pytest

from shared import internal
from tests.helpers import FakeClock

SECRET = "s" * 32
REQUEST = {"method": "POST", "target": "/api/books/123/stock?x=1", "subject": "staff_1", "roles": "staff"}
BODY = b'{"delta": 1}'


def signed() -> str:
    return internal.sign(SECRET, body=BODY, now=1000, **REQUEST)


def test_the_request_as_signed_verifies() -> None:
    assert internal.verify(SECRET, signed(), body=BODY, now=1000, **REQUEST)


@pytest.mark.parametrize(
    ("part", "value"),
    [
        ("method", "PATCH"),
        ("target", "/api/books/123/stock?x=2"),
        ("target", "/api/books/123/stock"),
        ("target", "/api/books/456/stock?x=1"),
        ("subject", "admin_1"),
        ("roles", "admin"),
    ],
)
def test_any_other_method_path_query_or_principal_does_not(part: str, value: str) -> None:
    assert internal.verify(SECRET, signed(), body=BODY, now=1000, **{**REQUEST, part: value}) is None


def test_another_body_a_stale_time_or_another_secret_does_not() -> None:
    assert internal.verify(SECRET, signed(), body=b'{"delta": 500}', now=1000, **REQUEST) is None
    assert internal.verify(SECRET, signed(), body=BODY, now=1000 + 61, **REQUEST) is None
    assert internal.verify("t" * 32, signed(), body=BODY, now=1000, **REQUEST) is None


def test_each_signature_has_its_own_nonce() -> None:
    assert internal.verify(SECRET, signed(), body=BODY, now=1000, **REQUEST) != internal.verify(
        SECRET, signed(), body=BODY, now=1000, **REQUEST
    )


def test_a_nonce_is_good_once_until_its_signature_cannot_be_valid_any_more() -> None:
    clock = FakeClock()
    nonces = internal.Nonces(clock)

    assert nonces.first_use("a")
    assert not nonces.first_use("a")
    clock.advance(2 * internal.WINDOW_SECONDS - 1)
    assert not nonces.first_use("a")
    clock.advance(2)
    assert nonces.first_use("b")  # and "a", long expired, is forgotten: the memory stays bounded
    assert nonces.first_use("a")


def test_the_nonces_remembered_are_those_of_the_last_two_windows_however_long_it_runs() -> None:
    clock = FakeClock()
    nonces = internal.Nonces(clock)
    calls = 4 * 2 * internal.WINDOW_SECONDS  # four times what it remembers, one a second

    for n in range(calls):
        assert nonces.first_use(f"n{n}")
        clock.advance(1)

    assert len(nonces) == 2 * internal.WINDOW_SECONDS
    assert not nonces.first_use(f"n{calls - 1}")

"""TLS at the edge of the compose stack: nginx serves HTTPS with the certificate it was given (a client
trusting only the run's CA verifies it), TLS 1.2 and 1.3 only, HTTP/2, HSTS on every answer, and its
plain HTTP port answers nothing but its health check and a 308 redirect to HTTPS.

These run first (module names in order) and read only: test_stack.py's flow expects a fresh shop."""

from __future__ import annotations

import socket
import ssl
import warnings

import httpx
import pytest

from tests.compose.stack import ComposeStack

pytestmark = pytest.mark.compose
HSTS = "max-age=63072000"


def handshake(stack: ComposeStack, context: ssl.SSLContext, server_name: str = "localhost") -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", stack.https_port), timeout=10)
    try:
        return context.wrap_socket(raw, server_hostname=server_name)
    except BaseException:
        raw.close()
        raise


def any_version_client(version: ssl.TLSVersion) -> ssl.SSLContext:
    """A client that offers exactly `version`, old ones included (OpenSSL's own floor lowered), and
    checks no certificate: whatever is refused, the server refused it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLSv1 and TLSv1_1: the point here
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        context.minimum_version = context.maximum_version = version
    return context


async def test_the_certificate_verifies_against_the_ca_and_nothing_else(stack: ComposeStack) -> None:
    async with stack.trusting_client() as trusting:
        assert (await trusting.get("/healthz")).status_code == 200
    async with httpx.AsyncClient(base_url=stack.url) as system_trust:  # the system's CAs only
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await system_trust.get("/healthz")


@pytest.mark.parametrize("name", ["TLSv1", "TLSv1_1"])
def test_tls_1_0_and_1_1_are_refused_by_the_server(stack: ComposeStack, name: str) -> None:
    with pytest.raises(ssl.SSLError) as refused:
        handshake(stack, any_version_client(getattr(ssl.TLSVersion, name)))
    # An alert from the server, not a client unable to offer the version.
    assert refused.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION", refused.value


@pytest.mark.parametrize("name", ["TLSv1_2", "TLSv1_3"])
def test_tls_1_2_and_1_3_are_accepted(stack: ComposeStack, name: str) -> None:
    with handshake(stack, any_version_client(getattr(ssl.TLSVersion, name))) as tls:
        assert tls.version() == name.replace("_", ".")


def test_http2_is_offered_first(stack: ComposeStack) -> None:
    context = ssl.create_default_context(cafile=stack.certs / "ca.crt")
    context.set_alpn_protocols(["h2", "http/1.1"])
    with handshake(stack, context) as tls:
        assert tls.selected_alpn_protocol() == "h2"


@pytest.mark.parametrize("path", ["/api/books", "/healthz", "/metrics", "/nowhere/../internal/x"])
async def test_every_https_answer_carries_hsts(client: httpx.AsyncClient, path: str) -> None:
    """A gateway's answer and nginx's own 404 for the hidden paths alike."""
    response = await client.get(path)
    assert response.headers["strict-transport-security"] == HSTS, (path, response.status_code)


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
async def test_plain_http_is_redirected_to_the_same_url_over_https(stack: ComposeStack, method: str) -> None:
    async with httpx.AsyncClient(base_url=stack.http_url) as plain:
        response = await plain.request(method, "/api/books?q=great&limit=2", content=b"{}")
    assert response.status_code == 308  # method and body kept, unlike 301/302
    assert response.headers["location"] == f"https://127.0.0.1:{stack.https_port}/api/books?q=great&limit=2"
    assert "strict-transport-security" not in response.headers  # meaningless, and ignored, over HTTP


async def test_following_the_redirect_lands_on_the_gateway_over_https(stack: ComposeStack) -> None:
    """Without a token: a client must not send one over plain HTTP (and httpx drops it on the
    redirect to another origin anyway), so the open description is what a redirect can fetch."""
    trust = ssl.create_default_context(cafile=stack.certs / "ca.crt")
    async with httpx.AsyncClient(verify=trust, follow_redirects=True) as client:
        response = await client.get(f"{stack.http_url}/apispec.json")
    assert response.status_code == 200, response.text
    assert str(response.url) == f"{stack.url}/apispec.json"
    assert response.history[0].status_code == 308
    assert response.json()["info"]["title"] == "Bookstore API"


async def test_the_health_check_answers_over_plain_http(stack: ComposeStack) -> None:
    async with httpx.AsyncClient(base_url=stack.http_url) as plain:
        response = await plain.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_plain_http_sent_to_the_https_port_is_redirected_too(stack: ComposeStack) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack.https_port}") as confused:
        response = await confused.get("/api/books")
    assert response.status_code == 308
    assert response.headers["location"] == f"https://127.0.0.1:{stack.https_port}/api/books"

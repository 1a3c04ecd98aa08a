"""`make certs` (deploy/certs.py): a CA and a localhost server certificate that a TLS client verifies
(checked by a real handshake between two in-memory TLS ends), private keys readable by their owner
only, and the CA kept across runs unless --force."""

from __future__ import annotations

import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT


def make_certs(out: Path, *args: str) -> None:
    command = [sys.executable, str(ROOT / "deploy" / "certs.py"), "--out", str(out), *args]
    subprocess.run(command, check=True, capture_output=True, timeout=60)


def handshake(certs: Path, server_name: str) -> str:
    """A whole TLS handshake between a server with tls.crt and a client trusting only ca.crt."""
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(certs / "tls.crt", certs / "tls.key")
    client_context = ssl.create_default_context(cafile=certs / "ca.crt")
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    from_server, from_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    server = server_context.wrap_bio(to_server, from_server, server_side=True)
    client = client_context.wrap_bio(to_client, from_client, server_hostname=server_name)
    done = {"client": False, "server": False}
    for _ in range(10):
        for name, end in (("client", client), ("server", server)):
            if not done[name]:
                try:
                    end.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        to_server.write(from_client.read())
        to_client.write(from_server.read())
        if all(done.values()):
            return str(client.version())
    raise AssertionError("the handshake did not finish")


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("certs")
    make_certs(out, "--host", "bookstore.localhost")
    return out


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "::1", "bookstore.localhost"])
def test_a_client_trusting_the_ca_verifies_the_server_for_each_of_its_names(certs: Path, name: str) -> None:
    assert handshake(certs, name).startswith("TLSv1.")


def test_a_name_the_certificate_does_not_cover_is_refused(certs: Path) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        handshake(certs, "shop.example.com")


def test_private_keys_are_readable_by_their_owner_only(certs: Path) -> None:
    for name in ("ca.key", "tls.key"):
        assert (certs / name).stat().st_mode & 0o777 == 0o600, name


def test_a_second_run_keeps_the_ca_and_force_replaces_it(tmp_path: Path) -> None:
    make_certs(tmp_path)
    first_ca, first_server = (tmp_path / "ca.crt").read_bytes(), (tmp_path / "tls.crt").read_bytes()
    make_certs(tmp_path)
    assert (tmp_path / "ca.crt").read_bytes() == first_ca
    assert (tmp_path / "tls.crt").read_bytes() != first_server
    handshake(tmp_path, "localhost")  # the new server certificate chains to the kept CA
    make_certs(tmp_path, "--force")
    assert (tmp_path / "ca.crt").read_bytes() != first_ca
    handshake(tmp_path, "localhost")

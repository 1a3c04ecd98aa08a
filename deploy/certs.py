"""`make certs`: a local certificate authority and a server certificate for localhost, for HTTPS in
development (nginx in the compose stack, the Ingress of a dev cluster). Never for production and
never committed (certs/ is git-ignored): a real deployment mounts its own certificate (README).

    python deploy/certs.py [--out certs] [--host NAME]... [--force]

Writes, in --out: ca.crt (what a client trusts: curl --cacert certs/ca.crt), ca.key, tls.crt (the
server's certificate for localhost, 127.0.0.1, ::1 and every --host) and tls.key. An existing CA is
kept, so clients that trust it keep working; --force makes a new one. Only `cryptography` is needed.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")
CA_DAYS = 3650
SERVER_DAYS = 397  # what browsers accept for a server certificate
Key = ec.EllipticCurvePrivateKey


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Bookstore development"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _builder(subject: x509.Name, issuer: x509.Name, key: Key, days: int) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # a clock a little behind still accepts it
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


def make_ca() -> tuple[Key, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("Bookstore development CA")
    usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)  # cert and CRL signing
    certificate = (
        _builder(name, name, key, CA_DAYS)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def make_server(ca_key: Key, ca: x509.Certificate, names: list[str]) -> tuple[Key, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    alt_names: list[x509.GeneralName] = []
    for name in names:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt_names.append(x509.DNSName(name))
    usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)  # digital signature
    issuer_key = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    certificate = (
        _builder(_name(names[0]), ca.subject, key, SERVER_DAYS)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_key), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, certificate


def _write(path: Path, data: bytes, mode: int) -> None:
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)


def _pem_key(key: Key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def write_certs(out: Path, hosts: list[str], force: bool = False) -> None:
    out.mkdir(parents=True, exist_ok=True)
    ca_key_path, ca_path = out / "ca.key", out / "ca.crt"
    if force or not (ca_key_path.exists() and ca_path.exists()):
        ca_key, ca = make_ca()
        _write(ca_key_path, _pem_key(ca_key), 0o600)
        _write(ca_path, ca.public_bytes(serialization.Encoding.PEM), 0o644)
        print(f"new CA: {ca_path}")
    else:
        loaded = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise SystemExit(f"{ca_key_path} is not a key this script made; use --force")
        ca_key, ca = loaded, x509.load_pem_x509_certificate(ca_path.read_bytes())
        print(f"kept CA: {ca_path}")
    names = list(dict.fromkeys([*DEFAULT_NAMES, *hosts]))
    key, certificate = make_server(ca_key, ca, names)
    _write(out / "tls.key", _pem_key(key), 0o600)
    _write(out / "tls.crt", certificate.public_bytes(serialization.Encoding.PEM), 0o644)
    print(f"server certificate for {', '.join(names)}: {out / 'tls.crt'} (key {out / 'tls.key'})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("certs"), help="directory (default: certs)")
    parser.add_argument("--host", action="append", default=[], help="another name or address to cover")
    parser.add_argument("--force", action="store_true", help="make a new CA too")
    args = parser.parse_args(argv)
    write_certs(args.out, args.host, args.force)


if __name__ == "__main__":
    main(sys.argv[1:])

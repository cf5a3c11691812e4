"""Signed, expiring links for objects served by the API itself (the local-directory backend)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time


class LinkSigner:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def sign(self, key: str, expires: int) -> str:
        mac = hmac.new(self._secret, f"{key}\n{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def verify(self, key: str, expires: int, signature: str, *, now: float | None = None) -> bool:
        current = time.time() if now is None else now
        if expires < current:
            return False
        # bytes, so a signature with non-ASCII characters is merely wrong rather than an error
        return hmac.compare_digest(self.sign(key, expires).encode(), signature.encode("utf-8", "surrogateescape"))

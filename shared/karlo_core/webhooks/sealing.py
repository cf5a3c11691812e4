"""Webhook signing secrets sealed at rest: AES-256-GCM under a key derived from KARLOQ_WEBHOOK_SECRET_KEY.

Redis holds ``sealed1:`` + base64(nonce, ciphertext); the tenant id is authenticated with it, so a sealed
secret copied into another tenant's record does not open. Without the key (which lives in settings, not in
Redis) a dump of Redis holds nothing that signs a webhook. A record written before sealing existed holds a
clear ``whsec_`` secret: :meth:`SecretSealer.open` still reads it, and the store seals it in place.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from karlo_core.webhooks.signing import SECRET_PREFIX

SEALED_PREFIX = "sealed1:"
_NONCE_BYTES = 12
_KDF_INFO = b"karlo-queue webhook signing secrets v1"


class UnreadableSecret(ValueError):
    """A stored secret is neither sealed under this key nor a clear secret (the key changed?)."""


class SecretSealer:
    def __init__(self, key_material: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KDF_INFO).derive(key_material.encode())
        self._aead = AESGCM(key)

    def seal(self, secret: str, *, tenant: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret.encode(), tenant.encode())
        return SEALED_PREFIX + base64.b64encode(nonce + sealed).decode("ascii")

    def open(self, stored: str, *, tenant: str) -> str:
        """The secret; a clear one (written before sealing) is returned as it is."""
        if is_clear(stored):
            return stored
        if not stored.startswith(SEALED_PREFIX):
            raise UnreadableSecret("not a sealed webhook secret")
        try:
            raw = base64.b64decode(stored.removeprefix(SEALED_PREFIX), validate=True)
            return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], tenant.encode()).decode()
        except (binascii.Error, InvalidTag, ValueError) as exc:
            raise UnreadableSecret("the webhook secret does not open with KARLOQ_WEBHOOK_SECRET_KEY") from exc


def is_clear(stored: str) -> bool:
    return stored.startswith(SECRET_PREFIX)

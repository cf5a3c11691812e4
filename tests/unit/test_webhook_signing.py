"""Our signatures, checked with the standardwebhooks library from PyPI (not our own verifier)."""

from __future__ import annotations

import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from karlo_core.webhooks.signing import new_secret, secret_key, signed_headers


def test_a_signature_verifies_with_the_reference_library() -> None:
    secret = new_secret()
    body = b'{"id":"j1","status":"succeeded"}'
    headers = signed_headers([secret], msg_id="msg_j1_1", timestamp=int(time.time()), body=body)
    assert Webhook(secret).verify(body, headers) == {"id": "j1", "status": "succeeded"}
    assert headers["webhook-signature"].startswith("v1,")


def test_two_secrets_give_two_signatures_each_verifying_alone() -> None:
    old, new = new_secret(), new_secret()
    body = b"{}"
    headers = signed_headers([new, old], msg_id="msg_x_2", timestamp=int(time.time()), body=body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(body, headers)
    Webhook(new).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)


def test_a_changed_body_does_not_verify() -> None:
    secret = new_secret()
    headers = signed_headers([secret], msg_id="msg_a_1", timestamp=int(time.time()), body=b'{"a":1}')
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(b'{"a":2}', headers)


def test_secrets_are_whsec_base64_of_32_bytes() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(secret_key(secret)) == 32
    with pytest.raises(ValueError, match="whsec_"):
        secret_key("not-a-secret")


def test_ids_with_a_full_stop_are_refused() -> None:
    with pytest.raises(ValueError, match="must not contain"):
        signed_headers([new_secret()], msg_id="msg.1", timestamp=1, body=b"")

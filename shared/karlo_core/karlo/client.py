"""An httpx client for Karlo that turns every upstream outcome into a result or one of our errors."""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

import httpx
from pydantic import SecretStr

from karlo_core.errors import (
    UpstreamAuthError,
    UpstreamError,
    UpstreamQuotaExceeded,
    UpstreamRejected,
    UpstreamUnavailable,
)
from karlo_core.karlo.wire import KarloImage, KarloResult, error_of

log = logging.getLogger(__name__)

#: Kakao's platform codes and what they mean for a job (see docs/karlo-api-notes.md).
AUTH_CODES = frozenset({-401, -3, -4, -5, -6, -12, -903})
QUOTA_CODES = frozenset({-10, -11})
TRANSIENT_CODES = frozenset({-1, -7, -603, -9798})
REJECTED_CODES = frozenset({-2, -8, -9, -602, -606, -911})


def classify(http_status: int, code: int | None, message: str) -> UpstreamError:
    """Map an error answer to the error class that decides what happens to the job."""
    text = message or f"HTTP {http_status}"
    if code in QUOTA_CODES:
        return UpstreamQuotaExceeded(text, code=code, http_status=http_status)
    if code in AUTH_CODES or (code is None and http_status in (401, 403)):
        return UpstreamAuthError(text, code=code, http_status=http_status)
    if code in TRANSIENT_CODES or (code is None and (http_status >= 500 or http_status == 429)):
        return UpstreamUnavailable(text, code=code, http_status=http_status)
    return UpstreamRejected(text, code=code, http_status=http_status)


class KarloClient:
    """Calls Karlo's REST API. The httpx client is injected so timeouts and transports are the caller's."""

    def __init__(self, http: httpx.Client, *, base_url: str, api_key: SecretStr) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        #: Each endpoint's URL, parsed once (httpx takes a parsed URL as it is; a string it parses per call).
        self._urls: dict[str, httpx.URL] = {}

    def infer(self, path: str, body: dict[str, Any]) -> KarloResult:
        """POST one inference request (t2i, variations or inpainting) and return its images."""
        payload = self._post(path, body)
        images = payload.get("images")
        if not isinstance(images, list) or not images:
            raise UpstreamUnavailable("Karlo answered 200 without images", http_status=200)
        return KarloResult(
            request_id=_str_or_none(payload.get("id")),
            model_version=_str_or_none(payload.get("model_version")),
            images=[self._image(item) for item in images],
        )

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Authorization": f"KakaoAK {self._api_key.get_secret_value()}"}
        try:
            response = self._http.post(self._url(path), json=body, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise UpstreamUnavailable(f"cannot connect to Karlo: {type(exc).__name__}", sent=False) from exc
        except httpx.TimeoutException as exc:
            raise UpstreamUnavailable(f"Karlo timed out: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise UpstreamUnavailable(f"transport error talking to Karlo: {type(exc).__name__}") from exc
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code != 200:
            code, message = error_of(payload)
            error = classify(response.status_code, code, message)
            if isinstance(error, UpstreamAuthError):
                log.error("Karlo refused our credentials or permissions", extra={"upstream_code": code})
            raise error
        if not isinstance(payload, dict):
            raise UpstreamUnavailable("Karlo answered 200 with a body that is not JSON", http_status=200)
        return payload

    def _url(self, path: str) -> httpx.URL:
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = httpx.URL(self._base_url + path)
        return url

    def _image(self, item: Any) -> KarloImage:
        if not isinstance(item, dict) or not isinstance(item.get("image"), str):
            raise UpstreamUnavailable("Karlo answered with a malformed image entry", http_status=200)
        seed = item.get("seed")
        score = item.get("nsfw_score")
        detected = item.get("nsfw_content_detected")
        value = item["image"]
        is_url = value.startswith(("https://", "http://"))  # fetched by the caller, at once: it expires in minutes
        return KarloImage(
            data=b"" if is_url else _base64_bytes(value),
            seed=seed if isinstance(seed, int) else None,
            nsfw_content_detected=detected if isinstance(detected, bool) else None,
            nsfw_score=float(score) if isinstance(score, int | float) else None,
            url=value if is_url else None,
        )


def _base64_bytes(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise UpstreamUnavailable("Karlo answered with image data that is not base64") from exc


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None

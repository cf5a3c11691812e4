"""A client for Karlo that turns every upstream outcome into a result or one of our errors.

It posts straight over a pool of httpcore connections (:mod:`karlo_core.pooled_http`), shared by a process's
threads: each endpoint's URL and the request's fixed headers are built once, so a call costs the JSON of its body
and answer and httpcore's own work. What it sends is what an ``httpx.Client`` sent (the same headers but httpx's
User-Agent, the body as httpx encodes JSON); redirects are not followed; a gzip or deflate answer is decoded.
httpcore's failures are mapped as httpx's errors of the same name were."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import zlib
from typing import Any

import httpcore
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
from karlo_core.pooled_http import HTTPCORE_ERRORS, httpx_error, timeouts

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


#: What every call says besides its body's length (and the key, added per client).
_HEADERS = (
    (b"Accept", b"*/*"),
    (b"Accept-Encoding", b"gzip, deflate"),
    (b"Connection", b"keep-alive"),
    (b"User-Agent", b"karlo-queue"),
    (b"Content-Type", b"application/json"),
)

#: A request body's JSON as httpx encodes it (compact, UTF-8 as it is, no NaN), the encoder made once: ``dumps``
#: with any argument builds a new one per call.
_BODY_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


class KarloClient:
    """Calls Karlo's REST API over ``pool`` (the caller's, with its TLS context and connection limits), each call
    under ``timeout``."""

    def __init__(
        self, pool: httpcore.ConnectionPool, *, base_url: str, api_key: SecretStr, timeout: httpx.Timeout
    ) -> None:
        self._pool = pool
        self._base = httpx.URL(base_url.rstrip("/"))
        self._extensions = {"timeout": timeouts(timeout)}
        authorization = f"KakaoAK {api_key.get_secret_value()}".encode()
        self._headers = [(b"Host", self._base.netloc), *_HEADERS, (b"Authorization", authorization)]
        #: Each endpoint's URL, built once.
        self._urls: dict[str, httpcore.URL] = {}

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
        content = _BODY_JSON(body).encode()
        headers = [*self._headers, (b"Content-Length", str(len(content)).encode())]
        try:
            try:
                response = self._pool.request(
                    b"POST", self._url(path), headers=headers, content=content, extensions=self._extensions
                )
            except HTTPCORE_ERRORS as exc:
                raise httpx_error(exc) from exc
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise UpstreamUnavailable(f"cannot connect to Karlo: {type(exc).__name__}", sent=False) from exc
        except httpx.TimeoutException as exc:
            raise UpstreamUnavailable(f"Karlo timed out: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise UpstreamUnavailable(f"transport error talking to Karlo: {type(exc).__name__}") from exc
        payload = _json_or_none(response)
        if response.status != 200:
            code, message = error_of(payload)
            error = classify(response.status, code, message)
            if isinstance(error, UpstreamAuthError):
                log.error("Karlo refused our credentials or permissions", extra={"upstream_code": code})
            raise error
        if not isinstance(payload, dict):
            raise UpstreamUnavailable("Karlo answered 200 with a body that is not JSON", http_status=200)
        return payload

    def _url(self, path: str) -> httpcore.URL:
        url = self._urls.get(path)
        if url is None:
            base = self._base
            target = base.raw_path.rstrip(b"/") + path.encode()
            url = self._urls[path] = httpcore.URL(
                scheme=base.raw_scheme, host=base.raw_host, port=base.port, target=target
            )
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


def _json_or_none(response: httpcore.Response) -> Any:
    """The answer's JSON; None when it is not JSON (or its content coding does not decode)."""
    content = response.content
    try:
        for coding in reversed(_codings(response)):
            if coding == b"gzip":
                content = zlib.decompress(content, 16 + zlib.MAX_WBITS)
            elif coding == b"deflate":
                try:
                    content = zlib.decompress(content)
                except zlib.error:  # raw deflate, without zlib's header
                    content = zlib.decompress(content, -zlib.MAX_WBITS)
        return json.loads(content)
    except (ValueError, zlib.error):
        return None


def _codings(response: httpcore.Response) -> list[bytes]:
    """The answer's content codings, in the order they were applied (identity left out)."""
    return [
        coding.strip().lower()
        for name, value in response.headers
        if name.lower() == b"content-encoding"
        for coding in value.split(b",")
        if coding.strip().lower() not in (b"", b"identity")
    ]


def _base64_bytes(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise UpstreamUnavailable("Karlo answered with image data that is not base64") from exc


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None

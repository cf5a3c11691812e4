"""``/v1/files``: images of the local-directory backend, behind signed, expiring links."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from karlo_api.deps import StateDep
from karlo_api.problems import Problem, problems_for
from karlo_core.karlo import rules
from karlo_core.storage.local import FILES_ROUTE, LocalStorage

router = APIRouter(prefix=FILES_ROUTE, tags=["files"])

_EXTENSION_TYPES = {ext: rules.CONTENT_TYPES[fmt] for fmt, ext in rules.FILE_EXTENSIONS.items()}


@router.get(
    "/{key:path}",
    response_class=FileResponse,
    responses={
        200: {"description": "The image", "content": {t: {} for t in sorted(set(_EXTENSION_TYPES.values()))}},
        **problems_for(403, 404, 422, 503),
    },
)
def read_file(key: str, expires: int, signature: str, state: StateDep) -> FileResponse:
    """Download a stored image; the link's signature and expiry are checked first."""
    if not isinstance(state.storage, LocalStorage):
        raise Problem(404, "not-found", "Not found")
    if not state.signer.verify(key, expires, signature):
        raise Problem(403, "link-invalid", "This link is invalid or has expired")
    path = state.storage.existing_file(key)
    if path is None:
        raise Problem(404, "not-found", "Not found")
    media_type = _EXTENSION_TYPES.get(path.suffix.lstrip("."), "application/octet-stream")
    return FileResponse(path, media_type=media_type)

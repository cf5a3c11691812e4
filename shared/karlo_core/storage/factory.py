"""Build the storage backend that ``KARLOQ_STORAGE_URL`` names."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from karlo_core.settings import Settings
from karlo_core.storage import Storage
from karlo_core.storage.links import LinkSigner
from karlo_core.storage.local import LocalStorage
from karlo_core.storage.s3 import make_s3_storage


def link_signer(settings: Settings) -> LinkSigner:
    return LinkSigner(settings.link_signing_secret.get_secret_value().encode())


def make_storage(settings: Settings) -> Storage:
    url = settings.storage_url
    scheme = urlparse(url).scheme
    if scheme == "s3":
        return make_s3_storage(settings, url)
    if scheme == "file":
        # file:///abs/dir is absolute; file://./rel/dir is relative to the working directory.
        root = url.removeprefix("file://")
        return LocalStorage(Path(root), public_base_url=settings.public_base_url, signer=link_signer(settings))
    raise ValueError(f"KARLOQ_STORAGE_URL must start with s3:// or file://, not {url!r}")

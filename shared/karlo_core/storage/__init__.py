"""Image storage behind one small interface: S3-compatible (boto3) or a local directory."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from karlo_core.karlo import rules


class Storage(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store ``data`` under ``key``, replacing any earlier object (writes are idempotent)."""

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        """Store the file at ``path`` under ``key``, read in bounded pieces (never whole in memory): a large
        object goes to S3 as a multipart upload."""

    def delete(self, key: str) -> None:
        """Remove one object; a missing one is no error."""

    def get(self, key: str) -> bytes:
        """The object's bytes; StorageError when it is missing or the store cannot be reached."""

    def url_for(self, key: str, *, ttl_seconds: int) -> str:
        """A link that lets anyone holding it download the object until it expires."""

    def check(self) -> None:
        """Raise StorageError when the store cannot be reached."""

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with ``prefix``; returns how many there were."""


def image_key(job_id: str, index: int, image_format: str) -> str:
    """Object keys derive from the job id, so a retried job overwrites rather than duplicates."""
    return f"{job_prefix(job_id)}{index}.{rules.FILE_EXTENSIONS[image_format]}"


def input_key(job_id: str, name: str, image_format: str) -> str:
    """Where a job's input images (image, mask, the original of an extension) are kept."""
    return f"{job_prefix(job_id)}inputs/{name}.{rules.FILE_EXTENSIONS[image_format]}"


def job_prefix(job_id: str) -> str:
    """Everything stored for one job: its outputs and its inputs."""
    return f"jobs/{job_id}/"

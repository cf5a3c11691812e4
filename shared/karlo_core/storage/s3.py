"""S3-compatible storage through boto3, with presigned GET links."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import boto3
from boto3.exceptions import S3UploadFailedError as S3TransferFailed
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from karlo_core.errors import StorageError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

    from karlo_core.settings import Settings


#: Objects from this size on go up as multipart uploads, in parts of this size, one part at a time from the
#: calling thread: a worker's memory per upload stays near one part whatever the image's size.
MULTIPART_BYTES = 8 * 1024 * 1024
_TRANSFER = TransferConfig(
    multipart_threshold=MULTIPART_BYTES, multipart_chunksize=MULTIPART_BYTES, max_concurrency=1, use_threads=False
)


class S3Storage:
    def __init__(self, s3: S3Client, *, bucket: str, prefix: str = "") -> None:
        self._s3 = s3
        self.bucket = bucket
        self._prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def _object_key(self, key: str) -> str:
        return self._prefix + key

    def put(self, key: str, data: bytes, content_type: str) -> None:
        try:
            self._s3.put_object(Bucket=self.bucket, Key=self._object_key(key), Body=data, ContentType=content_type)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"cannot store {key}: {type(exc).__name__}") from exc

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        try:
            self._s3.upload_file(
                str(path), self.bucket, self._object_key(key), ExtraArgs={"ContentType": content_type}, Config=_TRANSFER
            )
        except (BotoCoreError, ClientError, S3TransferFailed, OSError) as exc:
            raise StorageError(f"cannot store {key}: {type(exc).__name__}") from exc

    def delete(self, key: str) -> None:
        try:
            self._s3.delete_object(Bucket=self.bucket, Key=self._object_key(key))
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"cannot delete {key}: {type(exc).__name__}") from exc

    def get(self, key: str) -> bytes:
        try:
            return self._s3.get_object(Bucket=self.bucket, Key=self._object_key(key))["Body"].read()
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"cannot read {key}: {type(exc).__name__}") from exc

    def url_for(self, key: str, *, ttl_seconds: int) -> str:
        params = {"Bucket": self.bucket, "Key": self._object_key(key)}
        return self._s3.generate_presigned_url("get_object", Params=params, ExpiresIn=ttl_seconds)

    def delete_prefix(self, prefix: str) -> int:
        deleted = 0
        try:
            pages = self._s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._object_key(prefix)
            )
            for page in pages:
                objects: list[ObjectIdentifierTypeDef] = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if objects:
                    self._s3.delete_objects(Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True})
                    deleted += len(objects)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"cannot delete {prefix}*: {type(exc).__name__}") from exc
        return deleted

    def check(self) -> None:
        try:
            self._s3.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"bucket {self.bucket} is not reachable: {type(exc).__name__}") from exc


def make_s3_storage(settings: Settings, url: str) -> S3Storage:
    """Build from ``s3://bucket/prefix``; credentials from settings, else boto3's usual chain."""
    parsed = urlparse(url)
    if not parsed.netloc:
        raise ValueError("storage URL must name a bucket: s3://bucket/prefix")
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": settings.s3_addressing_style},
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=30,
    )
    access = settings.s3_access_key_id
    secret = settings.s3_secret_access_key
    client = boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        aws_access_key_id=access.get_secret_value() if access else None,
        aws_secret_access_key=secret.get_secret_value() if secret else None,
        config=config,
    )
    return S3Storage(client, bucket=parsed.netloc, prefix=parsed.path)

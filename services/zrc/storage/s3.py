"""MinIO / S3 backend (the ``minio`` client).

Single PUTs are atomic in S3; large files go through multipart uploads that only
become visible when completed. Connection problems and 5xx answers surface as
:class:`StorageUnavailable`; every request has a timeout so that a paused
server cannot hang a caller forever.
"""

from __future__ import annotations

import builtins
import io
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO, cast

import urllib3
from minio import Minio
from minio.commonconfig import ComposeSource, CopySource
from minio.datatypes import Part
from minio.error import S3Error, ServerError

from zrc.common import metrics

from . import (
    DATASETS,
    RESULTS,
    SUBMISSIONS,
    NotFound,
    PartWriter,
    PreconditionFailed,
    Readable,
    Storage,
    StorageUnavailable,
)

PART_SIZE = 16 << 20
MIN_PART = 5 << 20   # S3's smallest multipart part (but the last)
# Parts of one upload in flight at once (bench/s3_ceiling.py on the 2-core stack: one part at a time ~75 MB/s,
# 2 or 4 at once ~100 MB/s); memory is at most this many parts + 1 queued.
PART_WRITERS = 2
_MISSING = ("NoSuchKey", "NoSuchObject", "NotFound", "NoSuchBucket")
# 412 (and 409 when two conditional writes race inside the store): the condition did not hold.
_LOST = ("PreconditionFailed", "ConditionalRequestConflict")


def _wrap(fn):
    def inner(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except S3Error as exc:
            if exc.code in _MISSING:
                raise NotFound(f"{exc.bucket_name}/{exc.object_name}") from None
            if exc.code in _LOST or getattr(exc.response, "status", 0) == 412:
                raise PreconditionFailed(f"{exc.bucket_name}/{exc.object_name}: {exc.code}") from None
            raise
        except (ServerError, urllib3.exceptions.HTTPError, OSError) as exc:
            metrics.STORAGE_ERRORS.labels(fn.__name__).inc()
            raise StorageUnavailable(f"object storage unavailable: {type(exc).__name__}: {exc}"[:300]) from None
    inner.__name__ = fn.__name__
    inner.__doc__ = fn.__doc__
    return inner


class _Parts(PartWriter):
    """One S3 multipart upload whose parts are sent by a small pool while the caller receives the next."""

    min_part = MIN_PART

    def __init__(self, storage: S3Storage, bucket: str, key: str):
        self.client, self.bucket, self.key = storage.client, storage.buckets[bucket], key
        self.upload_id = _wrap(self.client._create_multipart_upload)(self.bucket, key, {})
        self.pool = ThreadPoolExecutor(PART_WRITERS, thread_name_prefix="s3-part")
        self.pending: deque[Future] = deque()
        self.done: list[Part] = []
        self.failed = False   # a part was lost: completing now would leave a hole in the object

    def _upload(self, number: int, data: bytes) -> Part:
        return Part(number, _wrap(self.client._upload_part)(self.bucket, self.key, data, None, self.upload_id,
                                                            number))

    def _collect(self) -> None:
        try:
            self.done.append(self.pending.popleft().result())
        except BaseException:
            self.failed = True
            raise

    def _check(self) -> None:
        if self.failed:
            raise StorageUnavailable(f"object storage unavailable: a part of {self.key} was not stored")

    def put(self, data: bytes) -> None:
        self._check()
        number = len(self.done) + len(self.pending) + 1
        self.pending.append(self.pool.submit(self._upload, number, data))
        while len(self.pending) > PART_WRITERS:
            self._collect()

    def settle(self) -> None:
        self._check()
        while self.pending:
            self._collect()

    def commit(self) -> None:
        self.settle()
        self.pool.shutdown()
        _wrap(self.client._complete_multipart_upload)(self.bucket, self.key, self.upload_id, self.done)

    def abort(self) -> None:
        for f in self.pending:
            f.cancel()
        self.pool.shutdown(wait=True)
        try:
            _wrap(self.client._abort_multipart_upload)(self.bucket, self.key, self.upload_id)
        except Exception:  # noqa: BLE001 - best effort: an unfinished upload is invisible, the store expires it
            pass


class S3Storage(Storage):
    def __init__(self, endpoint: str, access_key: str, secret_key: str, *, secure: bool = False,
                 region: str = "us-east-1", bucket_prefix: str = "zrc-", timeout: float = 20.0):
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=5.0, read=timeout), maxsize=16,
            retries=urllib3.Retry(total=2, backoff_factor=0.3, status_forcelist=(500, 502, 503, 504)),
        )
        self.client = Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=secure,
                            region=region, http_client=http)
        self.region = region
        self.buckets = {b: f"{bucket_prefix}{b}" for b in (DATASETS, SUBMISSIONS, RESULTS)}

    @_wrap
    def ensure_buckets(self) -> None:
        for b in self.buckets.values():
            if not self.client.bucket_exists(b):
                try:
                    self.client.make_bucket(b, location=self.region)
                except S3Error as exc:  # another replica created it first
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise

    @_wrap
    def put_bytes(self, bucket: str, key: str, data: bytes) -> None:
        self.client.put_object(self.buckets[bucket], key, io.BytesIO(data), len(data))

    @_wrap
    def _put_conditional(self, bucket: str, key: str, data: bytes, headers: dict[str, str]) -> None:
        # put_object() would turn If-None-Match/If-Match into user metadata (x-amz-meta-*): the
        # single-request PutObject of the same client takes them as real headers.
        self.client._put_object(self.buckets[bucket], key, data, headers={**headers,
                                                                         "Content-Type": "application/octet-stream"})

    def put_if_absent(self, bucket: str, key: str, data: bytes) -> bool:
        try:
            self._put_conditional(bucket, key, data, {"If-None-Match": "*"})
        except PreconditionFailed:
            return False
        return True

    @_wrap
    def get_with_etag(self, bucket: str, key: str) -> tuple[bytes, str]:
        resp = self.client.get_object(self.buckets[bucket], key)
        try:
            return resp.read(), resp.headers.get("etag", "").strip('"')
        finally:
            resp.close()
            resp.release_conn()

    def put_if_match(self, bucket: str, key: str, data: bytes, etag: str) -> None:
        self._put_conditional(bucket, key, data, {"If-Match": f'"{etag}"'})

    @_wrap
    def put_file(self, bucket: str, key: str, fileobj: Readable, size: int) -> None:
        # minio only calls read(): any Readable will do
        self.client.put_object(self.buckets[bucket], key, cast(BinaryIO, fileobj), size, part_size=PART_SIZE)

    def _read(self, bucket: str, key: str, offset: int = 0, length: int = 0) -> bytes:
        resp = self.client.get_object(self.buckets[bucket], key, offset=offset, length=length)
        try:
            return resp.read()
        finally:
            resp.close()
            resp.release_conn()

    @_wrap
    def get_bytes(self, bucket: str, key: str) -> bytes:
        return self._read(bucket, key)

    @_wrap
    def read_range(self, bucket: str, key: str, offset: int, length: int) -> bytes:
        return self._read(bucket, key, offset, length)

    @_wrap
    def size(self, bucket: str, key: str) -> int:
        return int(self.client.stat_object(self.buckets[bucket], key).size or 0)

    @_wrap
    def list(self, bucket: str, prefix: str = "") -> list[str]:
        return sorted(o.object_name for o in self.client.list_objects(self.buckets[bucket], prefix=prefix,
                                                                      recursive=True))

    @_wrap
    def list_ages(self, bucket: str, prefix: str = "") -> builtins.list[tuple[str, float]]:
        now = time.time()
        return sorted((o.object_name, now - o.last_modified.timestamp() if o.last_modified else 0.0)
                      for o in self.client.list_objects(self.buckets[bucket], prefix=prefix, recursive=True))

    @_wrap
    def delete(self, bucket: str, key: str) -> None:
        self.client.remove_object(self.buckets[bucket], key)

    @_wrap
    def copy(self, bucket: str, src: str, dst: str) -> None:
        b = self.buckets[bucket]
        size = self.client.stat_object(b, src).size or 0
        if size < (5 << 30):
            self.client.copy_object(b, dst, CopySource(b, src))
        else:  # single-request copies stop at 5 GiB; compose does a multipart copy
            self.client.compose_object(b, dst, [ComposeSource(b, src)])

    def parts(self, bucket: str, key: str) -> PartWriter:
        return _Parts(self, bucket, key)

    @_wrap
    def abort_stale_parts(self, bucket: str, prefix: str, older_than: float) -> int:
        """ListMultipartUploads, page by page (minio has no public call for it; the part writer already uses its
        multipart calls). An upload whose start time the store does not say is left alone."""
        b, now, n = self.buckets[bucket], time.time(), 0
        key_marker = upload_marker = None
        while True:
            page = self.client._list_multipart_uploads(b, prefix=prefix, key_marker=key_marker,
                                                       upload_id_marker=upload_marker)
            for u in page.uploads:
                if u.upload_id and u.initiated_time and now - u.initiated_time.timestamp() > older_than:
                    try:
                        self.client._abort_multipart_upload(b, u.object_name, u.upload_id)
                        n += 1
                    except S3Error as exc:
                        if exc.code != "NoSuchUpload":   # finished or aborted meanwhile
                            raise
            if not page.is_truncated:
                return n
            key_marker, upload_marker = page.next_key_marker, page.next_upload_id_marker

    @_wrap
    def ping(self) -> None:
        self.client.bucket_exists(self.buckets[RESULTS])

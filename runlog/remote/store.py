"""An object store seen through fsspec: one recursive listing, whole and ranged GETs, HEAD, DELETE.

Every call that can fail raises `RemoteError` with one line that names the URL and the reason
(missing bucket, refused credentials, permission, unreachable endpoint, missing extra) and never
a secret. Credentials and endpoints come from the client's own chains (AWS environment and
profiles, AWS_ENDPOINT_URL for S3-compatible stores, gcloud's defaults) plus the storage options.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runlog.errors import RunlogError
from runlog.remote.urls import EXTRAS, RemoteURL, redact, secrets_of

__all__ = ["ObjectInfo", "ObjectStore", "RemoteError"]


class RemoteError(RunlogError):
    """An object store call failed; the message is one line, with the URL and no secret."""


@dataclass(frozen=True)
class ObjectInfo:
    """One object as a listing reports it. (etag, size) is its identity: a rewrite changes it."""

    key: str
    """The key relative to the bucket."""
    size: int
    etag: str | None
    """None when the store reports no identity (such a root cannot be pruned)."""
    mtime: float
    """Last modification, seconds since the epoch (0.0 when unknown)."""


def _mtime(info: Mapping[str, Any]) -> float:
    for name in ("LastModified", "mtime", "updated", "last_modified", "timeCreated", "created"):
        value = info.get(name)
        if isinstance(value, dt.datetime):
            return value.timestamp()
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str) and value:
            try:
                return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return 0.0


def _etag(info: Mapping[str, Any]) -> str | None:
    for name in ("ETag", "etag", "md5Hash", "generation"):
        value = info.get(name)
        if value not in (None, ""):
            return str(value).strip('"')
    return None


class ObjectStore:
    """The objects under one `RemoteURL`, through an fsspec filesystem."""

    def __init__(
        self,
        url: RemoteURL,
        options: Mapping[str, object] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.url = url
        self.options = dict(options or {})
        self._secrets = secrets_of(self.options, os.environ if env is None else env)
        self.fs = self._filesystem()
        self.requests: Counter[str] = Counter()
        """Requests sent, by operation ("ListObjectsV2", "GetObject", "GetObject ranged",
        "HeadObject", ...), where the client reports them (S3, through botocore's events)."""
        self._count_requests()

    def _count_requests(self) -> None:
        try:
            self.fs.connect()
            events = self.fs.s3.meta.events
        except Exception:  # not an S3 client, or none yet: nothing to count with
            return

        def count(event_name: str = "", params: Any = None, **_: Any) -> None:
            operation = event_name.rsplit(".", 1)[-1]
            # before-call sees the serialised request: the Range is one of its headers.
            headers = params.get("headers") if isinstance(params, dict) else None
            ranged = isinstance(headers, Mapping) and "Range" in headers
            self.requests[f"{operation} ranged" if ranged else operation] += 1

        events.register("before-call.s3", count)

    def _filesystem(self) -> Any:
        try:
            import fsspec  # with the s3 / gcs extras (s3fs and gcsfs depend on it)

            return fsspec.filesystem(self.url.protocol, skip_instance_cache=True, **self.options)
        except ImportError:
            extra, package = EXTRAS.get(self.url.protocol, (None, None))
            hint = (
                f"pip install -e '.[{extra}]' (it installs {package})"
                if extra
                else f"install the fsspec implementation of {self.url.protocol}://"
            )
            raise RemoteError(
                f"{self.url}: reading {self.url.protocol}:// roots needs {hint}"
            ) from None
        except ValueError as exc:
            raise RemoteError(f"{self.url}: {self.shown(str(exc))}") from None
        except TypeError as exc:
            raise RemoteError(
                f"{self.url}: a storage option is not accepted: {self.shown(str(exc))}"
            ) from None

    def shown(self, text: str) -> str:
        """`text` with every known secret replaced by `***`."""
        return redact(text, self._secrets)

    def error(self, exc: BaseException, what: str) -> RemoteError:
        """One line for a failed call: what was done, on which URL, and why."""
        text = " ".join(str(exc).split()) or type(exc).__name__
        name = type(exc).__name__
        lowered = text.lower()
        if "bucket does not exist" in lowered or "nosuchbucket" in lowered:
            reason = f"the bucket {self.url.bucket!r} does not exist"
        elif any(
            marker in lowered
            for marker in (
                "access key id",
                "invalidaccesskeyid",
                "signaturedoesnotmatch",
                "signature we calculated",
                "security token",
                "invalid credentials",
            )
        ):
            reason = (
                "the store refused the credentials (check AWS_ACCESS_KEY_ID / AWS_PROFILE, "
                "or --storage-option)"
            )
        elif name == "NoCredentialsError" or "unable to locate credentials" in lowered:
            reason = "no credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID, or anon=true)"
        elif isinstance(exc, PermissionError) or any(
            marker in lowered for marker in ("accessdenied", "access denied", "forbidden")
        ):
            reason = f"permission denied ({text})"
        elif isinstance(exc, FileNotFoundError):
            reason = f"not found ({text})"
        elif "connect" in lowered or isinstance(exc, ConnectionError | TimeoutError):
            reason = f"cannot reach the store ({text})"
        else:
            reason = f"{name}: {text}"
        return RemoteError(self.shown(f"{what} {self.url}: {reason}"))

    def _path(self, key: str) -> str:
        return f"{self.url.bucket}/{key}"

    def _key(self, path: str) -> str:
        # Some filesystems (memory://) root their paths at "/".
        return path.lstrip("/").removeprefix(self.url.bucket + "/")

    def list_objects(self) -> dict[str, ObjectInfo]:
        """Every object under the root: one recursive listing (paged by the client)."""
        try:
            self.fs.invalidate_cache()
            found = self.fs.find(self.url.path, detail=True)
        except Exception as exc:  # the clients raise many families; each becomes one line
            raise self.error(exc, "cannot list") from None
        out: dict[str, ObjectInfo] = {}
        for path, info in found.items():
            if info.get("type", "file") != "file" or path.endswith("/"):
                continue
            key = self._key(path)
            out[key] = ObjectInfo(key, int(info.get("size") or 0), _etag(info), _mtime(info))
        return out

    def get(self, key: str, start: int = 0) -> bytes:
        """The object's bytes from `start` to its end (a ranged GET when start > 0)."""
        try:
            data: bytes = self.fs.cat_file(self._path(key), start=start or None, end=None)
        except Exception as exc:
            raise self.error(exc, f"cannot read {key} under") from None
        return data

    def get_many(self, wanted: list[tuple[str, int]]) -> list[bytes | RemoteError]:
        """`get(key, start)` for each (key, start), sent concurrently where the client can
        (fsspec's cat_ranges: one request each, in batches); a failure is returned in place."""
        if not wanted:
            return []
        paths = [self._path(key) for key, _ in wanted]
        starts = [start or None for _, start in wanted]
        try:
            found = self.fs.cat_ranges(paths, starts, [None] * len(paths), on_error="return")
        except Exception as exc:
            error = self.error(exc, "cannot read objects under")
            return [error] * len(wanted)
        return [
            data if isinstance(data, bytes) else self.error(data, f"cannot read {key} under")
            for (key, _), data in zip(wanted, found, strict=True)
        ]

    def head(self, key: str) -> ObjectInfo | None:
        """The object's identity now (one HEAD), or None when it is gone."""
        path = self._path(key)
        try:
            self.fs.invalidate_cache(path)
            info = self.fs.info(path)
        except FileNotFoundError:
            return None
        except Exception as exc:
            raise self.error(exc, f"cannot check {key} under") from None
        return ObjectInfo(key, int(info.get("size") or 0), _etag(info), _mtime(info))

    def delete(self, key: str) -> None:
        try:
            self.fs.rm_file(self._path(key))
        except Exception as exc:
            raise self.error(exc, f"cannot delete {key} under") from None

    def put(self, key: str, data: bytes) -> ObjectInfo | None:
        """Write the whole object (one PUT) and return its new identity."""
        try:
            self.fs.pipe_file(self._path(key), data)
        except Exception as exc:
            raise self.error(exc, f"cannot write {key} under") from None
        return self.head(key)

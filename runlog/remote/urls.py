"""Runs roots given as URLs: which text is a URL, how it splits, and how secrets stay out of text.

    s3://bucket/prefix          an object store root (any fsspec protocol: s3, gs, az, ...)
    file:///abs/path            a local root, same as /abs/path
    /abs/path, rel/path         a local root

Pure functions, no I/O: the store and the mirror build on them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from runlog.errors import RunlogError

__all__ = [
    "EXTRAS",
    "RemoteURL",
    "StorageOptionError",
    "is_url",
    "parse_storage_options",
    "parse_url",
    "redact",
]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$", re.DOTALL)

EXTRAS: dict[str, tuple[str, str]] = {
    "s3": ("s3", "s3fs"),
    "s3a": ("s3", "s3fs"),
    "gs": ("gcs", "gcsfs"),
    "gcs": ("gcs", "gcsfs"),
}
"""protocol -> (runlog extra, the fsspec package it installs), for the "missing extra" line."""

_SECRET_KEYS = re.compile(r"secret|token|password|passwd|credential|key", re.IGNORECASE)


class StorageOptionError(RunlogError, ValueError):
    """A `--storage-option` that is not `key=value`."""


@dataclass(frozen=True)
class RemoteURL:
    """A runs root in an object store: `protocol://bucket/prefix` (the prefix may be empty)."""

    protocol: str
    bucket: str
    prefix: str
    """Key prefix without leading or trailing slash ("" for the whole bucket)."""

    @property
    def path(self) -> str:
        """The fsspec path: `bucket/prefix`."""
        return f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket

    def __str__(self) -> str:
        return f"{self.protocol}://{self.path}"

    def key_url(self, key: str) -> str:
        """The URL of the object `key` (a key relative to the bucket)."""
        return f"{self.protocol}://{self.bucket}/{key}"


def is_url(text: str) -> bool:
    """Whether `text` names a root by URL (`scheme://...`) rather than a local path."""
    return _SCHEME.match(text.strip()) is not None


def parse_url(text: str) -> RemoteURL | str:
    """A remote root, or the local path a `file://` URL or plain path names (as text).

    Raises RunlogError for a URL without a bucket. Credentials written into the URL
    (`s3://key:secret@bucket`) are refused: they would end up in the browser's address bar.
    """
    match = _SCHEME.match(text.strip())
    if match is None:
        return text
    protocol = match.group(1).lower()
    rest = match.group(2)
    if protocol in ("file", "local"):
        return rest if rest.startswith("/") else "/" + rest
    bucket, _, prefix = rest.partition("/")
    if "@" in bucket:
        raise RunlogError(
            f"{protocol}://{redact_userinfo(bucket)}/...: credentials in the URL are not accepted "
            "(they would show in the address bar and in logs); use the environment "
            "(AWS_ACCESS_KEY_ID, AWS_PROFILE, ...) or --storage-option"
        )
    if not bucket:
        raise RunlogError(f"{protocol}://{rest}: the URL names no bucket")
    parts = [p for p in prefix.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise RunlogError(f"{protocol}://{rest}: '.' and '..' are not allowed in a root URL")
    return RemoteURL(protocol, bucket, "/".join(parts))


def redact_userinfo(netloc: str) -> str:
    return "***@" + netloc.rpartition("@")[2] if "@" in netloc else netloc


def parse_storage_options(items: Sequence[str]) -> dict[str, object]:
    """`key=value` pairs as fsspec storage options; "true"/"false" and numbers are converted."""
    options: dict[str, object] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise StorageOptionError(
                f"storage option {_shown_option(item)!r} is not key=value "
                "(e.g. --storage-option anon=true)"
            )
        options[key] = _option_value(raw.strip())
    return options


def _shown_option(item: str) -> str:
    key, sep, _ = item.partition("=")
    return f"{key}=***" if sep else (item if len(item) <= 40 else item[:40] + "...")


def _option_value(raw: str) -> object:
    lowered = raw.lower()
    if lowered in ("true", "yes"):
        return True
    if lowered in ("false", "no"):
        return False
    if re.fullmatch(r"-?[0-9]+", raw):
        return int(raw)
    return raw


def secrets_of(options: Mapping[str, object], env: Mapping[str, str]) -> list[str]:
    """Every value that must never be shown: storage option values whose key looks secret
    (and every string option of 8+ characters, to be safe), and the credential variables."""
    found: list[str] = []
    for key, value in options.items():
        if isinstance(value, str) and (len(value) >= 8 or _SECRET_KEYS.search(key)):
            found.append(value)
    for name in (
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ACCESS_KEY_ID",
        "GOOGLE_APPLICATION_CREDENTIALS",
    ):
        value = env.get(name, "")
        if len(value) >= 4:
            found.append(value)
    return found


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret replaced by `***` (longest first, so no part of one survives)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text

"""Where a run's files live when machines share no disk: one artifact store, any fsspec URL.

Uploads, checkpoints (adapter, proxy, optimizer), evaluation outputs and merged exports are written under HOME by the
machine that makes them. With an artifact store (`--artifacts URL`: `s3://bucket/prefix`, `gs://...`,
`hf://buckets/...`, or a folder), each is then copied there under the same key it has under HOME (`uploads/NAME`,
`runs/ID/checkpoint-STEP`, `exports/NAME`), and the database records its URL; a machine that needs it fetches it once
into HOME/artifact-cache/KEY. Without one, everything stays under HOME and the database records local paths.

Credentials never go in the URL (it is stored on runs and printed): fsspec's backends take them from the environment,
e.g. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and AWS_ENDPOINT_URL_S3 (an S3-compatible server) for s3://,
GOOGLE_APPLICATION_CREDENTIALS for gs://, HF_TOKEN for hf://.

    >>> store = Artifacts(None, Path("/h"))
    >>> store.remote, store.publish(Path("/h/runs/3/checkpoint-2"), "runs/3/checkpoint-2")
    (False, '/h/runs/3/checkpoint-2')
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import urllib.parse
from pathlib import Path, PurePosixPath
from typing import Any

import fsspec

ARTIFACTS_ENV = "NOVER_UI_ARTIFACTS"
"""The environment variable that gives the store's URL when no --artifacts flag does."""
CACHE = "artifact-cache"
"""HOME/artifact-cache/KEY: what this machine fetched from the store."""


class ArtifactError(RuntimeError):
    """The store cannot be used or reached, or a location lies outside it; the message says what to do."""


class Artifacts:
    """The artifact store of a dashboard or worker: `root` an fsspec URL, or None to keep files under `home` only."""

    def __init__(self, root: str | None, home: Path):
        self.home = home
        self.root = _checked_root(root) if root else None
        self._fs: Any = None

    @property
    def remote(self) -> bool:
        return self.root is not None

    def url(self, key: str) -> str:
        """The store's URL of `key` (a path relative to HOME, e.g. 'runs/3/checkpoint-2')."""
        return f"{self._require_root()}/{_checked_key(key)}"

    def owns(self, location: str) -> bool:
        """True when `location` is a URL inside this store (with no '..' that could climb out of it)."""
        return self.root is not None and self.key_of(location) is not None

    def publish(self, local: Path, key: str) -> str:
        """Copy a file or folder under HOME to the store as `key`; return what the database records for it: its URL,
        or the local path itself when there is no store. Files go one by one, so a folder is complete in the store
        before its URL is returned (and recorded)."""
        if self.root is None:
            return str(local)
        url = self.url(key)
        try:
            files = sorted(path for path in local.rglob("*") if path.is_file()) if local.is_dir() else [local]
            for path in files:
                target = url if path == local else f"{url}/{path.relative_to(local).as_posix()}"
                self._filesystem().put_file(str(path), target)
        except Exception as exc:  # OSError, or a backend's own (botocore's connection errors)
            raise ArtifactError(f"cannot copy {key} to the artifact store {self.root}: {_reason(exc)}") from exc
        return url

    def local(self, location: str) -> Path:
        """A local path holding what `location` (as the database records it) names: the path itself when it is one,
        else a copy fetched from the store into HOME/artifact-cache/KEY the first time it is asked for."""
        key = self.key_of(location)
        if key is None:
            if "://" in location:
                raise ArtifactError(
                    f"{location} is not in this machine's artifact store ({self.root or 'none configured'}); start it "
                    f"with --artifacts set to the store the run's files were written to"
                )
            return Path(location)
        cached = self.home / CACHE / key
        if cached.exists():
            return cached
        cached.parent.mkdir(parents=True, exist_ok=True)
        fetching = Path(tempfile.mkdtemp(prefix=".fetching-", dir=cached.parent))
        try:
            self._fetch(location, fetching / "copy")
            with contextlib.suppress(OSError):  # another process fetched it first: keep theirs
                os.replace(fetching / "copy", cached)
        finally:
            shutil.rmtree(fetching, ignore_errors=True)
        return cached

    def remove(self, key: str) -> None:
        """Delete `key` (a file or a whole folder) from the store and from this machine's cache; missing is fine."""
        cached = self.home / CACHE / _checked_key(key)
        if cached.is_dir():
            shutil.rmtree(cached, ignore_errors=True)
        else:
            cached.unlink(missing_ok=True)
        if self.root is None:
            return
        url = self.url(key)
        filesystem = self._filesystem()
        try:
            filesystem.invalidate_cache()
            if filesystem.exists(url):
                filesystem.rm(url, recursive=True)
        except Exception as exc:  # OSError, or a backend's own (botocore's connection errors)
            raise ArtifactError(f"cannot delete {key} from the artifact store {self.root}: {_reason(exc)}") from exc

    def check(self) -> None:
        """Reach the store once (at start-up), so that a wrong URL or missing credentials fail at once, saying so."""
        if self.root is None:
            return
        try:
            filesystem = self._filesystem()
            filesystem.makedirs(self.root, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):  # a bucket has no empty folders: a new prefix lists as none
                filesystem.ls(self.root)
        except Exception as exc:  # any backend's error (botocore's connection errors are no OSError) means the same
            raise ArtifactError(
                f"cannot reach the artifact store {self.root}: {_reason(exc)}; check the URL and the credentials in "
                f"the environment (for s3://: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL_S3)"
            ) from exc

    def _fetch(self, location: str, target: Path) -> None:
        filesystem = self._filesystem()
        try:
            filesystem.invalidate_cache()  # another machine may have written since this process last listed
            if filesystem.isfile(location):
                filesystem.get_file(location, str(target))
                return
            found = filesystem.find(location)
            if not found:
                raise FileNotFoundError(location)
            prefix = filesystem._strip_protocol(location).rstrip("/")
            for remote in found:
                path = target / PurePosixPath(remote[len(prefix) :].lstrip("/"))
                path.parent.mkdir(parents=True, exist_ok=True)
                filesystem.get_file(remote, str(path))
        except Exception as exc:  # OSError, or a backend's own (botocore's connection errors)
            raise ArtifactError(f"cannot fetch {location} from the artifact store: {_reason(exc)}") from exc

    def key_of(self, location: str) -> str | None:
        """The key of a URL inside this store ('runs/3/checkpoint-2'); None for anything else."""
        if self.root is None or not location.startswith(self.root + "/"):
            return None
        key = location[len(self.root) + 1 :]
        try:
            return _checked_key(key)
        except ArtifactError:
            return None

    def _require_root(self) -> str:
        if self.root is None:
            raise ArtifactError("no artifact store is configured (--artifacts URL)")
        return self.root

    def _filesystem(self) -> Any:
        if self._fs is None:
            root = self._require_root()
            # A folder store makes the folders a file goes in, as an object store needs none. An object store's
            # client is this store's own, made with the environment of now (fsspec would share one made earlier).
            options: dict[str, Any] = {"auto_mkdir": True} if "://" not in root else {"skip_instance_cache": True}
            self._fs, _ = fsspec.core.url_to_fs(root, **options)
        return self._fs


def artifacts_url(flag: str | None) -> str | None:
    """The store's URL from a --artifacts flag, else the environment; None for none."""
    return flag or os.environ.get(ARTIFACTS_ENV) or None


def _checked_root(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.username or parts.password:
        raise ArtifactError(
            "--artifacts must not carry credentials (they would be stored on runs and shown): give the URL without "
            "them and set them in the environment (for s3://: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        )
    protocol = parts.scheme if "://" in url else "file"
    try:
        fsspec.get_filesystem_class(protocol)
    except (ImportError, ValueError) as exc:
        raise ArtifactError(f"--artifacts {url}: fsspec cannot open {protocol}:// here ({exc})") from exc
    if protocol == "file":
        return str(Path(parts.path if "://" in url else url).expanduser().resolve())
    return url.rstrip("/")


def _checked_key(key: str) -> str:
    parts = PurePosixPath(key).parts
    if not parts or key.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise ArtifactError(f"not an artifact key: {key!r} (a relative path with no '.' or '..' parts)")
    return PurePosixPath(*parts).as_posix()


def _reason(exc: BaseException) -> str:
    """The error's type and message, without anything a backend may append (a signed URL's query string)."""
    text = str(exc).split("?", 1)[0]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

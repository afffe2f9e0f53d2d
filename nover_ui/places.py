"""Which files the dashboard may open for a person: its own places, never any path the server can read.

A data source or model named in the Train form, an evaluation or the API is one of:
- the built-in sets, or a Hugging Face dataset / model id (fetched by the worker, never opened here);
- a path (a data file, a dataset folder such as one saved with `save_to_disk`, a model folder) inside HOME/uploads
  (what the upload box keeps), HOME/models (converted models), or a folder the operator lists with `--data-dir`
  (NOVER_UI_DATA_DIRS), after `..` and symlinks are resolved. The files a saved dataset folder's metadata names
  are checked to lie inside that folder when it is read (training/hf_sources.py).
- with an artifact store (app.py --artifacts, training/artifacts.py), a URL of that store under uploads/: an upload
  kept by a dashboard, which a worker with no shared disk fetches. Any other URL is refused like any other path.
Anything else is refused before the file is touched, with the same message whether or not it exists, so the
refusal tells nothing about the server's files.

Checkpoints and merged exports that a worker published to the store are named by their store URL in the database; the
dashboard fetches them into HOME/artifact-cache before serving them (`checkpoint_folder`, `export_folder`), and only
URLs of its own store under runs/ID/ and exports/.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from training.artifacts import ArtifactError, Artifacts
from training.config import BUILTIN_DATASETS
from training.data import TABLE_SUFFIXES, DataError

UPLOAD_KEY = re.compile(r"uploads/[^/]+")
"""An upload's key in the store (uploads/NAME): a file the dashboard kept."""
EXPORT_KEY = re.compile(r"exports/[^/]+")
"""A merged model's key in the store (exports/NAME)."""
HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?")
"""A Hugging Face repository id, 'name' or 'owner/name': no leading '/', '.', '~', no '..' (checked apart)."""


class PlaceRefused(DataError):
    """A path outside the places the dashboard owns; the message says where data may come from."""


@dataclass(frozen=True)
class Places:
    home: Path
    data_dirs: tuple[Path, ...] = ()
    """Folders the operator allows (--data-dir); empty by default."""
    artifacts: Artifacts | None = None
    """The artifact store (--artifacts); None or one with no URL keeps every file under HOME."""
    _published: set[str] = field(default_factory=set, compare=False, repr=False)
    """Uploads this process has copied to the store already: an experiment's runs share one file."""
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    @property
    def uploads(self) -> Path:
        return self.home / "uploads"

    def roots(self) -> tuple[Path, ...]:
        return tuple(root.expanduser().resolve() for root in (self.uploads, self.home / "models", *self.data_dirs))

    def check_data(self, source: str) -> None:
        """Return when `source` may be read (a built-in set, hub id, a path inside a root); PlaceRefused otherwise."""
        if source in BUILTIN_DATASETS or self.is_hub_id(source):
            return
        if "://" in source and self._store_key(source, UPLOAD_KEY) is not None:
            return
        if "://" in source or not self.owns(source):
            raise PlaceRefused(
                f"cannot read {source!r}: data comes from an upload, a built-in set (builtin:demo, "
                f"builtin:inverse-demo), a Hugging Face dataset id, or a folder the operator allows with --data-dir"
            )

    def check_model(self, model: str) -> None:
        if self.is_hub_id(model):
            return
        if not self.owns(model):
            raise PlaceRefused(
                f"cannot use model {model!r}: give a Hugging Face model id, or a folder in the "
                f"dashboard's models folder or one the operator allows with --data-dir"
            )

    @property
    def remote(self) -> bool:
        """True when files go through an artifact store rather than staying under HOME."""
        return self.artifacts is not None and self.artifacts.remote

    def publish_upload(self, path: Path) -> str:
        """Copy a kept upload (a file in HOME/uploads) to the store once per process; returns what a run's config
        records for it: its store URL, or the path itself without a store. DataError when the store refuses."""
        if self.artifacts is None or not self.artifacts.remote:
            return str(path)
        key = f"uploads/{path.name}"
        with self._lock:
            if key not in self._published:
                try:
                    self.artifacts.publish(path, key)
                except ArtifactError as exc:
                    raise DataError(f"cannot keep the upload {path.name} for the workers: {exc}") from None
                self._published.add(key)
        return self.artifacts.url(key)

    def recorded(self, source: str) -> str:
        """What a queued run or job records for a checked data source: a file kept in HOME/uploads becomes its store
        URL (published if it is not yet), so a worker on a machine with no shared disk can read it; anything else
        is recorded as given."""
        if not self.remote or "://" in source:
            return source
        try:
            target = Path(source).expanduser().resolve()
        except (OSError, RuntimeError, ValueError):
            return source
        if target.parent != self.uploads.expanduser().resolve() or not target.is_file():
            return source
        return self.publish_upload(target)

    def readable(self, source: str) -> str:
        """A local path the dashboard reads a checked data source from: for an upload's store URL, the kept file in
        HOME/uploads when this dashboard kept it, else a copy fetched into HOME/artifact-cache; `source` otherwise."""
        key = self._store_key(source, UPLOAD_KEY) if "://" in source else None
        if key is None or self.artifacts is None:
            return source
        kept = self.home / key
        if kept.is_file():
            return str(kept)
        return str(self._fetched(source))

    def checkpoint_folder(self, location: str, run_id: int) -> Path:
        """The local folder of run `run_id`'s checkpoint as its row records it: a path as it is, or a URL of this
        dashboard's store under runs/RUN_ID/, fetched into HOME/artifact-cache once. PlaceRefused for any other URL."""
        if "://" not in location:
            return Path(location)
        if self._store_key(location, re.compile(rf"runs/{int(run_id)}/[^/]+")) is None:
            raise PlaceRefused(
                f"checkpoint {location!r} is not in this dashboard's artifact store "
                f"({self._store_root()}); start it with --artifacts set to the store its worker wrote to"
            )
        return self._fetched(location)

    def export_folder(self, location: str) -> Path | None:
        """The local folder of a merged model recorded as a URL of this dashboard's store under exports/, fetched
        once; None for any other URL (the caller refuses it as it refuses a folder outside HOME/exports)."""
        if self._store_key(location, EXPORT_KEY) is None:
            return None
        return self._fetched(location)

    def _store_key(self, location: str, pattern: re.Pattern[str]) -> str | None:
        """The key of `location` when it is a URL of this dashboard's store whose key matches `pattern`."""
        key = self.artifacts.key_of(location) if self.artifacts is not None else None
        return key if key is not None and pattern.fullmatch(key) else None

    def _store_root(self) -> str:
        return (self.artifacts.root if self.artifacts else None) or "none configured"

    def _fetched(self, location: str) -> Path:
        assert self.artifacts is not None  # callers checked the store owns `location`
        try:
            return self.artifacts.local(location)
        except ArtifactError as exc:
            raise PlaceRefused(str(exc)) from None

    def owns(self, path: str | Path) -> bool:
        """True when `path`, with symlinks and `..` resolved, lies inside one of the roots."""
        try:
            target = Path(path).expanduser().resolve()
        except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL byte
            return False
        return any(target.is_relative_to(root) for root in self.roots())

    @staticmethod
    def is_hub_id(name: str) -> bool:
        """True when `name` is a Hugging Face id the worker fetches: not a path, not a file name."""
        # A name that is also a local path (e.g. 'data/train' in the worker's folder) would be loaded from disk
        # by `datasets` and `transformers`, so it counts as a path.
        return (
            bool(HUB_ID.fullmatch(name))
            and ".." not in name
            and not name.lower().endswith(TABLE_SUFFIXES)
            and not Path(name).exists()
        )


def parse_data_dirs(text: str, separator: str = ",") -> tuple[Path, ...]:
    """'--data-dir /a,/b' -> (Path('/a'), Path('/b')); each must be an existing folder."""
    folders = tuple(Path(item.strip()).expanduser() for item in text.split(separator) if item.strip())
    missing = [str(folder) for folder in folders if not folder.is_dir()]
    if missing:
        raise ValueError(f"--data-dir / NOVER_UI_DATA_DIRS: not a folder: {', '.join(missing)}")
    return folders

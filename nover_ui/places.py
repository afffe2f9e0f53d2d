"""Which files the dashboard may open for a person: its own places, never any path the server can read.

A data source or model named in the Train form, an evaluation or the API is one of:
- the built-in sets, or a Hugging Face dataset / model id (fetched by the worker, never opened here);
- a path (a data file, a dataset folder such as one saved with `save_to_disk`, a model folder) inside HOME/uploads
  (what the upload box keeps), HOME/models (converted models), or a folder the operator lists with `--data-dir`
  (NOVER_UI_DATA_DIRS), after `..` and symlinks are resolved. The files a saved dataset folder's metadata names
  are checked to lie inside that folder when it is read (training/hf_sources.py).
Anything else is refused before the file is touched, with the same message whether or not it exists, so the
refusal tells nothing about the server's files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from training.config import BUILTIN_DATASETS
from training.data import TABLE_SUFFIXES, DataError

HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?")
"""A Hugging Face repository id, 'name' or 'owner/name': no leading '/', '.', '~', no '..' (checked apart)."""


class PlaceRefused(DataError):
    """A path outside the places the dashboard owns; the message says where data may come from."""


@dataclass(frozen=True)
class Places:
    home: Path
    data_dirs: tuple[Path, ...] = ()
    """Folders the operator allows (--data-dir); empty by default."""

    @property
    def uploads(self) -> Path:
        return self.home / "uploads"

    def roots(self) -> tuple[Path, ...]:
        return tuple(root.expanduser().resolve() for root in (self.uploads, self.home / "models", *self.data_dirs))

    def check_data(self, source: str) -> None:
        """Return when `source` may be read (a built-in set, hub id, a path inside a root); PlaceRefused otherwise."""
        if source in BUILTIN_DATASETS or self.is_hub_id(source):
            return
        if not self.owns(source):
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

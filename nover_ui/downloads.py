"""Files made for a person to download (run archives, tables, adapter zips, saved configs), kept bounded.

Gradio copies a file a handler returns into its own cache (which `gr.Blocks(delete_cache=...)` empties), so our
copy is only needed until the handler returns. Each file gets a folder of its own under one directory per
dashboard; before a new one is made, the oldest are removed until at most `max_files` remain and together they
hold at most `max_bytes`.
"""

from __future__ import annotations

import hashlib
import secrets
import shutil
import tempfile
import threading
from pathlib import Path

MAX_FILES = 16
MAX_BYTES = 2 * 2**30


class Downloads:
    def __init__(self, root: Path, max_files: int = MAX_FILES, max_bytes: int = MAX_BYTES):
        self.root, self.max_files, self.max_bytes = root, max_files, max_bytes
        self._lock = threading.Lock()

    @classmethod
    def for_home(cls, home: Path) -> Downloads:
        # In the system's temp folder, which Gradio serves from; named after HOME so two dashboards on one
        # machine never prune each other's files.
        tag = hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:12]
        return cls(Path(tempfile.gettempdir()) / f"nover_ui-downloads-{tag}")

    def new_path(self, filename: str) -> Path:
        """A fresh path named `filename` (a name this code chose, never a user's) for a file to hand out."""
        with self._lock:
            self.root.mkdir(parents=True, exist_ok=True)
            folders = sorted((p for p in self.root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
            sizes = [sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) for folder in folders]
            while folders and (len(folders) >= self.max_files or sum(sizes) > self.max_bytes):
                shutil.rmtree(folders.pop(0), ignore_errors=True)
                sizes.pop(0)
            folder = self.root / secrets.token_hex(8)
            folder.mkdir()
        return folder / filename

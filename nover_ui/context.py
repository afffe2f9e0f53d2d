"""What every tab of one dashboard shares: the Store, who may write, where files may come from and go to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nover_ui.access import Access, AccessDenied
from nover_ui.downloads import Downloads
from nover_ui.experiment_grid import DEFAULT_MAX_RUNS
from nover_ui.places import Places
from nover_ui.uploads import SessionQuota, Upload, UploadLimits, accept_upload, discard
from storage import Store
from training.artifacts import Artifacts
from training.data import DataError


@dataclass(frozen=True)
class Dashboard:
    store: Store
    access: Access
    places: Places
    limits: UploadLimits
    quota: SessionQuota
    downloads: Downloads
    max_experiment_runs: int = DEFAULT_MAX_RUNS
    """The most runs one experiment may queue (app.py --max-experiment-runs)."""

    @classmethod
    def over(
        cls,
        store: Store,
        home: Path,
        access: Access,
        limits: UploadLimits,
        data_dirs: tuple[Path, ...] = (),
        max_experiment_runs: int = DEFAULT_MAX_RUNS,
        artifacts: Artifacts | None = None,
    ) -> Dashboard:
        """`artifacts`: the store uploads are copied to and checkpoints and exports fetched from (app.py
        --artifacts); None keeps every file under `home`."""
        return cls(
            store=store,
            access=access,
            places=Places(home, data_dirs, artifacts or Artifacts(None, home)),
            limits=limits,
            quota=SessionQuota(limits),
            downloads=Downloads.for_home(home),
            max_experiment_runs=max_experiment_runs,
        )

    @property
    def home(self) -> Path:
        return self.places.home

    @property
    def artifacts(self) -> Artifacts:
        """The artifact store (one with no URL when every file stays under HOME)."""
        return self.places.artifacts or Artifacts(None, self.home)

    def keep_upload(self, temp_path: str, request: Any) -> Upload:
        """Check who uploads and what, then keep the file under HOME/uploads and, with an artifact store, copy it
        there for workers with no shared disk; AccessDenied or DataError (the refused file is removed from Gradio's
        cache at once)."""
        try:
            self.access.require_write(request, "upload data")
            session = self.access.session_key(request)
            self.quota.check(session)
            kept = accept_upload(temp_path, self.places.uploads, self.limits)
            self.places.publish_upload(kept.path)
        except (AccessDenied, DataError):
            discard(temp_path)
            raise
        self.quota.record(session)
        return kept

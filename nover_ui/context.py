"""What every tab of one dashboard shares: the Store, who may write, where files may come from and go to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nover_ui.access import Access
from nover_ui.downloads import Downloads
from nover_ui.places import Places
from nover_ui.uploads import SessionQuota, UploadLimits
from storage import Store


@dataclass(frozen=True)
class Dashboard:
    store: Store
    access: Access
    places: Places
    limits: UploadLimits
    quota: SessionQuota
    downloads: Downloads

    @classmethod
    def over(cls, store: Store, home: Path, access: Access, limits: UploadLimits,
             data_dirs: tuple[Path, ...] = ()) -> Dashboard:
        return cls(store=store, access=access, places=Places(home, data_dirs), limits=limits,
                   quota=SessionQuota(limits), downloads=Downloads.for_home(home))

    @property
    def home(self) -> Path:
        return self.places.home

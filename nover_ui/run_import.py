"""Runs in from outside: a plain TRL GRPO output folder, or an uploaded zip of one or of a nover_ui run archive.

`import_trl_folder` is the one checked action (the command line, the Runs tab and the API call it): it reads the
whole folder first (trl_folder.py), maps it (trl_import.py), then writes the run in one transaction, so a folder
refused for any reason writes nothing. An uploaded zip is unpacked into a fresh folder under HOME/uploads, only
the members an import reads, each under a name checked against TRL's layout (so no member can land outside it),
within a count and a size limit, and the folder is removed once the import is done: an imported run owns no files.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
import shutil
import sys
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from nover_ui.archive import MEMBERS, ArchiveError, import_run
from nover_ui.trl_folder import MAX_JSON_BYTES, TrlFolderError, TrlLimits, read_trl_folder
from nover_ui.trl_import import trl_run
from storage import RunRecord, StorageError, Store

TRL_MEMBERS = (
    "completions/completions_*.parquet",
    "trainer_state.json",
    "checkpoint-*/trainer_state.json",
    "adapter_config.json",
    "checkpoint-*/adapter_config.json",
    "config.json",
    "checkpoint-*/config.json",
    "training_args.json",
)
"""What an import reads of a TRL folder; a zip's other members (weights, tokenizer) are never unpacked."""
IMPORTS_FOLDER = "imports"


def import_trl_folder(
    store: Store, folder: Path, limits: TrlLimits = TrlLimits(), name: str | None = None
) -> tuple[RunRecord, list[str]]:
    """Store the TRL GRPO run in `folder` as a new succeeded run (named after the folder, or `name`); returns it
    and notes for people on what was mapped, assumed and missing. TrlFolderError or StorageError, and nothing
    written, when the folder cannot be imported. The caller checks that `folder` is one the asker may read."""
    read = read_trl_folder(folder, limits)
    if name is not None:
        read = dataclasses.replace(read, name=name)
    mapped = trl_run(read, dt.datetime.now(dt.UTC))
    return store.import_run(mapped.run, mapped.metrics, mapped.rollouts), mapped.notes


def import_zip(
    store: Store, zip_path: Path, uploads: Path, limits: TrlLimits = TrlLimits()
) -> tuple[RunRecord, list[str]]:
    """Import an uploaded zip: a nover_ui run archive (app.py --export) as it is, else a zipped TRL output folder,
    unpacked under `uploads` for the import and removed after. ArchiveError, TrlFolderError or StorageError."""
    try:
        with zipfile.ZipFile(zip_path) as archive:
            names = archive.namelist()
            if not set(MEMBERS) <= set(names):  # not a run archive, which its own reader reads below
                folder = uploads / IMPORTS_FOLDER / secrets.token_hex(8)
                try:
                    top = _unpack_trl(archive, names, folder, limits)
                    return import_trl_folder(store, folder, limits, name=top or Path(zip_path).stem)
                finally:
                    shutil.rmtree(folder, ignore_errors=True)
    except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError):
        raise TrlFolderError(f"{Path(zip_path).name} is not a readable zip file") from None
    run, source = import_run(store, zip_path)
    return run, [f"a nover_ui run archive: run #{source['source_id']} of the database that exported it"]


def _unpack_trl(archive: zipfile.ZipFile, names: list[str], folder: Path, limits: TrlLimits) -> str | None:
    """Unpack the members an import reads into `folder`; the zip's one top folder's name, if all sit in one."""
    if len(names) > limits.max_members:
        raise TrlFolderError(f"the zip lists {len(names):,} members, over the {limits.max_members:,} an import reads")
    for name in names:
        path = PurePosixPath(name.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts or ":" in name:
            raise TrlFolderError("the zip holds a member whose path leads outside its folder: refused, nothing read")
    tops = {PurePosixPath(name).parts[0] for name in names if name.strip("/")}
    nested = len(tops) == 1 and all("/" in name.strip("/") for name in names if not name.endswith("/"))
    top = next(iter(tops)) if nested else None
    wanted = []
    for info in archive.infolist():
        relative = PurePosixPath(info.filename)
        relative = PurePosixPath(*relative.parts[1:]) if top else relative
        if not info.is_dir() and any(relative.match(pattern) and _depth(pattern) == len(relative.parts)
                                     for pattern in TRL_MEMBERS):  # fmt: skip
            wanted.append((info, relative))
    total = sum(info.file_size for info, _ in wanted)
    most = limits.max_bytes + 4 * MAX_JSON_BYTES
    if total > most:
        raise TrlFolderError(
            f"the zip's completions and JSON files unpack to {total / 2**20:,.1f} MB, over the "
            f"{most / 2**20:,.0f} MB an import reads"
        )
    folder.mkdir(parents=True)
    root = folder.resolve()
    for info, relative in wanted:
        target = (folder / Path(*relative.parts)).resolve()
        if not target.is_relative_to(root):  # the patterns already rule it out; checked again where it matters
            raise TrlFolderError("the zip holds a member whose path leads outside its folder: refused, nothing read")
        target.parent.mkdir(parents=True, exist_ok=True)
        _copy_capped(archive, info, target)
    return top


def _copy_capped(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> None:
    """Copy one member, refusing one that unpacks to more than its header declares (a forged size)."""
    written = 0
    try:
        source = archive.open(info)
    except RuntimeError:  # zipfile's word for an encrypted member
        raise TrlFolderError(f"{info.filename} is encrypted: zip the folder without a password") from None
    with source, target.open("wb") as out:
        while chunk := source.read(2**20):
            written += len(chunk)
            if written > info.file_size:
                raise TrlFolderError(f"{info.filename} unpacks to more than its declared size: refused")
            out.write(chunk)


def _depth(pattern: str) -> int:
    return len(PurePosixPath(pattern).parts)


def trl_import_command(store: Store, folder: Path) -> int:
    """`app.py --import-trl DIR`: prints the notes and the new run's id; 0 on success, 2 on error."""
    try:
        run, notes = import_trl_folder(store, folder)
    except (TrlFolderError, ArchiveError, StorageError, OSError) as exc:
        print(f"nover_ui: cannot import {folder}: {exc}", file=sys.stderr)
        return 2
    for note in notes:
        print(f"nover_ui: {note}", file=sys.stderr)
    print(f"nover_ui: imported the TRL run in {folder} as run #{run.id} ({run.name!r})", file=sys.stderr)
    print(run.id)
    return 0

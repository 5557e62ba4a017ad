"""Placing a job's datasets next to it: read-only, checksum-verified, before it may start.

What an executor receives is plain data (StageDataset: a slug and its files, each with the
local path of its blob, its size and SHA-256), decided by the broker after it checked the
job's grants; this module only places and verifies. Layout under the target directory:

    <target>/<slug>/<file name>     0444, a hard link to the blob (same file system) or a copy
    <target>/<slug>/                0555
    <target>/                       0555

A hard link shares the blob's inode, so it is only safe where the job runs as another user
than the blob store's owner; the executors here copy (the local executor's jobs run as the
broker's own user, who could chmod a linked file and alter the stored blob). The modes guard
against mistakes, not against the same user (an owner may chmod, root ignores modes): that is
why every file is hashed after placing, and why every staging hashes again instead of trusting
an earlier one.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabriek.compute.executors.base import ExecutorError

CHUNK = 1 << 20
FILE_MODE = 0o444
DIR_MODE = 0o555
ENV_VAR = "FABRIEK_DATASETS_DIR"
# A dataset's slug and a file's name each become one path component: no separators, no
# dot-only names, nothing a shell or a path join could read as something else.
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class StagingFailed(ExecutorError):
    """The datasets could not be placed or did not verify: the job must not start. Not a
    scheduler fault and not worth retrying (a tampered or missing blob stays so)."""


@dataclass(frozen=True)
class StageFile:
    name: str  # the file's name under datasets/<slug>/
    source: str  # the blob's path on this machine
    sha256: str
    size: int


@dataclass(frozen=True)
class StageDataset:
    slug: str
    files: tuple[StageFile, ...]


def to_json(datasets: Sequence[StageDataset]) -> list[dict[str, Any]]:
    return [{"slug": d.slug, "files": [f.__dict__ for f in d.files]} for d in datasets]


def from_json(data: Iterable[dict[str, Any]]) -> tuple[StageDataset, ...]:
    return tuple(StageDataset(d["slug"], tuple(StageFile(**f) for f in d["files"]))
                 for d in data)


def check_names(datasets: Sequence[StageDataset]) -> None:
    """Every slug and file name is one safe path component, and none repeats."""
    slugs: set[str] = set()
    for dataset in datasets:
        if not _SLUG.match(dataset.slug) or dataset.slug in slugs:
            raise StagingFailed(f"dataset name {dataset.slug!r} cannot be staged (invalid or "
                                "given twice)")
        slugs.add(dataset.slug)
        names: set[str] = set()
        for f in dataset.files:
            if (not f.name or f.name in (".", "..") or "/" in f.name or "\x00" in f.name
                    or len(f.name.encode()) > 255 or f.name in names):
                raise StagingFailed(f"dataset {dataset.slug}: file name {f.name!r} cannot be "
                                    "staged")
            if not _SHA256.match(f.sha256) or f.size < 0:
                raise StagingFailed(f"dataset {dataset.slug}: {f.name} has no valid checksum")
            names.add(f.name)


def sha256_of(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def remove(target: Path) -> None:
    """Remove a staged tree, read-only modes and all (a retry starts from nothing)."""
    if not target.exists() and not target.is_symlink():
        return
    for root, dirs, _ in os.walk(target):
        for name in dirs:
            with contextlib.suppress(OSError):
                os.chmod(Path(root) / name, 0o700)
    with contextlib.suppress(OSError):
        os.chmod(target, 0o700)
    shutil.rmtree(target)


def _link_or_copy(source: Path, dest: Path, *, link: bool) -> str:
    if link:
        try:
            os.link(source, dest)
            return "link"
        except OSError as exc:
            # Another file system, or one without hard links: a copy does the same job.
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP,
                                 errno.EACCES):
                raise
    shutil.copyfile(source, dest)
    return "copy"


def place(datasets: Sequence[StageDataset], target: Path, *, link: bool = True) -> list[str]:
    """Stage every dataset under `target` (which must not exist yet, or holds an earlier
    attempt that is removed first), read-only, each file hashed after it is in place.

    Returns how each file was placed ("link" or "copy"), in order. Raises StagingFailed
    (with what went wrong, per dataset and file); nothing is left under `target` then.
    """
    check_names(datasets)
    remove(target)
    how: list[str] = []
    try:
        target.mkdir(parents=True, mode=0o700)
        for dataset in datasets:
            folder = target / dataset.slug
            folder.mkdir(mode=0o700)
            for f in dataset.files:
                dest = folder / f.name
                source = Path(f.source)
                try:
                    how.append(_link_or_copy(source, dest, link=link))
                except FileNotFoundError:
                    raise StagingFailed(f"dataset {dataset.slug}: the stored file of {f.name} "
                                        "is missing from the data lab's store") from None
                except OSError as exc:
                    raise StagingFailed(f"dataset {dataset.slug}: {f.name} could not be "
                                        f"placed next to the job: {exc.strerror}") from exc
                # Read-only before hashing: what is verified is what the job will read.
                os.chmod(dest, FILE_MODE)
                digest, size = sha256_of(dest)
                if size != f.size or digest != f.sha256:
                    raise StagingFailed(
                        f"dataset {dataset.slug}: {f.name} does not match its checksum "
                        f"(expected {f.size} bytes with SHA-256 {f.sha256}, found {size} bytes "
                        f"with SHA-256 {digest}); the stored copy may have been altered, so "
                        "the job was not started")
            os.chmod(folder, DIR_MODE)
        os.chmod(target, DIR_MODE)
    except BaseException:
        with contextlib.suppress(OSError):
            remove(target)
        raise
    return how


def is_read_only(path: Path) -> bool:
    """No write bit for anyone on the file or directory."""
    return not stat.S_IMODE(path.stat().st_mode) & 0o222

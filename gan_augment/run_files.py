"""Leaf helpers for folders that long-running jobs write into (training runs, synthetic banks):
an exclusive pid lock, removal of temporary files left by killed processes, and a log
truncated back to a resumed step. Imports nothing from the package."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

_PID_SUFFIX = re.compile(r"\.tmp-(\d+)$")


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine (a zombie counts as alive)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, it is someone else's
        return True
    return True


def remove_stale_temporaries(
    folder: str | os.PathLike, pattern: str = ".*.tmp*", only: Callable[[Path], bool] | None = None
) -> list[Path]:
    """Delete temporary files matching ``pattern`` in ``folder`` whose writer is gone.

    A name ending in ``.tmp-<pid>`` belongs to that process and is kept while it runs;
    any other match (no pid) is removed. ``only`` limits the removal to the paths it accepts
    (e.g. the files one process of a sharded job writes). Returns the removed paths.
    """
    removed = []
    for path in Path(folder).glob(pattern):
        if not path.is_file() or (only is not None and not only(path)):
            continue
        match = _PID_SUFFIX.search(path.name)
        if match is not None and int(match.group(1)) != os.getpid() and pid_alive(int(match.group(1))):
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def truncate_log(path: str | os.PathLike, step: int) -> int:
    """Keep only the JSON lines of ``path`` whose ``step`` is at most ``step`` (a resumed run
    logs the later steps again); unreadable lines are dropped. Returns lines removed."""
    path = Path(path)
    if not path.is_file():
        return 0
    lines = path.read_text().splitlines()
    kept = []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and int(record.get("step", 0)) <= step:
            kept.append(line)
    if len(kept) != len(lines):
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text("".join(f"{line}\n" for line in kept))
        os.replace(tmp, path)
    return len(lines) - len(kept)


class FolderLockedError(RuntimeError):
    """Another live process holds the folder's lock."""


def create_exclusive(path: str | os.PathLike, text: str) -> bool:
    """Create ``path`` holding ``text``, atomically (never visible empty); False if it exists."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    try:
        os.link(tmp, path)  # atomic and exclusive, like O_CREAT | O_EXCL, with the content in place
        return True
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: O_CREAT | O_EXCL, then the content
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        return True
    finally:
        tmp.unlink(missing_ok=True)


def _create_with_pid(lock: Path) -> bool:
    return create_exclusive(lock, f"{os.getpid()}\n")


def _lock_owner(lock: Path) -> int:
    try:
        return int(lock.read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def live_lock_owner(lock: str | os.PathLike) -> int | None:
    """The pid holding ``lock`` if that process is alive (on this machine), else ``None``."""
    owner = _lock_owner(Path(lock))
    return owner if owner and pid_alive(owner) else None


@contextmanager
def exclusive_lock(folder: str | os.PathLike, what: str, name: str = ".lock") -> Iterator[Path]:
    """Hold ``folder/name`` (created exclusively, holding this pid) for the block.

    A lock whose process is dead is taken over; one held by a live process raises
    :class:`FolderLockedError` naming it and ``what`` is running there.
    """
    lock = Path(folder) / name
    for _ in range(5):
        if _create_with_pid(lock):
            break
        owner = _lock_owner(lock)
        if owner == os.getpid():
            raise FolderLockedError(f"{Path(folder)} is already locked by this process ({what})")
        if owner and pid_alive(owner):
            raise FolderLockedError(
                f"{Path(folder)} is in use: process {owner} is running {what} there ({lock}); "
                "wait for it to finish or use another folder"
            )
        if _lock_owner(lock) == owner:  # still the same stale lock: take it over
            lock.unlink(missing_ok=True)
    else:
        raise FolderLockedError(f"could not lock {lock}")
    try:
        yield lock
    finally:
        if _lock_owner(lock) == os.getpid():
            lock.unlink(missing_ok=True)

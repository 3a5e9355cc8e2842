"""Output files that are never half-written, and output folders that one run at a time writes.

:func:`atomic_write` writes a temporary file next to the target and renames it into place, so
that a run killed mid-write leaves the previous file, never a truncated one.
:func:`lock_output_dir` makes a training run the only writer of its ``OUTPUT_DIR`` (two runs
there would interleave their checkpoints and ``last_checkpoint``).
"""
from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing.util
import os
import socket
from typing import IO, Iterator, Optional, Set

logger = logging.getLogger(__name__)

LOCK_FILE = "train.lock"
_held: Set[str] = set()  # lock files this process holds


@contextlib.contextmanager
def atomic_write(path: str, mode: str = "w", **kwargs) -> Iterator[IO]:
    """``open(path, mode)`` into a temporary file that replaces ``path`` when the block ends
    without an exception; otherwise the temporary file is removed and ``path`` is untouched."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def _start_time(pid: int) -> Optional[int]:
    """The start time of process ``pid`` in clock ticks after boot (Linux), which tells a
    process from a later one that got the same id; None where unknown."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _identity(pid: int) -> dict:
    return {"pid": pid, "host": socket.gethostname(), "started": _start_time(pid)}


def _is_running(owner: dict) -> bool:
    """Whether the lock owner ``owner`` (:func:`_identity`) still runs; a process on another
    host is assumed to."""
    if owner.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(owner["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    started = owner.get("started")
    return started is None or _start_time(int(owner["pid"])) == started


def _release(path: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        with open(path) as f:
            if json.load(f).get("pid") == os.getpid():
                os.remove(path)


def lock_output_dir(output_dir: str) -> str:
    """Make this process the one training run that writes ``output_dir``: create
    ``output_dir/train.lock`` with this process's id (removed when it exits) and return its path.

    Raises ``RuntimeError`` naming the owner when another running process holds the lock. A lock
    left by a process that is gone (killed, crashed) is taken over with a warning. Calling it
    again in the same process is a no-op.
    """
    path = os.path.abspath(os.path.join(output_dir, LOCK_FILE))
    if path in _held:
        return path
    os.makedirs(output_dir, exist_ok=True)
    while True:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                with open(path) as f:
                    owner = json.load(f)
            except (OSError, ValueError):
                raise RuntimeError(f"{path} exists but cannot be read: another run may be "
                                   "starting in this OUTPUT_DIR; if none is, delete the file"
                                   ) from None
            if _is_running(owner):
                raise RuntimeError(
                    f"OUTPUT_DIR {output_dir} is in use by process {owner.get('pid')} on "
                    f"{owner.get('host')} (lock file {path}): two runs in one folder would "
                    "interleave their checkpoints. Wait for it, stop it, or set another "
                    "OUTPUT_DIR; delete the lock file only if that process is gone") from None
            logger.warning(f"{path}: process {owner.get('pid')}, which locked this OUTPUT_DIR, "
                           "is gone; taking the lock over")
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(_identity(os.getpid()), f)
        break
    _held.add(path)
    # Run at exit by the main process (multiprocessing registers its finalizers with atexit)
    # and by the ranks that detectron2's launch spawns (whose exit skips atexit).
    multiprocessing.util.Finalize(None, _release, args=(path,), exitpriority=0)
    return path

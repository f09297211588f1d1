"""One process per run directory: an exclusive lock with the holder's pid and host.

``RunLock(dir)`` takes ``dir/.fiubench.lock`` with ``flock`` (released by the kernel
when the holder dies, even by SIGKILL) and writes ``pid host`` into it so that a
second run can say who holds it. Where ``flock`` is not available (some network
filesystems), the file's pid is checked instead: a lock whose pid is dead on this
host is stale and taken over.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
from pathlib import Path
from types import TracebackType

from fiubench.errors import FiubenchError

LOCK_NAME = ".fiubench.lock"


class RunLocked(FiubenchError):
    """Another live process holds the run directory."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder(path: Path) -> dict:
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(path.read_text() or "{}")
        if isinstance(data, dict):
            return data
    return {}


class RunLock:
    """Exclusive lock of a run directory (a context manager)."""

    def __init__(self, directory: str | Path, what: str = "fiubench run") -> None:
        self.dir = Path(directory)
        self.path = self.dir / LOCK_NAME
        self.what = what
        self._fd: int | None = None

    def _refuse(self, info: dict) -> RunLocked:
        pid, host = info.get("pid", "?"), info.get("host", "?")
        return RunLocked(
            f"{self.dir} is in use by another {info.get('what', 'fiubench run')} (pid {pid} on host {host}, "
            f"lock file {self.path}); wait for it to finish or stop it, or use another --out"
        )

    def acquire(self) -> RunLock:
        self.dir.mkdir(parents=True, exist_ok=True)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "what": self.what}
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            import fcntl

            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise self._refuse(_holder(self.path)) from None
                if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                    raise
                self._pid_check(me)  # no flock here: fall back to the pid in the file
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
        self._fd = fd
        return self

    def _pid_check(self, me: dict) -> None:
        info = _holder(self.path)
        pid = info.get("pid")
        if isinstance(pid, int) and pid != me["pid"] and info.get("host") == me["host"] and _alive(pid):
            raise self._refuse(info)

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing drops the flock
        self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.release()

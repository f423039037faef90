"""The state folder and the locks: where a community's journal, pace and account cache live, and
how one run at a time is enforced on this machine.

One function (`state_dir`) decides the folder for every file, following the XDG base directory
spec: ``$XDG_STATE_HOME/bulk-ident`` when that variable holds an absolute path, else
``~/.local/state/bulk-ident``. The folder is private (0700): it holds members' names and account
UUIDs.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout

from bulk_ident.errors import JournalError

APP = "bulk-ident"


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    """The folder for journals, pace state and account caches (not created here).

    A relative ``XDG_STATE_HOME`` is ignored, as the spec says: otherwise which journal a run
    used would depend on the current directory.
    """
    env = os.environ if env is None else env
    base = env.get("XDG_STATE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / APP


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if needed; a folder this tool creates is 0700."""
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def community_id(base_url: str, fingerprint: str) -> str:
    """One community: the normalised base URL and the key's fingerprint."""
    return f"{base_url}#{fingerprint}"


def slug(text: str) -> str:
    """A short stable file-name part for a community (12 hex digits of its SHA-256)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def default_journal_path(community: str, env: Mapping[str, str] | None = None) -> Path:
    """The journal of one community, in the state folder."""
    return state_dir(env) / f"journal-{slug(community)}.sqlite"


def pace_state_path(fingerprint: str, env: Mapping[str, str] | None = None) -> Path:
    """The pacing state of one API key, in the state folder."""
    return state_dir(env) / f"pace-{fingerprint}.sqlite"


def accounts_cache_path(community: str, env: Mapping[str, str] | None = None) -> Path:
    """The cached account list of one community, in the state folder."""
    return state_dir(env) / f"accounts-{slug(community)}.json"


def community_lock_path(community: str, env: Mapping[str, str] | None = None) -> Path:
    """The lock that lets one import per community run on this machine, whatever its --state."""
    return state_dir(env) / f"community-{slug(community)}.lock"


class RunLock:
    """An exclusive lock held by one process (``flock``: the kernel drops it if the process dies).

    Beside the lock file, ``PATH.owner`` names the process holding it, so that a refused run can
    say which one is running. (The lock file itself can't carry that: a refused acquirer opens
    and truncates it.)
    """

    def __init__(self, path: Path, busy: str) -> None:
        """``busy`` is the message when another process holds it; ``{owner}`` is filled in."""
        self.path = path
        self._busy = busy
        self._lock = FileLock(str(path), timeout=0, mode=0o600)
        self._owner = path.with_name(path.name + ".owner")

    def acquire(self) -> RunLock:
        """Take the lock or raise JournalError naming the process that holds it."""
        try:
            private_dir(self.path.parent)
            self._lock.acquire()
        except Timeout:
            raise JournalError(self._busy.format(owner=self._read_owner())) from None
        except OSError as err:
            raise JournalError(f"can't lock {self.path}: {err.strerror or err}") from None
        with contextlib.suppress(OSError):
            command = " ".join(Path(a).name if i == 0 else a for i, a in enumerate(sys.argv))
            started = time.strftime("%Y-%m-%d %H:%M")
            text = f"process {os.getpid()} ({command[:200]}), started {started}"
            fd = os.open(self._owner, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
        return self

    def _read_owner(self) -> str:
        try:
            return self._owner.read_text(encoding="utf-8").strip() or "another process"
        except OSError:
            return "another process"

    def release(self) -> None:
        """Release the lock (and forget the owner)."""
        if self._lock.is_locked:
            with contextlib.suppress(OSError):
                self._owner.unlink()
            self._lock.release()

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def community_lock(community: str, env: Mapping[str, str] | None = None) -> RunLock:
    """The per-community lock an import holds for its whole run."""
    return RunLock(
        community_lock_path(community, env),
        "another bulk-ident run is importing into this community on this machine ({owner}); "
        "wait for it to finish: two runs at once could create the same units twice",
    )

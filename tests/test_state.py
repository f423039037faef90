"""The state folder and run locks: one rule for every file, private permissions, one run per
community and per journal, whatever the path's spelling."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bulk_ident.errors import JournalError
from bulk_ident.sync import state


def test_journal_and_pace_state_share_one_folder_under_an_absolute_xdg_state_home(
    tmp_path: Path,
) -> None:
    """With an absolute XDG_STATE_HOME the journal, pace state and caches sit together in it."""
    env = {"XDG_STATE_HOME": str(tmp_path / "xdg")}
    folder = tmp_path / "xdg" / "bulk-ident"
    assert state.default_journal_path("c", env).parent == folder
    assert state.pace_state_path("key-1", env).parent == folder
    assert state.accounts_cache_path("c", env).parent == folder
    assert state.community_lock_path("c", env).parent == folder


def test_a_relative_xdg_state_home_is_ignored_for_every_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative XDG_STATE_HOME is ignored (the spec's rule) by journal and pace state alike."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    env = {"XDG_STATE_HOME": "rel/state"}
    folder = tmp_path / "home" / ".local" / "state" / "bulk-ident"
    assert state.state_dir(env) == folder
    assert state.default_journal_path("c", env).parent == folder
    assert state.pace_state_path("key-1", env).parent == folder


def test_files_are_per_community_and_per_key() -> None:
    """Two communities get two journals; two keys two pace files."""
    env = {"XDG_STATE_HOME": "/x"}
    assert state.default_journal_path("a", env) != state.default_journal_path("b", env)
    assert state.pace_state_path("key-a", env) != state.pace_state_path("key-b", env)


def test_private_dir_is_created_0700(tmp_path: Path) -> None:
    """The folder holding members' names and UUIDs is readable by its owner only."""
    folder = state.private_dir(tmp_path / "a" / "bulk-ident")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_a_second_holder_is_refused_with_the_first_ones_name(tmp_path: Path) -> None:
    """While a process holds a run lock, another is refused and told which process holds it."""
    path = tmp_path / "community-x.lock"
    code = (
        "import sys, time; from pathlib import Path; from bulk_ident.sync.state import RunLock;"
        f"lock = RunLock(Path({str(path)!r}), 'busy').acquire();"
        "print('held', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(JournalError, match=rf"running: process {holder.pid} "):
            state.RunLock(path, "running: {owner}").acquire()
    finally:
        holder.kill()
        holder.communicate()
    lock = state.RunLock(path, "running: {owner}").acquire()
    lock.release()
    assert not path.with_name(path.name + ".owner").exists()


def test_community_lock_message_names_the_risk(tmp_path: Path) -> None:
    """The community lock's refusal explains why two runs at once are refused."""
    env = {"XDG_STATE_HOME": str(tmp_path)}
    with state.community_lock("http://x#key-1", env):
        with pytest.raises(JournalError, match="could create the same units twice"):
            state.community_lock("http://x#key-1", env).acquire()
        state.community_lock("http://x#key-2", env).acquire().release()
    assert os.listdir(tmp_path / "bulk-ident")

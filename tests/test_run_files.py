"""The run-folder leaf: log truncation, stale temporaries, the pid lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gan_augment.run_files import FolderLockedError, exclusive_lock, remove_stale_temporaries, truncate_log


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.integers(0, 50), max_size=30), resumed=st.integers(0, 50))
def test_truncate_log_keeps_exactly_the_lines_up_to_the_resumed_step(tmp_path, steps, resumed):
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps({"step": s, "loss": s / 2}) + "\n" for s in steps))
    removed = truncate_log(log, resumed)
    kept = [json.loads(line)["step"] for line in log.read_text().splitlines()]
    assert kept == [s for s in steps if s <= resumed] and removed == len(steps) - len(kept)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_only_temporaries_of_dead_writers_are_removed(tmp_path):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead, alive, plain = (tmp_path / f".a.tmp-{_dead_pid()}", tmp_path / f".b.tmp-{live.pid}", tmp_path / ".c.tmp")
        for path in (dead, alive, plain):
            path.write_text("x")
        assert sorted(remove_stale_temporaries(tmp_path)) == sorted([dead, plain])
        assert alive.exists()
    finally:
        live.kill()
        live.wait()


def test_lock_is_exclusive_released_and_taken_over_when_stale(tmp_path):
    with exclusive_lock(tmp_path, "job") as lock:
        assert lock.read_text().strip() == str(os.getpid())
        with pytest.raises(FolderLockedError, match="already locked by this process"), exclusive_lock(tmp_path, "job"):
            pass
    assert not lock.exists()
    lock.write_text(f"{_dead_pid()}\n")  # a killed holder
    with exclusive_lock(tmp_path, "job"):
        assert lock.read_text().strip() == str(os.getpid())
    assert not lock.exists()

"""The training scripts in scripts/: valid bash, and the resume / warm-start choice they share."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


@pytest.mark.parametrize("script", sorted(p.name for p in SCRIPTS.glob("*.sh")))
def test_script_is_valid_bash(script):
    subprocess.run(["bash", "-n", str(SCRIPTS / script)], check=True)


def _resume_args(run: Path, snapshot: Path) -> str:
    command = f'source "{SCRIPTS / "_run_state.sh"}"; resume_or_warm_start "{run}" "{snapshot}"; echo "${{RESUME[@]}}"'
    return subprocess.run(["bash", "-c", command], check=True, capture_output=True, text=True).stdout.strip()


def test_a_run_resumes_else_warm_starts_from_the_snapshot_else_starts_fresh(tmp_path):
    run, snapshot = tmp_path / "run", tmp_path / "snap.safetensors"
    assert _resume_args(run, snapshot) == ""  # nothing: a new run
    snapshot.write_bytes(b"x")
    assert _resume_args(run, snapshot) == f"--warm-start {snapshot}"  # a new machine
    run.mkdir()
    (run / "checkpoint.safetensors").write_bytes(b"x")
    assert _resume_args(run, snapshot) == "--resume"  # this machine ran it before

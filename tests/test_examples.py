"""The examples stay runnable (on the bundled sample, or ../shared/data where they need it)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import HAM10000_ROOT, REPO

import gan_augment as ga

PIPELINES = ["albumentations_pipeline", "monai_pipeline", "torchvision_pipeline", "mix_for_segmentation"]


def run_example(name, tmp_path, *args):
    out = tmp_path / f"{name}.png"
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / f"{name}.py"), "--out", str(out), *args],
        check=False, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert out.is_file() and out.stat().st_size > 1000
    return result.stdout


@pytest.mark.parametrize("name", PIPELINES)
def test_pipeline_examples(name, tmp_path):
    extra = ["--bank", str(tmp_path / "bank")] if name == "mix_for_segmentation" else []
    stdout = run_example(name, tmp_path, *extra)
    assert "->" in stdout


def test_classification_example(tmp_path):
    if not HAM10000_ROOT.is_dir():
        pytest.skip("needs ../shared/data/ham10000")
    if "dcgan-ham10000-64" not in {e["name"] for e in ga.list_pretrained()}:
        pytest.skip("class-conditional DCGAN not bundled")
    stdout = run_example("mix_for_classification", tmp_path, "--data", str(HAM10000_ROOT))
    counts = [line for line in stdout.splitlines() if " real + " in line]
    assert len(counts) == 7 and len({line.rsplit("= ", 1)[1] for line in counts}) == 1  # all classes equal

"""Smoke tests of benchmarks/loader.py and benchmarks/generator_speed.py: each script's main
with tiny arguments (a fresh process per setting, as in a real run) writes the JSON its
readers expect, with positive numbers; and the result files are never overwritten.
Timings here mean nothing: the tests check the plumbing, not the speed."""

from __future__ import annotations

import json
import shlex
import sys

import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import bank_scaling
import generator_speed
import loader
import result_files


def _positive(*values: float) -> bool:
    return all(isinstance(v, float) and v > 0 for v in values)


def test_loader_tiny(tmp_path):
    out = tmp_path / "loader.json"
    record = loader.main(["--images", "4", "--batch-sizes", "2", "--threads", "1", "--workers", "0", "--repeats", "1",
                          "--out", str(out)])
    assert json.loads(out.read_text()) == record
    assert record["target"] == 0.9 and _positive(record["bank_over_real_min"])
    assert record["data"]["source"] == "bundled_sample" and record["data"]["from_files"]
    (setting,) = record["settings"]
    assert "error" not in setting, setting
    assert setting["threads"] == 1 and _positive(setting["bank_build"]["img_per_s"]) and setting["bank_build"]["images"] == 2
    (row,) = record["rows"]
    assert (row["threads"], row["workers"], row["batch_size"]) == (1, 0, 2)
    assert set(row["img_per_s"]) == {"real", "gan_augment", "batch_mixer", "bank_mixed"}
    assert _positive(*row["img_per_s"].values(), *row["ratio_to_real"].values())
    assert set(row["ratio_to_real"]) == {"gan_augment", "batch_mixer", "bank_mixed"}
    assert record["bank_over_real_min"] == row["ratio_to_real"]["bank_mixed"]
    assert row["synthetic_fraction"]["bank_mixed"] == 0.5 and row["synthetic_fraction"]["batch_mixer"] == 0.5
    assert "bank-mixed" in loader.markdown(record)


def test_generator_speed_tiny(tmp_path, tiny_pix2pix_dir):
    out = tmp_path / "generator.json"
    record = generator_speed.main(["--model", str(tiny_pix2pix_dir), "--batch-sizes", "2", "--threads", "1", "--repeats", "1",
                                   "--no-compile", "--no-cuda", "--matmul-size", "64", "--out", str(out)])
    assert json.loads(out.read_text()) == record
    (setting,) = record["settings"]
    assert "error" not in setting, setting
    assert setting["threads"] == 1 and _positive(*setting["matmul_peak_gflops"].values())
    assert set(setting["matmul_peak_gflops"]) == {"float32", "bfloat16"}
    rows = {r["variant"]: r for r in record["rows"]}
    assert set(rows) == {"no_grad", "fp32", "inference_mode", "bf16_autocast", "channels_last"}  # no compile, no CUDA
    for r in rows.values():
        assert "skipped" not in r, r
        assert r["batch_size"] == 2 and r["threads"] == 1 and r["device"] == "cpu"
        assert _positive(r["seconds"], r["img_per_s"], r["speedup_vs_no_grad"], r["gflops"], r["fraction_of_peak"], r["gflop_per_call"])
        assert r["max_abs_diff"] >= 0
    assert rows["no_grad"]["speedup_vs_no_grad"] == 1.0 and rows["no_grad"]["max_abs_diff"] == 0.0
    assert rows["inference_mode"]["max_abs_diff"] == 0.0  # same fp32 computation
    assert rows["bf16_autocast"]["peak_dtype"] == "bfloat16"
    assert "no_grad" in generator_speed.markdown(record)


def test_results_are_never_overwritten(tmp_path):
    taken = tmp_path / "x.json"
    result_files.write_result(taken, {"a": 1})
    with pytest.raises(SystemExit, match="never overwritten"):
        result_files.result_path("loader", out=taken)
    with pytest.raises(SystemExit, match="never overwritten"):
        result_files.write_result(taken, {"a": 2})
    assert json.loads(taken.read_text()) == {"a": 1}
    name = result_files.result_path("loader", "cpu-test-2threads").name
    assert name == f"loader-cpu-test-2threads-{result_files.today()}.json"


def test_readme_benchmark_commands_parse():
    """The README's commands for the two scripts are accepted by their parsers."""
    scripts = {"loader": loader, "generator_speed": generator_speed}
    seen = set()
    for line in (REPO / "README.md").read_text().splitlines():
        for name, module in scripts.items():
            prefix = f"python benchmarks/{name}.py"
            if line.strip().startswith(prefix):
                module.parse_args(shlex.split(line.strip()[len(prefix):]))
                seen.add(name)
    assert seen == set(scripts)


def test_bank_scaling_tiny(tmp_path):
    out = tmp_path / "bank.json"
    record = bank_scaling.main(["--images", "4", "--shard-size", "1", "--processes", "1", "2", "--cores", "2", "--out", str(out)])
    assert json.loads(out.read_text()) == record
    assert [r["processes"] for r in record["rows"]] == [1, 2] and [r["threads_per_process"] for r in record["rows"]] == [2, 1]
    assert record["same_images_for_every_split"] is True  # 2 processes write the same shards as 1
    assert _positive(*(r["images_per_s"] for r in record["rows"])) and record["rows"][0]["speedup_vs_fewest_processes"] == 1.0

"""The gan-augment command line, end to end on tiny settings."""

from __future__ import annotations

import json

import pytest

import gan_augment as ga
from gan_augment.cli import main
from gan_augment.data import SAMPLE_ISIC2017
from gan_augment.models import list_models


def test_list_and_pretrained(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("pix2pix", "dcgan", "progan", "pix2pixhd", "residual_unet", "cyclegan", "inpaint"):
        assert name in out
    assert main(["pretrained"]) == 0
    assert "mask2lesion-isic2017-128" in capsys.readouterr().out


def test_train_resume_export_card_sample(tmp_path, capsys):
    run = tmp_path / "run"
    common = ["train", "pix2pix", "--data", str(SAMPLE_ISIC2017), "--split", "validation", "--tiny", "--steps", "4",
              "--batch-size", "2", "--workers", "0", "--out", str(run), "--no-preload"]
    assert main([*common, "--max-session-steps", "2"]) == 0
    assert "stopped (resume with --resume)" in capsys.readouterr().out
    assert main(common) == 2
    assert "exists: pass resume=True (--resume)" in capsys.readouterr().err
    assert main([*common, "--resume"]) == 0
    assert "finished at step 4/4" in capsys.readouterr().out
    config = json.loads((run / "config.json").read_text())
    assert config["command"].startswith("gan-augment train pix2pix") and config["data"]["name"] == "ISIC 2017 Challenge"

    folder = tmp_path / "card"
    assert main(["export", str(run), "--to", str(folder), "--dtype", "float16", "--hub-id", "me/tiny"]) == 0
    card = (folder / "README.md").read_text()
    assert card.startswith("---\n") and "gan-augment train pix2pix" in card and "ISIC 2017" in card
    evaluation = tmp_path / "eval.json"
    evaluation.write_text(json.dumps({"description": "d", "rows": [{"name": "KID", "value": "0.1"}], "metric_names": ["kid"]}))
    notes = tmp_path / "notes.txt"
    notes.write_text("first note\nsecond note\n")
    assert main(["card", str(folder), "--evaluation", str(evaluation), "--notes", str(notes)]) == 0
    card = (folder / "README.md").read_text()
    assert "| KID | 0.1 |" in card and "- second note" in card

    grid = tmp_path / "grid.png"
    assert main(["sample", str(folder), "-n", "3", "--out", str(grid), "--device", "cpu"]) == 0
    assert grid.is_file() and grid.stat().st_size > 0


def _one_line_error(capsys, command):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"gan-augment {command}: error: "), err
    assert "Traceback" not in err
    return err


def test_train_rejects_bad_options(tmp_path, capsys):
    assert main(["train", "pix2pix", "--data", str(SAMPLE_ISIC2017), "--split", "validation", "--tiny", "--steps", "1",
                 "--set", "lamda=3", "--out", str(tmp_path / "x")]) == 2
    assert "unknown option 'lamda'" in _one_line_error(capsys, "train")
    with pytest.raises(SystemExit, match="--set expects key=value"):
        main(["train", "pix2pix", "--data", str(SAMPLE_ISIC2017), "--set", "novalue", "--out", str(tmp_path / "y")])
    assert main(["train", "dcgan", "--data", str(SAMPLE_ISIC2017), "--split", "validation", "--classes", "eczema",
                 "--tiny", "--steps", "1", "--out", str(tmp_path / "z")]) == 2
    assert "unknown classes" in _one_line_error(capsys, "train")


@pytest.mark.parametrize(
    "argv, command, words",
    [
        (["train", "pix2pix", "--data", "/no/such/folder"], "train", "data folder not found: /no/such/folder"),
        (["train", "pix2pixx", "--data", str(SAMPLE_ISIC2017)], "train", "unknown model 'pix2pixx'; registered models:"),
        (["train", "pix2pix", "--data", str(SAMPLE_ISIC2017), "--split", "validation", "--set", "ngff=3"], "train", "unknown option 'ngff'"),
        (["sample", "no-such-model"], "sample", "'no-such-model' is not a local folder"),
        (["export", "/no/such/run", "--to", "x"], "export", "no checkpoint at /no/such/run"),
    ],
)
def test_user_mistakes_print_one_line_not_a_traceback(tmp_path, capsys, monkeypatch, argv, command, words):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert words in _one_line_error(capsys, command)


def test_traceback_on_request(monkeypatch):
    monkeypatch.setenv("GAN_AUGMENT_TRACEBACK", "1")
    with pytest.raises(FileNotFoundError, match="data folder not found"):
        main(["train", "pix2pix", "--data", "/no/such/folder"])


def test_conditional_training_records_class_names(tmp_path):
    run = tmp_path / "cond"
    assert main(["train", "dcgan", "--data", str(SAMPLE_ISIC2017), "--split", "validation", "--tiny", "--conditional",
                 "--steps", "2", "--batch-size", "2", "--workers", "0", "--out", str(run)]) == 0
    import gan_augment as ga

    g = ga.from_pretrained(run / "pretrained")
    assert g.class_names == ["nevus", "melanoma", "seborrheic_keratosis"]
    assert g.sample(2, labels="melanoma", seed=0).shape == (2, 3, 16, 16)


def test_snapshot_warm_starts_a_new_run_with_the_same_weights(tmp_path, capsys):
    import torch

    from gan_augment.checkpoint import load_checkpoint

    run = tmp_path / "run"
    common = ["--data", str(SAMPLE_ISIC2017), "--split", "validation", "--tiny", "--batch-size", "2", "--workers", "0", "--no-preload"]
    assert main(["train", "inpaint", *common, "--steps", "2", "--out", str(run)]) == 0
    snap = tmp_path / "snap.safetensors"
    assert main(["snapshot", str(run), "--to", str(snap)]) == 0
    state = load_checkpoint(snap)
    assert state["snapshot"]["step"] == 2 and all(v.dtype == torch.float16 for v in state["networks"]["G"].values() if v.is_floating_point())
    warm = tmp_path / "warm"
    assert main(["train", "inpaint", *common, "--steps", "1", "--max-session-steps", "0", "--out", str(warm), "--warm-start", str(snap)]) == 0
    assert "warm start from" in capsys.readouterr().out
    restored = load_checkpoint(warm / "checkpoint.safetensors")["recipe"]["networks"]["G"]
    for k, v in state["networks"]["G"].items():
        assert torch.equal(restored[k].to(v.dtype), v), k
    small = tmp_path / "small.safetensors"
    assert main(["snapshot", str(run), "--to", str(small), "--ema-only"]) == 0
    assert set(load_checkpoint(small)["networks"]) == {"G", "D"} and small.stat().st_size < snap.stat().st_size
    warm_small = tmp_path / "warm-small"
    assert main(["train", "inpaint", *common, "--steps", "1", "--max-session-steps", "0", "--out", str(warm_small), "--warm-start", str(small)]) == 0
    assert "G_train restarted from the moving average" in capsys.readouterr().out
    nets = load_checkpoint(warm_small / "checkpoint.safetensors")["recipe"]["networks"]
    assert all(torch.equal(nets["G_train"][k], nets["G"][k]) for k in nets["G"])
    assert main(["train", "pix2pix", *common, "--steps", "1", "--out", str(tmp_path / "x"), "--warm-start", str(snap)]) == 2
    assert "does not match" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="pick one"):
        main(["train", "inpaint", *common, "--steps", "1", "--out", str(warm), "--warm-start", str(snap), "--resume"])


@pytest.mark.parametrize("name", list_models())
def test_train_model_help_lists_that_models_options_with_defaults_and_its_measured_cost(name, capsys):
    from gan_augment.train_help import model_options

    assert main(["train", name, "--help"]) == 0
    out = capsys.readouterr().out
    assert "--max-minutes" in out and f"{name}: " in out  # the common options, then the model's section
    options = model_options(name)
    assert options and all(f"  {key}={default!r}  ({kind})" in out for kind, key, default in options)
    assert "measured training cost" in out
    bundled = [p for p in ga.list_pretrained() if p["architecture"] == name]
    for entry in bundled:
        assert f"{entry['name']}: " in out and "training images/s" in out


def test_train_help_for_an_unknown_model_is_one_line(capsys):
    assert main(["train", "nope", "--help"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'nope'" in err and len(err.strip().splitlines()) == 1


def test_a_cpu_run_stops_after_hours_by_default_and_max_minutes_overrides(capsys):
    from gan_augment.cli import CPU_MAX_MINUTES, run_minutes

    assert run_minutes(None, "cpu", tiny=False) == CPU_MAX_MINUTES == 240
    assert "stops after 4 h" in capsys.readouterr().out  # said, not silent
    assert run_minutes(None, "cpu", tiny=True) is None  # smoke runs are short anyway
    assert run_minutes(30, "cpu", tiny=False) == 30
    assert run_minutes(0, "cpu", tiny=False) is None  # 0: no limit
    with pytest.raises(SystemExit, match="--max-minutes must be >= 0"):
        run_minutes(-1, "cpu", tiny=False)

"""Run-folder guards of the training loop and ``gan-augment train``: no silent resume on other
data, no silent fresh start, exported models are never overwritten, no stale temporaries,
no duplicate log lines after a resume."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest

from gan_augment.cli import main
from gan_augment.data import SAMPLE_ISIC2017, bundled_sample
from gan_augment.models import get_spec
from gan_augment.train_data import GANTrainingView
from gan_augment.training import CHECKPOINT_NAME, TrainConfig, fit, make_recipe, seed_everything


def _fit(out, *, data=None, steps=4, resume=False, max_session_steps=None, **config):
    spec = get_spec("pix2pix")
    seed_everything(0)
    recipe = make_recipe("pix2pix", spec.tiny_image_size, {**spec.tiny_generator_config, **spec.tiny_hparams})
    view = GANTrainingView(data if data is not None else bundled_sample(), spec.tiny_image_size)
    cfg = TrainConfig(
        out_dir=str(out), steps=steps, batch_size=2, num_workers=0, log_every=1, sample_every=100,
        checkpoint_every=100, resume=resume, max_session_steps=max_session_steps, **config,
    )
    return fit(recipe, view, cfg)


def _train(out, *extra):
    return main(["train", "pix2pix", "--data", str(SAMPLE_ISIC2017), "--split", "validation", "--tiny", "--steps", "3",
                 "--batch-size", "2", "--workers", "0", "--no-preload", "--sample-every", "100", "--out", str(out), *extra])


def _train_fails(capsys, out, *extra):
    """``gan-augment train`` refused: exit status 2 and one line on stderr, which is returned."""
    capsys.readouterr()
    assert _train(out, *extra) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("gan-augment train: error: "), err
    return err


def test_resume_without_a_checkpoint_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        _fit(tmp_path / "run", resume=True)
    assert not (tmp_path / "run" / CHECKPOINT_NAME).exists()


def test_resume_refuses_a_different_number_of_training_items(tmp_path):
    _fit(tmp_path, max_session_steps=1)
    with pytest.raises(ValueError, match=r"number of training items \(6 -> 4\).*--allow-data-change"):
        _fit(tmp_path, data=bundled_sample().subset(range(4)), resume=True)
    assert _fit(tmp_path, data=bundled_sample().subset(range(4)), resume=True, allow_data_change=True).finished


@pytest.mark.parametrize(
    "changed, words",
    [
        (["--limit", "4"], r"limit \(5 -> 4\)"),
        (["--limit", "5", "--jitter", "1.25"], r"jitter \(1.125 -> 1.25\)"),
        (["--limit", "5", "--classes", "nevus"], r"classes \(None -> 'nevus'\)"),
    ],
)
def test_cli_resume_refuses_other_data_settings_naming_them(tmp_path, capsys, changed, words):
    run = tmp_path / "run"
    assert _train(run, "--limit", "5", "--max-session-steps", "1") == 0
    assert re.search(words, _train_fails(capsys, run, "--resume", *changed))
    assert _train(run, "--resume", *changed, "--allow-data-change") == 0


def test_cli_resume_refuses_another_data_folder(tmp_path, capsys):
    run, other = tmp_path / "run", tmp_path / "copy"
    shutil.copytree(SAMPLE_ISIC2017, other)
    assert _train(run, "--max-session-steps", "1") == 0
    assert main(["train", "pix2pix", "--data", str(other), "--split", "validation", "--tiny", "--steps", "3", "--batch-size", "2",
                 "--workers", "0", "--no-preload", "--out", str(run), "--resume"]) == 2
    assert re.search("cannot resume: .*data .*copy", capsys.readouterr().err)


def test_cli_resume_without_a_checkpoint_says_so(tmp_path, capsys):
    assert "no checkpoint" in _train_fails(capsys, tmp_path / "nothing", "--resume")


def test_training_into_an_exported_model_folder_is_refused(tiny_pix2pix_dir, tmp_path, capsys):
    folder = shutil.copytree(tiny_pix2pix_dir, tmp_path / "model")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert "exported model" in _train_fails(capsys, folder)
    assert "exported model" in _train_fails(capsys, folder, "--resume")
    (folder / "model.safetensors").unlink()  # config.json of a model alone is refused too
    with pytest.raises(FileExistsError, match="exported model"):
        _fit(folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == {k: v for k, v in before.items() if k != "model.safetensors"}


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_checkpoint_temporaries_are_removed_on_start_and_resume(tmp_path):
    stale = tmp_path / f".{CHECKPOINT_NAME}.tmp-{_dead_pid()}"
    tmp_path.mkdir(exist_ok=True)
    stale.write_bytes(b"half a checkpoint")
    _fit(tmp_path, max_session_steps=1)
    assert not stale.exists()
    stale.write_bytes(b"half a checkpoint")
    _fit(tmp_path, resume=True)
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.glob(".*tmp*")) == []


def test_log_has_no_duplicate_steps_after_resume(tmp_path):
    _fit(tmp_path, steps=4, max_session_steps=2)
    log = tmp_path / "log.jsonl"
    with open(log, "a") as fh:  # a step logged after the last checkpoint, then the process was killed
        fh.write(json.dumps({"step": 3, "seconds": 1.0, "G_GAN": 0.5}) + "\n")
    _fit(tmp_path, steps=4, resume=True)
    steps = [json.loads(line)["step"] for line in log.read_text().splitlines()]
    assert steps == [1, 2, 3, 4]


def test_absurd_training_size_is_rejected_before_building_anything():
    from gan_augment.training import make_training_data

    with pytest.raises(ValueError, match=r"pix2pix: image_size must lie in \[4, 4096\] pixels, got 60000"):
        make_recipe("pix2pix", 60000)
    with pytest.raises(ValueError, match="image_size must lie in"):
        make_training_data("pix2pix", bundled_sample(), 60000)


def test_corrupted_checkpoint_error_names_the_file(tmp_path):
    from gan_augment.checkpoint import load_checkpoint

    _fit(tmp_path, max_session_steps=1)
    path = tmp_path / CHECKPOINT_NAME
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(ValueError, match=rf"{CHECKPOINT_NAME}: cannot read the checkpoint"):
        load_checkpoint(path)
    with pytest.raises(ValueError, match=rf"{CHECKPOINT_NAME}: cannot read the checkpoint"):
        _fit(tmp_path, resume=True)


def test_the_expected_end_time_is_the_pace_or_the_max_minutes_limit_whichever_comes_first():
    import time

    from gan_augment.training import _expected_end

    assert _expected_end(0, 10, 1.0, None) == "?"
    def around(seconds):  # the clock may tick over a minute during the call
        return {time.strftime("%H:%M", time.localtime(time.time() + seconds + d)) for d in (-1, 0, 1)}

    assert _expected_end(10, 10, 600.0, None) in around(600)  # 10 steps took 10 min: 10 more take 10 min
    limited = _expected_end(10, 1000, 60.0, max_minutes=2.0)  # at this pace ~100 min, but stopped after 2
    assert limited.endswith(" (max-minutes)") and limited.split()[0] in around(60)


@pytest.mark.parametrize(
    ("model", "size", "options", "words"),
    [
        ("pix2pixhd", 64, {}, r"pix2pixHD's discriminator \(num_D=3, d_layers=3\) needs images of at least 93 px, got 64; .*num_D=2"),
        ("pix2pix", 16, {}, r"pix2pix's PatchGAN \(d_layers=3\) needs images of at least 24 px, got 16"),
        ("cyclegan", 16, {}, r"CycleGAN's discriminators \(d_layers=3\) needs images of at least 24 px, got 16"),
        ("residual_unet", 16, {}, r"residual_unet's PatchGAN \(d_layers=3\) needs images of at least 24 px, got 16"),
    ],
)
def test_a_size_too_small_for_the_discriminator_is_refused_naming_the_fix(model, size, options, words):
    with pytest.raises(ValueError, match=words):
        make_recipe(model, size, options)


@pytest.mark.parametrize(("n_layers", "num_scales"), [(1, 1), (2, 1), (3, 1), (2, 2), (3, 2), (3, 3)])
def test_the_smallest_size_the_discriminator_accepts_runs_and_one_pixel_less_fails(n_layers, num_scales):
    import torch

    from gan_augment.models._blocks import MultiScaleDiscriminator

    d = MultiScaleDiscriminator(3, 2, n_layers, "instance", num_scales)
    side = MultiScaleDiscriminator.min_input_size(n_layers, num_scales)
    assert all(out.shape[-1] >= 1 for out in d(torch.randn(1, 3, side, side)))
    with pytest.raises((ValueError, RuntimeError)):
        d(torch.randn(1, 3, side - 1, side - 1))


def test_pix2pixhd_at_64_px_trains_with_two_scales(tmp_path):
    from gan_augment.training import make_training_data

    seed_everything(0)
    recipe = make_recipe("pix2pixhd", 64, {"ngf": 4, "n_downsampling": 2, "n_blocks": 1, "ndf": 4, "num_D": 2})
    view = make_training_data("pix2pixhd", bundled_sample(), 64)
    cfg = TrainConfig(out_dir=str(tmp_path), steps=1, batch_size=2, num_workers=0, log_every=1, sample_every=100, checkpoint_every=100)
    assert fit(recipe, view, cfg).step == 1

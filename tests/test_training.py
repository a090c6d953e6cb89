"""The shared training loop with every registered model's tiny config: a few CPU steps."""

from __future__ import annotations

import json
import math

import pytest
import torch
from conftest import tiny_run

from gan_augment.checkpoint import load_checkpoint, save_checkpoint
from gan_augment.data import bundled_sample
from gan_augment.models import get_spec
from gan_augment.train_data import EpochSampler, GANTrainingView
from gan_augment.training import CHECKPOINT_NAME, TrainConfig, fit, make_recipe

# pix2pix with the realism recipe: a noise input, the projected discriminator, EMA, mode seeking
PROJECTED_PIX2PIX = {
    "style_dim": 8, "w_dim": 8, "dropout": 0.0, "norm": "instance", "upsample": "resize",
    "discriminator": "projected", "feature_input_size": 32, "d_width": 8, "gan_mode": "hinge",
    "lambda_l1": 0.0, "lambda_ms": 1.0, "ema_half_life_images": 100.0, "diffaugment": "color,translation",
}

# residual_unet with the realism recipe: resize-convolutions, the projected discriminator, hinge loss, EMA
PROJECTED_RESIDUAL_UNET = {
    "upsample": "resize", "discriminator": "projected", "feature_input_size": 32, "d_width": 8, "gan_mode": "hinge",
    "beta1": 0, "beta2": 0.99, "ema_half_life_images": 100.0, "diffaugment": "color,translation,cutout",
}

# CycleGAN with the realism recipe: unconditional projected discriminators, hinge loss, EMA of both generators
PROJECTED_CYCLEGAN = {
    "upsample": "resize", "discriminator": "projected", "feature_input_size": 32, "d_width": 8, "gan_mode": "hinge",
    "beta1": 0, "beta2": 0.99, "ema_half_life_images": 100.0, "diffaugment": "color,translation,cutout",
}

# pix2pixHD with resize-convolutions and an EMA (its multi-scale PatchGANs and feature matching stay)
EMA_PIX2PIXHD = {"upsample": "resize", "ema_half_life_images": 100.0, "diffaugment": "color,translation,cutout"}

# pix2pixHD with the realism recipe: the projected discriminator conditioned on the maps, hinge loss, EMA
PROJECTED_PIX2PIXHD = {**PROJECTED_RESIDUAL_UNET}

# ... with a noise input, the mode-seeking term and the matching-aware discriminator
STYLED_PIX2PIXHD = {**PROJECTED_PIX2PIXHD, "style_dim": 8, "w_dim": 8, "lambda_ms": 1.0, "mismatch_weight": 0.5}


def assert_same_networks(a, b):
    """Every tensor of every network of two saved recipe states is equal."""
    for net in a["networks"]:
        for key, value in a["networks"][net].items():
            assert torch.equal(value, b["networks"][net][key]), f"{net}.{key} differs after resume"


def run_straight_and_resumed(model, tmp_path, overrides, projected=("D",)):
    """4 tiny steps in one go and as 2 + 2 with ``--resume``: the two saved states must be
    equal, with 8 images seen; each network named in ``projected`` must be the projected
    discriminator without its frozen backbone. Returns (state of the straight run, the
    resumed run's result)."""
    tiny_run(model, tmp_path / "straight", steps=4, overrides=overrides)
    tiny_run(model, tmp_path / "split", steps=4, max_session_steps=2, overrides=overrides)
    _, second = tiny_run(model, tmp_path / "split", steps=4, resume=True, overrides=overrides)
    assert second.finished
    a = load_checkpoint(tmp_path / "straight" / CHECKPOINT_NAME)["recipe"]
    b = load_checkpoint(tmp_path / "split" / CHECKPOINT_NAME)["recipe"]
    assert a["images_seen"] == b["images_seen"] == 8
    assert_same_networks(a, b)
    for d in projected:
        assert any(k.startswith("heads.") for k in a["networks"][d]), "not the projected discriminator"
        assert not any("features" in k for k in a["networks"][d]), "the frozen backbone must not be saved"
    return a, second


def test_pix2pix_projected_recipe_resumes_exactly_and_exports_the_ema(tmp_path):
    a, second = run_straight_and_resumed("pix2pix", tmp_path, PROJECTED_PIX2PIX)
    assert "G_ms" in second.last_losses and set(a["networks"]) == {"G", "G_train", "D"}
    from gan_augment.synthesizer import from_pretrained

    synth = from_pretrained(tmp_path / "straight" / "pretrained", device="cpu")
    masks = torch.zeros(2, 1, 32, 32)
    masks[:, :, 8:24, 8:24] = 1
    one, again, other = (synth.translate(masks=masks, seed=s) for s in (1, 1, 2))
    assert torch.equal(one, again) and not torch.equal(one, other)


def test_residual_unet_projected_recipe_resumes_exactly_and_exports_the_ema(tmp_path):
    a, second = run_straight_and_resumed("residual_unet", tmp_path, PROJECTED_RESIDUAL_UNET)
    assert {"G_gan", "relevancy"} <= set(second.last_losses) and set(a["networks"]) == {"G", "G_train", "D"}
    ema, last = a["networks"]["G"], a["networks"]["G_train"]
    assert any(not torch.equal(ema[k], last[k]) for k in ema), "EMA equals the last iterate"
    from safetensors.torch import load_file

    exported = load_file(tmp_path / "straight" / "pretrained" / "model.safetensors")
    assert exported.keys() == ema.keys() and all(torch.equal(exported[k], ema[k]) for k in exported)
    from gan_augment.synthesizer import from_pretrained

    synth = from_pretrained(tmp_path / "straight" / "pretrained", device="cpu")
    assert synth.generator_config["upsample"] == "resize"
    images, masks = torch.rand(2, 3, 32, 32), torch.zeros(2, 1, 32, 32)
    masks[:, :, 8:24, 8:24] = 1
    one, again = (synth.translate(images=images, masks=masks, seed=s) for s in (1, 2))
    assert torch.equal(one, again)  # one output per input: the translator is deterministic


def test_residual_unet_refuses_unknown_options():
    spec = get_spec("residual_unet")
    tiny = {**spec.tiny_generator_config, **spec.tiny_hparams}
    with pytest.raises(ValueError, match=r"discriminator must be one of \('patch', 'projected'\), got 'stylegan'"):
        make_recipe("residual_unet", 32, {**tiny, "discriminator": "stylegan"})
    with pytest.raises(ValueError, match=r"upsample must be one of \('transpose', 'resize'\), got 'bilinear'"):
        make_recipe("residual_unet", 32, {**tiny, "upsample": "bilinear"})
    with pytest.raises(ValueError, match="direction must be 'add' or 'remove'"):
        make_recipe("residual_unet", 32, {**tiny, "direction": "both"})


def test_cyclegan_projected_recipe_resumes_exactly_and_exports_both_averages(tmp_path):
    a, second = run_straight_and_resumed("cyclegan", tmp_path, PROJECTED_CYCLEGAN, projected=("D_A", "D_B"))
    assert {"G_gan", "cycle", "D_A", "D_B"} <= set(second.last_losses)
    assert set(a["networks"]) == {"G", "G_train", "G_BA", "G_BA_train", "D_A", "D_B"}
    b = load_checkpoint(tmp_path / "split" / CHECKPOINT_NAME)["recipe"]
    for pool in ("A", "B"):
        assert all(torch.equal(x, y) for x, y in zip(a["pools"][pool]["images"], b["pools"][pool]["images"]))
    for ema, last in (("G", "G_train"), ("G_BA", "G_BA_train")):
        assert any(not torch.equal(a["networks"][ema][k], a["networks"][last][k]) for k in a["networks"][ema]), f"{ema} equals the last iterate"
    from safetensors.torch import load_file

    from gan_augment.export import export_run
    from gan_augment.synthesizer import from_pretrained

    for network, direction in (("G", "add"), ("G_BA", "remove")):
        folder = export_run(tmp_path / "straight", tmp_path / f"export-{network}", network=network)
        exported, ema = load_file(folder / "model.safetensors"), a["networks"][network]
        assert exported.keys() == ema.keys() and all(torch.equal(exported[k], ema[k]) for k in exported)
        synth = from_pretrained(folder, device="cpu")
        assert synth.direction == direction and synth.generator_config["upsample"] == "resize"
        assert synth.translate(images=torch.rand(2, 3, 32, 32), seed=0).shape == (2, 3, 32, 32)


def test_cyclegan_ema_only_snapshot_warm_starts_both_trained_generators_from_their_averages(tmp_path):
    from gan_augment.snapshot import warm_start, write_snapshot

    tiny_run("cyclegan", tmp_path / "run", steps=2, overrides={"ema_half_life_images": 100.0})
    snap = write_snapshot(tmp_path / "run", tmp_path / "snap.safetensors", torch.float32, ema_only=True)
    saved = load_checkpoint(snap)["networks"]
    assert set(saved) == {"G", "G_BA", "D_A", "D_B"}
    spec = get_spec("cyclegan")
    recipe = make_recipe("cyclegan", spec.tiny_image_size, {**spec.tiny_generator_config, **spec.tiny_hparams, "ema_half_life_images": 100.0})
    assert recipe.images_seen == 0
    info = warm_start(recipe, snap)
    assert "G_train, G_BA_train restarted from the moving average" in info["note"]
    assert recipe.images_seen == 4  # 2 steps of 2: the average keeps its ramp-up position
    nets = recipe.networks()
    for ema, trained in (("G", "G_train"), ("G_BA", "G_BA_train")):
        assert all(torch.equal(v, saved[ema][k]) for k, v in nets[trained].state_dict().items())


def test_cyclegan_refuses_unknown_options():
    spec = get_spec("cyclegan")
    tiny = {**spec.tiny_generator_config, **spec.tiny_hparams}
    with pytest.raises(ValueError, match=r"discriminator must be one of \('patch', 'projected'\), got 'stylegan'"):
        make_recipe("cyclegan", 32, {**tiny, "discriminator": "stylegan"})
    with pytest.raises(ValueError, match=r"upsample must be one of \('transpose', 'resize'\), got 'bilinear'"):
        make_recipe("cyclegan", 32, {**tiny, "upsample": "bilinear"})
    with pytest.raises(ValueError, match=r"gan_mode must be one of \('vanilla', 'lsgan', 'hinge'\), got 'wgan'"):
        make_recipe("cyclegan", 32, {**tiny, "gan_mode": "wgan"})
    with pytest.raises(ValueError, match="ema_half_life_images must be >= 0"):
        make_recipe("cyclegan", 32, {**tiny, "ema_half_life_images": -1})


def test_pix2pixhd_ema_recipe_resumes_exactly_and_exports_the_ema(tmp_path):
    a, second = run_straight_and_resumed("pix2pixhd", tmp_path, EMA_PIX2PIXHD, projected=())
    assert {"G_gan", "G_feat"} <= set(second.last_losses) and set(a["networks"]) == {"G", "G_train", "D"}
    ema, last = a["networks"]["G"], a["networks"]["G_train"]
    assert any(not torch.equal(ema[k], last[k]) for k in ema), "EMA equals the last iterate"
    from safetensors.torch import load_file

    exported = load_file(tmp_path / "straight" / "pretrained" / "model.safetensors")
    assert exported.keys() == ema.keys() and all(torch.equal(exported[k], ema[k]) for k in exported)
    from gan_augment.synthesizer import from_pretrained

    assert from_pretrained(tmp_path / "straight" / "pretrained", device="cpu").generator_config["upsample"] == "resize"


def test_pix2pixhd_refuses_unknown_options():
    spec = get_spec("pix2pixhd")
    tiny = {**spec.tiny_generator_config, **spec.tiny_hparams}
    with pytest.raises(ValueError, match=r"upsample must be one of \('transpose', 'resize'\), got 'bilinear'"):
        make_recipe("pix2pixhd", 32, {**tiny, "upsample": "bilinear"})
    with pytest.raises(ValueError, match="ema_half_life_images must be >= 0"):
        make_recipe("pix2pixhd", 32, {**tiny, "ema_half_life_images": -1})


def test_progan_exports_its_moving_average_and_resumes_it_exactly(tmp_path):
    """ProGAN samples from an EMA of G (Karras et al. 2018): the exported G is the average,
    not the last iterate, and a split run equals a straight one."""
    tiny_run("progan", tmp_path / "straight", steps=4)
    tiny_run("progan", tmp_path / "split", steps=4, max_session_steps=2)
    tiny_run("progan", tmp_path / "split", steps=4, resume=True)
    a = load_checkpoint(tmp_path / "straight" / CHECKPOINT_NAME)["recipe"]
    b = load_checkpoint(tmp_path / "split" / CHECKPOINT_NAME)["recipe"]
    assert set(a["networks"]) == {"G", "G_train", "D"} and a["images_seen"] == b["images_seen"] == 8
    assert_same_networks(a, b)
    ema, last = a["networks"]["G"], a["networks"]["G_train"]
    assert any(not torch.equal(ema[k], last[k]) for k in ema if ema[k].is_floating_point()), "EMA equals the last iterate"
    from safetensors.torch import load_file

    exported = load_file(tmp_path / "straight" / "pretrained" / "model.safetensors")
    assert exported and all(torch.equal(exported[k], ema[k]) for k in exported)


def test_progan_logistic_r1_recipe_resumes_exactly_and_applies_r1_lazily(tmp_path):
    """The CPU recipe: non-saturating loss, R1 every ``r1_every`` steps (none in between)."""
    options = {"loss": "logistic-r1", "r1_every": 2}
    tiny_run("progan", tmp_path / "straight", steps=4, overrides=options)
    tiny_run("progan", tmp_path / "split", steps=4, max_session_steps=2, overrides=options)
    tiny_run("progan", tmp_path / "split", steps=4, resume=True, overrides=options)
    a = load_checkpoint(tmp_path / "straight" / CHECKPOINT_NAME)["recipe"]
    b = load_checkpoint(tmp_path / "split" / CHECKPOINT_NAME)["recipe"]
    assert_same_networks(a, b)
    r1 = [row["R1"] for row in map(json.loads, (tmp_path / "straight" / "log.jsonl").read_text().splitlines()) if "R1" in row]
    assert len(r1) == 2 and all(v > 0 for v in r1), r1  # steps 0 and 2 of 4 (r1_every=2), logged only there
    with pytest.raises(ValueError, match="progan loss must be"):
        make_recipe("progan", 16, {**get_spec("progan").tiny_generator_config, "loss": "hinge"})


def test_pix2pix_mode_seeking_needs_a_noise_input():
    spec = get_spec("pix2pix")
    with pytest.raises(ValueError, match="style_dim"):
        make_recipe("pix2pix", 32, {**spec.tiny_generator_config, **spec.tiny_hparams, "lambda_ms": 1.0})
    with pytest.raises(ValueError, match="discriminator must be"):
        make_recipe("pix2pix", 32, {**spec.tiny_generator_config, **spec.tiny_hparams, "discriminator": "nope"})


def test_existing_run_needs_resume(tmp_path):
    tiny_run("pix2pix", tmp_path, steps=2)
    with pytest.raises(FileExistsError, match="--resume"):
        tiny_run("pix2pix", tmp_path, steps=2)


def test_resume_refuses_a_different_model_config(tmp_path):
    tiny_run("pix2pix", tmp_path, steps=2, max_session_steps=1)
    spec = get_spec("pix2pix")
    recipe = make_recipe("pix2pix", spec.tiny_image_size, {**spec.tiny_generator_config, "ngf": 8})
    view = GANTrainingView(bundled_sample(), spec.tiny_image_size)
    with pytest.raises(ValueError, match="generator_config differs"):
        fit(recipe, view, TrainConfig(out_dir=str(tmp_path), steps=2, batch_size=2, num_workers=0, resume=True))


def test_resume_accepts_an_option_added_since_the_checkpoint_only_at_its_default(tmp_path):
    """A run written before ``mismatch_weight`` / ``style_dim`` existed trained with their
    defaults: it resumes with them, and refuses other values."""
    tiny_run("pix2pix", tmp_path, steps=4, max_session_steps=2)
    path = tmp_path / CHECKPOINT_NAME
    state = load_checkpoint(path)
    del state["meta"]["hparams"]["mismatch_weight"], state["meta"]["generator_config"]["style_dim"]
    save_checkpoint(path, state)
    with pytest.raises(ValueError, match="hparams differs"):
        tiny_run("pix2pix", tmp_path, steps=4, resume=True, overrides={"mismatch_weight": 0.5})
    _, result = tiny_run("pix2pix", tmp_path, steps=4, resume=True)
    assert result.finished


def test_non_finite_loss_stops_with_a_pointer_to_the_last_checkpoint(tmp_path):
    spec = get_spec("pix2pix")
    recipe = make_recipe("pix2pix", spec.tiny_image_size, {**spec.tiny_generator_config, **spec.tiny_hparams})
    real_step = recipe.train_step
    recipe.train_step = lambda batch: {**real_step(batch), "G_L1": torch.tensor(float("nan"))}
    view = GANTrainingView(bundled_sample(), spec.tiny_image_size)
    with pytest.raises(FloatingPointError, match="last good checkpoint"):
        fit(recipe, view, TrainConfig(out_dir=str(tmp_path), steps=3, batch_size=2, num_workers=0, log_every=1))


def test_checkpoint_round_trip_and_atomicity(tmp_path):
    state = {
        "a": torch.arange(6).view(2, 3),
        "nested": {"t": (1, 2.5, "x"), "l": [torch.ones(2), None, True], 3: {"k": torch.zeros(1)}},
    }
    path = save_checkpoint(tmp_path / "c.safetensors", state)
    back = load_checkpoint(path)
    assert torch.equal(back["a"], state["a"]) and back["nested"]["t"] == (1, 2.5, "x")
    assert torch.equal(back["nested"]["l"][0], torch.ones(2)) and back["nested"]["l"][1] is None
    assert torch.equal(back["nested"][3]["k"], torch.zeros(1))
    assert [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]  # no temporary file left behind
    with pytest.raises(TypeError, match="cannot store"):
        save_checkpoint(tmp_path / "bad.safetensors", {"x": object()})
    assert not (tmp_path / "bad.safetensors").exists()


def test_plain_safetensors_file_is_not_a_checkpoint(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(1)}, str(tmp_path / "w.safetensors"))
    with pytest.raises(ValueError, match="not a gan_augment training checkpoint"):
        load_checkpoint(tmp_path / "w.safetensors")


def test_epoch_sampler_is_a_pure_function_of_seed_and_step():
    full = EpochSampler(10, 3, seed=7)
    it = iter(full)
    keys = [next(it) for _ in range(3 * 3 * 2)]  # two epochs of 3 batches
    resumed = iter(EpochSampler(10, 3, seed=7, start_step=4))
    assert [next(resumed) for _ in range(6)] == keys[12:18]
    assert {k[0] for k in keys} == {0, 1}
    with pytest.raises(ValueError, match="fewer than one batch"):
        EpochSampler(2, 3, seed=0)


def test_training_view_augmentation_is_reproducible_and_aligned():
    view = GANTrainingView(bundled_sample(), 32, seed=1)
    a, b = view[(3, 2)], view[(3, 2)]
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["mask"], b["mask"])
    assert a["image"].shape == (3, 32, 32) and a["mask"].shape == (1, 32, 32)
    assert a["image"].min() >= -1 and a["image"].max() <= 1
    assert set(a["mask"].unique().tolist()) <= {0.0, 1.0}
    assert not torch.equal(view[(4, 2)]["image"], a["image"])  # another epoch, another jitter
    with pytest.raises(ValueError, match="jitter"):
        GANTrainingView(bundled_sample(), 32, jitter=0.5)


def test_pix2pixhd_projected_recipe_conditions_the_heads_on_the_maps_and_drops_feature_matching(tmp_path):
    a, second = run_straight_and_resumed("pix2pixhd", tmp_path, PROJECTED_PIX2PIXHD)
    assert {"D_real", "D_fake", "G_gan"} == set(second.last_losses)  # no G_feat
    assert set(a["networks"]) == {"G", "G_train", "D"}
    from gan_augment.models.pix2pixhd_maps import NUM_CONDITION_CHANNELS

    no_augment = {**PROJECTED_PIX2PIXHD, "diffaugment": ""}  # the same pair must give the same verdict
    recipe = make_recipe("pix2pixhd", 32, {**get_spec("pix2pixhd").tiny_generator_config, **no_augment})
    condition = torch.zeros(2, NUM_CONDITION_CHANNELS, 32, 32)
    image = torch.rand(2, 3, 32, 32) * 2 - 1
    recipe.discriminator.eval()
    with torch.no_grad():
        plain, again = recipe._d(condition, image), recipe._d(condition, image)
        condition[:, 2, 8:24, 8:24] = 1  # a lesion in the label map changes every head's verdict
        other = recipe._d(condition, image)
    assert all(torch.equal(x, y) for x, y in zip(plain, again))
    assert all(not torch.equal(x, y) for x, y in zip(plain, other))


def test_pix2pixhd_noise_input_trains_with_mode_seeking_and_samples_per_seed(tmp_path):
    a, second = run_straight_and_resumed("pix2pixhd", tmp_path, STYLED_PIX2PIXHD)
    assert {"G_ms", "D_mismatch"} <= set(second.last_losses) and set(a["networks"]) == {"G", "G_train", "D"}
    assert any(k.startswith("mapping.") for k in a["networks"]["G"])
    from gan_augment.synthesizer import from_pretrained

    synth = from_pretrained(tmp_path / "straight" / "pretrained", device="cpu")
    masks = torch.zeros(2, 1, 32, 32)
    masks[:, :, 8:24, 8:24] = 1
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    one, again, other = (synth.translate(masks=masks, images=images, seed=s) for s in (1, 1, 2))
    assert torch.equal(one, again) and not torch.equal(one, other)


def test_pix2pixhd_noise_input_with_the_papers_patchgans_keeps_feature_matching(tmp_path):
    overrides = {"style_dim": 8, "w_dim": 8, "lambda_ms": 1.0}
    _, result = tiny_run("pix2pixhd", tmp_path, steps=2, overrides=overrides)
    assert {"G_feat", "G_ms"} <= set(result.last_losses)
    assert all(math.isfinite(v) for v in result.last_losses.values())
    spec = get_spec("pix2pixhd")
    with pytest.raises(ValueError, match="style_dim"):
        make_recipe("pix2pixhd", 32, {**spec.tiny_generator_config, **spec.tiny_hparams, "lambda_ms": 1.0})


def test_matching_aware_discriminator_counts_real_images_with_another_condition_as_fake():
    from types import SimpleNamespace

    from gan_augment.models.realism_recipe import matching_aware

    condition = torch.arange(3.0)[:, None]
    seen = []

    def fake_loss_of_real_with(c):
        seen.append(c)
        return torch.tensor(4.0)

    term, mismatch = matching_aware(SimpleNamespace(mismatch_weight=0.25), torch.tensor(2.0), fake_loss_of_real_with, condition)
    assert torch.equal(seen[0], torch.tensor([[2.0], [0.0], [1.0]]))  # every image gets another's condition
    assert term.item() == 0.75 * 2.0 + 0.25 * 4.0 and mismatch.item() == 4.0
    plain = torch.tensor(2.0)
    assert matching_aware(SimpleNamespace(mismatch_weight=0.0), plain, fake_loss_of_real_with, condition) == (plain, None)
    assert matching_aware(SimpleNamespace(mismatch_weight=0.5), plain, fake_loss_of_real_with, condition[:1]) == (plain, None)
    with pytest.raises(ValueError, match="mismatch_weight"):
        matching_aware(SimpleNamespace(mismatch_weight=1.0), plain, fake_loss_of_real_with, condition)


def test_pix2pix_matching_aware_discriminator_trains(tmp_path):
    _, result = tiny_run("pix2pix", tmp_path, steps=2, overrides={"mismatch_weight": 0.5})
    assert "D_mismatch" in result.last_losses and math.isfinite(result.last_losses["D_mismatch"])

"""Per-paper models: sampling / translation API, conditioning maps, domains, DiffAugment, docs."""

from __future__ import annotations

import importlib
import re

import numpy as np
import pytest
import torch
from conftest import REPO, disk_mask, tiny_run, tiny_synthesizer
from hypothesis import given, settings
from hypothesis import strategies as st

from gan_augment.data import ATTRIBUTES, bundled_sample
from gan_augment.diffaugment import diff_augment
from gan_augment.domains import LesionCrops, SkinPatches, UnpairedView
from gan_augment.models import create, get_spec, list_models, split_options
from gan_augment.models.pix2pixhd_maps import LABELS, condition_maps, instance_edges, outside_region, semantic_map
from gan_augment.models.progan_recipe import growth
from gan_augment.train_data import GANTrainingView
from gan_augment.training import TrainConfig, fit, make_recipe, make_training_data, seed_everything

PAPER_FILES = {name: importlib.import_module(get_spec(name).generator.__module__) for name in list_models()}


def test_all_seed_papers_are_registered():
    assert set(list_models()) == {"pix2pix", "dcgan", "progan", "pix2pixhd", "residual_unet", "cyclegan", "inpaint"}


@pytest.mark.parametrize("name", list_models())
def test_each_model_file_names_its_paper_and_section(name):
    doc = PAPER_FILES[name].__doc__
    assert re.search(r"\b(19|20)\d\d\b", doc) and "Sec." in doc, f"{name}: docstring must name the paper and section"


@pytest.mark.parametrize("name", list_models())
def test_readme_has_a_row_with_the_training_command(name):
    readme = (REPO / "README.md").read_text()
    row = next((line for line in readme.splitlines() if line.startswith(f"| `{name}`")), None)
    assert row is not None, f"README models table lacks {name}"
    assert f"gan-augment train {name}" in row


@pytest.mark.parametrize("name", list_models())
def test_diffaugment_is_one_option_off_by_default_for_every_model(name, tmp_path):
    spec = get_spec(name)
    assert "diffaugment" in spec.hparam_names() and spec.hparams().diffaugment == ""
    seed_everything(0)
    recipe = make_recipe(name, spec.tiny_image_size, {**spec.tiny_generator_config, **spec.tiny_hparams, "diffaugment": "color,translation,cutout"})
    view = make_training_data(name, bundled_sample(), spec.tiny_image_size, 0)
    result = fit(recipe, view, TrainConfig(out_dir=str(tmp_path), steps=2, batch_size=2, num_workers=0, log_every=1))
    assert all(np.isfinite(v) for v in result.last_losses.values())


def test_options_route_to_generator_or_recipe_and_unknown_keys_fail():
    gen, hp = split_options("pix2pix", {"ngf": 8, "lambda_l1": 10})
    assert gen == {"ngf": 8} and hp == {"lambda_l1": 10}
    with pytest.raises(KeyError, match="unknown option 'lamda_l1'"):
        split_options("pix2pix", {"lamda_l1": 10})
    with pytest.raises(TypeError, match="unknown generator option"):
        create("dcgan", nfg=3)
    with pytest.raises(KeyError, match="registered models"):
        get_spec("stylegan")


@pytest.mark.parametrize("name", ["dcgan", "progan"])
def test_noise_models_sample_api(name):
    synth = tiny_synthesizer(name)
    conditional = bool(synth.network.num_classes)
    labels = [0, 1, 2] if conditional else None
    x = synth.sample(3, labels=labels, seed=4)
    assert x.shape == (3, 3, synth.image_size, synth.image_size) and x.min() >= 0 and x.max() <= 1
    assert torch.equal(x, synth.sample(3, labels=labels, seed=4))
    assert not torch.equal(x, synth.sample(3, labels=labels, seed=5))
    assert synth.sample(2, labels=None if not conditional else 1, seed=0, size=24).shape[-1] == 24
    with pytest.raises(TypeError, match="sample"):
        synth.translate(masks=torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="positive"):
        synth.sample(0)


def test_class_conditional_sampling_by_index_or_name_and_truncation():
    synth = tiny_synthesizer("progan")  # tiny config: 3 classes
    synth.class_names = ["nevus", "melanoma", "seborrheic_keratosis"]
    by_name = synth.sample(2, labels="melanoma", seed=1)
    assert torch.equal(by_name, synth.sample(2, labels=[1, 1], seed=1))
    assert not torch.equal(by_name, synth.sample(2, labels=0, seed=1))
    assert not torch.equal(synth.sample(2, labels=0, seed=1, truncation=0.5), synth.sample(2, labels=0, seed=1))
    with pytest.raises(ValueError, match="pass labels"):
        synth.sample(2)
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        synth.sample(2, labels=[0, 3])
    with pytest.raises(ValueError, match="unknown classes"):
        synth.sample(1, labels="eczema")
    with pytest.raises(ValueError, match="2 images"):
        synth.sample(2, labels=[0, 1, 2])


def test_truncation_bounds_latents():
    from gan_augment.functional import latent

    z = latent(500, 16, seed=0, truncation=0.7)
    assert z.abs().max() <= 0.7 and torch.equal(z, latent(500, 16, seed=0, truncation=0.7))
    with pytest.raises(ValueError):
        latent(2, 2, seed=0, truncation=0)


def test_unconditional_model_rejects_labels():
    synth = tiny_synthesizer("dcgan")
    with pytest.raises(ValueError, match="unconditional"):
        synth.sample(2, labels=[0, 1])


def test_dcgan_options_dense_input_and_two_scale_discriminator():
    g = create("dcgan", latent_dim=8, ngf=4, image_size=32, input_layer="dense", num_classes=2)
    assert g(torch.randn(2, 8), torch.tensor([0, 1])).shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="input_layer"):
        create("dcgan", input_layer="mlp")
    with pytest.raises(ValueError, match="power-of-two"):
        create("dcgan", image_size=48)
    recipe = make_recipe("dcgan", 32, {"latent_dim": 8, "ngf": 4, "ndf": 4, "d_scales": 2})
    assert len(recipe.discriminators) == 2
    with pytest.raises(ValueError, match="d_scales"):
        make_recipe("dcgan", 32, {"d_scales": 3})


def test_progan_growth_schedule():
    # phase 0: 4x4 stable; phase 1: fade in 8x8; phase 2: 8x8 stable; ... then the top stage forever
    assert growth(0, 100, 3) == (0, 1.0)
    assert growth(150, 100, 3) == (1, 0.5)
    assert growth(250, 100, 3) == (1, 1.0)
    assert growth(525, 100, 3) == (3, 0.25)
    assert growth(10_000, 100, 3) == (3, 1.0)
    g = create("progan", latent_dim=8, image_size=16, fmap_base=16, fmap_max=8)
    assert g.max_stage == 2  # 4, 8, 16 px: the last stage is the requested size, not twice it
    for stage, size in [(0, 4), (1, 8), (2, 16)]:
        g.stage.fill_(stage)
        g.alpha.fill_(0.5)
        assert g(torch.randn(2, 8)).shape[-1] == size


def test_progan_discriminator_can_be_wider_and_learn_faster_than_its_generator():
    options = {"latent_dim": 8, "fmap_base": 16, "fmap_max": 8, "num_classes": 3, "lr": 1e-3}
    same = make_recipe("progan", 16, options)
    assert same.discriminator.from_rgb[-1].weight.shape[0] == same.generator.to_rgb[-1].weight.shape[1] == 4
    assert same.opt_d.param_groups[0]["lr"] == same.opt_g.param_groups[0]["lr"] == 1e-3
    wide = make_recipe("progan", 16, {**options, "d_fmap_base": 64, "d_fmap_max": 32, "lr_d": 4e-3})
    assert [c.weight.shape[0] for c in wide.discriminator.from_rgb] == [32, 32, 16]  # min(64 / 2**stage, 32)
    assert [c.weight.shape[0] for c in wide.generator.to_rgb] == [3, 3, 3] and wide.generator.to_rgb[-1].weight.shape[1] == 4
    assert (wide.opt_d.param_groups[0]["lr"], wide.opt_g.param_groups[0]["lr"]) == (4e-3, 1e-3)
    fake = wide.generator(torch.randn(2, 8), torch.tensor([0, 2]))
    assert wide.discriminator(fake, torch.tensor([0, 2]), 2, 1.0).shape == (2, 1)
    with pytest.raises(ValueError, match="lr_d must be >= 0"):
        make_recipe("progan", 16, {**options, "lr_d": -1.0})


@pytest.mark.parametrize("size", [4, 8, 32, 64, 128])
def test_a_fully_grown_progan_outputs_the_requested_size(size):
    g = create("progan", latent_dim=8, image_size=size, fmap_base=64, fmap_max=8)
    assert g(torch.randn(2, 8)).shape[-2:] == (size, size)
    with pytest.raises(ValueError, match=f"ProGAN at {size} px needs fmap_base >= {size // 4}"):
        create("progan", latent_dim=8, image_size=size, fmap_base=size // 4 - 1, fmap_max=8)


@pytest.mark.parametrize("name", ["pix2pixhd", "residual_unet", "cyclegan"])
def test_translators_take_images_and_keep_size(name):
    synth = tiny_synthesizer(name)
    images = torch.rand(2, 3, 40, 48)
    masks = torch.from_numpy(np.stack([disk_mask(40, 48)] * 2)).float().unsqueeze(1)
    out = synth.translate(images=images, masks=masks if synth.spec.needs_mask else None, seed=0)
    assert out.shape == images.shape and out.min() >= 0 and out.max() <= 1
    with pytest.raises(ValueError, match="pass images="):
        synth.translate(masks=masks)


def test_residual_unet_output_is_input_plus_change():
    g = create("residual_unet", ngf=4, n_blocks=1)
    for p in g.head.parameters():
        torch.nn.init.zeros_(p)
    x = torch.rand(1, 4, 32, 32) * 2 - 1
    assert torch.allclose(g(x), x[:, :3])  # no change predicted -> the input image


def test_residual_unet_upsampling_option():
    """``transpose`` (the default) is the paper's network with its checkpoint keys;
    ``resize`` has no transposed convolution; anything else is refused by name."""
    paper = create("residual_unet", ngf=4, n_blocks=1)
    assert {"up1.0.weight", "up1.0.bias", "up2.0.weight", "up2.0.bias"} <= set(paper.state_dict())
    assert isinstance(paper.up1[0], torch.nn.ConvTranspose2d) and isinstance(paper.up2[0], torch.nn.ConvTranspose2d)
    resize = create("residual_unet", ngf=4, n_blocks=1, upsample="resize")
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in resize.modules())
    x = torch.rand(2, 4, 32, 32) * 2 - 1
    assert resize(x).shape == paper(x).shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match=r"upsample must be one of \('transpose', 'resize'\), got 'bilinear'"):
        create("residual_unet", ngf=4, n_blocks=1, upsample="bilinear")


@pytest.mark.parametrize("name", ["cyclegan", "pix2pixhd"])
def test_resnet_generator_upsampling_option(name):
    """``transpose`` (the default) is the paper's network, keys as in its checkpoints (3x3
    stride-2 transposed convolutions); ``resize`` has none; anything else is refused by name."""
    tiny = get_spec(name).tiny_generator_config
    paper, resize = create(name, **tiny), create(name, **tiny, upsample="resize")
    ups = [m for m in paper.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert ups == [paper.model[11], paper.model[14]]  # model.11.weight, model.14.weight: 2 downsamplings, 1 block
    assert all(m.kernel_size == (3, 3) and m.stride == (2, 2) and m.output_padding == (1, 1) for m in ups)
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in resize.modules())
    x = torch.rand(2, paper.model[1].in_channels, 32, 32) * 2 - 1
    assert resize(x).shape == paper(x).shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match=r"upsample must be one of \('transpose', 'resize'\), got 'bilinear'"):
        create(name, **tiny, upsample="bilinear")


def test_resnet_generator_noise_input():
    """``style_dim`` adds a mapping and one modulation per restyled normalisation (the
    bottleneck and each upsampling) and leaves the papers' keys as they were; the
    modulations start at zero (plain normalisation), then z changes the output."""
    tiny = get_spec("pix2pixhd").tiny_generator_config
    paper, styled = create("pix2pixhd", **tiny), create("pix2pixhd", **tiny, style_dim=4, w_dim=8)
    extra = set(styled.state_dict()) - set(paper.state_dict())
    assert set(paper.state_dict()) <= set(styled.state_dict()) and not hasattr(paper, "mapping")
    assert all(k.startswith(("mapping.", "modulation.")) for k in extra)
    assert len(styled.modulation) == 1 + tiny["n_downsampling"]
    x = torch.rand(2, paper.model[1].in_channels, 32, 32) * 2 - 1
    z1, z2 = torch.randn(2, 4), torch.randn(2, 4)
    with torch.no_grad():
        assert torch.equal(styled(x, z1), styled(x, z2))
        for m in styled.modulation:
            torch.nn.init.normal_(m.weight, std=0.5)
        assert not torch.allclose(styled(x, z1), styled(x, z2))
        torch.manual_seed(3)
        drawn = styled(x)
        torch.manual_seed(3)
        assert torch.equal(drawn, styled(x))
    with pytest.raises(ValueError, match=r"z must have shape \(2, 4\)"):
        styled(x, torch.randn(2, 5))


def test_semantic_map_is_one_hot_with_outside_lesion_and_attributes():
    image = np.full((40, 40, 3), 180, np.uint8)
    image[:4], image[:, :3] = 5, 5  # dark vignette touching the border
    image[20, 20] = 2  # dark speck inside: not "outside"
    mask = disk_mask(40, 40, r=10)
    attributes = np.zeros((len(ATTRIBUTES), 40, 40), np.uint8)
    attributes[ATTRIBUTES.index("globules"), 18:22, 18:22] = 1
    m = semantic_map(image, mask, attributes)
    assert m.shape == (len(LABELS), 40, 40) and np.array_equal(m.sum(0), np.ones((40, 40)))
    assert m[LABELS.index("outside"), 0, 10] == 1 and m[LABELS.index("outside"), 20, 20] == 0
    assert m[LABELS.index("globules"), 19, 19] == 1 and m[LABELS.index("lesion"), 25, 20] == 1
    assert m[LABELS.index("skin"), 35, 35] == 1
    without = semantic_map(image, mask)
    assert without[3:].sum() == 0  # attribute channels empty when attributes are absent
    assert outside_region(image).sum() == m[0].sum()
    with pytest.raises(ValueError):
        semantic_map(image, disk_mask(20, 20))


def test_slic_instance_edges_and_condition_stack():
    item = bundled_sample()[0]
    edges = instance_edges(item["image"])
    assert edges.shape == item["mask"].shape and set(np.unique(edges)) == {0, 1}
    assert 0.02 < edges.mean() < 0.5
    cond = condition_maps(item["image"], item["mask"])
    assert cond.shape == (len(LABELS) + 1, 256, 256) and cond.dtype == np.uint8


def test_pix2pixhd_training_view_jitters_maps_with_the_image():
    view = GANTrainingView(bundled_sample(), 32, condition_maps=condition_maps)
    item = view[(0, 1)]
    assert item["condition"].shape == (len(LABELS) + 1, 32, 32)
    lesion_channel = item["condition"][LABELS.index("lesion")]
    assert torch.equal(lesion_channel > 0, (item["mask"][0] > 0) & (item["condition"][0] == 0))


def test_skin_and_lesion_domains():
    sample = bundled_sample()
    skin = SkinPatches(sample)
    for i in range(len(skin)):
        j, corners, side = skin.windows[i]
        patch = skin[i]["image"]
        assert patch.shape == (side, side, 3)
        top, left = corners[0]
        assert sample[j]["mask"][top : top + side, left : left + side].sum() == 0
    crops = LesionCrops(sample)
    crop = crops[0]
    assert crop["mask"].sum() > 0 and crop["image"].shape[:2] == crop["mask"].shape
    pairs = UnpairedView(GANTrainingView(skin, 32), GANTrainingView(crops, 32), seed=3)
    a, b = pairs[(0, 2)], pairs[(0, 2)]
    assert set(a) == {"a_image", "b_image", "b_mask", "b_label"} and torch.equal(a["b_image"], b["b_image"])


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 1000), policy=st.sampled_from(["color", "translation", "cutout", "color,translation,cutout"]))
def test_diffaugment_keeps_shape_and_leaves_mask_colour_alone(seed, policy):
    torch.manual_seed(seed)
    image = torch.rand(2, 3, 16, 16) * 2 - 1
    mask = (torch.rand(2, 1, 16, 16) > 0.5).float() * 2 - 1
    out = diff_augment(torch.cat([image, mask], 1), policy, color_channels=slice(0, 3))
    assert out.shape == (2, 4, 16, 16)
    if policy == "color":
        assert torch.equal(out[:, 3:], mask)
    values = set(out[:, 3:].unique().tolist())
    assert values <= {-1.0, 0.0, 1.0}  # geometry moves / zeroes mask pixels, never recolours them


def test_diffaugment_is_differentiable_and_rejects_unknown_policies():
    x = torch.rand(2, 3, 8, 8, requires_grad=True)
    diff_augment(x, "color,translation,cutout").sum().backward()
    assert x.grad is not None
    with pytest.raises(ValueError, match="unknown DiffAugment"):
        diff_augment(x, "color,blur")


@pytest.mark.parametrize("upsample", ["transpose", "resize"])
def test_residual_unet_keeps_every_pixel_outside_the_mask_bit_exact(upsample):
    synth = tiny_synthesizer("residual_unet", overrides={"upsample": upsample})
    images = torch.rand(2, 3, 50, 70)
    masks = torch.zeros(2, 1, 50, 70)
    masks[:, :, 10:30, 20:45] = 1
    out = synth.translate(images=images, masks=masks, seed=0)
    grown = torch.nn.functional.max_pool2d(masks, 2 * 5 + 1, stride=1, padding=5).bool().expand_as(out)
    assert torch.equal(out[~grown], images[~grown])
    assert not torch.equal(out[masks.bool().expand_as(out)], images[masks.bool().expand_as(out)])


@pytest.mark.parametrize("name", list_models())
def test_every_card_says_which_pixels_the_model_writes(name):
    from gan_augment.cards import _scope

    spec = get_spec(name)
    text = _scope(spec)
    if spec.task == "noise_to_image":
        assert "from noise" in text
    elif spec.keeps_outside_mask:
        assert "bit-exact" in text
    else:
        assert "every pixel is synthetic" in text


def test_an_exported_card_warns_about_a_short_unfinished_unevaluated_run_and_names_recipe_changes(tmp_path):
    from gan_augment.export import export_run

    tiny_run("pix2pix", tmp_path / "run", steps=4, max_session_steps=2, overrides={"gan_mode": "hinge"})
    card = (export_run(tmp_path / "run", tmp_path / "out") / "README.md").read_text()
    assert "Read this first" in card
    assert "stopped at step 2 of 4 planned (50 %)" in card and "| 2 of 4 planned" in card
    assert "Short run" in card and "No realism report" in card
    assert "differs from the paper's defaults in: `ndf=4`, `gan_mode=hinge`" in card


def test_realism_warnings_name_what_fails_and_stay_quiet_when_nothing_does():
    from gan_augment.realism_report import realism_warnings

    def row(kid_excess, linear, cnn, near_copy=0.05):
        return {
            "kid_excess": kid_excess,
            "linear_c2st": {"mean": linear, "std": 0.01},
            "cnn_c2st": {"mean": cnn, "std": 0.01},
            "memorization": {"near_copy_share": near_copy},
        }

    reference = {"whole": row(0.0, 0.5, 0.5)}
    result = {
        "data": {"name": "ISIC 2017", "split": "validation"},
        "settings": {"views": ["whole"]},
        "reference": reference,
        "candidates": {"bad": {"whole": row(0.2, 0.99, 0.95, near_copy=0.3)}, "good": {"whole": row(0.001, 0.55, 0.52)},
                       "copy-paste": {"whole": row(0.01, 0.7, 0.6)}},
    }
    bad = realism_warnings([result], "bad", baselines=("copy-paste",))
    assert len(bad) == 6
    assert any("linear probe spots these images more easily (0.99) than the no-learning baseline copy-paste's (0.70)" in w for w in bad)
    assert any("linear probe" in w and "0.99" in w for w in bad) and any("small CNN" in w for w in bad)
    assert any("worse than the no-learning baseline copy-paste" in w for w in bad)
    assert any("30 % of the outputs are near-copies" in w for w in bad)
    assert realism_warnings([result], "good", baselines=("copy-paste",)) == []


def test_domain_translators_say_which_way_they_translate(tmp_path):
    """``Synthesizer.direction``: the residual U-Net's ``direction`` hyper-parameter, CycleGAN's
    exported generator (G: skin -> lesion, G_BA: back); None for other models and unrecorded runs."""
    from gan_augment.export import export_run
    from gan_augment.synthesizer import from_pretrained

    tiny_run("cyclegan", tmp_path / "cyclegan", steps=1)
    tiny_run("residual_unet", tmp_path / "remover", steps=1, overrides={"direction": "remove"})
    assert from_pretrained(export_run(tmp_path / "cyclegan", tmp_path / "G"), device="cpu").direction == "add"
    assert from_pretrained(export_run(tmp_path / "cyclegan", tmp_path / "G_BA", network="G_BA"), device="cpu").direction == "remove"
    assert from_pretrained(export_run(tmp_path / "remover", tmp_path / "remove"), device="cpu").direction == "remove"
    assert tiny_synthesizer("residual_unet").direction is None  # no training record
    assert tiny_synthesizer("pix2pix").direction is None

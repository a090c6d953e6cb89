"""from_pretrained / save_pretrained / push: strict, lazy, offline, safetensors only."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from conftest import tiny_synthesizer
from safetensors.torch import load_file, save_file

import gan_augment as ga
from gan_augment.hub import PretrainedNotFoundError, push_to_hub, validate_repo_folder
from gan_augment.synthesizer import CheckpointMismatchError


def masks_batch(n=2, size=32):
    m = torch.zeros(n, 1, size, size)
    m[:, :, size // 4 : 3 * size // 4, size // 3 : 2 * size // 3] = 1
    return m


def test_save_load_round_trip_is_exact(tmp_path):
    synth = tiny_synthesizer()
    synth.save_pretrained(tmp_path / "a")
    loaded = ga.from_pretrained(tmp_path / "a", device="cpu")
    m = masks_batch()
    assert torch.equal(synth.translate(masks=m, seed=5), loaded.translate(masks=m, seed=5))
    loaded.save_pretrained(tmp_path / "b")
    again = ga.from_pretrained(tmp_path / "b", device="cpu")
    assert torch.equal(loaded.translate(masks=m, seed=5), again.translate(masks=m, seed=5))


def test_fp16_save_round_trips_exactly_after_first_cast(tmp_path):
    synth = tiny_synthesizer()
    synth.save_pretrained(tmp_path / "h", dtype="float16")
    first = ga.from_pretrained(tmp_path / "h", device="cpu")
    first.save_pretrained(tmp_path / "h2")  # keeps float16 by default
    assert json.loads((tmp_path / "h2" / "config.json").read_text())["weights_dtype"] == "float16"
    second = ga.from_pretrained(tmp_path / "h2", device="cpu")
    m = masks_batch()
    assert torch.equal(first.translate(masks=m, seed=1), second.translate(masks=m, seed=1))


def test_loading_is_lazy_and_device_overridable(tiny_pix2pix_dir):
    synth = ga.from_pretrained(tiny_pix2pix_dir, device="cpu")
    assert not synth.is_loaded
    assert "not loaded" in repr(synth)
    synth.translate(masks=masks_batch(1))
    assert synth.is_loaded and synth.device.type == "cpu"


def test_auto_device_is_cpu_without_cuda(tiny_pix2pix_dir):
    if torch.cuda.is_available():
        pytest.skip("machine has CUDA")
    assert ga.from_pretrained(tiny_pix2pix_dir).device.type == "cpu"


def test_unavailable_device_is_a_clear_error(tiny_pix2pix_dir):
    if torch.cuda.is_available():
        pytest.skip("machine has CUDA")
    synth = ga.from_pretrained(tiny_pix2pix_dir, device="cuda")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        synth.translate(masks=masks_batch(1))


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_missing_tensor_is_named(tiny_pix2pix_dir, tmp_path):
    folder = _copy(tiny_pix2pix_dir, tmp_path / "m")
    state = load_file(folder / "model.safetensors")
    dropped = min(state)
    del state[dropped]
    save_file(state, folder / "model.safetensors")
    with pytest.raises(CheckpointMismatchError, match=f"missing tensors.*{dropped}"):
        ga.from_pretrained(folder)


def test_unexpected_tensor_is_named(tiny_pix2pix_dir, tmp_path):
    folder = _copy(tiny_pix2pix_dir, tmp_path / "u")
    state = load_file(folder / "model.safetensors")
    state["extra.weight"] = torch.zeros(3)
    save_file(state, folder / "model.safetensors")
    with pytest.raises(CheckpointMismatchError, match="unexpected tensors.*extra.weight"):
        ga.from_pretrained(folder)


def test_wrong_shape_is_named(tiny_pix2pix_dir, tmp_path):
    folder = _copy(tiny_pix2pix_dir, tmp_path / "s")
    cfg = json.loads((folder / "config.json").read_text())
    cfg["generator_config"]["ngf"] = 8  # weights were made for ngf=4
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointMismatchError, match="shape mismatch"):
        ga.from_pretrained(folder)


def test_folder_without_weights_is_reported(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(PretrainedNotFoundError, match="model.safetensors is missing"):
        ga.from_pretrained(tmp_path)


def test_uncached_hub_id_explains_the_fix():
    with pytest.raises(PretrainedNotFoundError) as err:
        ga.from_pretrained("someone/not-a-cached-model")
    message = str(err.value)
    assert "huggingface-cli download someone/not-a-cached-model" in message
    assert "local folder" in message


def test_unknown_name_lists_bundled_checkpoints():
    with pytest.raises(PretrainedNotFoundError, match="bundled checkpoint"):
        ga.from_pretrained("no-such-model")


def test_list_pretrained_entries_are_loadable():
    for entry in ga.list_pretrained():
        assert {"name", "hub_id", "architecture", "image_size", "license"} <= set(entry)
        synth = ga.from_pretrained(entry["name"], device="cpu")
        assert synth.architecture == entry["architecture"]
        if entry["hub_id"]:  # the hub id of a bundled checkpoint resolves offline to the bundled folder
            assert ga.from_pretrained(entry["hub_id"]).architecture == entry["architecture"]


class FakeHfApi:
    def __init__(self):
        self.calls = []

    def create_repo(self, **kwargs):
        self.calls.append(("create_repo", kwargs))

    def upload_folder(self, **kwargs):
        self.calls.append(("upload_folder", kwargs))


def _complete_repo(tiny_pix2pix_dir, tmp_path):
    folder = _copy(tiny_pix2pix_dir, tmp_path / "repo")
    (folder / "README.md").write_text("---\nlibrary_name: gan-augment\nlicense: apache-2.0\n---\n# tiny\n")
    return folder


def test_push_uploads_a_complete_folder_with_the_api(tiny_pix2pix_dir, tmp_path):
    folder = _complete_repo(tiny_pix2pix_dir, tmp_path)
    api = FakeHfApi()
    url = push_to_hub(folder, "someone/tiny-mask2lesion", api=api, private=True)
    assert url == "https://huggingface.co/someone/tiny-mask2lesion"
    (name1, create), (name2, upload) = api.calls
    assert name1 == "create_repo" and create["repo_id"] == "someone/tiny-mask2lesion" and create["private"] is True
    assert name2 == "upload_folder" and upload["folder_path"] == str(folder)
    assert {"config.json", "model.safetensors", "README.md"} <= set(upload["allow_patterns"])


def test_push_refuses_incomplete_folders(tiny_pix2pix_dir, tmp_path):
    folder = _copy(tiny_pix2pix_dir, tmp_path / "nocard")
    (folder / "README.md").unlink()
    with pytest.raises(ValueError, match="model card"):
        push_to_hub(folder, "someone/x", api=FakeHfApi())
    (folder / "README.md").write_text("# no yaml\n")
    with pytest.raises(ValueError, match="YAML"):
        validate_repo_folder(folder)
    (folder / "README.md").write_text("---\nlicense: mit\n---\n")
    with pytest.raises(ValueError, match="owner/name"):
        push_to_hub(folder, "not a repo id", api=FakeHfApi())


def test_synthesizer_push_to_hub_saves_a_complete_repo_then_uploads(tmp_path):
    api = FakeHfApi()
    assert tiny_synthesizer().push_to_hub("someone/x", api=api) == "https://huggingface.co/someone/x"
    assert [name for name, _ in api.calls] == ["create_repo", "upload_folder"]
    saved = tiny_synthesizer().save_pretrained(tmp_path / "fresh")
    validate_repo_folder(saved)  # a generated card with YAML metadata
    assert "pix2pix" in (saved / "README.md").read_text()


def test_weights_are_safetensors_not_pickle(tiny_pix2pix_dir):
    head = (tiny_pix2pix_dir / "model.safetensors").read_bytes()[:16]
    assert not head.startswith(b"\x80")  # a pickle stream starts with the PROTO opcode
    assert not list(tiny_pix2pix_dir.glob("*.bin")) and not list(tiny_pix2pix_dir.glob("*.pt"))


def test_picklable_for_spawned_workers(tiny_pix2pix_dir):
    import pickle

    synth = ga.from_pretrained(tiny_pix2pix_dir, device="cpu")
    synth.translate(masks=masks_batch(1))
    clone = pickle.loads(pickle.dumps(synth))
    assert not clone.is_loaded  # reloads lazily in the worker
    m = masks_batch(1)
    assert torch.equal(clone.translate(masks=m, seed=2), synth.translate(masks=m, seed=2))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_an_error_naming_the_file(tiny_pix2pix_dir, tmp_path, bad):
    folder = _copy(tiny_pix2pix_dir, tmp_path / "nan")
    state = load_file(folder / "model.safetensors")
    name = min(k for k, v in state.items() if v.is_floating_point())
    state[name] = state[name].clone().view(-1).index_fill_(0, torch.tensor([0]), bad).view_as(state[name])
    save_file(state, folder / "model.safetensors")
    synth = ga.from_pretrained(folder, device="cpu")
    with pytest.raises(CheckpointMismatchError, match=f"model.safetensors.*{name}.*NaN or infinite"):
        synth.translate(masks=masks_batch(1))


def test_non_finite_images_to_translate_are_an_error():
    synth = tiny_synthesizer("residual_unet")
    images = torch.full((1, 3, 32, 32), 0.5)
    images[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        synth.translate(images=images, masks=masks_batch(1))


@pytest.mark.parametrize("size", [60000, 0, -8, 4097])
def test_absurd_image_size_in_config_is_rejected_before_allocating(tiny_pix2pix_dir, tmp_path, size):
    folder = _copy(tiny_pix2pix_dir, tmp_path / "big")
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, "image_size": size}))
    with pytest.raises(ValueError, match=rf"image_size must lie in \[4, 4096\] pixels, got {size}"):
        ga.from_pretrained(folder, device="cpu")


def test_absurd_sample_size_is_rejected():
    with pytest.raises(ValueError, match="size must lie in"):
        tiny_synthesizer("dcgan").sample(1, size=60000)


def test_corrupted_weights_and_config_errors_name_the_file(tiny_pix2pix_dir, tmp_path):
    folder = _copy(tiny_pix2pix_dir, tmp_path / "corrupt")
    (folder / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointMismatchError, match=r"corrupt/model\.safetensors: cannot read the weights"):
        ga.from_pretrained(folder)
    folder = _copy(tiny_pix2pix_dir, tmp_path / "badjson")
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"badjson/config\.json is not valid JSON"):
        ga.from_pretrained(folder)
    folder = _copy(tiny_pix2pix_dir, tmp_path / "truncated")
    synth = ga.from_pretrained(folder, device="cpu")  # the header is fine, the tensors are cut off later
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) - 100])
    with pytest.raises(CheckpointMismatchError, match=r"truncated/model\.safetensors: cannot read the weights"):
        synth.translate(masks=masks_batch(1))


@pytest.mark.parametrize("name", ["pix2pix", "dcgan", "inpaint"])
def test_a_compiled_synthesizer_generates_what_the_eager_one_does_and_still_pickles(name):
    """``Synthesizer.compile`` (torch.compile; the eager backend here, to stay fast) changes
    how calls run, not what they return; pickling (spawned workers) leaves the compiled module
    behind and the copy compiles its own."""
    import pickle

    synth = tiny_synthesizer(name)
    masks = (torch.rand(2, 1, 32, 32) > 0.6).float()
    images = torch.rand(2, 3, 32, 32)
    kwargs = {"labels": 0} if synth.num_classes else {}
    eager = synth.generate(masks=masks, images=images, seed=3, **kwargs)
    assert synth.compile(backend="eager") is synth
    compiled = synth.generate(masks=masks, images=images, seed=3, **kwargs)
    assert synth._compiled is not None and torch.allclose(compiled, eager, atol=1e-6)
    copy = pickle.loads(pickle.dumps(synth))
    assert copy._compiled is None and copy._compile_options == {"backend": "eager"}
    assert torch.allclose(copy.generate(masks=masks, images=images, seed=3, **kwargs), eager, atol=1e-6)

"""Turn a training run (its checkpoint) into a Hugging Face model folder with a card."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

from gan_augment.cards import render_card
from gan_augment.checkpoint import load_checkpoint
from gan_augment.constants import CARD_NAME, CHECKPOINT_NAME, CONFIG_NAME
from gan_augment.hub import save_pretrained
from gan_augment.models import get_spec
from gan_augment.synthesizer import Synthesizer


def _planned_steps(meta: dict[str, Any]) -> int | None:
    """The run's planned length in steps (``--steps``, or ``--epochs`` x steps per epoch)."""
    train, per_epoch = meta.get("train", {}), meta.get("steps_per_epoch")
    if train.get("steps") is not None:
        return int(train["steps"])
    if train.get("epochs") is not None and per_epoch:
        return math.ceil(train["epochs"] * per_epoch)
    return None


def synthesizer_from_run(run_dir: str | os.PathLike, network: str = "G") -> tuple[Synthesizer, dict[str, Any]]:
    """A generator (``network``, default ``G``) of a run's latest checkpoint, plus the run's metadata."""
    state = load_checkpoint(Path(run_dir) / CHECKPOINT_NAME)
    meta = state["meta"]
    spec = get_spec(meta["architecture"])
    saved = state["recipe"]["networks"]
    if network not in saved or not network.startswith("G"):
        raise KeyError(f"the run has no generator {network!r}; generators: {[k for k in saved if k.startswith('G')]}")
    generator = spec.generator(**meta["generator_config"])
    generator.load_state_dict(saved[network], strict=True)
    steps_per_epoch = meta.get("steps_per_epoch") or 1
    training = {
        "command": meta.get("command"),
        "seed": meta["train"]["seed"],
        "steps": int(state["step"]),
        "planned_steps": _planned_steps(meta),
        "batch_size": meta["train"]["batch_size"],
        "epochs": int(state["step"]) / steps_per_epoch,
        "train_seconds": round(float(state["train_seconds"]), 1),
        "devices": meta.get("devices", []),
        "hparams": meta["hparams"],
        "data": meta.get("data", {}),
        "network": network,  # which of the run's generators (CycleGAN: G skin -> lesion, G_BA back)
    }
    synth = Synthesizer.from_network(
        generator,
        meta["architecture"],
        meta["generator_config"],
        meta["image_size"],
        class_names=meta.get("class_names"),
        metadata={"training": training},
    )
    return synth, meta


def export_run(
    run_dir: str | os.PathLike,
    dest: str | os.PathLike,
    *,
    dtype: str = "float32",
    name: str | None = None,
    hub_id: str | None = None,
    license: str = "other",
    license_name: str | None = None,
    evaluation: str | os.PathLike | None = None,
    samples_image: str | os.PathLike | None = None,
    samples_caption: str = "",
    network: str = "G",
) -> Path:
    """Write ``dest/`` = config.json + model.safetensors + README.md (+ samples PNG).

    ``evaluation`` is the JSON an evidence script wrote (its rows go on the card);
    ``samples_image`` is copied next to the card and shown in it.
    """
    dest = Path(dest)
    synth, _ = synthesizer_from_run(run_dir, network)
    name = name or dest.name
    synth.metadata.update({"hub_id": hub_id, "license": license})
    if license == "other":
        synth.metadata["license_name"] = license_name or "training-data-terms"
    if evaluation is not None:
        synth.metadata["evaluation"] = json.loads(Path(evaluation).read_text())
    if samples_image is not None:
        dest.mkdir(parents=True, exist_ok=True)
        target = dest / "samples.png"
        if Path(samples_image).resolve() != target.resolve():
            shutil.copyfile(samples_image, target)
        synth.metadata.update({"samples_image": target.name, "samples_caption": samples_caption})
    save_pretrained(synth, dest, dtype=dtype)
    config = json.loads((dest / CONFIG_NAME).read_text())
    (dest / CARD_NAME).write_text(render_card(name, config))
    return dest


def update_card(
    folder: str | os.PathLike,
    *,
    name: str | None = None,
    evaluation: str | os.PathLike | None = None,
    samples_image: str | os.PathLike | None = None,
    samples_caption: str | None = None,
    notes: list[str] | None = None,
) -> Path:
    """Add evaluation results / a sample grid / notes to an exported folder's config.json and
    re-render its README.md card from it."""
    folder = Path(folder)
    cfg_path = folder / CONFIG_NAME
    config = json.loads(cfg_path.read_text())
    if evaluation is not None:
        config["evaluation"] = json.loads(Path(evaluation).read_text())
    if samples_image is not None:
        target = folder / "samples.png"
        if Path(samples_image).resolve() != target.resolve():
            shutil.copyfile(samples_image, target)
        config["samples_image"] = target.name
    if samples_caption is not None:
        config["samples_caption"] = samples_caption
    if notes is not None:
        config["notes"] = notes
    cfg_path.write_text(json.dumps(config, indent=2) + "\n")
    (folder / CARD_NAME).write_text(render_card(name or folder.name, config))
    return folder

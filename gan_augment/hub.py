"""Weights as Hugging Face model repos: ``config.json`` + ``model.safetensors`` + ``README.md``.

This module owns the on-disk format: where model folders are found (:func:`resolve_pretrained`),
how they are read (:func:`read_config`) and written (:func:`save_pretrained`), and the upload.
It knows nothing of :class:`~gan_augment.synthesizer.Synthesizer`, which builds on it
(``gan_augment.from_pretrained`` lives there).

``from_pretrained(name_or_path)`` accepts, in this order: a local folder; the name (or hub
id) of a checkpoint bundled with the package (``list_pretrained()``); a Hugging Face hub
id, read from the local cache or downloaded. Weights load only from safetensors, strictly.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from gan_augment._version import __version__
from gan_augment.cards import render_card
from gan_augment.constants import CARD_NAME, CONFIG_NAME, REPO_FILES, WEIGHTS_NAME

__all__ = [  # the file names are re-exported: the on-disk format is this module's
    "CARD_NAME", "CONFIG_NAME", "REPO_FILES", "WEIGHTS_NAME", "PretrainedNotFoundError", "bundled_roots",
    "list_pretrained", "push_to_hub", "read_config", "resolve_pretrained", "save_pretrained", "validate_repo_folder",
]
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class PretrainedNotFoundError(FileNotFoundError):
    """``from_pretrained`` could not find the named checkpoint anywhere it may look."""


def bundled_roots() -> list[Path]:
    """Folders holding bundled model repos: inside an installed wheel, or the source tree."""
    here = Path(__file__).resolve().parent
    return [p for p in (here / "_bundled", here.parent / "model_cards") if p.is_dir()]


def list_pretrained() -> list[dict[str, Any]]:
    """The bundled checkpoints: name, hub id, architecture, task, image size, data, licence."""
    found: dict[str, dict[str, Any]] = {}
    for root in bundled_roots():
        for folder in sorted(root.iterdir()):
            cfg_path = folder / CONFIG_NAME
            if folder.name in found or not cfg_path.is_file() or not (folder / WEIGHTS_NAME).is_file():
                continue
            cfg = json.loads(cfg_path.read_text())
            found[folder.name] = {
                "name": folder.name,
                "hub_id": cfg.get("hub_id"),
                "architecture": cfg["architecture"],
                "task": cfg.get("task"),
                "image_size": cfg["image_size"],
                "data": cfg.get("training", {}).get("data", {}).get("name"),
                "license": cfg.get("license"),
                "path": str(folder),
            }
    return list(found.values())


def _bundled_folder(name: str) -> Path | None:
    for entry in list_pretrained():
        if name in (entry["name"], entry["hub_id"]):
            return Path(entry["path"])
    return None


_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


def resolve_pretrained(name_or_path: str | os.PathLike, *, local_files_only: bool | None = None, revision: str | None = None) -> Path:
    """The local folder holding ``name_or_path``'s files (see module docstring for the order)."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    name = str(name_or_path)
    bundled = _bundled_folder(name)
    if bundled is not None:
        return bundled
    available = ", ".join(e["name"] for e in list_pretrained()) or "none"
    if not _HUB_ID.match(name):
        raise PretrainedNotFoundError(
            f"{name!r} is not a local folder, a bundled checkpoint (available: {available}) "
            "or a Hugging Face hub id of the form 'owner/name'"
        )
    from huggingface_hub import snapshot_download  # lazy: the hub client (slow to import) only for hub ids

    if local_files_only is None:
        local_files_only = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")
    try:
        folder = snapshot_download(name, revision=revision, allow_patterns=list(REPO_FILES), local_files_only=local_files_only)
    except Exception as err:  # noqa: BLE001 -- offline, not cached, not found, no permission: one clear message
        raise PretrainedNotFoundError(
            f"could not get the Hugging Face repo {name!r} ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}). "
            f"It is not in the local cache and could not be downloaded. Fix: on a machine with internet run "
            f"`huggingface-cli download {name}` (or `hf download {name}`) to fill the cache, or download the repo "
            f"and pass its local folder to from_pretrained. Bundled checkpoints that need no download: {available}."
        ) from None
    return Path(folder)


def read_config(folder: str | os.PathLike) -> dict[str, Any]:
    folder = Path(folder)
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not (folder / name).is_file():
            raise PretrainedNotFoundError(f"{folder} is not a gan_augment model folder: {name} is missing")
    try:
        cfg = json.loads((folder / CONFIG_NAME).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{folder / CONFIG_NAME} is not valid JSON ({err})") from None
    if not isinstance(cfg, dict):
        raise ValueError(f"{folder / CONFIG_NAME} must hold a JSON object, got {type(cfg).__name__}")  # noqa: TRY004 (bad file content)
    for key in ("architecture", "generator_config", "image_size"):
        if key not in cfg:
            raise ValueError(f"{folder / CONFIG_NAME} lacks the required key {key!r}")
    return cfg


def save_pretrained(synth: Any, path: str | os.PathLike, *, dtype: str | None = None, card: str | None = None) -> Path:
    """Write ``synth`` (a :class:`~gan_augment.synthesizer.Synthesizer`) as a model folder.
    ``dtype`` defaults to the dtype it was loaded from."""
    dtype = dtype or synth.metadata.get("weights_dtype", "float32")
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    state = {
        k: (v.detach().to(_DTYPES[dtype]) if v.is_floating_point() else v.detach()).cpu().contiguous()
        for k, v in synth.network.state_dict().items()
    }
    save_file(state, str(path / WEIGHTS_NAME), metadata={"format": "pt", "architecture": synth.architecture})
    config = {k: v for k, v in synth.metadata.items() if k not in ("architecture", "generator_config", "image_size")}
    config.update(
        {
            "architecture": synth.architecture,
            "task": synth.task,
            "generator_config": synth.generator_config,
            "image_size": synth.image_size,
            "class_names": synth.class_names,
            "weights_dtype": dtype,
            "gan_augment_version": __version__,
        }
    )
    (path / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
    source_card = _source_card(synth)
    if card is not None:
        (path / CARD_NAME).write_text(card)
    elif source_card is not None:
        if source_card.resolve() != (path / CARD_NAME).resolve():
            (path / CARD_NAME).write_text(source_card.read_text())
    else:  # every saved folder is a complete model repo: a card from what config.json records
        (path / CARD_NAME).write_text(render_card(path.name, config))
    return path


def _source_card(synth: Any) -> Path | None:
    weights = getattr(synth, "_weights_path", None)
    card = weights.parent / CARD_NAME if weights is not None else None
    return card if card is not None and card.is_file() else None


def validate_repo_folder(folder: str | os.PathLike) -> dict[str, Any]:
    """Check a folder is a complete model repo (card with YAML metadata, config, weights)."""
    folder = Path(folder)
    cfg = read_config(folder)
    card = folder / CARD_NAME
    if not card.is_file():
        raise ValueError(f"{folder} has no model card ({CARD_NAME})")
    text = card.read_text()
    if not text.startswith("---\n") or "\n---\n" not in text[4:]:
        raise ValueError(f"{card} must start with a YAML metadata block between '---' lines")
    return cfg


def push_to_hub(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    api: Any = None,
    token: str | None = None,
    private: bool = False,
    commit_message: str = "Upload gan_augment model",
) -> str:
    """Upload a model folder to the hub with ``huggingface_hub`` (creates the repo if needed).

    ``api`` defaults to ``huggingface_hub.HfApi(token=token)``; tests pass a fake.
    """
    validate_repo_folder(folder)
    if not _HUB_ID.match(repo_id):
        raise ValueError(f"repo_id must look like 'owner/name', got {repo_id!r}")
    if api is None:
        from huggingface_hub import HfApi  # lazy: the hub client only to upload

        api = HfApi(token=token)
    api.create_repo(repo_id=repo_id, repo_type="model", private=private, exist_ok=True)
    api.upload_folder(
        folder_path=str(folder),
        repo_id=repo_id,
        repo_type="model",
        commit_message=commit_message,
        allow_patterns=[*REPO_FILES, "*.png"],
    )
    return f"https://huggingface.co/{repo_id}"

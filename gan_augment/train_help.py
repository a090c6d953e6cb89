"""``gan-augment train MODEL --help``: that model's options with their defaults, and what
training it has cost, measured on the runs behind the bundled checkpoints (their cards)."""

from __future__ import annotations

import dataclasses
import inspect
import json
from pathlib import Path
from typing import Any

from gan_augment.constants import CONFIG_NAME
from gan_augment.hub import list_pretrained
from gan_augment.models import get_spec


def _first_line(doc: str | None) -> str:
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def model_options(name: str) -> list[tuple[str, str, Any]]:
    """(kind, option, default) for every ``--set`` key of ``name``: generator then training."""
    spec = get_spec(name)
    out: list[tuple[str, str, Any]] = []
    for key, param in inspect.signature(spec.generator.__init__).parameters.items():
        if key != "self" and param.default is not inspect.Parameter.empty:
            out.append(("generator", key, param.default))
    if dataclasses.is_dataclass(spec.hparams):
        for field in dataclasses.fields(spec.hparams):
            if field.default is not dataclasses.MISSING:
                out.append(("training", field.name, field.default))
    return out


def measured_costs(name: str) -> list[str]:
    """One line per bundled checkpoint of ``name``: images per second, wall time and device of
    the run that trained it (from its config.json; nothing is estimated)."""
    lines = []
    for entry in list_pretrained():
        if entry["architecture"] != name:
            continue
        training = json.loads((Path(entry["path"]) / CONFIG_NAME).read_text()).get("training", {})
        steps, batch, seconds = training.get("steps"), training.get("batch_size"), training.get("train_seconds")
        if not (steps and batch and seconds):
            continue
        devices = ", ".join(training.get("devices", [])) or "unknown device"
        lines.append(
            f"{entry['name']}: {steps * batch / seconds:.1f} training images/s at {entry['image_size']} px on {devices}; "
            f"{steps} steps of {batch} in {seconds / 3600:.2f} h"
        )
    return lines


def model_help(name: str) -> str:
    """The text appended to ``gan-augment train MODEL --help``."""
    spec = get_spec(name)
    rows = [f"\n{name}: {spec.summary}", f"paper: {spec.paper}", f"default image size: {spec.default_image_size} px", ""]
    rows.append("options (--set KEY=VALUE), with their defaults:")
    for kind, key, default in model_options(name):
        rows.append(f"  {key}={default!r}  ({kind})")
    hp_doc = _first_line(spec.hparams.__doc__) if dataclasses.is_dataclass(spec.hparams) else ""
    if hp_doc and not hp_doc.startswith(f"{spec.hparams.__name__}("):  # not dataclass's generated signature
        rows += ["", f"training defaults: {hp_doc}"]
    costs = measured_costs(name)
    rows += ["", "measured training cost (runs behind the bundled checkpoints):"]
    rows += [f"  {line}" for line in costs] or ["  no bundled checkpoint of this model yet: time a few steps with --max-session-steps"]
    rows.append(
        "  the progress bar shows the expected end time; --max-minutes stops and checkpoints (on the CPU after 4 h "
        "unless given; 0: no limit), --resume continues"
    )
    return "\n".join(rows)

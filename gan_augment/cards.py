"""Model cards (README.md with YAML metadata) rendered from what a run recorded.

Every number on a card comes from ``config.json``: the training summary written by
:func:`gan_augment.training.fit` and, when given, the evaluation JSON of an evidence script.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from gan_augment.models import get_spec

# a run shorter than this many epochs gets a warning on its card
SHORT_RUN_EPOCHS = 5.0

_PIPELINE_TAG = {"mask_to_image": "image-to-image", "image_to_image": "image-to-image", "noise_to_image": "unconditional-image-generation"}


def _yaml_list(items: list[str]) -> str:
    return "\n".join(f"  - {x}" for x in items)


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def _usage(name: str, task: str, needs_image: bool = False, reshapes: bool = False) -> str:
    if task == "noise_to_image":
        call = "images = g.sample(8, seed=0)               # 8x3xHxW float in [0, 1]"
    elif needs_image:
        call = "images = g.translate(images=images, masks=masks, seed=0)   # Nx3xHxW in [0, 1] + Nx1xHxW in {0, 1}"
    else:
        call = "images = g.translate(masks=masks, seed=0)   # masks: Nx1xHxW in {0, 1} -> Nx3xHxW in [0, 1]"
    if reshapes:
        call += (
            "\n# reshape: a new lesion shape, the old lesion painted over (GANAugment(g, mode='reshape') returns the new mask)"
            "\nimages = g.translate(images=images, masks=new_masks, erase_masks=masks, seed=0)"
        )
    return f"""```python
import gan_augment as ga
import albumentations as A

g = ga.from_pretrained("{name}")   # bundled with gan_augment: no download
{call}

# or as a drop-in augmentation, with the (already geometrically augmented) mask as condition
pipeline = A.Compose([A.HorizontalFlip(), A.RandomRotate90(), ga.GANAugment(g, p=0.5)], seed=0)
out = pipeline(image=image, mask=mask)  # uint8 HWC image, HW mask in {{0, 1}}
```"""


def _scope(spec: Any) -> str:
    """Which pixels the model writes: users of segmenters need to know whether the background is real."""
    if spec.task == "noise_to_image":
        return "**Output:** whole synthetic images from noise; no mask comes with them (use a mask-conditioned model for segmentation)."
    if spec.keeps_outside_mask:
        return "**Output:** the input image with the lesion region edited; every pixel outside the mask (slightly dilated) is the input pixel, bit-exact."
    return (
        "**Output:** a whole new image: every pixel is synthetic, the background (skin, hair, vignetting) included, "
        "not only the lesion inside the mask."
    )


def _of_planned(training: dict[str, Any]) -> str:
    planned = training.get("planned_steps")
    return f" of {planned} planned" if planned and planned != training.get("steps") else ""


def _recipe_changes(spec: Any, hparams: dict[str, Any]) -> str:
    """The hyper-parameters this run changed from the model's (paper) defaults, so the
    one-line summary of the paper's recipe is not mistaken for what was trained."""
    if not dataclasses.is_dataclass(spec.hparams):
        return ""
    defaults = {f.name: f.default for f in dataclasses.fields(spec.hparams) if f.default is not dataclasses.MISSING}
    changed = [f"`{k}={v}`" for k, v in hparams.items() if k in defaults and v != defaults[k]]
    if not changed:
        return ""
    return f"This checkpoint's training recipe differs from the paper's defaults in: {', '.join(changed)}."


def card_warnings(config: dict[str, Any]) -> list[str]:
    """What a user must know before trusting the checkpoint: a run stopped early or short, no
    realism report, or the report's own warnings (:func:`gan_augment.realism_report.realism_warnings`)."""
    training = config.get("training", {})
    out = []
    steps, planned = training.get("steps"), training.get("planned_steps")
    if steps is not None and planned and steps < planned:
        out.append(f"The run stopped at step {steps} of {planned} planned ({100 * steps / planned:.0f} %).")
    epochs = training.get("epochs")
    if epochs is not None and epochs < SHORT_RUN_EPOCHS:
        out.append(f"Short run: {epochs:.1f} epochs of the training data; expect an undertrained generator.")
    evaluation = config.get("evaluation")
    if not evaluation:
        out.append(
            "No realism report on this card: measure it with `gan-augment evaluate` on held-out images "
            "(and `gan-augment card --realism`) before relying on these images."
        )
    else:
        out += list(evaluation.get("warnings", []))
    return out



def render_card(name: str, config: dict[str, Any]) -> str:
    """The full README.md of a model repo."""
    spec = get_spec(config["architecture"])
    training = config.get("training", {})
    data = training.get("data", {})
    evaluation = config.get("evaluation")
    license_line = config.get("license", "other")
    tags = ["gan-augment", "gan", "data-augmentation", "dermatology", "skin-lesion", spec.name]
    front = [
        "---",
        "library_name: gan-augment",
        f"license: {license_line}",
    ]
    if license_line == "other":
        front.append(f"license_name: {config.get('license_name', 'see-card')}")
    front += [
        f"pipeline_tag: {_PIPELINE_TAG[spec.task]}",
        "tags:",
        _yaml_list(tags),
    ]
    if evaluation:
        front.append("metrics:\n" + _yaml_list(sorted({m for m in evaluation.get("metric_names", [])})))
    front.append("---")

    changes = _recipe_changes(spec, training.get("hparams", {}))
    lines = [
        "\n".join(front),
        "",
        f"# {name}",
        "",
        (
            f"**{spec.summary}** — `{spec.name}` from [gan_augment](https://github.com/gan-augment/gan_augment), "
            f"a {config['image_size']}x{config['image_size']} generator for data augmentation of skin-lesion "
            f"classifiers and segmenters. Paper: {spec.paper}."
            + (" The summary is the paper's recipe; this checkpoint's differs (below)." if changes else "")
        ),
        "",
        "Synthetic images are for training data augmentation and research only, never for diagnosis.",
        "",
        _scope(spec),
        "",
    ]
    if changes:
        lines += [changes, ""]
    warnings = card_warnings(config)
    if warnings:
        lines += ["## Read this first: known limitations (measured)", ""] + [f"- {w}" for w in warnings] + [""]
    lines += [
        "## Use",
        "",
        _usage(name, spec.task, spec.needs_image, spec.reshapes),
        "",
        "## Architecture",
        "",
        f"- generator: `{spec.generator.__name__}` with `{json.dumps(config['generator_config'])}`",
        f"- training recipe hyper-parameters: `{json.dumps(training.get('hparams', {}))}`",
        f"- weights: `model.safetensors` ({config.get('weights_dtype', 'float32')}), loaded strictly, lazily (on first call) onto CUDA when present, else CPU",
        "",
        "## Training data and licence",
        "",
        f"- data: {data.get('name', 'unknown')} — {data.get('description', '')}",
        f"- data licence: {data.get('license', 'unknown')}",
        f"- credit: {data.get('credit', 'unknown')}",
        f"- weights licence: `{license_line}`"
        + (f" ({config.get('license_name')}): the weights inherit the terms of their training data." if license_line == "other" else ""),
        "",
        "## Training run",
        "",
        "Trained with the library's own command (one shared loop, per-model recipe):",
        "",
        f"```bash\n{training.get('command', '(not recorded)')}\n```",
        "",
        "| | |",
        "|---|---|",
        f"| seed | {training.get('seed')} |",
        f"| steps | {training.get('steps', 'not recorded')}{_of_planned(training)} (batch size {training.get('batch_size', '?')}, {training.get('epochs', 0):.1f} epochs) |",
        f"| training wall time | {_hours(training.get('train_seconds', 0.0))} |",
        f"| device(s) | {', '.join(training.get('devices', [])) or 'unknown'} |",
        "",
    ]
    if config.get("samples_image"):
        lines += ["## Samples", "", f"![samples]({config['samples_image']})", "", config.get("samples_caption", ""), ""]
    if evaluation:
        lines += ["## Evaluation", "", evaluation.get("description", ""), "", "| metric | value |", "|---|---|"]
        lines += [f"| {row['name']} | {row['value']} |" for row in evaluation.get("rows", [])]
        if evaluation.get("command"):
            lines += ["", f"Measured with:\n\n```bash\n{evaluation['command']}\n```"]
        lines.append("")
    if config.get("notes"):
        lines += ["## Training notes", ""] + [f"- {n}" for n in config["notes"]] + [""]
    lines += ["## Citation", "", f"If you use these weights, cite the paper(s): {spec.paper}; and the data: {data.get('credit', '')}.", ""]
    return "\n".join(lines)

"""Write the result of :func:`gan_augment.realism.evaluate`: ``realism.json``, ``realism.md``
(one Markdown table of KID and C2ST per view, then diversity) and ``grid.png``."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

REFERENCE = "real vs real (reference)"


def _pm(stats: dict[str, Any] | None, digits: int = 2) -> str:
    if stats is None:
        return "— (too few items)"
    return f"{stats['mean']:.{digits}f} ± {stats['std']:.{digits}f}"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x"


def _metric_cells(row: dict[str, Any], reference: bool) -> list[str]:
    excess = "0 (by definition)" if reference else f"{row['kid_excess']:+.4f} ({_ratio(row['kid_ratio'])})"
    return [f"{row['kid']:.4f} ± {row['kid_std']:.4f}", excess, _pm(row["linear_c2st"]), _pm(row["cnn_c2st"])]


def markdown_report(result: dict[str, Any]) -> str:
    """The report as Markdown: settings, the KID / C2ST table, the diversity table, notes."""
    s, d, ref = result["settings"], result["data"], result["reference"]
    views = s["views"]
    head = ["candidate"] + [f"{v}: {m}" for v in views for m in ("KID", "KID excess (ratio)", "linear C2ST", "CNN C2ST")]
    lines = [
        "# Realism report",
        "",
        f"Held-out data: {d['name']}"
        + (f" `{d['path']}` split `{d['split']}`" if "path" in d else "")
        + f" ({d['n_heldout']} items). Unpaired split (seed {d['split_seed']}): candidates synthesise on the "
        f"{d['n_a']} pairs of half A and are compared with the {d['n_b']} real images of half B; the reference "
        f"compares real A with real B ({d['dropped_empty_masks']} items dropped: empty mask after the crop). "
        f"{s['size']} px; {s['resize']}. Crops: lesion box + {int(100 * s['crop_margin'])} % margin, resized to {s['size']} px.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
        "| " + " | ".join([REFERENCE, *[c for v in views for c in _metric_cells(ref[v], True)]]) + " |",
    ]
    for name, entry in result["candidates"].items():
        lines.append("| " + " | ".join([name, *[c for v in views for c in _metric_cells(entry[v], False)]]) + " |")
    rd = ref["diversity"]
    lines += [
        "",
        "| candidate | within-mask feature distance | ratio to real between-image distance | pixel std across images | ratio to real |",
        "|---|---|---|---|---|",
        f"| {REFERENCE} | {rd['between_image_distance']:.3f} (between different real images) | 1.00x | {rd['pixel_std']:.3f} | 1.00x |",
    ]
    for name, entry in result["candidates"].items():
        dv = entry["diversity"]
        lines.append(
            f"| {name} | {dv['within_mask_distance']:.3f} | {_ratio(dv['within_mask_ratio'])} | "
            f"{dv['pixel_std']:.3f} | {_ratio(dv['pixel_std_ratio'])} |"
        )
    lines += [
        "",
        (f"- KID: {s['features']}; mean ± std over {s['kid_subsets']} subsets of {s['kid_subset_size']}. "
        "Excess = candidate - reference (0 = as close to B as other real images are); the ratio is "
        "meaningless when the reference is near 0 (or negative: the estimator is unbiased)."),
        (f"- C2ST (Lopez-Paz & Oquab 2017): held-out accuracy of a classifier telling the candidate from real B, "
        "mean ± std over folds; 0.5 = indistinguishable, 1.0 = always told apart. "
        f"Linear: {s['linear_c2st']}. CNN: {s['cnn_c2st']}."),
        (f"- Diversity ({s['diversity']}): within-mask = mean pairwise cosine distance of Lite0 features among "
        "the outputs for one mask, averaged over masks (0 = the same image for every seed); pixel std = mean "
        "over pixels of the per-pixel std across the outputs for different masks (low = the same artifact everywhere)."),
        f"- Wall time: {result['seconds']:.0f} s.",
    ]
    return "\n".join(lines) + "\n"


def write_report(result: dict[str, Any], out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``realism.json`` (without the grid), ``realism.md`` and ``grid.png`` to ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "realism.json", "markdown": out / "realism.md", "grid": out / "grid.png"}
    data = {k: v for k, v in result.items() if k != "grid_png"}
    data["grid"] = paths["grid"].name
    paths["json"].write_text(json.dumps(data, indent=2) + "\n")
    caption = (
        "\nSamples (`grid.png`), columns: " + " | ".join(result.get("grid_titles", [])) + ". Top rows whole images, "
        "bottom rows lesion crops. Real B and the candidates' outputs in one row are unrelated (unpaired); "
        "each candidate's output was made for the mask A in its row.\n\n![samples](grid.png)\n"
    )
    paths["markdown"].write_text(markdown_report(result) + caption)
    paths["grid"].write_bytes(base64.b64decode(result["grid_png"]))
    return paths

"""Write the result of :func:`gan_augment.realism.evaluate`: ``realism.json``, ``realism.md``
(one Markdown table of KID and C2ST per view, then diversity) and ``grid.png``."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

REFERENCE = "real vs real (reference)"
# the whole-image protocol in one line (also what results from before settings["protocol"] measured)
PROTOCOL_WHOLE = "whole images: candidates receive A's images and masks, compared with B's images"


def _pm(stats: dict[str, Any] | None, digits: int = 2) -> str:
    if stats is None:
        return "— (too few items)"
    return f"{stats['mean']:.{digits}f} ± {stats['std']:.{digits}f}"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x"


def _metric_cells(row: dict[str, Any], reference: bool) -> list[str]:
    excess = "0 (by definition)" if reference else f"{row['kid_excess']:+.4f} ({_ratio(row['kid_ratio'])})"
    return [f"{row['kid']:.4f} ± {row['kid_std']:.4f}", excess, _pm(row["linear_c2st"]), _pm(row["cnn_c2st"])]


# what the do-nothing editor (identity) returns under each protocol, for the change-inside-mask note
_IDENTITY_SCORES = {
    None: "real-vs-real C2STs",
    "add": "returns plain skin (the input domain), which real B's lesion crops do not look like",
    "remove": "returns the lesion (the input domain), which real B's skin patches do not look like",
}


def _protocol_sentence(s: dict[str, Any], d: dict[str, Any]) -> str:
    """Which images the candidates received and which they were compared with."""
    split = f"Unpaired split (seed {d['split_seed']}) into disjoint halves A and B: "
    domain = s.get("domain")
    if domain is None:
        return (
            f"Protocol: whole images. {split}candidates synthesise on the {d['n_a']} pairs of half A and are compared "
            f"with the {d['n_b']} real images of half B; the reference compares real A with real B "
            f"({d['dropped_empty_masks']} items dropped: empty mask after the crop)."
        )
    dropped = f"{d['dropped']} items dropped: no lesion-free window or an empty mask"
    if domain == "add":
        return (
            f"Protocol: domain `add` (adding a lesion, in the translators' training domains, `gan_augment.domains`). {split}"
            f"candidates receive the {d['n_a']} lesion-free skin patches of half A (0.5 x the shorter image side), each "
            f"with the lesion mask of the same image's lesion crop, and are compared with the {d['n_b']} real lesion "
            f"crops of half B; the reference compares A's lesion crops with B's ({dropped})."
        )
    return (
        f"Protocol: domain `remove` (removing a lesion, in the translators' training domains, `gan_augment.domains`). "
        f"{split}candidates receive the {d['n_a']} lesion crops of half A (0.5 x the shorter image side) with their "
        f"masks and are compared with the {d['n_b']} real lesion-free skin patches of half B; the reference compares "
        f"A's skin patches with B's ({dropped})."
        + "".join(f" The {v} view is {why}." for v, why in s.get("skipped_views", {}).items())
    )


def protocol_name(result: dict[str, Any]) -> str:
    """``whole images``, ``domain add`` or ``domain remove``."""
    domain = result["settings"].get("domain")
    return "whole images" if domain is None else f"domain {domain}"


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
        + f" ({d['n_heldout']} items). {_protocol_sentence(s, d)} "
        f"{s['size']} px; {s['resize']}."
        + (f" Crops: lesion box + {int(100 * s['crop_margin'])} % margin, resized to {s['size']} px." if "crop" in views else ""),
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
    agreement = ref.get("mask_agreement")
    if agreement:
        lines += [
            "",
            "| candidate | lesion where the mask says: Otsu Dice, mean (median) |",
            "|---|---|",
            f"| real B, own masks (a faithful pair) | {agreement['dice_mean']:.3f} ({agreement['dice_median']:.3f}) |",
            f"| real B, another image's mask (ignoring the mask) | {agreement['shuffled_dice_mean']:.3f} ({agreement['shuffled_dice_median']:.3f}) |",
        ]
        lines += [
            f"| {n} | {e['mask_agreement']['dice_mean']:.3f} ({e['mask_agreement']['dice_median']:.3f}) |"
            for n, e in result["candidates"].items() if "mask_agreement" in e
        ]
    memorized = [(n, v, e[v]["memorization"]) for n, e in result["candidates"].items() for v in views if "memorization" in e[v]]
    if memorized:
        lines += [
            "",
            "| candidate | view | median distance to nearest training image (real B) | median SSIM to it (real B) | near-copies (expected ~5 %) |",
            "|---|---|---|---|---|",
        ]
        for name, view, m in memorized:
            lines.append(
                f"| {name} | {view} | {m['distance_median']['synthetic']:.3f} ({m['distance_median']['heldout_real']:.3f}) | "
                f"{m['ssim_median']['synthetic']:.3f} ({m['ssim_median']['heldout_real']:.3f}) | {100 * m['near_copy_share']:.1f} % |"
            )
    changes = {n: e.get("change_inside_mask") for n, e in result["candidates"].items() if e.get("change_inside_mask") is not None}
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
        *([
            "- Change inside the lesion mask (mean absolute difference to the candidate's own input, [0, 1] scale; "
            f"a do-nothing editor scores 0 and {_IDENTITY_SCORES[s.get('domain')]}): "
            + ", ".join(f"{n} {v:.3f}" for n, v in changes.items())
        ] if changes else []),
        (
            "- Diversity caveat: models that keep the background (copy-paste, inpainting) share everything outside the "
            "mask across seeds, so their within-mask distance and pixel std are not comparable with whole-image generators'."
        ),
        *([
            "- Checkerboard spectrum (`metrics.upsampling_peaks`, whole images: largest log10 ratio of the mean power "
            "at the frequencies stride-2 upsampling leaves, to the median of their neighbourhood; above real B's = "
            f"an upsampling artifact): real B {ref['spectrum']['peak']:.2f}, "
            + ", ".join(f"{n} {e['spectrum']['peak']:.2f}" for n, e in result["candidates"].items() if "spectrum" in e)
        ] if "spectrum" in ref else []),
        *([f"- Memorization: {s['memorization']} (`gan_augment.memorization`)."] if s.get("memorization") else []),
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
        "\nSamples (`grid.png`), columns: " + " | ".join(result.get("grid_titles", [])) + ". "
        + ("Top rows whole images, bottom rows lesion crops. " if "crop" in result["settings"]["views"] else "Whole images. ")
        + "Real B and the candidates' outputs in one row are unrelated (unpaired); "
        "each candidate's output was made for the "
        + ("input and " if result["settings"].get("domain") else "")
        + "mask A in its row.\n\n![samples](grid.png)\n"
    )
    paths["markdown"].write_text(markdown_report(result) + caption)
    paths["grid"].write_bytes(base64.b64decode(result["grid_png"]))  # a merged report shows the newest run's grid
    return paths


def merge_results(base: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``other``'s candidates added: two runs of the same protocol (same held-out
    items in A and B, same size, seed and views), e.g. baselines measured once and a model later.
    Refuses results whose split or settings differ, so no row is compared on other data."""
    for key in ("ids_a", "ids_b", "split_seed", "name"):
        if base["data"].get(key) != other["data"].get(key):
            raise ValueError(f"cannot merge realism results: data {key!r} differs")
    for key in ("size", "seed", "views", "max_items", "domain"):
        if base["settings"].get(key) != other["settings"].get(key):
            raise ValueError(f"cannot merge realism results: setting {key!r} differs")
    clash = set(base["candidates"]) & set(other["candidates"])
    if clash:
        raise ValueError(f"cannot merge realism results: both hold {sorted(clash)}")
    for view in base["settings"]["views"]:
        a, b = base["reference"][view]["kid"], other["reference"][view]["kid"]
        if abs(a - b) > 1e-6:
            raise ValueError(f"cannot merge realism results: the real-vs-real KID of the {view} view differs ({a} vs {b})")
    merged = {**base, "candidates": {**base["candidates"], **other["candidates"]}}
    if "spectrum" not in base["reference"] and "spectrum" in other["reference"]:  # base from before spectra
        merged["reference"] = {**base["reference"], "spectrum": other["reference"]["spectrum"]}
    merged["grid_png"] = other["grid_png"]  # the newest run's samples (the base's grid is on disk only)
    merged["grid_titles"] = other.get("grid_titles", [])
    merged["seconds"] = base.get("seconds", 0.0) + other.get("seconds", 0.0)
    merged["command"] = "; ".join(c for c in (base.get("command"), other.get("command")) if c)
    return merged


def card_evaluation(results: list[dict[str, Any]], candidate: str, *, baselines: tuple[str, ...] = ()) -> dict[str, Any]:
    """The ``evaluation`` block of a model card (:func:`gan_augment.cards.render_card`): for
    each result (one held-out set), the candidate's KID excess and both C2STs per view, next
    to the real-vs-real reference and the named baselines measured on the same split."""
    rows = []
    for result in results:
        d = result["data"]
        where = f"{d['name']} {d.get('split', '')}".strip() + f" ({d['n_a']} + {d['n_b']})"
        if result["settings"].get("domain"):
            where += f", {protocol_name(result)}"
        for view in result["settings"]["views"]:
            ref = result["reference"][view]
            entries = [(candidate, result["candidates"][candidate][view])]
            entries += [(b, result["candidates"][b][view]) for b in baselines if b in result["candidates"]]
            for name, row in entries:
                rows.append({
                    "name": f"{where}, {view}: {name}",
                    "value": (
                        f"KID excess {row['kid_excess']:+.4f} (reference KID {ref['kid']:.4f}); "
                        f"linear C2ST {_pm(row['linear_c2st'])} (reference {_pm(ref['linear_c2st'])}); "
                        f"CNN C2ST {_pm(row['cnn_c2st'])} (reference {_pm(ref['cnn_c2st'])})"
                    ),
                })
        for view in result["settings"]["views"]:
            m = result["candidates"][candidate][view].get("memorization")
            if m:
                rows.append({
                    "name": f"{where}, {view}, memorization: {candidate}",
                    "value": (
                        f"nearest of {m['n_training']} training images: median Lite0 distance {m['distance_median']['synthetic']:.3f} "
                        f"(real held-out {m['distance_median']['heldout_real']:.3f}), median SSIM {m['ssim_median']['synthetic']:.3f} "
                        f"(real {m['ssim_median']['heldout_real']:.3f}); near-copies {100 * m['near_copy_share']:.1f} % (no copying: ~5 %)"
                    ),
                })
        spectrum = result["candidates"][candidate].get("spectrum")
        if spectrum and "spectrum" in result["reference"]:
            rows.append({
                "name": f"{where}, checkerboard spectrum peak: {candidate}",
                "value": f"{spectrum['peak']:.2f} (real images {result['reference']['spectrum']['peak']:.2f}; above real = upsampling artifact)",
            })
        agreement, ref_agreement = result["candidates"][candidate].get("mask_agreement"), result["reference"].get("mask_agreement")
        if agreement and ref_agreement:
            rows.append({
                "name": f"{where}, lesion where the mask says: {candidate}",
                "value": (
                    f"Otsu Dice {agreement['dice_mean']:.3f} (real images with their own masks {ref_agreement['dice_mean']:.3f}, "
                    f"with another image's mask {ref_agreement['shuffled_dice_mean']:.3f})"
                ),
            })
        dv = result["candidates"][candidate].get("diversity")
        if dv:
            rows.append({
                "name": f"{where}, diversity: {candidate}",
                "value": (
                    f"within-mask feature distance {dv['within_mask_distance']:.3f} ({_ratio(dv['within_mask_ratio'])} of "
                    f"the distance between different real images); pixel std across images {_ratio(dv['pixel_std_ratio'])} of real"
                ),
            })
    first = results[0]["settings"]
    protocols = [r["settings"].get("protocol") or PROTOCOL_WHOLE for r in results]
    return {
        "warnings": realism_warnings(results, candidate, baselines=baselines),
        "description": (
            "Realism report (`gan-augment evaluate`, module `gan_augment.realism`): unpaired held-out halves A/B, "
            f"protocol: {'; '.join(dict.fromkeys(protocols))} (a noise model draws one sample per item of A "
            f"with classes from the held-out labels), {first['size']} px, "
            f"views: {', '.join(first['views'])} (crop = lesion box + 25 % margin). KID on EfficientNet-Lite0 features (never used "
            "in training: projected discriminators use Lite1) as excess over the real-vs-real KID; C2ST = held-out accuracy "
            "of a classifier telling synthetic from real (0.5 = indistinguishable): linear probe on Lite0 features and a "
            "small CNN from scratch on pixels, 5-fold CV."
        ),
        "rows": rows,
        "metric_names": ["kid", "accuracy"],
        "command": "; ".join(r.get("command", "") for r in results if r.get("command")),
    }


# a linear probe at or above this accuracy tells the images apart from real ones at a glance
OBVIOUSLY_SYNTHETIC_C2ST = 0.9
# C2ST accuracies closer than this to a baseline's are within the folds' noise
C2ST_MARGIN = 0.05
# held-out real images are their own nearest "training" image this often by construction (5 %)
NEAR_COPY_WARNING_SHARE = 0.10


def realism_warnings(results: list[dict[str, Any]], candidate: str, *, baselines: tuple[str, ...] = ()) -> list[str]:
    """Plain-language failures of ``candidate`` in realism reports, for the top of a model card:
    C2ST accuracy near 1, worse KID than a no-learning baseline, near-copies of training images."""
    out = []
    for result in results:
        d = result["data"]
        where = f"{d['name']} {d.get('split', '')}".strip()
        if result["settings"].get("domain"):
            where += f", {protocol_name(result)}"
        for view in result["settings"]["views"]:
            row, ref = result["candidates"][candidate][view], result["reference"][view]
            for test in ("linear_c2st", "cnn_c2st"):
                acc = (row.get(test) or {}).get("mean")
                if acc is not None and acc >= OBVIOUSLY_SYNTHETIC_C2ST:
                    kind = "a linear probe on ImageNet features" if test == "linear_c2st" else "a small CNN on the pixels"
                    out.append(
                        f"{where}, {view}: {kind} tells these images from real ones with {acc:.2f} accuracy "
                        f"(real vs real {_pm(ref.get(test))}); they look synthetic to a classifier."
                    )
            for b in baselines:
                if b == "identity":  # the real input returned unchanged: a reference, not a way to make images
                    continue
                base = result["candidates"].get(b, {}).get(view)
                if not base:
                    continue
                if row["kid_excess"] > base["kid_excess"]:
                    out.append(
                        f"{where}, {view}: KID excess {row['kid_excess']:+.4f} is worse than the no-learning baseline "
                        f"{b} ({base['kid_excess']:+.4f})."
                    )
                for test, kind in (("linear_c2st", "linear probe"), ("cnn_c2st", "pixel CNN")):
                    ours, theirs = (row.get(test) or {}).get("mean"), (base.get(test) or {}).get("mean")
                    if ours is not None and theirs is not None and ours > theirs + C2ST_MARGIN:
                        out.append(
                            f"{where}, {view}: the {kind} spots these images more easily ({ours:.2f}) than the "
                            f"no-learning baseline {b}'s ({theirs:.2f})."
                        )
            m = row.get("memorization")
            if m and m["near_copy_share"] > NEAR_COPY_WARNING_SHARE:
                out.append(
                    f"{where}, {view}: {100 * m['near_copy_share']:.0f} % of the outputs are near-copies of training "
                    "images (no copying: about 5 %)."
                )
    return out

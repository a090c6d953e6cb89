"""What segmentation_dice.py and classifier_auc.py share: data-set specs, seeded training
subsets, the resumable result store, and the report (JSON, Markdown tables, box plots).

An experiment is a grid of cells (test set, fraction, arm, seed). One training run (fraction,
arm, seed) fills the cells of every test set; each cell is a JSON file written as soon as its
run finishes, so an interrupted experiment continues where it stopped. The statistics live in
:mod:`gan_augment.evidence_stats`.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from gan_augment import evidence_stats as es
from gan_augment.data import DermDataset, concat_datasets, open_dataset

SETTINGS_FILE = "settings.json"


# ----------------------------------------------------------------------------- data sets


@dataclass
class DataSpec:
    """``PATH[@SPLIT]``: a folder ``open_dataset`` reads and its split(s), ``+``-joined."""

    path: str
    split: str
    name: str = ""

    @classmethod
    def parse(cls, text: str, default_split: str) -> DataSpec:
        path, sep, split = text.rpartition("@")
        if not sep:
            path, split = text, default_split
        if not path or not split:
            raise ValueError(f"data spec {text!r}: expected PATH or PATH@SPLIT (e.g. ../shared/data/ham10000@test)")
        name = f"{Path(path).resolve().name}-{split.replace('+', '-')}"
        return cls(path, split, name)

    def open(self, **kwargs: Any) -> DermDataset:
        parts = []
        for split in self.split.split("+"):
            try:
                parts.append(open_dataset(self.path, split, **kwargs))
            except (FileNotFoundError, ValueError) as error:
                raise SystemExit(f"cannot open {self.path}@{split}: {error}") from None
        return concat_datasets(parts)

    def as_dict(self) -> dict[str, str]:
        return {"path": str(Path(self.path).resolve()), "split": self.split, "name": self.name}


def name_test_sets(specs: Sequence[DataSpec]) -> None:
    """Give every test set a distinct name (the folder + split; a number when two collide)."""
    seen: dict[str, int] = {}
    for spec in specs:
        base = spec.name
        seen[base] = seen.get(base, 0) + 1
        if seen[base] > 1:
            spec.name = f"{base}-{seen[base]}"


def check_disjoint(train: DermDataset, tests: dict[str, DermDataset]) -> None:
    """Refuse a test set that shares image ids with the training set (a leak)."""
    train_ids = {r.id for r in train.records}
    for name, test in tests.items():
        shared = train_ids & {r.id for r in test.records}
        if shared:
            raise SystemExit(
                f"test set {name} shares {len(shared)} image ids with the training set (e.g. {sorted(shared)[:3]}): "
                "evaluate on images the models never saw"
            )


def capped(dataset: DermDataset, n: int | None, seed: int = 0) -> DermDataset:
    """At most ``n`` records of ``dataset`` (a seeded choice, in the original order)."""
    if n is None or n >= len(dataset):
        return dataset
    keep = np.sort(np.random.default_rng(seed).permutation(len(dataset))[:n])
    return dataset.subset(keep.tolist())


def ids_digest(dataset: DermDataset) -> str:
    return hashlib.sha256("\n".join(r.id for r in dataset.records).encode()).hexdigest()[:16]


def fraction_subset(n: int, fraction: float, seed: int, labels: Sequence[int] | None = None) -> list[int]:
    """Indices of a seeded ``fraction`` of ``n`` training items, the same for every arm.

    The subsets of one seed are nested (10 % inside 25 % inside 100 %): each is the head of
    one seeded permutation. With ``labels``, per class (stratified; every present class keeps
    at least one item).
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fractions must lie in (0, 1], got {fraction}")
    rng = np.random.default_rng([seed, 14])
    if labels is None:
        k = max(1, round(fraction * n))
        return sorted(rng.permutation(n)[:k].tolist())
    labels = np.asarray(labels)
    chosen: list[int] = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        order = members[rng.permutation(members.size)]
        chosen.extend(order[: max(1, round(fraction * members.size))].tolist())
    return sorted(chosen)


def parse_fractions(text: str) -> list[float]:
    try:
        fractions = [float(f) for f in text.split(",") if f.strip()]
    except ValueError:
        raise SystemExit(f"--fractions: expected comma-separated numbers such as 0.1,0.25,1.0, got {text!r}") from None
    if not fractions or any(not 0 < f <= 1 for f in fractions):
        raise SystemExit(f"--fractions must lie in (0, 1], got {text!r}")
    return sorted(set(fractions))


def parse_seeds(text: str) -> list[int]:
    """``N`` (seeds 0..N-1), ``A-B`` (inclusive) or a comma list."""
    try:
        if "," in text:
            seeds = sorted({int(s) for s in text.split(",") if s.strip()})
        elif "-" in text.strip("-"):
            a, b = text.split("-")
            seeds = list(range(int(a), int(b) + 1))
        else:
            seeds = list(range(int(text)))
    except ValueError:
        raise SystemExit(f"--seeds: expected N, A-B or a comma list, got {text!r}") from None
    if not seeds or min(seeds) < 0:
        raise SystemExit(f"--seeds: need at least one seed >= 0, got {text!r}")
    return seeds


def parse_arms(text: str, known: Sequence[str]) -> list[str]:
    arms = [a.strip() for a in text.split(",") if a.strip()]
    unknown = [a for a in arms if a not in known]
    if unknown or not arms:
        raise SystemExit(f"--arms: unknown {unknown}; choose from {list(known)}")
    return [a for a in known if a in arms]


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def fraction_key(fraction: float) -> str:
    return f"{fraction:g}"


# ----------------------------------------------------------------------------- configuration


def common_parser(doc: str, presets: dict[str, Any], script: str, arms: Sequence[str], train: str, tests: Sequence[str],
                  train_alias: str) -> tuple[argparse.ArgumentParser, argparse._ArgumentGroup]:
    """The options both scripts share, and the group for the overrides of a preset."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", choices=sorted(presets), default="quick", help="preset (default quick); the flags below override it")
    p.add_argument("--train-data", train_alias, default=train, help=f"PATH[@SPLIT] of the training set (default {train})")
    p.add_argument("--test-data", action="append", default=None,
                   help="PATH[@SPLIT] a test set (repeatable; any layout gan_augment.data.open_dataset reads; "
                        "SPLIT may join several with +; default: " + ", ".join(tests) + ")")
    p.add_argument("--fractions", default="0.1,0.25,1.0", help="fractions of the training set (default 0.1,0.25,1.0)")
    p.add_argument("--seeds", default="5", help="N (seeds 0..N-1, default 5), A-B, or a comma list")
    p.add_argument("--arms", default=",".join(arms), help="comma list of arms (default all)")
    p.add_argument("--out", default=None, help=f"result folder (default outputs/{script}-<config>)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--report-only", action="store_true", help="only rewrite the report from the finished cells")
    group = p.add_argument_group("overrides of the preset")
    group.add_argument("--image-size", type=int)
    group.add_argument("--steps", type=int, help="optimiser steps per run (the same at every fraction)")
    group.add_argument("--batch-size", type=int)
    group.add_argument("--lr", type=float)
    group.add_argument("--max-train-images", type=int, help="cap the training set (a seeded choice; for smoke tests)")
    group.add_argument("--max-test-images", type=int, help="cap every test set (a seeded choice; for smoke tests)")
    group.add_argument("--n-boot", type=int, help="bootstrap replicates")
    return p, group


class Plan(NamedTuple):
    cfg: dict[str, Any]
    overrides: dict[str, Any]
    fractions: list[float]
    seeds: list[int]
    arms: list[str]
    device: torch.device
    out: Path
    train: DataSpec
    tests: list[DataSpec]


def plan(args: argparse.Namespace, presets: dict[str, dict[str, Any]], arms: Sequence[str], script: str, default_tests: Sequence[str]) -> Plan:
    """What the command line asks for: the preset with its overrides, the grid and the data specs."""
    cfg, overrides = resolve_config(presets, args.config, {k: getattr(args, k) for k in presets[args.config]})
    tests = [DataSpec.parse(t, "test") for t in (args.test_data or default_tests)]
    name_test_sets(tests)
    return Plan(
        cfg, overrides, parse_fractions(args.fractions), parse_seeds(args.seeds), parse_arms(args.arms, arms), pick_device(args.device),
        Path(args.out or f"outputs/{script}-{args.config}"), DataSpec.parse(args.train_data, "training"), tests,
    )


def resolve_config(presets: dict[str, dict[str, Any]], name: str, given: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The preset ``name`` with the command-line values that were given (not None) on top;
    returns (settings, overrides)."""
    overrides = {k: v for k, v in given.items() if v is not None and presets[name].get(k) != v}
    return {**presets[name], **{k: v for k, v in given.items() if v is not None}}, overrides


def base_settings(script: str, config: str, cfg: dict[str, Any], overrides: dict[str, Any], report_only: Sequence[str]) -> dict[str, Any]:
    """What a cell's result depends on (without ``report_only`` keys such as the bootstrap size)."""
    return {
        "script": script,
        "version": 1,
        "config": config,
        "overrides": {k: v for k, v in overrides.items() if k not in report_only},
        **{k: v for k, v in cfg.items() if k not in report_only},
    }


def config_line(script: str, config: str, overrides: dict[str, Any]) -> str:
    extra = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in overrides.items())
    return f"`{script} --config {config}`" + (f" with overrides `{extra}`" if extra else " (no overrides)")


def seconds_text(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


# ----------------------------------------------------------------------------- the store


class SettingsMismatch(SystemExit):
    pass


class CellStore:
    """``out/cells/<test>/<fraction>/<arm>/seed<k>.json``, one per finished cell, and
    ``out/settings.json``: everything that determines a cell's result. A rerun with the same
    ``out`` and other settings is refused (the old cells would mix with the new)."""

    def __init__(self, out: str | os.PathLike, settings: dict[str, Any]) -> None:
        self.out = Path(out)
        self.settings = json.loads(json.dumps(settings))  # normalised (tuples -> lists)
        path = self.out / SETTINGS_FILE
        if path.is_file():
            old = json.loads(path.read_text())
            if old != self.settings:
                keys = sorted(k for k in set(old) | set(self.settings) if old.get(k) != self.settings.get(k))
                lines = "\n".join(f"  {k}: {old.get(k)!r} (in {path}) != {self.settings.get(k)!r} (now)" for k in keys)
                raise SettingsMismatch(
                    f"{self.out} holds results of other settings:\n{lines}\n"
                    "Rerun with the settings of that folder to resume it, or pass another --out for a new experiment."
                )
        else:
            self.out.mkdir(parents=True, exist_ok=True)
            _write_json(path, self.settings)

    def path(self, test: str, fraction: float, arm: str, seed: int) -> Path:
        return self.out / "cells" / test / fraction_key(fraction) / arm / f"seed{seed}.json"

    def done(self, test: str, fraction: float, arm: str, seed: int) -> bool:
        return self.path(test, fraction, arm, seed).is_file()

    def write(self, test: str, fraction: float, arm: str, seed: int, record: dict[str, Any]) -> None:
        _write_json(self.path(test, fraction, arm, seed), {"test": test, "fraction": fraction, "arm": arm, "seed": seed, **record})

    def log_setup(self, **seconds: float) -> None:
        """Append this session's set-up timings (loading, generation, features) to ``setup_timings.json``."""
        path = self.out / "setup_timings.json"
        sessions = json.loads(path.read_text()) if path.is_file() else []
        sessions.append({"when": datetime.datetime.now().isoformat(timespec="seconds"), **{k: round(v, 2) for k, v in seconds.items()}})
        _write_json(path, sessions)

    def read(self, test: str, fraction: float, arm: str, seed: int) -> dict[str, Any]:
        return json.loads(self.path(test, fraction, arm, seed).read_text())

    def write_extra(self, name: str, data: Any) -> None:
        _write_json(self.out / name, data)


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


def rounded(values: Any, digits: int = 6) -> Any:
    """Floats (nested lists / arrays) to ``digits`` significant digits, for compact JSON."""
    array = np.asarray(values, dtype=float)
    return np.vectorize(lambda v: float(f"{v:.{digits}g}"), otypes=[float])(array).tolist() if array.size else array.tolist()


def pending_runs(
    store: CellStore, tests: Sequence[str], fractions: Sequence[float], arms: Sequence[str], seeds: Sequence[int]
) -> list[tuple[int, float, str]]:
    """(seed, fraction, arm) training runs with a missing cell, seed-major (so an interrupted
    experiment holds complete, paired seeds)."""
    return [(s, f, a) for s in seeds for f in fractions for a in arms if not all(store.done(t, f, a, s) for t in tests)]


class Progress:
    """Prints each finished run with an estimate of the time left."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.seconds = total, 0, 0.0

    def finished(self, label: str, seconds: float, scores: str) -> None:
        self.done += 1
        self.seconds += seconds
        left = self.seconds / self.done * (self.total - self.done)
        print(f"[{self.done}/{self.total}] {label}: {scores} ({seconds:.0f} s; about {seconds_text(left)} left)", flush=True)


# ----------------------------------------------------------------------------- the report


@dataclass
class MetricSpec:
    """How one metric of one test set is read from the cells and compared."""

    name: str  # e.g. "Dice", "melanoma AUC"
    values: Callable[[dict[str, Any]], np.ndarray]  # cell record -> (N,) or (N, C) per-image values
    metric: es.Metric | None = None  # None: the mean over images
    strata: np.ndarray | None = None
    per_image_wilcoxon: bool = False  # per-image values are additive (Dice): a rank test over images too
    note: str = ""


@dataclass
class Block:
    test: str
    fraction: float
    metric: MetricSpec
    seeds: list[int]
    arms: dict[str, dict[str, Any]] = field(default_factory=dict)
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    per_seed: dict[str, list[float]] = field(default_factory=dict)


def analyse(
    store: CellStore,
    *,
    tests: Sequence[str],
    fractions: Sequence[float],
    arms: Sequence[str],
    seeds: Sequence[int],
    metrics: dict[str, list[MetricSpec]],
    baselines: Sequence[str] | Mapping[str, Sequence[str]],
    n_boot: int,
) -> list[Block]:
    """Per (test set, fraction, metric): every arm's summary and every arm against every
    baseline (or, for a mapping ``{baseline: arms}``, only those arms against it), over the
    seeds for which every arm has a cell (so that all tests are paired)."""
    against = dict(baselines) if isinstance(baselines, Mapping) else {b: list(arms) for b in baselines}
    blocks = []
    for test in tests:
        for fraction in fractions:
            seeds_ok = [s for s in seeds if all(store.done(test, fraction, a, s) for a in arms)]
            if not seeds_ok:
                continue
            records = {a: [store.read(test, fraction, a, s) for s in seeds_ok] for a in arms}
            for spec in metrics[test]:
                block = Block(test, fraction, spec, seeds_ok)
                values = {a: np.stack([np.asarray(spec.values(r), dtype=float) for r in records[a]]) for a in arms}
                for a in arms:
                    block.arms[a] = es.summarize(values[a], metric=spec.metric, strata=spec.strata, n_boot=n_boot)
                    block.per_seed[a] = block.arms[a]["per_seed"]
                for base, compared in against.items():
                    if base not in arms:
                        continue
                    for a in arms:
                        if a == base or a not in compared:
                            continue
                        block.comparisons.append(_compare(spec, values[a], values[base], a, base, n_boot))
                adjusted = es.holm([c["p_bootstrap"] for c in block.comparisons])
                for c, p in zip(block.comparisons, adjusted):
                    c["p_bootstrap_holm"] = p
                blocks.append(block)
    return blocks


def _compare(spec: MetricSpec, a: np.ndarray, b: np.ndarray, arm: str, base: str, n_boot: int) -> dict[str, Any]:
    boot = es.paired_bootstrap(a, b, metric=spec.metric, strata=spec.strata, n_boot=n_boot)
    seeds_a, seeds_b = es.per_seed(a, spec.metric), es.per_seed(b, spec.metric)
    row = {
        "arm": arm,
        "baseline": base,
        "difference": boot.difference,
        "ci_low": boot.low,
        "ci_high": boot.high,
        "p_bootstrap": boot.p_value,
        "wilcoxon_seeds": es.wilcoxon_signed_rank(seeds_a, seeds_b).as_dict(),
        "seeds_better": int((seeds_a > seeds_b).sum()),
        "seeds_worse": int((seeds_a < seeds_b).sum()),
    }
    if spec.per_image_wilcoxon:
        row["wilcoxon_images"] = es.wilcoxon_signed_rank(a.mean(axis=0), b.mean(axis=0)).as_dict()
    return row


def _fmt(v: float, digits: int = 3) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def _fmt_p(p: float) -> str:
    if p is None or math.isnan(p):
        return "n/a"
    return f"{p:.2g}" if p >= 0.001 else "<0.001"


def markdown(blocks: Sequence[Block], *, title: str, provenance: str, sizes: dict[str, int], fraction_sizes: dict[str, int]) -> str:
    lines = [f"# {title}", "", provenance, ""]
    lines += [
        (
            "Mean over seeds of the metric on the whole test set; std over seeds (ddof 1); 95 % CI: percentile bootstrap "
            "over seeds and test images. Δ: arm minus baseline, paired (same seeds, same training subset, same test "
            "images); p (bootstrap): paired two-level bootstrap, two-sided; Holm: adjusted over the comparisons of that "
            "table; Wilcoxon: signed-rank test over seeds (5 seeds cannot go below p = 0.0625) and, where the metric is "
            "a mean over images, over test images (per-image values averaged over seeds)."
        ),
        "",
    ]
    for block in blocks:
        spec, fkey = block.metric, fraction_key(block.fraction)
        lines.append(
            f"## {block.test} ({sizes[block.test]} images) — {block.fraction:.0%} of the training set "
            f"({fraction_sizes.get(fkey, '?')} images) — {spec.name}"
        )
        lines.append("")
        lines.append(f"{provenance} Seeds: {', '.join(map(str, block.seeds))}." + (f" {spec.note}" if spec.note else ""))
        lines.append("")
        lines.append(f"| arm | {spec.name} mean ± std | 95 % CI | per seed |")
        lines.append("|---|---|---|---|")
        for arm, s in block.arms.items():
            per = ", ".join(_fmt(v) for v in s["per_seed"])
            lines.append(f"| {arm} | {_fmt(s['mean'])} ± {_fmt(s['std'])} | [{_fmt(s['ci_low'])}, {_fmt(s['ci_high'])}] | {per} |")
        lines.append("")
        if block.comparisons:
            has_images = any("wilcoxon_images" in c for c in block.comparisons)
            head = "| arm | vs | Δ | 95 % CI of Δ | p (bootstrap) | p (Holm) | p (Wilcoxon, seeds) | seeds better / worse |"
            if has_images:
                head += " p (Wilcoxon, images) |"
            lines.append(head)
            lines.append("|---" * (head.count("|") - 1) + "|")
            for c in block.comparisons:
                row = (
                    f"| {c['arm']} | {c['baseline']} | {c['difference']:+.3f} | [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}] | "
                    f"{_fmt_p(c['p_bootstrap'])} | {_fmt_p(c['p_bootstrap_holm'])} | {_fmt_p(c['wilcoxon_seeds']['p_value'])} | "
                    f"{c['seeds_better']} / {c['seeds_worse']} |"
                )
                if has_images:
                    row += f" {_fmt_p(c.get('wilcoxon_images', {}).get('p_value', math.nan))} |"
                lines.append(row)
            lines.append("")
        lines.append(f"![{block.test} {fkey} {spec.name}]({plot_name(block)})")
        lines.append("")
    return "\n".join(lines)


def plot_name(block: Block) -> str:
    metric = "".join(ch if ch.isalnum() else "-" for ch in block.metric.name.lower()).strip("-")
    return f"plots/{block.test}_f{fraction_key(block.fraction)}_{metric}.png"


def write_report(
    store: CellStore,
    blocks: Sequence[Block],
    *,
    title: str,
    provenance: str,
    sizes: dict[str, int],
    fraction_sizes: dict[str, int],
    extra: dict[str, Any],
) -> None:
    """``summary.json``, ``report.md`` and ``plots/*.png`` into the store's folder."""
    out = store.out
    summary = {
        "title": title,
        "provenance": provenance,
        "settings": store.settings,
        "written": datetime.datetime.now().isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "machine": platform.platform(),
        **extra,
        "blocks": [
            {
                "test": b.test,
                "fraction": b.fraction,
                "metric": b.metric.name,
                "seeds": b.seeds,
                "arms": b.arms,
                "comparisons": b.comparisons,
                "plot": plot_name(b),
            }
            for b in blocks
        ],
    }
    _write_json(out / "summary.json", summary)
    (out / "report.md").write_text(markdown(blocks, title=title, provenance=provenance, sizes=sizes, fraction_sizes=fraction_sizes))
    for b in blocks:
        box_plot(
            out / plot_name(b),
            b.per_seed,
            title=f"{b.test}, {b.fraction:.0%} of training set, {len(b.seeds)} seeds",
            subtitle=provenance_short(store.settings),
            ylabel=b.metric.name,
        )


def provenance_short(settings: dict[str, Any]) -> str:
    return f"config {settings.get('config', '?')}" + (" + overrides" if settings.get("overrides") else "")


# ----------------------------------------------------------------------------- box plots


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def box_plot(path: str | os.PathLike, groups: dict[str, Sequence[float]], *, title: str, subtitle: str = "", ylabel: str = "") -> None:
    """A PNG box plot, one box per group (quartiles, median, whiskers to the furthest point
    within 1.5 IQR, every value drawn as a dot). Drawn with Pillow (no matplotlib needed)."""
    names = list(groups)
    data = [np.asarray(groups[n], dtype=float) for n in names]
    finite = np.concatenate([d[np.isfinite(d)] for d in data]) if data else np.array([])
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    pad = max(0.05 * (hi - lo), 1e-3)
    lo, hi = lo - pad, hi + pad
    box_w, left, right, top, bottom = 96, 70, 20, 66, 64
    width, height = left + right + box_w * max(1, len(names)), 380
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    small, big = _font(11), _font(14)
    y_of = lambda v: top + (hi - v) / (hi - lo) * (height - top - bottom)
    draw.text((left, 8), title, fill="black", font=big)
    draw.text((left, 28), subtitle, fill=(90, 90, 90), font=small)
    draw.line([(left, top), (left, height - bottom)], fill="black")
    for t in np.linspace(lo, hi, 6):
        y = y_of(t)
        draw.line([(left - 4, y), (width - right, y)], fill=(225, 225, 225))
        draw.text((4, y - 7), f"{t:.3f}", fill="black", font=small)
    draw.text((4, top - 22), ylabel, fill="black", font=small)
    for k, (name, d) in enumerate(zip(names, data)):
        d = d[np.isfinite(d)]
        cx = left + box_w * k + box_w // 2
        draw.text((cx - draw.textlength(name, font=small) / 2, height - bottom + 8), name, fill="black", font=small)
        if d.size == 0:
            continue
        q1, med, q3 = np.quantile(d, [0.25, 0.5, 0.75])
        iqr = q3 - q1
        low, high = d[d >= q1 - 1.5 * iqr].min(), d[d <= q3 + 1.5 * iqr].max()
        draw.line([(cx, y_of(high)), (cx, y_of(q3))], fill="black")
        draw.line([(cx, y_of(q1)), (cx, y_of(low))], fill="black")
        for v in (low, high):
            draw.line([(cx - 10, y_of(v)), (cx + 10, y_of(v))], fill="black")
        draw.rectangle([(cx - 24, y_of(q3)), (cx + 24, y_of(q1))], outline="black", fill=(190, 210, 235))
        draw.line([(cx - 24, y_of(med)), (cx + 24, y_of(med))], fill=(200, 40, 40), width=2)
        for j, v in enumerate(d):
            x = cx - 16 + 32 * ((j + 0.5) / d.size)
            draw.ellipse([(x - 2.5, y_of(v) - 2.5), (x + 2.5, y_of(v) + 2.5)], fill=(30, 30, 30))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


class Timer:
    def __enter__(self) -> Timer:  # noqa: PYI034
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start

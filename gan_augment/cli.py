"""``gan-augment``: list | pretrained | train | export | snapshot | card | sample | evaluate | push | demo."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _parse_options(pairs: list[str]) -> dict[str, Any]:
    options = {}
    for pair in pairs:
        if "=" not in pair:
            raise SystemExit(f"--set expects key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        options[key.strip()] = _parse_value(value)
    return options


def cmd_list(args: argparse.Namespace) -> int:
    # lazy: each command imports what it needs, so `gan-augment --help` / `list` start fast
    from gan_augment.models import get_spec, list_models

    for name in list_models():
        spec = get_spec(name)
        print(f"{name:14s} {spec.task:15s} {spec.summary}  [{spec.paper}]")
    return 0


def cmd_pretrained(args: argparse.Namespace) -> int:
    # lazy: each command imports what it needs, so `gan-augment --help` / `list` start fast
    from gan_augment.hub import list_pretrained

    entries = list_pretrained()
    if not entries:
        print("no bundled checkpoints found")
    for e in entries:
        print(f"{e['name']:28s} {e['architecture']:10s} {e['image_size']:>4}px  {e['data'] or '':22s} hub: {e['hub_id']}")
    return 0


CPU_MAX_MINUTES = 240.0
"""A training run on the CPU stops (checkpointed) after this many minutes unless
``--max-minutes`` says otherwise: the papers' schedules take days on a CPU."""


def run_minutes(max_minutes: float | None, device: str, tiny: bool) -> float | None:
    """The wall-time limit of a training call: ``--max-minutes`` as given (0: none), else
    :data:`CPU_MAX_MINUTES` on the CPU (not for ``--tiny`` smoke runs), else none."""
    if max_minutes is not None:
        if max_minutes < 0:
            raise SystemExit(f"--max-minutes must be >= 0 (0: no limit), got {max_minutes}")
        return max_minutes or None
    from gan_augment.devices import resolve_device  # lazy: torch

    if tiny or resolve_device(device).type != "cpu":
        return None
    print(
        f"on the CPU this call stops after {CPU_MAX_MINUTES / 60:.0f} h (checkpointed; --resume continues; "
        "--max-minutes sets another limit, 0 none): the progress bar shows when"
    )
    return CPU_MAX_MINUTES


def cmd_train(args: argparse.Namespace) -> int:
    # lazy: each command imports what it needs, so `gan-augment --help` / `list` start fast
    from gan_augment.data import concat_datasets, open_dataset
    from gan_augment.distributed import current_world
    from gan_augment.models import get_spec
    from gan_augment.training import TrainConfig, fit, make_recipe, make_training_data, seed_everything

    spec = get_spec(args.model)
    options = _parse_options(args.set)
    if args.tiny:
        options = {**spec.tiny_generator_config, **spec.tiny_hparams, **options}
    if args.diffaugment:
        options["diffaugment"] = args.diffaugment
    size = args.size or (spec.tiny_image_size if args.tiny else spec.default_image_size)
    if len(args.data) > 1 and args.split != "training":
        raise SystemExit("several --data folders train on their 'training' splits only")
    data = concat_datasets([open_dataset(path, args.split) for path in args.data])
    if spec.needs_mask and spec.task != "noise_to_image" and not data.has_masks:
        raise SystemExit(f"{args.model} trains with lesion masks but {', '.join(args.data)} has none")
    if args.classes:
        data = data.with_classes(args.classes.split(","))
    if args.limit:
        data = data.subset(range(min(args.limit, len(data))))
    if args.conditional:
        if not data.class_names:
            raise SystemExit(f"--conditional needs class labels, but {', '.join(args.data)} has none (several --data sets with different classes carry no labels)")
        options.setdefault("num_classes", len(data.class_names))
    seed_everything(args.seed)
    recipe = make_recipe(args.model, size, options)
    warm = None
    if args.warm_start:
        if args.resume:
            raise SystemExit("--warm-start starts a new run from a snapshot's weights; --resume continues a run: pick one")
        from gan_augment.snapshot import warm_start  # lazy: only with --warm-start

        warm = warm_start(recipe, args.warm_start)
        print(f"warm start from {args.warm_start}: step {warm['step']}, {warm['train_seconds'] / 60:.1f} min of earlier training ({warm['note']})")
    view = make_training_data(args.model, data, size, args.seed, args.jitter)
    if not args.no_preload:
        view.preload()
    out = args.out or f"runs/{args.model}-{size}"
    config = TrainConfig(
        out_dir=out,
        steps=args.steps,
        epochs=args.epochs if args.steps is None else None,
        batch_size=args.batch_size,
        seed=args.seed,
        num_workers=args.workers,
        device=args.device,
        amp=not args.no_amp,
        sample_every=args.sample_every,
        checkpoint_every=args.checkpoint_every,
        max_minutes=run_minutes(args.max_minutes, args.device, args.tiny),
        max_session_steps=args.max_session_steps,
        resume=args.resume,
        allow_data_change=args.allow_data_change,
    )
    info = getattr(data, "info", None)
    extra = {
        "data": {
            "name": info.name if info else type(data).__name__,
            "license": info.license if info else "unknown",
            "credit": info.credit if info else "",
            "description": f"{len(data)} images of the {args.split} split at {size}x{size}, read from the official layout",
        },
        "class_names": list(data.class_names) if data.class_names else None,
        # what --resume compares: continuing on other data would silently mix two runs
        "data_settings": {
            "data": [str(Path(p).resolve()) for p in args.data], "split": args.split, "limit": args.limit,
            "classes": args.classes, "jitter": args.jitter, "conditional": args.conditional,
        },
    }
    if warm is not None:
        extra["warm_start"] = warm
    command = args.record_command or "gan-augment " + " ".join(shlex.quote(a) for a in args.argv)
    result = fit(recipe, view, config, command=command, extra_meta=extra)
    state = "finished" if result.finished else "stopped (resume with --resume)"
    if current_world().is_main:
        print(f"{state} at step {result.step}/{result.total_steps} after {result.train_seconds / 60:.1f} min; run folder: {result.out_dir}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    # lazy: each command imports what it needs, so `gan-augment --help` / `list` start fast
    from gan_augment.export import export_run

    dest = export_run(
        args.run,
        args.to,
        dtype=args.dtype,
        hub_id=args.hub_id,
        license=args.license,
        license_name=args.license_name,
        evaluation=args.evaluation,
        samples_image=args.samples,
        samples_caption=args.samples_caption,
        network=args.network,
    )
    print(f"wrote {dest} (config.json, model.safetensors, README.md)")
    return 0


def cmd_snapshot(args: argparse.Namespace) -> int:
    # lazy: each command imports what it needs, so `gan-augment --help` / `list` start fast
    from gan_augment.snapshot import snapshot_size_mb, write_snapshot

    path = write_snapshot(args.run, args.to, ema_only=args.ema_only)
    print(f"wrote {path} ({snapshot_size_mb(path)} MB): networks in float16, for --warm-start on another machine")
    return 0


def cmd_card(args: argparse.Namespace) -> int:
    # lazy: each command imports what it needs, so `gan-augment --help` / `list` start fast
    from gan_augment.export import update_card

    notes = [Path(args.notes).read_text().strip()] if args.notes else None
    if notes:
        notes = [line.strip("- ").strip() for line in notes[0].splitlines() if line.strip()]
    evaluation = args.evaluation
    if args.realism:
        if evaluation:
            raise SystemExit("give --evaluation or --realism, not both")
        from gan_augment.realism_report import card_evaluation  # lazy: as every command's imports

        results = [json.loads((Path(r) / "realism.json").read_text()) for r in args.realism]
        candidate = args.candidate or Path(args.folder).resolve().name
        missing = [r for r, res in zip(args.realism, results) if candidate not in res["candidates"]]
        if missing:
            raise SystemExit(f"{candidate!r} is not a row of {missing}: pass --candidate NAME")
        block = card_evaluation(results, candidate, baselines=tuple(args.baselines.split(",")) if args.baselines else ())
        evaluation = Path(tempfile.mkdtemp()) / "evaluation.json"  # update_card copies it into config.json
        evaluation.write_text(json.dumps(block, indent=2) + "\n")
    folder = update_card(
        args.folder, evaluation=evaluation, samples_image=args.samples, samples_caption=args.samples_caption, notes=notes
    )
    print(f"re-rendered {folder / 'README.md'}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    # lazy: each command imports what it needs, so `gan-augment --help` / `list` start fast
    import numpy as np
    import torch

    from gan_augment.data import read_mask
    from gan_augment.masks import geometric_mask
    from gan_augment.synthesizer import from_pretrained
    from gan_augment.visualize import save_grid

    if args.bank:
        return _sample_bank(args)
    synth = from_pretrained(args.model, device=args.device)
    size = args.size or synth.image_size
    if synth.task == "noise_to_image":
        raise SystemExit("sampling from noise generators: use the Python API g.sample(n, labels=..., seed=...)")
    if args.masks:
        files = sorted(p for p in Path(args.masks).iterdir() if p.suffix.lower() in (".png", ".bmp", ".jpg"))[: args.n]
        masks = [read_mask(p) for p in files]
        masks = [np.asarray(torch.nn.functional.interpolate(torch.from_numpy(m)[None, None].float(), size=(size, size), mode="nearest-exact")[0, 0]) for m in masks]
    else:
        masks = [geometric_mask(size, seed=args.seed + i) for i in range(args.n)]
    mask_t = torch.stack([torch.from_numpy(np.asarray(m)).float() for m in masks]).unsqueeze(1)
    images = synth.translate(masks=mask_t, seed=args.seed)
    out = Path(args.out)
    path = save_grid([mask_t, images], out, titles=["mask", "synthetic"])
    print(f"wrote {path}: {len(masks)} samples from {args.model} at {size}px")
    return 0


def _sample_bank(args: argparse.Namespace) -> int:
    """``sample --bank``: a sharded SyntheticBank, this process's shards of it under torchrun."""
    # lazy: each command imports what it needs, so `gan-augment --help` / `list` start fast
    from gan_augment.devices import resolve_device
    from gan_augment.distributed import World, current_world
    from gan_augment.mixers import SyntheticBank
    from gan_augment.synthesizer import from_pretrained

    if args.masks:
        raise SystemExit("--bank draws its masks from random shapes; for masks from data use SyntheticBank.build(masks=..., real=...)")
    if (args.rank is None) != (args.world_size is None):
        raise SystemExit("give both --rank and --world-size, or neither (then torchrun's RANK / WORLD_SIZE are used)")
    world = current_world() if args.rank is None else World(args.rank, args.world_size, 0)
    device = resolve_device(args.device)
    if device.type == "cuda" and device.index is None and world.distributed:
        device = resolve_device(f"cuda:{world.local_rank}")  # one GPU per process on this machine
    synth = from_pretrained(args.model, device=device)
    bank = SyntheticBank.build(
        synth, args.bank, args.n, shard_size=args.shard_size, seed=args.seed, image_size=args.size,
        rank=world.rank, world_size=world.size, progress=not args.quiet,
    )
    if bank is None:
        print(f"process {world.rank} of {world.size}: its shards of {args.bank} are written; the last process to finish writes bank.json")
    else:
        print(f"wrote {args.bank}: {len(bank)} samples from {args.model} in {len(bank.shards)} shards (bank.json)")
    return 0


BASELINES = ("copy-paste", "copy-paste-harmonized", "identity")


def _labels_for(synth: Any, heldout: Any) -> list[int]:
    """The held-out set's labels as the model's class indices (matched by class name when
    both record names); empty for unconditional models."""
    if not getattr(synth.network, "num_classes", 0):
        return []
    labels = [x for x in heldout.labels if x is not None]
    if not labels:
        raise SystemExit(f"{synth.architecture} is class-conditional but the held-out set has no labels")
    ours, theirs = list(synth.class_names or []), list(heldout.class_names or [])
    if ours and theirs and ours != theirs:
        missing = sorted({theirs[x] for x in labels} - set(ours))
        if missing:
            raise SystemExit(f"the held-out classes {missing} are unknown to the model (it knows {ours})")
        return [ours.index(theirs[x]) for x in labels]
    return labels


def _evaluation_domain(choice: str, synths: dict[str, Any]) -> str | None:
    """``--domain``: ``add`` / ``remove`` (the translators' own domains) or ``None`` (whole
    images). ``auto`` takes the direction the skin <-> lesion translators' checkpoints record
    (``Synthesizer.direction``); models without one are measured on whole images."""
    translators = {name: s.direction for name, s in synths.items() if s.spec.domain_direction is not None}
    if choice == "auto":
        unknown = sorted(name for name, d in translators.items() if d is None)
        if unknown:
            raise SystemExit(
                f"{', '.join(unknown)} translate(s) between skin and lesion, but the checkpoint does not record which way: "
                "pass --domain add or --domain remove"
            )
        found = sorted(set(translators.values()))
        if len(found) > 1:
            raise SystemExit(f"the models add and remove lesions ({translators}): evaluate each direction in its own run")
        return found[0] if found else None
    domain = None if choice == "off" else choice
    wrong = sorted(name for name, d in translators.items() if domain and d and d != domain)
    if wrong:
        raise SystemExit(f"{', '.join(wrong)}: the checkpoint does not {domain} lesions, so --domain {domain} does not fit")
    return domain


def _check_domain_fits(domain: str | None, synths: dict[str, Any]) -> None:
    """``--domain auto`` picked a translator's protocol: a whole-image model in the same run
    (pix2pix, pix2pixHD, inpaint) would be scored there without the user having asked for it.
    (An explicit ``--domain add`` may compare e.g. the inpainter on skin patches on purpose.)"""
    if domain is None:
        return
    others = sorted(name for name, s in synths.items() if s.spec.domain_direction is None and s.task != "noise_to_image")
    if others:
        raise SystemExit(
            f"{', '.join(others)} work on whole images, not in the {domain} protocol of skin <-> lesion translators: "
            "evaluate them in their own run, or say which protocol all models get (--domain add|remove|off)"
        )


def cmd_evaluate(args: argparse.Namespace) -> int:
    # lazy: each command imports what it needs, so `gan-augment --help` / `list` start fast
    import torch

    from gan_augment.data import concat_datasets, open_dataset
    from gan_augment.devices import resolve_device
    from gan_augment.metrics import FeatureExtractor
    from gan_augment.realism import (
        copy_paste_candidate,
        evaluate,
        identity_candidate,
        markdown_report,
        noise_candidate,
        synthesizer_candidate,
        write_report,
    )
    from gan_augment.synthesizer import from_pretrained

    if args.threads:
        torch.set_num_threads(args.threads)
    split = args.split or ("test" if (Path(args.data) / "HAM10000_metadata.csv").is_file() else "validation")
    baselines = [b.strip() for b in args.baselines.split(",") if b.strip()]
    unknown = sorted(set(baselines) - set(BASELINES))
    if unknown:
        raise SystemExit(f"unknown baselines {unknown}; choose from {', '.join(BASELINES)}")
    models = [m for m in args.models if m != "none"]
    if not models and not baselines:
        raise SystemExit("nothing to evaluate: name a MODEL or --baselines")
    heldout = open_dataset(args.data, split)
    device = resolve_device(args.device)
    candidates = {}
    views = [v.strip() for v in args.views.split(",") if v.strip()]
    synths = {}
    for model in models:
        name = Path(model).name or model
        synths[name if name not in synths else model] = from_pretrained(model, device=device)
    domain = _evaluation_domain(args.domain, synths)
    if args.domain == "auto":
        _check_domain_fits(domain, synths)
    for name, synth in synths.items():
        if synth.task == "noise_to_image":
            if domain:
                raise SystemExit(f"{name} generates whole images from noise: it has no place in the {domain} protocol (--domain off)")
            if "crop" in views:
                raise SystemExit(f"{name} generates whole images from noise, without masks: pass --views whole")
            candidates[name] = noise_candidate(synth, _labels_for(synth, heldout))
        else:
            candidates[name] = synthesizer_candidate(synth)
    if "identity" in baselines:
        candidates["identity"] = identity_candidate()
    pasting = [b for b in baselines if b.startswith("copy-paste")]
    if pasting and domain == "remove":
        raise SystemExit(f"{', '.join(pasting)} paste(s) a lesion in: no baseline for removing one (drop it, or --domain add)")
    if pasting:
        bank_data = args.bank_data or args.data
        bank_set = open_dataset(bank_data, args.bank_split)
        shared = {r.image.resolve() for r in bank_set.records} & {r.image.resolve() for r in heldout.records}
        if shared:
            raise SystemExit(
                f"the lesion bank ({bank_data}, split {args.bank_split}) shares {len(shared)} images with the held-out set: "
                "choose another --bank-data / --bank-split"
            )
        # lazy: the copy-paste module is needed only when a baseline is asked for
        from gan_augment.copy_paste import LesionBank

        bank = LesionBank.from_dataset(bank_set, max_items=args.bank_items, seed=args.seed)
        for b in pasting:
            candidates[b] = copy_paste_candidate(bank, harmonize=b == "copy-paste-harmonized")
    training = None
    if args.train_data:
        training = concat_datasets([open_dataset(path, args.train_split) for path in args.train_data])
        shared = {r.image.resolve() for r in training.records} & {r.image.resolve() for r in heldout.records}
        if shared:
            raise SystemExit(f"--train-data shares {len(shared)} images with the held-out set: name the models' training split")
    result = evaluate(
        candidates, heldout, size=args.size, max_items=args.max_items, seed=args.seed, views=views,
        extractor=FeatureExtractor(device), progress=not args.quiet, training=training, max_training=args.max_training,
        domain=domain,
    )
    result["data"].update(path=str(args.data), split=split)
    if pasting:
        result["data"]["bank"] = {"path": str(bank_data), "split": args.bank_split, "max_items": args.bank_items}
    result["command"] = "gan-augment " + " ".join(shlex.quote(a) for a in args.argv)
    out = Path(args.out or f"reports/realism-{Path(args.data).resolve().name}-{split}")
    if args.add_to:
        from gan_augment.realism_report import merge_results  # lazy: as every command's imports

        base = json.loads((Path(args.add_to) / "realism.json").read_text())
        result = merge_results(base, result)
    paths = write_report(result, out)
    print(markdown_report(result))
    print(f"wrote {paths['markdown']}, {paths['json'].name}, {paths['grid'].name}")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    # lazy: each command imports what it needs, so `gan-augment --help` / `list` start fast
    from gan_augment.hub import push_to_hub

    url = push_to_hub(args.folder, args.repo_id, private=args.private, token=args.token)
    print(f"pushed {args.folder} to {url}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    # lazy: each command imports what it needs, so `gan-augment --help` / `list` start fast
    from gan_augment.demo import run_demo

    run_demo(args.model, args.out, seed=args.seed)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gan-augment", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("list", help="registered architectures").set_defaults(func=cmd_list)
    sub.add_parser("pretrained", help="bundled checkpoints").set_defaults(func=cmd_pretrained)

    t = sub.add_parser("train", help="train a model with the shared loop")
    t.add_argument("model", help="architecture name (gan-augment list)")
    t.add_argument(
        "--data", required=True, action="append",
        help="data folder in an official layout (ISIC 2017/2018, HAM10000, PH2, images/+masks/); repeat to train on several",
    )
    t.add_argument("--split", default="training")
    t.add_argument("--size", type=int, default=None, help="training image size (default: the model's)")
    t.add_argument("--out", default=None, help="run folder (checkpoint, samples, logs)")
    length = t.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, default=None)
    length.add_argument("--epochs", type=float, default=200)
    t.add_argument("--batch-size", type=int, default=16)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--workers", type=int, default=2)
    t.add_argument("--device", default="auto")
    t.add_argument("--no-amp", action="store_true", help="disable bf16 autocast on CUDA")
    t.add_argument("--jitter", type=float, default=1.125, help="resize factor before random crop (pix2pix jitter)")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="generator or training option, e.g. ngf=32 lambda_l1=100")
    t.add_argument("--tiny", action="store_true", help="the model's tiny test config (smoke runs)")
    t.add_argument("--diffaugment", default="", metavar="POLICY", help="DiffAugment in front of D for small data, e.g. color,translation,cutout (default off)")
    t.add_argument("--conditional", action="store_true", help="class-conditional: num_classes from the data set's labels")
    t.add_argument("--classes", default=None, help="train on these classes only, e.g. melanoma (one model per class)")
    t.add_argument("--limit", type=int, default=None, help="use only the first N images")
    t.add_argument("--sample-every", type=int, default=1000)
    t.add_argument("--checkpoint-every", type=int, default=1000)
    t.add_argument(
        "--max-minutes", type=float, default=None,
        help=f"checkpoint and stop after this much wall time (default on the CPU: {CPU_MAX_MINUTES:.0f}; 0: no limit)",
    )
    t.add_argument("--max-session-steps", type=int, default=None, help="checkpoint and stop after this many steps in this call")
    t.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    t.add_argument("--allow-data-change", action="store_true", help="--resume although data, split, --limit, --classes or --jitter differ from the run's")
    t.add_argument("--warm-start", default=None, metavar="SNAPSHOT", help="start from a snapshot's networks (gan-augment snapshot), fresh optimisers")
    t.add_argument("--no-preload", action="store_true", help="read images from disk every epoch")
    t.add_argument("--record-command", default=None, help=argparse.SUPPRESS)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("export", help="run folder -> Hugging Face model folder with card")
    e.add_argument("run")
    e.add_argument("--to", required=True)
    e.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    e.add_argument("--hub-id", default=None)
    e.add_argument("--license", default="other")
    e.add_argument("--license-name", default=None)
    e.add_argument("--evaluation", default=None, help="evaluation JSON to put on the card")
    e.add_argument("--samples", default=None, help="PNG to show on the card")
    e.add_argument("--samples-caption", default="")
    e.add_argument("--network", default="G", help="which trained network to export (CycleGAN: G or G_BA)")
    e.set_defaults(func=cmd_export)

    sn = sub.add_parser("snapshot", help="a run's networks in float16 (small, committable) for --warm-start elsewhere")
    sn.add_argument("run")
    sn.add_argument("--to", required=True)
    sn.add_argument(
        "--ema-only", action="store_true",
        help="leave out the trained generator where a moving average is kept (about half the size); "
        "--warm-start restarts it from the average",
    )
    sn.set_defaults(func=cmd_snapshot)

    c = sub.add_parser("card", help="add evaluation / samples / notes to a model folder and re-render its card")
    c.add_argument("folder")
    c.add_argument("--evaluation", default=None)
    c.add_argument("--samples", default=None)
    c.add_argument("--samples-caption", default=None)
    c.add_argument("--notes", default=None, help="text file, one note per line")
    c.add_argument("--realism", nargs="+", default=None, metavar="REPORT_DIR", help="realism reports (gan-augment evaluate) to put on the card")
    c.add_argument("--candidate", default=None, help="the model's row in the realism reports (default: the folder name)")
    c.add_argument("--baselines", default="copy-paste-harmonized,identity", help="rows shown next to the model's")
    c.set_defaults(func=cmd_card)

    s = sub.add_parser("sample", help="synthesise a grid of images, or a sharded synthetic bank (--bank)")
    s.add_argument("model")
    s.add_argument("--masks", default=None, help="folder of mask images (default: random geometric shapes)")
    s.add_argument("-n", type=int, default=8)
    s.add_argument("--size", type=int, default=None)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default="auto")
    s.add_argument("--out", default="samples.png")
    s.add_argument(
        "--bank", default=None, metavar="FOLDER",
        help="write -n samples as a SyntheticBank (shards + bank.json; resumable) instead of a grid; "
        "under torchrun (or with --rank/--world-size) each process writes its own shards",
    )
    s.add_argument("--shard-size", type=int, default=256, help="samples per shard file (--bank)")
    s.add_argument("--rank", type=int, default=None, help="this process's index (--bank; default: torchrun's RANK)")
    s.add_argument("--world-size", type=int, default=None, help="number of processes (--bank; default: torchrun's WORLD_SIZE)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_sample)

    ev = sub.add_parser(
        "evaluate",
        help="realism report: candidates vs held-out real images (KID, C2ST, diversity), unpaired",
        description="Unpaired realism report (gan_augment.realism): the held-out pairs are split into halves A "
        "and B; each candidate synthesises on A's masks (and images) and is compared with B's real images, "
        "next to real A vs real B. Skin <-> lesion translators (residual_unet, cyclegan) are measured in their "
        "own domains (--domain): a lesion adder on A's lesion-free skin patches + lesion masks against B's lesion "
        "crops, a remover on A's lesion crops against B's skin patches. A split is held-out only for models not "
        "trained on it.",
    )
    ev.add_argument("models", nargs="+", metavar="MODEL", help="pretrained name or folder (gan-augment pretrained); 'none' for baselines only")
    ev.add_argument("--data", required=True, help="held-out data in an official layout (with lesion masks)")
    ev.add_argument("--train-data", action="append", default=None, metavar="PATH",
                    help="the models' training data, repeatable (every data set they trained on): adds a memorization check (nearest "
                    "training image per output; with --domain, the training set's lesion crops (add) or skin patches (remove))")
    ev.add_argument("--train-split", default="training")
    ev.add_argument("--max-training", type=int, default=2000, help="random training images searched for the nearest one")
    ev.add_argument("--split", default=None, choices=["validation", "test", "training"],
                    help="held-out split (default: validation; test for HAM10000); training only for models not trained on it")
    ev.add_argument("--size", type=int, default=128)
    ev.add_argument("--max-items", type=int, default=300, help="items per half (A and B)")
    ev.add_argument("--seed", type=int, default=0, help="split, synthesis and classifier seed")
    ev.add_argument("--baselines", default="", help=f"comma-separated: {', '.join(BASELINES)}")
    ev.add_argument("--bank-data", default=None, help="where the copy-paste lesions come from (default: --data)")
    ev.add_argument("--bank-split", default="training")
    ev.add_argument("--bank-items", type=int, default=500, help="lesions in the copy-paste bank")
    ev.add_argument("--views", default="whole,crop", help="whole, crop or both (--domain remove: whole only)")
    ev.add_argument(
        "--domain", default="auto", choices=["auto", "add", "remove", "off"],
        help="add: candidates get lesion-free skin patches of A + lesion masks, compared with lesion crops of B; "
        "remove: lesion crops of A, compared with skin patches of B; off: whole images; auto (default): the "
        "direction the translators' checkpoints record (residual_unet, cyclegan), else off",
    )
    ev.add_argument("--device", default="auto")
    ev.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    ev.add_argument("--quiet", action="store_true", help="no progress bars")
    ev.add_argument("--out", default=None, help="report folder (default: reports/realism-<data>-<split>)")
    ev.add_argument(
        "--add-to", default=None, metavar="REPORT_DIR",
        help="add these rows to an earlier report of the same protocol (same data, split, seed, size): e.g. baselines once, models later",
    )
    ev.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("push", help="upload a model folder to the Hugging Face hub")
    p.add_argument("folder")
    p.add_argument("repo_id")
    p.add_argument("--private", action="store_true")
    p.add_argument("--token", default=None)
    p.set_defaults(func=cmd_push)

    d = sub.add_parser("demo", help="bundled Mask2Lesion inside an Albumentations pipeline -> PNG grid")
    d.add_argument("--model", default="mask2lesion-isic2017-128")
    d.add_argument("--out", default="outputs/demo.png")
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(func=cmd_demo)
    return parser


# What a user's mistake raises (a missing folder, an unknown model or option, a bad value, a
# run folder in use): reported in one line; anything else is a bug and keeps its traceback.
USER_ERRORS = (OSError, ValueError, KeyError, TypeError)
TRACEBACK_ENV = "GAN_AUGMENT_TRACEBACK"


def user_error_message(err: BaseException) -> str:
    """One line for a user's mistake (a KeyError's message without its quotes)."""
    text = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
    return " ".join(str(text).split()) or type(err).__name__


def _model_help_requested(argv: list[str]) -> bool:
    """``train MODEL --help`` (or -h) with a model name given."""
    return len(argv) >= 2 and argv[0] == "train" and any(a in ("-h", "--help") for a in argv) and not argv[1].startswith("-")


def _print_model_help(argv: list[str]) -> int:
    # lazy: the registry and the bundled cards are read only when asked for
    from gan_augment.models import list_models
    from gan_augment.train_help import model_help

    if argv[1] not in list_models():
        print(f"gan-augment train: error: unknown model {argv[1]!r}; models: {', '.join(list_models())}", file=sys.stderr)
        return 2
    try:
        build_parser().parse_args(["train", "--help"])  # argparse prints the common options and exits
    except SystemExit:
        pass
    print(model_help(argv[1]))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run a command; a user's mistake prints ``gan-augment <command>: error: ...`` (one line,
    exit status 2) instead of a traceback, unless ``GAN_AUGMENT_TRACEBACK=1``."""
    # lazy: each command imports what it needs, so `gan-augment --help` / `list` start fast
    import os

    from gan_augment.run_files import FolderLockedError

    argv = list(sys.argv[1:] if argv is None else argv)
    if _model_help_requested(argv):
        return _print_model_help(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return args.func(args)
    except (*USER_ERRORS, FolderLockedError) as err:
        if os.environ.get(TRACEBACK_ENV, "").lower() in ("1", "true", "yes"):
            raise
        print(f"gan-augment {args.command}: error: {user_error_message(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

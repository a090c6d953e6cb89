"""``gan-augment``: list | pretrained | train | export | card | sample | push | demo."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
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
    from gan_augment.registry import get_spec, list_models

    for name in list_models():
        spec = get_spec(name)
        print(f"{name:14s} {spec.task:15s} {spec.summary}  [{spec.paper}]")
    return 0


def cmd_pretrained(args: argparse.Namespace) -> int:
    from gan_augment.hub import list_pretrained

    entries = list_pretrained()
    if not entries:
        print("no bundled checkpoints found")
    for e in entries:
        print(f"{e['name']:28s} {e['architecture']:10s} {e['image_size']:>4}px  {e['data'] or '':22s} hub: {e['hub_id']}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from gan_augment.data import open_dataset
    from gan_augment.registry import get_spec
    from gan_augment.training import TrainConfig, fit, make_recipe, make_training_data, seed_everything

    spec = get_spec(args.model)
    options = _parse_options(args.set)
    if args.tiny:
        options = {**spec.tiny_generator_config, **spec.tiny_hparams, **options}
    if args.diffaugment:
        options["diffaugment"] = args.diffaugment
    size = args.size or (spec.tiny_image_size if args.tiny else spec.default_image_size)
    data = open_dataset(args.data, args.split)
    if spec.needs_mask and spec.task != "noise_to_image" and not data.has_masks:
        raise SystemExit(f"{args.model} trains with lesion masks but {args.data} has none")
    if args.classes:
        data = data.with_classes(args.classes.split(","))
    if args.limit:
        data = data.subset(range(min(args.limit, len(data))))
    if args.conditional:
        if not data.class_names:
            raise SystemExit(f"--conditional needs class labels, but {args.data} has none")
        options.setdefault("num_classes", len(data.class_names))
    seed_everything(args.seed)
    recipe = make_recipe(args.model, size, options)
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
        max_minutes=args.max_minutes,
        max_session_steps=args.max_session_steps,
        resume=args.resume,
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
    }
    command = args.record_command or "gan-augment " + " ".join(shlex.quote(a) for a in args.argv)
    result = fit(recipe, view, config, command=command, extra_meta=extra)
    state = "finished" if result.finished else "stopped (resume with --resume)"
    print(f"{state} at step {result.step}/{result.total_steps} after {result.train_seconds / 60:.1f} min; run folder: {result.out_dir}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
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


def cmd_card(args: argparse.Namespace) -> int:
    from gan_augment.export import update_card

    notes = [Path(args.notes).read_text().strip()] if args.notes else None
    if notes:
        notes = [line.strip("- ").strip() for line in notes[0].splitlines() if line.strip()]
    folder = update_card(
        args.folder, evaluation=args.evaluation, samples_image=args.samples, samples_caption=args.samples_caption, notes=notes
    )
    print(f"re-rendered {folder / 'README.md'}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from gan_augment.data import read_mask
    from gan_augment.hub import from_pretrained
    from gan_augment.masks import geometric_mask
    from gan_augment.visualize import save_grid

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


def cmd_push(args: argparse.Namespace) -> int:
    from gan_augment.hub import push_to_hub

    url = push_to_hub(args.folder, args.repo_id, private=args.private, token=args.token)
    print(f"pushed {args.folder} to {url}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
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
    t.add_argument("--data", required=True, help="data folder in an official layout (ISIC 2017/2018, HAM10000, PH2, images/+masks/)")
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
    t.add_argument("--max-minutes", type=float, default=None, help="checkpoint and stop after this much wall time")
    t.add_argument("--max-session-steps", type=int, default=None, help="checkpoint and stop after this many steps in this call")
    t.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
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

    c = sub.add_parser("card", help="add evaluation / samples / notes to a model folder and re-render its card")
    c.add_argument("folder")
    c.add_argument("--evaluation", default=None)
    c.add_argument("--samples", default=None)
    c.add_argument("--samples-caption", default=None)
    c.add_argument("--notes", default=None, help="text file, one note per line")
    c.set_defaults(func=cmd_card)

    s = sub.add_parser("sample", help="synthesise a grid of images")
    s.add_argument("model")
    s.add_argument("--masks", default=None, help="folder of mask images (default: random geometric shapes)")
    s.add_argument("-n", type=int, default=8)
    s.add_argument("--size", type=int, default=None)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default="auto")
    s.add_argument("--out", default="samples.png")
    s.set_defaults(func=cmd_sample)

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


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

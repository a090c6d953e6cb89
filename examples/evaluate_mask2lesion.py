"""Reproduce the Mask2Lesion evidence on ISIC 2017: lesions stay inside masks, images look real.

    python examples/evaluate_mask2lesion.py --model mask2lesion-isic2017-128 \
        --data ../shared/data/isic2017 --out outputs/mask2lesion-eval.json --grid outputs/mask2lesion-eval.png

Prints KID(synthetic, real val) / KID(300 real train, real val) and the in/out-of-mask contrast.
"""

import argparse
import json
import shlex
import sys
from pathlib import Path

import gan_augment as ga
from gan_augment.evaluation import card_evaluation, evaluate_mask_to_image
from gan_augment.visualize import save_grid

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--model", default="mask2lesion-isic2017-128")
parser.add_argument("--data", default="../shared/data/isic2017", help="ISIC 2017 root (official layout)")
parser.add_argument("--size", type=int, default=128)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--out", default="outputs/mask2lesion-eval.json")
parser.add_argument("--grid", default="outputs/mask2lesion-eval.png")
args = parser.parse_args()

synth = ga.from_pretrained(args.model)
result = evaluate_mask_to_image(synth, args.data, size=args.size, seed=args.seed)
raw = result["raw"]
command = "python examples/evaluate_mask2lesion.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
Path(args.out).parent.mkdir(parents=True, exist_ok=True)
Path(args.out).write_text(json.dumps(card_evaluation(raw, command), indent=2))
save_grid(
    [result["val_masks"], result["val_images"], result["synthetic"]],
    args.grid,
    titles=["mask", "real", "synthetic"],
    max_rows=8,
)
print(
    f"KID synthetic/val {raw['kid_synthetic_vs_val']:.4f}, real-train/val {raw['kid_real_train_vs_val']:.4f}, "
    f"ratio {raw['kid_ratio']:.2f} (target <= 2); contrast real {raw['contrast_real_mean']:.3f}, "
    f"synthetic {raw['contrast_synthetic_mean']:.3f}; wrote {args.out} and {args.grid}"
)

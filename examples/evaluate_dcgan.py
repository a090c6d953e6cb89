"""KID of the class-conditional DCGAN against real HAM10000 test images (lesion-grouped split).

    python examples/evaluate_dcgan.py --model dcgan-ham10000-64 --data ../shared/data/ham10000
"""

import argparse
import json
import shlex
import sys
from pathlib import Path

import gan_augment as ga
from gan_augment.data import open_dataset
from gan_augment.evaluation import evaluate_noise_generator
from gan_augment.visualize import save_grid

parser = argparse.ArgumentParser()
parser.add_argument("--model", default="dcgan-ham10000-64")
parser.add_argument("--data", default="../shared/data/ham10000")
parser.add_argument("--n", type=int, default=500)
parser.add_argument("--out", default="outputs/dcgan-eval.json")
parser.add_argument("--grid", default="outputs/dcgan-eval.png")
args = parser.parse_args()

g = ga.from_pretrained(args.model)
result = evaluate_noise_generator(g, open_dataset(args.data, "training"), open_dataset(args.data, "test"), n=args.n, size=g.image_size)
r = result["raw"]
command = "python examples/evaluate_dcgan.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
Path(args.out).parent.mkdir(parents=True, exist_ok=True)
Path(args.out).write_text(json.dumps({
    "description": (f"{r['n']} samples, classes in the proportions of {r['n']} real HAM10000 test-part images, against those "
                    f"images at {r['image_size']} px; reference: {r['n']} real training-part images against the same. KID on pooled "
                    "offline EfficientNet-Lite0 features, mean ± std over 100 subsets of 100."),
    "rows": [
        {"name": "KID synthetic vs real test", "value": f"{r['kid_synthetic_vs_test']:.4f} ± {r['kid_synthetic_vs_test_std']:.4f}"},
        {"name": "KID real training vs real test (reference)", "value": f"{r['kid_real_train_vs_test']:.4f} ± {r['kid_real_train_vs_test_std']:.4f}"},
        {"name": "median feature distance to nearest training image: synthetic / real test", "value": f"{r['nn_distance_synthetic_median']:.3f} / {r['nn_distance_test_median']:.3f}"},
    ],
    "metric_names": ["kid"], "command": command, "raw": r,
}, indent=2))
per_class = [g.sample(7, labels=list(range(7)), seed=s) for s in range(6)]
save_grid(per_class, args.grid, titles=[f"seed {s}" for s in range(6)])
print(f"KID synthetic/test {r['kid_synthetic_vs_test']:.4f}, real-train/test {r['kid_real_train_vs_test']:.4f}; wrote {args.out}, {args.grid}")

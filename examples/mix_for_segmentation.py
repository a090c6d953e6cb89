"""Mask-paired synthetic samples for segmentation: per item, from a disk bank, per batch.

    python examples/mix_for_segmentation.py [--data ../shared/data/isic2017] [--out outputs/mix_segmentation.png]

1. MixedDataset: real ISIC 2017 items + 50 % synthetic ones, each drawn by Mask2Lesion for a
   new mask (elastically deformed real masks), deterministic per index.
2. SyntheticBank: the same synthetic items pre-generated to disk in resumable shards.
3. BatchMixer: a quarter of every collated batch redrawn for the batch's own masks, in one
   generator call in the main process (on the GPU when there is one).
"""

import argparse

import torch
from torch.utils.data import DataLoader

import gan_augment as ga
from gan_augment.data import bundled_sample, open_dataset
from gan_augment.functional import square_resize
from gan_augment.mixers import BatchMixer, MixedDataset, SyntheticBank
from gan_augment.visualize import save_grid

parser = argparse.ArgumentParser()
parser.add_argument("--data", default=None, help="ISIC 2017 root (default: the bundled 6-image sample)")
parser.add_argument("--bank", default="outputs/bank-mask2lesion")
parser.add_argument("--out", default="outputs/mix_segmentation.png")
args = parser.parse_args()

g = ga.from_pretrained("mask2lesion-isic2017-128")
real = open_dataset(args.data, "validation") if args.data else bundled_sample()


def to_tensors(item):  # 128 px tensors for the segmenter
    image = torch.from_numpy(square_resize(item["image"], 128, nearest=False)).permute(2, 0, 1).float() / 255
    return {"image": image, "mask": torch.from_numpy(square_resize(item["mask"], 128, nearest=True))[None].float(), "synthetic": item["synthetic"]}


mixed = MixedDataset(real, g, ratio=0.5, masks="elastic", seed=0, transform=to_tensors)
print(f"MixedDataset: {len(real)} real + {mixed.num_synthetic} synthetic = {len(mixed)} items")

bank = SyntheticBank.build(g, args.bank, n=mixed.num_synthetic, shard_size=32, masks="elastic", real=real, progress=False)
from_disk = MixedDataset(real, bank, ratio=0.5, transform=to_tensors)
print(f"SyntheticBank: {len(bank)} items in {len(bank.shards)} shard(s) at {args.bank} (re-running skips finished shards)")

mixer = BatchMixer(g, fraction=0.25, seed=0)
loader = DataLoader(mixed, batch_size=8, shuffle=True, num_workers=2, generator=torch.Generator().manual_seed(0))
batch = next(mixer.wrap(loader))  # in a training loop: for batch in mixer.wrap(loader): ...
save_grid([batch["mask"], batch["image"]], args.out, titles=["mask", "image"])
print(
    f"first batch: {len(batch['image'])} items, {int(batch['synthetic'].sum())} synthetic "
    f"({int(batch['mixed_in'].sum())} of them redrawn by BatchMixer) -> {args.out}"
)

"""Training step of :mod:`gan_augment.models.inpaint` (imported only when training starts;
see the model file for the paper and its sections)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from gan_augment.diffaugment import diff_augment
from gan_augment.functional import from_model_range, seeded
from gan_augment.lesion_box import DEFAULT_MARGIN, crop_resize, lesion_box
from gan_augment.losses import mode_seeking_loss
from gan_augment.models._blocks import set_requires_grad
from gan_augment.models.inpaint import InpaintHParams, LesionInpaintGenerator
from gan_augment.models.realism_recipe import projected_discriminator
from gan_augment.recipe import EMARecipe


class LesionBoxView(Dataset):
    """Training items in the lesion-box view, keyed by ``(epoch, index)`` (pure in seed,
    epoch, index): the box around the mask with a random margin (0.15-0.40 of the lesion
    size) and a random shift (up to 5 % of the box), resized to ``image_size``, then a random
    flip / 90-degree rotation. Items whose mask is empty are left out.
    ``{"image": 3HW in [-1, 1], "mask": 1HW in {0, 1}}``."""

    def __init__(self, base: Dataset, image_size: int, seed: int = 0) -> None:
        self.base, self.image_size, self.seed = base, int(image_size), int(seed)
        self._cache: list[tuple[Tensor, Tensor]] | None = None
        self._index = list(range(len(base)))

    def __len__(self) -> int:
        return len(self._index)

    def _read(self, index: int) -> tuple[Tensor, Tensor] | None:
        item = self.base[index]
        mask = torch.from_numpy(np.ascontiguousarray(item["mask"])).bool()
        if not bool(mask.any()):
            return None
        return torch.from_numpy(np.ascontiguousarray(item["image"])).permute(2, 0, 1).contiguous(), mask

    def _load(self, i: int) -> tuple[Tensor, Tensor]:
        if self._cache is not None:
            return self._cache[i]
        pair = self._read(self._index[i])
        if pair is None:
            raise ValueError(f"item {self._index[i]} has an empty mask; call preload() to leave such items out")
        return pair

    def preload(self, threads: int = 8, progress: bool = True) -> LesionBoxView:
        """Decode every item once (native size, uint8) and drop items with empty masks."""
        with ThreadPoolExecutor(threads) as pool:
            pairs = list(tqdm(pool.map(self._read, range(len(self.base))), total=len(self.base), desc="loading", disable=not progress))
        self._index = [i for i, p in enumerate(pairs) if p is not None]
        self._cache = [p for p in pairs if p is not None]
        return self

    def _crop(self, i: int, margin: float, shift: tuple[float, float], turns: int, flip: bool) -> dict[str, Tensor]:
        image, mask = self._load(i)
        h, w = mask.shape
        top, left, side = lesion_box(mask, margin)
        top = min(max(top + round(shift[0] * side), 0), h - side)
        left = min(max(left + round(shift[1] * side), 0), w - side)
        box = (top, left, side)
        img = crop_resize(image.float(), box, self.image_size).clamp(0, 255) / 127.5 - 1
        msk = crop_resize(mask[None].float(), box, self.image_size, nearest=True)
        img, msk = torch.rot90(img, turns, (1, 2)), torch.rot90(msk, turns, (1, 2))
        if flip:
            img, msk = img.flip(-1), msk.flip(-1)
        return {"image": img.contiguous(), "mask": msk.contiguous()}

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Tensor]:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        rng = np.random.default_rng([self.seed, epoch, index])
        margin = float(rng.uniform(0.15, 0.40))
        shift = (float(rng.uniform(-0.05, 0.05)), float(rng.uniform(-0.05, 0.05)))
        return self._crop(index, margin, shift, int(rng.integers(4)), bool(rng.integers(2)))

    def preview_batch(self, n: int) -> dict[str, Tensor]:
        """Evenly spaced items in the evaluation view (25 % margin), not augmented."""
        picks = np.linspace(0, len(self) - 1, min(n, len(self))).round().astype(int)
        items = [self._crop(int(i), DEFAULT_MARGIN, (0.0, 0.0), 0, False) for i in picks]
        return {k: torch.stack([it[k] for it in items]) for k in items[0]}


def lesion_box_training_data(dataset: Dataset, image_size: int, seed: int) -> LesionBoxView:
    return LesionBoxView(dataset, image_size, seed)


class InpaintRecipe(EMARecipe):
    """Projected-GAN training of the inpainter on lesion-box crops.

    Each batch of ``n`` real crops gives ``n`` fakes: the first ``n/2`` conditions, each
    painted with two noise vectors (the pair the mode-seeking loss compares)."""

    architecture = "inpaint"

    def __init__(self, generator: LesionInpaintGenerator, generator_config: dict[str, Any], hparams: InpaintHParams, image_size: int):
        super().__init__(generator, generator_config, hparams, image_size)
        hp = hparams
        self.discriminator = projected_discriminator(hp, condition_channels=1)
        self.init_ema(hp.ema_half_life_images)
        betas = (hp.beta1, hp.beta2)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=hp.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam([p for p in self.discriminator.parameters() if p.requires_grad], lr=hp.lr_d, betas=betas)

    def networks(self) -> dict[str, nn.Module]:
        return {**self.generator_networks(), "D": self.discriminator}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_g, "D": self.opt_d}

    def _d(self, images: Tensor, masks: Tensor) -> list[Tensor]:
        if self.hparams.diffaugment:  # same geometry for image and mask; colour on the image only
            pair = diff_augment(torch.cat([images, masks * 2 - 1], dim=1), self.hparams.diffaugment, color_channels=slice(0, 3))
            images, masks = pair[:, :3], (pair[:, 3:] + 1) / 2
        return self.discriminator(images, masks)

    def train_step(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        hp, g = self.hparams, self.generator
        real, masks = batch["image"], batch["mask"]
        n = real.shape[0]
        half = max(n // 2, 1)
        cond_masks = torch.cat([masks[:half], masks[:half]])[:n]
        cond_real = torch.cat([real[:half], real[:half]])[:n]
        x = g.make_input(cond_masks, cond_real)
        z = torch.randn(cond_masks.shape[0], g.z_dim, device=real.device)  # n, or n - 1 for an odd batch
        with self.autocast():
            fake = g(x, z)

        set_requires_grad(self.discriminator.heads, True)
        self.opt_d.zero_grad(set_to_none=True)
        with self.autocast():
            loss_d_real = torch.stack([F.relu(1 - lg.float()).mean() for lg in self._d(real, masks)]).sum()
            loss_d_fake = torch.stack([F.relu(1 + lg.float()).mean() for lg in self._d(fake.detach(), cond_masks)]).sum()
        (loss_d_real + loss_d_fake).backward()
        self.opt_d.step()

        set_requires_grad(self.discriminator.heads, False)
        self.opt_g.zero_grad(set_to_none=True)
        with self.autocast():
            loss_g_adv = torch.stack([-lg.float().mean() for lg in self._d(fake, cond_masks)]).sum()
        region = x[:, 3:4]
        fake = fake.float()
        losses = {"D_real": loss_d_real.detach(), "D_fake": loss_d_fake.detach(), "G_adv": loss_g_adv.detach()}
        total = loss_g_adv
        if hp.lambda_ring > 0:
            ring = region - cond_masks
            loss_ring = ((fake - cond_real).abs() * ring).sum() / (3 * ring.sum()).clamp_min(1.0)
            total = total + hp.lambda_ring * loss_ring
            losses["G_ring"] = loss_ring.detach()
        if hp.lambda_ms > 0 and n >= 2 * half:
            loss_ms = mode_seeking_loss(
                fake[:half], fake[half : 2 * half], z[:half], z[half : 2 * half], hp.ms_tau, weight=region[:half]
            )
            total = total + hp.lambda_ms * loss_ms
            losses["G_ms"] = loss_ms.detach()
        total.backward()
        self.opt_g.step()
        self.update_ema(n)
        return losses

    def preview(self, batch: dict[str, Tensor]) -> list[Tensor]:
        g = self.exported_generator
        x = g.make_input(batch["mask"], batch["image"])
        columns = [batch["mask"].expand(-1, 3, -1, -1), from_model_range(batch["image"])]
        for s in range(3):
            with seeded(s, self.device):
                columns.append(from_model_range(g(x).float()))
        return columns

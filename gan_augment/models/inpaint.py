"""Background-preserving Mask2Lesion: draw a new lesion into the mask of a real skin image.

The generator sees a real image whose lesion region (the target mask, dilated) is blanked,
that region, and the target mask, plus a noise vector, and paints the region; every pixel
outside the region is the input pixel, bit-exact. It works in the *lesion box* (the square
box around the mask with a 25 % margin, :mod:`gan_augment.lesion_box`) at the model's size,
so the lesion gets the model's full resolution whatever the size of the image.

Lineage: the mask-conditioned lesion synthesis of Mask2Lesion (Abhishek & Hamarneh,
SASHIMI 2019) recast as inpainting, as the lesion add/remove U-Net of Furger et al. (2020)
edits inside a mask; U-Net generator (Ronneberger et al. 2015) with resize-convolutions
instead of transposed convolutions (no checkerboards, Odena et al., Distill 2016); noise
through adaptive instance normalisation (Huang & Belongie 2017; StyleGAN, Karras et al.
2019) with a mode-seeking diversity loss (Mao et al., CVPR 2019; capped as in Yang et al., ICLR 2019) so that one mask gives many
lesions; trained against a projected discriminator (Sauer et al., NeurIPS 2021, Sec. 3:
frozen pretrained features, random projections, per-scale discriminators) with
DiffAugment (Zhao et al. 2020) and an EMA generator (Karras et al. 2018).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from gan_augment.diffaugment import diff_augment
from gan_augment.functional import from_model_range, resize_images, seeded, to_model_range
from gan_augment.lesion_box import DEFAULT_MARGIN, crop_resize, dilate, lesion_box
from gan_augment.losses import mode_seeking_loss
from gan_augment.models._blocks import set_requires_grad
from gan_augment.registry import ModelSpec, register
from gan_augment.training import Recipe


class AdaIN(nn.Module):
    """Instance normalisation whose scale and shift come from the style vector ``w``."""

    def __init__(self, channels: int, w_dim: int) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.affine = nn.Linear(w_dim, 2 * channels)
        nn.init.zeros_(self.affine.weight)
        nn.init.zeros_(self.affine.bias)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        gamma, beta = self.affine(w).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
        return self.norm(x) * (1 + gamma) + beta


class UpBlock(nn.Module):
    """Nearest 2x upsampling, concatenation with the skip, two 3x3 convolutions with AdaIN."""

    def __init__(self, cin: int, cskip: int, cout: int, w_dim: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin + cskip, cout, 3, 1, 1)
        self.norm1 = AdaIN(cout, w_dim)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.norm2 = AdaIN(cout, w_dim)

    def forward(self, x: Tensor, skip: Tensor, w: Tensor) -> Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = F.leaky_relu(self.norm1(self.conv1(torch.cat([x, skip], dim=1)), w), 0.2)
        return F.leaky_relu(self.norm2(self.conv2(x), w), 0.2)


class LesionInpaintGenerator(nn.Module):
    """U-Net inpainter: (blanked image, region, target mask) + noise -> image.

    Input channels: the image in [-1, 1] with the region set to 0, the region (the target
    mask dilated by ``dilation`` pixels at the model's size) and the target mask. Noise
    ``z`` (``z_dim``, drawn inside ``forward`` when not given, so ``seeded`` reproduces
    it) goes through a 2-layer mapping to a style ``w`` that modulates every decoder layer.
    The output is composited: outside the region it is the input image exactly.
    """

    def __init__(self, ngf: int = 32, num_downs: int = 5, z_dim: int = 64, w_dim: int = 128, dilation: int = 6) -> None:
        super().__init__()
        if num_downs < 2:
            raise ValueError(f"num_downs must be >= 2, got {num_downs}")
        self.z_dim, self.dilation, self.num_downs = z_dim, dilation, num_downs
        widths = [ngf * min(2**i, 8) for i in range(num_downs + 1)]
        self.stem = nn.Conv2d(5, widths[0], 3, 1, 1)
        self.down = nn.ModuleList(
            nn.Sequential(nn.Conv2d(widths[i], widths[i + 1], 4, 2, 1), nn.InstanceNorm2d(widths[i + 1]), nn.LeakyReLU(0.2, True))
            for i in range(num_downs)
        )
        self.mapping = nn.Sequential(nn.Linear(z_dim, w_dim), nn.LeakyReLU(0.2, True), nn.Linear(w_dim, w_dim), nn.LeakyReLU(0.2, True))
        self.bottleneck = nn.Conv2d(widths[-1] + w_dim, widths[-1], 3, 1, 1)
        self.bottleneck_norm = AdaIN(widths[-1], w_dim)
        self.up = nn.ModuleList(UpBlock(widths[i + 1], widths[i], widths[i], w_dim) for i in reversed(range(num_downs)))
        self.to_rgb = nn.Conv2d(widths[0], 3, 3, 1, 1)

    def make_input(self, masks: Tensor, images: Tensor, erase_masks: Tensor | None = None) -> Tensor:
        """Generator input from target masks N1HW {0, 1} and images N3HW in [-1, 1] at the
        model's size; ``erase_masks`` (old lesions to paint over) grow the region."""
        cover = masks if erase_masks is None else torch.maximum(masks.float(), erase_masks.float())
        region = dilate(cover, self.dilation)
        return torch.cat([images * (1 - region), region, masks.float()], dim=1)

    def forward(self, x: Tensor, z: Tensor | None = None) -> Tensor:
        size = 2**self.num_downs
        if x.shape[1] != 5:
            raise ValueError(f"input must have 5 channels (blanked image, region, mask), got {x.shape[1]}")
        if x.shape[-1] % size or x.shape[-2] % size:
            raise ValueError(f"input height and width must be multiples of {size}, got {tuple(x.shape[-2:])}")
        if z is None:
            z = torch.randn(x.shape[0], self.z_dim, device=x.device)
        w = self.mapping(z)
        skips, h = [], self.stem(x)
        for layer in self.down:
            skips.append(h)
            h = layer(h)
        wmap = w.unsqueeze(-1).unsqueeze(-1).expand(-1, -1, *h.shape[-2:])
        h = F.leaky_relu(self.bottleneck_norm(self.bottleneck(torch.cat([h, wmap], dim=1)), w), 0.2)
        for block in self.up:
            h = block(h, skips.pop(), w)
        painted = torch.tanh(self.to_rgb(h))
        region = x[:, 3:4]
        return x[:, :3] * (1 - region) + painted * region


def inpaint_translate(
    network: LesionInpaintGenerator,
    masks: Tensor,
    images: Tensor,
    *,
    image_size: int,
    seed: int | None = None,
    erase_masks: Tensor | None = None,
) -> Tensor:
    """Paint a new lesion into each image's mask, in its lesion box at ``image_size``.

    ``masks`` N1HW {0, 1} (each non-empty), ``images`` N3HW [0, 1], any size; ``erase_masks``
    (same shape) are old lesions painted over too (reshape: the new lesion has another shape
    than the old one). Pixels outside the region (masks and erase masks, dilated by the
    model's dilation scaled to the box) are returned bit-exact. Returns N3HW in [0, 1] on
    the input's device.
    """
    device = next(network.parameters()).device
    cover = masks if erase_masks is None else torch.maximum(masks, erase_masks)
    boxes, crops, crop_masks, crop_erase = [], [], [], []
    for i in range(masks.shape[0]):
        if not bool(masks[i].any()):
            raise ValueError(f"masks[{i}] is empty: the inpainting model paints a lesion into a non-empty mask")
        box = lesion_box(cover[i, 0], DEFAULT_MARGIN)
        boxes.append(box)
        crops.append(crop_resize(images[i].float(), box, image_size))
        crop_masks.append(crop_resize(masks[i].float(), box, image_size, nearest=True))
        crop_erase.append(crop_resize(cover[i].float(), box, image_size, nearest=True))
    m = torch.stack(crop_masks).to(device)
    erase = torch.stack(crop_erase).to(device) if erase_masks is not None else None
    x = network.make_input(m, to_model_range(torch.stack(crops).to(device)), erase)
    with torch.inference_mode(), seeded(seed, device):
        painted = from_model_range(network(x).float()).to(images.device)
    region = x[:, 3:4].to(images.device)
    out = images.clone()
    for i, (top, left, side) in enumerate(boxes):
        window = (slice(top, top + side), slice(left, left + side))
        patch = resize_images(painted[i : i + 1], (side, side))[0].clamp(0, 1).to(images.dtype)
        inside = F.interpolate(region[i : i + 1], size=(side, side), mode="nearest-exact")[0].bool()
        inside |= cover[i][(slice(None), *window)].bool()
        out[i][(slice(None), *window)] = torch.where(inside, patch, images[i][(slice(None), *window)])
    return out


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
        from concurrent.futures import ThreadPoolExecutor

        from tqdm.auto import tqdm

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


@dataclass
class InpaintHParams:
    """Projected GAN defaults (Sauer et al. 2021): Adam lr 2e-4, betas (0, 0.99), hinge loss,
    EfficientNet-Lite1 features; DiffAugment off by default as for every model (the bundled
run uses ``--diffaugment color,translation,cutout``, as Projected GAN does); EMA half-life
    10k images; diversity term weight 1: the mode-seeking loss (Mao et al. 2019), the
reciprocal of the ratio of image distance (inside the region) to noise distance, capped
as in Yang et al. (ICLR 2019, DSGAN): ``ms_tau / min(ratio, ms_tau)`` (denominator held at
1e-3 or more, its gradient kept), so it stops
pushing once outputs differ enough (ratio ``ms_tau``); L1 on the skin ring around the
    lesion (region minus mask) to continue the surrounding skin, weight 1."""

    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.0
    beta2: float = 0.99
    backbone: int = 1
    feature_input_size: int = 128
    d_width: int = 64
    projection_seed: int = 0
    diffaugment: str = ""
    lambda_ms: float = 1.0
    ms_tau: float = 0.25
    lambda_ring: float = 1.0
    ema_half_life_images: float = 10_000.0


class InpaintRecipe(Recipe):
    """Projected-GAN training of the inpainter on lesion-box crops.

    Each batch of ``n`` real crops gives ``n`` fakes: the first ``n/2`` conditions, each
    painted with two noise vectors (the pair the mode-seeking loss compares)."""

    architecture = "inpaint"

    def __init__(self, generator: LesionInpaintGenerator, generator_config: dict[str, Any], hparams: InpaintHParams, image_size: int):
        super().__init__(generator, generator_config, hparams, image_size)
        from gan_augment.ema import EMA
        from gan_augment.models.projected import ProjectedDiscriminator

        hp = hparams
        self.discriminator = ProjectedDiscriminator(
            condition_channels=1,
            backbone=hp.backbone,
            feature_input_size=hp.feature_input_size,
            d_width=hp.d_width,
            projection_seed=hp.projection_seed,
        )
        self.ema = EMA(generator, hp.ema_half_life_images)
        self.images_seen = 0
        betas = (hp.beta1, hp.beta2)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=hp.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam([p for p in self.discriminator.parameters() if p.requires_grad], lr=hp.lr_d, betas=betas)

    def networks(self) -> dict[str, nn.Module]:
        return {"G": self.ema.module, "G_train": self.generator, "D": self.discriminator}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_g, "D": self.opt_d}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "images_seen": self.images_seen}

    def load_state_dict(self, state: Any) -> None:
        super().load_state_dict(state)
        self.images_seen = int(state.get("images_seen", 0))

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
        self.images_seen += n
        self.ema.update(g, n, self.images_seen)
        return losses

    def preview(self, batch: dict[str, Tensor]) -> list[Tensor]:
        g = self.ema.module
        x = g.make_input(batch["mask"], batch["image"])
        columns = [batch["mask"].expand(-1, 3, -1, -1), from_model_range(batch["image"])]
        for s in range(3):
            with seeded(s, self.device):
                columns.append(from_model_range(g(x).float()))
        return columns


SPEC = register(
    ModelSpec(
        name="inpaint",
        task="image_to_image",
        generator=LesionInpaintGenerator,
        recipe=InpaintRecipe,
        hparams=InpaintHParams,
        paper="Abhishek & Hamarneh 2019 (Mask2Lesion) as inpainting; Sauer et al. 2021 (Projected GAN); Mao et al. 2019 (mode seeking)",
        summary="background-preserving Mask2Lesion: paints a new lesion into the mask of a real image (pixels outside bit-exact)",
        default_image_size=128,
        tiny_generator_config={"ngf": 4, "num_downs": 3, "z_dim": 8, "w_dim": 8, "dilation": 2},
        tiny_hparams={"d_width": 8, "feature_input_size": 32},
        tiny_image_size=32,
        needs_mask=True,
        needs_image=True,
        reshapes=True,
        training_data=lesion_box_training_data,
        translator=inpaint_translate,
    )
)

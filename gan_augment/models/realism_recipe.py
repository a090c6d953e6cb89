"""Pieces of the realism recipe that several training steps share (training code only).

The realism recipe: the projected discriminator (Sauer et al., "Projected GANs Converge
Faster", NeurIPS 2021; :mod:`gan_augment.models.projected`) conditioned on the lesion mask,
hinge loss, DiffAugment in front of D (Zhao et al. 2020) and an exponential moving average of
the generator's weights (:class:`gan_augment.recipe.EMARecipe`). ``pix2pix``, ``residual_unet`` and ``cyclegan``
(unconditional: no condition channels) offer it as options next to their papers' PatchGAN
(``discriminator="patch" | "projected"``, ``ema_half_life_images``); ``pix2pixhd`` keeps its
multi-scale PatchGANs and offers the EMA; ``inpaint`` trains with it only. Not a model's recipe itself: the
``_recipe`` suffix marks it as training-only, so nothing on the inference path imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from gan_augment.diffaugment import diff_augment
from gan_augment.losses import mode_seeking_loss
from gan_augment.models._blocks import PatchDiscriminator, init_gan_weights, require_input_size
from gan_augment.models.projected import ProjectedDiscriminator

DISCRIMINATORS = ("patch", "projected")


def check_discriminator(kind: str) -> None:
    if kind not in DISCRIMINATORS:
        raise ValueError(f"discriminator must be one of {DISCRIMINATORS}, got {kind!r}")


def projected_discriminator(hparams: Any, condition_channels: int) -> ProjectedDiscriminator:
    """The projected discriminator with the settings of ``hparams`` (``backbone``,
    ``feature_input_size``, ``d_width``, ``projection_seed``, ``condition_gain``)."""
    return ProjectedDiscriminator(
        condition_channels=condition_channels,
        backbone=hparams.backbone,
        feature_input_size=hparams.feature_input_size,
        d_width=hparams.d_width,
        projection_seed=hparams.projection_seed,
        condition_gain=getattr(hparams, "condition_gain", "none"),
    )


def conditional_discriminator(
    hparams: Any, image_channels: int, condition_channels: int, patch_norm: str, image_size: int, model: str
) -> tuple[nn.Module, nn.Module]:
    """``(discriminator, its trainable part)`` for ``hparams.discriminator``: ``"patch"``, the
    PatchGAN on the image and condition channels concatenated (``ndf``, ``d_layers``,
    ``patch_norm``); ``"projected"``, :func:`projected_discriminator` reading the condition at
    each scale, of which only the per-scale heads train. ``condition_channels=0``: an
    unconditional discriminator of the image alone."""
    check_discriminator(hparams.discriminator)
    if hparams.discriminator == "projected":
        projected = projected_discriminator(hparams, condition_channels)
        return projected, projected.heads
    require_input_size(
        f"{model}'s PatchGAN (d_layers={hparams.d_layers})", image_size,
        PatchDiscriminator.min_input_size(hparams.d_layers), "use a larger --size or fewer layers (--set d_layers=2)",
    )
    patch = PatchDiscriminator(image_channels + condition_channels, hparams.ndf, hparams.d_layers, patch_norm)
    init_gan_weights(patch)
    return patch, patch


def discriminate(
    discriminator: nn.Module, hparams: Any, image: Tensor, condition: Tensor | None, *, condition_first: bool = False
) -> list[Tensor]:
    """Logit maps (one per scale) of :func:`conditional_discriminator`'s network for ``image``
    given ``condition`` (in [-1, 1], e.g. the mask mapped to {-1, 1}). DiffAugment
    (``hparams.diffaugment``) moves image and condition with the same geometry and jitters the
    colour of the image only. The PatchGAN reads the channels concatenated, the condition
    first or last (``condition_first``, the order its checkpoints were trained with); the
    projected discriminator reads the condition in [0, 1]. ``condition=None``: an
    unconditional discriminator (built with ``condition_channels=0``) judges the image alone."""
    if condition is None:
        if hparams.diffaugment:
            image = diff_augment(image, hparams.diffaugment)
        return discriminator(image) if hparams.discriminator == "projected" else [discriminator(image)]
    c, k = condition.shape[1], image.shape[1]
    pair = torch.cat([condition, image] if condition_first else [image, condition], dim=1)
    if hparams.diffaugment:
        colour = slice(c, None) if condition_first else slice(0, k)
        pair = diff_augment(pair, hparams.diffaugment, color_channels=colour)
    if hparams.discriminator == "projected":
        image, condition = (pair[:, c:], pair[:, :c]) if condition_first else (pair[:, :k], pair[:, k:])
        return discriminator(image, (condition + 1) / 2)
    return [discriminator(pair)]


def check_mode_seeking(hparams: Any, generator: nn.Module) -> None:
    """``lambda_ms > 0`` needs a generator with a noise input (``style_dim``)."""
    if getattr(hparams, "lambda_ms", 0) > 0 and not getattr(generator, "style_dim", 0):
        raise ValueError("lambda_ms needs a generator with a noise input: set style_dim (e.g. --set style_dim=64)")


def noise_pairs(generator: nn.Module, condition: Tensor, real: Tensor) -> tuple[Tensor, Tensor, Tensor | None, int]:
    """The generator's inputs for one step: for a generator with a noise input, the first half
    of the conditions twice, each with its own ``z`` (the pairs :func:`mode_seeking_term`
    compares), with the real images in the same order; else the batch as it is.
    Returns (conditions, their real images, z or None, half)."""
    n = real.shape[0]
    style_dim = getattr(generator, "style_dim", 0)
    if not style_dim:
        return condition, real, None, n
    half = max(n // 2, 1)
    twice = lambda t: torch.cat([t[:half], t[:half]])[:n]
    return twice(condition), twice(real), torch.randn(n, style_dim, device=real.device), half


def mode_seeking_term(hparams: Any, fake: Tensor, z: Tensor | None, half: int) -> Tensor | None:
    """``hparams.lambda_ms`` x the capped mode-seeking loss of the :func:`noise_pairs` pairs
    (``None`` without a noise input, a weight of 0 or a batch too small to hold pairs)."""
    if z is None or hparams.lambda_ms <= 0 or fake.shape[0] < 2 * half:
        return None
    return hparams.lambda_ms * mode_seeking_loss(fake[:half], fake[half : 2 * half], z[:half], z[half : 2 * half], hparams.ms_tau)


def matching_aware(hparams: Any, loss_d_fake: Tensor, fake_loss_of_real_with: Callable[[Tensor], Tensor], condition: Tensor) -> tuple[Tensor, Tensor | None]:
    """The discriminator's fake term, matching-aware when ``hparams.mismatch_weight > 0``
    (GAN-CLS, Reed et al. 2016): ``(1 - w) * loss_d_fake + w * fake_loss_of_real_with(c)``,
    where ``c`` gives each real image the next image's condition (``condition`` rolled by one
    in the batch). Returns (the term, the mismatch loss or ``None``)."""
    weight = float(getattr(hparams, "mismatch_weight", 0.0))
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"mismatch_weight must be in [0, 1), got {weight}")
    if weight == 0.0 or condition.shape[0] < 2:
        return loss_d_fake, None
    loss_mismatch = fake_loss_of_real_with(condition.roll(1, dims=0))
    return (1 - weight) * loss_d_fake + weight * loss_mismatch, loss_mismatch

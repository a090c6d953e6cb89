"""CycleGAN: unpaired translation between healthy skin and lesion skin.

Zhu et al., "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial
Networks", ICCV 2017: two ResNet generators (Sec. 4 / App. 7.2: c7s1-64, d128, d256, 9
residual blocks, u128, u64, c7s1-3, instance norm), two 70x70 PatchGAN discriminators,
LSGAN loss, cycle-consistency loss with lambda 10 (Eq. 2-3), identity loss 0.5 lambda,
a history of 50 generated images for the discriminator updates, Adam 2e-4 / beta1 0.5
with linear decay. Domain A: lesion-free skin patches, B: lesion crops
(``gan_augment.domains``). ``gan-augment export --network G_BA`` exports lesion -> skin.

Options beyond the paper (its recipe stays the default): ``upsample="resize"`` (nearest 2x
upsampling + 3x3 convolution instead of transposed convolutions, no checkerboard artefacts;
Odena et al., Distill 2016) and, in :class:`CycleGANHParams`, the realism recipe: projected
discriminators (Sauer et al. 2021, unconditional here: each judges one domain's images),
hinge loss, an EMA of both generators and DiffAugment (Zhao et al. 2020).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from gan_augment.models._blocks import RealismRecipeOptions, ResnetGenerator
from gan_augment.registry import ModelSpec, register


class CycleGANGenerator(ResnetGenerator):
    """One direction of CycleGAN: a :class:`ResnetGenerator` with 2 downsamplings.

    ``upsample``: ``"transpose"`` (the paper's u128, u64: 3x3 stride-2 transposed convolutions)
    or ``"resize"`` (nearest 2x upsampling + 3x3 convolution)."""

    def __init__(
        self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, n_downsampling: int = 2, n_blocks: int = 9, norm: str = "instance",
        upsample: str = "transpose",
    ) -> None:
        super().__init__(in_channels, out_channels, ngf, n_downsampling, n_blocks, norm, upsample)


@dataclass
class CycleGANHParams(RealismRecipeOptions):
    """The paper's recipe: two 70x70 PatchGANs, LSGAN, cycle loss x 10, identity loss x 0.5
    x 10, a pool of 50 fakes, Adam 2e-4 / beta1 0.5, linear decay over the second half.

    ``discriminator="projected"`` trains against two projected discriminators instead (Sauer
    et al. 2021; frozen EfficientNet-``backbone`` features, random projections, per-scale
    heads, no condition; use ``gan_mode=hinge``, ``beta1=0``, ``beta2=0.99``);
    ``ema_half_life_images > 0`` keeps an EMA of both generators (exported as ``G`` and
    ``G_BA``, the trained ones saved as ``G_train`` and ``G_BA_train``)."""

    ndf: int = 64
    d_layers: int = 3
    gan_mode: str = "lsgan"
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5
    pool_size: int = 50
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    lr_decay_start: float = 0.5
    diffaugment: str = ""


def images_only(masks: Tensor | None, images: Tensor | None) -> Tensor:
    return images


def direction_of(hparams: Mapping[str, Any], network: str | None) -> str | None:
    """``G`` maps domain A (skin) to B (lesion): it adds; ``G_BA`` removes (with an EMA, these
    are the averages; ``G_train`` / ``G_BA_train`` the trained ones). ``None`` when the export
    did not record which generator it holds."""
    return {"G": "add", "G_BA": "remove", "G_train": "add", "G_BA_train": "remove"}.get(network or "")


SPEC = register(
    ModelSpec(
        name="cyclegan",
        task="image_to_image",
        generator=CycleGANGenerator,
        recipe="gan_augment.models.cyclegan_recipe:CycleGANRecipe",
        hparams=CycleGANHParams,
        paper="Zhu et al. 2017 (CycleGAN)",
        summary="CycleGAN, unpaired: healthy skin <-> lesion skin (cycle loss lambda 10)",
        default_image_size=128,
        tiny_generator_config={"ngf": 4, "n_blocks": 1},
        tiny_hparams={"ndf": 4, "d_layers": 2, "pool_size": 3},
        tiny_image_size=32,
        condition=images_only,
        needs_image=True,
        needs_mask=False,
        training_data="gan_augment.domains:skin_and_lesion_domains",
        domain_direction=direction_of,
    )
)

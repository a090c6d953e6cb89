"""gan_augment: GAN generators for dermatology images as drop-in data augmentation.

>>> import gan_augment as ga
>>> g = ga.from_pretrained("mask2lesion-isic2017-128")      # bundled, works offline
>>> aug = ga.GANAugment(g, p=0.5)                            # an albumentations DualTransform

Heavy or optional imports (albumentations, MONAI, torchvision adapters) happen on first
use of the name that needs them.
"""

from __future__ import annotations

import importlib
from typing import Any

from gan_augment._version import __version__

_LAZY = {
    "from_pretrained": "gan_augment.synthesizer",
    "list_pretrained": "gan_augment.hub",
    "push_to_hub": "gan_augment.hub",
    "PretrainedNotFoundError": "gan_augment.hub",
    "list_models": "gan_augment.models",
    "create": "gan_augment.models",
    "Synthesizer": "gan_augment.synthesizer",
    "CheckpointMismatchError": "gan_augment.synthesizer",
    "GANAugment": "gan_augment.transforms.albumentations",
    "RandGANAugment": "gan_augment.transforms.monai",
    "RandGANAugmentd": "gan_augment.transforms.monai",
    "RandomGANAugment": "gan_augment.transforms.torchvision",
    "MixedDataset": "gan_augment.mixers",
    "BatchMixer": "gan_augment.mixers",
    "SyntheticBank": "gan_augment.mixers",
    "lesion_copy_paste": "gan_augment.copy_paste",
    "LesionBank": "gan_augment.copy_paste",
    "LesionCopyPaste": "gan_augment.transforms.albumentations",
}

# Written out (not derived from _LAZY) so that static tools see the public names;
# tests/test_api_surface.py checks that both lists agree.
__all__ = [
    "BatchMixer",
    "CheckpointMismatchError",
    "GANAugment",
    "LesionBank",
    "LesionCopyPaste",
    "MixedDataset",
    "PretrainedNotFoundError",
    "RandGANAugment",
    "RandGANAugmentd",
    "RandomGANAugment",
    "Synthesizer",
    "SyntheticBank",
    "__version__",
    "create",
    "from_pretrained",
    "lesion_copy_paste",
    "list_models",
    "list_pretrained",
    "push_to_hub",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gan_augment' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)

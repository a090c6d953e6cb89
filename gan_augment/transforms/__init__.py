"""Adapters of the same synthesis core for Albumentations, MONAI and torchvision v2.

Import the one you need: ``gan_augment.transforms.albumentations.GANAugment`` (also
``gan_augment.GANAugment``), ``gan_augment.transforms.monai``, ``gan_augment.transforms.torchvision``.
"""

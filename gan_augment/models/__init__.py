"""One file per paper; importing this package registers every model."""

from gan_augment.models import pix2pix  # noqa: F401

"""One file per paper; importing this package registers every model."""

from gan_augment.models import cyclegan, dcgan, inpaint, pix2pix, pix2pixhd, progan, residual_unet  # noqa: F401

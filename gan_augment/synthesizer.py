""":class:`Synthesizer`: what :func:`from_pretrained` returns and every adapter holds.

It pairs a generator network with what calling it needs (architecture, config, native
image size, class names) and places the weights on a device lazily: ``from_pretrained``
only checks the safetensors header against the architecture; tensors are read and moved
to CUDA (when present, else CPU) on the first call.
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from torch import Tensor, nn

from gan_augment import functional as Fn
from gan_augment.devices import resolve_device
from gan_augment.hub import WEIGHTS_NAME, push_to_hub, read_config, resolve_pretrained, save_pretrained
from gan_augment.lesion_box import dilate
from gan_augment.models import ModelSpec, get_spec


class CheckpointMismatchError(ValueError):
    """The weights file does not match the architecture named in config.json."""


class MissingInputError(ValueError):
    """:meth:`Synthesizer.generate` lacks an input the model reads; ``input`` names it
    (``"masks"``, ``"images"`` or ``"labels"``) so that adapters can name their own key."""

    def __init__(self, input: str, message: str) -> None:
        super().__init__(message)
        self.input = input


class Synthesizer:
    """A trained generator ready for synthesis.

    Build one with :func:`gan_augment.from_pretrained` or :meth:`from_network`. Inputs and
    outputs are float NCHW tensors in [0, 1] (masks N1HW in {0, 1}) of any size; the
    generator runs at its native ``image_size`` and results are resized back.
    """

    def __init__(
        self,
        architecture: str,
        generator_config: dict[str, Any],
        *,
        image_size: int,
        network: nn.Module | None = None,
        weights_path: str | os.PathLike | None = None,
        class_names: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        source: str | None = None,
        device: str | torch.device = "auto",
    ) -> None:
        if (network is None) == (weights_path is None):
            raise ValueError("give exactly one of network or weights_path")
        self.spec: ModelSpec = get_spec(architecture)
        self.architecture = architecture
        self.generator_config = dict(generator_config)
        self.image_size = Fn.check_image_size(image_size, f"{architecture}: image_size")
        self.class_names = list(class_names) if class_names else None
        self.metadata = dict(metadata or {})
        self.source = source
        self._requested_device = device
        self._weights_path = Path(weights_path) if weights_path is not None else None
        self._network = network
        self._lock = threading.Lock()
        self._num_classes: int | None = None
        self._compile_options: dict[str, Any] | None = None
        self._compiled: nn.Module | None = None
        if network is None:
            self._check_weights_header()
        else:
            self.spec.prepare_for_inference(network)

    # --- construction ---------------------------------------------------------------------
    @classmethod
    def from_network(cls, network: nn.Module, architecture: str, generator_config: dict[str, Any], image_size: int, **kwargs: Any) -> Synthesizer:
        """Wrap an in-memory generator (e.g. straight after training)."""
        return cls(architecture, generator_config, image_size=image_size, network=network, **kwargs)

    def _build_empty(self) -> nn.Module:
        with torch.device("meta"):
            return self.spec.generator(**self.generator_config)

    def _check_weights_header(self) -> None:
        """Strict check without reading tensors: every key and shape must match."""
        expected = {k: tuple(v.shape) for k, v in self._build_empty().state_dict().items()}
        try:
            with safe_open(str(self._weights_path), framework="pt") as f:
                found = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
        except (OSError, SafetensorError) as err:
            raise CheckpointMismatchError(f"{self._weights_path}: cannot read the weights ({err})") from None
        _raise_on_mismatch(expected, found, self._weights_path)

    # --- device placement -------------------------------------------------------------------
    @property
    def is_loaded(self) -> bool:
        """Whether the weights have been read and placed on a device yet."""
        return self._network is not None

    @property
    def network(self) -> nn.Module:
        """The generator module, loaded onto its device on first access."""
        if self._network is None:
            with self._lock:
                if self._network is None:
                    self._network = self._load(resolve_device(self._requested_device))
        return self._network

    def _load(self, device: torch.device) -> nn.Module:
        try:
            state = load_file(str(self._weights_path), device="cpu")
        except (OSError, SafetensorError) as err:
            raise CheckpointMismatchError(f"{self._weights_path}: cannot read the weights ({err})") from None
        bad = sorted(k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all()))
        if bad:
            raise CheckpointMismatchError(f"{self._weights_path}: tensors {bad} contain NaN or infinite values (a diverged or corrupted checkpoint)")
        state = {k: (v.float() if v.is_floating_point() else v).to(device) for k, v in state.items()}
        network = self._build_empty()
        try:
            network.load_state_dict(state, strict=True, assign=True)
        except RuntimeError as err:  # strict: name what is wrong
            raise CheckpointMismatchError(f"{self._weights_path}: {err}") from None
        left = [n for n, t in [*network.named_parameters(), *network.named_buffers()] if t.is_meta]
        if left:
            raise CheckpointMismatchError(f"{self._weights_path}: no weights for {left}")
        return self.spec.prepare_for_inference(network.to(device))

    @property
    def device(self) -> torch.device:
        """Where the weights are (or will be on first use)."""
        if self._network is not None:
            return next(self._network.parameters()).device
        return resolve_device(self._requested_device)

    def to(self, device: str | torch.device) -> Synthesizer:
        """Move (or, if not loaded yet, target) another device."""
        self._requested_device = device
        self._compiled = None  # compiled for the old device: compiled again on the next call
        if self._network is not None:
            self._network.to(resolve_device(device))
        return self

    def compile(self, **options: Any) -> Synthesizer:
        """Run generation calls through ``torch.compile(network, **options)`` (compiled on the
        next call, in each process; weights, cards and ``save_pretrained`` are unchanged).
        Measured here (``benchmarks/generator_speed.py``, Mask2Lesion at 128 px, 2-core CPU):
        1.6-2.4x the images/s of the eager call after about 20-30 s of compiling, outputs
        within 2e-5; worth it for a bank or a long run, not for a few calls."""
        self._compile_options = dict(options)
        self._compiled = None
        return self

    @property
    def _runner(self) -> nn.Module:
        """The module generation calls run: the network, or its compiled form (:meth:`compile`)."""
        if self._compile_options is None:
            return self.network
        if self._compiled is None:
            self._compiled = torch.compile(self.network, **self._compile_options)
        return self._compiled

    @property
    def task(self) -> str:
        return self.spec.task

    @property
    def num_classes(self) -> int:
        """Classes of a class-conditional generator (0: unconditional), known without reading
        the weights (from a tensor-free build of the architecture when not loaded yet)."""
        if self._num_classes is None:
            network = self._network if self._network is not None else self._build_empty()
            self._num_classes = int(getattr(network, "num_classes", 0) or 0)
        return self._num_classes

    @property
    def direction(self) -> str | None:
        """Translators between lesion-free skin and lesion crops (:mod:`gan_augment.domains`:
        residual U-Net, CycleGAN): ``"add"`` (skin + mask -> lesion) or ``"remove"`` (lesion ->
        skin), as the checkpoint records it (``config.json``: ``training.hparams`` and the
        exported ``training.network``); ``None`` for other models or when it is not recorded."""
        if self.spec.domain_direction is None:
            return None
        training = self.metadata.get("training") or {}
        return self.spec.domain_direction(training.get("hparams") or {}, training.get("network"))

    # --- synthesis ------------------------------------------------------------------------------
    @property
    def reads(self) -> tuple[str, ...]:
        """The inputs of :meth:`generate` this model reads: ``()`` or ``("labels",)`` for
        noise models (DCGAN, ProGAN; labels when class-conditional), ``("masks",)`` (pix2pix),
        ``("masks", "images")`` (pix2pixHD, residual U-Net, inpainting), ``("images",)`` (CycleGAN)."""
        if self.task == "noise_to_image":
            return ("labels",) if self.num_classes else ()
        return tuple(name for name, read in (("masks", self.spec.needs_mask), ("images", self.spec.needs_image)) if read)

    def generate(
        self,
        masks: Tensor | None = None,
        images: Tensor | None = None,
        *,
        labels: Tensor | list[int] | int | str | None = None,
        n: int | None = None,
        seed: int | None = None,
        size: int | tuple[int, int] | None = None,
        erase_masks: Tensor | None = None,
        aligned: bool = False,
    ) -> Tensor:
        """The one generation path of every model: give what you have, the model takes the
        inputs its kind reads (:attr:`reads`) and ignores the rest.

        * noise models draw ``n`` images (default: the batch size of ``masks`` / ``images``,
          else 1) of ``labels`` (class-conditional models) at ``size`` (default: the size of
          ``masks`` / ``images``, else the native size);
        * translators read ``masks`` (N1HW / NHW in {0, 1}) and/or ``images`` (N3HW float in
          [0, 1]) and return images of the input's size (``erase_masks``: the inpainting
          model's reshape, see :meth:`translate`).

        ``aligned=True`` says the caller keeps the given masks paired with the output (a
        segmentation pipeline): noise models refuse, their samples have no mask. A missing
        input the model reads raises :class:`MissingInputError`. Returns N3HW float in [0, 1]
        on the device of the inputs (else of the network).
        """
        reference = masks if masks is not None else images
        if self.task == "noise_to_image":
            if aligned:
                raise ValueError(
                    f"{self.architecture} generates from noise and cannot keep an image/mask pair aligned; "
                    "use a mask-conditioned generator (e.g. pix2pix) in segmentation pipelines"
                )
            if self.num_classes and labels is None:
                raise MissingInputError("labels", f"{self.architecture} is class-conditional ({self.num_classes} classes): pass labels=")
            if n is None:
                n = int(reference.shape[0]) if reference is not None else 1
            if size is None:
                size = tuple(reference.shape[-2:]) if reference is not None else self.image_size
            out_size = (size, size) if isinstance(size, int) else tuple(size)
            out = self.sample(n, labels=labels if self.num_classes else None, seed=seed)
            out = Fn.resize_images(out, out_size)
            return out.to(reference.device) if reference is not None else out
        for name, given in (("masks", masks), ("images", images)):
            if given is None and name in self.reads:
                what = "lesion masks" if name == "masks" else "the image too"
                raise MissingInputError(name, f"{self.architecture} reads {what}: pass {name}=")
        extra = {"erase_masks": erase_masks} if erase_masks is not None else {}
        return self.translate(
            images=images if "images" in self.reads else None, masks=masks if "masks" in self.reads else None, seed=seed, **extra
        )

    def translate(
        self,
        images: Tensor | None = None,
        masks: Tensor | None = None,
        *,
        seed: int | None = None,
        erase_masks: Tensor | None = None,
    ) -> Tensor:
        """Translate ``images`` (N3HW float in [0, 1]) and/or ``masks`` (N1HW or NHW in {0, 1}).

        pix2pix draws a lesion image for each mask (``translate(masks=m)``); pix2pixHD also
        reads the image (its SLIC instance map); the residual U-Net adds / removes a lesion
        inside the mask of an image; CycleGAN maps images between domains. Inputs of any
        size; returns N3HW float in [0, 1] of the input's size, on the input's device.

        ``erase_masks`` (models with ``spec.reshapes``, the inpainting model): the old lesions
        to paint over while a new lesion is drawn in ``masks`` (reshape instead of re-texture).
        """
        if self.task == "noise_to_image":
            raise TypeError(f"{self.architecture} generates from noise: call sample(n, labels=..., seed=...)")
        if masks is None and self.spec.needs_mask:
            raise ValueError(f"{self.architecture} is conditioned on lesion masks: pass masks=")
        if images is None and self.spec.needs_image:
            raise ValueError(f"{self.architecture} reads the image too: pass images=")
        masks = check_masks(masks) if masks is not None else None
        images = check_images(images, like=masks) if images is not None else None
        if erase_masks is not None:
            if not self.spec.reshapes:
                raise TypeError(f"{self.architecture} cannot reshape lesions (erase_masks=); the inpainting model can")
            erase_masks = check_masks(erase_masks)
            if masks is None or erase_masks.shape != masks.shape:
                raise ValueError(f"erase_masks {tuple(erase_masks.shape)} must have the shape of masks")
        if self.spec.translator is not None:
            extra = {"erase_masks": erase_masks} if erase_masks is not None else {}
            return self.spec.translator(self._runner, masks, images, image_size=self.image_size, seed=seed, **extra)
        out = Fn.translate(
            self._runner, masks, images, image_size=self.image_size, condition=self.spec.condition, seed=seed
        )
        if self.spec.keeps_outside_mask and masks is not None and images is not None:
            # the network ran at its size on the whole input: put the input back outside the mask
            # (grown by two model pixels at the input's scale), bit-exact
            radius = math.ceil(2 * max(masks.shape[-2:]) / self.image_size)
            inside = dilate(masks.to(out.device).float(), radius).bool().expand_as(out)
            out = torch.where(inside, out, images.to(out.device, out.dtype))
        return out

    def sample(
        self,
        n: int,
        labels: Tensor | list[int] | int | None = None,
        *,
        seed: int | None = None,
        truncation: float | None = None,
        size: int | None = None,
    ) -> Tensor:
        """``n`` images from noise (N3HW float in [0, 1]); ``labels`` (one per image, or one
        for all) for class-conditional models; ``truncation`` resamples latent components
        beyond that magnitude; ``size`` resizes the output."""
        if self.task != "noise_to_image":
            raise TypeError(f"{self.architecture} translates inputs: call translate(images=..., masks=...)")
        if n <= 0:
            raise ValueError(f"n must be positive, got {n}")
        if size is not None:
            Fn.check_image_size(size, "size")
        num_classes = self.num_classes
        label_tensor = None
        if num_classes:
            if labels is None:
                raise ValueError(f"{self.architecture} is class-conditional ({num_classes} classes): pass labels=")
            label_tensor = torch.as_tensor(self._label_indices(labels), dtype=torch.long).flatten()
            if label_tensor.numel() == 1:
                label_tensor = label_tensor.expand(n).clone()
            if label_tensor.numel() != n:
                raise ValueError(f"got {label_tensor.numel()} labels for {n} images")
            if label_tensor.min() < 0 or label_tensor.max() >= num_classes:
                raise ValueError(f"labels must lie in [0, {num_classes - 1}], got {label_tensor.tolist()}")
        elif labels is not None:
            raise ValueError(f"{self.architecture} is unconditional: labels are not accepted")
        return Fn.sample(self._runner, n, labels=label_tensor, seed=seed, truncation=truncation, size=size or self.image_size)

    def _label_indices(self, labels: Any) -> Any:
        """Class names (when the model records them) or indices -> indices."""
        names = [labels] if isinstance(labels, str) else labels
        if isinstance(names, (list, tuple)) and names and all(isinstance(x, str) for x in names):
            if not self.class_names:
                raise ValueError("this model records no class names: pass class indices")
            unknown = [x for x in names if x not in self.class_names]
            if unknown:
                raise ValueError(f"unknown classes {unknown}; this model knows {self.class_names}")
            return [self.class_names.index(x) for x in names]
        return labels

    def save_pretrained(self, path: str | os.PathLike, *, dtype: str | None = None, card: str | None = None) -> Path:
        """Write a Hugging Face model folder: config.json + model.safetensors (+ README.md card)."""
        return save_pretrained(self, path, dtype=dtype, card=card)

    def push_to_hub(self, repo_id: str, **kwargs: Any) -> str:
        """Save to a temporary folder and upload it (see :func:`gan_augment.hub.push_to_hub`)."""
        with tempfile.TemporaryDirectory() as tmp:
            self.save_pretrained(tmp)
            return push_to_hub(tmp, repo_id, **kwargs)

    def __getstate__(self) -> dict[str, Any]:
        # Picklable for spawn-started DataLoader workers: a lazily loadable synthesizer is
        # sent without its tensors (each process loads its own copy on first use).
        state = self.__dict__.copy()
        state["_lock"] = None
        state["_compiled"] = None  # compiled modules do not pickle: each process compiles its own
        state.pop("spec")  # looked up again by name: specs hold functions
        if self._weights_path is not None:
            state["_network"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("_num_classes", None)
        self.__dict__.setdefault("_compile_options", None)
        self.__dict__.setdefault("_compiled", None)
        self.spec = get_spec(self.architecture)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        where = str(self.device) if self.is_loaded else f"not loaded (-> {self.device})"
        return f"Synthesizer({self.architecture!r}, image_size={self.image_size}, task={self.task!r}, {where}, source={self.source!r})"


def from_pretrained(
    name_or_path: str | os.PathLike,
    *,
    device: str | torch.device = "auto",
    local_files_only: bool | None = None,
    revision: str | None = None,
) -> Synthesizer:
    """Load a generator: a local folder, a bundled name (``list_pretrained()``) or a hub id.

    The safetensors header is checked against the architecture now (a missing, unexpected
    or mis-shaped tensor is an error naming it); tensors are read and placed on ``device``
    (``"auto"``: CUDA when available, else CPU) at the first call.
    """
    folder = resolve_pretrained(name_or_path, local_files_only=local_files_only, revision=revision)
    cfg = read_config(folder)
    return Synthesizer(
        cfg["architecture"],
        cfg["generator_config"],
        image_size=cfg["image_size"],
        weights_path=folder / WEIGHTS_NAME,
        class_names=cfg.get("class_names"),
        metadata=cfg,
        source=str(name_or_path),
        device=device,
    )


def _raise_on_mismatch(expected: dict[str, tuple], found: dict[str, tuple], path: Any) -> None:
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    wrong = sorted(k for k in set(expected) & set(found) if expected[k] != found[k])
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing tensors {missing}")
        if unexpected:
            parts.append(f"unexpected tensors {unexpected}")
        if wrong:
            parts.append("shape mismatch " + ", ".join(f"{k}: file {found[k]} vs model {expected[k]}" for k in wrong))
        raise CheckpointMismatchError(f"{path} does not match the architecture in config.json: " + "; ".join(parts))


def check_masks(masks: Tensor) -> Tensor:
    """N1HW / NHW tensor with values in {0, 1} -> float N1HW."""
    if not isinstance(masks, Tensor):
        raise TypeError(f"masks must be a torch.Tensor, got {type(masks).__name__}")
    if masks.ndim == 3:
        masks = masks.unsqueeze(1)
    if masks.ndim != 4 or masks.shape[1] != 1:
        raise ValueError(f"masks must be N1HW or NHW, got shape {tuple(masks.shape)}")
    masks = masks.float()
    if not torch.all((masks == 0) | (masks == 1)):
        raise ValueError("masks must be binary with values in {0, 1}")
    return masks


def check_images(images: Tensor, like: Tensor | None) -> Tensor:
    """N3HW float tensor in [0, 1] whose batch and size match ``like`` (if given)."""
    if not isinstance(images, Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be N3HW (RGB), got shape {tuple(images.shape)}")
    if like is not None and (images.shape[0] != like.shape[0] or images.shape[-2:] != like.shape[-2:]):
        raise ValueError(f"images {tuple(images.shape)} and masks {tuple(like.shape)} differ in batch or size")
    if not images.is_floating_point():
        raise ValueError("images must be float with values in [0, 1]")
    if not bool(torch.isfinite(images).all()):
        raise ValueError("images contain NaN or infinite values; they must be finite floats in [0, 1]")
    if images.min() < 0 or images.max() > 1:
        raise ValueError("images must be float with values in [0, 1]")
    return images

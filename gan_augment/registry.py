"""The one model registry: architecture name -> :class:`ModelSpec` (a leaf of the import
graph: it imports nothing from the package, as timm's ``models/_registry.py``).

Every paper's file in ``gan_augment.models`` calls :func:`register` once; importing
:mod:`gan_augment.models` imports every such file, so use ``gan_augment.models.get_spec``
/ ``list_models`` / ``create`` (the same functions, with the table filled) outside the
model files. Nothing looks models up by file name; ``create("pix2pix", ngf=32)`` is the only
way networks are built from a name (``config.json`` stores that name and those keyword
arguments). A spec names its training-only parts (recipe, training view) as
``"module:attribute"`` strings, imported on first use: loading a generator for inference
never imports training code.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from torch import nn

Task = Literal["mask_to_image", "image_to_image", "noise_to_image"]
"""What a generator consumes:

* ``mask_to_image``: a binary lesion mask (plus, for some models, maps derived from an image)
  -> a lesion image (pix2pix / Mask2Lesion, pix2pixHD).
* ``image_to_image``: an image (and optionally a mask) -> a translated image (residual U-Net,
  CycleGAN).
* ``noise_to_image``: latent noise (and optionally a class label) -> an image (DCGAN, ProGAN).
"""


@dataclass(frozen=True)
class ModelSpec:
    """Everything the library knows about one architecture.

    ``generator`` is a plain ``nn.Module`` class whose constructor keyword arguments are
    the config (they go to ``config.json``). ``recipe`` names (``"module:Class"``) the
    training recipe that builds the discriminators, losses and optimisers around a
    generator (:meth:`recipe_class` imports it); ``hparams`` is the dataclass of the
    recipe's hyper-parameters with the paper's defaults.
    """

    name: str
    task: Task
    generator: type[nn.Module]
    recipe: str
    hparams: type
    paper: str
    summary: str
    default_image_size: int
    tiny_generator_config: Mapping[str, Any] = field(default_factory=dict)
    tiny_hparams: Mapping[str, Any] = field(default_factory=dict)
    tiny_image_size: int = 32
    condition: Callable[..., Any] | None = None
    """``condition(masks, images) -> tensor``: the generator input of a translator, from
    binary masks N1HW in {0, 1} and/or images N3HW in [-1, 1] at the model's size."""
    needs_mask: bool = True
    """Translators: whether ``translate`` needs ``masks=`` (pix2pix, residual U-Net: yes; CycleGAN: no)."""
    needs_image: bool = False
    """Translators: whether ``translate`` needs ``images=`` (pix2pixHD's SLIC map, residual U-Net, CycleGAN)."""
    training_data: str | None = None
    """``"module:function"`` of ``training_data(dataset, image_size, seed) -> Dataset`` keyed by (epoch, index); default
    :class:`~gan_augment.train_data.GANTrainingView`."""
    config_for_size: Callable[[int], dict[str, Any]] | None = None
    """Generator options implied by the training image size (e.g. U-Net depth)."""
    translator: Callable[..., Any] | None = None
    """``translator(network, masks, images, *, image_size, seed) -> images``: the model's own
    inference path when resizing the whole input to ``image_size`` does not fit (the
    inpainting model works in the lesion box and pastes back); default
    :func:`gan_augment.functional.translate`."""
    reshapes: bool = False
    """Translators: whether ``translate`` takes ``erase_masks=`` (the old lesion to paint over
    while drawing a new one in ``masks``): the inpainting model's *reshape* use."""
    stochastic_dropout: bool = False
    """Keep dropout active at inference as the noise source (pix2pix, Isola et al. Sec. 3.1)."""
    keeps_outside_mask: bool = False
    """Translators that edit inside the mask only (residual U-Net, inpainting): every pixel
    outside the mask, grown by two model pixels, is returned bit-exact at the input's size.
    Otherwise the model replaces the whole image, background included (pix2pix, pix2pixHD,
    CycleGAN), and its card says so."""
    domain_direction: Callable[[Mapping[str, Any], str | None], str | None] | None = None
    """Translators between the two domains of :mod:`gan_augment.domains` (lesion-free skin
    patches, lesion crops): ``domain_direction(hparams, network)`` -> ``"add"`` (skin ->
    lesion), ``"remove"`` (lesion -> skin) or ``None`` where the checkpoint does not say,
    from the run's recipe hyper-parameters and the exported generator (``export --network``).
    ``None`` (the field) for models that do not translate between those domains."""

    def prepare_for_inference(self, network: nn.Module) -> nn.Module:
        """Eval mode (running BatchNorm statistics); dropout stays on where the paper samples with it."""
        network.eval()
        if self.stochastic_dropout:
            for m in network.modules():
                if isinstance(m, nn.Dropout):
                    m.train()
        return network

    @staticmethod
    def resolve(reference: str) -> Any:
        """The object a ``"package.module:attribute"`` string names, imported now."""
        module, _, attribute = reference.partition(":")
        # A string, not an import statement: training-only code (recipes, training views)
        # is imported when training starts, never when a generator is loaded for inference.
        return getattr(importlib.import_module(module), attribute)

    def recipe_class(self) -> type:
        """The training recipe class (imports the model's ``*_recipe`` module)."""
        return self.resolve(self.recipe)

    def generator_arg_names(self) -> tuple[str, ...]:
        params = inspect.signature(self.generator.__init__).parameters
        return tuple(n for n in params if n != "self")

    def hparam_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(self.hparams))


_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add an architecture; a second registration under the same name is an error."""
    if spec.name in _REGISTRY and _REGISTRY[spec.name] is not spec:
        raise ValueError(f"a model named {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def get_spec(name: str) -> ModelSpec:
    """The spec of a registered architecture; a clear KeyError lists the known names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "(none)"
        raise KeyError(f"unknown model {name!r}; registered models: {known} (import gan_augment.models to register them all)") from None


def list_models() -> list[str]:
    """Names of every registered architecture, sorted."""
    return sorted(_REGISTRY)


def create(name: str, **config: Any) -> nn.Module:
    """Build the generator of architecture ``name`` from its config keyword arguments."""
    spec = get_spec(name)
    unknown = set(config) - set(spec.generator_arg_names())
    if unknown:
        raise TypeError(
            f"{name}: unknown generator option(s) {sorted(unknown)}; "
            f"valid options are {list(spec.generator_arg_names())}"
        )
    return spec.generator(**config)


def split_options(name: str, options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Route ``key=value`` options to the generator config or the recipe hyper-parameters."""
    spec = get_spec(name)
    gen_names, hp_names = set(spec.generator_arg_names()), set(spec.hparam_names())
    generator_config, hparams = {}, {}
    for key, value in options.items():
        if key in gen_names:
            generator_config[key] = value
        elif key in hp_names:
            hparams[key] = value
        else:
            raise KeyError(
                f"{name}: unknown option {key!r}; generator options: {sorted(gen_names)}; "
                f"training options: {sorted(hp_names)}"
            )
    return generator_config, hparams

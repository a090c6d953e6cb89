"""Pin the public API: names users import must not disappear by accident."""

import gan_augment as ga


def test_top_level_names():
    assert set(ga.__all__) == {
        "__version__", "from_pretrained", "list_pretrained", "push_to_hub", "PretrainedNotFoundError",
        "list_models", "create", "Synthesizer", "CheckpointMismatchError", "GANAugment",
        "RandGANAugment", "RandGANAugmentd", "RandomGANAugment", "MixedDataset", "BatchMixer", "SyntheticBank",
        "lesion_copy_paste", "LesionBank", "LesionCopyPaste",
    }
    assert set(ga.__all__) == {"__version__", *ga._LAZY}, "__all__ and the lazy-import table must list the same names"
    for name in ga.__all__:
        assert getattr(ga, name) is not None


def test_import_is_light():
    import subprocess
    import sys

    code = "import sys, gan_augment; print(any(m in sys.modules for m in ('albumentations', 'monai')))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"

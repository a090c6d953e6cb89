"""`gan-augment demo` (the README's main job) on the bundled checkpoint and sample."""

from PIL import Image

from gan_augment.cli import main


def test_demo_writes_a_grid_and_a_summary(tmp_path, capsys):
    out = tmp_path / "demo.png"
    assert main(["demo", "--out", str(out)]) == 0
    summary = capsys.readouterr().out
    assert "6 real ISIC 2017" in summary and "synthetic shapes" in summary and str(out) in summary
    with Image.open(out) as im:
        assert im.width > 3 * 256 and im.height > 10 * 256  # 3 columns, 10 rows

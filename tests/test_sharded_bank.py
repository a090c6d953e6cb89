"""SyntheticBank.build / ``gan-augment sample --bank`` sharded over processes: the shards of
two processes are the one-process bank, an interrupted process resumes, and a second build
into the same folder is refused while the processes of one build share it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from gan_augment.cli import main
from gan_augment.mixers import GeneratorSource, SyntheticBank
from gan_augment.run_files import FolderLockedError


def _assert_same_bank(a, b) -> None:
    manifest_a, manifest_b = (json.loads((f / "bank.json").read_text()) for f in (a, b))
    assert manifest_a == manifest_b
    for name in manifest_a["shards"]:
        x, y = load_file(str(a / name)), load_file(str(b / name))
        assert x.keys() == y.keys() >= {"images", "masks", "seeds"}
        assert all(torch.equal(x[k], y[k]) for k in x), f"{name} differs"


def test_two_processes_write_the_one_process_bank(tiny_pix2pix_dir, tmp_path, monkeypatch, capsys):
    from gan_augment.synthesizer import from_pretrained

    argv = ["sample", str(tiny_pix2pix_dir), "--bank", str(tmp_path / "two"), "-n", "7", "--shard-size", "2", "--seed", "3", "--device", "cpu", "--quiet"]
    monkeypatch.setenv("WORLD_SIZE", "2")  # as torchrun starts them
    monkeypatch.setenv("RANK", "1")
    assert main(argv) == 0
    assert "process 1 of 2" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "two").glob("shard_*")) == ["shard_00001.safetensors", "shard_00003.safetensors"]
    assert not (tmp_path / "two" / "bank.json").exists()
    monkeypatch.setenv("RANK", "0")
    assert main(argv) == 0  # the last process to finish writes the manifest
    assert "7 samples" in capsys.readouterr().out
    monkeypatch.delenv("WORLD_SIZE")
    monkeypatch.delenv("RANK")

    one = SyntheticBank.build(from_pretrained(str(tiny_pix2pix_dir), device="cpu"), tmp_path / "one", 7, shard_size=2, seed=3, progress=False)
    _assert_same_bank(tmp_path / "one", tmp_path / "two")
    manifest = json.loads((tmp_path / "two" / "bank.json").read_text())
    assert manifest["seed"] == 3 and "SeedSequence([seed, i, 0])" in manifest["item_seed"]
    assert len(SyntheticBank(tmp_path / "two")) == len(one) == 7


def test_an_interrupted_process_resumes_its_own_shards(tiny_pix2pix, tmp_path, monkeypatch):
    folder = tmp_path / "two"
    assert SyntheticBank.build(tiny_pix2pix, folder, 8, shard_size=2, rank=0, world_size=2, progress=False) is None
    item, calls = GeneratorSource.item, []

    def interrupted(self, seed, label):
        calls.append(seed)
        if len(calls) == 3:  # in its second shard
            raise KeyboardInterrupt
        return item(self, seed, label)

    monkeypatch.setattr(GeneratorSource, "item", interrupted)
    with pytest.raises(KeyboardInterrupt):
        SyntheticBank.build(tiny_pix2pix, folder, 8, shard_size=2, rank=1, world_size=2, progress=False)
    monkeypatch.setattr(GeneratorSource, "item", item)
    assert sorted(p.name for p in folder.glob("shard_*")) == [f"shard_0000{s}.safetensors" for s in (0, 1, 2)]
    assert not list(folder.glob("*.lock")) and not (folder / "bank.json").exists()
    written = {p.name: p.stat().st_mtime_ns for p in folder.glob("shard_*")}
    bank = SyntheticBank.build(tiny_pix2pix, folder, 8, shard_size=2, rank=1, world_size=2, progress=False)
    assert bank is not None and len(bank) == 8
    assert all(folder.joinpath(name).stat().st_mtime_ns == t for name, t in written.items())  # not regenerated
    SyntheticBank.build(tiny_pix2pix, tmp_path / "one", 8, shard_size=2, progress=False)
    _assert_same_bank(tmp_path / "one", folder)
    with pytest.raises(ValueError, match="other settings"):
        SyntheticBank.build(tiny_pix2pix, folder, 8, shard_size=2, seed=5, rank=1, world_size=2, progress=False)


def test_a_second_build_is_refused_but_not_the_other_processes_of_the_same_build(tiny_pix2pix, tmp_path):
    folder = tmp_path / "bank"
    folder.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # process 0 of a running 2-process build
    try:
        (folder / ".build.rank0-of-2.lock").write_text(f"{holder.pid}\n")
        with pytest.raises(FolderLockedError, match=rf"process {holder.pid} is running SyntheticBank.build there on 2 process"):
            SyntheticBank.build(tiny_pix2pix, folder, 4, shard_size=2, progress=False)
        with pytest.raises(FolderLockedError, match=rf"process {holder.pid} is running SyntheticBank.build \(process 0 of 2\)"):
            SyntheticBank.build(tiny_pix2pix, folder, 4, shard_size=2, rank=0, world_size=2, progress=False)
        with pytest.raises(FolderLockedError, match="on 2 process"):
            SyntheticBank.build(tiny_pix2pix, folder, 4, shard_size=2, rank=1, world_size=3, progress=False)
        assert not list(folder.glob("shard_*"))  # nothing written next to the running build
        # process 1 of the same build shares the folder
        assert SyntheticBank.build(tiny_pix2pix, folder, 4, shard_size=2, rank=1, world_size=2, progress=False) is None
        assert [p.name for p in folder.glob("shard_*")] == ["shard_00001.safetensors"]
    finally:
        holder.kill()
        holder.wait()
    # the holder is dead: its lock is stale, taken over by process 0 of a rerun, which completes the bank
    bank = SyntheticBank.build(tiny_pix2pix, folder, 4, shard_size=2, rank=0, world_size=2, progress=False)
    assert bank is not None and len(bank) == 4 and not list(folder.glob("*.lock"))

    other = tmp_path / "other"
    other.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # a one-process build
    try:
        (other / ".build.lock").write_text(f"{holder.pid}\n")
        with pytest.raises(FolderLockedError, match="on 1 process"):
            SyntheticBank.build(tiny_pix2pix, other, 4, shard_size=2, rank=1, world_size=2, progress=False)
    finally:
        holder.kill()
        holder.wait()


def test_rank_and_world_size_go_together(tiny_pix2pix, tmp_path):
    with pytest.raises(ValueError, match="give both rank and world_size"):
        SyntheticBank.build(tiny_pix2pix, tmp_path, 2, rank=0, progress=False)
    with pytest.raises(ValueError, match=r"rank must lie in \[0, world_size\)"):
        SyntheticBank.build(tiny_pix2pix, tmp_path, 2, rank=2, world_size=2, progress=False)

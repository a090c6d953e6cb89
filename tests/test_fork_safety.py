"""Transforms used in the parent and then mapped over a fork-started pool must not hang
(the copied torch thread pool deadlocks a forked child unless it is reset)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
from conftest import REPO

SCENARIO = textwrap.dedent(
    """
    import multiprocessing, sys
    import numpy as np, torch
    sys.path.insert(0, {tests!r})
    from conftest import disk_mask, tiny_synthesizer
    from torchvision import tv_tensors
    from gan_augment.transforms.albumentations import GANAugment
    from gan_augment.transforms.monai import RandGANAugment
    from gan_augment.transforms.torchvision import RandomGANAugment

    torch.set_num_threads(2)  # the parent uses the intra-op thread pool
    g = tiny_synthesizer("pix2pix")
    image, mask = np.zeros((64, 64, 3), np.uint8), disk_mask(64, 64)
    alb, mon, tv = GANAugment(g, p=1.0), RandGANAugment(g, prob=1.0), RandomGANAugment(g, p=1.0)

    def work(i):
        a = alb(image=image, mask=mask)["image"]
        m = mon(image.transpose(2, 0, 1), mask)
        t = tv(tv_tensors.Image(torch.from_numpy(image).permute(2, 0, 1)), tv_tensors.Mask(torch.from_numpy(mask)))[0]
        return a.shape, m.shape, tuple(t.shape)

    work(0)
    with multiprocessing.get_context("fork").Pool(2) as pool:
        print(pool.map(work, range(4)))
    print("done")
    """
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_pool_after_use_in_parent_does_not_hang(tmp_path):
    script = tmp_path / "scenario.py"
    script.write_text(SCENARIO.format(tests=str(REPO / "tests")))
    env = {**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        start_new_session=True,  # its own process group: a hang is killed with its pool children
    )
    try:
        out, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("a fork-started pool hung after the transform was used in the parent (torch thread pool not reset)")
    assert proc.returncode == 0, out
    assert "done" in out

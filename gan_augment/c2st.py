"""Classifier two-sample tests (Lopez-Paz & Oquab, ICLR 2017): train a classifier to tell
set A from set B and report its held-out accuracy; 0.5 means the classifier cannot tell them
apart, 1.0 means it always can.

* :func:`linear_c2st`: L2-regularised logistic regression on frozen features (standardised
  with the training fold's mean and std), fitted with L-BFGS in torch.
* :func:`cnn_c2st`: a small CNN trained from scratch on the pixels (4 stride-2 convolutions,
  16-32-64-64 channels, at ``input_size`` px), a fixed number of Adam steps per fold.

Both use the same stratified k-fold split (:func:`stratified_folds`) and are seeded. Neither
changes ``torch.set_num_threads``. A leaf module (torch, numpy, tqdm).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm


def stratified_folds(n_a: int, n_b: int, folds: int = 5, seed: int = 0) -> list[np.ndarray]:
    """Test indices of each fold over the concatenation ``[A, B]`` (A: ``0..n_a-1``), with
    A and B spread evenly over the folds (shuffled with ``seed``)."""
    if min(n_a, n_b) < folds:
        raise ValueError(f"{folds}-fold C2ST needs at least {folds} items per set, got {n_a} and {n_b}")
    rng = np.random.default_rng(seed)
    a = np.array_split(rng.permutation(n_a), folds)
    b = np.array_split(rng.permutation(n_b) + n_a, folds)
    return [np.sort(np.concatenate([a[k], b[k]])) for k in range(folds)]


def _labels(n_a: int, n_b: int) -> Tensor:
    return torch.cat([torch.zeros(n_a), torch.ones(n_b)])


def _summary(accuracies: list[float], folds: int) -> dict[str, float | int | list[float]]:
    return {"mean": float(np.mean(accuracies)), "std": float(np.std(accuracies)), "folds": folds, "per_fold": accuracies}


def _fit_logistic(x: Tensor, y: Tensor, c: float, max_iter: int) -> tuple[Tensor, Tensor]:
    """Weights and bias minimising mean log-loss + ||w||^2 / (2 C n) (scikit-learn's scaling)."""
    w = torch.zeros(x.shape[1], dtype=x.dtype, requires_grad=True)
    b = torch.zeros((), dtype=x.dtype, requires_grad=True)
    penalty = 1.0 / (2.0 * c * len(x))
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(x @ w + b, y) + penalty * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach(), b.detach()


def linear_c2st(
    features_a: Tensor, features_b: Tensor, *, folds: int = 5, seed: int = 0, c: float = 0.1, max_iter: int = 200
) -> dict[str, float | int | list[float]]:
    """k-fold accuracy (``mean``, ``std``, ``per_fold``) of a logistic regression telling
    ``features_a`` (N x D) from ``features_b`` (M x D); ``c`` is the inverse L2 strength."""
    x = torch.cat([features_a, features_b]).double()
    y = _labels(len(features_a), len(features_b)).double()
    accuracies = []
    for test in stratified_folds(len(features_a), len(features_b), folds, seed):
        train = np.setdiff1d(np.arange(len(x)), test)
        mean, std = x[train].mean(0), x[train].std(0).clamp_min(1e-8)
        xtr, xte = (x[train] - mean) / std, (x[test] - mean) / std
        with torch.enable_grad():
            w, b = _fit_logistic(xtr, y[train], c, max_iter)
        accuracies.append(float(((xte @ w + b > 0).double() == y[test]).double().mean()))
    return _summary(accuracies, folds)


class SmallCNN(nn.Module):
    """4 stride-2 3x3 convolutions (16-32-64-64, ReLU), global average pool, one logit."""

    def __init__(self, width: tuple[int, ...] = (16, 32, 64, 64)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for c_out in width:
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.ReLU(inplace=True)]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x).mean(dim=(2, 3))).squeeze(1)


def _batches(n: int, batch_size: int, steps: int, g: torch.Generator):
    """``steps`` index batches, epoch after epoch of shuffled ``range(n)``."""
    done = 0
    while True:
        for idx in torch.randperm(n, generator=g).split(batch_size):
            if done == steps:
                return
            done += 1
            yield idx


def _train_cnn(x: Tensor, y: Tensor, *, steps: int, batch_size: int, lr: float, seed: int, device: torch.device) -> SmallCNN:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = SmallCNN().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    model.train()
    for idx in _batches(len(x), batch_size, steps, g):
        xb, yb = x[idx].to(device), y[idx].to(device)
        flip = torch.rand(len(idx), generator=g) < 0.5  # horizontal flips: dermoscopy has no orientation
        xb = torch.where(flip.to(device).view(-1, 1, 1, 1), xb.flip(-1), xb)
        loss = F.binary_cross_entropy_with_logits(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model.eval()


def cnn_c2st(
    images_a: Tensor,
    images_b: Tensor,
    *,
    folds: int = 5,
    seed: int = 0,
    input_size: int = 64,
    steps: int = 200,
    max_epochs: int = 40,
    batch_size: int = 32,
    lr: float = 2e-3,
    device: str | torch.device = "cpu",
    progress: bool = True,
    desc: str = "CNN C2ST",
) -> dict[str, float | int | list[float]]:
    """k-fold accuracy (``mean``, ``std``, ``per_fold``) of :class:`SmallCNN` trained from
    scratch to tell N3HW images ``images_a`` from ``images_b`` (in [0, 1]), resized to
    ``input_size`` (bilinear, antialiased) and centred at 0; ``steps`` Adam steps of
    ``batch_size`` per fold (at most ``max_epochs`` passes over the fold), with random flips."""
    device = torch.device(device)
    x = torch.cat([images_a, images_b]).float().cpu()
    if x.shape[-2:] != (input_size, input_size):
        x = F.interpolate(x, size=(input_size, input_size), mode="bilinear", align_corners=False, antialias=True)
    x = (x - 0.5) / 0.25
    y = _labels(len(images_a), len(images_b))
    accuracies = []
    splits = stratified_folds(len(images_a), len(images_b), folds, seed)
    for k, test in enumerate(tqdm(splits, desc=desc, unit="fold", disable=not progress, leave=False)):
        train = torch.from_numpy(np.setdiff1d(np.arange(len(x)), test))
        budget = min(steps, max_epochs * -(-len(train) // batch_size))
        model = _train_cnn(x[train], y[train], steps=budget, batch_size=batch_size, lr=lr, seed=seed + k, device=device)
        with torch.inference_mode():
            logits = torch.cat([model(chunk.to(device)).cpu() for chunk in x[torch.from_numpy(test)].split(256)])
        accuracies.append(float(((logits > 0).float() == y[torch.from_numpy(test)]).float().mean()))
    return _summary(accuracies, folds)

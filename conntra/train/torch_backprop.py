"""Optional PyTorch CPU baseline: the same MLP and Adam settings as the numpy
backprop, for wall-time comparison. Only imported when torch is installed."""

from __future__ import annotations

import numpy as np


def available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def train(split, *, epochs, seed, batch=None, lr=None, threads=None):
    """Returns (params as [[w float32, b float32], ...], history)."""
    import time

    import torch

    from conntra.train.api import float_defaults

    if threads:
        torch.set_num_threads(int(threads))
    torch.manual_seed(seed)
    batch, lr = float_defaults(len(split.y), batch, lr)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(split.sizes[:-1], split.sizes[1:])):
        layers.append(torch.nn.Linear(n_in, n_out))
        if i < len(split.sizes) - 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    x = torch.from_numpy(split.xq.astype(np.float32) / np.float32(127))
    y = torch.from_numpy(split.y.astype(np.int64))
    xv = torch.from_numpy(split.xq_val.astype(np.float32) / np.float32(127))
    yv = torch.from_numpy(split.y_val.astype(np.int64))
    gen = torch.Generator().manual_seed(seed)
    history, best = [], (None, None)
    for epoch in range(epochs):
        t0 = time.perf_counter()
        order = torch.randperm(len(y), generator=gen)
        for start in range(0, len(y), batch):
            idx = order[start:start + batch]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
            loss.backward()
            opt.step()
        with torch.no_grad():
            tr = float((net(x).argmax(1) != y).float().mean())
            va = float((net(xv).argmax(1) != yv).float().mean()) if len(yv) else float("nan")
        history.append({"epoch": epoch + 1, "train_error": tr, "val_error": va,
                        "seconds": round(time.perf_counter() - t0, 3)})
        score = va if len(yv) else tr
        if best[0] is None or score <= best[0]:
            params = [[m.weight.detach().numpy().copy(), m.bias.detach().numpy().copy()]
                      for m in net if isinstance(m, torch.nn.Linear)]
            best = (score, params)
    return best[1], history

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


def train(split, *, epochs, seed, batch=None, lr=None, threads=None, observer=None):
    """Returns (params as [[w float32, b float32], ...], history); ``observer``
    hears the same events as for the numpy baselines."""
    import time

    import torch

    from conntra import events
    from conntra.errors import InputError
    from conntra.metrics import error_rate
    from conntra.train.api import epoch_record, float_defaults

    obs = observer or events.NULL
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise InputError(f"threads must be an integer >= 1, got {threads!r}")
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    batch, lr = float_defaults(len(split.y), batch, lr)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(split.sizes[:-1], split.sizes[1:], strict=True)):
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
    n_batches = -(-len(y) // batch)
    for epoch in range(epochs):
        t0 = time.perf_counter()
        obs.phase_start(f"epoch {epoch + 1}/{epochs}", total=n_batches, unit="batch")
        order = torch.randperm(len(y), generator=gen)
        for start in range(0, len(y), batch):
            idx = order[start : start + batch]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
            loss.backward()
            opt.step()
            obs.phase_advance(1, loss=loss.item())
        obs.phase_end()
        with torch.no_grad():
            tr = error_rate(net(x).argmax(1).numpy(), split.y)
            va = error_rate(net(xv).argmax(1).numpy() if len(yv) else [], split.y_val)
        score = va if len(yv) else tr
        improved = best[0] is None or score < best[0]
        if best[0] is None or score <= best[0]:  # ties keep the later model
            params = [
                [m.weight.detach().numpy().copy(), m.bias.detach().numpy().copy()]
                for m in net
                if isinstance(m, torch.nn.Linear)
            ]
            best = (score, params)
        history.append(epoch_record(epoch + 1, epochs, tr, va, improved, t0))
        obs.epoch_end(dict(history[-1]))
    return best[1], history

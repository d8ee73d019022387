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


def train(
    split,
    *,
    epochs,
    seed,
    batch=None,
    lr=None,
    threads=None,
    observer=None,
    patience=5,
    on_epoch=None,
):
    """Returns (params as [[w float32, b float32], ...], history, memory);
    ``observer`` hears the same events as for the numpy baselines, and the run
    stops by the same rule (``coordinate.patience_for``) with the best
    validation epoch's parameters."""
    import time

    import torch

    from conntra import events
    from conntra.errors import InputError
    from conntra.metrics import error_rate
    from conntra.train import coordinate, floatnet
    from conntra.train import memory as mem
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
    history = []
    n_batches = -(-len(y) // batch)
    rule = coordinate.BestByValidation(patience, n_batches, epochs, obs)
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
        with torch.no_grad():  # in chunks, as the numpy baselines evaluate
            tr = error_rate(_predict(net, x, mem.EVAL_CHUNK), split.y)
            va = error_rate(_predict(net, xv, mem.EVAL_CHUNK) if len(yv) else [], split.y_val)
        score = va if len(yv) else tr
        params = [
            [m.weight.detach().numpy().copy(), m.bias.detach().numpy().copy()]
            for m in net
            if isinstance(m, torch.nn.Linear)
        ]
        improved = rule.update(epoch + 1, score, lambda p=params: p)
        record = epoch_record(epoch + 1, epochs, tr, va, improved, t0, best_epoch=rule.best_epoch)
        if on_epoch is not None:
            on_epoch(record, lambda p=params: floatnet.float_model(p, split.input_quant))
        history.append(record)
        obs.epoch_end(dict(record))
        if rule.stop(epoch + 1):
            break
    p_bytes = sum(p.numel() * p.element_size() for p in net.parameters())
    n_train, n_val, n_in = len(split.y), len(split.y_val), split.sizes[0]
    memory = mem.Memory(
        parameters=2 * p_bytes + mem.nbytes(rule.best),  # the net, this epoch's and the best copy
        optimizer=3 * p_bytes,  # Adam's exp_avg and exp_avg_sq, and .grad
        activations=max(
            mem.float_batch_activations(split.sizes, batch),
            mem.float_eval_activations(split.sizes, n_train + n_val),
        ),
        # int8 codes and int64 labels as split holds them, the float32 input and
        # int64 label tensors of both parts, and a batch's gather
        data=(n_train + n_val) * (n_in + 8 + mem.FLOAT32 * n_in + 8) + mem.batch_data(batch, n_in),
        phase="torch",
    )
    return rule.best, history, memory


def _predict(net, x, chunk):
    import numpy as np

    if len(x) == 0:
        return np.zeros(0, np.int64)
    return np.concatenate(
        [net(x[i : i + chunk]).argmax(1).numpy() for i in range(0, len(x), chunk)]
    )

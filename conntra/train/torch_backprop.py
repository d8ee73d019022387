"""Optional PyTorch CPU baseline: the same network and Adam settings as the
numpy backprop, for wall-time comparison. Only imported when torch is
installed.

An architecture (``split.layers``, conntra.arch) becomes ``nn.Conv2d`` (after
an ``nn.ZeroPad2d`` with conntra's padding, which may differ above and below,
and with its stride and groups), ``nn.MaxPool2d``, a flatten in conntra's
NHWC element order (the NCHW tensor is permuted to NHWC first) and
``nn.Linear``; the parameters come back in conntra's layouts (conv weights
(C_out, KH, KW, C_in / groups)), which ``FloatModel`` holds."""

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
    fnet = split.net
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise InputError(f"threads must be an integer >= 1, got {threads!r}")
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    batch, lr = float_defaults(len(split.y), batch, lr)
    if split.layers is not None:
        net = build_arch(split.layers, split.input_shape)
        # images stay int8 codes; each batch is converted as it is drawn
        x = torch.from_numpy(split.xq)
        xv = torch.from_numpy(split.xq_val)
    else:
        layers = []
        for i, (n_in, n_out) in enumerate(zip(split.sizes[:-1], split.sizes[1:], strict=True)):
            layers.append(torch.nn.Linear(n_in, n_out))
            if i < len(split.sizes) - 2:
                layers.append(torch.nn.ReLU())
        net = torch.nn.Sequential(*layers)
        x = torch.from_numpy(split.xq.astype(np.float32) / np.float32(127))
        xv = torch.from_numpy(split.xq_val.astype(np.float32) / np.float32(127))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    y = torch.from_numpy(split.y.astype(np.int64))
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
            loss = torch.nn.functional.cross_entropy(net(_floats(x[idx])), y[idx])
            loss.backward()
            opt.step()
            obs.phase_advance(1, loss=loss.item())
        obs.phase_end()
        with torch.no_grad():  # in chunks, as the numpy baselines evaluate
            tr = error_rate(_predict(net, x, mem.EVAL_CHUNK), split.y)
            va = error_rate(_predict(net, xv, mem.EVAL_CHUNK) if len(yv) else [], split.y_val)
        score = va if len(yv) else tr
        params = params_of(net)
        improved = rule.update(epoch + 1, score, lambda p=params: p)
        record = epoch_record(epoch + 1, epochs, tr, va, improved, t0, best_epoch=rule.best_epoch)
        if on_epoch is not None:
            on_epoch(record, lambda p=params: floatnet.float_model(p, split.input_quant, net=fnet))
        history.append(record)
        obs.epoch_end(dict(record))
        if rule.stop(epoch + 1):
            break
    p_bytes = sum(p.numel() * p.element_size() for p in net.parameters())
    n_train, n_val, n_in = len(split.y), len(split.y_val), split.sizes[0]
    if split.layers is not None:
        memory = mem.Memory(
            parameters=2 * p_bytes + mem.nbytes(rule.best),
            optimizer=3 * p_bytes,
            activations=max(
                mem.conv_batch_activations(split.layers, split.input_shape, batch),
                mem.conv_eval_activations(split.layers, split.input_shape, n_train + n_val),
            ),
            # the int8 codes (shared with the tensors) and the int64 labels of both parts
            data=(n_train + n_val) * (n_in + 8 + 8) + mem.batch_data(batch, n_in),
            phase="torch",
        )
        return rule.best, history, memory
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


def _floats(x):
    """A batch as the network reads it: int8 codes scaled to 0..1 (float
    inputs pass through)."""
    import torch

    if x.dtype == torch.int8:
        return x.to(torch.float32) / 127.0
    return x


def _predict(net, x, chunk):
    import torch

    from conntra.model import FLOAT_CONV_CHUNK

    if len(x) == 0:
        return np.zeros(0, np.int64)
    if x.dtype == torch.int8:  # images: smaller chunks, as FloatModel runs them
        chunk = min(chunk, FLOAT_CONV_CHUNK)
    return np.concatenate(
        [net(_floats(x[i : i + chunk])).argmax(1).numpy() for i in range(0, len(x), chunk)]
    )


class _NHWC:
    """Reshapes rows of features (n, H * W * C) to NCHW images, and flattens
    NCHW back in conntra's NHWC element order (docs/format.md 1.2)."""

    @staticmethod
    def images(shape):
        import torch

        class Images(torch.nn.Module):
            def forward(self, x):
                return x.reshape(len(x), *shape).permute(0, 3, 1, 2)

        return Images()

    @staticmethod
    def flatten():
        import torch

        class FlattenNHWC(torch.nn.Module):
            def forward(self, x):
                return x.permute(0, 2, 3, 1).reshape(len(x), -1)

        return FlattenNHWC()


def build_arch(layers, input_shape):
    """An ``nn.Sequential`` of the layer template ``layers`` (conntra.arch)
    reading rows of ``input_shape`` (H, W, C) features; ReLU after every
    layer with parameters but the last."""
    import torch

    modules = [_NHWC.images(tuple(input_shape))]
    last = max(i for i, L in enumerate(layers) if L.has_params)
    shape = tuple(input_shape)
    flat = False
    for i, layer in enumerate(layers):
        if layer.kind == "conv2d":
            top, bottom, left, right = layer.padding
            if any(layer.padding):
                modules.append(torch.nn.ZeroPad2d((left, right, top, bottom)))
            modules.append(
                torch.nn.Conv2d(
                    layer.c_in,
                    layer.c_out,
                    layer.kernel,
                    stride=layer.stride,
                    groups=layer.groups,
                )
            )
        elif layer.kind == "maxpool2d":
            modules.append(torch.nn.MaxPool2d(layer.window, layer.stride))
        elif layer.kind == "flatten" or (layer.kind == "dense" and not flat):
            modules.append(_NHWC.flatten())
            flat = True
        if layer.kind == "dense":
            modules.append(torch.nn.Linear(layer.n_in, layer.n_out))
        if layer.has_params and i < last:
            modules.append(torch.nn.ReLU())
        shape = layer.out_shape(shape)
    return torch.nn.Sequential(*modules)


def params_of(net) -> list:
    """[[weights, bias], ...] float32 of each conv and linear module, in
    conntra's layouts: conv weights (C_out, KH, KW, C_in / groups)."""
    import torch

    out = []
    for m in net:
        if isinstance(m, torch.nn.Conv2d):
            w = m.weight.detach().permute(0, 2, 3, 1).numpy().copy()
        elif isinstance(m, torch.nn.Linear):
            w = m.weight.detach().numpy().copy()
        else:
            continue
        out.append([w, m.bias.detach().numpy().copy()])
    return out

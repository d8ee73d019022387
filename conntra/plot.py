"""The paper's figures and pictures of models.

- :func:`comparison_figures`: from ``conntra compare --json`` output, one PNG
  per dataset of the four measures (training error, validation error, memory,
  training time) as bars per trainer, and one of the error against wall time.
- :func:`weight_tiles`: the first layer's ternary weights of an image model,
  one tile per hidden neuron, -1/0/+1 as three colours (Pillow only).
- :func:`confusion_matrix`, :func:`confusion_table`, :func:`confusion_figure`.

matplotlib and Pillow are optional (``pip install 'conntra[plots]'``) and are
imported only when a figure is drawn, so ``import conntra`` never pays for
them. Figures are drawn on a bare ``matplotlib.figure.Figure`` (which saves
through the Agg renderer) rather than through pyplot: pyplot keeps global
state and may pick an interactive backend, neither of which a library that
only writes files should touch. docs/figures.md describes every figure.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from conntra.errors import (
    ComparisonResultError,
    InputError,
    MissingDependencyError,
    OutputPathError,
    ShapeError,
)
from conntra.fileio import atomic_write
from conntra.validate import check_labels

__all__ = [
    "CLASS_NAMES",
    "TERNARY_COLOURS",
    "class_errors",
    "comparison_figures",
    "confusion_figure",
    "confusion_matrix",
    "confusion_table",
    "load_comparison",
    "normalize_comparison",
    "require_matplotlib",
    "weight_tiles",
]

INSTALL_HINT = "pip install 'conntra[plots]'"

# Class names of the packaged datasets, by label; other datasets show labels.
CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "iris": ("setosa", "versicolor", "virginica"),
    "mnist": tuple(str(d) for d in range(10)),
}

# RGB of a ternary weight in weight_tiles: a diverging blue/white/red, so that
# zeros (the pruned connections) read as background and the sign as hue.
TERNARY_COLOURS: dict[int, tuple[int, int, int]] = {
    -1: (33, 102, 172),
    0: (247, 247, 247),
    1: (178, 24, 43),
}
GAP_COLOUR = (90, 90, 90)  # between tiles; darker than any weight so tiles stand apart
LEGEND_HEIGHT = 22
MAX_PIXELS = 50_000_000  # a weight picture larger than this is a mistake, not a figure

# Fixed colours for the known trainers, so that one trainer has one colour in
# every figure; others take the next free colour of matplotlib's tab10.
TRAINER_COLOURS = {
    "conntra": "#d62728",
    "backprop": "#1f77b4",
    "qat": "#2ca02c",
    "torch": "#9467bd",
}
_TAB10 = ["#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


# --------------------------------------------------------------------------- imports


def _figure_class() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingDependencyError(
            f"figures need matplotlib >= 3.7; install it with {INSTALL_HINT}"
        ) from exc
    return Figure


def require_matplotlib() -> None:
    """Raises MissingDependencyError now, before any work, when the figures
    could not be drawn at the end."""
    _figure_class()


def _pillow() -> Any:
    try:
        from PIL import Image, ImageDraw
    except ImportError as exc:
        raise MissingDependencyError(
            f"weight pictures need Pillow >= 10; install it with {INSTALL_HINT}"
        ) from exc
    return Image, ImageDraw


def _save_figure(fig: Any, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    atomic_write(path, buf.getvalue())
    return path


def _output_dir(out_dir: str | os.PathLike) -> Path:
    folder = Path(out_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputPathError(f"{folder} exists and is not a folder") from None
    except OSError as exc:
        raise OutputPathError(f"cannot create {folder}: {exc.strerror or exc}") from exc
    return folder


# --------------------------------------------------------------------------- comparison JSON


def _where(path: list) -> str:
    out = ""
    for part in path:
        out += f"[{part!r}]" if isinstance(part, str) else f"[{part}]"
    return "result" + out


def _number(value: Any, path: list, *, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        kind = "a number or null" if optional else "a number"
        raise ComparisonResultError(f"{_where(path)} must be {kind}, got {value!r}")
    value = float(value)
    if math.isnan(value) and optional:
        return None
    if not math.isfinite(value) or value < 0:
        raise ComparisonResultError(f"{_where(path)} must be a finite number >= 0, got {value}")
    return value


def _mapping(value: Any, path: list) -> dict:
    if not isinstance(value, dict):
        raise ComparisonResultError(f"{_where(path)} must be an object, got {type(value).__name__}")
    return value


def _run(raw: Any, path: list, names: dict) -> dict:
    """One run checked; ``names`` maps a key of the nested layout to the key
    the source holds (parameter_bytes for param_bytes in the flat layouts)."""
    raw = _mapping(raw, path)
    run: dict[str, Any] = {"seed": raw.get("seed"), "split": raw.get("split")}
    for key in ("train_error", "val_error", "test_error"):
        run[key] = _number(raw.get(key), [*path, key], optional=True)
    for key in ("seconds", "param_bytes"):
        source = names.get(key, key)
        if source not in raw:
            raise ComparisonResultError(f"{_where(path)} has no {source!r}")
        run[key] = _number(raw[source], [*path, source])
    memory = names.get("peak_memory", "peak_memory")
    peak = raw.get(memory)
    if peak is not None:
        peak = _mapping(peak, [*path, memory])
        if "total" not in peak:
            raise ComparisonResultError(f"{_where([*path, memory])} has no 'total'")
        # text entries (the protocol's "phase": where the peak is) are notes, not bytes
        peak = {
            k: _number(v, [*path, memory, k]) for k, v in peak.items() if not isinstance(v, str)
        }
    run["peak_memory"] = peak
    curve = raw.get("curve") or []
    if not isinstance(curve, list):
        raise ComparisonResultError(f"{_where([*path, 'curve'])} must be a list")
    points = []
    for i, point in enumerate(curve):
        where = [*path, "curve", i]
        point = _mapping(point, where)
        seconds = _number(point.get("seconds"), [*where, "seconds"], optional=True)
        if seconds is None:  # an epoch without a time cannot be placed on the time axis
            continue
        points.append(
            {
                "seconds": seconds,
                "val_error": _number(point.get("val_error"), [*where, "val_error"], optional=True),
                "test_error": _number(
                    point.get("test_error"), [*where, "test_error"], optional=True
                ),
            }
        )
    run["curve"] = points
    return run


# The flat layouts name two entries differently from the nested one.
FLAT_NAMES = {"param_bytes": "parameter_bytes", "peak_memory": "memory"}


def _flat_entries(result: dict, key: str) -> list:
    """(dataset, trainer, run, path, names) of each entry of a flat list:
    the first ``rows`` (one per dataset and trainer, one seed) or the
    protocol's ``runs`` (schema conntra-compare/2, docs/comparison.md: one per
    dataset, trainer, seed and Iris split). Errors name the entry as the file
    holds it (``result['runs'][3]['memory']``), not as the figures regroup it."""
    rows = result[key]
    if not isinstance(rows, list):
        raise ComparisonResultError(f"result[{key!r}] must be a list")
    entries = []
    for i, row in enumerate(rows):
        row = _mapping(row, [key, i])
        for name in ("dataset", "trainer"):
            if not isinstance(row.get(name), str):
                raise ComparisonResultError(f"result[{key!r}][{i}] has no {name!r} name")
        names = {k: v if v in row or k not in row else k for k, v in FLAT_NAMES.items()}
        entries.append((row["dataset"], row["trainer"], row, [key, i], names))
    return entries


def _nested_entries(result: dict) -> list:
    entries = []
    for name, ds in _mapping(result["datasets"], ["datasets"]).items():
        where = ["datasets", name, "trainers"]
        trainers = _mapping(_mapping(ds, where[:-1]).get("trainers"), where)
        for trainer, body in trainers.items():
            path = [*where, trainer, "runs"]
            runs = _mapping(body, path[:-1]).get("runs")
            if not isinstance(runs, list) or not runs:
                raise ComparisonResultError(f"{_where(path)} must be a non-empty list")
            entries += [(name, trainer, r, [*path, i], {}) for i, r in enumerate(runs)]
    return entries


def normalize_comparison(result: Any) -> dict:
    """The comparison ``result`` checked and in one layout, whichever layout
    it comes in (docs/figures.md: this one, the protocol's flat list of
    ``runs``, or the first ``rows``):

    ``{"machine", "commit", "datasets": {name: {"trainers": {trainer: {"runs":
    [{"seed", "split", "train_error", "val_error", "test_error", "seconds",
    "param_bytes", "peak_memory" (dict of bytes or None), "curve" (list of
    {"seconds", "val_error", "test_error"})}]}}}}}``.

    Errors are fractions (0.025, not 2.5 %); a missing error is None.
    Raises ComparisonResultError naming the first bad entry.
    """
    result = _mapping(result, [])
    if "datasets" in result:
        entries = _nested_entries(result)
    elif isinstance(result.get("runs"), list):
        entries = _flat_entries(result, "runs")
    elif "rows" in result:
        entries = _flat_entries(result, "rows")
    else:
        raise ComparisonResultError(
            "not a comparison result: expected 'datasets', or the 'runs' or 'rows' "
            "of conntra compare --json"
        )
    datasets: dict[str, Any] = {}
    for name, trainer, raw, path, names in entries:
        trainers = datasets.setdefault(name, {"trainers": {}})["trainers"]
        trainers.setdefault(trainer, {"runs": []})["runs"].append(_run(raw, path, names))
    if not datasets:
        raise ComparisonResultError("the comparison result holds no runs")
    return {"machine": result.get("machine"), "commit": result.get("commit"), "datasets": datasets}


def load_comparison(path: str | os.PathLike) -> dict:
    """Reads a saved ``conntra compare --json`` file; see normalize_comparison."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ComparisonResultError(f"cannot read {path}: {reason}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ComparisonResultError(f"{path} is not JSON: {exc}") from exc
    try:
        return normalize_comparison(data)
    except ComparisonResultError as exc:
        raise ComparisonResultError(f"{path}: {exc}") from None


# --------------------------------------------------------------------------- comparison figures


def _colours(trainers: Sequence[str]) -> dict:
    spare = iter(_TAB10 * (1 + len(trainers) // len(_TAB10)))
    return {t: TRAINER_COLOURS.get(t) or next(spare) for t in trainers}


def _mean_std(values: list) -> tuple[float, float, int]:
    """Mean and sample standard deviation over runs, ignoring missing values;
    (nan, 0, 0) when every value is missing."""
    vals = [v for v in values if v is not None]
    if not vals:
        return math.nan, 0.0, 0
    std = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
    return float(np.mean(vals)), std, len(vals)


def _bytes_text(n: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


def _seconds_text(s: float) -> str:
    if s >= 100:
        return f"{s:.0f} s"
    if s >= 1:
        return f"{s:.1f} s"
    return f"{s:.2g} s"


def _log_ticks(axis: Any, low: float, high: float, text: Any) -> None:
    """Readable ticks on a log axis: 1-2-5 steps over a short range, decades
    over a long one, written as plain numbers ("0.5 s", "40 kB") instead of
    matplotlib's 4x10^-1."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    decades = math.log10(max(high, 1e-12) / max(low, 1e-12))
    subs = (1.0,) if decades > 3 else (1.0, 2.0, 5.0)
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_minor_locator(NullLocator())
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: text(v)))


def _plain_seconds(s: float) -> str:
    return f"{s:g} s"


def _subtitle(result: dict, runs: dict, *, curves: bool = False, final: bool = False) -> str:
    # "runs", not "seeds": a run is one seed, or one seed and one Iris split
    counts = sorted({len(r) for r in runs.values()})
    n = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    parts = []
    if result.get("machine"):
        parts.append(f"machine: {result['machine']}")
    if result.get("commit"):
        parts.append(f"commit {str(result['commit'])[:12]}")
    if curves:
        parts.append(f"{n} run{'s' if n != '1' else ''}: a line per run, a dot at its end")
    elif final:
        parts.append(f"{n} run{'s' if n != '1' else ''}: a dot per run")
    elif n == "1":
        parts.append("1 run (no error bars)")
    else:
        parts.append(f"mean ± std over {n} runs")
    return "  ·  ".join(parts)


def _bars(ax, trainers, colours, stats, text, *, log=None, ylabel="") -> None:
    """One bar per trainer with its std as an error bar and its value on top;
    a trainer without a value gets "n/a" instead of a bar."""
    x = np.arange(len(trainers))
    means = [stats[t][0] for t in trainers]
    heights = [0.0 if math.isnan(m) else m for m in means]
    spread = any(stats[t][2] > 1 for t in trainers)  # one run: no error bar to draw
    bars = ax.bar(
        x,
        heights,
        yerr=[stats[t][1] for t in trainers] if spread else None,
        color=[colours[t] for t in trainers],
        capsize=4,
        width=0.6,
        error_kw={"elinewidth": 1, "ecolor": "black"},
    )
    labels = ["n/a" if math.isnan(m) else text(m) for m in means]
    ax.bar_label(bars, labels=labels, padding=3, fontsize=9)
    ax.set_xticks(x, trainers)
    ax.set_ylabel(ylabel)
    if log is not None:  # log: how to write a tick
        ax.set_yscale("log")
        top = max((m for m in heights if m > 0), default=1.0)
        low = min((m for m in heights if m > 0), default=1.0)
        ax.set_ylim(low / 3, top * 4)  # room for the labels above the tallest bar
        _log_ticks(ax.yaxis, low / 3, top * 4, log)
    else:
        top = max((m + stats[t][1] for t, m in zip(trainers, heights, strict=True)), default=0)
        ax.set_ylim(0, (top or 1.0) * 1.25)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def _memory_bars(ax, trainers, colours, runs) -> None:
    """Parameter bytes (solid) and peak training memory (hatched) side by
    side per trainer, on a log scale: ternary and float differ 20x or more."""
    x = np.arange(len(trainers))
    width = 0.38
    params = {t: _mean_std([r["param_bytes"] for r in runs[t]]) for t in trainers}
    peaks = {
        t: _mean_std([(r["peak_memory"] or {}).get("total") for r in runs[t]]) for t in trainers
    }
    have_peak = any(not math.isnan(peaks[t][0]) for t in trainers)
    offset = width / 2 if have_peak else 0.0
    groups = [("parameters (model file)", params, x - offset, None)]
    if have_peak:
        groups.append(("peak training memory", peaks, x + offset, "//"))
    spread = any(params[t][2] > 1 or peaks[t][2] > 1 for t in trainers)
    values = []
    for label, stats, xs, hatch in groups:
        means = [stats[t][0] for t in trainers]
        bars = ax.bar(
            xs,
            [0.0 if math.isnan(m) else m for m in means],
            width=width if have_peak else 0.6,
            yerr=[stats[t][1] for t in trainers] if spread else None,
            color=[colours[t] for t in trainers],
            edgecolor="black",
            linewidth=0.5,
            hatch=hatch,
            label=label,
            capsize=3,
            error_kw={"elinewidth": 1},
        )
        ax.bar_label(
            bars,
            labels=["n/a" if math.isnan(m) else _bytes_text(m) for m in means],
            padding=3,
            fontsize=8,
        )
        values += [m for m in means if not math.isnan(m) and m > 0]
    ax.set_xticks(x, trainers)
    ax.set_yscale("log")
    if values:
        ax.set_ylim(min(values) / 3, max(values) * 6)
        _log_ticks(ax.yaxis, min(values) / 3, max(values) * 6, _bytes_text)
    ax.set_ylabel("bytes (log scale)")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    legend = ax.legend(fontsize=8, loc="upper left")
    for handle in legend.legend_handles:  # the legend names the hatch, not a trainer
        if handle is not None:
            handle.set_facecolor("white")
    if not have_peak:
        ax.text(
            0.99,
            0.98,
            "peak training memory not recorded",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=8,
            color="0.4",
        )


def _measures_figure(name: str, result: dict, runs: dict, path: Path) -> Path:
    Figure = _figure_class()
    trainers = list(runs)
    colours = _colours(trainers)
    fig = Figure(figsize=(12, 8.5), layout="constrained")
    axes = fig.subplots(2, 2)

    for ax, key, title in (
        (axes[0, 0], "train_error", "training error"),
        (axes[0, 1], "val_error", "validation error"),
    ):
        stats = {t: _mean_std([r[key] for r in runs[t]]) for t in trainers}
        # bars in percent: scale the means and stds, keep NaN for "n/a"
        stats = {t: (100 * m, 100 * s, n) for t, (m, s, n) in stats.items()}
        _bars(ax, trainers, colours, stats, lambda m: f"{m:.2f} %", ylabel="error (%)")
        ax.set_title(title)
    _memory_bars(axes[1, 0], trainers, colours, runs)
    axes[1, 0].set_title("memory")
    stats = {t: _mean_std([r["seconds"] for r in runs[t]]) for t in trainers}
    _bars(
        axes[1, 1],
        trainers,
        colours,
        stats,
        _seconds_text,
        log=_plain_seconds,
        ylabel="wall time (s, log scale)",
    )
    axes[1, 1].set_title("training time")
    fig.suptitle(
        f"{name}: training error, validation error, memory and training time per trainer\n"
        + _subtitle(result, runs),
        fontsize=12,
    )
    return _save_figure(fig, path)


def _curves_figure(name: str, result: dict, runs: dict, path: Path) -> Path:
    """Validation and test error against wall time: a line per run where the
    run recorded a curve, and a dot at each run's final error and time."""
    Figure = _figure_class()
    trainers = list(runs)
    colours = _colours(trainers)
    fig = Figure(figsize=(12, 5), layout="constrained")
    axes = fig.subplots(1, 2)
    any_curve = False
    seconds = [max(r["seconds"], 1e-3) for t in trainers for r in runs[t]]
    for ax, key, title in (
        (axes[0], "val_error", "validation error"),
        (axes[1], "test_error", "test error"),
    ):
        top = 0.0
        for t in trainers:
            label: str | None = f"{t} ({len(runs[t])} run{'s' if len(runs[t]) > 1 else ''})"
            alpha = 0.8 if len(runs[t]) <= 5 else 0.35  # many runs (Iris splits): see through
            for run in runs[t]:
                pts = [
                    (max(p["seconds"], 1e-3), 100 * p[key])
                    for p in run["curve"]
                    if p[key] is not None
                ]
                if pts:
                    any_curve = True
                    xs, ys = zip(*pts, strict=True)
                    seconds += xs
                    top = max(top, *ys)
                    ax.plot(xs, ys, color=colours[t], alpha=alpha, linewidth=1.2, label=label)
                    label = None
                if run[key] is not None:
                    top = max(top, 100 * run[key])
                    ax.plot(
                        [max(run["seconds"], 1e-3)],
                        [100 * run[key]],
                        "o",
                        color=colours[t],
                        markeredgecolor="black",
                        markersize=7,
                        clip_on=False,  # a 0 % error sits on the axis, drawn whole
                        label=label,
                    )
                    label = None
        ax.set_xscale("log")
        # margins so that the first and last dots are not cut by the frame
        ax.set_xlim(min(seconds) / 1.6, max(seconds) * 1.6)
        _log_ticks(ax.xaxis, min(seconds) / 1.6, max(seconds) * 1.6, _plain_seconds)
        ax.set_xlabel("wall time of training (s, log scale)")
        ax.set_ylabel("error (%)")
        ax.set_ylim(0, max(top * 1.15, 1.0))  # 0 % everywhere still gets a readable axis
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=9)
    what = "error against training time" + ("" if any_curve else " (final values only)")
    fig.suptitle(
        f"{name}: {what}\n" + _subtitle(result, runs, curves=any_curve, final=not any_curve),
        fontsize=12,
    )
    return _save_figure(fig, path)


def _file_stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip(".") or "dataset"


def comparison_figures(result: dict, out_dir: str | os.PathLike) -> list[Path]:
    """Draws the comparison ``result`` (any layout of ``conntra compare
    --json``, see normalize_comparison) as PNG files in ``out_dir``: per
    dataset ``<name>-measures.png`` (the four measures as bars per trainer,
    mean ± std over runs) and ``<name>-curves.png`` (error against wall
    time). Returns the paths written, in that order."""
    result = normalize_comparison(result)
    _figure_class()  # fail before creating anything when matplotlib is missing
    folder = _output_dir(out_dir)
    written = []
    for name, entry in result["datasets"].items():
        runs = {trainer: body["runs"] for trainer, body in entry["trainers"].items()}
        stem = _file_stem(name)
        written.append(_measures_figure(name, result, runs, folder / f"{stem}-measures.png"))
        written.append(_curves_figure(name, result, runs, folder / f"{stem}-curves.png"))
    return written


# --------------------------------------------------------------------------- weight tiles


def _image_shape(n_in: int, shape: Sequence[int] | None) -> tuple[int, int]:
    if shape is None:
        side = math.isqrt(n_in)
        if side * side != n_in:
            raise ShapeError(
                f"cannot infer the image shape of {n_in} inputs (not a square); "
                f"pass shape=(height, width)"
            )
        return side, side
    if (
        len(shape) != 2
        or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) for s in shape)
        or min(shape) < 1
    ):
        raise ShapeError(f"shape must be two positive integers (height, width), got {shape!r}")
    h, w = int(shape[0]), int(shape[1])
    if h * w != n_in:
        raise ShapeError(f"shape={h},{w} has {h * w} pixels but the model takes {n_in} inputs")
    return h, w


def weight_tiles(
    model: Any,
    out_path: str | os.PathLike,
    *,
    shape: Sequence[int] | None = None,
    columns: int | None = None,
    scale: int | None = None,
    max_tiles: int | None = None,
    legend: bool = True,
) -> Path:
    """Draws the first layer of a ternary ``model`` as a PNG at ``out_path``.

    Image models (pixel input quantization): one tile per hidden neuron, its
    weights reshaped to ``shape`` (inferred for square inputs: 784 -> 28x28),
    in a grid of ``columns`` (default: about square), each weight a
    ``scale`` x ``scale`` block of TERNARY_COLOURS. Tabular models without a
    ``shape``: one heat map of the weight matrix (rows hidden neurons, columns
    input features). A conv2d first layer: one KH x KW tile per filter and
    input channel, filter by filter (``shape`` is then the kernel's).
    ``max_tiles`` draws only the first neurons. A legend of the three colours
    goes below unless ``legend`` is false.
    """
    from conntra.model import FloatModel, TernaryModel

    if isinstance(model, FloatModel):
        raise InputError(
            "weight tiles draw ternary weights; this model has float32 weights "
            "(trained by backprop or torch): draw a conntra or qat model"
        )
    if not isinstance(model, TernaryModel):
        raise InputError(f"model must be a TernaryModel, got {type(model).__name__}")
    for value, name in ((columns, "columns"), (scale, "scale"), (max_tiles, "max_tiles")):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1
        ):
            raise InputError(f"{name} must be a positive integer, got {value!r}")
    Image, ImageDraw = _pillow()
    if not getattr(model.layers[0], "has_params", True):
        raise InputError(
            f"weight tiles draw the first layer's weights; this model starts with a "
            f"{model.layers[0].kind} layer, which has none"
        )
    weights = np.asarray(model.layers[0].weights)  # (n_out, n_in), int8 in {-1, 0, 1}
    if weights.ndim == 4:  # a conv2d first layer: one tile per filter and input channel
        c_out, kh, kw, g = weights.shape
        weights = weights.transpose(0, 3, 1, 2).reshape(c_out * g, kh * kw)
        shape = (kh, kw)
    n_out, n_in = weights.shape
    if shape is None and model.input_quant.kind != "shift":
        tiles = weights[None, :, :]  # tabular: the whole matrix is one tile
        h, w = n_out, n_in
        default_scale = max(1, min(32, 512 // max(h, w)))
    else:
        h, w = _image_shape(n_in, shape)
        keep = n_out if max_tiles is None else min(n_out, int(max_tiles))
        tiles = weights[:keep].reshape(keep, h, w)
        default_scale = max(1, min(16, 64 // max(h, w)))
    scale = int(scale) if scale is not None else default_scale
    n = tiles.shape[0]
    cols = min(n, int(columns)) if columns is not None else math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    gap = 2
    tile_h, tile_w = h * scale, w * scale
    width = cols * (tile_w + gap) + gap
    height = rows * (tile_h + gap) + gap
    total_height = height + (LEGEND_HEIGHT if legend else 0)
    if width * total_height > MAX_PIXELS:
        raise InputError(
            f"the picture would be {width}x{total_height} pixels; draw fewer tiles "
            f"(max_tiles=) or smaller ones (scale=)"
        )
    palette = np.array([TERNARY_COLOURS[v] for v in (-1, 0, 1)], dtype=np.uint8)
    canvas = np.empty((total_height, width, 3), dtype=np.uint8)
    canvas[:] = GAP_COLOUR
    for i in range(n):
        r, c = divmod(i, cols)
        y0, x0 = gap + r * (tile_h + gap), gap + c * (tile_w + gap)
        rgb = palette[tiles[i].astype(np.intp) + 1]  # -1/0/1 -> rows 0/1/2 of the palette
        canvas[y0 : y0 + tile_h, x0 : x0 + tile_w] = rgb.repeat(scale, 0).repeat(scale, 1)
    image = Image.fromarray(canvas, "RGB")
    if legend:
        canvas_draw = ImageDraw.Draw(image)
        canvas_draw.rectangle([0, height, width, total_height], fill=(255, 255, 255))
        x = gap + 2
        for value, text in ((-1, "-1"), (0, "0"), (1, "+1")):
            y = height + 5
            canvas_draw.rectangle(
                [x, y, x + 11, y + 11], fill=TERNARY_COLOURS[value], outline=(0, 0, 0)
            )
            canvas_draw.text((x + 15, y), text, fill=(0, 0, 0))
            x += 40
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    path = Path(out_path)
    atomic_write(path, buf.getvalue())
    return path


# --------------------------------------------------------------------------- confusion matrix


def confusion_matrix(y_true: Any, y_pred: Any, n_classes: int) -> np.ndarray:
    """Counts (int64, ``n_classes`` x ``n_classes``): row = true class,
    column = predicted class, as scikit-learn's confusion_matrix."""
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)):
        raise InputError(f"n_classes must be a positive integer, got {n_classes!r}")
    truth = check_labels(y_true, len(np.asarray(y_true)), n_classes, name="y_true")
    pred = check_labels(y_pred, len(truth), n_classes, name="y_pred")
    n = int(n_classes)
    return np.bincount(truth * n + pred, minlength=n * n).reshape(n, n).astype(np.int64)


def _names(n: int, class_names: Sequence[str] | None) -> list[str]:
    if class_names is None:
        return [str(i) for i in range(n)]
    if len(class_names) != n:
        raise InputError(f"{len(class_names)} class names for {n} classes")
    return [str(c) for c in class_names]


def _check_matrix(matrix: Any) -> np.ndarray:
    m = np.asarray(matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] == 0:
        raise ShapeError(f"a confusion matrix is square (n, n), got shape {m.shape}")
    if m.dtype.kind not in "iu" or (m < 0).any():
        raise InputError("a confusion matrix holds non-negative integer counts")
    return m


def class_errors(matrix: Any) -> list[float | None]:
    """Per true class, the share of its samples predicted as another class
    (None for a class with no samples)."""
    m = _check_matrix(matrix)
    totals = m.sum(axis=1)
    return [None if t == 0 else float(1 - m[i, i] / t) for i, t in enumerate(totals)]


def confusion_table(matrix: Any, class_names: Sequence[str] | None = None) -> str:
    """The matrix as a text table: rows true class, columns predicted class,
    then each true class's error and a total line."""
    m = _check_matrix(matrix)
    names = _names(m.shape[0], class_names)
    errors = class_errors(m)
    head = "true \\ predicted"
    first = max(len(head), *(len(s) for s in names), len("total"))
    width = max(5, *(len(s) for s in names), len(str(int(m.max()))))
    lines = [f"{head:<{first}}  " + "  ".join(f"{s:>{width}}" for s in names) + "     error"]
    for name, row, err in zip(names, m, errors, strict=True):
        cells = "  ".join(f"{int(v):>{width}}" for v in row)
        shown = "n/a" if err is None else f"{100 * err:.2f} %"
        lines.append(f"{name:<{first}}  {cells}  {shown:>8}")
    total = int(m.sum())
    overall = "n/a" if total == 0 else f"{100 * (1 - np.trace(m) / total):.2f} %"
    cols = "  ".join(f"{int(v):>{width}}" for v in m.sum(axis=0))
    lines.append(f"{'total':<{first}}  {cols}  {overall:>8}")
    return "\n".join(lines)


def confusion_figure(
    matrix: Any,
    out_path: str | os.PathLike,
    *,
    class_names: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """Draws the confusion matrix as a PNG: counts in the cells, true class
    down, predicted class across, each true class's error on the right."""
    m = _check_matrix(matrix)
    names = _names(m.shape[0], class_names)
    Figure = _figure_class()
    n = m.shape[0]
    side = max(5.0, 0.65 * n + 2.5)
    fig = Figure(figsize=(side + 1.0, side), layout="constrained")
    ax = fig.subplots()
    ax.imshow(m, cmap="Blues", vmin=0)  # no colour bar: every cell shows its count
    peak = m.max() or 1
    size = 10 if n <= 10 else max(5, 10 - (n - 10) // 3)
    for i in range(n):
        for j in range(n):
            colour = "white" if m[i, j] > peak / 2 else "black"
            ax.text(j, i, str(int(m[i, j])), ha="center", va="center", color=colour, fontsize=size)
    ax.set_xticks(range(n), names, rotation=45 if max(map(len, names)) > 3 else 0)
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    # a secondary axis moves with the image (a twin axis would not keep its
    # equal aspect), so each error stays level with its row
    right = ax.secondary_yaxis("right")
    right.set_yticks(
        range(n), ["n/a" if e is None else f"{100 * e:.1f} %" for e in class_errors(m)]
    )
    right.set_ylabel("error of the true class")
    total = int(m.sum())
    overall = 0.0 if total == 0 else 100 * (1 - np.trace(m) / total)
    ax.set_title((title + "\n" if title else "") + f"{total:,} samples, {overall:.2f} % error")
    path = Path(out_path)
    return _save_figure(fig, path)

"""``conntra plot``: the paper's figures and pictures of models (docs/figures.md)."""

from __future__ import annotations

from conntra.cli import options
from conntra.errors import ShapeError, UsageError


def parse_shape(text: str) -> tuple[int, int]:
    try:
        parts = [int(p) for p in text.replace("x", ",").split(",")]
    except ValueError:
        parts = []
    if len(parts) != 2 or min(parts) < 1:
        raise UsageError(f"--shape takes two positive integers H,W such as 28,28; got {text!r}")
    return parts[0], parts[1]


def run_weights(args) -> int:
    from conntra import plot
    from conntra.modelfile import load

    shape = parse_shape(args.shape) if args.shape is not None else None
    model = load(args.model)
    try:
        path = plot.weight_tiles(
            model,
            args.out,
            shape=shape,
            columns=args.columns,
            scale=args.scale,
            max_tiles=args.max_tiles,
            legend=not args.no_legend,
        )
    except ShapeError as exc:  # --shape missing or not fitting the model: the user's to fix
        raise UsageError(str(exc)) from exc
    print(f"first-layer weights of {args.model} drawn in {path}")
    return 0


def run_compare(args) -> int:
    from conntra import plot

    plot.require_matplotlib()
    result = plot.load_comparison(args.result)
    for path in plot.comparison_figures(result, args.out):
        print(path)
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "plot",
        help="draw the paper's figures and pictures of models (needs conntra[plots])",
        description="Draw figures as PNG files: the comparison of trainers from a "
        "saved 'conntra compare --json' output, or a model's first-layer weights. "
        "Needs matplotlib and Pillow: pip install 'conntra[plots]'.",
    )
    plot_sub = p.add_subparsers(dest="plot_command", required=True, metavar="FIGURE")

    w = plot_sub.add_parser(
        "weights",
        help="first-layer ternary weights as image tiles",
        description="Draw the first layer of a ternary model: one tile per hidden "
        "neuron, its weights laid out as the input image, -1 blue, 0 white, +1 red. "
        "A tabular model (no --shape) is drawn as one heat map of its weight "
        "matrix, rows hidden neurons and columns input features.",
    )
    w.add_argument("model", help="path of a ternary model file (conntra or qat)")
    w.add_argument("--out", default="weights.png", help="PNG file to write")
    w.add_argument(
        "--shape",
        default=None,
        help="height,width of one tile (default: the square of the model's input "
        "size, 784 -> 28,28; none for tabular models)",
    )
    w.add_argument(
        "--columns",
        type=options.POSITIVE,
        default=None,
        help="tiles per row (default: a grid about as wide as it is tall)",
    )
    w.add_argument(
        "--scale",
        type=options.integer(1, 64),
        default=None,
        help="pixels per weight, 1..64 (default: tiles about 64 pixels across, 2 for 28x28)",
    )
    w.add_argument(
        "--max-tiles",
        type=options.POSITIVE,
        default=None,
        help="draw only the first this many hidden neurons (default: all)",
    )
    w.add_argument(
        "--no-legend", action="store_true", help="leave out the colour legend below the tiles"
    )
    w.set_defaults(func=run_weights, check_environment=False)

    c = plot_sub.add_parser(
        "compare",
        help="the comparison figures from a saved 'conntra compare --json'",
        description="Draw, per dataset, the four measures of every trainer (training "
        "error, validation error, memory, training time; mean and standard deviation "
        "over seeds) and the error against training time, as PNG files.",
    )
    c.add_argument("result", help="JSON file written by 'conntra compare --json --out FILE'")
    c.add_argument(
        "--out", default="figures", help="folder to write the PNG files into (created if missing)"
    )
    c.set_defaults(func=run_compare, check_environment=False)

"""``conntra train`` and ``conntra eval``."""

from __future__ import annotations

import argparse
import functools
import json
import os
import shlex
import sys

from conntra import arch, catalog, datasets
from conntra.cli import options
from conntra.cli.progress import TqdmObserver, percent
from conntra.errors import InputError, ShapeError, UsageError
from conntra.train import api, finetune, shards
from conntra.train.coordinate import ConntraConfig

# Epochs when --epochs is not given: enough for each trainer to settle.
DEFAULT_EPOCHS = {
    ("iris", "conntra"): 30,
    ("iris", "backprop"): 200,
    ("iris", "qat"): 200,
    ("iris", "torch"): 200,
    ("mnist", "conntra"): 16,
    ("mnist", "backprop"): 10,
    ("mnist", "qat"): 5,
    ("mnist", "torch"): 10,
}
DEFAULT_HIDDEN = {"iris": "8", "mnist": "256"}


def parse_hidden(text: str, flag: str = "--hidden") -> list:
    try:
        sizes = [int(p) for p in str(text).split(",") if p.strip()]
    except ValueError:
        raise UsageError(
            f"{flag} must be comma-separated integers like 256,128; got {text!r}"
        ) from None
    if not sizes or any(s < 1 or s > 1 << 20 for s in sizes):
        raise UsageError(f"{flag} sizes must be 1..1048576, got {text!r}")
    return sizes


def config_from(args) -> ConntraConfig:
    cfg = ConntraConfig()
    for name in (
        "batch",
        "budget",
        "rounds",
        "init",
        "split",
        "mode",
        "patience",
        "checkpoint_every",
        "init_epochs",
        "init_samples",
        "screen",
        "round_stop",
        "batch_start",
        "rank_share",
    ):
        value = getattr(args, name, None)
        if value is not None:
            setattr(cfg, name, value)
    if getattr(args, "exhaustive", None) is not None:
        cfg.exhaustive = args.exhaustive
    cfg.check()
    return cfg


def dataset_name(text: str) -> str:
    """--dataset: a dataset name, or a folder holding train/<class>/<image>
    and test/<class>/<image>."""
    if text in datasets.KNOWN_DATASETS or text in datasets.IMAGE_DATASETS or os.path.isdir(text):
        return text
    known = ", ".join([*datasets.KNOWN_DATASETS, *datasets.IMAGE_DATASETS])
    raise argparse.ArgumentTypeError(
        f"{text!r} is neither a dataset ({known}) nor a folder of train/ and test/ images"
    )


def defaults_key(name: str) -> str:
    """Which dataset's defaults (hidden sizes, epochs) apply: image folders
    take MNIST's."""
    return name if name in DEFAULT_HIDDEN else "mnist"


def load_dataset(name: str, data_dir, observer, skip_bad: bool = False) -> datasets.Dataset:
    """datasets.load with a progress phase: reading and checking the four
    MNIST files takes seconds, long enough to look hung without one; image
    folders report their decoding (and name the bad files they skip)."""
    if name in datasets.IMAGE_DATASETS or name not in datasets.KNOWN_DATASETS:
        if name in datasets.IMAGE_DATASETS:
            size, mode = datasets.IMAGE_DATASETS[name]
            root = datasets.find_image_dataset(name, data_dir)
        else:
            size, mode, root = None, "RGB", name
        ds = datasets.load_image_folder(
            root,
            size,
            mode=mode,
            name=name if name in datasets.IMAGE_DATASETS else None,
            skip_bad=skip_bad,
            observer=observer,
        )
        if ds.skipped:
            print(
                f"conntra: skipped {len(ds.skipped)} files that are not images: "
                f"{ds.skipped[0][0]} ({ds.skipped[0][1]})"
                + (", ..." if len(ds.skipped) > 1 else ""),
                file=sys.stderr,
            )
        return ds
    if name == "mnist":
        # The loader caches each parsed file, so reading them one by one here
        # (to advance the bar per file) costs nothing in the load() below.
        files = datasets._find_mnist_files(data_dir)
        observer.phase_start("loading mnist", total=len(files), unit="file")
        for stem, path in files.items():
            datasets._read_idx(path, stem)
            observer.phase_advance(1)
        observer.phase_end()
    return datasets.load(name, data_dir=data_dir)


def call_train(dataset, hidden, trainer, observer, epochs, **kwargs):
    """api.train reporting to ``observer``."""
    return api.train(dataset, hidden, trainer, epochs=epochs, observer=observer, **kwargs)


def errors_of(model, split, dataset) -> dict:
    """Training, validation and test error of ``model`` on ``split`` (the
    quantized training and validation parts) and the dataset's test set."""
    from conntra.metrics import error_rate

    def err(xq, y):
        return None if len(y) == 0 else error_rate(model.predict_quantized(xq), y)

    return {
        "train_error": err(split.xq, split.y),
        "val_error": err(split.xq_val, split.y_val),
        "test_error": model.error_rate(dataset.x_test, dataset.y_test),
    }


def split_phrase(n: int, dataset: str, part: str) -> str:
    return f"{n:,} samples of the {dataset} {part}"


def resume_hint(args) -> str:
    """What to tell someone who pressed Ctrl-C: where the checkpoint is and
    the exact command that continues the run."""
    folder = args.checkpoint_dir
    if not folder:
        return (
            "no checkpoint was written; pass --checkpoint-dir DIR to be able to resume "
            "an interrupted run"
        )
    if not (os.path.isdir(folder) and os.listdir(folder)):
        return f"no checkpoint was written to {folder} yet; rerunning starts from the beginning"
    argv = list(args.argv)
    if "--resume" not in argv:
        argv.append("--resume")
    return (
        f"the last checkpoint in {folder} is kept; continue with:\n"
        f"  {shlex.join(['conntra', *argv])}"
    )


def finetune_start(args):
    """``--from``: (model, hidden, act_bits) of the model to fine-tune, after
    the option checks that need no data. Options that contradict the model
    are usage errors; a missing or damaged file fails as it does everywhere."""
    if args.trainer not in ("conntra", "qat"):
        raise UsageError(
            f"--from: trainer {args.trainer} cannot start from a ternary model "
            "(only conntra and qat can fine-tune one)"
        )
    for flag, value in (
        ("--init", args.init),
        ("--init-epochs", args.init_epochs),
        ("--init-samples", args.init_samples),
    ):
        if value is not None:
            raise UsageError(f"{flag} has no effect with --from: the run starts from the model")
    start, _ = finetune.load_init_model(args.init_model)
    try:
        given = parse_hidden(args.hidden) if args.hidden else None
        hidden = finetune.resolve_hidden(start, given, "--hidden")
        bits = options.check_act_bits(args.act_bits, len(hidden))
        act_bits = finetune.resolve_act_bits(start, bits, "--act-bits")
    except InputError as exc:
        raise UsageError(str(exc)) from exc
    return start, hidden, act_bits


def arch_option(args, hidden_text):
    """``--arch``: the architecture text (checked by conntra.arch), or None;
    a UsageError beside ``--hidden`` or ``--from``."""
    text = getattr(args, "arch", None)
    if text is None:
        return None
    if hidden_text:
        raise UsageError("--hidden and --arch are exclusive: dense sizes or an architecture")
    if getattr(args, "init_model", None):
        raise UsageError("--arch has no effect with --from: the run fine-tunes the model's layers")
    try:
        if text.strip() != arch.CNN:
            arch.parse(text)
    except InputError as exc:
        raise UsageError(f"--arch: {exc}") from exc
    return text


def arch_act_bits(values):
    """``--act-bits`` for an architecture: api.train counts its hidden layers
    (one value for all, or one per hidden conv2d and dense layer)."""
    if values is None or len(values) != 1:
        return values
    return values[0]


def run_train(args) -> int:
    if args.resume and not args.checkpoint_dir:
        raise UsageError("--resume needs --checkpoint-dir")
    start = None
    arch_text = arch_option(args, args.hidden)
    if args.init_model:
        start, hidden, act_bits = finetune_start(args)
    elif arch_text is not None or (args.hidden is None and args.dataset not in DEFAULT_HIDDEN):
        hidden, act_bits = None, arch_act_bits(args.act_bits)  # an image folder: its CNN default
    else:
        hidden = parse_hidden(args.hidden or DEFAULT_HIDDEN[defaults_key(args.dataset)])
        act_bits = options.check_act_bits(args.act_bits, len(hidden))
    epochs = (
        args.epochs
        if args.epochs is not None
        else DEFAULT_EPOCHS[(defaults_key(args.dataset), args.trainer)]
    )
    cfg = config_from(args)
    comm = distributed_comm(args)
    observer = TqdmObserver(enabled=not args.quiet and (comm is None or comm.rank == 0))
    if comm is None:
        dataset = load_dataset(args.dataset, args.data_dir, observer, args.skip_bad)
    else:  # each rank reads only its share of the samples
        dataset = catalog.of_name(
            args.dataset,
            args.data_dir,
            skip_bad=args.skip_bad,
            observer=observer,
            workers=shards.decode_workers(comm),
        )
    if start is not None:
        finetune.check_data(start, args.init_model, dataset)
    if hidden is None and start is None and api.resolve_arch(dataset, None, arch_text) is None:
        # images of one pixel: the dense default
        hidden = parse_hidden(DEFAULT_HIDDEN[defaults_key(args.dataset)])
        act_bits = options.check_act_bits(args.act_bits, len(hidden))
    prepare = api.prepare if comm is None else functools.partial(shards.prepare, comm=comm)
    split = prepare(
        dataset,
        hidden,
        val_fraction=args.val_fraction,
        seed=args.seed,
        max_train=args.max_train,
        input_quant=None if start is None else start.input_quant,
        arch=arch_text,
    )
    try:
        result = call_train(
            dataset,
            hidden,
            args.trainer,
            observer,
            epochs,
            seed=args.seed,
            config=cfg,
            checkpoint_dir=args.checkpoint_dir,
            resume=args.resume,
            split=split,
            act_bits=act_bits,
            init_model=start,
            distributed=comm,
        )
    except KeyboardInterrupt:
        observer.close()
        print(f"conntra train: interrupted; {resume_hint(args)}", file=sys.stderr)
        return 130
    except Exception as exc:
        if comm is None:
            raise
        status = rank_failed(comm, exc, args)
        if status is None:
            raise
        return status
    observer.close()
    if comm is None:
        errs = errors_of(result.model, split, dataset)
    else:
        errs = shards.errors(comm, result.model, split, dataset)
        ranks = comm.gather_objects(
            {**distributed_totals(result.history), "rows_read": dict(dataset.rows_read)}
        )
        if comm.rank != 0:  # rank 0 writes the model and reports
            return 0
    stop = observer.early_stop
    result.model.save(args.out)
    samples = {
        "train": split.n_train,
        "val": len(split.y_val) if comm is None else split.shard.n_val,
        "test": len(dataset.y_test),
    }
    out = {
        "model": args.out,
        "trainer": args.trainer,
        "dataset": args.dataset,
        "sizes": split.sizes,
        "arch": split.arch,
        "epochs": len(result.history),
        "seconds": result.seconds,
        "history": result.history,
        "samples": samples,
        "early_stop": stop,
        "init_model": args.init_model,
        finetune.FINETUNED_FROM: result.model.metadata.get(finetune.FINETUNED_FROM),
        **errs,
    }
    if comm is not None:
        out["distributed"] = {"ranks": comm.size, "per_rank": ranks}
    if args.json:
        print(json.dumps(out, indent=2, sort_keys=True))
        return 0
    name = args.dataset
    if start is not None:
        print(f"fine-tuned from {args.init_model} ({out[finetune.FINETUNED_FROM]})")
    shape = split.arch or "-".join(map(str, split.sizes))
    print(f"final ({args.trainer}, {shape}, {result.seconds:.1f} s):")
    print(
        f"  training error   {percent(errs['train_error']):>8}  "
        f"({split_phrase(samples['train'], name, 'training set')} trained on)"
    )
    if samples["val"]:
        print(
            f"  validation error {percent(errs['val_error']):>8}  "
            f"({samples['val']:,} samples held out of the {name} training set)"
        )
    else:
        print("  validation error      n/a  (--val-fraction 0: nothing held out)")
    print(
        f"  test error       {percent(errs['test_error']):>8}  "
        f"({split_phrase(samples['test'], name, 'test set')})"
    )
    if comm is not None:
        print_distributed(ranks)
    print(f"model written to {args.out}")
    return 0


def distributed_comm(args):
    """``--distributed``: the MPI job's communicator (or one process)."""
    if not getattr(args, "distributed", False):
        return None
    if args.trainer != "conntra":
        raise UsageError(f"--distributed trains with --trainer conntra only, not {args.trainer}")
    from conntra.train.comm import world

    return world()


def rank_failed(comm, exc, args):
    """An error in a data-parallel run. One that every rank raised together
    (a start-up check, a failure on rank 0 sent to all) ends each rank
    normally: None tells rank 0 to report it, the others return its status
    quietly. Any other is this rank's alone: the others would wait for it
    forever, so it is printed and the whole job is aborted."""
    if getattr(exc, "collective", False):
        getattr(args, "run_state", {})["collective"] = True  # cli.main: no abort
        return None if comm.rank == 0 else 1
    print(
        f"conntra train: rank {comm.rank} of {comm.size} failed, stopping every rank: "
        f"{type(exc).__name__}: {exc}",
        file=sys.stderr,
    )
    sys.stderr.flush()
    comm.abort(1)
    return 1


def distributed_totals(history) -> dict:
    """A rank's compute and communication over the epochs of ``history``."""
    keys = ("seconds", "compute_seconds", "comm_seconds", "messages", "bytes", "checked", "wasted")
    out: dict = dict.fromkeys(keys, 0)
    kinds: dict = {}
    for record in history:
        rec = record.get("distributed", {})
        for key in keys:
            out[key] += rec.get(key, 0)
        for kind, e in rec.get("by_kind", {}).items():
            k = kinds.setdefault(kind, {"messages": 0, "seconds": 0.0})
            k["messages"] += e["messages"]
            k["seconds"] = round(k["seconds"] + e["seconds"], 3)
    out = {k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}
    out["by_kind"] = kinds
    return out


def print_distributed(ranks) -> None:
    ranks_word = "rank" if len(ranks) == 1 else "ranks"
    print(f"data-parallel over {len(ranks)} {ranks_word} (training epochs, per rank):")
    for r, t in enumerate(ranks):
        share = t["comm_seconds"] / t["seconds"] if t["seconds"] else 0.0
        print(
            f"  rank {r}: compute {t['compute_seconds']:.1f} s, communication "
            f"{t['comm_seconds']:.1f} s ({100 * share:.1f} %), {t['messages']:,} messages, "
            f"{t['bytes']:,} bytes sent"
        )
        split = ", ".join(
            f"{kind} {e['seconds']:.1f} s / {e['messages']:,}"
            for kind, e in t.get("by_kind", {}).items()
        )
        if split:
            print(f"    communication by kind (seconds / messages): {split}")
        read = t.get("rows_read")
        if read:
            print(
                f"    samples read: {read['train']:,} of the training set, "
                f"{read['test']:,} of the test set"
            )


def run_eval(args) -> int:
    from conntra.modelfile import load

    if args.plot and not args.confusion:
        raise UsageError("--plot draws the confusion matrix: it needs --confusion")
    if args.plot:  # no figure without matplotlib: say so before any work
        from conntra.plot import require_matplotlib

        require_matplotlib()
    model = load(args.model)
    dataset = load_dataset(
        args.dataset, args.data_dir, TqdmObserver(enabled=not args.json), args.skip_bad
    )
    if model.sizes[0] != dataset.n_features or model.n_classes != dataset.n_classes:
        raise ShapeError(
            f"model {args.model} takes {model.sizes[0]} features and has "
            f"{model.n_classes} classes; dataset {args.dataset} has "
            f"{dataset.n_features} features and {dataset.n_classes} classes"
        )
    out = {
        "model": args.model,
        "dataset": args.dataset,
        "kind": "ternary" if hasattr(model, "logits_quantized") else "float32",
        "train_error": model.error_rate(dataset.x_train, dataset.y_train),
        "test_error": model.error_rate(dataset.x_test, dataset.y_test),
        "samples": {"train": len(dataset.y_train), "test": len(dataset.y_test)},
        "classes": class_names(model, dataset),
    }
    if args.confusion:
        out["confusion"] = confusion_of(model, dataset, args)
    if args.json:
        print(json.dumps(out, indent=2, sort_keys=True))
    else:
        name = args.dataset
        print(f"{args.model} on {name}:")
        if out["classes"]:
            shown = ", ".join(f"{i} {c}" for i, c in enumerate(out["classes"]))
            print(f"  classes        {shown}")
        print(
            f"  training error {percent(out['train_error']):>8}  "
            f"({split_phrase(out['samples']['train'], name, 'training set')}, "
            f"validation part included)"
        )
        print(
            f"  test error     {percent(out['test_error']):>8}  "
            f"({split_phrase(out['samples']['test'], name, 'test set')})"
        )
        if args.confusion:
            from conntra.plot import confusion_table

            conf = out["confusion"]
            print(
                f"confusion matrix on the {split_phrase(out['samples']['test'], name, 'test set')}"
                " (rows: true class, columns: predicted class):"
            )
            for line in confusion_table(conf["matrix"], conf["class_names"]).splitlines():
                print(f"  {line}")
            if args.plot:
                print(f"confusion matrix drawn in {args.plot}")
    return 0


def class_names(model, dataset) -> list | None:
    """The class of each label: as the model recorded them when trained on an
    image folder, else the dataset's, else the names conntra knows."""
    from conntra import plot

    names = (
        model.metadata.get("classes") or dataset.class_names or plot.CLASS_NAMES.get(dataset.name)
    )
    return list(names) if names else None


def confusion_of(model, dataset, args) -> dict:
    """The test-set confusion matrix of ``model`` for ``eval --confusion``,
    drawn into ``--plot`` when given."""
    from conntra import plot

    names = class_names(model, dataset)
    matrix = plot.confusion_matrix(dataset.y_test, model.predict(dataset.x_test), dataset.n_classes)
    if args.plot:
        plot.confusion_figure(
            matrix,
            args.plot,
            class_names=names,
            title=f"{os.path.basename(args.model)} on the {dataset.name} test set",
        )
    return {
        "set": "test",
        "matrix": matrix.tolist(),
        "class_names": list(names) if names else None,
        "plot": args.plot,
    }


def add_common(p) -> None:
    p.add_argument(
        "--dataset",
        required=True,
        type=dataset_name,
        help="dataset to use: iris ships with conntra, mnist and cifar10 are read from "
        "--data-dir; or a folder holding train/<class>/<image> and test/<class>/<image>",
    )
    p.add_argument(
        "--skip-bad",
        action="store_true",
        help="image folders: skip files that are not decodable images (and say how many) "
        "instead of stopping at the first",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="folder holding the MNIST files (default: $CONNTRA_DATA, else "
        "~/.cache/conntra; 'conntra data fetch mnist' "
        "downloads them)",
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON on stdout")


def add_training(p) -> None:
    p.add_argument(
        "--arch",
        default=None,
        metavar="TEXT",
        help="an architecture instead of --hidden, for image data: comma-separated layers "
        "such as c16k3,p2,c32k3,p2,d10 (c<N>k<K> conv, dw<K> depthwise, p<W> max pool, "
        "f flatten, d<N> dense; docs/architectures.md), or cnn for the dataset's default "
        f"({', '.join(f'{k} {v}' for k, v in arch.ARCH_DEFAULTS.items())}); image folders "
        "and cifar10 take their CNN default without --hidden or --arch",
    )
    p.add_argument(
        "--hidden",
        default=None,
        help="hidden layer sizes, comma-separated, e.g. 256 or 256,128 (default: "
        + ", ".join(f"{v} for {k}" for k, v in DEFAULT_HIDDEN.items())
        + ")",
    )
    p.add_argument(
        "--epochs",
        type=options.POSITIVE,
        default=None,
        help="maximum number of epochs; early stopping may end sooner (default: "
        "per dataset and trainer, e.g. 30 for iris and 16 for mnist with "
        "conntra)",
    )
    p.add_argument(
        "--seed",
        type=options.SEED,
        default=0,
        help="random seed of the split, the initialisation and the batch order",
    )
    p.add_argument(
        "--max-train",
        type=options.POSITIVE,
        default=None,
        help="use at most this many training samples, for quick runs (default: all)",
    )
    p.add_argument(
        "--val-fraction",
        type=options.real(0.0, 1.0, hi_open=True),
        default=0.1,
        help="share of the training set held out to measure the validation error "
        "for early stopping, in [0, 1)",
    )
    p.add_argument(
        "--act-bits",
        type=options.act_bits,
        default=None,
        help="activation bits of the hidden layers, 1, 2, 4 or 7: one value for all "
        "or a comma list with one per hidden layer (default: 7, activations 0..127); "
        "conntra and qat train for them, backprop and torch ignore them",
    )
    g = p.add_argument_group("CoNNTrA options (only for --trainer conntra)")
    d = ConntraConfig()
    g.add_argument(
        "--batch",
        type=options.POSITIVE,
        default=None,
        help=f"samples per batch (default: {d.batch})",
    )
    g.add_argument(
        "--batch-start",
        type=options.NON_NEGATIVE,
        default=None,
        help="batch of the first epoch, doubled each epoch up to --batch; 0 uses --batch "
        f"from the start (default: {d.batch_start})",
    )
    g.add_argument(
        "--budget",
        type=options.NON_NEGATIVE,
        default=None,
        help=f"exact loss checks per gradient round (default: {d.budget})",
    )
    g.add_argument(
        "--rounds",
        type=options.POSITIVE,
        default=None,
        help=f"gradient rounds per batch (default: {d.rounds})",
    )
    g.add_argument(
        "--screen",
        type=options.real(0.0, 1.0),
        default=None,
        help="share of the batch on which a candidate must lower the loss before its "
        f"full check; 0 checks every candidate on the whole batch (default: {d.screen})",
    )
    g.add_argument(
        "--rank-share",
        type=options.real(0.0, 1.0),
        default=None,
        help="share of the batch the ranking's gradient is computed on; 0 or 1 use the "
        f"whole batch (default: {d.rank_share})",
    )
    g.add_argument(
        "--round-stop",
        type=options.real(0.0, 1.0),
        default=None,
        help="end a batch's rounds once a round accepts fewer than this share of the "
        f"changes its first round accepted; 0 runs every round (default: {d.round_stop})",
    )
    g.add_argument(
        "--init",
        choices=["hybrid", "random"],
        default=None,
        help=f"initialisation: hybrid (a short ternary QAT run) or random (default: {d.init})",
    )
    g.add_argument(
        "--init-epochs",
        type=options.real(0.0, 1000.0),
        default=None,
        help=f"QAT epochs of the hybrid initialisation (default: {d.init_epochs})",
    )
    g.add_argument(
        "--init-samples",
        type=options.NON_NEGATIVE,
        default=None,
        help="training samples the hybrid initialisation reads, drawn by the seed; 0 reads "
        "them all (default: 0). With --distributed, rank 0 holds only these",
    )
    g.add_argument(
        "--split",
        choices=["equal", "params", "global"],
        default=None,
        help=f"how the check budget is split over the layers (default: {d.split})",
    )
    g.add_argument(
        "--mode",
        choices=["sequential", "scored"],
        default=None,
        help=f"step mode of the coordinate search (default: {d.mode})",
    )
    g.add_argument(
        "--patience",
        type=options.POSITIVE,
        default=None,
        help="stop after this many epochs without a better validation error "
        f"(default: {d.patience}; more on tiny sets of few batches)",
    )
    g.add_argument(
        "--exhaustive",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="check every parameter and value each round (default: only for "
        "models of at most 5000 parameters)",
    )


def register(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a model (CoNNTrA, backprop or ternary QAT) or fine-tune one (--from)",
        description="Train a model and save it, or fine-tune a saved ternary model on "
        "new data (--from MODEL.ctm). Progress goes to stderr; "
        "Ctrl-C stops and prints how to resume (exit status 130).",
    )
    add_common(p)
    add_training(p)
    p.add_argument(
        "--trainer",
        default="conntra",
        choices=list(api.TRAINERS),
        help="training algorithm: conntra (ternary, gradient-free), backprop "
        "(float32), qat (ternary by quantization-aware training) or torch",
    )
    p.add_argument(
        "--from",
        dest="init_model",
        metavar="MODEL.ctm",
        default=None,
        help="fine-tune this ternary model on the data instead of starting from an "
        "initialisation: conntra continues from its integer parameters exactly (no float "
        "copy), qat from float shadow weights that ternarise to its codes; the model sets "
        "the input quantization, --hidden and --act-bits (given, they must agree); "
        "backprop and torch cannot (default: no model, a fresh run)",
    )
    p.add_argument("--out", default="model.ctm", help="model file to write")
    p.add_argument(
        "--checkpoint-dir",
        default=None,
        help="write checkpoints to this folder so that --resume can continue an "
        "interrupted run (default: no checkpoints)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from the checkpoint in --checkpoint-dir; every other "
        "option must be the same as in the interrupted run",
    )
    p.add_argument(
        "--checkpoint-every",
        type=options.NON_NEGATIVE,
        default=None,
        help="batches between checkpoints; 0 writes one each epoch (default: 0)",
    )
    p.add_argument(
        "--quiet", action="store_true", help="no progress bars or per-epoch lines on stderr"
    )
    p.add_argument(
        "--distributed",
        action="store_true",
        help="data-parallel CoNNTrA over the ranks of the MPI job that started this "
        "command (mpiexec -n N conntra train ... --distributed; docs/distributed.md): "
        "each rank holds 1/N of every batch, rank 0 writes the checkpoints and the "
        "model, and the model is the same for every N that divides the batch "
        "(default: one process)",
    )
    p.set_defaults(func=run_train)

    e = sub.add_parser(
        "eval",
        help="error of a saved model on a dataset",
        description="Error rates of a saved model on the training and test sets of a dataset.",
    )
    e.add_argument("model", help="path of a model file")
    add_common(e)
    e.add_argument(
        "--confusion",
        action="store_true",
        help="also print the confusion matrix on the test set (rows true class, "
        "columns predicted class) with each class's error",
    )
    e.add_argument(
        "--plot",
        default=None,
        metavar="FILE",
        help="with --confusion, also draw the matrix into this PNG file (needs "
        "conntra[plots]; default: no picture)",
    )
    e.set_defaults(func=run_eval)

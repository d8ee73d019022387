"""The ``conntra`` command line.

Each subcommand lives in its own module with a ``register(subparsers)``
function that adds its parser and sets ``func``; this file only lists them.
``func(args)`` returns the process exit status.

Exit status: 0 success; 1 a failure while running (a missing or corrupt
file, a training error, an unwritable output); 2 a usage error (an unknown
or invalid option value, options that do not fit together, an invalid
CONNTRA_KERNELS or CONNTRA_NUM_THREADS setting); 130 interrupted (Ctrl-C).
A closed output pipe (``conntra info m.ctm | head``) is not an error: 0.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys

from conntra.errors import ConntraError, EnvironmentConfigError, IdentifierError, UsageError

# Modules under conntra.cli, one per subcommand (or group of subcommands).
COMMAND_MODULES = ["info", "quickstart", "train", "compare", "firmware", "bench", "data", "plot"]

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default after its help, unless the help already
    says it (``default: ...``); a default of None means "decided at run
    time", which the help text itself must explain."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.required and action.option_strings and "required" not in text.lower():
            return f"{text} (required)".lstrip()
        if "default" in text.lower() or action.default is None or action.required:
            return text
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """Every parser of the command line, subcommands included, uses it: the
    subcommand modules call ``add_parser`` without knowing about it."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="conntra",
        description="Train ternary neural networks with CoNNTrA and ship them as C.",
        epilog="Run 'conntra COMMAND --help' for the options of a command. Exit status: "
        "0 success, 1 failure, 2 usage error, 130 interrupted.",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"conntra {importlib.import_module('conntra').__version__}",
        help="print the version and exit",
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=Parser
    )
    for name in COMMAND_MODULES:
        importlib.import_module(f"conntra.cli.{name}").register(sub)
    return parser


def subparser(parser: argparse.ArgumentParser, argv: list) -> argparse.ArgumentParser:
    """The parser of the (possibly nested) subcommand named in ``argv``."""
    current = parser
    for word in argv:
        actions = [a for a in current._actions if isinstance(a, argparse._SubParsersAction)]
        if not actions or word not in actions[0].choices:
            if word.startswith("-") or not actions:
                continue
            break
        current = actions[0].choices[word]
    return current


def flag_names(parser: argparse.ArgumentParser) -> dict:
    """Python keyword name -> command-line flag, for the options of ``parser``."""
    names = {}
    for action in parser._actions:
        longs = [s for s in action.option_strings if s.startswith("--")]
        if longs:
            names[action.dest] = longs[0]
    return names


def translate(message: str, flags: dict) -> str:
    """Library messages name Python keywords (``data_dir=``); people at a
    shell typed flags (``--data-dir``), so name those instead."""

    def repl(m):
        flag = flags.get(m.group(1))
        if flag is None:
            return m.group(0)
        after = message[m.end() : m.end() + 1]
        return flag if after in ("", ",", ";", ")", " ") else flag + " "

    message = re.sub(r"\b([a-z][a-z0-9_]*)=", repl, message)
    # Bare snake_case names ("max_train must be ...") are keywords too; bare
    # single words ("epochs") are left alone, they read as plain English.
    # Not inside paths or dotted names: /tmp/data_dir/ and x.max_train stay.
    return re.sub(
        r"(?<![\w./\\-])([a-z][a-z0-9]*(?:_[a-z0-9]+)+)\b(?![.(=/\\])",
        lambda m: flags.get(m.group(1), m.group(0)),
        message,
    )


def check_environment() -> None:
    """Rejects a malformed CONNTRA_NUM_THREADS / CONNTRA_KERNELS /
    CONNTRA_FORCE_SCALAR before any work, as a usage error: the C core parses
    them (once) and names the variable and its value."""
    from conntra import engine

    try:
        engine.check_environment()
    except EnvironmentConfigError as exc:
        raise UsageError(str(exc)) from exc


def _quiet_broken_pipe() -> int:
    """The reader of stdout went away (``| head``): not an error. Python
    would still try to flush stdout at exit and complain; point stdout at
    devnull so that it cannot (the recipe of the ``signal`` module docs)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    return 0


def _error(prog: str, message: str) -> None:
    try:
        print(f"{prog}: error: {message}", file=sys.stderr)
    except (BrokenPipeError, ValueError):
        pass


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    state: dict = {}
    status = _main(argv, state)
    if status != 0 and "--distributed" in argv and not state.get("collective"):
        _abort_mpi_job(status)
    return status


def _abort_mpi_job(status: int) -> None:
    """A rank of an MPI job that fails on its own (an option, the environment,
    its data) must take the job down: the other ranks would wait for it in
    their next collective forever. Only an error every rank raised together
    ends each rank normally. Outside an MPI launch there is nothing to do."""
    from conntra.train.comm import launched_by_mpi

    if not launched_by_mpi():
        return
    try:
        from mpi4py import MPI
    except ImportError:  # no MPI to abort: the launcher sees the exit status
        return
    sys.stderr.flush()
    MPI.COMM_WORLD.Abort(status)


def _main(argv: list, state: dict) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except BrokenPipeError:  # --help piped into head
        return _quiet_broken_pipe()
    except SystemExit as exc:  # --help, --version (0) or a usage error (2): a status, so
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE  # callers get one
    args.argv = argv  # the Ctrl-C message repeats the command with --resume
    args.run_state = state  # conntra train --distributed marks an error every rank raised
    sub = subparser(parser, argv)
    flags = flag_names(sub)
    try:
        if getattr(args, "check_environment", True):
            check_environment()
        status = int(args.func(args) or 0)
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except KeyboardInterrupt:
        _error(sub.prog, "interrupted")
        return EXIT_INTERRUPTED
    except (UsageError, IdentifierError) as exc:  # IdentifierError: a bad --prefix value
        _error(sub.prog, translate(str(exc), flags))
        return EXIT_USAGE
    except (ConntraError, OSError) as exc:  # OSError: unreadable or unwritable user paths
        _error(sub.prog, translate(str(exc), flags))
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())

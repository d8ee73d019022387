"""The command line as a whole: help texts, exit status, option checks,
error wording, broken pipes, environment settings and ``info`` on many files."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import pytest

from conntra import InputQuant, TernaryModel
from conntra.cli import HelpFormatter, build_parser, main, translate


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def walk(parser, path=("conntra",)):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk(sub, (*path, name))


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "m.ctm"
    TernaryModel.random([4, 8, 3], InputQuant.pixels(4), seed=1).save(path)
    return path


# export and verify belong to the firmware commands, whose help texts are
# completed separately; they are checked by the second test.
FIRMWARE_COMMANDS = {"export", "verify"}


def _undocumented(commands) -> list:
    missing = []
    for path, parser in walk(build_parser()):
        if len(path) < 2 or path[1] not in commands:
            continue
        assert parser.formatter_class is HelpFormatter, path
        fmt = HelpFormatter(parser.prog)
        for action in parser._actions:
            if not action.option_strings or isinstance(
                action, (argparse._HelpAction, argparse._VersionAction)
            ):
                continue
            shown = (fmt._get_help_string(action) or "").lower()
            if not action.help or ("default" not in shown and "required" not in shown):
                missing.append(f"{' '.join(path)} {action.option_strings[0]}: {shown!r}")
    return missing


def _commands():
    return {p[1] for p, _ in walk(build_parser()) if len(p) > 1}


def test_every_option_of_every_command_has_help_and_shows_its_default():
    assert _commands() >= {"info", "train", "eval", "compare", "quickstart", "bench", "data"}
    missing = _undocumented(_commands() - FIRMWARE_COMMANDS)
    assert not missing, "options without help or a shown default:\n" + "\n".join(missing)


def test_every_firmware_option_has_help_and_shows_its_default():
    missing = _undocumented(FIRMWARE_COMMANDS)
    assert not missing, "options without help or a shown default:\n" + "\n".join(missing)


def test_help_shows_defaults(capsys):
    code, out, _ = run(capsys, "train", "--help")
    assert code == 0
    assert "--seed SEED" in out and "(default: 0)" in out and "(default: model.ctm)" in out
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "Exit status" in out and "data" in out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["train", "--dataset", "iris", "--seed", "-1"], "argument --seed: must be >= 0, got -1"),
        (
            ["train", "--dataset", "iris", "--init-epochs", "nan"],
            "argument --init-epochs: must be a finite number, got nan",
        ),
        (
            ["train", "--dataset", "iris", "--init-epochs", "inf"],
            "argument --init-epochs: must be a finite number, got inf",
        ),
        (["train", "--dataset", "iris", "--patience", "-1"], "argument --patience: must be >= 1"),
        (
            ["train", "--dataset", "iris", "--checkpoint-every", "-5"],
            "argument --checkpoint-every: must be >= 0, got -5",
        ),
        (["train", "--dataset", "iris", "--batch", "x"], "argument --batch: expected an integer"),
        (["compare", "--mnist-epochs", "0"], "argument --mnist-epochs: must be >= 1, got 0"),
        (["compare", "--datasets", "iris", "--iris-hidden", "0"], "--iris-hidden sizes must be"),
        (["bench", "--threads", "0"], "argument --threads: must be >= 1"),
        (["quickstart", "--seed", "-3"], "argument --seed: must be >= 0"),
        (["data", "fetch", "cifar"], "invalid choice: 'cifar'"),
        (["nosuchcommand"], "invalid choice"),
    ],
)
def test_invalid_option_values_are_usage_errors(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2, err
    assert message in err and "Traceback" not in err and out == ""


def test_failures_at_run_time_exit_1(capsys, tmp_path, model_file):
    code, _, err = run(capsys, "info", str(tmp_path / "missing.ctm"))
    assert code == 1 and "missing.ctm" in err and err.startswith("conntra info: error:")
    corrupt = tmp_path / "corrupt.ctm"
    data = bytearray(model_file.read_bytes())
    data[-1] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    code, _, err = run(capsys, "eval", str(corrupt), "--dataset", "iris")
    assert code == 1 and "conntra eval: error:" in err


def test_errors_name_flags_not_python_keywords(capsys, tmp_path):
    code, _, err = run(
        capsys,
        "train",
        "--dataset",
        "mnist",
        "--data-dir",
        str(tmp_path / "empty"),
        "--quiet",
        "--out",
        str(tmp_path / "m.ctm"),
    )
    assert code == 1
    assert "--data-dir" in err and "data_dir=" not in err
    assert "conntra data fetch mnist" in err
    code, _, err = run(
        capsys,
        "train",
        "--dataset",
        "iris",
        "--max-train",
        "3",
        "--quiet",
        "--out",
        str(tmp_path / "m.ctm"),
    )
    assert code == 1 and "--max-train must be at least 6" in err and "max_train" not in err


def test_translate_keeps_unknown_names():
    flags = {"data_dir": "--data-dir", "seed": "--seed"}
    assert translate("Pass data_dir=, or", flags) == "Pass --data-dir, or"
    assert translate("got seed=3", flags) == "got --seed 3"
    assert translate("label_column=2 and x.data_dir", flags) == "label_column=2 and x.data_dir"
    assert (
        translate("in /tmp/data_dir/x and C:\\data_dir\\y", flags)
        == "in /tmp/data_dir/x and C:\\data_dir\\y"
    )
    assert translate("data_dir is empty", flags) == "--data-dir is empty"


def test_info_on_several_files_continues_past_a_bad_one(capsys, tmp_path, model_file):
    bad = tmp_path / "bad.ctm"
    bad.write_bytes(b"not a model")
    code, out, err = run(capsys, "info", str(model_file), str(bad), str(model_file))
    assert code == 1
    assert out.count(f"{model_file}:\n") == 2 and out.count("sizes       4-8-3") == 2
    assert f"{bad}" in err and "not a conntra model file" in err
    code, out, _ = run(capsys, "info", str(model_file), str(bad), "--json")
    assert code == 1
    d = json.loads(out)
    assert d[str(model_file)]["sizes"] == [4, 8, 3] and "error" in d[str(bad)]
    code, out, _ = run(capsys, "info", str(model_file), "--json")  # one file: one object
    assert code == 0 and json.loads(out)["sizes"] == [4, 8, 3]


def _child(args, env=None, cwd=None, **kw):
    full = dict(os.environ)
    for key in ("CONNTRA_KERNELS", "CONNTRA_NUM_THREADS", "CONNTRA_FORCE_SCALAR"):
        full.pop(key, None)
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "conntra", *args],
        env=full,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        **kw,
    )


def test_a_closed_output_pipe_is_not_an_error(tmp_path, model_file):
    """``conntra info m.ctm --json | head -c 10``: the reader is gone before
    the first write; no traceback, exit 0."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("CONNTRA_KERNELS", "CONNTRA_NUM_THREADS")
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "conntra", "info", str(model_file), str(model_file), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        env=env,
    )
    proc.stdout.close()  # the reader goes away before conntra writes
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err and err == ""


@pytest.mark.parametrize(
    "env,message",
    [
        ({"CONNTRA_KERNELS": "bogus"}, "CONNTRA_KERNELS"),
        ({"CONNTRA_NUM_THREADS": "abc"}, "CONNTRA_NUM_THREADS"),
        ({"CONNTRA_NUM_THREADS": "0"}, "CONNTRA_NUM_THREADS"),
    ],
)
def test_invalid_environment_settings_are_one_line_errors(tmp_path, model_file, env, message):
    done = _child(["info", str(model_file)], env=env, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("conntra info: error:")
    assert message in lines[0] and "Traceback" not in done.stderr


def test_valid_environment_settings_still_work(tmp_path, model_file):
    done = _child(
        ["info", str(model_file)],
        env={"CONNTRA_KERNELS": "ref", "CONNTRA_NUM_THREADS": "2"},
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr

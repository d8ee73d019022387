"""The README's main job: train on Iris with CoNNTrA and backprop, export C."""

import json
import os

from _tools import require_tools

from conntra.cli import main


def test_quickstart_trains_compares_and_exports(tmp_path, capsys):
    require_tools("gcc")
    assert main(["quickstart", "--out", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    conntra, backprop = report["results"]
    assert (conntra["trainer"], backprop["trainer"]) == ("conntra", "backprop")
    assert conntra["test_error"] <= 0.2 and backprop["test_error"] <= 0.2
    assert conntra["parameter_bytes"] < backprop["parameter_bytes"]
    assert os.path.getsize(report["header"]) > 0
    assert report["host_check"] == "30/30 identical"

"""The benchmark library and ``conntra bench`` wiring (no timing thresholds:
only that a run produces its ratios, table and JSON)."""

from __future__ import annotations

import json

import pytest

from conntra import bench
from conntra.cli import main
from conntra.errors import InputError


def test_run_case_reports_paired_ratios():
    row = bench.run_case(
        bench.Case("tiny gemv", 64, 300, 1, True), rounds=2, bandwidth=10.0, with_ref=True
    )
    assert row["kernel"].startswith("ct_t2_s8_gemv__")
    for key in ("x_numpy", "x_ref", "x_read", "pct_read", "pct_bandwidth", "gops", "weight_gbs"):
        assert row[key] > 0, key
    gemm = bench.run_case(bench.Case("tiny gemm", 32, 256, 8, False), rounds=2)
    assert gemm["kernel"].startswith("ct_t2_s8_gemm__") and gemm["x_numpy"] > 0
    report = {"machine": bench.machine_info(1), "bandwidth_gbs": 10.0, "results": [row, gemm]}
    table = bench.format_table(report)
    assert "tiny gemv" in table and "x numpy" in table and report["machine"]["kernels"]


def test_unknown_case_is_an_input_error():
    with pytest.raises(InputError, match=r"unknown benchmark case\(s\) \['nope'\]"):
        bench.run(names=["nope"])


def test_cli_bench_json(capsys, monkeypatch):
    tiny = bench.Case("gemv 1024x1024", 64, 128, 1, False)
    monkeypatch.setattr(bench, "CASES", [tiny])
    monkeypatch.setattr(bench, "read_bandwidth", lambda *a, **k: 10.0)
    ceiling = {"gbs": {1: 9.0, 2: 11.0, 4: 10.0, 8: 8.0}, "best_streams": 2, "best_gbs": 11.0}
    monkeypatch.setattr(bench, "read_ceiling", lambda *a, **k: ceiling)
    assert main(["bench", "--json", "--case", "gemv 1024x1024", "--rounds", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["results"][0]["case"] == "gemv 1024x1024"
    # the GEMV ran with the ceiling's best stream count
    assert report["read_ceiling"]["best_streams"] == 2
    assert report["results"][0]["gemv_streams"] == 2
    assert report["command"].startswith("conntra bench")
    assert main(["bench", "--case", "nope"]) == 2
    assert "unknown benchmark case" in capsys.readouterr().err


def test_machine_info_uses_the_shared_machine_description():
    from conntra import bench, machine

    info = bench.machine_info(1)
    assert info["cpu"] == machine.cpu_model()
    assert info["flags"] == machine.cpu_flags()


def test_read_ceiling_reports_every_stream_count():
    """Positive bandwidths for 1, 2, 4 and 8 streams; the best is their
    maximum and names its count (no timing thresholds)."""
    from conntra import engine

    c = bench.read_ceiling(8 << 20, rounds=2)
    assert set(c["gbs"]) == {1, 2, 4, 8}
    assert all(g > 0 for g in c["gbs"].values())
    assert c["best_gbs"] == max(c["gbs"].values())
    assert c["gbs"][c["best_streams"]] == c["best_gbs"]
    before = engine.gemv_streams()
    row = bench.run_case(bench.Case("tiny gemv", 64, 300, 1, True), rounds=2, read_streams=4)
    assert row["read_streams"] == 4 and row["pct_read"] > 0
    assert engine.gemv_streams() == before

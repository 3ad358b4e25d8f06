"""``scripts/bench.py``: its tiny configuration runs and prints every field; its FLOP model is right."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bench_tiny_configuration_prints_json_with_the_fields(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench.py"), "--tiny", "--workdir", str(tmp_path)],
                         capture_output=True, text=True, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr[-3000:]
    records = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    kinds = {r["kind"] for r in records}
    assert {"env", "step", "memory", "iterations", "video"} <= kinds, kinds
    steps = [r for r in records if r["kind"] == "step"]
    assert {r["precision"] for r in steps} == {"fp32", "bf16"}
    for r in steps:
        for key in ("size", "batch", "ms_per_iter", "ms_per_frame_iter", "tflop_per_iter", "tflops",
                    "peak_memory_bytes", "host_reads_per_iter", "grad_rel_err_vs_fp32"):
            assert key in r, key
        assert r["ms_per_iter"] > 0 and r["tflop_per_iter"] > 0
    memory = [r for r in records if r["kind"] == "memory"]
    assert memory and all("saved_activation_bytes" in r and "estimated_peak_bytes" in r for r in memory)
    iterations = next(r for r in records if r["kind"] == "iterations")
    assert iterations["cold"] and iterations["warm"] and "cold_mean" in iterations and "warm_mean" in iterations
    video = next(r for r in records if r["kind"] == "video")
    assert video["frames"] > 0 and video["frames_per_second"] > 0 and 0 < video["busy_fraction"] <= 1.0
    assert "# " in run.stdout  # the table


def test_conv_macs_match_the_issue():
    """4 x the VGG19 conv MACs to relu5_1 is the issue's ~0.095 TFLOP at 256x256 and ~3.0 at 1080p."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench", ROOT / "scripts" / "bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.conv_macs(256, 256) == 361152 * 256 * 256
    assert abs(bench.iteration_flop(256, 256) / 1e12 - 0.095) < 0.001
    assert abs(bench.iteration_flop(1080, 1920) / 1e12 - 3.0) < 0.05

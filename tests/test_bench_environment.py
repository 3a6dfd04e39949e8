"""The speed producers that print one JSON line record the environment they ran in (CPU model and instruction
sets, torch, threads): `scripts/bench_retrieval.py` and `scripts/bench_convert.py` at toy size (integration: each
runs in a fresh process, 7 and 23 s)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("argv", [
    ["bench_retrieval.py", "--sizes", "300", "--dim", "16", "--k", "3", "--queries", "12", "--batch", "4",
     "--index-images", "4", "--preset", "tiny", "--threads", "1"],
    ["bench_convert.py", "--trials", "80"],
], ids=["retrieval", "convert"])
def test_speed_producer_prints_its_environment(argv, tmp_path):
    script, *options = argv
    extra = ["--workdir", str(tmp_path)] if script == "bench_convert.py" else []
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / script), *options, *extra], capture_output=True,
                          text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    environment = result["environment"]
    assert environment["cpu_model"] and environment["torch"] and environment["threads"] >= 1
    assert isinstance(environment["isa_flags"], list)

"""How far a benchmark's figures move with the CPU: run one JSON-printing command under several ATen instruction
set levels (`ATEN_CPU_CAPABILITY`) and torch thread counts on the same machine, and report every numeric figure's
value per setting with its spread (max - min).

Other vector instructions and other thread counts change float rounding (the order of additions), and training
amplifies such differences, so the same command gives slightly different accuracies on another CPU. This script
measures that spread on one machine, as an estimate of what to expect on others.

    python scripts/bench_spread.py --isa default,avx2 --threads 1,2 -- \\
        python scripts/bench_encoder_quality.py --seeds 0

The command must print one JSON line last (as every `scripts/bench_*.py` does); `{threads}` in the command is
replaced by the thread count, which is also passed as `OMP_NUM_THREADS`. Prints one JSON line: per setting the
command's flattened numeric figures, the spread of each, and the environment.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys

from eeg2img_hf.utils.benchmark import environment


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--isa", default="default,avx2",
                        help="comma-separated ATEN_CPU_CAPABILITY values (default, avx2, avx512, ...)")
    parser.add_argument("--threads", default="1", help="comma-separated torch thread counts")
    parser.add_argument("--keys", help="comma-separated figures to keep (flattened names, e.g. mean.kmeans)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run")
    args = parser.parse_args(argv)
    args.command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not args.command:
        parser.error("give the command to run after --")
    args.isa = [v.strip() for v in args.isa.split(",") if v.strip()]
    try:
        args.threads = [int(v) for v in args.threads.split(",")]
    except ValueError:
        parser.error(f"--threads must be comma-separated integers, got {args.threads!r}")
    if not args.isa or any(t < 1 for t in args.threads):
        parser.error("--isa needs at least one level and --threads values >= 1")
    return args


def flatten(value, prefix: str = "") -> dict[str, float]:
    """`{"a": {"b": 1.5}, "c": [2]}` -> `{"a.b": 1.5, "c.0": 2.0}`: the numeric leaves (bools left out)."""
    if isinstance(value, bool):
        return {}
    if isinstance(value, (int, float)):
        return {prefix: float(value)}
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    out: dict[str, float] = {}
    for key, item in items:
        out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return out


def run(command: list[str], isa: str, threads: int) -> dict[str, float]:
    env = {**os.environ, "ATEN_CPU_CAPABILITY": isa, "OMP_NUM_THREADS": str(threads)}
    argv = [part.replace("{threads}", str(threads)) for part in command]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed under ATEN_CPU_CAPABILITY={isa}:\n{proc.stderr[-2000:]}")
    return flatten(json.loads(proc.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    settings = {f"{isa}, {threads} thread{'s' * (threads > 1)}": run(args.command, isa, threads)
                for isa, threads in itertools.product(args.isa, args.threads)}
    keys = [k.strip() for k in args.keys.split(",")] if args.keys else sorted(set.intersection(
        *(set(figures) for figures in settings.values())))
    spread = {key: round(max(s[key] for s in settings.values()) - min(s[key] for s in settings.values()), 6)
              for key in keys}
    result = {"command": args.command, "settings": {name: {k: figures[k] for k in keys}
                                                    for name, figures in settings.items()},
              "spread": spread, "environment": environment()}
    print(json.dumps(result))
    sys.stdout.flush()
    return result


if __name__ == "__main__":
    main()

"""Measurement helpers of the benchmark scripts (`scripts/bench_*.py`): the machine's fp32 matmul throughput, the
FLOPs an arbitrary piece of PyTorch work executes, and the environment a figure was measured in. Leaf module:
imports only torch and the standard library."""

from __future__ import annotations

import functools
import platform
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

__all__ = ["ISA_FLAGS", "PhaseProfile", "count_flops", "environment", "matmul_flops_per_s"]

ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_tile",
             "amx_bf16", "amx_int8", "asimd", "sve")
"""CPU instruction-set flags (as `/proc/cpuinfo` names them) that decide which kernels PyTorch can use."""


def matmul_flops_per_s(size: int = 2048, repeats: int = 7, dtype: torch.dtype = torch.float32) -> float:
    """Best-of-`repeats` `torch.mm` throughput (FLOP/s, 1 multiply-add = 2 FLOPs) for `size x size` matrices of
    `dtype` (float32 by default; bfloat16 for work run under bfloat16 autocast) on the CPU, with torch's current
    thread count: the practical arithmetic peak that a benchmark's achieved FLOP/s are compared with."""
    if size < 1 or repeats < 1:
        raise ValueError(f"size and repeats must be >= 1, got {size} and {repeats}")
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


class _FlopCount(TorchDispatchMode):
    """Adds up `torch.utils.flop_counter`'s formulas for every op that runs. Unlike `FlopCounterMode` it tracks no
    modules (no backward hooks), so it also counts double-backward passes such as R1's `autograd.grad`."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += int(formula(*args, **kwargs, out_val=out))
        return out


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of the matmuls and convolutions (forward and every backward, double backward included) that run while
    `fn()` runs, by the formulas of `torch.utils.flop_counter` (1 multiply-add = 2 FLOPs; element-wise work is not
    counted). `fn` really runs."""
    counter = _FlopCount()
    with counter:
        fn()
    return counter.total


class PhaseProfile:
    """Where the time of some work goes: functions wrapped as named phases ([`wrap`]) add up their wall seconds,
    and while [`counting_flops`] is active their FLOPs (as [`count_flops`] counts them), exclusive of the phases
    that run inside them (a phase's optimizer step, wrapped as its own phase, is not counted twice).

    Example:
        >>> profile = PhaseProfile()
        >>> step = profile.wrap("step", lambda: torch.ones(2, 2) @ torch.ones(2, 2))
        >>> with profile.counting_flops():
        ...     _ = step()
        >>> profile.flops["step"]
        16
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.flops: dict[str, int] = defaultdict(int)
        self.calls: dict[str, int] = defaultdict(int)
        self._open: list[list] = []  # per running phase: [seconds, flops] spent in the phases inside it
        self._counter: _FlopCount | None = None

    def _flops_so_far(self) -> int:
        return 0 if self._counter is None else self._counter.total

    def wrap(self, name: str, fn: Callable) -> Callable:
        """`fn` timed as the phase `name` (the wrapper returns what `fn` returns)."""

        @functools.wraps(fn)
        def phase(*args, **kwargs):
            inner = [0.0, 0]
            self._open.append(inner)
            start, flops_before = time.perf_counter(), self._flops_so_far()
            try:
                return fn(*args, **kwargs)
            finally:
                seconds, flops = time.perf_counter() - start, self._flops_so_far() - flops_before
                self._open.pop()
                self.seconds[name] += seconds - inner[0]
                self.flops[name] += flops - inner[1]
                self.calls[name] += 1
                if self._open:
                    self._open[-1][0] += seconds
                    self._open[-1][1] += flops

        return phase

    @contextmanager
    def counting_flops(self) -> Iterator[None]:
        """Count the FLOPs of the phases that run inside (the work runs slower meanwhile: time it apart)."""
        self._counter = _FlopCount()
        try:
            with self._counter:
                yield
        finally:
            self._counter = None


def _cpuinfo() -> dict[str, str]:
    """First processor's `key: value` lines of `/proc/cpuinfo` (empty where the file does not exist)."""
    path = Path("/proc/cpuinfo")
    if not path.is_file():
        return {}
    fields: dict[str, str] = {}
    for line in path.read_text(errors="replace").splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def environment(seeds: dict[str, int] | None = None) -> dict[str, object]:
    """The environment a figure was measured in: CPU model and instruction-set flags (those of `ISA_FLAGS` the CPU
    has, and the capability torch dispatches to), torch and Python versions, torch threads, the GPU when one is
    visible, and `seeds` as given."""
    info = _cpuinfo()
    flags = set((info.get("flags") or info.get("Features") or "").split())
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu_model": info.get("model name") or platform.processor() or platform.machine(),
        "isa_flags": [f for f in ISA_FLAGS if f in flags],
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "machine": platform.machine(), "os": platform.platform(),
        "python": sys.version.split()[0], "torch": torch.__version__, "threads": torch.get_num_threads(),
        "gpu": gpu, "seeds": dict(seeds or {}),
    }

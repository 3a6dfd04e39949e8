"""Measurement helpers of the benchmark scripts (`scripts/bench_*.py`): the machine's fp32 matmul throughput and
the FLOPs an arbitrary piece of PyTorch work executes. Leaf module: imports only torch."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

__all__ = ["count_flops", "matmul_flops_per_s"]


def matmul_flops_per_s(size: int = 2048, repeats: int = 7) -> float:
    """Best-of-`repeats` fp32 `torch.mm` throughput (FLOP/s, 1 multiply-add = 2 FLOPs) for `size x size`
    matrices on the CPU, with torch's current thread count: the practical arithmetic peak that a benchmark's
    achieved FLOP/s are compared with."""
    if size < 1 or repeats < 1:
        raise ValueError(f"size and repeats must be >= 1, got {size} and {repeats}")
    a, b = torch.randn(size, size), torch.randn(size, size)
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

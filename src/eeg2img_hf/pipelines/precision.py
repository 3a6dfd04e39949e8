"""The arithmetic precision of image generation: float32 (the default) or bfloat16 where the hardware has it.

bfloat16 keeps float32's exponent range with an 8-bit mantissa (relative rounding error 2**-8 = 0.4 %). On a CPU
with bfloat16 units (x86: AVX512-BF16 or AMX; Arm: the BF16 extension) oneDNN runs bfloat16 convolutions and
matmuls at two to eight times the float32 rate; on a CPU without them PyTorch emulates bfloat16 through float32 and
the same convolutions run tens of times SLOWER (a 3 x 3 convolution at batch 16, 128 channels, 32 x 32: about 80x
on an AVX2-only CPU). So the rule is:

* `precision="fp32"` (default): everything in float32.
* `precision="bf16"`: the generator runs under `torch.autocast(device_type, dtype=torch.bfloat16)` (weights stay
  float32; convolutions and matmuls compute in bfloat16, reductions and normalisations in float32; images come back
  as float32). Refused, with the reason, where the device has no bfloat16 units: a CPU without the flags above, a
  CUDA GPU for which `torch.cuda.is_bf16_supported()` is False.

`EEG2IMG_ALLOW_EMULATED_BF16=1` lifts the CPU refusal (read on every check): bfloat16 then runs emulated, slowly,
with the rounding a CPU with the units would give; for checking the numerics before deploying on such a CPU.

Nothing is ever switched to bfloat16 without being asked for. This file imports only torch and the standard library:
it travels with the pipeline files into a saved model folder (remote code).
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
from pathlib import Path
from typing import Any

import torch

__all__ = ["ALLOW_EMULATED_VAR", "PRECISIONS", "bf16_support", "check_precision", "generation_autocast"]

PRECISIONS = ("fp32", "bf16")
"""Accepted values of the `precision` option of generation (pipelines, `generate`, `evaluate-gan`, the Space)."""

ALLOW_EMULATED_VAR = "EEG2IMG_ALLOW_EMULATED_BF16"
"""Set to `1` to allow bfloat16 generation on a CPU without bfloat16 units (emulated: slow, same rounding)."""
_CPU_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})
"""`/proc/cpuinfo` flags of bfloat16 arithmetic units (x86 AVX512-BF16, x86 AMX, Arm BF16)."""


@functools.cache
def _cpuinfo_flags() -> frozenset[str]:
    """The CPU's feature flags from `/proc/cpuinfo` (`flags` on x86, `Features` on Arm); empty elsewhere."""
    path = Path("/proc/cpuinfo")
    if not path.is_file():
        return frozenset()
    flags: set[str] = set()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return frozenset(flags)


def _cpu_bf16_units() -> list[str]:
    """The bfloat16 features this CPU has (empty: none). Asks PyTorch first (what its kernels will use), then the
    flags the operating system reports; Apple silicon from M2 on has BF16 but reports no flags: treated as absent."""
    found = []
    cpu = getattr(torch, "cpu", None)
    for name, check in (("avx512_bf16", "_is_avx512_bf16_supported"), ("amx_tile", "_is_amx_tile_supported")):
        probe = getattr(cpu, check, None)
        if probe is not None and probe():
            found.append(name)
    return found or sorted(_CPU_BF16_FLAGS & _cpuinfo_flags())


def _device(device: str | torch.device | None) -> torch.device:
    """`device`, or where generation runs by default: CUDA when available, else the CPU."""
    return torch.device(device if device is not None else "cuda" if torch.cuda.is_available() else "cpu")


def bf16_support(device: str | torch.device | None = None) -> tuple[bool, str]:
    """Whether `device` (default: CUDA when available, else the CPU) has bfloat16 arithmetic units, and why (a
    sentence naming what was found or missing)."""
    device = _device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        if torch.cuda.is_bf16_supported():
            return True, f"CUDA device {torch.cuda.get_device_name(index)} supports bfloat16"
        return False, f"CUDA device {torch.cuda.get_device_name(index)} has no bfloat16 support"
    if device.type != "cpu":
        return False, f"bfloat16 generation is supported on 'cpu' and 'cuda' devices, not {device.type!r}"
    units = _cpu_bf16_units()
    capability = torch.backends.cpu.get_cpu_capability()
    if units:
        return True, f"this CPU has bfloat16 units ({', '.join(units)})"
    missing = (f"this CPU ({platform.machine()}, PyTorch kernels: {capability}) has no bfloat16 units (no "
               "avx512_bf16 / amx_bf16 / bf16 flag)")
    if os.environ.get(ALLOW_EMULATED_VAR) == "1":
        return True, f"{missing}: bfloat16 is emulated ({ALLOW_EMULATED_VAR}=1), slower than float32"
    return False, f"{missing}, so bfloat16 would run tens of times slower than float32"


def check_precision(precision: Any, device: str | torch.device | None = None, name: str = "precision") -> str:
    """Returns `precision` when it is one of `PRECISIONS` and `device` can run it; raises `ValueError` naming the
    argument `name` and the reason otherwise."""
    if precision not in PRECISIONS:
        raise ValueError(f"`{name}` must be one of {PRECISIONS}, got {precision!r}.")
    if precision == "bf16":
        supported, reason = bf16_support(device)
        if not supported:
            raise ValueError(f"{name} 'bf16' is refused: {reason}. Use 'fp32' (the default).")
    return precision


def generation_autocast(precision: str, device: str | torch.device | None = None) -> contextlib.AbstractContextManager:
    """The context the generator runs in: a no-op for `"fp32"`, bfloat16 autocast on `device`'s type for `"bf16"`
    (call [`check_precision`] first: this function does not refuse)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(_device(device).type, dtype=torch.bfloat16)

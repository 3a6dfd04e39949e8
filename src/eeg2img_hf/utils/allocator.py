"""CPU memory policy for generation: [`fast_cpu_generation`], an explicit context that reuses freed heap memory.

Generation allocates large activations (268 MB per tensor at batch 16, 128 px). glibc serves every block above
its mmap threshold (at most 32 MiB) with a fresh `mmap`, and the kernel zero-fills each page on first touch, so
every operation pays page faults again: about a quarter of the wall time of a batch-16 forward pass on CPU.
Inside [`fast_cpu_generation`], glibc serves large blocks from its heap and keeps freed memory for the next
operation (`mallopt(M_MMAP_MAX, 0)`, `mallopt(M_TRIM_THRESHOLD, -1)`: no trimming).

What leaving the context undoes, and what it cannot:

* undone: large blocks may come from `mmap` again (`M_MMAP_MAX` back to glibc's default 65536), the heap is trimmed
  again above glibc's default 128 KiB (`M_TRIM_THRESHOLD`), and `malloc_trim(0)` hands the freed memory back to the
  system, so the process does not keep its peak;
* not undone: any `mallopt` call switches glibc's *adaptive* mmap threshold off for the rest of the process, and
  glibc has no call to switch it back on. Before the first use, freeing an mmapped block raises the threshold to
  that block's size (up to 32 MiB), so later blocks of that size come from the heap; after it, the threshold stays
  where it was when the context was entered, and blocks above it always come from `mmap`. Nothing else changes
  (results are bit-identical); only the speed of large allocations outside the context can differ.

This is why the policy is an explicit context and not part of a model's `forward`: a library call must not change
how the rest of the process allocates memory. The CLI's `generate` and `evaluate-gan`, the Space app and the
benchmark scripts use it; code that embeds the package decides for itself:

```python
import torch
import eeg2img_hf

generator = eeg2img_hf.EEGStyleGANGenerator(eeg2img_hf.EEGStyleGANConfig.from_preset("tiny")).eval()
with torch.inference_mode(), eeg2img_hf.fast_cpu_generation():
    images = generator(torch.randn(4, generator.config.z_dim), eeg_embeds=torch.randn(4, 12)).images
```

It does nothing where it cannot help or apply: outside Linux/glibc, or with `EEG2IMG_MALLOC_TUNING=0` in the
environment. The setting is process-wide while active; nested and concurrent uses keep it active until the last one
leaves.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import sys
import threading
from collections.abc import Iterator

__all__ = ["fast_cpu_generation"]

_M_TRIM_THRESHOLD = -1  # glibc mallopt parameter numbers (malloc.h)
_M_MMAP_MAX = -4
_DEFAULT_TRIM_THRESHOLD = 128 * 1024  # glibc's defaults, set again on leaving
_DEFAULT_MMAP_MAX = 65536
_RETAIN_TRIM_THRESHOLD = -1  # mallopt: -1 disables trimming (freed heap memory is kept until we leave)

_lock = threading.Lock()
_depth = 0


@functools.cache
def _load_glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc with `mallopt` and `malloc_trim`, else `None` (looked up once)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018  (AttributeError on musl and others)
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except (OSError, AttributeError):
        return None


def _glibc() -> ctypes.CDLL | None:
    """glibc, unless `EEG2IMG_MALLOC_TUNING=0` (read on every call, so it can be switched at run time)."""
    return None if os.environ.get("EEG2IMG_MALLOC_TUNING", "1") == "0" else _load_glibc()


@contextlib.contextmanager
def fast_cpu_generation(enabled: bool = True) -> Iterator[None]:
    """Within the block, large CPU allocations come from glibc's heap and freed memory is reused (see the module
    docstring for what leaving the block restores and what it cannot).

    Args:
        enabled (`bool`, *optional*, defaults to `True`): `False` makes the context a no-op (e.g. on CUDA).
    """
    global _depth
    libc = _glibc() if enabled else None
    if libc is None:
        yield
        return
    with _lock:
        _depth += 1
        if _depth == 1:
            libc.mallopt(_M_MMAP_MAX, 0)
            libc.mallopt(_M_TRIM_THRESHOLD, _RETAIN_TRIM_THRESHOLD)
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
                libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)
                libc.malloc_trim(0)

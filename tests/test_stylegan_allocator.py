"""The CPU memory policy for generation: an explicit context (`eeg2img_hf.fast_cpu_generation`), never a side effect
of a forward pass; same outputs, scoped and nestable, off on request."""

from __future__ import annotations

import json

import pytest
import torch

import eeg2img_hf
from eeg2img_hf.models import EEGStyleGANConfig, EEGStyleGANGenerator
from eeg2img_hf.utils import allocator
from eeg2img_hf.utils.allocator import fast_cpu_generation

from testing_utils import run_python


def _generator() -> EEGStyleGANGenerator:
    torch.manual_seed(0)
    return EEGStyleGANGenerator(EEGStyleGANConfig.from_preset("tiny")).eval()


class FakeLibc:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def mallopt(self, param, value):
        self.calls.append(("mallopt", param, value))

    def malloc_trim(self, pad):
        self.calls.append(("trim", pad))


def test_public_name():
    assert eeg2img_hf.fast_cpu_generation is fast_cpu_generation


def test_images_are_identical_with_and_without_the_context():
    g = _generator()
    z, c = torch.randn(4, g.config.z_dim), torch.randn(4, g.config.embed_dim)
    with torch.no_grad():
        plain = g(z, eeg_embeds=c).images
        with fast_cpu_generation():
            tuned = g(z, eeg_embeds=c).images
    assert torch.equal(tuned, plain)


def test_forward_changes_no_allocator_setting(monkeypatch):
    fake = FakeLibc()
    monkeypatch.setattr(allocator, "_glibc", lambda: fake)
    g = _generator()
    with torch.no_grad():
        g(torch.randn(2, g.config.z_dim), eeg_embeds=torch.randn(2, g.config.embed_dim))
    assert fake.calls == []


def test_nested_uses_keep_the_setting_until_the_last_leaves(monkeypatch):
    fake = FakeLibc()
    monkeypatch.setattr(allocator, "_glibc", lambda: fake)
    with fast_cpu_generation():
        with fast_cpu_generation():
            assert allocator._depth == 2
        assert fake.calls == [("mallopt", -4, 0), ("mallopt", -1, -1)]  # set once, not restored yet
    assert allocator._depth == 0
    assert fake.calls[2:] == [("mallopt", -4, 65536), ("mallopt", -1, 128 * 1024), ("trim", 0)]


def test_disabled_or_unavailable_is_a_no_op(monkeypatch):
    monkeypatch.setattr(allocator, "_glibc", lambda: None)
    with fast_cpu_generation():
        assert allocator._depth == 0
    with fast_cpu_generation(enabled=False):
        assert allocator._depth == 0


# A fresh process asks glibc where a large block comes from (the IS_MMAPPED bit of the chunk header). glibc's
# adaptive threshold: freeing an mmapped block of size B raises the mmap threshold to B, so a later, smaller block
# comes from the heap, unless a `mallopt` call switched the adaptation off. Each probe uses sizes above any
# threshold an earlier probe reached (8 -> 20 -> 31 MiB; glibc's adaptive maximum is 32 MiB).
_PROBE = """
import ctypes, json
import torch
from eeg2img_hf.models import EEGStyleGANConfig, EEGStyleGANGenerator
from eeg2img_hf.utils.allocator import fast_cpu_generation

libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
MIB = 2**20

def smaller_block_is_mmapped(freed_mib, asked_mib):
    libc.free(libc.malloc(freed_mib * MIB))
    pointer = libc.malloc(asked_mib * MIB)
    mmapped = bool(ctypes.c_size_t.from_address(pointer - ctypes.sizeof(ctypes.c_size_t)).value & 2)
    libc.free(pointer)
    return mmapped

torch.manual_seed(0)
g = EEGStyleGANGenerator(EEGStyleGANConfig.from_preset("tiny")).eval()
z, c = torch.randn(2, g.config.z_dim), torch.randn(2, g.config.embed_dim)
seen = {"before_any_pass": smaller_block_is_mmapped(8, 6)}
with torch.no_grad():
    g(z, eeg_embeds=c)
    seen["after_a_plain_pass"] = smaller_block_is_mmapped(20, 16)
    with fast_cpu_generation():
        g(z, eeg_embeds=c)
seen["after_the_context"] = smaller_block_is_mmapped(31, 24)
print(json.dumps(seen))
"""


@pytest.mark.skipif(allocator._load_glibc() is None, reason="glibc only")
def test_a_generator_pass_leaves_glibc_adaptive_and_the_context_does_what_it_documents():
    """A plain pass changes nothing (freeing a large block still raises the mmap threshold); after the context,
    the adaptive threshold is off, which its docstring states as what leaving it cannot undo."""
    done = run_python(_PROBE, env={"EEG2IMG_MALLOC_TUNING": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"before_any_pass": False, "after_a_plain_pass": False, "after_the_context": True}

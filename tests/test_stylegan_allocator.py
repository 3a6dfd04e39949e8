"""The generator's CPU memory policy: same outputs, scoped and nestable, off on request."""

from __future__ import annotations

import torch

from eeg2img_hf.models.eeg_stylegan import EEGStyleGANConfig, EEGStyleGANGenerator, allocator_stylegan
from eeg2img_hf.models.eeg_stylegan.allocator_stylegan import reuse_freed_memory


def _generator() -> EEGStyleGANGenerator:
    torch.manual_seed(0)
    return EEGStyleGANGenerator(EEGStyleGANConfig.from_preset("tiny")).eval()


def test_images_are_identical_with_and_without_the_policy(monkeypatch):
    g = _generator()
    z, c = torch.randn(4, g.config.z_dim), torch.randn(4, g.config.embed_dim)
    with torch.no_grad():
        tuned = g(z, eeg_embeds=c).images
        monkeypatch.setenv("EEG2IMG_MALLOC_TUNING", "0")
        plain = g(z, eeg_embeds=c).images
    assert torch.equal(tuned, plain)


def test_nested_uses_keep_the_setting_until_the_last_leaves(monkeypatch):
    calls = []

    class FakeLibc:
        def mallopt(self, param, value):
            calls.append(("mallopt", param, value))

        def malloc_trim(self, pad):
            calls.append(("trim", pad))

    monkeypatch.setattr(allocator_stylegan, "_glibc", lambda: FakeLibc())
    with reuse_freed_memory():
        with reuse_freed_memory():
            assert allocator_stylegan._depth == 2
        assert calls == [("mallopt", -4, 0), ("mallopt", -1, -1)]  # set once, not restored yet
    assert allocator_stylegan._depth == 0
    assert calls[2:] == [("mallopt", -4, 65536), ("mallopt", -1, 128 * 1024), ("trim", 0)]


def test_disabled_or_unavailable_is_a_no_op(monkeypatch):
    monkeypatch.setattr(allocator_stylegan, "_glibc", lambda: None)
    with reuse_freed_memory():
        assert allocator_stylegan._depth == 0
    with reuse_freed_memory(enabled=False):
        assert allocator_stylegan._depth == 0


def test_training_mode_does_not_use_the_policy(monkeypatch):
    seen = []
    real = allocator_stylegan.reuse_freed_memory

    def spy(enabled=True):
        seen.append(enabled)
        return real(enabled=False)

    from eeg2img_hf.models.eeg_stylegan import modeling_eeg_stylegan

    monkeypatch.setattr(modeling_eeg_stylegan, "reuse_freed_memory", spy)
    g = _generator()
    z, c = torch.randn(2, g.config.z_dim), torch.randn(2, g.config.embed_dim)
    g.train()(z, eeg_embeds=c)
    g.eval()(z, eeg_embeds=c)
    assert seen == [False, True]

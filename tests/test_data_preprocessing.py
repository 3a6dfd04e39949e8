"""Preprocessing functions against hand-computed values, step replay and whole-dataset preprocessing."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from eeg2img_hf.data import get_eeg_info, simulate_dataset
from eeg2img_hf.data.preprocessing import (
    apply_steps,
    bandpass,
    crop,
    preprocess_dataset,
    preprocessing_step,
    resample,
    resize_image,
    scale_by_trial_max,
    zscore_channels,
)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def test_crop_keeps_half_open_range_and_copies():
    eeg = np.arange(2 * 3 * 10, dtype=np.float32).reshape(2, 3, 10)
    out = crop(eeg, 2, 7)
    np.testing.assert_array_equal(out, eeg[..., 2:7])
    assert out.dtype == np.float32 and out.shape == (2, 3, 5)
    out[...] = 0
    assert eeg[0, 0, 2] == 2  # the input is untouched
    assert crop(eeg[0], 0, 10).shape == (3, 10)
    for start, stop in ((-1, 5), (5, 5), (3, 11)):
        with pytest.raises(ValueError, match="0 <= start < stop <= n_times=10"):
            crop(eeg, start, stop)


def test_scale_by_trial_max_formula_and_refusal():
    trial = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    np.testing.assert_allclose(scale_by_trial_max(trial), [[-0.5, 0.0], [0.5, 1.0]])
    batch = np.stack([trial, 2 * trial])
    out = scale_by_trial_max(batch)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[1], [[-0.5, 0.0], [0.5, 1.0]])  # per-trial maximum
    bad = np.stack([trial, -trial, np.zeros_like(trial)])
    with pytest.raises(ValueError, match=r"2 of 3 trials have a maximum <= 0 \(trial indices \[1, 2\]\)"):
        scale_by_trial_max(bad)


def test_zscore_channels_statistics():
    np.testing.assert_allclose(
        zscore_channels(np.array([[1.0, 2.0, 3.0]], dtype=np.float32)), [[-np.sqrt(1.5), 0.0, np.sqrt(1.5)]], rtol=1e-6
    )
    eeg = (np.random.default_rng(0).standard_normal((4, 3, 50)) * 7 + 3).astype(np.float32)
    out = zscore_channels(eeg)
    assert out.dtype == np.float32 and out.shape == eeg.shape
    np.testing.assert_allclose(out.mean(axis=-1), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=-1), 1, atol=1e-5)
    eeg[2, 1] = 5.0
    with pytest.raises(ValueError, match=r"constant channels.*\[\(2, 1\)\]"):
        zscore_channels(eeg)


def test_bandpass_keeps_in_band_sine_removes_out_of_band_and_dc():
    sfreq = 250.0
    t = np.arange(int(2 * sfreq)) / sfreq
    in_band = np.sin(2 * np.pi * 20 * t)
    out_of_band = np.sin(2 * np.pi * 80 * t)
    eeg = np.stack([in_band + out_of_band + 3.0, in_band]).astype(np.float32)  # (2 chans, 500 times)
    out = bandpass(eeg, sfreq, 5.0, 40.0)
    assert out.dtype == np.float32 and out.shape == eeg.shape
    middle = slice(100, 400)  # away from the edges
    for chan in range(2):
        np.testing.assert_allclose(out[chan, middle], in_band[middle], atol=0.03)
    low = bandpass(eeg, sfreq, None, 40.0)  # low-pass keeps DC
    np.testing.assert_allclose(low[0, middle], (in_band + 3.0)[middle], atol=0.03)
    high = bandpass(eeg[None], sfreq, 50.0, None)  # high-pass on a batch keeps only the 80 Hz sine
    np.testing.assert_allclose(high[0, 0, middle], out_of_band[middle], atol=0.05)


def test_bandpass_is_zero_phase():
    sfreq, n = 100.0, 201
    t = np.arange(n)
    pulse = np.exp(-0.5 * ((t - 100) / 4.0) ** 2)[None].astype(np.float32)
    out = bandpass(pulse, sfreq, None, 10.0)
    assert int(np.argmax(out[0])) == 100
    np.testing.assert_allclose(out[0], out[0, ::-1], atol=1e-5)  # still symmetric about the centre


def test_bandpass_rejects_bad_parameters():
    eeg = np.zeros((2, 100), dtype=np.float32)
    with pytest.raises(ValueError, match="l_freq < h_freq"):
        bandpass(eeg, 100.0, 20.0, 10.0)
    with pytest.raises(ValueError, match="Nyquist"):
        bandpass(eeg, 100.0, 5.0, 50.0)
    with pytest.raises(ValueError, match="neither"):
        bandpass(eeg, 100.0, None, None)
    with pytest.raises(ValueError, match="more than .* time samples"):
        bandpass(eeg[:, :10], 100.0, 5.0, 20.0)


def test_resample_sine():
    sfreq, new_sfreq = 1000.0, 250.0
    t = np.arange(1000) / sfreq
    eeg = np.stack([np.sin(2 * np.pi * 10 * t), np.cos(2 * np.pi * 5 * t)]).astype(np.float32)
    out = resample(eeg, sfreq, new_sfreq)
    assert out.shape == (2, 250) and out.dtype == np.float32
    new_t = np.arange(250) / new_sfreq
    middle = slice(25, 225)
    np.testing.assert_allclose(out[0, middle], np.sin(2 * np.pi * 10 * new_t)[middle], atol=0.01)
    np.testing.assert_allclose(out[1, middle], np.cos(2 * np.pi * 5 * new_t)[middle], atol=0.01)
    assert resample(eeg[None, :, :128], 128.0, 62.5).shape == (1, 2, 63)  # ratio 125/256: ceil(128*125/256)
    np.testing.assert_array_equal(resample(eeg, 1000.0, 1000.0), eeg)
    with pytest.raises(ValueError, match="not close to a fraction"):
        resample(eeg, 1000.0, 1000.0 * np.pi)


@pytest.mark.parametrize("fn", [crop, scale_by_trial_max, zscore_channels])
def test_eeg_input_checks(fn):
    args = (0, 2) if fn is crop else ()
    with pytest.raises(ValueError, match="shape"):
        fn(np.ones(5, dtype=np.float32), *args)
    with pytest.raises(ValueError, match="floating-point"):
        fn(np.ones((2, 5), dtype=np.int64), *args)
    with pytest.raises(ValueError, match="non-finite"):
        fn(np.array([[1.0, np.nan, 2.0]], dtype=np.float32), *args)
    with pytest.raises(ValueError, match="numpy.ndarray"):
        fn([[1.0, 2.0]], *args)


def test_resize_image_rgb_bicubic():
    gray = Image.fromarray(np.tile(np.arange(16, dtype=np.uint8) * 16, (16, 1)), mode="L")
    out = resize_image(gray, 8)
    assert out.mode == "RGB" and out.size == (8, 8)
    expected = gray.convert("RGB").resize((8, 8), Image.Resampling.BICUBIC)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(expected))
    assert resize_image(gray, (10, 4)).size == (10, 4)
    with pytest.raises(ValueError, match="size"):
        resize_image(gray, 0)
    with pytest.raises(ValueError, match="PIL"):
        resize_image(np.zeros((4, 4)), 4)


def test_preprocessing_step_and_apply_steps():
    assert preprocessing_step("crop", start=20, stop=460) == {"name": "crop", "start": 20, "stop": 460}
    with pytest.raises(ValueError, match="JSON"):
        preprocessing_step("crop", start=np.int64(1).dtype)
    eeg = np.random.default_rng(1).standard_normal((3, 4, 200)).astype(np.float32) + 1.0
    steps = [
        preprocessing_step("crop", start=0, stop=100),
        preprocessing_step("bandpass", l_freq=1.0, h_freq=20.0),
        preprocessing_step("resample", new_sfreq=50.0, sfreq=100.0),
        preprocessing_step("zscore_channels"),
    ]
    out, sfreq = apply_steps(eeg, 100.0, steps)
    assert sfreq == 50.0 and out.shape == (3, 4, 50) and out.dtype == np.float32
    expected = zscore_channels(resample(bandpass(crop(eeg, 0, 100), 100.0, 1.0, 20.0), 100.0, 50.0))
    np.testing.assert_array_equal(out, expected)
    with pytest.raises(ValueError, match="unknown step 'notch'"):
        apply_steps(eeg, 100.0, [preprocessing_step("notch", freq=50)])
    with pytest.raises(ValueError, match="recorded at sfreq=250"):
        apply_steps(eeg, 100.0, [preprocessing_step("zscore_channels", sfreq=250)])
    with pytest.raises(ValueError, match="missing parameters \\['stop'\\]"):
        apply_steps(eeg, 100.0, [{"name": "crop", "start": 1}])
    with pytest.raises(ValueError, match="sfreq is unknown"):
        apply_steps(eeg, None, steps[1:2])


def _listing(path) -> dict[str, tuple[int, int]]:
    return {
        os.path.join(root, f): (os.stat(os.path.join(root, f)).st_size, os.stat(os.path.join(root, f)).st_mtime_ns)
        for root, _, files in os.walk(path)
        for f in files
    }


def test_preprocess_dataset_on_disk(tmp_path):
    ds = simulate_dataset("thoughtviz", n_subjects=1, trials_per_block=3, image_size=8)
    source = tmp_path / "source"
    ds.save_to_disk(source)
    from datasets import load_from_disk

    ds = load_from_disk(source)
    before = _listing(source)
    steps = [preprocessing_step("crop", start=4, stop=28), preprocessing_step("scale_by_trial_max")]
    out = preprocess_dataset(ds, steps, tmp_path / "out")
    assert _listing(source) == before  # the input on disk is unchanged (no cache files either)
    assert ds["train"].features["eeg"].shape == (14, 32)
    info = get_eeg_info(out)
    assert info["n_times"] == 24 and info["sfreq"] == 128.0
    assert info["preprocessing"][-2:] == [dict(s, sfreq=128.0) for s in steps]
    for name in ds:
        assert out[name].features["eeg"].shape == (14, 24)
        raw = np.asarray(ds[name].with_format("numpy")["eeg"])
        new = np.asarray(out[name].with_format("numpy")["eeg"])
        np.testing.assert_allclose(new, scale_by_trial_max(crop(raw, 4, 28)), rtol=1e-6)
        assert out[name]["image_id"] == ds[name]["image_id"] and out[name]["label"] == ds[name]["label"]
    assert os.path.isdir(tmp_path / "out") and not any(p.name.startswith(".") for p in tmp_path.iterdir())
    with pytest.raises(ValueError, match="not empty"):
        preprocess_dataset(ds, steps, tmp_path / "out")
    with pytest.raises(ValueError, match="input dataset's files"):
        preprocess_dataset(ds, steps, source, overwrite=True)
    with pytest.raises(ValueError, match="unknown step"):
        preprocess_dataset(ds, [{"name": "denoise"}])


def test_preprocess_dataset_in_memory_resample():
    ds = simulate_dataset("thoughtviz", n_subjects=1, trials_per_block=3, image_size=8)
    out = preprocess_dataset(ds, [preprocessing_step("resample", new_sfreq=64.0)])
    assert get_eeg_info(out)["sfreq"] == 64.0 and get_eeg_info(ds)["sfreq"] == 128.0
    assert out["test"].features["eeg"].shape == (14, 16) and ds["test"].features["eeg"].shape == (14, 32)

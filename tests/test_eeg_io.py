"""The one EEG reader `eeg2img_hf.data.eeg_io`: every format written here in tmp_path (numpy, and with MNE: .fif
Raw and Epochs, .edf, .bdf, BrainVision, EEGLAB), the .npy / .npz safety checks, and `validate_eeg`'s messages,
channel picking and resampling."""

from __future__ import annotations

import importlib.util
import pathlib
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from eeg2img_hf.data.eeg_io import (
    PICK_API,
    PICK_NAMES_API,
    EEGRecording,
    epochs_from_raw,
    read_eeg_file,
    validate_eeg,
)
from eeg2img_hf.utils.errors import BadInputFileError, Eeg2ImgError

mne = pytest.importorskip("mne")

SFREQ, CH_NAMES = 128.0, ["Fp1", "Fp2", "O1"]


class _Touch:
    """Unpickling this runs `Path.touch(marker)`: proof that a file was (never) unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


def _raw(n_times=512, seed=0):
    """A raw recording in volts: 3 EEG channels and annotations 'face' (1 s, 3 s) and 'house' (2 s)."""
    data = np.random.default_rng(seed).uniform(-4e-4, 4e-4, (len(CH_NAMES), n_times))
    raw = mne.io.RawArray(data, mne.create_info(CH_NAMES, SFREQ, "eeg"), verbose="error")
    raw.set_annotations(mne.Annotations([1.0, 2.0, 3.0], [0.0, 0.0, 0.0], ["face", "house", "face"]))
    return raw


def write_edf(path: Path, data: np.ndarray, sfreq: float, ch_names: list[str], bdf: bool = False) -> None:
    """Minimal EDF (int16) or BDF (24-bit) file, one data record, physical range +-1000 uV, from the specifications."""
    n_chans, n_times = data.shape
    field = lambda value, width: str(value).ljust(width)[:width].encode("ascii")  # noqa: E731
    low, high = (-(2**23), 2**23 - 1) if bdf else (-(2**15), 2**15 - 1)
    header = ((b"\xffBIOSEMI" if bdf else field("0", 8)) + field("X X X X", 80)
              + field("Startdate 01-JAN-2024 X X X", 80) + field("01.01.24", 8) + field("00.00.00", 8)
              + field(256 * (n_chans + 1), 8)
              + field("24BIT" if bdf else "", 44) + field(1, 8) + field(f"{n_times / sfreq:g}", 8) + field(n_chans, 4))
    columns = [(16, ch_names), (80, [""] * n_chans), (8, ["uV"] * n_chans), (8, ["-1000"] * n_chans),
               (8, ["1000"] * n_chans), (8, [low] * n_chans), (8, [high] * n_chans), (80, [""] * n_chans),
               (8, [n_times] * n_chans), (32, [""] * n_chans)]
    for width, values in columns:
        header += b"".join(field(v, width) for v in values)
    digital = np.round((data * 1e6 + 1000) / 2000 * (high - low) + low).astype("<i4")  # volts -> digital
    body = digital.view(np.uint8).reshape(-1, 4)[:, :3].tobytes() if bdf else digital.astype("<i2").tobytes()
    path.write_bytes(header + body)


def write_brainvision(vhdr: Path, raw) -> None:
    """BrainVision header, marker and float32 data files (markers from the annotations), from the specification."""
    data, n_chans = raw.get_data(), len(raw.ch_names)
    stem = vhdr.stem
    channels = "".join(f"Ch{i + 1}={name},,1,µV\n" for i, name in enumerate(raw.ch_names))
    vhdr.write_text("Brain Vision Data Exchange Header File Version 1.0\n\n[Common Infos]\nCodepage=UTF-8\n"
                    f"DataFile={stem}.eeg\nMarkerFile={stem}.vmrk\nDataFormat=BINARY\nDataOrientation=MULTIPLEXED\n"
                    f"NumberOfChannels={n_chans}\nSamplingInterval={1e6 / raw.info['sfreq']:g}\n\n[Binary Infos]\n"
                    f"BinaryFormat=IEEE_FLOAT_32\n\n[Channel Infos]\n{channels}", encoding="utf-8")
    markers = "".join(f"Mk{i + 2}=Comment,{a['description']},{int(round(a['onset'] * raw.info['sfreq'])) + 1},1,0\n"
                      for i, a in enumerate(raw.annotations))
    (vhdr.parent / f"{stem}.vmrk").write_text("Brain Vision Data Exchange Marker File, Version 1.0\n\n[Common Infos]\n"
                                             f"Codepage=UTF-8\nDataFile={stem}.eeg\n\n[Marker Infos]\n"
                                             f"Mk1=New Segment,,1,1,0\n{markers}", encoding="utf-8")
    (vhdr.parent / f"{stem}.eeg").write_bytes((data.T * 1e6).astype("<f4").tobytes())


def write_raw(path: Path, raw) -> str:
    """`raw` in the format of `path`'s extension: with `mne.export` when its writer package is installed, else by
    hand (EDF/BDF without annotations, BrainVision); returns how it was written."""
    suffix = path.suffix
    writer = {".edf": "edfio", ".bdf": "edfio", ".vhdr": "pybv", ".set": "eeglabio"}.get(suffix)
    if suffix == ".fif":
        raw.save(path, verbose="error")
        return "mne"
    if importlib.util.find_spec(writer):
        mne.export.export_raw(path, raw, overwrite=True, verbose="error")
        return "export"
    if suffix in (".edf", ".bdf"):
        write_edf(path, raw.get_data(), raw.info["sfreq"], raw.ch_names, bdf=suffix == ".bdf")
    elif suffix == ".vhdr":
        write_brainvision(path, raw)
    else:
        pytest.skip(f"writing {suffix} needs {writer}")
    return "hand"


# ----------------------------------------------------------------------------------------------- numpy


def test_npy_and_npz_read(tmp_path):
    trials = np.random.default_rng(0).normal(size=(4, 3, 16))
    np.save(tmp_path / "trials.npy", trials)
    rec = read_eeg_file(tmp_path / "trials.npy", sfreq=SFREQ, ch_names=CH_NAMES, unit="uV")
    assert isinstance(rec, EEGRecording) and rec.kind == "array" and rec.data.dtype == np.float32
    np.testing.assert_array_equal(rec.data, trials.astype(np.float32))
    assert (rec.sfreq, rec.ch_names, rec.unit, rec.source_dtype, rec.n_trials) == (SFREQ, CH_NAMES, "uV", "float64", 4)
    assert rec.describe() == "4 trials of 3 channels x 16 samples at 128 Hz"
    np.save(tmp_path / "fortran.npy", np.asfortranarray(trials[0]))
    np.save(tmp_path / "big_endian.npy", trials[0].astype(">f4"))
    for name in ("fortran.npy", "big_endian.npy"):
        np.testing.assert_array_equal(read_eeg_file(tmp_path / name).data, trials[0].astype(np.float32))
    np.savez_compressed(
        tmp_path / "arrays.npz", eeg=trials, labels=np.array(["a", "b", "a", "b"]), subjects=np.arange(4)
    )
    rec = read_eeg_file(tmp_path / "arrays.npz")
    np.testing.assert_array_equal(rec.data, trials.astype(np.float32))
    assert sorted(rec.arrays) == ["eeg", "labels", "subjects"] and rec.arrays["labels"].tolist() == ["a", "b", "a", "b"]
    np.savez(tmp_path / "one.npz", x=trials[1])
    np.testing.assert_array_equal(read_eeg_file(tmp_path / "one.npz").data, trials[1].astype(np.float32))
    np.savez(tmp_path / "two.npz", a=trials[0], b=trials[1])
    np.testing.assert_array_equal(read_eeg_file(tmp_path / "two.npz", key="b").data, trials[1].astype(np.float32))
    with pytest.raises(BadInputFileError, match=r"holds the arrays \['a', 'b'\]; expected an 'eeg' array"):
        read_eeg_file(tmp_path / "two.npz")
    with pytest.raises(BadInputFileError, match="2 channel names given but 'trials.npy' has 3 channels"):
        read_eeg_file(tmp_path / "trials.npy", ch_names=["a", "b"])


def _npy_header(path: Path, shape: tuple, descr: str = "<f8", data: bytes = b"") -> None:
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": descr, "fortran_order": False, "shape": shape})
        handle.write(data)


def test_npy_header_checks_before_allocating(tmp_path):
    _npy_header(tmp_path / "huge.npy", (1000, 1000, 1000, 500), data=b"\0" * 64)  # claims 3.6 TiB
    with pytest.raises(BadInputFileError, match=r"claims a float64 array of shape \(1000, 1000, 1000, 500\) \(3.64 "
                                                 r"TiB\), more than the limit of 4 GiB"):
        read_eeg_file(tmp_path / "huge.npy")
    with pytest.raises(BadInputFileError, match="is truncated: .* only 64 bytes follow the header"):
        read_eeg_file(tmp_path / "huge.npy", max_array_bytes=None)  # the file's own size still bounds it
    np.save(tmp_path / "ok.npy", np.ones((3, 40)))
    with pytest.raises(BadInputFileError, match=r"\(960 bytes\), more than the limit of 100 bytes"):
        read_eeg_file(tmp_path / "ok.npy", max_array_bytes=100)
    full = (tmp_path / "ok.npy").read_bytes()
    (tmp_path / "truncated.npy").write_bytes(full[:-8])
    with pytest.raises(
        BadInputFileError, match="'truncated.npy' is truncated: .* \\(960 bytes of data\\) but only 952"
    ):
        read_eeg_file(tmp_path / "truncated.npy")
    (tmp_path / "random.npy").write_bytes(np.random.default_rng(0).bytes(300))
    with pytest.raises(BadInputFileError, match="'random.npy' is corrupt or not a valid .npy file") as info:
        read_eeg_file(tmp_path / "random.npy")
    assert "pickle" not in str(info.value)
    (tmp_path / "bad_header.npy").write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr': nope}  \n")
    with pytest.raises(BadInputFileError, match="'bad_header.npy' is corrupt or not a valid .npy file"):
        read_eeg_file(tmp_path / "bad_header.npy")
    marker = tmp_path / "unpickled"
    np.save(tmp_path / "object.npy", np.array([_Touch(marker)], dtype=object), allow_pickle=True)
    with pytest.raises(BadInputFileError, match="'object.npy' contains pickled Python objects .*, refused"):
        read_eeg_file(tmp_path / "object.npy")
    with open(tmp_path / "pickle.npy", "wb") as handle:
        pickle.dump(_Touch(marker), handle)
    with pytest.raises(BadInputFileError, match="'pickle.npy' is a Python pickle, not an .npy array"):
        read_eeg_file(tmp_path / "pickle.npy")
    assert not marker.exists(), "a pickle was unpickled"
    np.save(tmp_path / "structured.npy", np.zeros(3, dtype=[("a", "<f4"), ("b", "<i4")]))
    np.save(tmp_path / "complex.npy", np.zeros((2, 3), np.complex64))
    for name in ("structured.npy", "complex.npy"):
        with pytest.raises(BadInputFileError, match="not a plain numeric dtype"):
            read_eeg_file(tmp_path / name)
    np.save(tmp_path / "ints.npy", np.ones((3, 4), np.int16))
    with pytest.raises(BadInputFileError, match="holds int16 values; EEG must be floating point"):
        read_eeg_file(tmp_path / "ints.npy")
    np.save(tmp_path / "flat.npy", np.ones(5))
    with pytest.raises(BadInputFileError, match=r"shape \(5,\); EEG must be \(n_chans, n_times\)"):
        read_eeg_file(tmp_path / "flat.npy")


def test_npz_checks(tmp_path):
    marker = tmp_path / "unpickled"
    trials = np.ones((2, 3, 8))
    np.savez_compressed(tmp_path / "ok.npz", eeg=trials)
    full = (tmp_path / "ok.npz").read_bytes()
    (tmp_path / "truncated.npz").write_bytes(full[: len(full) // 2])
    with pytest.raises(BadInputFileError, match="'truncated.npz' is corrupt or truncated"):
        read_eeg_file(tmp_path / "truncated.npz")
    np.savez_compressed(tmp_path / "noisy.npz", eeg=np.random.default_rng(0).normal(size=(2, 3, 200)))
    damaged = bytearray((tmp_path / "noisy.npz").read_bytes())
    damaged[200:260] = b"\x00" * 60  # inside the compressed member: the central directory stays intact
    (tmp_path / "damaged.npz").write_bytes(bytes(damaged))
    with pytest.raises(BadInputFileError, match="array 'eeg' of 'damaged.npz' is corrupt or truncated"):
        read_eeg_file(tmp_path / "damaged.npz")
    np.savez(tmp_path / "object.npz", eeg=np.array([_Touch(marker)], dtype=object))
    with pytest.raises(BadInputFileError, match="array 'eeg' of 'object.npz' contains pickled Python objects"):
        read_eeg_file(tmp_path / "object.npz")
    assert not marker.exists()
    _npy_header(tmp_path / "huge.npy", (10**6, 10**6))
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(tmp_path / "huge.npy", "eeg.npy")
    with pytest.raises(BadInputFileError, match="array 'eeg' of 'bomb.npz': its header claims .* \\(7.28 TiB\\)"):
        read_eeg_file(tmp_path / "bomb.npz")
    with pytest.raises(BadInputFileError, match="array 'eeg' of 'bomb.npz' is truncated"):
        read_eeg_file(tmp_path / "bomb.npz", max_array_bytes=None)
    np.savez(tmp_path / "pair.npz", eeg=trials, labels=np.arange(2))
    with pytest.raises(BadInputFileError, match="array 'labels' of 'pair.npz'.*more than the limit"):
        read_eeg_file(tmp_path / "pair.npz", max_array_bytes=trials.nbytes)  # the limit holds for the whole file


# ----------------------------------------------------------------------------------------------- MNE formats


@pytest.mark.parametrize("name", ["raw.fif", "x.edf", "x.bdf", "x.vhdr", "x.set"])
def test_raw_formats(tmp_path, name):
    raw = _raw()
    how = write_raw(tmp_path / name, raw)
    rec = read_eeg_file(tmp_path / name)
    assert (rec.kind, rec.unit, rec.sfreq, rec.ch_names, rec.data.shape) == ("raw", "V", SFREQ, CH_NAMES, (3, 512))
    tolerance = 2e-8 if name == "x.edf" else 1e-9  # EDF stores int16 (about 0.03 uV steps here)
    np.testing.assert_allclose(rec.data, raw.get_data(), atol=tolerance, rtol=0)
    if how != "hand" or name == "x.vhdr":  # EDF/BDF written by hand carry no annotations
        assert [d.split("/")[-1] for _, _, d in rec.annotations] == ["face", "house", "face"]
        assert rec.events[:, 0].tolist() == [128, 256, 384] and len(rec.event_id) == 2


def test_stim_channel_events_and_picks(tmp_path):
    raw = _raw()
    stim = np.zeros((1, raw.n_times))
    stim[0, [100, 300]] = [7, 9]
    raw.add_channels([mne.io.RawArray(stim, mne.create_info(["STI"], SFREQ, "stim"), verbose="error")])
    raw.save(tmp_path / "stim_raw.fif", verbose="error")
    rec = read_eeg_file(tmp_path / "stim_raw.fif")
    assert rec.ch_names == CH_NAMES, "the stim channel is not data"
    assert rec.events.tolist() == [[100, 0, 7], [300, 0, 9]] and rec.event_id == {"7": 7, "9": 9}
    assert read_eeg_file(tmp_path / "stim_raw.fif", picks=["O1", "STI"]).ch_names == ["O1", "STI"]


def test_epochs_formats(tmp_path):
    raw = _raw()
    epochs = epochs_from_raw(raw, tmin=0.0, tmax=0.25, baseline=None)
    assert len(epochs) == 3 and epochs.event_id == {"face": 1, "house": 2}
    epochs.metadata = __import__("pandas").DataFrame({"image_id": ["a.png", "b.png", "c.png"]})
    epochs.save(tmp_path / "x-epo.fif", verbose="error")
    rec = read_eeg_file(tmp_path / "x-epo.fif")
    assert (rec.kind, rec.data.shape, rec.tmin, rec.unit) == ("epochs", (3, 3, 33), 0.0, "V")
    np.testing.assert_allclose(rec.data, epochs.get_data(), atol=1e-9, rtol=0)
    assert rec.events[:, 2].tolist() == [1, 2, 1] and rec.metadata["image_id"].tolist() == ["a.png", "b.png", "c.png"]
    epochs.save(tmp_path / "renamed.fif", verbose="error")  # no -epo in the name: raw is tried first, then epochs
    assert read_eeg_file(tmp_path / "renamed.fif").kind == "epochs"
    pytest.importorskip("eeglabio", reason="writing EEGLAB epochs needs eeglabio")
    mne.export.export_epochs(tmp_path / "epochs.set", epochs, overwrite=True, verbose="error")
    rec = read_eeg_file(tmp_path / "epochs.set")
    assert rec.kind == "epochs" and rec.data.shape == (3, 3, 33) and rec.sfreq == SFREQ
    np.testing.assert_allclose(rec.data, epochs.get_data(), atol=1e-9, rtol=0)


def test_hand_written_edf_and_bdf(tmp_path):
    data = np.random.default_rng(1).uniform(-5e-4, 5e-4, (3, 256))
    for name, tolerance in (("h.edf", 2e-8), ("h.bdf", 1e-10)):
        write_edf(tmp_path / name, data, SFREQ, CH_NAMES, bdf=name.endswith("bdf"))
        rec = read_eeg_file(tmp_path / name)
        assert rec.ch_names == CH_NAMES and rec.sfreq == SFREQ and rec.events.shape == (0, 3)
        np.testing.assert_allclose(rec.data, data, atol=tolerance, rtol=0)


def test_unsupported_missing_and_corrupt_files(tmp_path):
    (tmp_path / "trial.txt").write_text("1 2 3")
    with pytest.raises(BadInputFileError, match="Unsupported EEG file type '.txt' for 'trial.txt'"):
        read_eeg_file(tmp_path / "trial.txt")
    with pytest.raises(BadInputFileError, match="does not exist"):
        read_eeg_file(tmp_path / "missing.edf")
    for name in ("corrupt.fif", "corrupt.edf", "corrupt.bdf", "corrupt.set"):
        (tmp_path / name).write_bytes(b"garbage" * 10)
        with pytest.raises(BadInputFileError, match=f"'{name}' is not a readable \\.{name[-3:]} recording"):
            read_eeg_file(tmp_path / name)
    write_brainvision(tmp_path / "alone.vhdr", _raw())
    (tmp_path / "alone.eeg").unlink()
    with pytest.raises(BadInputFileError, match="'alone.vhdr' is not a readable .vhdr recording") as info:
        read_eeg_file(tmp_path / "alone.vhdr")
    assert "needs its .vmrk and .eeg files" in str(info.value)
    np.save(tmp_path / "ok.npy", np.ones((3, 100)))
    with pytest.raises(BadInputFileError, match="'ok.npy' is 2.47 kiB; the limit is 1000 bytes"):
        read_eeg_file(tmp_path / "ok.npy", max_bytes=1000)
    _raw().save(tmp_path / "r_raw.fif", verbose="error")
    with pytest.raises(BadInputFileError, match="recorded with sfreq=128.0, not 256"):
        read_eeg_file(tmp_path / "r_raw.fif", sfreq=256)


# ----------------------------------------------------------------------------------------------- validation


def test_validate_messages(tmp_path):
    info = mne.create_info([f"E{i}" for i in range(64)], 512.0, "eeg")
    mne.io.RawArray(np.zeros((64, 512)), info, verbose="error").save(tmp_path / "big_raw.fif", verbose="error")
    rec = read_eeg_file(tmp_path / "big_raw.fif")
    with pytest.raises(ValueError, match=r"the model needs 14 channels x 32 samples at 128 Hz; 'big_raw.fif' has 64 "
                                         r"channels x 512 samples at 512 Hz\npick the model's channels by name and "
                                         r"resample \(pick_and_resample=True with the model's ch_names"):
        validate_eeg(rec, n_chans=14, n_times=32, sfreq=128)
    trials = np.random.default_rng(0).normal(size=(3, 14, 32)).astype(np.float32)
    np.save(tmp_path / "trials.npy", trials)
    rec = read_eeg_file(tmp_path / "trials.npy")
    np.testing.assert_array_equal(validate_eeg(rec, n_chans=14, n_times=32, sfreq=128, trial_index=2), trials[2])
    assert validate_eeg(rec, n_chans=14, n_times=32).shape == (3, 14, 32)
    with pytest.raises(ValueError, match=r"Trial index 3 is out of range: 'trials.npy' holds 3 trials \(0..2\)"):
        validate_eeg(rec, n_chans=14, n_times=32, trial_index=3)
    with pytest.raises(ValueError, match=r"needs 14 channels x 64 samples at 128 Hz; 'trials.npy' has 14 channels x "
                                         r"32 samples \(sampling rate not recorded in the file\)"):
        validate_eeg(rec, n_chans=14, n_times=64, sfreq=128)
    with pytest.raises(ValueError, match="the EEG has 32 channels x 14 samples\nit looks transposed"):
        validate_eeg(trials[0].T, n_chans=14, n_times=32)
    with pytest.raises(ValueError, match="needs 14 channels x 32 samples at 128 Hz; the EEG has 14 channels x 32 "
                                         "samples at 256 Hz"):
        validate_eeg(trials[0], n_chans=14, n_times=32, sfreq=128, eeg_sfreq=256)
    bad = trials.copy()
    bad[1, 4, 7] = np.nan
    with pytest.raises(ValueError, match=r"contains NaN or infinite values \(first at index \(1, 4, 7\)\)"):
        validate_eeg(bad, n_chans=14, n_times=32)
    with pytest.raises(ValueError, match="holds int64 values; EEG must be floating point"):
        validate_eeg(np.zeros((14, 32), np.int64), n_chans=14, n_times=32)


def test_validate_hints_what_works_for_the_file(tmp_path):
    """A wrong shape gets the one way out that works: picking needs channel names on both sides; a numpy file has
    none, so it must already hold the model's channels; a right channel count at another rate is resampled."""
    names = [f"E{i}" for i in range(20)]
    mne.EpochsArray(np.zeros((2, 20, 64)), mne.create_info(names, 256.0, "eeg"), verbose="error").save(
        tmp_path / "named-epo.fif", verbose="error")
    named = read_eeg_file(tmp_path / "named-epo.fif")
    np.save(tmp_path / "wide.npy", np.zeros((20, 64), np.float32))
    wide = read_eeg_file(tmp_path / "wide.npy")

    def hint(eeg, **kwargs):
        with pytest.raises(Eeg2ImgError) as info:
            validate_eeg(eeg, **kwargs)
        return info.value.hint

    assert hint(named, n_chans=14, n_times=32, sfreq=128, ch_names=names[:14]) == (
        f"pick the model's channels by name and resample ({PICK_API})")
    assert hint(named, n_chans=14, n_times=32, sfreq=128) == (
        f"pick the model's channels by name and resample ({PICK_NAMES_API})")
    numpy_hint = ("'wide.npy' stores no channel names (numpy files never do), so the model's channels cannot be "
                  "picked from it: save exactly the model's 14 channels, in the model's order, as an array (14, 32) "
                  "or (n_trials, 14, 32)")
    assert hint(wide, n_chans=14, n_times=32, sfreq=128) == numpy_hint
    assert hint(wide, n_chans=14, n_times=32, sfreq=128, ch_names=names[:14], pick_and_resample=True) == numpy_hint
    assert hint(named, n_chans=14, n_times=32, sfreq=128, pick_and_resample=True) == (
        f"give the model's channel names ({PICK_NAMES_API})")
    assert hint(named, n_chans=24, n_times=32, sfreq=128).startswith(
        "'named-epo.fif' has fewer channels than the model: it needs a recording with the model's 24 channels")
    assert hint(named, n_chans=20, n_times=32, sfreq=128) == f"resample to the model's 128 Hz ({PICK_API})"
    assert hint(named, n_chans=20, n_times=32, sfreq=256) == (
        "cut the EEG into trials of exactly 32 samples (125 ms at 256 Hz)")
    assert hint(wide, n_chans=20, n_times=32) == "cut the EEG into trials of exactly 32 samples"
    # the hint's way out works: picking by name and resampling makes the same file fit
    assert validate_eeg(named, n_chans=14, n_times=32, sfreq=128, ch_names=names[:14],
                        pick_and_resample=True).shape == (2, 14, 32)


def test_validate_pick_and_resample(tmp_path):
    rng = np.random.default_rng(0)
    names = ["Fp1", "Fp2", "C3", "C4", "O1", "O2"]
    info = mne.create_info(names, 256.0, "eeg")
    epochs = mne.EpochsArray(rng.normal(scale=1e-5, size=(2, 6, 64)), info, verbose="error")
    epochs.save(tmp_path / "fast-epo.fif", verbose="error")
    rec = read_eeg_file(tmp_path / "fast-epo.fif")
    out = validate_eeg(rec, n_chans=2, n_times=32, sfreq=128, ch_names=["o2", "O1"], pick_and_resample=True)
    expected = epochs.copy().pick(["O2", "O1"]).resample(128.0, verbose="error").get_data()
    assert out.shape == (2, 2, 32) and out.dtype == np.float32
    # a polyphase filter of its own: close to MNE's FFT resampling away from the edges
    np.testing.assert_allclose(out[..., 8:-8], expected[..., 8:-8], atol=0.35 * np.abs(expected).max())
    from eeg2img_hf.data import resample

    picked = rec.data[:, [5, 4]]
    np.testing.assert_allclose(out, resample(picked, 256.0, 128.0), rtol=1e-5, atol=1e-12)
    one = validate_eeg(rec, n_chans=2, n_times=32, sfreq=128, ch_names=["O2", "O1"], pick_and_resample=True,
                       trial_index=1)
    np.testing.assert_array_equal(one, out[1])
    with pytest.raises(ValueError, match=r"'fast-epo.fif' lacks the model's channels \['Oz'\]"):
        validate_eeg(rec, n_chans=2, n_times=32, sfreq=128, ch_names=["Oz", "O1"], pick_and_resample=True)
    with pytest.raises(ValueError, match="cannot pick 2 channels from 'fast-epo.fif' .* without the model's channel"):
        validate_eeg(rec, n_chans=2, n_times=32, sfreq=128, pick_and_resample=True)
    same_channels = validate_eeg(rec, n_chans=6, n_times=32, sfreq=128, pick_and_resample=True)
    np.testing.assert_allclose(same_channels, resample(rec.data, 256.0, 128.0), rtol=1e-5, atol=1e-12)

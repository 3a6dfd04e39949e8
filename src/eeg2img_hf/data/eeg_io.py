"""One EEG file reader and one check of EEG against a model's input, shared by `eeg2img generate --eeg`,
`eeg2img convert byo` and the Gradio Space.

[`read_eeg_file`] reads numpy files (`.npy`, `.npz`; never unpickled, headers checked before anything is
allocated) and the MNE formats (`.fif` Epochs or Raw, `.edf`, `.bdf`, BrainVision `.vhdr`, EEGLAB `.set` epochs or
raw) into an [`EEGRecording`]. [`validate_eeg`] checks a recording or an array against what a model needs
(channels, samples, sampling rate, finite values) with one specific message, and can pick the model's channels
and resample on request. [`epochs_from_raw`] cuts a raw MNE recording into epochs around its events (stim channel
or annotations).

MNE is an optional dependency (`pip install mne`), imported only to read its formats.
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from transformers.utils import logging

from ..utils.errors import BadInputFileError, Eeg2ImgError
from .preprocessing import resample

logger = logging.get_logger(__name__)

__all__ = [
    "EEG_FILE_EXTENSIONS",
    "MAX_ARRAY_BYTES",
    "MNE_EXTENSIONS",
    "NUMPY_EXTENSIONS",
    "PICK_API",
    "PICK_NAMES_API",
    "EEGRecording",
    "epochs_from_raw",
    "raw_events",
    "read_eeg_file",
    "read_mne_file",
    "recording_from_mne",
    "validate_eeg",
]

NUMPY_EXTENSIONS = (".npy", ".npz")
MNE_EXTENSIONS = (".fif", ".fif.gz", ".edf", ".bdf", ".vhdr", ".set")
EEG_FILE_EXTENSIONS = NUMPY_EXTENSIONS + MNE_EXTENSIONS
"""File extensions (case-insensitive) [`read_eeg_file`] reads."""
MAX_ARRAY_BYTES = 4 * 2**30
"""Default limit on the data size a numpy header may claim (per array and per `.npz` file): 4 GiB."""

_NPY_MAX_HEADER = 10_000  # numpy's own default limit on the header length
_ARRAY_KINDS = "biufUS"  # plain numeric (bool, int, float) and fixed-width text (class names in an .npz)
_PICKLE_PREFIXES = tuple(bytes([0x80, protocol]) for protocol in range(2, 6))


@dataclass
class EEGRecording:
    """EEG read from a file by [`read_eeg_file`].

    Attributes:
        data (`np.ndarray`): float32 `(n_chans, n_times)` (a raw recording or one trial) or
            `(n_trials, n_chans, n_times)` (epochs, or a batch of trials).
        sfreq (`float` or `None`): Sampling rate in Hz (`None` when a numpy file does not say).
        ch_names (`list[str]` or `None`): Channel names (`None` when unknown).
        unit (`str` or `None`): Unit of `data`: `"V"` for MNE files (MNE's SI unit), else what the caller stated.
        kind (`str`): `"epochs"`, `"raw"` or `"array"` (numpy files).
        source (`str` or `None`): The file read.
        events (`np.ndarray` or `None`): MNE events `(n, 3)` (sample, previous value, code): one per epoch for
            epochs; those found on the stim channel or from the annotations for raw recordings.
        event_id (`dict[str, int]` or `None`): Event name -> code.
        annotations (`list[tuple[float, float, str]]` or `None`): `(onset_s, duration_s, description)` of a raw
            recording.
        metadata (`pandas.DataFrame` or `None`): `Epochs.metadata` (one row per epoch), when present.
        tmin (`float` or `None`): Start of each epoch relative to its event, in seconds (epochs only).
        arrays (`dict[str, np.ndarray]`): Every array of an `.npz` file (labels, subjects, ...), including the EEG.
        source_dtype (`str` or `None`): dtype of the EEG in the file, before the float32 cast.
    """

    data: np.ndarray
    sfreq: float | None
    ch_names: list[str] | None
    unit: str | None
    kind: str
    source: str | None = None
    events: np.ndarray | None = None
    event_id: dict[str, int] | None = None
    annotations: list[tuple[float, float, str]] | None = None
    metadata: Any = None
    tmin: float | None = None
    arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    source_dtype: str | None = None

    @property
    def name(self) -> str:
        """The file name (for messages), or `"the EEG"` when not read from a file."""
        return repr(Path(self.source).name) if self.source else "the EEG"

    @property
    def n_chans(self) -> int:
        return int(self.data.shape[-2])

    @property
    def n_times(self) -> int:
        return int(self.data.shape[-1])

    @property
    def n_trials(self) -> int | None:
        """Number of trials / epochs, `None` for a single 2-D trial or raw recording."""
        return int(self.data.shape[0]) if self.data.ndim == 3 else None

    def describe(self) -> str:
        """E.g. `"64 channels x 512 samples at 512 Hz"`."""
        return _describe(self.n_chans, self.n_times, self.sfreq, self.n_trials)


# --------------------------------------------------------------------------------------------------
# Helpers


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".fif.gz" if name.endswith(".fif.gz") else path.suffix.lower()


def _format_bytes(n_bytes: float) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("kiB", 2**10)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.3g} {unit}"
    return f"{int(n_bytes)} bytes"


def _describe(n_chans: int, n_times: int, sfreq: float | None, n_trials: int | None = None) -> str:
    trials = f"{n_trials} trials of " if n_trials is not None else ""
    rate = f" at {sfreq:g} Hz" if sfreq is not None else ""
    return f"{trials}{n_chans} channels x {n_times} samples{rate}"


def _import_mne(what: str) -> Any:
    try:
        import mne
    except ImportError:
        hint = "pip install mne (or eeg2img_hf[mne]); or save the EEG as .npy / .npz"
        raise BadInputFileError(f"reading {what} needs MNE-Python, which is not installed", hint=hint) from None
    return mne


# --------------------------------------------------------------------------------------------------
# numpy files


def _read_exact(fp: BinaryIO, n_bytes: int, what: str) -> np.ndarray:
    """`n_bytes` bytes of `fp` into a new uint8 array (allocated only after the caller's size checks)."""
    buffer = np.empty(n_bytes, dtype=np.uint8)
    view, filled = memoryview(buffer), 0
    while filled < n_bytes:
        count = fp.readinto(view[filled:])
        if not count:
            raise BadInputFileError(f"{what} is truncated: its header claims {n_bytes} bytes of data but only "
                                    f"{filled} follow", hint="re-create the file with np.save / np.savez")
        filled += count
    return buffer


def _read_npy_stream(fp: BinaryIO, size: int, what: str, max_array_bytes: int | None) -> np.ndarray:
    """One `.npy` array from `fp` (`size` bytes long): header checked first, then exactly the data read.

    Refuses object dtypes (pickles) without unpickling, structured and non-numeric dtypes, sizes over
    `max_array_bytes` and headers that claim more data than the file holds, before allocating the array.
    """
    start = fp.read(len(_PICKLE_PREFIXES[0]))
    if start in _PICKLE_PREFIXES:
        raise BadInputFileError(f"{what} is a Python pickle, not an .npy array: pickled data is refused (never "
                                "unpickled: loading it can run arbitrary code)",
                                hint="save a numeric array with np.save(path, array)")
    try:
        magic = start + fp.read(np.lib.format.MAGIC_LEN - len(start))
        if not magic.startswith(np.lib.format.MAGIC_PREFIX) or len(magic) < np.lib.format.MAGIC_LEN:
            raise ValueError("it does not start with the NumPy magic string")
        version = (magic[-2], magic[-1])
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp, max_header_size=_NPY_MAX_HEADER)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp, max_header_size=_NPY_MAX_HEADER)
        else:  # 3.0 only differs by utf-8 field names of structured dtypes, which are refused anyway
            raise ValueError(f"unsupported format version {version[0]}.{version[1]}")
    except (ValueError, TypeError, SyntaxError, EOFError, OSError) as err:
        raise BadInputFileError(f"{what} is corrupt or not a valid .npy file ({err})",
                                hint="re-create the file with np.save(path, array)") from None
    if dtype.hasobject:
        raise BadInputFileError(f"{what} contains pickled Python objects (dtype {dtype}), refused: they are never "
                                "unpickled, since loading them can run arbitrary code",
                                hint="save a plain numeric array with np.save(path, array)")
    if dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in _ARRAY_KINDS:
        hint = "save a float32 array (n_chans, n_times) or (n_trials, n_chans, n_times)"
        raise BadInputFileError(f"{what} has dtype {dtype}, not a plain numeric dtype", hint=hint)
    n_bytes = math.prod(shape) * dtype.itemsize  # Python ints: no overflow for absurd shapes
    if max_array_bytes is not None and n_bytes > max_array_bytes:
        raise BadInputFileError(f"{what}: its header claims a {dtype} array of shape {tuple(shape)} "
                                f"({_format_bytes(n_bytes)}), more than the limit of "
                                f"{_format_bytes(max_array_bytes)}; refused before reading")
    left = size - fp.tell()
    if n_bytes > left:
        raise BadInputFileError(f"{what} is truncated: its header claims a {dtype} array of shape {tuple(shape)} "
                                f"({n_bytes} bytes of data) but only {max(left, 0)} bytes follow the header",
                                hint="re-create the file with np.save / np.savez")
    array = _read_exact(fp, n_bytes, what).view(dtype)
    return array.reshape(shape[::-1]).transpose() if fortran else array.reshape(shape)


def _read_npy(path: Path, max_array_bytes: int | None) -> np.ndarray:
    with path.open("rb") as fp:
        return _read_npy_stream(fp, path.stat().st_size, repr(path.name), max_array_bytes)


def _read_npz(path: Path, max_array_bytes: int | None) -> dict[str, np.ndarray]:
    """Every `.npy` member of an `.npz`, each header-checked; the total is held to `max_array_bytes` too."""
    corrupt = dict(hint="re-create the file with np.savez(path, eeg=array)")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise BadInputFileError(f"{path.name!r} is corrupt or truncated: not a readable .npz (zip) archive ({err})",
                                **corrupt) from None
    arrays: dict[str, np.ndarray] = {}
    budget = max_array_bytes
    with archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy") or info.is_dir():
                logger.warning(f"{path.name}: member {info.filename!r} is not an .npy array; ignored")
                continue
            key, what = info.filename[: -len(".npy")], f"array {info.filename[:-4]!r} of {path.name!r}"
            try:
                with archive.open(info) as fp:
                    array = _read_npy_stream(fp, info.file_size, what, budget)
                    fp.read(1 << 16)  # reach the member's end, where zipfile checks the CRC
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as err:
                raise BadInputFileError(f"{what} is corrupt or truncated ({err})", **corrupt) from None
            arrays[key] = array
            if budget is not None:
                budget -= array.nbytes
    if not arrays:
        raise BadInputFileError(f"{path.name!r} holds no arrays", **corrupt)
    return arrays


def _eeg_array(array: np.ndarray, what: str) -> np.ndarray:
    if array.dtype.kind != "f":
        raise BadInputFileError(f"{what} holds {array.dtype} values; EEG must be floating point (integer arrays are "
                                "refused rather than silently cast)", hint="save the EEG as float32")
    if array.ndim not in (2, 3) or array.size == 0:
        raise BadInputFileError(f"{what} holds an array of shape {array.shape}; EEG must be (n_chans, n_times) or "
                                "(n_trials, n_chans, n_times)")
    return array


# --------------------------------------------------------------------------------------------------
# MNE files


def read_mne_file(path: str | os.PathLike) -> Any:
    """Read an EEG file with MNE: `.fif` (Epochs or Raw), `.edf`, `.bdf`, `.vhdr`, `.set` (epochs or raw).

    Returns:
        `mne.io.BaseRaw` or `mne.BaseEpochs`, with data loaded.
    """
    path = Path(path)
    suffix = _suffix(path)
    if suffix not in MNE_EXTENSIONS:
        raise BadInputFileError(f"{path.name!r}: MNE formats are {', '.join(MNE_EXTENSIONS)}, got {suffix!r}")
    if not path.is_file():
        raise BadInputFileError(f"EEG file {str(path)!r} does not exist")
    mne = _import_mne(f"{suffix} files")
    name = path.name.lower()
    readers = {
        ".edf": [mne.io.read_raw_edf], ".bdf": [mne.io.read_raw_bdf], ".vhdr": [mne.io.read_raw_brainvision],
        ".set": [mne.io.read_raw_eeglab, mne.read_epochs_eeglab],
        ".fif": [mne.read_epochs, mne.io.read_raw_fif],
    }[suffix if suffix != ".fif.gz" else ".fif"]
    if suffix in (".fif", ".fif.gz") and not any(tag in name for tag in ("-epo.", "_epo.")):
        readers = readers[::-1]  # raw first, unless the name says epochs (MNE's naming convention)
    errors = []
    for reader in readers:
        kwargs = {} if reader is mne.read_epochs_eeglab else {"preload": True}
        try:
            return reader(path, verbose="error", **kwargs)
        except Exception as err:  # noqa: BLE001 - MNE raises many exception types for damaged or foreign files
            errors.append(f"{type(err).__name__}: {' '.join(str(err).split())}")
    hint = {".vhdr": "BrainVision needs its .vmrk and .eeg files next to the .vhdr",
            ".set": "EEGLAB needs its .fdt file next to the .set when the data are stored apart"}.get(suffix)
    raise BadInputFileError(f"{path.name!r} is not a readable {suffix} recording ({errors[0]})",
                            hint=hint or "check that the file is complete and of the format its extension says")


def raw_events(raw: Any) -> tuple[np.ndarray, dict[str, int], str]:
    """Events of a raw MNE recording: from its stim channel(s) when they hold any, else from its annotations.

    Returns:
        `(events, event_id, origin)`: MNE events `(n, 3)`, name -> code (the code as a string for stim events),
        and `"stim"`, `"annotations"` or `"none"`.
    """
    import mne

    if "stim" in raw.get_channel_types():
        events = mne.find_events(raw, shortest_event=1, initial_event=True, verbose="error")
        if len(events):
            return events, {str(int(c)): int(c) for c in np.unique(events[:, 2])}, "stim"
    if len(raw.annotations):
        events, event_id = mne.events_from_annotations(raw, verbose="error")
        if len(events):
            return events, {str(k): int(v) for k, v in event_id.items()}, "annotations"
    return np.zeros((0, 3), dtype=np.int64), {}, "none"


def recording_from_mne(obj: Any, source: str | os.PathLike | None = None, picks: Any = "data") -> EEGRecording:
    """An [`EEGRecording`] of an MNE `Raw` or `Epochs` object: data channels (`picks`) as float32 volts."""
    import mne

    source = None if source is None else os.fspath(source)
    if isinstance(obj, mne.BaseEpochs):
        picked = obj.copy().pick(picks)
        data = picked.get_data(copy=False, verbose="error")
        return EEGRecording(data.astype(np.float32), float(obj.info["sfreq"]), list(picked.ch_names), "V", "epochs",
                            source, events=np.asarray(obj.events), event_id=dict(obj.event_id),
                            metadata=obj.metadata, tmin=float(obj.tmin), source_dtype=str(data.dtype))
    if isinstance(obj, mne.io.BaseRaw):
        try:
            events, event_id, _ = raw_events(obj)
        except (ValueError, RuntimeError) as err:  # e.g. an unreadable stim channel: the data remain usable
            logger.warning(f"{source or 'raw recording'}: events could not be read ({err})")
            events, event_id = None, None
        annotations = [(float(a["onset"]), float(a["duration"]), str(a["description"])) for a in obj.annotations]
        picked = obj.copy().pick(picks)
        data = picked.get_data()
        return EEGRecording(data.astype(np.float32), float(obj.info["sfreq"]), list(picked.ch_names), "V", "raw",
                            source, events=events, event_id=event_id, annotations=annotations,
                            source_dtype=str(data.dtype))
    raise ValueError(f"expected an mne Raw or Epochs object, got {type(obj).__name__}")


def epochs_from_raw(
    raw: Any,
    *,
    tmin: float = -0.2,
    tmax: float = 0.5,
    baseline: tuple[float | None, float | None] | None = (None, 0),
    picks: Any = "data",
    event_id: Mapping[str, int] | None = None,
    keep: Any = None,
) -> Any:
    """Cut a raw MNE recording into epochs around its events (stim channel, else annotations; see [`raw_events`]).

    Args:
        raw (`mne.io.BaseRaw`): The recording.
        tmin (`float`, *optional*, defaults to -0.2), tmax (`float`, *optional*, defaults to 0.5):
            Epoch start and end relative to each event, in seconds.
        baseline (`tuple` or `None`, *optional*, defaults to `(None, 0)`): MNE baseline interval (`None`: none).
        picks (*optional*, defaults to `"data"`): MNE channel selection.
        event_id (`Mapping[str, int]`, *optional*): Event name -> code, naming stim-channel codes (by default a
            stim event is named by its code, an annotation by its description).
        keep (`Callable[[int, list[str]], bool]`, *optional*): Which events to epoch, from `(code, names)`
            (default: all).

    Returns:
        `mne.Epochs` with data loaded; epochs overlapping `BAD_*` annotations are dropped (`epochs.drop_log`).
    """
    import mne

    events, found_id, origin = raw_events(raw)
    if not len(events):
        raise BadInputFileError("the raw recording has no events: no stim channel with events and no annotations",
                                hint="epoch it yourself and pass an Epochs file, or add annotations")
    names_of: dict[int, list[str]] = {}
    for name, code in found_id.items():
        names_of.setdefault(int(code), []).append(name)
    if event_id is not None:
        for name, code in event_id.items():
            names_of.setdefault(int(code), []).insert(0, str(name))
    codes = [int(c) for c in np.unique(events[:, 2]) if keep is None or keep(int(c), names_of.get(int(c), []))]
    if not codes:
        shown = {c: names_of.get(int(c), []) for c in np.unique(events[:, 2]).tolist()}
        raise BadInputFileError(f"none of the recording's events ({origin}: {shown}) is selected for epoching",
                                hint="map the events you want (by code or name) to images")
    selected = events[np.isin(events[:, 2], codes)]
    ids = {names_of.get(c, [str(c)])[0]: c for c in codes}
    try:
        epochs = mne.Epochs(raw, selected, event_id=ids, tmin=tmin, tmax=tmax, baseline=baseline, picks=picks,
                            preload=True, event_repeated="drop", verbose="error")
    except ValueError as err:
        raise Eeg2ImgError(f"could not epoch the recording (tmin={tmin}, tmax={tmax}, baseline={baseline}, "
                           f"picks={picks!r}): {err}") from None
    if not len(epochs):
        raise Eeg2ImgError(f"all {len(selected)} epochs were dropped: {_window_text(raw, selected, tmin, tmax)}",
                           hint="choose --tmin/--tmax (tmin, tmax) so that the epochs fit inside the recording")
    dropped = len(selected) - len(epochs)
    if dropped:
        logger.warning(f"{dropped} of {len(selected)} epochs dropped: {_window_text(raw, selected, tmin, tmax)}")
    return epochs


def _window_text(raw: Any, events: np.ndarray, tmin: float, tmax: float) -> str:
    """Where the epochs of `events` lie against the recording: the window, the events' times, the length."""
    sfreq = float(raw.info["sfreq"])
    start = float(getattr(raw, "first_samp", 0)) / sfreq
    length = raw.n_times / sfreq
    onsets = events[:, 0] / sfreq - start
    inside = int(np.sum((onsets + tmin >= 0) & (onsets + tmax <= length)))
    return (f"the window tmin={tmin} s .. tmax={tmax} s around the events (at {onsets.min():.3f} .. "
            f"{onsets.max():.3f} s) fits {inside} of them inside the recording, which is {length:.3f} s long "
            f"({raw.n_times} samples at {sfreq:g} Hz); the others lie outside it or overlap BAD_ annotations")


# --------------------------------------------------------------------------------------------------
# The reader


def read_eeg_file(
    path: str | os.PathLike,
    *,
    sfreq: float | None = None,
    ch_names: Sequence[str] | None = None,
    unit: str | None = None,
    key: str = "eeg",
    picks: Any = "data",
    max_bytes: int | None = None,
    max_array_bytes: int | None = MAX_ARRAY_BYTES,
) -> EEGRecording:
    """Read EEG from a file of any supported format into an [`EEGRecording`].

    Formats: `.npy` (one float array `(n_chans, n_times)` or `(n_trials, n_chans, n_times)`; never unpickled:
    the header is checked for a plain numeric dtype, a size within `max_array_bytes` and within the file before
    anything is allocated), `.npz` (the array `key`, or the only array; every member checked the same way and
    kept in `arrays`), and with MNE: `.fif` (Epochs or Raw), `.edf`, `.bdf`, BrainVision `.vhdr`, EEGLAB `.set`
    (epochs or raw). MNE data are float32 volts.

    Args:
        path (`str` or `os.PathLike`): The file.
        sfreq (`float`, *optional*): Sampling rate in Hz of a numpy file (MNE files carry theirs; a different value
            given here is refused).
        ch_names (`Sequence[str]`, *optional*): Channel names of a numpy file (checked against an MNE file's).
        unit (`str`, *optional*): Unit of a numpy file's values, e.g. `"uV"` (MNE files are in `"V"`).
        key (`str`, *optional*, defaults to `"eeg"`): The EEG array of an `.npz` holding several arrays.
        picks (*optional*, defaults to `"data"`): MNE channel selection (stim and other non-data channels are left
            out by default).
        max_bytes (`int`, *optional*): Largest accepted file size (default: no limit).
        max_array_bytes (`int`, *optional*, defaults to `MAX_ARRAY_BYTES`): Largest data size a numpy header may
            claim (`None`: no limit beyond the file's own size).

    Returns:
        [`EEGRecording`].

    Raises:
        `BadInputFileError` (a `ValueError`) naming the file and the problem.
    """
    path = Path(path)
    suffix = _suffix(path)
    if suffix not in EEG_FILE_EXTENSIONS:
        raise BadInputFileError(f"Unsupported EEG file type {suffix or '(no extension)'!r} for {path.name!r}; "
                                f"expected one of {', '.join(EEG_FILE_EXTENSIONS)}")
    if not path.is_file():
        raise BadInputFileError(f"EEG file {str(path)!r} does not exist")
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise BadInputFileError(f"{path.name!r} is {_format_bytes(size)}; the limit is {_format_bytes(max_bytes)}")
    if suffix in MNE_EXTENSIONS:
        recording = recording_from_mne(read_mne_file(path), path, picks=picks)
        for stated, found, what in ((sfreq, recording.sfreq, "sfreq"), (unit, "V", "unit")):
            if stated is not None and stated != found:
                raise BadInputFileError(f"{path.name!r} is recorded with {what}={found!r}, not {stated!r}")
        if ch_names is not None and list(ch_names) != recording.ch_names:
            raise BadInputFileError(f"{path.name!r} has channels {recording.ch_names}, not {list(ch_names)}")
        return recording
    if suffix == ".npy":
        arrays, member = {}, _read_npy(path, max_array_bytes)
        what = repr(path.name)
    else:
        arrays = _read_npz(path, max_array_bytes)
        chosen = key if key in arrays else (next(iter(arrays)) if len(arrays) == 1 else None)
        if chosen is None:
            raise BadInputFileError(f"{path.name!r} holds the arrays {sorted(arrays)}; expected an {key!r} array or "
                                    "exactly one array")
        member, what = arrays[chosen], f"array {chosen!r} of {path.name!r}"
    data = _eeg_array(member, what)
    if sfreq is not None and (isinstance(sfreq, bool) or not math.isfinite(sfreq) or sfreq <= 0):
        raise ValueError(f"sfreq must be a positive number, got {sfreq!r}")
    names = None if ch_names is None else [str(c) for c in ch_names]
    if names is not None and len(names) != data.shape[-2]:
        raise BadInputFileError(f"{len(names)} channel names given but {what} has {data.shape[-2]} channels "
                                f"(shape {data.shape})")
    return EEGRecording(data.astype(np.float32), None if sfreq is None else float(sfreq), names, unit, "array",
                        os.fspath(path), arrays=arrays, source_dtype=str(data.dtype))


# --------------------------------------------------------------------------------------------------
# The check


def _pick(data: np.ndarray, have: list[str] | None, want: list[str], label: str) -> np.ndarray:
    if have is None:
        raise Eeg2ImgError(f"cannot pick the model's channels from {label}: it has no channel names",
                           hint="give the channel names of the file")
    index = {name.lower(): i for i, name in enumerate(have)}
    missing = [name for name in want if name.lower() not in index]
    if missing:
        raise Eeg2ImgError(f"{label} lacks the model's channels {missing} (it has {have})")
    return data[..., [index[name.lower()] for name in want], :]


PICK_API = "pick_and_resample=True, CLI --pick-and-resample"
"""How to ask for picking and resampling when the model's channel names are known (the Space shows its checkbox)."""
PICK_NAMES_API = "pick_and_resample=True with the model's ch_names, CLI --pick-and-resample --ch-names NAME,NAME,..."
"""How to ask for picking when the model's channel names must be given."""


def _names_hint(label: str, n_chans: int, n_times: int) -> str:
    """What works for EEG without channel names (numpy files): the model's channels, already in place."""
    return (f"{label} stores no channel names (numpy files never do), so the model's channels cannot be picked "
            f"from it: save exactly the model's {n_chans} channels, in the model's order, as an array "
            f"({n_chans}, {n_times}) or (n_trials, {n_chans}, {n_times})")


def _fit_hint(
    label: str,
    shape: tuple[int, int],
    n_chans: int,
    n_times: int,
    sfreq: float | None,
    have_names: list[str] | None,
    want_names: list[str] | None,
    rate_wrong: bool,
    picked: bool,
) -> str:
    """The one way out of a shape or rate mismatch that works for this input (channel names decide what can be
    picked)."""
    have_chans, have_times = shape
    if (have_chans, have_times) == (n_times, n_chans) and n_times != n_chans:
        return "it looks transposed: channels must come first"
    if have_chans != n_chans:
        if have_names is None:
            return _names_hint(label, n_chans, n_times)
        if have_chans < n_chans:
            wanted = f" ({_short_list(want_names)})" if want_names else ""
            return (f"{label} has fewer channels than the model: it needs a recording with the model's {n_chans} "
                    f"channels{wanted}")
        api = PICK_API if want_names is not None else PICK_NAMES_API
        return f"pick the model's channels by name and resample ({api})"
    if rate_wrong and not picked:
        return f"resample to the model's {sfreq:g} Hz ({PICK_API})"
    duration = f" ({n_times / sfreq * 1000:g} ms at {sfreq:g} Hz)" if sfreq else ""
    return f"cut the EEG into trials of exactly {n_times} samples{duration}"


def _short_list(names: Sequence[str], limit: int = 8) -> str:
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def validate_eeg(
    eeg: EEGRecording | np.ndarray,
    *,
    n_chans: int,
    n_times: int,
    sfreq: float | None = None,
    ch_names: Sequence[str] | None = None,
    pick_and_resample: bool = False,
    trial_index: int | None = None,
    eeg_sfreq: float | None = None,
    eeg_ch_names: Sequence[str] | None = None,
) -> np.ndarray:
    """Check EEG against what a model needs; return it as float32 `(n_chans, n_times)` or `(n, n_chans, n_times)`.

    One specific message for every mismatch, e.g. "the model needs 14 channels x 32 samples at 128 Hz; 'x.edf'
    has 64 channels x 512 samples at 512 Hz". The rate is checked when both sides know it (numpy files know it
    only when the caller states it); channel names are compared when both sides have them (a warning).

    Args:
        eeg ([`EEGRecording`] or `np.ndarray`): The EEG; an array is `(n_chans, n_times)` or
            `(n_trials, n_chans, n_times)`.
        n_chans (`int`), n_times (`int`): The model's input shape.
        sfreq (`float`, *optional*): The model's sampling rate in Hz.
        ch_names (`Sequence[str]`, *optional*): The model's channels, in its order.
        pick_and_resample (`bool`, *optional*, defaults to `False`): Pick (and reorder) the model's channels by
            name (case-insensitive) and resample to `sfreq` before the checks.
        trial_index (`int`, *optional*): Take this trial of a `(n_trials, n_chans, n_times)` input.
        eeg_sfreq (`float`, *optional*), eeg_ch_names (`Sequence[str]`, *optional*): Rate and channels of an
            array input (a recording carries its own).
    """
    if isinstance(eeg, EEGRecording):
        data, have_sfreq, have_names, label = eeg.data, eeg.sfreq, eeg.ch_names, eeg.name
    elif isinstance(eeg, np.ndarray):
        data, label = eeg, "the EEG"
        have_sfreq = None if eeg_sfreq is None else float(eeg_sfreq)
        have_names = None if eeg_ch_names is None else [str(c) for c in eeg_ch_names]
    else:
        raise ValueError(f"eeg must be an EEGRecording or a numpy array, got {type(eeg).__name__}")
    if data.dtype.kind != "f":
        raise Eeg2ImgError(f"{label} holds {data.dtype} values; EEG must be floating point (integer arrays are "
                           "refused rather than silently cast)")
    if data.ndim not in (2, 3):
        raise Eeg2ImgError(f"{label} holds an array of shape {data.shape}; expected one trial (n_chans, n_times) = "
                           f"({n_chans}, {n_times}) or trials (n_trials, {n_chans}, {n_times})")
    if trial_index is not None and data.ndim == 3:
        if not 0 <= trial_index < data.shape[0]:
            raise Eeg2ImgError(f"Trial index {trial_index} is out of range: {label} holds {data.shape[0]} trials "
                               f"(0..{data.shape[0] - 1})")
        data = data[trial_index]
    want_names = None if ch_names is None else [str(c) for c in ch_names]
    if pick_and_resample:
        if want_names is not None and have_names is not None:
            data, have_names = _pick(data, have_names, want_names, label), want_names
        elif data.shape[-2] != (n_chans if want_names is None else len(want_names)):
            side = "the model's" if want_names is None else "the file's"
            hint = _names_hint(label, n_chans, n_times) if have_names is None else (
                f"give the model's channel names ({PICK_NAMES_API})")
            raise Eeg2ImgError(f"cannot pick {n_chans} channels from {label} ({data.shape[-2]} channels) without "
                               f"{side} channel names", hint=hint)
        if sfreq is not None and have_sfreq is not None and not math.isclose(have_sfreq, sfreq, rel_tol=1e-9):
            data = resample(np.asarray(data, dtype=np.float32), have_sfreq, float(sfreq))
            have_sfreq = float(sfreq)
    rate_wrong = sfreq is not None and have_sfreq is not None and not math.isclose(have_sfreq, sfreq, rel_tol=1e-9)
    if data.shape[-2:] != (n_chans, n_times) or rate_wrong:
        has = _describe(data.shape[-2], data.shape[-1], have_sfreq)
        if have_sfreq is None and sfreq is not None:
            has += " (sampling rate not recorded in the file)"
        hint = _fit_hint(label, data.shape[-2:], n_chans, n_times, sfreq, have_names, want_names, rate_wrong,
                         pick_and_resample)
        raise Eeg2ImgError(f"{label} does not fit the model: the model needs {_describe(n_chans, n_times, sfreq)}; "
                           f"{label} has {has}", hint=hint)
    lowered = None if have_names is None else [c.lower() for c in have_names]
    if want_names is not None and lowered is not None and lowered != [c.lower() for c in want_names]:
        logger.warning(f"{label} has channels {have_names}, the model {want_names}: the order is taken as is")
    finite = np.isfinite(data)
    if not finite.all():
        where = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise Eeg2ImgError(f"{label} contains NaN or infinite values (first at index {where})")
    return np.ascontiguousarray(data, dtype=np.float32)

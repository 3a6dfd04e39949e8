"""A restricted unpickler for StyleGAN2-ADA `network-snapshot-*.pkl` files.

The snapshots are plain Python pickles whose networks are "persistent" objects: each one is rebuilt
by a function of the `torch_utils.persistence` module that receives a metadata dict with the source
code of the defining module (`module_src`) and would normally `exec` it. [`RestrictedUnpickler`]
never executes anything from the file:

* the persistence reconstruct function becomes an inert [`PersistentRecord`] (class name, a
  pseudo module name derived from the hash of `module_src`, and the object's `__dict__` state);
  the source text is kept only as a string and is never compiled;
* torch's tensor, parameter and storage rebuild functions are replaced by checked equivalents
  (storages are read back with `torch.load(..., weights_only=True)`);
* a few harmless containers (`collections.OrderedDict`, `builtins.set`, `dnnlib.util.EasyDict` as
  a plain dict, numpy scalars and numeric arrays, plain `torch.nn` modules as inert records) are
  allowed;
* every other global (`os.system`, `builtins.eval`, `builtins.getattr`, `subprocess.Popen`, ...)
  and persistent ids are refused with [`UnsafePickleError`] naming the refused global.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import collections
import hashlib
import io
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import weights_only_reason

if TYPE_CHECKING:  # torch is imported on first use: the dataset converters read numpy-only pickles without it
    import torch

__all__ = [
    "DEFAULT_MAX_BYTES",
    "PersistentRecord",
    "RestrictedUnpickler",
    "TorchModuleRecord",
    "UnsafePickleError",
    "load_restricted_pickle",
    "load_torch_file",
]

#: Largest file [`load_restricted_pickle`] reads by default (a 128 px snapshot with G, D, G_ema is ~0.4 GB).
DEFAULT_MAX_BYTES = 2 * 1024**3


class UnsafePickleError(ValueError):
    """Raised when a pickle asks for a global (callable or class) outside the allow-list."""


class _Sentinel:
    """Stands for a type that may appear as an argument but must never be called."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise UnsafePickleError(f"refused call of {self.name} inside the pickle")

    def __repr__(self) -> str:
        return f"<{self.name}>"


_TENSOR_TYPE = _Sentinel("torch.Tensor")
_PARAMETER_TYPE = _Sentinel("torch.nn.Parameter")
_NDARRAY_TYPE = _Sentinel("numpy.ndarray")


class PersistentRecord(collections.abc.Mapping):
    """Inert stand-in for a StyleGAN2-ADA persistent object (its `__dict__` as `state`).

    Args:
        class_name (`str`): the class name recorded in the pickle (e.g. `"Generator"`).
        module_name (`str`): a pseudo module name, `"<persistent:SHA256-PREFIX>"` of `module_src`.
        state (`dict`): the object's `__dict__` (`_parameters`, `_buffers`, `_modules`, hyper-parameters).
        module_src_sha256 (`str`, *optional*): full SHA-256 of the embedded source (never executed).
    """

    def __init__(self, class_name: str, module_name: str, state: dict[str, Any], module_src_sha256: str = "") -> None:
        self.class_name = class_name
        self.module_name = module_name
        self.state = state
        self.module_src_sha256 = module_src_sha256

    def __getitem__(self, key: str) -> Any:
        return self.state[key]

    def __iter__(self):
        return iter(self.state)

    def __len__(self) -> int:
        return len(self.state)

    @property
    def parameters(self) -> dict[str, Any]:
        """The module's own `_parameters` (name -> tensor or `None`)."""
        return dict(self.state.get("_parameters") or {})

    @property
    def buffers(self) -> dict[str, Any]:
        """The module's own `_buffers` (name -> tensor or `None`)."""
        return dict(self.state.get("_buffers") or {})

    @property
    def modules(self) -> dict[str, Any]:
        """The module's direct children `_modules` (name -> record or `None`)."""
        return dict(self.state.get("_modules") or {})

    def __setstate__(self, state: Any) -> None:
        raise UnsafePickleError(f"refused BUILD on persistent record {self.class_name!r} (snapshots never do this)")

    def __repr__(self) -> str:
        return f"PersistentRecord(class_name={self.class_name!r}, module_name={self.module_name!r})"


class TorchModuleRecord(PersistentRecord):
    """Inert stand-in for a plain `torch.nn` module pickled by class reference (NEWOBJ, then BUILD).

    Subclasses made by the unpickler carry `class_name` / `module_name` as class attributes; the state
    is stored by `__setstate__` without running any torch code.
    """

    class_name = ""
    module_name = ""
    module_src_sha256 = ""
    state: dict[str, Any] = {}

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        self.state = dict(state or {})

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise UnsafePickleError(f"unexpected state of type {type(state).__name__} for {self.module_name}")
        self.state = dict(state)


class _EasyDict(dict):
    """`dnnlib.util.EasyDict` read back as a plain dict subclass (no attribute magic)."""

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, dict):
            self.update(state)


def _torch_module_class(module: str, name: str) -> type[TorchModuleRecord]:
    """A `TorchModuleRecord` subclass standing for `module.name` (created by NEWOBJ, filled by BUILD)."""
    return type(name, (TorchModuleRecord,), {"class_name": name, "module_name": module})


def _reconstruct_persistent_obj(meta: Any) -> PersistentRecord:
    """Safe replacement of `torch_utils.persistence._reconstruct_persistent_obj`: records, never executes."""
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise UnsafePickleError(f"unsupported persistent object metadata: {type(meta).__name__} {meta!r:.200}")
    class_name, src, state = meta.get("class_name"), meta.get("module_src", ""), meta.get("state")
    if not isinstance(class_name, str) or not isinstance(src, str):
        raise UnsafePickleError("persistent object metadata needs string `class_name` and `module_src`")
    if state is not None and not isinstance(state, dict):
        raise UnsafePickleError(f"persistent object {class_name!r} has a non-dict state ({type(state).__name__})")
    digest = hashlib.sha256(src.encode("utf-8")).hexdigest()
    return PersistentRecord(class_name, f"<persistent:{digest[:16]}>", dict(state or {}), digest)


def _load_storage_from_bytes(blob: Any) -> torch.storage.TypedStorage:
    """Safe replacement of `torch.storage._load_from_bytes` (a legacy `torch.save` of one storage)."""
    import torch

    if not isinstance(blob, (bytes, bytearray)):
        raise UnsafePickleError(f"storage payload must be bytes, got {type(blob).__name__}")
    try:
        storage = torch.load(io.BytesIO(bytes(blob)), map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any failure of the safe loader is a refusal
        raise UnsafePickleError(f"a tensor storage could not be read with weights_only=True: {err}") from err
    if not isinstance(storage, torch.storage.TypedStorage):
        raise UnsafePickleError(f"storage payload decoded to {type(storage).__name__}, expected a storage")
    return storage


def _check_hooks(hooks: Any) -> None:
    if hooks is not None and (not isinstance(hooks, dict) or len(hooks) > 0):
        raise UnsafePickleError("tensors with backward hooks are refused")


def _rebuild_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any, *rest: Any) -> torch.Tensor:
    """Safe replacement of `torch._utils._rebuild_tensor(_v2)` for dense CPU tensors."""
    import torch

    if not isinstance(storage, torch.storage.TypedStorage):
        raise UnsafePickleError(f"tensor storage must be a torch storage, got {type(storage).__name__}")
    ints = [storage_offset, *size, *stride]
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in ints) or len(size) != len(stride):
        raise UnsafePickleError(f"invalid tensor geometry: offset={storage_offset!r} size={size!r} stride={stride!r}")
    if len(rest) > 1:
        _check_hooks(rest[1])
    if len(rest) > 2 and rest[2] not in (None, {}) and not all(isinstance(v, bool) for v in dict(rest[2]).values()):
        raise UnsafePickleError(f"unsupported tensor metadata {rest[2]!r:.200}")
    tensor = torch.empty(0, dtype=storage.dtype)
    tensor.set_(storage._untyped_storage, storage_offset, tuple(size), tuple(stride))
    return tensor


def _rebuild_parameter(data: Any, requires_grad: Any, hooks: Any = None, state: Any = None) -> torch.nn.Parameter:
    """Safe replacement of `torch._utils._rebuild_parameter(_with_state)`."""
    import torch

    if not isinstance(data, torch.Tensor):
        raise UnsafePickleError(f"parameter data must be a tensor, got {type(data).__name__}")
    _check_hooks(hooks)
    if state not in (None, {}, ()):
        raise UnsafePickleError("parameters with extra Python state are refused")
    return torch.nn.Parameter(data, requires_grad=bool(requires_grad))


def _rebuild_from_type_v2(func: Any, new_type: Any, args: Any, state: Any) -> torch.Tensor:
    """Safe replacement of `torch._tensor._rebuild_from_type_v2` for plain tensors and parameters only."""
    import torch

    if func not in (_rebuild_tensor, _rebuild_parameter) or new_type not in (_TENSOR_TYPE, _PARAMETER_TYPE):
        raise UnsafePickleError(f"refused tensor subclass reconstruction ({func!r}, {new_type!r})")
    if state not in (None, {}):
        raise UnsafePickleError("tensors with extra Python state are refused")
    tensor = func(*args)
    if new_type is _PARAMETER_TYPE and not isinstance(tensor, torch.nn.Parameter):
        return torch.nn.Parameter(tensor)
    return tensor


def _codecs_encode(text: Any, encoding: str = "utf-8") -> bytes:
    """Safe `_codecs.encode` (how protocol-2 pickles spell `bytes`)."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise UnsafePickleError(f"refused _codecs.encode({type(text).__name__}, {encoding!r})")
    return codecs.encode(text, encoding)


def _numpy_dtype(spec: Any, align: Any = False, copy: Any = False) -> Any:
    """Safe `numpy.dtype`: numeric, boolean and string dtypes only (no object fields)."""
    if not isinstance(spec, (str, bytes)):
        raise UnsafePickleError(f"refused numpy.dtype of {type(spec).__name__}")
    dtype = np.dtype(spec.decode("latin1") if isinstance(spec, bytes) else spec)
    if dtype.hasobject or dtype.kind not in "biufcSU":
        raise UnsafePickleError(f"refused numpy dtype {dtype!r} (object or structured)")
    return np.dtype(dtype, align=bool(align), copy=bool(copy))


def _numpy_reconstruct(subtype: Any, shape: Any, dtype: Any) -> Any:
    """Safe `numpy.core.multiarray._reconstruct` for plain `ndarray` (filled by numpy's C `__setstate__`)."""
    if subtype is not _NDARRAY_TYPE or shape != (0,):  # numpy always writes (0,); the data come with BUILD
        raise UnsafePickleError(f"refused numpy reconstruction of {subtype!r}")
    return np.ndarray.__new__(np.ndarray, shape, _numpy_dtype(dtype))


def _numpy_scalar(dtype: Any, data: Any = None) -> Any:
    """Safe `numpy.core.multiarray.scalar` for numeric dtypes."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise UnsafePickleError(f"refused numpy scalar of dtype {dtype!r}")
    raw = data.encode("latin1") if isinstance(data, str) else data
    if not isinstance(raw, bytes) or len(raw) != dtype.itemsize:
        raise UnsafePickleError("invalid numpy scalar payload")
    return np.frombuffer(raw, dtype=dtype, count=1)[0]


_NUMPY_ALLOWED: dict[str, Callable[..., Any] | _Sentinel] = {
    "_reconstruct": _numpy_reconstruct,
    "scalar": _numpy_scalar,
    "dtype": _numpy_dtype,
    "ndarray": _NDARRAY_TYPE,
}

_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("torch", "Tensor"): _TENSOR_TYPE,
    ("torch._tensor", "Tensor"): _TENSOR_TYPE,
    ("torch.nn.parameter", "Parameter"): _PARAMETER_TYPE,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("_codecs", "encode"): _codecs_encode,
    ("dnnlib.util", "EasyDict"): _EasyDict,
    ("dnnlib", "EasyDict"): _EasyDict,
}


_TORCH_DTYPE_NAMES = frozenset(
    "float16 float32 float64 bfloat16 half float double complex64 complex128 "
    "uint8 int8 int16 int32 int64 short int long bool".split()
)


class RestrictedUnpickler(pickle.Unpickler):
    """`pickle.Unpickler` that resolves only allow-listed globals to safe equivalents.

    Anything else (and any persistent id) raises [`UnsafePickleError`] before it can be called, so
    nothing from the file is executed. See the module docstring for the allow-list.
    """

    def find_class(self, module: str, name: str) -> Any:
        # Python-2 spellings (protocol < 3 streams, e.g. `__builtin__.set`), as the stock unpickler does
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        key = (module, name)
        if key in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[key]
        if module in ("numpy", "numpy.core.multiarray", "numpy._core.multiarray") and name in _NUMPY_ALLOWED:
            return _NUMPY_ALLOWED[name]
        if module == "torch" and name in _TORCH_DTYPE_NAMES:
            import torch

            return getattr(torch, name)
        if module.startswith("torch.nn.modules.") and name.isidentifier() and name[:1].isupper():
            return _torch_module_class(module, name)
        raise UnsafePickleError(f"refused global {module}.{name}: not on the allow-list of the safe unpickler")

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"refused persistent id {pid!r:.100} (snapshots have none)")


def load_restricted_pickle(path: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """Reads a pickle file with [`RestrictedUnpickler`].

    Args:
        path (`str` or `os.PathLike`): the pickle file.
        max_bytes (`int`, *optional*, defaults to `DEFAULT_MAX_BYTES`): refuse larger files.

    Returns:
        The unpickled object, with persistent objects as [`PersistentRecord`]s.

    Raises:
        `UnsafePickleError`: a refused global; `ValueError`: not a (readable) protocol-2+ pickle or too large.
    """
    return read_pickle_file(path, max_bytes, RestrictedUnpickler, expected="a StyleGAN snapshot pickle (an encoder, "
                            "EEGClip or image -> EEG .pth converts with the kind encoder, eeg-clip or image-to-eeg)",
                            protocol_note="StyleGAN2-ADA snapshots are")


def read_pickle_file(
    path: str | os.PathLike[str],
    max_bytes: int,
    unpickler: Callable[[Any], pickle.Unpickler],
    *,
    expected: str,
    protocol_note: str | None = None,
) -> Any:
    """Unpickles a file with `unpickler(handle)` after checking that it exists, is at most `max_bytes` and is no zip.

    Shared by [`load_restricted_pickle`] and the ThoughtViz converter's numpy-only reader.

    Args:
        path (`str` or `os.PathLike`): the pickle file.
        max_bytes (`int`): refuse larger files.
        unpickler (`Callable`): builds the (restricted) `pickle.Unpickler` for the open binary handle.
        expected (`str`): what the file should be, for the zip-archive error (e.g. `"a StyleGAN snapshot pickle"`).
        protocol_note (`str`, *optional*): when given, refuse pickles outside protocol 2-5, with this reason.

    Raises:
        `UnsafePickleError`: a refused global; `ValueError`: missing, too large, a zip archive, the wrong protocol
        or not a readable pickle.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path.name}: no such file")
    size = path.stat().st_size
    if size > max_bytes:
        raise ValueError(f"{path.name} is {size} bytes, more than the limit of {max_bytes} bytes (max_bytes)")
    with path.open("rb") as handle:
        head = handle.read(2)
        if head[:2] == b"PK":
            raise ValueError(f"{path.name} is a zip archive (torch.save format), not {expected}")
        if protocol_note is not None and (len(head) < 2 or head[0] != 0x80 or not 2 <= head[1] <= 5):
            raise ValueError(f"{path.name} is not a pickle of protocol 2-5 ({protocol_note})")
        handle.seek(0)
        try:
            return unpickler(handle).load()
        except UnsafePickleError as err:
            raise UnsafePickleError(f"{path.name} was refused for safety: {err}") from err
        except Exception as err:  # noqa: BLE001 - malformed streams of any kind become one clear error
            raise ValueError(f"{path.name} could not be read as a pickle: {type(err).__name__}: {err}") from err


_LEGACY_TORCH_MAGIC = bytes.fromhex("80028a0a6cfc9c46f9206aa85019")
"""How a `torch.save` file of the pre-zip format begins (a pickled magic number)."""


def load_torch_file(path: str | os.PathLike, what: str = "file") -> Any:
    """Load a `torch.save` file with `weights_only=True` (memory-mapped for zip-format files).

    The one place the package calls `torch.load` on a user's file. A file that needs Python objects other than
    tensors and containers is refused for safety (such a pickle can run code); the message names the file and the
    refused global and never repeats torch's advice to load it unsafely. A plain pickle that is no `torch.save` file
    (a StyleGAN2-ADA `network-snapshot-*.pkl`) is refused as such.

    Args:
        path (`str` or `os.PathLike`): the file.
        what (`str`, *optional*, defaults to `"file"`): what the file is, for error messages (e.g. `"EEG file"`).

    Returns:
        The loaded object (tensors, containers, numbers and strings only).

    Raises:
        [`UnsafePickleError`]: the file needs more than `weights_only=True` allows; `ValueError`: a missing file or
        one that is not a readable `torch.save` file.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{what} {str(path)!r} does not exist")
    with path.open("rb") as handle:
        head = handle.read(len(_LEGACY_TORCH_MAGIC))
    is_zip = head[:2] == b"PK"  # legacy (pre-1.6) files are plain pickles and cannot be mmapped
    if not is_zip and head[:1] == b"\x80" and head != _LEGACY_TORCH_MAGIC:
        raise ValueError(f"{what} {path.name!r} is a plain Python pickle (such as a StyleGAN2-ADA "
                         "network-snapshot-*.pkl), not a torch.save file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=is_zip)
    except pickle.UnpicklingError as err:
        raise UnsafePickleError(f"{what} {path.name!r} was refused for safety: it needs Python objects other than "
                                f"tensors to load ({weights_only_reason(err)}); such a pickle can run code, so "
                                "eeg2img_hf never loads it") from None
    except Exception as err:  # noqa: BLE001 - zip/EOF/format errors: not a torch file
        kind = type(err).__name__
        raise ValueError(f"{what} {path.name!r} is not a readable torch.save file ({kind}: "
                         f"{weights_only_reason(err)})") from None

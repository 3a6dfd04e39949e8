"""The package's user errors, and their one- or two-line form for the `eeg2img` command line.

Every error a user can fix (a bad file, a folder that is not a model, an output that would destroy data) is an
[`Eeg2ImgError`]. It subclasses `ValueError`, so code that catches `ValueError` keeps working. The message says
what is wrong and names the file or argument; the optional `hint` says what to do. `str(error)` is the message,
then the hint on a second line.

[`user_error_message`] turns a user error, including the exception types of the libraries the package reads files
with (safetensors, zip/npz, PIL, the Hugging Face Hub client, the operating system), into that short text, and
returns `None` for anything else: a genuine bug keeps its traceback.

This module imports nothing else of the package.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import sys
import zipfile
from collections.abc import Callable
from typing import Any

__all__ = [
    "BadInputFileError",
    "BadModelFolderError",
    "Eeg2ImgError",
    "HubAccessError",
    "RefusedOutputError",
    "one_line",
    "user_error_message",
    "weights_only_reason",
]


class Eeg2ImgError(ValueError):
    """A user error: the message names the file or argument and the problem; `hint` says what to do."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message, self.hint = message, hint
        super().__init__(message if hint is None else f"{message}\n{hint}")


class BadInputFileError(Eeg2ImgError):
    """An input file that is missing, truncated, corrupt or not of the expected kind."""


class BadModelFolderError(Eeg2ImgError):
    """A model folder whose `config.json` or weights cannot be loaded as the model a command expects."""


class RefusedOutputError(Eeg2ImgError):
    """An output path refused because writing there could destroy data the package did not write."""


class HubAccessError(Eeg2ImgError):
    """The Hugging Face Hub could not be reached or refused the request."""


def one_line(text: Any, limit: int = 400) -> str:
    """`text` on one line (runs of whitespace collapsed), cut to `limit` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def weights_only_reason(err: BaseException) -> str:
    """What torch's weights-only unpickler refused (the global it named), without torch's advice to load the file
    with `weights_only=False`, which a user must never follow for a file they do not trust."""
    text = str(err)
    named = re.search(r"GLOBAL ([\w.]+)", text)
    if named:
        return f"the global {named.group(1)}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    unsafe = ("weights_only", "can still be loaded", "trusted source", "arbitrary code", "Check the documentation",
              "safe_globals", "if you trust")
    kept = [line for line in lines if not any(word in line for word in unsafe)]
    return kept[0] if kept else "objects outside the weights-only allow-list"


_HUB_HINTS = {
    "OfflineModeIsEnabled": "the Hub is unreachable in offline mode (HF_HUB_OFFLINE=1): unset HF_HUB_OFFLINE and "
                            "check the network connection",
    "LocalEntryNotFoundError": "the file is not in the local Hugging Face cache and the Hub cannot be reached: "
                               "connect to the network, or pass a local folder",
    "RepositoryNotFoundError": "check the repo id (org/name) and your token (HF_TOKEN or `hf auth login`)",
    "GatedRepoError": "request access to the repo on the Hub, then log in (`hf auth login`)",
    "RevisionNotFoundError": "check the branch or commit name",
    "EntryNotFoundError": "the repo has no such file; check the repo id and revision",
    "HfHubHTTPError": "the Hub refused the request; check the repo id, your token and the network connection",
}


def _type_names(err: BaseException) -> list[str]:
    return [cls.__name__ for cls in type(err).__mro__]


def _os_error_message(err: OSError) -> str:
    names = _type_names(err)
    for name, hint in _HUB_HINTS.items():  # Hub client errors are OSError subclasses (requests / ConnectionError)
        if name in names and type(err).__module__.startswith(("huggingface_hub", "requests", "transformers")):
            return f"{one_line(err)}\n{hint}"
    if err.filename is not None:
        what = {
            "FileNotFoundError": "no such file or folder",
            "IsADirectoryError": "is a folder, expected a file",
            "NotADirectoryError": "is not a folder",
            "PermissionError": "permission denied",
            "FileExistsError": "already exists",
        }.get(type(err).__name__, one_line(err.strerror or err))
        return f"{os.fspath(err.filename)}: {what}"
    message = one_line(err)
    lowered = message.lower()
    if "offline" in lowered or "connect" in lowered or "huggingface.co" in lowered:
        return f"{message}\n{_HUB_HINTS['OfflineModeIsEnabled']}"
    return message


_HTTP_CLIENTS = ("httpx", "httpx2", "httpcore", "requests", "urllib3")
_TRANSPORT_ERRORS = ("TransportError", "ConnectionError", "Timeout", "ProxyError", "NewConnectionError")
"""Exception names of the HTTP clients for a request that never got an answer (not an HTTP error status)."""


def _network_error_message(err: BaseException) -> str:
    """One line naming the endpoint a request could not reach (the HTTP client's exceptions carry the request)."""
    try:
        url = str(err.request.url)  # httpx raises RuntimeError when the exception has no request
    except Exception:  # noqa: BLE001 - no request attached: fall back to the configured endpoint
        url = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    endpoint = re.match(r"^[a-z]+://[^/]+", url)
    shown = endpoint.group(0) if endpoint else url
    return (f"cannot reach {shown} ({type(err).__name__}: {one_line(err, 200)})\n"
            "check the network connection, the proxy settings and HF_ENDPOINT")


def user_error_message(err: BaseException) -> str | None:
    """The short text the command line prints for a user error, or `None` for a bug (keep the traceback).

    User errors are [`Eeg2ImgError`] and every other `ValueError` (the package's convention for bad input), file
    system errors (`OSError`: missing files, folders given for files, permissions, Hub connection errors), the HTTP
    client's errors (an unreachable endpoint, named),
    corrupt safetensors, zip/npz and pickle data, and images PIL refuses (decompression bombs). The text is at
    most two lines: the problem (naming the file or argument), then what to do.
    """
    names = _type_names(err)
    if isinstance(err, Eeg2ImgError):
        lines = [one_line(err.message)] + ([one_line(err.hint)] if err.hint else [])
        return "\n".join(lines)
    if "DecompressionBombError" in names or "DecompressionBombWarning" in names:
        return (f"an image is too large to decode safely ({one_line(err)})\n"
                "resize the image, or check that the file is the image you meant")
    if type(err).__module__.split(".")[0] in _HTTP_CLIENTS and any(name in names for name in _TRANSPORT_ERRORS):
        return _network_error_message(err)
    if "SafetensorError" in names:
        return f"a safetensors file is corrupt or truncated ({one_line(err)})\nre-save or re-download the file"
    if isinstance(err, zipfile.BadZipFile):
        return f"a .npz / zip archive is corrupt or truncated ({one_line(err)})\nre-create the file with np.savez"
    if isinstance(err, pickle.UnpicklingError):
        return f"pickled data was refused for safety ({weights_only_reason(err)}): loading such a pickle can run code"
    if isinstance(err, json.JSONDecodeError):
        return f"a JSON file is not valid JSON ({one_line(err)})"
    if isinstance(err, (ValueError, OSError, EOFError)):
        if isinstance(err, OSError):
            return _os_error_message(err)
        text = str(err).strip().splitlines() or [type(err).__name__]
        return one_line(text[0]) if len(text) == 1 else f"{one_line(text[0])}\n{one_line(' '.join(text[1:]))}"
    return None


def run_script(main: Callable[[], Any], name: str, interrupted: str = "interrupted") -> None:
    """Run a script's `main` the way the `eeg2img` command line runs a command: a user error
    ([`user_error_message`]) is printed as one or two lines `NAME: error: ...` with exit status 2 (`--debug` on the
    command line keeps the traceback), an interrupt as one line `NAME: <interrupted>` with exit status 130, and a
    bug keeps its traceback."""
    try:
        main()
    except KeyboardInterrupt:
        print(f"{name}: {interrupted}", file=sys.stderr)
        raise SystemExit(130) from None
    except Exception as err:  # noqa: BLE001 - user errors get one or two lines, bugs keep their traceback
        message = None if "--debug" in sys.argv else user_error_message(err)
        if message is None:
            raise
        print(f"{name}: error: " + message.replace("\n", f"\n{name}: "), file=sys.stderr)
        raise SystemExit(2) from None

"""Progress reporting that suits where the output goes.

On a terminal, a `tqdm` bar; otherwise (a log file, CI, a pipe) a line through the package's logger every
`every_seconds` and at the end, instead of thousands of carriage-return updates. Both show the rate and the time
left. [`quiet_library_progress`] switches off the progress bars of transformers, datasets and huggingface_hub
("Loading weights", "Writing model shards", "Saving the dataset") where the package reports its own progress.
"""

from __future__ import annotations

import contextlib
import logging as std_logging
import os
import sys
import time
from collections.abc import Iterator
from typing import Any, TextIO

import datasets
import huggingface_hub.utils as hub_utils
from tqdm.auto import tqdm
from transformers.utils import logging

__all__ = ["Progress", "configure_cli_logging", "format_duration", "progress_bar", "quiet_library_progress"]

logger = logging.get_logger(__name__)


class Progress:
    """Periodic progress lines: the `tqdm` methods the trainers use (`update`, `set_postfix`, `close`).

    Args:
        total (`int` or `None`): steps in the whole run (`None`: not known in advance; lines then show the count
            and the rate, no time left).
        initial (`int`, *optional*, defaults to 0): steps already done (a resumed run).
        desc (`str`, *optional*): label of each line.
        disable (`bool`, *optional*, defaults to `False`): report nothing (processes other than the main one).
        every_seconds (`float`, *optional*, defaults to 30): least time between two lines.
    """

    def __init__(self, total: int | None, initial: int = 0, desc: str = "", disable: bool = False,
                 every_seconds: float = 30.0) -> None:
        self.total, self.n, self.desc, self.disable = None if total is None else int(total), int(initial), desc, disable
        self.every_seconds = every_seconds
        self._start = self._last = time.monotonic()
        self._initial = self.n
        self._postfix: dict[str, Any] = {}

    def _line(self) -> str:
        elapsed = time.monotonic() - self._start
        rate = (self.n - self._initial) / elapsed if elapsed > 0 else 0.0
        postfix = ", ".join(f"{k}={v}" for k, v in self._postfix.items())
        if self.total is None:
            return (f"{self.desc}: {self.n}, {format_duration(elapsed)}, {rate:.2f} it/s"
                    + (f", {postfix}" if postfix else ""))
        percent = 100.0 * self.n / self.total if self.total else 100.0
        left = self.total - self.n
        eta = ("done" if left <= 0 else f"about {format_duration(left / rate)} left" if rate > 0
               else "time left unknown")
        return (f"{self.desc}: {self.n}/{self.total} ({percent:.0f} %), {format_duration(elapsed)}, {rate:.2f} it/s, "
                f"{eta}" + (f", {postfix}" if postfix else ""))

    def update(self, n: int = 1) -> None:
        """Counts `n` more steps; logs a line when `every_seconds` have passed since the last one."""
        self.n += n
        now = time.monotonic()
        if not self.disable and now - self._last >= self.every_seconds:
            self._last = now
            logger.info(self._line())

    def set_postfix(self, values: dict[str, Any]) -> None:
        """Values shown at the end of the next line (losses, ...)."""
        self._postfix = dict(values)

    def close(self) -> None:
        """Logs the final line."""
        if not self.disable:
            logger.info(self._line())


def format_duration(seconds: float) -> str:
    """`42.3` -> `"42 s"`, `754` -> `"12 min 34 s"`, `7380` -> `"2 h 03 min"`."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


@contextlib.contextmanager
def quiet_library_progress() -> Iterator[None]:
    """Within the block, transformers', datasets' and huggingface_hub's progress bars are off; each library's
    previous setting comes back afterwards."""
    was = (datasets.is_progress_bar_enabled(), logging.is_progress_bar_enabled(),
           not hub_utils.are_progress_bars_disabled())
    datasets.disable_progress_bars()
    logging.disable_progress_bar()
    hub_utils.disable_progress_bars()
    # HF_HUB_DISABLE_PROGRESS_BARS=1 switches datasets' and huggingface_hub's bars off for good: nothing to restore
    hub_forced_off = os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS", "").upper() in {"1", "ON", "YES", "TRUE"}
    try:
        yield
    finally:
        for enabled, turn_on, hub in zip(was, (datasets.enable_progress_bars, logging.enable_progress_bar,
                                               hub_utils.enable_progress_bars), (True, False, True)):
            if enabled and not (hub and hub_forced_off):
                turn_on()


def progress_bar(total: int | None, initial: int = 0, desc: str = "", disable: bool = False,
                 stream: TextIO | None = None) -> Any:
    """A `tqdm` bar when `stream` (default `sys.stderr`, where tqdm writes) is a terminal, else a [`Progress`]."""
    stream = sys.stderr if stream is None else stream
    if getattr(stream, "isatty", lambda: False)():
        return tqdm(total=total, initial=initial, desc=desc, disable=disable)
    return Progress(total, initial=initial, desc=desc, disable=disable)


def configure_cli_logging(level: int = std_logging.INFO) -> None:
    """Shows the package's log messages (progress lines, resume notes) on stderr, as the `eeg2img` CLI does.

    Library users keep Python's defaults (warnings only) unless they call this or configure the
    `"eeg2img_hf"` logger themselves.
    """
    package_logger = std_logging.getLogger("eeg2img_hf")
    if not any(getattr(h, "_eeg2img_cli", False) for h in package_logger.handlers):
        handler = std_logging.StreamHandler(sys.stderr)
        handler.setFormatter(std_logging.Formatter("%(message)s"))
        handler._eeg2img_cli = True  # type: ignore[attr-defined]
        package_logger.addHandler(handler)
    package_logger.setLevel(level)
    package_logger.propagate = False

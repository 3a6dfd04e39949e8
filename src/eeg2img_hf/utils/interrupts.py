"""Interrupts that keep the work: Ctrl-C (SIGINT) or SIGTERM asks a running trainer to stop after its current step.

A trainer runs inside [`stop_on_signal`] (the [`interruptible`] decorator). The first SIGINT/SIGTERM only sets a
flag (and says so on stderr); the loop polls [`stop_requested`] after each optimiser step, writes a checkpoint and
raises [`TrainingInterrupted`], which names the checkpoint. A signal that arrives after the last step lets the
trainer finish (its model and record are written) and is raised as `KeyboardInterrupt` when the block ends, so
the caller stops too. A second signal interrupts at once (Python's `KeyboardInterrupt`), for a step that takes
too long. The `eeg2img` CLI turns any of these into one line and exit status 130.

Outside the main thread (where Python cannot install signal handlers) [`stop_on_signal`] changes nothing: the
default `KeyboardInterrupt` applies. Tests and callers may ask for a stop with [`request_stop`], the same call the
signal handler makes.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["CheckpointClock", "TrainingInterrupted", "interruptible", "request_stop", "stop_on_signal",
           "stop_requested"]

_F = TypeVar("_F", bound=Callable[..., Any])

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_state = {"stop": False, "depth": 0}


class TrainingInterrupted(KeyboardInterrupt):
    """A trainer stopped on request after writing a checkpoint it can resume from exactly.

    Args:
        what (`str`): the trainer (`"train-gan"`, ...).
        checkpoint (`str` or `Path`): the checkpoint folder written on the way out.
        step (`int`): optimiser steps done.
    """

    def __init__(self, what: str, checkpoint: str | Path, step: int) -> None:
        self.what, self.checkpoint, self.step = what, str(checkpoint), int(step)
        super().__init__(f"{what} stopped after step {self.step}; checkpoint saved in {self.checkpoint}")


def request_stop() -> None:
    """Ask the running trainer to stop after its current step (what the first Ctrl-C does)."""
    _state["stop"] = True


def stop_requested() -> bool:
    """Whether a stop was asked for since the trainer's [`stop_on_signal`] block began."""
    return _state["stop"]


def _handler(signum: int, frame) -> None:  # noqa: ARG001 - signal handler signature
    if _state["stop"]:  # second signal: stop now
        raise KeyboardInterrupt
    _state["stop"] = True
    name = signal.Signals(signum).name
    print(f"\n{name} received: stopping after the current step and saving a checkpoint "
          "(press Ctrl-C again to stop at once, without one)", file=sys.stderr, flush=True)


@contextlib.contextmanager
def stop_on_signal() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM set the stop flag instead of raising (a second one raises
    `KeyboardInterrupt`). The flag is cleared on entry; the previous handlers come back on exit. When the block
    ends normally with a stop still requested (nobody stopped on it), `KeyboardInterrupt` is raised there. Nested
    blocks share the outermost block's handlers and flag."""
    outermost = _state["depth"] == 0
    if outermost:
        _state["stop"] = False
    previous = {}
    if outermost and threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, _handler) for sig in _SIGNALS}
    _state["depth"] += 1
    try:
        yield
    finally:
        _state["depth"] -= 1
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if outermost and _state["stop"]:
        _state["stop"] = False
        raise KeyboardInterrupt("stopped on request after the run had finished its last step")


def interruptible(func: _F) -> _F:
    """Decorator: runs `func` inside [`stop_on_signal`] (for the trainers' entry points)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with stop_on_signal():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


class CheckpointClock:
    """Wall-clock checkpoint schedule: [`due`] is true once `minutes` have passed since the last [`reset`]
    (never when `minutes` is 0).

    Args:
        minutes (`float`): the interval; 0 switches the clock off.
    """

    def __init__(self, minutes: float) -> None:
        self.seconds = 60.0 * float(minutes)
        self.reset()

    def reset(self) -> None:
        """Starts a new interval (after any checkpoint)."""
        self._since = time.monotonic()

    def due(self) -> bool:
        """Whether a wall-clock checkpoint is due."""
        return self.seconds > 0 and time.monotonic() - self._since >= self.seconds

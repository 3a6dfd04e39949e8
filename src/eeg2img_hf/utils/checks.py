"""Range checks of public arguments: each raises a `ValueError` naming the argument, the value and what is allowed.

Seeds follow one rule everywhere (`MAX_SEED`): an integer in `[0, 2**32 - 1]`. It is the tightest range of the
consumers: numpy's legacy `np.random.seed` (called by `accelerate.utils.set_seed`) and scikit-learn's
`random_state` accept only 32-bit seeds, while `torch.manual_seed` accepts up to `2**64 - 1` and
`numpy.random.default_rng` any non-negative integer. A seed outside the range is refused rather than wrapped.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

__all__ = ["MAX_SEED", "check_seed", "check_number", "check_int"]

MAX_SEED = 2**32 - 1
"""Largest accepted seed (`2**32 - 1`); seeds are integers in `[0, MAX_SEED]`."""


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_seed(value: Any, name: str = "seed") -> int:
    """Returns `value` as an `int` if it is an integer in `[0, MAX_SEED]`, else raises a `ValueError`."""
    if not _is_int(value) or not 0 <= value <= MAX_SEED:
        raise ValueError(f"{name} must be an integer in [0, {MAX_SEED}] (2**32 - 1), got {value!r}")
    return int(value)


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """Returns `value` as an `int` if it is an integer (not a bool) in `[low, high]` (open ends for `None`)."""
    if not _is_int(value) or (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be an integer {_bounds(low, high, True, True)}, got {value!r}")
    return int(value)


def check_number(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Returns `value` as a `float` if it is a finite real number (not a bool) within the bounds, else raises.

    Args:
        name (`str`): the argument's name, used in the message.
        value: the value to check (NaN and +-inf are always refused).
        low / high (`float`, *optional*): bounds; `None` leaves that side open.
        low_open / high_open (`bool`, *optional*): exclude the bound itself.
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        try:
            number = float(value)
        except OverflowError:
            ok = False
        else:
            ok = math.isfinite(number)
            ok = ok and (low is None or (number > low if low_open else number >= low))
            ok = ok and (high is None or (number < high if high_open else number <= high))
    if not ok:
        raise ValueError(f"{name} must be a finite number {_bounds(low, high, not low_open, not high_open)}, "
                         f"got {value!r}")
    return number


def _bounds(low: float | None, high: float | None, low_closed: bool, high_closed: bool) -> str:
    if low is not None and high is not None:
        return f"in {'[' if low_closed else '('}{low}, {high}{']' if high_closed else ')'}"
    if low is not None:
        return f"{'>=' if low_closed else '>'} {low}"
    if high is not None:
        return f"{'<=' if high_closed else '<'} {high}"
    return "(any finite value)"

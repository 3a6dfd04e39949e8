"""The `eeg2img` argument parser (no heavy imports)."""

from __future__ import annotations

import argparse
import re
from typing import Any

NEGATIVE_VALUE = re.compile(r"^-\.?\d[\d.,:eE+-]*$")
"""What argparse takes for a value, not an option: a negative number or a list of numbers starting with one
(`-0.2`, `-1e-3`, `-0.2,0` as MNE's usual baseline)."""


class ArgumentParser(argparse.ArgumentParser):
    """`argparse.ArgumentParser` whose options take negative numbers and number lists as values.

    argparse takes `-0.2` for a value but `-0.2,0` (`--baseline -0.2,0`) for an unknown option and then fails with
    "expected one argument". Sub-parsers are of the same class, so every sub-command gets the same rule.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = NEGATIVE_VALUE

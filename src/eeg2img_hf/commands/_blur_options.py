"""`--blur-sigmas` of `train-clip` and `image-features`: the three sigmas of the uncertainty-aware blur prior."""

from __future__ import annotations


def parse_blur_sigmas(value: str | None) -> list[float] | None:
    """`"none"` or unset: no blur prior; else three comma-separated sigmas in pixels (the trainer and the features
    writer check their range and order)."""
    if value is None or value.strip().lower() == "none":
        return None
    try:
        return [float(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--blur-sigmas must be three comma-separated sigmas in pixels (e.g. 7.1,8.0,8.9) or "
                         f"'none', got {value!r}") from None

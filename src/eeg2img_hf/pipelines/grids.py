"""Class-by-trial image grids of an EEG -> image model, the way researchers judge one at a glance.

Rows are classes, columns are trials of that class (the authors' generation protocol, truncation psi 1 and
constant noise by default); the stimuli shown with those trials sit in the same places of a second grid. Both the
trial choice and the latents derive from the seed, so the same arguments give the same pixels. `eeg2img generate`
writes these grids as PNGs; the Space shows them in its batch view.

```python
>>> from eeg2img_hf.pipelines.grids import class_grid
>>> grid = class_grid(pipe, dataset["test"], class_ids=[0, 1, 2], trials_per_class=4, seed=0)
>>> generated, stimuli = grid.generated_grid(), grid.stimulus_grid()   # uint8 (H, W, 3) each
```
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..utils.images import make_grid

__all__ = ["LABEL_FONT_SIZE", "ClassGrid", "class_grid", "label_grid_rows", "select_trials", "stimulus_images"]


def select_trials(labels: Any, class_ids: list[int], trials_per_class: int, seed: int) -> list[list[int]]:
    """Row indices per class: each class's trials shuffled with `np.random.default_rng([seed, class_id])`, the first
    `trials_per_class` kept in shuffled order. A class's row does not depend on which other classes are drawn."""
    labels = np.asarray(labels)
    rows = []
    for class_id in class_ids:
        candidates = np.flatnonzero(labels == class_id)
        if len(candidates) < trials_per_class:
            raise ValueError(f"class {class_id} has {len(candidates)} trials in this split, fewer than "
                             f"--trials-per-class {trials_per_class}")
        order = np.random.default_rng([seed, class_id]).permutation(len(candidates))
        rows.append([int(i) for i in candidates[order[:trials_per_class]]])
    return rows


def stimulus_images(split: Any, indices: list[int], size: int) -> np.ndarray:
    """The paired stimulus images of rows `indices` of a split, resized to `size` px (bicubic), as uint8
    `(n, size, size, 3)`."""
    images = split.select_columns(["image"]).select(indices)
    resized = [img["image"].convert("RGB").resize((size, size), Image.Resampling.BICUBIC) for img in images]
    return np.stack([np.asarray(img, dtype=np.uint8) for img in resized])


@dataclass
class ClassGrid:
    """Generated images and their trials' stimuli, `len(rows)` classes by `len(rows[0])` trials.

    Attributes:
        class_ids (`list[int]`): The class of each grid row.
        rows (`list[list[int]]`): Per class, the split rows (trials) of its columns.
        generated (`np.ndarray`): uint8 `(n_classes * trials_per_class, H, W, 3)`, row-major.
        stimuli (`np.ndarray`): The stimulus of each of those trials, same shape and order.
    """

    class_ids: list[int]
    rows: list[list[int]]
    generated: np.ndarray
    stimuli: np.ndarray

    @property
    def indices(self) -> list[int]:
        """The split rows of every cell, row-major."""
        return [i for row in self.rows for i in row]

    def generated_grid(self, padding: int = 2) -> np.ndarray:
        """The generated images tiled into one uint8 `(H, W, 3)` grid (white padding)."""
        return make_grid(self.generated, rows=len(self.rows), padding=padding)

    def stimulus_grid(self, padding: int = 2) -> np.ndarray:
        """The stimuli tiled the same way."""
        return make_grid(self.stimuli, rows=len(self.rows), padding=padding)


def class_grid(
    pipe: Any,
    split: Any,
    class_ids: list[int],
    trials_per_class: int,
    seed: int,
    labels: Any = None,
    **options: Any,
) -> ClassGrid:
    """Generate one image per trial for `trials_per_class` trials of each class (chosen by [`select_trials`]).

    Args:
        pipe: An `"eeg-to-image"` pipeline.
        split (`datasets.Dataset`): A split in the package schema (`eeg`, `image`, `label`).
        class_ids (`list[int]`): The classes, one grid row each.
        trials_per_class (`int`): Grid columns.
        seed (`int`): Seed of the trial choice and of the latents.
        labels (*optional*): The split's labels, when already at hand (read from `split` otherwise).
        **options: Generation options of the pipeline (`truncation_psi`, `noise_mode`, `batch_size`, ...);
            images always come back as uint8 arrays.
    """
    if labels is None:
        labels = split.select_columns(["label"]).with_format("numpy")[:]["label"]
    rows = select_trials(labels, class_ids, trials_per_class, seed)
    indices = [i for row in rows for i in row]
    eeg = np.asarray(split.select_columns(["eeg"]).select(indices).with_format("numpy")[:]["eeg"])
    generated = np.stack([r["images"][0] for r in pipe(eeg, seed=seed, **{**options, "output_type": "np"})])
    stimuli = stimulus_images(split, indices, pipe.model.config.img_resolution)
    return ClassGrid(class_ids=list(class_ids), rows=rows, generated=generated, stimuli=stimuli)


LABEL_FONT_SIZE = 14
"""Pixel size of the row labels of [`label_grid_rows`]: legible when the grid is shown at its own size."""


def label_grid_rows(
    grid: np.ndarray, labels: Sequence[str], scale: int = 1, max_width: int = 160, font_size: int = LABEL_FONT_SIZE
) -> Image.Image:
    """A grid of `len(labels)` equal rows, upscaled `scale` times (nearest neighbour), with each row's label written
    in a white margin on its left, as wide as the longest label (at most `max_width` px; longer labels are cut
    with "...")."""
    image = Image.fromarray(grid)
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    font = ImageFont.load_default(size=font_size)
    texts = [_fit_text(str(label), font, max_width - 8) for label in labels]
    width = 8 + max((math.ceil(font.getlength(text)) for text in texts), default=0)
    canvas = Image.new("RGB", (image.width + width, image.height), (255, 255, 255))
    canvas.paste(image, (width, 0))
    draw = ImageDraw.Draw(canvas)
    row_height = image.height / max(1, len(labels))
    for row, text in enumerate(texts):
        draw.text((4, (row + 0.5) * row_height), text, fill=(0, 0, 0), font=font, anchor="lm")
    return canvas


def _fit_text(text: str, font: ImageFont.FreeTypeFont, width: int) -> str:
    """`text`, cut and ended with "..." when it is wider than `width` px in `font`."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "...") > width:
        text = text[:-1]
    return text.rstrip() + "..."

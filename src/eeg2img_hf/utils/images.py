"""Image conversions shared by training, pipelines and scripts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def images_to_uint8(images: torch.Tensor) -> np.ndarray:
    """Generator output `(batch, C, H, W)` in [-1, 1] -> uint8 array `(batch, H, W, C)` (values clamped)."""
    if images.ndim != 4:
        raise ValueError(f"images must have shape (batch, channels, height, width), got {tuple(images.shape)}")
    scaled = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return scaled.permute(0, 2, 3, 1).cpu().numpy()


def uint8_to_images(array: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 `(batch, H, W, C)` or `(batch, C, H, W)` with C == 3 -> float `(batch, C, H, W)` in [-1, 1]."""
    tensor = torch.as_tensor(np.asarray(array))
    if tensor.dtype != torch.uint8 or tensor.ndim != 4:
        raise ValueError(f"expected a 4-D uint8 image batch, got dtype {tensor.dtype} shape {tuple(tensor.shape)}")
    if tensor.shape[-1] in (1, 3) and tensor.shape[1] not in (1, 3):
        tensor = tensor.permute(0, 3, 1, 2)
    return tensor.float() / 127.5 - 1.0


def make_grid(images: np.ndarray, rows: int, padding: int = 2, pad_value: int = 255) -> np.ndarray:
    """Tile uint8 images `(rows * cols, H, W, C)` row-major into one `(rows*(H+p)+p, cols*(W+p)+p, C)` image."""
    if images.ndim != 4 or images.dtype != np.uint8:
        raise ValueError(f"expected uint8 images (n, H, W, C), got {images.dtype} {images.shape}")
    n, h, w, c = images.shape
    if rows < 1 or n % rows:
        raise ValueError(f"{n} images do not fill {rows} rows")
    cols = n // rows
    grid = np.full((rows * (h + padding) + padding, cols * (w + padding) + padding, c), pad_value, np.uint8)
    for i, image in enumerate(images):
        r, k = divmod(i, cols)
        top, left = padding + r * (h + padding), padding + k * (w + padding)
        grid[top:top + h, left:left + w] = image
    return grid


def save_grid(images: torch.Tensor | np.ndarray, path: str | Path, rows: int) -> str:
    """Save a batch (generator output tensor or uint8 array) as a PNG grid with `rows` rows; returns the path."""
    from PIL import Image

    array = images_to_uint8(images) if isinstance(images, torch.Tensor) else images
    grid = make_grid(array, rows)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid.squeeze(-1) if grid.shape[-1] == 1 else grid).save(path)
    return str(path)

import numpy as np
import pytest
import torch

from eeg2img_hf.utils.images import images_to_uint8, make_grid, save_grid, uint8_to_images


def test_round_trip_and_clamp():
    x = torch.tensor([[[[-1.0, 0.0], [1.0, 2.0]]]]).repeat(1, 3, 1, 1)
    u = images_to_uint8(x)
    assert u.shape == (1, 2, 2, 3) and u[0, :, :, 0].tolist() == [[0, 128], [255, 255]]
    back = uint8_to_images(u)
    assert back.shape == (1, 3, 2, 2)
    assert torch.allclose(back[0, 0], torch.tensor([[-1, 128 / 127.5 - 1], [1, 1]]), atol=1e-6)


def test_grid_layout(tmp_path):
    imgs = np.stack([np.full((2, 3, 3), i, np.uint8) for i in range(6)])
    grid = make_grid(imgs, rows=2, padding=1, pad_value=9)
    assert grid.shape == (2 * 3 + 1, 3 * 4 + 1, 3)
    assert grid[1, 1, 0] == 0 and grid[1, 5, 0] == 1 and grid[4, 1, 0] == 3 and grid[0, 0, 0] == 9
    path = save_grid(torch.zeros(4, 3, 8, 8), tmp_path / "g.png", rows=2)
    assert open(path, "rb").read(4) == b"\x89PNG"
    with pytest.raises(ValueError, match="rows"):
        make_grid(imgs, rows=4)

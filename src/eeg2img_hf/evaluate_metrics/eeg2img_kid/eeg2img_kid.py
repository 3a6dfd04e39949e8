"""Kernel distance (unbiased MMD^2, cubic kernel, random subsets) between real and generated image features.

Metric card: README.md beside this file. Part of eeg2img_hf (`evaluate.load` this folder, or the Hub Space `eeg2img
push-metrics ORG` made). The computation is eeg2img_hf's `eeg2img_hf.metrics.generative.compute_kid`: with
eeg2img_hf installed and its module the same code as the copy beside this script, the package's own function runs;
otherwise the copy.
"""

import importlib
import inspect
from pathlib import Path

import datasets
import evaluate
import numpy as np

# Copy of eeg2img_hf/metrics/generative.py, written beside this script when the module is built.
from .generative import compute_kid as _bundled_compute_kid

_LIBRARY = "eeg2img_hf.metrics.generative"


def _library_function(name, bundled):
    """The installed package's `name` when its module file equals the bundled copy's, else the copy."""
    try:
        module = importlib.import_module(_LIBRARY)
    except ImportError:
        return bundled
    same = Path(inspect.getfile(module)).read_bytes() == Path(inspect.getfile(bundled)).read_bytes()
    return getattr(module, name) if same else bundled


_CITATION = """\
@inproceedings{singh2024learning,
  title     = {Learning Robust Deep Visual Representations from {EEG} and Brain Recordings},
  author    = {Singh, Prajwal and Dalal, Dwip and Vashishtha, Gautam and Miyapuram, Krishna and Raman, Shanmuganathan},
  booktitle = {IEEE/CVF Winter Conference on Applications of Computer Vision (WACV)},
  year      = {2024}
}
"""

_DESCRIPTION = """\
For each of `num_subsets` subsets, m = min(n_real, n_generated, max_subset_size) real and m generated rows are
drawn without replacement (`numpy.random.default_rng(seed)`) and the unbiased MMD^2 with the kernel
k(x, y) = (x . y / d + 1)^3 is computed; the mean and standard deviation over subsets are returned. It is "KID"
only with Inception-v3 2048-D pool features (the paper: 100 subsets of 1,000, 50,000 generated images).
"""

_KWARGS_DESCRIPTION = """\
Args:
    features (`list` of `list[float]`): one feature vector per image, real and generated together.
    is_real (`list[bool]`): `True` for a real image, `False` for a generated one (at least 2 of each).
    num_subsets (`int`, *optional*, defaults to 100), max_subset_size (`int`, *optional*, defaults to 1000),
    seed (`int`, *optional*, defaults to 0): the subset sampling.
Returns:
    kid_mean (`float`), kid_std (`float`): can be slightly negative for equal distributions (unbiased).
Examples:
    >>> metric = evaluate.load("eeg2img_kid")
    >>> metric.compute(features=[[0.0], [1.0], [1.0], [2.0]], is_real=[True, True, False, False], num_subsets=3,
    ...                max_subset_size=2)
    {'kid_mean': 9.5, 'kid_std': 0.0}
"""

compute_kid = _library_function("compute_kid", _bundled_compute_kid)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Eeg2imgKid(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation=_CITATION, inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"features": datasets.Sequence(datasets.Value("float32")),
                                        "is_real": datasets.Value("bool")}),
        )

    def _compute(self, features, is_real, num_subsets=100, max_subset_size=1000, seed=0):
        features, is_real = np.asarray(features, dtype=np.float32), np.asarray(is_real, dtype=bool)
        mean, std = compute_kid(features[is_real], features[~is_real], num_subsets=num_subsets,
                                max_subset_size=max_subset_size, seed=seed)
        return {"kid_mean": mean, "kid_std": std}

"""Frechet distance between real and generated image features (FID when the features are Inception-v3's).

Metric card: README.md beside this file. Part of eeg2img_hf (`evaluate.load` this folder, or the Hub Space `eeg2img
push-metrics ORG` made). The computation is eeg2img_hf's `eeg2img_hf.metrics.generative.compute_fid`: with
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
from .generative import compute_fid as _bundled_compute_fid

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
A Gaussian (mean, unbiased covariance) is fitted to the real and to the generated feature vectors, and their
Frechet distance ||mu_r - mu_g||^2 + tr(S_r) + tr(S_g) - 2 tr((S_r S_g)^(1/2)) is returned. It is "FID" only
when the features are Inception-v3 2048-D pool features (the paper: NVIDIA's inception-2015-12-05.pt, all real
test images against 50,000 generated ones); name it after the extractor otherwise.
"""

_KWARGS_DESCRIPTION = """\
Args:
    features (`list` of `list[float]`): one feature vector per image, real and generated together.
    is_real (`list[bool]`): `True` for a real image, `False` for a generated one (at least 2 of each).
Returns:
    fid (`float`): >= 0, lower is better.
Examples:
    >>> metric = evaluate.load("eeg2img_fid")
    >>> metric.compute(features=[[0.0], [2.0], [1.0], [3.0]], is_real=[True, True, False, False])
    {'fid': 1.0}
"""

compute_fid = _library_function("compute_fid", _bundled_compute_fid)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Eeg2imgFid(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation=_CITATION, inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"features": datasets.Sequence(datasets.Value("float32")),
                                        "is_real": datasets.Value("bool")}),
        )

    def _compute(self, features, is_real):
        features, is_real = np.asarray(features, dtype=np.float32), np.asarray(is_real, dtype=bool)
        return {"fid": compute_fid(features[is_real], features[~is_real])}

"""Inception Score from class probabilities p(y|x) of generated images, over contiguous splits.

Metric card: README.md beside this file. Part of eeg2img_hf (`evaluate.load` this folder, or the Hub Space `eeg2img
push-metrics ORG` made). The computation is eeg2img_hf's `eeg2img_hf.metrics.generative.compute_inception_score`:
with eeg2img_hf installed and its module the same code as the copy beside this script, the package's own function runs;
otherwise the copy.
"""

import importlib
import inspect
from pathlib import Path

import datasets
import evaluate
import numpy as np

# Copy of eeg2img_hf/metrics/generative.py, written beside this script when the module is built.
from .generative import compute_inception_score as _bundled_compute_inception_score

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
The samples are cut into `num_splits` contiguous, near-equal splits; per split, IS = exp(mean KL(p(y|x) || p(y)))
with p(y) the split's mean prediction (0 log 0 = 0); the mean and standard deviation over splits are returned.
It is the paper's IS only with Inception-v3's 1008-class softmax (NVIDIA's file, output bias dropped), 50,000
generated images and 10 splits.
"""

_KWARGS_DESCRIPTION = """\
Args:
    probabilities (`list` of `list[float]`): one probability row per generated image (non-negative, summing to 1).
    num_splits (`int`, *optional*, defaults to 10): number of splits (at most the number of rows).
Returns:
    inception_score_mean (`float`), inception_score_std (`float`): from 1 to the number of classes.
Examples:
    >>> metric = evaluate.load("eeg2img_inception_score")
    >>> metric.compute(probabilities=[[1.0, 0.0], [0.0, 1.0]], num_splits=1)
    {'inception_score_mean': 2.0, 'inception_score_std': 0.0}
"""

compute_inception_score = _library_function("compute_inception_score", _bundled_compute_inception_score)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Eeg2imgInceptionScore(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation=_CITATION, inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"probabilities": datasets.Sequence(datasets.Value("float32"))}),
        )

    def _compute(self, probabilities, num_splits=10):
        probabilities = np.asarray(probabilities, dtype=np.float32)  # the stored precision
        mean, std = compute_inception_score(probabilities, num_splits=num_splits)
        return {"inception_score_mean": mean, "inception_score_std": std}

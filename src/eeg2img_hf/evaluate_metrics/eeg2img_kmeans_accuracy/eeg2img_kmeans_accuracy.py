"""k-means accuracy of feature vectors with Hungarian cluster-to-class matching (the paper's Table 2 metric).

Metric card: README.md beside this file. Part of eeg2img_hf (`evaluate.load` this folder, or the Hub Space `eeg2img
push-metrics ORG` made). The computation is eeg2img_hf's `eeg2img_hf.metrics.features.kmeans_accuracy`: with
eeg2img_hf installed and its module the same code as the copy beside this script, the package's own function runs;
otherwise the copy.
"""

import importlib
import inspect
from pathlib import Path

import datasets
import evaluate
import numpy as np

# Copy of eeg2img_hf/metrics/features.py, written beside this script when the module is built.
from .features import kmeans_accuracy as _bundled_kmeans_accuracy

_LIBRARY = "eeg2img_hf.metrics.features"


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
k-means (k-means++, `n_init` restarts, `random_state=seed`) is fitted on the feature vectors; its clusters are
matched one-to-one to the classes by the Hungarian algorithm on the cluster x class count matrix; the accuracy is
the number of matched samples over all samples. Labels are used only for the matching.
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions (`list` of `list[float]`): one feature vector (e.g. a 128-D EEG embedding) per sample.
    references (`list[int]`): the class of each sample.
    n_clusters (`int`, *optional*): number of clusters; default: the number of distinct references.
    n_init (`int`, *optional*, defaults to 10): k-means restarts (the best inertia is kept).
    seed (`int`, *optional*, defaults to 45): k-means `random_state` (the authors' seed).
Returns:
    kmeans_accuracy (`float`): in [0, 1].
Examples:
    >>> metric = evaluate.load("eeg2img_kmeans_accuracy")
    >>> metric.compute(predictions=[[0.0, 1.0], [0.1, 0.9], [1.0, 0.0], [0.9, 0.1]], references=[3, 3, 5, 5])
    {'kmeans_accuracy': 1.0}
"""

kmeans_accuracy = _library_function("kmeans_accuracy", _bundled_kmeans_accuracy)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Eeg2imgKmeansAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation=_CITATION, inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Sequence(datasets.Value("float32")),
                                        "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references, n_clusters=None, n_init=10, seed=45):
        features = np.asarray(predictions, dtype=np.float32)  # the stored precision
        return {"kmeans_accuracy": kmeans_accuracy(features, np.asarray(references), n_clusters=n_clusters,
                                                   n_init=n_init, seed=seed)}

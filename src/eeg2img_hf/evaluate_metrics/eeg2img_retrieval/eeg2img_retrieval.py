"""Top-k, MRR and mAP of a retrieval score matrix with conservative tie handling (EEGClip, the paper's Tables 4-5).

Metric card: README.md beside this file. Part of eeg2img_hf (`evaluate.load` this folder, or the Hub Space `eeg2img
push-metrics ORG` made). The computation is eeg2img_hf's `eeg2img_hf.metrics.retrieval`: with eeg2img_hf installed
and its module the same code as the copy beside this script, the package's own function runs; otherwise the copy.
"""

import importlib
import inspect
from pathlib import Path

import datasets
import evaluate
import numpy as np

# Copies of eeg2img_hf/metrics/retrieval.py and of features.py, which it imports, written beside this script when
# the module is built (features is imported here so that evaluate's loader copies it too; no comment may follow a
# relative import: the loader would read it as a URL).
from .features import _to_numpy
from .retrieval import class_topk_retrieval as _bundled_class_topk_retrieval
from .retrieval import mean_average_precision as _bundled_mean_average_precision
from .retrieval import mean_reciprocal_rank as _bundled_mean_reciprocal_rank
from .retrieval import topk_accuracy as _bundled_topk_accuracy

_LIBRARY = "eeg2img_hf.metrics.retrieval"
_COPIED_FOR_RETRIEVAL = (_to_numpy,)


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
Each row of `predictions` holds one query's scores for every gallery item (higher = more similar, e.g. cosine
similarity of an EEG embedding with each image embedding). Ties count against the query: the rank of a relevant
item is 1 + the number of other (class variant: non-relevant) items scoring >= it.

Class variant (`gallery_labels` given, `references` = query classes): top-k = share of queries with a same-class
item among the top k; MRR = mean of 1 / rank of the first same-class item; mAP = mean average precision over the
full ranking, relevant = same class. Exact-item variant (`gallery_labels` omitted, `references` = the column of
each query's one correct item): top-k and MRR of that item.
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions (`list` of `list[float]`): one row of scores per query, one column per gallery item.
    references (`list[int]`): the query's class (with `gallery_labels`) or its correct column (without).
    gallery_labels (`list[int]`, *optional*): class of each gallery item; selects the class variant.
    ks (`list[int]`, *optional*, defaults to `[1, 5, 10]`): top-k cut-offs.
Returns:
    `top{k}` (`float`) for each k, `mrr` (`float`) and, in the class variant, `map` (`float`).
Examples:
    >>> metric = evaluate.load("eeg2img_retrieval")
    >>> # query 0 (class 0) ties its image with a class-1 image: rank 2 (ties count against the query)
    >>> metric.compute(predictions=[[0.5, 0.5, 0.1], [0.2, 0.8, 0.1]], references=[0, 1], gallery_labels=[0, 1, 1],
    ...                ks=[1])
    {'top1': 0.5, 'mrr': 0.75, 'map': 0.6666666666666666}
"""

class_topk_retrieval = _library_function("class_topk_retrieval", _bundled_class_topk_retrieval)
mean_average_precision = _library_function("mean_average_precision", _bundled_mean_average_precision)
mean_reciprocal_rank = _library_function("mean_reciprocal_rank", _bundled_mean_reciprocal_rank)
topk_accuracy = _library_function("topk_accuracy", _bundled_topk_accuracy)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Eeg2imgRetrieval(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation=_CITATION, inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Sequence(datasets.Value("float64")),
                                        "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references, gallery_labels=None, ks=(1, 5, 10)):
        predictions, references = np.asarray(predictions, dtype=np.float64), np.asarray(references)
        gallery_labels = None if gallery_labels is None else np.asarray(gallery_labels)
        if gallery_labels is None:
            result = topk_accuracy(predictions, references, ks=ks)
            result["mrr"] = mean_reciprocal_rank(predictions, targets=references)
            return result
        result = class_topk_retrieval(predictions, references, gallery_labels, ks=ks)
        result["mrr"] = mean_reciprocal_rank(predictions, references, gallery_labels)
        result["map"] = mean_average_precision(predictions, references, gallery_labels)
        return result

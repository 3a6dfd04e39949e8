"""Generated-image class accuracy: share of generated images a classifier assigns to their conditioning class.

Metric card: README.md beside this file. Part of eeg2img_hf (`evaluate.load` this folder, or the Hub Space `eeg2img
push-metrics ORG` made). The computation is eeg2img_hf's `eeg2img_hf.metrics.generative.class_accuracy`: with
eeg2img_hf installed and its module the same code as the copy beside this script, the package's own function runs;
otherwise the copy.
"""

import importlib
import inspect
from pathlib import Path

import datasets
import evaluate

# Copy of eeg2img_hf/metrics/generative.py, written beside this script when the module is built.
from .generative import class_accuracy as _bundled_class_accuracy

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
A classifier trained on the real images (eeg2img_hf's "judge") labels every generated image; the accuracy is
the share whose predicted class equals the class of the EEG trial it was conditioned on. Report it with chance
(1 / number of classes) and the same classifier's accuracy on the real images (the ceiling).
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions (`list[int]`): the classifier's class for each generated image.
    references (`list[int]`): the class of the trial each image was conditioned on.
    num_classes (`int`, *optional*): when given, `chance` = 1 / num_classes is returned too.
Returns:
    class_accuracy (`float`): in [0, 1]; chance (`float`) with `num_classes`.
Examples:
    >>> metric = evaluate.load("eeg2img_class_accuracy")
    >>> metric.compute(predictions=[0, 1, 1, 2], references=[0, 1, 2, 2], num_classes=3)
    {'class_accuracy': 0.75, 'chance': 0.3333333333333333}
"""

class_accuracy = _library_function("class_accuracy", _bundled_class_accuracy)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Eeg2imgClassAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation=_CITATION, inputs_description=_KWARGS_DESCRIPTION, format="numpy",
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references, num_classes=None):
        result = {"class_accuracy": class_accuracy(predictions, references)}
        if num_classes is not None:
            result["chance"] = 1.0 / num_classes
        return result

"""`eeg2img push-metrics ORG`: publish the package's `evaluate` metric modules as Hub Spaces.

Each module of [`~eeg2img_hf.metrics.evaluate_modules.EVALUATE_METRICS`] becomes the Space `ORG/<name>` (Gradio
SDK, as `evaluate`'s own metrics) holding the metric script, its metric card (`README.md`), the verbatim copies
of the library modules it computes with, and the two files a metric Space runs: `app.py` (evaluate's widget)
and `requirements.txt`. Afterwards `evaluate.load("ORG/<name>")` loads it from the Hub, without eeg2img_hf.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from huggingface_hub import HfApi

from ..data.loading import check_repo_id
from ..metrics.evaluate_modules import EVALUATE_METRICS, check_copies, evaluate_metric_dir

__all__ = ["prepare_metric_space", "push_metrics"]

_APP = '''import evaluate
from evaluate.utils import launch_gradio_widget

module = evaluate.load("{repo_id}")
launch_gradio_widget(module)
'''
_REQUIREMENTS = "evaluate>=0.4\nnumpy\nscipy\nscikit-learn\ntorch\n"


def prepare_metric_space(name: str, staging: str | Path, repo_id: str) -> list[str]:
    """Write the files of the Space `repo_id` for metric module `name` into `staging`; returns their names.

    Raises:
        `ValueError`: for an unknown metric, or when the folder's copies differ from the library (a broken install).
    """
    folder = evaluate_metric_dir(name)
    stale = [c for c in check_copies() if c.startswith(f"{name}/")]
    if stale:
        raise ValueError(f"the copies {stale} differ from eeg2img_hf.metrics; reinstall eeg2img_hf")
    staging = Path(staging)
    staging.mkdir(parents=True, exist_ok=True)
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix in (".py", ".md"):
            shutil.copyfile(path, staging / path.name)
    (staging / "app.py").write_text(_APP.format(repo_id=repo_id))
    (staging / "requirements.txt").write_text(_REQUIREMENTS)
    return sorted(p.name for p in staging.iterdir())


def push_metrics(
    organization: str,
    names: list[str] | None = None,
    *,
    token: str | None = None,
    private: bool = False,
    commit_message: str | None = None,
) -> dict[str, str]:
    """Create (or update) one Space per metric module under `organization`; returns `{name: Space URL}`.

    Args:
        organization (`str`): Hub user or organisation; the Spaces are `organization/<name>`.
        names (`list[str]`, *optional*): Metric modules to push (default: all of `EVALUATE_METRICS`).
        token (`str`, *optional*): Hub token (default: `HF_TOKEN` or the saved login).
        private (`bool`, *optional*, defaults to `False`): Create the Spaces as private.
        commit_message (`str`, *optional*): Commit message of each upload.
    """
    names = list(EVALUATE_METRICS) if names is None else list(names)
    unknown = sorted(set(names) - set(EVALUATE_METRICS))
    if unknown or not names:
        raise ValueError(f"unknown metric modules {unknown}; choose from {sorted(EVALUATE_METRICS)}")
    for name in names:
        check_repo_id(f"{organization}/{name}")
    api = HfApi(token=token)
    urls = {}
    for name in names:
        repo_id = f"{organization}/{name}"
        with tempfile.TemporaryDirectory(prefix="eeg2img-metric-") as tmp:
            prepare_metric_space(name, tmp, repo_id)
            url = api.create_repo(repo_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
            api.upload_folder(repo_id=repo_id, repo_type="space", folder_path=tmp,
                              commit_message=commit_message or f"Upload the eeg2img_hf metric module {name}")
        urls[name] = str(url)
    return urls

"""`eeg2img push-metrics ORG`: publish the package's `evaluate` metric modules as Hub Spaces.

Each module of [`~eeg2img_hf.metrics.evaluate_modules.EVALUATE_METRICS`] is built
([`~eeg2img_hf.metrics.evaluate_modules.build_metric_module`]: the metric script, its metric card, the library
modules it computes with and its `requirements.txt`) into a temporary folder, which gets the file a metric Space
runs, `app.py` (evaluate's widget), and becomes the Space `ORG/<name>` (Gradio SDK, as `evaluate`'s own metrics).
Afterwards `evaluate.load("ORG/<name>")` loads it from the Hub, without eeg2img_hf.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from huggingface_hub import HfApi

from ..data.loading import check_repo_id
from ..metrics.evaluate_modules import build_metric_module, parse_metric_names

__all__ = ["prepare_metric_space", "push_metrics"]

_APP = '''import evaluate
from evaluate.utils import launch_gradio_widget

module = evaluate.load("{repo_id}")
launch_gradio_widget(module)
'''
_LOCAL_COMMENT = "# the module folder written by `eeg2img build-metrics metrics` (offline; eeg2img_hf not needed):"


def prepare_metric_space(name: str, staging: str | Path, repo_id: str) -> list[str]:
    """Write the files of the Space `repo_id` for metric module `name` into the new or empty folder `staging`;
    returns their names.

    Raises:
        `ValueError`: for an unknown metric, or a `staging` folder that is not empty.
    """
    build_metric_module(name, staging)
    card = Path(staging) / "README.md"
    text = card.read_text(encoding="utf-8")
    local = f'{_LOCAL_COMMENT}\nmetric = evaluate.load("metrics/{name}")\n'
    if local not in text:
        raise ValueError(f"the metric card of {name} lacks its loading example; reinstall eeg2img_hf")
    hub = f'# this Space (eeg2img_hf not needed):\nmetric = evaluate.load("{repo_id}")\n'
    card.write_text(text.replace(local, hub), encoding="utf-8")  # the card on the Hub loads the Space itself
    (Path(staging) / "app.py").write_text(_APP.format(repo_id=repo_id))
    return sorted(p.name for p in Path(staging).iterdir())


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
    names = parse_metric_names(names)
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

"""Push to / pull from the loopback Hub-protocol server with the unmodified official clients.

`huggingface_hub` and `datasets` read `HF_ENDPOINT` at import time, so every client runs in a fresh
subprocess with `hub_server.client_env(...)` and its own `HF_HOME`.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from datasets import DatasetDict, load_from_disk

from eeg2img_hf.data import simulate_dataset
from eeg2img_hf.data.loading import _read_info_file
from eeg2img_hf.hub import push_dataset

REPO_ROOT = Path(__file__).resolve().parents[1]

SUMMARY = r"""
import hashlib, json, sys
import numpy as np
source = sys.argv[1]
if source.startswith("hf://"):
    from eeg2img_hf.data import get_eeg_info, load_eeg_dataset
    ds = load_eeg_dataset(source)
    info = get_eeg_info(ds)
else:
    from datasets import load_dataset
    ds = load_dataset(source)
    info = None
out = {"info": info, "features": {k: str(v) for k, v in ds["train"].features.items()}}
for name, split in ds.items():
    eeg = np.asarray(split.with_format("numpy")["eeg"], dtype=np.float32)
    out[name] = {"n": split.num_rows, "eeg_sha": hashlib.sha256(eeg.tobytes()).hexdigest(),
                 "labels": list(split["label"]), "subjects": list(split["subject"]), "blocks": list(split["block"]),
                 "image_ids": list(split["image_id"]),
                 "pixels_sha": [hashlib.sha256(np.asarray(im).tobytes()).hexdigest() for im in split["image"]]}
from huggingface_hub import hf_hub_download
repo = source.removeprefix("hf://datasets/")
out["readme"] = open(hf_hub_download(repo, "README.md", repo_type="dataset")).read()
print("SUMMARY" + json.dumps(out))
"""

MODEL_ROUNDTRIP = r"""
import json, os, sys
import numpy as np
from huggingface_hub import HfApi, create_repo, hf_hub_download, snapshot_download
from safetensors.numpy import load_file, save_file
folder = sys.argv[1]
os.makedirs(folder, exist_ok=True)
json.dump({"model_type": "eeg2img_eeg_encoder", "hidden_size": 8}, open(os.path.join(folder, "config.json"), "w"))
weights = {"w": np.arange(12, dtype=np.float32).reshape(3, 4)}
save_file(weights, os.path.join(folder, "model.safetensors"))
url = create_repo("org/tiny-model", exist_ok=True)
assert create_repo("org/tiny-model", exist_ok=True).repo_id == "org/tiny-model"
info = HfApi().upload_folder(repo_id="org/tiny-model", folder_path=folder, commit_message="add model")
files = sorted(HfApi().list_repo_files("org/tiny-model"))
snapshot = snapshot_download("org/tiny-model")
def read(base):
    return open(os.path.join(base, "model.safetensors"), "rb").read()
same = read(snapshot) == read(folder)
config = json.load(open(hf_hub_download("org/tiny-model", "config.json", revision=info.oid)))
w = load_file(os.path.join(snapshot, "model.safetensors"))["w"]
print("RESULT" + json.dumps({"url": str(url), "files": files, "same": same, "config": config,
                             "w": w.tolist(), "sha": HfApi().model_info("org/tiny-model").sha, "oid": info.oid}))
"""


def _run(args: list[str], env: dict[str, str], marker: str, keep_marker: bool = False) -> dict:
    full_env = {**os.environ, **env, "OMP_NUM_THREADS": "1", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}
    proc = subprocess.run([sys.executable, *args], env=full_env, capture_output=True, text=True, timeout=180,
                          cwd=REPO_ROOT)
    assert proc.returncode == 0, f"{args[:3]} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    lines = [line for line in proc.stdout.splitlines() if line.startswith(marker)]
    assert lines, f"no {marker} line in output:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return json.loads(lines[-1] if keep_marker else lines[-1][len(marker) :])


def _local_summary(ds: DatasetDict) -> dict:
    out = {}
    for name, split in ds.items():
        eeg = np.asarray(split.with_format("numpy")["eeg"], dtype=np.float32)
        out[name] = {"n": split.num_rows, "eeg_sha": hashlib.sha256(eeg.tobytes()).hexdigest(),
                     "labels": list(split["label"]), "subjects": list(split["subject"]), "blocks": list(split["block"]),
                     "image_ids": list(split["image_id"]),
                     "pixels_sha": [hashlib.sha256(np.asarray(im).tobytes()).hexdigest()
                                    for im in split["image"]]}
    return out


@pytest.fixture(scope="module")
def saved_dataset(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("push") / "sim-thoughtviz"
    simulate_dataset("thoughtviz", n_subjects=2, n_blocks_per_class=1, trials_per_block=3, images_per_class=2,
                     image_size=8, classes=["Apple", "Car", "Dog"]).save_to_disk(str(path))
    return path


@pytest.mark.integration
def test_push_dataset_cli_and_reload_through_official_clients(hub_server, saved_dataset, tmp_path) -> None:
    env = hub_server.client_env(hf_home=tmp_path / "hf-home")
    pushed = _run(["-m", "eeg2img_hf.cli", "push-dataset", str(saved_dataset), "org/sim-tv", "--message", "first push"],
                  env, marker='{"url"', keep_marker=True)
    assert pushed == {"url": f"{hub_server.endpoint}/datasets/org/sim-tv", "repo_id": "org/sim-tv"}
    files = set(_repo_files(hub_server, "org/sim-tv"))
    assert {"README.md", "eeg2img_info.json", ".gitattributes"} <= files
    assert any(f.startswith("data/train-") and f.endswith(".parquet") for f in files)

    local = load_from_disk(str(saved_dataset))
    expected = _local_summary(local)
    # 1. plain datasets.load_dataset in a fresh process and a fresh cache
    plain = _run(["-c", SUMMARY, "org/sim-tv"], hub_server.client_env(hf_home=tmp_path / "hf-plain"), "SUMMARY")
    for split in ("train", "validation", "test"):
        assert plain[split] == expected[split], split
    assert plain["features"]["eeg"] == "Array2D(shape=(14, 32), dtype='float32')"
    assert plain["features"]["label"] == "ClassLabel(names=['Apple', 'Car', 'Dog'])"
    readme = plain["readme"]
    assert "This dataset is simulated" in readme and "## Splits" in readme and "license: mit" in readme
    assert "dataset_info:" in readme and "configs:" in readme  # datasets' metadata kept in our card
    # 2. eeg2img's loader restores the EEG metadata; then again offline from the cache
    env_pkg = hub_server.client_env(hf_home=tmp_path / "hf-pkg")
    online = _run(["-c", SUMMARY, "hf://datasets/org/sim-tv"], env_pkg, "SUMMARY")
    assert online["info"]["name"] == "sim-thoughtviz" and online["info"]["sfreq"] == 128.0
    assert online["info"]["ch_names"][:2] == ["AF3", "F7"] and online["info"]["simulated"] is True
    offline = _run(["-c", SUMMARY, "hf://datasets/org/sim-tv"], {**env_pkg, "HF_HUB_OFFLINE": "1"}, "SUMMARY")
    assert offline == online
    for split in ("train", "validation", "test"):
        assert online[split] == expected[split], split


def _repo_files(hub, repo_id: str, repo_type: str = "datasets") -> list[str]:
    with urllib.request.urlopen(f"{hub.endpoint}/api/{repo_type}/{repo_id}/tree/main?recursive=true") as resp:
        return [e["path"] for e in json.load(resp) if e["type"] == "file"]


@pytest.mark.integration
def test_model_repo_upload_and_download(hub_server, tmp_path) -> None:
    result = _run(["-c", MODEL_ROUNDTRIP, str(tmp_path / "model")],
                  hub_server.client_env(hf_home=tmp_path / "hf-model"), "RESULT")
    assert result["url"].endswith("/org/tiny-model")
    assert result["files"] == [".gitattributes", "config.json", "model.safetensors"]
    assert result["same"] is True and result["sha"] == result["oid"]
    assert result["config"] == {"model_type": "eeg2img_eeg_encoder", "hidden_size": 8}
    assert np.array_equal(np.array(result["w"]), np.arange(12).reshape(3, 4))


def test_server_error_codes(hub_server) -> None:
    def status(url: str) -> tuple[int, str | None]:
        try:
            with urllib.request.urlopen(url) as resp:
                return resp.status, None
        except urllib.error.HTTPError as err:
            return err.code, err.headers.get("X-Error-Code")

    assert status(f"{hub_server.endpoint}/api/datasets/nobody/nothing") == (404, "RepoNotFound")
    hub_server.create_repo("dataset", "org/empty", private=False)
    assert status(f"{hub_server.endpoint}/api/datasets/org/empty/tree/main/data") == (404, "EntryNotFound")
    assert status(f"{hub_server.endpoint}/api/datasets/org/empty/tree/{'0' * 40}") == (404, "RevisionNotFound")
    assert status(f"{hub_server.endpoint}/datasets/org/empty/resolve/main/missing.txt") == (404, "EntryNotFound")
    assert status(f"{hub_server.endpoint}/datasets/org/empty/resolve/main/.gitattributes") == (200, None)
    assert status(f"{hub_server.endpoint}/no/such/route/here") == (404, None)


def test_push_dataset_rejects_bad_input(tmp_path) -> None:
    with pytest.raises(ValueError, match="org/name"):
        push_dataset(tmp_path, "no-namespace")
    with pytest.raises(ValueError, match="not a directory"):
        push_dataset(tmp_path / "missing", "org/x")
    with pytest.raises(ValueError, match="save_to_disk"):
        push_dataset(tmp_path, "org/x")  # an empty folder is not a saved dataset
    with pytest.raises(ValueError, match="DatasetDict"):
        push_dataset(["rows"], "org/x")  # type: ignore[arg-type]


def test_info_file_must_be_eeg2img_json(tmp_path) -> None:
    bad = tmp_path / "eeg2img_info.json"
    bad.write_text("not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        _read_info_file(str(bad), "org/x")
    bad.write_text(json.dumps({"other": 1}))
    with pytest.raises(ValueError, match="'eeg2img' object"):
        _read_info_file(str(bad), "org/x")
    bad.write_text(json.dumps({"eeg2img": {"name": "x"}}))
    assert _read_info_file(str(bad), "org/x") == {"name": "x"}

"""Nothing lost, every error clear: the `eeg2img` CLI on bad inputs and on outputs that would destroy data.

Every bad-input case runs `eeg2img_hf.cli.main` in-process and checks exit status 2, no traceback, at most two
lines on stderr (progress bars aside) that name the file or argument and the problem. The data-loss cases point
every folder-writing command at the folder of its own inputs and at a folder of foreign files (with `--overwrite`
or `--resume` where the command has one) and check that every file keeps its bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from eeg2img_hf.cli import main
from eeg2img_hf.data import simulate_dataset
from eeg2img_hf.models import (
    EEGEncoderConfig,
    EEGEncoderModel,
    EEGStyleGANConfig,
    EEGStyleGANModel,
    ImageToEEGConfig,
    ImageToEEGModel,
)
from eeg2img_hf.models.eeg_clip import EEGClipConfig, EEGClipModel
from eeg2img_hf.utils.errors import Eeg2ImgError
from eeg2img_hf.utils.outputs import MARKER_NAME, create_output_dir, write_marker

N_CHANS, N_TIMES = 14, 32
CHANNELS = ",".join(f"C{i}" for i in range(N_CHANS))


# --------------------------------------------------------------------------------------------------
# Fixtures: tiny models of every family, a tiny dataset, images, EEG arrays


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Path:
    import datasets

    datasets.disable_progress_bars()
    root = tmp_path_factory.mktemp("bad-inputs")
    torch.manual_seed(0)
    enc_config = EEGEncoderConfig(n_chans=N_CHANS, n_times=N_TIMES, lstm_num_layers=1, lstm_hidden_size=10,
                                  embed_dim=12)
    models = {
        "encoder": EEGEncoderModel(enc_config),
        "gan": EEGStyleGANModel(EEGStyleGANConfig.from_preset("tiny", encoder_config=enc_config)),
        "clip": EEGClipModel(EEGClipConfig.from_preset("tiny", encoder_config={"n_chans": N_CHANS})),
        "i2e": ImageToEEGModel(ImageToEEGConfig.from_preset("tiny", eeg_embed_dim=12)),
    }
    for name, model in models.items():
        model.save_pretrained(root / name)
    simulate_dataset("thoughtviz", n_subjects=1, trials_per_block=3, image_size=8).save_to_disk(str(root / "data"))
    images = root / "images"
    images.mkdir()
    for i in range(2):
        Image.new("RGB", (8, 8), (90 * i, 20, 0)).save(images / f"stim{i}.png")
    (images / "map.json").write_text(json.dumps({"0": "stim0.png", "1": "stim1.png"}))
    rng = np.random.default_rng(0)
    np.savez(root / "trials.npz", eeg=rng.normal(size=(8, N_CHANS, N_TIMES)), labels=np.arange(8) % 2)
    np.save(root / "trial.npy", rng.normal(size=(N_CHANS, N_TIMES)).astype(np.float32))
    return root


def _copy(env: Path, name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(env / name, target)
    return target


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _error_lines(err: str) -> list[str]:
    """stderr without progress-bar lines (tqdm writes carriage returns)."""
    return [line for line in err.splitlines() if line.strip() and "\r" not in line and "%|" not in line]


def _byo(env: Path, out: Path, arrays: Path | None = None, images: Path | None = None, *extra: str) -> list[str]:
    return ["convert", "byo", "--arrays", str(arrays or env / "trials.npz"), "--images",
            str(images or env / "images" / "map.json"), str(out), "--sfreq", "100", "--ch-names", CHANNELS,
            "--class-names", "a,b", *extra]


def _generate(model: Path, env: Path, tmp_path: Path, *source: str) -> list[str]:
    source = source or ("--dataset", str(env / "data"))
    return ["generate", str(model), *source, "--classes", "2", "--trials-per-class", "1", "--device", "cpu",
            "--output-dir", str(tmp_path / "grids")]


# --------------------------------------------------------------------------------------------------
# Bad model folders


def _gan_truncated(env, tmp):
    model = _copy(env, "gan", tmp)
    _truncate(model / "model.safetensors")
    return _generate(model, env, tmp), ["model.safetensors", "truncated"]


def _gan_garbage_weights(env, tmp):
    model = _copy(env, "gan", tmp)
    (model / "model.safetensors").write_bytes(os.urandom(64))
    return _generate(model, env, tmp), ["model.safetensors", "not a safetensors file"]


def _gan_tiny_weights_file(env, tmp):
    model = _copy(env, "gan", tmp)
    (model / "model.safetensors").write_bytes(b"\x01\x02")
    return _generate(model, env, tmp), ["model.safetensors", "only 2 bytes"]


def _gan_config_not_json(env, tmp):
    model = _copy(env, "gan", tmp)
    (model / "config.json").write_text('{"model_type": "eeg2img_stylegan", ')
    return _generate(model, env, tmp), ["config.json", "not valid JSON"]


def _gan_config_not_object(env, tmp):
    model = _copy(env, "gan", tmp)
    (model / "config.json").write_text("[1, 2]")
    return _generate(model, env, tmp), ["config.json", "JSON object"]


def _gan_other_model_type(env, tmp):
    return _generate(env / "encoder", env, tmp), ["encoder", "EEG encoder", "expected an EEGStyleGAN"]


def _gan_foreign_model_type(env, tmp):
    model = _copy(env, "gan", tmp)
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "model_type": "bert"}))
    return _generate(model, env, tmp), ["'bert'", "expected an EEGStyleGAN"]


def _gan_no_config(env, tmp):
    model = _copy(env, "gan", tmp)
    (model / "config.json").unlink()
    return _generate(model, env, tmp), ["gan", "no config.json"]


def _gan_pickle_weights_only(env, tmp):
    model = _copy(env, "gan", tmp)
    (model / "model.safetensors").unlink()
    (model / "pytorch_model.bin").write_bytes(b"\x80\x04not really")
    return _generate(model, env, tmp), ["pytorch_model.bin", "only safetensors"]


def _gan_no_weights(env, tmp):
    model = _copy(env, "gan", tmp)
    (model / "model.safetensors").unlink()
    return _generate(model, env, tmp), ["gan", "no model.safetensors"]


def _gan_missing_tensor(env, tmp):
    model = _copy(env, "gan", tmp)
    tensors = load_file(model / "model.safetensors")
    dropped = sorted(tensors)[0]
    save_file({k: v for k, v in tensors.items() if k != dropped}, model / "model.safetensors")
    return _generate(model, env, tmp), ["missing tensors", dropped]


def _gan_unexpected_tensor(env, tmp):
    model = _copy(env, "gan", tmp)
    tensors = load_file(model / "model.safetensors")
    save_file({**tensors, "extra.weight": torch.zeros(2)}, model / "model.safetensors")
    return _generate(model, env, tmp), ["unexpected tensors", "extra.weight"]


def _gan_config_does_not_fit(env, tmp):
    model = _copy(env, "gan", tmp)
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({"model_type": config["model_type"]}))  # every other key missing
    return _generate(model, env, tmp), ["gan", "do not fit its config.json"]


def _gan_missing_folder(env, tmp):
    return _generate(tmp / "nowhere", env, tmp), ["nowhere", "no such model folder"]


def _gan_file_as_folder(env, tmp):
    return _generate(env / "gan" / "model.safetensors", env, tmp), ["model.safetensors", "is a file"]


def _gan_sharded_index_missing_shard(env, tmp):
    model = _copy(env, "gan", tmp)
    (model / "model.safetensors").unlink()
    index = {"weight_map": {"x": "model-00001-of-00002.safetensors"}}
    (model / "model.safetensors.index.json").write_text(json.dumps(index))
    return _generate(model, env, tmp), ["model-00001-of-00002.safetensors", "lacks the weight shards"]


def _evaluate_encoder_clip_folder(env, tmp):
    return ["evaluate-encoder", str(env / "clip"), "--dataset", str(env / "data"), "--no-tsne"], \
        ["clip", "EEGClip", "expected an EEG encoder"]


def _evaluate_encoder_shape_mismatch(env, tmp):
    model = _copy(env, "encoder", tmp)
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "lstm_hidden_size": 11}))
    return ["evaluate-encoder", str(model), "--dataset", str(env / "data"), "--no-tsne"], \
        ["encoder", "another shape", "tower.lstm"]


def _evaluate_gan_encoder_folder(env, tmp):
    return ["evaluate-gan", str(env / "encoder"), "--dataset", str(env / "data"), "--num-fakes", "4"], \
        ["encoder", "expected an EEGStyleGAN"]


def _evaluate_gan_truncated(env, tmp):
    model = _copy(env, "gan", tmp)
    _truncate(model / "model.safetensors", 0.9)
    return ["evaluate-gan", str(model), "--dataset", str(env / "data"), "--num-fakes", "4"], \
        ["model.safetensors", "truncated"]


def _evaluate_gan_bad_judge(env, tmp):
    judge = tmp / "judge"
    judge.mkdir()
    (judge / "image_classifier.json").write_text("{oops")
    (judge / "model.safetensors").write_bytes(b"")
    return ["evaluate-gan", str(env / "gan"), "--dataset", str(env / "data"), "--num-fakes", "4", "--classifier",
            str(judge), "--output", str(tmp / "r.json")], ["image_classifier.json", "not a valid image classifier"]


def _evaluate_clip_gan_folder(env, tmp):
    return ["evaluate-clip", str(env / "gan"), "--dataset", str(env / "data")], ["gan", "expected an EEGClip"]


def _evaluate_clip_pickle_weights(env, tmp):
    model = _copy(env, "clip", tmp)
    (model / "model.safetensors").unlink()
    (model / "model.pt").write_bytes(b"\x80\x04")
    return ["evaluate-clip", str(model), "--dataset", str(env / "data")], ["model.pt", "eeg2img convert-checkpoint"]


def _evaluate_reconstruction_encoder_folder(env, tmp):
    return ["evaluate-reconstruction", str(env / "encoder"), "--generator", str(env / "gan"), "--dataset",
            str(env / "data"), "--judge", str(tmp)], ["encoder", "expected an image -> EEG model"]


def _evaluate_reconstruction_bad_generator(env, tmp):
    return ["evaluate-reconstruction", str(env / "i2e"), "--generator", str(env / "clip"), "--dataset",
            str(env / "data"), "--judge", str(tmp)], ["--generator", "clip", "expected an EEGStyleGAN"]


def _build_gallery_encoder_folder(env, tmp):
    return ["build-gallery", str(env / "encoder"), str(env / "images"), "--output", str(tmp / "g.safetensors")], \
        ["encoder", "expected an EEGClip"]


def _build_gallery_corrupt_header(env, tmp):
    model = _copy(env, "clip", tmp)
    data = (model / "model.safetensors").read_bytes()
    (model / "model.safetensors").write_bytes(data[:8] + b"\xff" * 16 + data[24:])
    return ["build-gallery", str(model), str(env / "images"), "--output", str(tmp / "g.safetensors")], \
        ["model.safetensors", "not a safetensors file"]


def _train_gan_clip_encoder(env, tmp):
    return ["train-gan", "--preset", "tiny", "--encoder", str(env / "clip"), "--dataset", str(env / "data"),
            "--output-dir", str(tmp / "run")], ["encoder", "EEGClip", "expected an EEG encoder"]


def _train_gan_truncated_encoder(env, tmp):
    model = _copy(env, "encoder", tmp)
    _truncate(model / "model.safetensors")
    return ["train-gan", "--preset", "tiny", "--encoder", str(model), "--dataset", str(env / "data"),
            "--output-dir", str(tmp / "run")], ["encoder/model.safetensors", "truncated"]


def _train_gan_negative_class_loss_weight(env, tmp):
    return ["train-gan", "--preset", "tiny", "--conditioning", "onehot", "--dataset", str(env / "data"),
            "--output-dir", str(tmp / "run"), "--class-loss-weight", "-0.5"], ["class_loss_weight", ">= 0"]


def _train_clip_gan_encoder(env, tmp):
    return ["train-clip", "--preset", "cpu-small", "--encoder", str(env / "gan"), "--dataset", str(env / "data"),
            "--output-dir", str(tmp / "run")], ["gan", "expected an EEG encoder"]


def _train_image_to_eeg_clip_encoder(env, tmp):
    return ["train-image-to-eeg", "--preset", "tiny", "--encoder", str(env / "clip"), "--dataset",
            str(env / "data"), "--output-dir", str(tmp / "run")], ["--encoder", "expected an EEG encoder"]


def _push_pickle_weights(env, tmp):
    model = _copy(env, "encoder", tmp)
    (model / "model.safetensors").unlink()
    (model / "pytorch_model.bin").write_bytes(b"\x80\x04")
    return ["push", str(model), "org/encoder"], ["pytorch_model.bin", "only safetensors"]


def _push_config_not_json(env, tmp):
    model = _copy(env, "encoder", tmp)
    (model / "config.json").write_text("not json")
    return ["push", str(model), "org/encoder"], ["config.json", "not valid JSON"]


def _push_offline(env, tmp):
    return ["push", str(env / "encoder"), "org/encoder"], ["offline", "HF_HUB_OFFLINE"]


def _push_dataset_offline(env, tmp):
    return ["push-dataset", str(env / "data"), "org/data"], ["offline", "HF_HUB_OFFLINE"]


def _push_metrics_offline(env, tmp):
    return ["push-metrics", "org"], ["offline", "HF_HUB_OFFLINE"]


# --------------------------------------------------------------------------------------------------
# Bad input files


def _byo_truncated_npz(env, tmp):
    shutil.copy(env / "trials.npz", tmp / "trials.npz")
    _truncate(tmp / "trials.npz")
    return _byo(env, tmp / "out", tmp / "trials.npz"), ["trials.npz"]


def _byo_plain_npy(env, tmp):
    return _byo(env, tmp / "out", env / "trial.npy"), ["--arrays", "trial.npy", ".npz"]


def _byo_npz_without_eeg(env, tmp):
    np.savez(tmp / "x.npz", labels=np.arange(4))
    return _byo(env, tmp / "out", tmp / "x.npz"), ["x.npz", "eeg"]


def _byo_missing_arrays(env, tmp):
    return _byo(env, tmp / "out", tmp / "absent.npz"), ["absent.npz"]


def _byo_mapping_not_json(env, tmp):
    (tmp / "map.json").write_text("{0: stim0.png")
    return _byo(env, tmp / "out", None, tmp / "map.json"), ["map.json", "not a JSON file"]


def _byo_mapping_missing_image(env, tmp):
    (tmp / "map.json").write_text(json.dumps({"0": "gone.png", "1": "gone.png"}))
    return _byo(env, tmp / "out", None, tmp / "map.json"), ["gone.png", "does not exist"]


def _byo_corrupt_image(env, tmp):
    (tmp / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    (tmp / "map.json").write_text(json.dumps({"0": "bad.png", "1": "bad.png"}))
    return _byo(env, tmp / "out", None, tmp / "map.json"), ["bad.png", "not a readable image"]


def _byo_decompression_bomb(env, tmp):
    Image.new("RGB", (64, 64)).save(tmp / "bomb.png")  # 4096 pixels > 2 x the lowered limit: an error
    (tmp / "map.json").write_text(json.dumps({"0": "bomb.png", "1": "bomb.png"}))
    return _byo(env, tmp / "out", None, tmp / "map.json"), ["bomb.png", "decompression bomb"]


def _byo_decompression_bomb_warning(env, tmp):
    Image.new("RGB", (40, 40)).save(tmp / "big.png")  # 1600 pixels: above the lowered limit (a warning in PIL)
    (tmp / "map.json").write_text(json.dumps({"0": "big.png", "1": "big.png"}))
    return _byo(env, tmp / "out", None, tmp / "map.json"), ["big.png", "decompression bomb"]


def _gallery_decompression_bomb(env, tmp):
    folder = tmp / "pictures"
    folder.mkdir()
    Image.new("RGB", (64, 64)).save(folder / "bomb.png")
    return ["build-gallery", str(env / "clip"), str(folder), "--output", str(tmp / "g.safetensors")], \
        ["bomb.png", "decompression bomb"]


def _gallery_corrupt_image(env, tmp):
    folder = tmp / "pictures"
    folder.mkdir()
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff" + b"\0" * 10)
    return ["build-gallery", str(env / "clip"), str(folder), "--output", str(tmp / "g.safetensors")], \
        ["broken.jpg", "not a readable image"]


def _generate_eeg_truncated(env, tmp):
    shutil.copy(env / "trial.npy", tmp / "trial.npy")
    _truncate(tmp / "trial.npy")
    return _generate(env / "gan", env, tmp, "--eeg", str(tmp / "trial.npy")), ["trial.npy"]


def _generate_eeg_pickled(env, tmp):
    np.save(tmp / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return _generate(env / "gan", env, tmp, "--eeg", str(tmp / "objects.npy")), ["objects.npy", "pickle"]


def _generate_eeg_missing(env, tmp):
    return _generate(env / "gan", env, tmp, "--eeg", str(tmp / "nothing.npy")), ["nothing.npy"]


def _generate_missing_dataset(env, tmp):
    return _generate(env / "gan", env, tmp, "--dataset", str(tmp / "no_data")), ["no_data"]


def _preprocess_corrupt_dataset_dict(env, tmp):
    data = _copy(env, "data", tmp)
    (data / "dataset_dict.json").write_text("{")
    return ["preprocess", str(data), "--output", str(tmp / "out"), "--zscore"], ["data"]


def _split_plain_folder(env, tmp):
    (tmp / "notes").mkdir()
    (tmp / "notes" / "a.txt").write_text("x")
    return ["split", str(tmp / "notes"), "--strategy", "paper", "--output", str(tmp / "out")], ["notes"]


def _convert_checkpoint_truncated_pth(env, tmp):
    (tmp / "encoder.pth").write_bytes(b"PK\x03\x04" + b"\0" * 30)
    return ["convert-checkpoint", "encoder", str(tmp / "encoder.pth"), str(tmp / "out")], ["encoder.pth"]


def _convert_checkpoint_not_a_pickle(env, tmp):
    (tmp / "snapshot.pkl").write_text("this is not a pickle")
    return ["convert-checkpoint", "stylegan", str(tmp / "snapshot.pkl"), str(tmp / "out")], ["snapshot.pkl"]


def _convert_checkpoint_folder_as_file(env, tmp):
    return ["convert-checkpoint", "encoder", str(tmp), str(tmp / "out")], [str(tmp), "folder"]


# --------------------------------------------------------------------------------------------------
# Refused outputs


def _byo_output_is_file(env, tmp):
    (tmp / "out").write_text("x")
    return _byo(env, tmp / "out"), ["output_dir", "not a folder"]


def _byo_output_is_input_folder(env, tmp):
    return _byo(env, env / "images", None, None, "--overwrite"), ["output_dir", "input --images"]


def _byo_output_foreign(env, tmp):
    (tmp / "thesis").mkdir()
    (tmp / "thesis" / "thesis.tex").write_text("chapter 1")
    return _byo(env, tmp / "thesis", None, None, "--overwrite"), ["thesis", "not written by eeg2img_hf"]


def _preprocess_output_is_file(env, tmp):
    (tmp / "out").write_text("x")
    return ["preprocess", str(env / "data"), "--output", str(tmp / "out"), "--zscore"], ["--output", "not a folder"]


def _split_output_inside_input(env, tmp):
    return ["split", str(env / "data"), "--strategy", "paper", "--output", str(env / "data" / "resplit"),
            "--overwrite"], ["--output", "inside the input dataset"]


def _simulate_output_foreign(env, tmp):
    (tmp / "mine").mkdir()
    (tmp / "mine" / "notes.md").write_text("notes")
    return ["simulate", "thoughtviz", "--output", str(tmp / "mine")], ["mine", "not written by eeg2img_hf"]


def _convert_checkpoint_output_is_file(env, tmp):
    (tmp / "encoder.pth").write_bytes(b"x")
    (tmp / "out").write_text("x")
    return ["convert-checkpoint", "encoder", str(tmp / "encoder.pth"), str(tmp / "out")], ["out", "not a folder"]


def _train_encoder_output_foreign(env, tmp):
    (tmp / "run").mkdir()
    (tmp / "run" / "data.csv").write_text("1,2")
    return ["train-encoder", "--dataset", str(env / "data"), "--output-dir", str(tmp / "run"), "--resume"], \
        ["output_dir", "not written by eeg2img_hf"]


def _quickstart_output_foreign(env, tmp):
    (tmp / "q").mkdir()
    (tmp / "q" / "photo.jpg").write_bytes(b"\xff\xd8")
    return ["quickstart", "--fast", "--output-dir", str(tmp / "q")], ["--output-dir", "not written by eeg2img_hf"]


def _generate_output_is_file(env, tmp):
    argv = _generate(env / "gan", env, tmp)
    (tmp / "grids").write_text("x")
    return argv, ["--output-dir", "not a folder"]


def _gallery_output_is_folder(env, tmp):
    return ["build-gallery", str(env / "clip"), str(env / "images"), "--output", str(tmp)], \
        ["--output", "existing folder"]


def _gallery_output_is_model_weights(env, tmp):
    model = _copy(env, "clip", tmp)
    return ["build-gallery", str(model), str(env / "images"), "--output", str(model / "model.safetensors"),
            "--overwrite"], ["--output", "inside the input model"]


def _evaluate_encoder_output_is_weights(env, tmp):
    model = _copy(env, "encoder", tmp)
    return ["evaluate-encoder", str(model), "--dataset", str(env / "data"), "--no-tsne", "--output",
            str(model / "model.safetensors")], ["model.safetensors", ".json"]


def _evaluate_encoder_output_is_config(env, tmp):
    model = _copy(env, "encoder", tmp)
    return ["evaluate-encoder", str(model), "--dataset", str(env / "data"), "--no-tsne", "--output",
            str(model / "config.json")], ["config.json", "model, dataset or run folder"]


def _evaluate_gan_output_is_foreign_json(env, tmp):
    (tmp / "notes.json").write_text("[1, 2, 3]")
    return ["evaluate-gan", str(env / "gan"), "--dataset", str(env / "data"), "--output", str(tmp / "notes.json")], \
        ["notes.json", "not a json result"]


def _evaluate_clip_output_is_weights(env, tmp):
    model = _copy(env, "clip", tmp)
    argv = ["evaluate-clip", str(model), "--dataset", str(env / "data"), "--output", str(model / "model.safetensors")]
    return argv, ["model.safetensors", ".json"]


# --------------------------------------------------------------------------------------------------
# Checkpoint kinds and pickles: every cross-kind pairing is refused naming the kind it looks like, every refusal
# names the file, and no refusal repeats torch's advice to load a pickle unsafely


_LSTM = {"lstm.weight_ih_l0": (40, N_CHANS), "lstm.weight_hh_l0": (40, 10), "lstm.bias_ih_l0": (40,),
         "lstm.bias_hh_l0": (40,), "fc.weight": (12, 10)}
_KIND_STATES = {
    "encoder": _LSTM,
    "eeg-clip": {**{f"eeg_encoder.{k}": v for k, v in _LSTM.items()}, "image_encoder.conv1.weight": (8, 3, 7, 7),
                 "image_encoder.layer1.0.conv1.weight": (8, 8, 3, 3)},
    "image-to-eeg": {"encoder.conv1.conv.weight": (8, 3, 7, 7), "encoder.inception3a.branch1.conv.weight": (4, 8, 1, 1),
                     "fc1.weight": (6, 1024)},
}
_KIND_WORDS = {"encoder": "EEG encoder", "eeg-clip": "EEGClip", "image-to-eeg": "image -> EEG"}


class _Evil:
    def __reduce__(self):
        return os.system, ("true",)


def _pth(path: Path, shapes: dict[str, tuple[int, ...]], extra: object = None) -> Path:
    torch.manual_seed(0)
    content = {"epoch": 1, "model_state_dict": {name: torch.randn(*shape) for name, shape in shapes.items()}}
    if extra is not None:
        content["extra"] = extra
    torch.save(content, path)
    return path


def _convert_argv(kind: str, checkpoint: Path, tmp: Path) -> list[str]:
    return ["convert-checkpoint", kind, str(checkpoint), str(tmp / "out"), *(["--n-chans", "14"] if kind in (
        "encoder",) else [])]


def _cross_kind_case(given: str, found: str):
    def case(env, tmp):
        checkpoint = _pth(tmp / f"{found}.pth", _KIND_STATES[found])
        return _convert_argv(given, checkpoint, tmp), [f"{found}.pth", f"looks like an {_KIND_WORDS[found]}",
                                                       f"not an {_KIND_WORDS[given]}", repr(found)]
    return case


for _given in _KIND_STATES:
    for _found in _KIND_STATES:
        if _given != _found:
            globals()[f"_convert_checkpoint_{_found}_pth_as_{_given}".replace("-", "_")] = _cross_kind_case(_given,
                                                                                                           _found)


def _snapshot_as_pth_case(kind: str):
    def case(env, tmp):
        (tmp / "network-snapshot-000100.pkl").write_bytes(pickle.dumps({"G": {}, "D": {}}, protocol=4))
        return _convert_argv(kind, tmp / "network-snapshot-000100.pkl", tmp), [
            "network-snapshot-000100.pkl", "plain python pickle", "not a torch.save file"]
    return case


def _pth_as_snapshot_case(kind: str):
    def case(env, tmp):
        checkpoint = _pth(tmp / "encoder.pth", _LSTM)
        return _convert_argv(kind, checkpoint, tmp), ["encoder.pth", "zip archive", "kind encoder, eeg-clip"]
    return case


def _unsafe_pth_case(kind: str):
    def case(env, tmp):
        checkpoint = _pth(tmp / "evil.pth", _KIND_STATES[kind], extra=_Evil())
        return _convert_argv(kind, checkpoint, tmp), ["evil.pth", "refused for safety", "system"]
    return case


for _kind in _KIND_STATES:
    _name = _kind.replace("-", "_")
    globals()[f"_convert_checkpoint_snapshot_pkl_as_{_name}"] = _snapshot_as_pth_case(_kind)
    globals()[f"_convert_checkpoint_unsafe_pth_as_{_name}"] = _unsafe_pth_case(_kind)
for _kind in ("stylegan", "stylegan-snapshot"):
    globals()[f"_convert_checkpoint_pth_as_{_kind.replace('-', '_')}"] = _pth_as_snapshot_case(_kind)


def _convert_checkpoint_unsafe_snapshot(env, tmp):
    (tmp / "network-snapshot-000001.pkl").write_bytes(pickle.dumps({"G_ema": _Evil()}, protocol=4))
    return _convert_argv("stylegan", tmp / "network-snapshot-000001.pkl", tmp), [
        "network-snapshot-000001.pkl", "refused for safety", "system"]


def _convert_checkpoint_unknown_layout_as_encoder(env, tmp):
    checkpoint = _pth(tmp / "odd.pth", {"head.weight": (3, 4)})
    return _convert_argv("encoder", checkpoint, tmp), ["odd.pth", "no LSTM"]


def _convert_checkpoint_unknown_layout_as_eeg_clip(env, tmp):
    checkpoint = _pth(tmp / "odd.pth", {"head.weight": (3, 4)})
    return _convert_argv("eeg-clip", checkpoint, tmp), ["odd.pth", "ResNet"]


def _convert_checkpoint_unknown_layout_as_image_to_eeg(env, tmp):
    checkpoint = _pth(tmp / "odd.pth", {"head.weight": (3, 4)})
    return _convert_argv("image-to-eeg", checkpoint, tmp), ["odd.pth", "GoogLeNet"]


def _convert_checkpoint_overwrite_own_model_holding_user_files(env, tmp):
    out = _copy(env, "encoder", tmp)
    write_marker(out, command="convert-checkpoint encoder", kind="model")
    (out / "my_notes.md").write_text("mine")
    (out / "results_by_hand.csv").write_text("a,b\n")
    checkpoint = _pth(tmp / "encoder.pth", _LSTM)
    return ["convert-checkpoint", "encoder", str(checkpoint), str(out), "--overwrite"], [
        "did not write", "my_notes.md", "results_by_hand.csv"]


# --------------------------------------------------------------------------------------------------
# Run folders: one run per folder, resumes with the recorded settings, honest precision, finished models


def _fake_run(tmp: Path, args_class: type, preset: str, **fields) -> Path:
    """A run folder as a trainer leaves it once it has written its arguments and a checkpoint."""
    run = tmp / "run"
    create_output_dir(run, command="train", kind="run")
    args_class.from_preset(preset, output_dir=str(run), **fields).save(run / "training_args.json")
    (run / "checkpoints" / "step_00000001").mkdir(parents=True)
    return run


def _trainer_argv(trainer: str, env: Path, run: Path) -> tuple[list[str], type, str, dict]:
    """The command line of a trainer and the arguments class, preset and fields it builds from them."""
    from eeg2img_hf.training import (
        ClipTrainingArguments,
        EncoderTrainingArguments,
        GANTrainingArguments,
        ImageToEEGTrainingArguments,
    )

    data, encoder = str(env / "data"), str(env / "encoder")
    if trainer == "train-encoder":
        return ["--dataset", data], EncoderTrainingArguments, "cpu-small", {"dataset": data}
    if trainer == "train-gan":
        return (["--preset", "tiny", "--encoder", encoder, "--dataset", data], GANTrainingArguments, "tiny",
                {"encoder": encoder, "dataset": data})
    if trainer == "train-clip":
        return ["--dataset", data], ClipTrainingArguments, "cpu-small", {"dataset": data}
    return (["--preset", "tiny", "--encoder", encoder, "--dataset", data], ImageToEEGTrainingArguments, "tiny",
            {"encoder": encoder, "dataset": data})


TRAINERS = ("train-encoder", "train-gan", "train-clip", "train-image-to-eeg")


def _run_case(trainer: str, extra: list[str], expected: list[str]):
    def case(env, tmp):
        options, args_class, preset, fields = _trainer_argv(trainer, env, tmp / "run")
        run = _fake_run(tmp, args_class, preset, **fields)
        return [trainer, *options, "--output-dir", str(run), *extra], expected
    return case


def _fp16_case(trainer: str):
    def case(env, tmp):
        if torch.cuda.is_available():
            pytest.skip("fp16 runs on a GPU")
        options, *_ = _trainer_argv(trainer, env, tmp / "run")
        return [trainer, *options, "--output-dir", str(tmp / "new"), "--mixed-precision", "fp16"], [
            "--mixed-precision fp16 needs a GPU", "bf16"]
    return case


for _trainer in TRAINERS:
    _name = _trainer.replace("-", "_")
    globals()[f"_{_name}_rerun_without_resume"] = _run_case(
        _trainer, [], ["already holds a training run", "--resume", "--overwrite"])
    globals()[f"_{_name}_resume_with_another_batch_size"] = _run_case(
        _trainer, ["--resume", "--batch-size", "6"], ["--resume", "other settings", "batch_size", "now 6"])
    globals()[f"_{_name}_resume_with_another_learning_rate"] = _run_case(
        _trainer, ["--resume", "--lr", "0.05"], ["other settings", "learning_rate", "now 0.05"])
    globals()[f"_{_name}_resume_with_another_precision"] = _run_case(
        _trainer, ["--resume", "--mixed-precision", "bf16"], ["other settings", "mixed_precision", "now 'bf16'"])
    globals()[f"_{_name}_resume_and_overwrite"] = _run_case(
        _trainer, ["--resume", "--overwrite"], ["--resume", "--overwrite", "exclude each other"])
    globals()[f"_{_name}_fp16_on_cpu"] = _fp16_case(_trainer)


def _train_encoder_resume_with_another_dataset(env, tmp):
    argv, expected = _run_case("train-encoder", [], [])(env, tmp)
    other = _copy(env, "data", tmp)
    argv[argv.index("--dataset") + 1] = str(other)
    return [*argv, "--resume"], ["other settings", "dataset", str(other)]


def _train_encoder_resume_with_another_architecture(env, tmp):
    return _run_case("train-encoder", ["--resume", "--architecture", "cnn"], ["other settings", "architecture"])(
        env, tmp)


def _train_encoder_resume_read_only_run(env, tmp):
    argv, _ = _run_case("train-encoder", ["--resume"], [])(env, tmp)
    (tmp / "run").chmod(0o555)
    return argv, ["run", "not writable", "chmod"]


def _train_encoder_overwrite_run_holding_user_files(env, tmp):
    argv, _ = _run_case("train-encoder", ["--overwrite"], [])(env, tmp)
    (tmp / "run" / "my_notes.md").write_text("mine")
    return argv, ["did not write", "my_notes.md"]


def _unfinished_model(env: Path, tmp: Path, name: str) -> Path:
    """The `model` folder of a run killed after its first model selection (no training record)."""
    run = tmp / "run"
    create_output_dir(run, command="train", kind="run")
    (run / "training_args.json").write_text("{}")
    shutil.copytree(env / name, run / "model")
    return run / "model"


_UNFINISHED = ["has not finished", "--allow-unfinished"]


def _evaluate_encoder_unfinished_model(env, tmp):
    return ["evaluate-encoder", str(_unfinished_model(env, tmp, "encoder")), "--dataset", str(env / "data"),
            "--no-tsne"], _UNFINISHED


def _evaluate_gan_unfinished_model(env, tmp):
    return ["evaluate-gan", str(_unfinished_model(env, tmp, "gan")), "--dataset", str(env / "data"), "--num-fakes",
            "4"], _UNFINISHED


def _evaluate_clip_unfinished_model(env, tmp):
    return ["evaluate-clip", str(_unfinished_model(env, tmp, "clip")), "--dataset", str(env / "data")], _UNFINISHED


def _evaluate_reconstruction_unfinished_model(env, tmp):
    return ["evaluate-reconstruction", str(_unfinished_model(env, tmp, "i2e")), "--dataset", str(env / "data"),
            "--judge", str(env / "encoder")], _UNFINISHED


def _generate_unfinished_model(env, tmp):
    return _generate(_unfinished_model(env, tmp, "gan"), env, tmp), _UNFINISHED


def _build_gallery_unfinished_model(env, tmp):
    return ["build-gallery", str(_unfinished_model(env, tmp, "clip")), str(env / "images"), "--output",
            str(tmp / "gallery.safetensors")], _UNFINISHED


def _image_features_unfinished_model(env, tmp):
    return ["image-features", "--dataset", str(env / "data"), "--output", str(tmp / "features.safetensors"),
            "--model", str(_unfinished_model(env, tmp, "clip"))], _UNFINISHED


def _push_unfinished_model(env, tmp):
    return ["push", str(_unfinished_model(env, tmp, "encoder")), "org/encoder"], _UNFINISHED


# --------------------------------------------------------------------------------------------------
# Vision towers: the folder and the problem


def _tower(tmp: Path, kind: str) -> Path:
    """A tiny transformers checkpoint: a text model, or a ResNet whose weights have other shapes than its config,
    or whose weights file is truncated."""
    from transformers import BertConfig, BertModel, ResNetConfig, ResNetModel

    folder = tmp / kind
    torch.manual_seed(0)
    if kind == "bert":
        BertModel(BertConfig(vocab_size=20, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                             intermediate_size=8)).save_pretrained(folder)
        return folder
    ResNetModel(ResNetConfig(embedding_size=8, hidden_sizes=[8, 12], depths=[1, 1], layer_type="basic")
                ).save_pretrained(folder)
    if kind == "reshaped":
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, "hidden_sizes": [8, 16]}))
    else:
        _truncate(folder / "model.safetensors", 0.6)
    return folder


def _tower_case(trainer: str, tower: str, expected: list[str]):
    def case(env, tmp):
        folder = _tower(tmp, tower)
        options, *_ = _trainer_argv(trainer, env, tmp / "run")
        return [trainer, *options, "--model-preset", "tiny", "--vision-model", str(folder), "--output-dir",
                str(tmp / "run"), "--epochs", "1", "--batch-size", "4"], [str(folder), *expected]
    return case


for _trainer in ("train-clip", "train-image-to-eeg"):
    _name = _trainer.replace("-", "_")
    globals()[f"_{_name}_text_model_as_vision_tower"] = _tower_case(_trainer, "bert", ["not a vision model"])
    globals()[f"_{_name}_vision_tower_of_other_shapes"] = _tower_case(_trainer, "reshaped", ["other shapes"])
    globals()[f"_{_name}_corrupt_vision_tower"] = _tower_case(_trainer, "corrupt", ["corrupt or truncated"])


# --------------------------------------------------------------------------------------------------
# Epoching a raw recording


def _raw_recording(tmp: Path) -> tuple[Path, Path]:
    """A 12 s raw recording at 100 Hz with events 1 and 2 on a stim channel, and its event -> image mapping."""
    import mne

    rng = np.random.default_rng(0)
    info = mne.create_info(["Oz", "Pz", "Cz", "STI"], sfreq=100.0, ch_types=["eeg", "eeg", "eeg", "stim"])
    data = np.vstack([rng.normal(scale=1e-5, size=(3, 1200)), np.zeros((1, 1200))])
    onsets = np.arange(100, 1100, 100)
    data[3, onsets] = 1 + np.arange(len(onsets)) % 2
    mne.io.RawArray(data, info, verbose="error").save(tmp / "sub-01_raw.fif", verbose="error")
    images = tmp / "stimuli"
    images.mkdir()
    for i in range(2):
        Image.new("RGB", (8, 8), (90 * i, 20, 0)).save(images / f"stim{i}.png")
    (images / "map.json").write_text(json.dumps({"1": "stim0.png", "2": "stim1.png"}))
    return tmp / "sub-01_raw.fif", images / "map.json"


def _raw_recording_argv(tmp: Path, *options: str) -> list[str]:
    recording, mapping = _raw_recording(tmp)
    return ["convert", "byo", "--recording", str(recording), "--images", str(mapping), str(tmp / "out"), *options]


def _byo_tmax_beyond_the_recording(env, tmp):
    expected = ["all 10 epochs were dropped", "tmin=-0.2", "tmax=30.0", "12.000 s long"]
    return _raw_recording_argv(tmp, "--tmin", "-0.2", "--tmax", "30"), expected


def _byo_tmin_before_the_recording(env, tmp):
    return _raw_recording_argv(tmp, "--tmin", "-20", "--tmax", "0.2"), ["epochs were dropped", "tmin=-20.0",
                                                                         "12.000 s long"]


CASES = {name[1:]: func for name, func in sorted(globals().items()) if name.startswith("_") and callable(func)
         and name.startswith(("_gan_", "_evaluate_", "_build_gallery_", "_train_", "_push_", "_byo_", "_gallery_",
                              "_generate_", "_preprocess_", "_split_", "_convert_checkpoint_", "_simulate_",
                              "_quickstart_", "_image_features_"))}


def test_enough_cases():
    assert len(CASES) >= 45


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_gives_a_short_clear_error(case, env, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("EEG2IMG_DEBUG", raising=False)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 40 x 40 warns, 64 x 64 is refused by PIL
    threads = torch.get_num_threads()
    argv, expected = CASES[case](env, tmp_path)
    capsys.readouterr()
    try:
        status = main(argv)
    finally:
        torch.set_num_threads(threads)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = _error_lines(err)
    assert status == 2, err
    assert 1 <= len(lines) <= 2, err
    assert all(line.startswith(f"eeg2img {argv[0]}") for line in lines), err
    assert lines[0].startswith(f"eeg2img {argv[0]}: error: ")
    for text in expected:
        assert text.lower() in err.lower(), (text, err)


# --------------------------------------------------------------------------------------------------
# Data loss: inputs and foreign files keep every byte


def _hashes(*roots: Path) -> dict[str, str]:
    out = {}
    for root in roots:
        for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
            out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _foreign(tmp: Path) -> Path:
    folder = tmp / "thesis"
    (folder / "chapters").mkdir(parents=True)
    (folder / "thesis.tex").write_text("\\chapter{EEG}")
    (folder / "chapters" / "one.tex").write_text("results")
    (folder / "dataset_dict.json").write_text("{}")  # looks a little like ours, but holds foreign files
    return folder


def _inputs_folder(env: Path, tmp: Path) -> Path:
    """`data/arrays.npz` and `data/map.csv` with the images: the inputs of `convert byo` in one folder."""
    data = tmp / "inputs"
    data.mkdir()
    shutil.copy(env / "trials.npz", data / "arrays.npz")
    for name in ("stim0.png", "stim1.png"):
        shutil.copy(env / "images" / name, data / name)
    (data / "map.csv").write_text("event,image\n0,stim0.png\n1,stim1.png\n")
    return data


def _loss_byo(env, tmp, out):
    data = _inputs_folder(env, tmp)
    out = data if out is None else out
    return _byo(env, out, data / "arrays.npz", data / "map.csv", "--overwrite"), [data]


def _loss_preprocess(env, tmp, out):
    data = _copy(env, "data", tmp)
    return ["preprocess", str(data), "--output", str(out or data), "--zscore", "--overwrite"], [data]


def _loss_split(env, tmp, out):
    data = _copy(env, "data", tmp)
    return ["split", str(data), "--strategy", "paper", "--output", str(out or data), "--overwrite"], [data]


def _loss_simulate(env, tmp, out):
    data = _copy(env, "data", tmp)  # simulate has no input: its target is a folder that must survive
    return ["simulate", "thoughtviz", "--output", str(out or data / "train")], [data]


def _loss_convert_checkpoint(env, tmp, out):
    folder = tmp / "checkpoints"
    folder.mkdir()
    (folder / "encoder.pth").write_bytes(b"not a real checkpoint")
    return ["convert-checkpoint", "encoder", str(folder / "encoder.pth"), str(out or folder), "--overwrite"], [folder]


def _loss_train_encoder(env, tmp, out):
    data = _copy(env, "data", tmp)
    return ["train-encoder", "--dataset", str(data), "--output-dir", str(out or data), "--resume"], [data]


def _loss_train_gan(env, tmp, out):
    encoder = _copy(env, "encoder", tmp)
    return ["train-gan", "--preset", "tiny", "--encoder", str(encoder), "--dataset", str(env / "data"),
            "--output-dir", str(out or encoder), "--resume"], [encoder]


def _loss_train_clip(env, tmp, out):
    data = _copy(env, "data", tmp)
    return ["train-clip", "--dataset", str(data), "--output-dir", str(out or data / "train"), "--resume"], [data]


def _loss_train_image_to_eeg(env, tmp, out):
    encoder = _copy(env, "encoder", tmp)
    return ["train-image-to-eeg", "--preset", "tiny", "--encoder", str(encoder), "--dataset", str(env / "data"),
            "--output-dir", str(out or encoder.parent), "--resume"], [encoder]


def _loss_train_image_classifier(env, tmp, out):
    data = _copy(env, "data", tmp)
    return ["train-image-classifier", str(data), str(out or data), "--epochs", "1"], [data]


def _loss_build_gallery(env, tmp, out):
    pictures = _copy(env, "images", tmp)
    target = pictures / "stim0.png" if out is None else out / "thesis.tex"
    return ["build-gallery", str(env / "clip"), str(pictures), "--output", str(target), "--overwrite"], [pictures]


def _loss_quickstart(env, tmp, out):
    data = _copy(env, "data", tmp)
    return ["quickstart", "--fast", "--output-dir", str(out or data)], [data]


def _loss_generate(env, tmp, out):
    model = _copy(env, "gan", tmp)
    return _generate(model, env, tmp)[:-1] + [str(out or model)], [model]


LOSS_CASES = {name[len("_loss_"):]: func for name, func in sorted(globals().items()) if name.startswith("_loss_")}


@pytest.mark.parametrize("target", ["inputs", "foreign"])
@pytest.mark.parametrize("command", sorted(LOSS_CASES))
def test_nothing_is_lost(command, target, env, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    foreign = _foreign(tmp_path) if target == "foreign" else None
    argv, inputs = LOSS_CASES[command](env, tmp_path, foreign)
    watched = [*inputs, *([foreign] if foreign else [])]
    before = _hashes(*watched)
    threads = torch.get_num_threads()
    try:
        status = main(argv)
    finally:
        torch.set_num_threads(threads)
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err, err
    assert _hashes(*watched) == before
    assert not any(p.name == MARKER_NAME for root in watched for p in Path(root).rglob("*"))
    assert any(why in err for why in ("input", "not written by eeg2img_hf", "did not write", "holds an")), err


# --------------------------------------------------------------------------------------------------
# Own outputs are replaced; --debug shows the traceback


def test_overwrite_replaces_only_own_dataset(env, tmp_path, capsys):
    out = tmp_path / "converted"
    assert main(_byo(env, out)) == 0
    assert json.loads((out / MARKER_NAME).read_text())["kind"] == "dataset"
    assert main(_byo(env, out)) == 2 and "--overwrite" in capsys.readouterr().err
    assert main(_byo(env, out, None, None, "--overwrite")) == 0
    (out / "notes.txt").write_text("mine")  # a file the package did not write, inside its own dataset folder
    assert main(_byo(env, out, None, None, "--overwrite")) == 2
    assert "notes.txt" in capsys.readouterr().err and (out / "notes.txt").read_text() == "mine"


def test_legacy_dataset_without_marker_is_recognised(env, tmp_path):
    legacy = _copy(env, "data", tmp_path)  # written by save_to_disk: no marker
    assert main(["split", str(env / "data"), "--strategy", "paper", "--output", str(legacy), "--overwrite"]) == 0
    assert (legacy / MARKER_NAME).is_file()


def test_debug_flag_and_environment_show_the_traceback(env, tmp_path, monkeypatch):
    argv = _generate(env / "encoder", env, tmp_path)
    with pytest.raises(Eeg2ImgError, match="expected an EEGStyleGAN"):
        main(["--debug", *argv])
    with pytest.raises(Eeg2ImgError):
        main([*argv, "--debug"])  # allowed anywhere on the command line
    monkeypatch.setenv("EEG2IMG_DEBUG", "1")
    with pytest.raises(Eeg2ImgError):
        main(argv)


def test_debug_traceback_in_a_fresh_process(env, tmp_path):
    argv = ["--debug", "push", str(tmp_path / "nowhere"), "org/x"]
    code = f"from eeg2img_hf.cli import main; raise SystemExit(main({argv!r}))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 1 and "Traceback" in proc.stderr and "no such model folder" in proc.stderr


# --------------------------------------------------------------------------------------------------
# Replacing own folders: foreign files survive, read-only folders are refused, no hidden leftovers


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def _own_model_with_user_files(env: Path, tmp: Path) -> tuple[list[str], Path]:
    argv, _ = _convert_checkpoint_overwrite_own_model_holding_user_files(env, tmp)
    return argv, Path(argv[3])


def _own_dataset_with_user_files(env: Path, tmp: Path) -> tuple[list[str], Path]:
    out = tmp / "converted"
    assert main(_byo(env, out)) == 0
    (out / "my_notes.md").write_text("mine")
    return _byo(env, out, None, None, "--overwrite"), out


def _own_run_with_user_files(env: Path, tmp: Path) -> tuple[list[str], Path]:
    argv, _ = _train_encoder_overwrite_run_holding_user_files(env, tmp)
    (tmp / "run" / "results_by_hand.csv").write_text("a,b\n")
    return argv, tmp / "run"


@pytest.mark.parametrize("build", [_own_model_with_user_files, _own_dataset_with_user_files,
                                   _own_run_with_user_files], ids=["model", "dataset", "run"])
def test_replacing_an_own_folder_never_deletes_user_files(build, env, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    argv, out = build(env, tmp_path)
    before = _hashes(out)
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "did not write" in err and "my_notes.md" in err
    assert _hashes(out) == before and _hidden(out.parent) == []


@pytest.mark.parametrize("command", ["convert-checkpoint", "convert"])
def test_an_own_read_only_folder_is_refused_and_leaves_no_hidden_folder(command, env, tmp_path, capsys):
    if command == "convert":
        out = tmp_path / "converted"
        assert main(_byo(env, out)) == 0
        argv = _byo(env, out, None, None, "--overwrite")
    else:
        out = _copy(env, "encoder", tmp_path)
        write_marker(out, command="convert-checkpoint encoder", kind="model")
        argv = ["convert-checkpoint", "encoder", str(_pth(tmp_path / "encoder.pth", _LSTM)), str(out), "--overwrite",
                "--n-chans", str(N_CHANS)]
    before = _hashes(out)
    out.chmod(0o555)
    try:
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err
    finally:
        out.chmod(0o755)
    assert "not writable" in err and "chmod -R u+w" in err
    assert _hashes(out) == before and _hidden(tmp_path) == []


def test_a_killed_conversion_leaves_staging_that_the_next_run_removes(env, tmp_path, capsys):
    out = tmp_path / "converted"
    code = ("import os, sys\nfrom eeg2img_hf.utils.outputs import make_staging_dir\n"
            "staging = make_staging_dir(sys.argv[1])\n(staging / 'data-00000-of-00001.arrow').write_bytes(b'partial')\n"
            "os.kill(os.getpid(), 9)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, timeout=120)
    assert proc.returncode == -9
    (leftover,) = [p for p in tmp_path.iterdir() if p.name.startswith(".converted.tmp-")]
    alive = tmp_path / f".converted.tmp-{os.getpid()}-abcd1234"  # the name of a live process's staging folder
    alive.mkdir()
    (alive / ".eeg2img-staging.json").write_text(json.dumps({"written_by": "eeg2img_hf", "pid": os.getpid(),
                                                             "host": os.uname().nodename}))
    lookalike = tmp_path / ".converted.tmp-1-mine"  # the right name, but no staging record: not provably ours
    lookalike.mkdir()
    (lookalike / "notes.txt").write_text("mine")
    assert main(_byo(env, out)) == 0
    assert not leftover.exists() and alive.is_dir() and (lookalike / "notes.txt").read_text() == "mine"
    assert _hidden(tmp_path) == sorted([alive.name, lookalike.name])


def test_a_refused_generate_leaves_no_output_folder(env, tmp_path, capsys):
    argv = _generate(env / "gan", env, tmp_path) + ["--split", "nosuch"]
    assert main(argv) == 2
    assert "nosuch" in capsys.readouterr().err and not (tmp_path / "grids").exists()


# --------------------------------------------------------------------------------------------------
# One run per folder, truthful records, finished models


def test_an_encoder_run_folder_has_one_identity(env, tmp_path, capsys):
    run, data = tmp_path / "run", tmp_path / "data"
    simulate_dataset("thoughtviz", n_subjects=1, trials_per_block=12, image_size=8).save_to_disk(str(data))
    argv = ["train-encoder", "--dataset", str(data), "--output-dir", str(run), "--epochs", "1",
            "--max-steps", "1", "--batch-size", "4", "--log-with", "csv", "--mixed-precision", "no"]
    assert main(argv) == 0
    recorded = json.loads((run / "training_args.json").read_text())
    assert recorded["mixed_precision"] == recorded["autocast_precision"] == "no"
    assert main(argv) == 2  # a re-run without --resume
    assert "--resume" in capsys.readouterr().err
    assert main([*argv, "--resume", "--lr", "0.05"]) == 2  # would record 0.05 while the optimizer keeps its rate
    assert "learning_rate" in capsys.readouterr().err
    assert json.loads((run / "training_args.json").read_text()) == recorded
    assert main([*argv, "--resume"]) == 0  # the same settings resume
    evaluate = ["evaluate-encoder", str(run / "model"), "--dataset", str(data), "--no-tsne", "--output",
                str(tmp_path / "eval.json")]
    assert main(evaluate) == 0
    (run / "model" / "eeg2img_training.json").unlink()  # as a run killed after its first model selection
    assert main(evaluate) == 2 and "has not finished" in capsys.readouterr().err
    assert main([*evaluate, "--allow-unfinished"]) == 0
    stale = run / "checkpoints" / "step_99999999"
    stale.mkdir()
    (stale / "trainer_state.json").write_text("{}")
    assert main([*argv, "--overwrite"]) == 0  # a new run: nothing of the old one is left to resume
    assert not stale.exists() and (run / "model" / "eeg2img_training.json").is_file()


def test_negative_numbers_are_option_values(env, tmp_path):
    from eeg2img_hf.cli import build_parser

    ns = build_parser().parse_args(["generate", "m", "--dataset", "d", "--truncation-psi", "-0.5"])
    assert ns.truncation_psi == -0.5
    argv = _raw_recording_argv(tmp_path, "--tmin", "-0.2", "--tmax", "0.3", "--baseline", "-0.2,0")
    assert main(argv) == 0
    info = json.loads((tmp_path / "out" / "train" / "dataset_info.json").read_text())["description"]
    assert '"baseline": [-0.2, 0' in info.replace("0.0]", "0]")


def test_pickle_refusals_never_quote_advice_to_load_unsafely(env, tmp_path, capsys):
    unsafe = [name for name in CASES if "unsafe" in name]
    assert len(unsafe) == 4
    for name in unsafe:
        argv, _ = CASES[name](env, tmp_path)
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err.lower()
        assert "refused for safety" in err
        for advice in ("weights_only=false", "weights_only` set to `false", "can still be loaded",
                       "will likely succeed", "trusted source", "safe_globals"):
            assert advice not in err, (name, err)


def test_an_unreachable_hub_endpoint_is_named_in_one_line(env, tmp_path):
    calls = [["push", str(env / "encoder"), "org/encoder"], ["push-dataset", str(env / "data"), "org/data"],
             ["push-metrics", "org"]]
    code = ("import sys, json\nfrom eeg2img_hf.cli import main\n"
            f"for argv in {calls!r}:\n    print('status', main(argv), file=sys.stderr)\n")
    env_vars = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**env_vars, "HF_ENDPOINT": "http://127.0.0.1:9", "HF_TOKEN": "hf_not_a_token"})
    lines = _error_lines(proc.stderr)
    assert "Traceback" not in proc.stderr and proc.stderr.count("status 2") == 3, proc.stderr
    assert sum("error: cannot reach http://127.0.0.1:9" in line for line in lines) == 3, proc.stderr

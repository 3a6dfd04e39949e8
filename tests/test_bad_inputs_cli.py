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
from eeg2img_hf.utils.outputs import MARKER_NAME

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


CASES = {name[1:]: func for name, func in sorted(globals().items()) if name.startswith("_") and callable(func)
         and name.startswith(("_gan_", "_evaluate_", "_build_gallery_", "_train_", "_push_", "_byo_", "_gallery_",
                              "_generate_", "_preprocess_", "_split_", "_convert_checkpoint_", "_simulate_",
                              "_quickstart_"))}


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

"""The Gradio Space `spaces/eeg2img-demo/app.py`: handlers called directly (outputs, the truth beside every
prediction, stated requirements, controls shown only where they apply, readable path-free errors for bad uploads,
quickstart discovery, the batch view) and every endpoint through `gradio_client` against the app on 127.0.0.1
(tiny random models, CPU)."""

from __future__ import annotations

import importlib.util
import json
import pathlib
import shutil
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from eeg2img_hf.data import simulate_dataset
from eeg2img_hf.metrics.image_classifier import ImageClassifier, ImageClassifierConfig
from eeg2img_hf.metrics.plots import eeg_display_unit
from eeg2img_hf.models import (
    EEGEncoderConfig,
    EEGStyleGANConfig,
    EEGStyleGANModel,
    ImageToEEGConfig,
    ImageToEEGModel,
)
from eeg2img_hf.models.eeg_clip import EEGClipConfig, EEGClipModel
from eeg2img_hf.pipelines.grids import class_grid, label_grid_rows
from eeg2img_hf.quickstart import find_quickstart_outputs, quickstart_layout
from eeg2img_hf.retrieval.prototypes import compute_class_prototypes

gr = pytest.importorskip("gradio", reason="the Space needs gradio (pip install 'eeg2img_hf[space]')")

APP_PATH = Path(__file__).resolve().parents[1] / "spaces" / "eeg2img-demo" / "app.py"
CLASSES = ["Apple", "Car", "Dog"]
N_CHANS, N_TIMES, EMBED, SFREQ = 14, 32, 12, 128.0
GAN_EVALUATION = {"fid": 123.4, "kid": {"mean": 0.0567}, "class_accuracy": {"generated": 0.25, "chance": 1 / 3}}
CLIP_EVALUATION = {"eeg_to_image": {"exact_image": {"top1": 0.038, "top5": 0.15, "mrr": 0.11},
                                    "same_class": {"top1": 0.62, "top5": 0.9, "mrr": 0.714, "map": 0.52}}}


def load_app():
    """Imports the Space's app.py (not a package: its folder name has a dash) as module `eeg2img_space_app`."""
    if "eeg2img_space_app" not in sys.modules:
        spec = importlib.util.spec_from_file_location("eeg2img_space_app", APP_PATH)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return sys.modules["eeg2img_space_app"]


def save_components(root: Path) -> dict[str, str]:
    """Tiny random EEGStyleGAN, EEGClip and ImageToEEG models and a tiny simulated dataset, saved under `root`."""
    torch.manual_seed(0)
    encoder = EEGEncoderConfig(n_chans=N_CHANS, n_times=N_TIMES, lstm_num_layers=1, lstm_hidden_size=10,
                               embed_dim=EMBED, sfreq=SFREQ)
    models = {
        "gan": EEGStyleGANModel(EEGStyleGANConfig.from_preset("tiny", encoder_config=encoder)),
        "clip": EEGClipModel(EEGClipConfig.from_preset("tiny", encoder_config={"n_chans": N_CHANS})),
        "image_to_eeg": ImageToEEGModel(ImageToEEGConfig.from_preset("tiny", eeg_embed_dim=EMBED)),
    }
    paths = {}
    for name, model in models.items():
        model.save_pretrained(root / name)
        paths[name] = str(root / name)
    (root / "gan" / "eval_results.json").write_text(json.dumps(GAN_EVALUATION))
    (root / "clip" / "eval_results.json").write_text(json.dumps(CLIP_EVALUATION))

    judge = ImageClassifier(ImageClassifierConfig(classes=CLASSES, image_size=16, widths=[4, 8]))
    judge.save_pretrained(root / "judge")
    paths["judge"] = str(root / "judge")
    dataset = simulate_dataset("thoughtviz", n_subjects=2, classes=CLASSES, images_per_class=2, image_size=32,
                               trials_per_block=3, n_blocks_per_class=2)
    dataset.save_to_disk(str(root / "dataset"))
    paths["dataset"] = str(root / "dataset")
    return paths


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_edf(path: Path, data: np.ndarray, sfreq: float) -> None:
    """Minimal EDF (one data record, physical range +-1000 uV on int16) written from the EDF specification."""
    n_chans, n_times = data.shape
    field = lambda value, width: str(value).ljust(width)[:width].encode("ascii")  # noqa: E731
    header = (field("0", 8) + field("X X X X", 80) + field("Startdate 01-JAN-2024 X X X", 80) + field("01.01.24", 8)
              + field("00.00.00", 8) + field(256 * (n_chans + 1), 8) + field("", 44) + field(1, 8)
              + field(f"{n_times / sfreq:g}", 8) + field(n_chans, 4))
    columns = [(16, [f"EEG{i}" for i in range(n_chans)]), (80, [""] * n_chans), (8, ["uV"] * n_chans),
               (8, ["-1000"] * n_chans), (8, ["1000"] * n_chans), (8, ["-32768"] * n_chans),
               (8, ["32767"] * n_chans), (80, [""] * n_chans), (8, [n_times] * n_chans),
               (32, [""] * n_chans)]
    for width, values in columns:
        header += b"".join(field(v, width) for v in values)
    digital = np.round((data * 1e6 + 1000) / 2000 * 65535 - 32768).astype("<i2")  # volts -> int16
    path.write_bytes(header + digital.tobytes())


class _Touch:
    """Unpickling this runs `Path.touch(marker)`: proof that an upload was (never) unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


@pytest.fixture(scope="module")
def app():
    return load_app()


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    return save_components(tmp_path_factory.mktemp("space"))


@pytest.fixture(scope="module")
def demo(app, paths):
    return app.build_demo(**paths)


@pytest.fixture(scope="module")
def backend(demo):
    return demo.backend


@pytest.fixture()
def trials(tmp_path):
    return np.random.default_rng(0).uniform(0.1, 1.0, (3, N_CHANS, N_TIMES)).astype(np.float32)


def test_unconfigured_tabs_show_a_message(app):
    demo = app.build_demo()
    messages = demo.backend.unavailable
    assert set(messages) == {"generate", "retrieve", "reconstruct", "batch"}
    assert "EEG2IMG_GAN" in messages["generate"] and "EEG2IMG_CLIP" in messages["retrieve"]
    assert all("eeg2img quickstart" in messages[tab] for tab in ("generate", "retrieve", "reconstruct"))
    elem_ids = {block.elem_id for block in demo.blocks.values()}
    assert {"generate-unavailable", "retrieve-unavailable", "reconstruct-unavailable", "batch-unavailable"} <= elem_ids
    requirements = demo.backend.requirements_markdown()
    assert "Hub" in requirements and "eeg2img quickstart" in requirements
    assert "gen-button" not in elem_ids
    with pytest.raises(ValueError, match="EEG2IMG_GAN"):
        demo.backend.generate("upload", None, 0, None, 0, 1, 1.0)


def test_build_from_env_and_ids(app, paths, demo):
    env = {var: paths[name] for name, var in app.ENV_VARS.items() if name in paths}
    from_env = app.build_demo_from_env(env)
    assert from_env.backend.unavailable == {} and from_env.backend.splits == ["train", "validation", "test"]
    elem_ids = {block.elem_id for block in demo.blocks.values()}
    for prefix in ("gen", "ret", "rec"):
        assert {f"{prefix}-{name}" for name in ("source", "split", "index", "upload", "button")} <= elem_ids
    assert {"gen-pick", "ret-pick", "batch-button", "ret-true-image", "rec-decoded", "requirements",
            "gen-truncation-center", "rec-truncation-center", "batch-truncation-center"} <= elem_ids
    api_names = {dep.get("api_name") for dep in demo.config["dependencies"]}
    assert {"generate", "retrieve", "reconstruct", "batch"} <= api_names
    with pytest.raises(ValueError, match="Could not load the EEGClip model"):
        app.build_demo(clip=str(Path(paths["dataset"]) / "missing"))


def test_precision_from_env_refused_without_bf16_units(app, paths, backend, monkeypatch):
    from eeg2img_hf.pipelines import precision

    env = {"EEG2IMG_GAN": paths["gan"], "EEG2IMG_DATASET": paths["dataset"], app.PRECISION_VAR: "bf16"}
    monkeypatch.setattr(precision, "_cpu_bf16_units", lambda: [])
    with pytest.raises(ValueError, match="EEG2IMG_PRECISION 'bf16' is refused: this CPU"):
        app.build_demo_from_env(env)
    monkeypatch.setattr(precision, "_cpu_bf16_units", lambda: ["amx_tile"])
    low = app.build_demo_from_env(env).backend
    assert low.precision == "bf16" and "bfloat16" in low.requirements_markdown()
    assert backend.precision == "fp32" and "bfloat16" not in backend.requirements_markdown()
    fp32 = backend.generate("dataset", "test", 1, None, 7, 1, 1.0)[2][0][0]
    bf16 = low.generate("dataset", "test", 1, None, 7, 1, 1.0)[2][0][0]
    difference = np.abs(np.asarray(fp32, dtype=float) - np.asarray(bf16, dtype=float))
    assert fp32.size == bf16.size and difference.mean() < 8  # uint8 pixels: bfloat16 rounding, the same image


def test_generate_from_dataset_trial(app, backend):
    plot, shown, gallery, info = backend.generate("dataset", "test", 1, None, 7, 3, 1.0)
    assert isinstance(plot, Image.Image) and plot.width > 100
    assert isinstance(shown, Image.Image)
    row = backend.dataset["test"][1]
    label = CLASSES[row["label"]]
    assert len(gallery) == 3 and all(f"true class: {label}" in caption for _, caption in gallery)
    assert all("judge: " in caption for _, caption in gallery)  # the judge names each generated image's class
    assert f"true class: {label}" in info and "seed 7" in info and "EEG embedding decodes to" in info
    assert "images 16x16 px, shown enlarged 8x without smoothing" in info  # native size stated
    assert min(gallery[0][0].size) >= app.DISPLAY_SIZE
    expected = backend.generation(np.asarray(row["eeg"], np.float32), seed=7, num_images_per_eeg=3)["images"]
    for (image, _), reference in zip(gallery, expected):
        assert np.array_equal(np.asarray(image), np.asarray(app._display(reference)))
    again = backend.generate("dataset", "test", 1, None, 7, 3, 1.0)[2]
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for (a, _), (b, _) in zip(gallery, again))
    other = backend.generate("dataset", "test", 1, None, 8, 1, 1.0)[2][0][0]
    assert not np.array_equal(np.asarray(other), np.asarray(gallery[0][0]))


def test_truncation_centre_in_every_generating_tab(app, backend):
    row = backend.dataset["test"][1]
    eeg = np.asarray(row["eeg"], np.float32)
    _, _, gallery, info = backend.generate("dataset", "test", 1, None, 7, 2, 0.5, False, "condition")
    expected = backend.generation(eeg, seed=7, num_images_per_eeg=2, truncation_psi=0.5,
                                  truncation_center="condition")["images"]
    for (image, _), reference in zip(gallery, expected):
        assert np.array_equal(np.asarray(image), np.asarray(app._display(reference)))
    assert "truncation psi 0.5 towards the trial's own mean latent" in info
    average = backend.generate("dataset", "test", 1, None, 7, 2, 0.5)  # the default centre: StyleGAN2's w_avg
    assert "towards the average latent (StyleGAN2)" in average[3]
    assert not np.array_equal(np.asarray(average[2][0][0]), np.asarray(gallery[0][0]))
    assert "truncation psi 1 (none)" in backend.generate("dataset", "test", 1, None, 7, 1, 1.0, False, "condition")[3]
    _, recon, _, info = backend.reconstruct("dataset", "test", 0, None, 5, 1, 0.5, "condition")
    reference = backend.reconstruction(backend.dataset["test"][0]["image"].convert("RGB"), seed=5,
                                       num_images_per_image=1, truncation_psi=0.5, truncation_center="condition")
    assert np.array_equal(np.asarray(recon[0][0]), np.asarray(app._display(reference["images"][0])))
    assert "towards the trial's own mean latent" in info
    generated, _, info = backend.batch("test", ["Car"], 2, 3, 0.5, "condition")
    grid = class_grid(backend.generation, backend.dataset["test"], [1], 2, 3, truncation_psi=0.5,
                      truncation_center="condition")
    expected = label_grid_rows(grid.generated_grid(), ["Car"], 4)
    assert np.array_equal(np.asarray(generated)[app.GRID_HEADROOM:], np.asarray(expected))
    assert "towards the trial's own mean latent" in info
    for call in (lambda: backend.generate("dataset", "test", 1, None, 7, 1, 0.5, False, "median"),
                 lambda: backend.reconstruct("dataset", "test", 0, None, 5, 1, 0.5, None),
                 lambda: backend.batch("test", ["Car"], 1, 0, 0.5, "w_avg")):
        with pytest.raises(ValueError, match="Truncation centre must be one of"):
            call()


def test_generate_from_uploads(backend, trials, tmp_path):
    import mne

    np.save(tmp_path / "trials.npy", trials)
    np.savez(tmp_path / "trials.npz", eeg=trials[1], other=trials)
    info = mne.create_info([f"EEG{i}" for i in range(N_CHANS)], SFREQ, "eeg")
    mne.EpochsArray(trials * 1e-4, info, verbose="error").save(tmp_path / "trials-epo.fif", verbose="error")
    write_edf(tmp_path / "trial.edf", trials[2] * 1e-4, SFREQ)
    mne.io.RawArray(trials[0] * 1e-4, info, verbose="error").save(tmp_path / "trial_raw.fif", verbose="error")
    reference = backend.generate("upload", None, 1, str(tmp_path / "trials.npy"), 3, 1, 1.0)
    assert "true class: unknown" in reference[3] and reference[1] is None
    from_npz = backend.generate("upload", None, 0, str(tmp_path / "trials.npz"), 3, 1, 1.0)
    assert np.array_equal(np.asarray(from_npz[2][0][0]), np.asarray(reference[2][0][0]))  # 'eeg' array = trial 1
    for name, index in (("trials-epo.fif", 2), ("trial.edf", 0), ("trial_raw.fif", 0)):
        plot, _, gallery, text = backend.generate("upload", None, index, str(tmp_path / name), 3, 1, 1.0)
        assert len(gallery) == 1 and name in text
        assert "128 Hz; channels EEG0, EEG1, EEG2" in text  # the recording's channels and rate are shown
    assert "sampling rate not stored" in reference[3]
    encoder = backend.generation.model.config.encoder_config
    trial = backend.read_trial("upload", None, 0, str(tmp_path / "trial.edf"), encoder)
    assert trial.unit == "V" and trial.sfreq == SFREQ and trial.ch_names[:2] == ["EEG0", "EEG1"]
    # the model's input normalisation divides by the trial maximum, so volts and the array give the same image
    fif = backend.generate("upload", None, 2, str(tmp_path / "trials-epo.fif"), 3, 1, 1.0)[2][0][0]
    edf = backend.generate("upload", None, 0, str(tmp_path / "trial.edf"), 3, 1, 1.0)[2][0][0]
    assert np.abs(np.asarray(fif, float) - np.asarray(edf, float)).max() <= 2  # int16 quantisation in EDF


def test_bad_eeg_uploads_are_refused_readably(app, backend, trials, tmp_path):
    import mne

    marker = tmp_path / "unpickled"
    np.save(tmp_path / "pickle.npy", np.array([_Touch(marker)], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "pickle.npz", eeg=np.array([_Touch(marker)], dtype=object))
    np.save(tmp_path / "transposed.npy", trials[0].T.copy())
    np.save(tmp_path / "short.npy", trials[0, :, :20])
    nan = trials[0].copy()
    nan[3, 5] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    np.save(tmp_path / "ints.npy", (trials[0] * 100).astype(np.int32))
    np.savez(tmp_path / "two.npz", a=trials[0], b=trials[1])
    (tmp_path / "corrupt.npy").write_bytes(b"\x93NUMPY garbage")
    (tmp_path / "trial.txt").write_text("1 2 3")
    (tmp_path / "corrupt.fif").write_bytes(b"garbage" * 10)
    info = mne.create_info(N_CHANS, 256.0, "eeg")
    mne.EpochsArray(trials * 1e-4, info, verbose="error").save(tmp_path / "fast-epo.fif", verbose="error")
    cases = {
        "pickle.npy": "pickle", "pickle.npz": "pickle", "transposed.npy": "looks transposed",
        "short.npy": "the model needs 14 channels x 32 samples at 128 Hz; 'short.npy' has 14 channels x 20 samples",
        "nan.npy": "NaN",
        "ints.npy": "floating point", "two.npz": "expected an 'eeg' array", "corrupt.npy": "not a valid .npy",
        "trial.txt": "Unsupported EEG file type",
        "fast-epo.fif": "'fast-epo.fif' has 14 channels x 32 samples at 256 Hz",
        "missing.npy": "could not be found", "corrupt.fif": "not a readable .fif recording",
    }
    for name, message in cases.items():
        with pytest.raises(ValueError, match=message):
            backend.generate("upload", None, 0, str(tmp_path / name), 0, 1, 1.0)
    assert not marker.exists(), "an uploaded pickle was unpickled"
    # what the browser shows: the reader's own message, the upload's base name only, the demo's checkbox as hint
    generate = app._ui(backend.generate)
    for name, wanted, unwanted in (("corrupt.npy", "corrupt", "pickle"), ("corrupt.fif", "'corrupt.fif'", "Path("),
                                   ("fast-epo.fif", "tick “Pick the model's channels and resample”", "CLI")):
        with pytest.raises(gr.Error) as caught:
            generate("upload", None, 0, str(tmp_path / name), 0, 1, 1.0, False)
        assert wanted in caught.value.message and unwanted not in caught.value.message
        assert str(tmp_path) not in caught.value.message and "/tmp" not in caught.value.message
    np.save(tmp_path / "ok.npy", trials)
    with pytest.raises(ValueError, match="out of range: 'ok.npy' holds 3 trials"):
        backend.generate("upload", None, 5, str(tmp_path / "ok.npy"), 0, 1, 1.0)
    with pytest.raises(ValueError, match="No EEG file uploaded"):
        backend.generate("upload", None, 0, None, 0, 1, 1.0)
    small = app.DemoBackend(gan=backend.generation.model, max_upload_bytes=1000)
    with pytest.raises(ValueError, match=r"'ok.npy' is 5.38 kB; the limit is 0.977 kB"):
        small.generate("upload", None, 0, str(tmp_path / "ok.npy"), 0, 1, 1.0)
    for bad in ({"split": "nope"}, {"index": 10_000}, {"index": 1.5}, {"seed": -1}, {"num_images": 99}):
        args = {"split": "test", "index": 0, "seed": 0, "num_images": 1, **bad}
        with pytest.raises(ValueError):
            backend.generate("dataset", args["split"], args["index"], None, args["seed"], args["num_images"], 1.0)


def test_public_messages_name_files_only(app):
    text = "'x.fif' unreadable (ValueError: file PosixPath('/tmp/gradio/ab12/x.fif') bad); see /tmp/gradio/ab12/x.fif"
    assert app.public_message(text) == "'x.fif' unreadable (ValueError: file 'x.fif' bad); see x.fif"
    assert app.public_message(r"C:\Users\me\AppData\Temp\gradio\trial.npy") == "trial.npy"
    assert app.public_message("the model needs 14 channels x 32 samples at 128 Hz") == (
        "the model needs 14 channels x 32 samples at 128 Hz")


def test_retrieval_marks_the_true_image(backend):
    gallery = backend.gallery_for("test")
    plot, true_image, items, rows, info = backend.retrieve("dataset", "test", 2, None, len(gallery))
    assert isinstance(true_image, Image.Image)
    true_id = backend.dataset["test"][2]["image_id"]
    assert len(items) == len(rows) == len(gallery) == 6
    assert [row[0] for row in rows] == list(range(1, 7))
    assert [row[1] for row in rows] == sorted((row[1] for row in rows), reverse=True)
    marked = [row for row in rows if row[4]]
    assert len(marked) == 1 and marked[0][3] == true_id
    assert "TRUE IMAGE" in items[marked[0][0] - 1][1]
    assert f"true image {true_id!r}" in info and f"ranked {marked[0][0]} of 6" in info
    top2 = backend.retrieve("dataset", "test", 2, None, 2)[3]
    assert top2 == rows[:2] or (top2[:2] == rows[:2] and top2[2] == marked[0])


def test_retrieval_shows_the_true_image_and_its_rank_outside_the_top_k(app, backend):
    for index in range(len(backend.dataset["test"])):  # a trial whose true image is not ranked first
        plot, true_image, items, rows, info = backend.retrieve("dataset", "test", index, None, 1)
        if "outside the top-1" in info:
            break
    else:
        pytest.skip("every test trial ranks its image first")
    row = backend.dataset["test"][index]
    assert len(items) == 1 and len(rows) == 2 and not rows[0][4]
    assert rows[1][4] and rows[1][3] == row["image_id"] and rows[1][0] > 1
    assert f"is ranked {rows[1][0]} of 6" in info and isinstance(true_image, Image.Image)
    assert np.array_equal(np.asarray(true_image), np.asarray(app._display(row["image"].convert("RGB"))))


def test_retrieval_gallery_sizes_are_explained(backend):
    note = backend.gallery_note()
    sizes = {split: len(set(backend.dataset[split]["image_id"])) for split in backend.splits}
    assert all(f"{split} {count}" in note for split, count in sizes.items())
    assert f"an uploaded trial against the test split ({sizes['test']} images)" in note
    assert len(backend.gallery_for(None)) == sizes["test"]
    with pytest.raises(ValueError, match="Top-k must be between 1 and 6"):
        backend.retrieve("dataset", "test", 2, None, 7)


def test_retrieval_with_saved_gallery_and_upload(app, backend, paths, trials, tmp_path):
    index_path = backend.gallery_for("test").save(tmp_path / "gallery.safetensors")
    other = app.DemoBackend(clip=paths["clip"], dataset=backend.dataset, gallery=index_path)
    np.save(tmp_path / "trial.npy", trials[0])
    plot, true_image, items, rows, info = other.retrieve("upload", None, 0, str(tmp_path / "trial.npy"), 3)
    assert len(items) == 3 and not any(row[4] for row in rows) and "unknown" in info and true_image is None
    assert "configured gallery (6 images)" in other.gallery_note()
    assert all(isinstance(image, Image.Image) for image, _ in items)  # pixels re-attached from the dataset

    torch.manual_seed(123)
    foreign = EEGClipModel(EEGClipConfig.from_preset("tiny", encoder_config={"n_chans": N_CHANS}))
    with pytest.raises(ValueError, match="stale or foreign gallery index"):
        app.DemoBackend(clip=foreign, gallery=index_path)


def test_reconstruct_dataset_and_upload(app, backend, tmp_path):
    source, gallery, decoded, info = backend.reconstruct("dataset", "test", 0, None, 5, 2, 0.8)
    assert isinstance(source, Image.Image) and len(gallery) == 2
    label = CLASSES[backend.dataset['test'][0]['label']]
    assert f"true class: {label}" in info and "12-D" in info and "judge on the input image" in info
    assert all("judge: " in caption for _, caption in gallery)
    # the predicted EEG embedding, decoded by the nearest class prototypes (mean training embedding per class)
    assert [row[0] for row in decoded] and {row[0] for row in decoded} <= set(CLASSES)
    assert [row[1] for row in decoded] == sorted((row[1] for row in decoded), reverse=True)
    assert [row[2] for row in decoded] == [row[0] == label for row in decoded]
    assert f"EEG embedding decodes to {decoded[0][0]} (cosine {decoded[0][1]:.3f}" in info
    image = backend.dataset["test"][0]["image"]
    image.save(tmp_path / "stimulus.png")
    uploaded = backend.reconstruct("upload", None, 0, str(tmp_path / "stimulus.png"), 5, 2, 0.8)
    for (a, _), (b, _) in zip(uploaded[1], gallery):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    assert uploaded[2] == [[name, score, False] for name, score, _ in decoded]  # no true class for an upload
    (tmp_path / "fake.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="not a readable image"):
        backend.reconstruct("upload", None, 0, str(tmp_path / "fake.png"), 5, 1, 1.0)
    image.save(tmp_path / "trial.gif")
    with pytest.raises(ValueError, match="Unsupported image type '.gif'"):
        backend.reconstruct("upload", None, 0, str(tmp_path / "trial.gif"), 5, 1, 1.0)
    small = app.DemoBackend(gan=backend.generation.model, image_to_eeg=backend.reconstruction.model,
                            max_upload_bytes=100)
    with pytest.raises(ValueError, match="the limit is"):
        small.reconstruct("upload", None, 0, str(tmp_path / "stimulus.png"), 5, 1, 1.0)


def test_requirements_are_stated(app, backend, paths, demo):
    text = backend.requirements_markdown()
    assert "input EEG 14 channels x 32 samples at 128 Hz (250 ms)" in text  # before any upload fails
    assert "channels AF3, F7, F3" in text and "Classes** (3): Apple, Car, Dog" in text
    for name in ("gan", "clip", "image_to_eeg", "judge", "dataset"):  # where each model came from: no server path
        assert paths[name] not in text and f"`{app.public_source(paths[name])}`" in text
    assert str(Path(paths["gan"]).parent) not in text
    # retrieval is headlined by its same-class figures (an EEG trial's class), exact-image top-1 last
    assert ("Card: same-class MRR 0.714, same-class mAP 0.52, same-class top-1 0.62, same-class top-5 0.9, "
            "exact-image top-1 0.038.") in text
    # headline metrics of the card; FID / KID name their extractor (none recorded here), never read as Inception FID
    assert "Card: fid (unknown features) 123, kid.mean (unknown features) 0.0567, class_accuracy.generated 0.25" in text
    assert "no evaluation found" in text  # the other models have none
    requirement = backend.eeg_requirement(backend.generation.model.config.encoder_config)
    assert requirement.startswith("(n_chans, n_times) = (14, 32): 14 channels x 32 samples at 128 Hz")
    assert ".npy / .npz must already be one trial (14, 32)" in requirement  # per file type: what works
    assert f"tick “{app.PICK_LABEL}” to take the model's channels by name" in requirement
    no_names = app.DemoBackend(gan=backend.generation.model)  # no dataset: the model's channel names are unknown
    assert "exactly the model's 14 channels in its order" in no_names.eeg_requirement(
        backend.generation.model.config.encoder_config)
    markdown = {block.elem_id: block.value for block in demo.blocks.values() if isinstance(block, gr.Markdown)}
    assert markdown["requirements"] == text and "14 channels x 32 samples at 128 Hz" in markdown["gen-requirements"]
    assert "Gallery:" in markdown["ret-gallery-note"]


def test_controls_that_do_not_apply_are_hidden(app, demo):
    visible = lambda updates: [u["visible"] for u in updates]  # noqa: E731  (split, index, upload, pick)
    assert visible(app.source_updates("dataset", "eeg")) == [True, True, False, False]
    assert visible(app.source_updates("upload", "eeg")) == [False, False, True, False]  # no file yet: no trial, pick
    assert visible(app.source_updates("upload", "eeg", trials=3)) == [False, True, True, False]
    assert visible(app.source_updates("dataset", "image")) == [True, True, False, False]
    assert visible(app.source_updates("upload", "image")) == [False, False, True, False]
    assert [app.center_update(psi)["visible"] for psi in (1.0, 1, 0.7, 1.2, None)] == [False, False, True, True, False]
    config = {c["props"].get("elem_id"): c for c in demo.config["components"]}
    for prefix in ("gen", "ret", "rec"):  # dataset mode first: no upload box, no pick option
        assert config[f"{prefix}-split"]["props"]["visible"] is True
        assert config[f"{prefix}-upload"]["props"]["visible"] is False
        radio = config[f"{prefix}-source"]["id"]
        change = [d for d in demo.config["dependencies"] if [radio, "change"] in [list(t) for t in d["targets"]]]
        assert len(change) == 1
        wanted = {config[f"{prefix}-{n}"]["id"] for n in ("split", "index", "upload", "error")}
        assert wanted <= set(change[0]["outputs"])
        upload = config[f"{prefix}-upload"]["id"]
        change = [d for d in demo.config["dependencies"] if [upload, "change"] in [list(t) for t in d["targets"]]]
        assert len(change) == 1 and config[f"{prefix}-index"]["id"] in change[0]["outputs"]  # the trial resets
    for elem_id in ("gen-truncation-center", "rec-truncation-center", "batch-truncation-center"):
        assert config[elem_id]["props"]["visible"] is False  # psi starts at 1: no truncation, no centre
    for prefix, box in (("gen", "gen-shown"), ("ret", "ret-true-image")):  # the truth box goes with the dataset
        radio = config[f"{prefix}-source"]["id"]
        change = next(d for d in demo.config["dependencies"] if [radio, "change"] in [list(t) for t in d["targets"]])
        assert config[box]["id"] in change["outputs"]
    uploads_only = app.build_demo(gan=demo.backend.generation.model)  # no dataset: the split is never shown
    config = {c["props"].get("elem_id"): c["props"] for c in uploads_only.config["components"]}
    assert config["gen-split"]["visible"] is False and config["gen-upload"]["visible"] is True
    assert config["gen-index"]["visible"] is False and config["gen-pick"]["visible"] is False
    assert "legend" not in config  # no dataset, no legend


def test_trial_field_resets_per_file(app, backend, trials, tmp_path):
    """A new upload starts at trial 0; the trial field is shown only for a file of several trials, the pick option
    only for recordings that name their channels; a one-trial file is never called "trial N"."""
    import mne

    np.save(tmp_path / "one.npy", trials[0])
    np.save(tmp_path / "three.npy", trials)
    info = mne.create_info([f"EEG{i}" for i in range(N_CHANS)], SFREQ, "eeg")
    mne.EpochsArray(trials[:1] * 1e-4, info, verbose="error").save(tmp_path / "one-epo.fif", verbose="error")
    index, pick = app.upload_updates(backend, str(tmp_path / "one.npy"))
    assert (index["visible"], index["value"], pick["visible"]) == (False, 0, False)
    index, pick = app.upload_updates(backend, str(tmp_path / "three.npy"))
    assert (index["visible"], index["value"], index["maximum"], pick["visible"]) == (True, 0, 2, False)
    assert index["label"] == "Trial in the file (0 to 2)"
    index, pick = app.upload_updates(backend, str(tmp_path / "one-epo.fif"))
    assert (index["visible"], index["value"], pick["visible"]) == (False, 0, True)
    index, pick = app.upload_updates(backend, None)  # cleared
    assert (index["visible"], index["value"], pick["visible"]) == (False, 0, False)
    assert [app.source_updates(source, "eeg")[1]["value"] for source in ("dataset", "upload")] == [0, 0]
    *_, info_text = backend.generate("upload", None, 0, str(tmp_path / "one-epo.fif"), 0, 1, 1.0)
    assert "uploaded file 'one-epo.fif';" in info_text and "trial 0" not in info_text
    *_, info_text = backend.generate("upload", None, 0, str(tmp_path / "one.npy"), 0, 1, 1.0)
    assert "uploaded file 'one.npy';" in info_text
    *_, info_text = backend.generate("upload", None, 2, str(tmp_path / "three.npy"), 0, 1, 1.0)
    assert "uploaded file 'three.npy', trial 2 of 3" in info_text


def test_wrong_shapes_get_advice_for_their_file_type(app, backend, tmp_path):
    """Only what works for the file is offered: picking by name for a recording with channel names (when the demo
    knows the model's), an array of exactly the model's channels for numpy files."""
    import mne

    rng = np.random.default_rng(2)
    np.save(tmp_path / "wide.npy", rng.uniform(0.1, 1, (20, N_TIMES)).astype(np.float32))
    names = backend.info["ch_names"] + ["EXTRA1", "EXTRA2"]
    info = mne.create_info(names, SFREQ, "eeg")
    mne.EpochsArray(rng.uniform(0.1, 1, (1, len(names), N_TIMES)) * 1e-5, info, verbose="error").save(
        tmp_path / "wide-epo.fif", verbose="error")
    generate = app._shown_errors(backend.generate, 4)
    *outputs, error = generate("upload", None, 0, str(tmp_path / "wide.npy"), 0, 1, 1.0, False)
    assert outputs == [None] * 4 and error["visible"] is True
    assert "'wide.npy' stores no channel names" in error["value"] and "model's 14 channels" in error["value"]
    assert "Pick" not in error["value"] and "CLI" not in error["value"]
    *_, error = generate("upload", None, 0, str(tmp_path / "wide.npy"), 0, 1, 1.0, True)  # ticked anyway
    assert "stores no channel names" in error["value"]
    *_, error = generate("upload", None, 0, str(tmp_path / "wide-epo.fif"), 0, 1, 1.0, False)
    assert f"tick “{app.PICK_LABEL}”" in error["value"] and "CLI" not in error["value"]
    *outputs, error = generate("upload", None, 0, str(tmp_path / "wide-epo.fif"), 0, 1, 1.0, True)  # the advice works
    assert error["visible"] is False and "picked the model's 14 channels" in outputs[3]
    no_names = app._shown_errors(app.DemoBackend(gan=backend.generation.model).generate, 4)  # no dataset: no names
    *_, error = no_names("upload", None, 0, str(tmp_path / "wide-epo.fif"), 0, 1, 1.0, False)
    assert app.NO_NAMES_HERE in error["value"] and "Pick" not in error["value"]


def test_errors_stay_beside_the_inputs_until_the_next_action(app, backend, demo, tmp_path):
    (tmp_path / "corrupt.npy").write_bytes(b"\x93NUMPY garbage")
    generate = app._shown_errors(backend.generate, 4)
    *outputs, error = generate("upload", None, 0, str(tmp_path / "corrupt.npy"), 0, 1, 1.0, False)
    assert error["visible"] is True and error["value"].startswith("<strong>Error:</strong>")
    assert "'corrupt.npy'" in error["value"] and str(tmp_path) not in error["value"]
    *outputs, error = generate("dataset", "test", 0, None, 0, 1, 1.0, False)  # the next run clears it
    assert error == app.error_update() and error["visible"] is False and len(outputs[2]) == 1
    config = {c["props"].get("elem_id"): c for c in demo.config["components"]}
    for prefix, api_name in (("gen", "generate"), ("ret", "retrieve"), ("rec", "reconstruct"), ("batch", "batch")):
        assert config[f"{prefix}-error"]["props"]["visible"] is False
        button = config[f"{prefix}-button"]["id"]
        click = next(d for d in demo.config["dependencies"] if [button, "click"] in [list(t) for t in d["targets"]])
        assert config[f"{prefix}-error"]["id"] in click["outputs"]  # the page's run shows its errors in the box
        api = next(d for d in demo.config["dependencies"] if d.get("api_name") == api_name)
        assert config[f"{prefix}-error"]["id"] not in api["outputs"]  # the API raises instead (tested below)


def test_public_sources_hide_server_paths(app, tmp_path, monkeypatch):
    assert app.public_source("org/eegclip") == "org/eegclip" and app.public_source("thoughtviz") == "thoughtviz"
    assert app.public_source("outputs/quickstart/gan/model") == "outputs/quickstart/gan/model"
    assert app.public_source(str(tmp_path / "models" / "gan")) == "models/gan"
    snapshot = tmp_path / "hub" / "models--org--eeg-gan" / "snapshots" / "0123abcd"
    assert app.public_source(str(snapshot)) == "org/eeg-gan"
    monkeypatch.chdir(tmp_path)
    assert app.public_source(str(tmp_path / "outputs" / "quickstart" / "gan" / "model")) == (
        "outputs/quickstart/gan/model")


def test_simulated_classes_have_a_legend(app, backend, demo):
    """The legend (the simulator's shape and colour of each class) is on the page for a simulated dataset, and each
    true class names its look."""
    from eeg2img_hf.data import class_legend

    assert backend.legend() == class_legend("thoughtviz", CLASSES)
    html_text = next(block.value for block in demo.blocks.values() if getattr(block, "elem_id", None) == "legend")
    for row in backend.legend():
        assert f"<strong>{row['class']}</strong>: {row['colour']} {row['shape']}" in html_text
        assert f'fill="{row["rgb"]}"' in html_text
    assert backend.class_look("Dog") == " (yellow triangle)" and backend.class_look(None) == ""
    label = CLASSES[backend.dataset["test"][1]["label"]]
    _, _, gallery, info = backend.generate("dataset", "test", 1, None, 7, 1, 1.0)
    assert f"true class: {label}{backend.class_look(label)}" in gallery[0][1] and backend.class_look(label) in info


def test_class_prototypes_decode_embeddings(backend):
    prototypes = backend.prototypes()
    assert prototypes is backend.prototypes()  # computed once, cached
    train = backend.dataset["train"].with_format("numpy")[:]
    encoder = backend.generation.model.eeg_encoder
    again = compute_class_prototypes(encoder, train["eeg"], train["label"], CLASSES)
    assert torch.allclose(again.embeds, prototypes.embeds) and prototypes.counts == list(np.bincount(train["label"]))
    assert torch.allclose(prototypes.embeds.norm(dim=1), torch.ones(3))
    with torch.no_grad():
        embeds = encoder(eeg_values=torch.from_numpy(train["eeg"][:1])).eeg_embeds[0]
    decoded = prototypes.decode(embeds.numpy(), top_k=3)
    scores = prototypes.scores(embeds.numpy())[0]
    assert [name for name, _ in decoded] == [CLASSES[i] for i in np.argsort(-scores)]
    assert decoded[0][1] == pytest.approx(float(scores.max()))


def test_pick_channels_and_resample(app, backend, trials, tmp_path):
    import mne

    names = backend.info["ch_names"] + ["EXTRA1", "EXTRA2"]
    wide = np.random.default_rng(1).uniform(0.1, 1.0, (2, len(names), 2 * N_TIMES)) * 1e-5
    info = mne.create_info(names[::-1], 2 * SFREQ, "eeg")  # other order, more channels, twice the rate
    mne.EpochsArray(wide[:, ::-1], info, verbose="error").save(tmp_path / "wide-epo.fif", verbose="error")
    path = str(tmp_path / "wide-epo.fif")
    with pytest.raises(ValueError, match="'wide-epo.fif' has 16 channels x 64 samples at 256 Hz"):
        backend.generate("upload", None, 1, path, 0, 1, 1.0, False)
    plot, _, gallery, info_text = backend.generate("upload", None, 1, path, 0, 1, 1.0, True)
    assert "picked the model's 14 channels by name" in info_text and "resampled from 256 Hz to 128 Hz" in info_text
    assert "16 channels x 64 samples, 256 Hz; channels EXTRA2, EXTRA1, AF4" in info_text
    trial = backend.read_trial("upload", None, 1, path, backend.generation.model.config.encoder_config, True)
    assert trial.eeg.shape == (N_CHANS, N_TIMES) and trial.sfreq == SFREQ and trial.ch_names == backend.info["ch_names"]
    assert "resampled from 256 Hz to 128 Hz" in backend.retrieve("upload", None, 1, path, 2, True)[4]


def test_eeg_plots_have_a_scale_and_units(app):
    assert eeg_display_unit("V") == (1e6, "\u00b5V") and eeg_display_unit(None) == (1.0, "a.u.")
    eeg = np.random.default_rng(0).normal(size=(N_CHANS, N_TIMES)) * 2e-5
    volts = app.plot_eeg(eeg, SFREQ, None, "t", "V")
    unknown = app.plot_eeg(eeg, None, None, "t", None)
    assert isinstance(volts, Image.Image) and volts.size == unknown.size
    assert not np.array_equal(np.asarray(volts), np.asarray(unknown))  # scale-bar label and time axis differ


def test_quickstart_folder_is_found_without_variables(app, paths, tmp_path):
    root = tmp_path / "outputs" / "quickstart"
    for name, target in quickstart_layout(root).items():
        if name in paths:
            shutil.copytree(paths[name], target)
    found = find_quickstart_outputs(root)
    assert set(found) == {"dataset", "judge", "gan", "clip", "image_to_eeg"}  # no encoder copied
    sources, note = app.discover_sources({}, search=[tmp_path / "missing", root])
    assert {k: v for k, v in sources.items() if v} == found and "found in `outputs/quickstart`" in note
    assert str(tmp_path) not in note  # the folder is named, not the server's path to it
    assert "EEG2IMG_GAN" in note and "repo ids" in note  # how to point the app at Hub repos
    demo = app.build_demo_from_env({}, search=[root])
    assert demo.backend.unavailable == {} and demo.backend.origin == note
    assert demo.backend.requirements_markdown().startswith(note)
    assert app.discover_sources({"EEG2IMG_QUICKSTART": str(root)})[1] == note  # another folder, by variable
    explicit, none = app.discover_sources({"EEG2IMG_CLIP": "org/clip"}, search=[root])
    assert none is None and explicit["clip"] == "org/clip" and explicit["gan"] is None
    empty, none = app.discover_sources({}, search=[tmp_path / "missing"])
    assert none is None and not any(empty.values())


def test_a_relative_quickstart_folder_is_pinned_where_it_was_found(app, paths, tmp_path, monkeypatch):
    """The models load after discovery: a folder found relative to the working directory keeps pointing there when
    the working directory changes (or holds another quickstart) later."""
    here = tmp_path / "here"
    for name, target in quickstart_layout(here / "outputs" / "quickstart").items():
        if name in paths:
            shutil.copytree(paths[name], target)
    monkeypatch.chdir(here)
    sources, note = app.discover_sources({}, search=[Path("outputs", "quickstart")])
    assert "found in `outputs/quickstart`" in note  # named relative to the working directory, as the user knows it
    monkeypatch.chdir(tmp_path)
    assert sources["gan"] == str(quickstart_layout(here / "outputs" / "quickstart")["gan"].resolve())
    assert all(Path(v).is_absolute() and Path(v).exists() for v in sources.values() if v)


def test_batch_view(app, backend):
    generated, stimuli, info = backend.batch("test", ["Car", "Apple"], 2, 3, 1.0)
    grid = class_grid(backend.generation, backend.dataset["test"], [1, 0], 2, 3)
    room = app.GRID_HEADROOM  # a white band for the image component's label
    expected = label_grid_rows(grid.generated_grid(), ["Car", "Apple"], 4)
    assert np.array_equal(np.asarray(generated)[room:], np.asarray(expected))
    assert (np.asarray(generated)[:room] == 255).all()
    expected = label_grid_rows(grid.stimulus_grid(), ["Car", "Apple"], 4)
    assert np.array_equal(np.asarray(stimuli)[room:], np.asarray(expected))
    assert generated.size == stimuli.size and generated.height == room + 4 * (2 * (16 + 2) + 2)
    assert "2 classes x 2 trials of the test split" in info and "cells 16x16 px, shown enlarged 4x" in info
    assert "judge: " in info and "of 4 stimuli classified" in info
    labels = np.asarray(backend.dataset["test"]["label"])
    assert all(labels[i] == c for c, row in zip(grid.class_ids, grid.rows) for i in row)
    for bad, message in (({"classes": []}, "at least one class"), ({"classes": ["Zebra"]}, "unknown"),
                         ({"trials": 9}, "between 1 and 8"), ({"trials": 5}, "'Car' has 4 trials in the test split"),
                         ({"split": "nope"}, "Unknown split")):
        args = {"split": "test", "classes": ["Car"], "trials": 1, **bad}
        with pytest.raises(ValueError, match=message):
            backend.batch(args["split"], args["classes"], args["trials"], 0, 1.0)


@pytest.fixture(scope="module")
def server(demo):
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        yield demo.local_url
    finally:
        demo.close()


def test_gradio_client_endpoints(server, backend, trials, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/generate", "/retrieve", "/reconstruct", "/batch"} <= set(endpoints)
    plot, shown, gallery, info = client.predict("dataset", "test", 1, None, 7, 2, 1.0, False, "average",
                                                api_name="/generate")
    assert Path(plot).is_file() and Path(shown).is_file() and len(gallery) == 2 and "true class" in info
    direct = backend.generate("dataset", "test", 1, None, 7, 2, 1.0)[2]
    served = Image.open(gallery[0]["image"]).convert("RGB")
    assert served.size == direct[0][0].size
    plot, true_image, items, table, info = client.predict("dataset", "test", 2, None, 3, False, api_name="/retrieve")
    assert len(items) == 3 and len(table["data"]) in (3, 4) and "ranked" in info and Path(true_image).is_file()
    source, recon, decoded, info = client.predict("dataset", "test", 0, None, 5, 1, 0.7, "condition",
                                                  api_name="/reconstruct")
    assert Path(source).is_file() and len(recon) == 1 and "reconstruction" in info and decoded["data"]
    assert "towards the trial's own mean latent" in info  # the centre reaches the handler through the API
    generated, stimuli, info = client.predict("test", ["Apple", "Dog"], 1, 0, 1.0, "average", api_name="/batch")
    assert Path(generated).is_file() and Path(stimuli).is_file() and "2 classes x 1 trials" in info
    marker = tmp_path / "unpickled"
    np.save(tmp_path / "pickle.npy", np.array([_Touch(marker)], dtype=object), allow_pickle=True)
    with pytest.raises(Exception, match="pickle"):
        client.predict("upload", None, 0, handle_file(str(tmp_path / "pickle.npy")), 0, 1, 1.0, api_name="/generate")
    assert not marker.exists()
    np.save(tmp_path / "trials.npy", trials)
    *_, info = client.predict("upload", None, 2, handle_file(str(tmp_path / "trials.npy")), 0, 1, 1.0,
                              api_name="/generate")
    assert "trials.npy" in info and "trial 2" in info  # still serving after the error


def test_grid_row_labels_are_legible_and_fit():
    """Row labels are drawn at `LABEL_FONT_SIZE` px in a margin as wide as the longest label; a label too long for
    the margin is cut with "..."."""
    import math

    from PIL import ImageFont

    from eeg2img_hf.pipelines.grids import LABEL_FONT_SIZE

    grid = np.full((2 * 18 + 2, 18 + 2, 3), 100, np.uint8)
    font = ImageFont.load_default(size=LABEL_FONT_SIZE)
    short = label_grid_rows(grid, ["Dog", "Car"], scale=2)
    widest = max(math.ceil(font.getlength(label)) for label in ("Dog", "Car"))
    assert short.height == grid.shape[0] * 2 and short.width - grid.shape[1] * 2 == 8 + widest
    text = np.asarray(short)[:, : short.width - grid.shape[1] * 2]
    rows = np.flatnonzero((text < 128).any(axis=(1, 2)))
    assert rows.max() - rows.min() >= LABEL_FONT_SIZE  # two labels, one per row, at the font's size
    long = label_grid_rows(grid, ["a class name far longer than any margin should be", "Car"], scale=2, max_width=120)
    assert long.width - grid.shape[1] * 2 <= 120

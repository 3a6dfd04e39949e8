"""The Gradio Space `spaces/eeg2img-demo/app.py`: handlers called directly (outputs, readable errors for bad
uploads) and every endpoint through `gradio_client` against the app on 127.0.0.1 (tiny random models, CPU)."""

from __future__ import annotations

import importlib.util
import pathlib
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

gr = pytest.importorskip("gradio", reason="the Space needs gradio (pip install 'eeg2img_hf[space]')")

APP_PATH = Path(__file__).resolve().parents[1] / "spaces" / "eeg2img-demo" / "app.py"
CLASSES = ["Apple", "Car", "Dog"]
N_CHANS, N_TIMES, EMBED, SFREQ = 14, 32, 12, 128.0


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
    from eeg2img_hf.data import simulate_dataset
    from eeg2img_hf.models import (EEGEncoderConfig, EEGStyleGANConfig, EEGStyleGANModel, ImageToEEGConfig,
                                   ImageToEEGModel)  # fmt: skip
    from eeg2img_hf.models.eeg_clip import EEGClipConfig, EEGClipModel

    torch.manual_seed(0)
    encoder = EEGEncoderConfig(n_chans=N_CHANS, n_times=N_TIMES, lstm_num_layers=1, lstm_hidden_size=10,
                               embed_dim=EMBED, sfreq=SFREQ)  # fmt: skip
    models = {
        "gan": EEGStyleGANModel(EEGStyleGANConfig.from_preset("tiny", encoder_config=encoder)),
        "clip": EEGClipModel(EEGClipConfig.from_preset("tiny", encoder_config={"n_chans": N_CHANS})),
        "image_to_eeg": ImageToEEGModel(ImageToEEGConfig.from_preset("tiny", eeg_embed_dim=EMBED)),
    }
    paths = {}
    for name, model in models.items():
        model.save_pretrained(root / name)
        paths[name] = str(root / name)
    dataset = simulate_dataset("thoughtviz", n_subjects=2, classes=CLASSES, images_per_class=2, image_size=32,
                               trials_per_block=3, n_blocks_per_class=2)  # fmt: skip
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
              + field(f"{n_times / sfreq:g}", 8) + field(n_chans, 4))  # fmt: skip
    columns = [(16, [f"EEG{i}" for i in range(n_chans)]), (80, [""] * n_chans), (8, ["uV"] * n_chans),
               (8, ["-1000"] * n_chans), (8, ["1000"] * n_chans), (8, ["-32768"] * n_chans),
               (8, ["32767"] * n_chans), (80, [""] * n_chans), (8, [n_times] * n_chans),
               (32, [""] * n_chans)]  # fmt: skip
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
    assert set(messages) == {"generate", "retrieve", "reconstruct"}
    assert "EEG2IMG_GAN" in messages["generate"] and "EEG2IMG_CLIP" in messages["retrieve"]
    elem_ids = {block.elem_id for block in demo.blocks.values()}
    assert {"generate-unavailable", "retrieve-unavailable", "reconstruct-unavailable"} <= elem_ids
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
    api_names = {dep.get("api_name") for dep in demo.config["dependencies"]}
    assert {"generate", "retrieve", "reconstruct"} <= api_names
    with pytest.raises(ValueError, match="Could not load the EEGClip model"):
        app.build_demo(clip=str(Path(paths["dataset"]) / "missing"))


def test_generate_from_dataset_trial(app, backend):
    plot, shown, gallery, info = backend.generate("dataset", "test", 1, None, 7, 3, 1.0)
    assert isinstance(plot, Image.Image) and plot.width > 100
    assert isinstance(shown, Image.Image)
    row = backend.dataset["test"][1]
    label = CLASSES[row["label"]]
    assert len(gallery) == 3 and all(f"true class: {label}" in caption for _, caption in gallery)
    assert f"true class: {label}" in info and "seed 7" in info
    expected = backend.generation(np.asarray(row["eeg"], np.float32), seed=7, num_images_per_eeg=3)
    for (image, _), reference in zip(gallery, expected):
        assert np.array_equal(np.asarray(image), np.asarray(app._display(reference)))
    again = backend.generate("dataset", "test", 1, None, 7, 3, 1.0)[2]
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for (a, _), (b, _) in zip(gallery, again))
    other = backend.generate("dataset", "test", 1, None, 8, 1, 1.0)[2][0][0]
    assert not np.array_equal(np.asarray(other), np.asarray(gallery[0][0]))


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
        "trial.txt": "Unsupported EEG file type", "fast-epo.fif": "'fast-epo.fif' has 14 channels x 32 samples at 256 Hz",
        "missing.npy": "could not be found", "corrupt.fif": "not a readable .fif recording",
    }  # fmt: skip
    for name, message in cases.items():
        with pytest.raises(ValueError, match=message):
            backend.generate("upload", None, 0, str(tmp_path / name), 0, 1, 1.0)
    assert not marker.exists(), "an uploaded pickle was unpickled"
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


def test_retrieval_marks_the_true_image(backend):
    gallery = backend.gallery_for("test")
    plot, items, rows, info = backend.retrieve("dataset", "test", 2, None, len(gallery))
    true_id = backend.dataset["test"][2]["image_id"]
    assert len(items) == len(rows) == len(gallery) == 6
    assert [row[0] for row in rows] == list(range(1, 7))
    assert [row[1] for row in rows] == sorted((row[1] for row in rows), reverse=True)
    marked = [row for row in rows if row[4]]
    assert len(marked) == 1 and marked[0][3] == true_id
    assert "TRUE IMAGE" in items[marked[0][0] - 1][1]
    assert f"true image {true_id!r}" in info and f"ranked {marked[0][0]} of 6" in info
    top2 = backend.retrieve("dataset", "test", 2, None, 2)[2]
    assert top2 == rows[:2]
    with pytest.raises(ValueError, match="Top-k must be between 1 and 6"):
        backend.retrieve("dataset", "test", 2, None, 7)


def test_retrieval_with_saved_gallery_and_upload(app, backend, paths, trials, tmp_path):
    index_path = backend.gallery_for("test").save(tmp_path / "gallery.safetensors")
    other = app.DemoBackend(clip=paths["clip"], dataset=backend.dataset, gallery=index_path)
    np.save(tmp_path / "trial.npy", trials[0])
    plot, items, rows, info = other.retrieve("upload", None, 0, str(tmp_path / "trial.npy"), 3)
    assert len(items) == 3 and not any(row[4] for row in rows) and "unknown" in info
    assert all(isinstance(image, Image.Image) for image, _ in items)  # pixels re-attached from the dataset
    from eeg2img_hf.models.eeg_clip import EEGClipConfig, EEGClipModel

    torch.manual_seed(123)
    foreign = EEGClipModel(EEGClipConfig.from_preset("tiny", encoder_config={"n_chans": N_CHANS}))
    with pytest.raises(ValueError, match="stale or foreign gallery index"):
        app.DemoBackend(clip=foreign, gallery=index_path)


def test_reconstruct_dataset_and_upload(app, backend, tmp_path):
    source, gallery, info = backend.reconstruct("dataset", "test", 0, None, 5, 2, 0.8)
    assert isinstance(source, Image.Image) and len(gallery) == 2
    assert f"true class: {CLASSES[backend.dataset['test'][0]['label']]}" in info and "12-D" in info
    image = backend.dataset["test"][0]["image"]
    image.save(tmp_path / "stimulus.png")
    uploaded = backend.reconstruct("upload", None, 0, str(tmp_path / "stimulus.png"), 5, 2, 0.8)
    for (a, _), (b, _) in zip(uploaded[1], gallery):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    (tmp_path / "fake.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="not a readable image"):
        backend.reconstruct("upload", None, 0, str(tmp_path / "fake.png"), 5, 1, 1.0)
    image.save(tmp_path / "trial.gif")
    with pytest.raises(ValueError, match="Unsupported image type '.gif'"):
        backend.reconstruct("upload", None, 0, str(tmp_path / "trial.gif"), 5, 1, 1.0)
    small = app.DemoBackend(gan=backend.generation.model, image_to_eeg=backend.reconstruction.model,
                            max_upload_bytes=100)  # fmt: skip
    with pytest.raises(ValueError, match="the limit is"):
        small.reconstruct("upload", None, 0, str(tmp_path / "stimulus.png"), 5, 1, 1.0)


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
    assert {"/generate", "/retrieve", "/reconstruct"} <= set(endpoints)
    plot, shown, gallery, info = client.predict("dataset", "test", 1, None, 7, 2, 1.0, api_name="/generate")
    assert Path(plot).is_file() and Path(shown).is_file() and len(gallery) == 2 and "true class" in info
    direct = backend.generate("dataset", "test", 1, None, 7, 2, 1.0)[2]
    served = Image.open(gallery[0]["image"]).convert("RGB")
    assert served.size == direct[0][0].size
    plot, items, table, info = client.predict("dataset", "test", 2, None, 3, api_name="/retrieve")
    assert len(items) == 3 and len(table["data"]) == 3 and "ranked" in info
    source, recon, info = client.predict("dataset", "test", 0, None, 5, 1, 1.0, api_name="/reconstruct")
    assert Path(source).is_file() and len(recon) == 1 and "reconstruction" in info
    marker = tmp_path / "unpickled"
    np.save(tmp_path / "pickle.npy", np.array([_Touch(marker)], dtype=object), allow_pickle=True)
    with pytest.raises(Exception, match="pickle"):
        client.predict("upload", None, 0, handle_file(str(tmp_path / "pickle.npy")), 0, 1, 1.0, api_name="/generate")
    assert not marker.exists()
    np.save(tmp_path / "trials.npy", trials)
    *_, info = client.predict("upload", None, 2, handle_file(str(tmp_path / "trials.npy")), 0, 1, 1.0,
                              api_name="/generate")  # fmt: skip
    assert "trials.npy" in info and "trial 2" in info  # still serving after the error

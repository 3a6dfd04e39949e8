"""`eeg-to-image` pipeline, `eeg2img generate` and the remote-code export (tiny models, CPU, seconds)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import pipeline

import eeg2img_hf.pipelines  # noqa: F401  (registers the task)
from eeg2img_hf.cli import main
from eeg2img_hf.data import simulate_dataset
from eeg2img_hf.models import EEGEncoderConfig, EEGStyleGANConfig, EEGStyleGANModel
from eeg2img_hf.pipelines import EEGToImagePipeline, eeg_to_image

from testing_utils import PipelineTesterMixin

N_CHANS, N_TIMES, EMBED_DIM, RES = 4, 32, 12, 16
# first channel, 3x3 top-left corner of the first image: tiny model after torch.manual_seed(0), eeg below, seed=0
GOLDEN_UINT8 = np.array([[135, 129, 113], [138, 132, 113], [135, 133, 120]])
GOLDEN_FLOAT = torch.tensor([[0.0573, 0.0098, -0.1159], [0.0829, 0.0367, -0.1164], [0.0608, 0.0450, -0.0585]])


def make_model(n_chans: int = N_CHANS, seed: int = 0) -> EEGStyleGANModel:
    encoder = EEGEncoderConfig(n_chans=n_chans, n_times=N_TIMES, lstm_num_layers=1, lstm_hidden_size=10,
                               embed_dim=EMBED_DIM)
    torch.manual_seed(seed)
    return EEGStyleGANModel(EEGStyleGANConfig.from_preset("tiny", encoder_config=encoder)).eval()


@pytest.fixture(scope="module")
def pipe():
    return pipeline("eeg-to-image", model=make_model(), device="cpu")


@pytest.fixture(scope="module")
def eeg() -> np.ndarray:
    return torch.rand(3, N_CHANS, N_TIMES, generator=torch.Generator().manual_seed(0)).numpy()


def first(result):
    """The first image of a single-trial result."""
    return result["images"][0]


def images_of(results) -> torch.Tensor:
    """Every image of a list of results, trial by trial, stacked (`output_type="pt"`)."""
    return torch.stack([image for result in results for image in result["images"]])


def _dataset(eeg: np.ndarray):
    from datasets import Array2D, ClassLabel, Dataset, Features

    features = Features({"eeg": Array2D((N_CHANS, N_TIMES), "float32"), "label": ClassLabel(names=["a", "b", "c"])})
    return Dataset.from_dict({"eeg": eeg.tolist(), "label": [0, 1, 2]}, features=features)


class TestEEGToImageContract(PipelineTesterMixin):
    """One `{"images": [...], "eeg_embeds": ...}` dict per trial: one for a single trial, a list for a batch."""

    call_options = {"seed": 0, "output_type": "pt"}
    variants = [{"num_images_per_eeg": 2}, {"output_type": "np"}, {"output_type": "pil"},
                {"truncation_psi": 0.5, "truncation_center": "condition"}, {"noise_mode": "random"}]
    bad_options = [({"output_type": "jpg"}, "output_type"), ({"num_images_per_eeg": 0}, "num_images_per_eeg"),
                   ({"generator": torch.Generator()}, "not both"), ({"noise_mode": "loud"}, "noise_mode"),
                   ({"truncation_center": "class"}, "truncation_center"), ({"truncation_psi": 3.0}, "truncation_psi"),
                   ({"batch_size": 0}, "batch_size"), ({"seed": -1}, "seed")]

    def make_pipeline(self):
        return pipeline("eeg-to-image", model=make_model(), device="cpu")

    def eeg(self) -> np.ndarray:
        return torch.rand(3, N_CHANS, N_TIMES, generator=torch.Generator().manual_seed(0)).numpy()

    def single_inputs(self) -> list:
        eeg = self.eeg()
        return [eeg[0], torch.from_numpy(eeg[0]), eeg[0].tolist(), eeg[0].astype(np.float64), {"eeg": eeg[0]},
                _dataset(eeg)[0]]

    def batch_inputs(self) -> list:
        eeg, dataset = self.eeg(), _dataset(self.eeg())
        return [eeg, torch.from_numpy(eeg), list(eeg), [torch.from_numpy(e) for e in eeg], {"eeg": eeg}, dataset[:3],
                dataset, [dataset[i] for i in range(3)]]

    def check_item(self, item, options: dict) -> None:
        assert isinstance(item, dict) and set(item) == {"images", "eeg_embeds"}
        images = item["images"]
        assert isinstance(images, list) and len(images) == options.get("num_images_per_eeg", 1)
        kind = {"pil": Image.Image, "np": np.ndarray, "pt": torch.Tensor}[options.get("output_type", "pil")]
        assert all(isinstance(image, kind) for image in images)
        embed_kind = torch.Tensor if options.get("output_type") == "pt" else np.ndarray
        assert isinstance(item["eeg_embeds"], embed_kind) and tuple(item["eeg_embeds"].shape) == (EMBED_DIM,)

    def comparable(self, item) -> torch.Tensor:
        return torch.stack(item["images"])

    def test_embeddings_in_and_out(self):
        eeg = self.eeg()
        result = self.run(eeg[:2])
        embeds = torch.stack([r["eeg_embeds"] for r in result])
        torch.testing.assert_close(embeds, self.pipe.model.eeg_encoder(eeg_values=torch.from_numpy(eeg[:2])).eeg_embeds)
        from_embeds = self.pipe(eeg_embeds=embeds, **self.call_options)
        assert isinstance(from_embeds, list) and len(from_embeds) == 2
        torch.testing.assert_close(images_of(from_embeds), images_of(result))
        single = self.pipe(eeg_embeds=embeds[0], seed=0, output_type="np")
        self.check_item(single, {"output_type": "np"})
        with pytest.raises(ValueError, match="embed_dim"):
            self.pipe(eeg_embeds=torch.zeros(2, 5))
        with pytest.raises(TypeError, match="return_embeds"):  # every result holds its embedding now
            self.pipe(eeg[0], return_embeds=True)


def test_task_is_registered(pipe):
    assert isinstance(pipe, EEGToImagePipeline)
    assert pipe.task == "eeg-to-image"


def test_output_types(pipe, eeg):
    image = first(pipe(eeg[0], seed=0))
    assert isinstance(image, Image.Image) and image.size == (RES, RES) and image.mode == "RGB"
    array = first(pipe(eeg[0], seed=0, output_type="np"))
    assert array.shape == (RES, RES, 3) and array.dtype == np.uint8
    tensor = first(pipe(eeg[0], seed=0, output_type="pt"))
    assert tensor.shape == (3, RES, RES) and tensor.dtype == torch.float32
    assert tensor.min() >= -1 and tensor.max() <= 1
    np.testing.assert_array_equal(np.asarray(image), array)


def test_golden_slice(pipe, eeg):
    np.testing.assert_allclose(first(pipe(eeg[0], seed=0, output_type="np"))[:3, :3, 0], GOLDEN_UINT8, atol=2)
    torch.testing.assert_close(first(pipe(eeg[0], seed=0, output_type="pt"))[0, :3, :3], GOLDEN_FLOAT, atol=1e-4,
                               rtol=0)


def test_num_images_per_eeg_and_batch_size(pipe, eeg):
    result = pipe(eeg[:2], num_images_per_eeg=3, seed=0, output_type="pt")
    assert len(result) == 2 and all(len(r["images"]) == 3 for r in result)
    assert not torch.equal(result[0]["images"][0], result[0]["images"][1])
    calls = []
    hook = pipe.model.generator.register_forward_hook(lambda module, args, output: calls.append(len(args[0])))
    try:
        chunked = pipe(eeg[:2], num_images_per_eeg=3, seed=0, output_type="pt", batch_size=4)
    finally:
        hook.remove()
    assert calls == [4, 2]  # 6 images in forward passes of at most 4
    torch.testing.assert_close(images_of(result), images_of(chunked), atol=1e-5, rtol=1e-5)


def test_seed_and_generator_reproducibility(pipe, eeg):
    def stacked(results):
        return np.stack([image for r in results for image in r["images"]])

    first_run = stacked(pipe(eeg, seed=7, output_type="np"))
    np.testing.assert_array_equal(first_run, stacked(pipe(eeg, seed=7, output_type="np")))
    assert not np.array_equal(first_run, stacked(pipe(eeg, seed=8, output_type="np")))
    with_generator = pipe(eeg, generator=torch.Generator().manual_seed(7), output_type="np")
    np.testing.assert_array_equal(first_run, stacked(with_generator))
    noisy = [first(pipe(eeg[0], seed=1, noise_mode="random", output_type="pt")) for _ in range(2)]
    torch.testing.assert_close(noisy[0], noisy[1])


def test_truncation_psi_zero_ignores_latents(pipe, eeg):
    images = pipe(eeg[0], num_images_per_eeg=2, truncation_psi=0.0, seed=0, output_type="pt")["images"]
    torch.testing.assert_close(images[0], images[1])


def test_conditional_truncation(pipe, eeg):
    kwargs = {"num_images_per_eeg": 2, "truncation_psi": 0.0, "seed": 0, "output_type": "pt"}
    images = [r["images"] for r in pipe(eeg[:2], truncation_center="condition", **kwargs)]
    torch.testing.assert_close(images[0][0], images[0][1])  # psi 0: the trial's own centre, whatever the latent
    assert not torch.allclose(images[0][0], images[1][0])  # another trial keeps its own condition
    assert not torch.allclose(images[0][0], pipe(eeg[:2], **kwargs)[0]["images"][0])  # not the w_avg image
    options = {"truncation_center": "condition", "truncation_psi": 0.5, "seed": 3, "output_type": "pt"}
    torch.testing.assert_close(first(pipe(eeg[0], **options)), first(pipe(eeg[0], **options)))


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.zeros((5, N_TIMES), np.float32), "n_chans=4"),
        (np.zeros((N_CHANS, 31), np.float32), "n_times=32"),
        (np.zeros((N_TIMES, N_CHANS), np.float32), "transposed"),
        (np.full((N_CHANS, N_TIMES), np.nan, np.float32), "NaN"),
        (np.ones((N_CHANS, N_TIMES), np.int64), "int64"),
        (np.ones((1, 1, N_CHANS, N_TIMES), np.float32), "4-D"),
        (np.ones(N_TIMES, np.float32), "1-D"),
        ([[1.0, 2.0], [3.0]], "rectangular"),
        (-np.ones((N_CHANS, N_TIMES), np.float32), "max <= 0"),
        ({"image": 1}, "'eeg'"),
        ("eeg.npy", "Expected EEG"),
    ],
)
def test_bad_inputs_raise_before_the_model_runs(pipe, bad, match):
    with pytest.raises(ValueError, match=match):
        pipe(bad)


def test_train_mode_model_is_put_in_eval():
    model = make_model().train()
    pipe = pipeline("eeg-to-image", model=model, device="cpu")
    w_avg = model.generator.mapping.w_avg.clone()
    pipe(np.ones((N_CHANS, N_TIMES), np.float32), seed=0)
    assert not model.training and torch.equal(model.generator.mapping.w_avg, w_avg)


def test_pipeline_from_saved_folders(pipe, eeg, tmp_path):
    import json

    expected = first(pipe(eeg[0], seed=0, output_type="np"))
    pipe.model.save_pretrained(tmp_path / "model")  # a plain model folder: the registered task is enough
    again = pipeline("eeg-to-image", model=str(tmp_path / "model"), device="cpu")
    assert isinstance(again, EEGToImagePipeline)
    np.testing.assert_array_equal(first(again(eeg[0], seed=0, output_type="np")), expected)

    pipe.save_pretrained(tmp_path / "pipe")
    config = json.loads((tmp_path / "pipe" / "config.json").read_text())
    assert config["custom_pipelines"]["eeg-to-image"]["impl"] == "eeg_to_image.EEGToImagePipeline"
    assert (tmp_path / "pipe" / "eeg_to_image.py").exists()
    # transformers gives a folder's `custom_pipelines` priority over the registry (it then asks for
    # trust_remote_code); `pipeline_class` keeps the installed class
    again = pipeline("eeg-to-image", model=str(tmp_path / "pipe"), device="cpu", pipeline_class=EEGToImagePipeline)
    np.testing.assert_array_equal(first(again(eeg[0], seed=0, output_type="np")), expected)


def test_remote_code_pipeline_without_the_package(pipe, eeg, tmp_path):
    from testing_utils import run_python

    pipe.save_pretrained(tmp_path)
    np.save(tmp_path / "eeg.npy", eeg[0])
    np.save(tmp_path / "expected.npy", first(pipe(eeg[0], seed=0, output_type="np")))
    proc = run_python(f"""
        import sys
        sys.modules["eeg2img_hf"] = None  # the package must not be needed
        import numpy as np
        from transformers import pipeline
        pipe = pipeline(model={str(tmp_path)!r}, trust_remote_code=True, device="cpu")
        image = pipe(np.load({str(tmp_path / 'eeg.npy')!r}), seed=0, output_type="np")["images"][0]
        np.testing.assert_array_equal(image, np.load({str(tmp_path / 'expected.npy')!r}))
        print(type(pipe).__module__, type(pipe).__name__)
    """)
    assert proc.returncode == 0, proc.stderr[-3000:]
    module, name = proc.stdout.split()[-2:]
    assert name == "EEGToImagePipeline" and not module.startswith("eeg2img_hf")


@pytest.fixture(scope="module")
def generate_setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("generate")
    dataset = simulate_dataset("thoughtviz", n_subjects=1, n_blocks_per_class=2, trials_per_block=5, image_size=16)
    dataset.save_to_disk(str(root / "data"))
    make_model(n_chans=dataset["test"].features["eeg"].shape[0]).save_pretrained(root / "model")
    return root


def test_generate_cli_is_byte_reproducible(generate_setup):
    from testing_utils import run_python

    root = generate_setup
    args = [str(root / "model"), "--dataset", str(root / "data"), "--classes", "3", "--trials-per-class", "2",
            "--seeds", "0-1", "--device", "cpu", "--threads", "1"]
    threads = torch.get_num_threads()
    try:
        assert main(["generate", *args, "--output-dir", str(root / "a")]) == 0
    finally:
        torch.set_num_threads(threads)  # the CLI sets it process-wide
    argv = ["generate", *args, "--output-dir", str(root / "b")]
    proc = run_python(f"from eeg2img_hf.cli import main; raise SystemExit(main({argv!r}))")  # a fresh process
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = sorted(p.name for p in (root / "a").iterdir() if p.name != ".eeg2img-output.json")  # ownership marker
    assert names == ["manifest.json", "seed0000.png", "seed0000_real.png", "seed0001.png", "seed0001_real.png"]
    for name in names:
        assert (root / "a" / name).read_bytes() == (root / "b" / name).read_bytes(), name
    grid = np.asarray(Image.open(root / "a" / "seed0000.png"))
    assert grid.shape == (3 * (RES + 2) + 2, 2 * (RES + 2) + 2, 3)  # rows = classes, columns = trials
    assert Image.open(root / "a" / "seed0000_real.png").size == Image.open(root / "a" / "seed0000.png").size


def test_generate_cli_conditional_truncation(generate_setup):
    import json

    root = generate_setup
    args = [str(root / "model"), "--dataset", str(root / "data"), "--classes", "2", "--trials-per-class", "2",
            "--device", "cpu", "--truncation-psi", "0", "--truncation-center", "condition"]
    assert main(["generate", *args, "--output-dir", str(root / "conditional")]) == 0
    manifest = json.loads((root / "conditional" / "manifest.json").read_text())
    assert json.dumps(manifest).count('"truncation_center": "condition"') >= 1
    with pytest.raises(SystemExit) as exit_info:  # argparse: one usage line and the error, exit 2
        main(["generate", *args[:-1], "class", "--output-dir", str(root / "bad")])
    assert exit_info.value.code == 2
    assert not (root / "bad").exists()


def test_generate_cli_single_trial_and_pickle_refused(generate_setup, capsys):
    import pickle

    root = generate_setup
    np.save(root / "trial.npy", np.random.default_rng(0).random((14, N_TIMES), dtype=np.float32))
    out = root / "single"
    assert main(["generate", str(root / "model"), "--eeg", str(root / "trial.npy"), "--num-images", "3",
                 "--device", "cpu", "--output-dir", str(out)]) == 0
    assert Image.open(out / "eeg_seed0000.png").size == (3 * (RES + 2) + 2, RES + 4)
    with open(root / "pickled.npy", "wb") as handle:
        pickle.dump(np.zeros((14, N_TIMES)), handle)
    np.save(root / "object.npy", np.array([{"eeg": 1}], dtype=object), allow_pickle=True)
    for name in ("pickled.npy", "object.npy"):
        assert main(["generate", str(root / "model"), "--eeg", str(root / name), "--output-dir", str(out)]) == 2
        err = capsys.readouterr().err
        assert "pickle" in err and "refused" in err and name in err
    np.save(root / "wide.npy", np.random.default_rng(0).random((20, N_TIMES), dtype=np.float32))
    assert main(["generate", str(root / "model"), "--eeg", str(root / "wide.npy"), "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err  # a numpy file has no channel names: picking is no way out, the shape is
    assert "'wide.npy' stores no channel names" in err and f"as an array (14, {N_TIMES})" in err
    assert "--pick-and-resample" not in err


def test_generate_cli_reads_mne_files_and_picks_and_resamples(tmp_path, capsys):
    """`--eeg` takes any format of the package's reader; a file at another rate or with other channels is refused
    with one message, and `--pick-and-resample --ch-names` makes it fit."""
    mne = pytest.importorskip("mne")

    encoder = EEGEncoderConfig(n_chans=2, n_times=N_TIMES, lstm_num_layers=1, lstm_hidden_size=10,
                               embed_dim=EMBED_DIM, sfreq=64.0)
    torch.manual_seed(0)
    EEGStyleGANModel(EEGStyleGANConfig.from_preset("tiny", encoder_config=encoder)).save_pretrained(tmp_path / "model")
    info = mne.create_info(["Fz", "O1", "O2"], 128.0, "eeg")
    data = np.random.default_rng(0).normal(scale=1e-5, size=(2, 3, 2 * N_TIMES))
    mne.EpochsArray(data, info, verbose="error").save(tmp_path / "x-epo.fif", verbose="error")
    argv = ["generate", str(tmp_path / "model"), "--eeg", str(tmp_path / "x-epo.fif"), "--num-images", "1",
            "--device", "cpu"]
    assert main(argv + ["--output-dir", str(tmp_path / "refused")]) == 2
    err = capsys.readouterr().err
    assert (f"the model needs 2 channels x {N_TIMES} samples at 64 Hz; 'x-epo.fif' has 3 channels x {2 * N_TIMES} "
            "samples at 128 Hz") in err
    assert "pick the model's channels by name and resample" in err and "--pick-and-resample --ch-names" in err
    assert main(argv + ["--pick-and-resample", "--ch-names", "O2,O1", "--output-dir", str(tmp_path / "out")]) == 0
    assert Image.open(tmp_path / "out" / "eeg_seed0000.png").size == (RES + 4, 2 * (RES + 2) + 2)  # 2 trials


def test_pipeline_module_imports_only_portable_libraries(tmp_path, pipe):
    """The file is copied next to saved models (remote code): no eeg2img_hf imports; its one relative import is the
    sibling `precision.py`, which transformers copies with it and which imports only torch and the standard
    library."""
    import ast
    import inspect

    from eeg2img_hf.pipelines import precision

    from testing_utils import import_roots

    source = inspect.getsource(eeg_to_image)
    roots = import_roots(source)
    assert roots <= {"__future__", "collections", "typing", "numpy", "torch", "PIL", "transformers", "."}, roots
    relative = {node.module for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom) and node.level}
    assert relative == {"precision"}
    assert import_roots(inspect.getsource(precision)) <= {"__future__", "contextlib", "functools", "os", "platform",
                                                          "pathlib", "typing", "torch"}
    pipe.save_pretrained(tmp_path)
    assert (tmp_path / "precision.py").read_text() == inspect.getsource(precision)


def test_pipeline_task_registered_after_explicit_register(tmp_path):
    """`eeg2img_hf.register()` then `transformers.pipeline("eeg-to-image", ...)`, nothing else imported."""
    from testing_utils import run_python

    encoder = EEGEncoderConfig(n_chans=4, n_times=32, lstm_num_layers=1, embed_dim=12)
    EEGStyleGANModel(EEGStyleGANConfig.from_preset("tiny", encoder_config=encoder)).save_pretrained(tmp_path)
    proc = run_python(f"""
        import numpy as np
        import eeg2img_hf
        eeg2img_hf.register()
        from transformers import pipeline
        pipe = pipeline("eeg-to-image", model={str(tmp_path)!r})
        print(type(pipe).__name__, pipe(np.random.rand(4, 32).astype("float32") + 0.1, seed=0)["images"][0].size)
    """)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("EEGToImagePipeline (16, 16)")

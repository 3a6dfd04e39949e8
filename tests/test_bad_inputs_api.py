"""Values the public Python API used to accept silently are refused with a `ValueError` naming the argument.

Each case passes one bad value (non-finite or out-of-range numbers, seeds outside [0, 2**32 - 1], counts too large
for memory, NaN tensors) to a pipeline, a model, a training-arguments dataclass, a data function or the
`generate` command, and checks the error class and that the message names the argument and the problem.
Tiny models on CPU: the module runs in seconds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from transformers import pipeline

import eeg2img_hf.pipelines  # noqa: F401  (registers the tasks)
from eeg2img_hf.cli import main
from eeg2img_hf.data import simulate_dataset
from eeg2img_hf.data.preprocessing import apply_steps
from eeg2img_hf.data.splits import split_trials
from eeg2img_hf.evaluation.generate import generate_grids, parse_seeds
from eeg2img_hf.models import (
    EEGEncoderConfig,
    EEGEncoderModel,
    EEGStyleGANConfig,
    EEGStyleGANModel,
    ImageToEEGConfig,
    ImageToEEGModel,
)
from eeg2img_hf.models.eeg_clip import EEGClipConfig, EEGClipModel
from eeg2img_hf.models.eeg_stylegan import modeling_eeg_stylegan
from eeg2img_hf.models.image_to_eeg.modeling_image_to_eeg import cross_modal_triplet_loss
from eeg2img_hf.pipelines import eeg_to_image
from eeg2img_hf.pipelines.eeg_to_image import MAX_MEMORY_BYTES, estimate_generation_bytes
from eeg2img_hf.retrieval import build_gallery
from eeg2img_hf.training import EncoderTrainingArguments
from eeg2img_hf.training.train_clip import ClipTrainingArguments
from eeg2img_hf.training.train_gan import GANTrainingArguments
from eeg2img_hf.training.train_image_to_eeg import ImageToEEGTrainingArguments
from eeg2img_hf.utils.checks import MAX_SEED

N_CHANS, N_TIMES, EMBED = 4, 32, 12
NAN, INF = float("nan"), float("inf")


def _encoder_config() -> EEGEncoderConfig:
    return EEGEncoderConfig(n_chans=N_CHANS, n_times=N_TIMES, lstm_num_layers=1, lstm_hidden_size=10, embed_dim=EMBED)


@pytest.fixture(scope="module")
def gan() -> EEGStyleGANModel:
    torch.manual_seed(0)
    return EEGStyleGANModel(EEGStyleGANConfig.from_preset("tiny", encoder_config=_encoder_config())).eval()


@pytest.fixture(scope="module")
def eeg_pipe(gan):
    return pipeline("eeg-to-image", model=gan, device="cpu")


@pytest.fixture(scope="module")
def image_pipe(gan):
    torch.manual_seed(0)
    model = ImageToEEGModel(ImageToEEGConfig.from_preset("tiny")).eval()
    return pipeline("image-to-eeg-to-image", model=model, generator=gan, device="cpu")


@pytest.fixture(scope="module")
def clip() -> EEGClipModel:
    torch.manual_seed(0)
    config = EEGClipConfig.from_preset("tiny", encoder_config={"n_chans": N_CHANS, "n_times": N_TIMES})
    return EEGClipModel(config).eval()


@pytest.fixture(scope="module")
def retrieval_pipe(clip):
    from PIL import Image

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)) for _ in range(4)]
    return pipeline("eeg-image-retrieval", model=clip, gallery=build_gallery(clip, images))


def _eeg(n: int = 2) -> np.ndarray:
    return np.random.default_rng(0).random((n, N_CHANS, N_TIMES), dtype=np.float32) + 0.5


def _images(n: int = 2) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, 20, 20, 3), dtype=np.uint8)


# ------------------------------------------------------------------------------------------- eeg-to-image

EEG_TO_IMAGE_CASES = [
    ({"truncation_psi": NAN}, r"truncation_psi.*\[-1\.0, 2\.0\].*nan"),
    ({"truncation_psi": INF}, r"truncation_psi.*finite.*inf"),
    ({"truncation_psi": -INF}, r"truncation_psi.*-inf"),
    ({"truncation_psi": 5.0}, r"truncation_psi.*\[-1\.0, 2\.0\].*5\.0"),
    ({"truncation_psi": -1.5}, r"truncation_psi.*-1\.5"),
    ({"truncation_psi": "0.7"}, r"truncation_psi.*'0\.7'"),
    ({"truncation_cutoff": -1}, r"truncation_cutoff.*non-negative.*-1"),
    ({"truncation_cutoff": 1000}, r"truncation_cutoff.*num_ws.*1000"),
    ({"noise_mode": "gaussian"}, r"noise_mode.*gaussian"),
    ({"seed": 2**64}, r"seed.*\[0, 4294967295\].*18446744073709551616"),
    ({"seed": 2**32}, r"seed.*4294967295.*4294967296"),
    ({"seed": -1}, r"seed.*\[0, 4294967295\].*-1"),
    ({"seed": 1.5}, r"seed.*integer.*1\.5"),
    ({"seed": True}, r"seed.*True"),
    ({"seed": 0, "generator": torch.Generator()}, r"either `seed` or `generator`"),
    ({"num_images_per_eeg": 0}, r"num_images_per_eeg.*positive integer.*0"),
    ({"num_images_per_eeg": True}, r"num_images_per_eeg.*True"),
    ({"num_images_per_eeg": 10**9}, r"num_images_per_eeg=1000000000.*GiB.*max_memory_bytes"),
    ({"batch_size": 0}, r"batch_size.*positive integer.*0"),
    ({"max_memory_bytes": 0}, r"max_memory_bytes.*positive integer"),
    ({"output_type": "jpg"}, r"output_type.*jpg"),
]


@pytest.mark.parametrize(("options", "match"), EEG_TO_IMAGE_CASES, ids=[repr(c[0]) for c in EEG_TO_IMAGE_CASES])
def test_eeg_to_image_refuses(eeg_pipe, options, match):
    with pytest.raises(ValueError, match=match):
        eeg_pipe(_eeg(), **options)


def test_eeg_to_image_memory_limit_counts_every_input(eeg_pipe, gan):
    limit = estimate_generation_bytes(gan.config, 4)  # one trial's 4 images fit, two trials' 8 do not
    with pytest.raises(ValueError, match=r"2 inputs x num_images_per_eeg=4 asks for 8 images.*over the limit of "
                                         rf".*max_memory_bytes={limit}"):
        eeg_pipe(_eeg(2), num_images_per_eeg=4, max_memory_bytes=limit)
    assert len(eeg_pipe(_eeg(1)[0], num_images_per_eeg=4, max_memory_bytes=limit, seed=0)["images"]) == 4


@pytest.mark.parametrize(
    ("inputs", "match"),
    [
        ({"eeg_embeds": np.full((2, EMBED), np.nan, np.float32)}, r"eeg_embeds.*NaN or inf"),
        ({"eeg_embeds": np.full((EMBED,), np.inf, np.float32)}, r"eeg_embeds.*NaN or inf"),
        ({"inputs": np.where(np.eye(N_CHANS, N_TIMES) > 0, np.inf, _eeg(1)[0]).astype(np.float32)}, r"NaN or inf"),
    ],
    ids=["nan-embeds", "inf-embed", "inf-eeg"],
)
def test_eeg_to_image_refuses_non_finite_inputs(eeg_pipe, inputs, match):
    with pytest.raises(ValueError, match=match):
        eeg_pipe(**inputs)


def test_eeg_to_image_accepts_the_range_edges(eeg_pipe):
    for psi in (-1.0, 0.0, 2.0):
        result = eeg_pipe(_eeg(1)[0], truncation_psi=psi, seed=2**32 - 1, output_type="pt")
        assert torch.isfinite(result["images"][0]).all()


# ---------------------------------------------------------------------------------- image-to-eeg-to-image

IMAGE_CASES = [
    ({"truncation_psi": NAN}, r"truncation_psi.*nan"),
    ({"truncation_psi": 2.5}, r"truncation_psi.*2\.5"),
    ({"seed": 2**64}, r"seed.*4294967295"),
    ({"noise_mode": "off"}, r"noise_mode.*off"),
    ({"num_images_per_image": 0}, r"num_images_per_image.*positive integer"),
    ({"num_images_per_image": 10**9}, r"num_images_per_image=1000000000.*GiB"),
    ({"num_images_per_image": 3, "max_memory_bytes": 1}, r"num_images_per_image=3 asks for 3 images.*1 bytes"),
]


@pytest.mark.parametrize(("options", "match"), IMAGE_CASES, ids=[repr(c[0]) for c in IMAGE_CASES])
def test_image_to_eeg_to_image_refuses(image_pipe, options, match):
    with pytest.raises(ValueError, match=match):
        image_pipe(_images(), **options)


def test_image_to_eeg_to_image_memory_limit_counts_every_image(image_pipe, gan):
    limit = estimate_generation_bytes(gan.config, 3)  # one image's 3 reconstructions fit, two images' 6 do not
    with pytest.raises(ValueError, match=r"2 images x num_images_per_image=3 asks for 6 images"):
        image_pipe(_images(2), num_images_per_image=3, max_memory_bytes=limit)
    assert len(image_pipe(_images(1)[0], num_images_per_image=3, max_memory_bytes=limit, seed=0)["images"]) == 3


# ------------------------------------------------------------------------------------- eeg-image-retrieval

RETRIEVAL_CASES = [
    ({"top_k": 0}, r"top_k.*positive integer.*0"),
    ({"top_k": True}, r"top_k.*True"),
    ({"top_k": 2.0}, r"top_k.*2\.0"),
    ({"top_k": 99}, r"top_k.*gallery.*top_k=99.*4 images"),
    ({"batch_size": -3}, r"batch_size.*-3"),
]


@pytest.mark.parametrize(("options", "match"), RETRIEVAL_CASES, ids=[repr(c[0]) for c in RETRIEVAL_CASES])
def test_retrieval_refuses(retrieval_pipe, options, match):
    with pytest.raises(ValueError, match=match):
        retrieval_pipe(_eeg(), **options)


def test_retrieval_refuses_nan_eeg(retrieval_pipe):
    eeg = _eeg()
    eeg[1, 2, 3] = np.nan
    with pytest.raises(ValueError, match=r"NaN or inf.*\[1\]"):
        retrieval_pipe(eeg)


# ------------------------------------------------------------------------------------------------- models


def _nan_at(shape: tuple[int, ...], row: int = 1) -> torch.Tensor:
    tensor = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    tensor[row].view(-1)[0] = float("nan")
    return tensor


STYLEGAN_CASES = [
    ({"eeg_embeds": _nan_at((2, EMBED))}, r"`eeg_embeds` contains NaN or inf values \(rows \[1\]\)"),
    ({"eeg_embeds": torch.full((2, EMBED), INF)}, r"eeg_embeds.*NaN or inf"),
    ({"eeg_embeds": torch.randn(2, EMBED + 1)}, rf"eeg_embeds.*\(batch_size, {EMBED}\).*\(2, {EMBED + 1}\)"),
    ({"eeg_embeds": torch.ones(2, EMBED, dtype=torch.long)}, r"eeg_embeds.*floating-point.*int64"),
    ({"eeg_embeds": [[0.0] * EMBED]}, r"eeg_embeds.*torch\.Tensor.*list"),
    ({"eeg_embeds": torch.randn(2, EMBED), "latents": _nan_at((2, 8), row=0)}, r"latents.*NaN or inf.*\[0\]"),
    ({"eeg_embeds": torch.randn(2, EMBED), "latents": torch.randn(3, 8)}, r"latents.*\(2, 8\).*\(3, 8\)"),
    ({"eeg_embeds": torch.randn(2, EMBED), "truncation_psi": NAN}, r"truncation_psi.*nan"),
    ({"eeg_embeds": torch.randn(2, EMBED), "truncation_psi": 10}, r"truncation_psi.*\[-1\.0, 2\.0\].*10"),
    ({"eeg_embeds": torch.randn(2, EMBED), "truncation_cutoff": -2}, r"truncation_cutoff.*-2"),
    ({"eeg_embeds": torch.randn(2, EMBED), "noise_mode": "rand"}, r"noise_mode.*rand"),
    ({"eeg_embeds": torch.randn(2, EMBED), "generator": 7}, r"generator.*torch\.Generator.*int"),
    ({"eeg_values": torch.full((2, N_CHANS, N_TIMES), NAN)}, r"eeg_values.*NaN or inf"),
]


@pytest.mark.parametrize(("inputs", "match"), STYLEGAN_CASES, ids=[f"stylegan-{i}" for i in range(len(STYLEGAN_CASES))])
def test_stylegan_model_refuses(gan, inputs, match):
    with pytest.raises(ValueError, match=match), torch.no_grad():
        gan(**inputs)


def test_stylegan_generator_checks_outside_training(gan):
    generator = gan.generator
    with pytest.raises(ValueError, match=r"latents.*NaN or inf"), torch.no_grad():
        generator(_nan_at((2, 8)), eeg_embeds=torch.randn(2, EMBED))
    with pytest.raises(ValueError, match=r"eeg_embeds.*NaN or inf"), torch.no_grad():
        generator(torch.randn(2, 8), eeg_embeds=_nan_at((2, EMBED)))
    with pytest.raises(ValueError, match=r"truncation_psi.*inf"), torch.no_grad():
        generator.mapping(torch.randn(2, 8), torch.randn(2, EMBED), truncation_psi=INF)


@pytest.mark.parametrize(
    ("case", "match"),
    [("encoder-eeg", r"eeg_values.*NaN or inf.*\[1\]"), ("clip-eeg", r"eeg_values.*NaN or inf"),
     ("clip-pixels", r"pixel_values.*NaN or inf"), ("image-to-eeg-pixels", r"pixel_values.*NaN or inf")],
)
def test_other_models_refuse_non_finite_inputs(clip, case, match):
    torch.manual_seed(0)
    encoder = EEGEncoderModel(_encoder_config()).eval()
    image_to_eeg = ImageToEEGModel(ImageToEEGConfig.from_preset("tiny")).eval()
    clip_side, i2e_side = clip.config.image_size, image_to_eeg.config.image_size
    calls = {
        "encoder-eeg": lambda: encoder(eeg_values=_nan_at((2, N_CHANS, N_TIMES))),
        "clip-eeg": lambda: clip.get_eeg_features(torch.full((1, N_CHANS, N_TIMES), INF)),
        "clip-pixels": lambda: clip.get_image_features(torch.full((1, 3, clip_side, clip_side), NAN)),
        "image-to-eeg-pixels": lambda: image_to_eeg(pixel_values=torch.full((1, 3, i2e_side, i2e_side), NAN)),
    }
    with pytest.raises(ValueError, match=match), torch.no_grad():
        calls[case]()


def test_triplet_margin_must_be_finite():
    embeds = torch.nn.functional.normalize(torch.randn(4, 6), dim=-1)
    with pytest.raises(ValueError, match=r"margin.*finite.*nan"):
        cross_modal_triplet_loss(embeds, embeds, margin=NAN)


# ------------------------------------------------------------------------------------- training arguments


def _encoder_args(**overrides):
    return EncoderTrainingArguments.from_preset("cpu-small", **overrides)


def _gan_args(**overrides):
    return GANTrainingArguments.from_preset("tiny", conditioning="onehot", **overrides)


def _clip_args(**overrides):
    return ClipTrainingArguments.from_preset("cpu-small", **overrides)


def _image_to_eeg_args(**overrides):
    return ImageToEEGTrainingArguments.from_preset("cpu-small", encoder="some/encoder", **overrides)


ARGUMENT_CASES = [
    (_encoder_args, {"learning_rate": NAN}, r"learning_rate.*finite.*> 0.*nan"),
    (_encoder_args, {"learning_rate": -1e-3}, r"learning_rate.*-0\.001"),
    (_encoder_args, {"epochs": 0}, r"epochs.*>= 1.*0"),
    (_encoder_args, {"epochs": -5}, r"epochs.*-5"),
    (_encoder_args, {"batch_size": 1}, r"batch_size.*>= 2.*1"),
    (_encoder_args, {"max_steps": 0}, r"max_steps.*>= 1"),
    (_encoder_args, {"seed": 2**64}, r"seed.*\[0, 4294967295\]"),
    (_encoder_args, {"seed": -3}, r"seed.*-3"),
    (_encoder_args, {"keep_checkpoints": 0}, r"keep_checkpoints.*>= 1.*0"),
    (_encoder_args, {"checkpoint_every_steps": -1}, r"checkpoint_every_steps.*>= 0.*-1"),
    (_encoder_args, {"eval_every_epochs": 0}, r"eval_every_epochs.*>= 1"),
    (_encoder_args, {"margin": -0.5}, r"margin.*>= 0.*-0\.5"),
    (_encoder_args, {"margin": INF}, r"margin.*finite.*inf"),
    (_encoder_args, {"weight_decay": NAN}, r"weight_decay.*nan"),
    (_encoder_args, {"adam_betas": (0.9, 1.0)}, r"adam_betas\[1\].*\[0\.0, 1\.0\).*1\.0"),
    (_encoder_args, {"adam_betas": (0.9,)}, r"adam_betas.*two numbers"),
    (_encoder_args, {"loss": "l2"}, r"loss.*triplet-semihard.*'l2'"),
    (_encoder_args, {"resume": "yes"}, r"resume.*True or False"),
    (_gan_args, {"r1_gamma": NAN}, r"r1_gamma.*nan"),
    (_gan_args, {"r1_gamma": -1.0}, r"r1_gamma.*>= 0"),
    (_gan_args, {"kimg": 0}, r"kimg.*> 0"),
    (_gan_args, {"learning_rate": INF}, r"learning_rate.*inf"),
    (_gan_args, {"seed": 2**40}, r"seed.*4294967295"),
    (_gan_args, {"style_mixing_prob": 1.5}, r"style_mixing_prob.*\[0\.0, 1\.0\]"),
    (_gan_args, {"ada_target": NAN}, r"ada_target.*nan"),
    (_gan_args, {"ada_interval": 0}, r"ada_interval.*>= 1"),
    (_gan_args, {"keep_checkpoints": 0}, r"keep_checkpoints.*>= 1"),
    (_gan_args, {"tick_kimg": -1.0}, r"tick_kimg.*> 0"),
    (_gan_args, {"adam_eps": 0.0}, r"adam_eps.*> 0"),
    (_gan_args, {"ema_rampup": NAN}, r"ema_rampup.*nan"),
    (_gan_args, {"batch_size": 1}, r"batch_size.*>= 2"),
    (_clip_args, {"weight_decay": -1.0}, r"weight_decay.*>= 0"),
    (_clip_args, {"learning_rate": 0.0}, r"learning_rate.*> 0"),
    (_image_to_eeg_args, {"margin": INF}, r"margin.*inf"),
    (_image_to_eeg_args, {"seed": 2**32}, r"seed.*4294967296"),
]


@pytest.mark.parametrize(
    ("factory", "overrides", "match"), ARGUMENT_CASES,
    ids=[f"{c[0].__name__[1:]}-{next(iter(c[1]))}-{c[1][next(iter(c[1]))]!r}" for c in ARGUMENT_CASES],
)
def test_training_arguments_refuse(factory, overrides, match):
    with pytest.raises(ValueError, match=match):
        factory(**overrides)


def test_training_arguments_accept_the_range_edges():
    _encoder_args(seed=2**32 - 1, checkpoint_every_steps=0, margin=0.0, adam_betas=(0.0, 0.999))
    _gan_args(seed=0, style_mixing_prob=1.0, r1_gamma=0.0, augment_p=0.0)


# ------------------------------------------------------------------------------------------------ data


def test_simulation_and_split_seeds_and_fractions():
    with pytest.raises(ValueError, match=r"seed.*\[0, 4294967295\].*18446744073709551616"):
        simulate_dataset("thoughtviz", seed=2**64)
    labels, blocks = np.repeat(np.arange(2), 10), np.repeat(np.arange(4), 5)
    with pytest.raises(ValueError, match=r"seed.*-1"):
        split_trials(labels, blocks, seed=-1)
    with pytest.raises(ValueError, match=r"val_fraction.*finite.*nan"):
        split_trials(labels, blocks, val_fraction=NAN)
    with pytest.raises(ValueError, match=r"test_fraction.*\(0\.0, 1\.0\).*0"):
        split_trials(labels, blocks, test_fraction=0)


PREPROCESS_CASES = [
    ([{"name": "resample", "new_sfreq": 1.0}], r"resample.*--resample.*new_sfreq=1 Hz.*1 samples.*MIN_TRIAL_SAMPLES=8"),
    ([{"name": "resample", "new_sfreq": 0.0}], r"new_sfreq must be a positive finite number"),
    ([{"name": "resample", "new_sfreq": NAN}], r"new_sfreq.*nan"),
    ([{"name": "crop", "start": 0, "stop": 4}], r"crop.*--crop.*keeps 4 samples.*MIN_TRIAL_SAMPLES=8"),
    ([{"name": "resample", "new_sfreq": 64.0}, {"name": "bandpass", "l_freq": 1.0, "h_freq": 40.0}],
     r"step 1 .*bandpass.*h_freq=40.0 Hz.*Nyquist frequency 32.0 Hz"),
    ([{"name": "bandpass", "l_freq": -1.0, "h_freq": 20.0}], r"l_freq.*positive.*-1\.0"),
]


@pytest.mark.parametrize(("steps", "match"), PREPROCESS_CASES, ids=["resample-1Hz", "resample-0", "resample-nan",
                                                                    "crop-4", "bandpass-new-nyquist", "l_freq<0"])
def test_preprocessing_steps_leave_usable_trials(steps, match):
    eeg = np.random.default_rng(0).standard_normal((2, 3, 128)).astype(np.float32)
    with pytest.raises(ValueError, match=match):
        apply_steps(eeg, 128.0, steps)


# ------------------------------------------------------------------------------------------ generate


@pytest.mark.parametrize(
    ("text", "match"),
    [("18446744073709551616", r"--seeds.*\[0, 4294967295\]"), ("5-3", r"--seeds range '5-3' is reversed"),
     ("0-4294967296", r"--seeds.*4294967295"), ("0-99999", r"more than 10000 seeds"), ("-2", r"--seeds")],
)
def test_generate_seeds(text, match):
    with pytest.raises(ValueError, match=match):
        parse_seeds(text)


@pytest.mark.parametrize(
    ("options", "match"),
    [({"truncation_psi": NAN}, r"--truncation-psi.*nan"), ({"num_images": 0}, r"--num-images.*>= 1"),
     ({"batch_size": True}, r"--batch-size.*True"), ({"trials_per_class": 2.5}, r"--trials-per-class.*2\.5"),
     ({"seeds": [2**32]}, r"--seeds.*4294967296")],
)
def test_generate_grids_refuses_before_writing(tmp_path, options, match):
    with pytest.raises(ValueError, match=match):
        generate_grids(str(tmp_path / "no-model"), tmp_path / "out", dataset="thoughtviz", **options)
    assert not (tmp_path / "out").exists()


def test_generate_cli_truncation_psi_nan_fails(tmp_path, capsys):
    argv = ["generate", str(tmp_path / "model"), "--dataset", "thoughtviz", "--truncation-psi", "nan",
            "--output-dir", str(tmp_path / "out")]
    try:
        code = main(argv)
    except ValueError as err:
        assert "--truncation-psi" in str(err)
    else:
        assert code != 0 and "--truncation-psi" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_memory_estimate_counts_output_and_chunk(gan):
    config = gan.config
    one = estimate_generation_bytes(config, 1, 1)
    assert one > 3 * config.img_resolution**2 * 4  # at least the float32 image
    assert estimate_generation_bytes(config, 100, 1) > 99 * 3 * config.img_resolution**2 * 9
    assert estimate_generation_bytes(config, 100, 100) > estimate_generation_bytes(config, 100, 1)  # bigger chunk
    assert MAX_MEMORY_BYTES == 4 * 2**30
    assert math.isfinite(one)


def test_constants_agree_across_self_contained_files():
    assert eeg_to_image.TRUNCATION_PSI_RANGE == modeling_eeg_stylegan.TRUNCATION_PSI_RANGE == (-1.0, 2.0)
    assert eeg_to_image.MAX_SEED == MAX_SEED == 2**32 - 1


# ------------------------------------------------------------------------------------------------------------
# Own output folders: the marker lists what the package put there; staging leftovers go only when provably own


def test_replace_folder_records_its_entries_and_refuses_foreign_ones(tmp_path):
    from eeg2img_hf.utils.errors import RefusedOutputError
    from eeg2img_hf.utils.outputs import (
        foreign_entries,
        make_staging_dir,
        read_marker,
        remove_staging_dir,
        replace_folder,
        write_marker,
    )

    target = tmp_path / "model"

    def write(content: str) -> None:  # as the commands write a folder: staged beside it, then moved into place
        staging = make_staging_dir(target)
        try:
            write_marker(staging, command="test", kind="model")
            (staging / "config.json").write_text(content)
            (staging / "notes_of_the_conversion.txt").write_text(content)  # not a name the package usually writes
            replace_folder(staging, target, kind="model")
        except BaseException:
            remove_staging_dir(staging)
            raise

    write("{}")
    assert read_marker(target)["files"] == ["config.json", "notes_of_the_conversion.txt"]
    assert foreign_entries(target, "model") == []
    write('{"a": 1}')  # an own folder of listed entries is replaced
    assert (target / "config.json").read_text() == '{"a": 1}'
    (target / "my_notes.md").write_text("mine")
    (target / "discriminator").mkdir()
    (target / "discriminator" / "results_by_hand.csv").write_text("1")
    assert foreign_entries(target, "model") == ["discriminator/results_by_hand.csv", "my_notes.md"]
    with pytest.raises(RefusedOutputError, match="did not write: discriminator/results_by_hand.csv, my_notes.md"):
        write("{}")
    assert (target / "my_notes.md").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # the refused staging folder was removed too


def test_stale_staging_is_removed_only_when_name_record_and_dead_process_prove_it_own(tmp_path):
    import json
    import os
    import socket
    import subprocess
    import sys

    from eeg2img_hf.utils.outputs import STAGING_NAME, remove_stale_staging

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid, host = int(dead.stdout), socket.gethostname()

    def folder(name: str, record: dict | None) -> str:
        (tmp_path / name).mkdir()
        if record is not None:
            (tmp_path / name / STAGING_NAME).write_text(json.dumps(record))
        return name

    own = {"written_by": "eeg2img_hf", "pid": dead_pid, "host": host}
    removed = {folder(f".out.tmp-{dead_pid}-a1", own), folder(f".out.old-{dead_pid}-b2", own)}
    kept = {
        folder(f".out.tmp-{os.getpid()}-c3", {**own, "pid": os.getpid()}),  # a running process
        folder(f".out.tmp-{dead_pid}-d4", {**own, "host": "another-host"}),  # another machine's process
        folder(f".out.tmp-{dead_pid}-e5", None),  # no staging record
        folder(f".out.tmp-{dead_pid + 1}-f6", own),  # the record names another process
        folder(f".other.tmp-{dead_pid}-g7", own),  # the staging folder of another target
        folder(f"out.tmp-{dead_pid}-h8", own),  # not hidden: not a staging name
    }
    assert {p.name for p in remove_stale_staging(tmp_path / "out")} == removed
    assert {p.name for p in tmp_path.iterdir()} == kept


def test_only_the_model_folder_of_an_unfinished_run_counts_as_unfinished(tmp_path):
    from eeg2img_hf.utils.model_folders import check_model_folder, unfinished_run_model
    from eeg2img_hf.utils.names import TRAINING_RECORD
    from eeg2img_hf.utils.outputs import create_output_dir

    encoder = EEGEncoderModel(_encoder_config())
    run = create_output_dir(tmp_path / "run", command="train-encoder", kind="run")
    encoder.save_pretrained(run / "model")
    assert unfinished_run_model(run / "model")
    with pytest.raises(ValueError, match="has not finished"):
        check_model_folder(run / "model")
    assert check_model_folder(run / "model", allow_unfinished=True) is not None
    (run / "model" / TRAINING_RECORD).write_text("{}")  # the record a trainer writes last
    assert not unfinished_run_model(run / "model")
    encoder.save_pretrained(tmp_path / "converted" / "model")  # a converted or downloaded model: no run around it
    assert not unfinished_run_model(tmp_path / "converted" / "model")


def test_converter_functions_refuse_a_checkpoint_of_another_kind(tmp_path):
    from eeg2img_hf.convert.authors_checkpoints import convert_authors_encoder
    from eeg2img_hf.convert.authors_image_models import convert_authors_eeg_clip, convert_authors_image_to_eeg
    from eeg2img_hf.utils.errors import BadInputFileError

    lstm = {"lstm.weight_ih_l0": torch.zeros(8, 4), "lstm.weight_hh_l0": torch.zeros(8, 2)}
    torch.save({"model_state_dict": lstm}, tmp_path / "encoder.pth")
    torch.save({"model_state_dict": {**lstm, "image_encoder.layer1.0.conv1.weight": torch.zeros(2, 2, 3, 3)}},
               tmp_path / "clip.pth")
    torch.save({"encoder.inception3a.branch1.conv.weight": torch.zeros(2, 2, 1, 1)}, tmp_path / "i2e.pth")
    with pytest.raises(BadInputFileError, match="clip.pth looks like an EEGClip .pth .*, not an EEG encoder"):
        convert_authors_encoder(tmp_path / "clip.pth", n_chans=4)
    with pytest.raises(BadInputFileError, match="encoder.pth looks like an EEG encoder .pth .*, not an EEGClip"):
        convert_authors_eeg_clip(tmp_path / "encoder.pth")
    with pytest.raises(BadInputFileError, match="i2e.pth looks like an image -> EEG encoder .pth"):
        convert_authors_eeg_clip(tmp_path / "i2e.pth")
    with pytest.raises(BadInputFileError, match="clip.pth looks like an EEGClip"):
        convert_authors_image_to_eeg(tmp_path / "clip.pth")


def test_a_request_that_never_got_an_answer_names_its_endpoint():
    import importlib.util

    from eeg2img_hf.utils.errors import user_error_message

    client = next((name for name in ("httpx2", "httpx") if importlib.util.find_spec(name)), None)
    if client is None:
        pytest.skip("no httpx client installed")
    httpx = importlib.import_module(client)
    request = httpx.Request("POST", "http://127.0.0.1:9/api/repos/create")
    for error in (httpx.ConnectError("refused", request=request), httpx.ReadTimeout("slow", request=request)):
        first, hint = user_error_message(error).split("\n")
        assert first.startswith("cannot reach http://127.0.0.1:9 (") and "HF_ENDPOINT" in hint
    refused = httpx.HTTPStatusError("403", request=request, response=httpx.Response(403, request=request))
    assert "cannot reach" not in str(user_error_message(refused))  # an answer came: not a network failure

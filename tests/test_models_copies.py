"""The one remote-code mechanism: every deliberate copy in a model folder equals its canonical source, is an
alias of it inside the package, and a saved folder holds the real code (no package imports)."""

from __future__ import annotations

import ast
import importlib

import pytest

from eeg2img_hf.models import EEGClipConfig, EEGClipModel, EEGStyleGANConfig, EEGStyleGANModel, copies
from eeg2img_hf.models.copies import COPIES, check_copies


def test_every_copy_is_identical_to_its_source():
    assert check_copies() == [], "run `python scripts/check_copies.py --fix` after editing a canonical module"


@pytest.mark.parametrize("copy_name", sorted(COPIES))
def test_copy_is_an_alias_inside_the_package(copy_name):
    copy_module = importlib.import_module(f"eeg2img_hf.models.{copy_name}")
    assert copy_module is importlib.import_module(f"eeg2img_hf.models.{COPIES[copy_name]}")


def test_check_copies_reports_and_fixes_a_stale_copy(tmp_path, monkeypatch):
    (tmp_path / "common.py").write_text("x = 1\n")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "common.py").write_text("x = 2\n")
    monkeypatch.setattr(copies, "_MODELS", tmp_path)
    monkeypatch.setattr(copies, "COPIES", {"folder.common": "common"})
    assert check_copies() == ["folder.common"]
    assert check_copies(fix=True) == ["folder.common"]
    assert (tmp_path / "folder" / "common.py").read_text() == "x = 1\n" and check_copies() == []


def test_shared_code_has_one_class():
    from eeg2img_hf.models.eeg_clip.configuration_eeg_encoder import EEGEncoderConfig as ClipSide
    from eeg2img_hf.models.eeg_encoder import EEGEncoderConfig

    assert ClipSide is EEGEncoderConfig


@pytest.mark.parametrize("build", [
    lambda: EEGClipModel(EEGClipConfig.from_preset("tiny")),
    lambda: EEGStyleGANModel(EEGStyleGANConfig.from_preset("tiny")),
])
def test_saved_folder_is_self_contained(tmp_path, build):
    build().save_pretrained(tmp_path)
    sources = sorted(p.name for p in tmp_path.glob("*.py"))
    assert "configuration_eeg_encoder.py" in sources and "common.py" in sources
    for path in tmp_path.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.level in (0, 1) and not (node.module or "").startswith("eeg2img_hf"), path.name
                if node.level == 1:
                    assert (tmp_path / f"{node.module}.py").is_file(), (path.name, node.module)
    canonical = importlib.import_module("eeg2img_hf.models.eeg_encoder.configuration_eeg_encoder").__file__
    assert (tmp_path / "configuration_eeg_encoder.py").read_bytes() == open(canonical, "rb").read()


def test_from_preset_merges_sub_config_dicts_the_same_way():
    clip = EEGClipConfig.from_preset("tiny", encoder_config={"n_chans": 7})
    assert clip.encoder_config.n_chans == 7 and clip.encoder_config.embed_dim == 12  # preset value kept
    gan = EEGStyleGANConfig.from_preset("tiny", encoder_config={"n_chans": 7, "embed_dim": 12})
    assert gan.encoder_config.n_chans == 7
    with pytest.raises(ValueError, match="unknown EEGClipConfig preset 'nope'"):
        EEGClipConfig.from_preset("nope")

"""Test-suite settings: offline Hub, quiet progress bars, an isolated HF cache."""

from __future__ import annotations

import os
import sys
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HOME", tempfile.mkdtemp(prefix="eeg2img-hf-home-"))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
sys.path.insert(0, os.path.dirname(__file__))

from hub_server import hub_server  # noqa: E402,F401  (loopback Hub-protocol server fixture)

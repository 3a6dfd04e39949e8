"""Progress reporting: a tqdm bar on a terminal, periodic log lines elsewhere (no carriage-return floods)."""

from __future__ import annotations

import io
import logging

import pytest

from eeg2img_hf.utils.progress import Progress, configure_cli_logging, progress_bar


@pytest.fixture(autouse=True)
def package_logger():
    """The package logger as a library user has it (an earlier CLI test may have configured it)."""
    logger = logging.getLogger("eeg2img_hf")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    logger.handlers[:], logger.propagate = [], True
    yield logger
    logger.handlers[:], logger.level, logger.propagate = saved


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_gets_tqdm_and_a_pipe_gets_periodic_lines():
    assert type(progress_bar(10, stream=_Terminal())).__module__.startswith("tqdm")
    assert isinstance(progress_bar(10, stream=io.StringIO()), Progress)


def test_periodic_lines_are_few_and_complete(caplog):
    progress = Progress(1000, initial=100, desc="train", every_seconds=3600)
    with caplog.at_level(logging.INFO, logger="eeg2img_hf"):
        for _ in range(900):
            progress.update(1)
        progress.set_postfix({"loss": 0.5})
        progress.close()
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("eeg2img_hf")]
    assert len(lines) == 1 and lines[0].startswith("train: 1000/1000 (100 %)") and "loss=0.5" in lines[0]
    assert "\r" not in lines[0]


def test_disabled_progress_logs_nothing(caplog):
    with caplog.at_level(logging.INFO, logger="eeg2img_hf"):
        progress = Progress(5, disable=True, every_seconds=0)
        progress.update(5)
        progress.close()
    assert not [r for r in caplog.records if r.name.startswith("eeg2img_hf")]


def test_cli_logging_writes_package_messages_once(capsys):
    configure_cli_logging()
    configure_cli_logging()  # idempotent: one handler
    logging.getLogger("eeg2img_hf.test").info("hello from the package")
    assert capsys.readouterr().err.count("hello from the package") == 1

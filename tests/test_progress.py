"""PhaseDisplay: a named bar counting samples and tokens on a terminal, one INFO line per phase elsewhere,
nothing when disabled."""

from __future__ import annotations

import io
import logging
import re
import time

import pytest

from azr.runs.progress import PhaseDisplay

pytest.importorskip("tqdm")


def test_a_terminal_gets_a_bar_naming_the_phase_and_counting_samples_and_tokens() -> None:
    out = io.StringIO()
    display = PhaseDisplay(interactive=True, file=out)
    with display.phase("step 2/5 deduction propose", 6) as progress:
        assert progress is not None
        progress(0, 700)  # tokens while the batch decodes
        time.sleep(0.15)  # tqdm redraws at most every 0.1 s
        progress(4, 0)  # its samples when it ends
        text = out.getvalue()
    assert "step 2/5 deduction propose" in text
    assert "4/6" in text and "700 tokens" in text and "sample" in text


def test_without_a_terminal_each_phase_ends_with_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    out = io.StringIO()
    display = PhaseDisplay(interactive=False, file=out)
    with caplog.at_level(logging.INFO, logger="azr.runs.progress"):
        with display.phase("step 1/1 induction validate", 3, "proposal") as progress:
            assert progress is not None
            progress(3)
        with display.phase("step 1/1 update", 8) as progress:
            assert progress is not None
            progress(8, 1234)
    assert out.getvalue() == ""  # no carriage-return bars in a log file
    lines = [r.getMessage() for r in caplog.records if r.name == "azr.runs.progress"]
    assert re.fullmatch(r"step 1/1 induction validate: 3/3 proposals in \d+\.\d s", lines[0]), lines[0]
    assert re.fullmatch(r"step 1/1 update: 8/8 samples, 1,234 tokens \([\d,]+/s\) in \d+\.\d s", lines[1]), lines[1]


def test_a_terminal_is_detected_from_the_stream() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, pipe = Terminal(), io.StringIO()
    with PhaseDisplay(file=tty).phase("solve", 2) as progress:
        assert progress is not None
        progress(2)
    with PhaseDisplay(file=pipe).phase("solve", 2) as progress:
        assert progress is not None
        progress(2)
    assert "solve" in tty.getvalue() and pipe.getvalue() == ""


def test_disabled_shows_nothing_and_hands_out_no_callback(caplog: pytest.LogCaptureFixture) -> None:
    out = io.StringIO()
    with caplog.at_level(logging.INFO, logger="azr.runs.progress"):
        for interactive in (True, False):
            with PhaseDisplay(enabled=False, interactive=interactive, file=out).phase("propose", 3) as progress:
                assert progress is None
    assert out.getvalue() == "" and not caplog.records


def test_a_failed_phase_logs_no_summary(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="azr.runs.progress"):
        with pytest.raises(RuntimeError), PhaseDisplay(interactive=False).phase("solve", 2):
            raise RuntimeError("boom")
    assert not [r for r in caplog.records if r.name == "azr.runs.progress"]


def test_a_prefixed_display_says_where_its_phases_run(caplog: pytest.LogCaptureFixture) -> None:
    display = PhaseDisplay(interactive=False)
    with caplog.at_level(logging.INFO, logger="azr.runs.progress"):
        with display.prefixed("eval step 10 ").phase("cruxeval-o generate", 2) as progress:
            assert progress is not None
            progress(2)
        with display.phase("solve", 1) as progress:
            assert progress is not None
            progress(1)
    lines = [r.getMessage() for r in caplog.records if r.name == "azr.runs.progress"]
    assert re.fullmatch(r"eval step 10 cruxeval-o generate: 2/2 samples in \d+\.\d s", lines[0]), lines[0]
    assert lines[1].startswith("solve: ")  # the display it was made from is unchanged
    assert not PhaseDisplay(enabled=False).prefixed("eval ").enabled

"""Progress a person can read: one display per phase of work, naming the phase and counting what it is
made of (samples and generated tokens, tasks, answers), instead of an anonymous bar per model call.

On an interactive stderr a phase is a tqdm bar (``step 3/100 deduction propose: 4/6 samples, 1,024
tokens``) that is cleared when the phase ends, under the bar of the whole run. Anywhere else (a log
file, CI, a pipe) carriage-return bars would only be noise, so each phase ends with one INFO line on
the ``azr.runs.progress`` logger instead: what ran, how much, how long. Disabled (``run.progress = false``),
nothing is shown and the samplers are given no callback, so they count nothing.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TextIO

from azr.sampling.base import Progress

if TYPE_CHECKING:
    from tqdm import tqdm

__all__ = ["PhaseDisplay", "Progress", "logs_above_bars"]

log = logging.getLogger(__name__)


class _Phase:
    """The running counts of one phase; it is the :class:`~azr.sampling.base.Progress` handed to workers."""

    def __init__(self, name: str, total: int, unit: str, initial: int, bar: tqdm[Any] | None) -> None:
        self.name = name
        self.total = total
        self.unit = unit
        self.done = initial
        self.tokens = 0
        self.bar = bar
        self.started = time.perf_counter()

    def __call__(self, items: int, tokens: int = 0, /) -> None:
        self.done += items
        self.tokens += tokens
        if self.bar is not None:
            if tokens:
                self.bar.set_postfix_str(self._tokens(), refresh=False)
            self.bar.update(items)  # also redraws the token count (at most every 0.1 s), even when items == 0

    def _tokens(self) -> str:
        elapsed = time.perf_counter() - self.started
        rate = f", {self.tokens / elapsed:,.0f} tokens/s" if elapsed > 0 else ""
        return f"{self.tokens:,} tokens{rate}"

    def summary(self) -> str:
        """``NAME: done/total units[, N tokens] in S s``: the line logged when the phase ends."""
        elapsed = time.perf_counter() - self.started
        tokens = f", {self.tokens:,} tokens ({self.tokens / elapsed:,.0f}/s)" if self.tokens and elapsed > 0 else ""
        return f"{self.name}: {self.done}/{self.total} {self.unit}s{tokens} in {elapsed:.1f} s"


class PhaseDisplay:
    """Makes one progress display per phase (see the module docstring).

    ``enabled=False`` shows nothing. ``interactive`` forces bars (True) or log lines (False); by default
    bars are drawn when ``file`` (default: ``sys.stderr`` at the time of the phase) is a terminal and
    tqdm is installed. ``prefix`` is put before every phase name (see :meth:`prefixed`).
    """

    def __init__(
        self, enabled: bool = True, *, interactive: bool | None = None, file: TextIO | None = None, prefix: str = ""
    ) -> None:
        self.enabled = enabled
        self.interactive = interactive
        self.file = file
        self.prefix = prefix

    def prefixed(self, prefix: str) -> PhaseDisplay:
        """The same display with ``prefix`` before every phase name, so code that names its phases on its
        own (``cruxeval-o generate``) can be told where it runs (``eval step 10 cruxeval-o generate``)."""
        return PhaseDisplay(self.enabled, interactive=self.interactive, file=self.file, prefix=self.prefix + prefix)

    @contextlib.contextmanager
    def phase(
        self, name: str, total: int, unit: str = "sample", *, initial: int = 0, leave: bool = False
    ) -> Iterator[Progress | None]:
        """A display for ``total`` ``unit``\\ s of work named ``name``, for the ``with`` block; yields the
        :class:`~azr.sampling.base.Progress` to tell (None when disabled). ``leave`` keeps the finished bar
        on screen (the run's own bar); phase bars are cleared."""
        if not self.enabled:
            yield None
            return
        name = self.prefix + name
        file = self.file if self.file is not None else sys.stderr
        bar = self._bar(file, name, total, unit, initial, leave)
        phase = _Phase(name, total, unit, initial, bar)
        try:
            yield phase
        finally:
            if bar is not None:
                bar.close()
        if bar is None:
            log.info("%s", phase.summary())

    def _bar(self, file: TextIO, name: str, total: int, unit: str, initial: int, leave: bool) -> tqdm[Any] | None:
        interactive = self.interactive
        if interactive is None:
            interactive = bool(getattr(file, "isatty", lambda: False)())
        if not interactive:
            return None
        try:
            from tqdm import tqdm
        except ImportError:  # the core install (scoring answers) has no tqdm: log lines instead
            return None
        return tqdm(total=total, initial=initial, desc=name, unit=unit, file=file, leave=leave, dynamic_ncols=True)


@contextlib.contextmanager
def logs_above_bars() -> Iterator[None]:
    """Within the block, log records to the terminal are written above the progress bars instead of
    through them (tqdm's ``logging_redirect_tqdm``); elsewhere (no terminal, no tqdm) nothing changes."""
    try:
        from tqdm.contrib.logging import logging_redirect_tqdm
    except ImportError:
        yield
        return
    if not sys.stderr.isatty():
        yield
        return
    with logging_redirect_tqdm():
        yield

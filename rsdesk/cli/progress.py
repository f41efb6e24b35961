"""Progress bars on stderr (tqdm) for the core's ``progress(fraction, message)`` callbacks, and line output
that never lands in the middle of a bar.

tqdm is imported on first use only: ``rsdesk --help`` and the GUI start without paying for it.
"""

from __future__ import annotations

import sys
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from tqdm import tqdm

#: The bar counts percent; fractions from the core are scaled to it.
_TOTAL = 100.0
#: Without a terminal (a log file, a pipe) each redraw is a new line: only after 10 % more and 5 s.
_SPARSE_STEP = 10.0
_SPARSE_SECONDS = 5.0
_FORMAT = "{desc} |{bar}| {percentage:5.1f}% [{elapsed}<{remaining}{postfix}]"


class _LineStream:
    """A stderr that is no terminal (a log, a pipe), as tqdm's file: each redraw of a bar becomes a line of
    its own and tqdm's in-place clearing is dropped, so a log holds sparse, complete progress lines.

    It is not ``sys.stderr`` to tqdm, so :func:`write_line` writes straight through: there is no unfinished
    bar line that text could be glued to.
    """

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._last = ""

    def write(self, text: str) -> int:
        line = text.replace("\r", "").strip()
        if line and line != self._last:  # closing a bar redraws the state it last showed
            self._stream.write(line + "\n")
            self._last = line
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    @property
    def encoding(self) -> str | None:
        return getattr(self._stream, "encoding", None)


def write_line(text: str, stream: IO[str] | None = None) -> None:
    """Print ``text`` as a line of its own: a bar on screen is cleared first and redrawn below it.

    Plain ``print`` would append the text to the bar's unfinished line (stdout and stderr share a terminal).
    """
    from tqdm import tqdm

    stream = sys.stdout if stream is None else stream
    tqdm.write(text, file=stream)
    stream.flush()


class ProgressBar:
    """A ``progress(fraction, message)`` callable that draws a tqdm bar on stderr with the message and an
    ETA, shown from the first finished item on; off a terminal, sparse lines (see :class:`_LineStream`).

    ``enabled=False`` (``--quiet``) makes every call a no-op; ``--json`` keeps it (stdout stays pure JSON).
    The bar finishes when a fraction reaches 1; :meth:`close` (or leaving a ``with`` block) finishes it in
    any case, so the next output starts on a fresh line even when a job stops early.
    """

    def __init__(self, label: str, enabled: bool = True) -> None:
        self.label = label
        self.enabled = enabled
        self._bar: tqdm | None = None
        if enabled:
            from tqdm import tqdm

            tty = sys.stderr.isatty()
            self._bar = tqdm(
                total=_TOTAL,
                desc=label,
                file=sys.stderr if tty else _LineStream(sys.stderr),
                bar_format=_FORMAT,
                dynamic_ncols=tty,
                ncols=None if tty else 100,
                mininterval=0.1 if tty else _SPARSE_SECONDS,
                miniters=None if tty else _SPARSE_STEP,
                # tqdm's monitor would otherwise drop the sparse step after 10 s without a redraw
                maxinterval=10.0 if tty else float("inf"),
            )

    def __call__(self, fraction: float, message: str = "") -> None:
        bar = self._bar
        if bar is None:
            return
        value = _TOTAL * min(1.0, max(0.0, float(fraction)))
        first = bar.n == 0 and value > 0
        bar.set_postfix_str(message, refresh=False)
        bar.update(value - bar.n)  # respects the redraw interval; a step back is allowed
        if first and fraction < 1.0:
            # the first finished item gives a rate, hence a time estimate: show it now, not after 10 %
            bar.refresh()
            bar.last_print_n, bar.last_print_t = bar.n, bar._time()
        if fraction >= 1.0:
            self.close()

    def close(self) -> None:
        """Draw the final state and end the bar's line (idempotent)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""How a failure is put to a user: one rule for the command line's ``error:`` lines and the window's
messages, so the same problem reads the same everywhere.

The core raises ``ValueError`` subclasses (``ImageError``, ``DictionaryError``, ``ClassifierError``,
``FileError``) and ``OSError`` with messages already written for a person; anything else is a bug, shown
with its type so a report names it. The classes live here (and are re-exported where they were first
defined) so that :mod:`rsdesk.core.io.files` can raise the right one without importing the loaders.
"""

from __future__ import annotations

from collections.abc import Sequence


class ClusterError(RuntimeError):
    """A Ray cluster could not be reached, or could not run the work (no actor can start, every node lost):
    the message says what is missing; the run's finished results stay written."""


#: Errors whose message is already written for a user (no type name needed in front of it).
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError, ClusterError)


class FileError(ValueError):
    """A path the user gave is not a usable file (missing, a folder, a pipe, a link loop, unreadable)."""


class ImageError(ValueError):
    """An image could not be used; the message says why in words a user understands."""


class DictionaryError(ValueError):
    """A dictionary file is missing, malformed, or does not fit what it is used for."""


class ClassifierError(ValueError):
    """A classifier could not be built, its weights could not be loaded, or it computed garbage."""


def error_text(exc: BaseException) -> str:
    """A one-paragraph message for a user; the traceback, where there is one, goes to "Details"."""
    if isinstance(exc, USER_ERRORS) and str(exc):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def problems_text(what: str | None, problems: Sequence[str]) -> str:
    """One line for a list of problems, the same wherever a list is reported: the problem itself when there
    is one, else ``N problems (first: …)`` (the rest go to "Details"); ``what`` names where they came from
    (``Settings: …``). "" when there are none."""
    if not problems:
        return ""
    text = problems[0] if len(problems) == 1 else f"{len(problems)} problems (first: {problems[0]})"
    return f"{what}: {text}" if what else text

"""How a failure is put to a user: one rule for the command line's ``error:`` lines and the window's
messages, so the same problem reads the same everywhere.

The core raises ``ValueError`` subclasses (``ImageError``, ``DictionaryError``, ``ClassifierError``) and
``OSError`` with messages already written for a person; anything else is a bug, shown with its type so a
report names it.
"""

from __future__ import annotations

#: Errors whose message is already written for a user (no type name needed in front of it).
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError)


def error_text(exc: BaseException) -> str:
    """A one-paragraph message for a user; the traceback, where there is one, goes to "Details"."""
    if isinstance(exc, USER_ERRORS) and str(exc):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

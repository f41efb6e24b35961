"""Entry point of the PyInstaller bundle: the ``rsdesk`` command (the GUI with no command), frozen.

The Evaluate tab starts its sweep by running this same program with the ``evaluate`` command
(``rsdesk/gui/tasks/evaluation.py`` knows it is frozen), so nothing here needs to rewrite the command line.
"""

from __future__ import annotations

import multiprocessing
import sys

if __name__ == "__main__":
    # A frozen program re-executes itself for multiprocessing's workers; this returns at once otherwise.
    multiprocessing.freeze_support()
    from rsdesk.cli import main

    sys.exit(main())

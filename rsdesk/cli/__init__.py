"""The ``rsdesk`` command line: classify, attack, purify, train-dictionary, evaluate; no command: the GUI.

Every command takes many images or folders in one process, prints one clear line per bad input and keeps
going, and exits non-zero if any input failed. With ``--json`` it prints one JSON object per image; the keys
``file``, ``top5`` ([{"index", "label", "prob"}]), ``seconds``, and for attack ``out``, ``success``, ``l2``,
``linf``, ``iterations`` (for purify ``out``) are a public contract.

:mod:`rsdesk.cli.router` parses and routes; one module per command does the work.
"""

from rsdesk.cli.router import main

__all__ = ["main"]

"""Headless engine of RSDesk: images, classifiers, attacks, defenses, explanations.

Nothing under this package imports Qt (an import-linter contract in pyproject.toml and a test enforce it),
so the command line, the evaluations and the GUI all share one tested implementation.
"""

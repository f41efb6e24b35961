"""The RSDesk window (PySide6). ``rsdesk.gui.app.run`` starts it; the engine it drives is ``rsdesk.core``.

Qt-free logic the window needs lives in ``analysis`` (verdicts, metrics), ``configs`` (attack/defense
snapshots) and ``jobs`` (the pipeline's stages), so it can be tested without a display. ``state`` holds the
current values, ``pipeline`` runs the stages as superseding background jobs into ``results_model``, and
``main_window`` composes the views.
"""

"""The RSDesk window (PySide6), sorted by role. ``rsdesk.gui.app.run`` starts it; ``rsdesk.core`` is the
engine it drives. The map, the layers and the threading rules: ``docs/architecture.md``.

- ``app``, ``main_window``, ``actions``, ``session``: start-up, the window's composition, its commands.
- ``tasks``: everything that runs in the background — the one job runner, the Qt-free stage functions, the
  pipeline, importing, dictionary training, exports — plus the caches and the GC guard.
- ``models``: what the views show — state, results, gallery, settings, the attack/defense snapshots.
- ``widgets``: reusable controls that know nothing of RSDesk's models (image panel, bars, editors…).
- ``views``: the window's parts bound to the models (panel grid, attack/defense controls, activations…).
- ``dialogs``: settings and the file pickers.
"""

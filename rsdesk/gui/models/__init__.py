"""What the window shows: the app state, the results of the current image, the gallery, the settings and the
immutable attack/defense snapshots the tasks run. Nothing here imports a task, a view or a widget."""

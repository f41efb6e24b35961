"""What an export needs to picture the story's steps: a fresh :class:`StoryView` of the same results, at the
size and in the font the window's story has (or would have, in presentation mode), with its key-help line
marked as a window control (:data:`~rsdesk.gui.tasks.snapshot.UI_ONLY`): it tells a presenter which keys to
press, not the audience anything.
"""

from __future__ import annotations

from dataclasses import fields

from PySide6.QtGui import QFont
from PySide6.QtWidgets import QWidget

from rsdesk.gui.models.results import ResultsModel, Row
from rsdesk.gui.tasks.snapshot import UI_ONLY, StorySource
from rsdesk.gui.views.story import STEPS, StoryView


def story_source(story: StoryView, stage: QWidget) -> StorySource:
    """The story's steps as the window's ``story`` shows them, laid out where the story goes in presentation
    mode (``stage``: the panels' place) unless the story is on screen now."""

    def make() -> StoryView:
        # A copy of the rows, owned by the view: the picture is of one moment, and the model's connections
        # end with the view (one on the window's own model would outlive it and reach a deleted view).
        rows = ResultsModel()
        for row in Row:
            st = story.results.stage(row)
            rows.update(row, **{f.name: getattr(st, f.name) for f in fields(st)})
        view = StoryView(rows)
        rows.setParent(view)
        view.hint.setProperty(UI_ONLY, True)
        return view

    size = story.size() if story.isVisible() else stage.size()
    return StorySource(make, STEPS, size, QFont(story.font()))

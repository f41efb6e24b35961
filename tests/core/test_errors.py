"""How failures read: the one rule for a list of problems, and the one-paragraph text of an exception."""

from __future__ import annotations

from rsdesk.core.errors import ImageError, error_text, problems_text


def test_one_problem_is_shown_as_it_is():
    assert problems_text("Settings", ["K (sparsity): must be within 1…64, got 0"]) == (
        "Settings: K (sparsity): must be within 1…64, got 0"
    )
    assert problems_text(None, ["a.png: not an image"]) == "a.png: not an image"


def test_several_problems_are_counted_and_the_first_named():
    problems = ("a.png: not an image", "b.png: too small", "c.png: empty")
    assert problems_text("Evaluation", problems) == "Evaluation: 3 problems (first: a.png: not an image)"
    assert problems_text(None, list(problems[:2])) == "2 problems (first: a.png: not an image)"


def test_no_problems_say_nothing():
    assert problems_text("Dictionary", []) == ""


def test_error_text_names_the_type_only_of_a_bug():
    assert error_text(ImageError("x.png is empty")) == "x.png is empty"
    assert error_text(KeyError("k")) == "KeyError: 'k'"
    assert error_text(RuntimeError()) == "RuntimeError"

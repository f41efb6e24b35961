"""rsdesk.core.params: coercion and range checks with messages that name the parameter."""

from __future__ import annotations

import pytest

from rsdesk.core.params import Param, format_params, resolve_params

EPS = Param("eps", "ε (/255)", 8.0, 0.0, 255.0)
STEPS = Param("steps", "steps", 10, 1, 100, integer=True)
ALPHA = Param("alpha", "step size", None, 0.0, 255.0, optional=True)
FLAG = Param("localize", "object localization", True)


@pytest.mark.parametrize(
    ("value", "expected"), [(4, 4.0), ("4.5", 4.5), (" 0 ", 0.0), (255, 255.0), (True, 1.0)]
)
def test_numbers(value, expected):
    assert EPS.coerce(value) == expected
    assert isinstance(EPS.coerce(value), float)


def test_range_messages():
    with pytest.raises(ValueError, match=r"^ε \(/255\) must be within 0…255, got 300$"):
        EPS.coerce(300)
    with pytest.raises(ValueError, match=r"must be within 0…255, got -0.5"):
        EPS.coerce("-0.5")
    with pytest.raises(ValueError, match=r"^ε \(/255\): 'lots' is not a number$"):
        EPS.coerce("lots")
    with pytest.raises(ValueError, match=r"ε \(/255\): \[1\] is not a number"):
        EPS.coerce([1])
    with pytest.raises(ValueError, match=r"^ε \(/255\): not a number$"):
        EPS.coerce(float("nan"))
    with pytest.raises(ValueError, match="must be within"):
        EPS.coerce(float("inf"))


def test_integers():
    assert STEPS.coerce("7") == 7 and isinstance(STEPS.coerce("7"), int)
    assert STEPS.coerce(7.0) == 7 and isinstance(STEPS.coerce(7.0), int)
    with pytest.raises(ValueError, match=r"^steps must be a whole number, got 2.5$"):
        STEPS.coerce(2.5)
    with pytest.raises(ValueError, match=r"^steps must be within 1…100, got 0$"):
        STEPS.coerce(0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", True),
        ("yes", True),
        ("On", True),
        ("TRUE", True),
        ("0", False),
        ("no", False),
        ("off", False),
        ("false", False),
    ],
)
def test_bools(text, expected):
    assert FLAG.is_bool and not EPS.is_bool
    assert FLAG.coerce(text) is expected
    assert FLAG.coerce(expected) is expected


def test_bad_bool():
    with pytest.raises(ValueError, match=r"^object localization: 'maybe' is not on/off$"):
        FLAG.coerce("maybe")
    with pytest.raises(ValueError, match="is not on/off"):
        FLAG.coerce(2)


@pytest.mark.parametrize("unset", [None, "", "  ", "none", "AUTO"])
def test_optional_values(unset):
    assert ALPHA.coerce(unset) is None
    with pytest.raises(ValueError, match=r"^ε \(/255\) needs a value$"):
        EPS.coerce(unset)


def test_resolve_params():
    specs = (EPS, STEPS, ALPHA, FLAG)
    assert resolve_params(specs, {}, "BIM") == {"eps": 8.0, "steps": 10, "alpha": None, "localize": True}
    got = resolve_params(specs, {"eps": "4", "steps": None, "localize": "off"}, "BIM")
    assert got == {"eps": 4.0, "steps": 10, "alpha": None, "localize": False}
    with pytest.raises(
        ValueError, match=r"^BIM: unknown parameter\(s\) beta, gamma; known: eps, steps, alpha"
    ):
        resolve_params(specs, {"gamma": 1, "beta": 2}, "BIM")
    with pytest.raises(ValueError, match=r"^FGSM: unknown parameter\(s\) eps; known: none$"):
        resolve_params((), {"eps": 1}, "FGSM")
    with pytest.raises(ValueError, match="steps must be within"):
        resolve_params(specs, {"steps": 1000}, "BIM")


def test_format_params():
    assert format_params({"k": 4, "theta": 1.0, "alpha": None, "localize": False}) == (
        "k=4, theta=1, localize=False"
    )
    assert format_params({"eps": 0.5}) == "eps=0.5"
    assert format_params({}) == ""

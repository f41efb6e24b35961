"""What every defense shares: the :class:`Defense` interface with its traits, :class:`DefenseResult` (the
purified image and any intermediates the panels show) and :class:`NoDefense`, the undefended row."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from rsdesk.core.params import Param, format_params, resolve_params
from rsdesk.core.progress import CancelFn, ProgressFn, report
from rsdesk.core.sparse.dictionary_file import Dictionary
from rsdesk.core.sparse.linearized import IDENTITY, LINEAR, Linearization

#: The learned file that is a RegionSparse dictionary: its option, keyword and plan key.
DICTIONARY_OPTION = "dictionary"


@dataclass
class DefenseResult:
    """A purified image and whatever intermediate images the defense produced (for the GUI panels)."""

    purified: np.ndarray
    mask: np.ndarray | None = None  # H×W bool object region
    weight: np.ndarray | None = None  # H×W float blend weight of the sparse-coded image
    sparse_coded: np.ndarray | None = None
    background: np.ndarray | None = None
    info: dict[str, float | str | bool] = field(default_factory=dict)


@dataclass(frozen=True)
class LearnedFile:
    """The file a learned defense is built from (RegionSparse's dictionary; a learned purifier's weights),
    declared as the defense's trait :attr:`Defense.learned_file`. The plan (its entry's key), the plan's
    checks, the builder, :func:`~rsdesk.core.defenses.create_defense` and the evaluation's workers read it,
    so a learned defense is its module and its registry line like any other."""

    #: the constructor's keyword and the plan entry's key (``"dictionary"``)
    option: str
    #: how a message names it
    title: str
    #: words a plan may give instead of a file (bundled files, ablations)
    names: tuple[str, ...] = ()
    #: the word for the default file (the same as giving none)
    default_name: str | None = None
    #: a plan's value (a name, a file, None for the default) → what the constructor takes
    resolve: Callable[[Any], Any] = field(default=lambda value: value, repr=False)


def _with_params(title: str, values: Mapping[str, object]) -> str:
    return f"{title} ({format_params(values)})" if values else title


class Defense(ABC):
    """Configure with keyword parameters (validated against :attr:`PARAMS`), then :meth:`purify`.

    The class attributes are the defense's traits; the CLI, the window and the evaluations read them
    instead of testing a defense's name. Build one with :func:`create_defense`.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    #: the name in menus, where the full title would be too long
    short_title: ClassVar[str] = ""
    PARAMS: ClassVar[tuple[Param, ...]] = ()
    #: the parameters a user tunes first (shown inline in the window; the rest behind ⚙)
    MAIN_PARAMS: ClassVar[tuple[str, ...]] = ()
    #: whether repeated calls on the same input can differ (EOT matters for these)
    randomized: ClassVar[bool] = False
    #: the file it is built from (its constructor also takes ``device=``); None: parameters only
    learned_file: ClassVar[LearnedFile | None] = None
    #: its learned file is a RegionSparse dictionary (the window's Dictionary menu and ``--dictionary``
    #: supply it); derived from :attr:`learned_file`
    needs_dictionary: ClassVar[bool] = False
    #: the "no defense" row: returns its input (the window's D toggle, not a menu entry)
    identity: ClassVar[bool] = False
    #: the backward passes a defense-aware attack may take through it: "identity" (classic BPDA) always;
    #: "linear" where :meth:`linearize` gives its exact local gradient
    surrogates: ClassVar[tuple[str, ...]] = (IDENTITY,)

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "short_title" not in cls.__dict__:
            cls.short_title = cls.title
        cls.needs_dictionary = cls.learned_file is not None and cls.learned_file.option == DICTIONARY_OPTION

    def __init__(self, **values: object) -> None:
        self.values = resolve_params(self.PARAMS, values, self.title)

    def describe(self) -> str:
        """Every parameter: ``JPEG compression (quality=75)``."""
        return _with_params(self.title, self.values)

    @classmethod
    def summary(cls, values: Mapping[str, object]) -> str:
        """A short line for a panel subtitle; by default every parameter, as :meth:`describe`."""
        return _with_params(cls.title, values)

    @classmethod
    def param_limits(cls, dictionary: Dictionary | None) -> dict[str, int]:
        """Upper limits that depend on the dictionary in use (beyond :attr:`PARAMS`' fixed ranges)."""
        return {}

    @abstractmethod
    def purify(
        self, img: np.ndarray, progress: ProgressFn | None = None, cancel: CancelFn | None = None
    ) -> DefenseResult:
        """Return the purified H×W×3 [0, 1] image (and intermediates where the defense has any)."""

    def __call__(self, img: np.ndarray) -> np.ndarray:
        return self.purify(img).purified

    def linearize(self, img: np.ndarray) -> Linearization:
        """The purification of ``img`` and a differentiable map equal to it around ``img`` (its discrete
        choices held fixed), so an attack can take the defense's exact gradient; only defenses whose
        :attr:`surrogates` include "linear" have one."""
        raise ValueError(f"{self.title} offers no linear surrogate")


class NoDefense(Defense):
    name, title = "none", "No defense"
    identity = True
    #: the identity is its own exact linearization, so an experiment asking for "linear" can include it
    surrogates = (IDENTITY, LINEAR)

    def purify(self, img, progress=None, cancel=None):  # noqa: ANN001, ANN201
        report(progress, 1.0, "done")
        return DefenseResult(purified=np.asarray(img, dtype=np.float32).copy())

    def linearize(self, img: np.ndarray) -> Linearization:
        return Linearization(np.asarray(img, dtype=np.float32).copy(), lambda x: x)

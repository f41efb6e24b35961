"""What every command shares: ``error:`` lines and the failure count, the input walk, the model, the
per-image record (JSON or text) and saving an output file.

The core is imported inside the functions, so that ``rsdesk --help`` does not load torch.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rsdesk.cli.progress import write_line

if TYPE_CHECKING:
    import numpy as np

    from rsdesk.core.models.classifier import Classifier, Prediction


def print_error(message: str) -> None:
    """One ``error: ...`` line on stderr, on a line of its own even while a progress bar is drawn."""
    write_line(f"error: {message}", sys.stderr)


class Failures:
    """Counts the inputs a command could not use, printing one line for each: the rest are still done, and
    the command exits 1 at the end if any failed."""

    def __init__(self) -> None:
        self.count = 0

    def report(self, message: str) -> None:
        print_error(message)
        self.count += 1

    @property
    def exit_code(self) -> int:
        return 1 if self.count else 0

    def nothing_found(self, inputs: Sequence[str]) -> int:
        """End a command that found no image at all: exit 1, saying so unless every input already did."""
        if not self.count:
            self.report("no images found in " + ", ".join(inputs))
        return 1


def input_files(inputs: Sequence[str], failures: Failures) -> list[Path]:
    """The image files the inputs name (folders walked by the core); a missing or non-image input fails."""
    from rsdesk.core.io.datasets import find_images

    found = find_images(inputs)
    for problem in found.problems:
        failures.report(problem)
    return found.files


def read_image(path: Path, failures: Failures) -> np.ndarray | None:
    """Decode one input; an unreadable file is reported and counted (None), and the command goes on.

    Besides the loader's own errors, an operating-system error (a file that vanished, an I/O error) or one
    that needs more memory than there is concerns this file only: the next one may well be fine.
    """
    from rsdesk.core.errors import ImageError, error_text
    from rsdesk.core.io.images import load_image

    try:
        return load_image(path)
    except (ImageError, OSError) as exc:
        failures.report(error_text(exc))
    except MemoryError:
        failures.report(f"{path.name}: too large to load (not enough memory)")
    return None


def load_model(args: argparse.Namespace) -> Classifier:
    """The classifier named by ``--classifier`` / ``--weights`` / ``--device``."""
    from rsdesk.core.models.classifier import load_classifier

    return load_classifier(args.classifier, args.weights, args.device)


def top5_record(prediction: Prediction) -> list[dict]:
    """The ``top5`` value of a JSON record: [{"index", "label", "prob"}], most likely first."""
    return [c.as_dict() for c in prediction.top(5)]


def top5_text(prediction: Prediction) -> str:
    """The text output's short form of a prediction: its three most likely classes."""
    return ", ".join(f"{c.label} {c.prob:.2f}" for c in prediction.top(5)[:3])


class NonFiniteResult(ValueError):
    """A result holding NaN or infinity: never printed (it is not JSON, and it is not an answer)."""


def _non_finite(value: object) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_non_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_non_finite(v) for v in value)
    return False


def emit(args: argparse.Namespace, record: dict, text: str) -> None:
    """One result on stdout: the JSON record with ``--json``, else the text line.

    A record with a non-finite number (a broken model's NaN probabilities) is an error, in both modes:
    ``--json`` output stays valid JSON (``allow_nan=False``) and no wrong answer is printed as if it held.
    """
    if _non_finite(record):
        raise NonFiniteResult(
            f"{Path(str(record.get('file', '?'))).name}: the classifier's output is not a finite number "
            "(NaN or infinity); its weights are broken"
        )
    write_line(json.dumps(record, allow_nan=False) if args.json else text)


def save_output(base: Path, image: np.ndarray, fmt: str, used: set[Path]) -> tuple[Path, np.ndarray]:
    """Save as ``base.fmt`` and reload it (results are judged on the saved file); never over a file this
    run already wrote (inputs with the same stem get ``_2``, ``_3`` ...).

    The suffix is appended, not swapped in: ``with_suffix`` would cut a stem with dots (``a.v2_fgsm``).
    """
    from rsdesk.core.io.images import load_image, save_image

    out, n = base.with_name(f"{base.name}.{fmt}"), 1
    while out in used:
        n += 1
        out = base.with_name(f"{base.name}_{n}.{fmt}")
    used.add(out)
    saved = save_image(out, image)
    return saved, load_image(saved)

"""Make the bad-input corpus (hostile images, dictionaries, weights files, labels.csv variants) by hand.

``python scripts/make_bad_inputs.py OUT_DIR`` writes ``OUT_DIR/corpus`` and lists its cases; the tests make
the same corpus at test time with :func:`tests.bad_input_corpus.make_corpus` (nothing large is kept in git).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bad_input_corpus import made_cases, make_corpus


def main(argv: list[str] | None = None) -> int:
    """Write the corpus and print one line per case: its expected outcome, path and why it is hostile."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write the corpus into (OUT/corpus must not exist)")
    args = parser.parse_args(argv)
    corpus = make_corpus(args.out)
    for case in made_cases(corpus):
        print(f"{case.expect:5} {case.kind:10} {case.path}: {case.note}")
    print(f"corpus written to {corpus}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

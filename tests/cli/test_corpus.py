"""The bad-input corpus through the real command line (``python -m rsdesk`` children): no traceback, no hang,
no code run from a file, one message per bad file, the good files still processed, valid ``--json``, exit
codes as documented (0 all good, 1 some input failed, 2 a bad option) and each command's peak memory under
1.5 GB."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from bad_input_corpus import Case, made_cases, make_corpus, marker_path
from cli_helpers import Run, assert_clean, rsdesk

pytestmark = pytest.mark.slow

#: A small training: few atoms and patches, so it finishes in seconds.
SMALL_TRAINING = ("--atoms", "8", "--patch-size", "4", "--patches-per-image", "40", "--h", "0", "--quiet")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("bad-inputs"))


@pytest.fixture(autouse=True)
def _no_code_ran(request: pytest.FixtureRequest) -> None:
    """After every test: no pickled payload of the corpus was ever unpickled."""
    yield
    corpus = request.getfixturevalue("corpus")
    assert not marker_path(corpus).exists(), "a file of the corpus ran code"


def _cases(corpus: Path, kind: str) -> list[Case]:
    return [c for c in made_cases(corpus) if c.kind == kind]


def _lines_naming(run: Run, case: Case) -> list[str]:
    name = Path(case.path).name
    return [line for line in run.errors if f"{name}:" in line]


def _check_messages(run: Run, cases: list[Case]) -> None:
    """One error line per bad image, none for a good one, at most one for a non-image entry."""
    wrong = []
    for case in cases:
        n = len(_lines_naming(run, case))
        if (case.expect == "error" and n != 1) or (case.expect == "ok" and n) or n > 1:
            wrong.append(f"{case.path} ({case.expect}): {n} lines")
    assert not wrong, "\n".join(wrong) + "\n" + run.describe()


def test_classify_reports_each_bad_image_once_and_classifies_the_good_ones(corpus: Path) -> None:
    images = _cases(corpus, "image")
    run = rsdesk("classify", str(corpus / "images"))
    assert_clean(run)
    assert run.code == 1, run.describe()  # some inputs failed
    _check_messages(run, images)
    for case in images:
        printed = any(line.startswith(f"{corpus / case.path}: ") for line in run.out.splitlines())
        assert printed == (case.expect == "ok"), f"{case.path}\n{run.out}"


def test_classify_json_is_valid_json_line_by_line(corpus: Path) -> None:
    images = _cases(corpus, "image")
    run = rsdesk("classify", "--json", str(corpus / "images"))
    assert_clean(run)
    assert run.code == 1, run.describe()
    records = [json.loads(line) for line in run.out.splitlines()]  # any NaN would fail here
    assert {r["file"] for r in records} == {str(corpus / c.path) for c in images if c.expect == "ok"}
    for r in records:
        assert len(r["top5"]) == 5 and all(0 <= c["prob"] <= 1 for c in r["top5"])
    _check_messages(run, images)


def test_purify_reports_each_bad_image_once_and_saves_the_good_ones(corpus: Path, tmp_path: Path) -> None:
    images = _cases(corpus, "image")
    out = tmp_path / "purified"
    run = rsdesk("purify", str(corpus / "images"), "--defense", "jpeg", "--out", str(out), "--json")
    assert_clean(run)
    assert run.code == 1, run.describe()
    _check_messages(run, images)
    good = {Path(c.path).stem for c in images if c.expect == "ok"}
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{stem}_jpeg.png" for stem in good)
    assert {json.loads(line)["out"] for line in run.out.splitlines()} == {str(p) for p in out.iterdir()}


def test_train_dictionary_skips_each_bad_image_once_and_saves(corpus: Path, tmp_path: Path) -> None:
    from rsdesk.core.sparse.dictionary_file import load_dictionary

    out = tmp_path / "d.npz"
    run = rsdesk("train-dictionary", str(corpus / "images"), *SMALL_TRAINING, "--out", str(out))
    assert_clean(run)
    assert run.code == 1, run.describe()  # bad inputs were skipped
    _check_messages(run, [c for c in _cases(corpus, "image") if c.expect != "ok"])
    d = load_dictionary(out)
    assert d.n_atoms == 8 and d.patch_size == 4
    assert d.n_images >= 2  # at least the two bundled samples
    assert [p.name for p in tmp_path.iterdir()] == ["d.npz"]  # no temp file left


def _run_all(commands: list[tuple[Case, list[str]]]) -> list[tuple[Case, Run]]:
    """Commands two at a time (each is mostly start-up), every one in its own child."""
    with ThreadPoolExecutor(2) as pool:
        return list(zip((c for c, _ in commands), pool.map(lambda a: rsdesk(*a[1]), commands)))


def test_each_hostile_weights_file_is_one_clear_error(corpus: Path) -> None:
    good = str(corpus / "images" / "coffee.jpg")
    cases = _cases(corpus, "weights")
    wrong = []
    for case, run in _run_all([(c, ["classify", good, "--weights", str(corpus / c.path)]) for c in cases]):
        assert_clean(run)
        name = Path(case.path).name
        (line,) = run.errors or [""]
        ok_message = name in line or ("NaN" in line and name == "nan.pt")
        if run.code != 2 or len(run.errors) != 1 or not ok_message or run.out:
            wrong.append(run.describe())
    assert not wrong, "\n\n".join(wrong)


def test_each_hostile_dictionary_is_one_clear_error(corpus: Path, tmp_path: Path) -> None:
    good = str(corpus / "images" / "coffee.jpg")
    cases = _cases(corpus, "dictionary")
    commands = [
        (c, ["purify", good, "--dictionary", str(corpus / c.path), "--out", str(tmp_path / c.path)])
        for c in cases
    ]
    wrong = []
    for case, run in _run_all(commands):
        assert_clean(run)
        saved = sorted(p.name for p in (tmp_path / case.path).glob("*"))
        if case.expect == "ok":  # usable: purified, the unused member never inflated (memory checked above)
            if run.code != 0 or run.errors or saved != ["coffee_regionsparse.png"]:
                wrong.append(run.describe())
        elif run.code != 2 or len(_lines_naming(run, case)) != 1 or len(run.errors) != 1 or saved:
            wrong.append(run.describe())
    assert not wrong, "\n\n".join(wrong)


def test_labels_csv_variants_never_break_an_evaluation(corpus: Path, tmp_path: Path) -> None:
    folders = [str(corpus / c.path) for c in _cases(corpus, "labels")]
    out = tmp_path / "run"
    args = ("--attacks", "fgsm", "--strengths", "1", "--defenses", "none", "--all-images", "--quiet")
    run = rsdesk("evaluate", *folders, *args, "--out", str(out))
    assert_clean(run)
    assert run.code in (0, 1), run.describe()
    plan = json.loads((out / "plan.json").read_text())
    labels = {Path(i["path"]).parent.name: i["true_index"] for i in plan["images"]}
    assert labels.get("bom") == 967, labels  # a byte-order mark does not hide the "file" column
    assert all(0 <= v < 1000 for v in labels.values())

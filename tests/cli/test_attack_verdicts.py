"""``rsdesk attack`` judges as the window does (core/verdicts): an image the model gets wrong before the
attack is never "fooled": its line says why, and its record has ``success`` and ``clean_correct`` false."""

from __future__ import annotations

import shutil

from cli_helpers import COFFEE, records

from rsdesk.cli import main


def test_an_image_wrong_before_the_attack_is_not_fooled(capsys, tmp_path, classifier):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(COFFEE, folder / "right.jpg")
    shutil.copy(COFFEE, folder / "wrong.jpg")
    (folder / "labels.csv").write_text("file,class_index\nright.jpg,967\nwrong.jpg,211\n")  # espresso, vizsla
    args = ["attack", "--quiet", "--attack", "fgsm", "--eps", "16", str(folder), "--out"]
    assert main([*args, str(tmp_path / "json"), "--json"]) == 0
    right, wrong = records(capsys.readouterr().out)
    assert right["clean_correct"] is True and wrong["clean_correct"] is False
    assert wrong["success"] is False  # the model says espresso: wrong before, and nothing to fool
    assert right["success"] == (right["top5"][0]["index"] != 967)
    assert main([*args, str(tmp_path / "text")]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(lines) == 2 and "wrong.jpg" in lines[1]
    assert ": not fooled (wrong before the attack: there was nothing to fool);" in lines[1]
    assert (": fooled;" in lines[0]) == right["success"]

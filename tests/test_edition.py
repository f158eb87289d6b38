"""The student edition: everything a student needs, no answer, no hidden test."""
import json
from pathlib import Path

import pytest

from course_tools import edition

ROOT = Path(__file__).resolve().parents[1]


def test_the_student_edition_has_the_course_and_no_answer(tmp_path):
    out = tmp_path / "student"
    entries = edition.build(out)
    assert {"notebooks", "course_utils", "checkpoints", "data_scripts", "pyproject.toml", "README.md"} <= set(entries)
    assert not {"solutions", "tests", "course_tools", ".git", "benchmarks"} & set(entries)
    assert sorted(p.name for p in (out / "notebooks").glob("*.ipynb")) == \
        sorted(p.name for p in (ROOT / "solutions").glob("*.ipynb"))
    assert edition.leaks(out, ROOT / "solutions") == []
    assert len(edition.answers(ROOT / "solutions")) > 50  # the search has something to look for
    text = "\n".join(p.read_text(errors="replace") for p in out.rglob("*") if p.suffix in (".ipynb", ".md"))
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    assert 'packages = ["course_utils"]' in (out / "pyproject.toml").read_text()
    readme = (out / "README.md").read_text()
    assert "Student edition" in readme and "For instructors" not in readme
    with pytest.raises(FileExistsError):
        edition.build(out)  # no silent overwrite
    assert edition.build(out, force=True) == entries


def test_an_answer_that_would_leak_stops_the_edition_and_nothing_is_written(tmp_path):
    root = tmp_path / "course"
    for name in ("notebooks", "course_utils", "solutions"):
        (root / name).mkdir(parents=True)
    (root / "pyproject.toml").write_text('[tool.setuptools]\npackages = ["course_utils", "course_tools"]\n')
    (root / "README.md").write_text("# Course\n\nIntro.\n\n## Start\n\nRun it.\n\n## For instructors\n\nSecret.\n")
    answer = "return torch.mean((x - y) ** 2).clamp_min(1e-12)"
    cell = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
            "source": f"def mse(x, y):\n    ### BEGIN SOLUTION\n    {answer}\n    ### END SOLUTION\n"}
    nb = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (root / "solutions" / "01_x.ipynb").write_text(json.dumps(nb))
    leaked = dict(nb, cells=[dict(cell, source=f"def mse(x, y):\n    {answer}\n")])  # a release gone wrong
    (root / "notebooks" / "01_x.ipynb").write_text(json.dumps(leaked))
    with pytest.raises(ValueError, match="01_x.ipynb"):
        edition.build(tmp_path / "out", root=root)
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".edition-*"))
    (root / "notebooks" / "01_x.ipynb").write_text(json.dumps(dict(nb, cells=[dict(cell, source="def mse(x, y):\n    raise YourTurn()\n")])))
    edition.build(tmp_path / "out", root=root)
    assert "Secret" not in (tmp_path / "out" / "README.md").read_text()

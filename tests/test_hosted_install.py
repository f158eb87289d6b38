"""The opt-in install cell for hosted GPU kernels (course_tools.release.hosted_install_cell): every
course notebook has it once, before its first course_utils cell; off, it does nothing; on, it
installs COURSE_PACKAGE with pip and fetches the data; the whole path, from a wheel into a new
virtual environment with the notebook outside the checkout, is benchmarks/hosted_install.py
(slow)."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from course_tools import release

ROOT = Path(__file__).resolve().parents[1]


def _course_cell(cell) -> bool:
    return cell["cell_type"] == "code" and re.search(r"^\s*(import|from)\s+course_utils\b", cell["source"], re.M)


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.stem)
def test_every_student_notebook_has_the_cell_once_before_its_first_course_cell(path):
    cells = json.loads(path.read_text())["cells"]
    ids = [c.get("id") for c in cells]
    assert ids.count(release.HOSTED_CELL_ID) == 1
    first = next(i for i, c in enumerate(cells) if _course_cell(c) and c.get("id") != release.HOSTED_CELL_ID)
    assert ids.index(release.HOSTED_CELL_ID) == first - 1
    assert cells[first - 1]["source"] == release.hosted_install_cell()["source"]


def test_a_notebook_without_course_utils_gets_no_cell():
    nb = {"cells": [{"cell_type": "code", "id": "a", "metadata": {}, "outputs": [], "execution_count": None,
                     "source": "import numpy"}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    assert [c["id"] for c in release.release_notebook(nb)["cells"]] == ["a"]


def _exec(source: str, monkeypatch) -> list:
    """Run the cell's code with pip and the data fetch recorded instead of done."""
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(("pip", cmd, kw)))
    import course_utils.download as download
    monkeypatch.setattr(download, "main", lambda argv=None: calls.append(("fetch", argv)) or 0)
    exec(compile(source, "install-cell", "exec"), {})
    return calls


def test_off_by_default_it_does_nothing(monkeypatch):
    assert _exec(release.hosted_install_cell(package="git+https://example.org/c.git")["source"],
                 monkeypatch) == []


def test_on_it_installs_the_package_then_fetches_the_data(monkeypatch):
    source = release.hosted_install_cell(package="https://example.org/c-0.1-py3-none-any.whl")["source"]
    calls = _exec(source.replace("INSTALL_COURSE = False", "INSTALL_COURSE = True"), monkeypatch)
    assert [c[0] for c in calls] == ["pip", "fetch"]
    cmd = calls[0][1]
    assert cmd[1:4] == ["-m", "pip", "install"] and cmd[-1] == "https://example.org/c-0.1-py3-none-any.whl"
    assert calls[0][2].get("check") is True   # a failed install stops the notebook
    assert set(calls[1][1]) == set(release.HOSTED_DATASETS) >= {"Set5", "Set14", "T91"}


def test_on_without_a_package_it_says_what_to_set(monkeypatch):
    source = release.hosted_install_cell(package="")["source"].replace("INSTALL_COURSE = False",
                                                                         "INSTALL_COURSE = True")
    with pytest.raises(ValueError, match="set COURSE_PACKAGE to the course's git URL"):
        _exec(source, monkeypatch)


@pytest.mark.slow
def test_a_notebook_outside_the_checkout_installs_the_wheel_and_loads_a_checkpoint(tmp_path):
    if not os.environ.get("COURSE_DATA_MIRROR"):
        pytest.skip("COURSE_DATA_MIRROR is not set (it stands in for the network)")
    pytest.importorskip("setuptools", minversion="70.1")
    pytest.importorskip("nbclient")
    spec = importlib.util.spec_from_file_location("_hosted_install", ROOT / "benchmarks" / "hosted_install.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    facts = mod.try_install(tmp_path)
    assert facts["checkpoints_in_wheel"] >= 10 and facts["set5"] == 5 and facts["steps"] > 0

"""The nbgrader round trip (nbgrader 0.9): export, generate_assignment, autograde, on notebook 00."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course_tools import nbgrader_export

ROOT = Path(__file__).resolve().parents[1]


def test_the_export_marks_every_written_answer_as_a_manually_graded_cell(tmp_path):
    done = nbgrader_export.export(tmp_path)
    assert sorted(done) == sorted(p.stem for p in (ROOT / "solutions").glob("*.ipynb"))
    assert sum(done.values()) > 0
    for name in done:
        source = json.loads((tmp_path / "source" / name / f"{name}.ipynb").read_text())
        original = json.loads((ROOT / "solutions" / f"{name}.ipynb").read_text())
        assert len(source["cells"]) == len(original["cells"])
        for cell, before in zip(source["cells"], original["cells"]):
            meta = cell["metadata"].get("nbgrader", {})
            assert cell["source"] == before["source"]  # only metadata changes
            if cell["cell_type"] == "markdown" and meta.get("solution"):
                assert meta["grade"] and meta["points"] > 0, (name, cell.get("id"))
    assert "YourTurn" in (tmp_path / "nbgrader_config.py").read_text()


@pytest.mark.slow
def test_nbgrader_generates_and_autogrades_notebook_00(tmp_path):
    nbgrader = shutil.which("nbgrader", path=str(Path(sys.executable).parent))
    if nbgrader is None:
        pytest.fail('nbgrader is not installed: pip install -e ".[dev]"')
    nbgrader_export.export(tmp_path, ["00_welcome"])
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": str(ROOT), "COURSE_PROFILE": "ci", "MPLBACKEND": "Agg", "COURSE_NO_WIDGETS": "1"}

    def run(*args):
        done = subprocess.run([nbgrader, *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=900)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        return done

    run("generate_assignment", "00_welcome", "--force")
    released = tmp_path / "release" / "00_welcome" / "00_welcome.ipynb"
    assert "BEGIN SOLUTION" not in released.read_text() and "BEGIN HIDDEN" not in released.read_text()
    submitted = tmp_path / "submitted" / "alice" / "00_welcome"
    submitted.mkdir(parents=True)
    shutil.copy(tmp_path / "source" / "00_welcome" / "00_welcome.ipynb", submitted)  # every answer right
    (tmp_path / "submitted" / "bob" / "00_welcome").mkdir(parents=True)
    shutil.copy(released, tmp_path / "submitted" / "bob" / "00_welcome")  # nothing answered
    run("db", "student", "add", "alice")
    run("db", "student", "add", "bob")
    run("autograde", "00_welcome", "--force")
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gb:
        alice = gb.find_submission("00_welcome", "alice")
        bob = gb.find_submission("00_welcome", "bob")
        assert alice.max_code_score > 0 and alice.code_score == alice.max_code_score
        assert bob.code_score == 0

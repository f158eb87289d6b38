"""The course map: README table and title cells are written from course_tools.course_map."""
import json
import shutil
from pathlib import Path

import pytest

from course_tools import course_map

ROOT = Path(__file__).resolve().parents[1]


def test_readme_and_title_cells_are_up_to_date():
    stale = course_map.sync(check=True)
    assert not stale, ("stale (run `python -m course_tools.course_map`, then "
                       f"`python -m course_tools.release`): {stale}")


def test_every_solution_notebook_is_on_the_map():
    names = {p.stem for p in (ROOT / "solutions").glob("*.ipynb")}
    assert names <= set(course_map.NOTEBOOKS), names - set(course_map.NOTEBOOKS)


def test_run_times_come_from_the_measurements():
    times = {"05_srcnn": {"cpu": {"seconds": 754.0}, "ci": {"seconds": 48.2}}}
    assert course_map.run_time_text("05_srcnn", "cpu", times) == "13 min"
    assert course_map.run_time_text("05_srcnn", "ci", times) == "50 s"
    assert course_map.run_time_text("05_srcnn", "full", times) == "not measured"
    line = course_map.title_line("05_srcnn", times)
    assert "cpu 13 min" in line and "ci 50 s" in line and "full (GPU) not measured" in line
    row = [r for r in course_map.markdown_table(times).splitlines() if r.startswith("| 05_srcnn")][0]
    assert row.split(" | ")[3:6] == ["not measured", "13 min", "50 s"]


def test_a_gpu_estimate_is_shown_labelled_until_a_measurement_replaces_it():
    times = {"09_gatys": {"cpu": {"seconds": 300.0}, "full_estimate": {"t4_min": 12.4, "a100_min": 2.0}}}
    assert course_map.run_time_text("09_gatys", "full", times) == "est. 12 min (T4)"
    assert course_map.run_time_text("09_gatys", "cpu", times) == "5.0 min"   # estimates are full-only
    line = course_map.title_line("09_gatys", times)
    assert "full (GPU) est. 12 min (T4)" in line and "estimated from FLOP counts" in line
    times["09_gatys"]["full"] = {"seconds": 500.0}
    assert course_map.run_time_text("09_gatys", "full", times) == "8.3 min"
    assert "estimated" not in course_map.title_line("09_gatys", times)


def _copy(tmp_path):
    root = tmp_path / "course"
    (root / "solutions").mkdir(parents=True)
    (root / "docs").mkdir()
    shutil.copy(ROOT / "README.md", root / "README.md")
    shutil.copy(ROOT / "solutions" / "00_welcome.ipynb", root / "solutions")
    return root


def test_sync_rewrites_readme_and_title_cell_from_a_new_measurement(tmp_path):
    root = _copy(tmp_path)
    (root / "docs" / "run_times.json").write_text(json.dumps(
        {"notebooks": {"00_welcome": {"ci": {"seconds": 1234.0}}}}))
    stale = course_map.sync(check=True, root=root)
    assert str(root / "README.md") in stale and str(root / "solutions" / "00_welcome.ipynb") in stale
    course_map.sync(root=root)
    assert "| 21 min |" in (root / "README.md").read_text()
    title = json.loads((root / "solutions" / "00_welcome.ipynb").read_text())["cells"][0]["source"]
    assert "ci 21 min" in (title if isinstance(title, str) else "".join(title))
    assert course_map.sync(check=True, root=root) == []


def test_a_corrupt_measurement_file_is_named(tmp_path, capsys):
    root = _copy(tmp_path)
    (root / "docs" / "run_times.json").write_text("{ not json")
    with pytest.raises(ValueError, match="run_times.json"):
        course_map.sync(check=True, root=root)
    assert course_map.main(["--check"], root=root) == 2
    assert "run_times.json" in capsys.readouterr().err

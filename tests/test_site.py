"""The course site (python -m course_tools.site): every notebook has a page with its figures, the
students' pages hold no answer code, the home page is the course map, and the execution cache
skips unchanged notebooks. Builds the students' site in the ci profile (each notebook executed
once, cached in build/site-cache/ci by content)."""
import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from course_tools import site

ROOT = Path(__file__).resolve().parents[1]
STEMS = site.notebook_stems()


class _Text(HTMLParser):
    """The visible text of a page (tags stripped) and its <img> sources."""

    def __init__(self):
        super().__init__()
        self.parts, self.images, self._skip = [], [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        if tag == "img":
            self.images.append(dict(attrs).get("src", ""))

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def _page(path: Path) -> tuple[str, list[str]]:
    p = _Text()
    p.feed(path.read_text(encoding="utf-8"))
    return _norm(html.unescape("".join(p.parts))), p.images


def _norm(s: str) -> str:
    """Whitespace collapsed and the marks that rendering removes or changes (markdown's backticks
    and stars, math delimiters, list markers) dropped, the same way for sources and pages."""
    s = re.sub(r"\\[()\[\]]|[`*$]", "", s)
    s = re.sub(r"^\s*(?:[-+]|\d+\.)\s+", "", s)
    return re.sub(r"\s+", " ", s).strip()


def answer_lines(stem: str) -> list[str]:
    """Lines of the solution's answers (code and written answers between BEGIN/END SOLUTION) that
    the student notebook does not contain anywhere else: these must never reach a student page."""
    sol = json.loads((ROOT / "solutions" / f"{stem}.ipynb").read_text(encoding="utf-8"))
    student = json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text(encoding="utf-8"))
    student_text = _norm(" ".join("".join(c["source"]) for c in student["cells"]))
    lines = []
    for cell in sol["cells"]:
        inside = False
        for line in "".join(cell["source"]).splitlines():
            if "### BEGIN SOLUTION" in line:
                inside = True
            elif "### END SOLUTION" in line:
                inside = False
            elif inside:
                text = _norm(line.split("#")[0] if cell["cell_type"] == "code" else line)
                if len(text) >= 15 and text not in student_text:
                    lines.append(text)
    return lines


@pytest.fixture(scope="module")
def student_site():
    log = []
    html_dir = site.build("students", "ci", jobs=2, log=log.append)
    return html_dir, log


def test_every_notebook_has_a_page_with_its_figures(student_site):
    html_dir, _ = student_site
    assert STEMS and len(STEMS) >= 10
    for stem in STEMS:
        page = html_dir / f"{stem}.html"
        assert page.is_file(), f"no page for {stem}"
        text, images = _page(page)
        figures = [src for src in images if "_images/" in src]
        built = json.loads((html_dir.parents[1] / "book" / f"{stem}.ipynb").read_text(encoding="utf-8"))
        pngs = sum("image/png" in o.get("data", {}) for c in built["cells"] if c["cell_type"] == "code"
                   for o in c.get("outputs", []))
        assert pngs > 0 and len(figures) >= pngs, f"{stem}: {len(figures)} figures on the page, {pngs} in the run"
        for src in figures:
            assert (page.parent / src).is_file(), f"{stem}: figure {src} missing"
        assert "YOUR CODE HERE" in text or "Exercise" not in text, f"{stem}: the student's stubs are missing"


def test_student_pages_hold_no_answer_code(student_site):
    html_dir, _ = student_site
    pages = {p.name: _page(p)[0] for p in html_dir.glob("*.html")}
    checked = 0
    for stem in STEMS:
        for line in answer_lines(stem):
            leaks = [name for name, text in pages.items() if line in text]
            assert not leaks, f"answer code of {stem} on the students' site ({leaks}): {line!r}"
            checked += 1
    assert checked > 50, checked  # the search looked at real answers


def test_the_answer_search_finds_answers_on_the_instructors_site(tmp_path):
    """The leak check can fail: on the instructors' site (the same cached execution) it finds them."""
    stems = ["03_interpolation", "09_gatys"]
    html_dir = site.build("instructors", "ci", out=tmp_path / "instructors", stems=stems,
                          log=lambda *a: None)
    for stem in stems:
        text, _ = _page(html_dir / f"{stem}.html")
        lines = answer_lines(stem)
        found = [line for line in lines if line in text]
        assert lines and len(found) >= 0.8 * len(lines), (stem, len(found), len(lines))


def test_home_page_is_the_course_map_with_links(student_site):
    html_dir, _ = student_site
    index = (html_dir / "index.html").read_text(encoding="utf-8")
    text, _ = _page(html_dir / "index.html")
    from course_tools.course_map import NOTEBOOKS
    mapped = list(NOTEBOOKS)
    for stem in STEMS:
        assert f'href="{stem}.html"' in index, f"the home page does not link to {stem}"
    for stem in mapped:
        assert stem in text
    assert 'href="checkpoints.html"' in index and (html_dir / "checkpoints.html").is_file()
    assert "this build (ci)" in text


def test_unchanged_notebooks_are_not_executed_again(student_site, tmp_path):
    _, log = student_site
    again = []
    site.execute(STEMS, "ci", log=again.append)      # the build above filled the cache
    assert all(": cached" in line for line in again), again


def test_cache_key_follows_the_notebook_the_profile_the_mirror_and_the_library(tmp_path, monkeypatch):
    (tmp_path / "course_utils").mkdir()
    lib = tmp_path / "course_utils" / "x.py"
    lib.write_text("a = 1\n")
    nb = tmp_path / "n.ipynb"
    nb.write_text("{}")
    key = site.cache_key(nb, "ci", tmp_path)
    assert site.cache_key(nb, "ci", tmp_path) == key
    assert site.cache_key(nb, "cpu", tmp_path) != key
    (tmp_path / "course_tools").mkdir()
    (tmp_path / "course_tools" / "site.py").write_text("# the tools: no re-execution\n")
    assert site.cache_key(nb, "ci", tmp_path) == key
    lib.write_text("a = 2\n")
    assert site.cache_key(nb, "ci", tmp_path) != key
    nb.write_text('{"cells": []}')
    assert site.cache_key(nb, "ci", tmp_path) != key
    key = site.cache_key(nb, "ci", tmp_path)
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(tmp_path / "another-mirror"))
    assert site.cache_key(nb, "ci", tmp_path) != key


def test_student_page_takes_outputs_by_cell_id():
    student = {"metadata": {}, "cells": [
        {"cell_type": "code", "id": "ex01-1", "source": "raise YourTurn", "outputs": [], "execution_count": None},
        {"cell_type": "code", "id": "c-new", "source": "x", "outputs": [], "execution_count": None}]}
    ran = {"metadata": {"course_site": {"seconds": 3}}, "cells": [
        {"cell_type": "code", "id": "ex01-1", "source": "answer()", "execution_count": 4,
         "outputs": [{"output_type": "stream", "name": "stdout", "text": "ok"}]}]}
    page = site.student_page(student, ran)
    assert page["cells"][0]["source"] == "raise YourTurn"          # the student's code
    assert page["cells"][0]["outputs"][0]["text"] == "ok"           # the solution's output
    assert page["cells"][1]["outputs"] == []
    assert student["cells"][0]["outputs"] == []                     # the input is not changed


def test_an_execution_is_cached_and_its_data_records_replayed(tmp_path, monkeypatch):
    """A notebook executed for the site is cached (not run again until it changes), and the data
    it used reaches the test run's data log (conftest checks it) whether it ran now or was cached:
    one execution serves the site and the notebook check (tests/test_notebooks.py)."""
    import nbformat

    (tmp_path / "solutions").mkdir()
    (tmp_path / "course_utils").mkdir()
    data_log = tmp_path / "data.jsonl"
    monkeypatch.setenv("COURSE_DATA_LOG", str(data_log))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os\nfrom course_utils.data import record_data_source\n"
        "record_data_source('Set5', True, 'a test')\nprint(os.environ['COURSE_PROFILE'])")])
    path = tmp_path / "solutions" / "99_tiny.ipynb"
    nbformat.write(nb, path)
    log = []
    out = site.execute(["99_tiny"], "ci", root=tmp_path, cache=tmp_path / "cache", log=log.append)
    ran = nbformat.read(out["99_tiny"], as_version=4)
    assert ran.cells[0].outputs[0]["text"].strip() == "ci"
    assert "executed" in log[0]
    records = [json.loads(line) for line in data_log.read_text().splitlines()]
    assert records == [{"notebook": "99_tiny.ipynb", "dataset": "Set5", "real": True, "source": "a test"}]
    data_log.unlink()
    site.execute(["99_tiny"], "ci", root=tmp_path, cache=tmp_path / "cache", log=log.append)
    assert "cached" in log[-1]
    assert [json.loads(line) for line in data_log.read_text().splitlines()] == records
    nb.cells[0].source += "\n1"
    nbformat.write(nb, path)
    site.execute(["99_tiny"], "ci", root=tmp_path, cache=tmp_path / "cache", log=log.append)
    assert "executed" in log[-1]


# ---- the command's bad input: nothing executed, nothing deleted ----------------------------------

def _no_execution(monkeypatch):
    def execute(*a, **k):
        raise AssertionError("notebooks were executed")
    monkeypatch.setattr(site, "execute", execute)


def test_build_never_deletes_a_book_folder_it_did_not_write(tmp_path, monkeypatch, capsys):
    _no_execution(monkeypatch)
    mine = tmp_path / "book" / "my_notes.md"
    mine.parent.mkdir()
    mine.write_text("a week of work")
    assert site.main(["build", "--out", str(tmp_path), "--notebooks", "03_interpolation"]) == 2
    assert "was not written by the site build" in capsys.readouterr().err
    assert mine.read_text() == "a week of work"


def test_a_book_folder_the_build_wrote_is_replaced(tmp_path):
    site._write_book(tmp_path / "book", "students", "ci", {}, site.ROOT)
    (tmp_path / "book" / "old_page.ipynb").write_text("{}")
    site._write_book(tmp_path / "book", "students", "ci", {}, site.ROOT)
    assert (tmp_path / "book" / site.BOOK_MARKER).is_file()
    assert not (tmp_path / "book" / "old_page.ipynb").exists()


@pytest.mark.parametrize("names,message", [([], "names no notebook"),
                                           (["99_nothing"], "no solutions/99_nothing.ipynb")])
def test_an_empty_or_unknown_notebooks_list_is_an_error_not_build_all(tmp_path, monkeypatch, capsys,
                                                                      names, message):
    _no_execution(monkeypatch)
    assert site.main(["build", "--out", str(tmp_path), "--notebooks", *names]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "book").exists()

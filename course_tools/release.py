"""Write the student notebooks (``notebooks/``) from the instructor's (``solutions/``).

nbgrader's conventions (its ``ClearSolutions`` and ``ClearHiddenTests``), so instructors can switch
to nbgrader without rewriting anything:

* in a code cell, the lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` become
  ``# YOUR CODE HERE`` and a ``raise YourTurn("5.1")`` (indented like the marker; ``YourTurn`` is a
  ``NotImplementedError`` whose message is one short line, see ``course_utils.exercise``);
* in a markdown or raw cell (a written answer), the region becomes ``YOUR ANSWER HERE``;
* a solution cell (nbgrader metadata ``solution: true``) without markers is replaced as a whole;
* a block between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` is removed;
* outputs and execution counts are cleared; each cell keeps its stable ``id`` and its nbgrader
  metadata (``grade_id``, ``points``, ...) and loses the rest of its metadata;
* the notebook keeps only ``kernelspec`` and ``language_info`` of its metadata (saved widget
  state and anything else an editor stored there is stripped: it can hold a run's answers);
* a cell keeps only the image attachments its student source still shows (``attachment:NAME``):
  the images of a model answer go with the answer;
* a course notebook (one whose code imports ``course_utils`` at the top level of a cell) gets,
  before its first such cell,
  the opt-in install cell for hosted GPU kernels (:func:`hosted_install_cell`, id
  ``hosted-install``): off by default, it does nothing in a local run; written here, once, so the
  twelve solution notebooks do not each carry a copy.

The release refuses (exit 2, nothing written) what nbgrader would refuse or might read differently:
a marker spelled another way (``###BEGIN SOLUTION``, ``## BEGIN SOLUTION``, ``### begin solution``,
``# BEGIN HIDDEN TEST``, ``### BEGIN SOLUTIONS``, or with a zero-width space, a no-break space or
a Cyrillic/Greek/full-width letter in it; nbgrader versions differ on these, so an answer could
reach students), in any cell, a
solution region outside a ``solution`` cell, hidden tests outside a ``grade`` cell, nested or
unclosed regions.

    python -m course_tools.release            # write notebooks/
    python -m course_tools.release --check    # exit 1 if notebooks/ is stale
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from pathlib import Path

from ._paths import repo_root
from .notebooks import NotebookError, dumps, read_notebook, write_notebook

__all__ = ["ReleaseError", "strip_source", "release_notebook", "release", "exercise_label",
           "hosted_install_cell", "main"]

MARKERS = {
    "### BEGIN SOLUTION": ("solution", "begin"),
    "### END SOLUTION": ("solution", "end"),
    "### BEGIN HIDDEN TESTS": ("hidden", "begin"),
    "### END HIDDEN TESTS": ("hidden", "end"),
}
# anything a reader (or some nbgrader version) could take for a marker
MARKER_LIKE = re.compile(r"\b(begin|end)[\s_-]*(solutions?|hidden[\s_-]*tests?)\b", re.IGNORECASE)
TEXT_STUB = "YOUR ANSWER HERE"
# letters of other scripts that look like the Latin letters of the markers
CONFUSABLE = str.maketrans("АВСЕНІЈКМНОРЅТХаеіјорсѕухΑΒΕΗΙΚΜΝΟΡΤΧΥΖιοτνı",
                           "ABCEHIJKMHOPSTXaeijopcsyxABEHIKMNOPTXYZiotvi")
NOTEBOOK_METADATA = ("kernelspec", "language_info")  # what a student notebook keeps
# What the hosted-kernel install cell installs: the course's git URL ("git+https://HOST/OWNER/
# pixels-from-nothing") or the URL of its wheel, once published. Empty: the student pastes it into
# the cell's COURSE_PACKAGE (the README says where it comes from).
HOSTED_PACKAGE = ""
# the datasets that cell fetches (the README's "about 25 MB": every notebook's real data)
HOSTED_DATASETS = ("Set5", "Set14", "T91", "olivetti", "mnist", "styles")
HOSTED_CELL_ID = "hosted-install"


class ReleaseError(ValueError):
    """A solution notebook the release cannot turn into a safe student notebook."""


def exercise_label(grade_id: str | None) -> str:
    """``"ex05-2"`` -> ``"5.2"``; other ids are returned as they are (``None`` -> ``""``)."""
    m = re.fullmatch(r"ex(\d+)-(\d+)", grade_id or "")
    return f"{int(m.group(1))}.{m.group(2)}" if m else (grade_id or "")


def code_stub(indent: str, label: str = "") -> list[str]:
    """The lines that replace an answer in a code cell."""
    return [f"{indent}# YOUR CODE HERE\n",
            f"{indent}from course_utils.exercise import YourTurn\n",
            f'{indent}raise YourTurn("{label}")\n']


def skeleton(text: str) -> str:
    """``text`` as a reader sees it: compatibility forms folded (NFKC: full-width letters,
    no-break spaces), invisible format characters (zero-width space, joiners, BOM) removed and
    Cyrillic/Greek look-alikes of Latin letters replaced by those letters."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    return text.translate(CONFUSABLE)


def _marker(line: str, where: str, number: int) -> tuple[str, str] | None:
    """The (region, begin/end) of a marker line, None for an ordinary line; refuse look-alikes."""
    s = line.strip()
    if s in MARKERS:
        return MARKERS[s]
    m = MARKER_LIKE.search(skeleton(line))
    if m:
        region = "SOLUTION" if m.group(2).lower() == "solution" else "HIDDEN TESTS"
        raise ReleaseError(
            f"{where}, line {number}: {s!r} looks like an nbgrader marker but is not spelled "
            f"like one; write the line exactly as `### {m.group(1).upper()} {region}` "
            "(other spellings are read differently by nbgrader versions and could leak the answer)")
    return None


def strip_source(source: str, where: str = "cell", cell_type: str = "code",
                 label: str = "") -> tuple[str, set[str]]:
    """The student version of one cell's source and the kinds of region removed from it.

    ``cell_type`` "code" gets the code stub (``label`` names the exercise in its message), other
    cells get ``YOUR ANSWER HERE``. The kinds are a subset of {"solution", "hidden"}.
    """
    out: list[str] = []
    found: set[str] = set()
    state = None
    for number, line in enumerate(source.splitlines(keepends=True), 1):
        marker = _marker(line, where, number)
        if marker is None:
            if state is None:
                out.append(line)
            continue
        region, edge = marker
        if edge == "begin":
            if state:
                raise ReleaseError(f"{where}, line {number}: a {region} region starts inside "
                                   f"a {state} region (nested regions are not allowed)")
            indent = line[: len(line) - len(line.lstrip())]
            if region == "solution":
                out += code_stub(indent, label) if cell_type == "code" else [indent + TEXT_STUB + "\n"]
            state = region
            found.add(region)
        else:
            if state != region:
                raise ReleaseError(f"{where}, line {number}: {line.strip()!r} without its BEGIN line")
            state = None
    if state:
        raise ReleaseError(f"{where}: a {state} region is not closed (add its END line)")
    text = "".join(out)
    return (text if source.endswith("\n") else text.rstrip("\n")), found


def _release_cell(cell: dict, where: str) -> None:
    """Turn one cell (in place) into its student version."""
    src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
    grading = cell.get("metadata", {}).get("nbgrader") or {}
    label = exercise_label(grading.get("grade_id"))
    new, found = strip_source(src, where, cell["cell_type"], label)
    if "solution" in found and not grading.get("solution"):
        raise ReleaseError(f"{where}: a solution region in a cell that is not a solution cell; give "
                           "it nbgrader metadata (solution: true, grade_id exNN-k) as nbgrader requires")
    if "hidden" in found and not grading.get("grade"):
        raise ReleaseError(f"{where}: hidden tests in a cell that is not a grade cell; move them into "
                           "the exercise's check cell (grade: true, points: N)")
    if grading.get("solution") and "solution" not in found:  # nbgrader replaces the whole cell
        new = "".join(code_stub("", label)).rstrip("\n") if cell["cell_type"] == "code" else TEXT_STUB
    cell["source"] = new
    cell["metadata"] = {"nbgrader": grading} if grading else {}
    if "attachments" in cell:  # keep only the images the student version still shows
        kept = {k: v for k, v in (cell["attachments"] or {}).items() if f"attachment:{k}" in new}
        if kept:
            cell["attachments"] = kept
        else:
            del cell["attachments"]
    if cell["cell_type"] == "code":
        cell["outputs"] = []
        cell["execution_count"] = None


def hosted_install_cell(package: str = HOSTED_PACKAGE, datasets: tuple[str, ...] = HOSTED_DATASETS) -> dict:
    """The opt-in first code cell of a student notebook: on a hosted GPU kernel opened without
    the course folder (Colab, Kaggle, ...), ``INSTALL_COURSE = True`` installs the course (its
    library and shipped checkpoints, package data of the wheel) with pip from ``COURSE_PACKAGE``
    and fetches ``datasets`` (sha256-checked, into ``~/.cache/pixels-from-nothing/data``).
    ``INSTALL_COURSE = False`` (the default) does nothing."""
    source = (
        "# Hosted GPU kernel (Colab, Kaggle, ...) without the course folder? Set INSTALL_COURSE = True\n"
        "# and run this cell once: it installs the course (its library and shipped checkpoints) with pip\n"
        "# from COURSE_PACKAGE (the course's git URL or wheel URL, see the README), then fetches the\n"
        "# datasets (about 25 MB). Left False, it does nothing (a local run never installs anything).\n"
        "INSTALL_COURSE = False\n"
        f"COURSE_PACKAGE = {json.dumps(package)}\n"
        "if INSTALL_COURSE:\n"
        "    import importlib, subprocess, sys\n"
        "    if not COURSE_PACKAGE:\n"
        "        raise ValueError(\"set COURSE_PACKAGE to the course's git URL ('git+https://...') or the URL \"\n"
        "                         \"of its wheel (the README: 'Hosted GPU kernels'), then run this cell again\")\n"
        "    subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"-q\", COURSE_PACKAGE], check=True)\n"
        "    importlib.invalidate_caches()\n"
        "    from course_utils.download import main as fetch_data\n"
        f"    if fetch_data({json.dumps(list(datasets))}) != 0:\n"
        "        raise RuntimeError(\"some datasets could not be fetched (see above); the notebooks use \"\n"
        "                           \"built-in images for those and say so\")")
    return {"cell_type": "code", "execution_count": None, "id": HOSTED_CELL_ID, "metadata": {},
            "outputs": [], "source": source}


def _imports_course(cell: dict) -> bool:
    src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
    return cell["cell_type"] == "code" and re.search(r"^(import|from)\s+course_utils\b", src, re.M) is not None


def release_notebook(nb: dict, name: str = "notebook") -> dict:
    """The student version of a notebook (as a JSON dict, nbformat 4.5)."""
    out = json.loads(json.dumps(nb))
    # the solution's first cell that imports course_utils (the setup cell), before any release
    # turns an answer into a stub (which imports course_utils.exercise)
    first = next((i for i, c in enumerate(out["cells"]) if _imports_course(c)), None)
    for i, cell in enumerate(out["cells"]):
        _release_cell(cell, f"{name} cell {i} (id {cell.get('id', '?')})")
    if first is not None and not any(c.get("id") == HOSTED_CELL_ID for c in out["cells"]):
        out["cells"].insert(first, hosted_install_cell())
    out["metadata"] = {k: v for k, v in out.get("metadata", {}).items() if k in NOTEBOOK_METADATA}
    out["nbformat"], out["nbformat_minor"] = 4, 5
    return out


def _dump(nb: dict) -> str:
    return dumps(nb)


def release(src_dir: Path, dst_dir: Path, check: bool = False) -> list[str]:
    """Write (or, with ``check``, compare) every student notebook; return the stale names.

    Every notebook is released in memory first: if one is refused, nothing is written.
    """
    if not Path(src_dir).is_dir():
        raise ReleaseError(f"{src_dir}: no such folder; --src names the folder of the solution "
                           "notebooks (default solutions/)")
    try:
        sources = sorted(Path(src_dir).glob("*.ipynb"))
    except PermissionError as e:
        raise ReleaseError(f"{src_dir}: cannot list it ({e.strerror or e}); give yourself read "
                           "permission (chmod u+rx)") from None
    if not sources:
        raise ReleaseError(f"{src_dir}: no *.ipynb in it; --src names the folder of the solution "
                           "notebooks (default solutions/)")
    texts = {}
    for p in sources:
        try:
            nb = read_notebook(p)
        except NotebookError as e:
            raise ReleaseError(f"{e}; or remove it") from None
        texts[p.name] = _dump(release_notebook(nb, str(p)))
    stale = []
    for name, text in texts.items():
        target = Path(dst_dir) / name
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            stale.append(name)
            if not check:
                write_notebook(json.loads(text), target)
    for extra in sorted(Path(dst_dir).glob("*.ipynb")):
        if extra.name not in texts:
            stale.append(f"{extra.name} (no solution)")
    return stale


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m course_tools.release", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="exit 1 if notebooks/ is out of date")
    p.add_argument("--src", type=Path, default=repo_root() / "solutions")
    p.add_argument("--dst", type=Path, default=repo_root() / "notebooks")
    args = p.parse_args(argv)
    try:
        stale = release(args.src, args.dst, check=args.check)
    except ReleaseError as e:
        print(f"error: {e}\nnothing was written.", file=sys.stderr)
        return 2
    if args.check:
        if stale:
            print("notebooks/ is stale: " + ", ".join(stale)
                  + "\nrun `python -m course_tools.release`", file=sys.stderr)
            return 1
        print("notebooks/ is up to date")
        return 0
    print(f"wrote {len(stale)} notebook(s)" + (": " + ", ".join(stale) if stale else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

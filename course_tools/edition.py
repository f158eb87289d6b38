"""Write the student edition: a repository to give students, without answers or hidden tests.

    python -m course_tools.edition OUT            # writes OUT/ (refuses a non-empty OUT)
    python -m course_tools.edition OUT --force    # replaces an OUT/ it wrote before

The edition holds the student notebooks (``notebooks/``, as ``release`` wrote them), the students'
library (``course_utils/``), the shipped checkpoints, the data scripts, ``pyproject.toml``
(``course_utils`` only), ``environment.yml`` and a README for students. It never holds
``solutions/``, ``tests/`` (the mutation catalogue lists wrong and right answers), the instructors'
tools (``course_tools/``) or ``.git``. Before it is moved into place, every file is searched for the
solution and hidden-test markers and for every model answer and hidden test of ``solutions/``
(see :func:`leaks`); one found and nothing is written (exit 1).

Instructors keep the main repository (with ``solutions/``) private and publish this folder.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

__all__ = ["build", "leaks", "main"]

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("notebooks", "course_utils", "checkpoints", "data_scripts", "environment.yml", "LICENSE")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "*.part")
MARKERS = re.compile(r"BEGIN\s*SOLUTION|END\s*SOLUTION|BEGIN\s*HIDDEN\s*TESTS|END\s*HIDDEN\s*TESTS", re.I)
STAMP = ".student-edition"  # marks a folder this command wrote (--force replaces only those)

INTRO = """\
> **Student edition.** This repository holds the course's notebooks with the exercises to write,
> the course's library, the trained checkpoints and the data scripts. The answers and the grading
> tests are not in it; your instructor grades your notebooks.
"""


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return src if isinstance(src, str) else "".join(src)


REGION = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)(.*?)### END \1", re.S)


def _lines(text: str) -> set[str]:
    flat = (re.sub(r"\s+", "", line) for line in text.splitlines())
    return {line for line in flat if len(line) >= 16 and not line.startswith("#")}


def answers(solutions: Path) -> list[str]:
    """The text no student notebook may contain: each line (at least 16 characters, not a comment,
    without spacing) of the model answers and hidden tests of ``solutions/`` that the solutions do
    not also show outside those regions (``with torch.no_grad():`` is no answer)."""
    inside, outside = set(), []
    for path in sorted(Path(solutions).glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb.get("cells", []):
            inside |= {line for _, text in REGION.findall(_source(cell)) for line in _lines(text)}
            outside.append(re.sub(r"\s+", "", REGION.sub("", _source(cell))))
    shown = "\n".join(outside)
    return sorted(line for line in inside if line not in shown)


def leaks(folder: Path, solutions: Path) -> list[str]:
    """Files of ``folder`` that hold a solution or hidden-test marker, or a model answer's or a
    hidden test's line from the notebooks of ``solutions/`` (notebooks: their cells' text; other
    text files: their text). Library modules are searched for markers only: the library holds the
    course's versions of the exercises on purpose (the course's-version switch)."""
    secret = answers(solutions)
    found = []
    for path in sorted(Path(folder).rglob("*")):
        if not path.is_file() or path.suffix not in (".ipynb", ".py", ".md", ".txt", ".json", ".toml", ".yml"):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        rel = path.relative_to(folder).as_posix()
        if path.suffix == ".ipynb":
            text = "\n".join(_source(c) for c in json.loads(text).get("cells", []))
        if MARKERS.search(text) and rel.startswith("notebooks/"):
            found.append(f"{rel}: a solution or hidden-test marker")
            continue
        if path.suffix == ".ipynb" or rel.startswith("notebooks/"):
            flat = re.sub(r"\s+", "", text)
            hit = next((line for line in secret if line in flat), None)
            if hit:
                found.append(f"{rel}: a line of a model answer or hidden test ({hit[:40]}...)")
    return found


def _student_pyproject(text: str) -> str:
    """The project file with the students' library only."""
    return re.sub(r"packages\s*=\s*\[[^\]]*\]", 'packages = ["course_utils"]', text)


def _student_readme(text: str) -> str:
    """The README's student sections (up to the tests), with the student-edition note."""
    text = re.sub(r"\n\*\*Students and instructors\.\*\*.*?\n\n", "\n", text, flags=re.S)
    head, _, rest = text.partition("\n## ")
    keep = []
    for section in ("## " + rest).split("\n## "):
        title = section.lstrip("# ").split("\n", 1)[0]
        if title.startswith(("Test", "In a real browser", "The course site", "For instructors", "Layout")):
            break
        keep.append(section if section.startswith("## ") else "## " + section)
    return head.rstrip() + "\n\n" + INTRO + "\n" + "\n".join(keep).rstrip() + "\n"


def build(out: Path, root: Path = ROOT, force: bool = False) -> list[str]:
    """Write the student edition to ``out``; return its top-level entries. Raises FileExistsError
    (``out`` not empty, not an edition or no ``force``), FileNotFoundError (a part of the course
    is missing) or ValueError (an answer would leak: nothing is written)."""
    out, root = Path(out).resolve(), Path(root)
    if out.exists() and any(out.iterdir()):
        if not (force and (out / STAMP).is_file()):
            raise FileExistsError(f"{out} is not empty; choose a new folder (or --force to replace an "
                                  "edition this command wrote)")
    for name in ("notebooks", "course_utils", "solutions"):
        if not (root / name).is_dir():
            raise FileNotFoundError(f"{root / name}: missing; run this in the course's repository")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".edition-", dir=out.parent))
    try:
        for name in COPIED:
            src = root / name
            if src.is_dir():
                shutil.copytree(src, tmp / name, ignore=IGNORED, symlinks=False)
            elif src.is_file():
                shutil.copy2(src, tmp / name)
        (tmp / "pyproject.toml").write_text(_student_pyproject((root / "pyproject.toml").read_text()))
        (tmp / "README.md").write_text(_student_readme((root / "README.md").read_text()))
        (tmp / STAMP).write_text("written by python -m course_tools.edition\n")
        found = leaks(tmp, root / "solutions")
        if found:
            raise ValueError("the student edition would contain answers:\n  " + "\n  ".join(found))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return sorted(p.name for p in out.iterdir())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m course_tools.edition", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path, help="the folder to write (new or empty)")
    p.add_argument("--force", action="store_true", help="replace an edition this command wrote before")
    args = p.parse_args(argv)
    try:
        entries = build(args.out, force=args.force)
    except (FileExistsError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"error: {e}\nnothing was written; fix solutions/ and re-run the release", file=sys.stderr)
        return 1
    print(f"wrote the student edition to {args.out} ({', '.join(entries)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

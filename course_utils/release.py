"""Write the student notebooks (``notebooks/``) from the instructor's (``solutions/``).

nbgrader's conventions, so instructors can switch to nbgrader later:

* lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` become
  ``# YOUR CODE HERE`` and ``raise NotImplementedError()`` (indented like the marker);
* a block between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` is removed;
* outputs and execution counts are cleared; each cell keeps its stable ``id`` and its nbgrader
  metadata (``grade_id``, ``points``, ...) and loses the rest of its metadata.

    python -m course_utils.release            # write notebooks/
    python -m course_utils.release --check    # exit 1 if notebooks/ is stale
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .profiles import repo_root

__all__ = ["strip_source", "release_notebook", "release", "main"]

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


class ReleaseError(ValueError):
    pass


def strip_source(source: str, where: str = "cell") -> str:
    """The student version of one cell's source."""
    out: list[str] = []
    state = None
    for line in source.splitlines(keepends=True):
        s = line.strip()
        if s == BEGIN_SOLUTION:
            if state:
                raise ReleaseError(f"{where}: {BEGIN_SOLUTION} inside another block")
            indent = line[: len(line) - len(line.lstrip())]
            out += [f"{indent}# YOUR CODE HERE\n", f"{indent}raise NotImplementedError()\n"]
            state = "solution"
        elif s == END_SOLUTION:
            if state != "solution":
                raise ReleaseError(f"{where}: {END_SOLUTION} without {BEGIN_SOLUTION}")
            state = None
        elif s == BEGIN_HIDDEN:
            if state:
                raise ReleaseError(f"{where}: {BEGIN_HIDDEN} inside another block")
            state = "hidden"
        elif s == END_HIDDEN:
            if state != "hidden":
                raise ReleaseError(f"{where}: {END_HIDDEN} without {BEGIN_HIDDEN}")
            state = None
        elif state is None:
            out.append(line)
    if state:
        raise ReleaseError(f"{where}: a {state} block is not closed")
    text = "".join(out)
    return text.rstrip("\n") if not source.endswith("\n") else text


def release_notebook(nb: dict, name: str = "notebook") -> dict:
    """The student version of a notebook (as a JSON dict, nbformat 4)."""
    out = json.loads(json.dumps(nb))
    for i, cell in enumerate(out["cells"]):
        src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        cell["source"] = strip_source(src, f"{name} cell {i}") if cell["cell_type"] == "code" else src
        grading = cell.get("metadata", {}).get("nbgrader")
        cell["metadata"] = {"nbgrader": grading} if grading else {}
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    out["nbformat"], out["nbformat_minor"] = 4, 5
    return out


def _dump(nb: dict) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def release(src_dir: Path, dst_dir: Path, check: bool = False) -> list[str]:
    """Write (or, with ``check``, compare) every student notebook; return the stale names."""
    stale = []
    sources = sorted(Path(src_dir).glob("*.ipynb"))
    wanted = {p.name for p in sources}
    for p in sources:
        text = _dump(release_notebook(json.loads(p.read_text()), p.name))
        target = Path(dst_dir) / p.name
        if not target.is_file() or target.read_text() != text:
            stale.append(p.name)
            if not check:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
    for extra in sorted(Path(dst_dir).glob("*.ipynb")):
        if extra.name not in wanted:
            stale.append(f"{extra.name} (no solution)")
    return stale


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m course_utils.release", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="exit 1 if notebooks/ is out of date")
    p.add_argument("--src", type=Path, default=repo_root() / "solutions")
    p.add_argument("--dst", type=Path, default=repo_root() / "notebooks")
    args = p.parse_args(argv)
    try:
        stale = release(args.src, args.dst, check=args.check)
    except ReleaseError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.check:
        if stale:
            print("notebooks/ is stale: " + ", ".join(stale)
                  + "\nrun `python -m course_utils.release`", file=sys.stderr)
            return 1
        print("notebooks/ is up to date")
        return 0
    print(f"wrote {len(stale)} notebook(s)" + (": " + ", ".join(stale) if stale else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

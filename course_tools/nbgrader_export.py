"""Export ``solutions/`` as an nbgrader course folder (nbgrader 0.9), without touching solutions/.

    python -m course_tools.nbgrader_export OUT                 # OUT/source/NN_name/NN_name.ipynb ...
    python -m course_tools.nbgrader_export OUT 00_welcome      # some notebooks
    cd OUT && nbgrader generate_assignment 00_welcome && ...   # then nbgrader as usual

nbgrader needs each written answer (a Markdown cell with ``solution: true``) to be a manually graded
cell with points, and refuses the notebook otherwise ("Markdown solution cell is not marked as a grade
cell"). The export marks every such cell ``grade: true`` with ``points`` (its own, else
``--written-points``, 1 by default), writes ``nbgrader_config.py`` (the course folder, the
``YourTurn`` stub instead of ``raise NotImplementedError()``) and leaves code exercises, checks and
hidden tests as they are. The course's own grader (``course_tools.grade``) reads ``solutions/``
directly and does not need this.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

__all__ = ["export_notebook", "export", "main"]

ROOT = Path(__file__).resolve().parents[1]

CONFIG = '''\
# written by python -m course_tools.nbgrader_export
c = get_config()
c.CourseDirectory.root = {root!r}
# The course's stub: Run All stops at the first unwritten exercise with one line (YourTurn is a
# NotImplementedError, so nbgrader still sees an unanswered exercise).
c.ClearSolutions.code_stub = {{"python": "# YOUR CODE HERE\\nfrom course_utils.exercise import YourTurn\\nraise YourTurn()"}}
c.Execute.timeout = 900
'''


def export_notebook(nb: dict, written_points: float = 1.0) -> tuple[dict, int]:
    """A copy of solution notebook ``nb`` that nbgrader 0.9 accepts, and how many written answers
    became manually graded cells."""
    nb = copy.deepcopy(nb)
    marked = 0
    for cell in nb.get("cells", []):
        meta = (cell.get("metadata") or {}).get("nbgrader")
        if cell.get("cell_type") == "markdown" and meta and meta.get("solution") and not meta.get("grade"):
            meta.update(grade=True, points=float(meta.get("points") or written_points), locked=False)
            meta.setdefault("schema_version", 3)
            marked += 1
    return nb, marked


def export(out: Path, names: list[str] | None = None, solutions: Path = ROOT / "solutions",
           written_points: float = 1.0) -> dict[str, int]:
    """Write ``out/source/NAME/NAME.ipynb`` for each solution notebook (all, or ``names``) and
    ``out/nbgrader_config.py``. Returns {name: written answers marked}."""
    out = Path(out).resolve()
    paths = sorted(Path(solutions).glob("*.ipynb"))
    if names:
        missing = sorted(set(names) - {p.stem for p in paths})
        if missing:
            raise FileNotFoundError(f"no solution notebook {', '.join(missing)} in {solutions}")
        paths = [p for p in paths if p.stem in names]
    if not paths:
        raise FileNotFoundError(f"no solution notebook in {solutions}")
    done = {}
    for path in paths:
        nb, marked = export_notebook(json.loads(path.read_text(encoding="utf-8")), written_points)
        target = out / "source" / path.stem / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        done[path.stem] = marked
    (out / "nbgrader_config.py").write_text(CONFIG.format(root=str(out)))
    return done


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m course_tools.nbgrader_export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path, help="the nbgrader course folder to write")
    p.add_argument("names", nargs="*", help="solution notebooks (stems) to export; default: all")
    p.add_argument("--solutions", type=Path, default=ROOT / "solutions")
    p.add_argument("--written-points", type=float, default=1.0, help="points of a written answer without its own")
    args = p.parse_args(argv)
    try:
        done = export(args.out, args.names, args.solutions, args.written_points)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for name, marked in done.items():
        print(f"{name}: {marked} written answer(s) marked as manually graded")
    print(f"wrote {len(done)} assignment(s) to {args.out / 'source'}; then: cd {args.out} && "
          "nbgrader generate_assignment NAME")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The course as a static web site, built with Jupyter Book (1.x, Sphinx).

    python -m course_tools.site build                          # students' site, ci profile
    python -m course_tools.site build --profile cpu --audience instructors -j 2

Each solution notebook is executed once per build in the chosen profile (nbclient, widgets drawn
as their first state's static figure), and the executed copy is cached under
``build/site-cache/<profile>/``, keyed by the sha256 of the notebook, of ``course_utils`` and of
the checkpoints' table: an unchanged notebook is not executed again. Pages:

- students: the text and code of ``notebooks/`` (no answer code, no hidden tests, no model
  answers) with the outputs of the executed solution, matched cell by cell through the cell ids,
  so a student sees what the notebook will show;
- instructors: ``solutions/`` in full, executed.

The home page is the README's course map (with the measured execution time of this build) linking
to every notebook, and the checkpoints' table (``checkpoints/README.md``) is a page of its own.
The HTML lands in ``build/site/<audience>/_build/html/index.html``.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from .data_log import read_data_log
from .notebooks import execute as execute_notebook, read_notebook, write_notebook

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build"
AUDIENCES = ("students", "instructors")

__all__ = ["notebook_stems", "cache_key", "execute", "student_page", "home_table", "build", "main"]


def notebook_stems(root: Path = ROOT) -> list[str]:
    """The course's notebooks (``solutions/NN_name.ipynb``), in course order."""
    return sorted(p.stem for p in (root / "solutions").glob("[0-9][0-9]_*.ipynb"))


def cache_key(notebook: Path, profile: str, root: Path = ROOT) -> str:
    """sha256 of what an execution depends on: the notebook, the profile, the data mirror
    (``COURSE_DATA_MIRROR``: real data or stand-ins), the library's code and the shipped
    checkpoints' table (their sha256s)."""
    h = hashlib.sha256()
    h.update(profile.encode())
    h.update(os.environ.get("COURSE_DATA_MIRROR", "").encode())
    h.update(notebook.read_bytes())
    library = sorted((root / "course_utils").glob("*.py"))  # not course_tools: tools run no notebook
    for p in library + [root / "checkpoints" / "README.md"]:
        if p.is_file():
            h.update(p.name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def _kernel_env(profile: str, stem: str, root: Path) -> dict:
    # COURSE_DATA_LOG stays: the test run's data check sees what these kernels used
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "COURSE_NOTEBOOK", "MPLBACKEND")}
    env.update(COURSE_PROFILE=profile, COURSE_NO_WIDGETS="1", COURSE_NOTEBOOK=f"{stem}.ipynb",
               MPLBACKEND="module://matplotlib_inline.backend_inline",
               PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    return env


def _execute_one(notebook: str, profile: str, out: str, root: str, timeout: int) -> float:
    """Execute one notebook into ``out`` (a worker process); returns its wall time in seconds."""
    nb = read_notebook(notebook)
    env = _kernel_env(profile, Path(notebook).stem, Path(root))
    own_log = Path(out).with_suffix(".data.jsonl")  # the data this execution used
    own_log.unlink(missing_ok=True)
    env["COURSE_DATA_LOG"] = str(own_log)
    try:
        seconds = execute_notebook(nb, Path(notebook).parent, timeout=timeout, env=env)
        data = read_data_log(own_log)
    finally:
        own_log.unlink(missing_ok=True)
    nb.metadata["course_site"] = {"profile": profile, "seconds": round(seconds, 1), "data": data}
    write_notebook(nb, out)
    return seconds


def _log_data(executed: Path) -> None:
    """Append the data records of an executed notebook (run now or cached) to the test run's data
    log (``COURSE_DATA_LOG``, see conftest.py), so its check covers cached executions too."""
    log = os.environ.get("COURSE_DATA_LOG")
    if not log:
        return
    records = json.loads(executed.read_text(encoding="utf-8"))["metadata"].get("course_site", {}).get("data", [])
    with open(log, "a", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)


def execute(stems: list[str], profile: str, root: Path = ROOT, cache: Path | None = None,
            jobs: int = 1, timeout: int = 900, log=print) -> dict[str, Path]:
    """Executed copies of ``solutions/<stem>.ipynb`` in ``profile``, from the cache when the
    notebook and the library are unchanged. Returns stem -> path of the executed notebook."""
    cache = cache or BUILD / "site-cache" / profile
    cache.mkdir(parents=True, exist_ok=True)
    done, todo = {}, {}
    for stem in stems:
        src = root / "solutions" / f"{stem}.ipynb"
        path = cache / f"{stem}-{cache_key(src, profile, root)[:20]}.ipynb"
        (done if path.is_file() else todo)[stem] = (src, path)
    for stem in done:
        log(f"  {stem}: cached ({done[stem][1].name})")
    if todo:
        with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = {stem: pool.submit(_execute_one, str(src), profile, str(path), str(root), timeout)
                       for stem, (src, path) in todo.items()}
            failed = []
            for stem, fut in futures.items():
                try:
                    log(f"  {stem}: executed in {fut.result():.0f} s ({profile} profile)")
                except Exception as e:  # report all notebooks, then fail
                    failed.append(f"{stem}: {type(e).__name__}: {str(e)[-1500:]}")
            if failed:
                raise RuntimeError("executing notebooks for the site failed (fix the notebook, then "
                                   "build again; the others are cached):\n" + "\n".join(failed))
    for stem, (_, path) in {**done, **todo}.items():  # drop the stale copies of each notebook
        for old in cache.glob(f"{stem}-*.ipynb"):
            if old != path:
                old.unlink()
        _log_data(path)
    return {stem: (done.get(stem) or todo[stem])[1] for stem in stems}


def student_page(student_nb: dict, executed_nb: dict) -> dict:
    """The student notebook with the executed solution's outputs, matched through cell ids.
    Cells the solution does not have (or whose outputs it has none) stay without outputs."""
    outputs = {c.get("id"): c for c in executed_nb["cells"] if c["cell_type"] == "code"}
    nb = copy.deepcopy(student_nb)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and cell.get("id") in outputs:
            cell["outputs"] = copy.deepcopy(outputs[cell["id"]].get("outputs", []))
            cell["execution_count"] = outputs[cell["id"]].get("execution_count")
    nb["metadata"]["course_site"] = executed_nb["metadata"].get("course_site", {})
    return nb


def home_table(pages: dict[str, str], seconds: dict[str, float], profile: str) -> str:
    """The course map (:mod:`course_tools.course_map`, the README's table) as the home page: each
    notebook's name and lecture section link to its page, and a column gives this build's time."""
    from . import course_map
    times = course_map.run_times()
    rows = [f"| notebook | lecture section | you build | GPU (full) | CPU (cpu) | CI (ci) | this build ({profile}) "
            "| needs |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for stem, nb in course_map.NOTEBOOKS.items():
        name, lecture = stem, nb["lecture"]
        if stem in pages:
            name, lecture = f"[{stem}]({pages[stem]})", f"[{lecture}]({pages[stem]})"
        t = seconds.get(stem)
        measured = [course_map.run_time_text(stem, p, times) for p in course_map.PROFILES]
        rows.append(f"| {name} | {lecture} | {nb['build']} | {' | '.join(measured)} | "
                    f"{f'{t:.0f} s' if t is not None else 'not built'} | {nb['needs']} |")
    return "\n".join(rows)


def _title(nb: dict, stem: str) -> str:
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            m = re.search(r"^#\s+(.+)$", "".join(cell["source"]), re.M)
            if m:
                return m.group(1).strip()
    return stem


BOOK_MARKER = ".made-by-course-site"  # in every book folder this module writes (and may delete)


def _check_book_dir(src: Path) -> None:
    """Refuse to replace a folder ``src`` this module did not write (no marker file in it)."""
    if src.exists() and not (src / BOOK_MARKER).is_file() and (not src.is_dir() or any(src.iterdir())):
        raise ValueError(f"{src} exists and was not written by the site build (no {BOOK_MARKER} "
                         "in it); it would be deleted: choose another --out, or move it away")


def _write_book(src: Path, audience: str, profile: str, executed: dict[str, Path], root: Path) -> None:
    """The Jupyter Book source folder: config, table of contents, home page, pages."""
    _check_book_dir(src)
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    (src / BOOK_MARKER).write_text("written by python -m course_tools.site; deleted and rewritten "
                                   "by each build\n", encoding="utf-8")
    seconds, titles = {}, {}
    for stem, path in executed.items():
        ran = json.loads(path.read_text(encoding="utf-8"))
        if audience == "students":
            student = json.loads((root / "notebooks" / f"{stem}.ipynb").read_text(encoding="utf-8"))
            nb = student_page(student, ran)
        else:
            nb = ran
        seconds[stem] = ran["metadata"].get("course_site", {}).get("seconds")
        titles[stem] = _title(nb, stem)
        (src / f"{stem}.ipynb").write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n",
                                           encoding="utf-8")
    who = ("the student notebooks (exercises to write) with the figures and tables of the solutions "
           "run" if audience == "students" else "the solutions in full (instructors)")
    home = [f"# Pixels from Nothing — course map ({audience})", "",
            f"These pages show {who}, executed in the `{profile}` profile. Run them yourself in "
            "JupyterLab (see the README); sliders there replace the static figures shown here.", "",
            home_table({s: f"{s}.ipynb" for s in executed}, seconds, profile), "",
            "The course's trained models: [shipped checkpoints](checkpoints.md).", ""]
    (src / "index.md").write_text("\n".join(home), encoding="utf-8")
    ckpt = root / "checkpoints" / "README.md"
    (src / "checkpoints.md").write_text(ckpt.read_text(encoding="utf-8") if ckpt.is_file()
                                        else "# Checkpoints\n\nNone shipped yet.\n", encoding="utf-8")
    (src / "_config.yml").write_text(json.dumps({
        "title": "Pixels from Nothing" + (" (instructors)" if audience == "instructors" else ""),
        "author": "the course's authors",
        "only_build_toc_files": True,
        "execute": {"execute_notebooks": "off"},   # executed above, once, with a cache
        "html": {"use_repository_button": False, "use_issues_button": False,
                 "use_edit_page_button": False, "home_page_in_navbar": True},
        "launch_buttons": {"notebook_interface": "jupyterlab", "binderhub_url": ""},
        "sphinx": {"config": {"html_show_copyright": False, "nb_merge_streams": True,
                              "suppress_warnings": ["myst.header", "misc.highlighting_failure"]}},
    }, indent=1), encoding="utf-8")  # JSON is YAML
    (src / "_toc.yml").write_text(json.dumps({
        "format": "jb-book", "root": "index",
        "chapters": [{"file": stem} for stem in executed] + [{"file": "checkpoints"}],
    }, indent=1), encoding="utf-8")


def build(audience: str = "students", profile: str = "ci", out: Path | None = None,
          root: Path = ROOT, jobs: int = 1, timeout: int = 900, stems: list[str] | None = None,
          log=print) -> Path:
    """Build the site for ``audience``; returns the folder of its HTML (``index.html`` inside)."""
    if audience not in AUDIENCES:
        raise ValueError(f"audience {audience!r}: use one of {', '.join(AUDIENCES)}")
    out = out or BUILD / "site" / audience
    if stems is not None and not stems:
        raise ValueError("--notebooks names no notebook: give at least one (e.g. 03_interpolation), "
                         "or leave --notebooks out to build them all")
    stems = notebook_stems(root) if stems is None else stems
    unknown = [s for s in stems if not (root / "solutions" / f"{s}.ipynb").is_file()]
    if unknown:
        raise ValueError(f"no solutions/{unknown[0]}.ipynb; --notebooks takes names like "
                         f"{', '.join(notebook_stems(root)[:2])}")
    _check_book_dir(out / "book")  # before minutes of execution
    t0 = time.time()
    log(f"executing {len(stems)} notebooks ({profile} profile, cache {BUILD / 'site-cache' / profile})")
    executed = execute(stems, profile, root, jobs=jobs, timeout=timeout, log=log)
    t1 = time.time()
    src = out / "book"
    _write_book(src, audience, profile, executed, root)
    cmd = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build", str(src),
           "--path-output", str(out), "--builder", "html", "--all"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    html = out / "_build" / "html"
    if res.returncode != 0 or not (html / "index.html").is_file():
        raise RuntimeError(f"jupyter-book build failed ({' '.join(cmd)}):\n{res.stdout[-3000:]}\n"
                           f"{res.stderr[-3000:]}")
    log(f"{audience} site: {html / 'index.html'} (execution {t1 - t0:.0f} s, "
        f"Jupyter Book {time.time() - t1:.0f} s)")
    return html


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m course_tools.site", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="execute the notebooks (cached) and build the HTML site")
    b.add_argument("--profile", default="ci", choices=["ci", "cpu", "full"])
    b.add_argument("--audience", default="students", choices=[*AUDIENCES, "both"])
    b.add_argument("--out", type=Path, help="output folder (default build/site/<audience>)")
    b.add_argument("-j", "--jobs", type=int, default=1, help="notebooks executed at once")
    b.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    b.add_argument("--notebooks", nargs="*", help="only these (e.g. 03_interpolation)")
    args = ap.parse_args(argv)
    audiences = AUDIENCES if args.audience == "both" else (args.audience,)
    for audience in audiences:
        out = args.out / audience if args.out and len(audiences) > 1 else args.out
        try:
            build(audience, args.profile, out, jobs=args.jobs, timeout=args.timeout,
                  stems=args.notebooks)
        except ValueError as e:   # bad input: nothing was built
            print(f"error: {e}", file=sys.stderr)
            return 2
        except RuntimeError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

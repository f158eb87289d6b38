"""The layout: course_utils (what the notebooks import) below course_tools (the instructors' tools).

- nothing in course_utils imports course_tools; the modules of each import each other without a
  cycle, even through imports inside functions (read from the sources, so a new import is checked);
- ``import course_utils`` and the tools that do not need torch do not import it;
- a non-editable ``pip install .`` into a new virtual environment loads a shipped checkpoint and
  evaluates it from a folder outside the checkout (slow).
"""
from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path, package: str) -> tuple[set[str], set[str]]:
    """(modules imported when the module is imported, modules imported anywhere) by ``path``,
    as dotted names (relative imports resolved against ``package``; ``from a import b`` gives
    ``a`` and ``a.b``). Imports inside functions run only when called: they count as "anywhere"."""
    top, anywhere = set(), set()

    def names(node) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        base = node.module or ""
        if node.level:  # relative to ``package``, the package holding ``path``
            parts = package.split(".")
            base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
        return [base] + [f"{base}.{a.name}" for a in node.names]

    def visit(node, in_function: bool):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found = names(child)
                anywhere.update(found)
                if not in_function:
                    top.update(found)
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                             ast.Lambda)))

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return top, anywhere


def _course_modules(package: str) -> dict[str, Path]:
    return {f"{package}.{p.stem}": p for p in sorted((ROOT / package).glob("*.py"))
            if p.stem != "__init__"}


def test_course_utils_never_imports_course_tools():
    offenders = [f"{name} imports {m}" for name, path in _course_modules("course_utils").items()
                 for m in sorted(_imports(path, "course_utils")[1]) if m.split(".")[0] == "course_tools"]
    init = _imports(ROOT / "course_utils" / "__init__.py", "course_utils")[1]
    offenders += [f"course_utils imports {m}" for m in init if m.startswith("course_tools")]
    assert not offenders, offenders


def _graph(package: str, anywhere: bool = False) -> dict[str, set[str]]:
    """module -> the modules of ``package`` it imports (at module level, or also in functions)."""
    mods = _course_modules(package)
    graph = {}
    for name, path in mods.items():
        top = _imports(path, package)[1 if anywhere else 0]
        graph[name] = {m for m in top if m in mods} | {m.rsplit(".", 1)[0] for m in top
                                                       if m.rsplit(".", 1)[0] in mods}
        graph[name].discard(name)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(n):
        state[n] = "open"
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == "open":
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        state[n] = "done"
        stack.pop()
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


@pytest.mark.parametrize("anywhere", [False, True], ids=["module level", "also in functions"])
def test_no_import_cycle(anywhere):
    # also in functions: a lower module does not reach up into a higher one when called
    for package in ("course_utils", "course_tools"):
        cycle = _cycle(_graph(package, anywhere))
        assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_models_holds_architectures_only():
    top, anywhere = _imports(ROOT / "course_utils" / "models.py", "course_utils")
    assert not {m for m in anywhere if m.startswith("course_utils.")}, anywhere


@pytest.mark.parametrize("module", ["course_utils", "course_tools", "course_tools.release",
                                    "course_tools.site", "course_tools.course_map",
                                    "course_tools.data_log", "course_tools.notebooks"])
def test_importing_does_not_import_torch(module):
    code = (f"import sys, {module}\n"
            "heavy = sorted(m for m in ('torch', 'numpy', 'matplotlib') if m in sys.modules)\n"
            "print(','.join(heavy))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "", f"import {module} imported {r.stdout.strip()}"


def test_course_utils_setup_is_still_there_when_used():
    code = "import sys, course_utils\ncfg = course_utils.setup(profile='ci', quiet=True)\nprint(cfg.profile, 'torch' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["ci", "True"]


@pytest.mark.slow
def test_fresh_non_editable_install_loads_and_evaluates_a_shipped_checkpoint(tmp_path):
    """`pip install .` (not editable) into a new virtual environment, then, from a folder outside
    the checkout and without PYTHONPATH: load a shipped checkpoint and evaluate it (CLI)."""
    pytest.importorskip("setuptools", minversion="70.1")
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for package in ("course_utils", "course_tools", "checkpoints"):
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    venv = tmp_path / "venv"
    # without its own pip (ensurepip is slow): this environment's pip installs into it (--python)
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                   check=True, timeout=300, capture_output=True)
    py = venv / "bin" / "python"
    # the new environment sees this one's packages (torch, setuptools: nothing is downloaded)
    # after its own; the course itself is installed into it
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "zz_test_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    clean = {k: v for k, v in os.environ.items()
             if k not in ("PYTHONPATH", "COURSE_CHECKPOINT_DIR", "COURSE_DATA_DIR", "VIRTUAL_ENV")}
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", "--no-index",
                        "--no-build-isolation", str(src)], capture_output=True, text=True,
                       timeout=600, env=clean, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    shutil.rmtree(src)  # nothing may come from the sources any more
    work = tmp_path / "elsewhere"
    work.mkdir()
    from PIL import Image
    import numpy as np
    yy, xx = np.mgrid[0:48, 0:48]
    img = (128 + 60 * np.sin(xx / 5.0) * np.cos(yy / 7.0))[..., None].repeat(3, axis=2)
    Image.fromarray(img.astype(np.uint8)).save(work / "wave.png")
    code = ("import course_utils, course_utils.zoo as zoo, course_utils.profiles as p\n"
            "m, meta = zoo.load_shipped('fsrcnn-x3')\n"
            "print(course_utils.__file__); print(p.default_checkpoint_dir()); print(meta['steps'])")
    r = subprocess.run([str(py), "-c", code], capture_output=True, text=True, timeout=300,
                       env=clean, cwd=work)
    assert r.returncode == 0, r.stderr
    where, ckpt_dir, steps = r.stdout.split()
    assert where.startswith(str(site)) and Path(ckpt_dir) == site / "course_checkpoints"
    assert int(steps) > 0
    r = subprocess.run([str(py), "-m", "course_utils.evaluate", "--method", "fsrcnn-x3",
                        "--dataset", str(work), "--scale", "3", "--json"], capture_output=True,
                       text=True, timeout=300, env=clean, cwd=work)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    row = rows[0] if isinstance(rows, list) else rows
    assert row["method"] == "fsrcnn-x3" and row["images"] == 1 and 20 < row["psnr"] < 80


def _run_pytest_with_course_conftest(tmp_path, test_source: str, env: dict) -> subprocess.CompletedProcess:
    (tmp_path / "test_x.py").write_text(test_source)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    clean = {k: v for k, v in os.environ.items() if k not in ("CI", "COURSE_STRICT_SKIPS")}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c",
                           str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path), "-p", "conftest",
                           str(tmp_path / "test_x.py")], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env={**clean, "PYTHONPATH": str(ROOT), **env})


def test_ci_fails_on_an_unexpected_skip_and_accepts_an_allowed_one(tmp_path):
    lost = "import pytest\n\ndef test_a():\n    pytest.skip('no data here')\n"
    r = _run_pytest_with_course_conftest(tmp_path, lost, {"CI": "true"})
    assert r.returncode == 1 and "unexpected skips" in r.stdout and "no data here" in r.stdout, r.stdout
    r = _run_pytest_with_course_conftest(tmp_path, lost, {})  # on a laptop: listed, not failed
    assert r.returncode == 0 and "skipped tests" in r.stdout and "no data here" in r.stdout, r.stdout
    allowed = ("import pytest\n\ndef test_a():\n"
               "    pytest.skip('the deadline test needs a time earlier today')\n")
    r = _run_pytest_with_course_conftest(tmp_path, allowed, {"CI": "true"})
    assert r.returncode == 0, r.stdout

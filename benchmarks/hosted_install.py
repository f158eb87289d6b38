"""The hosted-kernel install cell, tried here as far as it can be without a hosted kernel.

    python benchmarks/hosted_install.py            # prints each step's time; exit 1 on failure
    python benchmarks/hosted_install.py --keep /tmp/hosted   # keep the folder to look inside

What a student does on a hosted GPU kernel (Colab, Kaggle, ...) with a notebook opened alone:
set ``INSTALL_COURSE = True`` and ``COURSE_PACKAGE`` in its first code cell (the release writes it:
``course_tools.release.hosted_install_cell``) and run the notebook. Here:

1. a wheel of the course is built from a copy of its sources (``pip wheel --no-deps``; nothing is
   built inside the checkout); it holds the shipped checkpoints as package data
   (``course_checkpoints``);
2. a new virtual environment is made, without the course; it sees this environment's packages
   (torch, ipykernel, ...) after its own, so nothing is downloaded (``PIP_NO_INDEX=1``);
3. a notebook in a folder outside the checkout, its first cell the release's install cell with
   ``INSTALL_COURSE = True`` and ``COURSE_PACKAGE`` the wheel's path (a hosted kernel: its URL), is
   executed by a kernel of the new environment, without PYTHONPATH: the cell installs the wheel
   and fetches the datasets (from ``COURSE_DATA_MIRROR`` here, standing in for the network), the
   next cell runs ``setup()``, loads the shipped ``fsrcnn-x3`` and Set5, and prints where they
   came from.

It checks that the library and the checkpoints came from the new environment's site-packages and
Set5 from the user's data folder (not a built-in stand-in). What it cannot test here: the network
(pip from a git URL, the datasets' download URLs) and a CUDA build of torch.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROBE = """\
import json, course_utils
from course_utils import setup
from course_utils.zoo import load_shipped
from course_utils.data import get_images
cfg = setup()
model, meta = load_shipped("fsrcnn-x3")
images, names, source = get_images("Set5", cfg, mode="y", fallback=False)
print("PROBE " + json.dumps({"library": course_utils.__file__, "checkpoints": str(cfg.checkpoint_dir),
                             "data": str(cfg.data_dir), "steps": meta["steps"], "set5": len(images),
                             "source": str(source)}))
"""


def _step(what: str, times: dict, fn):
    t0 = time.time()
    out = fn()
    times[what] = round(time.time() - t0, 1)
    print(f"{what}: {times[what]} s", flush=True)
    return out


def _run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd[:6]))} ...: exit {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def try_install(tmp: Path) -> dict:
    """Steps 1-3 in ``tmp``; returns the probe's facts and the steps' times (raises on failure)."""
    from course_tools.release import hosted_install_cell

    times: dict = {}
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for package in ("course_utils", "course_tools", "checkpoints"):
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    clean = {k: v for k, v in os.environ.items()
             if k not in ("PYTHONPATH", "COURSE_CHECKPOINT_DIR", "COURSE_DATA_DIR", "VIRTUAL_ENV", "CI",
                          "COURSE_PROFILE", "COURSE_MAX_STEPS")}
    clean.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", XDG_CACHE_HOME=str(tmp / "cache"),
                 JUPYTER_RUNTIME_DIR=str(tmp / "runtime"), MPLBACKEND="agg")
    _step("wheel", times, lambda: _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                                        "--no-build-isolation", "-w", str(tmp / "wheel"), str(src)],
                                       env=clean, cwd=tmp, timeout=600))
    shutil.rmtree(src)   # nothing may come from the sources any more
    wheel = next((tmp / "wheel").glob("*.whl"))
    import zipfile
    with zipfile.ZipFile(wheel) as z:
        packaged = [n for n in z.namelist() if n.startswith("course_checkpoints/") and n.endswith(".pt")]
    if not packaged:
        raise RuntimeError(f"{wheel.name}: holds no course_checkpoints/*.pt")

    venv = tmp / "venv"
    _step("venv", times, lambda: _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
                                       str(venv)], timeout=300))
    py = venv / "bin" / "python"
    site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    # this environment's packages (torch, pip, ipykernel, nbclient), after the new one's own
    (site / "zz_parent_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    r = _run([str(py), "-c", "import importlib.util as u; print(u.find_spec('course_utils') is None)"],
             env=clean, cwd=tmp)
    if r.stdout.strip() != "True":
        raise RuntimeError("the new environment already sees a course_utils: the test would prove nothing")

    work = tmp / "elsewhere"
    work.mkdir()
    cell = hosted_install_cell(package=str(wheel))
    cell["source"] = cell["source"].replace("INSTALL_COURSE = False", "INSTALL_COURSE = True", 1)
    nb = {"cells": [cell, {"cell_type": "code", "execution_count": None, "id": "probe", "metadata": {},
                           "outputs": [], "source": PROBE}],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    (work / "hosted.ipynb").write_text(json.dumps(nb))
    run_nb = ("import nbformat, nbclient, sys\n"
              "nb = nbformat.read('hosted.ipynb', as_version=4)\n"
              "nbclient.NotebookClient(nb, timeout=900, kernel_name='python3',"
              " resources={'metadata': {'path': '.'}}).execute()\n"
              "nbformat.write(nb, 'hosted.out.ipynb')\n")
    _step("notebook (install cell + probe)", times, lambda: _run([str(py), "-c", run_nb], env=clean, cwd=work,
                                                                  timeout=1200))
    ran = json.loads((work / "hosted.out.ipynb").read_text())
    text = "".join("".join(o.get("text", "")) for c in ran["cells"] for o in c.get("outputs", []))
    facts = next((json.loads(ln[len("PROBE "):]) for ln in text.splitlines() if ln.startswith("PROBE ")), None)
    if facts is None:
        raise RuntimeError(f"the probe printed nothing:\n{text[-3000:]}")
    problems = []
    if not facts["library"].startswith(str(site)):
        problems.append(f"course_utils came from {facts['library']}, not the new environment {site}")
    if Path(facts["checkpoints"]) != site / "course_checkpoints":
        problems.append(f"the checkpoints came from {facts['checkpoints']}, not {site / 'course_checkpoints'}")
    if not facts["data"].startswith(str(tmp / "cache")) or facts["set5"] != 5:
        problems.append(f"Set5 ({facts['set5']} images) from {facts['data']} ({facts['source']}), "
                        f"not the user's data folder {tmp / 'cache'}")
    if problems:
        raise RuntimeError("; ".join(problems))
    return {**facts, "times": times, "wheel": wheel.name, "checkpoints_in_wheel": len(packaged)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", type=Path, help="work in this (new) folder and keep it")
    args = ap.parse_args(argv)
    if not os.environ.get("COURSE_DATA_MIRROR"):
        print("set COURSE_DATA_MIRROR to the course's data mirror (it stands in for the network)",
              file=sys.stderr)
        return 2
    t0 = time.time()
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="hosted-install-"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        facts = try_install(tmp)
    except (RuntimeError, subprocess.TimeoutExpired, StopIteration) as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(facts, indent=1))
    print(f"OK in {time.time() - t0:.0f} s: a notebook outside the checkout installed the course from "
          f"{facts['wheel']} ({facts['checkpoints_in_wheel']} checkpoints inside) and loaded fsrcnn-x3 and Set5")
    return 0


if __name__ == "__main__":
    sys.exit(main())

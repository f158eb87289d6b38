"""The course map: one record per notebook, and its run times as measured.

The README's course map, the run-time line of every notebook's title cell and the site's home page
are all written from here, so they cannot disagree::

    python -m course_tools.course_map           # rewrite README.md's table and the title cells' line
    python -m course_tools.course_map --check   # exit 1 when either is stale (a test does this)

Run times are measurements, never typed in: ``benchmarks/run_times.py`` executes notebooks in a
profile and records the wall time, the machine and its load in ``docs/run_times.json``. A notebook
and profile without a measurement say "not measured".
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

__all__ = ["NOTEBOOKS", "run_times", "run_time_text", "markdown_table", "title_line", "sync"]

ROOT = Path(__file__).resolve().parents[1]
RUN_TIMES = ROOT / "docs" / "run_times.json"
README = ROOT / "README.md"
BEGIN, END = "<!-- course map: begin (python -m course_tools.course_map) -->", "<!-- course map: end -->"
PROFILES = ("full", "cpu", "ci")
PROFILE_NAMES = {"full": "full (GPU)", "cpu": "cpu", "ci": "ci"}

# name -> (lecture section, what the student builds, data and checkpoints it needs)
NOTEBOOKS: dict[str, dict[str, str]] = {
    "00_welcome": dict(
        lecture="Super-resolution: problem, PSNR",
        build="environment check, first bicubic result, PSNR, the papers' bicubic table",
        needs="nothing (Set5/Set14 optional)"),
    "01_gaussian_generation": dict(
        lecture="Image generation, Gaussian model",
        build="mean/covariance by SVD, eigen-faces, sampler, reconstructions",
        needs="olivetti (built-in digits otherwise)"),
    "02_gans": dict(
        lecture="Generative adversarial networks, DCGAN",
        build="GAN losses, a 2-D toy GAN, DCGAN on digits, latent walks",
        needs="mnist (built-in digits otherwise); shipped dcgan-mnist"),
    "03_interpolation": dict(
        lecture="Approach 1: interpolation, sharpening",
        build="nearest/bilinear/bicubic kernels, a resampler, spectra, PSNR table",
        needs="Set5 (built-in otherwise)"),
    "04_inverse_problems": dict(
        lecture="Approach 2: linear inverse problem, Tikhonov, TV, multi-frame",
        build="forward operator and adjoint, CG, Tikhonov, TV, multi-frame SR",
        needs="Set5 (built-in otherwise)"),
    "05_srcnn": dict(
        lecture="Approach 3: SRCNN",
        build="SRCNN 9-1-5, patches, training, filters, the x3 table",
        needs="T91, Set5, Set14; shipped srcnn-x3"),
    "06_vdsr": dict(
        lecture="VDSR",
        build="20-layer residual network, clipping, multi-scale, cross-scale table",
        needs="T91, Set5; shipped vdsr"),
    "07_fsrcnn": dict(
        lecture="FSRCNN (and ESPCN)",
        build="LR-space network, deconvolution, speed table, sub-pixel convolution",
        needs="T91, Set5; shipped fsrcnn/espcn"),
    "08_srgan": dict(
        lecture="SRGAN (Ledig et al.)",
        build="SRResNet, content losses (MSE, VGG22, VGG54), the SRGAN discriminator and GAN step, "
              "Table 1, power spectra, transfer to ocean height fields",
        needs="T91, Set5, Set14; shipped srresnet-x4, srgan-x4; ImageNet VGG-19 optional (offline "
              "features otherwise, labelled)"),
    "09_gatys": dict(
        lecture="Style transfer (Gatys, Ecker and Bethge)",
        build="content reconstruction by depth, Adam vs L-BFGS, Gram matrix, textures, Gatys' "
              "objective, the alpha/beta grid, timing",
        needs="styles (built-in stand-ins otherwise); ImageNet VGG-19 optional (offline features "
              "otherwise, labelled)"),
    "10_johnson": dict(
        lecture="Feed-forward style transfer (Johnson et al.)",
        build="the transformation network, training with Gatys' loss and TV, speed and objective "
              "against Gatys, a gallery",
        needs="styles, T91; shipped style networks; ImageNet VGG-19 optional (offline features "
              "otherwise, labelled)"),
    "11_pixelcnn_sr": dict(
        lecture="Not a lecture section: the report on pixel recursive SR and SPADE (a seed of the "
                "course), after Dahl et al.",
        build="masks A/B and causality, the gated PixelCNN, prior + conditioning, sampling with a "
              "temperature, bits/dim and PSNR/consistency tables",
        needs="mnist (built-in digits otherwise); shipped pixelcnn checkpoints"),
}


def run_times(path: Path = RUN_TIMES) -> dict:
    """``{notebook: {profile: {"seconds", "date", "machine", "load", "how"}}}`` from the JSON file."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON ({e}); re-run benchmarks/run_times.py") from None
    return data.get("notebooks", {})


def _minutes(seconds: float) -> str:
    if seconds < 60:
        return f"{max(10, round(seconds / 10) * 10):.0f} s"
    return f"{seconds / 60:.0f} min" if seconds >= 600 else f"{seconds / 60:.1f} min"


def run_time_text(name: str, profile: str, times: dict | None = None) -> str:
    """``"4.5 min"`` (a measurement), for the full profile without one ``"est. 12 min (T4)"`` (the
    FLOP-count estimate of ``benchmarks/gpu_estimates.py``, labelled), else ``"not measured"``."""
    entry = (run_times() if times is None else times).get(name, {})
    rec = entry.get(profile)
    if rec:
        return _minutes(rec["seconds"])
    est = entry.get("full_estimate") if profile == "full" else None
    if est and "t4_min" in est:
        return f"est. {_minutes(est['t4_min'] * 60)} (T4)"
    return "not measured"


def title_line(name: str, times: dict | None = None) -> str:
    """The title cell's run-time line (COURSE_STYLE: the run time per profile)."""
    times = run_times() if times is None else times
    parts = [f"{PROFILE_NAMES[p]} {run_time_text(name, p, times)}" for p in PROFILES]
    how = ("measured; est. = estimated from FLOP counts, not measured" if any("est." in t for t in parts)
           else "measured")
    return (f"**Run time** ({how}, see the course map in the README): " + " · ".join(parts) + ".")


def markdown_table(times: dict | None = None, link: str = "") -> str:
    """The course map as a Markdown table; ``link`` prefixes notebook links (e.g. ``"notebooks/"``)."""
    times = run_times() if times is None else times
    rows = ["| notebook | lecture section | you build | GPU (full) | CPU (cpu) | CI (ci) | needs |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, nb in NOTEBOOKS.items():
        cell = f"[{name}]({link}{name}.ipynb)" if link else name
        if not (ROOT / "solutions" / f"{name}.ipynb").exists():
            cell = f"{name} (to come)"
        t = [run_time_text(name, p, times) for p in PROFILES]
        rows.append(f"| {cell} | {nb['lecture']} | {nb['build']} | {t[0]} | {t[1]} | {t[2]} | {nb['needs']} |")
    return "\n".join(rows) + "\n"


def _readme_text(text: str, times: dict) -> str:
    if BEGIN not in text or END not in text:
        raise ValueError(f"{README} has no course-map markers ({BEGIN} ... {END})")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return head + BEGIN + "\n" + markdown_table(times, link="notebooks/") + END + tail


# "**Run time**" or "**Run time:**" up to "**Builds on" or the end of its paragraph
TITLE_RUN_TIME = re.compile(r"^\*\*Run time.*?(?=\s*\*\*Builds on|\n\n|\n*\Z)", re.M | re.S)


def _title_source(source: str, name: str, times: dict) -> str:
    if not TITLE_RUN_TIME.search(source):
        return source.rstrip("\n") + "\n\n" + title_line(name, times)
    return TITLE_RUN_TIME.sub(lambda _: title_line(name, times), source, count=1)


def sync(check: bool = False, root: Path = ROOT) -> list[str]:
    """Rewrite (or, with ``check``, compare) README.md's table and the solutions' title lines.

    Returns the stale files. Student notebooks follow from ``python -m course_tools.release``.
    """
    times = run_times(root / "docs" / "run_times.json")
    stale = []
    readme = root / "README.md"
    text = readme.read_text()
    new = _readme_text(text, times)
    if new != text:
        stale.append(str(readme))
        if not check:
            readme.write_text(new)
    for path in sorted((root / "solutions").glob("*.ipynb")):
        nb = json.loads(path.read_text())
        first = nb["cells"][0]
        src = first["source"] if isinstance(first["source"], str) else "".join(first["source"])
        new_src = _title_source(src, path.stem, times)
        if new_src != src:
            stale.append(str(path))
            if not check:
                first["source"] = new_src
                path.write_text(json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
    return stale


def main(argv: list[str] | None = None, root: Path = ROOT) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only report stale files (exit 1)")
    args = ap.parse_args(argv)
    try:
        stale = sync(check=args.check, root=root)
    except (ValueError, OSError) as e:
        print(f"course_map: {e}", file=sys.stderr)
        return 2
    for s in stale:
        print(("stale: " if args.check else "wrote: ") + s)
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())

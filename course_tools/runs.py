"""The training scripts' shared skeleton (``data_scripts/train_*.py``): one way to name a run's
files, one meta, one ship path, one way to refuse bad input.

A run lives in its own folder ``DATA/runs/NAME_RUNID/`` (``--runs-dir`` changes ``DATA/runs``):

* ``work.pt``   the resumable state (``course_utils.train.train_loop``'s work file);
* ``best.pt``   the best validation weights so far (the scripts that keep them);
* ``NAME.pt``   the result, written when the run ends (or stops early), with its meta;
* ``run.json``  the run's settings and each invocation (command, steps, wall time, threads, how
  it ended), so ``ls DATA/runs`` tells which run is which.

RUNID fingerprints everything the run computes (model, starting checkpoint, settings): the same
command resumes its own run, another command (another ``--lr``, ``--steps``, seed, ...) starts a
new run in its own folder, and says so, instead of resuming a run trained with other settings
while recording the new ones.

Shipped checkpoints (``checkpoints/NAME.pt``) are never written by a plain run: only ``--ship``
replaces one, and only after its checks (:func:`ship_problems`: the run finished its ``--steps``
(or ``--ship-partial`` was given for a run stopped by ``--until``; Ctrl-C never ships), trained at
least one step, and the result loads into the registry's architecture with finite weights).

Every script trains on ``--device`` (default: CUDA when there is one, else the CPU): its models,
losses, feature networks and validation inputs live there, batches are moved there by
``train_loop``, results are saved from the CPU, and the meta says where the run trained
(:func:`hardware`).

Bad arguments and missing inputs give one line ``error: ...`` and exit status 2 (:func:`guarded`).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shlex
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["RunError", "run_id", "deadline_step", "until_timestamp", "positive_int",
           "nonnegative_int", "positive_float", "device_name", "hardware", "add_common_arguments",
           "Run", "ship_problems", "finish", "steps_done", "final_val", "stop_early", "stopped_how", "guarded"]


class RunError(Exception):
    """Bad input of a training script: printed as one line, exit status 2."""


# ---- settings and deadlines ---------------------------------------------------------------------

def run_id(settings: list) -> str:
    """A short fingerprint of a training script's settings: it names the run folder, so the same
    command resumes its own run and another command starts afresh."""
    return hashlib.sha256(repr(settings).encode()).hexdigest()[:10]


def deadline_step(step, until: float | None):
    """``step`` that raises KeyboardInterrupt *before* updating anything once ``until`` (epoch
    seconds) has passed: train_loop then saves its work file and returns (interrupted)."""
    def wrapped(batch):
        if until is not None and time.time() >= until:
            raise KeyboardInterrupt
        return step(batch)
    return wrapped


def until_timestamp(hhmm: str | None, now: datetime | None = None) -> float | None:
    """Epoch seconds of today's ``HH:MM`` (or ``HH:MM:SS``, as ``benchmarks/gpu_run.py`` gives
    it) UTC, or of ``"now"`` (no step runs: with ``--ship-partial`` the run is shipped as it is);
    None stays None. Bad input: SystemExit with a one-line message."""
    if hhmm is None:
        return None
    now = now or datetime.now(timezone.utc)
    if hhmm == "now":
        return now.timestamp()
    try:
        hh, mm, *ss = map(int, hhmm.split(":"))
        if len(ss) > 1:
            raise ValueError(hhmm)
        return now.replace(hour=hh, minute=mm, second=ss[0] if ss else 0, microsecond=0).timestamp()
    except ValueError:
        raise SystemExit(f"--until {hhmm!r}: give a UTC time as HH:MM or HH:MM:SS, e.g. --until 15:20, "
                         "or 'now'") from None


# ---- argument types: a bad value is argparse's one-line error (exit 2) --------------------------

def _number(kind, minimum, what):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if value < minimum or (isinstance(value, float) and math.isnan(value)):
            raise argparse.ArgumentTypeError(f"{text!r}: must be {what}")
        return value
    parse.__name__ = what
    return parse


positive_int = _number(int, 1, "a whole number >= 1")
nonnegative_int = _number(int, 0, "a whole number >= 0")
positive_float = _number(float, 1e-300, "a number > 0")


def device_name(text: str) -> str:
    """``--device``: "cpu", "cuda" or "cuda:N" (argparse's one-line error otherwise)."""
    import torch
    try:
        dev = torch.device(text)
    except RuntimeError:
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda"):
        raise argparse.ArgumentTypeError(f"{text!r}: give cpu, cuda or cuda:N")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(f"{text!r}: this machine has no CUDA device (give cpu)")
    return text


def hardware(device) -> str:
    """Where a run trains, in a note's words: "1 CPU thread", "2 CPU threads" or "GPU (its name)"."""
    import torch
    dev = torch.device(device)
    if dev.type == "cuda":
        return f"GPU ({torch.cuda.get_device_name(dev)})"
    if dev.type == "cpu":
        n = torch.get_num_threads()
        return f"{n} CPU thread{'s' if n > 1 else ''}"
    return dev.type


def add_common_arguments(p: argparse.ArgumentParser, ckpt_every: int, val_every: int | None,
                         until: bool = True) -> None:
    """The arguments every training script shares: --val-every, --ckpt-every, --threads, --device,
    --seed, --until, --ship, --ship-partial, --out, --runs-dir."""
    if val_every is not None:
        p.add_argument("--val-every", type=positive_int, default=val_every,
                       help=f"validate every N steps (default {val_every})")
    p.add_argument("--ckpt-every", type=positive_int, default=ckpt_every,
                   help=f"write the run's work file every N steps (default {ckpt_every})")
    p.add_argument("--threads", type=positive_int, default=1, help="CPU threads (default 1)")
    p.add_argument("--device", type=device_name,
                   help="train on this device: cpu, cuda or cuda:N (default: CUDA when there is one)")
    p.add_argument("--seed", type=int, default=0)
    if until:
        p.add_argument("--until", help="stop at this UTC time HH:MM[:SS] (the work file is written; "
                       "the same command resumes), or 'now'")
    p.add_argument("--ship", action="store_true",
                   help="replace the shipped checkpoints/NAME.pt with the result, after its checks "
                   "(without it the result stays in the run folder)")
    p.add_argument("--ship-partial", action="store_true",
                   help="--ship, also for a run stopped by --until before --steps (its meta says "
                   "how many steps were done); Ctrl-C never ships")
    p.add_argument("--out", type=Path, help="the folder --ship writes into (default checkpoints/)")
    p.add_argument("--runs-dir", type=Path, help="the folder of the run folders (default DATA/runs)")


# ---- the run folder ----------------------------------------------------------------------------

class Run:
    """One run's folder and its facts. ``settings`` is everything the run computes from (it is
    fingerprinted into the folder's name); ``argv`` the script's arguments (for the meta)."""

    def __init__(self, script: str, name: str, settings: list, cfg, argv: list[str] | None,
                 runs_dir: Path | None = None):
        self.script, self.name, self.settings = script, name, list(settings)
        self.argv = list(sys.argv[1:] if argv is None else argv)
        self.id = run_id([name, *self.settings])
        self.device = getattr(cfg, "device", "cpu")
        self.folder = Path(runs_dir or Path(cfg.data_dir) / "runs") / f"{name}_{self.id}"
        self.work = self.folder / "work.pt"
        self.best = self.folder / "best.pt"
        self.result = self.folder / f"{name}.pt"
        self.log_file = self.folder / "run.json"
        self.t0 = time.time()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except PermissionError as e:
            raise RunError(f"{self.folder}: cannot create the run folder ({e.strerror}); give "
                           "--runs-dir a writable folder") from None
        if not os.access(self.folder, os.W_OK):
            raise RunError(f"{self.folder}: not writable; give --runs-dir a writable folder")
        fresh = not self.work.exists()
        print(f"run folder {self.folder} (" + ("a new run" if fresh else "resuming it")
              + "; the same command resumes it)", flush=True)
        if fresh:
            for other in sorted(self.folder.parent.glob(f"{name}_*/run.json")):
                if other.parent == self.folder:
                    continue
                try:
                    was = json.loads(other.read_text())["settings"]
                except (OSError, ValueError, KeyError):
                    continue
                print(f"  (not resuming {other.parent.name}: it was run with other settings "
                      f"{was}; these are {self._jsonable(self.settings)})", flush=True)

    @staticmethod
    def _jsonable(x):
        return json.loads(json.dumps(x, default=str))

    def command(self, drop: tuple[str, ...] = ("--ship", "--ship-partial")) -> str:
        """The command that trains this run (the ship flags left out)."""
        return f"python data_scripts/{self.script} " + " ".join(
            shlex.quote(a) for a in self.argv if a not in drop)

    def meta(self, steps: int, seconds: float, **extra) -> dict:
        """The one meta of a result: command, steps, seconds, the threads torch actually used, and
        where the run trained (:func:`hardware`)."""
        import torch
        return {"command": self.command(), "steps": int(steps), "seconds": round(float(seconds), 1),
                "threads": torch.get_num_threads(), "device": hardware(self.device), **extra}

    def log(self, **facts) -> None:
        """Append this invocation to ``run.json`` (settings, then one entry per invocation)."""
        try:
            data = json.loads(self.log_file.read_text())
        except (OSError, ValueError):
            data = {"name": self.name, "script": self.script, "settings": self._jsonable(self.settings),
                    "invocations": []}
        import torch
        data["invocations"].append(self._jsonable({
            "command": self.command(drop=()), "started": datetime.fromtimestamp(
                self.t0, timezone.utc).isoformat(timespec="seconds"),
            "wall_seconds": round(time.time() - self.t0, 1), "threads": torch.get_num_threads(),
            **facts}))
        tmp = self.log_file.with_name(self.log_file.name + ".part")
        tmp.write_text(json.dumps(data, indent=1) + "\n")
        os.replace(tmp, self.log_file)


# ---- the one ship path --------------------------------------------------------------------------

def ship_problems(name: str, path: Path, steps: int, planned: int, stopped: str | None,
                  ship_partial: bool) -> list[str]:
    """Why the result ``path`` (a run's ``NAME.pt``) must not replace the shipped file (empty:
    it may). ``steps``: the steps this run trained (a continuation's earlier run not counted);
    ``stopped``: None (finished), "deadline" (--until) or "interrupted" (Ctrl-C)."""
    from course_utils.checkpoints import CheckpointError, load_checkpoint, load_weights
    from course_utils.zoo import REGISTRY, build
    problems = []
    if steps <= 0:
        problems.append("the run trained 0 steps: there is nothing new to ship")
    if stopped == "interrupted":
        problems.append(f"the run was interrupted (Ctrl-C) at step {steps} of {planned}: resume it "
                        "with the same command")
    elif stopped == "deadline" and not ship_partial:
        problems.append(f"the run stopped at step {steps} of {planned} (--until): resume it, or "
                        "add --ship-partial to ship it as it is")
    try:
        ck = load_checkpoint(path, name=name)
        if name in REGISTRY:
            load_weights(build(name), ck["state_dict"], path)
    except CheckpointError as e:
        problems.append(str(e))
    return problems


def finish(run: Run, state_dict: dict, meta: dict, *, steps: int, planned: int,
           stopped: str | None, ship: bool, ship_partial: bool, out_dir: Path,
           half: bool | None = None) -> int:
    """Write the result into the run folder, and with ``ship`` (after :func:`ship_problems`)
    into ``out_dir/NAME.pt`` (+ ``.sha256``). ``steps``: the steps of this run (for the checks;
    the meta may count an earlier run's too). Returns the exit status (0 done, 1 not shipped or
    stopped early)."""
    from course_utils.checkpoints import save_checkpoint
    from course_utils.zoo import REGISTRY
    if half is None:
        half = run.name in REGISTRY and REGISTRY[run.name].storage == "float16"
    digest = save_checkpoint(run.result, state_dict, name=run.name, meta=meta, half=half)
    print(f"result {run.result} sha256 {digest}\n  {meta}", flush=True)
    if not ship:
        run.log(steps=meta.get("steps"), stopped=stopped, shipped=False)
        print(f"checkpoints are unchanged: add --ship to replace {Path(out_dir) / (run.name + '.pt')} "
              "with this result", flush=True)
        return 0 if stopped is None else 1
    problems = ship_problems(run.name, run.result, steps, planned, stopped, ship_partial)
    target = Path(out_dir) / f"{run.name}.pt"
    if not problems and not os.access(Path(out_dir) if Path(out_dir).exists() else
                                      Path(out_dir).parent, os.W_OK):
        problems.append(f"{out_dir} is not writable")
    if problems:
        run.log(steps=meta.get("steps"), stopped=stopped, shipped=False, refused=problems)
        print(f"not shipped: {'; '.join(problems)}. {target} is unchanged.", file=sys.stderr)
        return 1
    digest = save_checkpoint(target, state_dict, name=run.name, meta=meta, half=half)
    run.log(steps=meta.get("steps"), stopped=stopped, shipped=str(target), sha256=digest)
    print(f"shipped {target} sha256 {digest} (update the registry's record of {run.name} and "
          "checkpoints/README.md: python -m course_tools.checkpoint_tables)", flush=True)
    return 0


def steps_done(hist: dict) -> int:
    """The last step of a ``train_loop`` history (0 when it did none)."""
    return hist["step"][-1] if hist["step"] else 0


def final_val(hist: dict, steps: int, val_fn: Callable[[], float]) -> float:
    """The validation score of the model at step ``steps``: the history's last ``val`` when it was
    taken at that step, else ``val_fn()`` (validated now)."""
    return hist["val"][-1] if hist["val_step"] and hist["val_step"][-1] == steps else val_fn()


def stop_early(run: Run, hist: dict, planned: int, stopped: str | None, ship_partial: bool) -> bool:
    """True (after saying so) when a run stopped before ``planned`` steps writes no result: it
    was interrupted (Ctrl-C), or stopped by --until without --ship-partial."""
    if stopped is None or (stopped == "deadline" and ship_partial):
        return False
    steps = steps_done(hist)
    print(f"stopped at step {steps} of {planned} ({'Ctrl-C' if stopped == 'interrupted' else '--until'}): "
          "nothing shipped; run the same command again to resume", flush=True)
    run.log(steps=steps, stopped=stopped, shipped=False)
    return True


def stopped_how(hist: dict, planned: int, until: float | None) -> str | None:
    """None when the run did its ``planned`` steps, else "deadline" or "interrupted"."""
    steps = steps_done(hist)
    if steps >= planned:
        return None
    return "deadline" if until is not None and time.time() >= until else "interrupted"


# ---- errors as one line --------------------------------------------------------------------------

def guarded(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """``main(argv)``, with the failures a user can fix printed as one line ``error: ...`` and
    exit status 2 (1 for a diverged training), and Ctrl-C outside the training loop as 130."""
    from course_utils.checkpoints import CheckpointError
    from course_utils.images import unreadable
    try:
        return main(argv)
    except (RunError, CheckpointError, FileNotFoundError) as e:
        msg = str(e) if not isinstance(e, FileNotFoundError) or not e.filename else \
            f"{e.filename}: {e.strerror}"
        print(f"error: {msg}", file=sys.stderr)
        return 2
    except PermissionError as e:
        print(f"error: {unreadable(e, 'a file', write=True)}", file=sys.stderr)
        return 2
    except FloatingPointError as e:
        print(f"error: {e} (the run's work file keeps the last good state)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: nothing was shipped", file=sys.stderr)
        return 130
    except SystemExit as e:   # a message (until_timestamp, ...): one line, exit 2
        if isinstance(e.code, str):
            print(f"error: {e.code}", file=sys.stderr)
            return 2
        raise

"""Training: one loop for every model of the course, and ``train_or_load``.

A *step function* does one training step on one batch and returns named numbers::

    step(batch) -> {"loss": 0.012}                   # supervised_step: one model, one optimizer
    step(batch) -> {"d_loss": 1.31, "g_loss": 0.83}  # gan_step: D's update, then G's

``train_loop(step, batches, steps, models, optimizers)`` calls it ``steps`` times and does the
rest: a progress bar, a live plot of every named number, validation every ``val_every`` steps,
learning-rate schedules, a checkpoint every ``ckpt_every`` steps holding *all* models, optimizers,
schedulers and the position of the data stream (run the same cell again and it resumes), and
Ctrl-C (or Jupyter's stop button): the current step finishes, the checkpoint is written and the
history so far is returned. ``fit(model, loss_fn, loader, steps)`` is ``train_loop`` with a
``supervised_step``.
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import warnings
from pathlib import Path
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .checkpoints import CheckpointError, load_checkpoint, load_weights, save_checkpoint
from .plots import LivePlot
from .profiles import cap, log_flops

__all__ = ["amp_policy", "cycle", "to_device", "clip_adjustable_", "supervised_step", "d_loss", "g_loss_minimax",
           "g_loss_nonsat", "gan_step", "gan_train_step", "train_loop", "fit", "train_or_load", "RandomBatches"]


def amp_policy(device, amp: bool | None = None) -> tuple[bool, torch.dtype, bool]:
    """Mixed precision for a training step on ``device``: ``(enabled, dtype, use_scaler)``.

    * ``amp=None`` (default): on CUDA only. bfloat16 where the GPU computes it natively (Ampere and
      newer: A100, H100, RTX 30xx+), no scaler needed; float16 with a ``GradScaler`` otherwise
      (a T4, V100). On a CPU: off (the cpu and ci profiles keep their float32 results).
    * ``amp=True``: on for any device; on a CPU autocast uses bfloat16 (tests use it to run the
      mixed-precision path without a GPU). ``amp=False``: off.
    """
    dev = torch.device(device)
    if amp is False or (amp is None and dev.type != "cuda"):
        return False, torch.float32, False
    if dev.type == "cuda":
        if torch.cuda.is_bf16_supported(including_emulation=False):
            return True, torch.bfloat16, False
        return True, torch.float16, True
    return True, torch.bfloat16, False


def cycle(loader: Iterable):
    """Repeat a DataLoader (or any iterable) forever (a fresh pass, e.g. a fresh shuffle, each time)."""
    while True:
        yield from loader


def clip_adjustable_(parameters: Iterable, theta: float, lr: float) -> float:
    """VDSR's adjustable gradient clipping (notebook 06, Exercise 6.2): clamp every gradient
    component, in place, to [-theta/lr, theta/lr] (so an SGD update lr * g stays within theta);
    parameters whose ``.grad`` is None are skipped. Returns the largest |component| before clipping."""
    bound, largest = theta / lr, 0.0
    for p in parameters:
        if p.grad is not None:
            largest = max(largest, p.grad.abs().max().item())
            p.grad.clamp_(-bound, bound)
    return largest


def to_device(batch, device):
    """``batch`` (a tensor, or a tuple/list/dict of them) moved to ``device``."""
    if torch.is_tensor(batch):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch


def supervised_step(model: nn.Module, loss_fn: Callable, optimizer: torch.optim.Optimizer,
                    clip: float | None = None, conditional: bool = False,
                    amp: bool | None = None) -> Callable[..., dict]:
    """The step function of supervised training: one optimizer update on a batch ``(x, y)``.

    ``loss_fn(model(x), y)`` is minimised; with ``conditional=True`` the model sees the target
    too (a conditional model of y given x trained with teacher forcing, e.g. a PixelCNN):
    ``loss_fn(model(y, x), y)``. ``clip`` clips the gradient norm (VDSR). On CUDA the forward runs
    in mixed precision. Returns ``step(batch) -> {"loss": float}``; a NaN/inf loss raises
    ``FloatingPointError`` before any update.
    """
    cuda = next(model.parameters()).device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=cuda)

    def step(batch) -> dict:
        x, y = batch
        model.train()
        with torch.autocast("cuda" if cuda else "cpu", enabled=cuda):
            loss = loss_fn(model(y, x) if conditional else model(x), y)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the loss became {loss.item()}: lower the learning rate or "
                                     "clip the gradients (clip=...)")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if clip is not None:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        scaler.step(optimizer)
        scaler.update()
        return {"loss": loss.item()}

    step.handles_amp = True
    return step


def d_loss(a_real: torch.Tensor, a_fake: torch.Tensor) -> torch.Tensor:
    """The GAN discriminator's loss on logits (D = sigmoid(a)), a scalar to minimise:
    -[mean log D(x_real) + mean log(1 - D(x_fake))], one mean over each set (notebook 02, 2.1).

    Computed with ``logsigmoid``: finite for any logits (log(1 - sigmoid(a)) = logsigmoid(-a)).
    """
    return -(F.logsigmoid(a_real).mean() + F.logsigmoid(-a_fake).mean())


def g_loss_minimax(a_fake: torch.Tensor) -> torch.Tensor:
    """The generator's minimax loss (1), mean log(1 - D(G(z))) on D's logits ``a_fake``; it
    saturates when D rejects the fakes (notebook 02, 2.2)."""
    return F.logsigmoid(-a_fake).mean()


def g_loss_nonsat(a_fake: torch.Tensor) -> torch.Tensor:
    """The generator's non-saturating loss, -mean log D(G(z)) (the negation of (2)) on D's logits
    ``a_fake``: the loss used in practice (notebook 02, 2.2)."""
    return -F.logsigmoid(a_fake).mean()


def gan_step(G: nn.Module, D: nn.Module, opt_g: torch.optim.Optimizer,
             opt_d: torch.optim.Optimizer, d_loss: Callable, g_loss: Callable,
             content_loss: Callable | None = None, adv_weight: float = 1.0,
             d_first: bool = True, amp: bool | None = None) -> Callable[..., dict]:
    """The step function of adversarial training on a batch ``(g_input, real)``.

    ``fake = G(g_input)``: ``g_input`` is a batch of codes z (N, nz) for an unconditional GAN
    (DCGAN), or the LR images for a conditional one (SRGAN); ``real`` are images of the fake's size.

    * D's update: minimise ``d_loss(D(real), D(fake.detach()))`` (no gradient reaches G);
    * G's update: minimise ``g_loss(D(fake))``, or with ``content_loss``
      ``content_loss(fake, real) + adv_weight * g_loss(D(fake))`` (SRGAN: 1e-3). D's parameters
      are frozen during G's update (as BasicSR does), so G's update never touches D.

    ``d_first=True`` is the lecture's algorithm (Goodfellow et al. 2014; notebook 02): D's update,
    then G's on the same fakes seen by the updated D. ``d_first=False`` is BasicSR's SRGAN order
    (G's update, then D's on the same fakes).
    Forward passes run in mixed precision as :func:`amp_policy` says (on CUDA by default; with
    float16 one gradient scaler serves both updates).
    Returns ``step(batch) -> {"d_loss", "g_loss"}`` (plus ``"content"`` and ``"g_adv"`` when a
    content loss is given), floats.
    """
    device = next(G.parameters()).device
    enabled, dtype, scaled = amp_policy(device, amp)
    scaler = torch.amp.GradScaler(device.type, enabled=scaled)

    def autocast():   # off: no autocast at all (a device without autocast, e.g. "meta", works too)
        return torch.autocast(device.type, dtype=dtype) if enabled else contextlib.nullcontext()

    def update_d(real, fake) -> float:
        with autocast():
            ld = d_loss(D(real), D(fake.detach())).float()
        opt_d.zero_grad(set_to_none=True)
        scaler.scale(ld).backward()
        scaler.step(opt_d)
        return ld.item()

    def update_g(fake, real) -> dict:
        flags = [p.requires_grad for p in D.parameters()]
        D.requires_grad_(False)
        try:
            with autocast():
                adv = g_loss(D(fake)).float()
                logs = {}
                total = adv
                if content_loss is not None:
                    content = content_loss(fake, real).float()
                    total = content + adv_weight * adv
                    logs = {"content": content.item(), "g_adv": adv.item()}
            opt_g.zero_grad(set_to_none=True)
            scaler.scale(total).backward()
            scaler.step(opt_g)
        finally:
            for p, f in zip(D.parameters(), flags):
                p.requires_grad_(f)
        return {"g_loss": total.item(), **logs}

    def step(batch) -> dict:
        g_input, real = batch
        G.train()
        D.train()
        with autocast():
            fake = G(g_input)
        if d_first:
            ld = update_d(real, fake)
            logs = update_g(fake, real)
        else:
            logs = update_g(fake, real)
            ld = update_d(real, fake)
        scaler.update()
        return {"d_loss": ld, **logs}

    step.handles_amp = True
    return step


def gan_train_step(G: nn.Module, D: nn.Module, opt_g: torch.optim.Optimizer,
                   opt_d: torch.optim.Optimizer, z: torch.Tensor, real: torch.Tensor) -> tuple[float, float]:
    """One iteration of the lecture's GAN algorithm (Goodfellow et al. 2014; notebook 02, Exercise 2.4).

    ``fake = G(z)`` (z: codes (m, nz)); D's update on :func:`d_loss` ``(D(real), D(fake.detach()))``
    (no gradient reaches G), then G's update on :func:`g_loss_nonsat` ``(D(fake))`` with the same fakes
    seen by the updated D. ``real``: (n, ...) real examples of the fakes' shape. It is
    :func:`gan_step` with the course's losses, called on one batch.
    Returns ``(d_loss, g_loss)`` as floats (each loss before its own update).
    """
    logs = gan_step(G, D, opt_g, opt_d, d_loss, g_loss_nonsat)((z, real))
    return logs["d_loss"], logs["g_loss"]


class RandomBatches:
    """An endless stream of random batches drawn from a tensor of examples, resumable.

    Each batch is ``x[idx]`` for ``batch`` indices drawn with replacement (``x`` may be a tuple
    of tensors of the same length, e.g. inputs and targets: then a tuple of batches); with ``nz`` it is
    ``(z, x[idx])`` with codes z ~ N(0, Id) of shape (batch, nz), drawn after the indices (the
    input of :func:`gan_step` for an unconditional GAN). All draws come from one
    ``torch.Generator`` seeded with ``seed``, whose state ``state_dict()`` returns, so a resumed
    training continues the same stream.
    """

    def __init__(self, x: torch.Tensor | tuple, batch: int, nz: int | None = None, seed: int = 0):
        self.x, self.batch, self.nz = x, batch, nz
        self.generator = torch.Generator().manual_seed(seed)

    def __iter__(self):
        return self

    def __next__(self):
        idx = torch.randint(len(self.x[0] if isinstance(self.x, tuple) else self.x),
                            (self.batch,), generator=self.generator)
        real = tuple(t[idx] for t in self.x) if isinstance(self.x, tuple) else self.x[idx]
        if self.nz is None:
            return real
        return torch.randn(self.batch, self.nz, generator=self.generator), real

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


def _stream_of(batches):
    """The object whose ``state_dict`` is the data stream's position, or None."""
    for obj in (batches, getattr(batches, "dataset", None)):
        if hasattr(obj, "state_dict") and hasattr(obj, "load_state_dict"):
            return obj
    return None


def _save(path, step, hist, models, optimizers, schedulers, stream_state):
    (_, model), *others = models.items()
    extra = {"models": {k: m.state_dict() for k, m in others},
             "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
             "schedulers": {k: s.state_dict() for k, s in schedulers.items()},
             "history": hist}
    if stream_state is not None:
        extra["data"] = stream_state
    save_checkpoint(path, model.state_dict(), name=Path(path).stem,
                    meta={"step": step, "models": list(models)}, extra=extra)


def _resume(path, models, optimizers, schedulers, stream) -> tuple[int, dict]:
    """Load everything a work file holds; return (step, history). Clear errors name the file."""
    try:
        ck = load_checkpoint(path)
    except CheckpointError as e:
        raise CheckpointError(f"cannot resume training: {e} (To start this training afresh, "
                              f"delete {path}.)") from None
    ex, meta = ck.get("extra", {}), ck.get("meta", {})
    if "step" not in meta or "history" not in ex:
        raise CheckpointError(f"{path}: not a training work file (no step or history): it cannot "
                              "be resumed. Pass another checkpoint= path, or delete it.")
    (_, model), *others = models.items()
    try:
        load_weights(model, ck["state_dict"], path)
        for k, m in others:
            load_weights(m, ex["models"][k], path)
        # work files written before the loop held several optimizers: "optimizer"/"scheduler"
        opts = ex.get("optimizers") or ({next(iter(optimizers)): ex["optimizer"]}
                                        if "optimizer" in ex and len(optimizers) == 1 else {})
        for k, o in optimizers.items():
            o.load_state_dict(opts[k])
        scheds = ex.get("schedulers") or ({next(iter(schedulers)): ex["scheduler"]}
                                          if "scheduler" in ex and len(schedulers) == 1 else {})
        for k, s in schedulers.items():
            s.load_state_dict(scheds[k])
        if stream is not None and "data" in ex:
            stream.load_state_dict(ex["data"])
    except CheckpointError:
        raise
    except (KeyError, ValueError, RuntimeError, TypeError) as e:
        what = f"no entry {e}" if isinstance(e, KeyError) else str(e).splitlines()[0][:200]
        raise CheckpointError(f"{path}: cannot resume from it, it does not match this training "
                              f"({type(e).__name__}: {what}). Delete it to start afresh, or pass "
                              "another checkpoint= path.") from None
    return int(meta["step"]), ex["history"]


@contextlib.contextmanager
def _counted(on: bool, flops: dict, key: str):
    """Count the FLOPs of the block into ``flops[key]`` (and one more ``flops[key + '_run']``)."""
    if not on:
        yield
        return
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        yield
    flops[key] += int(counter.get_total_flops())
    flops[key + "_run"] += 1


def train_loop(step: Callable[..., dict], batches: Iterable, steps: int,
               models: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer],
               schedulers: dict | None = None, val_fn: Callable | None = None,
               val_every: int = 200, checkpoint: str | Path | None = None,
               ckpt_every: int = 1000, plot: bool = True, desc: str = "training",
               device=None) -> dict:
    """Run ``step`` on ``steps`` batches (the total, counting steps done before a resume).

    Args:
        step: ``step(batch) -> {name: float}``, one training step (see :func:`supervised_step`,
            :func:`gan_step`); it calls the optimizers itself.
        batches: a DataLoader or any iterable of batches (restarted when it ends). When it, or
            its ``dataset``, has ``state_dict``/``load_state_dict`` (``SRPatches``,
            :class:`RandomBatches`), its position is saved with the checkpoint and restored, so
            a resumed run sees the batches an uninterrupted run would have seen; any other
            loader starts a new pass on resume.
        models: name -> module, e.g. ``{"G": G, "D": D}``; the first is the one saved as the
            checkpoint's ``state_dict``, all are saved and restored.
        optimizers, schedulers: name -> object; schedulers are stepped once per step.
        val_fn: called every ``val_every`` steps and at the end, in eval mode without gradients;
            returns a number (history key ``"val"``) or a dict of numbers (keys ``"val_NAME"``).
            Validate on held-out *training* images, never on Set5/Set14.
        checkpoint: a work file written every ``ckpt_every`` steps and at the end; if it exists
            when the loop starts, training resumes from it.
        device: where batches go (default: the first model's device).
    Environment:
        COURSE_MAX_STEPS: ``steps`` is cut to it (a smoke run, see :func:`profiles.cap`).
        COURSE_FLOP_LOG: the FLOPs of the steps run and of the validations are counted
            (``torch.utils.flop_counter``) and logged with the uncut ``steps``, for the GPU time
            estimates of ``benchmarks/gpu_estimates.py``.
    Mixed precision: :func:`supervised_step` and :func:`gan_step` handle it themselves; any other
    step function runs under bfloat16 autocast on a CUDA device that computes bfloat16 natively
    (no gradient scaler is needed there), and in float32 elsewhere.
    Returns:
        the history ``{"step": [...], NAME: [...] for each number the step returns,
        "val_step": [...], "val" or "val_NAME": [...], "seconds": float, "interrupted": bool}``.
    Raises:
        CheckpointError: the work file is empty, corrupt or does not match these models.
        FloatingPointError: a loss became NaN/inf (the last periodic checkpoint is kept).
    """
    schedulers = schedulers or {}
    requested = steps
    steps = cap(steps, f"training {desc!r}")
    first = next(iter(models.values()))
    device = torch.device(device or next(first.parameters()).device)
    amp_on, amp_dtype, amp_scaled = amp_policy(device)
    if getattr(step, "handles_amp", False) or amp_scaled:
        amp_on = False  # the step does it itself, or float16 would need the step's own scaler
    counting = bool(os.environ.get("COURSE_FLOP_LOG"))
    flops = {"steps": 0, "steps_run": 0, "val": 0, "val_run": 0}
    stream = _stream_of(batches)
    hist: dict = {"step": [], "val_step": [], "seconds": 0.0, "interrupted": False}
    start = 0
    if checkpoint is not None and Path(checkpoint).is_file():
        start, saved = _resume(checkpoint, models, optimizers, schedulers, stream)
        hist.update(saved)
        hist["interrupted"] = False
        if start > steps:
            warnings.warn(f"{checkpoint} holds {start} steps, more than the {steps} asked: "
                          "returning it unchanged (ask for steps >= "
                          f"{start} to continue it, or delete the file to start over).",
                          stacklevel=2)
        else:
            print(f"resuming from {checkpoint} at step {start}")
        if start >= steps:
            for m in models.values():
                m.eval()
            return hist
    stream_state = stream.state_dict() if stream is not None else None

    def save(n):
        if checkpoint is not None:
            _save(checkpoint, n, hist, models, optimizers, schedulers, stream_state)

    def validate(n):
        for m in models.values():
            m.eval()
        with torch.no_grad(), _counted(counting, flops, "val"):
            v = val_fn()
        vals = {f"val_{k}": float(x) for k, x in v.items()} if isinstance(v, dict) else {"val": float(v)}
        hist["val_step"].append(n)  # appended together with the values: a Ctrl-C above adds none
        for k, x in vals.items():
            hist.setdefault(k, []).append(x)

    # Ctrl-C while a step runs: finish the step, then stop (a second Ctrl-C stops at once).
    # Anywhere else (validation, plotting) it stops at once; the history stays consistent.
    flag = {"in_step": False, "stop": False}

    def on_sigint(signum, frame):
        if flag["in_step"] and not flag["stop"]:
            flag["stop"] = True
            print("\nCtrl-C: stopping after this step (press again to stop at once)")
        else:
            raise KeyboardInterrupt

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, on_sigint)
    live = LivePlot(title=desc) if plot else None
    batch_iter = cycle(batches)
    done, t0 = start, time.time()
    bar = tqdm(total=steps, initial=start, desc=desc, leave=True)
    try:
        while done < steps and not flag["stop"]:
            batch = to_device(next(batch_iter), device)
            flag["in_step"] = True
            try:
                with _counted(counting, flops, "steps"), \
                        (torch.autocast(device.type, dtype=amp_dtype) if amp_on else contextlib.nullcontext()):
                    logs = step(batch)
            except FloatingPointError as e:
                raise FloatingPointError(f"step {done + 1}: {e}") from None
            for s in schedulers.values():
                s.step()
            done += 1
            hist["step"].append(done)
            for k, v in logs.items():
                hist.setdefault(k, []).append(float(v))
            if stream is not None:
                stream_state = stream.state_dict()
            flag["in_step"] = False
            bar.update(1)
            if val_fn is not None and (done % val_every == 0 or done == steps):
                validate(done)
            if done % 10 == 0 or done == steps:
                post = {k: f"{v[-1]:.4g}" for k, v in hist.items()
                        if isinstance(v, list) and v and k not in ("step", "val_step")}
                bar.set_postfix(post)
                if live is not None:
                    live.update(hist)
            if checkpoint is not None and done % ckpt_every == 0:
                save(done)
        hist["interrupted"] = done < steps
    except KeyboardInterrupt:
        hist["interrupted"] = True
    finally:
        flag["in_step"] = False
        bar.close()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        hist["seconds"] += time.time() - t0
    if hist["interrupted"]:
        print(f"interrupted at step {done}: returning the model(s) trained so far"
              + (f" (saved to {checkpoint}; run again to resume)" if checkpoint else ""))
    if live is not None:
        live.update(hist, final=True)
    if counting:
        log_flops({"what": "train_loop", "desc": desc, "requested": requested,
                   "val_every": val_every if val_fn is not None else None,
                   "amp_step": bool(getattr(step, "handles_amp", False)), **flops})
    save(done)
    for m in models.values():
        m.eval()
    return hist


def fit(model: nn.Module, loss_fn: Callable, loader, steps: int,
        optimizer: torch.optim.Optimizer | None = None, lr: float = 1e-3,
        scheduler=None, clip: float | None = None, val_fn: Callable[[], float] | None = None,
        val_every: int = 200, device=None, checkpoint: str | Path | None = None,
        ckpt_every: int = 1000, plot: bool = True, desc: str = "training",
        conditional: bool = False) -> dict:
    """Train ``model`` for ``steps`` optimizer steps on batches ``(x, y)``; return the history.

    ``train_loop`` with a :func:`supervised_step` (``loss_fn(model(x), y)`` -> scalar tensor).

    Args:
        model: the network; moved to ``device`` (channels_last on CUDA).
        loader: yields (x, y) batches (repeated as often as needed).
        steps: number of optimizer steps (the total, counting steps done before a resume).
        optimizer: default Adam(lr). scheduler: stepped once per step (or None).
        clip: clip the gradient norm to this value (VDSR uses it for its high learning rate).
        val_fn: called every ``val_every`` steps in eval mode, returns a number to plot
            (e.g. validation PSNR on held-out *training* images; never on Set5/Set14).
        checkpoint: a path: saved every ``ckpt_every`` steps and at the end; if it exists when
            ``fit`` starts, training resumes from it.
    Returns:
        ``{"step": [...], "loss": [...], "val_step": [...], "val": [...], "seconds": float,
        "interrupted": bool}``.
    """
    device = torch.device(device or next(model.parameters()).device)
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    hist = train_loop(supervised_step(model, loss_fn, optimizer, clip, conditional), loader, steps,
                      models={"model": model}, optimizers={"optimizer": optimizer},
                      schedulers={"scheduler": scheduler} if scheduler is not None else {},
                      val_fn=val_fn, val_every=val_every, checkpoint=checkpoint,
                      ckpt_every=ckpt_every, plot=plot, desc=desc, device=device)
    hist.setdefault("loss", [])
    hist.setdefault("val", [])
    return hist


def _starting_point(name: str, model: nn.Module, cfg) -> str | None:
    """Before training ``name`` from scratch: load the weights its training starts from.

    A record of ``zoo.REGISTRY`` with a ``start`` (FSRCNN x2 and x4: ``"fsrcnn-x3"``) is
    trained from that model, not from random weights: the shipped (else cached) start checkpoint,
    converted with ``models.fsrcnn_to_scale`` (a copy of every weight, only the deconvolution
    trainable), is copied into ``model``. Returns a note on where the start came from, or None
    when the record has no start. Raises ``CheckpointError`` when no usable start is found
    (nothing is trained, nothing is written).
    """
    from .models import fsrcnn_to_scale
    from .zoo import REGISTRY, build
    start = REGISTRY[name].start if name in REGISTRY else ""
    if not start:
        return None
    problems = []
    for path in (Path(cfg.checkpoint_dir) / f"{start}.pt", Path(cfg.data_dir) / "checkpoints" / f"{start}.pt"):
        if not path.is_file():
            problems.append(f"{path}: missing")
            continue
        try:
            base = build(start)
            load_weights(base, load_checkpoint(path, name=start)["state_dict"], path)
            converted = fsrcnn_to_scale(base, REGISTRY[name].scales[0])
            load_weights(model, converted.state_dict(), path)
        except CheckpointError as e:
            problems.append(str(e))
            continue
        trainable = {k for k, p in converted.named_parameters() if p.requires_grad}
        for k, p in model.named_parameters():
            p.requires_grad_(k in trainable)
        return f"started from {path.name} (converted to x{REGISTRY[name].scales[0]}, only the deconvolution trainable)"
    raise CheckpointError(f"{name} is trained from {start}, and no usable {start}.pt was found ("
                          + "; ".join(problems) + f"). Train or load {start} first (notebook 07, "
                          f"section 4: train_or_load({start!r}, ...)), then run this cell again.")


def train_or_load(name: str, model: nn.Module, train_fn: Callable[[nn.Module], dict],
                  cfg, train: bool = False, ship: bool = True) -> tuple[nn.Module, dict]:
    """Load the course's checkpoint ``NAME.pt`` unless asked to train; return (model, info).

    Order: ``train=True`` -> always train (``train_fn(model)`` returns a history).
    Otherwise the shipped checkpoint in ``checkpoints/`` (if ``ship``), then a cached one in
    ``cfg.data_dir/checkpoints``; a file that is damaged or does not fit ``model`` is skipped
    with a warning. When none is usable, train and cache the result.
    A model whose record names a ``start`` (FSRCNN x2, x4) is trained from that checkpoint
    converted to its scale, never from random weights (``CheckpointError`` when it is missing).
    When the cache folder cannot be written (a read-only course folder), a warning says so and
    the trained model is returned all the same (set ``COURSE_DATA_DIR`` to a writable folder).
    ``info`` says where the weights came from: ``{"source": ..., "meta": ..., "history": ...}``.
    """
    shipped = Path(cfg.checkpoint_dir) / f"{name}.pt"
    cached = Path(cfg.data_dir) / "checkpoints" / f"{name}.pt"
    if not train:
        for path, source in ((shipped, "shipped"), (cached, "cached")):
            if (source == "shipped" and not ship) or not path.is_file():
                continue
            try:
                ck = load_checkpoint(path, name=name)
                load_weights(model, ck["state_dict"], path)
            except CheckpointError as e:
                warnings.warn(f"{e}\n  -> ignoring it.", stacklevel=2)
                continue
            model.to(cfg.device).eval()
            meta = ck.get("meta", {})
            print(f"loaded the {source} checkpoint {path.name}"
                  + (f" ({meta.get('note')})" if meta.get("note") else ""))
            return model, {"source": f"{source} checkpoint", "meta": meta,
                           "history": ck.get("extra", {}).get("history")}
    start = _starting_point(name, model, cfg)
    if start:
        print(f"{name}: no checkpoint to load; training {start}")
    hist = train_fn(model)
    meta = {"profile": cfg.profile, "steps": hist["step"][-1] if hist.get("step") else 0,
            "seconds": round(hist.get("seconds", 0.0), 1)}
    if start:
        meta["note"] = start
    if hist.get("interrupted"):  # never cache a half-trained model as if it were the checkpoint
        print(f"training was interrupted at step {meta['steps']}: {cached.name} not written")
        return model.eval(), {"source": f"trained here, interrupted ({cfg.profile} profile)",
                              "meta": meta, "history": hist}
    source = f"trained here ({cfg.profile} profile)"
    try:
        save_checkpoint(cached, model.state_dict(), name=name, meta=meta, extra={"history": hist})
    except OSError as e:  # a read-only course folder: keep the trained model, say how to cache it
        warnings.warn(f"could not cache the trained {name} in {cached.parent} "
                      f"({e.strerror or type(e).__name__}). The model trained here is kept for this "
                      "session but will be trained again next time: set COURSE_DATA_DIR to a "
                      "writable folder (for example `export COURSE_DATA_DIR=~/pixels-data`) and "
                      "restart the kernel to cache it.", stacklevel=2)
        source += ", not cached (folder not writable)"
    return model.eval(), {"source": source, "meta": meta, "history": hist}


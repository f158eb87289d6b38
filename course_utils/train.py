"""A training loop worth reading: ``fit`` in plain PyTorch, and ``train_or_load``.

``fit`` does what every notebook's training needs and nothing more: steps of an optimizer on
batches from a DataLoader, a progress bar, a live loss/validation plot, gradient clipping, a
learning-rate schedule, mixed precision and channels_last on CUDA, periodic checkpoints with
resume, and Ctrl-C (or Jupyter's stop button) returns what was trained so far.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm

from .checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from .plots import LivePlot

__all__ = ["fit", "train_or_load", "cycle"]


def cycle(loader):
    """Repeat a DataLoader forever (a fresh shuffle each pass)."""
    while True:
        yield from loader


def fit(model: torch.nn.Module, loss_fn: Callable, loader, steps: int,
        optimizer: torch.optim.Optimizer | None = None, lr: float = 1e-3,
        scheduler=None, clip: float | None = None, val_fn: Callable[[], float] | None = None,
        val_every: int = 200, device=None, checkpoint: str | Path | None = None,
        ckpt_every: int = 1000, plot: bool = True, desc: str = "training") -> dict:
    """Train ``model`` for ``steps`` optimizer steps; return the history.

    Args:
        model: the network; moved to ``device``.
        loss_fn: ``loss_fn(model(x), y)`` -> scalar tensor.
        loader: yields (x, y) batches (repeated as often as needed).
        steps: number of optimizer steps (the total, counting steps done before a resume).
        optimizer: default Adam(lr).
        scheduler: a ``torch.optim.lr_scheduler`` stepped once per step (or None).
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
    cuda = device.type == "cuda"
    if cuda:
        model.to(memory_format=torch.channels_last)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    scaler = torch.amp.GradScaler("cuda", enabled=cuda)
    hist = {"step": [], "loss": [], "val_step": [], "val": [], "seconds": 0.0, "interrupted": False}
    start = 0
    if checkpoint is not None and Path(checkpoint).is_file():
        ck = load_checkpoint(checkpoint)
        model.load_state_dict(ck["state_dict"])
        ex = ck.get("extra", {})
        if "optimizer" in ex:
            optimizer.load_state_dict(ex["optimizer"])
        if scheduler is not None and "scheduler" in ex:
            scheduler.load_state_dict(ex["scheduler"])
        hist.update(ex.get("history", {}))
        hist["interrupted"] = False
        start = int(ck["meta"].get("step", 0))
        print(f"resuming from {checkpoint} at step {start}")

    def save(step):
        if checkpoint is None:
            return
        extra = {"optimizer": optimizer.state_dict(), "history": hist}
        if scheduler is not None:
            extra["scheduler"] = scheduler.state_dict()
        save_checkpoint(checkpoint, model.state_dict(), name=Path(checkpoint).stem,
                        meta={"step": step}, extra=extra)

    live = LivePlot(title=desc) if plot else None
    batches = cycle(loader)
    t0, step = time.time(), start
    bar = tqdm(range(start, steps), desc=desc, initial=start, total=steps, leave=True)
    try:
        for step in bar:
            model.train()
            x, y = next(batches)
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with torch.autocast(device.type, enabled=cuda):
                loss = loss_fn(model(x), y)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"the loss became {loss.item()} at step {step}: lower the "
                                         "learning rate or clip the gradients (clip=...)")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if clip is not None:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            scaler.step(optimizer)
            scaler.update()
            if scheduler is not None:
                scheduler.step()
            hist["step"].append(step + 1)
            hist["loss"].append(loss.item())
            if val_fn is not None and ((step + 1) % val_every == 0 or step + 1 == steps):
                model.eval()
                with torch.no_grad():
                    hist["val_step"].append(step + 1)
                    hist["val"].append(float(val_fn()))
            if (step + 1) % 10 == 0 or step + 1 == steps:
                bar.set_postfix(loss=f"{loss.item():.4g}",
                                **({"val": f"{hist['val'][-1]:.4g}"} if hist["val"] else {}))
                if live is not None:
                    live.update(hist)
            if checkpoint is not None and (step + 1) % ckpt_every == 0:
                save(step + 1)
        step = steps
    except KeyboardInterrupt:
        hist["interrupted"] = True
        step = hist["step"][-1] if hist["step"] else start
        print(f"interrupted at step {step}: returning the model trained so far")
    finally:
        bar.close()
    hist["seconds"] += time.time() - t0
    if live is not None:
        live.update(hist, final=True)
    save(step)
    model.eval()
    return hist


def train_or_load(name: str, model: torch.nn.Module, train_fn: Callable[[torch.nn.Module], dict],
                  cfg, train: bool = False, ship: bool = True) -> tuple[torch.nn.Module, dict]:
    """Load the course's checkpoint ``NAME.pt`` unless asked to train; return (model, info).

    Order: ``train=True`` -> always train (``train_fn(model)`` returns a history).
    Otherwise the shipped checkpoint in ``checkpoints/`` (if ``ship``), then a cached one in
    ``cfg.data_dir/checkpoints``; when neither exists, train and cache the result.
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
            except CheckpointError as e:
                print(f"WARNING: {e}\n  -> ignoring it.")
                continue
            model.load_state_dict(ck["state_dict"])
            model.to(cfg.device).eval()
            meta = ck.get("meta", {})
            print(f"loaded the {source} checkpoint {path.name}"
                  + (f" ({meta.get('note')})" if meta.get("note") else ""))
            return model, {"source": f"{source} checkpoint", "meta": meta,
                           "history": ck.get("extra", {}).get("history")}
    hist = train_fn(model)
    meta = {"profile": cfg.profile, "steps": hist["step"][-1] if hist.get("step") else 0,
            "seconds": round(hist.get("seconds", 0.0), 1)}
    save_checkpoint(cached, model.state_dict(), name=name, meta=meta, extra={"history": hist})
    return model.eval(), {"source": f"trained here ({cfg.profile} profile)", "meta": meta,
                          "history": hist}


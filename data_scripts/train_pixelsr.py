"""Train the course's pixel recursive SR model on MNIST and ship it as checkpoints/pixelcnn-sr-digits.pt.

The shipped checkpoint was made with (9.5 min on one CPU thread, nice 10, a 2-core machine shared
with other jobs):
  python data_scripts/train_pixelsr.py --steps 1200
and the prior alone (an unconditional gated PixelCNN, the same prior network and recipe, loss
CE(prior); checkpoints/pixelcnn-digits-prior.pt, for the "prior only" row of the bits/dim table) with
  python data_scripts/train_pixelsr.py --steps 1200 --prior-only

The recipe is notebook 11's cpu profile (``course_utils.pixelcnn.DIGITS``): a gated PixelCNN prior and
a ResNet conditioning network, 28x28 HR digits on K = 4 levels, 7x7 LR (x^LR = S B x^HR, MATLAB
bicubic), the loss CE(prior + cond) + CE(cond), Adam, batches drawn from the first 58,000 images of
MNIST's training split (the last 2,000 are the notebook's validation digits; the test split is never
touched). The training is the library's ``train_loop``; the run skeleton is ``course_tools.runs``:
the run folder ``DATA/runs/NAME_RUNID/`` holds the work file (every ``--ckpt-every`` steps, picked
up by the same command), the best validation weights (``best.pt``, faces) and the result; only
``--ship`` replaces the shipped ``checkpoints/NAME.pt`` after its checks. The command, time and
threads of the shipped file are in its meta (``python -m course_tools.checkpoint_tables`` lists them).

Faces (``--data faces``, ``course_utils.pixelcnn.FACES``): the ORL/Olivetti faces of the mirror, cut
to a 92x92 square and resized to 32x32 HR on K = 16 levels, 8x8 LR. The split is by person: people
s1-s30 train, s31-s35 validation (the curve and the choice of the shipped step), s36-s40 test (only
notebook 11 looks at them). Training faces are augmented by five vertical crop offsets and mirror
flips (3000 images from 300). 400 faces overfit quickly, so the run logs the validation bits/dim
every ``--val-every`` steps and keeps the weights of the best validation step so far
(``best.pt`` in the run folder); the result holds those, with the curve in its meta.
``--cond spade`` trains the SPADE conditioning network instead (the comparison of notebook 11);
``--ship-best`` ships the best weights of a run stopped early, without training.
  nice -n 10 python data_scripts/train_pixelsr.py --data faces --steps 6000
  nice -n 10 python data_scripts/train_pixelsr.py --data faces --cond spade --steps 6000
"""
import argparse
import math
import os
import sys

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import course_utils  # noqa: E402
from course_tools.runs import (Run, RunError, add_common_arguments, deadline_step, finish,  # noqa: E402
                               guarded, nonnegative_int, positive_int, steps_done, stop_early, stopped_how,
                               until_timestamp)
from course_utils.checkpoints import CheckpointError, load_checkpoint, save_checkpoint  # noqa: E402
from course_utils.degrade import bicubic_down  # noqa: E402
from course_utils.gen_data import load_faces, load_mnist  # noqa: E402
from course_utils.pixelcnn import (DIGITS, FACES, GatedPixelCNN, bits_per_dim, digits_model,  # noqa: E402
                                   face_crops, faces_model, pixel_sr_losses, quantise, to_levels)
from course_utils.train import RandomBatches, train_loop  # noqa: E402


def _faces(cfg):
    """(lr, hr) training pairs (augmented), validation pairs, and the source, for --data faces."""
    faces, person, source = load_faces(cfg, fallback=False)
    val_p, test_p = FACES["val_people"], FACES["test_people"]
    train_mask = torch.tensor([int(p) not in val_p + test_p for p in person])
    val_mask = torch.tensor([int(p) in val_p for p in person])
    K, size = FACES["K"], FACES["size"]
    hr = quantise(face_crops(faces[train_mask], size, offsets=(6, 8, 10, 12, 14), flips=True), K)
    hr_val = quantise(face_crops(faces[val_mask], size), K)
    return ((bicubic_down(hr, FACES["scale"]).clamp(0, 1), hr),
            (bicubic_down(hr_val, FACES["scale"]).clamp(0, 1), hr_val), source)


def main(argv=None) -> int:
    return guarded(_main, argv)


def _load_best(path) -> dict:
    """The best-validation file of a faces run: {"state", "step", "curve", "seed"}; a damaged one
    is a CheckpointError naming it."""
    ck = load_checkpoint(path)
    meta = ck.get("meta", {})
    if "step" not in meta or "curve" not in meta:
        raise CheckpointError(f"{path}: not a best-validation file of train_pixelsr.py (no step or "
                              "curve); delete it and run again")
    return {"state": ck["state_dict"], "step": int(meta["step"]), "curve": meta["curve"],
            "seed": meta.get("seed")}


def _main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=nonnegative_int, default=1200)
    p.add_argument("--data", choices=("digits", "faces"), default="digits")
    p.add_argument("--cond", choices=("plain", "spade"), default="plain",
                   help="the conditioning network: CondResNet (plain) or CondSPADE")
    p.add_argument("--prior-only", action="store_true",
                   help="train the prior network alone (no LR input) -> pixelcnn-digits-prior")
    p.add_argument("--ship-best", action="store_true",
                   help="faces: ship the run's best validation weights so far, without training")
    add_common_arguments(p, ckpt_every=500, val_every=None)
    p.add_argument("--val-every", type=positive_int, default=None, help="default 500 (digits), 100 (faces)")
    args = p.parse_args(argv)
    faces = args.data == "faces"
    if args.prior_only and faces:
        p.error("--prior-only is for digits")
    if args.cond == "spade" and not faces:
        p.error("--cond spade is for faces")
    if args.ship_best and not faces:
        p.error("--ship-best is for faces runs")
    until = until_timestamp(args.until)
    name = ("pixelcnn-digits-prior" if args.prior_only else "pixelcnn-sr-digits") if not faces else (
        "pixelcnn-sr-faces-spade" if args.cond == "spade" else "pixelcnn-sr-faces")
    val_every = args.val_every or (100 if faces else 500)
    cfg = course_utils.setup(profile="cpu", seed=args.seed, device=args.device)
    torch.set_num_threads(args.threads)
    recipe = FACES if faces else DIGITS
    K, scale = recipe["K"], recipe["scale"]
    if faces:
        (lr, hr), (lr_val, hr_val), source = _faces(cfg)
    else:
        x, _, source = load_mnist(cfg, "train")
        if len(x) < 60_000:
            raise RunError(f"{source}: not the 60k training split; set COURSE_DATA_MIRROR or "
                           "fetch mnist-train")
        hr = quantise(x[:58_000], K)
        lr = bicubic_down(hr, scale).clamp(0, 1)
        hr_val = quantise(x[-2_000:], K)
        lr_val = bicubic_down(hr_val, scale).clamp(0, 1)
    torch.manual_seed(args.seed)
    if faces:
        model = faces_model(spade=args.cond == "spade")
    else:
        model = GatedPixelCNN(K=K, **DIGITS["prior"]) if args.prior_only else digits_model()
    model.to(cfg.device)   # before its optimiser is made; batches are moved by train_loop
    hr_val, lr_val = hr_val.to(cfg.device), lr_val.to(cfg.device)
    opt = torch.optim.Adam(model.parameters(), lr=recipe["lr"])
    run = Run("train_pixelsr.py", name, [args.steps, args.seed, source], cfg, argv, args.runs_dir)
    work, best_file = run.work, run.best

    def step(batch):
        lr_b, hr_b = batch
        model.train()
        if args.prior_only:
            ce = F.cross_entropy(model(hr_b), to_levels(hr_b, K))
            losses = {"loss": ce}
        else:
            losses = pixel_sr_losses(model, hr_b, lr_b, K)
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        opt.step()
        return {k: v.item() / math.log(2) for k, v in losses.items()}

    # faces: the validation curve and the best weights so far live in best_file (survives a resume)
    curve = _load_best(best_file)["curve"] if best_file.exists() else []
    counter = {"step": 0}

    def val():
        if args.prior_only:
            return {"both": bits_per_dim(model(hr_val), hr_val, K), "cond": float("nan")}
        both, cond = model(hr_val, lr_val)
        res = {"both": bits_per_dim(both, hr_val, K), "cond": bits_per_dim(cond, hr_val, K)}
        if faces:
            n = counter["step"]
            if not curve or curve[-1][0] < n:
                curve.append([n, round(res["both"], 4), round(res["cond"], 4)])
            best = min(curve, key=lambda c: c[1])
            old = _load_best(best_file) if best_file.exists() else None
            if best[0] == n or old is None:
                state, at = {k: v.clone() for k, v in model.state_dict().items()}, n
            else:
                state, at = old["state"], old["step"]
            save_checkpoint(best_file, state, name=f"{name}-best",
                            meta={"step": at, "curve": curve, "seed": args.seed})
            print(f"step {n}: validation {res['both']:.4f} bits/dim (cond. alone {res['cond']:.4f}); "
                  f"best {best[1]:.4f} at step {best[0]}", flush=True)
        return res

    def counted_step(batch):
        counter["step"] += 1
        return step(batch)

    def result(state, steps, seconds, hist, stopped=False):
        """(state, meta, half) of the result."""
        meta = run.meta(steps, seconds)
        meta["command"] = meta["command"].replace(" --ship-best", "")
        on = meta["device"]
        meta.update({"data": source, "seed": args.seed, "recipe": recipe})
        if faces:
            best = min(curve, key=lambda c: c[1])
            if args.cond == "plain":   # the SPADE run's curve (same split, recipe, seed), for notebook 11
                runs = []
                for f in run.folder.parent.glob("pixelcnn-sr-faces-spade_*/best.pt"):
                    try:
                        b = _load_best(f)
                    except CheckpointError:
                        continue
                    if b["seed"] == args.seed:
                        runs.append((f.stat().st_mtime, f, b))
                if runs:
                    _, f, b = max(runs, key=lambda r: r[0])
                    meta["spade_val_curve"] = b["curve"]
                    meta["spade_run"] = f.parent.name
            meta.update({"val_bits_both": best[1], "val_bits_cond": best[2], "val_curve": curve,
                         "split": "people s1-s30 train (augmented: 5 crop offsets x flips), "
                                  "s31-s35 validation, s36-s40 test",
                         "note": f"pixel recursive SR on ORL faces 8x8 -> 32x32, K = {K}, "
                                 f"{'SPADE' if args.cond == 'spade' else 'ResNet'} conditioning; the weights "
                                 f"of step {steps} (best validation {best[1]:.3f} bits/dim, cond. alone "
                                 f"{best[2]:.3f}) of a run of {curve[-1][0]} steps, "
                                 f"{seconds / 60:.1f} min on {on}"
                                 + (f"; shipped with --ship-best from the run's last work file (step "
                                    f"{curve[-1][0]} of {args.steps})" if stopped else "")})
        else:
            what = "the prior alone (unconditional gated PixelCNN)" if args.prior_only else "pixel recursive SR"
            vb = hist["val_both"][-1]
            meta.update({("val_bits" if args.prior_only else "val_bits_both"): round(vb, 4),
                         "note": f"{what} on MNIST, {steps} steps, {seconds / 60:.1f} min on {on}; "
                                 f"validation {vb:.3f} bits/dim"
                                 + ("" if args.prior_only else f" (cond. alone {hist['val_cond'][-1]:.3f})")})
            if not args.prior_only:
                meta["val_bits_cond"] = round(hist["val_cond"][-1], 4)
        half = False
        if faces:   # float16 storage when it costs nothing measurable (the course's rule)
            with torch.no_grad():
                model.load_state_dict(state)
                model.eval()
                b32 = bits_per_dim(model(hr_val, lr_val)[0], hr_val, K)
                model.load_state_dict({k: v.half().float() if v.dtype == torch.float32 else v
                                       for k, v in state.items()})
                b16 = bits_per_dim(model(hr_val, lr_val)[0], hr_val, K)
            half = abs(b16 - b32) < 1e-3
            meta["float16_check"] = (f"validation bits/dim {b32:.5f} in float32, {b16:.5f} from float16 "
                                     f"weights: stored as {'float16' if half else 'float32'}")
        return state, meta, half

    out_dir = args.out or cfg.checkpoint_dir
    if args.ship_best:
        if not best_file.exists():
            raise RunError(f"--ship-best: no {best_file} yet (this run has not validated once); "
                           "run the same command without --ship-best first")
        b = _load_best(best_file)
        seconds = (load_checkpoint(work)["extra"]["history"].get("seconds", float("nan"))
                   if work.exists() else float("nan"))
        state, meta, half = result(b["state"], b["step"], seconds, None, stopped=True)
        return finish(run, state, meta, steps=b["step"], planned=args.steps, stopped="deadline",
                      ship=True, ship_partial=True, out_dir=out_dir, half=half)
    batches = RandomBatches((lr, hr), recipe["batch"], seed=args.seed)
    if work.exists():
        counter["step"] = int(load_checkpoint(work)["meta"]["step"])
    hist = train_loop(deadline_step(counted_step, until), batches, args.steps,
                      models={"model": model}, optimizers={"optimizer": opt}, val_fn=val, val_every=val_every,
                      checkpoint=work, ckpt_every=args.ckpt_every, plot=False, desc=f"pixel recursive SR ({args.data})")
    steps = steps_done(hist)
    stopped = stopped_how(hist, args.steps, until)
    if stop_early(run, hist, args.steps, stopped, args.ship_partial):
        return 1
    model.eval()
    if faces:
        if not best_file.exists():
            raise RunError(f"{best_file}: the run never validated (--val-every {val_every} > "
                           f"--steps {args.steps}?)")
        b = _load_best(best_file)
        state, meta, half = result(b["state"], b["step"], hist["seconds"], hist)
    else:
        if not hist.get("val_both"):
            with torch.no_grad():
                v = val()
            hist["val_both"], hist["val_cond"] = [v["both"]], [v["cond"]]
        state, meta, half = result(model.state_dict(), steps, hist["seconds"], hist)
    return finish(run, state, meta, steps=steps, planned=args.steps, stopped=stopped,
                  ship=args.ship or args.ship_partial, ship_partial=args.ship_partial,
                  out_dir=out_dir, half=half)


if __name__ == "__main__":
    sys.exit(main())

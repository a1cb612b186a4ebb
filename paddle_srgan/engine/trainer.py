"""The training loop: the phases of one run (SRResNet with pixel MSE, then SRGAN).

Life of a run:

    Trainer(cfg, resume)        build: device, distributed env, seed, run dir, logger,
                                G (+ D and VGG when a phase needs them), validation set,
                                then either load a checkpoint (resume) or pretrained G
    .run()
      for each remaining phase:
        _start_phase            fresh Adam (+ MultiStepDecay) for G (and D), or the
                                checkpoint's optimizer state when resuming mid-phase
        for each iteration:     batch = next(loader)            data time
                                _step_mse / _step_gan           step time
                                every log_interval   losses, D(real)/D(fake), lr, times
                                every val_interval   PSNR/SSIM (Y), samples, best.pdparams
                                every save_interval  checkpoint (atomic, keep last K)
                                SIGTERM / SIGINT     checkpoint, then stop cleanly (also
                                                     when the DataLoader workers died first)
        phase end               validation, checkpoint, <phase>_G.pdparams
      summary                   validation PSNR/SSIM next to bicubic

Iterations are global (they continue across phases and resumes): VisualDL steps, checkpoint
names and LR milestones (counted inside each phase) all derive from that one counter. Data
order depends only on (seed, iteration) (data.datasets), so a resumed run sees exactly the
batches the uninterrupted run would have seen.
"""
import os
import random
import signal
import time
import warnings

import numpy as np
from tqdm import tqdm

from .. import losses
from ..compat import import_paddle, use_device
from ..config import dump_config
from ..data.datasets import build_train_loader, build_train_set, build_val_set
from ..data.io import write_image
from ..models import (bn_statistics, build_discriminator, build_generator, build_vgg,
                      count_parameters)
from ..storage import atomic_save, atomic_save_json
from . import checkpoint as ckpt
from . import figures, report
from .evaluator import bicubic_image, evaluate
from .logger import RunLogger

paddle = import_paddle()
unique_name = paddle.utils.unique_name


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. too many consecutive non-finite losses)."""

    user_error = True  # tools print the message, not a traceback


def run_dir_of(cfg):
    return os.path.join(cfg["output_dir"], cfg["experiment"])


def _flatten(tree, prefix=""):
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        elif not str(key).startswith("_"):
            out[f"{prefix}{key}"] = value
    return out


def config_differences(old, new):
    """Keys whose values differ between two resolved configs: ['a.b: 1 -> 2', ...]."""
    a, b = _flatten(old), _flatten(new)
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k)]


class Trainer:
    """Two-phase SR training; see the module docstring for the order of events.

    Args:
        cfg: resolved config (config.load_config).
        resume: None (fresh run), 'auto' (newest checkpoint of the run directory) or a path.
    """

    def __init__(self, cfg, resume=None):
        self.cfg = cfg
        self.tcfg = cfg["train"]
        self.phases = self.tcfg["phases"]
        self.bounds = np.cumsum([0] + [p["iters"] for p in self.phases]).tolist()
        self.device = use_device(cfg["device"], cfg["cpu_threads"])
        self.world = paddle.distributed.get_world_size()
        if self.world > 1:
            paddle.distributed.init_parallel_env()
        self.rank = paddle.distributed.get_rank()
        self.main = self.rank == 0
        self.run_dir = run_dir_of(cfg)
        self.amp = self._amp_level()
        self._seed(cfg["seed"])

        needs = {k for p in self.phases for k, w in p["losses"].items() if w}
        # One name scope for every layer of the run: parameter and optimizer-state names then
        # come out the same in a fresh and in a resumed process, so optimizer state reloads.
        with unique_name.guard():
            self.G = build_generator(cfg)
            # EMA of G's weights (BN statistics copied): smoother than the raw weights late
            # in training; it is what validation scores and best.pdparams holds.
            self.G_ema = build_generator(cfg) if self.tcfg["ema_decay"] else None
            self.D = build_discriminator(cfg) if "adversarial" in needs else None
            self.perceptual = None
            if "perceptual" in needs:
                if cfg["vgg"]["weights"] == "none":
                    warnings.warn("vgg.weights is 'none': the perceptual loss uses a RANDOM VGG19. "
                                  "Fine for tests, meaningless for real training.")
                self.perceptual = losses.PerceptualLoss(
                    build_vgg(cfg), cfg["vgg"]["feature_scale"], cfg["losses"]["perceptual"]["criterion"],
                    self.G.output_range)
        self.level_scales = tuple(getattr(self.G, "target_scales", (cfg["scale"],)))
        if self.G_ema is not None:
            self.G_ema.set_state_dict(self.G.state_dict())
            self.G_ema.eval()
            for p in self.G_ema.parameters():
                p.stop_gradient = True
        self.G_train = paddle.DataParallel(self.G) if self.world > 1 else self.G
        self.D_train = (paddle.DataParallel(self.D) if self.world > 1 and self.D is not None
                        else self.D)

        self.iteration = 0
        self.best = {"metric": self.tcfg["best_metric"], "value": None, "iteration": None}
        self.phase_results = {}  # phase name -> validation means at the phase's end
        self.nan_streak = 0
        self.opt_g = self.opt_d = None
        self.scaler_g = paddle.amp.GradScaler(enable=bool(self.amp))
        self.scaler_d = paddle.amp.GradScaler(enable=bool(self.amp))
        self._resume_state = None
        self._skipped_checkpoints = []  # unreadable newest checkpoints passed over by --resume
        self._stop_signal = None
        self._paddle_sigchld = None  # Paddle's dead-worker check, run between iterations
        self._child_exited = False

        # What can refuse to start (data folders, the checkpoint to resume) is checked before
        # the run directory is made, so a failed start leaves no folder behind.
        self.val_set = build_val_set(cfg) if self.main else None
        self.train_set = build_train_set(cfg, self.level_scales)
        self._prepare_run_dir(resume)
        self.log = RunLogger(self.run_dir, enabled=self.main)
        self.bicubic = None

    # ----------------------------------------------------------------------------- setup
    def _amp_level(self):
        level = self.tcfg["amp"]  # None or O1 (config.ALLOWED)
        if level is None:
            return None
        if self.device == "cpu":
            warnings.warn("train.amp is set but training runs on the CPU: using fp32")
            return None
        return level

    def _seed(self, seed):
        random.seed(seed)
        np.random.seed(seed)
        paddle.seed(seed)

    def _prepare_run_dir(self, resume):
        if resume:
            if resume == "auto":
                path, state, self._skipped_checkpoints = ckpt.load_latest_checkpoint(self.run_dir)
            else:  # a file the user named: no fallback to another one
                path, state = resume, ckpt.load_checkpoint(resume)
            self._resume_state, self._resume_path = state, path
        elif self.main and ckpt.list_checkpoints(self.run_dir):
            raise ValueError(f"{self.run_dir} already holds checkpoints of an earlier run: "
                             f"continue it with --resume, or choose another name with "
                             f"-o experiment=<name>")
        if self.main:
            os.makedirs(os.path.join(self.run_dir, "checkpoints"), exist_ok=True)
            with open(os.path.join(self.run_dir, "config.yml"), "w", encoding="utf-8") as f:
                f.write(dump_config(self.cfg))

    def _restore(self, state):
        """Load model weights, counters and RNG states of a checkpoint (optimizers come with
        their phase, in _start_phase)."""
        for skipped in self._skipped_checkpoints:
            self.log.info(f"warning: skipped the unreadable checkpoint {skipped}")
        diffs = config_differences(state.get("config", {}), self.cfg)
        if diffs:
            self.log.info("resuming with a changed config (the new values apply): "
                          + "; ".join(diffs))
        self.G.set_state_dict(state["G"])
        if self.G_ema is not None:
            self.G_ema.set_state_dict(state.get("G_ema") or state["G"])
        if self.D is not None and state.get("D") is not None:
            self.D.set_state_dict(state["D"])
        self.iteration = int(state["iteration"])
        self.best = state["best"]
        self.phase_results = state.get("phase_results", {})
        self.nan_streak = int(state.get("nan_streak", 0))
        rng = state["rng"]
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])
        paddle.set_rng_state(rng["paddle"])
        self.log.info(f"resumed from {self._resume_path} at iteration {self.iteration}")

    def _phase_index(self, iteration):
        for i in range(len(self.phases)):
            if iteration < self.bounds[i + 1]:
                return i
        return len(self.phases)

    def _start_phase(self, index):
        phase = self.phases[index]
        start = self.bounds[index]

        def adam(params):
            # the schedule counts iterations inside the phase, so it starts at 0 here
            sched = paddle.optimizer.lr.MultiStepDecay(phase["lr"], phase["lr_milestones"],
                                                       phase["lr_gamma"])
            opt = paddle.optimizer.Adam(learning_rate=sched, beta1=self.tcfg["beta1"],
                                        beta2=self.tcfg["beta2"], parameters=params)
            return opt, sched

        self.opt_g, self.sched_g = adam(self.G_train.parameters())
        self.opt_d, self.sched_d = (adam(self.D_train.parameters()) if phase["name"] == "gan"
                                    else (None, None))
        self.objective = losses.GeneratorObjective(
            phase["losses"], self.cfg["losses"]["pixel"], self.perceptual,
            # the bare D: its weights get no gradient from this term (losses.frozen), so
            # DataParallel has nothing to all-reduce for it
            self.D if phase["losses"]["adversarial"] else None, self.level_scales)
        if self.iteration > start:  # resuming inside this phase: its optimizer state is needed
            state = self._resume_state
            if state is None or state.get("phase") != index:
                raise ckpt.CheckpointError(
                    f"the checkpoint at iteration {self.iteration} was saved in phase "
                    f"{None if state is None else state.get('phase')}, but train.phases puts "
                    f"that iteration in phase {index}: were the phases' iters changed?")
            self.opt_g.set_state_dict(state["opt_g"])
            self.scaler_g.load_state_dict(state["scaler_g"])
            if self.opt_d is not None:
                self.opt_d.set_state_dict(state["opt_d"])
                self.scaler_d.load_state_dict(state["scaler_d"])
        self.log.info(f"phase {index + 1}/{len(self.phases)} '{phase['name']}': iterations "
                      f"{start + 1}..{self.bounds[index + 1]}, lr {phase['lr']}, "
                      f"losses {phase['losses']}")

    # ----------------------------------------------------------------------------- steps
    def _autocast(self):
        return paddle.amp.auto_cast(enable=bool(self.amp), level=self.amp or "O1")

    def _finite(self, loss, what):
        """False (and a warning) for a NaN/inf loss; too many in a row stop the run."""
        if not self.tcfg["nan_guard"]:
            return True
        finite = paddle.isfinite(loss).all().astype("int32")
        if self.world > 1:  # every rank must skip together, or the gradient all-reduce hangs
            paddle.distributed.all_reduce(finite, op=paddle.distributed.ReduceOp.MIN)
        if bool(finite):  # the loop's one per-step host sync
            self.nan_streak = 0
            return True
        self.nan_streak += 1
        self.log.info(f"warning: non-finite {what} loss at iteration {self.iteration + 1}; "
                      f"step skipped ({self.nan_streak} in a row)")
        if self.nan_streak >= self.tcfg["max_nan_steps"]:
            raise TrainingError(
                f"{self.nan_streak} consecutive non-finite losses at iteration "
                f"{self.iteration + 1}: lower the learning rate (train.phases.N.lr), check the "
                f"data, or resume from an earlier checkpoint")
        return False

    def _update(self, loss, opt, sched, scaler):
        scaler.scale(loss).backward()
        with unique_name.guard():  # optimizer-state names independent of process history
            scaler.step(opt)
        scaler.update()
        opt.clear_grad()
        sched.step()

    def _step(self, batch):
        """One training step. batch: {'lr': [N,C,h,w] in [0,1], 'hr': [N,C,H,W] in [0,1]}.
        Returns {name: 0-d tensor} of the step's loss terms (no host sync), or None if skipped.
        A skipped step leaves no trace: BN running statistics, which every train-mode forward
        updates (NaN included), are put back from a device-side copy."""
        lo, hi = self.G.output_range
        lr, hr = batch["lr"], batch["hr"] * (hi - lo) + lo
        targets = hr
        if len(self.level_scales) > 1:  # coarser levels have their own MATLAB-shrunk targets
            targets = [batch[f"hr_x{s}"] * (hi - lo) + lo for s in self.level_scales[:-1]] + [hr]
        stats = bn_statistics(self.G, self.D) if self.tcfg["nan_guard"] else []
        saved = [t.clone() for t in stats]
        with self._autocast():
            out = self.G_train(lr)
            total, terms = self.objective(out, targets)
        sr = out[-1] if isinstance(out, (list, tuple)) else out
        if not self._finite(total, "generator"):
            self.opt_g.clear_grad()
            for t, old in zip(stats, saved):
                paddle.assign(old, t)
            return None
        self._update(total, self.opt_g, self.sched_g, self.scaler_g)
        if self.G_ema is not None:
            self._update_ema()
        out = {f"g_{k}": v.detach() for k, v in terms.items()}
        out["g_total"] = total.detach()
        if self.opt_d is not None:
            with self._autocast():
                real, fake = self.D_train(hr), self.D_train(sr.detach())
                loss_d = losses.adversarial_d_loss(real, fake)
            if self._finite(loss_d, "discriminator"):
                self._update(loss_d, self.opt_d, self.sched_d, self.scaler_d)
                out["d_loss"] = loss_d.detach()
                out["d_real_prob"] = paddle.nn.functional.sigmoid(real.astype("float32")).mean()
                out["d_fake_prob"] = paddle.nn.functional.sigmoid(fake.astype("float32")).mean()
            else:
                self.opt_d.clear_grad()
                d_stats = bn_statistics(self.D)
                for t, old in zip(stats[-len(d_stats):], saved[-len(d_stats):]):
                    paddle.assign(old, t)
        return out

    @paddle.no_grad()
    def _update_ema(self):
        """ema = d * ema + (1 - d) * weights for parameters; buffers (BN statistics) copied."""
        decay = self.tcfg["ema_decay"]
        ema, raw = self.G_ema.state_dict(), self.G.state_dict()
        learnable = {name for name, _ in self.G.named_parameters()}
        for name, value in raw.items():
            if name in learnable and not name.endswith(("_mean", "_variance")):
                paddle.assign(ema[name] * decay + value * (1.0 - decay), ema[name])
            else:
                paddle.assign(value, ema[name])

    def _average_bn_stats(self):
        """Data parallel: each rank's BN running statistics saw only its shard of the batch;
        average them so checkpoints and validation reflect all the data (every rank calls this
        at the same iterations)."""
        if self.world == 1:
            return
        for t in bn_statistics(self.G, self.D):
            paddle.distributed.all_reduce(t)
            paddle.assign(t / self.world, t)

    @property
    def G_eval(self):
        """The generator that is validated and exported: the EMA one when train.ema_decay."""
        return self.G_ema if self.G_ema is not None else self.G

    # ----------------------------------------------------------------------------- events
    def _validate(self):
        """PSNR/SSIM (Y and RGB) on the validation set, labelled LR | bicubic | SR | HR crops
        of the first `train.num_samples` images to VisualDL and samples/, best.pdparams.
        Rank 0 only; returns the evaluate() result with the crops under "samples"."""
        if not self.main:
            return None
        net = self.G_eval
        net.eval()
        samples = []
        bicubic_rows = {row["name"]: row for row in self.bicubic["per_image"]}
        scale, crop = self.cfg["scale"], self.tcfg["sample_crop"]

        def keep_sample(item, sr_image, row):
            if len(samples) < self.tcfg["num_samples"]:
                name = item["name"]
                panels = [("LR", item["lr_image"]),
                          (f"bicubic {bicubic_rows[name]['psnr']:.2f} dB",
                           bicubic_image(item["lr_image"], scale)),
                          (f"SR {row['psnr']:.2f} dB", sr_image), ("HR", item["hr"])]
                box = figures.centre_box(item["hr"].shape, crop, scale)
                samples.append((name, figures.comparison(panels, box)))

        result = evaluate(self.val_set, scale, net, on_image=keep_sample, rgb=True)
        if net is self.G:
            self.G.train()
        step = self.iteration
        self.log.scalars(_means(result), step, "val/")
        for name, strip in samples:
            self.log.image(f"val_samples/{name}", strip, step)
        metric = self.best["metric"]
        value = result[metric]
        improved = self.best["value"] is None or value > self.best["value"]
        if improved:
            self.best.update(value=value, iteration=step)
            atomic_save(net.state_dict(),
                             os.path.join(self.run_dir, "checkpoints", "best.pdparams"))
            atomic_save_json({**self.best, "psnr": result["psnr"], "ssim": result["ssim"]},
                                  os.path.join(self.run_dir, "checkpoints", "best.json"))
        self.log.info(f"validation @ {step}: {_scores(result, self.bicubic, self.level_scales)}"
                      + ("  * new best" if improved else ""))
        return {**result, "samples": samples}

    def _save(self):
        if not self.main:
            return
        phase = self._phase_index(self.iteration - 1) if self.iteration else 0
        state = {
            "iteration": self.iteration, "phase": phase,
            "G": self.G.state_dict(), "D": self.D.state_dict() if self.D is not None else None,
            "G_ema": self.G_ema.state_dict() if self.G_ema is not None else None,
            "opt_g": self.opt_g.state_dict() if self.opt_g else None,
            "opt_d": self.opt_d.state_dict() if self.opt_d else None,
            "scaler_g": self.scaler_g.state_dict(), "scaler_d": self.scaler_d.state_dict(),
            "best": self.best, "phase_results": self.phase_results,
            "nan_streak": self.nan_streak,
            "rng": {"python": random.getstate(), "numpy": np.random.get_state(),
                    "paddle": paddle.get_rng_state()},
            "config": {k: v for k, v in self.cfg.items() if not k.startswith("_")},
        }
        path = ckpt.save_checkpoint(state, self.run_dir, self.tcfg["keep_last"])
        self.log.info(f"checkpoint {path}")

    def _on_signal(self, signum, frame):
        self._stop_signal = signum

    def _hold_worker_errors(self):
        """Paddle reports a dead DataLoader worker by raising from its SIGCHLD handler, i.e.
        anywhere in this thread, possibly half way through a step or a checkpoint. Call after
        the loader's iterator exists (it installs that handler); _next_batch then runs it
        between iterations, where the state is that of the last completed one."""
        handler = signal.getsignal(signal.SIGCHLD) if hasattr(signal, "SIGCHLD") else None
        if callable(handler):
            self._paddle_sigchld = handler
            signal.signal(signal.SIGCHLD, self._on_child_exit)

    def _on_child_exit(self, signum, frame):
        self._child_exited = True

    def _next_batch(self, loader):
        """next(loader), after Paddle's check of exited workers held back by
        _hold_worker_errors (raises its error if one died)."""
        if self._child_exited:
            self._child_exited = False
            self._paddle_sigchld(signal.SIGCHLD, None)
        return next(loader)

    def _stop_after_loader_error(self, grace=3.0):
        """The loader failed (a worker died). When a platform stops a job it signals every
        process of the group and the workers may die first: wait up to `grace` seconds for
        this process's own SIGTERM/SIGINT. True if it came (a clean stop); else the last
        completed iteration is saved and False returned (the caller re-raises). With several
        ranks nothing is saved here: the others are not at this point, and the BN all-reduce
        of a save would wait for them forever."""
        deadline = time.monotonic() + grace
        while self._stop_signal is None and time.monotonic() < deadline:
            time.sleep(0.05)  # the signal handler runs between these sleeps
        if self._stop_signal is not None:
            return True
        if self.world == 1:
            self._save_unsaved()
        return False

    def _save_unsaved(self):
        """Checkpoint the current iteration unless the loop has just saved it."""
        if self.iteration % self.tcfg["save_interval"] and self.iteration not in self.bounds:
            self._average_bn_stats()
            self._save()

    def _stopping(self):
        """Has a stop signal arrived? With several ranks the answer is agreed on (max over
        ranks), so all of them leave the loop at the same iteration."""
        if self.world == 1:
            return self._stop_signal is not None
        flag = paddle.to_tensor([self._stop_signal or 0], dtype="int32")
        paddle.distributed.all_reduce(flag, op=paddle.distributed.ReduceOp.MAX)
        self._stop_signal = int(flag.numpy()[0]) or None
        return self._stop_signal is not None

    # ----------------------------------------------------------------------------- loop
    def run(self):
        """Train to the end of the last phase (or until SIGTERM/SIGINT). Returns a summary
        dict: {'iteration', 'stopped_by' (signal name or None), 'val', 'bicubic', 'best'}."""
        if self._resume_state is not None:
            self._restore(self._resume_state)
        elif self.tcfg["pretrained_g"]:
            ckpt.load_generator_weights(self.G, self.tcfg["pretrained_g"])
            self.log.info(f"generator initialised from {self.tcfg['pretrained_g']}")
        if self.main:
            self.log.info(f"device {self.device}, world size {self.world}, G "
                          f"{count_parameters(self.G):,} parameters"
                          + (f", D {count_parameters(self.D):,}" if self.D is not None else ""))
            self.bicubic = evaluate(self.val_set, self.cfg["scale"], rgb=True,
                                    level_scales=self.level_scales)
            self.log.scalars(_means(self.bicubic), self.iteration, "val_bicubic/")
        handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            return self._loop()
        finally:
            for s, h in handlers.items():
                signal.signal(s, h)
            if self._paddle_sigchld is not None:
                signal.signal(signal.SIGCHLD, self._paddle_sigchld)
            self.log.close()

    def _loop(self):
        total = self.bounds[-1]
        dataloader = build_train_loader(self.cfg, start_iter=self.iteration, rank=self.rank,
                                        world_size=self.world, dataset=self.train_set)
        iters_per_epoch = dataloader.batch_sampler.iters_per_epoch
        val_interval = self.tcfg["val_interval"]
        if self.tcfg["val_every_epochs"]:
            val_interval = self.tcfg["val_every_epochs"] * iters_per_epoch
        loader = iter(dataloader)
        self._hold_worker_errors()
        self.G_train.train()
        if self.D_train is not None:
            self.D_train.train()
        bar = tqdm(total=total, initial=self.iteration, disable=not self.main, dynamic_ncols=True,
                   desc="train")
        sums, count, data_time, t_log = {}, 0, 0.0, time.perf_counter()
        val = None
        phase = self._phase_index(self.iteration)
        while phase < len(self.phases) and not self._stopping():
            self._start_phase(phase)
            end = self.bounds[phase + 1]
            while self.iteration < end and not self._stopping():
                t0 = time.perf_counter()
                try:
                    batch = self._next_batch(loader)
                except Exception:
                    if not self._stop_after_loader_error():
                        raise
                    break
                data_time += time.perf_counter() - t0
                terms = self._step(batch)
                self.iteration += 1
                bar.update(1)
                if terms is not None:
                    for k, v in terms.items():
                        sums[k] = sums[k] + v if k in sums else v
                    count += 1
                if self.iteration % self.tcfg["log_interval"] == 0 and count:
                    elapsed = time.perf_counter() - t_log
                    means = {k: float(v) / count for k, v in sums.items()}  # host sync
                    means["lr_g"] = self.opt_g.get_lr()
                    means["epoch"] = self.iteration / iters_per_epoch
                    if self.opt_d is not None:
                        means["lr_d"] = self.opt_d.get_lr()
                    self.log.scalars(means, self.iteration, "train/")
                    n = self.tcfg["log_interval"]
                    self.log.scalars({"step_time": elapsed / n, "data_time": data_time / n},
                                     self.iteration, "time/")
                    bar.set_postfix({k: f"{v:.4g}" for k, v in means.items()
                                     if k.startswith(("g_", "d_loss"))}, refresh=False)
                    self.log.info(f"iter {self.iteration}/{total} " + " ".join(
                        f"{k} {v:.4g}" for k, v in means.items())
                        + f" | {elapsed / n * 1000:.0f} ms/it, data {data_time / n * 1000:.0f} ms/it")
                    sums, count, data_time, t_log = {}, 0, 0.0, time.perf_counter()
                phase_end = self.iteration == end
                validate = self.iteration % val_interval == 0 or phase_end
                if validate or self.iteration % self.tcfg["save_interval"] == 0:
                    self._average_bn_stats()
                if validate:
                    val = self._validate() or val
                if phase_end and self.main:
                    self.phase_results[self.phases[phase]["name"]] = _means(val)
                if self.iteration % self.tcfg["save_interval"] == 0 or phase_end:
                    self._save()
                if phase_end and self.main:
                    atomic_save(self.G_eval.state_dict(), os.path.join(
                        self.run_dir, "checkpoints", f"{self.phases[phase]['name']}_G.pdparams"))
            phase += 1
        bar.close()
        stopped = None
        if self._stop_signal is not None:
            stopped = signal.Signals(self._stop_signal).name
            self._save_unsaved()
            self.log.info(f"stopped by {stopped} at iteration {self.iteration}; continue with "
                          f"--resume")
        elif self.main:
            val = val or self._validate()
            self.log.info(f"finished {total} iterations. validation "
                          f"{_scores(val, self.bicubic, self.level_scales)}; best "
                          f"{self.best['metric']} {self.best['value']:.4f} at iteration "
                          f"{self.best['iteration']}")
            self._report(val)
        self.log.flush()
        return {"iteration": self.iteration, "stopped_by": stopped, "val": val,
                "bicubic": self.bicubic, "best": self.best, "phases": self.phase_results}

    def _report(self, val):
        """The end of a finished run: comparison.png (the last validation's crops), curves.png,
        and the verdict (bicubic vs each phase, where the weights are, what to run next)."""
        figure = os.path.join(self.run_dir, "comparison.png")
        if val["samples"]:
            write_image(figure, figures.stack([strip for _, strip in val["samples"]]))
        else:
            figure = None
        self.log.flush()
        curves = figures.plot_curves(self.log.scalars_path, os.path.join(self.run_dir, "curves.png"),
                                     phase_ends=self.bounds[1:-1], title=self.cfg["experiment"])
        self.log.block(report.training_verdict(
            self.cfg, self.run_dir, self.bicubic, self.phase_results, self.best,
            [p["name"] for p in self.phases], figure, curves))


def _scores(result, bicubic, level_scales):
    """'PSNR 27.12 dB, SSIM 0.8001 (bicubic 26.0 / 0.78)' per level for multi-level nets."""
    keys = [""] if len(level_scales) == 1 else [f"_x{s}" for s in level_scales]
    return "; ".join(
        f"{k[1:] + ' ' if k else ''}PSNR {result['psnr' + k]:.3f} dB, SSIM "
        f"{result['ssim' + k]:.4f} (bicubic {bicubic['psnr' + k]:.3f} / {bicubic['ssim' + k]:.4f})"
        for k in keys)


def _means(result):
    """The mean scores of an evaluate() result (per-image rows and sample crops left out)."""
    return {k: v for k, v in result.items() if k not in ("per_image", "samples")}


def train(cfg, resume=None):
    """Build a Trainer and run it; returns its summary (see Trainer.run)."""
    return Trainer(cfg, resume).run()

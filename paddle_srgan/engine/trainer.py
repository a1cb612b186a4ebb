"""The training loop: the phases of one run (e.g. SRResNet with pixel MSE, then SRGAN).

Life of a run:

    Trainer(cfg, resume)        records the config; no disk I/O
    .run()
      setup()                   device, distributed env, seed, networks (step.build_networks),
                                train + validation sets, the checkpoint to resume, run dir,
                                logger; then the checkpoint's state or pretrained G (and D)
      references                validation scores of bicubic, NIQE of the HR images: the
                                reference lines of every validation (engine.validation)
      for each remaining phase:
        start_phase             a step.PhaseStep: fresh Adam (+ MultiStepDecay) for G (and D),
                                or the checkpoint's optimizer state when resuming mid-phase
        for each iteration:     batch = next(loader)            data time
                                step(batch)                     G step (+ D step)
                                loss points          the loss terms' means for the
                                                     curves: the phase's first iteration,
                                                     then >= 25 per phase (curves.loss_point)
                                every log_interval   losses, D(real)/D(fake), lr, times
                                every val_interval   the metrics table's scores, labelled
                                                     samples, best.pdparams (engine.best)
                                every save_interval  checkpoint (checkpoint.py, atomic)
                                SIGTERM / SIGINT     checkpoint, then stop (engine.stop; also
                                                     when the DataLoader workers died first)
        phase end               network interpolation (PhaseStep.finish), validation,
                                checkpoint, <phase>_G.pdparams
      end of the run            comparison.png, curves.png, perception_distortion.png, the
                                verdict table (engine.verdict)

Iterations are global (they continue across phases and resumes): VisualDL steps, checkpoint
names and LR milestones (counted inside each phase) all derive from that one counter. Data
order depends only on (seed, iteration) (data.datasets), so a resumed run sees exactly the
batches the uninterrupted run would have seen.
"""
import os
import time

import numpy as np

from .. import checkpoint as ckpt
from ..compat import (
    batchnorm_training_note_silenced,
    import_paddle,
    lost_peer,
    seed_everything,
    use_device,
)
from ..config import config_differences, dump_config
from ..data.datasets import build_train_loader, build_train_set, build_val_set
from ..errors import InputError, first_line
from ..evaluation.evaluator import mean_scores
from ..models import count_parameters, level_scales
from ..storage import WriteError, atomic_write_text
from .best import best_record, check_chosen_metric, is_best
from .curves import loss_point, plot_curves
from .eta import RunProgress, phase_costs
from .logger import LossMeter, RunLogger
from .resume import resume_state
from .runlock import RunLock
from .step import NanGuard, PhaseStep, amp_level, build_networks
from .stop import StopRequests
from .validation import reference_scores, validate, validation_switches
from .verdict import end_of_run_report, score_line
from .write_guard import write_guard

paddle = import_paddle()


def run_dir_of(cfg):
    return os.path.join(cfg["output_dir"], cfg["experiment"])


class Trainer:
    """Two-phase SR training: the loop; see the module docstring for the order of events.

    The constructor only records the config (no disk I/O, nothing built); `setup()` (called
    by `run()`) builds the device, networks, data and run directory. One `PhaseStep`
    (engine/step.py) per phase does the optimisation; checkpoint.py owns the
    checkpoint format.

    Args:
        cfg: resolved config (config.load_config).
        resume: None (fresh run), 'auto' (newest readable checkpoint of the run directory) or
            a checkpoint path.
    """

    def __init__(self, cfg, resume=None):
        self.cfg = cfg
        self.resume = resume
        self.train_cfg = cfg["train"]
        self.phases = self.train_cfg["phases"]
        # phase_starts[i] .. phase_starts[i + 1]: the global iterations of phase i
        self.phase_starts = np.cumsum([0] + [p["iters"] for p in self.phases]).tolist()
        self.run_dir = run_dir_of(cfg)
        self.iteration = 0
        self.best = {"metric": self.train_cfg["best_metric"], "value": None, "iteration": None}
        self.phase_results = {}  # phase name -> validation means at the phase's end
        self.nets = self.step = self.guard = self.log = None
        self.bicubic = self.hr_reference = self.switches = None
        self._resume_state = None
        self._resumed = None  # restore_counters' counters of a resumed run
        self.stop = None  # StopRequests while run() runs
        self.lock = RunLock(self.run_dir)  # one trainer per run directory (rank 0 holds it)

    # ----------------------------------------------------------------------------- setup
    def setup(self):
        """Device, distributed environment, seed, networks, data sets and their bicubic / HR
        reference scores, the checkpoint to resume or the pretrained weights, then the run
        directory (locked against a second trainer) and logger. What can refuse to start (data
        folders, the checkpoint, pretrained weights) is checked before the run directory is
        made, so a failed start leaves no folder behind."""
        self.device = use_device(self.cfg["device"], self.cfg["cpu_threads"])
        self.world = paddle.distributed.get_world_size()
        if self.world > 1:
            paddle.distributed.init_parallel_env()
        self.rank = paddle.distributed.get_rank()
        self.is_main = self.rank == 0
        self.amp = amp_level(self.train_cfg["amp"], self.device)
        seed_everything(self.cfg["seed"])
        self.nets = build_networks(self.cfg, self.world)
        self.level_scales = level_scales(self.nets.G, self.cfg["scale"])
        self.val_set = build_val_set(self.cfg) if self.is_main else None
        self.train_set = build_train_set(self.cfg, self.level_scales)
        if self.is_main:
            self.switches = validation_switches(self.cfg)
            self.bicubic, self.hr_reference = reference_scores(
                self.val_set, self.cfg["scale"], self.level_scales, self.switches)
            check_chosen_metric(self.best, self.bicubic, self.cfg["datasets"]["val"]["hr_dir"])
        if self.is_main and os.path.isdir(self.run_dir):
            self.lock.acquire()  # before reading checkpoints another trainer may be writing
        self._resume_path, self._resume_state, skipped = resume_state(
            self.run_dir, self.resume, self.rank, self.world)
        if self._resume_state is not None:  # before config.yml is rewritten: a checkpoint
            # that does not fit this config stops the run with the run folder as it was
            ckpt.restore_networks(self._resume_state, self.nets, self._resume_path)
        pretrained = self._start_from_pretrained() if self._resume_state is None else []
        self._prepare_run_dir()
        if self.is_main:
            self.lock.acquire()
        self.log = RunLogger(self.run_dir, enabled=self.is_main)
        for message in skipped:
            self.log.info(f"warning: skipped the unreadable checkpoint {message}")
        for message in pretrained:
            self.log.info(message)
        self.guard = NanGuard(self.train_cfg["nan_guard"], self.train_cfg["max_nan_steps"],
                              self.world, self.log.info)
        return self

    def _prepare_run_dir(self):
        if self.is_main:
            folder = ckpt.checkpoints_dir(self.run_dir)
            try:
                os.makedirs(folder, exist_ok=True)
            except OSError as exc:  # a read-only file system, a file where a folder belongs
                raise WriteError.of(exc.filename or folder, exc) from None
            atomic_write_text(dump_config(self.cfg), os.path.join(self.run_dir, "config.yml"))

    def _restore(self, state):
        """Counters and RNG states of a checkpoint (its weights were set in setup, the
        optimizers come with their phase, in start_phase)."""
        diffs = config_differences(state.get("config", {}), self.cfg)
        if diffs:
            self.log.info("resuming with a changed config (the new values apply): "
                          + "; ".join(diffs))
        counters = ckpt.restore_counters(state)  # the weights came in setup
        self._resumed = counters  # its phase and step state: start_phase needs them
        self.iteration = counters["iteration"]
        self.best = counters["best"]
        self.phase_results = counters["phase_results"]
        self.guard.streak = counters["nan_streak"]
        self.log.info(f"resumed from {self._resume_path} at iteration {self.iteration}")

    def phase_of(self, iteration):
        """Index of the phase that global iteration `iteration` (0-based) belongs to;
        len(phases) past the end."""
        for i in range(len(self.phases)):
            if iteration < self.phase_starts[i + 1]:
                return i
        return len(self.phases)

    def start_phase(self, index):
        """The PhaseStep of phase `index` (fresh optimizers, or the checkpoint's when resuming
        inside this phase); also kept as `self.step`."""
        phase_cfg = self.phases[index]
        start = self.phase_starts[index]
        self.step = PhaseStep(self.nets, phase_cfg, self.train_cfg, self.cfg["losses"],
                              self.level_scales, self.guard, self.amp, self.iteration)
        if self.iteration > start:  # resuming inside this phase: its optimizer state is needed
            saved_in = self._resumed["phase"] if self._resumed else None
            if saved_in != index or self._resumed["step"] is None:
                raise ckpt.CheckpointError(
                    f"the checkpoint at iteration {self.iteration} was saved in phase "
                    f"{saved_in}, but train.phases puts that iteration in phase {index}: were "
                    f"the phases' iters changed?")
            self.step.set_state_dict(self._resumed["step"])
        self.log.info(f"phase {index + 1}/{len(self.phases)} '{phase_cfg['name']}': iterations "
                      f"{start + 1}..{self.phase_starts[index + 1]}, lr {phase_cfg['lr']}, "
                      f"losses {phase_cfg['losses']}")
        return self.step

    # ----------------------------------------------------------------------------- events
    def _validate(self):
        """The metrics on the validation set, labelled LR | bicubic | SR | HR crops of the
        first `train.num_samples` images to VisualDL and samples/, best.pdparams. Rank 0
        only; returns the evaluate() result with the crops under "samples"."""
        if not self.is_main:
            return None
        net = self.nets.G_eval
        net.eval()
        result = validate(self.val_set, self.cfg["scale"], net, self.bicubic,
                          self.train_cfg["num_samples"], self.train_cfg["sample_crop"],
                          self.switches)
        if net is self.nets.G:
            net.train()
        iteration = self.iteration
        self.log.scalars(mean_scores(result), iteration, "val/")
        for name, strip in result["samples"]:
            self.log.image(f"val_samples/{name}", strip, iteration)
        improved = is_best(result, self.bicubic, self.best,
                           self.train_cfg["best_min_psnr_gain"])
        if improved:
            self.best.update(value=result[self.best["metric"]], iteration=iteration)
            with write_guard(self.run_dir, iteration, "best.pdparams"):
                ckpt.save_best(self.run_dir, net.state_dict(), best_record(self.best, result))
        scores = score_line(result, self.bicubic, self.level_scales)
        self.log.info(f"validation @ {iteration}: {scores}" + ("  * new best" if improved else ""))
        return result

    def save(self):
        """Checkpoint the completed iterations (rank 0; atomic, keeps train.keep_last)."""
        if not self.is_main:
            return
        phase = self.phase_of(self.iteration - 1) if self.iteration else 0
        state = ckpt.training_state(self.iteration, phase, self.nets, self.step, self.best,
                                    self.phase_results, self.guard.streak, self.cfg)
        with write_guard(self.run_dir, self.iteration,
                         os.path.basename(ckpt.checkpoint_path(self.run_dir, self.iteration))):
            path = ckpt.save_checkpoint(state, self.run_dir, self.train_cfg["keep_last"])
        self.log.info(f"checkpoint {path}")

    def _save_unsaved(self):
        """Checkpoint the current iteration unless the loop has just saved it."""
        if self.iteration % self.train_cfg["save_interval"] and \
                self.iteration not in self.phase_starts:
            self.nets.average_bn_statistics(self.world)
            self.save()

    def _start_from_pretrained(self):
        """A fresh run's G and D from train.pretrained_g / train.pretrained_d (plain weights,
        e.g. converted published ones, or a training checkpoint's G / D). Called in setup,
        before the run directory is made: a missing or misfit file leaves no folder behind.
        Returns the log lines saying what was loaded."""
        loaded = []
        if self.train_cfg["pretrained_g"]:
            ckpt.load_generator_weights(self.nets.G, self.train_cfg["pretrained_g"])
            self.nets.restart_ema()
            loaded.append(f"generator initialised from {self.train_cfg['pretrained_g']}")
        if self.train_cfg["pretrained_d"]:  # the config makes sure a phase trains D
            ckpt.load_network_weights(self.nets.D, self.train_cfg["pretrained_d"], "D")
            loaded.append(f"discriminator initialised from {self.train_cfg['pretrained_d']}")
        return loaded

    # ----------------------------------------------------------------------------- loop
    def run(self):
        """Train to the end of the last phase (or until SIGTERM/SIGINT). Returns a summary
        dict: {'iteration', 'stopped_by' (signal name or None), 'val', 'bicubic', 'best',
        'phases' (validation at each finished phase's end)}."""
        if self.nets is None:
            try:
                self.setup()
            except BaseException:
                self.lock.release()  # a failed start holds nothing (in-process callers retry)
                raise
        if self._resume_state is not None:
            self._restore(self._resume_state)
        if self.is_main:
            D = self.nets.D
            self.log.info(f"device {self.device}, world size {self.world}, G "
                          f"{count_parameters(self.nets.G):,} parameters"
                          + (f", D {count_parameters(D):,}" if D is not None else ""))
            self.log.scalars(mean_scores(self.bicubic), self.iteration, "val_bicubic/")
            self.log.scalars(mean_scores(self.hr_reference), self.iteration, "val_hr/")
        try:
            with StopRequests(self.world) as self.stop, batchnorm_training_note_silenced():
                return self._loop()
        except RuntimeError as exc:
            if self.world > 1 and lost_peer(exc):
                raise InputError(
                    f"another process of this {self.world}-process job stopped answering after "
                    f"iteration {self.iteration} ({first_line(exc)}): start "
                    f"every machine's launcher again with --resume (rank 0's newest checkpoint "
                    f"in {ckpt.checkpoints_dir(self.run_dir)} on the first machine)") from None
            raise
        finally:
            self.log.close()
            self.lock.release()

    def _loop(self):
        total = self.phase_starts[-1]
        dataloader = build_train_loader(self.cfg, start_iter=self.iteration, rank=self.rank,
                                        world_size=self.world, dataset=self.train_set)
        self.iters_per_epoch = dataloader.batch_sampler.iters_per_epoch
        loader = iter(dataloader)
        self.stop.hold_worker_errors()
        for net in (self.nets.G_parallel, self.nets.D_parallel):
            if net is not None:
                net.train()
        meter, points = LossMeter(), LossMeter()  # the log line's means, the curves'
        val = None
        phase = self.phase_of(self.iteration)
        costs = (phase_costs(self.nets, self.phases, self.cfg["datasets"]["train"]["hr_crop"],
                             self.cfg["scale"]) if self.is_main else [1.0] * len(self.phases))
        with RunProgress(self.phases, costs, self.iteration, self.is_main) as progress:
            bar = progress.bar
            while phase < len(self.phases) and not self.stop.requested():
                phase_step = self.start_phase(phase)
                first, end = self.phase_starts[phase] + 1, self.phase_starts[phase + 1]
                while self.iteration < end and not self.stop.requested():
                    t0 = time.perf_counter()
                    try:
                        batch = self.stop.next_batch(loader)
                    except Exception as exc:
                        if not self.stop.after_loader_error(exc, self._save_unsaved):
                            raise
                        break
                    data_seconds = time.perf_counter() - t0
                    terms = phase_step(batch)
                    meter.add(terms, data_seconds)
                    points.add(terms, data_seconds)
                    self.iteration += 1
                    progress.advance(phase, self.iteration)
                    if loss_point(self.iteration, first, end, self.train_cfg["log_interval"]) \
                            and points.count:
                        self.log.losses(points, self.iteration)
                    if self.iteration % self.train_cfg["log_interval"] == 0 and meter.count:
                        self.log.progress(meter, phase_step.learning_rates(), self.iteration,
                                          total, self.iteration / self.iters_per_epoch, bar)
                    val = self._after_iteration(phase, val)
                phase += 1
        stopped = self.stop.name()
        if stopped is not None:
            self._save_unsaved()
            if self.is_main:
                self._plot_curves()
            self.log.info(f"stopped by {stopped} at iteration {self.iteration}; continue with "
                          f"--resume")
        elif self.is_main:
            val = val or self._validate()
            best = ("none qualified (train.best_min_psnr_gain)" if self.best["value"] is None
                    else f"{self.best['value']:.4f} at iteration {self.best['iteration']}")
            self.log.info(f"finished {total} iterations. validation "
                          f"{score_line(val, self.bicubic, self.level_scales)}; best "
                          f"{self.best['metric']} {best}")
            self.log.block(end_of_run_report(
                self.cfg, self.run_dir, val, self.bicubic, self.hr_reference,
                self.phase_results, self.best, [p["name"] for p in self.phases],
                self._plot_curves()))
        self.log.flush()
        return {"iteration": self.iteration, "stopped_by": stopped, "val": val,
                "bicubic": self.bicubic, "best": self.best, "phases": self.phase_results}

    def _after_iteration(self, phase, val):
        """Validation, checkpoint and the phase's generator file when they are due after
        the iteration just completed; returns the latest validation result."""
        every = self.train_cfg
        val_interval = every["val_interval"]
        if every["val_every_epochs"]:
            val_interval = every["val_every_epochs"] * self.iters_per_epoch
        phase_end = self.iteration == self.phase_starts[phase + 1]
        if phase_end:
            self.step.finish()  # before the phase end's validation, checkpoint and G file
        due_validation = self.iteration % val_interval == 0 or phase_end
        save = self.iteration % every["save_interval"] == 0 or phase_end
        if due_validation or save:
            self.nets.average_bn_statistics(self.world)
        if due_validation:
            val = self._validate() or val
        if save:
            if phase_end and self.is_main:
                self.phase_results[self.phases[phase]["name"]] = mean_scores(val)
            self.save()
        if phase_end and self.is_main:
            name = self.phases[phase]["name"]
            with write_guard(self.run_dir, self.iteration, f"{name}_G.pdparams"):
                ckpt.save_phase_weights(self.run_dir, name, self.nets.G_eval.state_dict())
        return val

    def _plot_curves(self):
        """curves.png of the run so far (also when stopped early); returns its path."""
        self.log.flush()
        phases = [(p["name"], start + 1, end) for p, start, end in
                  zip(self.phases, self.phase_starts, self.phase_starts[1:])]
        return plot_curves(self.log.scalars_path, os.path.join(self.run_dir, "curves.png"),
                           phases, title=self.cfg["experiment"])


def train(cfg, resume=None):
    """Build a Trainer and run it; returns its summary (see Trainer.run)."""
    return Trainer(cfg, resume).run()

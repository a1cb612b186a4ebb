"""One training step of a phase, as an object: `PhaseStep(nets, phase_cfg, ...)(batch)`.

    PhaseStep(batch)          targets: HR in G's range, USM-sharpened for the terms of
                                      losses.usm.targets (Real-ESRGAN)
                              g_step: G forward, objective (pixel / VGG / adversarial),
                                      NaN guard, G update, EMA update
                              d_step: D on real HR and on the detached SR, BCE, NaN guard,
                                      D update (phases with an adversarial term)
                              -> {loss term: 0-d tensor} (no host sync) or None (skipped)

It owns what lives for one phase: Adam for G (and D) with their MultiStepDecay schedules
(counted inside the phase), the AMP scalers, the objective, and for network interpolation
the generator's weights at the phase start (`finish()` blends them in at the phase end).
`state_dict()` / `set_state_dict()` carry all of it through a checkpoint. The networks
(`Networks`) and the NaN guard (`NanGuard`) outlive a phase and are passed in.
"""
import warnings
from dataclasses import dataclass
from typing import Optional

from .. import losses
from ..compat import import_paddle
from ..errors import UserError
from ..loss_settings import TARGET_TERMS, layer_weights
from ..models import (
    bn_statistics,
    build_discriminator,
    build_generator,
    build_vgg,
    final_level,
    level_key,
)
from ..usm import USMSharp

paddle = import_paddle()
unique_name = paddle.utils.unique_name


def amp_level(level, device):
    """The AMP level to train with: train.amp (None or O1, config.ALLOWED), fp32 (None) on
    the CPU, with a warning."""
    if level is not None and device == "cpu":
        warnings.warn("train.amp is set but training runs on the CPU: using fp32")
        return None
    return level


class TrainingError(UserError):
    """Training cannot go on (e.g. too many consecutive non-finite losses)."""


@dataclass
class Networks:
    """The networks of a run. `G_parallel` / `D_parallel` are what the step calls: the same
    layers, wrapped in paddle.DataParallel when several processes train."""

    G: object
    G_parallel: object
    G_ema: Optional[object] = None   # EMA of G's weights (train.ema_decay), else None
    D: Optional[object] = None       # None when no phase has an adversarial term
    D_parallel: Optional[object] = None
    perceptual: Optional[object] = None  # losses.PerceptualLoss when a phase needs VGG

    @property
    def G_eval(self):
        """The generator that is validated and saved: the EMA one when there is one."""
        return self.G_ema if self.G_ema is not None else self.G

    def restart_ema(self):
        """Start the EMA generator at G's current weights; called whenever weights are put
        into G from outside training (build, train.pretrained_g), or the average would begin
        at weights G never had."""
        if self.G_ema is not None:
            self.G_ema.set_state_dict(self.G.state_dict())

    def bn_statistics(self):
        """BN running statistics of G and D (the tensors every train-mode forward updates)."""
        return bn_statistics(self.G, self.D)

    def average_bn_statistics(self, world):
        """Data parallel: each rank's BN running statistics saw only its shard of the batch;
        average them so checkpoints and validation reflect all the data (every rank must call
        this at the same iterations)."""
        if world == 1:
            return
        for t in self.bn_statistics():
            paddle.distributed.all_reduce(t)
            paddle.assign(t / world, t)


def build_networks(cfg, world=1):
    """The networks `cfg`'s phases need: G (+ its EMA copy with train.ema_decay), D when a
    phase has an adversarial term, the VGG loss when one has a perceptual term; wrapped in
    DataParallel when `world` > 1 (paddle.distributed must be initialised)."""
    needs = {k for p in cfg["train"]["phases"] for k, w in p["losses"].items() if w}
    # train_settings.py refuses feature matching without an adversarial term in the same
    # phase, so D exists exactly when some phase trains it
    # One name scope for every layer of the run: parameter and optimizer-state names then
    # come out the same in a fresh and in a resumed process, so optimizer state reloads.
    with unique_name.guard():
        G = build_generator(cfg)
        # EMA of G's weights (BN statistics copied): smoother than the raw weights late in
        # training; it is what validation scores and best.pdparams holds.
        G_ema = build_generator(cfg) if cfg["train"]["ema_decay"] else None
        D = build_discriminator(cfg) if "adversarial" in needs else None
        perceptual = None
        if "perceptual" in needs:
            if cfg["vgg"]["weights"] == "none":
                warnings.warn("vgg.weights is 'none': the perceptual loss uses a RANDOM VGG19. "
                              "Fine for tests, meaningless for real training.")
            perceptual = losses.PerceptualLoss(
                build_vgg(cfg), cfg["vgg"]["feature_scale"],
                cfg["losses"]["perceptual"]["criterion"], G.output_range,
                layer_weights(cfg["vgg"]["layer"]))
    if G_ema is not None:
        G_ema.eval()
        for p in G_ema.parameters():
            p.stop_gradient = True
    parallel = paddle.DataParallel if world > 1 else (lambda layer: layer)
    nets = Networks(G=G, G_parallel=parallel(G), G_ema=G_ema, D=D,
                    D_parallel=parallel(D) if D is not None else None, perceptual=perceptual)
    nets.restart_ema()
    return nets


class NanGuard:
    """Skip steps whose loss is NaN/inf; stop the run after `limit` in a row.

    Args:
        enabled: train.nan_guard (False: every loss counts as finite, no host sync).
        limit: train.max_nan_steps.
        world: processes training together (all must skip the same steps).
        warn: callable(str) for the one-line warning of a skipped step.
    """

    def __init__(self, enabled, limit, world=1, warn=print):
        self.enabled, self.limit, self.world, self.warn = enabled, limit, world, warn
        self.streak = 0

    def passes(self, loss, what, iteration):
        """True if `loss` (a 0-d tensor) is finite on every rank; else count it, warn, and
        raise TrainingError once `limit` consecutive losses were not."""
        if not self.enabled:
            return True
        finite = paddle.isfinite(loss).all().astype("int32")
        if self.world > 1:  # every rank must skip together, or the gradient all-reduce hangs
            paddle.distributed.all_reduce(finite, op=paddle.distributed.ReduceOp.MIN)
        if bool(finite):  # the loop's one per-step host sync
            self.streak = 0
            return True
        self.streak += 1
        self.warn(f"warning: non-finite {what} loss at iteration {iteration}; step skipped "
                  f"({self.streak} in a row)")
        if self.streak >= self.limit:
            raise TrainingError(
                f"{self.streak} consecutive non-finite losses at iteration {iteration}: lower "
                f"the learning rate (train.phases.N.lr), check the data, or resume from an "
                f"earlier checkpoint")
        return False


class PhaseStep:
    """The training step of one phase.

    Args:
        nets: Networks.
        phase_cfg: one entry of train.phases ({'name', 'lr', 'lr_milestones', 'lr_gamma',
            'losses', 'network_interpolation'}); a phase whose adversarial weight is > 0 also
            trains D, whatever its name.
        train_cfg: the config's `train` section (beta1, beta2, ema_decay).
        losses_cfg: the config's `losses` section (pixel criterion, adversarial form, USM
            targets).
        level_scales: the scale of each output level of G, e.g. (4,) or (2, 4) for LapSRN.
        guard: the run's NanGuard.
        amp: None or an AMP level ('O1') for paddle.amp.auto_cast.
    """

    def __init__(self, nets, phase_cfg, train_cfg, losses_cfg, level_scales, guard, amp=None,
                 iteration=0):
        self.nets, self.guard, self.amp = nets, guard, amp
        self.level_scales = tuple(level_scales)
        self.ema_decay = train_cfg["ema_decay"]
        self.iteration = iteration  # the run's completed iterations (names them in warnings)
        self.interpolation = phase_cfg["network_interpolation"]
        # G at the phase start, for finish(); a resumed phase gets it from the checkpoint
        self.g_start = (None if self.interpolation == 1 else
                        {k: v.clone() for k, v in nets.G.state_dict().items()})

        def adam(params):
            # the schedule counts iterations inside the phase: it starts at 0 here
            schedule = paddle.optimizer.lr.MultiStepDecay(
                phase_cfg["lr"], phase_cfg["lr_milestones"], phase_cfg["lr_gamma"])
            return paddle.optimizer.Adam(learning_rate=schedule, beta1=train_cfg["beta1"],
                                         beta2=train_cfg["beta2"], parameters=params), schedule

        self.opt_g, self.schedule_g = adam(nets.G_parallel.parameters())
        adversarial = phase_cfg["losses"]["adversarial"] > 0
        self.opt_d, self.schedule_d = (adam(nets.D_parallel.parameters()) if adversarial
                                       else (None, None))
        self.adversarial_form = losses_cfg["adversarial"]["form"]
        self.scaler_g = paddle.amp.GradScaler(enable=bool(amp))
        self.scaler_d = paddle.amp.GradScaler(enable=bool(amp))
        # Real-ESRGAN's sharpened targets, for the listed terms this phase computes
        usm = losses_cfg["usm"]
        self.usm_terms = {t for t in usm["targets"] if phase_cfg["losses"][t] > 0}
        self.usm = (USMSharp(usm["weight"], usm["radius"], usm["threshold"])
                    if self.usm_terms else None)
        self.objective = losses.GeneratorObjective(
            phase_cfg["losses"], losses_cfg["pixel"], nets.perceptual,
            # the bare D: its weights get no gradient from this term (losses.frozen), so
            # DataParallel has nothing to all-reduce for it
            nets.D if adversarial else None, self.level_scales, self.adversarial_form)

    # ------------------------------------------------------------------------ state
    def state_dict(self):
        """Optimizer (with its schedule) and scaler states and the phase-start generator of
        network interpolation (None without), the checkpoint's entries."""
        return {"opt_g": self.opt_g.state_dict(),
                "opt_d": self.opt_d.state_dict() if self.opt_d is not None else None,
                "scaler_g": self.scaler_g.state_dict(), "scaler_d": self.scaler_d.state_dict(),
                "g_start": self.g_start}

    def set_state_dict(self, state):
        if self.g_start is not None:
            if state.get("g_start") is None:
                raise UserError("this phase has network_interpolation < 1, but the checkpoint "
                                "holds no phase-start generator to blend with (it was saved "
                                "without network_interpolation): resume with the config it "
                                "was saved with")
            self.g_start = state["g_start"]
        if self.opt_d is not None and state["opt_d"] is None:
            raise UserError("this phase trains D (losses.adversarial > 0), but the checkpoint "
                            "holds no D optimizer state (it was saved in a phase without "
                            "one): resume with the config it was saved with")
        self.opt_g.set_state_dict(state["opt_g"])
        self.scaler_g.load_state_dict(state["scaler_g"])
        if self.opt_d is not None:
            self.opt_d.set_state_dict(state["opt_d"])
            self.scaler_d.load_state_dict(state["scaler_d"])

    def learning_rates(self):
        """{'lr_g': float, 'lr_d': float (gan phases)} for the log."""
        rates = {"lr_g": self.opt_g.get_lr()}
        if self.opt_d is not None:
            rates["lr_d"] = self.opt_d.get_lr()
        return rates

    @paddle.no_grad()
    def finish(self):
        """At the phase end: network interpolation (Wang et al. 2018, ESRGAN, section 3.4),
        G = w * G + (1 - w) * G at the phase start, w = `network_interpolation`. After a
        pixel-loss phase, w picks a point between the PSNR model and the GAN one without
        retraining (the demo's GAN phase alone loses too much PSNR). No-op at w = 1."""
        if self.g_start is None:
            return
        w = self.interpolation
        for name, value in self.nets.G.state_dict().items():
            paddle.assign(value * w + self.g_start[name] * (1.0 - w), value)

    # ------------------------------------------------------------------------ the step
    def __call__(self, batch):
        """One step on `batch`: {'lr': float32 [N,C,h,w] in [0,1], 'hr': [N,C,H,W] in [0,1],
        and 'hr_x<s>' for each coarser level of a multi-level G}.

        Returns {name: 0-d tensor} of the loss terms (g_*, and d_loss, d_real, d_fake,
        d_real_prob, d_fake_prob in gan phases), or None if the generator step was skipped.
        A skipped step leaves no trace: BN running statistics, which every train-mode forward
        updates (NaN included), are put back from a device-side copy."""
        self.iteration += 1
        targets = self._targets(batch)
        stats = self.nets.bn_statistics() if self.guard.enabled else []
        saved = [t.clone() for t in stats]
        terms, sr = self.g_step(batch["lr"], targets)
        if terms is None:
            for t, old in zip(stats, saved):
                paddle.assign(old, t)
            return None
        if self.opt_d is not None:
            d_terms = self.d_step(final_level(targets["adversarial"]), sr.detach())
            if d_terms is None:
                d_stats = bn_statistics(self.nets.D)
                for t, old in zip(stats[-len(d_stats):], saved[-len(d_stats):]):
                    paddle.assign(old, t)
            else:
                terms.update(d_terms)
        return terms

    def _targets(self, batch):
        """{term: target in G's output range} for each of loss_settings.TARGET_TERMS: the HR
        batch, USM-sharpened (in [0, 1], before the range is mapped) for the terms of
        losses.usm.targets. A multi-level G (LapSRN) gets a list, coarse to fine: coarser
        levels have their own MATLAB-shrunk HR patches."""
        lo, hi = self.nets.G.output_range
        levels = [batch[level_key("hr", s)] for s in self.level_scales[:-1]] + [batch["hr"]]

        def in_range(images):
            images = [x * (hi - lo) + lo for x in images]
            return images if len(images) > 1 else images[0]
        plain = in_range(levels)
        sharp = in_range([self.usm(x) for x in levels]) if self.usm is not None else None
        return {t: sharp if t in self.usm_terms else plain for t in TARGET_TERMS}

    def _autocast(self):
        return paddle.amp.auto_cast(enable=bool(self.amp), level=self.amp or "O1")

    def g_step(self, lr, targets):
        """Generator update. Returns ({'g_<term>': 0-d tensor, 'g_total'}, finest SR) or
        (None, None) when the loss was not finite."""
        with self._autocast():
            out = self.nets.G_parallel(lr)
            total, terms = self.objective(out, targets)
        if not self.guard.passes(total, "generator", self.iteration):
            self.opt_g.clear_grad()
            return None, None
        self._update(total, self.opt_g, self.schedule_g, self.scaler_g)
        if self.nets.G_ema is not None:
            self._update_ema()
        result = {f"g_{k}": v.detach() for k, v in terms.items()}
        result["g_total"] = total.detach()
        return result, final_level(out)

    def d_step(self, real, fake):
        """Discriminator update on real HR (sharpened when losses.usm.targets lists
        'adversarial') and detached SR, both in G's output range; D sees the real batch first,
        as BasicSR's D steps do.
        Returns {'d_loss', 'd_real', 'd_fake' (its two terms), 'd_real_prob', 'd_fake_prob'}
        or None when not finite."""
        with self._autocast():
            real_logits, fake_logits = self.nets.D_parallel(real), self.nets.D_parallel(fake)
            loss, real_term, fake_term = losses.adversarial_d_terms(
                real_logits, fake_logits, self.adversarial_form)
        if not self.guard.passes(loss, "discriminator", self.iteration):
            self.opt_d.clear_grad()
            return None
        self._update(loss, self.opt_d, self.schedule_d, self.scaler_d)
        sigmoid = paddle.nn.functional.sigmoid
        return {"d_loss": loss.detach(), "d_real": real_term.detach(),
                "d_fake": fake_term.detach(),
                "d_real_prob": sigmoid(real_logits.astype("float32")).mean(),
                "d_fake_prob": sigmoid(fake_logits.astype("float32")).mean()}

    @staticmethod
    def _update(loss, optimizer, schedule, scaler):
        scaler.scale(loss).backward()
        with unique_name.guard():  # optimizer-state names independent of process history
            scaler.step(optimizer)
        scaler.update()
        optimizer.clear_grad()
        schedule.step()

    @paddle.no_grad()
    def _update_ema(self):
        """ema = d * ema + (1 - d) * weights for parameters; buffers (BN statistics) copied."""
        decay = self.ema_decay
        ema, raw = self.nets.G_ema.state_dict(), self.nets.G.state_dict()
        learnable = {name for name, _ in self.nets.G.named_parameters()}
        for name, value in raw.items():
            if name in learnable and not name.endswith(("_mean", "_variance")):
                paddle.assign(ema[name] * decay + value * (1.0 - decay), ema[name])
            else:
                paddle.assign(value, ema[name])

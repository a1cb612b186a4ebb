"""What a training checkpoint must hold: `checkpoint_problem` checks the dict that
checkpoint.load_checkpoint read (entries, types, ranges, usable RNG states) so that restoring
it cannot fail half-way; `step_state` reads the PhaseStep state of any checkpoint layout.
"""
import numbers
import random

import numpy as np

from .compat import import_paddle
from .safe_load import state_dict_problem

# the PhaseStep's entries, at the top level in checkpoints written before 'step' held them
_OLD_STEP_KEYS = ("opt_g", "opt_d", "scaler_g", "scaler_d")


def step_state(state):
    """The checkpoint's PhaseStep state (engine.step.PhaseStep.state_dict), or None before
    the first phase started; older checkpoints kept its entries at the top level."""
    step = state.get("step")
    if step is None and state.get("opt_g") is not None:
        step = {key: state.get(key) for key in _OLD_STEP_KEYS}
    return step


def _is_count(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0


def _rng_problem(rng):
    """What makes a checkpoint's 'rng' entry unusable by checkpoint.restore_training_state, or None;
    each state is tried on a generator of its own, so nothing global changes."""
    paddle = import_paddle()
    if not isinstance(rng, dict) or not {"python", "numpy", "paddle"} <= set(rng):
        return f"rng is {rng!r:.60}, expected {{python, numpy, paddle}} generator states"
    try:
        random.Random().setstate(rng["python"])
        np.random.RandomState().set_state(rng["numpy"])
    except (TypeError, ValueError, KeyError, IndexError, OverflowError) as exc:
        return f"rng holds an unusable generator state ({type(exc).__name__}: {exc})"
    state_class = type(paddle.get_rng_state()[0])
    states = rng["paddle"]
    if (not isinstance(states, list) or not states
            or not all(isinstance(s, state_class) for s in states)):
        return f"rng.paddle is {states!r:.60}, expected a list of Paddle GeneratorState"
    return None


# far beyond any run (10**9 iterations of batch 1 are weeks of GPU time), small enough
# that counters and schedules stay exact
MAX_ITERATION = 10 ** 9


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _best_problem(best, iteration):
    """What makes the trainer's best record unusable, or None: metric one of
    train.best_metric's values, value None or a finite number, iteration None or a count
    <= the checkpoint's."""
    from .config import ALLOWED
    if not isinstance(best, dict) or not {"metric", "value", "iteration"} <= set(best):
        return f"best is {best!r:.60}, expected {{metric, value, iteration}}"
    allowed, is_allowed = ALLOWED["train.best_metric"]
    if not is_allowed(best["metric"]):
        return f"best.metric is {best['metric']!r:.40}, expected {allowed}"
    value = best["value"]
    if value is not None and not (_is_number(value) and np.isfinite(value)):
        return f"best.value is {value!r:.40}, expected None or a finite number"
    done = best["iteration"]
    if done is not None and not (_is_count(done) and done <= iteration):
        return (f"best.iteration is {done!r:.40}, expected None or an int from 0 to the "
                f"checkpoint's iteration {iteration}")
    return None


def _step_problem(step):
    """What makes the PhaseStep state (engine.step.PhaseStep.state_dict) unusable by its
    set_state_dict, or None: opt_g, scaler_g, scaler_d dicts, opt_d a dict or None,
    g_start None or a state dict."""
    if step is None:
        return None
    if not isinstance(step, dict):
        return f"step is a {type(step).__name__}, expected a dict"
    for key in ("opt_g", "opt_d", "scaler_g", "scaler_d"):
        if not isinstance(step.get(key), dict) and not (key == "opt_d" and step.get(key) is None):
            return (f"step.{key} is {step.get(key)!r:.40}, expected an optimizer or scaler "
                    f"state dict" + (" or None" if key == "opt_d" else ""))
    problem = step.get("g_start") is not None and state_dict_problem(step["g_start"])
    return f"step.g_start {problem}" if problem else None


def _phase_results_problem(results):
    """None for {phase name: {metric: number}}, else what is wrong."""
    if results is None:
        return None
    if not isinstance(results, dict):
        return f"phase_results is a {type(results).__name__}, expected a dict"
    for name, scores in results.items():
        if not isinstance(scores, dict) or not all(
                isinstance(k, str) and _is_number(v) for k, v in scores.items()):
            return (f"phase_results[{name!r:.40}] is {scores!r:.60}, expected "
                    f"{{metric: number}}")
    return None


def checkpoint_problem(state):
    """What makes the dict `state` (tagged checkpoint.CHECKPOINT_FORMAT) unusable by
    checkpoint.restore_training_state and load_generator_weights, as a phrase, or None: G a state
    dict, D / G_ema state dicts or None, iteration (<= MAX_ITERATION) and nan_streak counts,
    phase a count or None, best {metric, value, iteration} (_best_problem), step a PhaseStep
    state or None (_step_problem), phase_results {phase: {metric: number}}, config a dict,
    usable RNG states. Whether the networks fit the config is checkpoint.restore_networks' check."""
    iteration = state.get("iteration")
    if not _is_count(iteration) or iteration > MAX_ITERATION:
        return f"iteration is {iteration!r:.40}, expected an int from 0 to {MAX_ITERATION}"
    for key, optional in (("G", False), ("D", True), ("G_ema", True)):
        if optional and state.get(key) is None:
            continue
        problem = state_dict_problem(state.get(key))
        if problem:
            return f"{key} {problem}"
    for key in ("phase", "nan_streak"):
        if state.get(key) is not None and not _is_count(state[key]):
            return f"{key} is {state[key]!r:.40}, expected an int >= 0"
    if state.get("config") is not None and not isinstance(state["config"], dict):
        return f"config is a {type(state['config']).__name__}, expected a dict"
    return (_best_problem(state.get("best"), iteration) or _step_problem(step_state(state))
            or _phase_results_problem(state.get("phase_results"))
            or _rng_problem(state.get("rng")))

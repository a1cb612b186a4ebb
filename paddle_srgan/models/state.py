"""Setting a state dict on a network strictly: every key and shape must fit, and a misfit is
reported in full (missing, unexpected and mis-shaped keys at once) instead of Paddle's warning
about the first one. Used by the checkpoint loader, the weight converter, VGG and LPIPS."""
from ..compat import import_paddle
from ..errors import InputError


class StateDictError(InputError):
    """A state dict does not fit a network; the message lists what is wrong."""


def load_state_strict(model, state, source="weights", origins=None, error=StateDictError,
                      subset=False):
    """Set `state` ({name: array or tensor}) on `model`; returns `model`.

    Args:
        source: what the state came from (a file name), for the message.
        origins: {our key: the file's key}, to name both in the message.
        error: the exception class raised (a subclass of ValueError).
        subset: True when `state` may hold keys `model` lacks (e.g. a full VGG19 for a
            truncated one): those are ignored, not reported.
    """
    paddle = import_paddle()
    origins = origins or {}

    def named(k):
        return f"{k} (file: {origins[k]})" if origins.get(k, k) != k else k

    own = model.state_dict()
    if subset:
        state = {k: v for k, v in state.items() if k in own}
    missing = sorted(set(own) - set(state))
    unexpected = [named(k) for k in sorted(set(state) - set(own))]
    shapes = [f"{named(k)}: file {list(state[k].shape)} vs model {list(own[k].shape)}"
              for k in sorted(set(own) & set(state)) if list(state[k].shape) != list(own[k].shape)]
    problems = []
    if missing:
        problems.append(f"missing {len(missing)}: {', '.join(missing[:8])}")
    if unexpected:
        problems.append(f"unexpected {len(unexpected)}: {', '.join(unexpected[:8])}")
    if shapes:
        problems.append(f"mis-shaped {len(shapes)}: {'; '.join(shapes[:8])}")
    if problems:
        exc = error(f"{source} does not fit {type(model).__name__}: " + " | ".join(problems))
        exc.summary = ", ".join(f"{kind} {n}" for kind, n in [
            ("missing", len(missing)), ("unexpected", len(unexpected)),
            ("mis-shaped", len(shapes))] if n)  # e.g. "missing 185, unexpected 40"
        raise exc
    model.set_state_dict({k: v if isinstance(v, paddle.Tensor) else paddle.to_tensor(v)
                          for k, v in state.items()})
    return model

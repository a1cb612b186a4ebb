"""best.pdparams: which validation of a run is the best (train.best_metric, its direction
from metrics.table, the floor train.best_min_psnr_gain) and what best.json records of it.

`best` everywhere here is the trainer's record {"metric", "value", "iteration"} (value and
iteration None until a validation qualifies), kept in every checkpoint.
"""
from ..errors import InputError
from ..metrics.table import DISTORTION, METRICS, metric


def check_chosen_metric(best, bicubic, val_hr_dir):
    """InputError when train.best_metric has no value on the validation set (bicubic's scores
    lack it: no image is one the metric can score), before any training."""
    if best["metric"] not in bicubic:
        raise InputError(
            f"train.best_metric is '{best['metric']}' but no validation image of "
            f"'datasets.val.hr_dir' ({val_hr_dir}) {metric(best['metric']).needs}")


def is_best(result, bicubic, best, min_psnr_gain):
    """Whether a validation result (evaluate() means) beats `best` in its metric's direction,
    among the results whose PSNR gain over bicubic reaches `min_psnr_gain` (None: no floor)."""
    if min_psnr_gain is not None and result[DISTORTION] - bicubic[DISTORTION] < min_psnr_gain:
        return False
    return metric(best["metric"]).better(result[best["metric"]], best["value"])


def best_record(best, result):
    """best.json of `best` updated to `result`: the record and the result's selectable
    metrics (those train.best_metric may name)."""
    return {**best, **{m.name: result[m.name] for m in METRICS
                       if m.selectable and m.name in result}}

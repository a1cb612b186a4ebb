"""A training run's validation: the metrics its config turns on (metrics.table's switches,
train.val_<name>), the bicubic and HR reference scores, and each validation's scores with
labelled LR | bicubic | SR | HR crops."""
from ..errors import InputError
from ..evaluation.evaluator import evaluate, evaluate_reference
from ..evaluation.figures import validation_figure
from ..metrics.table import switched, train_switches


def validation_switches(cfg):
    """{metric name: value} of the validation switches of `cfg`, a metric with weights
    (LPIPS) as its loaded network; InputError for an RGB metric on a one-channel validation."""
    switches = train_switches(cfg["train"])
    for m in switched():
        if switches[m.name] and m.channels == "rgb" and \
                cfg["datasets"]["val"]["channel"] is not None:
            raise InputError(f"'train.{m.switch}' needs RGB validation images; "
                             f"'datasets.val.channel' selects one channel")
        if switches[m.name] and m.loader is not None:
            switches[m.name] = m.load(switches[m.name])
    return switches


def reference_scores(val_set, scale, level_scales, switches):
    """(bicubic's validation scores, the HR images' own no-reference scores): the reference
    lines of every validation (evaluate() / evaluate_reference() results)."""
    bicubic = evaluate(val_set, scale, rgb=True, level_scales=level_scales, switches=switches)
    return bicubic, evaluate_reference(val_set, scale, switches)


def validate(val_set, scale, generator, bicubic, num_samples, crop, switches):
    """evaluate() with RGB scores, plus labelled LR | bicubic | SR | HR crops
    (evaluation.figures.validation_figure) of the first `num_samples` images under "samples"
    ([(name, uint8 strip)]). `bicubic` is evaluate()'s result for bicubic on the same set
    (its per-image PSNR labels the bicubic panels)."""
    samples = []
    bicubic_rows = {row["name"]: row for row in bicubic["per_image"]}

    def keep_sample(item, sr_image, row):
        if len(samples) < num_samples:
            samples.append((item["name"], validation_figure(
                item, sr_image, row, bicubic_rows[item["name"]], scale, crop)))

    result = evaluate(val_set, scale, generator, on_image=keep_sample, rgb=True,
                      switches=switches)
    return {**result, "samples": samples}

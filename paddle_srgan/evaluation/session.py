"""What tools/eval.py does, as a library call: the config and scale of the weights, the
metric switches of its flags (metrics.table), where results go, the generators, then the
evaluation, its results files, console table and figures."""
import functools
import os

from .. import cli
from ..config import load_config
from ..errors import InputError
from ..metrics.table import PERCEPTION, eval_switches, switched

ALL_SETS = ["Set5", "Set14", "B100", "Urban100", "DIV2K"]  # data.benchmarks.BENCHMARKS


def stem(path):
    return os.path.splitext(os.path.basename(path))[0]


def default_out(weights, scale, degrade=None, cfg=None):
    """The eval/ folder of a run: eval/<stem>[_vs_<stem>...] beside the first weights'
    checkpoints/ folder; for the bicubic baseline alone (no weights), eval/bicubic_x<scale>
    in the run directory of `cfg` (output_dir/experiment: -c), or in the config's
    output_dir (where runs go; `cfg` None: the default config's). With a degradation spec,
    '_<spec without colons>' is added (clean results are not overwritten)."""
    if degrade:
        return default_out(weights, scale, cfg=cfg) + "_" + degrade.replace(":", "")
    if not weights:
        folder = (os.path.join(cfg["output_dir"], cfg["experiment"]) if cfg is not None
                  else load_config()["output_dir"])
        return os.path.join(folder, "eval", f"bicubic_x{scale}")
    folder = os.path.dirname(os.path.abspath(weights[0]))
    if os.path.basename(folder) == "checkpoints":
        folder = os.path.dirname(folder)
    return os.path.join(folder, "eval", "_vs_".join(stem(w) for w in weights))


def method_names(weights):
    """The results' name of each weights file: its stem (gan_G, best; the path when stems
    repeat), so a table row says which file it scored."""
    stems = [stem(w) for w in weights]
    return stems if len(set(stems)) == len(stems) else list(weights)


def add_metric_flags(parser):
    """A flag per switched metric of metrics.table: --no-<name> for one that is on (NIQE,
    MS-SSIM), --<name> WEIGHTS for one that needs weights (LPIPS)."""
    for m in switched():
        if m.loader is not None:
            parser.add_argument(f"--{m.name}", metavar="WEIGHTS", help=m.help)
        else:
            parser.add_argument(f"--no-{m.name}", action="store_true", help=m.help)


def config_and_scale(args):
    """(config or None, scale) of the evaluation: the weights' config and its scale (--scale
    must agree), or for --bicubic-only --scale, the -c config's, else 4."""
    if args.bicubic_only:
        cfg = cli.config_from_args(args) if args.config else None
        return cfg, args.scale or (cfg["scale"] if cfg else 4)
    if not args.weights:
        raise InputError("give --weights FILE [FILE ...] (with -c CONFIG unless they lie in "
                         "a training run's checkpoints/ folder), or --bicubic-only")
    cfg = cli.config_from_args(args, args.weights[0])
    if args.scale and args.scale != cfg["scale"]:
        raise InputError(f"--scale {args.scale} differs from the config's scale {cfg['scale']}")
    return cfg, cfg["scale"]


def metric_switches(args, channel):
    """({metric name: value} of the flags of `add_metric_flags`, with loaded networks for
    given weights, {metric name: weights file}); InputError for an RGB metric when the
    config evaluates one channel."""
    switches, weights = eval_switches(), {}
    for m in switched():
        if m.loader is None:
            switches[m.name] = not getattr(args, f"no_{m.name}")
        elif getattr(args, m.name):
            if channel is not None and m.channels == "rgb":
                raise InputError(f"--{m.name} needs RGB evaluation; this config evaluates one "
                                 f"channel")
            weights[m.name] = getattr(args, m.name)
            switches[m.name] = m.load(weights[m.name])
    return switches, weights


def run(args):
    """tools/eval.py's work for its parsed `args`; prints the table and where results went.
    What can be refused (config, scale, degradation spec, output folder, results files,
    benchmark images, weights) is, before any image is scored."""
    cfg, scale = config_and_scale(args)
    channel = cfg["datasets"]["val"]["channel"] if cfg else None
    from ..data.degrade_spec import canonical
    degrade = canonical(args.degrade)  # a bad spec fails here, before any work
    weights = [] if args.bicubic_only else args.weights
    out_dir = args.out or default_out(weights, scale, degrade, cfg)
    cli.check_output_folder(out_dir, "--out")  # before any work
    from .results import check_result_files
    check_result_files(out_dir)

    from ..data.benchmarks import open_benchmark_sets
    sets = open_benchmark_sets(args.data_root, args.datasets, scale, args.lr_from, channel,
                               degrade)
    switches, metric_weights = metric_switches(args, channel)

    from . import evaluator, figures, results
    generators = {}
    named = dict(zip(method_names(weights), weights))
    if named:
        from ..checkpoint import load_generator
        from ..compat import use_device
        use_device(cfg["device"], cfg["cpu_threads"])
        for name, path in named.items():
            generators[name] = load_generator(cfg, path, args.use_ema, args.override)
            generators[name].eval()

    from tqdm import tqdm
    writer = figures.EvalImageWriter(out_dir, scale, args.save_images, args.figures,
                                     methods=["bicubic", *generators])
    scores = evaluator.evaluate_sets(sets, scale, generators, switches, on_image=writer,
                                     progress=functools.partial(tqdm, leave=False))
    meta = evaluator.evaluation_meta(scale, channel, args.lr_from, sets, named, args.use_ema,
                                     switches, metric_weights, degrade)
    results.write_results(out_dir, scores, meta)
    print(results.console_table(scores, degrade))
    written = ["results.json", "per_image.csv", "results.md"]
    if args.save_images:
        written.append("images/")
    if args.figures:
        written.append("figures/")
    if args.figures and switches.get(PERCEPTION, True):
        figures.plot_perception_distortion(
            figures.perception_distortion_panels(scores),
            os.path.join(out_dir, "perception_distortion.png"), title=f"x{scale}")
        written.append("perception_distortion.png")
    print(f"\nwrote {os.path.join(out_dir, '')}: {', '.join(written)}")
    return 0

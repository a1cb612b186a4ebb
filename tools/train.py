#!/usr/bin/env python
"""Train SRResNet / SRGAN: the phases of a config (e.g. MSE then GAN) in one run.

Examples:
    python tools/train.py -c configs/demo.yml                  # a few CPU minutes, bundled images
    python tools/train.py -c configs/srgan.yml                 # the paper's recipe on DIV2K
    python tools/train.py -c configs/srgan.yml --resume        # continue after an interruption
    python tools/train.py -c configs/srgan.yml -o train.batch_size=8 --print-config
    python -m paddle.distributed.launch --devices 0,1 tools/train.py -c configs/srgan.yml

The run directory is output_dir/experiment: config.yml, checkpoints/, vdl/, log.txt,
scalars.jsonl, samples/, and at the end comparison.png, curves.png and a verdict table.
Watch it with: visualdl --logdir <output_dir>
SIGTERM / Ctrl-C save a checkpoint and stop (exit code 143 / 130); --resume continues.
"""
import signal
import sys

from paddle_srgan import cli


def main(argv=None):
    ap = cli.parser(__doc__)
    ap.add_argument("--resume", nargs="?", const="auto", default=None, metavar="CHECKPOINT",
                    help="continue a run: the newest checkpoint of its run directory, or the "
                         "given checkpoint file")
    ap.add_argument("--print-config", action="store_true",
                    help="print the resolved config (defaults + file + overrides) and exit")
    args = ap.parse_args(argv)
    cfg = cli.config_from_args(args)
    if args.print_config:
        from paddle_srgan.config import dump_config
        print(dump_config(cfg), end="")
        return 0
    from paddle_srgan.engine.trainer import run_dir_of, train
    cli.check_output_folder(run_dir_of(cfg), "output_dir")  # before the data and networks
    summary = train(cfg, resume=args.resume)
    if summary["stopped_by"]:
        return 128 + signal.Signals[summary["stopped_by"]].value
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))

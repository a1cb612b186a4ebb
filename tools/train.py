#!/usr/bin/env python
"""Train SRResNet / SRGAN: the phases of a config in one run.

Examples:
    python tools/train.py -c configs/srgan.yml
    python tools/train.py -c configs/srgan.yml -o train.batch_size=8 --print-config
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from paddle_srgan import cli  # noqa: E402


def main(argv=None):
    ap = cli.parser(__doc__)
    ap.add_argument("--print-config", action="store_true",
                    help="print the resolved config (defaults + file + overrides) and exit")
    args = ap.parse_args(argv)
    cfg = cli.config_from_args(args)
    if args.print_config:
        from paddle_srgan.config import dump_config
        print(dump_config(cfg), end="")
        return 0
    from paddle_srgan.engine.trainer import train
    train(cfg)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))

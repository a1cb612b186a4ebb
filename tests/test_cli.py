"""Tool behaviour shared by every CLI: the missing-Paddle message, --help without Paddle."""
import subprocess
import sys

from conftest import ROOT

# Runs tools/<tool>.py as __main__ in a Python where `import paddle` fails.
NO_PADDLE = """
import runpy, sys
sys.modules["paddle"] = None  # makes `import paddle` raise ImportError
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def run_without_paddle(tool, *args):
    return subprocess.run([sys.executable, "-c", NO_PADDLE, str(ROOT / "tools" / f"{tool}.py"),
                           *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_missing_paddle_is_one_line_naming_the_extras():
    proc = run_without_paddle("train", "-c", ROOT / "configs" / "demo.yml")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: PaddlePaddle is not installed. Install paddle-srgan[cpu] (pip install "
        "paddlepaddle) or paddle-srgan[gpu] (pip install paddlepaddle-gpu); on AI Studio, "
        "paddle is already there."]


def test_help_and_print_config_need_no_paddle():
    for tool in ("train", "eval", "export", "infer", "prepare_data", "convert_weights", "app"):
        proc = run_without_paddle(tool, "--help")
        assert proc.returncode == 0 and "usage:" in proc.stdout, (tool, proc.stderr)
    proc = run_without_paddle("train", "-c", ROOT / "configs" / "srgan.yml", "--print-config")
    assert proc.returncode == 0 and "network_g" in proc.stdout


def test_repeated_override_flags_accumulate():
    """`-o a=1 -o b=2` keeps both (argparse's default 'store' would silently drop a=1)."""
    from paddle_srgan import cli
    args = cli.parser("t").parse_args(["-c", str(ROOT / "configs" / "demo.yml"),
                                       "-o", "seed=7", "train.batch_size=2", "-o", "scale=2"])
    cfg = cli.config_from_args(args)
    assert (cfg["seed"], cfg["train"]["batch_size"], cfg["scale"]) == (7, 2, 2)

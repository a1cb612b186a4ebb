"""Tool behaviour shared by every CLI: the missing-Paddle message, --help without Paddle,
one-line user errors and tracebacks for bugs."""
import os
import subprocess
import sys

import pytest

from paddle_srgan import cli

from conftest import ROOT, UNWRITABLE, child_env, run_tool


def run_without_paddle(tool, *args):
    return run_tool(tool, *args, without=["paddle"], check=False)


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
    args = cli.parser("t").parse_args(["-c", str(ROOT / "configs" / "demo.yml"),
                                       "-o", "seed=7", "train.batch_size=2", "-o", "scale=2"])
    cfg = cli.config_from_args(args)
    assert (cfg["seed"], cfg["train"]["batch_size"], cfg["scale"]) == (7, 2, 2)


def test_eval_and_infer_keep_every_override(tmp_path):
    """eval.py and infer.py once defined -o themselves and kept only the last one: here the
    1-block weights would then meet the config's 2-block network and fail to load."""
    import paddle

    from paddle_srgan.models import SRResNet

    from conftest import SET5, run_tool
    weights = tmp_path / "g.pdparams"
    paddle.save(SRResNet(num_feat=8, num_block=1).state_dict(), str(weights))
    cfg = tmp_path / "tiny.yml"
    cfg.write_text("network_g: {type: SRResNet, num_feat: 8, num_block: 2}\n")
    override = ["-o", "network_g.num_block=1", "-o", "device=cpu"]
    run_tool("eval", "-c", cfg, *override, "--weights", weights, "--data-root", SET5.parent,
             "--datasets", "Set5", "--out", tmp_path / "eval")
    run_tool("infer", "-c", cfg, *override, "--weights", weights, "--input",
             SET5 / "LR_bicubic" / "X4" / "baby.png", "--output", tmp_path / "sr")
    assert (tmp_path / "sr" / "baby_x4.png").is_file()


def test_only_user_errors_are_one_line_messages(capsys):
    from paddle_srgan.config import ConfigError
    from paddle_srgan.errors import InputError, MissingPackageError

    def failing(exc):
        def main(argv):
            raise exc
        return main
    for exc in (InputError("bad value"), ConfigError("x.yml: bad key"),
                MissingPackageError("pip install it"), FileNotFoundError("no such file: a.png")):
        assert cli.run(failing(exc), []) == 2
        assert capsys.readouterr().err == f"error: {exc}\n"
    # anything else is a bug: it keeps its traceback
    for exc in (ValueError("a bug"), KeyError("best"), ImportError("a broken install")):
        with pytest.raises(type(exc)):
            cli.run(failing(exc), [])


def test_debug_shows_the_traceback_of_a_user_error():
    from paddle_srgan.errors import InputError

    def main(argv):
        raise InputError("bad value")
    assert cli.run(main, []) == 2
    with pytest.raises(InputError, match="bad value"):
        cli.run(main, ["--debug"])


def test_a_gpu_asked_for_on_a_cpu_only_paddle_is_one_line():
    """The whole output, warnings not silenced: Paddle 3's import warning about ccache was
    the first line users saw."""
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "train.py"), "-c",
                           str(ROOT / "configs" / "demo.yml"), "-o", "device=gpu"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env=child_env(unset=["PYTHONWARNINGS"]))
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "error: device: gpu was asked for, but Paddle sees no GPU (CPU-only paddlepaddle "
        "installed, or no CUDA device): use device=auto or cpu")


def test_sigterm_stops_a_tool_in_one_line_without_paddles_crash_dump(tmp_path):
    """Paddle's own SIGTERM handler answers with a 15-line "FatalError: Termination signal"
    dump; the tools take SIGTERM back after importing Paddle and stop with one line, exit code
    143, and no half-written file left behind."""
    import signal

    import paddle
    import skimage.data

    from paddle_srgan.data.io import write_image
    from paddle_srgan.models import SRResNet
    paddle.seed(0)
    weights = tmp_path / "g.pdparams"
    paddle.save(SRResNet(num_feat=8, num_block=1).state_dict(), str(weights))
    config = tmp_path / "tiny.yml"
    config.write_text("network_g: {type: SRResNet, num_feat: 8, num_block: 1}\ndevice: cpu\n")
    for i in range(3):
        write_image(tmp_path / "in" / f"photo{i}.png", skimage.data.astronaut())
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tools" / "infer.py"), "-c", str(config), "--weights",
         str(weights), "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"),
         "--tile", "8"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        env=child_env(PYTHONWARNINGS="ignore"))
    seen = ""
    while "super-resolving" not in seen:  # the progress bar: it is working on the images
        char = proc.stderr.read(1)
        assert char, f"infer ended before working: {seen}"
        seen += char
    proc.send_signal(signal.SIGTERM)  # minutes of work are left (3 photos in 8x8 tiles)
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) == 143, rest
    assert "FatalError" not in rest and "Traceback" not in rest
    assert rest.strip().splitlines()[-1] == "stopped by SIGTERM"
    assert not [p for p in (tmp_path / "out").glob("*") if ".tmp" in p.name]


@pytest.mark.parametrize("stop, code, line", [
    (cli.Terminated(), 143, "stopped by SIGTERM"), (KeyboardInterrupt(), 130, "interrupted")])
def test_a_signal_inside_a_progress_bars_constructor_still_stops_on_a_line_of_its_own(
        capsys, stop, code, line):
    """SIGTERM can land inside tqdm's constructor right after it drew the bar (seen in CI:
    ':   0%|...| 0/3 [00:00<?, ?img/s]stopped by SIGTERM'); the bar is left live with its line
    unfinished, and must neither take the tool's last line nor be redrawn after it."""
    from tqdm import tqdm

    class InterruptedWhileDrawing(tqdm):
        def refresh(self, *args, **kwargs):
            super().refresh(*args, **kwargs)
            raise stop

    def main(argv):
        InterruptedWhileDrawing(range(3), desc="super-resolving")

    assert cli.run(main, []) == code
    err = capsys.readouterr().err
    assert "super-resolving" in err and err.splitlines()[-1] == line
    # it left tqdm's table: a later bar of the process is drawn on its own line, not below it
    assert not [bar for bar in tqdm._instances if isinstance(bar, InterruptedWhileDrawing)]


def test_an_output_folder_that_is_a_file_is_refused_before_any_work(tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("a file")
    for tool, flag, extra in (
            ("eval", "--out", ["--bicubic-only", "--datasets", "Set5"]),
            ("infer", "--output", ["-c", ROOT / "configs" / "demo.yml", "--weights",
                                   tmp_path / "missing.pdparams", "--input", tmp_path])):
        for out in (taken, taken / "sub"):
            proc = run_tool(tool, flag, out, *extra, check=False)
            assert proc.returncode == 2
            assert proc.stderr.strip().splitlines() == [
                f"error: {flag} {out}: {taken} is a file, not a folder"], (tool, proc.stderr)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """A training run folder as tools/train.py leaves it for the demo (config.yml as the
    trainer writes it, checkpoints/gan_G.pdparams), with a tiny MSRResNet."""
    import paddle

    from paddle_srgan.config import dump_config, load_config
    from paddle_srgan.models import build_generator
    run = tmp_path_factory.mktemp("output") / "demo_x4"
    (run / "checkpoints").mkdir(parents=True)
    cfg = load_config(ROOT / "configs" / "demo.yml",
                      ["network_g.num_feat=8", "network_g.num_block=1", "device=cpu"])
    (run / "config.yml").write_text(dump_config(cfg))
    paddle.seed(0)
    weights = run / "checkpoints" / "gan_G.pdparams"
    paddle.save(build_generator(cfg).state_dict(), str(weights))
    return {"run": run, "config": run / "config.yml", "weights": weights}


def test_weights_in_a_run_folder_find_the_runs_config(demo_run, tmp_path):
    """export, infer and eval without -c read <run>/config.yml for <run>/checkpoints/X and
    say so on stderr (the page takes the same runner arguments)."""
    import yaml

    from conftest import SET5
    weights, config = demo_run["weights"], demo_run["config"]
    note = f"config: {config} (the run's, beside the weights)"
    proc = run_tool("export", "--weights", weights, "--out", tmp_path / "exported" / "demo_x4")
    assert note in proc.stderr
    meta = yaml.safe_load((tmp_path / "exported" / "demo_x4.yml").read_text())
    assert meta["config"] == str(config) and meta["model"]["type"] == "MSRResNet"
    proc = run_tool("infer", "--weights", weights, "--input",
                    SET5 / "LR_bicubic" / "X4" / "baby.png", "--output", tmp_path / "sr")
    assert note in proc.stderr and (tmp_path / "sr" / "baby_x4.png").is_file()
    proc = run_tool("eval", "--weights", weights, "--data-root", SET5.parent, "--datasets",
                    "Set5", "--no-niqe", "--out", tmp_path / "eval")
    assert note in proc.stderr and (tmp_path / "eval" / "results.json").is_file()
    args = cli.model_parser("app").parse_args(["--weights", str(weights)])  # tools/app.py's
    assert cli.runner_arguments(args)["config"] == str(config)


def test_weights_outside_a_run_folder_need_c(demo_run, tmp_path):
    from paddle_srgan.config import ConfigError
    loose = tmp_path / "gan_G.pdparams"
    loose.write_bytes(demo_run["weights"].read_bytes())
    with pytest.raises(ConfigError, match=r"give the model config with -c: .*gan_G\.pdparams "
                                          r"does not lie in a training run's checkpoints/"):
        cli.config_from_args(cli.parser("t", config="optional").parse_args([]), str(loose))


def test_a_config_that_does_not_fit_the_weights_names_the_runs_config(demo_run, tmp_path):
    """The README's -c configs/srgan.yml with the demo's weights: one line naming the run's
    config.yml, which fits; without such a config.yml the plain key list stays."""
    from paddle_srgan.checkpoint import WeightsMisfitError
    from paddle_srgan.deploy.runners import load_runner
    weights, config = demo_run["weights"], demo_run["config"]
    srgan = ROOT / "configs" / "srgan.yml"
    proc = run_tool("export", "-c", srgan, "--weights", weights, "--out", tmp_path / "x",
                    check=False)
    assert proc.returncode == 2
    line, = proc.stderr.strip().splitlines()
    assert line.startswith(f"error: {weights} does not fit the SRResNet of {srgan} (missing ")
    assert line.endswith(f"; they fit {config}, the config of the run they come from: give "
                         f"-c {config} or leave -c out")
    with pytest.raises(WeightsMisfitError, match=f"they fit {config}"):  # infer, the page
        load_runner(config=str(srgan), weights=str(weights), device="cpu")
    other = tmp_path / "other" / "checkpoints"  # a run whose config.yml does not fit either
    other.mkdir(parents=True)
    (other.parent / "config.yml").write_text("network_g: {type: LapSRN, num_feat: 8}\n")
    (other / "g.pdparams").write_bytes(weights.read_bytes())
    with pytest.raises(WeightsMisfitError) as plain:
        load_runner(config=str(srgan), weights=str(other / "g.pdparams"), device="cpu")
    assert "they fit" not in str(plain.value) and "does not fit SRResNet: missing" in str(
        plain.value)



@pytest.mark.skipif(not os.path.isdir(UNWRITABLE), reason="no /sys (not Linux)")
def test_an_unwritable_output_folder_is_refused_before_any_work(tmp_path):
    """eval used to compute every metric, export to trace the model and make-lr to make its
    images before the write failed with an OSError traceback: one line now, up front."""
    out = os.path.join(UNWRITABLE, "paddle_srgan_results")
    (tmp_path / "hr").mkdir()
    missing = tmp_path / "missing.pdparams"
    for tool, flag, args in (
            ("eval", "--out", ["--bicubic-only", "--datasets", "Set5", "--out", out]),
            ("infer", "--output", ["-c", ROOT / "configs" / "demo.yml", "--weights", missing,
                                   "--input", tmp_path, "--output", out]),
            ("export", "--out", ["-c", ROOT / "configs" / "demo.yml", "--weights", missing,
                                 "--out", os.path.join(out, "x4")]),
            ("prepare_data", "--out", ["make-lr", "--hr", tmp_path / "hr", "--out", out])):
        proc = run_tool(tool, *args, check=False)
        assert proc.returncode == 2, (tool, proc.stderr)
        assert proc.stderr.strip().splitlines() == [
            f"error: {flag} {out}: cannot write in {UNWRITABLE} (Permission denied)"], tool


def test_numeric_flags_are_range_checked():
    """--threads -1 used to reach the runner and --port 99999 Gradio (a traceback): refused
    by the parser, naming the flag."""
    parse = cli.model_parser("test").parse_args
    assert parse(["--threads", "3"]).threads == 3
    assert parse(["--threads", "1024"]).threads == 1024
    for value in ("-1", "0", "two", "100000"):  # 100000: OpenMP aborted with a C++ trace
        with pytest.raises(SystemExit) as stop:
            parse(["--threads", value])
        assert stop.value.code == 2
    port = cli.PORT
    assert port("1") == 1 and port("65535") == 65535
    for tool, flag, value, rule in (
            ("app", "--port", "99999", "an integer >= 1 and <= 65535"),
            ("app", "--port", "0", "an integer >= 1 and <= 65535"),
            ("app", "--max-pixels", "inf", "a number >= 1"),
            ("app", "--max-file-mb", "0", "a number > 0"),
            ("infer", "--threads", "-1", "an integer >= 1 and <= 1024"),
            ("eval", "--scale", "0", "an integer >= 1")):
        proc = run_tool(tool, flag, value, *(["--model", "x"] if tool != "eval" else []),
                        check=False)
        assert proc.returncode == 2
        assert proc.stderr.strip().splitlines()[-1] == \
            f"{tool}.py: error: argument {flag}: expected {rule}, got '{value}'"

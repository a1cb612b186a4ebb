"""Every script in benchmarks/ runs, in its --smoke mode (seconds, numbers meaningless), and
prints one JSON object: a refactor cannot break a benchmark silently (bench_train.py once
drove trainer internals that a later split removed)."""
import json
import subprocess
import sys

import pytest

from conftest import ROOT, SET5, child_env, manual_text

SCRIPTS = sorted(p.name for p in (ROOT / "benchmarks").glob("*.py"))


def figure_arguments(tmp):
    """make_realworld_figure.py draws two trained generators: here tiny random MSRResNets,
    each in a run folder with its config.yml, as training leaves them; Set5's baby as the
    photo."""
    import paddle
    import yaml

    from paddle_srgan.models import MSRResNet
    args = []
    for kind in ("clean", "realworld"):
        run = tmp / kind
        (run / "checkpoints").mkdir(parents=True)
        (run / "config.yml").write_text(yaml.safe_dump({
            "network_g": {"type": "MSRResNet", "num_feat": 8, "num_block": 1},
            "device": "cpu"}))
        paddle.seed(0)
        weights = run / "checkpoints" / "G.pdparams"
        paddle.save(MSRResNet(num_feat=8, num_block=1).state_dict(), str(weights))
        args += [f"--{kind}", str(weights)]
    return args + ["--heldout", str(SET5 / "HR"), "--image", "baby", "--out",
                   str(tmp / "figure.png")]


# arguments other than --smoke: these write files rather than timing anything
ARGUMENTS = {"make_heldout.py": lambda tmp: ["--out", str(tmp / "heldout")],
             "make_realworld_figure.py": figure_arguments}


def check_infer(report):
    """bench_infer.py times every model of its table, each per megapixel of output, and the
    backends it compares agree with the predictor (tiny smoke widths: no chaotic weights)."""
    assert set(report["models"]) == {"srresnet", "rrdbnet23", "srvgg-general", "srvgg-anime"}
    for name, model in report["models"].items():
        for size_name, size in model["sizes"].items():
            width, height = map(int, size_name.split("x"))
            output_mp = 16 * width * height / 1e6
            assert set(size["latency_s"]) == set(report["backends"]) - (
                {"torch"} if name == "srresnet" else set())
            for backend, seconds in size["latency_s"].items():
                per_mp = size["s_per_output_mp"][backend]
                assert abs(per_mp * output_mp - seconds) <= 0.01 * seconds + 1e-3
            assert max(size["max_abs_diff_vs_predictor"].values()) < 1e-4, (name, size)


def check_memory(report):
    """bench_memory.py reports every run against the output + 1.5 GB bound."""
    runs = [run for size in report["runs"].values() for key, run in size.items()
            if key != "output_mb_uint8"]
    assert runs and all(isinstance(run["within_bound"], bool) for run in runs)


# what a script's report must hold beyond being one JSON object
CHECKS = {"bench_infer.py": check_infer, "bench_memory.py": check_memory}


def test_the_benchmarks_folder_holds_the_scripts_the_manual_names():
    manual = manual_text()
    assert len(SCRIPTS) >= 8
    for name in SCRIPTS:
        assert f"benchmarks/{name}" in manual, name


@pytest.mark.parametrize("name", SCRIPTS)
def test_benchmark_runs_and_prints_json(name, tmp_path):
    args = ARGUMENTS.get(name, lambda tmp: ["--smoke"])(tmp_path)
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / name), *args],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path,
                          env=child_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    start = proc.stdout.index("{")  # the JSON object is what the script prints
    report = json.loads(proc.stdout[start:])
    assert isinstance(report, dict) and report
    CHECKS.get(name, lambda report: None)(report)


def test_memory_estimate_counts_each_saved_tensor_once_and_keeps_gradients():
    """estimate_gpu_memory.py's count on conv -> ReLU -> conv -> ReLU, by hand: each
    convolution keeps its input, each ReLU its output; the first ReLU's output is the second
    convolution's input (counted once), weights are excluded. Backward through the hooks gives
    the gradients it gives without them (Paddle 2.6 crashed on that very graph when the hooks
    returned the saved tensor itself)."""
    import importlib.util

    import numpy as np
    import paddle

    spec = importlib.util.spec_from_file_location(
        "estimate_gpu_memory", ROOT / "benchmarks" / "estimate_gpu_memory.py")
    estimate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(estimate)
    paddle.seed(0)
    conv1, conv2 = paddle.nn.Conv2D(3, 4, 3, padding=1), paddle.nn.Conv2D(4, 2, 3, padding=1)
    params = [*conv1.parameters(), *conv2.parameters()]
    x = paddle.rand([2, 3, 8, 8])

    def step():
        relu = paddle.nn.functional.relu
        relu(conv2(relu(conv1(x)))).sum().backward()

    step()
    expected = [p.grad.numpy().copy() for p in params]
    for p in params:
        p.clear_gradient()
    saved = estimate.SavedTensors({p.data_ptr() for p in params})
    with paddle.autograd.saved_tensors_hooks(saved.pack, saved.unpack):
        saved.counting("g_step", step)()
        step()  # outside a bucket: not counted
    # x [2, 3, 8, 8], ReLU outputs [2, 4, 8, 8] and [2, 2, 8, 8], float32
    assert saved.bytes == {"g_step": 2 * (3 + 4 + 2) * 8 * 8 * 4}
    for want, p in zip(expected, params):
        np.testing.assert_allclose(p.grad.numpy(), 2 * want, rtol=1e-5)

import numpy as np
import paddle
import pytest

from conftest import run_tool
from paddle_srgan import convert
from paddle_srgan.models import Discriminator, SRResNet


def test_cli_converts_the_pytorch_fixture_and_output_reproduces_it(parity_npz, tmp_path):
    out = tmp_path / "srresnet.pdparams"
    log = run_tool("convert_weights", "--src", parity_npz, "--arch", "srresnet", "--out", out).stdout
    assert "num_block=16" in log and "1,549,462 parameters" in log
    g = SRResNet()
    g.set_state_dict(paddle.load(str(out)))
    g.eval()
    z = np.load(parity_npz)
    assert np.abs(g(paddle.to_tensor(z["input"])).numpy() - z["output_f64"]).max() < 1e-4


def test_discriminator_layout_transposes_linear_weights(tmp_path):
    """Build a PyTorch-named discriminator state from ours, convert back, compare."""
    d = Discriminator(num_feat=4, fc_size=8)
    ours = {k: v.numpy() for k, v in d.state_dict().items()}
    torch_named = {}
    for key, value in ours.items():
        if key.startswith("features."):
            idx, rest = key.split(".", 2)[1:]
            idx = int(idx)
            block, sub = (0, idx) if idx < 2 else (1 + (idx - 2) // 3, (idx - 2) % 3)
            rest = rest.replace("_mean", "running_mean").replace("_variance", "running_var")
            torch_named[f"conv_blocks.{block}.conv_block.{sub}.{rest}"] = value
        else:
            torch_named[key] = value.T if key.endswith("weight") else value
    state = convert.convert_state(torch_named, "discriminator")
    assert set(state) == set(ours)
    for key in ours:
        np.testing.assert_array_equal(state[key], ours[key])


def test_shape_mismatch_and_missing_keys_are_listed(parity_npz):
    state = convert.convert_state(convert.read_state(str(parity_npz)), "srresnet")
    with pytest.raises(convert.ConversionError, match=r"mis-shaped 1: head_conv.weight: file \[64, 3, 9, 9\] vs model \[64, 3, 3, 3\]"):
        convert.load_into(SRResNet(head_kernel=3, num_block=16), dict(state, **{
            "tail_conv.weight": np.zeros([3, 64, 3, 3], "float32")}))
    del state["body.3.bn1._mean"]
    with pytest.raises(convert.ConversionError, match=r"missing 1: body.3.bn1._mean"):
        convert.load_into(SRResNet(), state)


def test_bad_sources_are_one_line_errors(tmp_path):
    (tmp_path / "w.pth").write_bytes(b"\x80\x02")
    proc = run_tool("convert_weights", "--src", tmp_path / "w.pth", "--arch", "srresnet",
                    "--out", tmp_path / "o.pdparams", check=False)
    assert proc.returncode == 2 and "unsupported extension '.pth'" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = run_tool("convert_weights", "--src", tmp_path / "none.npz", "--arch", "srresnet",
                    "--out", tmp_path / "o.pdparams", check=False)
    assert proc.returncode == 2 and "weights file not found" in proc.stderr

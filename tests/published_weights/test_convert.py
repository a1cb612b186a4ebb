import importlib.util
import io
import json
import os
import pickle
import re
import struct
import zipfile

import cv2
import numpy as np
import paddle
import pytest
from torch_writer import TorchStorage, TorchTensor, write_safetensors, write_torch

from paddle_srgan import models
from paddle_srgan.config import load_config
from paddle_srgan.models import Discriminator, SRResNet, build_generator
from paddle_srgan.published_weights import convert, safetensors_files, torch_files

from conftest import ROOT, run_tool

BENCH = ROOT / "data" / "benchmarks"


def test_cli_converts_the_pytorch_fixture_and_output_reproduces_it(parity_npz, tmp_path):
    out = tmp_path / "srresnet.pdparams"
    log = run_tool("convert_weights", "--src", parity_npz, "--arch", "srresnet",
                   "--out", out).stdout
    assert "num_block=16" in log and "1,549,462 parameters" in log
    g = SRResNet()
    g.set_state_dict(paddle.load(str(out)))
    g.eval()
    z = np.load(parity_npz)
    assert np.abs(g(paddle.to_tensor(z["input"])).numpy() - z["output_f64"]).max() < 1e-4


def test_convert_never_replaces_its_source_or_a_foreign_config(parity_npz, tmp_path):
    """--out naming --src, or an --out whose .yml is the user's own config, is refused before
    any work; a .yml an earlier conversion wrote is replaced as before."""
    import shutil
    src = tmp_path / "w.npz"
    shutil.copy(parity_npz, src)
    mine = src.read_bytes()
    proc = run_tool("convert_weights", "--src", src, "--arch", "srresnet", "--out", src,
                    check=False)
    assert proc.returncode == 2 and src.read_bytes() == mine
    assert proc.stderr.strip().splitlines() == [
        f"error: {src} would be replaced, but it is {src}, the --src of this run; nothing was "
        f"written: choose another output name"]
    (tmp_path / "mycfg.yml").write_text("scale: 4\n")
    proc = run_tool("convert_weights", "--src", src, "--arch", "srresnet",
                    "--out", tmp_path / "mycfg.pdparams", check=False)
    assert proc.returncode == 2 and (tmp_path / "mycfg.yml").read_text() == "scale: 4\n"
    assert proc.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'mycfg.yml'} exists and was not written by convert_weights.py (the "
        f"config of the converted weights goes there); nothing was written: choose another "
        f"--out"]
    assert not (tmp_path / "mycfg.pdparams").exists()
    for _ in range(2):  # its own .yml: replaced
        run_tool("convert_weights", "--src", src, "--arch", "srresnet",
                 "--out", tmp_path / "conv.pdparams")


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
    with pytest.raises(convert.ConversionError,
                       match=r"mis-shaped 1: head_conv.weight: "
                             r"file \[64, 3, 9, 9\] vs model \[64, 3, 3, 3\]"):
        convert.load_into(SRResNet(head_kernel=3, num_block=16), dict(state, **{
            "tail_conv.weight": np.zeros([3, 64, 3, 3], "float32")}))
    del state["body.3.bn1._mean"]
    with pytest.raises(convert.ConversionError, match=r"missing 1: body.3.bn1._mean"):
        convert.load_into(SRResNet(), state)


def test_bad_sources_are_one_line_errors(tmp_path):
    (tmp_path / "w.h5").write_bytes(b"\x89HDF")
    proc = run_tool("convert_weights", "--src", tmp_path / "w.h5", "--arch", "srresnet",
                    "--out", tmp_path / "o.pdparams", check=False)
    assert proc.returncode == 2 and "unsupported extension '.h5'" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    (tmp_path / "w.pth").write_bytes(b"\x80\x02")  # a pickle cut short
    proc = run_tool("convert_weights", "--src", tmp_path / "w.pth", "--arch", "srresnet",
                    "--out", tmp_path / "o.pdparams", check=False)
    assert proc.returncode == 2 and "w.pth: not a readable torch.save file" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = run_tool("convert_weights", "--src", tmp_path / "none.npz", "--arch", "srresnet",
                    "--out", tmp_path / "o.pdparams", check=False)
    assert proc.returncode == 2 and "weights file not found" in proc.stderr


def _fixture_weights(parity_npz):
    return convert.read_state(str(parity_npz))  # fixture entries (input, output...) dropped


@pytest.mark.parametrize("container", ["zip", "legacy", "safetensors"])
def test_parity_fixture_through_every_container(parity_npz, tmp_path, container):
    """Same weights as .pth (zip; legacy, saved from CUDA, wrapped and DataParallel-prefixed)
    and .safetensors: bit-identical arrays, and the PyTorch output within 1e-4."""
    weights = _fixture_weights(parity_npz)
    path = tmp_path / ("w.safetensors" if container == "safetensors" else "w.pth")
    if container == "zip":
        write_torch(path, {"epoch": 7, "state_dict": weights})
    elif container == "legacy":
        nested = {"model": {"module." + k: v for k, v in weights.items()}, "best_psnr": 27.5}
        write_torch(path, nested, legacy=True, location="cuda:0")
    else:
        write_safetensors(path, weights)
    state = convert.read_state(str(path))
    assert convert.detect_layout(state) == "srresnet"
    converted = convert.convert_state(state, "srresnet")
    reference = convert.convert_state(weights, "srresnet")
    assert converted.keys() == reference.keys()
    for key in reference:
        np.testing.assert_array_equal(converted[key], reference[key])
    g = convert.load_into(SRResNet(), converted)
    g.eval()
    z = np.load(parity_npz)
    assert np.abs(g(paddle.to_tensor(z["input"])).numpy() - z["output_f64"]).max() < 1e-4


def test_reader_handles_views_dtypes_and_refuses_out_of_bounds(tmp_path):
    base = np.arange(30, dtype=np.float32).reshape(5, 6)
    shared = TorchStorage("0", base)
    obj = {"t": TorchTensor(shared, 0, (6, 5), (1, 6)),        # base.T, shares the storage
           "s": TorchTensor(shared, 7, (2, 3), (6, 1)),        # base[1:3, 1:4]
           "h": np.float16([0.5, -2.0]), "n": np.array(3, np.int64)}
    for legacy in (False, True):
        write_torch(tmp_path / "v.pth", obj, legacy=legacy)
        state = torch_files.read_torch_weights(tmp_path / "v.pth")
        np.testing.assert_array_equal(state["t"], base.T)
        np.testing.assert_array_equal(state["s"], base[1:3, 1:4])
        assert state["h"].dtype == np.float16 and state["h"].tolist() == [0.5, -2.0]
        assert state["n"].shape == () and int(state["n"]) == 3
    write_torch(tmp_path / "bad.pth", {"w": TorchTensor(TorchStorage("0", np.zeros(4, np.float32)),
                                                         2, (3,), (1,))})
    with pytest.raises(torch_files.TorchWeightsError,
                       match=r"size \[3\] \(stride \[1\]\) does not fit its 4-element storage"):
        torch_files.read_torch_weights(tmp_path / "bad.pth")


def peak_bytes(read, *args):
    """(exception raised by read(*args), peak bytes Python and numpy allocated meanwhile)."""
    import tracemalloc
    tracemalloc.start()
    try:
        read(*args)
    except Exception as exc:  # noqa: BLE001 - returned for the caller's assertions
        return exc, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    raise AssertionError(f"{read.__name__} accepted {args}")


def test_zip_storage_that_inflates_far_beyond_the_file_is_refused_unread(tmp_path):
    """A deflated entry of zeros: 64 MiB from a ~65 KB file (issue 25: 2 GiB from 2 MB). It is
    refused from its declared size before anything is inflated; real (stored) files load."""
    bomb = tmp_path / "bomb.pth"
    write_torch(bomb, {"w": np.zeros(1 << 24, np.float32)}, deflate=True)
    size = bomb.stat().st_size
    assert size < 200_000
    exc, peak = peak_bytes(torch_files.read_torch_weights, bomb)
    assert str(exc) == (f"{bomb}: refused to load: its storages declare 67,108,864 bytes, over "
                        f"16x the file's {size:,} bytes (torch.save stores them uncompressed); "
                        f"nothing was inflated")
    assert peak < 4 << 20, peak  # the unread 64 MiB were never allocated
    real = {"w": np.random.default_rng(0).random(1 << 16, np.float32),
            "b": np.zeros(1 << 20, np.float32)}  # zero tensors under INFLATION_FLOOR pass
    write_torch(tmp_path / "real.pth", real, deflate=True)
    for key, value in torch_files.read_torch_weights(tmp_path / "real.pth").items():
        np.testing.assert_array_equal(value, real[key])


@pytest.mark.parametrize("legacy", [False, True])
def test_tensors_cannot_expand_their_storage(tmp_path, legacy):
    """Stride 0 turns 4 stored bytes into a 64 MiB tensor, and 100 tensors viewing one
    storage into 100 copies (25 MiB): both refused before the copies are made. (With 1,000
    views the pickle's own objects alone neared the bound when the test ran by itself.)"""
    one = TorchStorage("0", np.ones(1, np.float32))
    write_torch(tmp_path / "s.pth", {"w": TorchTensor(one, 0, (4096, 4096), (0, 0))}, legacy)
    exc, peak = peak_bytes(torch_files.read_torch_weights, tmp_path / "s.pth")
    assert str(exc).endswith("tensor of size [4096, 4096] (stride [0, 0]) does not fit its "
                             "1-element storage")
    assert peak < 4 << 20, peak
    flat = TorchStorage("0", np.ones(1 << 16, np.float32))
    views = {f"w{i}": TorchTensor(flat, i, ((1 << 16) - i,), (1,)) for i in range(100)}
    write_torch(tmp_path / "v.pth", views, legacy)
    exc, peak = peak_bytes(torch_files.read_torch_weights, tmp_path / "v.pth")
    assert str(exc) == (f"{tmp_path / 'v.pth'}: refused to load: its tensors hold over 2x the "
                        f"elements of its storages")
    assert peak < 8 * (4 << 16), peak  # a few storages' worth, not 100 copies


def test_safetensors_headers_are_checked_before_any_array(tmp_path):
    def header_file(name, entry, data=b"\0" * 16):
        text = json.dumps({"w": entry}).encode()
        (tmp_path / name).write_bytes(struct.pack("<Q", len(text)) + text + data)
        return tmp_path / name

    expected = ("expected {dtype: one of F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL, "
                "shape: [n >= 0, ...], data_offsets: [begin, end]}")
    cases = {
        # 2^32 x 2^32 overflows numpy's product to 0, which fitted an empty span
        "huge": ({"dtype": "F32", "shape": [2 ** 32, 2 ** 32], "data_offsets": [0, 0]},
                 "data_offsets [0, 0] do not fit shape [4294967296, 4294967296] "
                 "(73786976294838206464 bytes) within the file's 16 data bytes"),
        "negative": ({"dtype": "F32", "shape": [-2, -2], "data_offsets": [0, 16]},
                     f"has shape [-2, -2] / data_offsets [0, 16]; {expected}"),
        "float": ({"dtype": "F32", "shape": [2.5], "data_offsets": [0, 10]},
                  f"has shape [2.5] / data_offsets [0, 10]; {expected}"),
        "dtype": ({"dtype": ["F32"], "shape": [1], "data_offsets": [0, 4]},
                  "is {'dtype': ['F32'], 'shape': [1], 'data_offsets': [0, 4]}; " + expected),
        "past the end": ({"dtype": "U8", "shape": [8], "data_offsets": [12, 20]},
                         "data_offsets [12, 20] do not fit shape [8] (8 bytes) within the "
                         "file's 16 data bytes"),
    }
    for name, (entry, problem) in cases.items():
        path = header_file(f"{name}.safetensors", entry)
        with pytest.raises(torch_files.TorchWeightsError) as info:
            safetensors_files.read_safetensors(path)
        assert str(info.value) == f"{path}: header entry 'w' {problem}", name
    long = tmp_path / "long.safetensors"
    long.write_bytes(struct.pack("<Q", 2 ** 40) + b"{}")
    with pytest.raises(torch_files.TorchWeightsError,
                       match=r"not a safetensors file \(header length 1099511627776 exceeds "
                             r"the file's 10 bytes\)$"):
        safetensors_files.read_safetensors(long)
    proc = run_tool("convert_weights", "--src", tmp_path / "huge.safetensors",
                    "--out", tmp_path / "o.pdparams", check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'huge.safetensors'}: header entry 'w' {cases['huge'][1]}"]


def test_malformed_safetensors_are_one_line_errors(tmp_path):
    """These gave tracebacks: a RecursionError in json.loads, numpy's ValueErrors of a shape
    with over 32 (numpy 2: 64) dimensions and of an empty shape too large to index."""
    def raw(name, header):
        (tmp_path / name).write_bytes(struct.pack("<Q", len(header)) + header)
        return tmp_path / name

    deep = raw("deep.safetensors", b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(torch_files.TorchWeightsError,
                       match=r"deep\.safetensors: not a safetensors file \(maximum recursion "):
        safetensors_files.read_safetensors(deep)
    for name, shape in (("dims", [1] * 64 + [0]), ("huge", [2 ** 40, 2 ** 40, 0])):
        path = raw(f"{name}.safetensors", json.dumps(
            {"w": {"dtype": "F32", "shape": shape, "data_offsets": [0, 0]}}).encode())
        with pytest.raises(torch_files.TorchWeightsError) as info:
            safetensors_files.read_safetensors(path)
        assert str(info.value) == (f"{path}: header entry 'w' has shape {shape!r:.80}; an array "
                                   f"has at most 32 dimensions, whose nonzero sizes multiply "
                                   f"to under 2^60")


def npz_member(name, shape, data=b"", dtype="<f4"):
    """(name, bytes) of a .npy member whose header declares `shape` whatever `data` holds."""
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        head, {"descr": dtype, "fortran_order": False, "shape": tuple(shape)})
    return name, head.getvalue() + data


def test_npz_arrays_are_checked_against_their_members_before_reading(tmp_path):
    """A deflated 64 MiB of zeros (issue: 2 GiB from 2 MB peaked at 2.5 GB) and a header
    declaring 2^40 elements (an _ArrayMemoryError traceback) are refused unread."""
    bomb = tmp_path / "bomb.npz"
    np.savez_compressed(bomb, w=np.zeros(1 << 24, np.float32))
    size = bomb.stat().st_size
    exc, peak = peak_bytes(convert.read_state, str(bomb))
    assert str(exc) == (f"{bomb}: refused to load: its arrays declare 67,108,864 bytes, over "
                        f"16x the file's {size:,} bytes (real weights barely compress); "
                        f"nothing was inflated")
    assert peak < 4 << 20, peak
    for name, member, problem in (
            ("big", npz_member("w.npy", [2 ** 40]), "array w.npy declares 4398046511104 "
             "bytes; its zip entry holds 128"),
            ("text", ("w.txt", b"x"), "member w.txt is not a .npy array (np.savez writes only "
             "those)")):
        path = tmp_path / f"{name}.npz"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr(*member)
        with pytest.raises(convert.ConversionError) as info:
            convert.read_state(str(path))
        assert str(info.value) == f"{path}: {problem}"
    real = {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}
    np.savez_compressed(tmp_path / "real.npz", **real)
    np.testing.assert_array_equal(convert.read_state(str(tmp_path / "real.npz"))["w"], real["w"])


def test_safetensors_bf16_and_truncation(tmp_path):
    values = np.float32([1.0, -2.5, 3.140625])  # exact in bfloat16
    header = json.dumps({"w": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]}}).encode()
    bf16 = (values.view(np.uint32) >> 16).astype("<u2").tobytes()
    (tmp_path / "b.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + bf16)
    read = safetensors_files.read_safetensors(tmp_path / "b.safetensors")
    np.testing.assert_array_equal(read["w"], values)
    (tmp_path / "cut.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + bf16[:4])
    with pytest.raises(torch_files.TorchWeightsError,
                       match=r"header entry 'w' data_offsets \[0, 6\] do not fit shape \[3\] "
                             r"\(6 bytes\) within the file's 4 data bytes$"):
        safetensors_files.read_safetensors(tmp_path / "cut.safetensors")


def test_safetensors_from_the_official_writer(tmp_path):
    # an independent writer, when installed
    st = pytest.importorskip("safetensors.numpy",
                             reason="safetensors is not installed (pip install safetensors)")
    state = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.float16([1, 2])}
    st.save_file(state, str(tmp_path / "o.safetensors"))
    read = safetensors_files.read_safetensors(tmp_path / "o.safetensors")
    for key in state:
        np.testing.assert_array_equal(read[key], state[key])


class Evil:
    """What an attacker would put in a weights file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("container", ["legacy", "zip"])
def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path, container):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    payload = pickle.dumps({"conv.weight": Evil(marker)}, protocol=2)
    if container == "zip":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("archive/data.pkl", payload)
    else:
        path.write_bytes(payload)
    proc = run_tool("convert_weights", "--src", path, "--out", tmp_path / "o.pdparams", check=False)
    name = f"{os.system.__module__}.system"
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert (f"{path}: refused to load: it asks to run {name}, but a PyTorch weights file holds "
            f"only tensors and containers") in proc.stderr
    assert not marker.exists() and not (tmp_path / "o.pdparams").exists()


def test_state_dict_is_found_in_checkpoints():
    w = {"conv.weight": np.zeros([1], np.float32)}
    find = torch_files.find_state_dict
    assert find({"params": {"x": np.ones(1)}, "params_ema": w}, "f").keys() == w.keys()
    assert find({"epoch": 3, "model": {"state_dict": w}}, "f").keys() == w.keys()
    assert find({"generator": w, "discriminator": {"d": np.ones(1)}}, "f").keys() == w.keys()
    assert list(find({"epoch": 3, **w}, "f")) == ["conv.weight"]  # counters dropped
    with pytest.raises(torch_files.TorchWeightsError,
                       match=r"f: no tensors found; top-level keys: 'epoch', 'args'; expected"):
        find({"epoch": 3, "args": "--lr 1"}, "f")
    stripped = convert.strip_prefixes({"module.net.conv.weight": 1, "module.fc.bias": 2})
    assert stripped == {"conv.weight": 1, "fc.bias": 2}


# --- layouts b, c, d: state dicts named and shaped as their published definitions ------------

def _conv(s, rng, name, out, inp, k, bias=True):
    s[name + ".weight"] = rng.normal(0, 0.3 / k, (out, inp, k, k)).astype(np.float32)
    if bias:
        s[name + ".bias"] = rng.normal(0, 0.1, out).astype(np.float32)


def _bn(s, rng, name, n):
    s[name + ".weight"] = rng.uniform(0.5, 1.5, n).astype(np.float32)
    s[name + ".bias"] = rng.uniform(-0.2, 0.2, n).astype(np.float32)
    s[name + ".running_mean"] = rng.uniform(-0.3, 0.3, n).astype(np.float32)
    s[name + ".running_var"] = rng.uniform(0.5, 2, n).astype(np.float32)
    s[name + ".num_batches_tracked"] = np.array(5, np.int64)


def _slope(s, rng, name, n):
    s[name + ".weight"] = rng.uniform(0.05, 0.4, n).astype(np.float32)


def onnx_srresnet_state(rng, nf=8, blocks=2, levels=2):
    """pytorch test/onnx/model_defs/srresnet.py SRResNet(2 ** levels, nf, blocks)."""
    s = {}
    _conv(s, rng, "conv1", nf, 3, 9)
    _slope(s, rng, "prelu1", nf)
    for i in range(1, blocks + 1):
        b = f"residual_block{i}.0."
        _conv(s, rng, b + "conv1", nf, nf, 3, bias=False)
        _bn(s, rng, b + "bn1", nf)
        _slope(s, rng, b + "prelu", nf)
        _conv(s, rng, b + "conv2", nf, nf, 3, bias=False)
        _bn(s, rng, b + "bn2", nf)
    _conv(s, rng, "skip_conv", nf, nf, 3, bias=False)
    _bn(s, rng, "skip_bn", nf)
    for j in range(1, levels + 1):
        _conv(s, rng, f"upscale_block{j}.0.upscaling_conv", 4 * nf, nf, 3)
        _slope(s, rng, f"upscale_block{j}.0.upscaling", nf)
    _conv(s, rng, "output_conv", 3, nf, 9)
    return s


def msrresnet_state(rng, nf=8, blocks=2, upscale=4, old_names=False):
    """BasicSR MSRResNet(num_feat=nf, num_block=blocks, upscale); old_names: mmsr/KAIR files."""
    s = {}
    _conv(s, rng, "conv_first", nf, 3, 3)
    for i in range(blocks):
        for c in ("conv1", "conv2"):
            _conv(s, rng, f"{'recon_trunk' if old_names else 'body'}.{i}.{c}", nf, nf, 3)
    for j in range(1, (2 if upscale == 4 else 1) + 1):
        _conv(s, rng, f"upconv{j}", nf * (9 if upscale == 3 else 4), nf, 3)
    _conv(s, rng, "HRconv" if old_names else "conv_hr", nf, nf, 3)
    _conv(s, rng, "conv_last", 3, nf, 3)
    return s


def leftthomas_state(rng, block7="bn", levels=2, nf=64):
    """leftthomas/SRGAN Generator(2 ** levels): 5 ResidualBlocks, block7 conv + BN (or PReLU)."""
    s = {}
    _conv(s, rng, "block1.0", nf, 3, 9)
    _slope(s, rng, "block1.1", 1)
    for n in range(2, 7):
        _conv(s, rng, f"block{n}.conv1", nf, nf, 3)
        _bn(s, rng, f"block{n}.bn1", nf)
        _slope(s, rng, f"block{n}.prelu", 1)
        _conv(s, rng, f"block{n}.conv2", nf, nf, 3)
        _bn(s, rng, f"block{n}.bn2", nf)
    _conv(s, rng, "block7.0", nf, nf, 3)
    if block7 == "bn":
        _bn(s, rng, "block7.1", nf)
    else:
        _slope(s, rng, "block7.1", 1)
    for j in range(levels):
        _conv(s, rng, f"block8.{j}.conv", 4 * nf, nf, 3)
        _slope(s, rng, f"block8.{j}.prelu", 1)
    _conv(s, rng, f"block8.{levels}", 3, nf, 9)
    return s


# layout case: (its state dict, the class it is, what model_options reads off it, the range)
LAYOUT_CASES = {
    "onnx_srresnet": (lambda rng: onnx_srresnet_state(rng), "OnnxSRResNet",
                      {"num_feat": 8, "num_block": 2, "scale": 4}, (-1.0, 1.0)),
    "msrresnet": (lambda rng: msrresnet_state(rng), "MSRResNet",
                  {"num_feat": 8, "num_block": 2, "scale": 4}, (0.0, 1.0)),
    "msrresnet_x2_mmsr_names": (lambda rng: msrresnet_state(rng, upscale=2, old_names=True),
                                "MSRResNet", {"scale": 2}, (0.0, 1.0)),
    "leftthomas": (lambda rng: leftthomas_state(rng, nf=8), "LeftthomasSRGAN",
                   {"num_block": 5, "body_end": "conv_norm", "scale": 4}, (0.0, 1.0)),
    "leftthomas_block7_prelu": (lambda rng: leftthomas_state(rng, block7="prelu", levels=3, nf=8),
                                "LeftthomasSRGAN", {"body_end": "conv_act", "scale": 8},
                                (0.0, 1.0)),
}


@pytest.mark.parametrize("case", sorted(LAYOUT_CASES))
def test_layout_is_detected_mapped_and_computes_its_definition(case):
    """Every published key maps onto the layout's class of the model table, built with the
    options read off the file, and our forward equals the layout's reference forward on the
    PyTorch names (the same check tools/convert_weights.py --check runs against torch when it
    is installed)."""
    make, expected_model, expected_options, output_range = LAYOUT_CASES[case]
    torch_state = make(np.random.default_rng(0))
    torch_state = {k: v for k, v in torch_state.items() if not k.endswith("num_batches_tracked")}
    layout = convert.detect_layout(torch_state)
    assert case.startswith(layout)
    state = convert.convert_state(torch_state, layout)
    model, found, kwargs = convert.model_options(state, layout)
    assert model == expected_model
    assert {k: found[k] for k in expected_options} == expected_options
    net = convert.load_into(models.MODELS[model](**kwargs), state)
    assert net.output_range == output_range
    assert convert.parity(layout, torch_state, net, "paddle", size=12) < 1e-5


def test_layout_errors_name_the_files_keys(tmp_path):
    rng = np.random.default_rng(0)
    bad = leftthomas_state(rng, nf=8)
    bad["block3.conv1.weight"] = np.zeros([8, 8, 5, 5], np.float32)
    bad["block3.extra.weight"] = np.zeros([1], np.float32)
    write_torch(tmp_path / "bad.pth", bad)
    proc = run_tool("convert_weights", "--src", tmp_path / "bad.pth", "--out",
                    tmp_path / "o.pdparams", check=False)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert ("mis-shaped 1: body.1.conv1.weight (file: block3.conv1.weight): file [8, 8, 5, 5] "
            "vs model [8, 8, 3, 3]") in proc.stderr
    assert "unexpected 1: block3.extra.weight" in proc.stderr
    with pytest.raises(convert.ConversionError, match=r"^weights: no known layout places its 1 key "
                                                     r"\(encoder\.weight\); known: .*--layout"):
        convert.detect_layout({"encoder.weight": np.zeros(1)})
    with pytest.raises(convert.ConversionError,
                       match=r"PixelShuffle\(3\); SRResNet upsamples by x2"):
        convert.model_options(convert.convert_state(msrresnet_state(rng, upscale=3), "msrresnet"),
                              "msrresnet")


def test_converted_config_evaluates_on_set5(tmp_path):
    """A zero-weight MSRResNet is exactly bilinear upsampling, in [0, 1]: the written .yml
    must carry that range for tools/eval.py to score it like bilinear, not like noise."""
    state = {k: np.zeros_like(v) for k, v in msrresnet_state(np.random.default_rng(0)).items()}
    write_torch(tmp_path / "msr.pth", {"params": state, "params_ema": state})
    out = tmp_path / "msr.pdparams"
    log = run_tool("convert_weights", "--src", tmp_path / "msr.pth", "--out", out, "--check").stdout
    assert "layout msrresnet" in log and "wrote " + str(tmp_path / "msr.yml") in log
    diff = re.search(r"check: max \|ours - msrresnet definition run by paddle\| = (\S+)", log)
    assert diff and float(diff[1]) < 1e-5
    if importlib.util.find_spec("torch") is None:
        assert "skipped the PyTorch comparison" in log
    else:
        torch_diff = re.search(r"check: max \|ours - .* run by torch\| = (\S+)", log)
        assert torch_diff and float(torch_diff[1]) < 1e-5
    cfg = load_config(str(tmp_path / "msr.yml"))
    assert cfg["scale"] == 4 and cfg["network_g"]["type"] == "MSRResNet"
    assert build_generator(cfg).output_range == (0.0, 1.0)
    run_tool("eval", "-c", tmp_path / "msr.yml", "--weights", out, "--data-root", BENCH,
             "--datasets", "Set5", "--out", tmp_path / "eval")
    res = json.loads((tmp_path / "eval" / "results.json").read_text())["results"]["Set5"]
    # all-zero weights leave the bilinear skip: OpenCV's bilinear x4 of the same LR, scored
    # by hand (Y, 4-pixel border), is 27.56 dB (bicubic 28.43); a wrong range is far off
    assert res["msr"]["psnr"] == pytest.approx(bilinear_x4_set5_psnr(), abs=0.01)


def bilinear_x4_set5_psnr():
    from paddle_srgan.data.benchmarks import BenchmarkSet
    from paddle_srgan.metrics.scores import psnr
    scores = []
    for item in BenchmarkSet(scale=4, data_root=str(BENCH), hr_dir="Set5/HR"):
        lr = item["lr_image"].astype(np.float32) / 255
        sr = cv2.resize(lr, None, fx=4, fy=4, interpolation=cv2.INTER_LINEAR)
        scores.append(psnr(np.clip(np.round(sr * 255), 0, 255), item["hr_image"].astype(np.float64),
                           crop_border=4))
    return float(np.mean(scores))


def test_sgrvinod_yml_normalises_the_input_like_the_tutorial(parity_npz, tmp_path):
    """The tutorial feeds ImageNet-normalised LR: the written config makes our model do that
    inside, so [0, 1] LR x gives the tutorial's output for (x - mean) / std."""
    from paddle_srgan.config import load_config
    from paddle_srgan.models import build_generator
    out = tmp_path / "sg.pdparams"
    log = run_tool("convert_weights", "--src", parity_npz, "--layout", "srresnet", "--out", out,
                   "--check").stdout
    diff = re.search(r"check: max \|ours - .*?\| = (\S+)", log)
    assert diff and float(diff[1]) < 1e-5, log
    cfg = load_config(str(tmp_path / "sg.yml"))
    assert cfg["network_g"]["input_norm"] == "imagenet"
    g = build_generator(cfg)
    g.set_state_dict(paddle.load(str(out)))
    g.eval()
    z = np.load(parity_npz)
    mean = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
    std = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)
    x = z["input"] * std + mean
    assert np.abs(g(paddle.to_tensor(x)).numpy() - z["output_f64"]).max() < 1e-4
    with pytest.raises(ValueError, match="input_norm 'imagenet' needs 3 input channels"):
        SRResNet(in_channels=1, input_norm="imagenet")

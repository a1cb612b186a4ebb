"""The ESRGAN / Real-ESRGAN PyTorch fixtures (tests/fixtures/esrgan/) agree with themselves.

They were made once with torch (tests/fixtures/make_esrgan_fixtures.py, make_esrgan_steps.py);
the Paddle ports are checked against them elsewhere. Here: each weights layout holds the same
arrays, float32 and float64 outputs agree, and the committed published file is the one named.
"""
import hashlib
import json

import numpy as np
import pytest

from paddle_srgan.published_weights.torch_files import read_torch_weights

from conftest import FIXTURES

ESRGAN = FIXTURES / "esrgan"
NON_WEIGHTS = ("input", "output", "output_f64", "output_train", "output_eval_after_train", "meta")


def weights(npz):
    return {k: npz[k] for k in npz.files if k not in NON_WEIGHTS and "/" not in k}


def original_esrgan_key(key, num_block):
    """BasicSR RRDBNet key -> xinntao/ESRGAN architecture.py (`model.N`) key, written from that
    file's Sequential: 0 conv_first, 1.sub.<i> RRDBs + 1.sub.<nb> trunk conv, 3 / 6 upsampling
    convs (after nn.Upsample at 2 / 5), 8 HR conv, 10 last conv; RDB convs wrapped as `.0`."""
    module, param = key.rsplit(".", 1)
    if module.startswith("body."):
        _, i, rdb, conv = module.split(".")
        return f"model.1.sub.{i}.RDB{rdb[3:]}.{conv}.0.{param}"
    index = {"conv_first": "0", "conv_body": f"1.sub.{num_block}", "conv_up1": "3",
             "conv_up2": "6", "conv_hr": "8", "conv_last": "10"}[module]
    return f"model.{index}.{param}"


def esrgan_repo_key(key):
    """BasicSR RRDBNet key -> xinntao/ESRGAN RRDBNet_arch.py key."""
    renamed = {"conv_body": "trunk_conv", "body.": "RRDB_trunk.", ".rdb": ".RDB",
               "conv_up1": "upconv1", "conv_up2": "upconv2", "conv_hr": "HRconv"}  # in this order
    for old, new in renamed.items():
        key = key.replace(old, new)
    return key


@pytest.mark.parametrize("name, rename", [
    ("rrdbnet_x4_esrgan_old_arch.pth", lambda k: original_esrgan_key(k, 2)),
    ("rrdbnet_x4_esrgan.pth", esrgan_repo_key)])
def test_every_rrdbnet_layout_holds_the_same_arrays(name, rename):
    with np.load(ESRGAN / "rrdbnet_x4.npz") as z:
        basicsr = weights(z)
    other = read_torch_weights(str(ESRGAN / name))
    assert sorted(other) == sorted(rename(k) for k in basicsr)
    for key, value in basicsr.items():
        np.testing.assert_array_equal(other[rename(key)], value, err_msg=key)


@pytest.mark.parametrize("name", ["rrdbnet_x4", "rrdbnet_x2", "rrdbnet_x1", "srvgg_compact",
                                  "vgg_discriminator", "unet_discriminator_sn"])
def test_float32_output_matches_float64(name):
    with np.load(ESRGAN / f"{name}.npz") as z:
        meta = json.loads(str(z["meta"]))
        scale = meta.get("scale", meta.get("upscale", 1))
        if "input_size" in meta or "skip_connection" in meta:
            scale = None  # a discriminator
        assert z["output"].dtype == np.float32 and z["output_f64"].dtype == np.float64
        np.testing.assert_allclose(z["output"], z["output_f64"], rtol=0, atol=1e-5)
        assert np.ptp(z["output"]) > 0.01  # weights chosen so the output is not ~constant
        if scale is not None:
            n, c, h, w = z["input"].shape
            assert z["output"].shape == (n, 3, h * scale, w * scale)


def test_published_animevideo_file_and_its_outputs():
    path = ESRGAN / "realesr-animevideov3.pth"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest in (ESRGAN / "NOTICE.md").read_text()
    state = read_torch_weights(str(path))  # {'params': ...} unwrapped
    convs = {f"body.{i}.{p}" for i in range(0, 35, 2) for p in ("weight", "bias")}
    assert set(state) == convs | {f"body.{i}.weight" for i in range(1, 35, 2)}  # + PReLU slopes
    assert state["body.0.weight"].shape == (64, 3, 3, 3)
    assert state["body.34.weight"].shape == (48, 64, 3, 3)
    with np.load(ESRGAN / "realesr_animevideov3_io.npz") as z:
        np.testing.assert_array_equal(
            z["input"], z["input_uint8"].transpose(0, 3, 1, 2).astype(np.float32) / 255)
        rounded = np.clip(np.round(z["output"] * 255), 0, 255).astype(np.uint8)
        np.testing.assert_array_equal(rounded.transpose(0, 2, 3, 1), z["output_uint8"])


@pytest.mark.parametrize("name", ["esrgan", "realesrgan"])
def test_step_fixture_updates_every_trained_tensor(name):
    # A relativistic loss sees only differences of D's logits: its last bias gets no gradient.
    frozen = {"d/linear2.bias"} if name == "esrgan" else set()
    with np.load(ESRGAN / f"{name}_steps.npz") as z:
        for key in z.files:
            if key in frozen:
                np.testing.assert_array_equal(z[key.replace("/", "_after/", 1)], z[key])
            elif key.startswith(("g/", "d/")) and not key.endswith("num_batches_tracked"):
                after = z[key.replace("/", "_after/", 1)]
                assert after.shape == z[key].shape and not np.array_equal(after, z[key]), key
        total = z["loss/l_g_total"]
        np.testing.assert_allclose(total, z["loss/l_g_pix"] + z["loss/l_g_percep"]
                                   + z["loss/l_g_gan"], rtol=1e-12)

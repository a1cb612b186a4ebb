import io
import os

import paddle
import pytest

from paddle_srgan import compat


@pytest.mark.parametrize("vendor, expected", [("AuthenticAMD", "5"), ("GenuineIntel", None)])
def test_mkl_avx2_path_is_asked_for_on_amd_only(monkeypatch, vendor, expected):
    monkeypatch.delenv("MKL_DEBUG_CPU_TYPE", raising=False)
    cpuinfo = f"processor\t: 0\nvendor_id\t: {vendor}\nmodel name\t: X\n"
    monkeypatch.setattr("builtins.open", lambda *a, **k: io.StringIO(cpuinfo))
    compat._prefer_avx2_mkl_on_amd()
    assert os.environ.get("MKL_DEBUG_CPU_TYPE") == expected


def test_mkl_setting_of_the_user_is_kept(monkeypatch):
    monkeypatch.setenv("MKL_DEBUG_CPU_TYPE", "2")
    monkeypatch.setattr("builtins.open", lambda *a, **k: io.StringIO("vendor_id : AuthenticAMD\n"))
    compat._prefer_avx2_mkl_on_amd()
    assert os.environ["MKL_DEBUG_CPU_TYPE"] == "2"


def test_default_threads_share_the_cores_among_local_processes(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    monkeypatch.delenv("PADDLE_LOCAL_SIZE", raising=False)
    assert compat.default_cpu_threads() == 8
    monkeypatch.setenv("PADDLE_LOCAL_SIZE", "2")
    assert compat.default_cpu_threads() == 4
    monkeypatch.setenv("PADDLE_LOCAL_SIZE", "16")
    assert compat.default_cpu_threads() == 1


def test_use_device_sets_cpu_threads_and_rejects_bad_values(monkeypatch):
    calls = []
    monkeypatch.setattr(paddle.base.core, "set_num_threads", calls.append)
    monkeypatch.setattr(compat, "default_cpu_threads", lambda: 6)
    assert compat.use_device("cpu", 3) == "cpu" and calls == [3]
    compat.use_device("cpu", 0)
    assert calls == [3, 6]
    for bad in (-1, 1.5, "2"):
        with pytest.raises(ValueError, match="cpu_threads must be an integer >= 0"):
            compat.use_device("cpu", bad)
    with pytest.raises(ValueError, match="device must be auto, gpu or cpu"):
        compat.use_device("tpu")


def test_device_auto_follows_what_paddle_sees(monkeypatch):
    monkeypatch.setattr(paddle.device, "is_compiled_with_cuda", lambda: True)
    monkeypatch.setattr(paddle.device.cuda, "device_count", lambda: 1)
    assert compat.resolve_device("auto") == "gpu" and compat.resolve_device("gpu") == "gpu"
    monkeypatch.setattr(paddle.device.cuda, "device_count", lambda: 0)
    assert compat.resolve_device("auto") == "cpu"
    with pytest.raises(compat.InputError, match="gpu was asked for, but Paddle sees no GPU"):
        compat.resolve_device("gpu")
    with pytest.raises(compat.InputError, match="device must be auto, gpu or cpu, got 'tpu'"):
        compat.resolve_device("tpu")

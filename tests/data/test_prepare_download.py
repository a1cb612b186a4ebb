"""tools/prepare_data.py download against a local HTTP server (127.0.0.1, a random port, a
thread of the test) serving fixture archives laid out like the real ones (EDSR's
benchmark.tar, DIV2K's zips), made here from skimage images. Nothing reaches the internet:
every run passes --mirror (the override users have for mirrors)."""
import hashlib
import http.server
import io
import re
import stat
import tarfile
import threading
import zipfile

import cv2
import numpy as np
import pytest

from paddle_srgan.data.archives import UnsafeArchiveError, unpack
from paddle_srgan.data.imresize import imresize
from paddle_srgan.data.sources import SOURCES
from paddle_srgan.data.transforms import mod_crop

from conftest import natural, read_rgb, run_tool

LOCAL = {"no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"}  # never through a proxy


class Server:
    """`files` ({name: bytes}) over HTTP with Range support. Records the Range header of each
    request (None without one). cut_first: the first response announces the whole length,
    sends half and closes the connection; ignore_range: answers 200 and the whole file."""

    def __init__(self, files, cut_first=False, ignore_range=False):
        self.files, self.cut_first, self.ignore_range = files, cut_first, ignore_range
        self.ranges = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                owner.ranges.append(self.headers.get("Range"))
                data = owner.files.get(self.path.lstrip("/"))
                if data is None:
                    self.send_error(404)
                    return
                asked = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
                start = int(asked.group(1)) if asked and not owner.ignore_range else 0
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if owner.cut_first and len(owner.ranges) == 1:
                    body = body[:len(body) // 2]
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def png(img):
    return cv2.imencode(".png", img[:, :, ::-1])[1].tobytes()


def benchmark_images(n, side=40):
    """{stem: uint8 [side, side, 3]}: n different crops of a natural photo."""
    return {f"img{i:03d}": natural("astronaut", side, side, y=13 * i, x=7 * i) for i in range(n)}


def tar_of(members):
    """Bytes of an uncompressed tar of {name: bytes} (as EDSR's benchmark.tar)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def benchmark_tar(sets):
    """benchmark.tar laid out as EDSR's: benchmark/<set>/HR/<stem>.png and
    benchmark/<set>/LR_bicubic/X4/<stem>x4.png (MATLAB bicubic), for {set: images}."""
    members = {}
    for name, images in sets.items():
        for stem, img in images.items():
            members[f"benchmark/{name}/HR/{stem}.png"] = png(img)
            members[f"benchmark/{name}/LR_bicubic/X4/{stem}x4.png"] = png(imresize(img, 1 / 4))
    return tar_of(members)


def sha(data):
    return hashlib.sha256(data).hexdigest()


def download(root, server, *args, check=True):
    return run_tool("prepare_data", "download", *args, "--data-root", root, "--mirror",
                    server.url, "--workers", 1, env=LOCAL, check=check)


def one_error_line(proc):
    """The error: line a failed run ends with, and that it is the only one."""
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and proc.stderr.strip().endswith(errors[0]), proc.stderr
    assert "Traceback" not in proc.stderr
    return errors[0]


def test_download_verifies_unpacks_into_the_check_layout_and_makes_missing_lr(tmp_path):
    set14, set5 = benchmark_images(14), benchmark_images(5, side=48)
    tar = benchmark_tar({"Set14": set14, "Set5": set5})
    root = tmp_path / "data"
    with Server({"benchmark.tar": tar}) as server:
        proc = download(root, server, "set14", "--sha256", f"benchmark.tar={sha(tar)}",
                        "--scales", 2, 4)
        assert server.ranges == [None]
        assert f"sha256 benchmark.tar: {sha(tar)} (matches the published sum)" in proc.stdout
        assert "LR x2: not in the archive; made with MATLAB-exact bicubic" in proc.stdout
        set14_dir = root / "benchmarks" / "Set14"
        for stem, img in set14.items():
            np.testing.assert_array_equal(read_rgb(set14_dir / "HR" / f"{stem}.png"), img)
            np.testing.assert_array_equal(read_rgb(set14_dir / "LR_bicubic" / "X4" /
                                                   f"{stem}x4.png"), imresize(img, 1 / 4))
            np.testing.assert_array_equal(read_rgb(set14_dir / "LR_bicubic" / "X2" /
                                                   f"{stem}x2.png"),
                                          imresize(mod_crop(img, 2), 1 / 2))
        check = run_tool("prepare_data", "check", "--root", root / "benchmarks", "--datasets",
                         "Set14")
        assert "Set14     found     14 images" in check.stdout
        assert "LR: X2 (14), X4 (14)" in check.stdout
        # Set5 unpacks from the kept archive: no second request; with no sum pinned, the
        # computed one is printed for pinning
        again = download(root, server, "Set5")
        assert server.ranges == [None] and "(downloaded before)" in again.stderr
        assert (f"sha256 benchmark.tar: {sha(tar)} (no published sum: pin it with --sha256 "
                f"benchmark.tar={sha(tar)})") in again.stdout
        assert len(list((root / "benchmarks" / "Set5" / "HR").iterdir())) == 5
        assert sorted(p.name for p in root.iterdir()) == ["benchmarks", "downloads"]
        assert [p.name for p in (root / "downloads").iterdir()] == ["benchmark.tar"]
        done = download(root, server, "Set14", "--check-only", "--scales", 2, 4)
        assert done.returncode == 0 and done.stdout.count(" ok ") == 3
        assert "already in place; nothing downloaded" in download(root, server, "Set14").stdout
        assert server.ranges == [None]


def test_broken_download_resumes_with_a_range_request(tmp_path):
    tar = benchmark_tar({"Set5": benchmark_images(5)})
    half, root = len(tar) // 2, tmp_path / "data"
    with Server({"benchmark.tar": tar}, cut_first=True) as server:
        proc = download(root, server, "Set5", "--retries", 0, check=False)
        assert one_error_line(proc) == (
            f"error: download of {server.url}benchmark.tar broke off at byte {half} of "
            f"{len(tar)}; the bytes so far are kept in {root / 'downloads'}/benchmark.tar.part: "
            f"run the same command again to resume")
        assert (root / "downloads" / "benchmark.tar.part").read_bytes() == tar[:half]
        assert not (root / "benchmarks").exists()
        proc = download(root, server, "Set5", "--sha256", f"benchmark.tar={sha(tar)}")
        assert server.ranges == [None, f"bytes={half}-"]
        assert f"resuming benchmark.tar at byte {half}" in proc.stderr
    assert (root / "downloads" / "benchmark.tar").read_bytes() == tar
    # within one run: the broken connection is resumed at once
    with Server({"benchmark.tar": tar}, cut_first=True) as server:
        download(tmp_path / "again", server, "Set5", "--sha256", f"benchmark.tar={sha(tar)}")
        assert server.ranges == [None, f"bytes={half}-"]


def test_a_server_that_ignores_range_gets_the_file_again_from_its_start(tmp_path):
    tar = benchmark_tar({"Set5": benchmark_images(5)})
    root = tmp_path / "data"
    with Server({"benchmark.tar": tar}, cut_first=True, ignore_range=True) as server:
        proc = download(root, server, "Set5", "--sha256", f"benchmark.tar={sha(tar)}")
        assert server.ranges == [None, f"bytes={len(tar) // 2}-"]
        assert "the server ignores Range requests; downloading from the start" in proc.stderr
    assert (root / "downloads" / "benchmark.tar").read_bytes() == tar
    assert len(list((root / "benchmarks" / "Set5" / "HR").iterdir())) == 5


def div2k_zips():
    """DIV2K_valid_HR.zip (DIV2K_valid_HR/0801.png ...) and DIV2K_valid_LR_bicubic_X4.zip
    (DIV2K_valid_LR_bicubic/X4/0801x4.png ...), 100 small images each."""
    zips = {}
    for file, folder, side, suffix in (("DIV2K_valid_HR.zip", "DIV2K_valid_HR", 16, ""),
                                       ("DIV2K_valid_LR_bicubic_X4.zip",
                                        "DIV2K_valid_LR_bicubic/X4", 4, "x4")):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for i in range(100):
                img = natural("coffee", side, side, y=i, x=2 * i)
                zf.writestr(f"{folder}/{801 + i:04d}{suffix}.png", png(img))
        zips[file] = buf.getvalue()
    return zips


def test_checksum_mismatch_is_one_line_naming_both_sums_and_unpacks_nothing(tmp_path):
    """DIV2K's published sum (TensorFlow Datasets) is checked: the fixture zip is another
    file. Pinning the fixture's own sums then unpacks the zips into the check layout."""
    zips, root = div2k_zips(), tmp_path / "data"
    published = SOURCES["DIV2K"].archives[0].sha256
    with Server(zips) as server:
        proc = download(root, server, "DIV2K", check=False)
        # the fixture's length differs from the published one: caught before the sum
        assert one_error_line(proc) == (
            f"error: {server.url}DIV2K_valid_HR.zip gave {len(zips['DIV2K_valid_HR.zip'])} "
            f"bytes, expected 448993893; the file was removed (a mirror serving another file?)")
        wrong = "0" * 64
        proc = download(root, server, "DIV2K", "--sha256", f"DIV2K_valid_HR.zip={wrong}",
                        check=False)
        assert one_error_line(proc) == (
            f"error: checksum mismatch for DIV2K_valid_HR.zip from {server.url}"
            f"DIV2K_valid_HR.zip: expected sha256 {wrong}, got "
            f"{sha(zips['DIV2K_valid_HR.zip'])}; the file was removed (a corrupted download "
            f"or another file: run again, or check the mirror)")
        assert published != wrong and not (root / "benchmarks").exists()
        assert list((root / "downloads").iterdir()) == []
        pins = [f"{file}={sha(data)}" for file, data in zips.items()]
        download(root, server, "DIV2K", "--sha256", *pins)
    check = run_tool("prepare_data", "check", "--root", root / "benchmarks", "--datasets", "DIV2K")
    assert "DIV2K     found    100 images  DIV2K/DIV2K_valid_HR  LR: X4 (100)" in check.stdout


def test_a_traversal_member_refuses_the_archive(tmp_path):
    tar = tar_of({"benchmark/Set5/HR/a.png": png(natural("astronaut", 40, 40)),
                  "../evil": b"x"})
    root = tmp_path / "data"
    with Server({"benchmark.tar": tar}) as server:
        proc = download(root, server, "Set5", check=False)
    assert one_error_line(proc) == (
        f"error: refused {root / 'downloads' / 'benchmark.tar'}: member '../evil' points "
        f"outside the folder it unpacks to (an absolute path or '..'); nothing was unpacked")
    assert not (tmp_path / "evil").exists() and not (root / "evil").exists()
    assert not (root / "benchmarks").exists()
    assert [p.name for p in root.iterdir()] == ["downloads"]  # no staging folder left


@pytest.mark.parametrize("kind", ["absolute", "backslash", "symlink", "hardlink", "bomb",
                                  "zip-symlink"])
def test_unpack_refuses_unsafe_members_before_writing(tmp_path, kind):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        ok = tarfile.TarInfo("set/HR/a.png")
        ok.size = 3
        tf.addfile(ok, io.BytesIO(b"png"))
        bad = tarfile.TarInfo({"absolute": "/tmp/evil", "backslash": "set\\..\\..\\evil",
                               "symlink": "set/HR/b.png", "hardlink": "set/HR/b.png",
                               "bomb": "set/HR/c.png", "zip-symlink": "set/HR/c.png"}[kind])
        if kind in ("symlink", "hardlink"):
            bad.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
            bad.linkname = "/etc/passwd"
            tf.addfile(bad)
        else:
            data = bytes(8 << 20)  # 8 MB of zeros gzip to about 8 kB
            bad.size = len(data)
            tf.addfile(bad, io.BytesIO(data))
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(buf.getvalue())
    if kind == "zip-symlink":  # a zip's symbolic link: the Unix file type in external_attr
        archive = tmp_path / "a.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("set/HR/a.png", b"png")
            link = zipfile.ZipInfo("set/HR/b.png")
            link.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(link, "/etc/passwd")
    with pytest.raises(UnsafeArchiveError, match="refused .*nothing was unpacked"):
        unpack(archive, {"set/HR": "out/HR"}, tmp_path / "staging")
    assert not (tmp_path / "staging").exists()


def test_a_missing_file_is_one_line_404(tmp_path):
    with Server({}) as server:
        proc = download(tmp_path / "data", server, "Urban100", check=False)
    assert one_error_line(proc) == (
        f"error: download of {server.url}benchmark.tar failed: HTTP 404 Not Found")
    assert not (tmp_path / "data" / "benchmarks").exists()

"""One trainer per run directory (engine/runlock.py): a second trainer refuses in one line
naming the first one's PID; a kill -9 of the holder frees the directory at once."""
import os
import signal
import subprocess
import sys

from paddle_srgan.engine.runlock import LOCK_NAME, RunLock

from conftest import child_env, run_tool, tiny_config

# Holds the run directory's lock like a running trainer, until its stdin closes.
HOLDER = """
import sys
from paddle_srgan.engine.runlock import RunLock
RunLock(sys.argv[1]).acquire()
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_second_trainer_refuses_and_a_killed_one_leaves_no_lock(tmp_path, train_images):
    config = tiny_config(tmp_path, train_images, **{"train.phases": [
        {"name": "mse", "iters": 2}]})
    run_dir = tmp_path / "runs" / "tiny"
    run_dir.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env=child_env())
    try:
        assert holder.stdout.readline().strip() == "locked"
        for args in ((), ("--resume",)):  # a fresh start and a reconnect's --resume
            proc = run_tool("train", "-c", config, *args, check=False)
            (line,) = proc.stderr.strip().splitlines()
            assert proc.returncode == 2
            assert line.startswith(f"error: {run_dir} is in use by another trainer (PID "
                                   f"{holder.pid}, started ")
            assert line.endswith("): stop that one first, or train into another run with "
                                 "-o experiment=<name>")
        assert not (run_dir / "log.txt").exists()  # it wrote nothing
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # the kernel dropped the lock with the process: the run starts, and holds it while it runs
    out = run_tool("train", "-c", config).stdout
    assert "finished 2 iterations" in out
    assert (run_dir / LOCK_NAME).is_file()


def test_the_lock_is_taken_once_and_released(tmp_path):
    lock = RunLock(str(tmp_path)).acquire()
    assert lock.acquire() is lock  # idempotent in the holder
    text = (tmp_path / LOCK_NAME).read_text()
    assert text.startswith(f"PID {os.getpid()}, started ")
    lock.release()
    RunLock(str(tmp_path)).acquire().release()  # free again


def test_a_folder_where_the_lock_belongs_is_one_line(tmp_path):
    """A folder named .trainer.lock printed the bare "[Errno 21] Is a directory": the message
    names the file (storage.WriteError, a user error printed in one line)."""
    import pytest

    from paddle_srgan.storage import WriteError
    (tmp_path / LOCK_NAME).mkdir()
    with pytest.raises(WriteError) as error:
        RunLock(str(tmp_path)).acquire()
    assert str(error.value) == f"cannot write {tmp_path / LOCK_NAME}: Is a directory"

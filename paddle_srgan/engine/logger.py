"""Where a run reports: VisualDL, plain files, `log.txt` and the console.

Every scalar and image goes to VisualDL under `run_dir/vdl/` with the global iteration as its
step, so curves continue across resumes (VisualDL merges the record files of one folder). The
same scalars also go to `run_dir/scalars.jsonl` (one JSON object per line: tag, step, value)
and images to `run_dir/samples/` as PNG, so the end-of-run curves and a notebook user without
a VisualDL server see them too (and a machine without visualdl loses nothing).
Only rank 0 writes; other ranks get a logger whose methods do nothing.
"""
import json
import os
import secrets
import sys
import time
import warnings

from tqdm import tqdm

from ..storage import open_append


class LossMeter:
    """Loss terms summed on the device between log lines (no host sync per step), and the
    wall time of the steps and of waiting for data."""

    def __init__(self):
        self.sums, self.count, self.steps, self.data_seconds = {}, 0, 0, 0.0
        self.started = time.perf_counter()

    def add(self, terms, data_seconds):
        """One step: terms {name: 0-d tensor}, or None for a skipped step (timed, not
        averaged), and the seconds it waited for its batch."""
        self.steps += 1
        self.data_seconds += data_seconds
        if terms is None:
            return
        for k, v in terms.items():
            self.sums[k] = self.sums[k] + v if k in self.sums else v
        self.count += 1

    def pop(self):
        """({term: mean float over the steps not skipped}, seconds per step, data seconds
        per step) since the last pop; then starts afresh."""
        elapsed = time.perf_counter() - self.started
        means = {k: float(v) / self.count for k, v in self.sums.items()}  # the host sync
        result = (means, elapsed / self.steps, self.data_seconds / self.steps)
        self.__init__()
        return result


class RunLogger:
    """Scalars, images and text lines of one run.

    Args:
        run_dir: the run directory (vdl/, samples/ and log.txt live there).
        enabled: False on ranks other than 0.
    """

    def __init__(self, run_dir, enabled=True):
        self.enabled = enabled
        self.run_dir = run_dir
        self.writer = None
        if not enabled:
            return
        vdl_dir = os.path.join(run_dir, "vdl")
        os.makedirs(vdl_dir, exist_ok=True)
        os.makedirs(os.path.join(run_dir, "samples"), exist_ok=True)
        try:
            from visualdl import LogWriter
            # VisualDL appends to vdl/vdlrecords.<seconds>.log<suffix> with open(); a random
            # suffix makes the name one nobody can plant a link at beforehand
            self.writer = LogWriter(logdir=vdl_dir, flush_secs=30,
                                    filename_suffix=f".{secrets.token_hex(4)}")
        except ImportError:
            warnings.warn("visualdl is not installed: scalars go to scalars.jsonl and images to "
                          "samples/ only (pip install visualdl to get the dashboards)")
        self.scalars_path = os.path.join(run_dir, "scalars.jsonl")
        # appended across resumes, never through a link planted in the run folder
        self.jsonl = open_append(self.scalars_path)
        self.text = open_append(os.path.join(run_dir, "log.txt"))

    def scalars(self, values, step, prefix=""):
        """values: {tag: float}; tags get `prefix` (e.g. 'train/')."""
        if not self.enabled:
            return
        for tag, value in values.items():
            if self.writer is not None:
                self.writer.add_scalar(prefix + tag, float(value), step)
            self.jsonl.write(json.dumps({"tag": prefix + tag, "step": step,
                                         "value": float(value)}) + "\n")
        self.jsonl.flush()

    def losses(self, meter, iteration):
        """The `meter`'s mean loss terms since its last pop, as train/<term> scalars at
        `iteration`: the points of the loss curves (curves.loss_point says when; a host
        sync, on every rank)."""
        self.scalars(meter.pop()[0], iteration, "train/")

    def progress(self, meter, learning_rates, iteration, total, epoch, bar):
        """The `meter`'s mean loss terms (to the progress `bar` and log.txt; their scalars are
        `losses`'), the learning rates ({name: float}) and `epoch` (to VisualDL too) and the
        times since the last log line: the log line every log_interval (a host sync, on
        every rank)."""
        means, step_time, data_time = meter.pop()
        self.scalars({**learning_rates, "epoch": epoch}, iteration, "train/")
        means.update(learning_rates, epoch=epoch)
        self.scalars({"step_time": step_time, "data_time": data_time}, iteration, "time/")
        bar.set_postfix({k: f"{v:.4g}" for k, v in means.items()
                         if k.startswith(("g_", "d_loss"))}, refresh=False)
        self.info(f"iter {iteration}/{total} " + " ".join(f"{k} {v:.4g}" for k, v in means.items())
                  + f" | {step_time * 1000:.0f} ms/it, data {data_time * 1000:.0f} ms/it")

    def image(self, tag, img, step):
        """img: [H, W, C] uint8 RGB (C = 3) or [H, W, 1] gray; to VisualDL and to
        samples/<tag>_<step>.png. Returns the PNG's path (None on ranks other than 0)."""
        if not self.enabled:
            return None
        if self.writer is not None:
            self.writer.add_image(tag, img if img.shape[-1] == 3 else img.repeat(3, axis=-1), step)
        from ..data.io import write_image
        path = os.path.join(self.run_dir, "samples", f"{tag.replace('/', '_')}_{step:08d}.png")
        write_image(path, img)
        return path

    def info(self, line):
        """A timestamped line to log.txt and the console (above any progress bar)."""
        if not self.enabled:
            return
        stamped = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}"
        self.text.write(stamped + "\n")
        self.text.flush()
        tqdm.write(stamped, file=sys.stdout)

    def block(self, text):
        """Lines printed as they are (no timestamps: tables), also to log.txt."""
        if not self.enabled:
            return
        self.text.write(text + "\n")
        self.text.flush()
        tqdm.write(text, file=sys.stdout)

    def flush(self):
        if self.writer is not None:
            self.writer.flush()

    def close(self):
        if not self.enabled:
            return
        if self.writer is not None:
            self.writer.close()
        self.jsonl.close()
        self.text.close()

"""Every script in benchmarks/ runs, in its --smoke mode (seconds, numbers meaningless), and
prints one JSON object: a refactor cannot break a benchmark silently (bench_train.py once
drove trainer internals that a later split removed)."""
import json
import subprocess
import sys

import pytest

from conftest import ROOT

SCRIPTS = sorted(p.name for p in (ROOT / "benchmarks").glob("*.py"))
# arguments other than --smoke: make_heldout writes files rather than timing anything
ARGUMENTS = {"make_heldout.py": lambda tmp: ["--out", str(tmp / "heldout")]}


def test_the_benchmarks_folder_holds_the_scripts_the_readme_names():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(SCRIPTS) >= 8
    for name in SCRIPTS:
        assert f"benchmarks/{name}" in readme, name


@pytest.mark.parametrize("name", SCRIPTS)
def test_benchmark_runs_and_prints_json(name, tmp_path):
    args = ARGUMENTS.get(name, lambda tmp: ["--smoke"])(tmp_path)
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / name), *args],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    start = proc.stdout.index("{")  # the JSON object is what the script prints
    report = json.loads(proc.stdout[start:])
    assert isinstance(report, dict) and report

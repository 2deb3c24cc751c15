"""How long `dlbench list` takes in a fresh process, as a user waits for it: the interpreter, the
CLI's imports and the listing (which imports no framework: tests/test_runner.py checks that).
Target on the 2-core development VM: under 1 s. Run with ``pytest benchmarks/test_cli_speed.py``.
"""

import subprocess
import sys


def dlbench_list() -> str:
    done = subprocess.run([sys.executable, "-m", "dlbench.cli", "list"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_list(benchmark):
    assert "alexnet" in benchmark.pedantic(dlbench_list, rounds=5, iterations=1)

"""The progress display: a live bar on a terminal, status lines elsewhere, the finish estimate
after the warm-up, and the real CLI under a pseudo-terminal showing progress while it trains."""

import io
import os
import re
import select
import sys
import time

import pytest

from dlbench.cli.progress import ProgressDisplay, duration, terminal_size


def feed(display, total: int, warmup: int, step_s: float, name: str = "training") -> None:
    display({"event": "phase", "name": name, "total": total, "warmup": warmup})
    for i in range(total):
        time.sleep(step_s)
        display({"event": "step", "done": i + 1, "total": total, "loss": 1.0 / (i + 1), "epoch": 0})
    display.close()


def test_duration_reads_as_a_clock():
    assert duration(5) == "0:05" and duration(125) == "2:05" and duration(3725) == "1:02:05"


def test_a_log_gets_status_lines_with_eta_and_one_finish_estimate_after_the_warm_up():
    out = io.StringIO()
    feed(ProgressDisplay("numpy/mlp", stream=out, interactive=False, interval=0.1), total=12, warmup=2, step_s=0.05)
    lines = out.getvalue().splitlines()
    assert lines[0] == "numpy/mlp: training (12 steps)"
    estimates = [l for l in lines if "after the warm-up" in l]
    assert len(estimates) == 1 and re.search(r"about \d+:\d\d to go, done around \d\d:\d\d:\d\d", estimates[0])
    assert any(re.search(r"training \d+/12 steps, [\d.]+ steps/s, loss [\d.]+, ETA \d+:\d\d", l) for l in lines)


def test_a_log_gets_a_line_while_a_long_step_runs():
    out = io.StringIO()
    display = ProgressDisplay("torch/alexnet", stream=out, interactive=False, interval=0.3)
    display({"event": "phase", "name": "training", "total": 10, "warmup": 1})
    time.sleep(1.5)  # no events: the heartbeat must still report
    display.close()
    assert "torch/alexnet: training 0/10 steps" in out.getvalue()


def test_any_phase_with_a_total_gets_a_bar_on_a_terminal():
    out = io.StringIO()
    feed(ProgressDisplay("jax/lenet5", stream=out, interactive=True), total=5, warmup=1, step_s=0.02, name="tuning")
    text = out.getvalue()
    assert "jax/lenet5 tuning" in text and re.search(r"[2-5]/5 ", text) and "step/s" in text and "loss=" in text


def test_an_unsized_terminal_still_gets_a_bar():
    assert terminal_size(io.StringIO()) == (100, 24)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pty")
def test_the_cli_shows_progress_while_it_trains_under_a_pseudo_terminal(test_plugins, tmp_path):
    """`dlbench run` on a pseudo-terminal: bar updates with a growing step count arrive before the
    run ends (read incrementally, with timestamps), then the finish estimate, then the summary."""
    import pty

    argv = [sys.executable, "-m", "dlbench.cli.main", "run", "-b", "numpy", "-m", "mlp", "-d", "synthetic",
            "--steps", "60", "--warmup", "2", "--batch-size", "8", "--no-tune", "--timeout", "200",
            "--output", str(tmp_path)]
    env = {**os.environ, "DLBENCH_CACHE_DIR": str(tmp_path / "cache")}
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(argv[0], argv, env)
    seen: list[tuple[float, str]] = []
    start, buffer = time.monotonic(), b""
    while time.monotonic() - start < 240:
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        now = time.monotonic() - start
        buffer += data
        *parts, buffer = re.split(rb"[\r\n]", buffer)
        seen += [(now, p.decode(errors="replace")) for p in parts if p.strip()]
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "\n".join(t for _, t in seen[-20:])
    end = next(t for t, text in seen if "step time median" in text)  # the summary: training is over
    counts = {int(m.group(1)): t for t, text in seen if (m := re.search(r"numpy/mlp training:.*?(\d+)/62 ", text))}
    during = {n: t for n, t in counts.items() if 0 < n < 62 and t < end}
    assert len(during) >= 3, f"too few bar updates during training: {sorted(counts)}"
    assert any("after the warm-up" in text and "done around" in text for _, text in seen)

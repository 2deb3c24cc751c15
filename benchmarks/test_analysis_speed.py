"""How long `dlbench report` takes on many records: loading, statistics and the markdown report.

The records are the published ones (``reports/results``) copied with distinct warm-up counts and
ids into tmp_path, so each copy is a configuration of its own with the original's runs, step counts
and loss curves (a distinct seed would not do: seeds are replicates of one configuration).
Issue 18's targets on the 2-core development VM: 1,000 records in under 2 s, 10,000 in under 20 s.
Run with ``pytest benchmarks/test_analysis_speed.py`` (add ``--benchmark-disable`` to only check
that it works).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from dlbench.analysis.report import write_report
from dlbench.analysis.results import load_results
from dlbench.execution.sweep import cell_key

PUBLISHED = Path(__file__).resolve().parent.parent / "reports" / "results"


def make_records(directory: Path, count: int) -> Path:
    """``count`` copies of the published records, each copy set with its own warm-up count."""
    templates = [json.loads(p.read_text()) for p in sorted(PUBLISHED.glob("*.json"))]
    if not templates:
        pytest.skip(f"no published records in {PUBLISHED}")
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        data = templates[i % len(templates)]
        data["config"]["warmup"] = 1000 + i // len(templates)
        repeat = data["id"].rsplit("-r", 1)[1] if "-r" in data["id"] else "0"
        data["id"] = f"{uuid.uuid4().hex[:12]}-{cell_key(data['config'])}-r{repeat}"
        (directory / f"record-{i:05d}.json").write_text(json.dumps(data))
    return directory


@pytest.fixture(scope="module")
def thousand(tmp_path_factory) -> Path:
    return make_records(tmp_path_factory.mktemp("records-1000"), 1000)


def load_and_report(records: Path, out: Path, plots: bool) -> str:
    df = load_results(records)
    return write_report(df, out, command="dlbench report", plots=plots).read_text()


def test_report_of_1000_records(benchmark, thousand, tmp_path):
    """Loading, statistics, markdown: the part that grows with the number of records."""
    text = benchmark.pedantic(load_and_report, args=(thousand, tmp_path / "r.md", False), rounds=3, iterations=1)
    assert "from 1000 records" in text and "## Verdict" in text


def test_report_of_1000_records_with_plots(benchmark, thousand, tmp_path):
    """The same with the PNG plots, whose panels grow with the comparisons, not the records."""
    text = benchmark.pedantic(load_and_report, args=(thousand, tmp_path / "r.md", True), rounds=2, iterations=1)
    assert "![speed](r-speed.png)" in text


@pytest.mark.slow
def test_report_of_10000_records(benchmark, tmp_path):
    records = make_records(tmp_path / "records", 10_000)
    text = benchmark.pedantic(load_and_report, args=(records, tmp_path / "r.md", False), rounds=1, iterations=1)
    assert "from 10000 records" in text

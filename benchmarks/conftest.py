"""Prints, per benchmark group, dlbench's median step time against the best hand-written loop's."""

import statistics


def pytest_terminal_summary(terminalreporter, config):
    session = getattr(config, "_benchmarksession", None)
    if session is None or not session.benchmarks:
        return
    groups: dict[str, dict[str, float]] = {}
    for bench in session.benchmarks:
        if bench.stats is not None and bench.stats.rounds:
            groups.setdefault(bench.group or "", {})[bench.name] = statistics.median(bench.stats.data)
    terminalreporter.section("dlbench vs hand-written (ratio of median step times; < 1.03 is the target)")
    for group, medians in sorted(groups.items()):
        hand = {n: m for n, m in medians.items() if "handwritten" in n}
        ours = {n: m for n, m in medians.items() if "dlbench" in n}
        if not hand or not ours:
            continue
        best_name, best = min(hand.items(), key=lambda kv: kv[1])
        for name, median in sorted(ours.items()):
            terminalreporter.write_line(
                f"{group}: {name} {median * 1e3:.3f} ms vs {best_name} {best * 1e3:.3f} ms -> ratio {median / best:.3f}"
            )

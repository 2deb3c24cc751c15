"""Wall time shared out among ops that overlap: where k ops run at once (on different threads),
each is given 1/k of that time, so the shares add up to the time at least one op ran, never more."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable


def exclusive(intervals: Iterable[tuple[float, float, Hashable]], start: float, end: float
              ) -> tuple[Counter, float]:
    """(each key's share of the wall time in [start, end], the time at least one interval covered).

    ``intervals`` are ``(begin, finish, key)``, clipped to the window; several may share a key."""
    points: list[tuple[float, int, Hashable]] = []
    for begin, finish, key in intervals:
        begin, finish = max(begin, start), min(finish, end)
        if finish > begin:
            points += [(begin, 1, key), (finish, -1, key)]
    points.sort(key=lambda p: (p[0], p[1]))  # at a shared instant, endings first
    shares: Counter = Counter()
    active: Counter = Counter()
    running, busy, last = 0, 0.0, start
    for t, change, key in points:
        if running and t > last:
            span = t - last
            busy += span
            for k, n in active.items():
                shares[k] += span * n / running
        last = t
        active[key] += change
        running += change
        if not active[key]:
            del active[key]
    return shares, busy


def self_time(events: Iterable[tuple[float, float, Hashable, Hashable]]) -> list[tuple[float, float, Hashable]]:
    """``(begin, finish, thread, key)`` events as intervals of their own time: where an event contains
    others on its thread (a while loop and the ops of its body), it keeps only the time they leave."""
    threads: dict[Hashable, list] = {}
    for begin, finish, thread, key in events:
        threads.setdefault(thread, []).append((begin, finish, key))
    out: list[tuple[float, float, Hashable]] = []

    def close(stack: list) -> None:
        finish, key, cursor = stack.pop()
        out.append((cursor, finish, key))
        if stack:
            stack[-1][2] = max(stack[-1][2], finish)

    for evs in threads.values():
        stack: list = []  # [finish, key, where its own time resumes]
        for begin, finish, key in sorted(evs, key=lambda e: (e[0], -e[1])):
            while stack and stack[-1][0] <= begin:
                close(stack)
            if stack:
                out.append((stack[-1][2], begin, stack[-1][1]))
                stack[-1][2] = finish
            stack.append([finish, key, begin])
        while stack:
            close(stack)
    return [(b, f, k) for b, f, k in out if f > b]

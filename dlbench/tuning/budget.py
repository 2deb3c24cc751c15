"""Whether tuning pays for itself: a run tunes only when timing its candidates is expected to take
no longer than the run itself (``--tune`` tunes regardless, ``--no-tune`` never).

First, by counting: each candidate takes WARMUP_STEPS + MIN_ROUNDS steps, so a run of fewer steps
than that in all is not tuned (an inference run that lasts at least some seconds is not judged by
its count). Then by timing :data:`PROBE_STEPS` steps of the plain default (the
first includes its compilation; the median of the others is the step time): the run is predicted
from them, and so is tuning, where a candidate that turns a
compiler on (an option's ``compiles`` values, e.g. torch.compile) costs what such compilations cost
on this machine before (the tuning cache's history), or :data:`COMPILE_GUESS_S` when none was timed.
"""

from __future__ import annotations

from dataclasses import dataclass

from dlbench.tuning.timing import MIN_ROUNDS, WARMUP_STEPS, Timing

#: a compilation's cost before one was timed here: torch.compile's first step of the zoo's MLP took
#: 3.4 s and of LeNet-5 39 s (cold caches) on the 2-core reference VM
COMPILE_GUESS_S = 10.0
#: steps of the default timed before deciding: the first (compilation), then a median of the rest
PROBE_STEPS = 5


def too_few_steps(run_steps: int, candidates: int) -> str | None:
    """Why a run of ``run_steps`` steps is too short to tune ``candidates`` candidates, or None."""
    need = candidates * (WARMUP_STEPS + MIN_ROUNDS)
    if run_steps >= need:
        return None
    return (f"not tuned: the run's {run_steps} steps are fewer than the {need} that timing its {candidates} "
            f"candidates takes (--tune tunes regardless)")


@dataclass(frozen=True)
class Estimate:
    """Predicted seconds of the run and of tuning it, from the default's warm-up steps."""

    run_s: float
    tuning_s: float
    compile_s: float | None  # what one compiling candidate's first step is expected to take
    compile_source: str | None
    candidates: int

    @property
    def pays(self) -> bool:
        return self.tuning_s <= self.run_s

    def record(self) -> dict:
        return {"run_estimate_s": self.run_s, "tuning_estimate_s": self.tuning_s, "compile_estimate_s": self.compile_s,
                "compile_estimate_source": self.compile_source}

    def note(self) -> str:
        compiles = (f"; a compiling candidate's first step ~{self.compile_s:.0f} s ({self.compile_source})"
                    if self.compile_s is not None else "")
        return (f"not tuned: the run is expected to take {self.run_s:.1f} s and timing its {self.candidates} candidates "
                f"about {self.tuning_s:.1f} s{compiles} (--tune tunes regardless)")


def estimate(default: Timing, compiling: list[bool], run_steps: int, history: list[float],
             run_seconds: float = 0.0) -> Estimate:
    """``default``: the warmed-up default candidate; ``compiling[i]``: whether candidate ``i``
    (the default is 0) turns a compiler on; ``history``: compile times timed here before. The run
    takes ``run_steps`` steps and, serving requests, at least ``run_seconds`` (``--min-duration``)."""
    step, first = default.warm_s or 0.0, default.first_s or 0.0
    probed = len(default.warm_times) + 1
    compile_s, source = None, None
    if any(compiling[1:]):
        if history:
            compile_s = sorted(history)[len(history) // 2]
            source = f"median of {len(history)} compilation(s) timed here before"
        else:
            compile_s, source = COMPILE_GUESS_S, "none timed on this machine yet: a guess"
    rounds = MIN_ROUNDS * step * len(compiling)
    later_warmups = sum((compile_s if c else first) + (WARMUP_STEPS - 1) * step for c in compiling[1:])
    return Estimate(run_s=first + max((run_steps - 1) * step, run_seconds),
                    tuning_s=first + (probed - 1) * step + later_warmups + rounds, compile_s=compile_s,
                    compile_source=source, candidates=len(compiling))

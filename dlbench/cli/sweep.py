"""``dlbench sweep``: every combination of the given settings, each run in its own process, resumable;
here, on a Slurm cluster, or through submitit's local executor. Heavy imports happen inside the
command, so that ``dlbench list`` stays fast."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator

import click
from click.core import ParameterSource

from dlbench.cli.options import OPTIONS, given, run_options, split
from dlbench.cli.sweep_progress import SweepProgress

SWEEP_EXAMPLES = """
\b
Examples:
  dlbench sweep --backend torch,jax --model lenet5,mlp --dataset synthetic --steps 50 --repeat 3 --output results/sweep
  dlbench sweep --config sweep.toml               # the same matrix from a file; rerun to resume
  dlbench sweep --config sweep.toml --retry-failed
  dlbench sweep --config sweep.toml --executor slurm --partition gpu --gpus-per-run 1 --max-parallel 8
  dlbench sweep --config sweep.toml --executor slurm --nodes 2 --tasks-per-node 4 --gpus-per-task 1
  dlbench sweep --status results/sweep            # queued, running, done and failed runs, with job ids
  dlbench sweep -b torch,tf -o torch.compile=true,false -o tensorflow.xla=true --dry-run
\b
A sweep file (TOML) takes the options below by their Python names; a list is an axis:
  backend = ["torch", "jax"]
  model = ["lenet5", "mlp"]
  batch_size = [32, 64]
  dataset = "synthetic"
  steps = 50
  repeat = 3
  output = "results/sweep"
  [options.torch]          # backend options; plain [options] keys go to every backend
  compile = [false, true]
  [[matrix]]               # optional: several matrices, each overriding the settings above
  model = "alexnet"
  batch_size = 16
"""

AXES = {opt.field for opt in OPTIONS if "sweep" in opt.axis}


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _cli_options(pairs: tuple[str, ...]) -> dict:
    """``KEY=VALUE`` (every backend) or ``BACKEND.KEY=VALUE``; ``VALUE,VALUE`` is an axis."""
    from dlbench.backend import parse_value

    out: dict = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not [BACKEND.]KEY=VALUE (e.g. torch.compile=true)", param_hint="--option")
        values = [parse_value(v) for v in value.split(",")]
        scope, dot, name = key.rpartition(".")
        target = out.setdefault(scope, {}) if dot else out
        target[name] = values if len(values) > 1 else values[0]
    return out


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt, on which the runner kills its worker instead of orphaning it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


EXIT_PENDING = 75  # EX_TEMPFAIL: runs still queued or running; rerun later


def scheduler_options(f):
    """How a sweep's runs are executed: here one after another, or as jobs through submitit."""
    decls = [
        click.option("--executor", type=click.Choice(["process", "slurm", "local"]), default="process", show_default=True,
                     help="process: one run after another here; slurm: one Slurm job per run (submitit job array); "
                          "local: the same jobs on this machine (submitit's local executor)."),
        click.option("--cpus-per-run", type=click.IntRange(min=1), help="CPUs each run's job asks for (slurm)."),
        click.option("--gpus-per-run", type=click.IntRange(min=0), help="GPUs each run's job asks for (slurm, local)."),
        click.option("--nodes", type=click.IntRange(min=1), help="Nodes of each run's job (slurm; local: 1)."),
        click.option("--tasks-per-node", type=click.IntRange(min=1),
                     help="Tasks (processes) of each run's job on each node, one data-parallel process each; "
                          "--replicas defaults to nodes x tasks (slurm, local)."),
        click.option("--gpus-per-task", type=click.IntRange(min=0), help="GPUs of each task (slurm, local)."),
        click.option("--partition", help="Slurm partition to submit to."),
        click.option("--time-limit", help="Time limit of each run's job: minutes or [D-]HH:MM[:SS] (default 60 minutes)."),
        click.option("--max-parallel", type=click.IntRange(min=1),
                     help="Runs at once: the job array's parallelism on Slurm (default all), local jobs (default 1)."),
        click.option("--slurm-option", "slurm_options", multiple=True, metavar="KEY=VALUE",
                     help="Extra sbatch option, repeatable (account=proj, qos=high, mem=32G, constraint=a100)."),
        click.option("--wait-timeout", type=click.FloatRange(min=0, min_open=True),
                     help="Seconds to wait for the jobs before leaving them running (default: the time limit per "
                          "wave of runs, plus an hour of queueing on Slurm)."),
        click.option("--status", type=click.Path(exists=True, file_okay=False), metavar="DIR",
                     help="Show the queued, running, done and failed runs in DIR, with job ids, and exit."),
    ]
    for decl in reversed(decls):
        f = decl(f)
    return f


def _executor_settings(ctx: click.Context, spec: dict, values: dict):
    """Scheduler settings: the sweep file's, overridden by the command line's (into ``spec``)."""
    from dlbench.execution.executors.settings import SPEC_KEYS, ExecutorSettings, parse_slurm_options

    for name in SPEC_KEYS:
        value = values.pop(name)
        if ctx.get_parameter_source(name) in (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP):
            continue
        if name == "slurm_options":
            value = {**(spec.get("slurm_options") or {}), **parse_slurm_options(value)}
        spec[name] = value
    return ExecutorSettings.from_spec(spec)


def _notify(progress, line: str) -> None:
    if progress.enabled and progress.interactive:
        progress.bar.write(line, file=sys.stderr)
    elif progress.enabled:
        click.echo(line, err=True)


@click.command(epilog=SWEEP_EXAMPLES)
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
              help="Sweep file (.toml, or .yaml with pyyaml); options given on the command line override it.")
@run_options("sweep")
@click.option("--output", default="results", show_default=True, type=click.Path(file_okay=False), help="Where result records go.")
# several short runs, interleaved (as pyperf does): the run, not the step, is the unit of replication
@click.option("--repeat", default=None, type=int,
              help="Runs of each configuration, each in its own process, interleaved; intervals and significance "
                   "need at least 3 (the run is the unit of replication).  [default: 5; 1 with a list of seeds, "
                   "which are the replicates]")
@click.option("--retry-failed", is_flag=True, help="Run again what is recorded as failed (otherwise skipped).")
@click.option("--dry-run", is_flag=True, help="List the runs still to do, run nothing.")
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@scheduler_options
@click.pass_context
def sweep(ctx: click.Context, config_file, options, output, repeat, retry_failed, dry_run, quiet, **settings):
    """Run every combination of the given backends, models, datasets and batch sizes, each in its
    own process, into --output. Rerunning the same sweep skips what is already recorded."""
    from pathlib import Path

    from dlbench.execution import sweep as sw

    if (status_dir := settings.pop("status")) is not None:
        from dlbench.execution.executors import status

        click.echo(status.render(status.collect(Path(status_dir)), Path(status_dir)))
        return
    spec = sw.load_spec(config_file) if config_file else {}
    for name, value in given(ctx, settings).items():
        spec[name] = split(name, value) if name in AXES else value
    if ctx.get_parameter_source("output") not in (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP) \
            or "output" not in spec:
        spec["output"] = output
    if repeat is not None:
        spec["repeat"] = repeat
    spec["repeat"], why = sw.repeats(spec)
    spec["options"] = sw.merge_options(spec.get("options") or {}, _cli_options(options))
    scheduling = _executor_settings(ctx, spec, settings)
    configs = sw.expand(scheduling.shape_runs(spec))
    output = Path(spec["output"])
    todo = sw.plan(configs, spec["repeat"], output, retry_failed)
    total = len(configs) * spec["repeat"]
    skipped = f", {len(todo.failed_before)} failed before (not retried; --retry-failed)" if todo.failed_before else ""
    click.echo(f"sweep: {_n(len(configs), 'configuration')} × {_n(spec['repeat'], 'repeat')} = {_n(total, 'run')}: "
               f"{len(todo.done)} recorded{skipped}, {len(todo.todo)} to run, into {output}{why}", err=True)
    if dry_run:
        for run in todo.todo:
            click.echo(f"{run.cell}  {run.label}")
        return

    from dlbench.execution import executors

    progress = SweepProgress(len(todo.todo), enabled=not quiet)
    hooks = executors.Hooks(progress.start, progress.event, progress.done, lambda line: _notify(progress, line))
    try:
        with _sigterm_interrupts():
            outcome = executors.get(scheduling).execute(todo, output, hooks)
    except KeyboardInterrupt:
        progress.close()
        goes_on = "" if scheduling.executor == "process" else \
            f"submitted jobs go on (`dlbench sweep --status {output}`); "
        click.echo(f"sweep interrupted; {goes_on}rerun the same command to resume (records so far are in {output})", err=True)
        sys.exit(130)
    progress.close()
    failed = [(run.label, r.error) for run, r in todo.failed_before] + \
             [(run.label, r.error) for run, r in outcome.finished if not r.ok]
    ok = len(todo.done) + sum(r.ok for _, r in outcome.finished)
    waiting = f", {len(outcome.pending)} still queued or running" if outcome.pending else ""
    click.echo(f"sweep: {ok} of {total} runs ok, {len(failed)} failed{waiting}; records in {output}", err=True)
    for name, error in failed:
        click.echo(f"  failed: {name}: {error['kind']}: {error['message'].splitlines()[0][:300]}", err=True)
    for run, state in outcome.pending:
        click.echo(f"  waiting: {run.label}: {state}", err=True)
    if outcome.pending:
        click.echo(f"sweep: stopped waiting after {scheduling.wait_limit_s(len(todo.todo)):g} s (--wait-timeout); the jobs "
                   f"go on: rerun the same command to collect them, or `dlbench sweep --status {output}`", err=True)
    if failed:
        sys.exit(1)
    if outcome.pending:
        sys.exit(EXIT_PENDING)

"""The ``dlbench`` command line."""

from __future__ import annotations

import sys
from importlib import metadata

import click

from dlbench import paths, registry
from dlbench.cli.options import run_options
from dlbench.errors import DlbenchError

EXAMPLES = """
\b
Examples:
  dlbench list
  dlbench run                                   # lenet5 on torch, real digits, about a minute
  dlbench run --backend torch --model alexnet --dataset synthetic --steps 10 --batch-size 16
  dlbench run --backend tf --model lenet5 --dataset fashion-mnist --epochs 5 -o xla=true
  dlbench verify --model lenet5 --backend torch,tensorflow,jax
"""


@click.group(epilog=EXAMPLES)
@click.version_option(metadata.version("dlbench"), prog_name="dlbench")
def cli():
    """Benchmark the same models and training loop on PyTorch, TensorFlow and JAX."""
    paths.warn_retired()


def _check(kind: str, name: str) -> str:
    try:
        getattr(registry, f"get_{kind}")(name)
    except DlbenchError as e:
        raise click.BadParameter(str(e), param_hint=f"--{kind}") from None
    return name


def _options(pairs: tuple[str, ...]) -> dict:
    from dlbench.backend import parse_value

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE (e.g. compile=true)", param_hint="--option")
        out[key] = parse_value(value)
    return out


def _config(ctx: click.Context, command: str, values: dict, backend_options: dict, **fixed):
    from dlbench.cli.options import build_config

    for kind in ("backend", "model", "dataset"):
        if fixed.get(kind, values.get(kind)) is not None:
            _check(kind, fixed.get(kind, values.get(kind)))
    try:
        return build_config(ctx, command, values, backend_options, **fixed)
    except DlbenchError as e:
        raise click.UsageError(str(e)) from None


@cli.command(epilog=EXAMPLES)
@run_options("run")
@click.option("--output", default="results", show_default=True, type=click.Path(file_okay=False), help="Where result records go.")
@click.option("--json", "as_json", is_flag=True, help="Print the full result record as JSON on stdout, nothing else.")
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@click.pass_context
def run(ctx, options, output, as_json, quiet, **values):
    """Train (or serve) MODEL on BACKEND in an isolated process and record what it measured."""
    from dlbench.cli import summary
    from dlbench.cli.progress import ProgressDisplay
    from dlbench.execution import launcher, runner

    config = _config(ctx, "run", values, _options(options))
    display = ProgressDisplay(f"{config.backend}/{config.model}", enabled=not quiet)
    try:
        result = runner.run(config, on_event=display)
    finally:
        display.close()
    launch = launcher.detect()
    if not launcher.writes_record(config.replicas, launch):
        click.echo(f"dlbench: {launch.describe()} of a {config.replicas}-replica run: process 0 writes the record",
                   err=True)
        sys.exit(0 if result.ok else 1)
    path = result.save(output)
    if as_json:
        click.echo(result.to_json())
    else:
        click.echo(summary.table(result))
    click.echo(f"result saved to {path}", err=True)
    if not result.ok:
        click.echo(f"error: {result.error['message']}", err=True)
        sys.exit(1)


@cli.command(epilog=EXAMPLES)
@run_options("verify", backend="torch,tensorflow,jax", dataset="synthetic", batch_size=8, steps=20, optimizer="sgd")
@click.option("--dtype", default="float32", show_default=True, type=click.Choice(["float32", "float64"]),
              help="Precision of the comparison; float64 removes the round-off that deep models amplify in training.")
@click.option("--rtol-logits", default=None, type=float,
              help="Bound on initial logits' relative difference  [default: 1e-5 in float32, 1e-10 in float64, "
                   "2e-2 in mixed-bfloat16, 2.5e-3 in mixed-float16]")
@click.option("--rtol-trained", default=None, type=float,
              help="Bound on losses and trained logits  [default: 1e-3 in float32, 1e-8 in float64, "
                   "5e-2 in mixed-bfloat16, 5e-3 in mixed-float16]")
@click.pass_context
def verify(ctx, options, dtype, rtol_logits, rtol_trained, **values):
    """Check that backends compute the same logits and losses from the same weights and batches."""
    from tabulate import tabulate

    from dlbench.cli.options import split
    from dlbench.measure.verify import Tolerance, verify as run_verify

    if values.get("model") is None:
        raise click.UsageError("Missing option '--model' / '-m': the model to verify")
    listed = values["backend"] if values["backend"] is not None else "torch,tensorflow,jax"
    requested = split("backend", listed)
    requested = requested if isinstance(requested, list) else [requested]
    names = list(dict.fromkeys(registry.get_backend(_check("backend", b)).name for b in requested))
    if len(names) < 2:
        raise click.BadParameter(f"need at least two backends to compare, got {names}", param_hint="--backend")
    train = values.get("steps") != 0  # --steps 0: compare the initial (eval-mode) logits only
    values["steps"] = values["steps"] if train else None
    config = _config(ctx, "verify", values, _options(options), backend=names[0], warmup=0)
    announce = lambda name: click.echo(f"verify: running {name} ...", err=True)  # noqa: E731
    default = Tolerance.default(dtype, config.precision)
    tol = Tolerance(default.logits if rtol_logits is None else rtol_logits,
                    default.trained if rtol_trained is None else rtol_trained)
    rows, errors = run_verify(config, names, tol, announce, dtype, train)
    if rows:
        click.echo(tabulate([{**r, "ok": "PASS" if r["ok"] else "FAIL"} for r in rows], headers="keys", floatfmt=".2e"))
    for name, err in errors.items():
        click.echo(f"error: {name}: {err['kind']}: {err['message']}", err=True)
    if errors or not all(r["ok"] for r in rows):
        sys.exit(1)


@cli.command("list")
@click.argument("what", required=False, type=click.Choice(["backends", "models", "datasets"]))
def list_(what):
    """List the registered backends, models and datasets (imports no framework)."""
    from tabulate import tabulate

    if what in (None, "backends"):
        rows = []
        for info in registry.backends().values():
            status = "installed" if info.available else f"not installed: {info.install_hint}"
            rows.append((info.name, ", ".join(info.aliases), status, info.summary))
        click.echo(tabulate(rows, ["backend", "aliases", "status", "summary"]) + "\n")
    if what in (None, "models"):
        rows = [(m.name, "x".join(map(str, m.input_shape)) if m.input_shape else "dataset's", m.summary)
                for m in registry.models().values()]
        click.echo(tabulate(sorted(rows), ["model", "input", "summary"]) + "\n")
    if what in (None, "datasets"):
        rows = [(d.name, d.summary) for d in registry.datasets().values()]
        click.echo(tabulate(sorted(rows), ["dataset", "summary"]))
    from dlbench.plugins import failures

    if failures:  # whatever is listed, since a broken plugin may have provided any of them
        rows = [(f.name, f.source, f"failed to load: {f.error}") for f in failures.values()]
        click.echo("\n" + tabulate(rows, ["plugin (left out)", "from", "status"]))


from dlbench.cli.analysis import compare, report, sweep  # noqa: E402

for _command in (sweep, report, compare):
    cli.add_command(_command)

from dlbench.cli.calibrate import calibrate  # noqa: E402
from dlbench.cli.doctor import doctor  # noqa: E402

cli.add_command(calibrate)
cli.add_command(doctor)


def main():
    try:
        cli(standalone_mode=True)
    except DlbenchError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()

"""The ``dlbench`` command line."""

from __future__ import annotations

import sys
from importlib import metadata

import click

from dlbench import registry
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


@cli.command(epilog=EXAMPLES)
@click.option("--backend", "-b", default="torch", show_default=True, help="Backend name (see `dlbench list backends`).")
@click.option("--model", "-m", default="lenet5", show_default=True, help="Model name (see `dlbench list models`).")
@click.option("--dataset", "-d", default="digits", show_default=True, help="Dataset name (see `dlbench list datasets`).")
@click.option("--batch-size", default=64, show_default=True, type=int)
@click.option("--epochs", default=10, show_default=True, type=int, help="Passes over the training split.")
@click.option("--steps", default=None, type=int, help="Timed steps after warm-up; overrides --epochs.")
@click.option("--warmup", default=3, show_default=True, type=int, help="Untimed steps first (compilation, caches).")
@click.option("--optimizer", default="adam", show_default=True, type=click.Choice(["sgd", "momentum", "adagrad", "rmsprop", "adam"]))
@click.option("--lr", default=None, type=float, help="Learning rate [default: per optimizer, adam 1e-3, sgd 1e-2].")
@click.option("--seed", default=0, show_default=True, type=int, help="Seeds weights, data order and dropout.")
@click.option("--device", default="cpu", show_default=True, type=click.Choice(["cpu", "gpu"]))
@click.option("--data-dir", default=None, type=click.Path(file_okay=False), help="Folder with the dataset's files.")
@click.option("--download", is_flag=True, help="Download missing dataset files (checksum-verified).")
@click.option("--output", default="results", show_default=True, type=click.Path(file_okay=False), help="Where result records go.")
@click.option("--timeout", default=None, type=float, help="Kill the run after this many seconds (recorded as failed).")
@click.option("--augment", default="none", show_default=True, help="Training augmentation, e.g. crop4,flip.")
@click.option("--prefetch", default=None, type=int, help="Batches prepared ahead in a thread [default: 2 on gpu, 0 on cpu].")
@click.option("--option", "-o", "options", multiple=True, metavar="KEY=VALUE", help="Backend setting, e.g. compile=true, xla=false.")
@click.option("--json", "as_json", is_flag=True, help="Print the full result record as JSON on stdout, nothing else.")
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
def run(backend, model, dataset, batch_size, epochs, steps, warmup, optimizer, lr, seed, device, data_dir, download,
        output, timeout, augment, prefetch, options, as_json, quiet):
    """Train MODEL on BACKEND in an isolated process and record what it measured."""
    from dlbench import runner, summary
    from dlbench.config import RunConfig
    from dlbench.progress import ProgressDisplay

    for kind, name in (("backend", backend), ("model", model), ("dataset", dataset)):
        _check(kind, name)
    try:
        config = RunConfig(
            backend=registry.get_backend(backend).name, model=model, dataset=dataset, batch_size=batch_size,
            epochs=epochs, steps=steps, warmup=warmup, optimizer=optimizer, lr=lr, seed=seed, device=device,
            data_dir=data_dir, download=download, timeout=timeout, augment=augment, prefetch=prefetch, backend_options=_options(options),
        )
    except DlbenchError as e:
        raise click.UsageError(str(e)) from None

    display = ProgressDisplay(f"{config.backend}/{model}", enabled=not quiet)
    try:
        result = runner.run(config, on_event=display)
    finally:
        display.close()
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
@click.option("--model", "-m", required=True, help="Model to verify.")
@click.option("--backend", "-b", "backends", default="torch,tensorflow,jax", show_default=True,
              help="Comma-separated backends, compared pairwise.")
@click.option("--dataset", "-d", default="synthetic", show_default=True)
@click.option("--batch-size", default=8, show_default=True, type=int)
@click.option("--steps", default=20, show_default=True, type=int, help="Training steps compared.")
@click.option("--optimizer", default="sgd", show_default=True, type=click.Choice(["sgd", "momentum", "adagrad", "rmsprop", "adam"]))
@click.option("--lr", default=None, type=float)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--device", default="cpu", show_default=True, type=click.Choice(["cpu", "gpu"]))
@click.option("--data-dir", default=None, type=click.Path(file_okay=False))
@click.option("--dtype", default="float32", show_default=True, type=click.Choice(["float32", "float64"]),
              help="Precision of the comparison; float64 removes the round-off that deep models amplify in training.")
@click.option("--rtol-logits", default=None, type=float,
              help="Bound on initial logits' relative difference  [default: 1e-5 in float32, 1e-10 in float64]")
@click.option("--rtol-trained", default=None, type=float,
              help="Bound on losses and trained logits  [default: 1e-3 in float32, 1e-8 in float64]")
@click.option("--option", "-o", "options", multiple=True, metavar="KEY=VALUE", help="Backend setting (applies to every backend that has it).")
def verify(model, backends, dataset, batch_size, steps, optimizer, lr, seed, device, data_dir, dtype, rtol_logits,
           rtol_trained, options):
    """Check that backends compute the same logits and losses from the same weights and batches."""
    from tabulate import tabulate

    from dlbench.config import RunConfig
    from dlbench.verify import Tolerance, verify as run_verify

    names = list(dict.fromkeys(registry.get_backend(_check("backend", b.strip())).name for b in backends.split(",") if b.strip()))
    _check("model", model)
    _check("dataset", dataset)
    if len(names) < 2:
        raise click.BadParameter(f"need at least two backends to compare, got {names}", param_hint="--backend")
    try:
        config = RunConfig(backend=names[0], model=model, dataset=dataset, batch_size=batch_size, steps=steps,
                           optimizer=optimizer, lr=lr, seed=seed, device=device, data_dir=data_dir, warmup=0,
                           backend_options=_options(options))
    except DlbenchError as e:
        raise click.UsageError(str(e)) from None
    announce = lambda name: click.echo(f"verify: running {name} ...", err=True)  # noqa: E731
    default = Tolerance.default(dtype)
    tol = Tolerance(default.logits if rtol_logits is None else rtol_logits,
                    default.trained if rtol_trained is None else rtol_trained)
    rows, errors = run_verify(config, names, tol, announce, dtype)
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


from dlbench.analysis_cli import compare, report, sweep  # noqa: E402

for _command in (sweep, report, compare):
    cli.add_command(_command)


def main():
    try:
        cli(standalone_mode=True)
    except DlbenchError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()

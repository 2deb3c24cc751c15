"""``dlbench verify``: do the backends compute the same logits and losses from the same weights?"""

from __future__ import annotations

import sys

import click

from dlbench import registry
from dlbench.cli.examples import EXAMPLES
from dlbench.cli.options import backend_options, check_name, config_from, run_options, split


@click.command(epilog=EXAMPLES)
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

    from dlbench.execution.verify import Tolerance, verify as run_verify

    if values.get("model") is None:
        raise click.UsageError("Missing option '--model' / '-m': the model to verify")
    listed = values["backend"] if values["backend"] is not None else "torch,tensorflow,jax"
    requested = split("backend", listed)
    requested = requested if isinstance(requested, list) else [requested]
    names = list(dict.fromkeys(registry.get_backend(check_name("backend", b)).name for b in requested))
    if len(names) < 2:
        raise click.BadParameter(f"need at least two backends to compare, got {names}", param_hint="--backend")
    train = values.get("steps") != 0  # --steps 0: compare the initial (eval-mode) logits only
    values["steps"] = values["steps"] if train else None
    config = config_from(ctx, "verify", values, backend_options(options), backend=names[0], warmup=0)
    model = registry.get_model(config.model)
    for name in names:  # before any worker: a backend that cannot build the model is refused up front
        backend = registry.get_backend(name)
        task = "train" if train and "train" in backend.tasks else "inference"
        if why := registry.unsupported(model, backend, task, config.optimizer):
            raise click.UsageError(why)
    announce = lambda name: click.echo(f"verify: running {name} ...", err=True)  # noqa: E731
    default = Tolerance.default(dtype, config.precision)
    tol = Tolerance(default.logits if rtol_logits is None else rtol_logits,
                    default.trained if rtol_trained is None else rtol_trained)
    rows, errors = run_verify(config, names, tol, announce, dtype, train)
    if rows:
        click.echo(tabulate([{**r, "ok": "PASS" if r["ok"] else "FAIL"} for r in rows], headers="keys", floatfmt=".2e"))
    for name, err in errors.items():
        click.echo(f"error: {error_line(name, err)}", err=True)
    if errors or not all(r["ok"] for r in rows):
        sys.exit(1)


def error_line(backend: str, error: dict) -> str:
    """``backend: message``, the backend named once, and the exception's kind only where it is not
    one of dlbench's own errors (whose message already says what was wrong)."""
    from dlbench import errors

    own = {name for name, cls in vars(errors).items() if isinstance(cls, type) and issubclass(cls, errors.DlbenchError)}
    message = error["message"] if error["kind"] in own else f"{error['kind']}: {error['message']}"
    return message if message.startswith(f"{backend}:") else f"{backend}: {message}"

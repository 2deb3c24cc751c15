"""``dlbench list``: the registered backends, models and datasets, and the plugins left out; imports
no framework."""

from __future__ import annotations

import click

from dlbench import registry


@click.command("list")
@click.argument("what", required=False, type=click.Choice(["backends", "models", "datasets", "plugins"]))
def list_(what):
    """List the registered backends, models and datasets, or the plugins and what each registered
    (imports no framework)."""
    from tabulate import tabulate

    if what == "plugins":
        click.echo(tabulate(plugin_rows(), ["plugin", "from", "module", "registered"]))

    if what in (None, "backends"):
        rows = []
        for info in registry.backends().values():
            status = "installed" if info.available else f"not installed: {info.install_hint}"
            rows.append((info.name, ", ".join(info.aliases), status, info.summary))
        click.echo(tabulate(rows, ["backend", "aliases", "status", "summary"]) + "\n")
    if what in (None, "models"):
        broken = registry.broken_models()
        backends = list(registry.backends().values())
        rows = [(m.name, "x".join(map(str, m.input_shape)) if m.input_shape else "dataset's",
                 *(runs_on(m, b) for b in backends),
                 f"BROKEN: {broken[m.name]}" if m.name in broken else m.summary) for m in registry.models().values()]
        click.echo(tabulate(sorted(rows), ["model", "input", *(b.name for b in backends), "summary"]) + "\n")
        click.echo("train: it trains and serves; serve: inference only; -: it cannot (dlbench describe -m MODEL "
                   "shows the layers)\n")
    if what in (None, "datasets"):
        rows = [(d.name, d.summary) for d in registry.datasets().values()]
        click.echo(tabulate(sorted(rows), ["dataset", "summary"]))
    from dlbench.plugins import failures

    if failures:  # whatever is listed, since a broken plugin may have provided any of them
        rows = [(f.name, f.source, f"failed to load: {f.error}") for f in failures.values()]
        click.echo("\n" + tabulate(rows, ["plugin (left out)", "from", "status"]))


def runs_on(model, backend) -> str:
    """One cell of the model x backend matrix."""
    for task, word in (("train", "train"), ("inference", "serve")):
        if task in backend.tasks and registry.unsupported(model, backend, task) is None:
            return word
    return "-"


def plugin_rows() -> list[tuple[str, str, str, str]]:
    """(name, where it came from, its module's file, what it registered) of every loaded plugin."""
    import inspect

    from dlbench import plugins

    registry.models()  # loads the plugins and calls their hooks
    rows = []
    for name, plugin in sorted(plugins.pm.list_name_plugin()):
        if plugins.is_broken(plugin):
            continue
        try:
            where = inspect.getsourcefile(plugin if inspect.ismodule(plugin) else type(plugin)) or "?"
        except TypeError:
            where = "?"
        kinds = "; ".join(f"{kind}s: {', '.join(names)}" for kind, names in registry.registered_by(name).items())
        rows.append((name, plugins.sources.get(name, "registered in-process"), where, kinds or "nothing"))
    return rows

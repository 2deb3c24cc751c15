"""``dlbench describe -m MODEL``: the declaration's layers, output shapes, parameters and MACs, with the
published figures beside the totals; nothing is built on a framework."""

from __future__ import annotations

import sys

import click

from dlbench import registry
from dlbench.cli.options import check_name


@click.command()
@click.option("--model", "-m", required=True, help="Model (see `dlbench list models`).")
@click.option("--dataset", "-d", default="digits", show_default=True,
              help="For a model that takes the dataset's input shape and classes: which dataset's.")
def describe(model, dataset):
    """Show MODEL's layers, output shapes, parameters and MACs per sample, computed from its declaration."""
    from tabulate import tabulate

    info = registry.get_model(check_name("model", model))
    if info.build is None:
        raise click.UsageError(f"model {model!r} is hand-written per backend ({', '.join(info.native)}); "
                               "it has no declaration to describe")
    data = registry.get_dataset(check_name("dataset", dataset))
    shape = info.input_shape or data.input_shape or (info.published.input_shape if info.published else None)
    classes = info.num_classes if info.input_shape else (data.num_classes or info.num_classes)
    if shape is None:
        raise click.UsageError(f"model {model!r} takes its input shape from the dataset, and {dataset!r} has none "
                               "declared; choose a dataset with -d (e.g. mnist)")
    from dlbench.graph.table import rows

    graph = info.build(tuple(shape), classes)
    table = rows(graph)
    trainable, frozen = graph.count_params()
    click.echo(f"{model}: {info.summary}\ninput {'×'.join(map(str, shape))}"
               f"{'' if info.input_shape else f' (from {dataset})'}, {classes} classes\n")
    click.echo(tabulate([(r["node"], r["layer"], r["inputs"], r["output"], f"{r['params']:,}", f"{r['macs']:,}")
                         for r in table], ["node", "layer", "inputs", "output", "parameters", "MACs"],
                        disable_numparse=True))
    click.echo(f"\ntotal: {trainable:,} trainable + {frozen:,} non-trainable parameters, "
               f"{graph.macs():,} MACs per sample (conv, dense and attention matmuls; {2 * graph.macs():,} forward FLOPs)")
    published = info.published
    if published and tuple(published.input_shape) == tuple(shape) and published.num_classes == classes:
        same = published.params == (trainable, frozen) and published.macs == graph.macs()
        click.echo(f"published: {published.params[0]:,} + {published.params[1]:,} parameters, {published.macs:,} MACs"
                   f" ({published.source}): {'the same' if same else 'DIFFERENT'}")
        if not same:
            sys.exit(1)

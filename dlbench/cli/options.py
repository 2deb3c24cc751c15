"""The options that ``run``, ``sweep`` and ``verify`` share, declared once.

Each option fills the :class:`~dlbench.config.RunConfig` field of its name; its default is the
field's (or the command's, e.g. verify's small batch), shown in ``--help``. A value the user did
not give stays out of the configuration, so a model's declared bare run (``ModelInfo.default_run``)
and a sweep file can supply it. On ``sweep`` the options marked as axes take comma-separated lists.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass
from typing import Any, Callable

import click
from click.core import ParameterSource

from dlbench import registry
from dlbench.config import DEVICES, PRECISIONS, SERVES, TASKS, TIMINGS, RunConfig, with_default_run
from dlbench.errors import DlbenchError
from dlbench.optim import OPTIMIZERS

ALL = ("run", "sweep", "verify")
RUN_SWEEP = ("run", "sweep")
#: what ``explain`` takes: the options that say which step is profiled (one process, one batch)
EXPLAIN = {"backend", "model", "dataset", "batch_size", "steps", "warmup", "optimizer", "lr", "seed", "device",
           "precision", "data_dir", "download", "timeout", "seq_len"}


@dataclass(frozen=True)
class RunOption:
    field: str
    decls: tuple[str, ...]
    help: str
    type: Any = None
    commands: tuple[str, ...] = ALL
    axis: tuple[str, ...] = ()  # commands on which the option takes a comma-separated list
    flag: bool = False

    def click_option(self, command: str, default: Any) -> Callable:
        listed = command in self.axis
        shown = RunConfig.__dataclass_fields__[self.field].default if default is MISSING else default
        shown = None if shown is MISSING else shown
        text = self.help + (" Comma-separated for several." if listed else "")
        if shown is not None and not self.flag:
            text += f"  [default: {_show(shown)}]"
        kwargs: dict[str, Any] = {"default": None, "help": text}
        if self.flag:
            kwargs = {"default": None, "is_flag": True, "help": self.help}
        elif not listed and self.type is not None:
            kwargs["type"] = self.type
        return click.option(*self.decls, self.field, **kwargs)


def _show(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


OPTIONS = (
    RunOption("backend", ("--backend", "-b"), "Backend (see `dlbench list backends`).",
              axis=("sweep", "verify", "explain")),
    RunOption("model", ("--model", "-m"), "Model (see `dlbench list models`).", axis=("sweep",)),
    RunOption("dataset", ("--dataset", "-d"), "Dataset (see `dlbench list datasets`).", axis=("sweep",)),
    RunOption("task", ("--task",), "What to measure: training or inference.", click.Choice(TASKS),
              RUN_SWEEP, axis=("sweep",)),
    RunOption("batch_size", ("--batch-size",), "Examples per step (per replica).", int, axis=("sweep",)),
    RunOption("global_batch_size", ("--global-batch-size",),
              "Examples per step over all replicas (strong scaling); replaces --batch-size.", int),
    RunOption("epochs", ("--epochs",), "Passes over the training split.", int, RUN_SWEEP),
    RunOption("steps", ("--steps",), "Timed steps after warm-up; overrides --epochs.", int),
    RunOption("warmup", ("--warmup",), "Untimed steps first (compilation, caches).", int, RUN_SWEEP),
    RunOption("optimizer", ("--optimizer",), "Optimiser.", click.Choice(OPTIMIZERS)),
    RunOption("lr", ("--lr",), "Learning rate [default: per optimizer, adam 1e-3, sgd 1e-2].", float),
    RunOption("seed", ("--seed", "--seeds"), "Seeds weights, data order and dropout.", int, axis=("sweep",)),
    RunOption("device", ("--device",), "Where to compute.", click.Choice(DEVICES)),
    RunOption("precision", ("--precision",), "Numerics: float32, TF32 matmuls, or mixed precision "
              "(float32 variables and loss).", click.Choice(PRECISIONS), axis=("sweep",)),
    RunOption("replicas", ("--replicas",), "Data-parallel replicas, on each framework's own engine.", int,
              axis=("sweep",)),
    RunOption("processes", ("--processes",), "Processes the replicas run in (JAX, TensorFlow: one per machine by "
              "default; torch: one per replica); dlbench starts them here unless a launcher (srun, torchrun) did.",
              int, axis=("sweep",)),
    RunOption("data_dir", ("--data-dir",), "Folder with the dataset's files (the text dataset: a file too).",
              click.Path()),
    RunOption("download", ("--download",), "Download missing dataset files (checksum-verified).", flag=True),
    RunOption("timeout", ("--timeout",), "Kill a run after this many seconds (recorded as failed).", float),
    RunOption("augment", ("--augment",), "Training augmentation, e.g. crop4,flip.", str, RUN_SWEEP),
    RunOption("prefetch", ("--prefetch",), "Batches prepared ahead in a thread [default: 2 on gpu, 0 on cpu].",
              int, RUN_SWEEP),
    RunOption("tune", ("--tune/--no-tune",), "Time the backend's performance settings first and run the "
              "fastest, whatever the tuning costs, or run the framework's plain defaults. [default: tune when the "
              "run is expected to take longer than tuning it]", flag=True, commands=RUN_SWEEP),
    RunOption("timing", ("--timing",), "step: sync after every step; window: one sync per --window steps.",
              click.Choice(TIMINGS), RUN_SWEEP),
    RunOption("window", ("--window",), "Steps per timing window (--timing window).", int, RUN_SWEEP),
    RunOption("seq_len", ("--seq-len",), "A language model's tokens per sequence [default: its context].", int,
              axis=("sweep",)),
    RunOption("target_loss", ("--target-loss",), "Train a language model until this validation loss (nats per "
              "token).", float, RUN_SWEEP),
    RunOption("target_perplexity", ("--target-perplexity",), "Train a language model until this validation "
              "perplexity.", float, RUN_SWEEP),
    RunOption("target_accuracy", ("--target-accuracy",), "Train until this top-1 on the test split "
              "(time-to-accuracy).", float, RUN_SWEEP),
    RunOption("eval_every", ("--eval-every",), "Epochs between evaluations with --target-accuracy "
              "(fractions allowed).", float, RUN_SWEEP),
    RunOption("max_epochs", ("--max-epochs",), "Give up on --target-accuracy after this many epochs.", int,
              RUN_SWEEP),
    RunOption("min_requests", ("--min-requests",), "Inference: at least this many timed requests.", int,
              RUN_SWEEP),
    RunOption("min_duration", ("--min-duration",), "Inference: at least this many seconds of timed requests.",
              float, RUN_SWEEP),
    RunOption("serve", ("--serve",), "Inference: serve the framework's eval step, or the model exported the way "
              "the framework deploys it (torch AOTInductor, a TensorFlow SavedModel, jax.export, an ONNX file).",
              click.Choice(SERVES), RUN_SWEEP, axis=("sweep",)),
)
BACKEND_OPTION_HELP = {
    "run": ("KEY=VALUE", "Backend setting, e.g. compile=true; pins it (it is then not tuned)."),
    "verify": ("KEY=VALUE", "Backend setting (applies to every backend that has it)."),
    "sweep": ("[BACKEND.]KEY=VALUE[,VALUE]", "Backend setting for every backend, or one (torch.compile=true); "
              "a list is an axis."),
    "explain": ("KEY=VALUE", "Backend setting (applies to every backend that has it); pins it."),
}


def run_options(command: str, **defaults: Any) -> Callable:
    """Decorate ``command`` with the shared options it takes; ``defaults`` replace RunConfig's."""

    def decorate(f: Callable) -> Callable:
        metavar, text = BACKEND_OPTION_HELP[command]
        f = click.option("--option", "-o", "options", multiple=True, metavar=metavar, help=text)(f)
        for opt in reversed(OPTIONS):
            if command in opt.commands if command != "explain" else opt.field in EXPLAIN:
                f = opt.click_option(command, defaults.get(opt.field, MISSING))(f)
        f.__dlbench_defaults__ = defaults
        return f

    return decorate


def given(ctx: click.Context, values: dict[str, Any]) -> dict[str, Any]:
    """The shared options the user set on the command line (not left at their default)."""
    names = {opt.field for opt in OPTIONS}
    return {k: v for k, v in values.items() if k in names
            and ctx.get_parameter_source(k) not in (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP, None)}


def split(field: str, value: Any) -> Any:
    """An axis option's comma-separated text as a list (one value as itself), each item converted."""
    opt = next(o for o in OPTIONS if o.field == field)
    items = [v.strip() for v in str(value).split(",") if v.strip()]
    if not items:
        raise click.BadParameter(f"{value!r} names nothing", param_hint=opt.decls[0])
    if opt.type is not None:
        items = [click.types.convert_type(opt.type).convert(v, None, None) for v in items]
    return items if len(items) > 1 else items[0]


def build_config(ctx: click.Context, command: str, values: dict[str, Any],
                 backend_options: dict[str, Any], **fixed: Any) -> RunConfig:
    """The run configuration: ``fixed`` settings, then what the user gave, else the command's
    defaults, else the model's declared bare run, else RunConfig's defaults."""
    chosen = {**given(ctx, values), **fixed}
    defaults = getattr(ctx.command.callback, "__dlbench_defaults__", {})
    model = registry.get_model(chosen.get("model", defaults.get("model", RunConfig.model)))
    merged = with_default_run(dict(model.default_run), {**defaults, **chosen})
    if "backend" in merged:
        merged["backend"] = registry.get_backend(merged["backend"]).name
    return RunConfig(**merged, backend_options=backend_options)


def check_name(kind: str, name: str) -> str:
    """``name`` if a plugin registered it (and, for a model, its declaration is sound), else a usage error."""
    try:
        (registry.usable_model if kind == "model" else getattr(registry, f"get_{kind}"))(name)
    except DlbenchError as e:
        raise click.BadParameter(str(e), param_hint=f"--{kind}") from None
    return name


def backend_options(pairs: tuple[str, ...]) -> dict:
    from dlbench.backend import parse_value

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE (e.g. compile=true)", param_hint="--option")
        out[key] = parse_value(value)
    return out


def config_from(ctx: click.Context, command: str, values: dict, options: dict, **fixed):
    for kind in ("backend", "model", "dataset"):
        if fixed.get(kind, values.get(kind)) is not None:
            check_name(kind, fixed.get(kind, values.get(kind)))
    try:
        config = build_config(ctx, command, values, options, **fixed)
        if command == "run":  # what the model, data and backend declare decides, before any worker starts
            registry.check_inputs(registry.get_model(config.model), registry.get_dataset(config.dataset), config.seq_len)
            registry.check_support(config.model, config.backend, config.task, config.optimizer)
        return config
    except DlbenchError as e:
        raise click.UsageError(str(e)) from None

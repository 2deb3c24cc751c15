"""A sweep: a matrix of run configurations, each run N times in its own process, resumable.

Every record a sweep writes carries its cell key and repeat index in its id
(``<uid>-<cell>-r<repeat>``, so also in its file name); a rerun of the same sweep skips what is
already recorded. The cell key is a hash of the configuration's identity (:func:`identity`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from collections.abc import Iterator
from typing import Any

from dlbench import registry
from dlbench.execution.executors.settings import SPEC_KEYS as EXECUTOR_KEYS, ExecutorSettings
from dlbench.config import RunConfig, with_default_run
from dlbench.errors import ConfigError, DlbenchError
from dlbench.optim import DEFAULT_LR
from dlbench.result import Result

# How a run is executed or where its files are, not what it measures: changing these reuses records.
NOT_IDENTITY = ("timeout", "download", "data_dir")
SWEEP_KEYS = ("repeat", "output", "options", "matrix") + EXECUTOR_KEYS  # EXECUTOR_KEYS: how runs are executed
RECORD_ID = re.compile(r"^(?P<uid>[0-9a-f]+)-(?P<cell>[0-9a-f]{10})-r(?P<repeat>\d+)$")


# Settings added after the first records were written: left out of the identity at their default,
# so older records keep their cell keys; a record without one ran as its legacy value says.
LATER_FIELDS = ("task", "precision", "tune", "timing", "window", "target_accuracy", "target_loss", "target_perplexity",
                "seq_len", "eval_every", "max_epochs",
                "replicas", "global_batch_size", "min_requests", "min_duration", "processes", "serve")
LEGACY_VALUES = {"tune": False}  # records from before tuning ran untuned
#: values that mean the same measurement as the default: ``tune = true`` (tune, whatever it costs) and
#: the default (tune when it pays) both ask for tuned settings, so records of either are one configuration
SAME_AS_DEFAULT = {"tune": (True,)}


def identity(config: dict) -> dict:
    """The settings that make two runs the same measurement, with defaults made explicit."""
    defaults = {f.name: f.default for f in fields(RunConfig) if f.name in LATER_FIELDS}
    ident = {k: v for k, v in config.items() if k not in NOT_IDENTITY and k not in LATER_FIELDS}
    for k, default in defaults.items():
        value = config.get(k, LEGACY_VALUES.get(k, default))
        if value != default and value not in SAME_AS_DEFAULT.get(k, ()):
            ident[k] = value
    if ident.get("lr") is None:
        ident["lr"] = DEFAULT_LR.get(ident.get("optimizer", ""))
    if ident.get("steps") is not None:
        ident["epochs"] = None  # overridden by steps
    return ident


def cell_key(config: dict) -> str:
    """A stable 10-hex-digit key of :func:`identity`."""
    text = json.dumps(identity(config), sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def record_tag(result: Result) -> tuple[str, int | None]:
    """(cell key, repeat index); the repeat is None for a record not written by a sweep."""
    m = RECORD_ID.match(result.id)
    return (m["cell"], int(m["repeat"])) if m else (cell_key(result.config), None)


# -- the matrix -----------------------------------------------------------------------------
def load_spec(path: str | Path) -> dict:
    """A sweep file (TOML; YAML if pyyaml is installed): RunConfig fields, where a list is an axis of
    the matrix, plus ``repeat``, ``output``, ``options`` and an optional ``[[matrix]]`` list of overrides."""
    path = Path(path)
    if path.suffix == ".toml":
        parse, kind = tomllib.loads, "TOML"
    elif path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ConfigError(f"{path}: YAML sweep files need pyyaml (pip install pyyaml); or use TOML") from None
        parse, kind = (lambda text: yaml.safe_load(text) or {}), "YAML"
    else:
        raise ConfigError(f"{path}: unknown sweep file type {path.suffix!r}; use .toml (or .yaml with pyyaml)")
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read sweep file {path}: {e.strerror}") from None
    try:
        spec = parse(text)
    except Exception as e:  # tomllib.TOMLDecodeError, yaml.YAMLError
        raise ConfigError(f"{path}: not valid {kind}: {e}") from None
    if not isinstance(spec, dict):
        raise ConfigError(f"{path}: expected a table of settings at the top level")
    _check_keys(spec, str(path))
    for entry in spec.get("matrix", []):
        _check_keys(entry, f"{path} [[matrix]]")
    try:
        ExecutorSettings.from_spec(spec)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    return spec


def _check_keys(spec: Any, where: str) -> None:
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a table, got {spec!r}")
    accepted = [f.name for f in fields(RunConfig) if f.name != "backend_options"] + list(SWEEP_KEYS)
    if unknown := sorted(set(spec) - set(accepted)):
        raise ConfigError(f"{where}: unknown setting(s) {', '.join(unknown)}; accepted: {', '.join(accepted)}")
    if "options" in spec and not isinstance(spec["options"], dict):
        raise ConfigError(f"{where}: options must be a table of KEY = VALUE (or [options.BACKEND] tables)")


def expand(spec: dict) -> list[RunConfig]:
    """The distinct configurations of a sweep spec, in matrix order (names checked, aliases resolved)."""
    base = {k: v for k, v in spec.items() if k not in SWEEP_KEYS}
    configs: dict[str, RunConfig] = {}
    for entry in spec.get("matrix") or [{}]:
        merged = {**base, **{k: v for k, v in entry.items() if k != "options"}}
        options = merge_options(spec.get("options") or {}, entry.get("options") or {})
        axes = {k: v if isinstance(v, list) else [v] for k, v in merged.items()}
        # Seeds are replicates, as repeats are: outermost, so each seed visits every configuration in
        # turn and the machine's drift over a long sweep is shared instead of falling on one backend.
        axes = {k: axes[k] for k in sorted(axes, key=lambda k: k != "seed")}
        for combo in itertools.product(*axes.values()):
            chosen = dict(zip(axes, combo))
            chosen["backend"] = registry.get_backend(chosen.get("backend", "torch")).name
            chosen = with_default_run(dict(registry.usable_model(chosen.get("model", RunConfig.model)).default_run), chosen)
            registry.get_dataset(chosen.get("dataset", RunConfig.dataset))
            for backend_options in _option_combos(options, chosen["backend"]):
                try:
                    config = RunConfig(**chosen, backend_options=backend_options)
                except TypeError as e:
                    raise ConfigError(f"bad sweep setting: {e}") from None
                registry.check_support(config.model, config.backend, config.task, config.optimizer)
                configs.setdefault(cell_key(config.to_dict()), config)
    return list(configs.values())


DEFAULT_REPEAT = 5


def repeats(spec: dict) -> tuple[int, str]:
    """(runs per configuration, why, when it is not what the user gave). A list of seeds is the
    replication: each seed runs once unless ``repeat`` is given; otherwise :data:`DEFAULT_REPEAT`."""
    if "repeat" in spec:
        return spec["repeat"], ""
    seeds = [entry.get("seed", spec.get("seed")) for entry in spec.get("matrix") or [{}]]
    if any(isinstance(s, list) and len(s) > 1 for s in seeds):
        return 1, "; the seeds are the replicates, each run once (--repeat N runs each seed N times)"
    return DEFAULT_REPEAT, ""


def merge_options(base: dict, override: dict) -> dict:
    merged = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    for k, v in override.items():
        merged[k] = {**merged.get(k, {}), **v} if isinstance(v, dict) and isinstance(merged.get(k), dict) else v
    return merged


def _option_combos(options: dict, backend: str) -> Iterator[dict]:
    """Backend options for ``backend``: plain keys apply to every backend, a table to the backend it
    names (aliases allowed); a list of values is one more axis."""
    chosen: dict[str, Any] = {k: v for k, v in options.items() if not isinstance(v, dict)}
    for scope, scoped in options.items():
        if isinstance(scoped, dict) and registry.get_backend(scope).name == backend:
            chosen.update(scoped)
    axes = {k: v if isinstance(v, list) else [v] for k, v in sorted(chosen.items())}
    for combo in itertools.product(*axes.values()):
        yield dict(zip(axes, combo))


# -- the plan -------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlannedRun:
    """One run of the sweep: a cell's configuration and the repeat index."""

    config: RunConfig
    cell: str
    repeat: int
    repeats: int

    @property
    def label(self) -> str:
        c = self.config
        opts = "".join(f" {k}={v}" for k, v in sorted(c.backend_options.items()))
        served = f" serve={c.serve}" if c.serve != "step" else ""
        rep = f" #{self.repeat + 1}/{self.repeats}" if self.repeats > 1 else ""
        return f"{c.backend}/{c.model} {c.dataset} bs{c.batch_size}{opts}{served}{rep}"


@dataclass
class Plan:
    """``todo`` runs next; ``done`` are recorded ok; ``failed_before`` are recorded failed and not
    retried. ``replaces``: the failed records that the next record of a (cell, repeat) replaces;
    ``stale``: failed records an ok one already replaced (a sweep killed between save and delete)."""

    todo: list[PlannedRun] = field(default_factory=list)
    done: list[PlannedRun] = field(default_factory=list)
    failed_before: list[tuple[PlannedRun, Result]] = field(default_factory=list)
    replaces: dict[tuple[str, int], list[Path]] = field(default_factory=dict)
    stale: list[Path] = field(default_factory=list)


def scan(output: Path) -> dict[tuple[str, int], list[tuple[Path, Result]]]:
    """The sweep records already in ``output``, by (cell, repeat); unreadable files are ignored."""
    found: dict[tuple[str, int], list[tuple[Path, Result]]] = {}
    for path in sorted(Path(output).glob("*.json")):
        try:
            result = Result.load(path)
        except DlbenchError:
            continue
        cell, repeat = record_tag(result)
        if repeat is not None:
            found.setdefault((cell, repeat), []).append((path, result))
    return found


def plan(configs: list[RunConfig], repeat: int, output: Path, retry_failed: bool = False) -> Plan:
    """What is left to run. Repeats are interleaved (every cell once, then again) so that drift in
    the machine's state over a long sweep spreads over all cells instead of biasing one."""
    if not isinstance(repeat, int) or repeat < 1:
        raise ConfigError(f"repeat must be a positive integer, got {repeat!r}")
    existing = scan(output)
    out = Plan()
    for r, config in itertools.product(range(repeat), configs):
        run = PlannedRun(config, cell_key(config.to_dict()), r, repeat)
        records = existing.get((run.cell, r), [])
        failed = [p for p, res in records if not res.ok]
        if any(res.ok for _, res in records):
            out.done.append(run)
            out.stale += failed
        elif failed and not retry_failed:
            out.failed_before.append((run, records[-1][1]))
        else:
            out.todo.append(run)
            out.replaces[(run.cell, r)] = failed
    return out

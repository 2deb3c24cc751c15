"""The result record's sections and fields, each declared once with its type, unit and meaning.

A record is checked against :data:`RECORD` when it is built, saved and loaded (:func:`check`); the
reference page ``docs/reference/record.md`` is generated from it (:mod:`dlbench.record.reference`).
A change to what a record holds changes :data:`SCHEMA` and adds a migration from the version
before (:mod:`dlbench.record.migrations`).
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from dlbench.config import DEVICES, SERVES, TASKS, TIMINGS, RunConfig
from dlbench.record.types import (BOOL, INT, JSON, NULL, NUMBER, STR, Field, ListOf, Object, OneOf, RecordError,
                                  from_annotation, map_of)

SCHEMA = "dlbench.result/3"
REFERENCE = "docs/reference/record.md"

# units
S, BYTES, COUNT, FRACTION, EPOCHS = "s", "bytes", "count", "fraction", "epochs"
FLOP, FLOP_S, SAMPLES_S, MAC = "FLOP", "FLOP/s", "samples/s", "MAC"

SECONDS = NUMBER
SERIES = ListOf(NUMBER)

#: unit and meaning of each RunConfig field (its type is the field's annotation)
CONFIG: dict[str, tuple[str | None, str]] = {
    "backend": (None, "backend name (`dlbench list backends`)"),
    "model": (None, "model name (`dlbench list models`)"),
    "dataset": (None, "dataset name (`dlbench list datasets`)"),
    "task": (None, f"what was measured: {' or '.join(TASKS)}"),
    "batch_size": (COUNT, "examples per step, per replica"),
    "epochs": (EPOCHS, "passes over the training split, unless `steps` is set"),
    "steps": (COUNT, "timed steps after the warm-up; overrides `epochs`"),
    "warmup": (COUNT, "untimed steps (or calls) first"),
    "optimizer": (None, "optimiser name"),
    "lr": (None, "learning rate; null: the optimiser's default"),
    "seed": (None, "seeds the weights, the data order and dropout"),
    "device": (None, f"where it computed: {' or '.join(DEVICES)}"),
    "precision": (None, "numerics asked for (`--precision`)"),
    "data_dir": (None, "folder the dataset was read from"),
    "download": (None, "whether missing dataset files could be downloaded"),
    "timeout": (S, "the run's time limit"),
    "augment": (None, "training augmentation (`none`, or e.g. `crop4,flip`)"),
    "prefetch": (COUNT, "batches prepared ahead in a thread; null: 2 on a GPU, 0 on the CPU"),
    "tune": (None, "tune the performance settings: true always, false never, null when it pays"),
    "timing": (None, f"clock mode: {' or '.join(TIMINGS)}"),
    "window": (COUNT, "steps per sync with `timing` window"),
    "target_accuracy": (FRACTION, "time to accuracy: the top-1 to reach"),
    "target_loss": (None, "time to target: the validation loss (nats per token) to reach"),
    "target_perplexity": (None, "time to target: the validation perplexity to reach"),
    "seq_len": (COUNT, "a language model's tokens per sequence; null: its context"),
    "eval_every": (EPOCHS, "time to accuracy: epochs between evaluations"),
    "max_epochs": (EPOCHS, "time to accuracy: the most epochs trained"),
    "replicas": (COUNT, "data-parallel replicas"),
    "global_batch_size": (COUNT, "examples per step over all replicas (strong scaling); null: weak scaling"),
    "processes": (COUNT, "processes the replicas ran in; null: the engine's default, or as launched"),
    "min_requests": (COUNT, "inference: at least this many timed requests"),
    "min_duration": (S, "inference: at least this long serving timed requests"),
    "serve": (None, "inference: `step` (the eval step) or `export` (the model exported as the framework deploys it)"),
    "backend_options": (None, "options pinned with `-o KEY=VALUE` (backend-specific keys)"),
}


def _config() -> Object:
    hints = typing.get_type_hints(RunConfig)
    return Object({f.name: Field(from_annotation(hints[f.name]), *CONFIG.get(f.name, (None, "")))
                   for f in dataclasses.fields(RunConfig)})


STEP_TIME = Object({
    "median": Field(SECONDS, S, "median step time"),
    "p10": Field(SECONDS, S, "10th percentile"),
    "p90": Field(SECONDS, S, "90th percentile"),
    "mean": Field(SECONDS, S, "mean"),
    "std": Field(SECONDS, S, "sample standard deviation (0 for one step)"),
    "min": Field(SECONDS, S, "fastest step"),
    "max": Field(SECONDS, S, "slowest step"),
})

LATENCY = Object({
    "p50": Field(SECONDS, S, "median latency"),
    "p90": Field(SECONDS, S, "90th percentile"),
    "p99": Field(SECONDS, S, "99th percentile"),
    "max": Field(SECONDS, S, "slowest request"),
    "mean": Field(SECONDS, S, "mean"),
})

ERROR = Object({
    "kind": Field(STR, None, "the exception's class, or `timeout`, `crash`, `lost`..."),
    "message": Field(STR, None, "what went wrong"),
    "stderr_tail": Field(STR, None, "the end of the worker's (or the job's) standard error"),
    "traceback": Field(STR, None, "the worker's traceback, where it crashed"),
    "job": Field(Object({
        "executor": Field(STR, None, "the sweep executor (`local`, `slurm`)"),
        "job_id": Field(STR | NULL, None, "the scheduler's job id"),
        "host": Field(STR, None, "the machine the job ran on"),
        "state": Field(STR, None, "the scheduler's last state of the job"),
    }), None, "the sweep job that ran it, to find its log"),
})

BACKEND = Object({
    "name": Field(STR, None, "backend name"),
    "device": Field(OneOf(DEVICES), None, "where it computed"),
    "settings": Field(map_of(JSON), None,
                      "the settings the timed run used: tuned, pinned and fixed (backend-specific keys)"),
    "compilation": Field(Object({
        "setting": Field(STR, None, "the setting that switches the compiler (compile, xla, jit)"),
        "value": Field(JSON, None, "its value in this run"),
        "compiled": Field(BOOL, None, "whether the steps ran compiled"),
    }) | NULL, None, "whether the steps compile a graph, as the backend declares it; null: nothing to switch"),
})

MODEL = Object({
    "name": Field(STR, None, "model name"),
    "input_shape": Field(ListOf(INT), None, "the model's input shape of one example"),
    "num_classes": Field(INT, COUNT, "classes the model outputs"),
    "params_trainable": Field(INT, COUNT, "trainable parameters, as the framework counts them"),
    "params_non_trainable": Field(INT, COUNT, "non-trainable parameters (batch-norm statistics)"),
    "params_declared": Field(ListOf(INT) | NULL, COUNT,
                             "[trainable, non-trainable] from the declaration; null for a native model"),
    "macs_per_sample": Field(INT | NULL, MAC, "multiply-accumulates of conv and dense layers per example"),
})

DATASET = Object({
    "name": Field(STR, None, "dataset name"),
    "real": Field(BOOL, None, "real data (false: generated, speed only)"),
    "source": Field(STR, None, "where the data came from"),
    "train_size": Field(INT, COUNT, "training examples"),
    "test_size": Field(INT, COUNT, "test examples (0 without a test split)"),
    "native_shape": Field(ListOf(INT), None, "the dataset's own shape of one example"),
    "transforms": Field(ListOf(STR), None, "how inputs were adapted to the model's shape"),
    "augment": Field(STR, None, "training augmentation applied"),
})

TIMING = Object({
    "mode": Field(OneOf(TIMINGS), None, "`step`: a sync after every step; `window`: one per window"),
    "window": Field(INT | NULL, COUNT, "steps per window; null in step mode"),
    "window_times_s": Field(SERIES | NULL, S, "each window's mean step time; null in step mode"),
    "steps_total": Field(INT, COUNT, "steps (inference: calls) run, warm-up included"),
    "steps_timed": Field(INT, COUNT, "steps timed"),
    "warmup_steps": Field(INT, COUNT, "untimed steps first"),
    "prefetch_batches": Field(INT, COUNT, "batches prepared ahead in a thread"),
    "epochs_run": Field(NUMBER | NULL, EPOCHS, "passes over the training split; null for inference"),
    "step_time_s": Field(STEP_TIME, S, "statistics of the timed steps; empty when none was timed"),
    "step_times_s": Field(SERIES, S, "every timed step (window mode: each window's mean step time; inference: "
                                         "compute-only latency)"),
    "throughput_samples_per_s": Field(NUMBER | NULL, SAMPLES_S, "global batch / median step time"),
    "throughput_tokens_per_s": Field(NUMBER | NULL, "tokens/s", "a language model's sequences/s x tokens per sequence"),
    "note": Field(STR, None, "why no step was timed"),
    "time_to_first_step_s": Field(SECONDS | NULL, S, "the first step (inference: call), compilation included"),
    "train_time_s": Field(SECONDS | NULL, S, "all training steps; null for inference"),
    "wall_time_s": Field(SECONDS, S, "the whole measurement in the worker"),
})

UTILISATION = Object({
    "ceiling_flops_per_s": Field(NUMBER, FLOP_S, "this machine's measured GEMM ceiling (`dlbench calibrate`)"),
    "share": Field(NUMBER, FRACTION, "achieved / ceiling"),
    "ceiling_source": Field(STR, None, "which GEMM measured the ceiling, and when"),
    "datasheet_flops_per_s": Field(NUMBER | NULL, FLOP_S, "the GPU's nominal dense peak; null if unknown"),
    "datasheet_share": Field(NUMBER | NULL, FRACTION, "achieved / datasheet peak"),
})

FLOPS = Object({
    "per_train_step_analytic": Field(INT | NULL, FLOP, "6 x MACs x batch; null for inference or a native model"),
    "analytic_method": Field(STR, None, "how the analytic count was made"),
    "per_train_step_framework": Field(NUMBER | NULL, FLOP, "the framework's own count of one training step"),
    "framework_method": Field(STR, None, "which counter, or why it failed"),
    "framework_note": Field(STR | NULL, None, "why the framework count is missing"),
    "per_inference_analytic": Field(INT | NULL, FLOP, "inference: 2 x MACs x batch per request"),
    "achieved_flops_per_s": Field(NUMBER | NULL, FLOP_S, "analytic (else framework) FLOPs / median step time"),
    "utilisation": Field(UTILISATION | NULL, None, "achieved FLOP/s against the ceilings; null without a profile"),
    "utilisation_note": Field(STR | NULL, None, "why there is no utilisation, or no datasheet share"),
})

MEMORY = Object({
    "host_peak_rss_bytes": Field(INT | NULL, BYTES, "peak resident memory of the worker since it started"),
    "device_peak_bytes": Field(INT | NULL, BYTES, "the framework allocator's device peak; null on the CPU"),
    "baseline_rss_bytes": Field(INT | NULL, BYTES, "resident memory with the framework loaded and the model built"),
    "peak_rss_bytes": Field(INT | NULL, BYTES, "the high-water mark after the baseline"),
    "training_bytes": Field(INT | NULL, BYTES, "peak - baseline: what training (inference: serving) added"),
    "first_step_bytes": Field(INT | NULL, BYTES, "growth by the end of the first step (first call)"),
    "method": Field(STR, None, "how the peak was read"),
    "device_process_bytes": Field(INT | NULL, BYTES, "device memory NVML attributes to the worker (GPU)"),
})

ACCURACY = Object({
    "top1": Field(NUMBER | NULL, FRACTION, "top-1 on the test split; null when not applicable"),
    "top5": Field(NUMBER | NULL, FRACTION, "top-5 on the test split"),
    "reason": Field(STR | NULL, None, "why there is no accuracy"),
    "evaluated": Field(INT, COUNT, "test examples (language model: sequences) evaluated"),
    "val_loss": Field(NUMBER, None, "language model: mean cross-entropy per token on the validation split, in nats"),
    "perplexity": Field(NUMBER, None, "language model: exp(val_loss)"),
    "bits_per_token": Field(NUMBER, None, "language model: val_loss / ln 2 (bits per character for a character model)"),
})

LOSS = Object({
    "curve": Field(SERIES, None, "training loss of every synced step, warm-up included"),
    "first": Field(NUMBER | NULL, None, "the first loss"),
    "final": Field(NUMBER | NULL, None, "the last loss"),
})

ENVIRONMENT = Object({
    "python": Field(STR, None, "Python version"),
    "platform": Field(STR, None, "operating system"),
    "cpu": Field(STR, None, "CPU model"),
    "logical_cores": Field(INT | NULL, COUNT, "logical cores of the machine"),
    "usable_cores": Field(INT | NULL, COUNT, "cores the worker may run on (affinity)"),
    "dlbench": Field(STR, None, "dlbench version"),
    "numpy": Field(STR, None, "numpy version"),
    "argv": Field(STR | NULL, None, "the command's arguments"),
    "thread_env": Field(map_of(STR), None, "thread-related environment variables that were set"),
    "noise": Field(Object({
        "cv": Field(NUMBER, FRACTION, "coefficient of variation of the A/A estimate"),
        "verdict": Field(STR, None, "how quiet the machine was"),
        "measured": Field(STR, None, "when"),
    }), None, "the latest `dlbench doctor` noise estimate"),
    "framework": Field(STR, None, "the framework the backend runs on"),
    "device_name": Field(STR, None, "CPU or GPU model computed on"),
    "precision": Field(STR, None, "the precision computed in"),
    "threads": Field(INT | STR, COUNT, "intra-op threads; in words where the framework does not say"),
    "interop_threads": Field(INT, COUNT, "inter-op threads"),
    "loss_scaling": Field(STR | NULL, None, "float16 loss scaling, where used"),
}, Field(JSON, None, "framework-specific: versions (`torch`, `jax`, `tensorflow`...), device, compiler and "
                     "numerics settings (`jax_platform`, `tf32`, `xla_flags`, `cuda`...)"))

DISTRIBUTED = Object({
    "replicas": Field(INT, COUNT, "data-parallel replicas"),
    "batch_policy": Field(STR, None, "weak (batch per replica) or strong (global batch split) scaling"),
    "per_replica_batch": Field(INT, COUNT, "examples per step on each replica"),
    "global_batch": Field(INT, COUNT, "examples per step over all replicas"),
    "engine": Field(STR | NULL, None, "the framework's data-parallel engine; null with one replica"),
    "processes": Field(INT, COUNT, "processes running replicas"),
    "nodes": Field(INT, COUNT, "machines the processes ran on"),
    "devices_per_process": Field(INT, COUNT, "replicas (devices) each process drives"),
    "launcher": Field(STR | NULL, None, "what started the processes: `dlbench` (one command), `torchrun`, `env` "
                      "(a plain start), `slurm` (srun), `submitit` (the local executor), `tf_config`; null: one process"),
    "collectives": Field(STR | NULL, None, "how replicas exchange gradients (gloo, NCCL, TensorFlow's RING "
                         "collectives...)"),
    "devices": Field(ListOf(STR), None, "the devices replicas ran on"),
    "replicas_per_machine": Field(INT, COUNT, "replicas on each machine"),
    "threads_per_replica": Field(INT | STR | NULL, COUNT, "intra-op threads of each replica, or how they share"),
    "batch_norm": Field(STR, None, "whether batch-norm statistics are per replica or of the global batch"),
    "loss": Field(STR, None, "how the logged loss combines the replicas'"),
}, Field(JSON, None, "what else a backend's engine reports (`Backend.replicate`)"))

CANDIDATE = Object({
    "settings": Field(map_of(JSON), None, "the candidate's performance settings"),
    "median_s": Field(SECONDS | NULL, S, "median of its timed steps"),
    "steps": Field(INT, COUNT, "its timed steps"),
    "times_s": Field(SERIES, S, "its timed steps, round by round"),
    "first_step_s": Field(SECONDS | NULL, S, "its first step, compilation included"),
    "compiles": Field(BOOL, None, "whether it turns a compiler on"),
    "ratio_to_default": Field(NUMBER, None, "median of per-round step-time ratios to the default"),
    "ratio_ci95": Field(ListOf(NUMBER) | NULL, None, "bootstrap 95 % interval of that ratio"),
    "rounds": Field(INT, COUNT, "rounds compared"),
    "significantly_faster": Field(BOOL, None, "ratio <= 0.97 and interval below 1"),
    "error": Field(STR, None, "why it dropped out"),
})

TUNING = Object({
    "mode": Field(OneOf(("tuned", "cached", "pinned", "off", "skipped")), None, "how the settings were chosen"),
    "performance_options": Field(ListOf(STR), None, "the backend's performance settings"),
    "pinned": Field(map_of(JSON), None, "settings pinned with `-o`"),
    "candidates": Field(ListOf(CANDIDATE), None, "every candidate timed"),
    "chosen": Field(map_of(JSON), None, "the settings chosen"),
    "decision": Field(STR | NULL, None, "the choice in words"),
    "budget": Field(Object({
        "run_estimate_s": Field(SECONDS, S, "predicted run time"),
        "tuning_estimate_s": Field(SECONDS, S, "predicted tuning time"),
        "compile_estimate_s": Field(SECONDS | NULL, S, "predicted first step of a compiling candidate"),
        "compile_estimate_source": Field(STR | NULL, None, "where that prediction came from"),
    }), None, "whether tuning pays for itself (automatic tuning)"),
    "note": Field(STR, None, "why it was not tuned"),
    "warnings": Field(ListOf(STR), None, "tuning cache problems"),
    "time_s": Field(SECONDS, S, "time spent tuning"),
    "cache_path": Field(STR | NULL, None, "the tuning cache file of the choice"),
})

TARGET = Object({
    "target": Field(NUMBER, None, "the value of `metric` to reach"),
    "metric": Field(OneOf(("top1", "val_loss", "perplexity")), None, "what was evaluated: top-1 (at least the target), "
                                                                     "validation loss or perplexity (at most)"),
    "reached": Field(BOOL, None, "whether it was reached"),
    "time_to_target_s": Field(SECONDS | NULL, S, "MLPerf clock: first touch of the data to the end of the evaluation "
                                                 "that reached it"),
    "train_time_to_target_s": Field(SECONDS | NULL, S, "the same without the evaluations"),
    "epochs_to_target": Field(NUMBER | NULL, EPOCHS, "epochs trained when reached"),
    "steps_to_target": Field(INT | NULL, COUNT, "steps trained when reached"),
    "eval_every": Field(NUMBER, EPOCHS, "epochs between evaluations"),
    "eval_interval_steps": Field(INT, COUNT, "steps between evaluations"),
    "max_epochs": Field(INT, EPOCHS, "the most epochs trained"),
    "evaluations": Field(INT, COUNT, "evaluations made"),
    "best": Field(NUMBER | NULL, None, "the best value of `metric` evaluated"),
    "eval_time_s": Field(SECONDS, S, "time spent evaluating"),
    "curve": Field(ListOf(Object({
        "step": Field(INT, COUNT, "steps trained"),
        "epoch": Field(NUMBER, EPOCHS, "epochs trained"),
        "elapsed_s": Field(SECONDS, S, "on the clock"),
        "train_s": Field(SECONDS, S, "on the clock, evaluations excluded"),
        "top1": Field(NUMBER, FRACTION, "test top-1"),
        "top5": Field(NUMBER, FRACTION, "test top-5"),
        "val_loss": Field(NUMBER, None, "language model: validation loss"),
        "perplexity": Field(NUMBER, None, "language model: validation perplexity"),
        "bits_per_token": Field(NUMBER, None, "language model: validation bits per token"),
        "loss": Field(NUMBER | NULL, None, "training loss of that step"),
    })), None, "one point per evaluation"),
    "excluded_s": Field(Object({
        "tuning": Field(SECONDS, S, "tuning before training"),
        "compile": Field(SECONDS, S, "the eval step compiled before the data was touched"),
    }), S, "time outside the clock"),
    "clock": Field(STR, None, "what the clock counts, in words"),
})

INFERENCE = Object({
    "path": Field(OneOf(SERVES), None, "what served the requests (`--serve`): `step` the eval step, `export` the "
                                       "model exported as the framework deploys it"),
    "deployment": Field(Object({
        "label": Field(STR, None, "the deployment path in a few words (`eval step`, `AOTInductor`, `SavedModel`...)"),
        "what": Field(STR, None, "what served, in words"),
        "export_s": Field(SECONDS | NULL, S, "export, compile, write and load; null on the eval step"),
    }), None, "the deployment path that served"),
    "batch_size": Field(INT, COUNT, "examples per request"),
    "requests": Field(INT, COUNT, "timed requests"),
    "duration_s": Field(SECONDS, S, "time spent serving them"),
    "latency_s": Field(LATENCY, S, "compute-only latency"),
    "throughput_samples_per_s": Field(NUMBER, SAMPLES_S, "samples served / time serving them"),
    "first_call_s": Field(SECONDS, S, "the first call, compilation included"),
    "warmup_calls": Field(INT, COUNT, "untimed calls first"),
    "warmup_times_s": Field(SERIES, S, "each warm-up call"),
    "compute_only": Field(STR, None, "what the compute-only latency times"),
    "distinct_inputs": Field(INT, COUNT, "input batches served in turn"),
    "end_to_end": Field(Object({
        "what": Field(STR, None, "what the end-to-end latency times"),
        "latency_s": Field(LATENCY, S, "end-to-end latency"),
        "throughput_samples_per_s": Field(NUMBER, SAMPLES_S, "samples served / time serving them"),
        "latencies_s": Field(SERIES, S, "every request's end-to-end latency"),
    }), None, "from a numpy array to a numpy array"),
})

BREAKDOWN_ROW = Object({
    "group": Field(STR, None, "the layer group (kind + kernel, stride, groups: `depthwise conv 3×3, stride 1`), "
                              "or time outside the layers (`optimizer`, `framework overhead (no op running)`...)"),
    "kind": Field(OneOf(("layer", "fusion", "outside", "optimizer", "overhead", "not attributable")), None,
                  "`fusion`: ops fused across layers of several groups, named by their kinds"),
    "nodes": Field(ListOf(STR), None, "the declaration's nodes whose ops the row holds"),
    "forward_s": Field(SECONDS, S, "forward time per step"),
    "backward_s": Field(SECONDS, S, "backward time per step"),
    "other_s": Field(SECONDS, S, "time per step in neither pass (optimizer, overhead)"),
    "inferred_s": Field(SECONDS, S, "of the row's time, ops that carried no layer name, attributed through the "
                                    "data flow (XLA: the nearest consumers' layer)"),
})

ISOLATED = Object({
    "rounds": Field(INT, COUNT, "rounds of each configuration, the layer and the head alone in turn"),
    "configurations": Field(ListOf(Object({
        "group": Field(STR, None, "its layer group"),
        "layer": Field(STR, None, "the layer as declared"),
        "input_shape": Field(ListOf(INT), None, "its input shape, one example"),
        "nodes": Field(ListOf(STR), None, "the nodes of this configuration"),
        "forward_s": Field(SECONDS, S, "forward of one layer at the run's batch size (head subtracted)"),
        "backward_s": Field(SECONDS, S, "backward of one layer (forward + backward minus forward)"),
        "error": Field(STR, None, "why it could not be timed alone"),
    })), None, "each distinct layer configuration"),
    "rows": Field(ListOf(Object({
        "group": Field(STR, None, "the layer group"),
        "layers": Field(INT, COUNT, "its layers timed"),
        "untimed": Field(INT, COUNT, "its layers that could not be timed alone"),
        "forward_s": Field(SECONDS, S, "the layers' isolated forward, summed"),
        "backward_s": Field(SECONDS, S, "the layers' isolated backward, summed"),
    })), None, "per group: the configuration times summed over the group's layers"),
})

BREAKDOWN = Object({
    "profiler": Field(STR, None, "the framework's profiler and how ops were mapped to the declaration's nodes"),
    "attributable": Field(BOOL, None, "whether the profiler saw the layers' ops (false: e.g. one compiled "
                                      "program; the isolated timing stands in)"),
    "note": Field(STR | NULL, None, "caveats of the attribution"),
    "steps_profiled": Field(INT, COUNT, "steps run under the profiler"),
    "profiled_steps_s": Field(SERIES, S, "each profiled step, on the host's clock"),
    "unprofiled_steps_s": Field(SERIES, S, "the unprofiled steps around them"),
    "overhead": Field(Object({
        "profiled_s": Field(SECONDS, S, "median profiled step"),
        "unprofiled_s": Field(SECONDS, S, "median unprofiled step"),
        "ratio": Field(NUMBER, None, "profiled / unprofiled"),
    }), None, "the profiler's own cost"),
    "rows": Field(ListOf(BREAKDOWN_ROW), None, "mean per profiled step, largest first"),
    "sum": Field(Object({
        "layers_s": Field(SECONDS, S, "rows of kind `layer`"),
        "unattributed_s": Field(SECONDS, S, "fusions across layers, ops outside the layers, overhead, not attributable"),
        "optimizer_s": Field(SECONDS, S, "the optimizer's update"),
        "rows_s": Field(SECONDS, S, "all rows"),
        "step_s": Field(SECONDS, S, "the mean profiled step on the host's clock"),
        "residual_s": Field(NUMBER, S, "step - rows: time outside the profiler's step windows"),
        "tolerance": Field(NUMBER, FRACTION, "the bound on |residual| / step"),
        "within_tolerance": Field(BOOL, None, "whether |residual| <= tolerance x step"),
    }), None, "the rows against the step"),
    "isolated": Field(ISOLATED | NULL, None, "layers timed alone (`--isolated`, or where not attributable)"),
})

#: the sections of a record, in the order they are written
SECTIONS: dict[str, tuple[Object, str]] = {
    "config": (_config(), "the run's settings, as `RunConfig` holds them"),
    "backend": (BACKEND, "the backend and the settings of the timed run"),
    "model": (MODEL, "the model and its size"),
    "dataset": (DATASET, "the data and how it was adapted"),
    "timing": (TIMING, "step times and throughput"),
    "flops": (FLOPS, "FLOP counts and achieved FLOP/s"),
    "memory": (MEMORY, "host and device memory"),
    "accuracy": (ACCURACY, "test accuracy of the trained model"),
    "loss": (LOSS, "the training-loss curve"),
    "environment": (ENVIRONMENT, "machine, versions and thread settings"),
    "distributed": (DISTRIBUTED, "how replicas ran"),
    "tuning": (TUNING, "how the performance settings were chosen; empty in older records"),
    "target": (TARGET, "time to accuracy; empty without `--target-accuracy`"),
    "inference": (INFERENCE, "latencies and throughput; empty unless the task is inference"),
    "breakdown": (BREAKDOWN, "where the step's time goes, layer by layer (`dlbench explain`); empty otherwise"),
    "error": (ERROR, "why a failed run failed; null when it did not"),
}

RECORD = Object({
    "schema": Field(OneOf((SCHEMA,)), None, "the version of this layout"),
    "id": Field(STR, None, "12 hex digits; a sweep appends `-<cell>-r<repeat>`"),
    "created": Field(STR, None, "when the record was made, ISO 8601 in UTC"),
    "status": Field(OneOf(("ok", "failed")), None, "a failed run keeps its config and `error`"),
    **{name: Field(section | NULL if name == "error" else section, None, meaning)
       for name, (section, meaning) in SECTIONS.items()},
})


def check(record: dict[str, Any]) -> None:
    """Raise RecordError naming the first field of ``record`` that :data:`RECORD` does not declare
    or that holds the wrong type."""
    try:
        RECORD.check(record, "")
    except RecordError as e:
        raise RecordError(f"not a {SCHEMA} record: {e} (the fields: {REFERENCE})") from None

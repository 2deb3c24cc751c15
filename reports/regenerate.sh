#!/usr/bin/env bash
# Regenerates the published reports from real runs on this machine: the sweeps resume, so rerunning
# only fills in what is missing (delete reports/results, reports/time-to-accuracy/results to start
# over). Run `dlbench doctor` and `dlbench calibrate` first, on a quiet machine: runs record both.
set -euo pipefail
cd "$(dirname "$0")/.."
for sweep in speed zoo-large zoo accuracy zoo-accuracy; do
  dlbench sweep --config "reports/sweeps/$sweep.toml"
done
# where the time goes, at the tuned settings (--tune: timed here where no choice is cached)
dlbench explain -m mobilenet_v2 -b torch,tensorflow,jax -d synthetic --batch-size 8 --optimizer sgd --tune \
  --output reports/results/explain --quiet
dlbench explain -m shallow_vgg -b torch,tensorflow,jax -d synthetic --batch-size 64 --optimizer sgd --tune \
  --output reports/results/explain --quiet
dlbench report reports/results -o reports/README.md --csv reports/results.csv
dlbench sweep --config reports/sweeps/time-to-accuracy.toml
dlbench report reports/time-to-accuracy/results -o reports/time-to-accuracy/README.md \
  --csv reports/time-to-accuracy/results.csv
# added in December on another machine: each report below is measured on one machine, in one go
for sweep in transformers-speed transformers-memory transformers-accuracy transformers-time-to-target; do
  dlbench sweep --config "reports/sweeps/$sweep.toml"
done
dlbench report reports/transformers/results -o reports/transformers/README.md --csv reports/transformers/results.csv
dlbench sweep --config reports/sweeps/inference.toml
dlbench report reports/inference/results -o reports/inference/README.md --csv reports/inference/results.csv

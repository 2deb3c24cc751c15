#!/usr/bin/env bash
# Regenerates the published reports from real runs on this machine: the sweeps resume, so rerunning
# only fills in what is missing (delete reports/results, reports/time-to-accuracy/results to start
# over). Run `dlbench doctor` and `dlbench calibrate` first, on a quiet machine: runs record both.
set -euo pipefail
cd "$(dirname "$0")/.."
for sweep in speed zoo-large zoo accuracy zoo-accuracy; do
  dlbench sweep --config "reports/sweeps/$sweep.toml"
done
dlbench report reports/results -o reports/README.md --csv reports/results.csv
dlbench sweep --config reports/sweeps/time-to-accuracy.toml
dlbench report reports/time-to-accuracy/results -o reports/time-to-accuracy/README.md \
  --csv reports/time-to-accuracy/results.csv

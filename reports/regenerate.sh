#!/usr/bin/env bash
# Regenerates reports/README.md from real runs on this machine: the sweeps resume, so rerunning
# only fills in what is missing (delete reports/results to start over).
set -euo pipefail
cd "$(dirname "$0")/.."
for sweep in speed zoo accuracy zoo-accuracy; do
  dlbench sweep --config "reports/sweeps/$sweep.toml"
done
dlbench report reports/results -o reports/README.md --csv reports/results.csv

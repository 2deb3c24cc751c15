"""What starts and schedules measurements: isolated worker processes, the runner, sweeps."""

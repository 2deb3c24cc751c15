"""What runs inside a worker process to measure: the training loop, its clocks and probes, verify's job."""

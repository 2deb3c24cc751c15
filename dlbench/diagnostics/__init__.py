"""``dlbench doctor``: what on this machine would make benchmark figures noisy or wrong, and what
to change. ``noise`` stores the latest A/A estimate, which runs record as ``environment.noise``."""

"""torch's export path (``--serve export``): ``torch.export`` of the eval-mode module, compiled ahead
of time by AOTInductor into a package (C++ wrapper, kernels and weights in one .pt2 file) and loaded
back with ``aoti_load_package``: how a model is served without its Python code."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

from dlbench.errors import ConfigError
from dlbench_backends.torch.precision import AUTOCAST

LABEL = "AOTInductor"
DESCRIPTION = ("torch.export.export of the eval-mode module, compiled ahead of time by AOTInductor "
               "(torch._inductor.aoti_compile_and_package) into a .pt2 package, loaded with aoti_load_package")


def export(backend, model, x, folder: Path):
    if backend.precision in AUTOCAST:
        raise ConfigError(f"torch: --serve export exports float32 graphs; {backend.precision} is autocast, which "
                          "the exported program would not carry; use --serve step")
    compilers = [c for c in (os.environ.get("CXX"), "g++", "clang++", "c++") if c]
    if not any(shutil.which(c) for c in compilers):
        raise ConfigError("torch: AOTInductor compiles the exported model to C++ and found no C++ compiler "
                          f"({', '.join(compilers)}); install g++ or use --serve step")
    program = torch.export.export(model.module.eval(), (x,))
    package = torch._inductor.aoti_compile_and_package(program, package_path=str(folder / "model.pt2"))
    runner = torch._inductor.aoti_load_package(package)

    @torch.inference_mode()
    def step(x):
        return runner(x)

    return step

"""Registers the PyTorch backend without importing torch."""

from dlbench.hookspecs import hookimpl
from dlbench.registry import BackendInfo


@hookimpl
def register_backends(register):
    register(
        BackendInfo(
            name="torch",
            summary="PyTorch: eager, or torch.compile / channels-last where tuning finds them faster (-o pins)",
            color="#ee4c2c",
            distributed="dlbench_backends.torch.distributed",
            factory="dlbench_backends.torch.backend:TorchBackend",
            requires=("torch",),
            install_hint="pip install 'dlbench[torch]'",
            aliases=("pytorch",),
        )
    )

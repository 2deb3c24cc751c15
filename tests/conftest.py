import contextlib
import gzip
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from dlbench.plugins import pm

ROOT = Path(__file__).resolve().parent.parent
TEST_PLUGINS = ("tests.plugins.numpy_backend", "tests.plugins.tiny_model")


@contextlib.contextmanager
def registered_test_plugins(monkeypatch, names=TEST_PLUGINS):
    """Registers throwaway plugin modules here and in worker processes; unregisters (only) those it
    registered on exit."""
    import importlib

    monkeypatch.setenv("DLBENCH_PLUGINS", ",".join(names))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    added = []
    for name in names:
        module = importlib.import_module(name)
        if not pm.is_registered(module):
            pm.register(module, name=name)
            added.append(module)
    try:
        yield
    finally:
        for module in added:
            pm.unregister(module)


@pytest.fixture
def test_plugins(monkeypatch):
    """The throwaway numpy backend and tiny model, here and in worker processes."""
    with registered_test_plugins(monkeypatch):
        yield


def use_private_caches(patch: pytest.MonkeyPatch, folder: Path) -> Path:
    """dlbench's cache (tuning choices, calibration profiles, the noise estimate, downloads) and the
    XDG cache in ``folder``, here and in worker processes, which inherit the environment."""
    patch.delenv("DLBENCH_CACHE", raising=False)
    patch.setenv("DLBENCH_CACHE_DIR", str(folder / "dlbench"))
    patch.setenv("XDG_CACHE_HOME", str(folder / "xdg"))
    return folder / "dlbench"


def pytest_configure(config):
    """The session's own caches, in place before collection imports the frameworks (onnxruntime writes
    to the XDG cache on import) and for the workers of session- and module-scoped fixtures."""
    patch, folder = pytest.MonkeyPatch(), Path(tempfile.mkdtemp(prefix="dlbench-tests-"))
    use_private_caches(patch, folder)
    config.add_cleanup(lambda: (patch.undo(), shutil.rmtree(folder, ignore_errors=True)))


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch) -> Path:
    """Every test its own cache: a test's tuning choices never reach the user's later runs."""
    return use_private_caches(monkeypatch, tmp_path / "cache")


@pytest.fixture(autouse=True)
def workers_are_bounded(monkeypatch):
    """A worker started from the test process without a timeout fails its test: hung, it would hang
    the suite. (Commands run in a subprocess are bounded by the subprocess call's timeout.)"""
    from dlbench.execution import isolation

    start = isolation.run_in_worker

    def bounded(entry, payload, timeout=None, on_event=None):
        if timeout is None:
            pytest.fail(f"a {entry!r} worker started without a timeout: give it --timeout (RunConfig(timeout=...))")
        return start(entry, payload, timeout, on_event)

    monkeypatch.setattr(isolation, "run_in_worker", bounded)


def write_idx(path: Path, array: np.ndarray) -> Path:
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


@pytest.fixture
def mnist_dir(tmp_path):
    """A small MNIST-format dataset: class c images are bright in row band c (learnable)."""
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 600), ("t10k", 200)):
        y = rng.integers(0, 10, n).astype(np.uint8)
        x = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
        for i, c in enumerate(y):
            x[i, 2 + 2 * c : 4 + 2 * c] = 255
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", x)
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", y)  # one uncompressed, to cover both
    return tmp_path


def has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    """Running, not a zombie (Linux /proc)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


#: what listing commands must not import: the frameworks and the analysis stack
HEAVY_MODULES = ("torch", "tensorflow", "jax", "flax", "optax", "keras", "pandas", "matplotlib")


def heavy_modules_after(*commands: list[str]) -> list[str]:
    """The ``HEAVY_MODULES`` a fresh interpreter holds after importing the CLI and running ``commands``."""
    code = ("import json, sys; from click.testing import CliRunner; from dlbench.cli import cli\n"
            f"for args in {commands!r}:\n"
            "    result = CliRunner().invoke(cli, args)\n"
            "    assert result.exit_code == 0, result.output\n"
            f"print(json.dumps([m for m in {HEAVY_MODULES!r} if m in sys.modules]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


requires_torch = pytest.mark.skipif(not has("torch"), reason="torch is not installed")
python = sys.executable

"""One cache folder, resolved in one place, for tuning choices, calibration profiles, doctor's noise
estimate and dataset downloads."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from dlbench.calibration import profile_path
from dlbench.cli.main import cli
from dlbench.data import mnist
from dlbench.diagnostics import noise
from dlbench.tuning import cache


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("DLBENCH_CACHE_DIR", "DLBENCH_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # where a relative folder would land
    return tmp_path / "home"


def folders() -> dict[str, Path]:
    """The cache folder each user of it writes under."""
    return {"tuning": cache.path_for({"backend": "b", "model": "m"}).parent.parent,
            "calibration": profile_path("f").parent.parent,
            "noise": noise.path().parent,
            "downloads": mnist.candidate_dirs(mnist.MNIST, None)[-1].parent}


def all_in(folder: Path) -> dict[str, Path]:
    return dict.fromkeys(("tuning", "calibration", "noise", "downloads"), folder)


def test_without_variables_the_cache_is_in_home(home):
    assert folders() == all_in(home / ".cache" / "dlbench")


@pytest.mark.parametrize("xdg", ["", "relative/cache"])
def test_an_empty_or_relative_xdg_cache_home_is_ignored(home, monkeypatch, xdg):
    monkeypatch.setenv("XDG_CACHE_HOME", xdg)  # the XDG spec: a relative path is invalid and ignored
    assert folders() == all_in(home / ".cache" / "dlbench")


def test_an_absolute_xdg_cache_home_is_used(home, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert folders() == all_in(tmp_path / "xdg" / "dlbench")


def test_dlbench_cache_dir_moves_every_cache_downloads_included(home, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("DLBENCH_CACHE_DIR", str(tmp_path / "mine"))
    assert folders() == all_in(tmp_path / "mine")


def test_the_old_variable_is_not_read_and_says_so(home, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DLBENCH_CACHE", str(tmp_path / "old"))
    assert folders() == all_in(home / ".cache" / "dlbench")
    warnings = [line for line in capsys.readouterr().err.splitlines() if "DLBENCH_CACHE" in line]
    assert len(warnings) == 1, warnings  # once, not once per use
    assert "no longer read" in warnings[0] and "DLBENCH_CACHE_DIR" in warnings[0]


def test_the_command_line_warns_about_the_old_variable_itself(home, monkeypatch, tmp_path):
    # the caches are used in worker processes, whose stderr is shown only when they fail
    monkeypatch.setenv("DLBENCH_CACHE", str(tmp_path / "old-cli"))
    result = CliRunner().invoke(cli, ["list"])
    assert result.exit_code == 0 and "DLBENCH_CACHE=" in result.stderr and "no longer read" in result.stderr

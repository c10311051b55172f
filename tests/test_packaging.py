"""A non-editable install (a built wheel) carries its configs and runs from any directory."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # --no-build-isolation: hatchling comes from the dev install, so this needs no network.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("litmlp-*.whl")
    return path


def test_wheel_contains_every_config_and_the_sweeper_plugin(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"litmlp/conf/{p.relative_to(REPO / 'conf')}" for p in (REPO / "conf").rglob("*.yaml")}
    assert expected <= names
    assert "hydra_plugins/litmlp_optuna/sweeper.py" in names


@pytest.mark.slow
def test_installed_wheel_finds_its_configs_from_another_directory(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # The installed copy comes first on the path, ahead of the editable source tree.
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run(
        [sys.executable, "-c", "import litmlp.config as c; print(c.config_dir()); print(c.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    conf, module = result.stdout.split()
    assert Path(module).is_relative_to(target)
    assert Path(conf) == target / "litmlp" / "conf"
    result = subprocess.run(
        [sys.executable, "-m", "litmlp", "train", "--cfg", "job", "model=linear"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "hidden: []" in result.stdout

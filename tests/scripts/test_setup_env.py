"""scripts/setup_env.sh reuses an environment only while its stamp matches the pinned files, and
sets up serving without the test tools.

Runs the script on a copy of the files it stamps, with a pip-less virtual environment: a run
that tried to install would fail, so "reusing" proves nothing was installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STAMPED = ["pyproject.toml", "client/pyproject.toml", "scripts/setup_env.sh"] + [
    f"docker/requirements-{n}.txt" for n in ("common", "cpu", "gpu", "gateway")
]


@pytest.fixture
def project(tmp_path) -> Path:
    for name in STAMPED:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, tmp_path / name)
    venv.create(tmp_path / "env", with_pip=False)
    return tmp_path


def setup_env(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MRI_VENV": "env", "PYTHON": sys.executable}
    return subprocess.run(
        ["bash", str(project / "scripts" / "setup_env.sh"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_a_matching_stamp_is_reused_and_a_changed_pin_is_not(project):
    key = setup_env(project, "--print-key").stdout.strip()
    assert len(key) == 64
    assert setup_env(project, "--check").returncode == 1, "no stamp yet: it would install"
    (project / "env" / ".mri-setup-stamp").write_text(key + "\n")
    assert setup_env(project, "--check").returncode == 0
    reused = setup_env(project)
    assert reused.returncode == 0 and "reusing" in reused.stderr

    pinned = project / "docker" / "requirements-common.txt"
    original = pinned.read_text()
    first_pin = next(line for line in original.splitlines() if "==" in line)
    pinned.write_text(original.replace(first_pin, first_pin + ".post1"))
    assert setup_env(project, "--check").returncode == 1, "a changed pin re-installs"
    assert setup_env(project, "--print-key").stdout.strip() != key
    pinned.write_text(original)
    (project / "pyproject.toml").write_text((project / "pyproject.toml").read_text() + "\n# changed\n")
    assert setup_env(project, "--check").returncode == 1, "a changed pyproject.toml re-installs"


def _plan(project: Path, profile: str) -> list[str]:
    done = setup_env(project, profile, "--dry-run")
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_serving_installs_neither_the_test_tools_nor_a_browser(project):
    serve, test = _plan(project, "serve"), _plan(project, "test")
    assert "pip install -r docker/requirements-cpu.txt" in serve and "pip install -e ." in serve
    assert not any("[test]" in line or "client" in line or "chromium" in line for line in serve), serve
    assert set(serve[1:]) < set(test[1:]), "testing installs what serving does, and more"
    assert "apt-get install (when missing) chromium" in test
    assert any("[test]" in line for line in test) and "pip install -e ./client" in test


def test_an_environment_set_up_for_testing_also_serves_but_not_the_reverse(project):
    serve_key = setup_env(project, "serve", "--print-key").stdout.strip()
    test_key = setup_env(project, "test", "--print-key").stdout.strip()
    assert serve_key != test_key and test_key == setup_env(project, "--print-key").stdout.strip()
    stamp = project / "env" / ".mri-setup-stamp"
    stamp.write_text(test_key + "\n")
    assert setup_env(project, "serve", "--check").returncode == 0
    stamp.write_text(serve_key + "\n")
    assert setup_env(project, "serve", "--check").returncode == 0
    assert setup_env(project, "test", "--check").returncode == 1, "the test tools are missing"
    assert "(up to date)" in _plan(project, "serve")[0] and "(would install)" in _plan(project, "test")[0]


def test_unknown_options_are_refused(project):
    done = setup_env(project, "--frobnicate")
    assert done.returncode == 2 and "unknown option" in done.stderr

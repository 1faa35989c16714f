"""The README's first command on a stock Debian: the system Python first on PATH, no uv.

Debian's Python refuses ``pip install`` outside a virtual environment (PEP
668), so ``./dev`` must not install uv with it. This runs ``./dev run`` in a
copy of the working tree with a PATH of the system's directories only and a
HOME of its own (no pyenv, no uv, no ~/.local/bin), sharing the download
caches and the machine's network settings (its CA bundle, a proxy).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TIMEOUT = 900  # a cold cache downloads uv and every locked package


def system_python() -> Path | None:
    found = shutil.which("python3", path=SYSTEM_PATH)
    return Path(found).resolve() if found else None


def copy_of_the_tree(into: Path) -> Path:
    """The files a clone of the working tree has (tracked, and new but not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = ROOT / os.fsdecode(name)
        if source.is_file():
            target = into / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return into


def machine_settings() -> dict[str, str]:
    """The environment without what points at a Python or uv of this test run's own.

    The rest stays: a machine may need its own CA bundle or proxy to reach PyPI.
    """
    ours = ("PYENV", "VIRTUAL_ENV", "UV_", "PYTHON", "CONDA", "PYTEST", "ZEITBUS", "ZEITGEIST")
    return {name: value for name, value in os.environ.items() if not name.startswith(ours)}


def caches() -> dict[str, str]:
    """This user's download caches, so a warm machine downloads nothing again."""
    home = Path.home()
    return {
        "UV_CACHE_DIR": os.environ.get("UV_CACHE_DIR", str(home / ".cache" / "uv")),
        "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR", str(home / ".cache" / "pip")),
    }


@pytest.mark.skipif(
    shutil.which("uv", path=SYSTEM_PATH) is not None,
    reason="uv is installed system-wide here, so ./dev would not install its own",
)
@pytest.mark.skipif(system_python() is None, reason="this machine has no system python3")
def test_dev_run_sets_up_with_the_system_python_first_on_path(tmp_path: Path) -> None:
    tree = copy_of_the_tree(tmp_path / "zeitbus")
    home = tmp_path / "home"
    home.mkdir()
    env = {
        **machine_settings(),
        "PATH": SYSTEM_PATH,
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        **caches(),
    }

    def dev_run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["./dev", "run", *args],
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )

    first = dev_run("--version")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("zeitbus, version ")
    assert "externally-managed-environment" not in first.stderr
    assert "installing uv" in first.stderr
    tools_python = tree / ".tools" / "uv" / "bin" / "python"
    assert tools_python.resolve() == system_python()
    assert (tree / ".venv" / "bin" / "python").resolve() == system_python()

    again = dev_run("stats")  # idempotent: nothing is installed a second time
    assert again.returncode == 0, again.stderr
    assert "installing" not in again.stderr
    assert "Events" in again.stdout

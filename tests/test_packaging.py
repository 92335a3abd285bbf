"""What `make demo` and `make test` install, and what the distribution holds."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
#: Heavy packages only the `hunyuan` engine and the tests need.
HEAVY = ("torch", "transformers", "playwright", "pytest", "schemathesis")


def planned(target: str) -> list[str]:
    """The commands ``make TARGET`` would run from nothing (``-n -B``: print, all stale)."""
    if shutil.which("make") is None:
        pytest.skip("no make on PATH")
    # Run from `make test` itself, make would announce the directory it enters and leaves.
    done = subprocess.run(["make", "--no-print-directory", "-n", "-B", target], cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=True)
    return [line for line in done.stdout.splitlines() if not line.startswith("#")]


def pip_installs(commands: list[str]) -> list[str]:
    """The arguments of each ``pip install`` among ``commands``."""
    return [c.split("pip install", 1)[1].strip() for c in commands if "pip install" in c]


def test_make_demo_installs_the_core_package_alone() -> None:
    commands = planned("demo")
    installs = pip_installs(commands)
    assert installs == ["-q --upgrade pip", "-q ."]
    assert not any(heavy in " ".join(commands) for heavy in HEAVY)
    assert commands[-1] == ".venv/bin/adreview demo"


def test_make_test_adds_the_cpu_torch_and_the_dev_and_hunyuan_extras() -> None:
    installs = pip_installs(planned("unit"))
    assert installs == ["-q --upgrade pip", "-q .", "-q torch==2.13.0",
                        "-q -e '.[dev,hunyuan]'"]


def test_the_runtime_dependencies_leave_out_torch_transformers_and_the_test_tools() -> None:
    project = PYPROJECT["project"]
    names = [d.split(">")[0].split("=")[0].split("[")[0].strip().lower()
             for d in project["dependencies"]]
    for required in ("rapidocr-onnxruntime", "celery", "sqlalchemy", "fastapi", "alembic"):
        assert required in names
    assert not set(names) & set(HEAVY)
    extras = project["optional-dependencies"]
    assert any(d.startswith("torch") for d in extras["hunyuan"])
    assert any(d.startswith("playwright") for d in extras["dev"])


def test_every_folder_of_code_or_data_is_a_listed_package_and_migrations_live_in_worker() -> None:
    packages = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = set()
    for top in ("worker", "rules", "models"):
        for folder in [REPO / top, *(p for p in (REPO / top).rglob("*") if p.is_dir())]:
            if folder.name == "__pycache__":
                continue
            if any(f.is_file() and f.suffix in {".py", ".yaml", ".html", ".mako", ".json", ".css", ".js"}
                   for f in folder.iterdir()):
                found.add(".".join(folder.relative_to(REPO).parts))
    # A folder missing from the list is left out of the wheel, with a setuptools warning.
    assert found == packages
    assert "worker.migrations" in packages and "migrations" not in packages
    assert not (REPO / "migrations").exists()
    assert "script_location = %(here)s/worker/migrations" in (REPO / "alembic.ini").read_text()

"""The ``hunyuan`` extra's lower bounds load HunyuanOCR: a fresh virtualenv gets exactly
the floors ``pyproject.toml`` declares and loads the tiny model through the engine.

transformers 5.13-5.21 list HunyuanOCR but cannot load its processor without torchvision,
which the extra does not install; this test fails if the floor drifts back there. torch
is the build this machine already has (the Makefile's pin), linked into the fresh venv
rather than unpacked again: the torch floor's only build on the registry is the
multi-gigabyte CUDA one, so the test checks that the pin satisfies the floor and that
transformers' floor, resolved by pip against it, loads. pip reuses its cache.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
import venv
from importlib import metadata
from pathlib import Path

import pytest

from tests.models.test_hunyuan import ROOT, build_tiny_model

pytestmark = pytest.mark.slow

#: pip's messages when the package registry cannot be reached (then the test skips).
UNREACHABLE = re.compile(
    r"NameResolutionError|Temporary failure in name resolution|Failed to establish a new "
    r"connection|Network is unreachable|ConnectTimeoutError"
)

#: Run inside the fresh venv: build the engine on the tiny model, read one image.
LOAD = """
import importlib.util, json, sys
from PIL import Image
from models.hunyuan import HunyuanEngine, missing_requirements
from worker.settings import Settings
import torch, transformers
engine = HunyuanEngine.from_settings(Settings(
    hunyuan_model=sys.argv[1], hunyuan_device="cpu", hunyuan_max_new_tokens=4))
readings = engine.read([Image.new("RGB", (48, 40), "white")])
print(json.dumps({
    "available": HunyuanEngine.is_available(),
    "missing": missing_requirements(),
    "torchvision": importlib.util.find_spec("torchvision") is not None,
    "transformers": transformers.__version__,
    "torch": torch.__version__,
    "attention": engine._loaded.model.config._attn_implementation,
    "readings": len(readings),
    "truncated": readings[0].truncated,
}))
"""


def floors() -> dict[str, str]:
    """``name -> lower bound`` of every requirement of the ``hunyuan`` extra."""
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["hunyuan"]
    found = {}
    for requirement in extra:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*>=\s*([0-9][0-9.]*)\s*", requirement)
        assert match, f"the hunyuan extra should give a lower bound: {requirement!r}"
        found[match.group(1).lower()] = match.group(2)
    return found


def release(version: str) -> tuple[int, ...]:
    """``"5.22"`` and ``"5.22.0"`` alike -> ``(5, 22)``; a local tag is ignored."""
    numbers = [int(part) for part in re.findall(r"\d+", version.split("+")[0])[:3]]
    while len(numbers) > 2 and numbers[-1] == 0:
        numbers.pop()
    return tuple(numbers)


def link_distribution(name: str, python: Path) -> None:
    """Make the installed distribution ``name`` (its packages and its dist-info) visible
    to the venv of ``python`` by symbolic links, so pip counts it as installed."""
    site = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip())
    dist = metadata.distribution(name)
    tops = {Path(str(file)).parts[0] for file in dist.files or []}
    base = Path(str(dist.locate_file("")))
    for top in sorted(tops):
        if top.endswith(".data") or top == "..":
            continue
        source = base / top
        if source.exists() and not (site / top).exists():
            (site / top).symlink_to(source)


def test_the_extra_declares_floors_that_load_without_torchvision() -> None:
    declared = floors()
    assert release(declared["transformers"]) >= (5, 22)
    assert release(declared["torch"]) >= (2, 6)


def test_a_fresh_venv_with_the_extras_floors_loads_the_tiny_model(
    tmp_path: Path,
) -> None:
    declared = floors()
    torch_here = metadata.version("torch")
    assert release(torch_here) >= release(declared["torch"])
    model = tmp_path / "tiny-hunyuan"
    build_tiny_model(model)
    env_dir = tmp_path / "floors-venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    link_distribution("torch", python)
    # The project's own light dependencies at the versions already installed here.
    requirements = [
        f"transformers=={declared['transformers']}",
        f"torch=={torch_here}",
        *(f"{name}=={metadata.version(name)}"
          for name in ("pillow", "pydantic", "pydantic-settings")),
    ]
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         *requirements],
        capture_output=True, text=True, timeout=900,
    )
    if install.returncode != 0 and UNREACHABLE.search(install.stderr):
        pytest.skip(f"the package registry is unreachable: {install.stderr.strip()[-300:]}")
    assert install.returncode == 0, install.stderr[-3000:]
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    run = subprocess.run(
        [str(python), "-c", LOAD, str(model)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path, env=environment,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert release(report["transformers"]) == release(declared["transformers"])
    assert report["torchvision"] is False
    assert report["available"] is True and report["missing"] is None
    assert report["attention"] == "eager"
    assert report["readings"] == 1
    assert sys.executable != str(python)

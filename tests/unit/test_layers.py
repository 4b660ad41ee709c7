"""The layer contract in pyproject.toml holds, and it is a real check: it breaks when it should."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree, env=env, capture_output=True, text=True, timeout=120,
    )


def _copy_of_the_project(tmp_path: Path) -> Path:
    tree = tmp_path / "project"
    shutil.copytree(
        PROJECT / "samoflow", tree / "samoflow", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(PROJECT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def test_the_layers_are_kept(tmp_path: Path) -> None:
    done = _lint(_copy_of_the_project(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_prefect_in_a_concept_package_breaks_the_contract(tmp_path: Path) -> None:
    tree = _copy_of_the_project(tmp_path)
    files = tree / "samoflow" / "session" / "files.py"
    files.write_text(files.read_text(encoding="utf-8") + "\nimport prefect  # noqa\n")
    done = _lint(tree)
    assert done.returncode != 0
    assert "The domain knows nothing of Prefect BROKEN" in done.stdout
    assert "samoflow.session.files -> prefect" in done.stdout


def test_a_concept_reaching_up_into_flows_breaks_the_layers(tmp_path: Path) -> None:
    tree = _copy_of_the_project(tmp_path)
    lease = tree / "samoflow" / "health" / "lease.py"
    upward = "\nimport samoflow.flows.session  # noqa\n"
    lease.write_text(lease.read_text(encoding="utf-8") + upward)
    done = _lint(tree)
    assert done.returncode != 0
    assert "BROKEN" in done.stdout
    assert "samoflow.health.lease -> samoflow.flows.session" in done.stdout


def test_every_package_and_module_of_samoflow_has_a_layer() -> None:
    import tomllib

    config = tomllib.loads((PROJECT / "pyproject.toml").read_text(encoding="utf-8"))
    (layers,) = [
        c["layers"] for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"
    ]
    listed = {name.strip() for layer in layers for name in layer.split(":")}
    root = PROJECT / "samoflow"
    found = {f"samoflow.{p.name}" for p in root.iterdir() if (p / "__init__.py").exists()}
    found |= {f"samoflow.{p.stem}" for p in root.glob("*.py") if p.stem != "__init__"}
    assert found - listed == set(), "put each new package in a layer of pyproject.toml"

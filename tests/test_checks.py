"""The static checks are part of the test run, and the import contracts really bite.

``make test`` runs ruff, mypy and lint-imports before pytest; these tests run them
again so that ``pytest`` alone enforces them too. The contract tests plant a
forbidden import in a copy of the tree and check that lint-imports fails on it.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PACKAGES = ("shared", "edge", "hub", "models", "provisioning", "demo")
CONTRACTS = {
    contract["id"]: contract
    for contract in tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "importlinter"
    ]["contracts"]
}
# (contract id, module to plant, its import): one forbidden import per rule in DESIGN.md.
PLANTED = [
    ("shared-standalone", "shared/_planted.py", "import edge.cli"),
    ("shared-standalone", "shared/config/_planted.py", "from hub import cli"),
    ("shared-standalone", "shared/_planted.py", "import models"),
    ("edge-shared-only", "edge/_planted.py", "from hub.cli import hub_group"),
    ("edge-shared-only", "edge/feeds/_planted.py", "import models"),
    ("hub-not-edge", "hub/_planted.py", "import edge.replay"),
    ("models-shared-only", "models/_planted.py", "import hub"),
    ("models-shared-only", "models/_planted.py", "from edge import cli"),
    ("edge-light", "edge/_planted.py", "import torch"),
    ("edge-light", "edge/feeds/_planted.py", "from ray import tune"),
    ("edge-light", "edge/_planted.py", "import fastapi"),
    ("edge-light", "shared/_planted.py", "import torch.nn"),
    ("provisioning-standalone", "provisioning/_planted.py", "import shared.topics"),
    ("roles-not-provisioning", "hub/_planted.py", "from provisioning import broker"),
    ("roles-not-provisioning", "edge/_planted.py", "import provisioning.broker"),
    ("nothing-imports-demo", "edge/_planted.py", "from demo import stack"),
    ("nothing-imports-demo", "hub/_planted.py", "import demo.report"),
    ("nothing-imports-demo", "provisioning/_planted.py", "from demo.cli import demo_command"),
    ("contracts-below-trading", "shared/sync/_planted.py", "import shared.trading.engine"),
    ("contracts-below-trading", "shared/config/_planted.py", "from shared.trading import risk"),
    ("trading-layer", "shared/trading/_planted.py", "from shared.sync import codec"),
    ("trading-layer", "shared/trading/strategies/_planted.py", "import sqlite3"),
    ("trading-layer", "shared/trading/_planted.py", "import paho.mqtt.client"),
]


def run(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None) -> str:
    """Run a tool; fail the test with its output unless it exits 0."""
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=600
    )
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}{result.stderr}"
    return result.stdout


@pytest.mark.slow
def test_ruff_finds_nothing() -> None:
    run(str(BIN / "ruff"), "check", ".")


@pytest.mark.slow
def test_mypy_finds_nothing() -> None:
    # Strict for shared/, normal for the rest: configured in pyproject.toml.
    run(str(BIN / "mypy"))


@pytest.mark.slow
def test_mypy_is_strict_for_shared_and_normal_elsewhere(tmp_path: Path) -> None:
    untyped = "def double(x):\n    return x * 2\n"
    for package in ("shared", "edge"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("", encoding="utf-8")
        (tmp_path / package / "planted.py").write_text(untyped, encoding="utf-8")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")

    result = subprocess.run(
        [str(BIN / "mypy"), "--no-incremental", "shared", "edge"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )

    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1, result.stdout
    assert errors[0].startswith("shared/planted.py:1: error: Function is missing a type")


@pytest.mark.slow
def test_the_import_contracts_hold() -> None:
    output = run(str(BIN / "lint-imports"), "--no-logo")

    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in output


def test_every_contract_is_proven_by_a_planted_violation() -> None:
    assert {contract_id for contract_id, _, _ in PLANTED} == set(CONTRACTS)


def _copy_tree(destination: Path) -> None:
    """The packages and the lint-imports config, without caches or tests."""
    for package in PACKAGES:
        shutil.copytree(
            REPO / package, destination / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(REPO / "pyproject.toml", destination / "pyproject.toml")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("contract_id", "module", "statement"),
    PLANTED,
    ids=[f"{c}:{m}:{s}" for c, m, s in PLANTED],
)
def test_a_planted_forbidden_import_breaks_its_contract(
    tmp_path: Path, contract_id: str, module: str, statement: str
) -> None:
    _copy_tree(tmp_path)
    (tmp_path / module).write_text(f"{statement}\n", encoding="utf-8")
    importer = module.removesuffix(".py").replace("/", ".")
    # The copy, not the installed project, is the one lint-imports must analyse.
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}

    result = subprocess.run(
        [str(BIN / "lint-imports"), "--no-logo", "--no-cache", "--contract", contract_id],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )

    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"{CONTRACTS[contract_id]['name']} BROKEN" in output
    assert f"{importer} ->" in output, output


@pytest.mark.slow
def test_the_unplanted_copy_keeps_every_contract(tmp_path: Path) -> None:
    _copy_tree(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}

    output = run(str(BIN / "lint-imports"), "--no-logo", "--no-cache", cwd=tmp_path, env=env)

    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in output


def _modules(package: str) -> list[str]:
    root = importlib.import_module(package)
    return [package] + [
        info.name
        for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}.")
        if not info.name.endswith("__main__")
    ]


@pytest.mark.slow
def test_importing_every_edge_and_shared_module_loads_no_hub_stack() -> None:
    # import-linter reads import statements; this also catches importlib and plugins.
    code = (
        "import importlib, sys\n"
        f"for name in {_modules('shared') + _modules('edge')!r}:\n"
        "    importlib.import_module(name)\n"
        "heavy = sorted({m.partition('.')[0] for m in sys.modules}"
        " & {'torch', 'ray', 'fastapi', 'uvicorn', 'starlette'})\n"
        "assert not heavy, heavy\n"
    )

    run(sys.executable, "-c", code)

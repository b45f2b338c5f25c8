"""A :class:`~tests.integration.harness.Deployment` per test; its logs join a failure's report."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from provisioning.broker import mosquitto_binary
from tests.integration.harness import Deployment

_DEPLOYMENT = pytest.StashKey[Deployment]()


@pytest.fixture()
def deploy(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    """A broker, hub, simulator and agents on loopback, every process stopped at the end."""
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed (make venv installs it from Debian's packages)")
    setup = Deployment(tmp_path)
    request.node.stash[_DEPLOYMENT] = setup
    try:
        yield setup
    finally:
        setup.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    setup = item.stash.get(_DEPLOYMENT, None)
    if setup is not None and report.failed and report.when == "call":
        report.sections.append(("process logs (tails)", setup.tails()))
    return report

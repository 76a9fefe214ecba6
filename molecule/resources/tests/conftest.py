"""Host-state tests (pytest-testinfra) for the hosts of the Molecule scenarios.

A scenario's verify runs them with the podman backend against its own
containers, hands over what each host was deployed with, and takes back one
report row per test and host:

    pytest molecule/resources/tests/test_servers.py \
        --hosts=podman://mx12,podman://mx13 --deployed=deployed.json --rows=rows.json

deployed.json maps each container name to what it was deployed with (see
the tests for the keys they read). SMTP behaviour is not tested here: the
probes from the client containers do that. These tests look at what a
sysadmin would look at on the host: packages, services, sockets, files,
modes and the journal.
"""

from __future__ import annotations

import json

import pytest


def pytest_addoption(parser):
    parser.addoption("--deployed", help="JSON file: container name -> what it was deployed with")
    parser.addoption("--rows", help="write one report row per test and host to this JSON file")


@pytest.fixture
def deployed(request, host):
    path = request.config.getoption("--deployed")
    if not path:
        pytest.skip("no --deployed file")
    with open(path, encoding="utf-8") as f:
        return json.load(f)[host.backend.name]


def _row(report, item):
    """The report row of one test on one host: what it checks, and PASS, FAIL (with why) or SKIP (with why)."""
    params = dict(item.callspec.params)
    host = params.pop("_testinfra_host").backend.name
    what = (item.function.__doc__ or item.originalname.removeprefix("test_").replace("_", " ")).strip().splitlines()[0]
    check = f"host: {what}" + (f": {', '.join(map(str, params.values()))}" if params else "")
    row = dict(host=host, check=check, expected="holds", got="holds", status="PASS")
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        row.update(got=reason.replace("Skipped: ", "skipped: "), status="SKIP")
    elif report.failed:
        crash = getattr(report.longrepr, "reprcrash", None)
        row.update(got=(crash.message if crash else str(report.longrepr)).splitlines()[0], status="FAIL")
    return row


def pytest_configure(config):
    config._authsmtp_rows = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    # One row per test: its call, or its setup when that failed or skipped.
    if report.when == "call" or (report.when == "setup" and not report.passed):
        item.config._authsmtp_rows.append(_row(report, item))


def pytest_unconfigure(config):
    path = config.getoption("--rows")
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(config._authsmtp_rows, f, indent=1)

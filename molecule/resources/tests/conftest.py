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
    # The test's place in the collection (the same in every worker), so that
    # the rows keep pytest's order whichever worker ran them.
    order = item.session.items.index(item)
    row = dict(host=host, check=check, expected="holds", got="holds", status="PASS", order=order)
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        row.update(got=reason.replace("Skipped: ", "skipped: "), status="SKIP")
    elif report.failed:
        crash = getattr(report.longrepr, "reprcrash", None)
        row.update(got=(crash.message if crash else str(report.longrepr)).splitlines()[0], status="FAIL")
    return row


class _Rows:
    """The report rows, collected where the reports arrive: with pytest-xdist
    (the tests mostly wait for podman exec, so verify runs them on both
    cores) the rows are made in the workers and travel to the controller in
    the reports' user_properties; without it, all in one process."""

    def __init__(self, path):
        self.path = path
        self.rows = []

    def pytest_runtest_logreport(self, report):
        self.rows += [value for name, value in report.user_properties if name == "authsmtp_row"]

    def pytest_unconfigure(self):
        self.rows.sort(key=lambda row: row["order"])
        with open(self.path, "w", encoding="utf-8") as f:
            json.dump([{k: v for k, v in row.items() if k != "order"} for row in self.rows], f, indent=1)


def pytest_configure(config):
    path = config.getoption("--rows")
    if path and not hasattr(config, "workerinput"):
        config.pluginmanager.register(_Rows(path), "authsmtp_rows")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    # One row per test: its call, or its setup when that failed or skipped.
    if report.when == "call" or (report.when == "setup" and not report.passed):
        report.user_properties.append(("authsmtp_row", _row(report, item)))

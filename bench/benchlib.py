"""Shared parts of the benchmarks (sasl_user_bench.py, converge_bench.py, smtp_bench.py).

- the result envelope: machine facts, git commit, dates, JSON writing, the
  end of main() (write the report, log targets and checks, exit code) and
  the script entry point
- command-line argument types
- statistics: median and percentiles (linear interpolation between the
  closest ranks, as numpy's default), summaries of a list of samples
- podman: the benchmark's own containers and network, created with the
  settings of the Molecule platforms and always removed again (also on
  Ctrl-C and SIGTERM)
- the collection path for ansible-playbook

Only the standard library; nothing here starts a container by itself.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import fcntl
import importlib.metadata
import json
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess  # noqa: S404 - podman, git and ansible-playbook are the point
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORMAT = "mailops-authsmtp-bench/1"
CONTAINERS_CONF = os.path.join(REPO, "molecule", "resources", "containers.conf")
NETWORK = "authsmtp-bench"
CONTAINER_PREFIX = "authsmtp-bench-"
IMAGES = {"bookworm": "localhost/authsmtp-debian:bookworm", "trixie": "localhost/authsmtp-debian:trixie"}


class BenchError(Exception):
    """The benchmark cannot run, or a step of it failed."""


# --------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def percentile(values, pct):
    """The pct-th percentile (0..100) by linear interpolation between closest ranks; None for no values."""
    if not 0 <= pct <= 100:
        raise ValueError(f"percentile out of range: {pct}")
    ordered = sorted(v for v in values if v is not None)
    if not ordered:
        return None
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * pct / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(values):
    """{n, min, p50, p95, max, mean} of the samples (None entries ignored)."""
    clean = [v for v in values if v is not None]
    if not clean:
        return {"n": 0, "min": None, "p50": None, "p95": None, "max": None, "mean": None}
    return {
        "n": len(clean),
        "min": min(clean),
        "p50": percentile(clean, 50),
        "p95": percentile(clean, 95),
        "max": max(clean),
        "mean": statistics.fmean(clean),
    }


def ratio(numerator, denominator):
    if numerator is None or not denominator:
        return None
    return numerator / denominator


# --------------------------------------------------------------------------
# Envelope
# --------------------------------------------------------------------------


def now():
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()


def _cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep and key.strip() in ("model name", "Model", "cpu model"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_mib():
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _version(distribution):
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def loadavg():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _os_name():
    try:
        with open("/etc/os-release", encoding="utf-8") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.platform()


def machine_info(packages=("ansible-core", "ansible"), podman=True, os_name=None):
    """Facts about this machine; the podman version too unless podman=False; os_name overrides the OS name."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    versions = {name: _version(name) for name in packages}
    podman_version = command_output(["podman", "--version"]) if podman else None
    if podman_version:
        versions["podman"] = podman_version.split()[-1]
    return {
        "cpu_model": _cpu_model(),
        "cpu_cores": os.cpu_count(),
        "cpu_cores_usable": usable,
        "memory_mib": _mem_total_mib(),
        "os": os_name or _os_name(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "packages": {name: version for name, version in versions.items() if version is not None},
    }


def command_output(argv, timeout=30):
    """Stripped stdout of a command, or None when it fails."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=True)  # noqa: S603
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def git_info(paths):
    """Commit of the checkout, and whether the benchmarked paths differ from it (uncommitted changes)."""
    commit = command_output(["git", "-C", REPO, "rev-parse", "HEAD"])
    if commit is None:
        return None
    status = command_output(["git", "-C", REPO, "status", "--porcelain", "--", *paths])
    return {"commit": commit, "module_code_modified": bool(status), "paths": list(paths)}


def display_path(path):
    """A path relative to the checkout when it is inside it, else absolute."""
    path = os.path.abspath(path)
    return os.path.relpath(path, REPO) if path.startswith(REPO + os.sep) else path


def write_json(path, report):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def check(check_id, description, failed, measured):
    """A correctness check: met when nothing failed, None when nothing was measured."""
    return {"id": check_id, "description": description, "met": not failed if measured else None, "failed": failed}


def finish(report, options, log, failed_label="checks"):
    """Write the report (to options.json, else stdout), log its targets and failed checks; the exit code."""
    if options.json:
        write_json(options.json, report)
        log(f"wrote {options.json}")
    else:
        json.dump(report, sys.stdout, indent=1)
        sys.stdout.write("\n")
    for target in report["targets"]:
        log(f"target {target['id']}: {({True: 'met', False: 'NOT MET', None: 'not measured'})[target['met']]}")
    failed = [check["id"] for check in report["checks"] if check["met"] is False]
    if failed:
        log(f"{failed_label} FAILED: {', '.join(failed)}")
        return 1
    return 0


def run_main(name, main, containers=True):
    """The script entry point: exit with main()'s code, 2 on BenchError; with containers, 130/143 on signals."""
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        if not containers:
            raise
        print(f"{name}: interrupted; containers removed", file=sys.stderr)
        die_of_sigint()
    except Interrupted:
        if not containers:
            raise
        print(f"{name}: terminated; containers removed", file=sys.stderr)
        sys.exit(143)


# --------------------------------------------------------------------------
# Command-line argument types
# --------------------------------------------------------------------------


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def int_list(text):
    """Comma-separated positive integers, sorted, without repeats."""
    try:
        values = sorted({int(p) for p in text.split(",") if p.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from None
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError(f"need positive integers: {text!r}")
    return values


class Logger:
    def __init__(self, name, quiet=False):
        self.name = name
        self.quiet = quiet
        self.start = time.monotonic()

    def __call__(self, message):
        if not self.quiet:
            elapsed = time.monotonic() - self.start
            print(f"{self.name} [{elapsed:6.0f}s]: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Interruptions and locking
# --------------------------------------------------------------------------


class Interrupted(BaseException):
    """SIGTERM or SIGHUP: unwind like Ctrl-C so that every finally block runs."""


def _raise_interrupted(signum, _frame):
    raise Interrupted(f"signal {signum}")


def install_signal_handlers():
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_interrupted)


def die_of_sigint():
    """Exit by SIGINT after cleaning up, so that a calling shell or make stops too."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)
    sys.exit(130)  # not reached


@contextlib.contextmanager
def no_interruptions():
    """Block SIGINT/SIGTERM/SIGHUP while cleaning up, so a second Ctrl-C cannot leave containers behind."""
    old = {}
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError):
            old[signum] = signal.signal(signum, signal.SIG_IGN)
    try:
        yield
    finally:
        for signum, handler in old.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def run_lock(name):
    """One run of a benchmark at a time on this machine (its containers have fixed names)."""
    directory = os.path.join(REPO, ".cache", "bench")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{name}.lock")
    with open(path, "w", encoding="utf-8") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise BenchError(f"another {name} benchmark is running (lock {path})") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# --------------------------------------------------------------------------
# Podman
# --------------------------------------------------------------------------


def podman_env():
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", CONTAINERS_CONF)
    return env


def apt_cache_dir(suite):
    base = os.environ.get("AUTHSMTP_CACHE_DIR") or "/var/cache/authsmtp"
    return os.path.join(base, f"apt-{suite}")


class Podman:
    """The benchmark's containers on the network authsmtp-bench; cleanup() removes what this object created.

    Only names that start with ``prefix`` (itself under authsmtp-bench-) are
    ever created or removed.
    """

    def __init__(self, prefix, log, network=NETWORK):
        if not prefix.startswith(CONTAINER_PREFIX):
            raise ValueError(f"container prefix must start with {CONTAINER_PREFIX}")
        self.prefix = prefix
        self.network = network
        self.log = log
        self.env = podman_env()
        self.containers = []

    def run(self, *args, check=True, timeout=600, input_text=None):
        try:
            proc = subprocess.run(  # noqa: S603
                ["podman", *args],  # noqa: S607
                capture_output=True,
                text=True,
                timeout=timeout,
                env=self.env,
                input=input_text,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise BenchError(f"podman {' '.join(args[:3])} ... timed out after {timeout} s") from None
        if check and proc.returncode != 0:
            raise BenchError(
                f"podman {' '.join(args)} failed ({proc.returncode}): {(proc.stderr or proc.stdout).strip()[-2000:]}"
            )
        return proc

    def name(self, role):
        return f"{self.prefix}{role}"

    def stale(self):
        """Containers with this prefix that exist now (left behind by a killed run)."""
        proc = self.run("ps", "-a", "--format", "{{.Names}}", check=False)
        return [n for n in proc.stdout.split() if n.startswith(self.prefix)]

    def remove_stale(self):
        for name in self.stale():
            self.log(f"removing {name}, left behind by an earlier run")
            self.run("rm", "-f", "-t", "2", name, check=False, timeout=120)

    def ensure_network(self):
        if self.run("network", "exists", self.network, check=False).returncode != 0:
            self.run("network", "create", self.network)

    def image_exists(self, image):
        return self.run("image", "exists", image, check=False).returncode == 0

    def create(self, role, suite="bookworm", hostname=None, aliases=(), caps=(), apt_cache=True):
        """Start a container as Molecule starts its platforms: systemd as PID 1, on the bench network."""
        image = IMAGES[suite]
        if not self.image_exists(image):
            raise BenchError(f"image {image} is missing: run scripts/bootstrap.sh (or make bootstrap) first")
        name = self.name(role)
        args = ["run", "-d", "--name", name, "--hostname", hostname or name, "--network", self.network]
        args += ["--systemd=always"]
        for alias in aliases:
            args += ["--network-alias", alias]
        for cap in caps:
            args += ["--cap-add", cap]
        if apt_cache:
            cache = apt_cache_dir(suite)
            os.makedirs(cache, exist_ok=True)
            args += ["-v", f"{cache}:/var/cache/apt/archives:rw"]
        self.containers.append(name)  # before it exists: cleanup must also catch a half-started one
        self.run(*args, image, "/sbin/init", timeout=180)
        self.wait_systemd(name)
        return name

    def wait_systemd(self, name, timeout=120):
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            proc = self.run("exec", name, "systemctl", "is-system-running", check=False, timeout=60)
            state = proc.stdout.strip()
            if state in ("running", "degraded"):
                return state
            time.sleep(0.5)
        raise BenchError(f"{name}: systemd did not finish starting (state {state!r})")

    def exec(self, name, *argv, check=True, timeout=600, input_text=None, interactive=False):
        args = ["exec"] + (["-i"] if interactive or input_text is not None else []) + [name, *argv]
        return self.run(*args, check=check, timeout=timeout, input_text=input_text)

    def sh(self, name, script, check=True, timeout=600):
        return self.exec(name, "sh", "-c", script, check=check, timeout=timeout)

    def write_file(self, name, path, text, mode="0644"):
        self.exec(name, "sh", "-c", f'cat > "$1" && chmod {mode} "$1"', "sh", path, input_text=text)

    def read_file(self, name, path):
        return self.exec(name, "cat", path).stdout

    def ip(self, name):
        fmt = '{{(index .NetworkSettings.Networks "' + self.network + '").IPAddress}}'
        address = self.run("inspect", "-f", fmt, name).stdout.strip()
        if not re.fullmatch(r"[0-9.]+|[0-9a-fA-F:]+", address or ""):
            raise BenchError(f"{name}: no address on {self.network}: {address!r}")
        return address

    def remove(self, name):
        self.run("rm", "-f", "-t", "2", name, check=False, timeout=180)
        if name in self.containers:
            self.containers.remove(name)

    def cleanup(self):
        """Remove every container this object created, then the network unless someone else still uses it."""
        with no_interruptions():
            for name in list(reversed(self.containers)):
                self.log(f"removing {name}")
                self.remove(name)
            # Without -f, podman refuses while another benchmark's container is attached;
            # that run removes the network when it finishes.
            if self.run("network", "exists", self.network, check=False).returncode == 0:
                proc = self.run("network", "rm", self.network, check=False)
                if proc.returncode != 0:
                    self.log(f"network {self.network} is still in use, left for its other user to remove")


def guest_versions(podman, name):
    """Debian and package versions inside a container, for the record."""
    script = (
        "cat /etc/debian_version; "
        "dpkg-query -W -f '${Package} ${Version}\\n' postfix dovecot-core openssl python3 2>/dev/null; true"
    )
    out = podman.sh(name, script, check=False).stdout.splitlines()
    info = {"debian": out[0].strip() if out else None}
    for line in out[1:]:
        parts = line.split()
        if len(parts) == 2:
            info[parts[0]] = parts[1]
    return info


# --------------------------------------------------------------------------
# ansible-playbook
# --------------------------------------------------------------------------


@contextlib.contextmanager
def collections_path():
    """ANSIBLE_COLLECTIONS_PATH that finds this checkout as mailops.authsmtp.

    If the environment names one already (the Makefile does: .cache/collections),
    it is used. Otherwise the checkout is linked into a temporary
    ansible_collections/mailops/authsmtp for the run, the collections of the
    `ansible` package stay reachable (ansible always searches its own).
    """
    given = os.environ.get("ANSIBLE_COLLECTIONS_PATH") or os.environ.get("ANSIBLE_COLLECTIONS_PATHS")
    if given:
        yield given
        return
    base = tempfile.mkdtemp(prefix="authsmtp-bench-collections-")
    namespace = os.path.join(base, "ansible_collections", "mailops")
    os.makedirs(namespace)
    link = os.path.join(namespace, "authsmtp")
    os.symlink(REPO, link)
    try:
        yield base
    finally:
        if os.path.islink(link):
            os.unlink(link)
        shutil.rmtree(base, ignore_errors=True)


def ansible_env(config_path, collections):
    """Environment for ansible-playbook: no ANSIBLE_* from the caller except the collection path, our config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PROFILE_TASKS_"))}
    env.update(
        ANSIBLE_CONFIG=config_path,
        ANSIBLE_COLLECTIONS_PATH=collections,
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_NOCOLOR="1",
        PY_COLORS="0",
        CONTAINERS_CONF=podman_env()["CONTAINERS_CONF"],
    )
    return env


def venv_bin(name):
    """An executable of this Python's environment (.venv/bin/ansible-playbook), else from PATH."""
    candidate = os.path.join(os.path.dirname(sys.executable), name)
    if os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which(name)
    if not found:
        raise BenchError(f"{name} not found (run from the project's virtual environment: .venv/bin/python)")
    return found

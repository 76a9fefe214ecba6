"""The one harness of the benchmarks in bench/ (standard library only).

- statistics: median, percentile, ratios paired per repetition
- the result: envelope (machine, commit, dates), targets, checks, JSON, exit code
- the command-line options every script has
- podman: the benchmarks' own containers, always removed (also on Ctrl-C and SIGTERM)
- ansible-playbook: a collections path holding this checkout or a git revision of it, timed runs
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import fcntl
import importlib.metadata
import io
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess  # noqa: S404 - podman, git and ansible-playbook are the point
import sys
import tarfile
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORMAT = "mailops-authsmtp-bench/2"
CONTAINERS_CONF = os.path.join(REPO, "molecule", "resources", "containers.conf")
NETWORK = "authsmtp-bench"
PREFIX = "authsmtp-bench-"
IMAGES = {"bookworm": "localhost/authsmtp-debian:bookworm", "trixie": "localhost/authsmtp-debian:trixie"}


class BenchError(Exception):
    """The benchmark cannot run, or a step of it failed: reported, never replaced by a number."""


class Interrupted(BaseException):
    """SIGTERM or SIGHUP: unwinds like Ctrl-C, so every cleanup runs."""


# --- statistics -------------------------------------------------------------


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def percentile(values, pct):
    """Linear interpolation between the closest ranks (numpy's default); None without values."""
    ordered = sorted(v for v in values if v is not None)
    if not ordered:
        return None
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def paired(values, references):
    """{"per_repetition": [...], "median": m} of values[r] / references[r], both {repetition: number}.

    Pairing within a repetition keeps drifting load on the shared machine out of the ratio.
    """
    pairs = [values[r] / references[r] for r in sorted(values) if references.get(r) and values[r] is not None]
    return {"per_repetition": pairs, "median": median(pairs)}


# --- the result -------------------------------------------------------------


def target(tid, description, threshold, measured, unit, passes, reason="not measured in this run", **extra):
    """A target of the issue: met True/False, or None with the reason when this run did not measure it."""
    met = None if measured is None else bool(passes(measured))
    result = {"id": tid, "description": description, "threshold": threshold, "measured": measured}
    result.update(measured_unit=unit, met=met, **extra)
    if met is None:
        result["reason"] = reason
    return result


def check(cid, description, failed, measured=True):
    """A correctness check of the runs: the figures of a run that did the wrong thing are void."""
    return {"id": cid, "description": description, "met": not failed if measured else None, "failed": failed}


def now():
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()


def loadavg():
    return [round(x, 2) for x in os.getloadavg()]


def command_output(argv):
    """Stripped stdout of a command, or None when it fails."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True).stdout.strip()  # noqa: S603
    except (OSError, subprocess.SubprocessError):
        return None


def _first_line(path, prefix):
    with contextlib.suppress(OSError), open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith(prefix):
                return line.split("=" if prefix.endswith("=") else ":", 1)[1].strip().strip('"')
    return None


def machine_info(packages, podman=True):
    versions = {}
    for name in packages:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    podman = podman and shutil.which("podman") and command_output(["podman", "--version"])
    if podman:
        versions["podman"] = podman.split()[-1]
    memory = _first_line("/proc/meminfo", "MemTotal:")
    return {
        "cpu_model": _first_line("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "cpu_cores": os.cpu_count(),
        "cpu_cores_usable": len(os.sched_getaffinity(0)),
        "memory_mib": int(memory.split()[0]) // 1024 if memory else None,
        "os": _first_line("/etc/os-release", "PRETTY_NAME=") or platform.platform(),
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "packages": versions,
    }


def git_info(paths=("roles", "playbooks", "plugins")):
    """The checkout's commit, and whether the benchmarked paths differ from it."""
    commit = command_output(["git", "-C", REPO, "rev-parse", "HEAD"])
    status = command_output(["git", "--no-optional-locks", "-C", REPO, "status", "--porcelain", "--", *paths])
    return {"commit": commit, "modified": bool(status)} if commit else None


class Run:
    """One run of a benchmark script: its options, its log, and the result envelope."""

    def __init__(self, script, options):
        self.script = script
        self.options = options
        self.date, self.start, self.load = now(), time.perf_counter(), loadavg()
        self.began = time.monotonic()

    def log(self, message):
        if not self.options.quiet:
            print(f"{self.script} [{time.monotonic() - self.began:5.0f}s]: {message}", file=sys.stderr, flush=True)

    def report(self, benchmark, title, packages, **fields):
        return {
            "format": FORMAT,
            "benchmark": benchmark,
            "title": title,
            "generated_by": f"bench/{self.script}.py",
            "smoke": self.options.smoke,
            "date": self.date,
            "finished": now(),
            "duration_s": round(time.perf_counter() - self.start, 1),
            "machine": {**machine_info(packages, not self.options.smoke), "load_average": [self.load, loadavg()]},
            "source": git_info(),
            **fields,
        }

    def finish(self, report):
        """Write the report (to --json, else stdout); exit code 1 when a correctness check failed."""
        if self.options.json:
            write_json(self.options.json, report)
            self.log(f"wrote {self.options.json}")
        else:
            print(json.dumps(report, indent=1))
        for t in report["targets"]:
            self.log(f"target {t['id']}: {({True: 'met', False: 'NOT MET', None: 'not measured'})[t['met']]}")
        failed = [c["id"] for c in report["checks"] if c["met"] is False]
        if failed:
            self.log(f"checks FAILED: {', '.join(failed)}")
        return 1 if failed else 0


def write_json(path, data):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(f"{path}.tmp", "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    os.replace(f"{path}.tmp", path)


def log_dir(options, name):
    """--log-dir, else name next to the --json file: emptied, so it holds this run's logs only."""
    path = options.log_dir or os.path.join(os.path.dirname(os.path.abspath(options.json or "result")), name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def display_path(path):
    path = os.path.abspath(path)
    return os.path.relpath(path, REPO) if path.startswith(REPO + os.sep) else path


# --- the command line ---------------------------------------------------------


def positive_int(text):
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive integer: {text!r}")
    return int(text)


def int_list(text):
    """Comma-separated positive integers, sorted, without repeats."""
    return sorted({positive_int(part.strip()) for part in text.split(",") if part.strip()})


def parser(description, smoke_help):
    """The options every script has; parse() fills in --repeat."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", metavar="FILE", help="write the result to FILE (default: stdout)")
    p.add_argument("--repeat", type=positive_int, metavar="N", help="repetitions (default 3; --smoke 1)")
    p.add_argument("--workdir", metavar="DIR", help="where to make temporary files (default: $TMPDIR)")
    p.add_argument("--smoke", action="store_true", help=f"{smoke_help}; the figures are not measurements")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return p


def parse(p, argv):
    options = p.parse_args(argv)
    options.repeat = options.repeat or (1 if options.smoke else 3)
    return options


def run_main(script, main):
    """Exit with main()'s code; 2 when the benchmark cannot run; by SIGINT after Ctrl-C, 143 on SIGTERM."""

    def interrupted(signum, _frame):
        raise Interrupted(signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupted)
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"{script}: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"{script}: interrupted; its containers are removed", file=sys.stderr)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)  # so that make stops too
    except Interrupted:
        print(f"{script}: terminated; its containers are removed", file=sys.stderr)
        sys.exit(143)


@contextlib.contextmanager
def no_interruptions():
    """A second Ctrl-C during the cleanup must not leave containers behind."""
    old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, handler in old.items():
            signal.signal(signum, handler)


# --- podman -------------------------------------------------------------------


class Podman:
    """The containers of one benchmark, named PREFIX<name>-..., on the network authsmtp-bench.

    As a context manager: one run per benchmark at a time (a lock in .cache/bench),
    containers a killed run left behind are removed first, and every container is
    removed at the end, whatever the end; the network too unless another benchmark uses it.
    """

    def __init__(self, name, log):
        self.prefix = f"{PREFIX}{name}-"
        self.log = log
        self.env = {**os.environ, "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF", CONTAINERS_CONF)}
        self.containers = []
        self.caches = {}  # container -> its copy of the apt archive cache
        self.lock = None

    def __enter__(self):
        os.makedirs(os.path.join(REPO, ".cache", "bench"), exist_ok=True)
        self.lock = open(os.path.join(REPO, ".cache", "bench", f"{self.prefix}lock"), "w")
        try:
            fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.lock.close()
            raise BenchError(f"another run uses the containers {self.prefix}*") from None
        stale = self.run("ps", "-a", "--format", "{{.Names}}", check=False).stdout.split()
        for name in (n for n in stale if n.startswith(self.prefix)):
            self.log(f"removing {name}, left behind by an earlier run")
            self.run("rm", "-f", "-t", "2", name, check=False)
        if self.run("network", "exists", NETWORK, check=False).returncode != 0:
            self.run("network", "create", NETWORK)
        return self

    def __exit__(self, *exc):
        with no_interruptions():
            for name in reversed(self.containers[:]):
                self.remove(name)
            # Without -f podman refuses while another benchmark's container is attached; that one removes it.
            self.run("network", "rm", NETWORK, check=False)
            self.lock.close()

    def run(self, *args, check=True, timeout=900, input_text=None):
        try:
            proc = subprocess.run(  # noqa: S603
                ["podman", *args],  # noqa: S607
                capture_output=True, text=True, timeout=timeout, env=self.env, input=input_text, check=False,
            )
        except subprocess.TimeoutExpired:
            raise BenchError(f"podman {' '.join(args[:3])} ... took more than {timeout} s") from None
        if check and proc.returncode != 0:
            raise BenchError(f"podman {' '.join(args)[:300]} failed: {(proc.stderr or proc.stdout).strip()[-1500:]}")
        return proc

    def create(self, name, hostname, caps=(), apt_cache=True, suite="bookworm"):
        """A container as Molecule makes its platforms: systemd as PID 1, the shared apt archive cache.

        Containers of one benchmark that run apt at the same time would wait for each other's lock on a
        shared cache (and fail after apt's lock timeout), which no real fleet does: each gets its own copy,
        hard links to the shared cache's files, removed with the container."""
        image = IMAGES[suite]
        if self.run("image", "exists", image, check=False).returncode != 0:
            raise BenchError(f"image {image} is missing: run make bootstrap first")
        full = self.prefix + name
        args = ["run", "-d", "--name", full, "--hostname", hostname, "--network", NETWORK, "--network-alias", hostname]
        args += ["--systemd=always", *(f"--cap-add={cap}" for cap in caps)]
        if apt_cache:
            shared = os.path.join(os.environ.get("AUTHSMTP_CACHE_DIR", "/var/cache/authsmtp"), f"apt-{suite}")
            os.makedirs(shared, exist_ok=True)
            cache = f"{shared}-{full}"  # beside it: hard links need the same file system
            shutil.rmtree(cache, ignore_errors=True)
            shutil.copytree(shared, cache, copy_function=os.link, ignore=shutil.ignore_patterns("lock", "partial"))
            os.makedirs(os.path.join(cache, "partial"), exist_ok=True)
            self.caches[full] = cache
            args += ["-v", f"{cache}:/var/cache/apt/archives:rw"]
        self.containers.append(full)  # before it exists: the cleanup must catch a half-started one too
        self.run(*args, image, "/sbin/init", timeout=180)
        deadline = time.monotonic() + 120
        while self.sh(full, "systemctl is-system-running", check=False).stdout.strip() not in ("running", "degraded"):
            if time.monotonic() > deadline:
                raise BenchError(f"{full}: systemd did not finish starting")
            time.sleep(0.5)
        return full

    def sh(self, name, script, *args, check=True, timeout=900, input_text=None):
        """sh -c script in the container, with args as $1, $2, ..."""
        interactive = ["-i"] if input_text is not None else []
        return self.run("exec", *interactive, name, "sh", "-c", script, "sh", *args, check=check, timeout=timeout,
                        input_text=input_text)

    def write_file(self, name, path, text, mode="0644"):
        self.sh(name, 'cat > "$1" && chmod "$2" "$1"', path, mode, input_text=text)

    def ip(self, name):
        return self.run("inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{NETWORK}").IPAddress}}}}',
                        name).stdout.strip()

    def remove(self, name):
        self.log(f"removing {name}")
        self.run("rm", "-f", "-t", "2", name, check=False)
        if name in self.containers:
            self.containers.remove(name)
        shutil.rmtree(self.caches.pop(name, ""), ignore_errors=True)

    def versions(self, name):
        """Debian and package versions in a container, for the record."""
        out = self.sh(name, "cat /etc/debian_version; dpkg-query -W -f '${Package} ${Version}\\n' "
                      "postfix dovecot-core openssl 2>/dev/null; true").stdout.split("\n")
        return {"debian": out[0].strip(), **dict(line.split(" ", 1) for line in out[1:] if " " in line)}


# --- ansible-playbook ---------------------------------------------------------


@contextlib.contextmanager
def collection(rev=None, copy=False):
    """A collections path with mailops.authsmtp: this checkout, linked or copied (a snapshot that edits made
    during a long run cannot reach), or `git archive rev` of it.

    The other collections come from the `ansible` package, which ansible-playbook always searches.
    """
    base = tempfile.mkdtemp(prefix="authsmtp-bench-collections-")
    path = os.path.join(base, "ansible_collections", "mailops", "authsmtp")
    os.makedirs(os.path.dirname(path))
    try:
        if rev is None and copy:
            shutil.copytree(REPO, path, symlinks=True, ignore=shutil.ignore_patterns(
                ".*", "__pycache__", "bench", "docs", "molecule", "tests"))
        elif rev is None:
            os.symlink(REPO, path)
        else:
            proc = subprocess.run(["git", "-C", REPO, "archive", "--format=tar", rev],  # noqa: S603, S607
                                  capture_output=True, check=False)
            if proc.returncode != 0:
                raise BenchError(f"git archive {rev} failed: {proc.stderr.decode(errors='replace').strip()}")
            with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
                tar.extractall(path, filter="data")
        yield base
    finally:
        if os.path.islink(path):
            os.unlink(path)  # the link first: nothing may ever recurse into the checkout
        shutil.rmtree(base, ignore_errors=True)


def become_off(collections):
    """{"ansible_become": False} if the collection's site.yml asks for become: the benchmarks connect as root,
    and the images have no sudo. Nothing when it does not, so tasks that become another user still do."""
    import yaml  # noqa: PLC0415 - PyYAML comes with ansible-core

    with open(os.path.join(collections, "ansible_collections/mailops/authsmtp/playbooks/site.yml"), "rb") as f:
        plays = yaml.safe_load(f) or []
    return {"ansible_become": False} if any(isinstance(p, dict) and p.get("become") for p in plays) else {}


def ansible_cfg(workdir, control_dir):
    """ansible.cfg for every benchmark run: explicit, so the caller's configuration does not leak in."""
    path = os.path.join(workdir, "ansible.cfg")
    with open(path, "w", encoding="utf-8") as f:
        f.write(
            "[defaults]\ninterpreter_python = /usr/bin/python3\nhost_key_checking = False\n"
            f"retry_files_enabled = False\nnocolor = True\nlocal_tmp = {workdir}/ansible-local\n"
            "callbacks_enabled = ansible.posix.profile_tasks\n\n"
            "[callback_profile_tasks]\ntask_output_limit = all\nsort_order = descending\n\n"
            "[connection]\npipelining = True\n\n"
            "[ssh_connection]\npipelining = True\nssh_args = -C -o ControlMaster=auto -o ControlPersist=60s\n"
            f"control_path_dir = {control_dir}\n"
        )
    return path


def playbook(argv, cfg, collections, log_path, timeout):
    """Run ansible-playbook argv (after the command); (return code or "timeout", wall seconds, output)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PROFILE_TASKS_"))}
    env.update(ANSIBLE_CONFIG=cfg, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_NOCOLOR="1", PY_COLORS="0",
               CONTAINERS_CONF=os.environ.get("CONTAINERS_CONF", CONTAINERS_CONF))  # for the podman connection
    command = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    started = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as out:
        try:
            rc = subprocess.run([command, *argv], cwd=os.path.dirname(cfg), env=env, stdout=out,  # noqa: S603
                                stderr=subprocess.STDOUT, timeout=timeout, check=False).returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    wall = time.perf_counter() - started
    with open(log_path, encoding="utf-8", errors="replace") as f:
        return rc, wall, f.read()

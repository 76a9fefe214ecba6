#!/usr/bin/env python3
"""Benchmark a converge of mailops.authsmtp.site: cold, and the idempotent re-run.

For every repetition:

  cold        a fresh Debian 12 container (the Molecule image, systemd as
              PID 1, the shared apt cache), reached over SSH as a real host
              is; `ansible-playbook mailops.authsmtp.site` runs once: every
              package, certificate, configuration and user is new
  idempotent  the same playbook again on the converged container, --reruns
              times per variant: nothing may change

Each run is timed (wall clock around ansible-playbook) and read back: the
PLAY RECAP (ok, changed, skipped, ...) and the per-task times of the
ansible.posix.profile_tasks callback, whose summary shows where the time goes.

Variants (what the ecosystem offers to make runs fast, and the lack of it):

  tuned          as shipped: SSH pipelining on, no fact gathering (site.yml
                 has gather_facts: false), the server role installs every
                 package in one apt transaction
  no_pipelining  ANSIBLE pipelining off
  full_facts     a play that gathers every fact (ansible.builtin.setup) runs
                 before site.yml
  unbatched      cold only: the packages are installed role by role (tls,
                 postfix, sasl, fail2ban), four apt transactions, by a play
                 before site.yml; site.yml's own install tasks then find them
  untuned        all three of the above

The collection's files are not changed: the untuned variants are emulated
from the outside (ansible.cfg, a wrapper playbook), see bench/README.md.

    python bench/converge_bench.py --json .cache/bench/converge.json
    python bench/converge_bench.py --quick --json /tmp/converge-quick.json   # one small real run
    python bench/converge_bench.py --smoke --json /tmp/converge-smoke.json   # recorded output, no container

--smoke starts no container: it reads recorded ansible-playbook output
(tests/unit/bench/fixtures/), and checks that the generated inventory,
ansible.cfg files and wrapper playbooks pass `ansible-playbook --syntax-check`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess  # noqa: S404 - ansible-playbook and ssh are the point
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib  # noqa: E402
from benchlib import BenchError, median, ratio  # noqa: E402

BENCHMARK = "converge"
TITLE = "Converge (mailops.authsmtp.site)"
PREFIX = "authsmtp-bench-converge-"
FIXTURES = os.path.join(benchlib.REPO, "tests", "unit", "bench", "fixtures")
SMOKE_FIXTURES = {
    ("cold", "tuned"): "converge-cold-tuned.log",
    ("idempotent", "tuned"): "converge-idempotent-tuned.log",
    ("idempotent", "untuned"): "converge-idempotent-untuned.log",
}

IDEMPOTENT_MAX_RATIO = 0.40
TOP_TASKS = 10

VARIANTS = {
    "tuned": {
        "pipelining": True,
        "facts": False,
        "batched": True,
        "description": "as shipped: pipelining on, no fact gathering, packages in one apt transaction",
    },
    "no_pipelining": {
        "pipelining": False,
        "facts": False,
        "batched": True,
        "description": "pipelining off",
    },
    "full_facts": {
        "pipelining": True,
        "facts": True,
        "batched": True,
        "description": "every fact gathered (ansible.builtin.setup) before site.yml",
    },
    "unbatched": {
        "pipelining": True,
        "facts": False,
        "batched": False,
        "description": "packages installed role by role (4 apt transactions) before site.yml",
    },
    "untuned": {
        "pipelining": False,
        "facts": True,
        "batched": False,
        "description": "pipelining off, every fact gathered, packages role by role",
    },
}
DEFAULT_COLD = ("tuned", "untuned", "unbatched")
DEFAULT_IDEMPOTENT = ("tuned", "no_pipelining", "full_facts", "untuned")
QUICK_COLD = ("tuned",)
QUICK_IDEMPOTENT = ("tuned", "untuned")
# In the order the server role runs them.
ROLE_PACKAGE_VARS = (
    ("tls", "__authsmtp_tls_packages"),
    ("postfix", "__authsmtp_postfix_packages"),
    ("sasl", "__authsmtp_sasl_packages"),
    ("fail2ban", "__authsmtp_fail2ban_packages"),
)

# Throwaway test data: the container exists only for the run.
BENCH_VARS = {
    "authsmtp_hostname": "bench.example.test",
    "authsmtp_domains": ["example.test"],
    "authsmtp_tls_source": "selfsigned",
    "authsmtp_users": [
        {"name": "alice@example.test", "password": "bench-alice-Secret-1"},
        {"name": "bob@example.test", "password": "bench-bob-Secret-2"},
    ],
}


# --------------------------------------------------------------------------
# Reading ansible-playbook output
# --------------------------------------------------------------------------

_RECAP_HOST = re.compile(r"^(?P<host>\S+)\s+:\s+(?P<counts>(?:[a-z]+=\d+\s*)+)$")
_RECAP_COUNT = re.compile(r"([a-z]+)=(\d+)")
# profile_tasks: "<name> ---------- 12.34s" (the dashes may be missing for long names)
_PROFILE_TASK = re.compile(r"^(?P<name>.*?) -* (?P<seconds>\d+\.\d{2})s$")
# profile_tasks: "Monday 01 December 2025  10:00:00 +0000 (0:00:01.234)       0:02:03.456 ****"
_PROFILE_TIME = re.compile(r"\((\d+):(\d{2}):(\d{2})\.(\d{3})\)\s+(\d+):(\d{2}):(\d{2})\.(\d{3}) \*")


def _after_last(lines, header):
    """Index of the line after the last one that starts with header, or None."""
    start = None
    for index, line in enumerate(lines):
        if line.startswith(header):
            start = index + 1
    return start


def parse_recap(text):
    """{host: {ok, changed, unreachable, failed, skipped, rescued, ignored}} from the PLAY RECAP."""
    lines = text.splitlines()
    start = _after_last(lines, "PLAY RECAP")
    if start is None:
        raise BenchError("no PLAY RECAP in the output")
    hosts = {}
    for line in lines[start:]:
        match = _RECAP_HOST.match(line.strip())
        if not match:
            if hosts:
                break
            continue
        hosts[match["host"]] = {key: int(value) for key, value in _RECAP_COUNT.findall(match["counts"])}
    if not hosts:
        raise BenchError("PLAY RECAP lists no host")
    return hosts


def parse_profile_tasks(text):
    """[(task name, seconds)] of the profile_tasks summary, in its order (slowest first by default)."""
    lines = text.splitlines()
    start = _after_last(lines, "TASKS RECAP")
    if start is None:
        raise BenchError("no TASKS RECAP (profile_tasks) in the output")
    tasks = []
    index = start
    # The recap opens with a time stamp line and a line of '='.
    while index < len(lines) and (not lines[index].strip() or _PROFILE_TIME.search(lines[index])):
        index += 1
    if index < len(lines) and set(lines[index].strip()) == {"="}:
        index += 1
    for line in lines[index:]:
        match = _PROFILE_TASK.match(line.rstrip())
        if not match:
            break
        tasks.append((match["name"].strip(), float(match["seconds"])))
    return tasks


def parse_profile_total(text):
    """Seconds from profile_tasks' last time stamp: its own measure of the whole playbook run."""
    total = None
    for match in _PROFILE_TIME.finditer(text):
        hours, minutes, seconds, millis = (int(x) for x in match.groups()[4:])
        total = hours * 3600 + minutes * 60 + seconds + millis / 1000
    return total


def role_of(task_name):
    """'mailops.authsmtp.postfix : Install Postfix' -> 'mailops.authsmtp.postfix'; plays' own tasks -> '(play)'."""
    role, sep, _rest = task_name.partition(" : ")
    return role.strip() if sep else "(play)"


def recap_counts(recap):
    """Sum over hosts, with tasks = every task result that ran (ok includes changed) plus skipped."""
    counts = {}
    for host_counts in recap.values():
        for key, value in host_counts.items():
            counts[key] = counts.get(key, 0) + value
    for key in ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored"):
        counts.setdefault(key, 0)
    counts["tasks"] = counts["ok"] + counts["failed"] + counts["unreachable"] + counts["skipped"]
    return counts


def task_totals(tasks):
    """{name: seconds} with the times of equally named tasks (included several times) added up."""
    totals = {}
    for name, seconds in tasks:
        totals[name] = totals.get(name, 0.0) + seconds
    return totals


def slowest_tasks(task_lists, top=TOP_TASKS):
    """The top tasks by median time over the runs (a task missing from a run counts 0 there)."""
    if not task_lists:
        return []
    per_run = [task_totals(tasks) for tasks in task_lists]
    names = {name for totals in per_run for name in totals}
    walls = [sum(totals.values()) for totals in per_run]
    rows = []
    for name in names:
        seconds = [totals.get(name, 0.0) for totals in per_run]
        rows.append(
            {
                "name": name,
                "role": role_of(name),
                "median_s": median(seconds),
                "seconds": seconds,
                "share_median": median([s / w for s, w in zip(seconds, walls, strict=True) if w]),
            }
        )
    rows.sort(key=lambda row: (-row["median_s"], row["name"]))
    return rows[:top]


def time_by_role(task_lists):
    """[{role, median_s, seconds[]}] with every task's time added to its role, slowest first."""
    per_run = []
    for tasks in task_lists:
        roles = {}
        for name, seconds in tasks:
            roles[role_of(name)] = roles.get(role_of(name), 0.0) + seconds
        per_run.append(roles)
    names = {name for roles in per_run for name in roles}
    rows = [
        {
            "role": name,
            "median_s": median([r.get(name, 0.0) for r in per_run]),
            "seconds": [r.get(name, 0.0) for r in per_run],
        }
        for name in names
    ]
    rows.sort(key=lambda row: (-row["median_s"], row["role"]))
    return rows


def analyze_output(text):
    """Everything a run's output says: recap, counts, profile_tasks times and total."""
    recap = parse_recap(text)
    tasks = parse_profile_tasks(text)
    return {
        "recap": recap,
        "counts": recap_counts(recap),
        "tasks": [[name, seconds] for name, seconds in tasks],
        "tasks_profiled": len(tasks),
        "ansible_elapsed_s": parse_profile_total(text),
    }


# --------------------------------------------------------------------------
# Files for ansible-playbook
# --------------------------------------------------------------------------


def ansible_cfg(variant, workdir, connection, control_dir):
    """ansible.cfg of a variant: everything explicit, so the caller's own configuration does not leak in."""
    spec = VARIANTS[variant]
    lines = [
        "[defaults]",
        "callbacks_enabled = ansible.posix.profile_tasks",
        "interpreter_python = /usr/bin/python3",
        "host_key_checking = False",
        "retry_files_enabled = False",
        "nocolor = True",
        "forks = 5",
        f"local_tmp = {workdir}/ansible-local",
        "",
        "[callback_profile_tasks]",
        "task_output_limit = all",
        "sort_order = descending",
        "",
        "[connection]",
        f"pipelining = {spec['pipelining']}",
        "",
        "[ssh_connection]",
        f"pipelining = {spec['pipelining']}",
        "ssh_args = -C -o ControlMaster=auto -o ControlPersist=60s",
    ]
    if connection == "ssh":
        lines.append(f"control_path_dir = {control_dir}")
    return "\n".join(lines) + "\n"


def role_packages():
    """[(role, [packages])] from the roles' vars files, for the unbatched emulation."""
    import yaml  # noqa: PLC0415 - PyYAML comes with ansible-core

    result = []
    for role, var in ROLE_PACKAGE_VARS:
        path = os.path.join(benchlib.REPO, "roles", role, "vars", "main.yml")
        try:
            with open(path, encoding="utf-8") as f:
                data = yaml.safe_load(f) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise BenchError(f"cannot read {path}: {exc}") from None
        packages = data.get(var)
        if not isinstance(packages, list) or not all(isinstance(p, str) for p in packages):
            raise BenchError(f"{path}: {var} is not a plain list of packages")
        result.append((role, packages))
    return result


def playbook(variant, kind):
    """The playbook of a run: mailops.authsmtp.site itself, or a wrapper around it (a list of plays)."""
    spec = VARIANTS[variant]
    unbatched = not spec["batched"] and kind == "cold"
    if not spec["facts"] and not unbatched:
        return None
    plays = []
    if spec["facts"] and not unbatched:
        plays.append(
            {
                "name": "Gather every fact first (benchmark: untuned emulation)",
                "hosts": "smtp_servers",
                "gather_facts": True,
                "tasks": [],
            }
        )
    if unbatched:
        tasks = [
            {
                "name": "Keep Debian's Postfix installer from writing its own main.cf",
                "ansible.builtin.debconf": {
                    "name": "postfix",
                    "question": "postfix/main_mailer_type",
                    "value": "No configuration",
                    "vtype": "select",
                },
            }
        ]
        for role, packages in role_packages():
            tasks.append(
                {
                    "name": f"Install the packages of the {role} role (one apt transaction per role)",
                    "ansible.builtin.apt": {
                        "name": packages,
                        "state": "present",
                        "update_cache": True,
                        "cache_valid_time": 3600,
                    },
                }
            )
        plays.append(
            {
                "name": "Install packages role by role (benchmark: unbatched emulation)",
                "hosts": "smtp_servers",
                "gather_facts": spec["facts"],
                "tasks": tasks,
            }
        )
    plays.append({"name": "The collection's playbook", "ansible.builtin.import_playbook": "mailops.authsmtp.site"})
    return plays


def inventory(connection, target, key_file=None):
    host = {"ansible_host": target}
    common = {"ansible_become": False, "ansible_python_interpreter": "/usr/bin/python3"}
    if connection == "ssh":
        common.update(
            ansible_user="root",
            ansible_ssh_private_key_file=key_file,
            ansible_ssh_common_args="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
        )
    else:
        common["ansible_connection"] = "containers.podman.podman"
    return {"smtp_servers": {"hosts": {"bench": host}, "vars": {**common, **BENCH_VARS}}}


def public_inventory_vars():
    """The inventory variables for the record, passwords masked."""
    data = json.loads(json.dumps(BENCH_VARS))
    for user in data["authsmtp_users"]:
        user["password"] = "********"  # noqa: S105 - a mask, not a password
    return data


class Files:
    """The inventory, ansible.cfg per variant and wrapper playbooks in a work directory."""

    def __init__(self, workdir, connection):
        self.workdir = workdir
        self.connection = connection

    def write(self, name, data, as_json=True):
        path = os.path.join(self.workdir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(json.dumps(data, indent=1) + "\n" if as_json else data)
        return path

    def inventory(self, target, key_file=None):
        return self.write("inventory.json", inventory(self.connection, target, key_file))

    def config(self, variant, control_dir):
        text = ansible_cfg(variant, self.workdir, self.connection, control_dir)
        return self.write(f"ansible-{variant}.cfg", text, as_json=False)

    def playbook(self, variant, kind):
        plays = playbook(variant, kind)
        if plays is None:
            return "mailops.authsmtp.site"
        # JSON is YAML: the wrapper needs no YAML writer.
        return self.write(f"playbook-{variant}-{kind}.yml", plays)


# --------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------


def ssh_exit_masters(control_dir):
    """Close the SSH master connections a run left (ControlPersist)."""
    if not os.path.isdir(control_dir):
        return
    for entry in os.listdir(control_dir):
        path = os.path.join(control_dir, entry)
        subprocess.run(  # noqa: S603
            ["ssh", "-o", f"ControlPath={path}", "-O", "exit", "bench"],  # noqa: S607
            capture_output=True,
            timeout=30,
            check=False,
        )
    shutil.rmtree(control_dir, ignore_errors=True)


class Runner:
    def __init__(self, options, log, podman, workdir, collections, log_dir):
        self.options = options
        self.log = log
        self.podman = podman
        self.workdir = workdir
        self.collections = collections
        self.log_dir = log_dir
        self.files = Files(workdir, options.connection)
        self.key_file = None
        self.count = 0
        self.guest = None
        if options.connection == "ssh":
            self.key_file = os.path.join(workdir, "id_ed25519")
            subprocess.run(  # noqa: S603
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "authsmtp-bench", "-f", self.key_file],  # noqa: S607
                check=True,
                capture_output=True,
                timeout=60,
            )

    def fresh_host(self, label):
        """A new container, ready as a bare host: SSH running (if used), apt lists stale as in the image."""
        name = self.podman.name(label)
        self.podman.remove(name)
        started = time.perf_counter()
        self.podman.create(label, hostname="bench.example.test", aliases=("bench.example.test",), caps=("NET_ADMIN",))
        if self.guest is None:
            self.guest = benchlib.guest_versions(self.podman, name)
        if self.options.connection == "ssh":
            self.podman.sh(
                name,
                "set -e; apt-get update -qq; "
                "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server "
                ">/dev/null; mkdir -p /root/.ssh; chmod 700 /root/.ssh",
                timeout=600,
            )
            with open(self.key_file + ".pub", encoding="utf-8") as f:
                self.podman.write_file(name, "/root/.ssh/authorized_keys", f.read(), mode="0600")
            self.podman.sh(name, "systemctl enable --now ssh >/dev/null 2>&1 || systemctl restart ssh")
        # Back to the image's state: no package lists, dated to the epoch, so the
        # converge updates them as on any host whose lists are old. The .deb files
        # stay in the shared cache (never apt-get clean: it is a shared volume).
        self.podman.sh(
            name,
            "rm -rf /var/lib/apt/lists/* /var/lib/apt/periodic/update-success-stamp /var/cache/apt/*.bin; "
            "touch -d @0 /var/lib/apt/lists",
        )
        target = name
        if self.options.connection == "ssh":
            target = self.podman.ip(name)
            self.wait_ssh(target)
        self.log(f"{name} ready ({time.perf_counter() - started:.0f} s)")
        return name, target

    def wait_ssh(self, address, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = subprocess.run(  # noqa: S603
                [  # noqa: S607
                    "ssh",
                    "-i",
                    self.key_file,
                    "-o",
                    "BatchMode=yes",
                    "-o",
                    "StrictHostKeyChecking=no",
                    "-o",
                    "UserKnownHostsFile=/dev/null",
                    "-o",
                    "LogLevel=ERROR",
                    "-o",
                    "ConnectTimeout=5",
                    f"root@{address}",
                    "true",
                ],
                capture_output=True,
                timeout=30,
                check=False,
            )
            if proc.returncode == 0:
                return
            time.sleep(1)
        raise BenchError(f"cannot log in over SSH to {address}")

    def run(self, variant, kind, target, repetition, rerun):
        """One ansible-playbook run; returns the run record (never raises for a failed playbook)."""
        self.count += 1
        control_dir = os.path.join(self.workdir, f"cp{self.count}")
        os.makedirs(control_dir, exist_ok=True)
        config = self.files.config(variant, control_dir)
        inventory_path = self.files.inventory(target, self.key_file)
        book = self.files.playbook(variant, kind)
        log_name = f"{repetition:02d}-{kind}-{variant}" + (f"-{rerun}" if kind == "idempotent" else "") + ".log"
        log_path = os.path.join(self.log_dir, log_name)
        argv = [benchlib.venv_bin("ansible-playbook"), "-i", inventory_path, book]
        env = benchlib.ansible_env(config, self.collections)
        started = time.perf_counter()
        try:
            with open(log_path, "w", encoding="utf-8") as out:
                proc = subprocess.run(  # noqa: S603
                    argv,
                    cwd=self.workdir,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=self.options.timeout,
                    check=False,
                )
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
        wall = time.perf_counter() - started
        ssh_exit_masters(control_dir)
        with open(log_path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        record = {
            "variant": variant,
            "kind": kind,
            "repetition": repetition,
            "rerun": rerun,
            "wall_s": round(wall, 3),
            "rc": rc,
            "log": benchlib.display_path(log_path),
        }
        try:
            record.update(analyze_output(text))
        except BenchError as exc:
            record["parse_error"] = str(exc)
        record["ok"] = rc == 0 and "parse_error" not in record and record["counts"]["failed"] == 0
        counts = record.get("counts", {})
        self.log(
            f"[{repetition}] {kind} {variant}: {wall:.1f} s, rc {rc}, "
            f"ok={counts.get('ok')} changed={counts.get('changed')} skipped={counts.get('skipped')}"
            + ("" if record["ok"] else f"  FAILED (see {record['log']})")
        )
        return record


# --------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------


def _runs(runs, kind, variant, repetition=None):
    return [
        r
        for r in runs
        if r["kind"] == kind
        and r["variant"] == variant
        and r["ok"]
        and (repetition is None or r["repetition"] == repetition)
    ]


def summarize(runs, cold_variants, idempotent_variants, repeat):
    summary = {"cold": {}, "idempotent": {}}
    for kind, variants in (("cold", cold_variants), ("idempotent", idempotent_variants)):
        for variant in variants:
            chosen = _runs(runs, kind, variant)
            counts = [r["counts"] for r in chosen]
            summary[kind][variant] = {
                "seconds": [r["wall_s"] for r in chosen],
                "median_s": median([r["wall_s"] for r in chosen]),
                "ansible_elapsed_s": [r.get("ansible_elapsed_s") for r in chosen],
                "counts_median": {
                    key: median([c[key] for c in counts]) for key in ("tasks", "ok", "changed", "skipped", "failed")
                }
                if counts
                else None,
                "counts_identical": len({json.dumps(c, sort_keys=True) for c in counts}) <= 1,
                "runs": len(chosen),
            }

    def per_repetition(kind, variant):
        values = {}
        for rep in range(1, repeat + 1):
            value = median([r["wall_s"] for r in _runs(runs, kind, variant, rep)])
            if value is not None:
                values[rep] = value
        return values

    # The target: re-run against cold, both tuned, paired per repetition (same container).
    cold = per_repetition("cold", "tuned")
    idem = per_repetition("idempotent", "tuned")
    pairs = [ratio(idem[rep], cold[rep]) for rep in sorted(cold) if rep in idem]
    summary["idempotent_to_cold"] = {"per_repetition": pairs, "median": median(pairs)}

    comparisons = []
    for kind, variants in (("cold", cold_variants), ("idempotent", idempotent_variants)):
        reference = per_repetition(kind, "tuned")
        for variant in variants:
            if variant == "tuned":
                continue
            values = per_repetition(kind, variant)
            pairs = [ratio(values[rep], reference[rep]) for rep in sorted(values) if rep in reference]
            comparisons.append(
                {
                    "id": f"{kind}/{variant}",
                    "kind": kind,
                    "variant": variant,
                    "reference": "tuned",
                    "description": VARIANTS[variant]["description"],
                    "ratio_per_repetition": pairs,
                    "ratio_median": median(pairs),
                }
            )
    summary["before_after"] = comparisons

    for kind in ("cold", "idempotent"):
        task_lists = [[tuple(t) for t in r["tasks"]] for r in _runs(runs, kind, "tuned")]
        summary.setdefault("slowest_tasks", {})[kind] = slowest_tasks(task_lists)
        summary.setdefault("time_by_role", {})[kind] = time_by_role(task_lists)
        summary.setdefault("tasks_profiled", {})[kind] = median([len(t) for t in task_lists])
    return summary


def evaluate_targets(summary):
    measured = summary["idempotent_to_cold"]["median"]
    target = {
        "id": "idempotent_vs_cold",
        "description": f"An idempotent re-run takes at most {IDEMPOTENT_MAX_RATIO:.0%} of the cold converge "
        "(tuned, as shipped; median of the per-repetition ratios).",
        "threshold": f"≤ {IDEMPOTENT_MAX_RATIO:g} × cold",
        "measured": measured,
        "measured_unit": "× cold",
        "met": None if measured is None else measured <= IDEMPOTENT_MAX_RATIO,
        "details": summary["idempotent_to_cold"]["per_repetition"],
    }
    if measured is None:
        target["reason"] = "not measured: no successful pair of tuned cold and re-run"
    return [target]


def evaluate_checks(runs):
    failed = [f"{r['repetition']}/{r['kind']}/{r['variant']}" for r in runs if not r["ok"]]
    changed = [
        f"{r['repetition']}/{r['variant']}/{r['rerun']}: changed={r['counts']['changed']}"
        for r in runs
        if r["kind"] == "idempotent" and r["ok"] and r["counts"]["changed"] != 0
    ]
    idempotent_runs = [r for r in runs if r["kind"] == "idempotent" and r["ok"]]
    return [
        benchlib.check("runs_succeeded", "Every ansible-playbook run exited 0 with no failed task.", failed, runs),
        benchlib.check(
            "idempotent", "Every re-run on a converged host changed nothing (changed=0).", changed, idempotent_runs
        ),
    ]


# --------------------------------------------------------------------------
# Smoke: recorded output, and a syntax check of the generated files
# --------------------------------------------------------------------------


def smoke_runs(fixtures):
    runs = []
    for (kind, variant), name in SMOKE_FIXTURES.items():
        path = os.path.join(fixtures, name)
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as exc:
            raise BenchError(f"smoke fixture missing: {exc}") from None
        record = {
            "variant": variant,
            "kind": kind,
            "repetition": 1,
            "rerun": 1,
            "rc": 0,
            "log": benchlib.display_path(path),
            "recorded": True,
        }
        record.update(analyze_output(text))
        # No wall clock for recorded output: profile_tasks' own total stands in.
        record["wall_s"] = record["ansible_elapsed_s"]
        record["ok"] = record["counts"]["failed"] == 0
        runs.append(record)
    return runs


def syntax_check(files, collections, variants, log):
    """ansible-playbook --syntax-check of every playbook the variants use, with the generated inventory."""
    checked = []
    seen = set()
    # A documentation address (TEST-NET-1): nothing connects to it.
    inventory_path = files.inventory("192.0.2.10", os.path.join(files.workdir, "id_ed25519"))
    for variant in variants:
        for kind in ("cold", "idempotent"):
            plays = json.dumps(playbook(variant, kind), sort_keys=True)
            if plays in seen:
                continue
            seen.add(plays)
            control_dir = os.path.join(files.workdir, "cp")
            config = files.config(variant, control_dir)
            book = files.playbook(variant, kind)
            proc = subprocess.run(  # noqa: S603
                [benchlib.venv_bin("ansible-playbook"), "--syntax-check", "-i", inventory_path, book],
                cwd=files.workdir,
                env=benchlib.ansible_env(config, collections),
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            entry = {"variant": variant, "kind": kind, "playbook": os.path.basename(book), "rc": proc.returncode}
            if proc.returncode != 0:
                entry["output"] = (proc.stdout + proc.stderr)[-2000:]
            checked.append(entry)
            log(f"syntax check {variant}/{kind} ({entry['playbook']}): rc {proc.returncode}")
    return checked


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def _variant_list(allowed):
    def parse(text):
        values = [v.strip() for v in text.split(",") if v.strip()]
        bad = [v for v in values if v not in allowed]
        if not values or bad:
            raise argparse.ArgumentTypeError(f"variants must be among {','.join(allowed)}: {text!r}")
        if "tuned" not in values:
            values.insert(0, "tuned")
        return [v for v in VARIANTS if v in values]

    return parse


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Benchmark a cold converge of mailops.authsmtp.site on a fresh container against idempotent "
        "re-runs, with and without pipelining, fact gathering and batched package installs.",
    )
    parser.add_argument("--json", metavar="FILE", help="write the result to FILE (default: stdout)")
    parser.add_argument(
        "--repeat", type=benchlib.positive_int, help="repetitions, each on fresh containers (default 3)"
    )
    parser.add_argument(
        "--reruns", type=benchlib.positive_int, help="idempotent re-runs per variant and repetition (default 1)"
    )
    parser.add_argument(
        "--cold-variants",
        type=_variant_list(tuple(VARIANTS)),
        help=f"variants converged cold, each on its own fresh container (default {','.join(DEFAULT_COLD)}; "
        "tuned is always included)",
    )
    parser.add_argument(
        "--idempotent-variants",
        type=_variant_list(tuple(v for v in VARIANTS if v != "unbatched")),
        help=f"variants re-run on the container the tuned cold run converged (default {','.join(DEFAULT_IDEMPOTENT)})",
    )
    parser.add_argument(
        "--connection",
        choices=("ssh", "podman"),
        default="ssh",
        help="how ansible reaches the container: ssh (default; as a real host, pipelining works) or "
        "podman (containers.podman.podman, which cannot pipeline)",
    )
    parser.add_argument("--log-dir", help="where to keep each run's output (default: next to --json, converge-logs/)")
    parser.add_argument(
        "--timeout", type=benchlib.positive_int, default=600, help="seconds per ansible-playbook run (default 600)"
    )
    parser.add_argument("--workdir", help="where to make the temporary work directory (default: $TMPDIR)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick",
        action="store_true",
        help="one small real run: 1 repetition, tuned cold, tuned and untuned re-runs",
    )
    mode.add_argument(
        "--smoke",
        action="store_true",
        help="no container: read recorded output (tests/unit/bench/fixtures) and syntax-check the generated "
        "playbooks; the figures are not measurements",
    )
    parser.add_argument("--fixtures", default=FIXTURES, help=argparse.SUPPRESS)
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    options = parser.parse_args(argv)
    if options.repeat is None:
        options.repeat = 1 if options.quick or options.smoke else 3
    if options.reruns is None:
        options.reruns = 1
    if options.cold_variants is None:
        options.cold_variants = list(QUICK_COLD if options.quick else DEFAULT_COLD)
    if options.idempotent_variants is None:
        options.idempotent_variants = list(QUICK_IDEMPOTENT if options.quick else DEFAULT_IDEMPOTENT)
    if options.smoke:
        options.cold_variants = ["tuned"]
        options.idempotent_variants = ["tuned", "untuned"]
    return options


def notes(options):
    result = []
    if options.smoke:
        result.append(
            "SMOKE RUN: no container was started. The runs are recorded ansible-playbook output "
            "(tests/unit/bench/fixtures), read back by the same code as a real run; their 'wall' time is "
            "profile_tasks' own total. The figures are not measurements."
        )
    if options.quick:
        result.append("QUICK RUN: one repetition and few variants; it shows that the benchmark works end to end.")
    result.append(
        "Each repetition converges every cold variant on its own fresh container; the idempotent re-runs of "
        "every variant then run on the container the tuned cold run converged, in an order that rotates from "
        "one repetition to the next."
    )
    result.append(
        "The untuned variants are emulated without changing the collection: pipelining through ansible.cfg, fact "
        "gathering and role-by-role package installs through a wrapper playbook that runs before site.yml. "
        "In the unbatched emulation site.yml's one apt transaction still runs and finds the packages present "
        "(the roles then skip their own installs), which costs an apt check that roles without the batch step "
        "would not make."
    )
    if options.connection == "podman":
        result.append(
            "Connection containers.podman.podman: it does not support pipelining, so pipelining on and off "
            "are the same here."
        )
    else:
        result.append(
            "Ansible reaches the container over SSH (openssh-server installed before the timed run, then the apt "
            "lists reset to the image's stale state), with ControlPersist; each run starts a new master connection."
        )
    result.append(
        "Wall time is measured around ansible-playbook (Python start-up included). profile_tasks' times are "
        "per task, from the start of one task to the start of the next, as the callback reports them."
    )
    return result


def method(options, guest):
    return {
        "connection": options.connection,
        "image": benchlib.IMAGES["bookworm"],
        "guest": guest,
        "container": "podman run --systemd=always --cap-add NET_ADMIN, apt archive cache mounted from "
        f"{benchlib.apt_cache_dir('bookworm')}, network {benchlib.NETWORK}",
        "playbook": "mailops.authsmtp.site",
        "inventory_vars": public_inventory_vars(),
        "repeat": options.repeat,
        "reruns": options.reruns,
        "cold_variants": options.cold_variants,
        "idempotent_variants": options.idempotent_variants,
        "variants": {name: VARIANTS[name] for name in VARIANTS},
        "callback": "ansible.posix.profile_tasks (task_output_limit all)",
        "ansible_cfg_tuned": ansible_cfg("tuned", "<work directory>", options.connection, "<one per run>"),
    }


def main(argv=None):
    options = parse_args(argv)
    log = benchlib.Logger("converge_bench", options.quiet)
    benchlib.install_signal_handlers()
    started, start, load_start = benchlib.now(), time.perf_counter(), benchlib.loadavg()
    json_dir = os.path.dirname(os.path.abspath(options.json)) if options.json else os.getcwd()
    log_dir = options.log_dir or os.path.join(json_dir, "converge-logs")
    workdir = tempfile.mkdtemp(prefix="converge-bench-", dir=options.workdir)
    guest = None
    syntax = None
    try:
        with benchlib.collections_path() as collections:
            files = Files(workdir, options.connection)
            if options.smoke:
                runs = smoke_runs(options.fixtures)
                syntax = syntax_check(files, collections, list(VARIANTS), log)
            else:
                if os.path.isdir(log_dir):
                    shutil.rmtree(log_dir)
                os.makedirs(log_dir)
                with benchlib.run_lock(BENCHMARK):
                    runs, guest = measure(options, log, workdir, collections, log_dir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    summary = summarize(runs, options.cold_variants, options.idempotent_variants, options.repeat)
    machine = benchlib.machine_info()
    machine["load_average_start"] = load_start
    machine["load_average_end"] = benchlib.loadavg()
    checks = evaluate_checks(runs)
    if syntax is not None:
        bad = [f"{e['variant']}/{e['kind']}" for e in syntax if e["rc"] != 0]
        checks.append(
            {
                "id": "syntax_check",
                "description": "Every generated playbook passes ansible-playbook --syntax-check.",
                "met": not bad,
                "failed": bad,
            }
        )
    report = {
        "format": benchlib.FORMAT,
        "benchmark": BENCHMARK,
        "title": TITLE,
        "generated_by": "bench/converge_bench.py",
        "smoke": options.smoke,
        "quick": options.quick,
        "date": started,
        "finished": benchlib.now(),
        "duration_s": round(time.perf_counter() - start, 3),
        "machine": machine,
        "source": benchlib.git_info(["roles", "playbooks", "plugins"]),
        "method": method(options, guest),
        "notes": notes(options),
        "runs": runs,
        "summary": summary,
        "targets": evaluate_targets(summary),
        "checks": checks,
    }
    if syntax is not None:
        report["method"]["syntax_checked"] = syntax
    return benchlib.finish(report, options, log)


def measure(options, log, workdir, collections, log_dir):
    podman = benchlib.Podman(PREFIX, log)
    runs = []
    try:
        podman.remove_stale()
        podman.ensure_network()
        runner = Runner(options, log, podman, workdir, collections, log_dir)
        for repetition in range(1, options.repeat + 1):
            log(f"repetition {repetition}/{options.repeat}")
            # The tuned cold run first: its container then serves every re-run.
            name, target = runner.fresh_host("host")
            record = runner.run("tuned", "cold", target, repetition, 1)
            runs.append(record)
            if record["ok"]:
                order = list(options.idempotent_variants)
                shift = (repetition - 1) % len(order)
                order = order[shift:] + order[:shift]
                for rerun in range(1, options.reruns + 1):
                    for variant in order:
                        runs.append(runner.run(variant, "idempotent", target, repetition, rerun))
            podman.remove(name)
            for variant in options.cold_variants:
                if variant == "tuned":
                    continue
                name, target = runner.fresh_host("host")
                runs.append(runner.run(variant, "cold", target, repetition, 1))
                podman.remove(name)
        return runs, runner.guest
    finally:
        podman.cleanup()


if __name__ == "__main__":
    benchlib.run_main("converge_bench", main)

#!/usr/bin/env python3
"""Converge benchmark: a cold converge of a fresh Debian 12 container against an idempotent re-run, before and after.

Every repetition converges two collections, each on its own fresh container, in
an order that alternates from one repetition to the next:

  before  the collection at --baseline (default 435319e, the 0.1.0 release), built
          with `git archive` into a temporary collections path
  after   the working tree

and runs playbooks/site.yml (mailops.authsmtp.site) twice on each container: cold
(every package, certificate, configuration and user is new), then again (nothing
may change). Ansible reaches the container over SSH as root, as it reaches a real
host, with pipelining and ControlPersist. Each run is timed with the wall clock
around ansible-playbook and read back: the PLAY RECAP and the per-task times of
ansible.posix.profile_tasks, which show where the time goes.

--smoke starts no container: it reads recorded output (tests/unit/bench/fixtures)
for both collections, and syntax-checks site.yml of both with the inventory a real
run would use (which also builds the baseline with git archive).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess  # noqa: S404 - ssh and ssh-keygen
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib  # noqa: E402
from benchlib import BenchError, median, paired, target  # noqa: E402

BASELINE = "435319e"
REVISIONS = ("before", "after")
KINDS = ("cold", "rerun")
RERUN_MAX_RATIO = 0.25
COLD_MAX_S = 45.0
TOP_TASKS = 10
HOSTNAME = "bench.example.test"
FIXTURES = os.path.join(benchlib.REPO, "tests", "unit", "bench", "fixtures")
SSH_OPTIONS = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
# Test data for a throwaway container; both collections converge with exactly these.
BENCH_VARS = {
    "authsmtp_hostname": HOSTNAME,
    "authsmtp_domains": ["example.test"],
    "authsmtp_tls_source": "selfsigned",
    "authsmtp_users": [
        {"name": "alice@example.test", "password": "bench-alice-Secret-1"},
        {"name": "bob@example.test", "password": "bench-bob-Secret-2"},
    ],
}

_RECAP_HOST = re.compile(r"^(?P<host>\S+)\s+:\s+(?P<counts>(?:[a-z]+=\d+\s*)+)$")
# profile_tasks: "<task name> ------- 12.34s" (no dashes when the name is long)
_PROFILE_TASK = re.compile(r"^(?P<name>.*?) -* ?(?P<seconds>\d+\.\d{2})s$")


# --- reading ansible-playbook output -------------------------------------------


def parse_recap(text, per_host=False):
    """Counts of the last PLAY RECAP summed over hosts, or {host: counts} per_host; tasks = ok + failed +
    unreachable + skipped."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("PLAY RECAP")]
    if not starts:
        raise BenchError("no PLAY RECAP in the output")
    keys = ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored")
    hosts = {}
    for line in lines[starts[-1] + 1 :]:
        match = _RECAP_HOST.match(line.strip())
        if match:
            counts = hosts[match["host"]] = dict.fromkeys(keys, 0)
            counts.update((key, int(value)) for key, value in re.findall(r"([a-z]+)=(\d+)", match["counts"]))
            counts["tasks"] = counts["ok"] + counts["failed"] + counts["unreachable"] + counts["skipped"]
    if per_host:
        return hosts
    total = dict.fromkeys((*keys, "tasks"), 0)
    for counts in hosts.values():
        for key, value in counts.items():
            total[key] = total.get(key, 0) + value
    return total


def parse_profile_tasks(text):
    """[(task name, seconds)] of the profile_tasks summary (after TASKS RECAP, its time stamp and a rule of '=')."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("TASKS RECAP")]
    if not starts:
        raise BenchError("no TASKS RECAP (profile_tasks) in the output")
    tasks = []
    for line in lines[starts[-1] + 3 :]:
        match = _PROFILE_TASK.match(line.rstrip())
        if not match:
            break
        tasks.append((match["name"].strip(), float(match["seconds"])))
    return tasks


def role_of(task):
    """'mailops.authsmtp.postfix : Install Postfix' -> 'mailops.authsmtp.postfix'; a play's own task -> '(play)'."""
    role, sep, _rest = task.partition(" : ")
    return role if sep else "(play)"


def medians_by(task_lists, key):
    """[{name, median_s, seconds[]}] of the times added up per key(task name) in each run, slowest first."""
    runs = []
    for tasks in task_lists:
        sums = {}
        for name, seconds in tasks:
            sums[key(name)] = sums.get(key(name), 0.0) + seconds
        runs.append(sums)
    names = {name for sums in runs for name in sums}
    rows = [{"name": n, "median_s": median([s.get(n, 0.0) for s in runs]), "seconds": [s.get(n, 0.0) for s in runs]}
            for n in names]
    return sorted(rows, key=lambda row: (-row["median_s"], row["name"]))


def record(revision, kind, repetition, rc, wall, text, log):
    """One run as the summary reads it; a run is ok when ansible-playbook exited 0 and no task failed."""
    entry = {"revision": revision, "kind": kind, "repetition": repetition, "rc": rc, "wall_s": round(wall, 2),
             "log": benchlib.display_path(log)}
    try:
        entry.update(counts=parse_recap(text), tasks=parse_profile_tasks(text))
    except BenchError as exc:
        entry["parse_error"] = str(exc)
    entry["ok"] = rc == 0 and "counts" in entry and entry["counts"]["failed"] + entry["counts"]["unreachable"] == 0
    return entry


# --- summary, targets, checks --------------------------------------------------------


def summarize(runs):
    ok = [r for r in runs if r["ok"]]

    def walls(revision, kind):
        return {r["repetition"]: r["wall_s"] for r in ok if r["revision"] == revision and r["kind"] == kind}

    summary = {}
    for revision in REVISIONS:
        entry = {}
        for kind in KINDS:
            chosen = [r for r in ok if r["revision"] == revision and r["kind"] == kind]
            tasks = [r["tasks"] for r in chosen]
            entry[kind] = {
                "seconds": [r["wall_s"] for r in chosen],
                "median_s": median([r["wall_s"] for r in chosen]),
                "counts": {k: median([r["counts"][k] for r in chosen]) for k in ("tasks", "changed", "skipped")},
                "slowest_tasks": medians_by(tasks, lambda name: name)[:TOP_TASKS],
                "time_by_role": medians_by(tasks, role_of),
            }
        entry["rerun_to_cold"] = paired(walls(revision, "rerun"), walls(revision, "cold"))
        summary[revision] = entry
    summary["after_to_before"] = {kind: paired(walls("after", kind), walls("before", kind)) for kind in KINDS}
    return summary


def evaluate_targets(summary):
    after = summary["after"]
    return [
        target("rerun_vs_cold", f"An idempotent re-run of the working tree takes at most {RERUN_MAX_RATIO:g} × its "
               "cold converge (median of the per-repetition ratios).", f"≤ {RERUN_MAX_RATIO:g} × cold",
               after["rerun_to_cold"]["median"], "× cold", lambda m: m <= RERUN_MAX_RATIO,
               reason="not measured: no successful pair of cold converge and re-run"),
        target("cold_seconds", f"A cold converge of the working tree takes at most {COLD_MAX_S:g} s (median).",
               f"≤ {COLD_MAX_S:g} s", after["cold"]["median_s"], "s", lambda m: m <= COLD_MAX_S,
               reason="not measured: no successful cold converge"),
    ]


def evaluate_checks(runs, syntax):
    return [
        benchlib.check("syntax", "site.yml of both collections passes --syntax-check with the benchmark's inventory.",
                       [f"{rev}: rc {rc}" for rev, rc in syntax.items() if rc != 0]),
        benchlib.check("runs_succeeded", "Every ansible-playbook run exited 0 with no failed or unreachable task.",
                       [f"{r['repetition']}/{r['revision']}/{r['kind']}: rc {r['rc']} {r.get('parse_error', '')}"
                        for r in runs if not r["ok"]], bool(runs)),
        benchlib.check("idempotent", "Every re-run on a converged host changed nothing (changed=0).",
                       [f"{r['repetition']}/{r['revision']}: changed={r['counts']['changed']}"
                        for r in runs if r["ok"] and r["kind"] == "rerun" and r["counts"]["changed"]], bool(runs)),
    ]


# --- running -----------------------------------------------------------------


def inventory(path, hosts, key_file, collections):
    """The inventory of both collections: root over SSH, the same test data; hosts is the address of the one
    host "bench", or {name: host vars} (fleet_bench.py)."""
    host_vars = {"ansible_user": "root", "ansible_ssh_private_key_file": key_file, "ansible_ssh_common_args":
                 SSH_OPTIONS, "ansible_python_interpreter": "/usr/bin/python3", **benchlib.become_off(collections),
                 **BENCH_VARS}
    hosts = {"bench": {"ansible_host": hosts}} if isinstance(hosts, str) else hosts
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"smtp_servers": {"hosts": hosts, "vars": host_vars}}, f)
    return path


class Converger:
    """ansible-playbook runs of the collections ({name: collections path}), with one key, one work directory,
    one log directory."""

    def __init__(self, workdir, log_dir, collections, timeout):
        self.workdir, self.log_dir, self.collections, self.timeout = workdir, log_dir, collections, timeout
        self.key = os.path.join(workdir, "id_ed25519")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.key],  # noqa: S603, S607
                       check=True, capture_output=True)

    def playbook(self, revision, hosts, name, *extra):
        """site.yml of one collection on hosts (see inventory); (rc, wall seconds, output, log path)."""
        inv = inventory(os.path.join(self.workdir, f"inventory-{revision}.json"), hosts, self.key,
                        self.collections[revision])
        control = tempfile.mkdtemp(prefix="cp-", dir=self.workdir)
        cfg = benchlib.ansible_cfg(self.workdir, control)
        log = os.path.join(self.log_dir, f"{name}.log")
        try:
            return (*benchlib.playbook(["-i", inv, "mailops.authsmtp.site", *extra], cfg, self.collections[revision],
                                       log, self.timeout), log)
        finally:
            for socket in os.listdir(control):  # the SSH master connections this run left (ControlPersist)
                subprocess.run(["ssh", "-o", f"ControlPath={os.path.join(control, socket)}", "-O", "exit", "bench"],  # noqa: S603, S607
                               capture_output=True, timeout=30, check=False)
            shutil.rmtree(control, ignore_errors=True)

    def syntax_check(self):
        return {rev: self.playbook(rev, "192.0.2.10", f"syntax-{rev}", "--syntax-check")[0] for rev in REVISIONS}

    def fresh_host(self, podman, name="host", hostname=HOSTNAME):
        """A new container as a bare host: sshd with our key, apt lists as stale as in the image."""
        name = podman.create(name, hostname, caps=("NET_ADMIN",))
        with open(self.key + ".pub", encoding="utf-8") as f:
            podman.sh(name, "set -e; apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                      "--no-install-recommends openssh-server >/dev/null; install -d -m 700 /root/.ssh; "
                      'printf "%s" "$1" > /root/.ssh/authorized_keys; '
                      "systemctl enable --now ssh >/dev/null 2>&1 || systemctl restart ssh; "
                      # Never apt-get clean: the archive cache is a shared volume.
                      "rm -rf /var/lib/apt/lists/* /var/lib/apt/periodic/update-success-stamp /var/cache/apt/*.bin; "
                      "touch -d @0 /var/lib/apt/lists", f.read())
        address = podman.ip(name)
        login = ["ssh", "-i", self.key, *SSH_OPTIONS.split(), "-o", "BatchMode=yes", f"root@{address}", "true"]
        for _ in range(60):
            if subprocess.run(login, capture_output=True, timeout=30, check=False).returncode == 0:  # noqa: S603
                return name, address
            time.sleep(1)
        raise BenchError(f"cannot log in to {name} over SSH")


def measure(options, run, converger):
    runs, guest = [], None
    with benchlib.Podman("converge", run.log) as podman:
        for repetition in range(1, options.repeat + 1):
            for revision in REVISIONS if repetition % 2 else REVISIONS[::-1]:
                name, address = converger.fresh_host(podman)
                guest = guest or podman.versions(name)
                for kind in KINDS:
                    rc, wall, text, log = converger.playbook(revision, address, f"{repetition}-{revision}-{kind}")
                    runs.append(record(revision, kind, repetition, rc, wall, text, log))
                    counts = runs[-1].get("counts", {})
                    run.log(f"[{repetition}] {revision} {kind}: {wall:.1f} s, rc {rc}, changed={counts.get('changed')}")
                    if not runs[-1]["ok"]:
                        break
                podman.remove(name)
    return runs, guest


def smoke_runs():
    runs = []
    for revision in REVISIONS:
        for kind in KINDS:
            path = os.path.join(FIXTURES, f"converge-{kind}.log")
            with open(path, encoding="utf-8") as f:
                text = f.read()
            runs.append(record(revision, kind, 1, 0, sum(s for _n, s in parse_profile_tasks(text)), text, path))
    return runs


def main(argv=None):
    p = benchlib.parser("Cold converge of a fresh container against an idempotent re-run, for the collection at "
                        "--baseline and for the working tree, alternating on fresh containers.",
                        "no container: recorded output, and a syntax check of both collections")
    p.add_argument("--baseline", default=BASELINE, metavar="REV", help=f"git revision to compare with (default "
                   f"{BASELINE}, the 0.1.0 release)")
    p.add_argument("--timeout", type=benchlib.positive_int, default=900, help="seconds per run (default 900)")
    p.add_argument("--log-dir", help="where to keep every run's output (default: converge-logs/ next to --json)")
    options = benchlib.parse(p, argv)
    run = benchlib.Run("converge_bench", options)
    baseline = benchlib.command_output(["git", "-C", benchlib.REPO, "rev-parse", "--verify",
                                        f"{options.baseline}^{{commit}}"])
    if not baseline:
        raise BenchError(f"--baseline {options.baseline} is not a commit of this repository")
    workdir = tempfile.mkdtemp(prefix="converge-bench-", dir=options.workdir)
    log_dir = workdir if options.smoke else benchlib.log_dir(options, "converge-logs")
    guest = None
    try:
        with contextlib.ExitStack() as stack:
            collections = {"before": stack.enter_context(benchlib.collection(baseline)),
                           "after": stack.enter_context(benchlib.collection(copy=True))}
            converger = Converger(workdir, log_dir, collections, options.timeout)
            syntax = converger.syntax_check()
            run.log(f"syntax check: {syntax}")
            if options.smoke:
                runs = smoke_runs()
            elif any(syntax.values()):
                raise BenchError(f"site.yml fails --syntax-check ({syntax}); see {log_dir}")
            else:
                runs, guest = measure(options, run, converger)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    summary = summarize(runs)
    masked = {**BENCH_VARS, "authsmtp_users": [{**u, "password": "********"} for u in BENCH_VARS["authsmtp_users"]]}
    notes = ["Each repetition converges both collections on fresh containers, in alternating order; the re-run "
             "follows its cold converge on the same container. Ratios pair runs of the same repetition.",
             "Wall time is measured around ansible-playbook (Python start-up included); profile_tasks times run "
             "from the start of one task to the start of the next."]
    if options.smoke:
        notes.insert(0, "SMOKE RUN: no container; both collections' runs are the same recorded output (an excerpt), "
                     "their wall time the sum of its task times. The figures are not measurements.")
    report = run.report(
        "converge", "Converge (mailops.authsmtp.site)", ("ansible-core", "ansible"),
        method={"baseline": {"rev": options.baseline, "commit": baseline}, "image": benchlib.IMAGES["bookworm"],
                "guest": guest, "connection": "ssh as root, pipelining, ControlPersist", "repeat": options.repeat,
                "inventory_vars": masked, "syntax_check": syntax},
        notes=notes, runs=runs, summary=summary,
        targets=evaluate_targets(summary), checks=evaluate_checks(runs, syntax),
    )
    return run.finish(report)


if __name__ == "__main__":
    benchlib.run_main("converge_bench", main)

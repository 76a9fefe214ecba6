#!/usr/bin/env python3
"""Fleet benchmark: how the converge time of mailops.authsmtp.site grows with the number of servers.

Every repetition takes each size N of --sizes (default 1,2,4) in turn, in an
order that alternates from one repetition to the next: N fresh Debian 12
containers, all in smtp_servers (bench1.example.test, bench2...), the test data
of converge_bench.py, and three runs of the working tree's playbooks/site.yml:

  cold     every server new, all N in one batch (-e authsmtp_rollout_serial=N)
  rerun    the same again: nothing may change on any server
  rollout  a change on every server, one server at a time
           (-e authsmtp_rollout_serial=1 -e authsmtp_tls_force_renew=true)

then the containers are removed. The containers, SSH and the reading of the
output are converge_bench.py's. Targets: cold and re-run of the largest size
at most 1.5 x those of the smallest, paired within a repetition.

--smoke starts no container: every size's runs are converge_bench's recorded
output (tests/unit/bench/fixtures) with its PLAY RECAP line repeated for each
server, and site.yml is syntax-checked with the inventory of the largest size.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib  # noqa: E402
import converge_bench as cb  # noqa: E402
from benchlib import BenchError, median, paired, target  # noqa: E402

SIZES = [1, 2, 4]
KINDS = ("cold", "rerun", "rollout")
COLUMNS = ("cold", "rerun", "rollout", "rollout_per_host")
MAX_GROWTH = 1.5
HOSTNAME = "bench{}.example.test"
COLLECTION = "tree"


def fleet(addresses):
    """{bench<i>: host vars} of the servers at addresses, each with its own authsmtp_hostname."""
    return {f"bench{i}": {"ansible_host": address, "authsmtp_hostname": HOSTNAME.format(i)}
            for i, address in enumerate(addresses, 1)}


def arguments(size, kind):
    """ansible-playbook's extra arguments for one run on size servers."""
    if kind == "rollout":
        return ("-e", "authsmtp_rollout_serial=1", "-e", "authsmtp_tls_force_renew=true")
    return ("-e", f"authsmtp_rollout_serial={size}", "--forks", str(max(size, 5)))


def record(size, kind, repetition, rc, wall, text, log):
    """converge_bench's record of a run, with its size and each server's PLAY RECAP; ok only with every server."""
    entry = cb.record(size, kind, repetition, rc, wall, text, log)
    entry["size"] = entry.pop("revision")
    entry["hosts"] = cb.parse_recap(text, per_host=True) if "counts" in entry else {}
    entry["ok"] = entry["ok"] and set(entry["hosts"]) == {f"bench{i}" for i in range(1, size + 1)}
    return entry


# --- summary, targets, checks --------------------------------------------------------


def walls(runs, size, column):
    """{repetition: seconds} of one size's successful runs; rollout_per_host is the rollout's wall / size."""
    kind = column.removesuffix("_per_host")
    per = size if kind != column else 1
    return {r["repetition"]: round(r["wall_s"] / per, 2) for r in runs
            if r["ok"] and r["size"] == size and r["kind"] == kind}


def summarize(runs, sizes):
    """One row per size: each column's seconds and median, and its ratio to the smallest size's."""
    rows = []
    for size in sizes:
        row = {"size": size}
        for column in COLUMNS:
            seconds = walls(runs, size, column)
            row[column] = {"seconds": list(seconds.values()), "median_s": median(list(seconds.values())),
                           "to_smallest": paired(seconds, walls(runs, sizes[0], column))}
        rows.append(row)
    return rows


def servers(n):
    return f"{n} server{'s' if n != 1 else ''}"


def evaluate_targets(summary):
    small, big = summary[0]["size"], summary[-1]["size"]
    reason = ("not measured: one size only" if small == big else
              f"not measured: no repetition with successful runs of both {small} and {big} servers")
    return [
        target(f"{kind}_growth", f"{what} of {servers(big)} in one batch takes at most {MAX_GROWTH:g} × that of "
               f"{servers(small)} (median of the per-repetition ratios).", f"≤ {MAX_GROWTH:g} × {servers(small)}",
               summary[-1][kind]["to_smallest"]["median"] if small != big else None, f"× {servers(small)}",
               lambda m: m <= MAX_GROWTH, reason=reason)
        for kind, what in (("cold", "A cold converge"), ("rerun", "An idempotent re-run"))
    ]


def evaluate_checks(runs, syntax):
    def changes(kind, wrong):
        """The servers whose changed count is wrong, per successful run of kind."""
        found = []
        for r in runs:
            hosts = [f"{h} changed={c['changed']}" for h, c in r["hosts"].items() if wrong(c["changed"])]
            if r["ok"] and r["kind"] == kind and hosts:
                found.append(f"{r['repetition']}/{r['size']}: {', '.join(hosts)}")
        return found

    return [
        benchlib.check("syntax", "site.yml passes --syntax-check with the benchmark's inventory of the largest size.",
                       [f"rc {syntax}"] if syntax else []),
        benchlib.check("runs_succeeded", "Every ansible-playbook run exited 0, with every server in its PLAY RECAP "
                       "and no failed or unreachable task.",
                       [f"{r['repetition']}/{r['size']}/{r['kind']}: rc {r['rc']}, {len(r['hosts'])} of {r['size']} "
                        f"servers {r.get('parse_error', '')}".strip() for r in runs if not r["ok"]], bool(runs)),
        benchlib.check("idempotent", "Every re-run changed nothing on any server (changed=0).",
                       changes("rerun", bool), bool(runs)),
        benchlib.check("rollout_changed", "The rollout (serial 1, forced certificate renewal) changed every server.",
                       changes("rollout", lambda n: not n), bool(runs)),
    ]


# --- running -----------------------------------------------------------------


def measure(options, run, converger):
    runs, guest = [], None
    with benchlib.Podman("fleet", run.log) as podman:
        for repetition in range(1, options.repeat + 1):
            for size in options.sizes if repetition % 2 else options.sizes[::-1]:
                hosts = [converger.fresh_host(podman, f"host{i}", HOSTNAME.format(i)) for i in range(1, size + 1)]
                guest = guest or podman.versions(hosts[0][0])
                for kind in KINDS:
                    rc, wall, text, log = converger.playbook(COLLECTION, fleet([a for _n, a in hosts]),
                                                             f"{repetition}-{size}-{kind}", *arguments(size, kind))
                    runs.append(record(size, kind, repetition, rc, wall, text, log))
                    changed = [c["changed"] for c in runs[-1]["hosts"].values()]
                    run.log(f"[{repetition}] {size} servers {kind}: {wall:.1f} s, rc {rc}, changed={changed}")
                    if not runs[-1]["ok"]:
                        break
                for name in podman.containers[:]:
                    podman.remove(name)
    return runs, guest


def smoke_runs(sizes):
    """Recorded one-host output per size and kind (the rollout's is the cold converge's: every server changes)."""
    runs = []
    for size in sizes:
        for kind in KINDS:
            path = os.path.join(cb.FIXTURES, f"converge-{'cold' if kind == 'rollout' else kind}.log")
            with open(path, encoding="utf-8") as f:
                text = re.sub(r"^bench( .*)$", lambda m, n=size: "\n".join(f"bench{i}{m[1]}" for i in range(1, n + 1)),
                              f.read(), flags=re.MULTILINE)
            wall = sum(s for _n, s in cb.parse_profile_tasks(text)) * (size if kind == "rollout" else 1)
            runs.append(record(size, kind, 1, 0, wall, text, path))
    return runs


def main(argv=None):
    p = benchlib.parser("Cold converge, idempotent re-run and a rollout one server at a time, of the working tree "
                        "on fleets of fresh containers of each size.",
                        "no container: recorded output, and a syntax check with the largest size's inventory")
    p.add_argument("--sizes", type=benchlib.int_list, default=SIZES, metavar="N,N",
                   help="numbers of servers (default 1,2,4)")
    p.add_argument("--timeout", type=benchlib.positive_int, default=900, help="seconds per run (default 900)")
    p.add_argument("--log-dir", help="where to keep every run's output (default: fleet-logs/ next to --json)")
    options = benchlib.parse(p, argv)
    if not options.sizes:
        p.error("--sizes: give at least one number of servers")
    run = benchlib.Run("fleet_bench", options)
    workdir = tempfile.mkdtemp(prefix="fleet-bench-", dir=options.workdir)
    log_dir = workdir if options.smoke else benchlib.log_dir(options, "fleet-logs")
    guest = None
    try:
        with benchlib.collection(copy=True) as collections:
            converger = cb.Converger(workdir, log_dir, {COLLECTION: collections}, options.timeout)
            largest = options.sizes[-1]
            syntax = converger.playbook(COLLECTION, fleet(f"192.0.2.{i}" for i in range(1, largest + 1)), "syntax",
                                        "--syntax-check", *arguments(largest, "cold"))[0]
            run.log(f"syntax check, {largest} servers: rc {syntax}")
            if options.smoke:
                runs = smoke_runs(options.sizes)
            elif syntax:
                raise BenchError(f"site.yml fails --syntax-check (rc {syntax}); see {log_dir}")
            else:
                runs, guest = measure(options, run, converger)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    summary = summarize(runs, options.sizes)
    masked = {**cb.BENCH_VARS, "authsmtp_hostname": HOSTNAME.format("<i>"),
              "authsmtp_users": [{**u, "password": "********"} for u in cb.BENCH_VARS["authsmtp_users"]]}
    notes = ["Each repetition converges every size on its own fresh containers, in alternating order; the re-run "
             "and the rollout follow the cold converge on the same containers. Ratios pair runs of the same "
             "repetition.",
             "Wall time is measured around ansible-playbook (Python start-up included); the servers of one batch "
             "share the machine's cores with each other and with ansible-playbook."]
    if options.smoke:
        notes.insert(0, "SMOKE RUN: no container; every size's runs are the same recorded output of one host (the "
                     "rollout's is the cold converge's) with its PLAY RECAP line repeated for each server, their wall "
                     "time the sum of its task times (the rollout's times the servers). The figures are not "
                     "measurements.")
    report = run.report(
        "fleet", f"Fleet converge (mailops.authsmtp.site, {'/'.join(map(str, options.sizes))} servers)",
        ("ansible-core", "ansible"),
        method={"image": benchlib.IMAGES["bookworm"], "guest": guest, "sizes": options.sizes,
                "connection": "ssh as root, pipelining, ControlPersist", "repeat": options.repeat,
                "inventory_vars": masked, "syntax_check": syntax},
        notes=notes, runs=runs, summary=summary,
        targets=evaluate_targets(summary), checks=evaluate_checks(runs, syntax),
    )
    return run.finish(report)


if __name__ == "__main__":
    benchlib.run_main("fleet_bench", main)

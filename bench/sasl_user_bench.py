#!/usr/bin/env python3
"""sasl_user over 10, 1,000 and 10,000 users: runs with no change and with 1 % changed, against libpass.

For each scheme and number of users N the module first makes the passwd-file
(untimed); then, --repeat times, each run starts from a fresh copy of it:

  raw             one libpass verification of the scheme, of a password as long as the
                  run's (SHA512-CRYPT's cost grows with it), median of --raw-samples;
                  the raw cost of the repetition is N x that
  no_change       the same plaintext passwords: every hash is verified, nothing written
  change          1 % of the passwords change: exactly those lines are rewritten
  hash_no_change  password_hash equal to the stored fields: nothing hashed or verified
  hash_change     1 % of the given hashes are new (made before the timed run)

The module runs in-process: main() with its arguments patched in (as in the unit
tests), its JSON result read from stdout. AnsibleModule's argument handling,
reading, planning, writing and exit_json are timed; Python start-up, AnsiballZ
and a real task's connection are not.
"""

from __future__ import annotations

import contextlib
import gc
import grp
import io
import json
import os
import pwd
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib  # noqa: E402
from benchlib import BenchError, median, target  # noqa: E402

SCHEMES = ("SHA512-CRYPT", "BLF-CRYPT", "ARGON2ID")
KINDS = ("no_change", "change", "hash_no_change", "hash_change")
COSTS = ("sha512_rounds", "bcrypt_cost", "argon2_memory_cost", "argon2_time_cost")
SMOKE_COST = dict(sha512_rounds=1000, bcrypt_cost=4, argon2_memory_cost=1024, argon2_time_cost=1)
RAW_MAX_RATIO = 1.3
HASH_USERS = 10000
HASH_MAX_S = 2.0


def changed_count(size, percent):
    """Users whose password changes: percent of size, rounded, at least one."""
    return max(1, int(size * percent / 100 + 0.5))


def pick_indices(size, count):
    """count user indices spread evenly over size users."""
    step = size / count
    return sorted({min(size - 1, int(step * j + step / 2)) for j in range(count)})


def password_fields(path):
    with open(path, encoding="utf-8") as f:
        return dict(line.split(":", 2)[:2] for line in f if ":" in line)


def check_run(result, before, path, expected):
    """What a run did wrong ([] if nothing); expected: {name: new password field, or None for any} that must change."""
    problems = []
    if result["changed"] is not bool(expected):
        problems.append(f"reported changed={result['changed']}")
    if sorted(result["users_updated"]) != sorted(expected) or result["users_added"] or result["users_removed"]:
        problems.append("reported other users than the changed ones")
    if "counts" in result and result["counts"].get("updated") != len(expected):
        problems.append(f"counts.updated {result['counts'].get('updated')} != {len(expected)}")
    stat = os.stat(path)
    if not expected and (stat.st_ino, stat.st_mtime_ns) != before["stat"]:
        problems.append("file rewritten without a change")
    with open(path, "rb") as f:
        after = f.read().splitlines()
    if len(after) != len(before["lines"]):
        return [*problems, f"{len(before['lines'])} lines became {len(after)}"]
    changed = {}
    for old, new in zip(before["lines"], after, strict=True):
        if old != new:
            old_fields, new_fields = old.split(b":"), new.split(b":")
            if old_fields[0] != new_fields[0] or old_fields[2:] != new_fields[2:]:
                problems.append(f"more than the password field changed for {old_fields[0].decode()}")
            changed[new_fields[0].decode()] = new_fields[1].decode()
    if sorted(changed) != sorted(expected):
        problems.append(f"{len(changed)} lines changed, expected {len(expected)}")
    problems += [f"{name}: not the given hash" for name, want in expected.items() if want and changed.get(name) != want]
    return problems


class Bench:
    def __init__(self, options, log, sasl_user, passwd_file):
        from ansible.module_utils.testing import patch_module_args  # noqa: PLC0415
        from passlib.hash import argon2, bcrypt, sha512_crypt  # noqa: PLC0415 - libpass

        self.options, self.log, self.sasl_user, self.patch = options, log, sasl_user, patch_module_args
        self.cost = {name: getattr(options, name) for name in COSTS}
        self.hasher = passwd_file.Hasher(**self.cost)
        self.handlers = {"SHA512-CRYPT": sha512_crypt, "BLF-CRYPT": bcrypt, "ARGON2ID": argon2}
        self.ids = dict(owner=pwd.getpwuid(os.getuid()).pw_name, group=grp.getgrgid(os.getgid()).gr_name)

    def run_module(self, path, users, scheme):
        """(seconds, result) of one in-process run of sasl_user."""
        args = dict(path=path, users=users, scheme=scheme, mode="0640", _ansible_check_mode=False, **self.ids)
        out, code = io.StringIO(), None
        gc.collect()
        with self.patch({**args, **self.cost}), contextlib.redirect_stdout(out):
            start = time.perf_counter()
            try:
                self.sasl_user.main()
            except SystemExit as exc:
                code = exc.code
            seconds = time.perf_counter() - start
        result = json.loads(out.getvalue() or "{}")
        if code != 0 or result.get("failed") or "users_updated" not in result:
            raise BenchError(f"sasl_user failed (exit {code}): {result.get('msg', out.getvalue()[-300:])}")
        return seconds, result

    def raw_verify(self, scheme, password):
        """Median seconds of one libpass verification with the module's cost parameters, sampled now.

        ``password`` is one of the run's own: SHA512-CRYPT's cost grows with the password's length.
        """
        digest = self.hasher.hash(scheme, password)[len(scheme) + 2 :]
        handler = self.handlers[scheme]
        handler.verify(password, digest)  # warm-up: backend loading
        samples = []
        for _ in range(self.options.raw_samples):
            start = time.perf_counter()
            handler.verify(password, digest)
            samples.append(time.perf_counter() - start)
        return median(samples)

    def run_case(self, scheme, size, workdir):
        names = [f"user{i:06d}@bench.example.test" for i in range(size)]
        picked = [names[i] for i in pick_indices(size, changed_count(size, self.options.change_percent))]
        initial, path = os.path.join(workdir, "initial"), os.path.join(workdir, "users")
        users = [{"name": name, "password": f"pw-{name}"} for name in names]
        _seconds, result = self.run_module(initial, users, scheme)
        case = {"id": f"{scheme}/{size}", "scheme": scheme, "users": size, "changed_users": len(picked)}
        case["initial_problems"] = [] if sorted(result["users_added"]) == names else ["not every user was added"]
        fields = password_fields(initial)
        new_hashes = {name: self.hasher.hash(scheme, f"new-{name}") for name in picked}
        inputs = {
            "no_change": (users, {}),
            "change": ([{**u, "password": u["password"] + "-new"} if u["name"] in picked else u for u in users],
                       dict.fromkeys(picked)),
            "hash_no_change": ([{"name": n, "password_hash": fields[n]} for n in names], {}),
            "hash_change": ([{"name": n, "password_hash": new_hashes.get(n, fields[n])} for n in names], new_hashes),
        }
        case.update(raw_verify_s=[], runs={kind: {"seconds": [], "problems": []} for kind in KINDS})
        for repetition in range(1, self.options.repeat + 1):
            case["raw_verify_s"].append(self.raw_verify(scheme, users[0]["password"]))
            for kind, (given, expected) in inputs.items():
                shutil.copy2(initial, path)
                with open(path, "rb") as f:
                    before = {"lines": f.read().splitlines(), "stat": (os.stat(path).st_ino, os.stat(path).st_mtime_ns)}
                seconds, result = self.run_module(path, given, scheme)
                problems = check_run(result, before, path, expected)
                case["runs"][kind]["seconds"].append(seconds)
                case["runs"][kind]["problems"].append(problems)
                self.log(f"{case['id']} {repetition}/{self.options.repeat} {kind}: {seconds:.3f} s "
                         + (f"WRONG: {'; '.join(problems)}" if problems else ""))
        return summarize_case(case)


def summarize_case(case):
    """Medians, and each run's ratio to the raw cost of its own repetition."""
    case["raw_cost_s"] = [case["users"] * v for v in case["raw_verify_s"]]
    raw = dict(enumerate(case["raw_cost_s"]))
    for run in case["runs"].values():
        run["median_s"] = median(run["seconds"])
        run["ratio_to_raw"] = benchlib.paired(dict(enumerate(run["seconds"])), raw)
        run["ok"] = not any(run["problems"])
    return case


def evaluate_targets(cases, percent):
    worst = max(cases, key=lambda c: c["runs"]["no_change"]["ratio_to_raw"]["median"], default=None)
    big = [c["runs"]["hash_no_change"]["median_s"] for c in cases if c["users"] == HASH_USERS]
    changes = [c["runs"][kind]["ok"] for c in cases for kind in ("change", "hash_change")]
    return [
        target("no_change_plaintext_vs_raw",
               f"A no-change run with plaintext passwords costs at most {RAW_MAX_RATIO:g} × the raw libpass cost "
               "(N × one verification), for every scheme and size measured (the worst is given).",
               f"≤ {RAW_MAX_RATIO:g} × raw", worst and worst["runs"]["no_change"]["ratio_to_raw"]["median"], "× raw",
               lambda m: m <= RAW_MAX_RATIO, worst_case=worst and worst["id"]),
        target("no_change_hash_10000_users",
               f"A no-change run for {HASH_USERS:,} users with precomputed hashes takes under {HASH_MAX_S:g} s.",
               f"< {HASH_MAX_S:g} s", max(big) if big else None, "s", lambda m: m < HASH_MAX_S,
               reason=f"not measured: {HASH_USERS:,} users were not among the sizes of this run"),
        target("change_rewrites_only_changed",
               f"A run where {percent:g} % of the users change rewrites exactly their lines, only the password "
               "field, and reports exactly them; every other line stays byte-identical.",
               "every such run", sum(changes) if changes else None, f"of {len(changes)} runs",
               lambda m: m == len(changes)),
    ]


def evaluate_checks(cases):
    checks = [benchlib.check("initial", "The first run added every user.",
                             [c["id"] for c in cases if c["initial_problems"]])]
    for kind, what in (("no_change", "reported no change and left the file untouched (same inode and mtime)"),
                       ("change", "changed only the password field of the changed users"),
                       ("hash_no_change", "reported no change and left the file untouched"),
                       ("hash_change", "wrote exactly the given hashes, nothing else")):
        failed = [f"{c['id']}: {p}" for c in cases for problems in c["runs"][kind]["problems"] for p in problems]
        checks.append(benchlib.check(kind, f"Every {kind} run {what}.", failed))
    return checks


def parse_args(argv=None):
    p = benchlib.parser("Benchmark the sasl_user module, in-process, over growing numbers of users.",
                        "sizes 10,50, cheap hash costs, 3 raw samples")
    p.add_argument("--sizes", type=benchlib.int_list, metavar="N,N", help="numbers of users (default 10,1000,10000)")
    p.add_argument("--schemes", type=lambda t: [s for s in SCHEMES if s in t.upper().split(",")],
                   default=list(SCHEMES), help=f"among {','.join(SCHEMES)} (default all)")
    p.add_argument("--other-schemes-max-size", type=int, default=10, metavar="N",
                   help="BLF-CRYPT and ARGON2ID only up to N users (default 10: one of their verifications takes "
                   "about 0.2 s at the module's default costs)")
    p.add_argument("--raw-samples", type=benchlib.positive_int, metavar="N",
                   help="libpass verifications per repetition for the raw cost (default 9)")
    p.add_argument("--change-percent", type=float, default=1.0, metavar="P", help="share of users changed (default 1)")
    for name in COSTS:
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=benchlib.positive_int, metavar="N",
                       help=f"module option {name} (default: the module's default)")
    options = benchlib.parse(p, argv)
    options.sizes = options.sizes or ([10, 50] if options.smoke else [10, 1000, 10000])
    options.raw_samples = options.raw_samples or (3 if options.smoke else 9)
    return options


def main(argv=None):
    options = parse_args(argv)
    run = benchlib.Run("sasl_user_bench", options)
    with benchlib.collection() as base:
        sys.path.insert(0, base)
        from ansible_collections.mailops.authsmtp.plugins.module_utils import passwd_file  # noqa: PLC0415
        from ansible_collections.mailops.authsmtp.plugins.modules import sasl_user  # noqa: PLC0415

        if not os.path.realpath(sasl_user.__file__).startswith(os.path.realpath(benchlib.REPO) + os.sep):
            raise BenchError(f"sasl_user is imported from {sasl_user.__file__}, not from this checkout")
        defaults = {name: getattr(passwd_file, f"DEFAULT_{name.upper()}") for name in COSTS}
        for name in COSTS:
            if getattr(options, name) is None:
                setattr(options, name, SMOKE_COST[name] if options.smoke else defaults[name])
        bench = Bench(options, run.log, sasl_user, passwd_file)
        planned = [(s, n) for n in options.sizes for s in options.schemes
                   if s == "SHA512-CRYPT" or n <= options.other_schemes_max_size]
        skipped = [f"{s}/{n}" for n in options.sizes for s in options.schemes if (s, n) not in planned]
        cases = []
        for scheme, size in planned:
            workdir = tempfile.mkdtemp(prefix="sasl-user-bench-", dir=options.workdir)
            try:
                cases.append(bench.run_case(scheme, size, workdir))
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
    notes = ["Precomputed-hash runs pass the hashes the module stored (password_hash): it then neither hashes nor "
             "verifies, so their time is the module's own work."]
    if skipped:
        notes.append(f"Not run: {', '.join(skipped)}. At the module's default costs one BLF-CRYPT or ARGON2ID "
                     "verification takes about 0.2 s; the module's own work per user does not depend on the scheme "
                     "and SHA512-CRYPT measures it at every size.")
    if options.smoke:
        notes.insert(0, "SMOKE RUN: small sizes, cheap hash costs: the figures are not measurements.")
    report = run.report(
        "sasl_user", "User management (sasl_user)", ("ansible-core", "libpass", "bcrypt", "argon2-cffi"),
        method={"sizes": options.sizes, "schemes": options.schemes, "skipped": skipped, "repeat": options.repeat,
                "raw_samples": options.raw_samples, "change_percent": options.change_percent, "cost": bench.cost,
                "cost_is_module_default": bench.cost == defaults},
        notes=notes, cases=cases,
        targets=evaluate_targets(cases, options.change_percent), checks=evaluate_checks(cases),
    )
    return run.finish(report)


if __name__ == "__main__":
    benchlib.run_main("sasl_user_bench", main)

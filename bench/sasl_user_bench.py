#!/usr/bin/env python3
"""Benchmark the sasl_user module over growing numbers of users.

For each number of users N and each password scheme, in a fresh temporary
directory and ``--repeat`` times:

  raw             one libpass verification (and one hash) of the scheme with
                  the module's cost parameters, sampled right before the runs
                  below; the raw cost of a run is N x the median verification
  first           the file does not exist: every user is added (N hashes)
  no_change       the same plaintext passwords again: every stored hash is
                  verified, nothing is written
  change          the password of 1 % of the users changes: only their lines
                  may be rewritten, every other line must stay byte-identical
  hash_no_change  precomputed hashes (password_hash equal to the stored field):
                  no hash is computed or verified
  hash_change     1 % of the precomputed hashes change (the new hashes are
                  made before the timed run)

The module runs in-process: its main() is called with the arguments patched
in as the unit tests do it (ansible.module_utils.testing.patch_module_args)
and its JSON result is captured from stdout. The time covers AnsibleModule's
argument parsing and validation, reading and planning, writing the file and
exit_json; not the Python start-up, AnsiballZ packaging and connection that a
real Ansible run adds to every task.

    python bench/sasl_user_bench.py --json .cache/bench/sasl_user.json
    python bench/sasl_user_bench.py --smoke --json /tmp/sasl_user-smoke.json

The JSON holds the machine, the date, every measurement, medians, ratios and
whether each target was met (null when this run did not measure it).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import grp
import io
import json
import os
import platform
import pwd
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib  # noqa: E402
from benchlib import FORMAT, REPO, BenchError, median  # noqa: E402

BENCHMARK = "sasl_user"
TITLE = "User management (sasl_user)"

ALL_SCHEMES = ("SHA512-CRYPT", "BLF-CRYPT", "ARGON2ID")
DEFAULT_SIZES = (10, 1000, 10000)
SMOKE_SIZES = (10, 50)
# Cheap costs, as in the unit tests: smoke mode only shows that the script works.
SMOKE_COST = dict(sha512_rounds=1000, bcrypt_cost=4, argon2_memory_cost=1024, argon2_time_cost=1)

# Targets of the benchmark issue.
NO_CHANGE_MAX_RATIO = 1.3
HASH_NO_CHANGE_USERS = 10000
HASH_NO_CHANGE_MAX_S = 2.0

RUN_KINDS = ("first", "no_change", "change", "hash_no_change", "hash_change")
PACKAGES = ("libpass", "passlib", "bcrypt", "argon2-cffi", "ansible-core")
MODULE_PATHS = ("plugins/modules/sasl_user.py", "plugins/module_utils/passwd_file.py")


# --------------------------------------------------------------------------
# Importing the module from this checkout
# --------------------------------------------------------------------------


def _resolved_checkout():
    """The directory ``ansible_collections.mailops.authsmtp`` resolves to, or None."""
    try:
        import ansible_collections.mailops.authsmtp as collection  # noqa: PLC0415
    except ImportError:
        return None
    for entry in getattr(collection, "__path__", []):
        return os.path.realpath(entry)
    return None


def import_collection():
    """Import sasl_user and passwd_file from this checkout.

    Unless the checkout is importable already (as under pytest, see
    tests/unit/conftest.py), it is linked as
    <tmp>/ansible_collections/mailops/authsmtp and <tmp> goes first on sys.path.
    Returns (sasl_user module, passwd_file module, cleanup function).
    """

    def cleanup():
        return None

    if _resolved_checkout() != os.path.realpath(REPO):
        base = tempfile.mkdtemp(prefix="mailops-authsmtp-bench-")
        namespace_dir = os.path.join(base, "ansible_collections", "mailops")
        os.makedirs(namespace_dir)
        link = os.path.join(namespace_dir, "authsmtp")
        os.symlink(REPO, link)

        def cleanup():  # noqa: F811
            # The link goes first, so nothing ever recurses into the checkout.
            if os.path.islink(link):
                os.unlink(link)
            shutil.rmtree(base, ignore_errors=True)

        sys.path.insert(0, base)
        for name in [n for n in sys.modules if n.startswith("ansible_collections.mailops")]:
            del sys.modules[name]
    found = _resolved_checkout()
    if found != os.path.realpath(REPO):
        cleanup()
        raise BenchError(f"ansible_collections.mailops.authsmtp resolves to {found}, not to {REPO}")
    from ansible_collections.mailops.authsmtp.plugins.module_utils import passwd_file  # noqa: PLC0415
    from ansible_collections.mailops.authsmtp.plugins.modules import sasl_user  # noqa: PLC0415

    return sasl_user, passwd_file, cleanup


# --------------------------------------------------------------------------
# Machine and environment
# --------------------------------------------------------------------------


def machine_info():
    return benchlib.machine_info(PACKAGES, podman=False, os_name=platform.platform())


def git_info():
    """Commit of the checkout, and whether the benchmarked code differs from it."""
    info = benchlib.git_info(MODULE_PATHS)
    if info is not None:
        del info["paths"]
    return info


def _current_ids():
    """(owner, group) of this process, so the module's owner/group options need no root."""
    try:
        owner = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        owner = str(os.getuid())
    try:
        group = grp.getgrgid(os.getgid()).gr_name
    except KeyError:
        group = str(os.getgid())
    return owner, group


def changed_count(size, percent):
    """Users whose password changes in the change runs: percent of size, rounded, at least 1."""
    return max(1, int(size * percent / 100 + 0.5))


def pick_indices(size, count):
    """``count`` user indices spread evenly over ``size`` users."""
    step = size / count
    return sorted({min(size - 1, int(step * j + step / 2)) for j in range(count)})


# --------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------


class Bench:
    def __init__(self, sasl_user, passwd_file, options, log):
        from ansible.module_utils.testing import patch_module_args  # noqa: PLC0415

        self.sasl_user = sasl_user
        self.pf = passwd_file
        self.options = options
        self.log = log
        self.patch_module_args = patch_module_args
        self.cost = dict(
            sha512_rounds=options.sha512_rounds,
            bcrypt_cost=options.bcrypt_cost,
            argon2_memory_cost=options.argon2_memory_cost,
            argon2_time_cost=options.argon2_time_cost,
        )
        self.owner, self.group = _current_ids()

    def libpass_handler(self, scheme):
        """The scheme's libpass handler with the module's cost parameters, used directly (not via the module)."""
        from passlib.hash import argon2, bcrypt, sha512_crypt  # noqa: PLC0415

        if scheme == "SHA512-CRYPT":
            return sha512_crypt.using(rounds=self.cost["sha512_rounds"])
        if scheme == "BLF-CRYPT":
            return bcrypt.using(rounds=self.cost["bcrypt_cost"], ident="2b")
        return argon2.using(
            type="ID",
            memory_cost=self.cost["argon2_memory_cost"],
            time_cost=self.cost["argon2_time_cost"],
            parallelism=1,
        )

    def raw_cost(self, scheme):
        """Median seconds of one libpass verification (and of one hash), sampled now."""
        handler = self.libpass_handler(scheme)
        sample = "raw-cost-sample-passphrase-0"
        digest = handler.hash(sample)
        handler.verify(sample, digest)  # warm-up: backend loading, first-call costs
        verify_samples = []
        for _sample in range(self.options.raw_samples):
            start = time.perf_counter()
            ok = handler.verify(sample, digest)
            verify_samples.append(time.perf_counter() - start)
            if not ok:
                raise BenchError(f"libpass does not verify its own {scheme} hash")
        hash_samples = []
        for _sample in range(max(1, self.options.raw_samples // 3)):
            start = time.perf_counter()
            handler.hash(sample)
            hash_samples.append(time.perf_counter() - start)
        return {
            "verify_s": median(verify_samples),
            "verify_samples_s": verify_samples,
            "hash_s": median(hash_samples),
            "hash_samples_s": hash_samples,
        }

    def run_module(self, path, users, scheme):
        """Run sasl_user's main() in-process; return (seconds, result dict)."""
        args = dict(
            path=path,
            users=users,
            scheme=scheme,
            owner=self.owner,
            group=self.group,
            mode="0640",
            _ansible_check_mode=False,
            _ansible_diff=False,
            **self.cost,
        )
        out = io.StringIO()
        code = None
        gc.collect()
        with self.patch_module_args(args), contextlib.redirect_stdout(out):
            start = time.perf_counter()
            try:
                self.sasl_user.main()
            except SystemExit as exc:
                code = exc.code
            elapsed = time.perf_counter() - start
        try:
            result = json.loads(out.getvalue())
        except ValueError:
            raise BenchError(f"sasl_user printed no JSON result (exit code {code!r})") from None
        if code != 0 or result.get("failed"):
            raise BenchError(f"sasl_user failed (exit code {code!r}): {result.get('msg')}")
        return elapsed, result

    def run_case(self, scheme, size, workdir):
        """All runs for one scheme and number of users, repeated; returns the case dict."""
        opts = self.options
        count = changed_count(size, opts.change_percent)
        picked = pick_indices(size, count)
        names = [f"user{i:06d}@bench.example.test" for i in range(size)]
        picked_names = [names[i] for i in picked]
        case = {
            "id": f"{scheme}/{size}",
            "scheme": scheme,
            "users": size,
            "changed_users": count,
            "changed_indices": picked,
            "raw": [],
            "runs": {kind: {"seconds": [], "checks": []} for kind in RUN_KINDS},
        }
        for repeat in range(opts.repeat):
            tag = f"[{scheme} {size} users {repeat + 1}/{opts.repeat}]"
            raw = self.raw_cost(scheme)
            case["raw"].append(raw)
            self.log(f"{tag} raw: verify {raw['verify_s'] * 1000:.2f} ms, hash {raw['hash_s'] * 1000:.2f} ms")

            directory = tempfile.mkdtemp(prefix=f"sasl-{size}-", dir=workdir)
            path = os.path.join(directory, "users")
            try:
                users = [{"name": n, "password": f"pw-{repeat}-{i:06d}-initial"} for i, n in enumerate(names)]
                seconds, result = self.run_module(path, users, scheme)
                check = {"reported_added": result["users_added"] == names, "lines": _snapshot(path)["lines"]}
                check["all_lines_written"] = check["lines"] == size
                self._record(case, "first", seconds, check, tag)

                before = _snapshot(path)
                seconds, result = self.run_module(path, users, scheme)
                self._record(case, "no_change", seconds, _unchanged(result, before, path), tag)

                for i in picked:
                    users[i] = {"name": names[i], "password": f"pw-{repeat}-{i:06d}-changed"}
                before = _snapshot(path)
                seconds, result = self.run_module(path, users, scheme)
                self._record(case, "change", seconds, _only_lines_changed(result, before, path, picked_names), tag)

                fields = _password_fields(path)
                users = [{"name": n, "password_hash": fields[n]} for n in names]
                before = _snapshot(path)
                seconds, result = self.run_module(path, users, scheme)
                self._record(case, "hash_no_change", seconds, _unchanged(result, before, path), tag)

                # New hashes, made with the module's own Hasher outside the timed run.
                hasher = self.pf.Hasher(**self.cost)
                new_fields = {}
                for i in picked:
                    new_fields[names[i]] = hasher.hash(scheme, f"pw-{repeat}-{i:06d}-changed-again")
                    users[i] = {"name": names[i], "password_hash": new_fields[names[i]]}
                before = _snapshot(path)
                seconds, result = self.run_module(path, users, scheme)
                check = _only_lines_changed(result, before, path, picked_names, new_fields)
                self._record(case, "hash_change", seconds, check, tag)
            finally:
                shutil.rmtree(directory, ignore_errors=True)
        summarize_case(case)
        return case

    def _record(self, case, kind, seconds, check, tag):
        case["runs"][kind]["seconds"].append(seconds)
        case["runs"][kind]["checks"].append(check)
        failed = [name for name, value in check.items() if value is False]
        self.log(f"{tag} {kind}: {seconds:.3f} s" + (f"  CHECK FAILED: {', '.join(failed)}" if failed else ""))


def _snapshot(path):
    st = os.stat(path)
    with open(path, "rb") as f:
        data = f.read()
    return {"bytes": data, "lines": len(data.splitlines()), "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}


def _password_fields(path):
    """{name: password field} of the file."""
    fields = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split(":", 2)
            if len(parts) >= 2:
                fields[parts[0]] = parts[1]
    return fields


def _unchanged(result, before, path):
    after = _snapshot(path)
    return {
        "reported_unchanged": result["changed"] is False
        and not (result["users_added"] or result["users_updated"] or result["users_removed"]),
        "file_identical": after["bytes"] == before["bytes"],
        "file_not_rewritten": (after["mtime_ns"], after["inode"]) == (before["mtime_ns"], before["inode"]),
    }


def _only_lines_changed(result, before, path, expected_names, expected_fields=None):
    """Compare the file before/after: exactly the lines of expected_names changed, and only their password."""
    old_lines = before["bytes"].splitlines(keepends=True)
    with open(path, "rb") as f:
        new_lines = f.read().splitlines(keepends=True)
    expected = set(expected_names)
    same_length = len(old_lines) == len(new_lines)
    changed_lines = []
    only_password = same_length
    for index, (old, new) in enumerate(zip(old_lines, new_lines, strict=False)):
        if old == new:
            continue
        changed_lines.append(index)
        old_name, _sep, old_rest = old.partition(b":")
        new_name, _sep, new_rest = new.partition(b":")
        new_password, _sep, new_tail = new_rest.partition(b":")
        if old_name != new_name or old_rest.partition(b":")[2] != new_tail:
            only_password = False
        if expected_fields is not None and new_password.decode() != expected_fields.get(new_name.decode()):
            only_password = False
    changed_names = sorted(old_lines[i].split(b":", 1)[0].decode() for i in changed_lines)
    return {
        "reported_changed": result["changed"] is True and result["users_updated"] == list(expected_names),
        "changed_exactly_expected_lines": same_length and changed_names == sorted(expected),
        "only_password_field_changed": only_password,
        "other_lines_identical": same_length
        and all(
            old == new
            for old, new in zip(old_lines, new_lines, strict=True)
            if old.split(b":", 1)[0].decode() not in expected
        ),
        "lines": len(new_lines),
        "changed_lines": changed_lines,
    }


def summarize_case(case):
    """Add medians and ratios: each run against N x one verification sampled in the same repetition."""
    size = case["users"]
    verify = [raw["verify_s"] for raw in case["raw"]]
    raw_cost = [size * v for v in verify]
    case["raw_summary"] = {
        "verify_s_median": median(verify),
        "hash_s_median": median([raw["hash_s"] for raw in case["raw"]]),
        "raw_cost_s": raw_cost,
        "raw_cost_s_median": median(raw_cost),
    }
    for run in case["runs"].values():
        seconds = run["seconds"]
        ratios = [s / c for s, c in zip(seconds, raw_cost, strict=True)]
        run["median_s"] = median(seconds)
        run["ratio_to_raw"] = ratios
        # Each run is paired with the raw cost sampled right before it; the
        # median of those paired ratios is less sensitive to drifting load.
        run["ratio_to_raw_median"] = median(ratios)
        run["per_user_ms_median"] = median([s / size * 1000 for s in seconds])
        run["checks_passed"] = all(value is not False for check in run["checks"] for value in check.values())


# --------------------------------------------------------------------------
# Targets and checks
# --------------------------------------------------------------------------


def _worst(details):
    return max(details, key=lambda d: d["measured"], default=None)


def evaluate_targets(cases, percent):
    targets = []

    details = []
    for case in cases:
        ratio = case["runs"]["no_change"]["ratio_to_raw_median"]
        details.append({"case": case["id"], "measured": ratio, "met": ratio <= NO_CHANGE_MAX_RATIO})
    worst = _worst(details)
    targets.append(
        {
            "id": "no_change_plaintext_vs_raw",
            "description": f"A run with no changes, plaintext input, costs at most {NO_CHANGE_MAX_RATIO:g} × "
            "the raw cost (N × one libpass verification).",
            "threshold": f"≤ {NO_CHANGE_MAX_RATIO:g} × raw",
            "measured": worst["measured"] if worst else None,
            "measured_unit": "× raw",
            "worst_case": worst["case"] if worst else None,
            "met": all(d["met"] for d in details) if details else None,
            "details": details,
        }
    )

    details = []
    for case in cases:
        if case["users"] == HASH_NO_CHANGE_USERS:
            seconds = case["runs"]["hash_no_change"]["median_s"]
            details.append({"case": case["id"], "measured": seconds, "met": seconds < HASH_NO_CHANGE_MAX_S})
    worst = _worst(details)
    target = {
        "id": "no_change_hash_10000_users",
        "description": f"A run with no changes for {HASH_NO_CHANGE_USERS:,} users with precomputed hashes "
        f"takes under {HASH_NO_CHANGE_MAX_S:g} s.",
        "threshold": f"< {HASH_NO_CHANGE_MAX_S:g} s",
        "measured": worst["measured"] if worst else None,
        "measured_unit": "s (median)",
        "worst_case": worst["case"] if worst else None,
        "met": all(d["met"] for d in details) if details else None,
        "details": details,
    }
    if not details:
        target["reason"] = f"not measured: {HASH_NO_CHANGE_USERS:,} users was not among the sizes of this run"
    targets.append(target)

    details = []
    for case in cases:
        for kind in ("change", "hash_change"):
            checks = case["runs"][kind]["checks"]
            met = all(
                c["changed_exactly_expected_lines"] and c["other_lines_identical"] and c["reported_changed"]
                for c in checks
            )
            details.append({"case": f"{case['id']} {kind}", "measured": case["changed_users"], "met": met})
    targets.append(
        {
            "id": "change_rewrites_only_changed",
            "description": f"A run where {percent:g} % of the passwords change rewrites only those entries; "
            "every other line stays byte-identical.",
            "threshold": "exactly the changed lines",
            "measured": sum(d["met"] for d in details),
            "measured_unit": f"of {len(details)} runs passed",
            "met": all(d["met"] for d in details) if details else None,
            "details": details,
        }
    )
    return targets


def evaluate_checks(cases, percent):
    """Correctness of every run: figures of a run that did the wrong thing are void."""
    checks = []
    for kind, what in (
        ("first", "First runs added every user."),
        ("no_change", "No-change runs (plaintext) reported no change and did not rewrite the file."),
        ("change", f"{percent:g} % runs (plaintext) changed only the password field of the changed users."),
        ("hash_no_change", "No-change runs (precomputed hashes) reported no change and did not rewrite the file."),
        ("hash_change", f"{percent:g} % runs (precomputed hashes) wrote exactly the given hashes, nothing else."),
    ):
        failed = [case["id"] for case in cases if not case["runs"][kind]["checks_passed"]]
        checks.append(benchlib.check(kind, what, failed, cases))
    return checks


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def _scheme_list(text):
    values = [part.strip().upper() for part in text.split(",") if part.strip()]
    if not values or any(v not in ALL_SCHEMES for v in values):
        raise argparse.ArgumentTypeError(f"schemes must be among {','.join(ALL_SCHEMES)}: {text!r}")
    return [s for s in ALL_SCHEMES if s in values]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Benchmark the sasl_user module, run in-process, over 10, 1,000 and 10,000 users: first run, "
        "no change, 1 % of the passwords changed, and the same with precomputed hashes.",
    )
    parser.add_argument("--json", metavar="FILE", help="write the results to FILE (default: stdout)")
    parser.add_argument(
        "--sizes",
        metavar="N,N,...",
        type=benchlib.int_list,
        help=f"numbers of users (default {','.join(map(str, DEFAULT_SIZES))}; with --smoke "
        f"{','.join(map(str, SMOKE_SIZES))})",
    )
    parser.add_argument(
        "--schemes",
        metavar="S,S,...",
        type=_scheme_list,
        default=list(ALL_SCHEMES),
        help=f"password schemes (default {','.join(ALL_SCHEMES)})",
    )
    parser.add_argument(
        "--other-schemes-max-size",
        metavar="N",
        type=int,
        default=10,
        help="run BLF-CRYPT and ARGON2ID only up to N users (default 10): at the module's default costs one of "
        "their verifications takes about 0.2 s, so a single run over 10,000 users would take over half an hour",
    )
    parser.add_argument(
        "--repeat",
        metavar="N",
        type=benchlib.positive_int,
        help="repetitions of every measurement (default 3; --smoke 1)",
    )
    parser.add_argument(
        "--raw-samples",
        metavar="N",
        type=benchlib.positive_int,
        help="libpass verifications sampled for the raw cost before each repetition (default 9; --smoke 3)",
    )
    parser.add_argument(
        "--change-percent",
        metavar="P",
        type=float,
        default=1.0,
        help="share of the passwords that change in the change runs (default 1; at least one user)",
    )
    parser.add_argument("--workdir", metavar="DIR", help="where to make the temporary passwd-files (default: $TMPDIR)")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="only check that the benchmark works: sizes 10,50, 1 repetition, cheap hash costs (as in the unit "
        "tests); the figures are not measurements",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    for option, constant in (
        ("--sha512-rounds", "DEFAULT_SHA512_ROUNDS"),
        ("--bcrypt-cost", "DEFAULT_BCRYPT_COST"),
        ("--argon2-memory-cost", "DEFAULT_ARGON2_MEMORY_COST"),
        ("--argon2-time-cost", "DEFAULT_ARGON2_TIME_COST"),
    ):
        parser.add_argument(
            option,
            metavar="N",
            type=benchlib.positive_int,
            help=f"module option {option[2:].replace('-', '_')} (default: the module's {constant}; --smoke: a cheap "
            "value)",
        )
    options = parser.parse_args(argv)
    if not 0 < options.change_percent <= 100:
        parser.error("--change-percent must be more than 0 and at most 100")
    return options


def apply_defaults(options, passwd_file):
    """Fill in what the command line left open; return the module's default costs."""
    defaults = dict(
        sha512_rounds=passwd_file.DEFAULT_SHA512_ROUNDS,
        bcrypt_cost=passwd_file.DEFAULT_BCRYPT_COST,
        argon2_memory_cost=passwd_file.DEFAULT_ARGON2_MEMORY_COST,
        argon2_time_cost=passwd_file.DEFAULT_ARGON2_TIME_COST,
    )
    if options.sizes is None:
        options.sizes = list(SMOKE_SIZES if options.smoke else DEFAULT_SIZES)
    if options.repeat is None:
        options.repeat = 1 if options.smoke else 3
    if options.raw_samples is None:
        options.raw_samples = 3 if options.smoke else 9
    for name, default in defaults.items():
        if getattr(options, name) is None:
            setattr(options, name, SMOKE_COST[name] if options.smoke else default)
    return defaults


def plan_cases(options):
    """(scheme, size) pairs to run, and those left out by --other-schemes-max-size."""
    planned, skipped = [], []
    for size in options.sizes:
        for scheme in options.schemes:
            if scheme == "SHA512-CRYPT" or size <= options.other_schemes_max_size:
                planned.append((scheme, size))
            else:
                skipped.append({"scheme": scheme, "users": size})
    return planned, skipped


def _notes(options, skipped):
    notes = []
    if options.smoke:
        notes.append(
            "SMOKE RUN: small sizes, one repetition and cheap hash costs. It only shows that the benchmark "
            "works; its figures are not measurements and its targets mean nothing."
        )
    if skipped:
        others = sorted({s["scheme"] for s in skipped})
        notes.append(
            f"{' and '.join(others)} ran only up to {options.other_schemes_max_size} users: at the module's "
            "default costs one verification takes about 0.2 s, so a single run over 10,000 users would take "
            "more than half an hour. The module's own work per user does not depend on the scheme and is "
            "measured at every size with SHA512-CRYPT."
        )
    notes.append(
        "Precomputed-hash runs pass the hashes that the plaintext runs stored (password_hash). The module then "
        "neither hashes nor verifies; their ratio to the raw cost shows how small the rest of its work is."
    )
    return notes


def main(argv=None):
    options = parse_args(argv)

    def log(message):
        if not options.quiet:
            print(f"sasl_user_bench: {message}", file=sys.stderr, flush=True)

    sasl_user, passwd_file, cleanup = import_collection()
    try:
        defaults = apply_defaults(options, passwd_file)
        planned, skipped = plan_cases(options)
        bench = Bench(sasl_user, passwd_file, options, log)
        started, start, load_start = benchlib.now(), time.perf_counter(), benchlib.loadavg()
        workdir = tempfile.mkdtemp(prefix="sasl-user-bench-", dir=options.workdir)
        try:
            cases = [bench.run_case(scheme, size, workdir) for scheme, size in planned]
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        machine = machine_info()
        machine["load_average_start"] = load_start
        machine["load_average_end"] = benchlib.loadavg()
        report = {
            "format": FORMAT,
            "benchmark": BENCHMARK,
            "title": TITLE,
            "generated_by": "bench/sasl_user_bench.py",
            "smoke": options.smoke,
            "date": started,
            "finished": benchlib.now(),
            "duration_s": round(time.perf_counter() - start, 3),
            "machine": machine,
            "source": git_info(),
            "method": {
                "invocation": "in-process",
                "invocation_detail": "sasl_user.main() is called in the benchmark's own Python process with the "
                "module arguments patched in (ansible.module_utils.testing.patch_module_args) and its JSON "
                "result captured from stdout: AnsibleModule argument handling, reading, planning, writing and "
                "exit_json are timed; Python start-up, AnsiballZ and the connection of a real task are not.",
                "module_file": os.path.realpath(sasl_user.__file__),
                "sizes": options.sizes,
                "schemes": options.schemes,
                "other_schemes_max_size": options.other_schemes_max_size,
                "skipped": skipped,
                "repeat": options.repeat,
                "raw_samples": options.raw_samples,
                "change_percent": options.change_percent,
                "cost": bench.cost,
                "cost_is_module_default": bench.cost == defaults,
                "temp_dir": os.path.realpath(options.workdir or tempfile.gettempdir()),
                "raw_cost": "N x the median of raw_samples libpass verifications of one hash of the scheme, with "
                "the same cost parameters, sampled right before each repetition. Each run's ratio is taken to "
                "the raw cost of its own repetition; the reported ratio is the median of those ratios.",
            },
            "notes": _notes(options, skipped),
            "cases": cases,
            "targets": evaluate_targets(cases, options.change_percent),
            "checks": evaluate_checks(cases, options.change_percent),
        }
    finally:
        cleanup()

    return benchlib.finish(report, options, log, failed_label="correctness checks")


if __name__ == "__main__":
    benchlib.run_main("sasl_user_bench", main, containers=False)

#!/usr/bin/env python3
"""Benchmark authenticated submission through 465 and 587 against Debian's stock Postfix on 25.

Three containers on the network authsmtp-bench, made by this script and
always removed again:

  server  Debian 12 converged with mailops.authsmtp.site (self-signed
          certificate, four users), AUTH rate limit off (see below)
  stock   Debian 12 with Debian's own Postfix: debconf "Internet Site",
          nothing changed; mail to a local user lands in /var/mail/bench
  client  Debian 12 with python3: runs bench/smtp_loadgen.py

For each repetition: the stock baseline (port 25, no TLS, no AUTH) at every
concurrency, then the collection's server through 465 (implicit TLS + AUTH)
and 587 (STARTTLS + AUTH), once as shipped ("untuned") and once per tuning.
Every message is its own connection, to a local recipient. The client trusts
the server's certificate: it is read from the server (the files Postfix
serves, certificates only) and used as the CA file; nothing is unverified.

Tunings are applied one at a time, each measured against the untuned run of
the same repetition: through the collection's variables where it has them
(a re-run of site.yml with extra vars), otherwise as a labelled experiment
edited into the container (Dovecot settings the sasl role does not expose),
or on the client (TLS session resumption). "all" combines them.

    python bench/smtp_bench.py --json .cache/bench/smtp_throughput.json
    python bench/smtp_bench.py --quick --json /tmp/smtp-quick.json   # small real run
    python bench/smtp_bench.py --smoke --json /tmp/smtp-smoke.json   # loopback, no container

--smoke starts no container: it runs the same load generator against
aiosmtpd servers on 127.0.0.1 (implicit TLS + AUTH, STARTTLS + AUTH, plain)
for about a second each; the figures are not measurements.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess  # noqa: S404 - podman, ansible-playbook and the load generator
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib  # noqa: E402
from benchlib import BenchError, median, percentile, ratio  # noqa: E402

BENCHMARK = "smtp_throughput"
TITLE = "Submission throughput and authentication latency"
PREFIX = "authsmtp-bench-smtp-"
LOADGEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "smtp_loadgen.py")
GOAL_CONCURRENCY = 8
GOAL_RATIO = 0.5

SERVER_NAME = "bench.example.test"
STOCK_NAME = "stock.bench.test"
CLIENT_NAME = "client.bench.test"
USERS = [(f"bench{i}@example.test", f"bench-{i}-Secret-pw") for i in range(1, 5)]
STOCK_RCPT = f"bench@{STOCK_NAME}"
DOVECOT_MARK = "# authsmtp-bench experiment"
# Dovecot's own cost of one password verification: `doveadm pw -t` called
# VERIFY_CALLS times in a row with the stored hash, minus the same number of
# calls with a {PLAIN} hash (the command's start-up), VERIFY_BATCHES times.
VERIFY_CALLS = 10
VERIFY_BATCHES = 5
# sh -c VERIFY_SCRIPT sh CALLS PASSWORD HASH PLAIN_HASH: nanoseconds for the hashed calls, then the plain ones.
VERIFY_SCRIPT = """set -e
calls=$1 password=$2
run() { i=0; while [ "$i" -lt "$calls" ]; do doveadm pw -t "$1" -p "$password" >/dev/null; i=$((i + 1)); done; }
a=$(date +%s%N); run "$3"; b=$(date +%s%N); run "$4"; c=$(date +%s%N)
echo $((b - a)) $((c - b))
"""

TARGETS = {
    "465": {"port": 465, "mode": "implicit", "auth": True, "server": "collection", "label": "465 implicit TLS + AUTH"},
    "587": {"port": 587, "mode": "starttls", "auth": True, "server": "collection", "label": "587 STARTTLS + AUTH"},
    "stock25": {"port": 25, "mode": "plain", "auth": False, "server": "stock", "label": "stock Postfix, 25, plain"},
}
SUBMISSION_TARGETS = ("465", "587")

# Every tuning: collection variables (a re-run of site.yml), Dovecot lines
# (an experiment edited into dovecot.conf), load generator options.
TUNINGS = {
    "untuned": {
        "description": "the collection as shipped (AUTH rate limit off for the benchmark client)",
        "how": "collection defaults",
    },
    "tls_session_resumption": {
        "description": "clients resume their TLS session (Postfix's session cache and tickets are on as shipped)",
        "how": "client: each connection offers the session of its previous one",
        "client": ["--resume-tls"],
    },
    "dovecot_auth_cache": {
        "description": "Dovecot's auth cache (auth_cache_size = 10M) with cache hits verified by the auth worker "
        "processes (auth_cache_verify_password_with_worker = yes). Expected to change nothing: Dovecot's "
        "passwd-file passdb has no cache key and no worker mode, so every password is verified in the one auth "
        "process; measured to show it",
        "how": "experiment: appended to /etc/dovecot/dovecot.conf, not a collection variable",
        "dovecot": ["auth_cache_size = 10M", "auth_cache_verify_password_with_worker = yes"],
    },
    "cheap_password_hashes": {
        "description": "SECURITY TRADE-OFF, not in 'all': the users' hashes are SHA512-CRYPT with "
        "{rounds:,} rounds instead of the sasl_user module's default 100,000, so each AUTH costs about 1/20 of "
        "the hash work; it shows how much of the AUTH cost is the password hash",
        "how": "collection variable authsmtp_users with precomputed password_hash values",
        "hash_rounds": 5000,
        "in_all": False,
    },
    "minimum_hash_cost_all": {
        "description": "SECURITY TRADE-OFF, not in 'all': every tuning in 'all', and the users' hashes at "
        "SHA512-CRYPT's minimum of {rounds:,} rounds, which leaves the hash almost free: what TLS, AUTH and the "
        "rest of a submission cost on this machine, i.e. about the most any SHA512-CRYPT cost can reach",
        "how": "'all', and collection variable authsmtp_users with precomputed password_hash values",
        "hash_rounds": 1000,
        "in_all": False,
        "with_all": True,
    },
    "postfix_process_limit": {
        "description": "Postfix default_process_limit 200 (instead of 100)",
        "how": "collection variable authsmtp_postfix_main_cf",
        "extra_vars": {"authsmtp_postfix_main_cf": {"default_process_limit": 200}},
    },
    "ecdsa_certificate": {
        "description": "an ECDSA P-384 certificate instead of RSA 3072 (cheaper TLS handshakes for the server)",
        "how": "collection variable authsmtp_tls_key_type: ecdsa",
        "extra_vars": {"authsmtp_tls_key_type": "ecdsa"},
    },
}
ALL = "all"
# What a tuning adds to the server and the client (add_tuning combines them).
TUNING_PARTS = ("client", "dovecot", "extra_vars")
DEFAULT_TUNINGS = tuple(TUNINGS)  # untuned first, then each tuning
FULL_GRID_VARIANTS = ("untuned", ALL)
QUICK_TUNINGS = ("untuned", "tls_session_resumption", "dovecot_auth_cache")
SMOKE_TUNINGS = ("untuned", "tls_session_resumption")
SMOKE_VERIFY_ROUNDS = 1000


_HASHED_USERS = {}


def hashed_users(rounds):
    """authsmtp_users with precomputed SHA512-CRYPT hashes of the bench passwords, the same in every converge."""
    if rounds not in _HASHED_USERS:
        from passlib.hash import sha512_crypt  # noqa: PLC0415 - libpass, in the project's environment

        handler = sha512_crypt.using(rounds=rounds)
        _HASHED_USERS[rounds] = [
            {"name": user, "password_hash": "{SHA512-CRYPT}" + handler.hash(password)} for user, password in USERS
        ]
    return _HASHED_USERS[rounds]


def add_tuning(spec, tuning):
    """Fold ``tuning``'s client options, Dovecot lines and extra vars into ``spec`` (dict values merged)."""
    spec["client"] = spec.get("client", []) + [o for o in tuning.get("client", []) if o not in spec.get("client", [])]
    spec["dovecot"] = spec.get("dovecot", []) + [
        line for line in tuning.get("dovecot", []) if line not in spec.get("dovecot", [])
    ]
    extra = dict(spec.get("extra_vars", {}))
    for var, value in tuning.get("extra_vars", {}).items():
        extra[var] = {**extra.get(var, {}), **value} if isinstance(value, dict) else value
    spec["extra_vars"] = extra
    return spec


def variant_spec(name):
    """The tuning (its extra vars filled in), or for "all" every tuning marked for it, combined."""
    if name != ALL:
        spec = dict(TUNINGS[name])
        if "hash_rounds" in spec:
            spec["description"] = spec["description"].format(rounds=spec["hash_rounds"])
            spec["extra_vars"] = {"authsmtp_users": hashed_users(spec["hash_rounds"])}
        if spec.get("with_all"):
            own = {part: spec.pop(part) for part in TUNING_PARTS if part in spec}
            spec = add_tuning(add_tuning(spec, variant_spec(ALL)), own)
        return spec
    spec = {
        "description": "every tuning above combined, except those marked as not in it",
        "how": "all of the above",
        "client": [],
        "dovecot": [],
        "extra_vars": {},
    }
    for key in TUNINGS:
        if key != "untuned" and TUNINGS[key].get("in_all", True):
            add_tuning(spec, variant_spec(key))
    return spec


def module_default_rounds():
    """DEFAULT_SHA512_ROUNDS of the sasl_user module's passwd_file utilities in this checkout."""
    path = os.path.join(benchlib.REPO, "plugins", "module_utils", "passwd_file.py")
    match = re.search(r"^DEFAULT_SHA512_ROUNDS\s*=\s*(\d+)", _read(path), flags=re.M)
    if not match:
        raise BenchError(f"no DEFAULT_SHA512_ROUNDS in {path}")
    return int(match[1])


def variant_rounds(variant, default_rounds):
    """The SHA512-CRYPT cost of the users' hashes under ``variant`` (``default_rounds`` unless it sets one)."""
    return variant_spec(variant).get("hash_rounds", default_rounds)


def hash_rounds_in_use(variants):
    """The SHA512-CRYPT costs the variants give the users' hashes (the module default first)."""
    default = module_default_rounds()
    rounds = [default]
    for cost in (variant_rounds(variant, default) for variant in variants):
        if cost not in rounds:
            rounds.append(cost)
    return rounds


def verification_entry(rounds, verify_ms, samples):
    """One measured verification cost and the AUTH rate it allows one auth process."""
    return {
        "scheme": "SHA512-CRYPT",
        "rounds": rounds,
        "verify_ms_median": verify_ms,
        "samples_ms": samples,
        "auth_ceiling_per_s": round(1000 / verify_ms, 1) if verify_ms and verify_ms > 0 else None,
        "how": f"doveadm pw -t on the server, {VERIFY_BATCHES} batches of {VERIFY_CALLS} calls, "
        "minus the same calls with a {PLAIN} hash",
    }


def server_vars(extra=None):
    """site.yml variables of the benchmark server; ``extra`` is merged in (dicts one level deep).

    The users are always given as precomputed SHA512-CRYPT hashes, by default at
    the sasl_user module's own default cost (what it makes of a plaintext
    password). With plaintext passwords a hash made by another variant would
    stay: the module keeps a stored hash as long as the password verifies.
    """
    data = {
        "authsmtp_hostname": SERVER_NAME,
        "authsmtp_domains": ["example.test"],
        "authsmtp_tls_source": "selfsigned",
        # Postfix anvil allows 20 AUTH per client and minute by default: the
        # benchmark client would be throttled (450 4.7.1) within a second.
        "authsmtp_auth_rate_limit": 0,
        "authsmtp_users": hashed_users(module_default_rounds()),
    }
    for key, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


def parse_postqueue(text):
    """The entries of `postqueue -j` (one JSON object per line); [] for an empty queue."""
    entries = []
    for line in text.splitlines():
        line = line.strip()
        if line:
            try:
                entries.append(json.loads(line))
            except ValueError:
                raise BenchError(f"postqueue -j printed something else than JSON: {line[:200]!r}") from None
    return entries


def certificates_only(pem_text):
    """The CERTIFICATE blocks of a PEM file (a served file also holds the private key: never copied)."""
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----\r?\n.*?-----END CERTIFICATE-----", pem_text, flags=re.S)
    return "\n".join(blocks) + ("\n" if blocks else "")


# --------------------------------------------------------------------------
# Statistics of the measurements
# --------------------------------------------------------------------------


def measurement_stats(result):
    """The figures of one load generator result."""
    return {
        "messages_per_s": result.get("messages_per_s"),
        "messages_ok": result.get("messages_ok"),
        "sessions_failed": result.get("sessions_failed"),
        "auth_p50_ms": percentile(result.get("auth_ms", []), 50),
        "auth_p95_ms": percentile(result.get("auth_ms", []), 95),
        "total_p50_ms": percentile(result.get("total_ms", []), 50),
        "total_p95_ms": percentile(result.get("total_ms", []), 95),
        "tls_resumed_share": ratio(
            result.get("tls_resumed", 0), result.get("tls_resumed", 0) + result.get("tls_full", 0)
        )
        if result.get("tls_resumed", 0) + result.get("tls_full", 0)
        else None,
        "client_cpu_s": result.get("client_cpu_s"),
    }


def summarize(measurements, variants, concurrencies):
    """Medians over repetitions per (variant, target, concurrency), ratios to the stock baseline and to untuned."""
    by_key = {}
    for m in measurements:
        by_key.setdefault((m["variant"], m["target"], m["concurrency"]), []).append(m)

    def per_rep(variant, target, concurrency, field="messages_per_s"):
        return {m["repetition"]: m["stats"][field] for m in by_key.get((variant, target, concurrency), [])}

    rows = []
    for (variant, target, concurrency), items in sorted(
        by_key.items(), key=lambda kv: (_variant_rank(kv[0][0], variants), kv[0][1], kv[0][2])
    ):
        stats = [m["stats"] for m in items]
        row = {
            "variant": variant,
            "target": target,
            "concurrency": concurrency,
            "repetitions": len(items),
            "messages_per_s": [s["messages_per_s"] for s in stats],
            "messages_per_s_median": median([s["messages_per_s"] for s in stats]),
            "errors": sum(s["sessions_failed"] or 0 for s in stats),
        }
        for field in ("auth_p50_ms", "auth_p95_ms", "total_p50_ms", "total_p95_ms", "tls_resumed_share"):
            row[field] = median([s[field] for s in stats])
        if target != "stock25":
            mine = per_rep(variant, target, concurrency)
            base = per_rep("stock", "stock25", concurrency)
            pairs = [ratio(mine[r], base[r]) for r in sorted(mine) if r in base]
            row["ratio_to_stock"] = pairs
            row["ratio_to_stock_median"] = median(pairs)
            if variant != "untuned":
                ref = per_rep("untuned", target, concurrency)
                pairs = [ratio(mine[r], ref[r]) for r in sorted(mine) if r in ref]
                row["ratio_to_untuned"] = pairs
                row["ratio_to_untuned_median"] = median(pairs)
        rows.append(row)
    return rows


def _variant_rank(variant, variants):
    order = ["stock", *variants]
    return order.index(variant) if variant in order else len(order)


def compare_verification(entries, rows, variants, default_rounds):
    """Each measured verification cost with the best submission rate of the variants whose hashes it prices
    (``default_rounds``: the cost of the variants that do not set their own)."""
    result = []
    for entry in entries:
        priced = [v for v in variants if variant_rounds(v, default_rounds) == entry["rounds"]]
        best = max(
            (r for r in rows if r["variant"] in priced and r.get("messages_per_s_median") is not None),
            key=lambda r: r["messages_per_s_median"],
            default=None,
        )
        result.append(
            {
                **entry,
                "variants": priced,
                "best_messages_per_s": best["messages_per_s_median"] if best else None,
                "best_case": f"{best['variant']} {best['target']} c={best['concurrency']}" if best else None,
                "best_share_of_ceiling": ratio(best["messages_per_s_median"], entry["auth_ceiling_per_s"])
                if best and entry.get("auth_ceiling_per_s")
                else None,
            }
        )
    return result


def evaluate_targets(rows):
    targets = []
    for variant, label in (("untuned", "as shipped"), (ALL, "with every tuning")):
        details = [
            {"case": f"{row['target']}", "measured": row["ratio_to_stock_median"]}
            for row in rows
            if row["variant"] == variant
            and row["concurrency"] == GOAL_CONCURRENCY
            and row["target"] in SUBMISSION_TARGETS
        ]
        measured = [d["measured"] for d in details if d["measured"] is not None]
        worst = min(details, key=lambda d: d["measured"] if d["measured"] is not None else float("inf"), default=None)
        target = {
            "id": f"submission_vs_stock_{GOAL_CONCURRENCY}_{'shipped' if variant == 'untuned' else 'tuned'}",
            "description": f"Authenticated submission ({label}) through 465 and 587 reaches at least "
            f"{GOAL_RATIO:.0%} of the stock Postfix baseline's messages per second at {GOAL_CONCURRENCY} "
            "connections (worse port; median of per-repetition ratios).",
            "threshold": f"≥ {GOAL_RATIO:g} × stock",
            "measured": min(measured) if measured else None,
            "measured_unit": "× stock",
            "worst_case": worst["case"] if worst and measured else None,
            "met": (min(measured) >= GOAL_RATIO) if len(measured) == len(SUBMISSION_TARGETS) else None,
            "details": details,
        }
        if target["met"] is None:
            target["reason"] = f"not measured: no {variant} run at {GOAL_CONCURRENCY} connections on both ports"
        targets.append(target)
    return targets


def evaluate_checks(measurements):
    errors = [
        f"{m['repetition']}/{m['variant']}/{m['target']}/{m['concurrency']}: "
        + ", ".join(f"{k} ×{v}" for k, v in sorted(m["result"].get("errors", {}).items()))
        for m in measurements
        if m["stats"]["sessions_failed"]
    ]
    undelivered = [
        f"{m['repetition']}/{m['variant']}/{m['target']}/{m['concurrency']}: "
        f"{m['delivered']} of {m['result']['accepted_total']}"
        for m in measurements
        if m.get("delivered") is not None and m["delivered"] != m["result"]["accepted_total"]
    ]
    return [
        benchlib.check(
            "no_errors", "No session failed (connect, TLS, AUTH, MAIL, RCPT or DATA).", errors, measurements
        ),
        benchlib.check(
            "all_delivered",
            "Every accepted message was delivered to the local mailbox before the next measurement.",
            undelivered,
            any(m.get("delivered") is not None for m in measurements),
        ),
    ]


# --------------------------------------------------------------------------
# Containers
# --------------------------------------------------------------------------


class Lab:
    """The three containers, the server's converges and the experiments."""

    def __init__(self, options, log, podman, workdir, collections, log_dir):
        self.options = options
        self.log = log
        self.podman = podman
        self.workdir = workdir
        self.collections = collections
        self.log_dir = log_dir
        self.server = podman.name("server")
        self.stock = podman.name("stock")
        self.client = podman.name("client")
        self.applied_vars = None
        self.converges = []
        self.guest = {}
        self.verification = []

    def start(self):
        self.podman.create("server", hostname=SERVER_NAME, aliases=(SERVER_NAME,), caps=("NET_ADMIN",))
        self.podman.create("stock", hostname=STOCK_NAME, aliases=(STOCK_NAME,))
        self.podman.create("client", hostname=CLIENT_NAME, apt_cache=False)
        self.log("containers up; installing Debian's stock Postfix on the baseline host")
        self.podman.sh(
            self.stock,
            "set -e; "
            f"echo 'postfix postfix/main_mailer_type select Internet Site' | debconf-set-selections; "
            f"echo 'postfix postfix/mailname string {STOCK_NAME}' | debconf-set-selections; "
            "apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null; "
            "useradd -m bench; systemctl restart postfix",
            timeout=900,
        )
        self.converge({})
        self.verification = [self.verify_cost(rounds) for rounds in hash_rounds_in_use(self.options.variants)]
        self.podman.write_file(self.client, "/root/smtp_loadgen.py", _read(LOADGEN), mode="0755")
        users = "".join(f"{user}\t{password}\n" for user, password in USERS)
        self.podman.write_file(self.client, "/root/bench-users", users, mode="0600")
        self.guest = {
            "server": benchlib.guest_versions(self.podman, self.server),
            "stock": benchlib.guest_versions(self.podman, self.stock),
            "client": benchlib.guest_versions(self.podman, self.client),
        }
        self.guest["stock_postconf_n"] = self.podman.exec(self.stock, "postconf", "-n").stdout.splitlines()

    def converge(self, extra_vars):
        """site.yml with the benchmark's variables plus extra_vars, unless exactly those are applied already."""
        wanted = server_vars(extra_vars)
        key = json.dumps(wanted, sort_keys=True)
        if key == self.applied_vars:
            return
        index = len(self.converges) + 1
        inventory = {
            "smtp_servers": {
                "hosts": {"bench": {"ansible_host": self.server}},
                "vars": {
                    "ansible_connection": "containers.podman.podman",
                    "ansible_become": False,
                    "ansible_python_interpreter": "/usr/bin/python3",
                },
            }
        }
        paths = {}
        for name, data in (("inventory.json", inventory), ("vars.json", wanted)):
            paths[name] = os.path.join(self.workdir, name)
            with open(paths[name], "w", encoding="utf-8") as f:
                json.dump(data, f)
        config = os.path.join(self.workdir, "ansible.cfg")
        with open(config, "w", encoding="utf-8") as f:
            f.write(
                "[defaults]\ninterpreter_python = /usr/bin/python3\nretry_files_enabled = False\nnocolor = True\n"
                f"local_tmp = {self.workdir}/ansible-local\n"
            )
        log_path = os.path.join(self.log_dir, f"converge-{index:02d}.log")
        started = time.perf_counter()
        with open(log_path, "w", encoding="utf-8") as out:
            proc = subprocess.run(  # noqa: S603
                [
                    benchlib.venv_bin("ansible-playbook"),
                    "-i",
                    paths["inventory.json"],
                    "mailops.authsmtp.site",
                    "-e",
                    "@" + paths["vars.json"],
                ],
                cwd=self.workdir,
                env=benchlib.ansible_env(config, self.collections),
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=self.options.converge_timeout,
                check=False,
            )
        seconds = time.perf_counter() - started
        self.converges.append(
            {"extra_vars": extra_vars, "rc": proc.returncode, "seconds": round(seconds, 1), "log": log_path}
        )
        if proc.returncode != 0:
            raise BenchError(f"converging the server failed (rc {proc.returncode}); see {log_path}")
        what = ", ".join(sorted(extra_vars)) if extra_vars else "the defaults"
        self.log(f"converged the server with {what} ({seconds:.0f} s)")
        self.applied_vars = key
        self.fetch_certificate()

    def verify_cost(self, rounds):
        """Dovecot's time for one SHA512-CRYPT verification at ``rounds`` on the server (doveadm pw -t).

        The passwd-file passdb of Dovecot 2.3 verifies every AUTH in its single
        auth process (process_limit 1), so 1 / this time bounds the AUTH rate.
        """
        user, password = USERS[0]
        stored = next(u["password_hash"] for u in hashed_users(rounds) if u["name"] == user)
        samples = []
        for _batch in range(VERIFY_BATCHES):
            out = self.podman.exec(
                self.server, "sh", "-c", VERIFY_SCRIPT, "sh", str(VERIFY_CALLS), password, stored, "{PLAIN}" + password
            ).stdout
            hashed_ns, plain_ns = (int(v) for v in out.split())
            samples.append(round((hashed_ns - plain_ns) / VERIFY_CALLS / 1e6, 3))
        verify_ms = median(samples)
        result = verification_entry(rounds, verify_ms, samples)
        self.log(
            f"Dovecot verifies SHA512-CRYPT at {rounds:,} rounds in {verify_ms:.1f} ms: "
            f"at most {result['auth_ceiling_per_s']:.0f} AUTH/s in one auth process"
        )
        return result

    def fetch_certificate(self):
        """Give the client the certificates Postfix serves (not the keys), as its CA file."""
        files = self.podman.exec(self.server, "postconf", "-h", "smtpd_tls_chain_files").stdout
        pem = ""
        for path in re.split(r"[\s,]+", files.strip()):
            if path:
                pem += certificates_only(self.podman.read_file(self.server, path))
        if "BEGIN CERTIFICATE" not in pem:
            raise BenchError(f"no certificate found in the server's smtpd_tls_chain_files ({files.strip()!r})")
        self.podman.write_file(self.client, "/root/bench-ca.pem", pem)

    @contextlib.contextmanager
    def dovecot_experiment(self, lines):
        """Append lines to dovecot.conf (labelled), restart Dovecot; put the rendered file back afterwards."""
        if not lines:
            yield
            return
        conf = "/etc/dovecot/dovecot.conf"
        backup = "/root/dovecot.conf.bench-backup"
        block = "\n".join([DOVECOT_MARK + " (bench/smtp_bench.py; not part of the collection)", *lines]) + "\n"
        self.podman.sh(self.server, f"cp -p {conf} {backup} && cat >> {conf} <<'EOF'\n{block}EOF\n")
        try:
            check = self.podman.exec(self.server, "doveconf", "-n", check=False)
            if check.returncode != 0 or (check.stderr or "").strip():
                raise BenchError(f"doveconf refuses the experiment {lines}: {(check.stderr or check.stdout)[-500:]}")
            self.reload_dovecot()
            yield
        finally:
            with benchlib.no_interruptions():
                self.podman.sh(self.server, f"cp -p {backup} {conf} && rm -f {backup}", check=False)
                self.reload_dovecot(check=False)

    def reload_dovecot(self, check=True):
        """Reload Dovecot as the sasl role's handler does, and Postfix, so that new smtpd processes connect
        to the new auth process. (A restart can wait 90 s for Dovecot's stop to time out in the container.)"""
        self.podman.exec(self.server, "systemctl", "reload", "dovecot", check=check)
        self.podman.exec(self.server, "postfix", "reload", check=check)
        time.sleep(1)
        self.podman.sh(
            self.server,
            "for i in $(seq 1 50); do test -S /var/spool/postfix/private/auth && exit 0; sleep 0.1; done; exit 1",
            check=check,
        )

    def snapshot(self):
        """What the server runs with now, for the record: Postfix and Dovecot settings the tunings touch."""
        postfix = self.podman.exec(
            self.server,
            "postconf",
            "default_process_limit",
            "smtpd_tls_chain_files",
            "smtpd_client_auth_rate_limit",
            "smtpd_tls_session_cache_timeout",
            check=False,
        ).stdout.splitlines()
        dovecot = self.podman.exec(self.server, "doveconf", "-n", check=False).stdout.splitlines()
        return {
            "postconf": [line.strip() for line in postfix if line.strip()],
            "doveconf_auth": [line.strip() for line in dovecot if line.strip().startswith("auth_")],
        }

    def host_of(self, target):
        return self.server if TARGETS[target]["server"] == "collection" else self.stock

    def settle(self, target, timeout=300):
        """Wait until the queue of the target's host is empty, then empty the mailboxes; seconds waited."""
        host = self.host_of(target)
        waited = self._wait_queue(host, timeout)
        if host == self.server:
            self.podman.sh(host, "find /var/mail/vhosts -type f -path '*/new/*' -delete", check=False)
        else:
            # Truncate, never create: local(8) delivers as the user into a file the user owns.
            self.podman.sh(host, "[ ! -e /var/mail/bench ] || : > /var/mail/bench", check=False)
        return waited

    def _wait_queue(self, host, timeout):
        started = time.perf_counter()
        while True:
            out = self.podman.exec(host, "postqueue", "-j", check=False).stdout
            entries = parse_postqueue(out)
            if not entries:
                return time.perf_counter() - started
            deferred = [e for e in entries if e.get("queue_name") in ("deferred", "hold")]
            if deferred:
                reasons = {r.get("delay_reason", "?") for e in deferred for r in e.get("recipients", [])}
                raise BenchError(
                    f"{host}: {len(deferred)} message(s) deferred, the benchmark cannot go on: "
                    + "; ".join(sorted(reasons))[:500]
                )
            if time.perf_counter() - started > timeout:
                raise BenchError(f"{host}: the mail queue did not empty within {timeout} s")
            time.sleep(0.5)

    def delivered(self, target):
        """Messages in the local mailboxes of the target's host (after the queue emptied)."""
        host = self.host_of(target)
        if host == self.server:
            out = self.podman.sh(host, "find /var/mail/vhosts -type f -path '*/new/*' | wc -l").stdout
        else:
            out = self.podman.sh(host, "grep -c '^From ' /var/mail/bench || true").stdout
        return int(out.strip() or 0)

    def wait_queue(self, target, timeout=300):
        return self._wait_queue(self.host_of(target), timeout)

    def loadgen(self, target, concurrency, duration, warmup, client_options):
        spec = TARGETS[target]
        argv = ["python3", "/root/smtp_loadgen.py", "--port", str(spec["port"]), "--mode", spec["mode"]]
        if spec["server"] == "collection":
            argv += ["--host", SERVER_NAME, "--cafile", "/root/bench-ca.pem", "--users-file", "/root/bench-users"]
        else:
            argv += ["--host", STOCK_NAME, "--rcpt", STOCK_RCPT]
        argv += ["--concurrency", str(concurrency), "--duration", str(duration), "--warmup", str(warmup)]
        argv += client_options if spec["mode"] != "plain" else []
        proc = self.podman.exec(self.client, *argv, timeout=duration + warmup + 300, check=False)
        if proc.returncode != 0:
            raise BenchError(f"load generator failed ({proc.returncode}): {proc.stderr.strip()[-1000:]}")
        return json.loads(proc.stdout)


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


# --------------------------------------------------------------------------
# Smoke: the same load generator against aiosmtpd on loopback
# --------------------------------------------------------------------------


class SmokeLab:
    """aiosmtpd servers on 127.0.0.1 stand in for the three targets; the load generator runs on the host."""

    def __init__(self, workdir, log):
        self.workdir = workdir
        self.log = log
        self.controllers = {}
        self.messages = {"collection": 0, "stock": 0}
        self.lock = threading.Lock()
        self.guest = {"smoke": "aiosmtpd servers on 127.0.0.1, certificates from trustme"}
        self.converges = []
        self.verification = []

    def start(self):
        import logging  # noqa: PLC0415
        import ssl  # noqa: PLC0415

        # aiosmtpd 1.4 logs a warning about its own deprecated attribute on every successful AUTH.
        logging.getLogger("mail.log").setLevel(logging.ERROR)

        import trustme  # noqa: PLC0415
        from aiosmtpd.controller import Controller  # noqa: PLC0415
        from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: PLC0415

        class EphemeralController(Controller):
            def _trigger_server(self):
                self.port = self.server.sockets[0].getsockname()[1]
                super()._trigger_server()

        lab = self

        class Handler:
            def __init__(self, kind):
                self.kind = kind

            async def handle_DATA(self, server, session, envelope):
                with lab.lock:
                    lab.messages[self.kind] += 1
                return "250 2.0.0 Ok: queued"

        passwords = dict(USERS)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and passwords.get(auth_data.login.decode()) == (
                auth_data.password.decode()
            )
            return AuthResult(success=ok, handled=False)

        ca = trustme.CA()
        cert = ca.issue_cert(SERVER_NAME)
        self.ca_file = os.path.join(self.workdir, "ca.pem")
        ca.cert_pem.write_to_path(self.ca_file)
        self.users_file = os.path.join(self.workdir, "users")
        with open(self.users_file, "w", encoding="utf-8") as f:
            f.write("".join(f"{user}\t{password}\n" for user, password in USERS))

        def context():
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            cert.configure_cert(ctx)
            return ctx

        common = dict(hostname="127.0.0.1", port=0, server_hostname=SERVER_NAME, authenticator=authenticator)
        self.controllers["465"] = EphemeralController(
            Handler("collection"), ssl_context=context(), auth_require_tls=False, **common
        )
        self.controllers["587"] = EphemeralController(
            Handler("collection"), tls_context=context(), require_starttls=True, **common
        )
        self.controllers["stock25"] = EphemeralController(
            Handler("stock"), hostname="127.0.0.1", port=0, server_hostname=STOCK_NAME
        )
        for controller in self.controllers.values():
            controller.start()
        self.verification = [self.verify_cost(SMOKE_VERIFY_ROUNDS)]

    @staticmethod
    def verify_cost(rounds):
        """Stands in for doveadm: libpass on the host, at a cheap cost (no Dovecot here)."""
        from passlib.hash import sha512_crypt  # noqa: PLC0415 - libpass, in the project's environment

        user, password = USERS[0]
        stored = sha512_crypt.using(rounds=rounds).hash(password)
        samples = []
        for _batch in range(3):
            started = time.perf_counter()
            if not sha512_crypt.verify(password, stored):
                raise BenchError(f"libpass does not verify its own hash for {user}")
            samples.append(round((time.perf_counter() - started) * 1000, 3))
        entry = verification_entry(rounds, median(samples), samples)
        entry["how"] = "smoke: libpass on the host, 3 verifications (no Dovecot)"
        return entry

    def stop(self):
        for controller in self.controllers.values():
            with contextlib.suppress(Exception):
                controller.stop()

    def converge(self, extra_vars):
        if extra_vars:
            raise BenchError("smoke mode cannot apply collection variables")

    @contextlib.contextmanager
    def dovecot_experiment(self, lines):
        if lines:
            raise BenchError("smoke mode cannot apply Dovecot experiments")
        yield

    def snapshot(self):
        return {}

    def _kind(self, target):
        return TARGETS[target]["server"]

    def settle(self, target):
        with self.lock:
            self.messages[self._kind(target)] = 0
        return 0.0

    def wait_queue(self, target):
        return 0.0

    def delivered(self, target):
        with self.lock:
            return self.messages[self._kind(target)]

    def loadgen(self, target, concurrency, duration, warmup, client_options):
        spec = TARGETS[target]
        argv = [sys.executable, LOADGEN, "--host", "127.0.0.1", "--port", str(self.controllers[target].port)]
        argv += ["--mode", spec["mode"]]
        if spec["auth"]:
            argv += ["--server-name", SERVER_NAME, "--cafile", self.ca_file, "--users-file", self.users_file]
        else:
            argv += ["--rcpt", STOCK_RCPT]
        argv += ["--concurrency", str(concurrency), "--duration", str(duration), "--warmup", str(warmup)]
        argv += ["--timeout", "10"] + (client_options if spec["mode"] != "plain" else [])
        proc = subprocess.run(  # noqa: S603
            argv, capture_output=True, text=True, timeout=duration + warmup + 120, check=False
        )
        if proc.returncode != 0:
            raise BenchError(f"load generator failed ({proc.returncode}): {proc.stderr.strip()[-1000:]}")
        return json.loads(proc.stdout)


# --------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------


def plan(options):
    """[(repetition, variant, target, concurrency)] in the order they run."""
    steps = []
    for repetition in range(1, options.repeat + 1):
        for concurrency in options.concurrency:
            steps.append((repetition, "stock", "stock25", concurrency))
        # Every other repetition runs the variants backwards: no variant always
        # comes first or last, and the server needs one converge less.
        order = options.variants if repetition % 2 else list(reversed(options.variants))
        for variant in order:
            grid = options.concurrency if variant in FULL_GRID_VARIANTS else options.tuning_concurrency
            for target in SUBMISSION_TARGETS:
                for concurrency in grid:
                    steps.append((repetition, variant, target, concurrency))
    return steps


def measure(options, lab, log):
    """Run the plan; returns (measurements, what was applied for each variant)."""
    measurements = []
    applied = []
    steps = plan(options)
    current = None
    experiment = None
    try:
        for index, (repetition, variant, target, concurrency) in enumerate(steps, 1):
            if variant not in ("stock", current):
                if experiment is not None:
                    experiment.__exit__(None, None, None)
                    experiment = None
                spec = variant_spec(variant)
                lab.converge(spec.get("extra_vars", {}))
                experiment = lab.dovecot_experiment(spec.get("dovecot", []))
                experiment.__enter__()
                current = variant
                applied.append({"repetition": repetition, "variant": variant, **lab.snapshot()})
            client_options = variant_spec(variant).get("client", []) if variant != "stock" else []
            waited = lab.settle(target)
            result = lab.loadgen(target, concurrency, options.duration, options.warmup, client_options)
            drain = lab.wait_queue(target)
            delivered = lab.delivered(target)
            stats = measurement_stats(result)
            measurements.append(
                {
                    "repetition": repetition,
                    "variant": variant,
                    "target": target,
                    "concurrency": concurrency,
                    "client_options": client_options,
                    "settle_s": round(waited, 2),
                    "drain_s": round(drain, 2),
                    "delivered": delivered,
                    "stats": stats,
                    "result": result,
                }
            )
            auth = f", AUTH p50 {stats['auth_p50_ms']:.1f} ms" if stats["auth_p50_ms"] is not None else ""
            total = f"{stats['total_p50_ms']:.1f} ms" if stats["total_p50_ms"] is not None else "–"
            log(
                f"[{index}/{len(steps)}] rep {repetition} {variant} {target} c={concurrency}: "
                f"{stats['messages_per_s'] or 0:.1f} msg/s{auth}, submission p50 {total}, "
                f"errors {stats['sessions_failed']}, delivered {delivered}/{result['accepted_total']}"
            )
    finally:
        if experiment is not None:
            experiment.__exit__(None, None, None)
    return measurements, applied


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def _variants(text):
    allowed = (*TUNINGS, ALL)
    values = [v.strip() for v in text.split(",") if v.strip()]
    bad = [v for v in values if v not in allowed]
    if not values or bad:
        raise argparse.ArgumentTypeError(f"variants must be among {','.join(allowed)}: {text!r}")
    if "untuned" not in values:
        values.insert(0, "untuned")
    return [v for v in allowed if v in values]


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
        return value

    return parse


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Authenticated submission through 465 and 587 from a client container, against Debian's "
        "stock Postfix on 25 as the baseline, with each tuning measured on its own.",
    )
    parser.add_argument("--json", metavar="FILE", help="write the result to FILE (default: stdout)")
    parser.add_argument("--repeat", type=_positive(int), help="repetitions of the whole plan (default 3)")
    parser.add_argument("--duration", type=_positive(float), help="seconds measured per point (default 10)")
    parser.add_argument("--warmup", type=float, help="seconds of load before each measured window (default 2)")
    parser.add_argument(
        "--concurrency", type=benchlib.int_list, help="connections for the baseline, untuned and all (default 1,8,32)"
    )
    parser.add_argument(
        "--tuning-concurrency",
        type=benchlib.int_list,
        help=f"connections for each single tuning (default {GOAL_CONCURRENCY}, the goal's)",
    )
    parser.add_argument(
        "--variants",
        type=_variants,
        help=f"untuned, tunings and '{ALL}' (default: every one: {','.join((*DEFAULT_TUNINGS, ALL))})",
    )
    parser.add_argument("--converge-timeout", type=_positive(int), default=1800, help="seconds per site.yml run")
    parser.add_argument("--log-dir", help="where to keep the converge logs (default: next to --json, smtp-logs/)")
    parser.add_argument("--workdir", help="where to make the temporary work directory (default: $TMPDIR)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick",
        action="store_true",
        help="a small real run: 1 repetition, 3 s per point, concurrency 1,8, untuned, "
        "TLS resumption and the Dovecot auth cache experiment",
    )
    mode.add_argument(
        "--smoke",
        action="store_true",
        help="no container: the load generator against aiosmtpd on 127.0.0.1, 1 s per point, concurrency 2; "
        "the figures are not measurements",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    options = parser.parse_args(argv)
    if options.smoke:
        defaults = dict(repeat=1, duration=1.0, warmup=0.3, concurrency=[2], tuning_concurrency=[2])
        defaults["variants"] = list(SMOKE_TUNINGS)
    elif options.quick:
        defaults = dict(repeat=1, duration=3.0, warmup=1.0, concurrency=[1, GOAL_CONCURRENCY])
        defaults.update(tuning_concurrency=[GOAL_CONCURRENCY], variants=list(QUICK_TUNINGS))
    else:
        defaults = dict(repeat=3, duration=10.0, warmup=2.0, concurrency=[1, GOAL_CONCURRENCY, 32])
        defaults.update(tuning_concurrency=[GOAL_CONCURRENCY], variants=[*DEFAULT_TUNINGS, ALL])
    for key, value in defaults.items():
        if getattr(options, key) is None:
            setattr(options, key, value)
    if options.smoke and any(
        variant_spec(v).get("extra_vars") or variant_spec(v).get("dovecot") for v in options.variants
    ):
        parser.error("--smoke runs without a server: only untuned and tls_session_resumption")
    return options


def notes(options):
    result = []
    if options.smoke:
        result.append(
            "SMOKE RUN: no container. The load generator ran on the host against aiosmtpd servers on 127.0.0.1 "
            "(implicit TLS + AUTH, STARTTLS + AUTH, plain) for about a second each; it shows that the load "
            "generator, the statistics and the report work. The figures are not measurements."
        )
    if options.quick:
        result.append("QUICK RUN: one repetition, short windows; it shows that the benchmark works end to end.")
    result += [
        "The AUTH rate limit (authsmtp_auth_rate_limit, Postfix anvil, 20 per client and minute by default) is "
        "set to 0 on the benchmark server: otherwise the single client address would be throttled with 450 4.7.1 "
        "within a second.",
        "Client, servers and Ansible share the machine's cores: the load generator's own CPU time is in each "
        "measurement (client_cpu_s).",
        "Every message is a new connection (connect, TLS, EHLO, AUTH, MAIL, RCPT, DATA, QUIT). Submission "
        "latency runs from the start of the TCP connect to the 250 for the message; AUTH latency from sending "
        "AUTH PLAIN to the 235. Messages per second count messages accepted within the measured window, after "
        "a warm-up with the same load.",
        "Before every measurement the target's queue is empty and its mailboxes are emptied; after it the "
        "script waits for the queue to empty again and counts what was delivered.",
        "The stock baseline is Debian's Postfix as installed with debconf 'Internet Site' and nothing changed; "
        "it offers STARTTLS (Debian's snakeoil certificate) but the client does not use it, and it has no AUTH.",
        "The users are given to the collection as precomputed SHA512-CRYPT hashes at the sasl_user module's "
        "default cost (what it makes of a plaintext password), so that every variant runs with exactly the "
        "hashes it names; Dovecot verifies one hash per AUTH, in its single auth process.",
        "Ratios pair each measurement with the baseline (or untuned) measurement of the same repetition at the "
        "same concurrency; the tables give the median of those ratios. The baseline runs first in every "
        "repetition; the variants run in the listed order in odd repetitions and backwards in even ones.",
    ]
    return result


def main(argv=None):
    options = parse_args(argv)
    log = benchlib.Logger("smtp_bench", options.quiet)
    benchlib.install_signal_handlers()
    started, start, load_start = benchlib.now(), time.perf_counter(), benchlib.loadavg()
    json_dir = os.path.dirname(os.path.abspath(options.json)) if options.json else os.getcwd()
    log_dir = options.log_dir or os.path.join(json_dir, "smtp-logs")
    workdir = tempfile.mkdtemp(prefix="smtp-bench-", dir=options.workdir)
    try:
        if options.smoke:
            lab = SmokeLab(workdir, log)
            try:
                lab.start()
                measurements, applied = measure(options, lab, log)
            finally:
                lab.stop()
        else:
            if os.path.isdir(log_dir):
                shutil.rmtree(log_dir)
            os.makedirs(log_dir)
            with benchlib.run_lock(BENCHMARK), benchlib.collections_path() as collections:
                podman = benchlib.Podman(PREFIX, log)
                try:
                    podman.remove_stale()
                    podman.ensure_network()
                    lab = Lab(options, log, podman, workdir, collections, log_dir)
                    lab.start()
                    measurements, applied = measure(options, lab, log)
                finally:
                    podman.cleanup()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    rows = summarize(measurements, options.variants, options.concurrency)
    verification = compare_verification(
        lab.verification,
        rows,
        options.variants,
        SMOKE_VERIFY_ROUNDS if options.smoke else module_default_rounds(),
    )
    machine = benchlib.machine_info(("ansible-core", "ansible", "aiosmtpd"))
    machine["load_average_start"] = load_start
    machine["load_average_end"] = benchlib.loadavg()
    report = {
        "format": benchlib.FORMAT,
        "benchmark": BENCHMARK,
        "title": TITLE,
        "generated_by": "bench/smtp_bench.py",
        "smoke": options.smoke,
        "quick": options.quick,
        "date": started,
        "finished": benchlib.now(),
        "duration_s": round(time.perf_counter() - start, 3),
        "machine": machine,
        "source": benchlib.git_info(["roles", "playbooks", "plugins"]),
        "method": {
            "targets": TARGETS,
            "repeat": options.repeat,
            "duration_s": options.duration,
            "warmup_s": options.warmup,
            "concurrency": options.concurrency,
            "tuning_concurrency": options.tuning_concurrency,
            "full_grid_variants": [v for v in options.variants if v in FULL_GRID_VARIANTS],
            "variants": {name: variant_spec(name) for name in options.variants},
            "users": [user for user, _password in USERS],
            "server_vars": {k: v for k, v in server_vars().items() if k != "authsmtp_users"},
            "stock_recipient": STOCK_RCPT,
            "guest": lab.guest,
            "password_verification": verification,
            "converges": [{**c, "log": benchlib.display_path(c["log"])} for c in lab.converges],
            "loadgen": "bench/smtp_loadgen.py, run with the client container's python3",
            "applied": applied,
        },
        "notes": notes(options),
        "summary": rows,
        "measurements": measurements,
        "targets": evaluate_targets(rows),
        "checks": evaluate_checks(measurements),
    }
    return benchlib.finish(report, options, log)


if __name__ == "__main__":
    benchlib.run_main("smtp_bench", main)

#!/usr/bin/env python3
"""Authenticated submission through 465 and 587 as shipped, against Debian's stock Postfix on 25.

Three containers on the network authsmtp-bench, always removed again:

  server  Debian 12 converged with mailops.authsmtp.site (self-signed certificate,
          four users), AUTH rate limit off (one client address would be throttled)
  stock   Debian 12 with Debian's Postfix: debconf "Internet Site", nothing changed
  client  runs bench/smtp_loadgen.py with its own python3

Each repetition measures the stock baseline (25, no TLS, no AUTH), then the server
through 465 (implicit TLS + AUTH) and 587 (STARTTLS + AUTH) in two variants, in an
order that alternates between repetitions:

  shipped            the users' hashes at the sasl_user module's default cost
  minimum_hash_cost  SECURITY TRADE-OFF: SHA512-CRYPT's minimum of 1,000 rounds, which
                     leaves the hash almost free: what TLS, AUTH and the rest cost

Dovecot 2.3 verifies every AUTH of a passwd-file in its one auth process, so one
verification bounds the AUTH rate: `doveadm pw -t` on the server measures it.

--smoke starts no container: the same load generator against aiosmtpd servers on
127.0.0.1 (implicit TLS + AUTH, STARTTLS + AUTH, plain), about a second per point.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess  # noqa: S404 - the load generator in smoke mode
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib  # noqa: E402
from benchlib import BenchError, median, paired, percentile, target  # noqa: E402

LOADGEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "smtp_loadgen.py")
SERVER, STOCK = "bench.example.test", "stock.bench.test"
STOCK_RCPT = f"bench@{STOCK}"
USERS = [(f"bench{i}@example.test", f"bench-{i}-Secret-pw") for i in range(1, 5)]
# target: (port, load generator mode, host)
TARGETS = {"stock25": (25, "plain", "stock"), "465": (465, "implicit", "server"), "587": (587, "starttls", "server")}
VARIANTS = {
    "shipped": "the collection as shipped, the users' hashes at the sasl_user module's default cost",
    "minimum_hash_cost": "SECURITY TRADE-OFF: the users' hashes at SHA512-CRYPT's minimum of 1,000 rounds",
}
MINIMUM_ROUNDS = 1000
GOAL_CONCURRENCY, GOAL_RATIO = 8, 0.5
# doveadm pw -t, CALLS times with the stored hash, minus CALLS times with a {PLAIN} one (its start-up).
VERIFY_CALLS, VERIFY_BATCHES = 10, 5
VERIFY_SCRIPT = """set -e; pw=$3 calls=$4
run() { i=0; while [ $i -lt "$calls" ]; do doveadm pw -t "$1" -p "$pw" >/dev/null; i=$((i + 1)); done; }
a=$(date +%s%N); run "$1"; b=$(date +%s%N); run "$2"; c=$(date +%s%N); echo $((b - a)) $((c - b))
"""

def module_default_rounds():
    with open(os.path.join(benchlib.REPO, "plugins", "module_utils", "passwd_file.py"), encoding="utf-8") as f:
        return int(re.search(r"^DEFAULT_SHA512_ROUNDS\s*=\s*(\d+)", f.read(), re.M)[1])


_HASHES = {}


def hashed_users(rounds):
    """authsmtp_users with SHA512-CRYPT hashes at rounds: the same in every converge, or each would rewrite them."""
    if rounds not in _HASHES:
        from passlib.hash import sha512_crypt  # noqa: PLC0415 - libpass

        handler = sha512_crypt.using(rounds=rounds)
        # Limits of their own far above what a run sends: the sending limits
        # stay in the measured path without holding the load back.
        limits = {"messages": 10_000_000, "recipients": 10_000_000}
        _HASHES[rounds] = [{"name": u, "password_hash": "{SHA512-CRYPT}" + handler.hash(p), "sending_limits": limits}
                           for u, p in USERS]
    return _HASHES[rounds]


def variant_rounds(variant):
    return MINIMUM_ROUNDS if variant == "minimum_hash_cost" else module_default_rounds()


def server_vars(rounds):
    return {"authsmtp_hostname": SERVER, "authsmtp_domains": ["example.test"], "authsmtp_tls_source": "selfsigned",
            # Postfix anvil allows 20 AUTH per client and minute: the one client would get 450 4.7.1 at once.
            "authsmtp_auth_rate_limit": 0, "authsmtp_users": hashed_users(rounds)}


def plan(options):
    """[(repetition, variant, target, concurrency)] in the order they run."""
    steps = []
    for rep in range(1, options.repeat + 1):
        steps += [(rep, "stock", "stock25", c) for c in options.concurrency]
        for variant in list(VARIANTS) if rep % 2 else list(VARIANTS)[::-1]:
            grid = options.concurrency if variant == "shipped" else [GOAL_CONCURRENCY]
            steps += [(rep, variant, t, c) for t in ("465", "587") for c in grid]
    return steps


def summarize(measurements):
    """Medians per (variant, target, concurrency), and ratios to the stock baseline paired per repetition."""
    groups = {}
    for m in measurements:
        groups.setdefault((m["variant"], m["target"], m["concurrency"]), []).append(m)
    rows = []
    for (variant, tgt, concurrency), items in groups.items():
        rate = {m["repetition"]: m["messages_per_s"] for m in items}
        row = {"variant": variant, "target": tgt, "concurrency": concurrency, "messages_per_s": list(rate.values()),
               "messages_per_s_median": median(rate.values()), "errors": sum(m["sessions_failed"] for m in items)}
        for field in ("auth_p50_ms", "auth_p95_ms", "total_p50_ms", "total_p95_ms"):
            row[field] = median([m[field] for m in items])
        if variant != "stock":
            stock = {m["repetition"]: m["messages_per_s"] for m in groups.get(("stock", "stock25", concurrency), [])}
            row["ratio_to_stock"] = paired(rate, stock)
        rows.append(row)
    return rows


def price_verification(entries, rows):
    """Each verification cost with the AUTH rate it allows and the best rate measured with those hashes."""
    for entry in entries:
        entry["auth_ceiling_per_s"] = 1000 / entry["verify_ms"] if entry["verify_ms"] else None
        best = max((r for r in rows if r["variant"] == entry["variant"]),
                   key=lambda r: r["messages_per_s_median"] or 0, default=None)
        if best:
            entry["best_messages_per_s"] = best["messages_per_s_median"]
            entry["best_case"] = f"{best['target']} c={best['concurrency']}"
            entry["share_of_ceiling"] = entry["auth_ceiling_per_s"] and best["messages_per_s_median"] / entry[
                "auth_ceiling_per_s"]
    return entries


def evaluate_targets(rows):
    ratios = {r["target"]: r["ratio_to_stock"]["median"] for r in rows
              if r["variant"] == "shipped" and r["concurrency"] == GOAL_CONCURRENCY}
    worst = min(ratios, key=lambda t: ratios[t] or 0, default=None)
    measured = ratios[worst] if len(ratios) == 2 and None not in ratios.values() else None
    return [target(f"submission_vs_stock_{GOAL_CONCURRENCY}",
                   f"Authenticated submission as shipped, through 465 and 587, reaches at least {GOAL_RATIO:.0%} of "
                   f"the stock Postfix baseline's messages per second at {GOAL_CONCURRENCY} connections (worse port; "
                   "median of per-repetition ratios).", f"≥ {GOAL_RATIO:g} × stock", measured, "× stock",
                   lambda m: m >= GOAL_RATIO, worst_case=worst,
                   reason=f"not measured: no shipped run at {GOAL_CONCURRENCY} connections on both ports")]


def evaluate_checks(measurements):
    name = "{repetition}/{variant}/{target}/c={concurrency}"
    return [
        benchlib.check("no_errors", "No session failed (connect, TLS, AUTH, MAIL, RCPT or DATA).",
                       [name.format(**m) + f": {m['errors']}" for m in measurements if m["sessions_failed"]]),
        benchlib.check("all_delivered", "Every accepted message was delivered to its local mailbox.",
                       [name.format(**m) + f": {m['delivered']} of {m['accepted_total']}"
                        for m in measurements if m["delivered"] != m["accepted_total"]], bool(measurements)),
    ]


class Lab:
    """The three containers: converges, Dovecot's verification cost, queues and mailboxes, the load generator."""

    def __init__(self, podman, run, workdir, log_dir, collections):
        self.podman, self.log, self.workdir, self.log_dir = podman, run.log, workdir, log_dir
        self.collections = collections
        self.rounds, self.converges = None, []

    def start(self, variants):
        p = self.podman
        self.server = p.create("server", SERVER, caps=("NET_ADMIN",))
        self.stock = p.create("stock", STOCK)
        self.client = p.create("client", "client.bench.test", apt_cache=False)
        p.sh(self.stock, "set -e; printf 'postfix postfix/main_mailer_type select Internet Site\\npostfix "
             f"postfix/mailname string {STOCK}\\n' | debconf-set-selections; apt-get update -qq; "
             "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null; useradd -m bench; "
             "systemctl restart postfix")
        self.use("shipped")
        self.verification = [self.verify_cost(v) for v in variants]
        with open(LOADGEN, encoding="utf-8") as f:
            p.write_file(self.client, "/root/smtp_loadgen.py", f.read())
        p.write_file(self.client, "/root/users", "".join(f"{u}\t{pw}\n" for u, pw in USERS), mode="0600")
        self.guest = {"server": p.versions(self.server), "stock": p.versions(self.stock)}

    def use(self, variant):
        """Converge the server with the variant's hashes, unless it has them already."""
        rounds = variant_rounds(variant)
        if rounds == self.rounds:
            return
        paths = {name: os.path.join(self.workdir, name) for name in ("inventory.json", "vars.json")}
        inventory = {"smtp_servers": {"hosts": {"bench": {"ansible_host": self.server}}, "vars": {
            "ansible_connection": "containers.podman.podman", "ansible_python_interpreter": "/usr/bin/python3",
            **benchlib.become_off(self.collections)}}}
        for name, data in (("inventory.json", inventory), ("vars.json", server_vars(rounds))):
            with open(paths[name], "w", encoding="utf-8") as f:
                json.dump(data, f)
        log = os.path.join(self.log_dir, f"converge-{len(self.converges) + 1}-{variant}.log")
        rc, wall, _text = benchlib.playbook(
            ["-i", paths["inventory.json"], "mailops.authsmtp.site", "-e", "@" + paths["vars.json"]],
            benchlib.ansible_cfg(self.workdir, self.workdir), self.collections, log, 1800)
        self.converges.append({"variant": variant, "rc": rc, "seconds": round(wall, 1),
                               "log": benchlib.display_path(log)})
        if rc != 0:
            raise BenchError(f"converging the server failed (rc {rc}); see {log}")
        self.log(f"converged the server for {variant} in {wall:.0f} s")
        self.rounds = rounds
        served = self.podman.sh(self.server, "cat $(postconf -h smtpd_tls_chain_files | tr , ' ')").stdout
        pem = "".join(re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", served, re.S))  # no key
        if not pem:
            raise BenchError("no certificate in the server's smtpd_tls_chain_files")
        self.podman.write_file(self.client, "/root/ca.pem", pem)

    def verify_cost(self, variant):
        """Milliseconds Dovecot takes for one verification of the variant's hashes (doveadm pw -t)."""
        user, password = USERS[0]
        stored = next(u["password_hash"] for u in hashed_users(variant_rounds(variant)) if u["name"] == user)
        samples = []
        for _ in range(VERIFY_BATCHES):
            hashed, plain = map(int, self.podman.sh(self.server, VERIFY_SCRIPT, stored, "{PLAIN}" + password,
                                                    password, str(VERIFY_CALLS)).stdout.split())
            samples.append((hashed - plain) / VERIFY_CALLS / 1e6)
        self.log(f"Dovecot verifies a {variant} hash in {median(samples):.2f} ms")
        return {"variant": variant, "rounds": variant_rounds(variant), "verify_ms": median(samples),
                "samples_ms": samples}

    def drain(self, tgt):
        """Wait until the target host's queue is empty; a deferred message stops the benchmark."""
        host = self.server if TARGETS[tgt][2] == "server" else self.stock
        for _ in range(600):
            entries = [json.loads(line) for line in self.podman.sh(host, "postqueue -j").stdout.splitlines() if line]
            if not entries:
                return host
            if any(e.get("queue_name") in ("deferred", "hold") for e in entries):
                raise BenchError(f"{host}: messages deferred: {json.dumps(entries)[:500]}")
            time.sleep(0.5)
        raise BenchError(f"{host}: the queue did not empty within 5 min")

    def clear(self, tgt):
        # Truncate, never create /var/mail/bench: local(8) delivers into a file the user owns.
        self.podman.sh(self.drain(tgt), "find /var/mail/vhosts -type f -path '*/new/*' -delete 2>/dev/null; "
                       "[ ! -e /var/mail/bench ] || : > /var/mail/bench; true")

    def delivered(self, tgt):
        return int(self.podman.sh(self.drain(tgt), "{ find /var/mail/vhosts -type f -path '*/new/*' 2>/dev/null "
                                  "| wc -l; grep -c '^From ' /var/mail/bench 2>/dev/null || echo 0; } "
                                  "| awk '{s += $1} END {print s}'").stdout)

    def loadgen(self, tgt, args):
        port, mode, host = TARGETS[tgt]
        argv = ["--host", SERVER, "--cafile", "/root/ca.pem", "--users-file", "/root/users"] if host == "server" else [
            "--host", STOCK, "--rcpt", STOCK_RCPT]
        proc = self.podman.run("exec", self.client, "python3", "/root/smtp_loadgen.py", "--port", str(port),
                               "--mode", mode, *argv, *args)
        return json.loads(proc.stdout)


class SmokeLab:
    """aiosmtpd servers on 127.0.0.1 stand in for the three hosts; the load generator runs here."""

    def __init__(self, workdir):
        self.workdir, self.converges, self.guest = workdir, [], {"smoke": "aiosmtpd on 127.0.0.1, trustme certificate"}
        self.count, self.lock, self.controllers = {"server": 0, "stock": 0}, threading.Lock(), {}

    def start(self, variants):
        import logging  # noqa: PLC0415
        import ssl  # noqa: PLC0415

        import trustme  # noqa: PLC0415
        from aiosmtpd.controller import Controller  # noqa: PLC0415
        from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: PLC0415
        from passlib.hash import sha512_crypt  # noqa: PLC0415

        logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd warns on every AUTH
        lab, passwords = self, dict(USERS)

        class Handler:
            def __init__(self, host):
                self.host = host

            async def handle_DATA(self, server, session, envelope):
                with lab.lock:
                    lab.count[self.host] += 1
                return "250 2.0.0 Ok: queued"

        def authenticate(server, session, envelope, mechanism, data):
            return AuthResult(success=isinstance(data, LoginPassword)
                              and passwords.get(data.login.decode()) == data.password.decode(), handled=False)

        ca = trustme.CA()
        self.ca_file, self.users_file = os.path.join(self.workdir, "ca.pem"), os.path.join(self.workdir, "users")
        ca.cert_pem.write_to_path(self.ca_file)
        with open(self.users_file, "w", encoding="utf-8") as f:
            f.write("".join(f"{u}\t{pw}\n" for u, pw in USERS))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert(SERVER).configure_cert(context)
        class Ephemeral(Controller):  # port 0: the port the system picked, before the controller connects to it
            def _trigger_server(self):
                self.port = self.server.sockets[0].getsockname()[1]
                super()._trigger_server()

        common = dict(hostname="127.0.0.1", port=0, server_hostname=SERVER, authenticator=authenticate)
        self.controllers = {
            "465": Ephemeral(Handler("server"), ssl_context=context, auth_require_tls=False, **common),
            "587": Ephemeral(Handler("server"), tls_context=context, require_starttls=True, **common),
            "stock25": Ephemeral(Handler("stock"), hostname="127.0.0.1", port=0, server_hostname=STOCK),
        }
        for controller in self.controllers.values():
            controller.start()
        self.verification = []
        for variant in variants:  # libpass here stands in for doveadm, at a cheap cost
            digest = sha512_crypt.using(rounds=MINIMUM_ROUNDS).hash(USERS[0][1])
            samples = []
            for _ in range(3):
                start = time.perf_counter()
                sha512_crypt.verify(USERS[0][1], digest)
                samples.append((time.perf_counter() - start) * 1000)
            self.verification.append({"variant": variant, "rounds": MINIMUM_ROUNDS, "verify_ms": median(samples),
                                      "samples_ms": samples})

    def stop(self):
        for controller in self.controllers.values():
            controller.stop()

    def use(self, variant):
        pass  # no server to converge

    def clear(self, tgt):
        with self.lock:
            self.count[TARGETS[tgt][2]] = 0

    def delivered(self, tgt):
        with self.lock:
            return self.count[TARGETS[tgt][2]]

    def loadgen(self, tgt, args):
        port, mode, host = TARGETS[tgt]
        argv = [sys.executable, LOADGEN, "--host", "127.0.0.1", "--port", str(self.controllers[tgt].port)]
        argv += ["--mode", mode]
        argv += ["--cafile", self.ca_file, "--server-name", SERVER, "--users-file", self.users_file] \
            if host == "server" else ["--rcpt", STOCK_RCPT]
        proc = subprocess.run([*argv, *args], capture_output=True, text=True, timeout=300, check=False)  # noqa: S603
        if proc.returncode != 0:
            raise BenchError(f"load generator failed: {proc.stderr[-1000:]}")
        return json.loads(proc.stdout)


def measure(options, lab, log):
    measurements = []
    steps = plan(options)
    for index, (rep, variant, tgt, concurrency) in enumerate(steps, 1):
        if variant != "stock":
            lab.use(variant)
        lab.clear(tgt)
        result = lab.loadgen(tgt, ["--concurrency", str(concurrency), "--duration", str(options.duration),
                                   "--warmup", str(options.warmup)])
        m = {k: v for k, v in result.items() if k not in ("auth_ms", "total_ms")}  # every latency: too many to keep
        m.update(repetition=rep, variant=variant, target=tgt, concurrency=concurrency, delivered=lab.delivered(tgt),
                 auth_p50_ms=percentile(result["auth_ms"], 50), auth_p95_ms=percentile(result["auth_ms"], 95),
                 total_p50_ms=percentile(result["total_ms"], 50), total_p95_ms=percentile(result["total_ms"], 95))
        measurements.append(m)
        log(f"[{index}/{len(steps)}] {rep} {variant} {tgt} c={concurrency}: {m['messages_per_s']:.1f} msg/s, "
            f"errors {m['sessions_failed']}, delivered {m['delivered']}/{m['accepted_total']}")
    return measurements


def main(argv=None):
    p = benchlib.parser("Authenticated submission through 465 and 587 against Debian's stock Postfix on 25.",
                        "no container: the load generator against aiosmtpd on 127.0.0.1, half a second per point")
    p.add_argument("--duration", type=float, help="seconds measured per point (default 10)")
    p.add_argument("--warmup", type=float, help="seconds of load before each measured window (default 2)")
    p.add_argument("--concurrency", type=benchlib.int_list, help="connections for stock and shipped (default 1,8,32)")
    p.add_argument("--log-dir", help="where to keep the converge logs (default: smtp-logs/ next to --json)")
    options = benchlib.parse(p, argv)
    options.duration = options.duration or (0.5 if options.smoke else 10.0)
    options.warmup = options.warmup if options.warmup is not None else (0.2 if options.smoke else 2.0)
    options.concurrency = options.concurrency or ([GOAL_CONCURRENCY] if options.smoke else [1, GOAL_CONCURRENCY, 32])
    run = benchlib.Run("smtp_bench", options)
    workdir = tempfile.mkdtemp(prefix="smtp-bench-", dir=options.workdir)
    try:
        if options.smoke:
            lab = SmokeLab(workdir)
            try:
                lab.start(list(VARIANTS))
                measurements = measure(options, lab, run.log)
            finally:
                lab.stop()
        else:
            log_dir = benchlib.log_dir(options, "smtp-logs")
            with benchlib.collection(copy=True) as collections, benchlib.Podman("smtp", run.log) as podman:
                lab = Lab(podman, run, workdir, log_dir, collections)
                lab.start(list(VARIANTS))
                measurements = measure(options, lab, run.log)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    rows = summarize(measurements)
    notes = [
        "The AUTH rate limit (authsmtp_auth_rate_limit, 20 per client and minute) is 0 on the benchmark server: the "
        "single client address would otherwise get 450 4.7.1 within a second.",
        "Every message is a new connection. Client, servers and Ansible share the machine's cores; the load "
        "generator's own CPU time is in each measurement (client_cpu_s).",
        "Before each point the target's queue is empty and its mailboxes too; after it the script waits for the "
        "queue to empty and counts what was delivered.",
        "The stock baseline is Debian's Postfix after debconf 'Internet Site', nothing changed; the client sends "
        "in plain text and without AUTH.",
    ]
    if options.smoke:
        notes.insert(0, "SMOKE RUN: aiosmtpd on 127.0.0.1 instead of containers; libpass on the host stands in for "
                     "doveadm. The figures are not measurements.")
    report = run.report(
        "smtp_throughput", "Submission throughput and authentication latency", ("ansible-core", "ansible", "aiosmtpd"),
        method={"targets": TARGETS, "variants": VARIANTS, "repeat": options.repeat, "duration_s": options.duration,
                "warmup_s": options.warmup, "concurrency": options.concurrency, "goal_concurrency": GOAL_CONCURRENCY,
                "guest": lab.guest, "converges": lab.converges,
                "verification": price_verification(lab.verification, rows)},
        notes=notes, summary=rows, measurements=measurements,
        targets=evaluate_targets(rows), checks=evaluate_checks(measurements),
    )
    return run.finish(report)


if __name__ == "__main__":
    benchlib.run_main("smtp_bench", main)

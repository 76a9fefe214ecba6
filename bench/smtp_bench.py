#!/usr/bin/env python3
"""Authenticated submission with each user store on Debian 12 and 13, against stock Postfix and the hash's bound.

Containers on the network authsmtp-bench, always removed again:

  file12, file13  Debian 12 / 13 converged with mailops.authsmtp.site, users in the
                  password file (authsmtp_user_store: passwd-file)
  pg12, pg13      the same, users in the shared store on db (postgresql)
  db              Debian 12, PostgreSQL set up by the user_store role (TLS from an own CA)
  stock           Debian 12 with Debian's Postfix: debconf "Internet Site", nothing changed
  client          runs bench/smtp_loadgen.py with its own python3

Every server has self-signed TLS, the AUTH rate limit off (one client address would
be throttled) and two sets of users, so that no point needs a converge:

  shipped  hashed at the sasl_user module's default cost (what a site runs)
  cheap    SECURITY TRADE-OFF, measurement only: SHA512-CRYPT's minimum of 1,000
           rounds, which leaves the hash almost free: what the rest of a session costs

Each repetition measures, at 8 connections, the stock baseline (25, one message per
connection and BATCH per connection), then on each server: AUTH-only sessions on 465
(shipped and cheap), one message per connection on 465 (shipped and cheap) and 587
(shipped), and BATCH messages over one authenticated connection on 465 (a satellite's
case), in an order that alternates between repetitions.

The hash-bound limit of a server is cores / (one verification + the CPU cost of one
session with the hash nearly free): one verification is `doveadm pw -t` on the server
(shipped minus cheap), a session's cost is cores / the cheap users' rate, both taken in
the same run (paired per repetition).

--smoke starts no container: the same load generator against aiosmtpd servers on
127.0.0.1 (implicit TLS + AUTH, STARTTLS + AUTH, plain) standing in for every host,
about a second per point.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess  # noqa: S404 - the load generator in smoke mode, openssl for the store's CA
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib  # noqa: E402
from benchlib import BenchError, median, paired, percentile, target  # noqa: E402

LOADGEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "smtp_loadgen.py")
DOMAIN, STOCK, STORE_HOST = "example.test", "stock.bench.test", "db.bench.test"
STOCK_RCPT = f"bench@{STOCK}"
HASHES = {
    "shipped": "hashed at the sasl_user module's default cost",
    "cheap": "SECURITY TRADE-OFF, measurement only: SHA512-CRYPT's minimum of 1,000 rounds",
}
USERS = {h: [(f"{h}{i}@{DOMAIN}", f"{h}-{i}-Secret-pw") for i in range(1, 5)] for h in HASHES}
MINIMUM_ROUNDS = 1000
# server: (Debian suite, user store)
SERVERS = {"file12": ("bookworm", "passwd-file"), "file13": ("trixie", "passwd-file"),
           "pg12": ("bookworm", "postgresql"), "pg13": ("trixie", "postgresql")}
SMOKE_SERVERS = ["file12", "pg13"]  # every server is the same aiosmtpd there: one per store and release
# The smoke run may be idle work beside a scenario: per connection and point it counts sessions, not a window,
# which a starved machine could leave empty, and waits patiently for each reply.
SMOKE_SESSIONS = 2
SMOKE_TIMEOUT_S = 120
DEBIAN = {"bookworm": "12", "trixie": "13"}
PORTS = {"25": "plain", "465": "implicit", "587": "starttls"}
KINDS = {"auth": "AUTH only (connect, TLS, AUTH, QUIT)", "message": "one message per connection",
         "batch": "{batch} messages over one connection (a satellite's case)"}
# (kind, port, hashes) measured on every server, and on the stock baseline
SERVER_POINTS = [("auth", "465", "shipped"), ("auth", "465", "cheap"), ("message", "465", "shipped"),
                 ("message", "587", "shipped"), ("message", "465", "cheap"), ("batch", "465", "shipped")]
STOCK_POINTS = [("message", "25", "none"), ("batch", "25", "none")]
CONCURRENCY, BATCH = 8, 20
BOUND_SHARE, STOCK_SHARE = 0.8, 0.5
# The shared store's connection passwords (the benchmark's own, thrown away with its containers).
STORE_PASSWORDS = {"dovecot": "bench-Dovecot-Store-pw-1", "postfix": "bench-Postfix-Store-pw-2"}
# doveadm pw -t, CALLS times with the stored hash, minus CALLS times with a {PLAIN} one (its start-up).
VERIFY_CALLS, VERIFY_BATCHES = 10, 5
VERIFY_SCRIPT = """set -e; pw=$3 calls=$4
run() { i=0; while [ $i -lt "$calls" ]; do doveadm pw -t "$1" -p "$pw" >/dev/null; i=$((i + 1)); done; }
a=$(date +%s%N); run "$1"; b=$(date +%s%N); run "$2"; c=$(date +%s%N); echo $((b - a)) $((c - b))
"""

def module_default_rounds():
    with open(os.path.join(benchlib.REPO, "plugins", "module_utils", "passwd_file.py"), encoding="utf-8") as f:
        return int(re.search(r"^DEFAULT_SHA512_ROUNDS\s*=\s*(\d+)", f.read(), re.M)[1])


def rounds(hashes):
    return MINIMUM_ROUNDS if hashes == "cheap" else module_default_rounds()


_HASHED = {}


def hashed_users():
    """authsmtp_users: both sets, each at its cost; the same in every call (a converge would rewrite new ones)."""
    if not _HASHED:
        from passlib.hash import sha512_crypt  # noqa: PLC0415 - libpass

        # Limits of their own far above what a run sends: the sending limits
        # stay in the measured path without holding the load back.
        limits = {"messages": 10_000_000, "recipients": 10_000_000}
        for hashes, users in USERS.items():
            handler = sha512_crypt.using(rounds=rounds(hashes))
            _HASHED[hashes] = [{"name": u, "password_hash": "{SHA512-CRYPT}" + handler.hash(p),
                                "sending_limits": limits} for u, p in users]
    return [u for users in _HASHED.values() for u in users]


def server_vars(store, ca_file):
    """The inventory's variables for every host of one store (group all: db needs the users and the store too)."""
    common = {"authsmtp_domains": [DOMAIN],
              # Postfix anvil allows 20 AUTH per client and minute: the one client would get 450 4.7.1 at once.
              "authsmtp_auth_rate_limit": 0, "authsmtp_users": hashed_users(), "authsmtp_user_store": store}
    if store == "postgresql":
        common.update(authsmtp_user_store_host=STORE_HOST, authsmtp_user_store_ca_file=ca_file,
                      authsmtp_user_store_dovecot_password=STORE_PASSWORDS["dovecot"],
                      authsmtp_user_store_postfix_password=STORE_PASSWORDS["postfix"])
    return common


def host_name(server):
    return f"{server}.bench.test"


def plan(options):
    """[(repetition, server, kind, port, hashes)] in the order they run: the order alternates per repetition."""
    steps = []
    for rep in range(1, options.repeat + 1):
        steps += [(rep, "stock", *p) for p in STOCK_POINTS]
        servers = list(options.servers) if rep % 2 else list(options.servers)[::-1]
        points = SERVER_POINTS if rep % 2 else SERVER_POINTS[::-1]
        steps += [(rep, server, *p) for server in servers for p in points]
    return steps


def rate_of(m):
    return m["auths_per_s"] if m["kind"] == "auth" else m["messages_per_s"]


def summarize(measurements):
    """Medians per (server, kind, port, hashes); ratios to the stock baseline paired per repetition."""
    groups = {}
    for m in measurements:
        groups.setdefault((m["server"], m["kind"], m["port"], m["hashes"]), []).append(m)
    rows = []
    for (server, kind, port, hashes), items in groups.items():
        rate = {m["repetition"]: rate_of(m) for m in items}
        row = {"server": server, "kind": kind, "port": port, "hashes": hashes, "rate": list(rate.values()),
               "rate_median": median(rate.values()), "unit": "AUTH/s" if kind == "auth" else "msg/s",
               "errors": sum(m["sessions_failed"] for m in items)}
        for field in ("auth_p50_ms", "auth_p95_ms", "total_p50_ms", "total_p95_ms"):
            row[field] = median([m[field] for m in items])
        if server != "stock" and kind != "auth":
            for stock_kind in {kind, "message"}:
                stock = {m["repetition"]: m["messages_per_s"]
                         for m in groups.get(("stock", stock_kind, "25", "none"), [])}
                row["ratio_to_stock" if stock_kind == kind else "ratio_to_stock_message"] = paired(rate, stock)
        rows.append(row)
    return rows


def bounds(measurements, verification, cores):
    """Per server and kind (auth, message on 465): the hash-bound limit and the shipped rate's share of it.

    limit = cores / (one verification + cores / the cheap users' rate), per repetition, with the
    verification of the server's Debian release (shipped minus cheap, both by doveadm pw -t)."""
    cost = {}
    for entry in verification:
        cost.setdefault(entry["suite"], {})[entry["hashes"]] = entry["verify_ms"]
    rates = {}
    for m in measurements:
        if m["server"] != "stock" and m["port"] == "465" and m["kind"] in ("auth", "message"):
            rates.setdefault((m["server"], m["kind"]), {}).setdefault(m["hashes"], {})[m["repetition"]] = rate_of(m)
    entries = []
    for (server, kind), by_hashes in rates.items():
        suite = SERVERS[server][0]
        verify_ms = (cost.get(suite, {}).get("shipped") or 0) - (cost.get(suite, {}).get("cheap") or 0)
        cheap, shipped = by_hashes.get("cheap", {}), by_hashes.get("shipped", {})
        limit = {r: cores / (verify_ms / 1000 + cores / v) for r, v in cheap.items() if v}
        session_ms = {r: cores / v * 1000 for r, v in cheap.items() if v}
        entries.append({"server": server, "kind": kind, "suite": suite, "store": SERVERS[server][1],
                        "cores": cores, "verify_ms": verify_ms, "session_ms": median(session_ms.values()),
                        "limit_per_s": median(limit.values()), "shipped_per_s": median(shipped.values()),
                        "share": paired(shipped, limit)})
    return sorted(entries, key=lambda e: (list(SERVERS).index(e["server"]), e["kind"]))


def worst(pairs):
    """(worst case, its value) over {case: value}; (None, None) when a case was not measured."""
    if not pairs or None in pairs.values():
        return None, None
    case = min(pairs, key=pairs.get)
    return case, pairs[case]


def evaluate_targets(rows, entries, servers):
    targets = []
    for kind, what in (("auth", "AUTH-only sessions"), ("message", "One-message sessions")):
        share = {e["server"]: e["share"]["median"] for e in entries if e["kind"] == kind}
        case, measured = worst(share) if set(share) == set(servers) else (None, None)
        targets.append(target(
            f"{kind}_vs_hash_bound",
            f"{what} per second on 465 as shipped reach at least {BOUND_SHARE:.0%} of the machine's hash-bound "
            f"limit (cores ÷ (one verification + one session's cost with the hash nearly free)), for each store on "
            f"Debian 12 and 13 at {CONCURRENCY} connections (worst server; median of per-repetition ratios).",
            f"≥ {BOUND_SHARE:g} × limit", measured, "× limit", lambda m: m >= BOUND_SHARE, worst_case=case,
            reason="not measured: a server without both its shipped and cheap runs"))
    batch = {r["server"]: r["ratio_to_stock"]["median"] for r in rows
             if r["kind"] == "batch" and r["server"] != "stock" and r["hashes"] == "shipped"}
    case, measured = worst(batch) if set(batch) == set(servers) else (None, None)
    targets.append(target(
        "satellite_vs_stock",
        f"A satellite's case: {BATCH} messages over one authenticated connection on 465, as shipped, reach at least "
        f"{STOCK_SHARE:.0%} of stock Postfix's messages per second with the same sessions (plain, no AUTH) at "
        f"{CONCURRENCY} connections (worst server; median of per-repetition ratios).",
        f"≥ {STOCK_SHARE:g} × stock", measured, "× stock", lambda m: m >= STOCK_SHARE, worst_case=case,
        reason="not measured: a server without its batch run or no stock batch run"))
    single = {f"{r['server']} {r['port']}": r["ratio_to_stock"]["median"] for r in rows
              if r["kind"] == "message" and r["server"] != "stock" and r["hashes"] == "shipped"}
    case, measured = worst(single) if len(single) == 2 * len(servers) else (None, None)
    targets.append(target(
        f"submission_vs_stock_{CONCURRENCY}",
        f"One message per connection as shipped, through 465 and 587, reaches at least {STOCK_SHARE:.0%} of the stock "
        f"Postfix baseline's messages per second at {CONCURRENCY} connections (worst server and port; median of "
        "per-repetition ratios). Bounded by the password hash: see the limit above.",
        f"≥ {STOCK_SHARE:g} × stock", measured, "× stock", lambda m: m >= STOCK_SHARE, worst_case=case,
        reason="not measured: a server without its shipped runs on both ports"))
    return targets


def evaluate_checks(measurements):
    name = "{repetition}/{server}/{kind}/{port}/{hashes}"
    return [
        benchlib.check("no_errors", "No session failed (connect, TLS, AUTH, MAIL, RCPT or DATA).",
                       [name.format(**m) + f": {m['errors']}" for m in measurements if m["sessions_failed"]]),
        benchlib.check("all_delivered", "Every accepted message was delivered to its local mailbox.",
                       [name.format(**m) + f": {m['delivered']} of {m['accepted_total']}"
                        for m in measurements if m["delivered"] != m["accepted_total"]], bool(measurements)),
        # The run's AUTHs, not the window's: a 235 that arrived after the window is still a 235.
        benchlib.check("auth_only_sent_nothing", "AUTH-only sessions sent no message and each got its 235.",
                       [name.format(**m) + f": {m['accepted_total']} messages, {m['auths_total']} AUTH"
                        for m in measurements if m["kind"] == "auth" and (m["accepted_total"] or not m["auths_total"])],
                       any(m["kind"] == "auth" for m in measurements)),
    ]


def loadgen_args(kind, batch):
    if kind == "auth":
        return ["--auth-only"]
    return ["--messages", str(batch if kind == "batch" else 1)]


def users_file(hashes):
    return "".join(f"{u}\t{pw}\n" for u, pw in USERS[hashes])


class Lab:
    """The containers: two converges (one per store), Dovecot's verification cost, queues and mailboxes, the
    load generator."""

    def __init__(self, podman, run, workdir, log_dir, collections, servers):
        self.podman, self.log, self.workdir, self.log_dir = podman, run.log, workdir, log_dir
        self.collections, self.servers, self.converges, self.host = collections, servers, [], {}

    def start(self):
        p = self.podman
        for server in self.servers:
            self.host[server] = p.create(server, host_name(server), caps=("NET_ADMIN",), suite=SERVERS[server][0])
        stores = {SERVERS[s][1] for s in self.servers}
        if "postgresql" in stores:
            self.host["db"] = p.create("db", STORE_HOST)
        self.host["stock"] = p.create("stock", STOCK)
        self.client = p.create("client", "client.bench.test", apt_cache=False)
        p.sh(self.host["stock"], "set -e; printf 'postfix postfix/main_mailer_type select Internet Site\\npostfix "
             f"postfix/mailname string {STOCK}\\n' | debconf-set-selections; apt-get update -qq; "
             "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null; useradd -m bench; "
             "systemctl restart postfix")
        ca_dir = os.path.join(self.workdir, "store-ca")
        if "postgresql" in stores:
            make_ca(ca_dir)
        for store in ("passwd-file", "postgresql"):
            if store in stores:
                self.converge(store, ca_dir)
        suites = sorted({SERVERS[s][0] for s in self.servers})
        by_suite = {SERVERS[s][0]: s for s in reversed(self.servers)}
        self.verification = [self.verify_cost(by_suite[suite], suite, h) for suite in suites for h in HASHES]
        with open(LOADGEN, encoding="utf-8") as f:
            p.write_file(self.client, "/root/smtp_loadgen.py", f.read())
        for hashes in HASHES:
            p.write_file(self.client, f"/root/users-{hashes}", users_file(hashes), mode="0600")
        self.guest = {name: p.versions(self.host[name]) for name in (*self.servers, "stock")}

    def converge(self, store, ca_dir):
        """One converge of the servers of one store (and db with the shared store)."""
        servers = [s for s in self.servers if SERVERS[s][1] == store]
        connection = {"ansible_connection": "containers.podman.podman",
                      "ansible_python_interpreter": "/usr/bin/python3", **benchlib.become_off(self.collections)}
        # All in the inventory, none as extra vars: those would override db's own TLS source.
        inventory = {"all": {"vars": {**connection, **server_vars(store, os.path.join(ca_dir, "ca.crt"))}},
                     "smtp_servers": {"vars": {"authsmtp_tls_source": "selfsigned"}, "hosts": {
                         s: {"ansible_host": self.host[s], "authsmtp_hostname": host_name(s)} for s in servers}}}
        if store == "postgresql":
            inventory["smtp_user_stores"] = {"hosts": {"db": {
                "ansible_host": self.host["db"], "authsmtp_hostname": STORE_HOST, "authsmtp_tls_source": "ownca",
                "authsmtp_tls_ownca_dir": ca_dir, "authsmtp_tls_ownca_common_name": "authsmtp bench CA"}}}
        path = os.path.join(self.workdir, f"inventory-{store}.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(inventory, f)
        log = os.path.join(self.log_dir, f"converge-{store}.log")
        rc, wall, _text = benchlib.playbook(["-i", path, "mailops.authsmtp.site"],
                                            benchlib.ansible_cfg(self.workdir, self.workdir), self.collections, log,
                                            2400)
        self.converges.append({"store": store, "hosts": sorted(inventory["smtp_servers"]["hosts"])
                               + (["db"] if store == "postgresql" else []), "rc": rc, "seconds": round(wall, 1),
                               "log": benchlib.display_path(log)})
        if rc != 0:
            raise BenchError(f"converging the {store} servers failed (rc {rc}); see {log}")
        self.log(f"converged {', '.join(servers)} ({store}) in {wall:.0f} s")
        for server in servers:
            served = self.podman.sh(self.host[server], "cat $(postconf -h smtpd_tls_chain_files | tr , ' ')").stdout
            pem = "".join(re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", served, re.S))
            if not pem:  # the certificates only, never the key
                raise BenchError(f"{server}: no certificate in smtpd_tls_chain_files")
            self.podman.write_file(self.client, f"/root/ca-{server}.pem", pem)

    def verify_cost(self, server, suite, hashes):
        """Milliseconds Dovecot on suite takes for one verification of a hashes user (doveadm pw -t)."""
        user, password = USERS[hashes][0]
        stored = next(u["password_hash"] for u in hashed_users() if u["name"] == user)
        samples = []
        for _ in range(VERIFY_BATCHES):
            hashed, plain = map(int, self.podman.sh(self.host[server], VERIFY_SCRIPT, stored, "{PLAIN}" + password,
                                                    password, str(VERIFY_CALLS)).stdout.split())
            samples.append((hashed - plain) / VERIFY_CALLS / 1e6)
        self.log(f"Dovecot on Debian {DEBIAN[suite]} verifies a {hashes} hash in {median(samples):.2f} ms")
        return {"suite": suite, "hashes": hashes, "rounds": rounds(hashes), "verify_ms": median(samples),
                "samples_ms": samples}

    def drain(self, server):
        """Wait until the host's queue is empty; a deferred message stops the benchmark."""
        host = self.host[server]
        for _ in range(1200):
            entries = [json.loads(line) for line in self.podman.sh(host, "postqueue -j").stdout.splitlines() if line]
            if not entries:
                return host
            if any(e.get("queue_name") in ("deferred", "hold") for e in entries):
                raise BenchError(f"{host}: messages deferred: {json.dumps(entries)[:500]}")
            time.sleep(0.5)
        raise BenchError(f"{host}: the queue did not empty within 10 min")

    def clear(self, server):
        # Truncate, never create /var/mail/bench: local(8) delivers into a file the user owns.
        self.podman.sh(self.drain(server), "find /var/mail/vhosts -type f -path '*/new/*' -delete 2>/dev/null; "
                       "[ ! -e /var/mail/bench ] || : > /var/mail/bench; true")

    def delivered(self, server):
        return int(self.podman.sh(self.drain(server), "{ find /var/mail/vhosts -type f -path '*/new/*' 2>/dev/null "
                                  "| wc -l; grep -c '^From ' /var/mail/bench 2>/dev/null || echo 0; } "
                                  "| awk '{s += $1} END {print s}'").stdout)

    def loadgen(self, server, port, hashes, args):
        if server == "stock":
            argv = ["--host", STOCK, "--rcpt", STOCK_RCPT]
        else:
            argv = ["--host", host_name(server), "--cafile", f"/root/ca-{server}.pem", "--users-file",
                    f"/root/users-{hashes}"]
        proc = self.podman.run("exec", self.client, "python3", "/root/smtp_loadgen.py", "--port", port,
                               "--mode", PORTS[port], *argv, *args)
        return json.loads(proc.stdout)


def make_ca(directory):
    """The shared store's own CA, on the controller (the tls role's ownca source issues db's certificate)."""
    os.makedirs(directory, mode=0o700)
    proc = subprocess.run(  # noqa: S603
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",  # noqa: S607
         "-keyout", os.path.join(directory, "ca.key"), "-out", os.path.join(directory, "ca.crt"), "-days", "3650",
         "-subj", "/CN=authsmtp bench CA", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BenchError(f"openssl could not make the store's CA: {proc.stderr.strip()[-500:]}")


class SmokeLab:
    """aiosmtpd servers on 127.0.0.1 stand in for every host; the load generator runs here."""

    def __init__(self, workdir, servers):
        self.workdir, self.servers, self.converges = workdir, servers, []
        self.guest = {"smoke": "aiosmtpd on 127.0.0.1, trustme certificate"}
        self.count, self.lock, self.controllers = {"server": 0, "stock": 0}, threading.Lock(), {}

    def start(self):
        import logging  # noqa: PLC0415
        import ssl  # noqa: PLC0415

        import trustme  # noqa: PLC0415
        from aiosmtpd.controller import Controller  # noqa: PLC0415
        from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: PLC0415
        from passlib.hash import sha512_crypt  # noqa: PLC0415

        logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd warns on every AUTH
        lab, passwords = self, {u: pw for users in USERS.values() for u, pw in users}

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
        self.ca_file = os.path.join(self.workdir, "ca.pem")
        ca.cert_pem.write_to_path(self.ca_file)
        for hashes in HASHES:
            with open(os.path.join(self.workdir, f"users-{hashes}"), "w", encoding="utf-8") as f:
                f.write(users_file(hashes))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert(host_name("smoke")).configure_cert(context)

        class Ephemeral(Controller):  # port 0: the port the system picked, before the controller connects to it
            def _trigger_server(self):
                self.port = self.server.sockets[0].getsockname()[1]
                super()._trigger_server()

        common = dict(hostname="127.0.0.1", port=0, server_hostname=host_name("smoke"), authenticator=authenticate)
        self.controllers = {
            "465": Ephemeral(Handler("server"), ssl_context=context, auth_require_tls=False, **common),
            "587": Ephemeral(Handler("server"), tls_context=context, require_starttls=True, **common),
            "25": Ephemeral(Handler("stock"), hostname="127.0.0.1", port=0, server_hostname=STOCK),
        }
        for controller in self.controllers.values():
            controller.start()
        self.verification = []
        for suite in sorted({SERVERS[s][0] for s in self.servers}):  # libpass stands in for doveadm, cheaply
            for hashes in HASHES:
                cost = MINIMUM_ROUNDS * (2 if hashes == "shipped" else 1)
                digest = sha512_crypt.using(rounds=cost).hash("pw")
                samples = []
                for _ in range(3):
                    started = time.perf_counter()
                    sha512_crypt.verify("pw", digest)
                    samples.append((time.perf_counter() - started) * 1000)
                self.verification.append({"suite": suite, "hashes": hashes, "rounds": cost,
                                          "verify_ms": median(samples), "samples_ms": samples})

    def stop(self):
        for controller in self.controllers.values():
            controller.stop()

    def clear(self, server):
        with self.lock:
            self.count["stock" if server == "stock" else "server"] = 0

    def delivered(self, server):
        with self.lock:
            return self.count["stock" if server == "stock" else "server"]

    def loadgen(self, server, port, hashes, args):
        argv = [sys.executable, LOADGEN, "--host", "127.0.0.1", "--port", str(self.controllers[port].port)]
        argv += ["--mode", PORTS[port]]
        argv += ["--rcpt", STOCK_RCPT] if server == "stock" else [
            "--cafile", self.ca_file, "--server-name", host_name("smoke"), "--users-file",
            os.path.join(self.workdir, f"users-{hashes}")]
        proc = subprocess.run([*argv, *args], capture_output=True, text=True, timeout=300, check=False)  # noqa: S603
        if proc.returncode != 0:
            raise BenchError(f"load generator failed: {proc.stderr[-1000:]}")
        return json.loads(proc.stdout)


def measure(options, lab, log):
    measurements = []
    steps = plan(options)
    for index, (rep, server, kind, port, hashes) in enumerate(steps, 1):
        lab.clear(server)
        window = (["--sessions", str(SMOKE_SESSIONS), "--timeout", str(SMOKE_TIMEOUT_S)] if options.smoke
                  else ["--duration", str(options.duration), "--warmup", str(options.warmup)])
        result = lab.loadgen(server, port, hashes, ["--concurrency", str(CONCURRENCY), *window,
                                                    *loadgen_args(kind, options.batch)])
        m = {k: v for k, v in result.items() if k not in ("auth_ms", "total_ms")}  # every latency: too many to keep
        m.update(repetition=rep, server=server, kind=kind, port=port, hashes=hashes, delivered=lab.delivered(server),
                 auth_p50_ms=percentile(result["auth_ms"], 50), auth_p95_ms=percentile(result["auth_ms"], 95),
                 total_p50_ms=percentile(result["total_ms"], 50), total_p95_ms=percentile(result["total_ms"], 95))
        measurements.append(m)
        log(f"[{index}/{len(steps)}] {rep} {server} {kind} {port} {hashes}: {rate_of(m):.1f} "
            f"{'AUTH' if kind == 'auth' else 'msg'}/s, errors {m['sessions_failed']}, "
            f"delivered {m['delivered']}/{m['accepted_total']}")
    return measurements


def server_list(text):
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in SERVERS]
    if unknown or not names:
        raise ValueError(f"unknown server {', '.join(unknown)}; choose from {', '.join(SERVERS)}")
    return names


def main(argv=None):
    p = benchlib.parser("Authenticated submission with each user store on Debian 12 and 13, against stock Postfix "
                        "and the password hash's bound.",
                        f"no container: the load generator against aiosmtpd on 127.0.0.1, {SMOKE_SESSIONS} sessions "
                        "per connection and point")
    p.add_argument("--duration", type=float, help="seconds measured per point (default 10)")
    p.add_argument("--warmup", type=float, help="seconds of load before each measured window (default 2)")
    p.add_argument("--batch", type=benchlib.positive_int, default=BATCH,
                   help=f"messages per connection in the satellite's case (default {BATCH})")
    p.add_argument("--servers", type=server_list,
                   help=f"comma-separated servers to measure (default: {','.join(SERVERS)}; "
                        f"--smoke: {','.join(SMOKE_SERVERS)})")
    p.add_argument("--log-dir", help="where to keep the converge logs (default: smtp-logs/ next to --json)")
    options = benchlib.parse(p, argv)
    if options.smoke and (options.duration is not None or options.warmup is not None):
        p.error(f"--smoke counts {SMOKE_SESSIONS} sessions per connection, not seconds: leave out --duration "
                "and --warmup")
    if not options.smoke:
        options.duration = options.duration or 10.0
        options.warmup = options.warmup if options.warmup is not None else 2.0
    options.servers = options.servers or (SMOKE_SERVERS if options.smoke else list(SERVERS))
    run = benchlib.Run("smtp_bench", options)
    workdir = tempfile.mkdtemp(prefix="smtp-bench-", dir=options.workdir)
    cores = len(os.sched_getaffinity(0))
    try:
        if options.smoke:
            lab = SmokeLab(workdir, options.servers)
            try:
                lab.start()
                measurements = measure(options, lab, run.log)
            finally:
                lab.stop()
        else:
            log_dir = benchlib.log_dir(options, "smtp-logs")
            with benchlib.collection(copy=True) as collections, benchlib.Podman("smtp", run.log) as podman:
                lab = Lab(podman, run, workdir, log_dir, collections, options.servers)
                lab.start()
                measurements = measure(options, lab, run.log)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    rows = summarize(measurements)
    entries = bounds(measurements, lab.verification, cores)
    notes = [
        "The AUTH rate limit (authsmtp_auth_rate_limit, 20 per client and minute) is 0 on the benchmark servers: "
        "the single client address would otherwise get 450 4.7.1 within a second.",
        "The cheap users exist for the measurement only: they price a session with the hash nearly free. A site "
        "keeps the module's default cost.",
        "Client, servers, database and Ansible share the machine's cores; the load generator's own CPU time is in "
        "each measurement (client_cpu_s), and so in the limit.",
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
        method={"servers": {s: SERVERS[s] for s in options.servers}, "ports": PORTS, "hashes": HASHES,
                "kinds": {k: v.format(batch=options.batch) for k, v in KINDS.items()}, "batch": options.batch,
                "repeat": options.repeat, "duration_s": options.duration, "warmup_s": options.warmup,
                "smoke_sessions": SMOKE_SESSIONS if options.smoke else None,
                "concurrency": CONCURRENCY, "cores": cores, "guest": lab.guest, "converges": lab.converges,
                "verification": lab.verification, "bounds": entries},
        notes=notes, summary=rows, measurements=measurements,
        targets=evaluate_targets(rows, entries, options.servers), checks=evaluate_checks(measurements),
    )
    return run.finish(report)


if __name__ == "__main__":
    benchlib.run_main("smtp_bench", main)

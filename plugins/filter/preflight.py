"""Filters that check the collection's inputs on the controller, before any
host is touched. Each returns a list of problems, every one naming the
variable and saying how to fix it; an empty list means the input is fine."""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Mapping
from pathlib import Path

from ansible.errors import AnsibleFilterError

try:
    import yaml
except ImportError:  # pragma: no cover - ansible-core depends on PyYAML
    yaml = None

try:
    from ansible_collections.mailops.authsmtp.plugins.module_utils.passwd_file import (
        PasswdFileError,
        normalize_login,
        validate_users,
    )
except ImportError:  # pragma: no cover - only when loaded outside the collection
    PasswdFileError = None

# Variables the roles set for each other as facts, not user inputs.
_FACTS = {"authsmtp_tls_chain_files", "authsmtp_tls_changed"}
# The key that marks a satellite's account among authsmtp_users (the modules
# and templates never see it: they keep the keys they know).
_SATELLITE = "_satellite"
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+([a-z]{2,63}|xn--[a-z0-9-]{1,59})$")


def known_variables():
    """Every public variable some role of this collection declares."""
    root = Path(__file__).resolve().parents[2]
    names = set()
    # Every playbook's work is a role's (client_config, check_certs too), so
    # the roles' specs name every variable an inventory may hold.
    for spec_file in root.glob("roles/*/meta/argument_specs.yml"):
        specs = yaml.safe_load(spec_file.read_text()) or {}
        for entry in (specs.get("argument_specs") or {}).values():
            names.update((entry.get("options") or {}).keys())
    return names


def authsmtp_unknown_variables(names):
    """Names with the authsmtp_ prefix that no role knows: typos, mostly."""
    known = known_variables()
    problems = []
    for name in sorted(set(names)):
        if not name.startswith("authsmtp_") or name in known or name in _FACTS:
            continue
        guess = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
        hint = f"did you mean {guess[0]}?" if guess else "see the variable tables in the README"
        problems.append(f"{name} is not a variable of mailops.authsmtp ({hint})")
    return problems


def authsmtp_host_name_problems(hostname, extra_names=()):
    """The host name, and the extra names its certificate covers (which may
    be wildcards)."""
    problems = []
    if not isinstance(hostname, str) or not _DOMAIN.match(hostname):
        problems.append(
            f"authsmtp_hostname must be the host's fully qualified name in lower case, "
            f"such as mx1.example.org; got {hostname!r}"
        )
    bad = [n for n in extra_names if not isinstance(n, str) or not _DOMAIN.match(n.removeprefix("*."))]
    if bad:
        problems.append(f"authsmtp_tls_extra_names must be DNS names in lower case; got {', '.join(map(str, bad))}")
    return problems


def authsmtp_domain_problems(domains, hostname):
    problems = authsmtp_host_name_problems(hostname)
    if not isinstance(domains, list) or not domains:
        problems.append("authsmtp_domains must list at least one mail domain, such as [example.org]")
        return problems
    for index, domain in enumerate(domains):
        if not isinstance(domain, str) or not _DOMAIN.match(domain):
            problems.append(f"authsmtp_domains[{index}]: {domain!r} is not a domain name in lower case")
        elif domain == hostname:
            problems.append(
                f"authsmtp_domains[{index}]: {domain} is authsmtp_hostname itself, which Postfix keeps for "
                "system accounts; use the mail domain (for example the parent domain) instead"
            )
    if len(set(domains)) != len(domains):
        problems.append("authsmtp_domains lists a domain twice")
    return problems


def authsmtp_user_problems(users, domains=None, allow_foreign_send_as=False, scheme="SHA512-CRYPT"):
    """Problems with authsmtp_users: the checks of the sasl_user module (run
    here so that they stop the play before any host changes), plus, when
    `domains` is given, that send_as addresses are in a served domain."""
    if PasswdFileError is None:
        raise AnsibleFilterError("authsmtp_user_problems needs the collection's module_utils")
    if not isinstance(users, list):
        return ["authsmtp_users must be a list of users ({name: ..., password: ...})"]
    problems = []
    cleaned = []
    labels = []  # where each entry of `cleaned` is declared
    for index, user in enumerate(users):
        # A satellite's account (authsmtp_relay_accounts) is named by where it
        # is declared: the satellite's own authsmtp_relay_account.
        where = f"authsmtp_users[{index}]"
        if isinstance(user, dict) and _SATELLITE in user:
            where = f"authsmtp_relay_account of {user[_SATELLITE]}"
        if not isinstance(user, dict):
            problems.append(f"{where} must be a dict with at least name and password")
            continue
        unknown = sorted(set(user) - {"name", "password", "password_hash", "scheme", "state", "send_as",
                                      "sending_limits", _SATELLITE})
        if unknown:
            problems.append(
                f"{where} has unknown key(s) {', '.join(unknown)}; "
                "allowed: name, password, password_hash, scheme, send_as, sending_limits, state"
            )
        cleaned.append({k: v for k, v in user.items() if k not in ("send_as", "sending_limits", _SATELLITE)})
        labels.append(where)
        send_as = user.get("send_as", [])
        if not isinstance(send_as, list):
            problems.append(f"{where}.send_as must be a list of addresses")
            continue
        for position, address in enumerate(send_as):
            label = f"{where}.send_as[{position}]"
            try:
                address = normalize_login(address, label)
            except PasswdFileError as err:
                problems.append(str(err))
                continue
            if domains is not None and address.split("@", 1)[1] not in domains and not allow_foreign_send_as:
                problems.append(
                    f"{label}: {address} is not in authsmtp_domains; mail from it would fail the other "
                    "domain's SPF/DMARC. Add the domain to authsmtp_domains, or set "
                    "authsmtp_allow_foreign_send_as: true if this server may send for it"
                )
    try:
        validate_users(cleaned, scheme)
    except PasswdFileError as err:
        problems.append(re.sub(r"\busers\[(\d+)\]", lambda m: labels[int(m.group(1))], str(err)))
    return problems


def authsmtp_relay_accounts(hosts, hostvars):
    """The accounts of the satellites `hosts` (the hosts of the group
    authsmtp_satellites_group), each declared once in its satellite's own
    authsmtp_relay_account, for the servers to add to authsmtp_users. Each
    carries the satellite's name under a private key, so that a problem
    with it names where it is declared."""
    accounts = []
    for host in hosts or []:
        account = hostvars[host].get("authsmtp_relay_account")
        if not isinstance(account, Mapping) or not account.get("name"):
            raise AnsibleFilterError(
                f"{host} is a satellite but has no authsmtp_relay_account: declare its account in its own "
                "inventory ({name: app1@example.org, password: ..., send_as: [...]}) or take it out of the "
                "satellites' group"
            )
        accounts.append({**dict(account), _SATELLITE: host})
    return accounts


def authsmtp_network_problems(networks, allow_open_relay=False, variable="authsmtp_mynetworks"):
    """Networks in CIDR form. For authsmtp_mynetworks, whose entries may relay
    without authentication, also refuse the ones that would make this host an
    open relay (pass allow_open_relay=True for lists where width is harmless)."""
    if not isinstance(networks, list):
        return [f"{variable} must be a list of networks such as ['192.0.2.0/24']"]
    problems = []
    for index, value in enumerate(networks):
        try:
            network = ipaddress.ip_network(str(value).strip("[]").replace("]/", "/"), strict=False)
        except ValueError:
            problems.append(
                f"{variable}[{index}]: {value!r} is not an address or a network in CIDR form (192.0.2.0/24)"
            )
            continue
        widest = 8 if network.version == 4 else 16
        if network.prefixlen < widest and not allow_open_relay:
            problems.append(
                f"{variable}[{index}]: {value} lets {network.num_addresses:.3g} addresses relay without "
                f"logging in, which makes this host an open relay. Narrow it, or set "
                f"authsmtp_allow_open_relay_networks: true if you really mean it"
            )
    return problems


def _where(user, index):
    if isinstance(user, Mapping) and _SATELLITE in user:
        return f"authsmtp_relay_account of {user[_SATELLITE]}"
    return f"authsmtp_users[{index}]"


def authsmtp_sending_limit_problems(users, site, recipient_cap=0):
    """Problems with the per-login sending limits: `site` is the site's
    {window, messages, recipients} (authsmtp_sending_limit_*), `users` the
    users, each with optional sending_limits {messages, recipients}.

    Every recipient limit must be at least `recipient_cap` (the recipients
    one message may have on the submission ports): postfwd keeps a first
    message that alone exceeds the limit in its count, and would refuse the
    login's every message until the window ends."""
    problems = []
    for key in ("window", "messages", "recipients"):
        value = site.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            problems.append(f"authsmtp_sending_limit_{key} is {value!r}: use a whole number of at least 1")
    cap = recipient_cap if isinstance(recipient_cap, int) and recipient_cap > 0 else 1000

    def check_recipients(value, label):
        if isinstance(value, int) and not isinstance(value, bool) and 1 <= value < cap:
            problems.append(
                f"{label} is {value}, below the {cap} recipients one message may have "
                "(authsmtp_submission_recipient_limit): one message could use up the window. Raise it to at "
                f"least {cap}, or lower authsmtp_submission_recipient_limit"
            )

    check_recipients(site.get("recipients"), "authsmtp_sending_limit_recipients")
    for index, user in enumerate(users if isinstance(users, list) else []):
        if not isinstance(user, Mapping) or "sending_limits" not in user:
            continue
        where = f"{_where(user, index)}.sending_limits"
        limits = user["sending_limits"]
        if not isinstance(limits, Mapping) or not limits or set(limits) - {"messages", "recipients"}:
            problems.append(f"{where} must be a dict with messages, recipients or both, such as "
                            "{messages: 1000, recipients: 5000}")
            continue
        for key, value in limits.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problems.append(f"{where}.{key} is {value!r}: use a whole number of at least 1")
        check_recipients(limits.get("recipients"), f"{where}.recipients")
    return problems


_SELECTOR = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def authsmtp_dkim_selector_problems(selector, standby=()):
    """The DKIM selectors: authsmtp_dkim_selector (the one that signs) and
    authsmtp_dkim_standby_selectors (kept for a rotation). Each must be one
    DNS label in lower case, which also keeps it out of the key's file name
    (<domain>.<selector>.key) as a separator; none may repeat."""
    problems = []
    if not isinstance(selector, str) or not _SELECTOR.match(selector):
        problems.append(
            f"authsmtp_dkim_selector is {selector!r}: use one DNS label in lower case (letters, digits and '-', "
            "not at either end, at most 63), such as mx1-k2"
        )
    if not isinstance(standby, list):
        problems.append(
            f"authsmtp_dkim_standby_selectors must be a list of selectors, such as [mx1-k2]; got {standby!r}"
        )
        return problems
    seen = set()
    for index, name in enumerate(standby):
        where = f"authsmtp_dkim_standby_selectors[{index}]"
        if not isinstance(name, str) or not _SELECTOR.match(name):
            problems.append(f"{where} is {name!r}: use one DNS label in lower case, such as mx1-k2")
        elif name == selector:
            problems.append(
                f"{where} is {name}, the selector that signs (authsmtp_dkim_selector): list only the others"
            )
        elif name in seen:
            problems.append(f"{where}: {name} is listed twice")
        seen.add(name)
    return problems


# What libpq's connection strings (Dovecot 2.3's connect, Dovecot 2.4's
# parameters) would need quoted: refused instead, with the fix named.
_CONNINFO_UNSAFE = re.compile(r"[\s'\"\\]")


def authsmtp_user_store_problems(settings, password_variable):
    """The shared store's settings as one role reads them: ``settings`` has ``host``, ``ca_file``
    and ``password`` (of ``password_variable``); a key left out is not checked. Never echoes
    the password."""
    problems = []
    host = settings.get("host") or ""
    if "host" not in settings:
        pass
    elif not host:
        problems.append(
            "authsmtp_user_store_host is empty: set the name on the certificate of the PostgreSQL server, "
            "such as db.example.org"
        )
    elif not _DOMAIN.match(host):
        problems.append(
            f"authsmtp_user_store_host must be the host name on the store's certificate, in lower case; got {host!r}"
        )
    if "ca_file" in settings and not settings["ca_file"]:
        problems.append(
            "authsmtp_user_store_ca_file is empty: set the CA certificate (a file on the controller) that the "
            "store's certificate chains to, so that the servers verify it"
        )
    password = settings.get("password") or ""
    if "password" not in settings:
        pass
    elif not password:
        problems.append(f"{password_variable} is empty: set the password of its database role (in a vault)")
    elif _CONNINFO_UNSAFE.search(password) or len(password) < 16:
        problems.append(
            f"{password_variable} must be at least 16 characters without spaces, quotes or backslashes "
            "(connection strings would need them quoted); generate one, e.g. with `openssl rand -base64 32`"
        )
    return problems


class FilterModule:
    def filters(self):
        return {
            "authsmtp_unknown_variables": authsmtp_unknown_variables,
            "authsmtp_host_name_problems": authsmtp_host_name_problems,
            "authsmtp_domain_problems": authsmtp_domain_problems,
            "authsmtp_user_problems": authsmtp_user_problems,
            "authsmtp_sending_limit_problems": authsmtp_sending_limit_problems,
            "authsmtp_dkim_selector_problems": authsmtp_dkim_selector_problems,
            "authsmtp_network_problems": authsmtp_network_problems,
            "authsmtp_relay_accounts": authsmtp_relay_accounts,
            "authsmtp_user_store_problems": authsmtp_user_store_problems,
        }

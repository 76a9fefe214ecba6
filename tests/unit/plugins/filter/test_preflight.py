"""The controller-side input checks: each problem names the variable."""

import pytest
from ansible_collections.mailops.authsmtp.plugins.filter import preflight


def test_known_variables_come_from_the_argument_specs():
    known = preflight.known_variables()
    assert {"authsmtp_hostname", "authsmtp_domains", "authsmtp_users", "authsmtp_tls_source"} <= known
    # Variables of the verify role and of playbooks/client_config.yml may sit in the same inventory.
    assert {"authsmtp_verify_account", "authsmtp_client_incoming", "authsmtp_client_config_dir"} <= known


def test_misspelled_variable_gets_a_suggestion():
    problems = preflight.authsmtp_unknown_variables(["authsmtp_domians", "authsmtp_hostname", "other_var"])
    assert problems == ["authsmtp_domians is not a variable of mailops.authsmtp (did you mean authsmtp_domains?)"]


def test_unrelated_unknown_variable_points_at_the_docs():
    (problem,) = preflight.authsmtp_unknown_variables(["authsmtp_zzzzzzzz"])
    assert "see the variable tables" in problem


@pytest.mark.parametrize(
    ("domains", "hostname", "fragment"),
    [
        (["example.org"], "mx1", "authsmtp_hostname must be the host's fully qualified name"),
        (["example.org"], "MX1.example.org", "authsmtp_hostname"),
        ([], "mx1.example.org", "authsmtp_domains must list at least one"),
        ("example.org", "mx1.example.org", "authsmtp_domains must list at least one"),
        (["exa mple.org"], "mx1.example.org", "authsmtp_domains[0]"),
        (["mx1.example.org"], "mx1.example.org", "is authsmtp_hostname itself"),
        (["example.org", "example.org"], "mx1.example.org", "lists a domain twice"),
    ],
)
def test_domain_problems(domains, hostname, fragment):
    problems = preflight.authsmtp_domain_problems(domains, hostname)
    assert any(fragment in p for p in problems), problems


def test_good_domains_have_no_problem():
    assert preflight.authsmtp_domain_problems(["example.org", "xn--bcher-kva.example"], "mx1.example.org") == []


@pytest.mark.parametrize("network", ["0.0.0.0/0", "::/0", "10.0.0.0/7", "[2001:db8::]/8"])
def test_open_relay_networks_are_refused(network):
    (problem,) = preflight.authsmtp_network_problems([network])
    assert problem.startswith("authsmtp_mynetworks[0]") and "open relay" in problem
    assert preflight.authsmtp_network_problems([network], allow_open_relay=True) == []


@pytest.mark.parametrize("network", ["192.0.2.0/24", "10.0.0.0/8", "[2001:db8::]/32", "2001:db8::/48"])
def test_ordinary_networks_pass(network):
    assert preflight.authsmtp_network_problems([network]) == []


def test_invalid_network_is_named():
    (problem,) = preflight.authsmtp_network_problems(["10.0.0.0/33"])
    assert "authsmtp_mynetworks[0]" in problem and "CIDR" in problem


def test_other_lists_are_named_and_may_be_wide():
    assert preflight.authsmtp_network_problems(["0.0.0.0/0", "192.0.2.7"], True, "authsmtp_fail2ban_ignoreip") == []
    (problem,) = preflight.authsmtp_network_problems(["192.0.2.300"], True, "authsmtp_fail2ban_ignoreip")
    assert problem.startswith("authsmtp_fail2ban_ignoreip[0]: '192.0.2.300'")
    assert preflight.authsmtp_network_problems("10.0.0.1", True, "authsmtp_fail2ban_ignoreip") == [
        "authsmtp_fail2ban_ignoreip must be a list of networks such as ['192.0.2.0/24']"
    ]


USERS = [
    {"name": "alice@example.org", "password": "pw-alice", "send_as": ["sales@example.org"]},
    {"name": "bob@example.org", "password_hash": "{BLF-CRYPT}$2b$04$" + "a" * 53},
]


def test_good_users_have_no_problem():
    assert preflight.authsmtp_user_problems(USERS, ["example.org"]) == []


def test_foreign_send_as_needs_the_override():
    users = [{"name": "alice@example.org", "password": "x", "send_as": ["ceo@bank.example"]}]
    (problem,) = preflight.authsmtp_user_problems(users, ["example.org"])
    assert problem.startswith("authsmtp_users[0].send_as[0]") and "authsmtp_allow_foreign_send_as" in problem
    assert preflight.authsmtp_user_problems(users, ["example.org"], allow_foreign_send_as=True) == []


def test_without_domains_send_as_domains_are_not_judged():
    users = [{"name": "alice@example.org", "password": "x", "send_as": ["ceo@bank.example"]}]
    assert preflight.authsmtp_user_problems(users) == []


@pytest.mark.parametrize(
    ("users", "fragment"),
    [
        ([{"name": "alice@@example.org", "password": "x"}], "authsmtp_users[0].name"),
        ([{"name": "a@example.org", "password": "x"}, {"name": "A@example.org", "password": "y"}], "listed twice"),
        ([{"name": "a@example.org", "password": ""}], "authsmtp_users[0].password: empty password"),
        ([{"name": "a@example.org", "password_hash": "{SHA512-CRYPT}$6$x"}], "authsmtp_users[0].password_hash"),
        ([{"name": "a@example.org", "password": "x", "sendas": []}], "unknown key(s) sendas"),
        ([{"name": "a@example.org", "password": "x", "send_as": "b@example.org"}], "send_as must be a list"),
        (["a@example.org"], "must be a dict"),
        ("a@example.org", "must be a list"),
    ],
)
def test_user_problems_name_the_entry(users, fragment):
    problems = preflight.authsmtp_user_problems(users, ["example.org"])
    assert any(fragment in p for p in problems), problems


def test_problems_never_contain_the_secret():
    users = [{"name": "a@example.org", "password": "hunter2-secret", "password_hash": "{SHA512-CRYPT}$6$zz"}]
    problems = preflight.authsmtp_user_problems(users, ["example.org"])
    assert problems and not any("hunter2" in p or "$6$zz" in p for p in problems)


class _HostVars(dict):
    """hostvars as a filter sees it: host -> that host's variables."""


def test_satellite_accounts_are_read_from_each_satellite():
    hostvars = _HostVars(
        app1={"authsmtp_relay_account": {"name": "app1@example.org", "password": "x", "send_as": ["n@example.org"]}},
        app2={"authsmtp_relay_account": {"name": "app2@example.org", "password": "y"}},
    )
    accounts = preflight.authsmtp_relay_accounts(["app1", "app2"], hostvars)
    assert [a["name"] for a in accounts] == ["app1@example.org", "app2@example.org"]
    assert accounts[0]["_satellite"] == "app1"
    assert preflight.authsmtp_relay_accounts([], hostvars) == []


def test_a_satellite_without_an_account_is_named():
    with pytest.raises(preflight.AnsibleFilterError, match="app3 is a satellite but has no authsmtp_relay_account"):
        preflight.authsmtp_relay_accounts(["app3"], _HostVars(app3={}))


def test_a_problem_with_a_satellite_account_names_the_satellite():
    users = [
        {"name": "alice@example.org", "password": "a"},
        {"name": "alice@example.org", "password": "b", "_satellite": "app1"},
        {"name": "app2@example.org", "password": "c", "send_as": ["x@other.example"], "_satellite": "app2"},
    ]
    problems = preflight.authsmtp_user_problems(users, ["example.org"])
    assert any(p.startswith("authsmtp_relay_account of app2.send_as[0]: x@other.example") for p in problems), problems
    assert any(
        p.startswith("authsmtp_relay_account of app1.name") and "also authsmtp_users[0]" in p for p in problems
    ), problems


SITE = {"window": 3600, "messages": 200, "recipients": 1000}


def test_sending_limits_that_hold_pass():
    users = [{"name": "a@example.org"}, {"name": "b@example.org", "sending_limits": {"messages": 5, "recipients": 100}}]
    assert preflight.authsmtp_sending_limit_problems(users, SITE, 100) == []


@pytest.mark.parametrize(
    ("site", "users", "fragment"),
    [
        ({**SITE, "window": 0}, [], "authsmtp_sending_limit_window is 0"),
        ({**SITE, "messages": True}, [], "authsmtp_sending_limit_messages is True"),
        ({**SITE, "recipients": 50}, [], "authsmtp_sending_limit_recipients is 50, below the 100 recipients"),
        (SITE, [{"name": "a@x.org", "sending_limits": {"messages": -1}}], "[0].sending_limits.messages is -1"),
        (SITE, [{"name": "a@x.org", "sending_limits": {"recipients": 99}}], "[0].sending_limits.recipients is 99"),
        (SITE, [{"name": "a@x.org", "sending_limits": {"msgs": 5}}], "authsmtp_users[0].sending_limits must be a dict"),
        (SITE, [{"name": "a@x.org", "sending_limits": 5}], "authsmtp_users[0].sending_limits must be a dict"),
        (
            SITE,
            [{"name": "a@x.org", "sending_limits": {"recipients": 99}, "_satellite": "app1"}],
            "authsmtp_relay_account of app1.sending_limits.recipients is 99",
        ),
    ],
)
def test_sending_limit_problems_name_the_variable(site, users, fragment):
    problems = preflight.authsmtp_sending_limit_problems(users, site, 100)
    assert any(fragment in p for p in problems), problems


def test_without_a_recipient_cap_postfix_default_of_1000_counts():
    problems = preflight.authsmtp_sending_limit_problems([], {**SITE, "recipients": 999}, 0)
    assert "below the 1000 recipients" in problems[0]


def test_sending_limits_are_an_allowed_user_key():
    users = [{"name": "a@example.org", "password": "x-Secret-1", "sending_limits": {"messages": 5}}]
    assert preflight.authsmtp_user_problems(users, ["example.org"]) == []


def test_dkim_selectors_that_are_dns_labels_pass():
    assert preflight.authsmtp_dkim_selector_problems("mx1-k2", ["mx1-k1", "mx1-2027a"]) == []


@pytest.mark.parametrize(
    ("selector", "standby", "fragment"),
    [
        ("mx1.k2", [], "authsmtp_dkim_selector is 'mx1.k2': use one DNS label"),
        ("MX1", [], "authsmtp_dkim_selector is 'MX1'"),
        ("-k1", [], "authsmtp_dkim_selector is '-k1'"),
        ("k" * 64, [], "at most 63"),
        (None, [], "authsmtp_dkim_selector is None"),
        ("mx1-k2", "mx1-k1", "authsmtp_dkim_standby_selectors must be a list"),
        ("mx1-k2", ["mx1 k1"], "authsmtp_dkim_standby_selectors[0] is 'mx1 k1'"),
        ("mx1-k2", ["mx1-k2"], "authsmtp_dkim_standby_selectors[0] is mx1-k2, the selector that signs"),
        ("mx1-k2", ["mx1-k1", "mx1-k1"], "authsmtp_dkim_standby_selectors[1]: mx1-k1 is listed twice"),
    ],
)
def test_bad_dkim_selectors_are_named(selector, standby, fragment):
    problems = preflight.authsmtp_dkim_selector_problems(selector, standby)
    assert any(fragment in p for p in problems), problems


def test_user_store_settings_name_the_variable_and_never_the_password():
    problems = preflight.authsmtp_user_store_problems(
        {"host": "", "ca_file": "", "password": "short pw"}, "authsmtp_user_store_dovecot_password"
    )
    assert [p.split(" ")[0] for p in problems] == [
        "authsmtp_user_store_host",
        "authsmtp_user_store_ca_file",
        "authsmtp_user_store_dovecot_password",
    ]
    assert not any("short pw" in p for p in problems)


def test_user_store_settings_that_are_right_or_left_out_pass():
    good = {"host": "db.example.test", "ca_file": "/x/ca.crt", "password": "A" * 24}
    assert preflight.authsmtp_user_store_problems(good, "v") == []
    assert preflight.authsmtp_user_store_problems({"password": "B" * 16}, "v") == []
    assert preflight.authsmtp_user_store_problems({"host": "DB.example.test"}, "v")

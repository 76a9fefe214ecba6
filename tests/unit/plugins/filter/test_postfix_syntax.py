"""Postfix's main.cf and master.cf syntax, written by one filter for every role."""

import pytest
from ansible_collections.mailops.authsmtp.plugins.filter.postfix_syntax import postfix_option, postfix_value


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "yes"),
        (False, "no"),
        (25, "25"),
        ("", ""),
        ("texthash:/etc/postfix/x", "texthash:/etc/postfix/x"),
        # The layout main.cf has always had on the collection's hosts:
        # another one would rewrite every main.cf on upgrade.
        (["$myhostname", "localhost"], "    $myhostname,    localhost"),
        ([], ""),
    ],
)
def test_main_cf_values(value, text):
    assert postfix_value(value) == text


@pytest.mark.parametrize(
    ("value", "option"),
    [
        (True, "-o smtpd_sasl_auth_enable=yes"),
        ("encrypt", "-o smtpd_sasl_auth_enable=encrypt"),
        (["permit_sasl_authenticated", "reject"], "-o smtpd_sasl_auth_enable=permit_sasl_authenticated,reject"),
        ("static:{530 5.7.0 Authentication required}",
         "-o { smtpd_sasl_auth_enable = static:{530 5.7.0 Authentication required} }"),
        ("", "-o smtpd_sasl_auth_enable="),
    ],
)
def test_master_cf_options(value, option):
    assert postfix_option(value, "smtpd_sasl_auth_enable") == option

#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: smtp_probe
short_description: Probe an SMTP server's greeting, TLS, certificate and AUTH, and send a test message
description:
  - Connects to an SMTP server like a mail client would and reports what it sees, as structured data
    that can be asserted with O(expect) or in later tasks.
  - "It reports: the greeting (banner); the EHLO extensions before and after TLS; the TLS version and cipher;
    the server certificate's subject, names, issuer, validity and SHA-256 fingerprint; whether that certificate
    verifies for O(server_name); the AUTH mechanisms offered."
  - With O(user) and O(password), it logs in with C(AUTH PLAIN) (C(AUTH LOGIN) if the server offers LOGIN but not
    PLAIN) and reports the server's reply. A refused login does not fail the module; use O(expect.auth_code).
  - With O(send), it sends a test message and reports the reply to C(MAIL FROM), to each C(RCPT TO) and to
    C(DATA). Refusals do not fail the module either; use O(expect.mail_code), O(expect.rcpt_code) and
    O(expect.data_code).
  - The certificate is always reported, also when it does not verify. The first connection verifies the
    certificate during the TLS handshake; if that fails because of the certificate, the module connects a second
    time without verification to read it. Then, with O(validate_certs=true), the module fails with
    RV(error=certificate_verify_failed) (and still returns the certificate's facts); with
    O(validate_certs=false) it reports RV(certificate.verified=false) and carries on.
  - Every failure returns a machine-readable RV(error) code next to the message, and everything learnt until
    then.
  - The password is never part of a result or a message.
attributes:
  check_mode:
    support: full
    details:
      - In check mode the module connects, inspects TLS and the certificate, and logs in if credentials are
        given. With O(send) it sends C(MAIL FROM) and C(RCPT TO), so their replies are reported, and then
        C(RSET) instead of C(DATA); no message is ever sent in check mode. RV(send.data_skipped) is then
        V(check mode), and O(expect.data_code) is not checked.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
options:
  host:
    description:
      - Name or IP address of the SMTP server to connect to.
    type: str
    required: true
  port: &port
    description:
      - TCP port to connect to.
      - Defaults to V(587) with O(mode=starttls), V(465) with O(mode=implicit) and V(25) with O(mode=plain).
    type: int
  mode:
    description:
      - V(starttls) connects in clear text, sends C(EHLO), upgrades the connection with C(STARTTLS) and sends
        C(EHLO) again; it fails with RV(error=starttls_not_offered) if the server does not offer STARTTLS.
      - V(implicit) starts TLS right after connecting (SMTPS, RFC 8314), before the greeting.
      - V(plain) never uses TLS. O(user) and O(password) are refused in this mode, so a password never crosses the
        network in clear text.
    type: str
    choices: [starttls, implicit, plain]
    default: starttls
  ehlo_name: &ehlo_name
    description:
      - Name the probe announces with C(EHLO).
      - Defaults to the fully qualified name of the host that runs the module, or V(localhost) if it has none.
    type: str
  server_name: &server_name
    description:
      - Name the certificate must be valid for. It is also sent as SNI (unless it is an IP address).
      - Defaults to O(host).
    type: str
  ca_file:
    description:
      - File with the PEM CA certificates that the server certificate is verified against, instead of the
        system's trust store.
    type: path
  validate_certs:
    description:
      - If V(true), fail with RV(error=certificate_verify_failed) when the certificate does not verify for
        O(server_name), before logging in or sending anything.
      - If V(false), report RV(certificate.verified=false) and the reason in RV(certificate.verify_error), and
        carry on.
    type: bool
    default: true
  tls_min_version: &tls_min_version
    description:
      - Lowest TLS version the probe offers. By default that of the system's OpenSSL configuration.
    type: str
    choices: [TLSv1.2, TLSv1.3]
  tls_max_version: &tls_max_version
    description:
      - Highest TLS version the probe offers, for example V(TLSv1.2) to check that a server refuses it
        (the probe then fails with RV(error=tls_handshake_failed)).
    type: str
    choices: [TLSv1.2, TLSv1.3]
  timeout:
    description:
      - Seconds to wait for the connection, for the TLS handshake and for each reply of the server.
    type: float
    default: 10
  user: &user
    description:
      - Login name for SMTP AUTH. Requires O(password).
    type: str
  password: &password
    description:
      - Password for SMTP AUTH. Requires O(user).
    type: str
  send: &send
    description:
      - Send a test message after the login (if any).
      - The message is sent to the recipients the server accepts; C(DATA) is skipped if it accepts none.
    type: dict
    suboptions:
      mail_from:
        description:
          - Envelope sender (C(MAIL FROM)), a bare address without C(<>). An empty string sends the null sender
            C(<>).
          - Also the C(From) header, or C(smtp_probe@)O(ehlo_name) for the null sender.
        type: str
        required: true
      rcpt_to:
        description:
          - Envelope recipients (one C(RCPT TO) each), bare addresses. Also the C(To) header.
        type: list
        elements: str
        required: true
      subject:
        description:
          - Subject of the test message.
        type: str
        default: smtp_probe test message
      body:
        description:
          - Text of the test message.
        type: str
        default: This is a test message sent by the mailops.authsmtp.smtp_probe Ansible module.
  expect: &expect
    description:
      - "Assertions on the results. The module fails with RV(error=expectation_failed) if any of them does not hold,
        with a message listing every mismatch as C(key: expected X, got Y), for example
        C(auth_code: expected 235, got 535) followed by the server's text in parentheses. The full result is returned
        all the same, with the mismatches in RV(mismatches)."
      - Expectations on a result that does not exist (for example O(expect.auth_code) without credentials, or
        O(expect.tls_version) in plain mode) are mismatches too.
    type: dict
    suboptions:
      banner_code:
        description: Reply code of the greeting.
        type: int
      banner_contains:
        description: Text that the greeting must contain (case-sensitive).
        type: str
      ehlo_has:
        description:
          - EHLO keywords (such as V(AUTH), V(PIPELINING), V(SMTPUTF8)) that the last EHLO reply must contain,
            that is the one after TLS if TLS was used. Case-insensitive.
        type: list
        elements: str
      ehlo_lacks:
        description: EHLO keywords that the last EHLO reply must not contain.
        type: list
        elements: str
      ehlo_before_tls_has:
        description: EHLO keywords that the EHLO reply before STARTTLS must contain (not in implicit mode).
        type: list
        elements: str
      ehlo_before_tls_lacks:
        description:
          - EHLO keywords that the EHLO reply before STARTTLS must not contain, for example V(AUTH) on a
            submission port that only allows AUTH over TLS.
        type: list
        elements: str
      tls_version:
        description: The TLS version (such as V(TLSv1.3)), or a list of acceptable versions.
        type: list
        elements: str
      tls_cipher:
        description: The cipher (OpenSSL name, such as V(TLS_AES_256_GCM_SHA384)), or a list of acceptable ones.
        type: list
        elements: str
      cert_verified:
        description: Whether the certificate verifies for O(server_name).
        type: bool
      cert_names_include:
        description: Names that must all be among the certificate's subject alternative names. Case-insensitive.
        type: list
        elements: str
      cert_subject_contains:
        description: Text that the certificate's subject (RFC 4514 string such as C(CN=mail.example.com)) must contain.
        type: str
      cert_issuer_contains:
        description: Text that the certificate's issuer (RFC 4514 string) must contain.
        type: str
      cert_fingerprint:
        description: SHA-256 fingerprint of the certificate, hexadecimal with or without colons, any case.
        type: str
      cert_days_left_min:
        description: Minimum number of whole days until the certificate expires.
        type: int
      auth_mechanisms:
        description: The exact set of AUTH mechanisms offered in the last EHLO reply (order and case do not matter).
        type: list
        elements: str
      auth_code:
        description: Reply code of the login, for example V(235) (success) or V(535) (refused).
        type: int
      auth_text_contains:
        description: Text that the reply to the login must contain.
        type: str
      mail_code:
        description: Reply code to C(MAIL FROM).
        type: int
      rcpt_code:
        description:
          - Reply code to C(RCPT TO) for every recipient, or a list with one code per recipient of
            O(send.rcpt_to), in order.
        type: raw
      data_code:
        description:
          - Final reply code of C(DATA), for example V(250). Not checked in check mode.
        type: int
  probes:
    description:
      - Several probes of O(host) in one run of the module, one after the other, each a dictionary of the options
        below. An option a probe leaves out is taken from the top level (O(host), O(ca_file), O(validate_certs)
        and O(timeout) always are).
      - Every probe runs, whatever the others found. The result is then RV(probes), one result per probe in
        order, each as a single probe returns it (with its own RV(error), RV(mismatches) and C(msg) when it
        failed); the module fails if any of them failed, with a message naming each by its position.
      - One run saves the start of the module for each probe, which is most of the time of a quick probe.
    type: list
    elements: dict
    suboptions:
      port: *port
      mode:
        description:
          - Like the top-level O(mode), which it defaults to.
        type: str
        choices: [starttls, implicit, plain]
      ehlo_name: *ehlo_name
      server_name: *server_name
      tls_min_version: *tls_min_version
      tls_max_version: *tls_max_version
      user: *user
      password: *password
      send: *send
      expect: *expect
requirements:
  - cryptography (Debian package C(python3-cryptography)), in modes V(starttls) and V(implicit)
notes:
  - C(changed) is V(true) only when a test message was actually sent (its C(DATA) was accepted); a probe
    changes nothing otherwise.
  - The AUTH exchange sends the password to the server that answered. With O(validate_certs=false) that server
    is not authenticated; prefer O(ca_file) for test certificates.
  - A name that does not resolve, a refused connection, a timeout, a failed TLS handshake, a certificate that
    does not verify and a server that refuses the greeting, C(EHLO) or C(STARTTLS) fail the module, each with
    its own RV(error) code.
seealso:
  - name: RFC 5321
    description: Simple Mail Transfer Protocol.
    link: https://www.rfc-editor.org/rfc/rfc5321
  - name: RFC 3207
    description: SMTP Service Extension for Secure SMTP over Transport Layer Security (STARTTLS).
    link: https://www.rfc-editor.org/rfc/rfc3207
  - name: RFC 8314
    description: Cleartext Considered Obsolete (implicit TLS for submission).
    link: https://www.rfc-editor.org/rfc/rfc8314
  - name: RFC 4954
    description: SMTP Service Extension for Authentication.
    link: https://www.rfc-editor.org/rfc/rfc4954
author:
  - mailops.authsmtp maintainers (@mailops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Submission port offers AUTH only after STARTTLS, with a trusted certificate
  mailops.authsmtp.smtp_probe:
    host: mail.example.com
    mode: starttls
    expect:
      ehlo_before_tls_has: [STARTTLS]
      ehlo_before_tls_lacks: [AUTH]
      auth_mechanisms: [PLAIN, LOGIN]
      tls_version: [TLSv1.2, TLSv1.3]
      cert_verified: true
      cert_names_include: [mail.example.com]
      cert_days_left_min: 14

- name: Log in on port 465 and send a test message
  mailops.authsmtp.smtp_probe:
    host: mail.example.com
    mode: implicit
    user: alice@example.com
    password: "{{ vault_smtp_password_alice }}"
    send:
      mail_from: alice@example.com
      rcpt_to: [postmaster@example.com]
      subject: "Probe from {{ inventory_hostname }}"
    expect:
      auth_code: 235
      mail_code: 250
      rcpt_code: 250
      data_code: 250

- name: A forged sender is refused after login
  mailops.authsmtp.smtp_probe:
    host: 192.0.2.25
    server_name: mail.example.com
    ca_file: /etc/ssl/example-ca.pem
    user: alice@example.com
    password: "{{ vault_smtp_password_alice }}"
    send:
      mail_from: bob@example.com
      rcpt_to: [someone@example.net]
    expect:
      mail_code: 553

- name: The server must refuse TLS 1.2
  mailops.authsmtp.smtp_probe:
    host: mail.example.com
    tls_max_version: TLSv1.2
  register: tls12
  failed_when: tls12.error | default('') != 'tls_handshake_failed'

- name: Read the certificate whatever it is, without failing
  mailops.authsmtp.smtp_probe:
    host: mail.example.com
    port: 25
    validate_certs: false
  register: mx

- name: Three probes in one run, each judged on its own
  mailops.authsmtp.smtp_probe:
    host: mail.example.com
    ca_file: /etc/ssl/example-ca.pem
    probes:
      - {mode: implicit, expect: {tls_version: [TLSv1.3]}}
      - {port: 587, user: alice@example.com, password: "{{ vault_smtp_password_alice }}", expect: {auth_code: 235}}
      - {port: 587, user: alice@example.com, password: not-her-password, expect: {auth_code: 535}}
  register: checks
  failed_when: false

- name: Show when it expires
  ansible.builtin.debug:
    msg: "{{ mx.certificate.not_after }} ({{ mx.certificate.days_left }} days), verified: {{ mx.certificate.verified }}"
"""

RETURN = r"""
error:
  description:
    - Why the probe failed, one of V(invalid_parameters), V(name_not_resolved), V(connection_refused),
      V(connection_failed) (another network error, such as an unreachable host), V(connection_closed) (the server
      hung up), V(timeout), V(tls_handshake_failed), V(certificate_verify_failed), V(starttls_not_offered),
      V(smtp_rejected) (the greeting, C(EHLO) or C(STARTTLS) was answered with an error code),
      V(smtp_protocol_error) (a reply that is not SMTP) or V(expectation_failed).
  returned: failure
  type: str
  sample: certificate_verify_failed
host:
  description: The host connected to.
  returned: always
  type: str
  sample: mail.example.com
port:
  description: The port connected to.
  returned: always
  type: int
  sample: 587
mode:
  description: The connection mode.
  returned: always
  type: str
  sample: starttls
server_name:
  description: The name the certificate was verified for.
  returned: always
  type: str
  sample: mail.example.com
ehlo_name:
  description: The name sent with C(EHLO).
  returned: always
  type: str
  sample: client.example.com
peer_address:
  description: The IP address connected to.
  returned: always; null if no connection was made
  type: str
  sample: 192.0.2.25
banner:
  description: The server's greeting, with its reply code and its text (lines joined with newlines).
  returned: always; null if no greeting was received
  type: dict
  contains:
    code:
      description: Reply code.
      type: int
    text:
      description: Reply text without the code.
      type: str
  sample: {code: 220, text: mail.example.com ESMTP Postfix (Debian/GNU)}
ehlo_before_tls:
  description:
    - The reply to the EHLO before STARTTLS (modes V(starttls) and V(plain)).
    - V(extensions) maps each keyword (upper case) to its parameters.
  returned: always; null in implicit mode or if not reached
  type: dict
  contains:
    code:
      description: Reply code.
      type: int
    text:
      description: Reply text without the codes, lines joined with newlines.
      type: str
    hostname:
      description: The name the server announced in the first line.
      type: str
    extensions:
      description: The EHLO keywords and their parameters.
      type: dict
  sample:
    code: 250
    text: "mail.example.com\nPIPELINING\nSIZE 10240000\nSTARTTLS\nENHANCEDSTATUSCODES\n8BITMIME"
    hostname: mail.example.com
    extensions: {PIPELINING: "", SIZE: "10240000", STARTTLS: "", ENHANCEDSTATUSCODES: "", 8BITMIME: ""}
ehlo_after_tls:
  description: The reply to the EHLO over TLS (modes V(starttls) and V(implicit)), like RV(ehlo_before_tls).
  returned: always; null in plain mode or if not reached
  type: dict
  sample:
    code: 250
    text: "mail.example.com\nPIPELINING\nSIZE 10240000\nAUTH PLAIN LOGIN\nENHANCEDSTATUSCODES\n8BITMIME"
    hostname: mail.example.com
    extensions: {PIPELINING: "", SIZE: "10240000", AUTH: PLAIN LOGIN, ENHANCEDSTATUSCODES: "", 8BITMIME: ""}
tls:
  description: The TLS session.
  returned: always; null in plain mode or if not reached
  type: dict
  contains:
    version:
      description: Protocol version.
      type: str
      sample: TLSv1.3
    cipher:
      description: Cipher suite (OpenSSL name).
      type: str
      sample: TLS_AES_256_GCM_SHA384
    bits:
      description: Secret bits of the cipher.
      type: int
      sample: 256
certificate:
  description: The server's certificate.
  returned: always; null in plain mode or if not reached
  type: dict
  contains:
    subject:
      description: Subject, as an RFC 4514 string.
      type: str
      sample: CN=mail.example.com
    names:
      description: The subject alternative names, DNS names first, then IP addresses.
      type: list
      elements: str
      sample: [mail.example.com, smtp.example.com]
    issuer:
      description: Issuer, as an RFC 4514 string.
      type: str
      sample: CN=R11,O=Let's Encrypt,C=US
    serial:
      description: Serial number, upper-case hexadecimal.
      type: str
    not_before:
      description: Start of validity, ISO 8601 in UTC.
      type: str
      sample: "2025-01-01T00:00:00Z"
    not_after:
      description: End of validity (notAfter), ISO 8601 in UTC.
      type: str
      sample: "2025-03-31T23:59:59Z"
    days_left:
      description: Whole days until RV(certificate.not_after); negative once expired.
      type: int
      sample: 42
    fingerprint_sha256:
      description: SHA-256 fingerprint of the DER certificate, upper-case hexadecimal bytes separated by colons.
      type: str
      sample: "3B:7C:...:9F"
    verified:
      description: Whether the certificate verifies against O(ca_file) or the system's trust store, for O(server_name).
      type: bool
      sample: true
    verify_error:
      description: Why it does not verify; null if it does.
      type: str
      sample: "Hostname mismatch, certificate is not valid for 'mail.example.org'."
    parse_error:
      description: Set if the certificate could not be parsed; then only the fingerprint is reported.
      type: str
      returned: when the certificate cannot be parsed
auth_mechanisms:
  description: The AUTH mechanisms offered in the last EHLO reply, in the server's order.
  returned: always
  type: list
  elements: str
  sample: [PLAIN, LOGIN]
auth:
  description: The login.
  returned: always; null without O(user) or if not reached
  type: dict
  contains:
    user:
      description: The login name.
      type: str
    mechanism:
      description: V(PLAIN) or V(LOGIN).
      type: str
    code:
      description: Final reply code.
      type: int
    text:
      description: Final reply text.
      type: str
    success:
      description: Whether the code is 235.
      type: bool
  sample: {user: alice@example.com, mechanism: PLAIN, code: 235, text: 2.7.0 Authentication successful, success: true}
send:
  description: The test message's SMTP transaction.
  returned: always; null without O(send) or if not reached
  type: dict
  contains:
    mail:
      description: Reply to C(MAIL FROM), as C(code) and C(text).
      type: dict
    rcpt:
      description: One C(address), C(code) and C(text) per recipient; empty if C(MAIL FROM) was refused.
      type: list
      elements: dict
    data:
      description:
        - Final reply of C(DATA) (to the end of the message, or to the C(DATA) command if that was refused), as
          C(code) and C(text).
        - Null if C(DATA) was not sent.
      type: dict
    data_skipped:
      description:
        - Why C(DATA) was not sent, V(check mode), V(MAIL FROM was refused) or V(no recipient was accepted); null if
          it was sent. The transaction is then reset with C(RSET).
      type: str
    sent:
      description: Whether the server accepted the message.
      type: bool
  sample:
    mail: {code: 250, text: 2.1.0 Ok}
    rcpt:
      - {address: bob@example.com, code: 250, text: 2.1.5 Ok}
      - {address: nobody@example.com, code: 550, text: "5.1.1 <nobody@example.com>: Recipient address rejected"}
    data: {code: 250, text: "2.0.0 Ok: queued as 4Xyz1234"}
    data_skipped: null
    sent: true
mismatches:
  description: The failed expectations of O(expect), one readable line each.
  returned: always
  type: list
  elements: str
  sample: ["auth_code: expected 235, got 535 (5.7.8 Error: authentication failed)"]
probes:
  description:
    - With O(probes), one result per probe, in order, each with the keys above (and C(failed), and C(msg) when it
      failed). The module then returns no other key of its own but C(msg) when a probe failed.
  returned: with O(probes)
  type: list
  elements: dict
  sample:
    - {host: mail.example.com, port: 465, mode: implicit, mismatches: [], failed: false}
    - {host: mail.example.com, port: 587, mode: starttls, error: expectation_failed, failed: true,
       mismatches: ["auth_code: expected 235, got 535 (5.7.8 Error: authentication failed)"],
       msg: "1 expectation not met: auth_code: expected 235, got 535 (5.7.8 Error: authentication failed)"}
expect_skipped:
  description: Expectations that were not checked, and why (O(expect.data_code) in check mode).
  returned: always
  type: list
  elements: str
  sample: ["data_code: not checked in check mode, DATA is never sent"]
"""

# Ansible modules keep their documentation first, hence the late imports.
from ansible.module_utils.basic import AnsibleModule, missing_required_lib  # noqa: E402
from ansible_collections.mailops.authsmtp.plugins.module_utils.smtp_probe import (  # noqa: E402
    CRYPTOGRAPHY_IMPORT_ERROR,
    DEFAULT_BODY,
    DEFAULT_SUBJECT,
    DEFAULT_TIMEOUT,
    HAS_CRYPTOGRAPHY,
    MODES,
    TLS_VERSIONS,
    ProbeError,
    check_expectations,
    default_ehlo_name,
    default_port,
    probe,
)

# The options a probe of `probes` may set; the others are the run's.
PROBE_OPTIONS = (
    "port",
    "mode",
    "ehlo_name",
    "server_name",
    "tls_min_version",
    "tls_max_version",
    "user",
    "password",
    "send",
    "expect",
)


def argument_spec():
    send = dict(
        type="dict",
        options=dict(
            mail_from=dict(type="str", required=True),
            rcpt_to=dict(type="list", elements="str", required=True),
            subject=dict(type="str", default=DEFAULT_SUBJECT),
            body=dict(type="str", default=DEFAULT_BODY),
        ),
    )
    expect = dict(
        type="dict",
        options=dict(
            banner_code=dict(type="int"),
            banner_contains=dict(type="str"),
            ehlo_has=dict(type="list", elements="str"),
            ehlo_lacks=dict(type="list", elements="str"),
            ehlo_before_tls_has=dict(type="list", elements="str"),
            ehlo_before_tls_lacks=dict(type="list", elements="str"),
            tls_version=dict(type="list", elements="str"),
            tls_cipher=dict(type="list", elements="str"),
            cert_verified=dict(type="bool"),
            cert_names_include=dict(type="list", elements="str"),
            cert_subject_contains=dict(type="str"),
            cert_issuer_contains=dict(type="str"),
            cert_fingerprint=dict(type="str"),
            cert_days_left_min=dict(type="int"),
            auth_mechanisms=dict(type="list", elements="str"),
            auth_code=dict(type="int"),
            auth_text_contains=dict(type="str"),
            mail_code=dict(type="int"),
            rcpt_code=dict(type="raw"),
            data_code=dict(type="int"),
        ),
    )
    spec = dict(
        host=dict(type="str", required=True),
        port=dict(type="int"),
        mode=dict(type="str", default="starttls", choices=list(MODES)),
        ehlo_name=dict(type="str"),
        server_name=dict(type="str"),
        ca_file=dict(type="path"),
        validate_certs=dict(type="bool", default=True),
        tls_min_version=dict(type="str", choices=list(TLS_VERSIONS)),
        tls_max_version=dict(type="str", choices=list(TLS_VERSIONS)),
        timeout=dict(type="float", default=DEFAULT_TIMEOUT),
        user=dict(type="str"),
        password=dict(type="str", no_log=True),
        send=send,
        expect=expect,
    )
    probe_options = {name: dict(spec[name]) for name in PROBE_OPTIONS}
    # A probe's mode defaults to the run's, not to starttls.
    probe_options["mode"] = dict(type="str", choices=list(MODES))
    spec["probes"] = dict(type="list", elements="dict", options=probe_options, required_together=[("user", "password")])
    return spec


def run_probe(params, check_mode):
    """One probe: its result, with `failed` and, when it failed, `msg`."""
    params = dict(params, check_mode=check_mode)
    if params["mode"] != "plain" and not HAS_CRYPTOGRAPHY:
        return dict(
            failed=True,
            msg=missing_required_lib("cryptography", reason="to read the server certificate"),
            exception=CRYPTOGRAPHY_IMPORT_ERROR,
            error="invalid_parameters",
            changed=False,
            mismatches=[],
            expect_skipped=[],
        )
    if params["port"] is None:
        params["port"] = default_port(params["mode"])
    if params["server_name"] is None:
        params["server_name"] = params["host"]
    if params["ehlo_name"] is None:
        params["ehlo_name"] = default_ehlo_name()

    try:
        result = probe(params)
    except ProbeError as exc:
        return dict(
            exc.result, failed=True, msg=exc.msg, error=exc.error, changed=False, mismatches=[], expect_skipped=[]
        )

    mismatches, skipped = check_expectations(params["expect"], result, check_mode=check_mode)
    # A probe changes nothing, except when the server accepted a test message.
    changed = bool(result["send"] and result["send"]["sent"])
    result.update(changed=changed, mismatches=mismatches, expect_skipped=skipped, failed=bool(mismatches))
    if mismatches:
        count = f"{len(mismatches)} expectation{'s' if len(mismatches) > 1 else ''} not met"
        result.update(msg=f"{count}: " + "; ".join(mismatches), error="expectation_failed")
    return result


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        required_together=[("user", "password")],
        supports_check_mode=True,
    )
    if module.params["probes"] is None:
        params = {name: value for name, value in module.params.items() if name != "probes"}
        result = run_probe(params, module.check_mode)
        if result.pop("failed"):
            module.fail_json(**result)
        module.exit_json(**result)

    results = []
    for options in module.params["probes"]:
        params = {name: value for name, value in module.params.items() if name != "probes"}
        params.update({name: value for name, value in options.items() if value is not None})
        results.append(run_probe(params, module.check_mode))
    changed = any(result["changed"] for result in results)
    failed = [f"#{index + 1} ({result['msg']})" for index, result in enumerate(results) if result["failed"]]
    if failed:
        module.fail_json(
            msg=f"{len(failed)} of {len(results)} probes failed: " + "; ".join(failed), probes=results, changed=changed
        )
    module.exit_json(probes=results, changed=changed)


if __name__ == "__main__":
    main()

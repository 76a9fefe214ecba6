# SPDX-License-Identifier: GPL-3.0-or-later
"""Probe an SMTP server: greeting, EHLO, TLS, certificate, AUTH and a test message.

Everything here is plain Python (standard library plus ``cryptography`` for
reading certificates) that raises ProbeError, so the
mailops.authsmtp.smtp_probe module stays small and the logic is unit-testable
without AnsibleModule.

The SMTP client is a small one of its own rather than smtplib: the probe must
control the TLS handshake (the name it checks and sends as SNI, the context
it uses) and report every reply exactly as the server sent it. The Molecule
scenarios' scripted sessions (molecule/resources/library/smtp_session.py) use
the same SmtpClient, so the tests and the probe speak SMTP one way.

Certificates: the first session verifies the certificate during the
handshake (CERT_REQUIRED and check_hostname, against ``ca_file`` or the
system's trust store). If that fails because of the certificate, the probe
opens a second session without verification, so the facts of the
certificate are reported all the same, together with ``verified: false`` and
the verification error.

Secrets policy: the password is only ever written to the socket. It never
goes into a result, an error message or an exception text; as a second line
of defence, every string of a result is scrubbed of the password and of its
base64 forms before it leaves this module.
"""

from __future__ import annotations

import base64
import datetime
import email.policy
import hashlib
import re
import socket
import ssl
import traceback
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

try:
    from cryptography import x509
except ImportError:
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None

MODES = ("starttls", "implicit", "plain")
DEFAULT_PORTS = {"starttls": 587, "implicit": 465, "plain": 25}
DEFAULT_TIMEOUT = 10.0
DEFAULT_SUBJECT = "smtp_probe test message"
DEFAULT_BODY = "This is a test message sent by the mailops.authsmtp.smtp_probe Ansible module."
TLS_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}

# Machine-readable error codes, returned as ``error`` by a failed probe.
ERRORS = (
    "invalid_parameters",
    "name_not_resolved",
    "connection_refused",
    "connection_failed",
    "connection_closed",
    "timeout",
    "tls_handshake_failed",
    "certificate_verify_failed",
    "starttls_not_offered",
    "smtp_rejected",
    "smtp_protocol_error",
    "expectation_failed",
)

# RFC 5321 allows 512 octets per reply line; be generous, but bounded.
MAX_LINE = 8192
MAX_REPLY_LINES = 1000

# The module may run on a managed host's Python older than the controller's:
# datetime.UTC needs 3.11, and socket.timeout is TimeoutError only since 3.10.
UTC = datetime.timezone.utc  # noqa: UP017
TIMEOUTS = (TimeoutError, socket.timeout)  # noqa: UP041
REPLY_LINE = re.compile(r"([2-5][0-9][0-9])(?:([ -])(.*))?")
MASK = "********"


class ProbeError(Exception):
    """A probe that could not be completed. ``result`` holds what was learnt until then."""

    def __init__(self, error, msg, result=None):
        super().__init__(msg)
        self.error = error
        self.msg = msg
        self.result = result


class CertificateNotVerified(Exception):
    """SmtpClient.start_tls: the handshake failed because the certificate did not verify.

    ``verify_error`` is OpenSSL's reason, such as ``Hostname mismatch, certificate is not valid for 'x'.``
    """

    def __init__(self, verify_error):
        super().__init__(verify_error)
        self.verify_error = verify_error


# The name the probe has always used.
_CertNotVerified = CertificateNotVerified


def default_port(mode):
    return DEFAULT_PORTS[mode]


def default_ehlo_name():
    """The FQDN of the host running the probe, or ``localhost`` if it has no dotted name."""
    try:
        fqdn = socket.getfqdn()
    except OSError:
        fqdn = ""
    return fqdn if "." in fqdn and _is_safe_token(fqdn) else "localhost"


def _is_safe_token(value):
    return bool(value) and not any(c.isspace() or ord(c) < 32 or c == "\x7f" for c in value)


def _reply(code, text):
    return {"code": code, "text": text}


def _describe(reply):
    """``535 (5.7.8 Error: authentication failed)`` for messages."""
    text = reply["text"].replace("\n", " / ")
    return f"{reply['code']} ({text})" if text else str(reply["code"])


# --------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------


def validate(params):
    """Check the options beyond what the argument spec can; raise ProbeError(invalid_parameters)."""
    problems = []
    port = params.get("port")
    if port is not None and not 1 <= port <= 65535:
        problems.append(f"port: {port} is not between 1 and 65535")
    if params["timeout"] <= 0:
        problems.append(f"timeout: must be greater than 0, got {params['timeout']}")
    if not params["host"].strip():
        problems.append("host: must not be empty")
    ehlo_name = params.get("ehlo_name")
    if ehlo_name is not None and not _is_safe_token(ehlo_name):
        problems.append(f"ehlo_name: {ehlo_name!r} must be a non-empty name without spaces or control characters")
    server_name = params.get("server_name")
    if server_name is not None and not _is_safe_token(server_name):
        problems.append(f"server_name: {server_name!r} must be a non-empty name without spaces")
    low, high = params.get("tls_min_version"), params.get("tls_max_version")
    if low and high and TLS_VERSIONS[low] > TLS_VERSIONS[high]:
        problems.append(f"tls_min_version {low} is higher than tls_max_version {high}")
    if params.get("user") is not None and params["mode"] == "plain":
        problems.append(
            "user/password: credentials are never sent over an unencrypted connection; use mode starttls or implicit"
        )
    if params.get("user") is not None and any(ord(c) < 32 for c in params["user"]):
        problems.append("user: must not contain control characters")
    send = params.get("send")
    if send is not None:
        addresses = [("send.mail_from", send["mail_from"])] + [("send.rcpt_to", a) for a in send["rcpt_to"]]
        for option, address in addresses:
            if any(c in "<>\r\n\x00" for c in address):
                problems.append(f"{option}: {address!r} must be a bare address, without <>, CR, LF or NUL")
        subject = send.get("subject")
        if subject is not None and any(c in subject for c in "\r\n\x00"):
            problems.append("send.subject: must be one line, without CR, LF or NUL")
        if not send["rcpt_to"]:
            problems.append("send.rcpt_to: give at least one recipient")
        elif any(not a for a in send["rcpt_to"]):
            problems.append("send.rcpt_to: recipients must not be empty")
    expect = params.get("expect") or {}
    rcpt_code = expect.get("rcpt_code")
    if rcpt_code is not None:
        try:
            normalize_rcpt_code(rcpt_code)
        except ValueError:
            problems.append(f"expect.rcpt_code: {rcpt_code!r} is neither a reply code nor a list of reply codes")
    if problems:
        raise ProbeError("invalid_parameters", "; ".join(problems))


def normalize_rcpt_code(value):
    """``250`` -> 250 (every recipient); ``[250, 550]`` -> [250, 550] (one per recipient)."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, (list, tuple)):
        if not value:
            raise ValueError(value)
        return [normalize_rcpt_code(v) for v in value]
    return int(value)


def tls_contexts(params):
    """(verifying context, non-verifying context), both honouring tls_min/max_version."""
    try:
        verifying = ssl.create_default_context(cafile=params.get("ca_file"))
    except (OSError, ssl.SSLError) as exc:
        raise ProbeError(
            "invalid_parameters", f"ca_file: cannot load CA certificates from {params['ca_file']}: {exc}"
        ) from None
    verifying.check_hostname = True
    verifying.verify_mode = ssl.CERT_REQUIRED
    lenient = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    lenient.check_hostname = False
    lenient.verify_mode = ssl.CERT_NONE
    for context in (verifying, lenient):
        if params.get("tls_min_version"):
            context.minimum_version = TLS_VERSIONS[params["tls_min_version"]]
        if params.get("tls_max_version"):
            context.maximum_version = TLS_VERSIONS[params["tls_max_version"]]
    return verifying, lenient


# --------------------------------------------------------------------------
# Certificates
# --------------------------------------------------------------------------


def fingerprint_sha256(der):
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def normalize_fingerprint(value):
    return re.sub(r"[\s:]", "", str(value)).upper()


def _iso_utc(moment):
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _validity(cert):
    # cryptography >= 42 has the *_utc properties; older ones return naive UTC datetimes.
    try:
        return cert.not_valid_before_utc, cert.not_valid_after_utc
    except AttributeError:
        return cert.not_valid_before.replace(tzinfo=UTC), cert.not_valid_after.replace(tzinfo=UTC)


def certificate_facts(der, now=None):
    """Facts of a DER certificate: subject, names, issuer, validity, days left, fingerprint."""
    facts = {
        "subject": None,
        "names": [],
        "issuer": None,
        "serial": None,
        "not_before": None,
        "not_after": None,
        "days_left": None,
        "fingerprint_sha256": fingerprint_sha256(der),
    }
    try:
        cert = x509.load_der_x509_certificate(der)
        facts["subject"] = cert.subject.rfc4514_string()
        facts["issuer"] = cert.issuer.rfc4514_string()
        facts["serial"] = format(cert.serial_number, "X")
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            pass
        else:
            facts["names"] = list(san.get_values_for_type(x509.DNSName)) + [
                str(ip) for ip in san.get_values_for_type(x509.IPAddress)
            ]
        not_before, not_after = _validity(cert)
    except ValueError as exc:
        facts["parse_error"] = f"cannot parse the certificate: {exc}"
        return facts
    now = now or datetime.datetime.now(UTC)
    facts["not_before"] = _iso_utc(not_before)
    facts["not_after"] = _iso_utc(not_after)
    facts["days_left"] = int((not_after - now).total_seconds() // 86400)
    return facts


# --------------------------------------------------------------------------
# The SMTP client
# --------------------------------------------------------------------------


class _Closed(Exception):
    """Internal: the server closed the connection."""


class SmtpClient:
    """A minimal, strict SMTP client over a blocking socket.

    ``activity`` always describes what the client is doing, so that a
    timeout or a closed connection can be reported precisely.
    """

    def __init__(self, host, port, timeout):
        self.host = host
        self.port = port
        self.timeout = timeout
        self.activity = f"connecting to {host} port {port}"
        self.sock = None
        self._file = None

    # -- connection ---------------------------------------------------------

    def connect(self):
        try:
            self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except socket.gaierror as exc:
            raise ProbeError("name_not_resolved", f"cannot resolve {self.host}: {exc.strerror or exc}") from None
        except ConnectionRefusedError:
            raise ProbeError("connection_refused", f"connection to {self.host} port {self.port} refused") from None
        except TIMEOUTS:
            raise self._timeout() from None
        except OSError as exc:
            raise ProbeError(
                "connection_failed", f"cannot connect to {self.host} port {self.port}: {exc.strerror or exc}"
            ) from None
        self._file = self.sock.makefile("rb")
        return self.sock.getpeername()[0]

    def close(self):
        for closer in (self._file, self.sock):
            if closer is not None:
                try:
                    closer.close()
                except OSError:
                    pass
        self._file = self.sock = None

    def _timeout(self):
        return ProbeError("timeout", f"timed out after {self.timeout:g} s {self.activity}")

    def start_tls(self, context, server_name):
        """Handshake; return the TLS socket. Raises CertificateNotVerified or ProbeError."""
        self.activity = "during the TLS handshake"
        # SNI is only sent for names; Python leaves it out for IP addresses itself.
        try:
            tls_sock = context.wrap_socket(self.sock, server_hostname=server_name)
        except ssl.SSLCertVerificationError as exc:
            raise _CertNotVerified(exc.verify_message or str(exc)) from None
        except TIMEOUTS:
            raise self._timeout() from None
        except (ssl.SSLError, OSError) as exc:
            # "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)" without the source location
            reason = re.sub(r"\s*\(_ssl\.c:\d+\)$", "", exc.strerror or str(exc)) or type(exc).__name__
            raise ProbeError(
                "tls_handshake_failed", f"TLS handshake with {self.host} port {self.port} failed: {reason}"
            ) from None
        self._file.close()
        self.sock = tls_sock
        self._file = tls_sock.makefile("rb")
        return tls_sock

    # -- replies and commands ----------------------------------------------

    def read_reply(self, what):
        """Read one (possibly multi-line) reply; ``what`` names it in error messages."""
        self.activity = f"waiting for {what}"
        lines = []
        code = None
        try:
            while True:
                raw = self._file.readline(MAX_LINE + 1)
                if not raw:
                    raise _Closed()
                if len(raw) > MAX_LINE:
                    raise ProbeError("smtp_protocol_error", f"reply line longer than {MAX_LINE} bytes in {what}")
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                match = REPLY_LINE.fullmatch(line)
                if not match:
                    raise ProbeError("smtp_protocol_error", f"not an SMTP reply in {what}: {line[:200]!r}")
                if code is not None and int(match.group(1)) != code:
                    raise ProbeError(
                        "smtp_protocol_error", f"reply code changed within one reply in {what}: {line[:200]!r}"
                    )
                code = int(match.group(1))
                lines.append(match.group(3) or "")
                if match.group(2) != "-":
                    return _reply(code, "\n".join(lines))
                if len(lines) >= MAX_REPLY_LINES:
                    raise ProbeError("smtp_protocol_error", f"more than {MAX_REPLY_LINES} lines in {what}")
        except TIMEOUTS:
            raise self._timeout() from None
        except (_Closed, ConnectionError, ssl.SSLError) as exc:
            detail = "" if isinstance(exc, _Closed) else f" ({exc})"
            raise ProbeError(
                "connection_closed", f"the server closed the connection while {self.activity}{detail}"
            ) from None

    def send_line(self, line, shown=None):
        """Send a command line; ``shown`` replaces it in messages (for secrets)."""
        self.send_raw(line.encode("utf-8") + b"\r\n", shown or line.split(" ", 1)[0])

    def send_raw(self, data, shown):
        self.activity = f"sending {shown}"
        try:
            self.sock.sendall(data)
        except TIMEOUTS:
            raise self._timeout() from None
        except OSError as exc:
            raise ProbeError(
                "connection_closed", f"the server closed the connection while {self.activity} ({exc})"
            ) from None

    def command(self, line, shown=None):
        shown = shown or line.split(" ", 1)[0].upper()
        self.send_line(line, shown)
        return self.read_reply(f"the reply to {shown}")

    def send_data(self, message):
        """After DATA's 354: send ``message`` (bytes; dot-stuffed here) and return the reply to its end."""
        self.send_raw(dot_stuff(message), "the message")
        return self.read_reply("the reply to the end of the message")

    def quit(self):
        """Say goodbye politely; the session is over either way (also when it already is)."""
        if self.sock is None:
            return
        try:
            self.command("QUIT")
        except ProbeError:
            pass


def parse_ehlo(reply):
    """EHLO reply -> dict(code, text, hostname, extensions={KEYWORD: params})."""
    lines = reply["text"].split("\n")
    extensions = {}
    for line in lines[1:]:
        keyword, _space, value = line.strip().partition(" ")
        if not keyword:
            continue
        keyword = keyword.upper()
        # Old servers also announce "AUTH=PLAIN LOGIN"; fold it into AUTH.
        if keyword.startswith("AUTH="):
            value = f"{keyword[5:]} {value}".strip()
            keyword = "AUTH"
            if "AUTH" in extensions:
                continue
        extensions[keyword] = value.strip()
    hostname = lines[0].split(" ", 1)[0] if lines and lines[0] else ""
    return dict(reply, hostname=hostname, extensions=extensions)


def auth_mechanisms(ehlo):
    return [m.upper() for m in ehlo["extensions"].get("AUTH", "").split()] if ehlo else []


def choose_mechanism(offered):
    """PLAIN unless only LOGIN is offered (also PLAIN when nothing is offered: the server then says why)."""
    return "LOGIN" if "LOGIN" in offered and "PLAIN" not in offered else "PLAIN"


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def secret_forms(user, password):
    """Every form in which the password could reach the wire, for scrubbing."""
    if not password:
        return []
    pw = password.encode("utf-8")
    forms = {password, _b64(pw), _b64(b"\0" + (user or "").encode("utf-8") + b"\0" + pw)}
    return sorted(forms, key=len, reverse=True)


def scrub(value, secrets):
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, MASK)
        return value
    if isinstance(value, dict):
        return {k: scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, secrets) for v in value]
    return value


def authenticate(client, mechanism, user, password):
    """Run AUTH PLAIN or AUTH LOGIN; return the final reply as dict(mechanism, code, text, success)."""
    u, p = user.encode("utf-8"), password.encode("utf-8")
    if mechanism == "PLAIN":
        blob = _b64(b"\0" + u + b"\0" + p)
        reply = client.command(f"AUTH PLAIN {blob}", shown="AUTH PLAIN")
        if reply["code"] == 334:
            # The server wants the credentials after an empty challenge.
            client.send_line(blob, shown="the AUTH PLAIN credentials")
            reply = client.read_reply("the reply to the AUTH PLAIN credentials")
    else:
        reply = client.command("AUTH LOGIN")
        if reply["code"] == 334:
            client.send_line(_b64(u), shown="the AUTH LOGIN user name")
            reply = client.read_reply("the reply to the AUTH LOGIN user name")
            if reply["code"] == 334:
                client.send_line(_b64(p), shown="the AUTH LOGIN password")
                reply = client.read_reply("the reply to the AUTH LOGIN password")
    if reply["code"] == 334:
        # Still challenging: give up the exchange (RFC 4954 "*").
        client.send_line("*")
        reply = client.read_reply("the reply to the cancelled AUTH")
    return dict(user=user, mechanism=mechanism, code=reply["code"], text=reply["text"], success=reply["code"] == 235)


def build_message(send, ehlo_name):
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = send["mail_from"] or f"smtp_probe@{ehlo_name}"
    message["To"] = ", ".join(send["rcpt_to"])
    message["Subject"] = send.get("subject") or DEFAULT_SUBJECT
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=ehlo_name)
    body = send.get("body")
    message.set_content(DEFAULT_BODY if body is None else body)
    # 7bit transfer encodings, so the message needs no 8BITMIME.
    return message.as_bytes(policy=email.policy.SMTP.clone(cte_type="7bit"))


def dot_stuff(data):
    """Message bytes -> DATA payload with CRLF line ends, dot-stuffing and the final dot."""
    lines = re.split(rb"\r\n|\r|\n", data)
    if lines and lines[-1] == b"":
        lines.pop()
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines) + b".\r\n"


def send_message(client, send, ehlo_name, check_mode):
    """MAIL, RCPT per recipient, DATA; in check mode RSET instead of DATA."""
    outcome = dict(mail=None, rcpt=[], data=None, data_skipped=None, sent=False)
    outcome["mail"] = client.command(f"MAIL FROM:<{send['mail_from']}>")
    if outcome["mail"]["code"] != 250:
        outcome["data_skipped"] = "MAIL FROM was refused"
    else:
        for address in send["rcpt_to"]:
            reply = client.command(f"RCPT TO:<{address}>")
            outcome["rcpt"].append(dict(address=address, **reply))
        if not any(r["code"] in (250, 251) for r in outcome["rcpt"]):
            outcome["data_skipped"] = "no recipient was accepted"
        elif check_mode:
            outcome["data_skipped"] = "check mode"
    if outcome["data_skipped"]:
        try:
            client.command("RSET")
        except ProbeError:
            pass
        return outcome
    reply = client.command("DATA")
    if reply["code"] == 354:
        reply = client.send_data(build_message(send, ehlo_name))
        outcome["sent"] = 200 <= reply["code"] < 300
    outcome["data"] = reply
    return outcome


# --------------------------------------------------------------------------
# The probe
# --------------------------------------------------------------------------


def new_result(params):
    return dict(
        host=params["host"],
        port=params["port"],
        mode=params["mode"],
        server_name=params["server_name"],
        ehlo_name=params["ehlo_name"],
        peer_address=None,
        banner=None,
        ehlo_before_tls=None,
        ehlo_after_tls=None,
        tls=None,
        certificate=None,
        auth_mechanisms=[],
        auth=None,
        send=None,
    )


def _tls_facts(tls_sock):
    name, _protocol, bits = tls_sock.cipher() or (None, None, None)
    return dict(version=tls_sock.version(), cipher=name, bits=bits)


def _session(params, result, context, verify_error):
    """One SMTP session, filling ``result``. ``verify_error`` is set for the non-verifying retry."""
    client = SmtpClient(params["host"], params["port"], params["timeout"])
    mode = params["mode"]

    def handshake():
        tls_sock = client.start_tls(context, params["server_name"])
        result["tls"] = _tls_facts(tls_sock)
        der = tls_sock.getpeercert(binary_form=True)
        if der:
            result["certificate"] = certificate_facts(der)
            result["certificate"]["verified"] = verify_error is None
            result["certificate"]["verify_error"] = verify_error
        if verify_error is not None and params["validate_certs"]:
            client.quit()
            raise ProbeError(
                "certificate_verify_failed",
                f"certificate verification failed for {params['server_name']}: {verify_error}",
            )

    def ehlo():
        reply = client.command(f"EHLO {params['ehlo_name']}")
        if reply["code"] != 250:
            client.quit()
            raise ProbeError("smtp_rejected", f"the server refused EHLO: {_describe(reply)}")
        return parse_ehlo(reply)

    try:
        result["peer_address"] = client.connect()
        if mode == "implicit":
            handshake()
        result["banner"] = client.read_reply("the server's greeting")
        if result["banner"]["code"] != 220:
            client.quit()
            raise ProbeError("smtp_rejected", f"the server greeted with {_describe(result['banner'])} instead of 220")
        if mode == "implicit":
            result["ehlo_after_tls"] = ehlo()
        else:
            result["ehlo_before_tls"] = ehlo()
        if mode == "starttls":
            if "STARTTLS" not in result["ehlo_before_tls"]["extensions"]:
                client.quit()
                raise ProbeError("starttls_not_offered", "the server did not offer STARTTLS in its EHLO reply")
            reply = client.command("STARTTLS")
            if reply["code"] != 220:
                client.quit()
                raise ProbeError("smtp_rejected", f"the server refused STARTTLS: {_describe(reply)}")
            handshake()
            result["ehlo_after_tls"] = ehlo()
        result["auth_mechanisms"] = auth_mechanisms(result["ehlo_after_tls"] or result["ehlo_before_tls"])
        if params.get("user") is not None:
            mechanism = choose_mechanism(result["auth_mechanisms"])
            result["auth"] = authenticate(client, mechanism, params["user"], params["password"])
        if params.get("send") is not None:
            result["send"] = send_message(client, params["send"], params["ehlo_name"], params["check_mode"])
        client.quit()
    finally:
        client.close()


def probe(params):
    """Run the probe; return the result dict or raise ProbeError (with ``result``).

    ``params`` holds the module options (port, server_name and ehlo_name
    already defaulted) plus ``check_mode``.
    """
    secrets = secret_forms(params.get("user"), params.get("password"))
    try:
        validate(params)
        verifying, lenient = tls_contexts(params) if params["mode"] != "plain" else (None, None)
    except ProbeError as exc:
        exc.result = new_result(params)
        raise
    result = new_result(params)
    try:
        try:
            _session(params, result, verifying, None)
        except _CertNotVerified as exc:
            # Again without verification, to report the certificate's facts.
            result = new_result(params)
            _session(params, result, lenient, exc.verify_error)
    except ProbeError as exc:
        exc.msg = scrub(exc.msg, secrets)
        exc.args = (exc.msg,)
        exc.result = scrub(result, secrets)
        raise
    return scrub(result, secrets)


# --------------------------------------------------------------------------
# Expectations
# --------------------------------------------------------------------------


def _fmt(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nothing"
    return str(value)


def _join(values):
    return ", ".join(str(v) for v in values) if values else "none"


def check_expectations(expect, result, check_mode=False):
    """Compare ``expect`` with ``result``; return (mismatches, skipped) as lists of readable strings."""
    expect = {k: v for k, v in (expect or {}).items() if v is not None}
    mismatches, skipped = [], []
    tls, cert, auth, send = result.get("tls"), result.get("certificate"), result.get("auth"), result.get("send")
    last_ehlo = result.get("ehlo_after_tls") or result.get("ehlo_before_tls")
    no_tls = "nothing (no TLS in plain mode)" if result.get("mode") == "plain" else "nothing (no TLS session)"
    no_cert = no_tls if tls is None else "nothing (the server sent no certificate)"

    def mismatch(key, expected, got):
        mismatches.append(f"{key}: expected {expected}, got {got}")

    def code_check(key, reply, missing):
        if key not in expect:
            return
        if reply is None:
            mismatch(key, expect[key], missing)
        elif reply["code"] != expect[key]:
            mismatch(key, expect[key], _describe(reply))

    banner = result.get("banner")
    code_check("banner_code", banner, "nothing (no greeting)")
    if "banner_contains" in expect:
        text = banner["text"] if banner else None
        if text is None or expect["banner_contains"] not in text:
            got = repr(banner["text"]) if banner else "nothing (no greeting)"
            mismatch("banner_contains", f"a banner containing {expect['banner_contains']!r}", got)

    for key, ehlo, which in (
        ("ehlo_has", last_ehlo, "EHLO"),
        ("ehlo_lacks", last_ehlo, "EHLO"),
        ("ehlo_before_tls_has", result.get("ehlo_before_tls"), "EHLO before TLS"),
        ("ehlo_before_tls_lacks", result.get("ehlo_before_tls"), "EHLO before TLS"),
    ):
        if key not in expect:
            continue
        wanted = [w.upper() for w in expect[key]]
        if ehlo is None:
            mismatch(
                key,
                f"{_join(wanted)} {'in' if key.endswith('has') else 'not in'} the {which}",
                f"nothing (no {which} in {result.get('mode')} mode)",
            )
            continue
        offered = list(ehlo["extensions"])
        if key.endswith("_has"):
            missing = [w for w in wanted if w not in offered]
            if missing:
                mismatch(key, f"{_join(wanted)} in the {which}", f"{_join(offered)} (missing: {_join(missing)})")
        else:
            present = [w for w in wanted if w in offered]
            if present:
                mismatch(key, f"{_join(wanted)} not in the {which}", f"{_join(offered)} (offered: {_join(present)})")

    for key, field in (("tls_version", "version"), ("tls_cipher", "cipher")):
        if key in expect:
            got = tls[field] if tls else None
            if got not in expect[key]:
                wanted = expect[key][0] if len(expect[key]) == 1 else f"one of {_join(expect[key])}"
                mismatch(key, wanted, got if tls else no_tls)

    if "cert_verified" in expect:
        if cert is None:
            mismatch("cert_verified", _fmt(expect["cert_verified"]), no_cert)
        elif cert["verified"] != expect["cert_verified"]:
            detail = f" ({cert['verify_error']})" if cert["verify_error"] else ""
            mismatch("cert_verified", _fmt(expect["cert_verified"]), _fmt(cert["verified"]) + detail)
    if "cert_names_include" in expect:
        wanted = expect["cert_names_include"]
        if cert is None:
            mismatch("cert_names_include", f"{_join(wanted)} among the certificate's names", no_cert)
        else:
            have = {n.lower() for n in cert["names"]}
            missing = [n for n in wanted if n.lower() not in have]
            if missing:
                mismatch(
                    "cert_names_include",
                    f"{_join(wanted)} among the certificate's names",
                    f"{_join(cert['names'])} (missing: {_join(missing)})",
                )
    for key, field in (("cert_subject_contains", "subject"), ("cert_issuer_contains", "issuer")):
        if key in expect:
            got = cert[field] if cert else None
            if got is None or expect[key] not in got:
                article = "an" if field[0] in "aeiou" else "a"
                wanted = f"{article} {field} containing {expect[key]!r}"
                mismatch(key, wanted, repr(got) if got is not None else no_cert)
    if "cert_fingerprint" in expect:
        got = cert["fingerprint_sha256"] if cert else None
        if got is None or normalize_fingerprint(got) != normalize_fingerprint(expect["cert_fingerprint"]):
            mismatch("cert_fingerprint", expect["cert_fingerprint"], got or no_cert)
    if "cert_days_left_min" in expect:
        got = cert["days_left"] if cert else None
        if got is None or got < expect["cert_days_left_min"]:
            detail = f"{got} (notAfter {cert['not_after']})" if got is not None else no_cert
            mismatch("cert_days_left_min", f"at least {expect['cert_days_left_min']} days left", detail)

    if "auth_mechanisms" in expect:
        wanted = sorted({m.upper() for m in expect["auth_mechanisms"]})
        got = sorted(set(result.get("auth_mechanisms") or []))
        if wanted != got:
            mismatch("auth_mechanisms", _join(wanted), _join(got))
    code_check("auth_code", auth, "nothing (no credentials given)")
    if "auth_text_contains" in expect:
        if auth is None or expect["auth_text_contains"] not in auth["text"]:
            mismatch(
                "auth_text_contains",
                f"an AUTH reply containing {expect['auth_text_contains']!r}",
                _describe(auth) if auth else "nothing (no credentials given)",
            )

    no_send = "nothing (no send option)"
    code_check("mail_code", send["mail"] if send else None, no_send)
    if "rcpt_code" in expect:
        wanted = normalize_rcpt_code(expect["rcpt_code"])
        replies = send["rcpt"] if send else []
        if send is None:
            mismatch("rcpt_code", _join(wanted) if isinstance(wanted, list) else wanted, no_send)
        elif not replies:
            mismatch(
                "rcpt_code",
                _join(wanted) if isinstance(wanted, list) else wanted,
                f"nothing (RCPT not sent: {send['data_skipped']})",
            )
        elif isinstance(wanted, list) and len(wanted) != len(replies):
            mismatch(
                "rcpt_code",
                f"{len(wanted)} codes ({_join(wanted)})",
                f"{len(replies)} recipients: " + ", ".join(f"{r['address']} {r['code']}" for r in replies),
            )
        else:
            codes = wanted if isinstance(wanted, list) else [wanted] * len(replies)
            for index, reply in enumerate(replies):
                code = codes[index]
                if reply["code"] != code:
                    mismatch(f"rcpt_code ({reply['address']})", code, _describe(reply))
    if "data_code" in expect:
        if send is not None and send["data_skipped"] == "check mode":
            skipped.append("data_code: not checked in check mode, DATA is never sent")
        else:
            missing = f"nothing (DATA not sent: {send['data_skipped']})" if send else no_send
            code_check("data_code", send["data"] if send else None, missing)
    return mismatches, skipped

#!/usr/bin/python3
"""Salesforce login test double for the applink tests.

Serves the SOAP API login() call and the OAuth 2.0 username-password flow on
127.0.0.1, plus unauthenticated control endpoints under /_double/ that let a
test change the behaviour at run time and read back what the client sent.
The wire formats follow Salesforce's SOAP API (Partner and Enterprise WSDL)
and OAuth token endpoint. See tests/doubles/README.md for usage.

Standard library only, so the tests need nothing beyond Python 3.11.
"""

import argparse
import base64
import copy
import hashlib
import hmac
import http
import json
import logging
import re
import secrets
import signal
import socket
import ssl
import string
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape as xml_escape

log = logging.getLogger("salesforce-double")

# --- Wire constants ----------------------------------------------------------

ENVELOPE_NS = "http://schemas.xmlsoap.org/soap/envelope/"

# WSDL letter in /services/Soap/{letter}/NN.0 -> (API namespace, fault namespace).
WSDL_NAMESPACES = {
    "u": ("urn:partner.soap.sforce.com", "urn:fault.partner.soap.sforce.com"),
    "c": ("urn:enterprise.soap.sforce.com", "urn:fault.enterprise.soap.sforce.com"),
}

SOAP_PATH = re.compile(r"/services/Soap/(?P<wsdl>[uc])/(?P<version>[^/]+)")
OAUTH_TOKEN_PATH = "/services/oauth2/token"
CONTROL_PREFIX = "/_double/"

# Salesforce retired login() for API 30.0 and older and removed it from 65.0.
OLDEST_SOAP_VERSION = 31.0
FIRST_VERSION_WITHOUT_LOGIN = 65.0

INVALID_LOGIN_MESSAGE = "Invalid username, password, security token; or user locked out."
MUST_USE_TOKEN_MESSAGE = (
    "Invalid username, password, security token; or user locked out. "
    "Are you at a new location? When accessing Salesforce--either via a desktop "
    "client or the API--from outside of your company\u2019s trusted networks, you "
    "must add a security token to your password to log in. To get your new "
    "security token, log in to Salesforce. From your personal settings, enter "
    "Reset My Security Token in the Quick Find box, then select Reset My "
    "Security Token."
)
# NOTE: Salesforce's text for an org with login() disabled was not captured.
# This wording is a placeholder.
SOAP_DISABLED_MESSAGE = "SOAP API login() is disabled by default in this org."

# User modes that make a login with correct credentials fail, mapped to the SOAP
# exception code and message. Messages for API_DISABLED_FOR_ORG,
# API_CURRENTLY_DISABLED, REQUEST_LIMIT_EXCEEDED and LOGIN_DURING_RESTRICTED_TIME
# are texts that real orgs returned in public bug reports. The other messages
# are placeholders because no real text was captured.
MODE_FAULTS = {
    "api-disabled": ("API_DISABLED_FOR_ORG", "API is not enabled for this Organization or Partner"),
    "api-currently-disabled": ("API_CURRENTLY_DISABLED", "API is disabled for this User"),
    "request-limit": ("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
    "restricted-domain": (
        "LOGIN_DURING_RESTRICTED_DOMAIN",
        "Login is not allowed from this IP address or domain.",
    ),
    "restricted-time": ("LOGIN_DURING_RESTRICTED_TIME", "cannot log in during restricted time"),
    "invalid-operation": ("INVALID_OPERATION", SOAP_DISABLED_MESSAGE),
    "insufficient-access": (
        "INSUFFICIENT_ACCESS",
        "The user does not have the Use Any API Auth permission.",
    ),
    "org-locked": ("ORG_LOCKED", "This organization is locked."),
    "trial-expired": ("TRIAL_EXPIRED", "The trial period for this organization has expired."),
    "server-unavailable": ("SERVER_UNAVAILABLE", "The server is temporarily unavailable."),
}
SUCCESS_MODES = ("ok", "expired")
CUSTOM_CODE_PREFIX = "code:"

AUTHENTICATION_FAILURE = ("invalid_grant", "authentication failure")
UNSUPPORTED_GRANT = ("unsupported_grant_type", "grant type not supported")

# User modes mapped to the OAuth error that the password flow returns in place
# of the SOAP fault. Only "IP restricted or invalid login hours" is a captured
# text, and the other descriptions here are placeholders.
# NOTE: Salesforce's OAuth responses for modes not listed here were not
# captured, so those modes get the generic "authentication failure".
OAUTH_MODE_ERRORS = {
    "restricted-domain": ("invalid_grant", "IP restricted or invalid login hours"),
    "restricted-time": ("invalid_grant", "IP restricted or invalid login hours"),
    "request-limit": ("rate_limit_exceeded", "rate limit exceeded"),
    "org-locked": ("inactive_org", "inactive organization"),
    "trial-expired": ("inactive_org", "inactive organization"),
}

DEFAULT_CONFIG = {
    "trusted-network": False,
    "sandbox": False,
    "soap-disabled": False,
    "faultcode-prefix": True,
    "fault-detail": True,
    "oauth-blocked": False,
    "oauth-error": None,
    "oauth-non-json": False,
    "redirect": None,
    "delay": 0,
    "hang": False,
    "close": False,
    "status": None,
    "instance-url": None,
    "huge-reply": None,
}

MAX_BODY_BYTES = 1024 * 1024
# Seconds an idle keep-alive connection stays open before the double closes it.
IDLE_TIMEOUT = 60

# --- Fake Salesforce ids -----------------------------------------------------

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
ID_SUFFIX_ALPHABET = string.ascii_uppercase + "012345"


def make_id15(key_prefix, seed):
    """Derive a stable 15-character Salesforce-style id from a seed string."""
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    return key_prefix + "".join(BASE62[byte % 62] for byte in digest[:12])


def to_id18(id15):
    """Append the case-checksum suffix that turns a 15-character id into 18."""
    suffix = ""
    for start in (0, 5, 10):
        bits = 0
        for position, char in enumerate(id15[start:start + 5]):
            if char in string.ascii_uppercase:
                bits |= 1 << position
        suffix += ID_SUFFIX_ALPHABET[bits]
    return id15 + suffix


ORG_ID15 = make_id15("00D", "salesforce-double organization")
PROFILE_ID15 = make_id15("00e", "salesforce-double profile")
ORG_NAME = "Salesforce Double Test Org"


def make_session_id():
    """Return a new opaque session id shaped like `00D...!AR...`."""
    alphabet = string.ascii_letters + string.digits + "._"
    opaque = "".join(secrets.choice(alphabet) for _ in range(94))
    return f"{ORG_ID15}!AR{opaque}"


# --- Users, clients and credential checks ------------------------------------


@dataclass(frozen=True)
class User:
    username: str
    password: str
    token: str = ""
    mode: str = "ok"

    @property
    def user_id15(self):
        return make_id15("005", "user " + self.username)


def validate_mode(mode):
    """Raise ValueError unless mode is a known user mode or `code:NAME`."""
    if mode in SUCCESS_MODES or mode in MODE_FAULTS:
        return
    if mode.startswith(CUSTOM_CODE_PREFIX) and len(mode) > len(CUSTOM_CODE_PREFIX):
        return
    known = ", ".join(list(SUCCESS_MODES) + list(MODE_FAULTS) + ["code:NAME"])
    raise ValueError(f"unknown user mode {mode!r}. Expected one of: {known}")


def parse_user_argument(text):
    """Parse `USERNAME:PASSWORD:TOKEN[:MODE]`, where MODE may itself contain a colon."""
    parts = text.split(":", 3)
    if len(parts) < 3:
        raise ValueError(
            "invalid --user value: expected USERNAME:PASSWORD:TOKEN[:MODE] "
            "(use --users-file for credentials that contain colons)"
        )
    mode = parts[3] if len(parts) == 4 else "ok"
    validate_mode(mode)
    return User(parts[0], parts[1], parts[2], mode)


def parse_users_json(entries):
    """Build users from a JSON list of {"username", "password", "token", "mode"} objects."""
    if not isinstance(entries, list):
        raise ValueError("the user list must be a JSON array of objects")
    users = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ValueError(f"user entry {index} is not a JSON object")
        unknown = set(entry) - {"username", "password", "token", "mode"}
        if unknown:
            raise ValueError(f"user entry {index} has unknown keys: {sorted(unknown)}")
        values = {key: entry.get(key, default) for key, default in
                  (("username", None), ("password", None), ("token", ""), ("mode", "ok"))}
        for key, value in values.items():
            if not isinstance(value, str):
                raise ValueError(f"user entry {index}: {key!r} is missing or not a string")
        validate_mode(values["mode"])
        if values["username"] in users:
            raise ValueError(f"user entry {index}: duplicate username {values['username']!r}")
        users[values["username"]] = User(**values)
    return users


def parse_clients_json(entries):
    """Build a client_id -> client_secret map from [{"client_id", "client_secret"}]."""
    if not isinstance(entries, list):
        raise ValueError("the client list must be a JSON array of objects")
    clients = {}
    for index, entry in enumerate(entries):
        client_id = entry.get("client_id") if isinstance(entry, dict) else None
        client_secret = entry.get("client_secret") if isinstance(entry, dict) else None
        if not isinstance(client_id, str) or not isinstance(client_secret, str):
            raise ValueError(f"client entry {index} needs string client_id and client_secret")
        clients[client_id] = client_secret
    return clients


def check_password(user, received, trusted_network):
    """Classify a received password field as "ok", "token-missing" or "invalid".

    The password field is the password with the security token appended and no
    separator. The password alone is enough from a trusted network.
    """
    if user is None or received is None:
        return "invalid"
    if received == user.password + user.token:
        return "ok"
    if received == user.password:
        return "ok" if trusted_network else "token-missing"
    return "invalid"


def describe_credentials(user, received):
    """Return the request-log fields about a password without the password itself.

    password_matched is None when the user is unknown or no password was sent.
    It is true when the field is the password, with or without the token.
    token_present is true when the field ends with the user's (non-empty) token.
    """
    if user is None or received is None:
        return {"password_matched": None, "token_present": False}
    matched = received in (user.password + user.token, user.password)
    token_present = bool(user.token) and received.endswith(user.token)
    return {"password_matched": matched, "token_present": token_present}


# --- Run-time configuration --------------------------------------------------


def is_bool(value):
    return isinstance(value, bool)


def is_optional_string(value):
    return value is None or isinstance(value, str)


def is_delay(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def is_optional_status(value):
    return value is None or (isinstance(value, int) and not isinstance(value, bool)
                             and 100 <= value <= 599)


def is_optional_size(value):
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 1)


def is_faultcode_prefix(value):
    return isinstance(value, bool) or value == "alternate"


def is_oauth_error(value):
    if value is None:
        return True
    if not isinstance(value, dict) or set(value) - {"error", "error_description", "status"}:
        return False
    strings_ok = isinstance(value.get("error"), str) and isinstance(
        value.get("error_description"), str)
    return strings_ok and is_optional_status(value.get("status"))


# Config key -> (validator, description used in the error message).
CONFIG_VALIDATORS = {
    "trusted-network": (is_bool, "true or false"),
    "sandbox": (is_bool, "true or false"),
    "soap-disabled": (is_bool, "true or false"),
    "faultcode-prefix": (is_faultcode_prefix, 'true, false or "alternate"'),
    "fault-detail": (is_bool, "true or false"),
    "oauth-blocked": (is_bool, "true or false"),
    "oauth-error": (is_oauth_error,
                    'null or {"error": str, "error_description": str[, "status": int]}'),
    "oauth-non-json": (is_bool, "true or false"),
    "redirect": (is_optional_string, "null or a URL string"),
    "delay": (is_delay, "a number of seconds >= 0"),
    "hang": (is_bool, "true or false"),
    "close": (is_bool, "true or false"),
    "status": (is_optional_status, "null or an HTTP status code 100-599"),
    "instance-url": (is_optional_string, "null or a base URL string"),
    "huge-reply": (is_optional_size, "null or a number of bytes >= 1"),
}


def validate_config_patch(patch):
    """Raise ValueError naming the first unknown key or invalid value in patch."""
    if not isinstance(patch, dict):
        raise ValueError("the config must be a JSON object")
    for key, value in patch.items():
        if key not in CONFIG_VALIDATORS:
            raise ValueError(f"unknown config key {key!r}. Known keys: {sorted(CONFIG_VALIDATORS)}")
        validator, expected = CONFIG_VALIDATORS[key]
        if not validator(value):
            raise ValueError(f"invalid value for config key {key!r}: expected {expected}")


class DoubleState:
    """Shared, lock-protected state: config, users, clients, request log and counters."""

    def __init__(self, config, users, clients):
        self.lock = threading.Lock()
        self.config_changed = threading.Condition(self.lock)
        self.stopping = False
        self.initial = (copy.deepcopy(config), dict(users), dict(clients))
        self.reset()

    def reset(self):
        """Restore the start-up config, users and clients, and clear the log and counters."""
        with self.lock:
            config, users, clients = self.initial
            self.config = copy.deepcopy(config)
            self.users = dict(users)
            self.clients = dict(clients)
            self.requests = []
            self.connections = 0
            self.request_count = 0
            self.fault_count = 0
            self.config_changed.notify_all()

    def snapshot_config(self):
        with self.lock:
            return copy.deepcopy(self.config)

    def update_config(self, patch):
        validate_config_patch(patch)
        with self.lock:
            self.config.update(copy.deepcopy(patch))
            self.config_changed.notify_all()
            return copy.deepcopy(self.config)

    def replace_users(self, users):
        with self.lock:
            self.users = users

    def replace_clients(self, clients):
        with self.lock:
            self.clients = clients

    def find_user(self, username):
        with self.lock:
            return self.users.get(username)

    def find_client_secret(self, client_id):
        with self.lock:
            return self.clients.get(client_id)

    def record_request(self, record, new_connection):
        with self.lock:
            self.requests.append(record)
            self.request_count += 1
            if new_connection:
                self.connections += 1

    def set_record_status(self, record, status):
        with self.lock:
            record["status"] = status

    def request_log(self):
        with self.lock:
            return copy.deepcopy(self.requests)

    def stats(self):
        with self.lock:
            return {"connections": self.connections, "requests": self.request_count}

    def use_prefixed_faultcode(self, setting):
        """Return whether the next fault's faultcode gets the `sf:` prefix."""
        if setting != "alternate":
            return setting
        with self.lock:
            self.fault_count += 1
            return self.fault_count % 2 == 1

    def wait_while_hanging(self):
        """Block while the `hang` switch is on, until a config change or reset clears it.

        Returns False when the server is stopping, so the caller sends no reply.
        """
        with self.lock:
            while self.config["hang"] and not self.stopping:
                self.config_changed.wait()
            return not self.stopping

    def stop(self):
        with self.lock:
            self.stopping = True
            self.config_changed.notify_all()


# --- Replies -----------------------------------------------------------------


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: list = field(default_factory=list)


def xml_reply(status, text):
    return Reply(status, text.encode("utf-8"), "text/xml;charset=UTF-8")


def json_reply(status, value, extra_headers=()):
    body = json.dumps(value, ensure_ascii=False).encode("utf-8")
    return Reply(status, body, "application/json;charset=UTF-8", list(extra_headers))


def html_reply(status, message):
    title = f"{status} {xml_escape(message)}"
    page = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>\n"
    return Reply(status, page.encode("utf-8"), "text/html;charset=UTF-8")


def status_page_reply(status):
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = "Status"
    return html_reply(status, reason)


def oauth_error_reply(error, description, status=400):
    return json_reply(status, {"error": error, "error_description": description},
                      [("Cache-Control", "no-store"), ("Pragma", "no-cache")])


# --- SOAP login() --------------------------------------------------------------


@dataclass
class SoapEndpoint:
    wsdl: str
    version_text: str
    namespace: str
    fault_namespace: str


class SoapClientError(Exception):
    """A request body that is not a usable SOAP login() envelope."""


def parse_api_version(text):
    """Return the API version from a URL segment such as `64.0`, or None if invalid."""
    if not re.fullmatch(r"\d+\.\d+", text):
        return None
    return float(text)


def child_text(parent, tag):
    """Return the exact text of parent's child element tag, "" when empty, None when absent."""
    element = parent.find(tag)
    if element is None:
        return None
    return element.text or ""


def parse_login_envelope(body, namespace):
    """Extract (username, password) from a SOAP 1.1 login() request.

    ElementTree resolves namespace prefixes, so any prefix or a default namespace
    works. The login element and its children must be in the WSDL's namespace.
    A missing username or password is returned as None. Raises SoapClientError.
    """
    try:
        root = ET.fromstring(body)
    except ET.ParseError as error:
        raise SoapClientError(f"The request body is not well-formed XML: {error}") from None
    if root.tag != f"{{{ENVELOPE_NS}}}Envelope":
        raise SoapClientError(f"Expected a SOAP 1.1 Envelope element, found {root.tag}")
    soap_body = root.find(f"{{{ENVELOPE_NS}}}Body")
    operation = soap_body[0] if soap_body is not None and len(soap_body) else None
    if operation is None:
        raise SoapClientError("The SOAP Body contains no operation element")
    if operation.tag != f"{{{namespace}}}login":
        raise SoapClientError(
            f"No operation available for request {operation.tag}, "
            "please check the WSDL for the service.")
    username = child_text(operation, f"{{{namespace}}}username")
    password = child_text(operation, f"{{{namespace}}}password")
    return username, password


def soap_fault_envelope(endpoint, faultcode, faultstring, detail=""):
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{ENVELOPE_NS}" '
        f'xmlns:sf="{endpoint.fault_namespace}" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<soapenv:Body><soapenv:Fault>'
        f'<faultcode>{xml_escape(faultcode)}</faultcode>'
        f'<faultstring>{xml_escape(faultstring)}</faultstring>'
        f'{detail}'
        '</soapenv:Fault></soapenv:Body></soapenv:Envelope>'
    )


def login_fault_reply(endpoint, code, message, prefixed, with_detail=True):
    """Build the HTTP 500 SOAP fault for an exception code.

    With with_detail false the LoginFault detail is left out, so that the
    faultcode is the only place that names the code.
    """
    detail = ""
    if with_detail:
        detail = (
            '<detail><sf:LoginFault xsi:type="sf:LoginFault">'
            f'<sf:exceptionCode>{xml_escape(code)}</sf:exceptionCode>'
            f'<sf:exceptionMessage>{xml_escape(message)}</sf:exceptionMessage>'
            '</sf:LoginFault></detail>'
        )
    faultcode = f"sf:{code}" if prefixed else code
    return xml_reply(500, soap_fault_envelope(endpoint, faultcode, f"{code}: {message}", detail))


def client_fault_reply(endpoint, message):
    """Build the HTTP 500 fault for an unusable request body.

    NOTE: Salesforce's exact fault for malformed requests was not captured. This
    one has faultcode soapenv:Client and no detail element.
    """
    return xml_reply(500, soap_fault_envelope(endpoint, "soapenv:Client", message))


def xml_element(name, value):
    """Render <name>value</name>, or an xsi:nil element when value is None."""
    if value is None:
        return f'<{name} xsi:nil="true"/>'
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"<{name}>{xml_escape(str(value))}</{name}>"


def user_info_fields(user):
    """Return GetUserInfoResult fields in WSDL order (alphabetical)."""
    local_part = user.username.split("@", 1)[0]
    email = user.username if "@" in user.username else f"{user.username}@example.invalid"
    return [
        ("accessibilityMode", False),
        ("currencySymbol", "$"),
        ("orgAttachmentFileSizeLimit", 5242880),
        ("orgDefaultCurrencyIsoCode", "USD"),
        ("orgDisallowHtmlAttachments", False),
        ("orgHasPersonAccounts", False),
        ("organizationId", to_id18(ORG_ID15)),
        ("organizationMultiCurrency", False),
        ("organizationName", ORG_NAME),
        ("profileId", to_id18(PROFILE_ID15)),
        ("roleId", None),
        ("sessionSecondsValid", 7200),
        ("userDefaultCurrencyIsoCode", None),
        ("userEmail", email),
        ("userFullName", f"Test User {local_part}"),
        ("userId", to_id18(user.user_id15)),
        ("userLanguage", "en_US"),
        ("userLocale", "en_US"),
        ("userName", user.username),
        ("userTimeZone", "America/Los_Angeles"),
        ("userType", "Standard"),
        ("userUiSkin", "Theme3"),
    ]


def login_success_reply(endpoint, user, instance_base, sandbox):
    """Build the HTTP 200 loginResponse with a LoginResult in Partner WSDL field order."""
    version_path = f"{endpoint.version_text}/{ORG_ID15}"
    result_fields = [
        ("metadataServerUrl", f"{instance_base}/services/Soap/m/{version_path}"),
        ("passwordExpired", user.mode == "expired"),
        ("sandbox", sandbox),
        ("serverUrl", f"{instance_base}/services/Soap/{endpoint.wsdl}/{version_path}"),
        ("sessionId", make_session_id()),
        ("userId", to_id18(user.user_id15)),
    ]
    result = "".join(xml_element(name, value) for name, value in result_fields)
    user_info = "".join(xml_element(name, value) for name, value in user_info_fields(user))
    envelope = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{ENVELOPE_NS}" xmlns="{endpoint.namespace}" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<soapenv:Body><loginResponse><result>'
        f'{result}<userInfo>{user_info}</userInfo>'
        '</result></loginResponse></soapenv:Body></soapenv:Envelope>'
    )
    return xml_reply(200, envelope)


def user_mode_fault(mode):
    """Return (code, message) for a failing user mode, or None for ok/expired."""
    if mode in SUCCESS_MODES:
        return None
    if mode.startswith(CUSTOM_CODE_PREFIX):
        code = mode[len(CUSTOM_CODE_PREFIX):]
        return code, f"Login failed with exception code {code}."
    return MODE_FAULTS[mode]


# --- OAuth 2.0 username-password flow ----------------------------------------


def is_form_content_type(content_type):
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type == "application/x-www-form-urlencoded"


def parse_form(body):
    """Decode a form-urlencoded body into a dict that keeps the first value of each name."""
    text = body.decode("utf-8", errors="replace")
    pairs = urllib.parse.parse_qsl(text, keep_blank_values=True, encoding="utf-8",
                                   errors="replace")
    form = {}
    for name, value in pairs:
        form.setdefault(name, value)
    return form


def oauth_success_reply(user, client_secret, login_base, instance_base):
    """Build the HTTP 200 token response of the username-password flow."""
    issued_at = str(int(time.time() * 1000))
    id_url = f"{login_base}/id/{to_id18(ORG_ID15)}/{to_id18(user.user_id15)}"
    digest = hmac.new(client_secret.encode("utf-8"), (id_url + issued_at).encode("utf-8"),
                      hashlib.sha256).digest()
    token = {
        "access_token": make_session_id(),
        "instance_url": instance_base,
        "id": id_url,
        "token_type": "Bearer",
        "issued_at": issued_at,
        "signature": base64.b64encode(digest).decode("ascii"),
        "scope": "api",
    }
    return json_reply(200, token, [("Cache-Control", "no-store"), ("Pragma", "no-cache")])


# --- HTTP handler ------------------------------------------------------------


class DoubleHandler(BaseHTTPRequestHandler):
    """One instance per TCP connection. It serves each request on that connection."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT

    def version_string(self):
        return "salesforce-double"

    # --- connection set-up and plumbing

    def setup(self):
        self.counted_connection = False
        self.tls_failed = False
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(self.timeout)
            try:
                self.request.do_handshake()
            except (ssl.SSLError, OSError) as error:
                log.warning("TLS handshake with %s failed: %s", self.client_address[0], error)
                self.tls_failed = True
        super().setup()

    def handle(self):
        if not self.tls_failed:
            super().handle()

    def log_request(self, code="-", size="-"):
        # Each request gets one summary line from log_summary instead.
        pass

    def log_message(self, format, *args):
        log.warning("%s: %s", self.client_address[0], format % args)

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    @property
    def state(self):
        return self.server.state

    def base_url(self):
        """Return scheme://host:port as the client addressed this server."""
        scheme = "https" if self.server.tls else "http"
        host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_port}"
        return f"{scheme}://{host}"

    def read_body(self):
        """Read the request body from Content-Length or chunked framing."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self.read_chunked_body()
        length_text = self.headers.get("Content-Length") or "0"
        if not re.fullmatch(r"[0-9]+", length_text):
            raise ValueError(f"invalid Content-Length {length_text!r}")
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            raise ValueError(f"Content-Length {length} exceeds the maximum of {MAX_BODY_BYTES}")
        return self.rfile.read(length)

    def read_chunked_body(self):
        chunks = []
        total = 0
        while True:
            size_line = self.rfile.readline(1024)
            size_text = size_line.split(b";", 1)[0].strip()
            if not re.fullmatch(rb"[0-9A-Fa-f]+", size_text):
                raise ValueError(f"invalid chunk size line {size_line[:40]!r}")
            size = int(size_text, 16)
            if size == 0:
                break
            total += size
            if total > MAX_BODY_BYTES:
                raise ValueError(f"chunked body exceeds {MAX_BODY_BYTES} bytes")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)
        while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
            pass
        return b"".join(chunks)

    def send_reply_headers(self, reply):
        self.send_response(reply.status)
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()

    def send_reply(self, reply):
        self.send_reply_headers(reply)
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    def send_truncated_reply(self, reply):
        """Send the headers and half of the body, then drop the connection."""
        self.send_reply_headers(reply)
        self.wfile.write(reply.body[:len(reply.body) // 2])
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def log_summary(self, path, status, username):
        user_text = json.dumps(username, ensure_ascii=False) if username is not None else "-"
        log.info("%s %s %s user=%s", self.command, path, status, user_text)

    # --- routing

    def dispatch(self):
        path = urllib.parse.urlsplit(self.path).path
        try:
            if path.startswith(CONTROL_PREFIX):
                self.serve_control(path)
            else:
                self.serve_login(path)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, TimeoutError) as error:
            log.warning("%s %s: connection lost while replying: %s", self.command, path, error)
            self.close_connection = True

    def serve_login(self, path):
        query_present = bool(urllib.parse.urlsplit(self.path).query)
        try:
            body = self.read_body()
        except ValueError as error:
            log.warning("%s %s: invalid request body: %s", self.command, path, error)
            self.send_reply(html_reply(400, "Bad Request"))
            self.close_connection = True
            self.log_summary(path, 400, None)
            return

        config = self.state.snapshot_config()
        record = {
            "method": self.command,
            "path": path,
            "flow": None,
            "username": None,
            "content_type": self.headers.get("Content-Type"),
            "soap_action": self.headers.get("SOAPAction"),
            "password_matched": None,
            "token_present": False,
            "query_present": query_present,
            "status": None,
        }
        reply = self.build_login_reply(path, body, config, record)
        self.state.record_request(record, new_connection=not self.counted_connection)
        self.counted_connection = True

        truncate = False
        if record["flow"] is not None:
            reply, truncate = self.apply_switches(config, reply)
        if reply is None:
            self.close_connection = True
            self.log_summary(path, "dropped", record["username"])
            return
        self.state.set_record_status(record, reply.status)
        if truncate:
            self.send_truncated_reply(reply)
        else:
            self.send_reply(reply)
        self.log_summary(path, reply.status, record["username"])

    def build_login_reply(self, path, body, config, record):
        soap_match = SOAP_PATH.fullmatch(path)
        if soap_match:
            record["flow"] = "soap"
            namespace, fault_namespace = WSDL_NAMESPACES[soap_match["wsdl"]]
            endpoint = SoapEndpoint(soap_match["wsdl"], soap_match["version"], namespace,
                                    fault_namespace)
            return self.answer_soap(endpoint, body, config, record)
        if path == OAUTH_TOKEN_PATH:
            record["flow"] = "oauth"
            return self.answer_oauth(body, config, record)
        return html_reply(404, "Not Found")

    def apply_switches(self, config, reply):
        """Apply the delay, hang, status, redirect and close switches to a login reply.

        Returns the reply to send, or None to drop the connection unanswered,
        and whether to cut the reply off. The switches after the hang are read
        again, so a test may change them while a request waits.
        """
        if config["delay"]:
            time.sleep(config["delay"])
        if not self.state.wait_while_hanging():
            return None, True
        config = self.state.snapshot_config()
        if config["status"] is not None:
            reply = status_page_reply(config["status"])
        elif config["redirect"] and self.command == "POST":
            reply = status_page_reply(302)
            reply.headers.append(("Location", config["redirect"]))
        elif config["huge-reply"] is not None:
            # A SOAP envelope whose padding makes the body exactly that many bytes.
            start, end = b'<?xml version="1.0"?><soapenv:Envelope><!--', b"--></soapenv:Envelope>"
            padding = b"x" * max(0, config["huge-reply"] - len(start) - len(end))
            reply = Reply(200, start + padding + end, "text/xml;charset=UTF-8")
        return reply, config["close"]

    # --- SOAP

    def answer_soap(self, endpoint, body, config, record):
        if self.command != "POST":
            reply = html_reply(405, "Only POST allowed")
            reply.headers.append(("Allow", "POST"))
            return reply

        username = password = None
        client_error = None
        try:
            username, password = parse_login_envelope(body, endpoint.namespace)
        except SoapClientError as error:
            client_error = error
        user = self.state.find_user(username) if username is not None else None
        record["username"] = username
        record.update(describe_credentials(user, password))

        prefixed = self.state.use_prefixed_faultcode(config["faultcode-prefix"])

        def fault_reply(code, message):
            return login_fault_reply(endpoint, code, message, prefixed, config["fault-detail"])

        version = parse_api_version(endpoint.version_text)
        if version is None or version < OLDEST_SOAP_VERSION:
            return fault_reply("UNSUPPORTED_API_VERSION", "Invalid Api version specified on URL")
        if version >= FIRST_VERSION_WITHOUT_LOGIN:
            message = (f"The SOAP Login operation is not available in the API version "
                       f"specified ({endpoint.version_text}). Refer to the documentation "
                       "for supported versions.")
            return fault_reply("INVALID_OPERATION", message)
        if client_error is not None:
            return client_fault_reply(endpoint, str(client_error))
        if config["soap-disabled"]:
            return fault_reply("INVALID_OPERATION", SOAP_DISABLED_MESSAGE)

        outcome = check_password(user, password, config["trusted-network"])
        if outcome == "token-missing":
            return fault_reply("LOGIN_MUST_USE_SECURITY_TOKEN", MUST_USE_TOKEN_MESSAGE)
        if outcome != "ok":
            return fault_reply("INVALID_LOGIN", INVALID_LOGIN_MESSAGE)
        fault = user_mode_fault(user.mode)
        if fault is not None:
            return fault_reply(fault[0], fault[1])
        instance_base = config["instance-url"] or self.base_url()
        return login_success_reply(endpoint, user, instance_base, config["sandbox"])

    # --- OAuth

    def answer_oauth(self, body, config, record):
        form = None
        if is_form_content_type(self.headers.get("Content-Type")):
            form = parse_form(body)
            username = form.get("username")
            user = self.state.find_user(username) if username is not None else None
            record["username"] = username
            record.update(describe_credentials(user, form.get("password")))

        if config["oauth-non-json"]:
            return html_reply(400, "Bad Request")
        if config["oauth-error"] is not None:
            forced = config["oauth-error"]
            return oauth_error_reply(forced["error"], forced["error_description"],
                                     forced.get("status") or 400)
        if self.command != "POST":
            # NOTE: Salesforce's response to a non-POST token request was not captured.
            return oauth_error_reply("invalid_request", "must use HTTP POST")
        if form is None or form.get("grant_type") != "password":
            return oauth_error_reply(*UNSUPPORTED_GRANT)
        if config["oauth-blocked"]:
            return oauth_error_reply(*AUTHENTICATION_FAILURE)
        return self.check_oauth_credentials(form, config)

    def check_oauth_credentials(self, form, config):
        client_secret = self.state.find_client_secret(form.get("client_id"))
        if client_secret is None:
            return oauth_error_reply("invalid_client_id", "client identifier invalid")
        if form.get("client_secret") != client_secret:
            return oauth_error_reply("invalid_client", "invalid client credentials")
        user = self.state.find_user(form.get("username"))
        if check_password(user, form.get("password"), config["trusted-network"]) != "ok":
            return oauth_error_reply(*AUTHENTICATION_FAILURE)
        if user.mode not in SUCCESS_MODES:
            return oauth_error_reply(*OAUTH_MODE_ERRORS.get(user.mode, AUTHENTICATION_FAILURE))
        instance_base = config["instance-url"] or self.base_url()
        return oauth_success_reply(user, client_secret, self.base_url(), instance_base)

    # --- control endpoints

    def serve_control(self, path):
        try:
            body = self.read_body()
            reply = self.answer_control(path, body)
        except ValueError as error:
            reply = json_reply(400, {"error": str(error)})
            log.warning("%s %s rejected: %s", self.command, path, error)
        self.send_reply(reply)
        self.log_summary(path, reply.status, None)

    def answer_control(self, path, body):
        """Serve one control request. Raises ValueError for an invalid request body."""
        name = path[len(CONTROL_PREFIX):]
        routes = {
            ("GET", "config"): lambda: self.state.snapshot_config(),
            ("POST", "config"): lambda: self.state.update_config(parse_json_body(body)),
            ("POST", "users"): lambda: self.replace_users(body),
            ("POST", "clients"): lambda: self.replace_clients(body),
            ("GET", "requests"): lambda: self.state.request_log(),
            ("POST", "reset"): lambda: self.reset_state(),
            ("GET", "stats"): lambda: self.state.stats(),
        }
        route = routes.get((self.command, name))
        if route is not None:
            return json_reply(200, route())
        if any(key[1] == name for key in routes):
            return json_reply(405, {"error": f"method {self.command} not allowed on {path}"})
        return json_reply(404, {"error": f"unknown control endpoint {path}"})

    def replace_users(self, body):
        users = parse_users_json(parse_json_body(body))
        self.state.replace_users(users)
        return {"users": len(users)}

    def replace_clients(self, body):
        clients = parse_clients_json(parse_json_body(body))
        self.state.replace_clients(clients)
        return {"clients": len(clients)}

    def reset_state(self):
        self.state.reset()
        return {}


def parse_json_body(body):
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"the request body is not valid JSON: {error}") from None


# --- Server start-up ---------------------------------------------------------


class DoubleServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port, state, tls_context):
        super().__init__(("127.0.0.1", port), DoubleHandler)
        self.state = state
        self.tls = tls_context is not None
        if tls_context is not None:
            # The handshake runs in the connection's thread, so a silent client
            # cannot block the accept loop.
            self.socket = tls_context.wrap_socket(self.socket, server_side=True,
                                                  do_handshake_on_connect=False)


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        description="Salesforce SOAP login() and OAuth username-password test double "
                    "on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0,
                        help="TCP port to listen on, or 0 to pick a free port (default 0)")
    parser.add_argument("--tls-cert", metavar="PEM", help="serve HTTPS with this certificate")
    parser.add_argument("--tls-key", metavar="PEM", help="private key for --tls-cert")
    parser.add_argument("--user", action="append", default=[],
                        metavar="USERNAME:PASSWORD:TOKEN[:MODE]",
                        help="add a user (repeatable). MODE defaults to ok")
    parser.add_argument("--users-file", metavar="FILE",
                        help='add users from a JSON list of {"username", "password", '
                             '"token", "mode"} objects')
    parser.add_argument("--client", action="append", default=[], metavar="KEY:SECRET",
                        help="add an OAuth client by consumer key and secret (repeatable)")
    parser.add_argument("--sandbox", action="store_true",
                        help="report sandbox=true in LoginResult")
    parser.add_argument("--trusted-network", action="store_true",
                        help="accept the password without the security token")
    parser.add_argument("--config", metavar="JSON", default="{}",
                        help="initial config as a JSON object (see README)")
    arguments = parser.parse_args(argv)
    if (arguments.tls_cert is None) != (arguments.tls_key is None):
        parser.error("--tls-cert and --tls-key must be given together")
    return parser, arguments


def build_initial_state(arguments):
    """Build the start-up config, users and clients. Raises ValueError on bad input."""
    users = {}
    if arguments.users_file:
        try:
            with open(arguments.users_file, encoding="utf-8") as users_file:
                users.update(parse_users_json(json.load(users_file)))
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"cannot read --users-file {arguments.users_file}: {error}") from None
    for text in arguments.user:
        user = parse_user_argument(text)
        users[user.username] = user

    clients = {}
    for text in arguments.client:
        client_id, separator, client_secret = text.partition(":")
        if not separator:
            raise ValueError("invalid --client value: expected KEY:SECRET")
        clients[client_id] = client_secret

    try:
        patch = json.loads(arguments.config)
    except json.JSONDecodeError as error:
        raise ValueError(f"--config is not valid JSON: {error}") from None
    config = dict(DEFAULT_CONFIG)
    config["sandbox"] = arguments.sandbox
    config["trusted-network"] = arguments.trusted_network
    validate_config_patch(patch)
    config.update(patch)
    return DoubleState(config, users, clients)


def make_tls_context(cert_path, key_path):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert_path, key_path)
    except (OSError, ssl.SSLError) as error:
        raise OSError(f"cannot load TLS certificate {cert_path} with key {key_path}: "
                      f"{error}") from None
    return context


def install_stop_handlers(server):
    def request_stop(signal_number, _frame):
        log.info("received %s, stopping", signal.Signals(signal_number).name)
        server.state.stop()
        # shutdown() waits for serve_forever() to return, so it must not run
        # on the main thread, which is inside serve_forever().
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)


def main(argv):
    parser, arguments = parse_arguments(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="salesforce-double: %(message)s")
    try:
        state = build_initial_state(arguments)
        tls_context = None
        if arguments.tls_cert:
            tls_context = make_tls_context(arguments.tls_cert, arguments.tls_key)
        server = DoubleServer(arguments.port, state, tls_context)
    except ValueError as error:
        parser.error(str(error))
    except (OSError, ssl.SSLError) as error:
        log.error("start-up failed: %s", error)
        return 1

    install_stop_handlers(server)
    port = server.server_port
    log.info("listening on %s://127.0.0.1:%d", "https" if server.tls else "http", port)
    print(f"PORT={port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/python3
"""Jira Data Center double for the applink tests.

Serves the Jira REST and application link resources that applinkd calls, on
127.0.0.1 only, and lets tests switch faults on through /_double/config.
It models Jira 9 with applinks 9.x by default and Jira 8 with the older
applinks when started with --version 8.x. Standard library only.
See tests/doubles/README.md for the switches and control endpoints.
"""

import argparse
import base64
import collections
import copy
import hashlib
import ipaddress
import json
import logging
import re
import select
import signal
import socket
import ssl
import sys
import threading
import urllib.parse
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger("jira-double")

DEFAULT_VERSION = "9.12.2"
MAX_REQUEST_BODY = 16 * 1024 * 1024
MAX_LOGGED_REQUESTS = 10000
HUGE_BODY_BYTES = 9 * 1024 * 1024 + 512 * 1024
# The body of a "trickle" reply, long enough to outlast any timeout at one byte per interval.
TRICKLE_BODY_BYTES = 4096
TLS_HANDSHAKE_TIMEOUT = 10

BUILTIN_TYPES = ("jira", "confluence", "bamboo", "fecru", "stash", "crowd", "refapp", "generic")
SALESFORCE_TYPE = "salesforce"

BASIC_PROVIDER = "com.atlassian.applinks.api.auth.types.BasicAuthenticationProvider"
BASIC_MODULE = "com.atlassian.applinks.core.auth.basic.BasicAuthenticationProviderPluginModule"

JSON_TYPE = "application/json;charset=UTF-8"
HTML_TYPE = "text/html;charset=UTF-8"
TEXT_TYPE = "text/plain;charset=UTF-8"

NOT_AUTHENTICATED = "You are not authenticated. Authentication required to perform this operation."
NOT_ADMIN = "You must be an administrator to access this resource."
WEBSUDO_REQUIRED = "This resource requires WebSudo."
XSRF_FAILED = "XSRF check failed"
LINK_EXISTS = "An Application Link to this URL already exists."

LOGIN_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Log in - Jira double</title></head>
<body id="jira" class="aui-layout aui-theme-default page-type-login">
<form id="login-form" action="{base}/login.jsp" method="post">
<input type="text" name="os_username" id="login-form-username">
<input type="password" name="os_password" id="login-form-password">
<input type="submit" id="login-form-submit" value="Log In">
</form></body></html>
"""


# ---------------------------------------------------------------------------
# Replies


class Reply:
    """One HTTP reply, or an instruction to hang or to close the connection."""

    def __init__(self, status, body=b"", content_type=JSON_TYPE, headers=None):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = dict(headers or {})
        self.chunked = False
        self.action = None  # None, "hang", "trickle", "close-before-reply" or "close-mid-body"
        self.interval = 0  # seconds between the bytes of a "trickle" reply


class HttpError(Exception):
    """Raised by a route to send an error reply instead of its normal one."""

    def __init__(self, reply):
        super().__init__(reply.status)
        self.reply = reply


def json_reply(status, value, headers=None):
    body = json.dumps(value).encode("utf-8")
    return Reply(status, body, JSON_TYPE, headers)


def text_reply(status, text, content_type=TEXT_TYPE, headers=None):
    return Reply(status, text.encode("utf-8"), content_type, headers)


def simple_error(status, message):
    """Build the `{"status-code", "message"}` error that applinks returns for 401/403/404."""
    return json_reply(status, {"status-code": status, "message": message})


def form_error(status, messages, fields=()):
    """Build the `{"status", "message": [...], "fields"}` error of applinks form checks."""
    return json_reply(status, {"status": status, "message": list(messages), "fields": list(fields)})


def java_exception(exception_class, message, method):
    """Build the 500 reply applinks sends for an uncaught Java exception."""
    trace = (
        f"{exception_class}: {message}\n"
        f"\tat com.atlassian.applinks.core.v1.rest.ApplicationLinkResource.{method}"
        "(ApplicationLinkResource.java)\n"
        "\tat com.sun.jersey.server.impl.model.method.dispatch.AbstractResourceMethodDispatchProvider"
        "$ResponseOutInvoker._dispatch(AbstractResourceMethodDispatchProvider.java:205)\n"
    )
    return json_reply(500, {"status-code": 500, "message": f"{exception_class}: {message}", "stack-trace": trace})


def not_authenticated_reply(login_failed=True):
    """Build Jira's 401 for rejected credentials, or for an anonymous request when login_failed is False."""
    headers = {"X-Seraph-LoginReason": "AUTHENTICATED_FAILED"} if login_failed else {}
    return json_reply(401, {"errorMessages": [NOT_AUTHENTICATED], "errors": {}}, headers)


# ---------------------------------------------------------------------------
# Fault and behaviour configuration


class ConfigError(ValueError):
    """An invalid key or value in a configuration object."""


def validate_bool(key, value):
    if not isinstance(value, bool):
        raise ConfigError(f"{key}: expected true or false, got {json.dumps(value)}")
    return value


def validate_names(key, value):
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{key}: expected a list of user names, got {json.dumps(value)}")
    return list(value)


def validate_not_admin(key, value):
    if isinstance(value, bool):
        return value
    return validate_names(key, value)


def validate_hosts(key, value):
    return [host.lower() for host in validate_names(key, value)]


def validate_redirect_map(key, value):
    if not isinstance(value, dict) or not all(isinstance(url, str) for url in value.values()):
        raise ConfigError(f"{key}: expected an object mapping host names to redirected URLs")
    return {host.lower(): url for host, url in value.items()}


def validate_provider_map(key, value):
    if not isinstance(value, dict) or not all(isinstance(module, str) for module in value.values()):
        raise ConfigError(f"{key}: expected an object mapping provider classes to module classes")
    return dict(value)


def validate_threshold(key, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{key}: expected a number of failed logins of at least 1, got {json.dumps(value)}")
    return value


def validate_captcha_status(key, value):
    if value not in (401, 403):
        raise ConfigError(f"{key}: expected 401 or 403, got {json.dumps(value)}")
    return value


def validate_version(key, value):
    if not isinstance(value, str) or not re.fullmatch(r"\d+\.\d+\.\d+", value):
        raise ConfigError(f"{key}: expected a version such as 9.12.2 or 8.20.10, got {json.dumps(value)}")
    return value


def validate_path_prefix(key, value):
    if not isinstance(value, str) or not value.startswith("/"):
        raise ConfigError(f"{key}: path must be a string starting with '/', got {json.dumps(value)}")
    return value


def validate_count(key, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{key}: count must be a whole number of requests, got {json.dumps(value)}")
    return value


def validate_seconds(key, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(f"{key}: seconds must be a number of at least 0, got {json.dumps(value)}")
    return value


def validate_status_code(key, value):
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        raise ConfigError(f"{key}: status must be an HTTP status code, got {json.dumps(value)}")
    return value


def validate_headers(key, value):
    valid = isinstance(value, dict) and all(
        isinstance(name, str) and isinstance(text, str) and not re.search(r"[\r\n]", name + text)
        for name, text in value.items()
    )
    if not valid:
        raise ConfigError(f"{key}: headers must map header names to single-line strings")
    return dict(value)


def validate_stage(key, value):
    if value not in ("before-reply", "mid-body"):
        raise ConfigError(f"{key}: stage must be \"before-reply\" or \"mid-body\", got {json.dumps(value)}")
    return value


def validate_hang_stage(key, value):
    if value not in ("before-handling", "after-handling"):
        raise ConfigError(f"{key}: stage must be \"before-handling\" or \"after-handling\", "
                          f"got {json.dumps(value)}")
    return value


def validate_byte_count(key, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{key}: bytes must be a whole number, got {json.dumps(value)}")
    return value


def accept_any(key, value):
    return value


def validate_content_type(key, value):
    if not isinstance(value, str) or re.search(r"[\r\n]", value):
        raise ConfigError(f"{key}: content-type must be a single-line string")
    return value


def validate_method(key, value):
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]+", value):
        raise ConfigError(f"{key}: method must be an HTTP method such as GET, got {json.dumps(value)}")
    return value.upper()


# Fields every fault rule may carry, and the extra fields of each fault kind.
COMMON_RULE_FIELDS = {
    "path": validate_path_prefix,
    "method": validate_method,
    "count": validate_count,
}
RULE_FIELDS = {
    "delay": {"seconds": validate_seconds},
    "hang": {"stage": validate_hang_stage},
    "close": {"stage": validate_stage},
    "status": {
        "status": validate_status_code,
        "headers": validate_headers,
        "body": accept_any,
        "content-type": validate_content_type,
    },
    "html": {},
    "empty": {},
    "huge": {"bytes": validate_byte_count, "chunked": validate_bool},
    "trickle": {"interval": validate_seconds},
    "wrong-shape": {"body": accept_any},
    "anonymous": {},
}
REQUIRED_RULE_FIELDS = {"delay": ("seconds",), "status": ("status",)}


def normalize_rule(kind, rule):
    """Validate one fault rule and fill in its defaults."""
    if not isinstance(rule, dict):
        raise ConfigError(f"{kind}: a rule must be an object, got {json.dumps(rule)}")
    fields = {**COMMON_RULE_FIELDS, **RULE_FIELDS[kind]}
    normalized = {"path": "/", "method": None, "count": None}
    for name, value in rule.items():
        if name not in fields:
            raise ConfigError(f"{kind}: unknown rule field {name!r}; known fields: {', '.join(sorted(fields))}")
        normalized[name] = fields[name](f"{kind}.{name}", value)
    for name in REQUIRED_RULE_FIELDS.get(kind, ()):
        if name not in normalized:
            raise ConfigError(f"{kind}: every rule needs the field {name!r}")
    return normalized


def make_rule_validator(kind):
    """Return the validator for a fault key.

    A fault value may be true (every path), a path prefix, one rule object or a
    list of rule objects. A delay may also be a bare number of seconds.
    """

    def validate(key, value):
        if value is False:
            return []
        if value is True:
            value = [{}]
        elif isinstance(value, str):
            value = [{"path": value}]
        elif kind == "delay" and isinstance(value, (int, float)):
            value = [{"seconds": value}]
        elif isinstance(value, dict):
            value = [value]
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected true, a path prefix, a rule object or a list of rules")
        return [normalize_rule(kind, rule) for rule in value]

    return validate


CONFIG_DEFAULTS = {
    "version": DEFAULT_VERSION,
    "salesforce-type": True,
    "block-loopback": False,
    "websudo": False,
    "websudo-bearer": False,
    "xsrf": False,
    "captcha": [],
    "captcha-after": None,
    "captcha-status": 403,
    "not-admin": False,
    "revoked-token-users": [],
    "redirect": {},
    "unknown-hosts": [],
    "extra-providers": {},
    **{kind: [] for kind in RULE_FIELDS},
}
CONFIG_VALIDATORS = {
    "version": validate_version,
    "salesforce-type": validate_bool,
    "block-loopback": validate_bool,
    "websudo": validate_bool,
    "websudo-bearer": validate_bool,
    "xsrf": validate_bool,
    "captcha": validate_names,
    "captcha-after": validate_threshold,
    "captcha-status": validate_captcha_status,
    "not-admin": validate_not_admin,
    "revoked-token-users": validate_names,
    "redirect": validate_redirect_map,
    "unknown-hosts": validate_hosts,
    "extra-providers": validate_provider_map,
    **{kind: make_rule_validator(kind) for kind in RULE_FIELDS},
}


def merge_config(current, update):
    """Return a copy of `current` with the top-level keys of `update` replaced.

    A null value restores that key's default. Raises ConfigError, naming the
    key, before anything is changed.
    """
    if not isinstance(update, dict):
        raise ConfigError(f"the configuration must be a JSON object, got {json.dumps(update)}")
    merged = copy.deepcopy(current)
    for key, value in update.items():
        if key not in CONFIG_VALIDATORS:
            raise ConfigError(f"unknown configuration key {key!r}; known keys: {', '.join(CONFIG_VALIDATORS)}")
        if value is None:
            merged[key] = copy.deepcopy(CONFIG_DEFAULTS[key])
        else:
            merged[key] = CONFIG_VALIDATORS[key](key, value)
    return merged


# ---------------------------------------------------------------------------
# URLs


def comparable_url(url):
    """Return `url` in the form applinks compares: lower case, no trailing slash."""
    return url.strip().rstrip("/").lower()


def parse_http_url(text):
    """Return the urlsplit result of an absolute http(s) URL, or None when it is invalid."""
    try:
        parts = urllib.parse.urlsplit(text)
        parts.port  # raises ValueError for a port that is not a number in range
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts


def is_blocked_host(host):
    """Tell whether applinks 9 rejects `host` as loopback, unspecified or link-local."""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified or address.is_link_local


def link_id_for_url(rpc_url):
    """Derive a link id from its URL, as Java's UUID.nameUUIDFromBytes does (MD5, version 3).

    Recreating a link to the same URL therefore gives it the same id again.
    """
    digest = hashlib.md5(rpc_url.encode("utf-8")).digest()
    return str(uuid.UUID(bytes=digest, version=3))


def is_uuid(text):
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------
# Requests and identities


class Identity:
    """The user a request runs as."""

    def __init__(self, name, admin, authenticated):
        self.name = name
        self.admin = admin
        self.authenticated = authenticated


ANONYMOUS = Identity("anonymous", admin=False, authenticated=False)

# Identity used under the "anonymous" fault. It passes every permission check
# so that the reply is a 200, while X-AUSERNAME reports "anonymous", as in
# Jira's silent fallback to anonymous access.
ANONYMOUS_FALLBACK = Identity("anonymous", admin=True, authenticated=True)


class Request:
    """One HTTP request. `path` is relative to the context path and `full_path` is as received."""

    def __init__(self, method, full_path, path, query, headers, body):
        self.method = method
        self.full_path = full_path
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.identity = ANONYMOUS
        self.auth_kind = auth_kind_of(headers.get("Authorization"))

    def query_value(self, name):
        values = self.query.get(name)
        return values[0] if values else None

    def has_xsrf_header(self):
        value = (self.headers.get("X-Atlassian-Token") or "").strip().lower()
        return value in ("no-check", "nocheck")

    def media_type(self):
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def json_body(self):
        """Parse the body as JSON, or raise HttpError as Jersey does: 415 or 400."""
        if self.media_type() != "application/json":
            raise HttpError(simple_error(415, f"Unsupported media type {self.media_type() or '(none)'}"))
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise HttpError(simple_error(400, f"Cannot parse the request body as JSON: {error}")) from None

    def form_body(self):
        return urllib.parse.parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)


def auth_kind_of(header):
    if not header:
        return "none"
    scheme = header.split(" ", 1)[0].lower()
    return scheme if scheme in ("basic", "bearer") else "other"


def redacted_query(query):
    """Return the query as name → first value, hiding values of password parameters."""
    return {
        name: ("(redacted)" if "password" in name.lower() else values[0])
        for name, values in query.items()
    }


# ---------------------------------------------------------------------------
# Routes


class Route:
    """One resource: method, path pattern and the checks that run before it.

    access is "none" (no authentication at all), "public" (anonymous allowed),
    "user" (any signed-in user) or "admin" (Jira administrator).
    """

    def __init__(self, method, pattern, name, access, websudo=False, xsrf_header=False, servlet=False):
        self.method = method
        self.pattern = re.compile(pattern)
        self.name = name
        self.access = access
        self.websudo = websudo
        self.xsrf_header = xsrf_header
        self.servlet = servlet


APPLINK = r"/rest/applinks/(?:1\.0|2\.0)/applicationlink"
LINK_V1 = r"/rest/applinks/1\.0/applicationlink"
LINK_V2 = r"/rest/applinks/2\.0/applicationlink"
LINK_ID = r"(?P<link_id>[^/]+)"
PROVIDERS = LINK_V2 + "/" + LINK_ID + r"/authentication/provider"
BASIC_SERVLET = r"/plugins/servlet/applinks/auth/conf/basic/" + LINK_ID

# Order matters: the first route whose pattern matches the path wins.
ROUTES = (
    Route("GET", r"/rest/api/2/myself", "myself", "user"),
    Route("GET", r"/rest/api/2/serverInfo", "server-info", "public"),
    Route("GET", LINK_V1, "list-links", "admin", websudo=True),
    Route("PUT", LINK_V2, "create-link", "admin", websudo=True),
    Route("GET", LINK_V1 + r"/type/(?P<type_id>[^/]+)", "list-links-of-type", "admin", websudo=True),
    Route("POST", LINK_V1 + r"/primary/" + LINK_ID, "make-primary", "admin", websudo=True),
    Route("GET", LINK_V1 + "/" + LINK_ID, "get-link", "admin", websudo=True),
    Route("POST", LINK_V2 + "/" + LINK_ID, "update-link", "admin", websudo=True),
    Route("DELETE", APPLINK + "/" + LINK_ID, "delete-link", "admin"),
    Route("GET", PROVIDERS, "list-providers", "admin", websudo=True),
    Route("PUT", PROVIDERS, "set-provider", "admin", websudo=True),
    Route("GET", r"/rest/applinks/1\.0/applicationlinkForm/manifest", "check-url", "admin",
          websudo=True, xsrf_header=True),
    Route("GET", BASIC_SERVLET, "basic-servlet-page", "admin", websudo=True, servlet=True),
    Route("POST", BASIC_SERVLET, "basic-servlet-form", "admin", websudo=True, xsrf_header=True, servlet=True),
    Route("GET", r"/login\.jsp", "login-page", "none"),
)


def find_route(method, path):
    """Return (route, match, allowed methods) for a request.

    route and match are None when no route fits. The allowed methods are those
    of the routes whose pattern fits the path, for the 405 reply.
    """
    allowed = []
    for route in ROUTES:
        match = route.pattern.fullmatch(path)
        if not match:
            continue
        if route.method == method:
            return route, match, []
        if route.method not in allowed:
            allowed.append(route.method)
    return None, None, allowed


# Bodies for the "wrong-shape" fault: valid JSON that does not fit the resource.
WRONG_SHAPES = {
    "myself": {"self": 1, "key": ["x"], "name": 1234567890123, "displayName": None,
               "emailAddress": {}, "active": "yes"},
    "server-info": {"baseUrl": 42, "version": ["9"], "versionNumbers": "9.12.2", "deploymentType": 7,
                    "buildNumber": 1234567890123, "serverTitle": False},
    "list-links": {"applicationLinks": "x"},
    "list-links-of-type": {"applicationLinks": [{"id": 1, "name": None}]},
    "get-link": {"id": 1234567890123, "typeId": [], "name": {}, "displayUrl": 1,
                 "rpcUrl": True, "isPrimary": "yes", "isSystem": "no", "link": "self"},
    "create-link": {"status-code": "201", "resources-created": "x"},
    "update-link": {"status-code": "200", "resources-updated": {}},
    "make-primary": {"status-code": [], "message": 1},
    "list-providers": {"authenticationProviders": {"provider": 1}},
    "check-url": {"code": 12, "warning": [], "params": "x"},
}
DEFAULT_WRONG_SHAPE = [1, "x", None]


# ---------------------------------------------------------------------------
# The double


class User:
    def __init__(self, name, password, admin, key):
        self.name = name
        self.password = password
        self.admin = admin
        self.key = key
        self.failed_logins = 0


class JiraDouble:
    """Jira's state (users, links, outgoing authentication) and its request handling."""

    def __init__(self, users, tokens, config, context_path):
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.context_path = context_path
        self.base_url = ""
        self.users = users
        self.tokens = tokens
        self.start_config = config
        self.config = copy.deepcopy(config)
        self.links = {}
        self.providers = {}
        self.requests = collections.deque(maxlen=MAX_LOGGED_REQUESTS)
        self.generation = 0
        self.stats = {"connections": 0, "accepted": 0, "requests": 0}

        self.route_handlers = {
            "myself": self.get_myself,
            "server-info": self.get_server_info,
            "list-links": self.list_links,
            "create-link": self.create_link,
            "list-links-of-type": self.list_links_of_type,
            "make-primary": self.make_primary,
            "get-link": self.get_link,
            "update-link": self.update_link,
            "delete-link": self.delete_link,
            "list-providers": self.list_providers,
            "set-provider": self.set_provider,
            "check-url": self.check_url,
            "basic-servlet-page": self.show_basic_servlet,
            "basic-servlet-form": self.post_basic_servlet,
            "login-page": self.show_login_page,
        }

    # -- settings ----------------------------------------------------------

    def setting(self, key):
        with self.lock:
            return self.config[key]

    def version(self):
        return self.setting("version")

    def is_jira_8(self):
        """Tell whether to model the applinks of Jira 8 (404 for conflicts, no host checks)."""
        return int(self.version().split(".")[0]) < 9

    def installed_types(self):
        types = list(BUILTIN_TYPES)
        if self.setting("salesforce-type"):
            types.append(SALESFORCE_TYPE)
        return types

    def known_providers(self):
        return {BASIC_PROVIDER: BASIC_MODULE, **self.setting("extra-providers")}

    def is_admin(self, user):
        not_admin = self.setting("not-admin")
        demoted = not_admin is True or (isinstance(not_admin, list) and user.name in not_admin)
        return user.admin and not demoted

    def needs_captcha(self, user):
        threshold = self.setting("captcha-after")
        if user.name in self.setting("captcha"):
            return True
        return threshold is not None and user.failed_logins >= threshold

    # -- request handling --------------------------------------------------

    def handle(self, request):
        """Return the Reply for one Jira request (everything outside /_double)."""
        route, match, allowed_methods = find_route(request.method, request.path)
        delay = self.take_rule("delay", request)
        if delay is not None:
            self.stopping.wait(delay["seconds"])
        transport_fault = self.transport_fault(request)
        if transport_fault is not None:
            return transport_fault

        requires_auth = request.path.startswith(("/rest/", "/plugins/"))
        if requires_auth:
            if self.take_rule("anonymous", request) is not None:
                request.identity = ANONYMOUS_FALLBACK
            else:
                failure = self.authenticate(request)
                if failure is not None:
                    return failure

        body_fault = self.body_fault(request, route)
        if body_fault is not None:
            return body_fault

        if route is None:
            return self.no_route_reply(request, allowed_methods)
        try:
            self.check_guards(route, request)
            reply = self.route_handlers[route.name](request, match)
        except HttpError as error:
            return error.reply
        return self.hang_after_handling(request, reply)

    def no_route_reply(self, request, allowed_methods):
        if allowed_methods:
            return Reply(405, b"", JSON_TYPE, {"Allow": ", ".join(allowed_methods)})
        if request.path.startswith("/rest/"):
            uri = self.base_url + request.path
            return json_reply(404, {"message": f"null for uri: {uri}", "status-code": 404})
        return text_reply(404, "<html><body><h1>Page not found</h1></body></html>", HTML_TYPE)

    # -- faults ------------------------------------------------------------

    def take_rule(self, kind, request, accept=None):
        """Return a copy of the first active rule of `kind` that matches, using up one of its count.

        `accept`, when given, is a predicate that a rule must also pass.
        """
        with self.lock:
            for rule in self.config[kind]:
                if not request.path.startswith(rule["path"]):
                    continue
                if accept is not None and not accept(rule):
                    continue
                if rule["method"] and rule["method"] != request.method:
                    continue
                if rule["count"] is not None:
                    if rule["count"] == 0:
                        continue
                    rule["count"] -= 1
                return dict(rule)
        return None

    def transport_fault(self, request):
        if self.take_rule("hang", request, lambda rule: rule.get("stage") != "after-handling") is not None:
            reply = Reply(0)
            reply.action = "hang"
            return reply
        rule = self.take_rule("close", request)
        if rule is not None:
            reply = json_reply(200, {"applicationLinks": [], "padding": "x" * 4096})
            reply.action = "close-before-reply" if rule.get("stage") == "before-reply" else "close-mid-body"
            return reply
        return None

    def hang_after_handling(self, request, reply):
        """Return a held reply in place of a successful one when an after-handling hang matches."""
        if reply.status >= 400:
            return reply
        if self.take_rule("hang", request, lambda rule: rule.get("stage") == "after-handling") is None:
            return reply
        held = Reply(0)
        held.action = "hang"
        return held

    def body_fault(self, request, route):
        """Return the reply of a status, html, empty, huge or wrong-shape fault, if one matches."""
        rule = self.take_rule("status", request)
        if rule is not None:
            return self.status_fault_reply(rule)
        if self.take_rule("html", request) is not None:
            return text_reply(200, LOGIN_PAGE.format(base=self.base_url), HTML_TYPE)
        if self.take_rule("empty", request) is not None:
            return Reply(200, b"", JSON_TYPE)
        rule = self.take_rule("huge", request)
        if rule is not None:
            return huge_reply(rule.get("bytes", HUGE_BODY_BYTES), rule.get("chunked", False))
        rule = self.take_rule("trickle", request)
        if rule is not None:
            reply = huge_reply(TRICKLE_BODY_BYTES, False)
            reply.action = "trickle"
            reply.interval = rule.get("interval", 1)
            return reply
        rule = self.take_rule("wrong-shape", request)
        if rule is not None:
            if "body" in rule:
                return json_reply(200, rule["body"])
            route_name = route.name if route else ""
            return json_reply(200, WRONG_SHAPES.get(route_name, DEFAULT_WRONG_SHAPE))
        return None

    def status_fault_reply(self, rule):
        status = rule["status"]
        headers = rule.get("headers", {})
        if "body" not in rule:
            try:
                phrase = HTTPStatus(status).phrase
            except ValueError:
                phrase = "Error"
            return json_reply(status, {"status-code": status, "message": phrase}, headers)
        body = rule["body"]
        if isinstance(body, str):
            return text_reply(status, body, rule.get("content-type", TEXT_TYPE), headers)
        reply = json_reply(status, body, headers)
        reply.content_type = rule.get("content-type", JSON_TYPE)
        return reply

    # -- authentication and guards -----------------------------------------

    def authenticate(self, request):
        """Resolve request.identity from the Authorization header.

        Returns None on success or for anonymous requests, else the 401 or
        CAPTCHA reply.
        """
        credentials = (request.headers.get("Authorization") or "").partition(" ")[2].strip()
        if request.auth_kind == "bearer":
            return self.authenticate_token(request, credentials)
        if request.auth_kind == "basic":
            return self.authenticate_password(request, credentials)
        # The double serves requests with no header or another scheme anonymously.
        return None

    def authenticate_token(self, request, token):
        with self.lock:
            name = self.tokens.get(token)
            user = self.users.get(name) if name else None
            if user is None:
                return not_authenticated_reply()
            # NOTE: this assumes Jira rejects an expired or revoked personal access token with
            # the same 401 as an unknown one. No live server was checked.
            if user.name in self.config["revoked-token-users"]:
                return not_authenticated_reply()
            request.identity = Identity(user.name, self.is_admin(user), authenticated=True)
        return None

    def authenticate_password(self, request, encoded):
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return not_authenticated_reply()
        name, separator, password = decoded.partition(":")
        with self.lock:
            user = self.users.get(name)
            if user is None or not separator:
                return not_authenticated_reply()
            if self.needs_captcha(user):
                return self.captcha_reply()
            if user.password is None or password != user.password:
                user.failed_logins += 1
                return not_authenticated_reply()
            user.failed_logins = 0
            request.identity = Identity(user.name, self.is_admin(user), authenticated=True)
        return None

    def captcha_reply(self):
        headers = {
            "X-Seraph-LoginReason": "AUTHENTICATION_DENIED",
            "X-Authentication-Denied-Reason": f"CAPTCHA_CHALLENGE; login-url={self.base_url}/login.jsp",
        }
        message = "CAPTCHA_CHALLENGE: log in through the web page to clear the CAPTCHA."
        return json_reply(self.setting("captcha-status"), {"errorMessages": [message], "errors": {}}, headers)

    def check_guards(self, route, request):
        """Raise HttpError when XSRF, WebSudo or permission checks reject the request.

        They run after authentication, in the order XSRF, WebSudo, permission.
        NOTE: Jira's filters run before the resource's own admin check, but the
        order of the XSRF and WebSudo filters here is a guess.
        """
        self.check_xsrf(route, request)
        identity = request.identity
        if route.websudo and self.websudo_required(request):
            raise HttpError(self.websudo_reply(route, request))
        if route.access == "user" and not identity.authenticated:
            raise HttpError(not_authenticated_reply(login_failed=False))
        if route.access == "admin" and not identity.admin:
            raise HttpError(self.not_admin_reply(route, request))

    def check_xsrf(self, route, request):
        if request.method == "POST" and self.setting("xsrf"):
            if "mozilla" in (request.headers.get("User-Agent") or "").lower():
                raise HttpError(text_reply(403, XSRF_FAILED))
        if route.xsrf_header and not request.has_xsrf_header():
            raise HttpError(text_reply(403, XSRF_FAILED))
        # Jira also checks REST POSTs whose content type a browser form could
        # send, and POSTs without a content type.
        form_like = request.media_type() in ("", "application/x-www-form-urlencoded", "multipart/form-data",
                                             "text/plain")
        if request.method == "POST" and request.path.startswith("/rest/") and form_like:
            if not request.has_xsrf_header():
                raise HttpError(text_reply(403, XSRF_FAILED))

    def websudo_required(self, request):
        if self.setting("websudo"):
            return True
        return self.setting("websudo-bearer") and request.auth_kind == "bearer"

    def websudo_reply(self, route, request):
        if route.servlet:
            destination = urllib.parse.quote(self.context_path + request.path, safe="")
            location = f"{self.base_url}/secure/admin/WebSudoAuthenticate!default.jspa?webSudoDestination={destination}"
            return Reply(302, b"", HTML_TYPE, {"Location": location})
        return simple_error(401, WEBSUDO_REQUIRED)

    def not_admin_reply(self, route, request):
        if route.servlet:
            destination = urllib.parse.quote(self.context_path + request.path, safe="")
            location = f"{self.base_url}/login.jsp?permissionViolation=true&os_destination={destination}"
            return Reply(302, b"", HTML_TYPE, {"Location": location})
        return simple_error(401, NOT_ADMIN)

    # -- /rest/api/2 -------------------------------------------------------

    def get_myself(self, request, match):
        name = request.identity.name
        with self.lock:
            user = self.users.get(name)
            key = user.key if user else name
        return json_reply(200, {
            "self": f"{self.base_url}/rest/api/2/user?username={urllib.parse.quote(name)}",
            "key": key,
            "name": name,
            "displayName": name.capitalize(),
            "emailAddress": f"{name}@example.com",
            "active": True,
        })

    def get_server_info(self, request, match):
        version = self.version()
        numbers = [int(part) for part in version.split(".")]
        return json_reply(200, {
            "baseUrl": self.base_url,
            "version": version,
            "versionNumbers": numbers,
            "deploymentType": "Server",
            "buildNumber": numbers[0] * 100000 + numbers[1] * 1000 + numbers[2],
            "serverTitle": "Jira double",
        })

    # -- application links -------------------------------------------------

    def render_link(self, link):
        return {
            "id": link["id"],
            "typeId": link["typeId"],
            "name": link["name"],
            "displayUrl": link["displayUrl"],
            "rpcUrl": link["rpcUrl"],
            "isPrimary": link["isPrimary"],
            "isSystem": link["isSystem"],
            "iconUrl": f"{self.base_url}/s/applinks/images/types/16{link['typeId']}.png",
            "link": [{"href": f"{self.base_url}/rest/applinks/1.0/applicationlink/{link['id']}", "rel": "self"}],
        }

    def check_link_types_installed(self):
        """Raise the 400 Jira returns when a stored link's type is no longer installed."""
        installed = self.installed_types()
        for link in self.links.values():
            if link["typeId"] not in installed:
                raise HttpError(simple_error(400, f"No type with id {link['typeId']} installed"))

    def list_links(self, request, match):
        with self.lock:
            self.check_link_types_installed()
            links = [self.render_link(link) for link in self.links.values()]
        return json_reply(200, {"applicationLinks": links})

    def list_links_of_type(self, request, match):
        type_id = match["type_id"]
        if type_id not in self.installed_types():
            return simple_error(400, f"No type with id {type_id} installed")
        with self.lock:
            links = [self.render_link(link) for link in self.links.values() if link["typeId"] == type_id]
        return json_reply(200, {"applicationLinks": links})

    def get_link(self, request, match):
        with self.lock:
            link = self.links.get(match["link_id"])
            if link is None:
                # applinks 1.0 returns a 500 (NullPointerException) for an unknown id, not 404.
                return java_exception("java.lang.NullPointerException", "null", "getApplicationLink")
            self.check_link_types_installed()
            return json_reply(200, self.render_link(link))

    def find_link_by_rpc_url(self, url):
        wanted = comparable_url(url)
        for link in self.links.values():
            if comparable_url(link["rpcUrl"]) == wanted:
                return link
        return None

    def name_is_taken(self, name, except_id=None):
        wanted = name.lower()
        return any(link["name"].lower() == wanted and link["id"] != except_id for link in self.links.values())

    def free_name(self, name):
        """Return `name`, or `name - 2`, `name - 3` and so on when it is taken, as applinks renames."""
        if not self.name_is_taken(name):
            return name
        suffix = 2
        while self.name_is_taken(f"{name} - {suffix}"):
            suffix += 1
        return f"{name} - {suffix}"

    def set_primary(self, link):
        for other in self.links.values():
            if other["typeId"] == link["typeId"]:
                other["isPrimary"] = other["id"] == link["id"]

    def create_link(self, request, match):
        fields = validate_link_fields(request.json_body(), required=("name", "typeId", "rpcUrl"))
        if fields["typeId"] not in self.installed_types():
            return simple_error(400, f"No type with id {fields['typeId']} installed")
        with self.lock:
            if self.find_link_by_rpc_url(fields["rpcUrl"]) is not None:
                return form_error(400, ["applinks.error.duplicate.url"], ["rpcUrl"])
            link = {
                "id": link_id_for_url(fields["rpcUrl"]),
                "typeId": fields["typeId"],
                "name": self.free_name(fields["name"]),
                "displayUrl": fields.get("displayUrl") or fields["rpcUrl"],
                "rpcUrl": fields["rpcUrl"],
                "isPrimary": False,
                "isSystem": False,
            }
            first_of_type = not any(other["typeId"] == link["typeId"] for other in self.links.values())
            self.links[link["id"]] = link
            if first_of_type or fields.get("isPrimary"):
                self.set_primary(link)
        log.info("created link %s (%s) to %s", link["id"], link["name"], link["rpcUrl"])
        href = f"{self.base_url}/rest/applinks/2.0/applicationlink/{link['id']}"
        created = {"status-code": 201, "resources-created": [{"href": href, "rel": "self"}]}
        return json_reply(201, created, {"Location": href})

    def update_link(self, request, match):
        fields = validate_link_fields(request.json_body(), required=())
        with self.lock:
            link = self.links.get(match["link_id"])
            if link is None:
                return simple_error(404, f"No application link with id {match['link_id']} exists.")
            if "rpcUrl" in fields and comparable_url(fields["rpcUrl"]) != comparable_url(link["rpcUrl"]):
                return form_error(400, ["applinks.error.cannot.update.rpcurl"], ["rpcUrl"])
            if "typeId" in fields and fields["typeId"] != link["typeId"]:
                return form_error(400, ["The application type of a link cannot be changed."], ["typeId"])
            if "name" in fields and not fields["name"]:
                return form_error(400, ["\"name\" must not be blank."], ["name"])
            if "name" in fields and self.name_is_taken(fields["name"], except_id=link["id"]):
                return form_error(400, ["applinks.error.duplicate.name"], ["name"])
            link["name"] = fields.get("name", link["name"])
            link["displayUrl"] = fields.get("displayUrl") or link["displayUrl"]
            # isPrimary false is ignored because every type keeps one primary link.
            if fields.get("isPrimary"):
                self.set_primary(link)
        href = f"{self.base_url}/rest/applinks/2.0/applicationlink/{link['id']}"
        return json_reply(200, {"status-code": 200, "resources-updated": [{"href": href, "rel": "self"}]})

    def make_primary(self, request, match):
        with self.lock:
            link = self.links.get(match["link_id"])
            if link is None:
                message = f"No application link with id {match['link_id']}"
                return java_exception("java.lang.IllegalArgumentException", message, "makePrimary")
            self.set_primary(link)
        return json_reply(200, {"status-code": 200, "message": "updated"})

    def delete_link(self, request, match):
        with self.lock:
            link = self.links.pop(match["link_id"], None)
            if link is None:
                return simple_error(404, f"No application link with id {match['link_id']} exists.")
            self.providers.pop(link["id"], None)
            if link["isPrimary"]:
                successor = next((other for other in self.links.values() if other["typeId"] == link["typeId"]), None)
                if successor is not None:
                    self.set_primary(successor)
        log.info("deleted link %s (%s)", link["id"], link["name"])
        return json_reply(200, {"status-code": 200, "message": f"Application link {link['name']} deleted."})

    # -- outgoing authentication -------------------------------------------

    def require_link(self, link_id):
        link = self.links.get(link_id)
        if link is None:
            raise HttpError(simple_error(404, f"No application link with id {link_id} exists."))
        return link

    def list_providers(self, request, match):
        with self.lock:
            link = self.require_link(match["link_id"])
            modules = self.known_providers()
            entries = [
                {"module": modules.get(provider, ""), "provider": provider, "config": dict(config)}
                for provider, config in self.providers.get(link["id"], {}).items()
            ]
        return json_reply(200, {"authenticationProviders": entries})

    def set_provider(self, request, match):
        with self.lock:
            link = self.require_link(match["link_id"])
        body = request.json_body()
        if not isinstance(body, dict) or not isinstance(body.get("provider"), str):
            return simple_error(400, "The request body needs a \"provider\" class name.")
        provider = body["provider"]
        config = body.get("config", {})
        if provider not in self.known_providers():
            return simple_error(400, f"Authentication provider {provider} is not recognised.")
        if not isinstance(config, dict) or not all(isinstance(value, str) for value in config.values()):
            return simple_error(400, "\"config\" must be an object of string values.")
        with self.lock:
            self.providers.setdefault(link["id"], {})[provider] = dict(config)
        log.info("configured provider %s on link %s", provider.rsplit(".", 1)[-1], link["id"])
        href = f"{self.base_url}/rest/applinks/2.0/applicationlink/{link['id']}/authentication/provider"
        return json_reply(201, {"status-code": 201, "resources-created": [{"href": href, "rel": "self"}]})

    def show_basic_servlet(self, request, match):
        with self.lock:
            link = self.links.get(match["link_id"])
            configured = link is not None and BASIC_PROVIDER in self.providers.get(link["id"], {})
        if link is None:
            return text_reply(404, "<html><body>Application link not found</body></html>", HTML_TYPE)
        state = "Configured" if configured else "Not Configured"
        return text_reply(200, f"<html><body><span class=\"field-value\">{state}</span></body></html>", HTML_TYPE)

    def post_basic_servlet(self, request, match):
        """Handle the Basic Access form: method=DELETE removes it, method=PUT sets it.

        Success is a 302 to the application links page. A password mismatch
        returns the form with an error and status 200.
        """
        form = request.form_body()
        method = (form.get("method") or [""])[0].upper()
        with self.lock:
            link = self.links.get(match["link_id"])
            if link is None:
                return text_reply(404, "<html><body>Application link not found</body></html>", HTML_TYPE)
            if method == "DELETE":
                self.providers.get(link["id"], {}).pop(BASIC_PROVIDER, None)
            elif method == "PUT":
                username = (form.get("username") or [""])[0]
                password = (form.get("password1") or [""])[0]
                if password != (form.get("password2") or [""])[0]:
                    return text_reply(200, "<html><body><div class=\"error\">Passwords do not match.</div>"
                                      "</body></html>", HTML_TYPE)
                self.providers.setdefault(link["id"], {})[BASIC_PROVIDER] = {"username": username,
                                                                             "password": password}
            else:
                return text_reply(400, f"Unsupported form method {method or '(none)'}; use PUT or DELETE.")
        log.info("basic access form %s on link %s", method, link["id"])
        location = f"{self.base_url}/plugins/servlet/applinks/listApplicationLinks"
        return Reply(302, b"", HTML_TYPE, {"Location": location})

    # -- URL check of the "Create link" dialog -----------------------------

    def check_url(self, request, match):
        """Check a URL for the Create link dialog, in the order: invalid, self, existing, blocked, warnings."""
        raw = (request.query_value("url") or "").strip()
        if not raw:
            return form_error(400, ["The application URL must not be blank."], ["application-url"])
        parts = parse_http_url(raw)
        if parts is None:
            return form_error(400, [f"The URL '{raw}' is not valid."], ["application-url"])
        jira_8 = self.is_jira_8()
        conflict_status = 404 if jira_8 else 409
        if comparable_url(raw) == comparable_url(self.base_url):
            return form_error(conflict_status, ["applinks.error.applink.itsme"])
        with self.lock:
            existing = self.find_link_by_rpc_url(raw)
        if existing is not None:
            return form_error(conflict_status, [LINK_EXISTS])
        host = parts.hostname.lower()
        if not jira_8 and self.setting("block-loopback") and is_blocked_host(host):
            return simple_error(403, f"The host {host} is blocked: Jira does not link to local addresses.")
        if host in self.setting("unknown-hosts"):
            return json_reply(200, {"code": "applinks.warning.unknown.host",
                                    "warning": f"The host {host} could not be found.",
                                    "params": {"host": host}})
        redirected = self.setting("redirect").get(host)
        if redirected is not None and not jira_8:
            return json_reply(200, {"code": "applinks.warning.redirected.host",
                                    "warning": f"The URL {raw} redirected to {redirected}.",
                                    "params": {"redirectedUrl": redirected}})
        return json_reply(200, {})

    def show_login_page(self, request, match):
        return text_reply(200, LOGIN_PAGE.format(base=self.base_url), HTML_TYPE)

    # -- control endpoints -------------------------------------------------

    def handle_control(self, method, path, body):
        """Return the Reply for a /_double control request."""
        handlers = {
            ("POST", "/_double/config"): lambda: self.post_config(body),
            ("GET", "/_double/config"): lambda: json_reply(200, self.config_snapshot()),
            ("GET", "/_double/state"): lambda: json_reply(200, self.state_snapshot()),
            ("GET", "/_double/requests"): lambda: json_reply(200, self.requests_snapshot()),
            ("POST", "/_double/reset"): self.reset,
            ("GET", "/_double/stats"): lambda: json_reply(200, self.stats_snapshot()),
        }
        handler = handlers.get((method, path))
        if handler is None:
            return json_reply(404, {"error": f"no control endpoint {method} {path}"})
        return handler()

    def post_config(self, body):
        try:
            update = json.loads(body.decode("utf-8") or "null")
            with self.lock:
                self.config = merge_config(self.config, update)
        except (UnicodeDecodeError, json.JSONDecodeError, ConfigError) as error:
            log.warning("rejected configuration: %s", error)
            return json_reply(400, {"error": str(error)})
        log.info("configuration changed: %s", ", ".join(update) or "(nothing)")
        return json_reply(200, self.config_snapshot())

    def config_snapshot(self):
        with self.lock:
            return copy.deepcopy(self.config)

    def state_snapshot(self):
        with self.lock:
            modules = self.known_providers()
            return {
                "base_url": self.base_url,
                "version": self.version(),
                "links": [self.render_link(link) for link in self.links.values()],
                "providers": {
                    link_id: [{"provider": provider, "module": modules.get(provider, ""), "config": dict(config)}
                              for provider, config in configs.items()]
                    for link_id, configs in self.providers.items()
                },
                "users": [
                    {"name": user.name, "key": user.key, "admin": self.is_admin(user),
                     "failed_logins": user.failed_logins, "captcha": self.needs_captcha(user)}
                    for user in self.users.values()
                ],
                "config": copy.deepcopy(self.config),
            }

    def requests_snapshot(self):
        with self.lock:
            return list(self.requests)

    def stats_snapshot(self):
        with self.lock:
            return dict(self.stats)

    def reset(self):
        with self.lock:
            self.links.clear()
            self.providers.clear()
            self.requests.clear()
            self.config = copy.deepcopy(self.start_config)
            for user in self.users.values():
                user.failed_logins = 0
            self.generation += 1
            self.stats = {"connections": 0, "accepted": 0, "requests": 0}
        log.info("state reset")
        return json_reply(200, {"reset": True})

    # -- bookkeeping -------------------------------------------------------

    def count_accepted_connection(self):
        with self.lock:
            self.stats["accepted"] += 1

    def count_request(self, connection_generation):
        """Count one Jira request. Returns the generation the connection is now counted in."""
        with self.lock:
            self.stats["requests"] += 1
            if connection_generation != self.generation:
                self.stats["connections"] += 1
            return self.generation

    def record_request(self, request, status):
        entry = {
            "method": request.method,
            "path": request.full_path,
            "query": redacted_query(request.query),
            "status": status,
            "user": request.identity.name,
            "user_agent": request.headers.get("User-Agent"),
            "has_xsrf_header": request.has_xsrf_header(),
            "auth_kind": request.auth_kind,
            "content_type": request.headers.get("Content-Type"),
        }
        with self.lock:
            self.requests.append(entry)


def validate_link_fields(body, required):
    """Check the members of an application link body, raising the 400 Jackson would give."""
    if not isinstance(body, dict):
        raise HttpError(form_error(400, ["The request body must be an application link object."]))
    types = {"name": str, "typeId": str, "rpcUrl": str, "displayUrl": str, "isPrimary": bool}
    fields = {}
    for name, expected in types.items():
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, expected):
            raise HttpError(form_error(400, [f"\"{name}\" has the wrong type."], [name]))
        fields[name] = value.strip() if isinstance(value, str) else value
    for name in required:
        if not fields.get(name):
            raise HttpError(form_error(400, [f"\"{name}\" is required."], [name]))
    for name in ("rpcUrl", "displayUrl"):
        if fields.get(name) and parse_http_url(fields[name]) is None:
            raise HttpError(form_error(400, [f"The URL '{fields[name]}' is not valid."], [name]))
    return fields


def huge_reply(size, chunked):
    """Build a valid JSON reply of about `size` bytes."""
    prefix = b'{"applicationLinks":[],"padding":"'
    suffix = b'"}'
    padding = max(0, size - len(prefix) - len(suffix))
    reply = Reply(200, prefix + b"x" * padding + suffix, JSON_TYPE)
    reply.chunked = chunked
    return reply


# ---------------------------------------------------------------------------
# HTTP server


class JiraRequestHandler(BaseHTTPRequestHandler):
    """Reads requests, passes them to the JiraDouble and writes its replies."""

    protocol_version = "HTTP/1.1"
    server_version = "JiraDouble/1.0"
    # Headers and body go out in separate writes, so with Nagle's algorithm a
    # keep-alive client would wait for a delayed ACK on every reply.
    disable_nagle_algorithm = True

    def setup(self):
        self.handshake_done = self.finish_tls_handshake()
        self.counted_generation = None
        super().setup()

    def finish_tls_handshake(self):
        """Run the TLS handshake in this connection's thread, so that a slow client stalls no other connection."""
        if not isinstance(self.request, ssl.SSLSocket):
            return True
        try:
            self.request.settimeout(TLS_HANDSHAKE_TIMEOUT)
            self.request.do_handshake()
            self.request.settimeout(None)
        except (ssl.SSLError, OSError) as error:
            log.warning("TLS handshake with %s:%s failed: %s", *self.client_address[:2], error)
            return False
        return True

    def handle(self):
        if self.handshake_done:
            super().handle()

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass

    def log_request(self, code="-", size="-"):
        """Silence the default access log because dispatch() writes its own line."""

    def log_message(self, format, *args):
        log.warning("%s: %s", self.address_string(), format % args)

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    # -- one request -------------------------------------------------------

    def dispatch(self):
        double = self.server.double
        try:
            body = self.read_body()
        except ValueError as error:
            self.close_connection = True
            self.write_reply(text_reply(400, f"Invalid request body: {error}"), "anonymous")
            return
        split = urllib.parse.urlsplit(self.path)
        if split.path.startswith("/_double/"):
            reply = double.handle_control(self.command, split.path, body)
            self.send_with_action(reply, "anonymous")
            log.info("%s %s %s (control)", self.command, split.path, reply.status)
            return

        self.counted_generation = double.count_request(self.counted_generation)
        relative_path = self.strip_context_path(split.path)
        query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        request = Request(self.command, split.path, relative_path or split.path, query, self.headers, body)
        if relative_path is None:
            reply = text_reply(404, "<html><body><h1>Page not found</h1></body></html>", HTML_TYPE)
        else:
            reply = self.handle_safely(request)
        if reply.action == "hang":
            # Record the request first so that a test can see it while it hangs.
            double.record_request(request, None)
            log.info("%s %s hanging user=%s", self.command, split.path, request.identity.name)
            self.wait_until_client_leaves()
            return
        status = self.send_with_action(reply, request.identity.name)
        double.record_request(request, status)
        shown_status = {None: status, "close-mid-body": f"{status} closed mid-body",
                        "close-before-reply": "closed before reply"}[reply.action]
        log.info("%s %s %s user=%s", self.command, split.path, shown_status, request.identity.name)

    def handle_safely(self, request):
        """Run the double on `request`, turning a bug in the double into a logged 500."""
        try:
            return self.server.double.handle(request)
        except Exception:  # noqa: BLE001 - keep serving the other tests' requests
            log.exception("internal error in the double on %s %s", request.method, request.path)
            return simple_error(500, "Internal error in the Jira double; see its standard error.")

    def strip_context_path(self, path):
        """Return `path` relative to the context path, or None when it lies outside it."""
        context = self.server.double.context_path
        if not context:
            return path
        if path == context or path.startswith(context + "/"):
            return path[len(context):] or "/"
        return None

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self.read_chunked_body()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_REQUEST_BODY:
            raise ValueError(f"Content-Length {length} is outside 0..{MAX_REQUEST_BODY}")
        return self.rfile.read(length)

    def read_chunked_body(self):
        chunks = []
        total = 0
        while True:
            size = int(self.rfile.readline(1024).split(b";")[0].strip(), 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_REQUEST_BODY:
                raise ValueError(f"chunked body is larger than {MAX_REQUEST_BODY} bytes")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    # -- writing -----------------------------------------------------------

    def send_with_action(self, reply, user_name):
        """Write `reply` or carry out its close action. Returns the status sent, or None."""
        try:
            if reply.action == "close-before-reply":
                self.drop_connection()
                return None
            if reply.action == "trickle":
                self.write_trickle(reply, user_name)
                return reply.status
            if reply.action == "close-mid-body":
                self.write_head(reply, user_name)
                self.wfile.write(reply.body[: len(reply.body) // 2])
                self.drop_connection()
                return reply.status
            self.write_reply(reply, user_name)
            return reply.status
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError) as error:
            log.warning("client closed the connection during the reply: %s", error)
            self.close_connection = True
            return reply.status

    def write_head(self, reply, user_name):
        self.send_response(reply.status)
        self.send_header("X-AUSERNAME", user_name)
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(reply.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

    def write_reply(self, reply, user_name):
        self.write_head(reply, user_name)
        if not reply.chunked:
            self.wfile.write(reply.body)
            return
        step = 64 * 1024
        for start in range(0, len(reply.body), step):
            chunk = reply.body[start:start + step]
            self.wfile.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    def write_trickle(self, reply, user_name):
        """Send the head at once, then the body one byte per interval, until the double stops."""
        self.write_head(reply, user_name)
        stopping = self.server.double.stopping
        for index in range(len(reply.body)):
            self.wfile.write(reply.body[index:index + 1])
            self.wfile.flush()
            if stopping.wait(reply.interval):
                break

    def drop_connection(self):
        self.close_connection = True
        self.wfile.flush()
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def wait_until_client_leaves(self):
        """Send nothing until the client closes the connection or the double stops."""
        self.close_connection = True
        stopping = self.server.double.stopping
        while not stopping.is_set():
            readable, _, _ = select.select([self.connection], [], [], 0.25)
            if not readable:
                continue
            try:
                if self.connection.recv(4096) == b"":
                    return
            except ssl.SSLWantReadError:
                continue
            except OSError:
                return


class JiraServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address, double):
        self.double = double
        super().__init__(address, JiraRequestHandler)

    def get_request(self):
        connection = super().get_request()
        self.double.count_accepted_connection()
        return connection


# ---------------------------------------------------------------------------
# Start-up


def parse_user(text):
    """Parse NAME:PASSWORD[:admin|:user]. The password may contain colons but must not end in :admin or :user."""
    name, separator, rest = text.partition(":")
    if not name or not separator:
        raise argparse.ArgumentTypeError(f"invalid --user {name or text!r}: expected NAME:PASSWORD[:admin|:user]")
    admin = True
    for role, is_admin in ((":admin", True), (":user", False)):
        if rest.endswith(role):
            rest, admin = rest[: -len(role)], is_admin
            break
    return name, rest, admin


def parse_token(text):
    token, separator, name = text.rpartition(":")
    if not token or not separator or not name:
        raise argparse.ArgumentTypeError("invalid --token: expected TOKEN:NAME")
    return token, name


def parse_context_path(text):
    path = text.rstrip("/")
    if path and not path.startswith("/"):
        raise argparse.ArgumentTypeError(f"invalid --context-path {text!r}: it must start with '/'")
    return path


def parse_version(text):
    try:
        return validate_version("--version", text)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description="Jira Data Center double for the applink tests (127.0.0.1 only).")
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1. The default 0 picks a free port.")
    parser.add_argument("--tls-cert", metavar="PEM", help="Serve HTTPS with this certificate chain.")
    parser.add_argument("--tls-key", metavar="PEM", help="Private key for --tls-cert.")
    parser.add_argument("--user", type=parse_user, action="append", default=[], metavar="NAME:PASSWORD[:admin|:user]",
                        help="Add a user (repeatable). Without a role the user is an administrator.")
    parser.add_argument("--token", type=parse_token, action="append", default=[], metavar="TOKEN:NAME",
                        help="Add a personal access token for user NAME (repeatable).")
    parser.add_argument("--version", type=parse_version, default=DEFAULT_VERSION,
                        help="Jira version to report and model: 9.x (default 9.12.2) or 8.x such as 8.20.10.")
    parser.add_argument("--context-path", type=parse_context_path, default="", metavar="PATH",
                        help="Serve Jira under this path, for example /jira.")
    parser.add_argument("--no-salesforce-type", action="store_true",
                        help="Do not install the salesforce application type.")
    parser.add_argument("--block-loopback", action="store_true",
                        help="Reject loopback, 0.0.0.0 and link-local URLs in the URL check, as Jira 9 does.")
    parser.add_argument("--config", metavar="JSON", help="Initial configuration of switches and faults, a JSON object (see tests/doubles/README.md).")
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key must be given together")
    return args


def build_double(args):
    """Create the JiraDouble from the command line, or raise ConfigError or ValueError."""
    users = {}
    for index, (name, password, admin) in enumerate(args.user):
        users[name] = User(name, password, admin, key=f"JIRAUSER{10000 + index}")
    tokens = {}
    for token, name in args.token:
        if name not in users:
            # A token for a user not given with --user makes an administrator
            # who can only sign in with that token.
            users[name] = User(name, None, True, key=f"JIRAUSER{10000 + len(users)}")
        tokens[token] = name
    config = merge_config(CONFIG_DEFAULTS, {
        "version": args.version,
        "salesforce-type": not args.no_salesforce_type,
        "block-loopback": args.block_loopback,
    })
    if args.config:
        config = merge_config(config, json.loads(args.config))
    return JiraDouble(users, tokens, config, args.context_path)


def make_tls_context(cert, key):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def main(argv):
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="jira-double: %(message)s")
    args = parse_arguments(argv)
    try:
        double = build_double(args)
        tls = make_tls_context(args.tls_cert, args.tls_key) if args.tls_cert else None
    except (ConfigError, ValueError) as error:
        log.error("invalid --config: %s", error)
        return 2
    except (OSError, ssl.SSLError) as error:
        log.error("failed to load --tls-cert or --tls-key: %s", error)
        return 2

    try:
        server = JiraServer(("127.0.0.1", args.port), double)
    except OSError as error:
        log.error("failed to listen on 127.0.0.1:%s: %s. Choose another --port, or 0 for a free one.", args.port, error)
        return 1
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    port = server.server_address[1]
    scheme = "https" if tls else "http"
    double.base_url = f"{scheme}://127.0.0.1:{port}{args.context_path}"

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    log.info("listening on %s as Jira %s with %d users", double.base_url, double.version(), len(double.users))
    print(f"PORT={port}", flush=True)

    while not stop.wait(0.5):
        if not thread.is_alive():
            log.error("the server thread stopped unexpectedly")
            return 1
    log.info("stopping on signal")
    double.stopping.set()
    server.shutdown()
    server.server_close()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

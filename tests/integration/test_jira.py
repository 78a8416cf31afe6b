"""Jira protocol: authentication, permissions, odd replies, retries, link checks, versions,
TLS and proxies, each shown against the Jira double.

Most classes share one Jira double, one applinkd and one site per class (SharedSiteTestCase)
and reset the double before each test. Classes whose tests need their own credentials,
start-up switches, certificates or daemon environment start them per test.
"""

import base64
import contextlib
import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from gi.repository import Gio

import applinktest
from applinktest import JIRA_ADMIN, JIRA_USER, asv

SITE = "jira"
MYSELF_PATH = "/rest/api/2/myself"
SERVER_INFO_PATH = "/rest/api/2/serverInfo"
LIST_PATH = "/rest/applinks/1.0/applicationlink"
CREATE_PATH = "/rest/applinks/2.0/applicationlink"
CHECK_PATH = "/rest/applinks/1.0/applicationlinkForm/manifest"
LIST_REQUEST = f"GET {LIST_PATH}"
CREATE_REQUEST = f"PUT {CREATE_PATH}"

# The Jira double never fetches the URL of a link, so links point at a loopback port that
# has no server behind it.
SALESFORCE_URL = "http://127.0.0.1:9"
OTHER_SALESFORCE_URL = "http://localhost:9"

LINK_EXISTS = "An Application Link to this URL already exists."
XSRF_FAILED = "XSRF check failed"

# Environment variables that select or configure a proxy for GLib's resolvers. The proxy
# tests remove them all before setting the ones a test needs.
PROXY_VARIABLES = ("http_proxy", "https_proxy", "ftp_proxy", "all_proxy", "no_proxy",
                   "HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "ALL_PROXY", "NO_PROXY",
                   "GIO_USE_PROXY_RESOLVER", "GSETTINGS_BACKEND", "XDG_CURRENT_DESKTOP",
                   "GNOME_DESKTOP_SESSION_ID", "DESKTOP_SESSION", "KDE_FULL_SESSION")


def jira_link_id(rpc_url):
    """Return the id the Jira double gives a link to rpc_url: the MD5 name UUID of the URL."""
    digest = hashlib.md5(rpc_url.encode("utf-8")).digest()
    return str(uuid.UUID(bytes=digest, version=3))


def java_exception_body(exception_class, message):
    """Build the body of applinks' 500 reply for an uncaught Java exception."""
    return {"status-code": 500, "message": f"{exception_class}: {message}",
            "stack-trace": f"{exception_class}: {message}\n\tat com.atlassian.applinks"}


def clear_storage():
    """Delete every applink keyring item and the applink settings folder."""
    for schema in (applinktest.JIRA_SCHEMA, applinktest.SALESFORCE_SCHEMA):
        subprocess.run(["secret-tool", "clear", "xdg:schema", schema],
                       capture_output=True, timeout=30)
    config_dir = Path(os.environ["XDG_CONFIG_HOME"]) / "applink"
    shutil.rmtree(config_dir, ignore_errors=True)


def closed_port():
    """Return a loopback TCP port on which nothing listens (free when this returns)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def default_resolver_name(variables):
    """Return the type name of GLib's default proxy resolver in a process with variables set."""
    with process_environment(variables):
        probe = subprocess.run(
            [sys.executable, "-c", "from gi.repository import Gio; "
             "print(type(Gio.ProxyResolver.get_default()).__name__)"],
            capture_output=True, text=True, timeout=30)
    return probe.stdout.strip() or f"unknown ({probe.stderr.strip()})"


def new_workdir(prefix):
    base = Path(os.environ.get("TMPDIR", tempfile.gettempdir()))
    return Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=base))


@contextlib.contextmanager
def process_environment(variables):
    """Set variables in os.environ and remove every PROXY_VARIABLES entry not among them.

    A value of None removes that variable. The old environment comes back on exit, so only
    processes started inside the block see the change.
    """
    saved = dict(os.environ)
    try:
        for name in PROXY_VARIABLES:
            os.environ.pop(name, None)
        for name, value in variables.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


class JiraAccounts:
    """Fresh secrets for the standard Jira accounts, and the Jira double's arguments for them.

    JIRA_ADMIN is an administrator and JIRA_USER is not. Each has a password and a personal
    access token.
    """

    def __init__(self):
        self.admin_password = f"jirapw{secrets.token_hex(12)}"
        self.admin_token = f"jiratok{secrets.token_hex(12)}"
        self.user_password = f"jirapw{secrets.token_hex(12)}"
        self.user_token = f"jiratok{secrets.token_hex(12)}"

    def double_arguments(self):
        return ["--user", f"{JIRA_ADMIN}:{self.admin_password}:admin",
                "--user", f"{JIRA_USER}:{self.user_password}:user",
                "--token", f"{self.admin_token}:{JIRA_ADMIN}",
                "--token", f"{self.user_token}:{JIRA_USER}"]

    def secrets(self):
        """Return the secrets and the Basic Authorization values, for the leak check."""
        values = {self.admin_password, self.admin_token, self.user_password, self.user_token}
        for name, password in ((JIRA_ADMIN, self.admin_password),
                               (JIRA_USER, self.user_password)):
            values.add(base64.b64encode(f"{name}:{password}".encode("utf-8")).decode("ascii"))
        return values

    def admin_basic(self):
        return {"username": JIRA_ADMIN, "password": self.admin_password}


class JiraTestCase(applinktest.ApplinkTestCase):
    """Helpers shared by the Jira test classes: request counting and daemon health checks."""

    def setUp(self):
        super().setUp()
        self.log_offset = 0

    def start_jira_with_accounts(self, *arguments):
        """Start a Jira double with fresh standard accounts, which become self.accounts."""
        self.accounts = JiraAccounts()
        self.used_secrets |= self.accounts.secrets()
        return self.start_jira(*self.accounts.double_arguments(), *arguments)

    def jira_requests(self, path, method=None):
        """Return the requests the Jira double received for path, optionally of one method."""
        return [request for request in self.jira.requests()
                if request["path"] == path and method in (None, request["method"])]

    def new_daemon_log(self):
        """Return what the daemon logged since the test began."""
        return self.daemon.log_text()[self.log_offset:]

    def retry_lines(self, request, status):
        """Return the daemon's log lines, since the test began, on retrying request after status."""
        marker = f"{request} answered {status}, retrying"
        return [line for line in self.new_daemon_log().splitlines() if marker in line]

    def assert_daemon_healthy(self):
        """Check that the daemon still responds and logged no critical since the test began."""
        self.assertIsInstance(self.manager.list_sites(), list)
        self.assertNotIn("CRITICAL", self.new_daemon_log())


class SharedSiteTestCase(JiraTestCase):
    """Tests that share one Jira double, one applinkd and one token site named SITE.

    The double and the daemon start once per class. Before each test the double is reset, so
    every test begins with no links, the start-up configuration and an empty request log. The
    site's keyring item and settings stay until the class ends.
    """

    jira_arguments = ()
    context_path = ""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.class_workdir = new_workdir(cls.__name__)
        cls.addClassCleanup(shutil.rmtree, cls.class_workdir, True)
        cls.addClassCleanup(clear_storage)
        cls.class_accounts = JiraAccounts()
        arguments = [*cls.class_accounts.double_arguments(), *cls.jira_arguments]
        if cls.context_path:
            arguments += ["--context-path", cls.context_path]
        cls.class_jira = applinktest.Double("jira-double", applinktest.JIRA_DOUBLE, arguments,
                                            cls.class_workdir)
        cls.addClassCleanup(cls.class_jira.stop)
        cls.class_daemon = applinktest.Daemon(cls.bus, cls.class_workdir, "shared")
        cls.addClassCleanup(cls.class_daemon.stop)
        cls.class_daemon.wait_for_name()
        cls.site_url = cls.class_jira.url + cls.context_path
        manager = applinktest.Manager(cls.bus, lambda label, text: None)
        manager.add_site(cls.site_url, {"token": cls.class_accounts.admin_token},
                         {"name": SITE})

    def setUp(self):
        super().setUp()
        self.accounts = self.class_accounts
        self.used_secrets |= self.accounts.secrets()
        self.jira = self.class_jira
        self.doubles = [self.jira]
        self.daemon = self.class_daemon
        self.daemons = [self.daemon]
        self.jira.reset()
        self.manager = applinktest.Manager(self.bus, self.record_output)
        self.site = SITE
        self.log_offset = len(self.daemon.log_text())

    def reset_storage(self):
        """Keep the shared site's keyring item and settings, which the class removes at its end."""

    def create_link(self, site=None, name="Salesforce", options=None, url=SALESFORCE_URL):
        return self.manager.create_link(site or self.site, url, name, options)


class PreemptiveAuthTest(JiraTestCase):
    """AddSite's first requests: credentials sent pre-emptively, and login failures."""

    def setUp(self):
        super().setUp()
        self.start_jira_with_accounts()
        self.manager = self.start_daemon()

    def add_site_error(self, credentials):
        return self.manager.error("AddSite", "sa{sv}a{sv}", self.jira.url, asv(credentials),
                                  asv(name=SITE))

    def test_token_sent_first_time(self):
        self.manager.add_site(self.jira.url, {"token": self.accounts.admin_token},
                              {"name": SITE})
        requests = self.jira.requests()
        self.assertEqual(requests[0]["path"], MYSELF_PATH)
        self.assertEqual(requests[0]["auth_kind"], "bearer")
        self.assertEqual([request["status"] for request in requests], [200, 200, 200])

    def test_basic_sent_first_time(self):
        self.manager.add_site(self.jira.url, self.accounts.admin_basic(), {"name": SITE})
        requests = self.jira.requests()
        self.assertEqual(requests[0]["path"], MYSELF_PATH)
        self.assertEqual(requests[0]["auth_kind"], "basic")
        self.assertEqual([request["status"] for request in requests], [200, 200, 200])

    def test_bad_token_one_request(self):
        error = self.add_site_error({"token": self.new_secret("badtok")})
        self.assertEqual(error.name, "JiraAuthFailed")
        self.assertIn("expired or revoked", error.message)
        replies = [(request["path"], request["status"]) for request in self.jira.requests()]
        self.assertEqual(replies, [(MYSELF_PATH, 401)])

    def test_bad_password_one_request(self):
        error = self.add_site_error({"username": JIRA_ADMIN,
                                     "password": self.new_secret("badpw")})
        self.assertEqual(error.name, "JiraAuthFailed")
        self.assertEqual(len(self.jira.requests()), 1)

    def test_captcha_browser_advice(self):
        self.jira.configure(captcha=[JIRA_ADMIN])
        error = self.add_site_error(self.accounts.admin_basic())
        self.assertEqual(error.name, "JiraCaptchaRequired")
        self.assertIn("browser", error.message)
        self.assertIn(self.jira.url, error.message)
        self.assertEqual(len(self.jira.requests()), 1)

    def test_captcha_with_status_401(self):
        self.jira.configure(captcha=[JIRA_ADMIN], captcha_status=401)
        error = self.add_site_error(self.accounts.admin_basic())
        self.assertEqual(error.name, "JiraCaptchaRequired")
        self.assertEqual(len(self.jira.requests()), 1)

    def test_captcha_after_failed_login(self):
        self.jira.configure(captcha_after=1)
        login_error = self.add_site_error({"username": JIRA_ADMIN,
                                           "password": self.new_secret("badpw")})
        captcha_error = self.add_site_error(self.accounts.admin_basic())
        self.assertEqual(login_error.name, "JiraAuthFailed")
        self.assertEqual(captcha_error.name, "JiraCaptchaRequired")
        self.assertEqual(len(self.jira.requests()), 2)

    def test_login_reason_denied_alone(self):
        self.jira.configure(status={"path": MYSELF_PATH, "status": 403,
                                    "headers": {"X-Seraph-LoginReason": "AUTHENTICATION_DENIED"}})
        error = self.add_site_error(self.accounts.admin_basic())
        self.assertEqual(error.name, "JiraCaptchaRequired")
        self.assertIn("browser", error.message)

    def test_anonymous_fallback_rejected(self):
        self.jira.configure(anonymous=True)
        error = self.add_site_error({"token": self.accounts.admin_token})
        self.assertEqual(error.name, "JiraAuthFailed")
        self.assertIn("anonymous", error.message)
        self.assertEqual(self.jira_items(site=SITE), [])
        self.assertEqual(self.manager.list_sites(), [])

    def test_not_admin_one_request_each(self):
        error = self.add_site_error({"token": self.accounts.user_token})
        self.assertEqual(error.name, "JiraPermissionDenied")
        replies = [(request["path"], request["status"]) for request in self.jira.requests()]
        self.assertEqual(replies, [(MYSELF_PATH, 200), (SERVER_INFO_PATH, 200), (LIST_PATH, 401)])


class SiteAuthTest(SharedSiteTestCase):
    """Calls on a site whose credentials stop working after it was added."""

    def test_revoked_token_auth_failed(self):
        self.jira.configure(revoked_token_users=[JIRA_ADMIN])
        error = self.manager.error("ListLinks", "s", self.site)
        self.assertEqual(error.name, "JiraAuthFailed")
        self.assertIn("expired or revoked", error.message)
        self.assertIn(f"'{self.site}'", error.message)

    def test_revoked_token_not_retried(self):
        self.jira.configure(revoked_token_users=[JIRA_ADMIN])
        self.manager.error("ListLinks", "s", self.site)
        self.assertEqual(len(self.jira.requests()), 1)

    def test_anonymous_list_rejected(self):
        self.jira.configure(anonymous=True)
        error = self.manager.error("ListLinks", "s", self.site)
        self.assertEqual(error.name, "JiraAuthFailed")
        self.assertIn("anonymous", error.message)

    def test_anonymous_create_rejected(self):
        self.jira.configure(anonymous=True)
        error = self.manager.error("CreateLink", "sssa{sv}", self.site, SALESFORCE_URL,
                                   "Salesforce", {})
        self.assertEqual(error.name, "JiraAuthFailed")
        self.assertEqual(self.jira_requests(CREATE_PATH, "PUT"), [])

    def test_status_401_not_retried(self):
        self.jira.configure(status={"path": LIST_PATH, "status": 401})
        self.manager.error("ListLinks", "s", self.site)
        self.assertEqual(len(self.jira_requests(LIST_PATH)), 1)

    def test_status_403_not_retried(self):
        self.jira.configure(status={"path": LIST_PATH, "status": 403})
        error = self.manager.error("ListLinks", "s", self.site)
        self.assertEqual(error.name, "JiraPermissionDenied")
        self.assertEqual(len(self.jira_requests(LIST_PATH)), 1)

    def test_captcha_on_site_not_retried(self):
        self.jira.configure(status={"path": LIST_PATH, "status": 403, "headers": {
            "X-Seraph-LoginReason": "AUTHENTICATION_DENIED",
            "X-Authentication-Denied-Reason": "CAPTCHA_CHALLENGE"}})
        error = self.manager.error("ListLinks", "s", self.site)
        self.assertEqual(error.name, "JiraCaptchaRequired")
        self.assertEqual(len(self.jira_requests(LIST_PATH)), 1)


class PermissionTest(SharedSiteTestCase):
    """Administrator rights, WebSudo and XSRF checks on an existing site."""

    def test_not_admin_list_denied(self):
        self.jira.configure(not_admin=True)
        error = self.manager.error("ListLinks", "s", self.site)
        self.assertEqual(error.name, "JiraPermissionDenied")
        self.assertIn("administrator", error.message)

    def test_not_admin_create_denied(self):
        self.jira.configure(not_admin=True)
        error = self.manager.error("CreateLink", "sssa{sv}", self.site, SALESFORCE_URL,
                                   "Salesforce", {})
        self.assertEqual(error.name, "JiraPermissionDenied")
        self.assertEqual(self.jira_mutating_requests(), [])

    def test_websudo_advice(self):
        self.jira.configure(websudo=True)
        error = self.manager.error("ListLinks", "s", self.site)
        self.assertEqual(error.name, "JiraWebSudoRequired")
        self.assertIn(LIST_REQUEST, error.message)
        self.assertIn("Basic credentials", error.message)
        self.assertIn("disable WebSudo", error.message)

    def test_websudo_for_bearer_only(self):
        self.jira.configure(websudo_bearer=True)
        error = self.manager.error("ListLinks", "s", self.site)
        self.assertEqual(error.name, "JiraWebSudoRequired")

    def test_websudo_advice_works(self):
        """The advice is right: a site added with Basic credentials passes WebSudo."""
        self.jira.configure(websudo_bearer=True)
        self.addCleanup(self.manager.remove_site, "basic")
        self.manager.add_site(self.site_url, self.accounts.admin_basic(), {"name": "basic"})
        self.assertEqual(self.manager.list_links("basic"), [])

    def test_websudo_create_changes_nothing(self):
        self.jira.configure(websudo=True)
        self.manager.error("CreateLink", "sssa{sv}", self.site, SALESFORCE_URL, "Salesforce", {})
        self.assertEqual(self.jira_links(), [])

    def test_xsrf_switch_spares_daemon(self):
        """Jira's XSRF check rejects browser User-Agents, and applinkd does not send one."""
        link = self.create_link()
        self.jira.configure(xsrf=True)
        self.manager.update_link(self.site, link["id"], {"name": "Salesforce EU"})
        self.assertEqual(self.jira_links()[0]["name"], "Salesforce EU")

    def test_xsrf_failed_on_post(self):
        link = self.create_link()
        path = f"{CREATE_PATH}/{link['id']}"
        self.jira.configure(status={"path": path, "method": "POST", "status": 403,
                                    "body": XSRF_FAILED})
        error = self.manager.error("UpdateLink", "ssa{sv}", self.site, link["id"],
                                   asv(name="Salesforce EU"))
        self.assertEqual(error.name, "JiraXsrfFailed")
        self.assertIn(f"POST {path}", error.message)
        self.assertIn("X-Atlassian-Token", error.message)

    def test_xsrf_failed_on_url_check(self):
        """A 403 XSRF reply to the URL check is an XSRF failure, not a blocked host."""
        self.jira.configure(status={"path": CHECK_PATH, "status": 403, "body": XSRF_FAILED})
        error = self.manager.error("CreateLink", "sssa{sv}", self.site, SALESFORCE_URL,
                                   "Salesforce", {})
        self.assertEqual(error.name, "JiraXsrfFailed")
        self.assertIn(f"GET {CHECK_PATH}", error.message)
        self.assertEqual(self.jira_links(), [])


class BadReplyTest(SharedSiteTestCase):
    """Replies that are not what they claim to be: each is a JiraError naming the request."""

    def assert_reply_rejected(self, error):
        self.assertEqual(error.name, "JiraError")
        self.assert_daemon_healthy()

    def assert_bad_reply(self, error, request):
        self.assert_reply_rejected(error)
        self.assertIn(request, error.message)

    def list_error(self, **fault):
        self.jira.configure(**{kind: {"path": LIST_PATH, "method": "GET", **rule}
                               for kind, rule in fault.items()})
        return self.manager.error("ListLinks", "s", self.site)

    def create_error(self, **fault):
        self.jira.configure(**{kind: {"path": CREATE_PATH, "method": "PUT", **rule}
                               for kind, rule in fault.items()})
        return self.manager.error("CreateLink", "sssa{sv}", self.site, SALESFORCE_URL,
                                  "Salesforce", {})

    def read_back_error(self, **fault):
        """Create a link while the read-back of the new link gets the fault."""
        path = f"{LIST_PATH}/{jira_link_id(SALESFORCE_URL)}"
        self.jira.configure(**{kind: {"path": path, "method": "GET", **rule}
                               for kind, rule in fault.items()})
        error = self.manager.error("CreateLink", "sssa{sv}", self.site, SALESFORCE_URL,
                                   "Salesforce", {})
        return error, f"GET {path}"

    # GET /rest/applinks/1.0/applicationlink (ListLinks)

    def test_list_html_page(self):
        error = self.list_error(html={})
        self.assert_bad_reply(error, LIST_REQUEST)
        self.assertIn("HTML", error.message)

    def test_list_empty_body(self):
        error = self.list_error(empty={})
        self.assert_bad_reply(error, LIST_REQUEST)
        self.assertIn("empty", error.message)

    def test_list_plain_text(self):
        error = self.list_error(status={"status": 200, "body": "OK"})
        self.assert_bad_reply(error, LIST_REQUEST)
        self.assertIn("could not be read as JSON", error.message)

    def test_list_wrong_shape(self):
        error = self.list_error(wrong_shape={})
        self.assert_bad_reply(error, LIST_REQUEST)
        self.assertIn("applicationLinks", error.message)

    def test_list_top_level_array(self):
        error = self.list_error(wrong_shape={"body": [{"applicationLinks": []}]})
        self.assert_bad_reply(error, LIST_REQUEST)
        self.assertIn("not a JSON object", error.message)

    def test_list_member_wrong_type(self):
        body = {"applicationLinks": [{"id": 7, "name": "Salesforce", "typeId": "salesforce"}]}
        error = self.list_error(wrong_shape={"body": body})
        self.assert_bad_reply(error, LIST_REQUEST)
        self.assertIn("'id'", error.message)

    def test_list_boolean_wrong_type(self):
        body = {"applicationLinks": [{"id": jira_link_id(SALESFORCE_URL), "name": "Salesforce",
                                      "typeId": "salesforce", "isPrimary": "yes"}]}
        error = self.list_error(wrong_shape={"body": body})
        self.assert_bad_reply(error, LIST_REQUEST)
        self.assertIn("'isPrimary'", error.message)

    def test_list_huge_integer(self):
        body = {"applicationLinks": [{"id": 123456789012345678901234567890,
                                      "name": "Salesforce", "typeId": "salesforce"}]}
        error = self.list_error(wrong_shape={"body": body})
        self.assert_bad_reply(error, LIST_REQUEST)
        self.assertIn("integer at byte 29 is outside the range of a 64-bit signed integer",
                      error.message)

    def test_list_body_over_limit(self):
        error = self.list_error(huge={})
        self.assert_reply_rejected(error)
        self.assertIn("larger than 8 MiB", error.message)

    def test_list_chunked_over_limit(self):
        error = self.list_error(huge={"chunked": True})
        self.assert_reply_rejected(error)
        self.assertIn("larger than 8 MiB", error.message)

    def test_over_limit_names_request(self):
        # NOTE: applinkd names only host and port when a reply is over 8 MiB.
        error = self.list_error(huge={})
        self.assertIn(LIST_REQUEST, error.message)

    # PUT /rest/applinks/2.0/applicationlink (CreateLink)

    def test_create_html_page(self):
        error = self.create_error(html={})
        self.assert_bad_reply(error, CREATE_REQUEST)
        self.assertIn("HTML", error.message)

    def test_create_empty_body(self):
        error = self.create_error(empty={})
        self.assert_bad_reply(error, CREATE_REQUEST)
        self.assertIn("empty", error.message)

    def test_create_wrong_shape(self):
        error = self.create_error(wrong_shape={})
        self.assert_bad_reply(error, CREATE_REQUEST)
        self.assertIn("which link was created", error.message)

    def test_create_href_wrong_type(self):
        body = {"status-code": 201, "resources-created": [{"href": 12, "rel": "self"}]}
        error = self.create_error(wrong_shape={"body": body})
        self.assert_bad_reply(error, CREATE_REQUEST)
        self.assertIn("'href'", error.message)

    def test_create_huge_integer(self):
        body = {"status-code": 201,
                "resources-created": [{"href": 123456789012345678901234567890}]}
        error = self.create_error(wrong_shape={"body": body})
        self.assert_bad_reply(error, CREATE_REQUEST)
        self.assertIn("outside the range of a 64-bit signed integer", error.message)

    def test_create_body_over_limit(self):
        error = self.create_error(huge={})
        self.assert_reply_rejected(error)
        self.assertIn("larger than 8 MiB", error.message)

    # GET /rest/applinks/1.0/applicationlink/{id} (CreateLink reading the new link back)

    def test_read_back_html_page(self):
        error, request = self.read_back_error(html={})
        self.assert_bad_reply(error, request)
        self.assertIn("was created", error.message)

    def test_read_back_empty_body(self):
        error, request = self.read_back_error(empty={})
        self.assert_bad_reply(error, request)

    def test_read_back_wrong_shape(self):
        error, request = self.read_back_error(wrong_shape={})
        self.assert_bad_reply(error, request)
        self.assertIn("'id'", error.message)

    def test_read_back_name_wrong_type(self):
        body = {"id": jira_link_id(SALESFORCE_URL), "name": ["Salesforce"],
                "typeId": "salesforce"}
        error, request = self.read_back_error(wrong_shape={"body": body})
        self.assert_bad_reply(error, request)
        self.assertIn("'name'", error.message)

    def test_read_back_body_over_limit(self):
        error, _ = self.read_back_error(huge={})
        self.assert_reply_rejected(error)
        self.assertIn("larger than 8 MiB", error.message)


class ServerTextTest(SharedSiteTestCase):
    """Text from Jira in errors: secrets it echoes are masked, and it is cut and made printable."""

    def list_error_with_messages(self, *messages, status=500):
        self.jira.configure(status={"path": LIST_PATH, "method": "GET", "status": status,
                                    "body": {"errorMessages": list(messages)}})
        return self.manager.error("ListLinks", "s", self.site)

    def test_echoed_token_masked(self):
        token = self.accounts.admin_token
        error = self.list_error_with_messages(f"rejected Authorization: Bearer {token}",
                                              f"token {token} is bad")
        self.assertEqual(error.name, "JiraError")
        self.assertNotIn(token, error.message)
        self.assertIn("rejected Authorization: [redacted];", error.message)
        self.assertIn("token [redacted] is bad", error.message)
        self.assertNotIn(token, self.new_daemon_log())
        self.assert_daemon_healthy()

    def test_long_message_cut(self):
        error = self.list_error_with_messages("x" * 5000)
        self.assertEqual(error.name, "JiraError")
        self.assertIn("x" * 300 + "…", error.message)
        self.assertNotIn("x" * 301, error.message)

    def test_control_characters_replaced(self):
        error = self.list_error_with_messages("a\u001b]0;title\u0007b\u009b2J\u202ec")
        self.assertEqual(error.name, "JiraError")
        self.assertIn("a\ufffd]0;title\ufffdb\ufffd2J\ufffdc", error.message)
        for character in ("\u001b", "\u0007", "\u009b", "\u202e"):
            self.assertNotIn(character, error.message)

    def test_member_with_control_character(self):
        body = {"applicationLinks": [{"id": jira_link_id(SALESFORCE_URL), "typeId": "salesforce",
                                      "name": "Salesforce", "displayUrl": SALESFORCE_URL,
                                      "rpcUrl": SALESFORCE_URL + "/\u001b[2J"}]}
        self.jira.configure(wrong_shape={"path": LIST_PATH, "method": "GET", "body": body})
        error = self.manager.error("ListLinks", "s", self.site)
        self.assertEqual(error.name, "JiraError")
        self.assertIn("'rpcUrl'", error.message)
        self.assertIn("control character U+001B", error.message)

    def test_name_with_control_character_shown(self):
        # A link's name is only shown, so its control characters become U+FFFD.
        self.create_link()
        body = {"applicationLinks": [{"id": jira_link_id(SALESFORCE_URL), "typeId": "salesforce",
                                      "name": "Sales\u001b[2Jforce", "displayUrl": SALESFORCE_URL,
                                      "rpcUrl": SALESFORCE_URL}]}
        self.jira.configure(wrong_shape={"path": LIST_PATH, "method": "GET", "body": body})
        links = self.manager.list_links(self.site)
        self.assertEqual([link["name"] for link in links], ["Sales\ufffd[2Jforce"])

    def test_member_too_long(self):
        body = {"applicationLinks": [{"id": jira_link_id(SALESFORCE_URL), "typeId": "salesforce",
                                      "name": "n" * 5000, "displayUrl": SALESFORCE_URL,
                                      "rpcUrl": SALESFORCE_URL}]}
        self.jira.configure(wrong_shape={"path": LIST_PATH, "method": "GET", "body": body})
        error = self.manager.error("ListLinks", "s", self.site)
        self.assertEqual(error.name, "JiraError")
        self.assertIn("'name'", error.message)
        self.assertIn("longer than 4096 bytes", error.message)

    def test_created_id_invalid(self):
        href = "http://jira/rest/applinks/2.0/applicationlink/../../secure/x\u001b"
        self.jira.configure(wrong_shape={
            "path": CREATE_PATH, "method": "PUT",
            "body": {"status-code": 201, "resources-created": [{"href": href}]}})
        error = self.manager.error("CreateLink", "sssa{sv}", self.site, SALESFORCE_URL,
                                   "Salesforce", {})
        self.assertEqual(error.name, "JiraError")
        self.assertIn("may have created the link", error.message)
        self.assertIn("applinkctl link list", error.message)
        self.assertEqual(self.jira_requests(f"{LIST_PATH}/../../secure/x"), [])
        self.assert_daemon_healthy()

    def test_user_name_echoing_token(self):
        token = self.accounts.admin_token
        self.jira.configure(wrong_shape={"path": MYSELF_PATH, "method": "GET",
                                         "body": {"name": f"user {token}", "active": True}})
        error = self.manager.error("AddSite", "sa{sv}a{sv}", self.jira.url, asv(token=token),
                                   asv(name="echo"))
        self.assertEqual(error.name, "JiraError")
        self.assertIn("with the credential in it", error.message)
        self.assertNotIn("echo", [site["id"] for site in self.manager.list_sites()])

    def test_redirect_named(self):
        self.jira.configure(status={"path": LIST_PATH, "method": "GET", "status": 302,
                                    "headers": {"Location": "http://login.example.invalid/x"}})
        error = self.manager.error("ListLinks", "s", self.site)
        self.assertEqual(error.name, "JiraError")
        self.assertIn("with a redirect (HTTP 302) to http://login.example.invalid/x, which "
                      "applink does not follow", error.message)

    def test_long_argument_cut(self):
        error = self.manager.error("AddSite", "sa{sv}a{sv}", self.jira.url,
                                   asv(token=self.accounts.admin_token),
                                   asv(name="n" * 1_000_000))
        self.assertEqual(error.name, "InvalidArgument")
        self.assertLessEqual(len(error.message), 1000)
        self.assertIn("n…n", error.message)
        self.assertTrue(error.message.endswith("starting with a letter or digit"))
        self.assertTrue(all(len(line) < 2000 for line in self.new_daemon_log().splitlines()))


class RetryTest(SharedSiteTestCase):
    """429 and 503: GET requests are retried a bounded number of times, others never."""

    def test_429_get_retried(self):
        self.jira.configure(status={"path": LIST_PATH, "method": "GET", "status": 429,
                                    "headers": {"Retry-After": "1"}, "count": 2})
        self.assertEqual(self.manager.list_links(self.site), [])
        self.assertEqual(len(self.jira_requests(LIST_PATH)), 3)
        self.assertEqual(len(self.retry_lines(LIST_REQUEST, 429)), 2)

    def test_503_get_retried(self):
        self.jira.configure(status={"path": LIST_PATH, "method": "GET", "status": 503,
                                    "count": 1})
        self.assertEqual(self.manager.list_links(self.site), [])
        self.assertEqual(len(self.jira_requests(LIST_PATH)), 2)
        self.assertEqual(len(self.retry_lines(LIST_REQUEST, 503)), 1)

    def test_retry_after_honoured(self):
        self.jira.configure(status={"path": LIST_PATH, "method": "GET", "status": 429,
                                    "headers": {"Retry-After": "2"}, "count": 1})
        started = time.monotonic()
        self.manager.list_links(self.site)
        self.assertGreaterEqual(time.monotonic() - started, 1.9)

    def test_persistent_429_rate_limited(self):
        self.jira.configure(status={"path": LIST_PATH, "method": "GET", "status": 429,
                                    "headers": {"Retry-After": "1"}})
        error = self.manager.error("ListLinks", "s", self.site)
        self.assertEqual(error.name, "JiraRateLimited")
        self.assertIn(LIST_REQUEST, error.message)
        retries = self.retry_lines(LIST_REQUEST, 429)
        # The number of retries is applinkd's choice (3 in this version). Any small one passes.
        self.assertGreaterEqual(len(retries), 1)
        self.assertLessEqual(len(retries), 5)
        self.assertEqual(len(self.jira_requests(LIST_PATH)), len(retries) + 1)

    def test_retry_lines_count_attempts(self):
        """The last retry line reports "attempt M of M", and M requests reached Jira."""
        self.jira.configure(status={"path": LIST_PATH, "method": "GET", "status": 503,
                                    "headers": {"Retry-After": "1"}})
        error = self.manager.error("ListLinks", "s", self.site)
        self.assertEqual(error.name, "JiraError")
        self.assertIn("503", error.message)
        last = self.retry_lines(LIST_REQUEST, 503)[-1]
        match = re.search(r"attempt (\d+) of (\d+)", last)
        self.assertIsNotNone(match, last)
        self.assertEqual(match.group(1), match.group(2))
        self.assertEqual(len(self.jira_requests(LIST_PATH)), int(match.group(2)))

    def test_put_503_not_retried(self):
        self.jira.configure(status={"path": CREATE_PATH, "method": "PUT", "status": 503,
                                    "headers": {"Retry-After": "1"}})
        error = self.manager.error("CreateLink", "sssa{sv}", self.site, SALESFORCE_URL,
                                   "Salesforce", {})
        self.assertEqual(error.name, "JiraError")
        self.assertIn(CREATE_REQUEST, error.message)
        self.assertEqual(len(self.jira_requests(CREATE_PATH, "PUT")), 1)
        self.assertEqual(self.retry_lines(CREATE_REQUEST, 503), [])

    def test_put_429_not_retried(self):
        self.jira.configure(status={"path": CREATE_PATH, "method": "PUT", "status": 429,
                                    "headers": {"Retry-After": "1"}})
        error = self.manager.error("CreateLink", "sssa{sv}", self.site, SALESFORCE_URL,
                                   "Salesforce", {})
        self.assertEqual(error.name, "JiraRateLimited")
        self.assertEqual(len(self.jira_requests(CREATE_PATH, "PUT")), 1)

    def test_post_503_not_retried(self):
        link = self.create_link()
        path = f"{CREATE_PATH}/{link['id']}"
        self.jira.configure(status={"path": path, "method": "POST", "status": 503})
        error = self.manager.error("UpdateLink", "ssa{sv}", self.site, link["id"],
                                   asv(name="Salesforce EU"))
        self.assertEqual(error.name, "JiraError")
        self.assertIn(f"POST {path}", error.message)
        self.assertEqual(len(self.jira_requests(path, "POST")), 1)
        self.assertEqual(self.jira_links()[0]["name"], "Salesforce")


class LinkCheckTest(SharedSiteTestCase):
    """CreateLink and ProbeUrl against Jira's verdict on the URL, and Jira's link errors."""

    def test_redirect_ignored_without_check(self):
        self.jira.configure(redirect={"127.0.0.1": "https://acme.my.salesforce.com"})
        link = self.create_link(options={"check": False})
        self.assertEqual(link["url"], SALESFORCE_URL)
        self.assertEqual([jira_link["id"] for jira_link in self.jira_links()], [link["id"]])

    def test_unknown_host_still_created(self):
        self.jira.configure(unknown_hosts=["127.0.0.1"])
        link = self.create_link()
        self.assertEqual([jira_link["id"] for jira_link in self.jira_links()], [link["id"]])
        self.assertIn("cannot resolve the host", self.new_daemon_log())

    def test_unknown_host_probe_message(self):
        self.jira.configure(unknown_hosts=["127.0.0.1"])
        result = self.manager.probe_url(SALESFORCE_URL, {"site": self.site})
        self.assertEqual(result["jira-status"], "unknown-host")
        self.assertIn("127.0.0.1", result["jira-message"])

    def test_check_409_already_exists(self):
        self.jira.configure(status={"path": CHECK_PATH, "status": 409, "body": {
            "status": 409, "message": [LINK_EXISTS], "fields": []}})
        error = self.manager.error("CreateLink", "sssa{sv}", self.site, SALESFORCE_URL,
                                   "Salesforce", {})
        self.assertEqual(error.name, "AlreadyExists")
        self.assertIn(LINK_EXISTS, error.message)
        self.assertEqual(self.jira_requests(CREATE_PATH, "PUT"), [])

    def test_check_404_already_exists(self):
        """Applinks 3.x, as in Jira 8, returns 404 for an existing link."""
        self.jira.configure(status={"path": CHECK_PATH, "status": 404, "body": {
            "status": 404, "message": [LINK_EXISTS], "fields": []}})
        error = self.manager.error("CreateLink", "sssa{sv}", self.site, SALESFORCE_URL,
                                   "Salesforce", {})
        self.assertEqual(error.name, "AlreadyExists")
        self.assertIn(LINK_EXISTS, error.message)
        self.assertEqual(self.jira_requests(CREATE_PATH, "PUT"), [])

    def test_create_400_duplicate_url(self):
        """Jira's duplicate check on PUT catches a link made after applinkd listed the links."""
        self.jira.configure(status={"path": CREATE_PATH, "method": "PUT", "status": 400,
                                    "body": {"status": 400,
                                             "message": ["applinks.error.duplicate.url"],
                                             "fields": ["rpcUrl"]}})
        error = self.manager.error("CreateLink", "sssa{sv}", self.site, SALESFORCE_URL,
                                   "Salesforce", {})
        self.assertEqual(error.name, "AlreadyExists")
        self.assertIn(SALESFORCE_URL, error.message)

    def test_link_to_jira_rejected(self):
        error = self.manager.error("CreateLink", "sssa{sv}", self.site, self.jira.url,
                                   "Jira", {})
        self.assertEqual(error.name, "InvalidUrl")
        self.assertIn("Jira itself", error.message)
        self.assertEqual(self.jira_links(), [])

    def test_probe_jira_is_self(self):
        result = self.manager.probe_url(self.jira.url, {"site": self.site})
        self.assertEqual(result["jira-status"], "is-self")

    def test_blocked_host_names_property(self):
        self.jira.configure(block_loopback=True)
        error = self.manager.error("CreateLink", "sssa{sv}", self.site, SALESFORCE_URL,
                                   "Salesforce", {})
        self.assertEqual(error.name, "JiraHostBlocked")
        self.assertIn("-Dapplinks.allow.all.hosts=true", error.message)
        self.assertEqual(self.jira_links(), [])

    def test_type_missing_names_option(self):
        self.jira.configure(salesforce_type=False)
        error = self.manager.error("CreateLink", "sssa{sv}", self.site, SALESFORCE_URL,
                                   "Salesforce", {})
        self.assertEqual(error.name, "TypeNotInstalled")
        self.assertIn("--link-type", error.message)
        self.assertIn("'salesforce'", error.message)

    def test_name_taken_other_case(self):
        """Jira compares names without case, and renames the new link."""
        self.create_link(name="Salesforce")
        link = self.create_link(name="salesforce", url=OTHER_SALESFORCE_URL)
        self.assertEqual(link["name"], "salesforce - 2")
        self.assertEqual(link["requested-name"], "salesforce")

    def test_third_name_renamed(self):
        self.create_link(name="Salesforce")
        self.create_link(name="Salesforce", url=OTHER_SALESFORCE_URL)
        link = self.create_link(name="Salesforce", url="http://127.0.0.2:9")
        self.assertEqual(link["name"], "Salesforce - 3")
        self.assertEqual(link["requested-name"], "Salesforce")

    def test_url_change_advice(self):
        link = self.create_link()
        new_url = "https://acme.my.salesforce.com"
        error = self.manager.error("UpdateLink", "ssa{sv}", self.site, link["id"],
                                   asv(url=new_url))
        self.assertEqual(error.name, "InvalidArgument")
        self.assertIn("applinkctl link delete", error.message)
        self.assertIn(f"applinkctl link create {new_url}", error.message)
        self.assertEqual(self.jira_requests(f"{CREATE_PATH}/{link['id']}", "POST"), [])

    def test_read_back_500_not_found(self):
        """Applinks returns a 500 (a NullPointerException) for GET on an unknown link id."""
        path = f"{LIST_PATH}/{jira_link_id(SALESFORCE_URL)}"
        self.jira.configure(status={"path": path, "method": "GET", "status": 500,
                                    "body": java_exception_body(
                                        "java.lang.NullPointerException", "null")})
        error = self.manager.error("CreateLink", "sssa{sv}", self.site, SALESFORCE_URL,
                                   "Salesforce", {})
        self.assertEqual(error.name, "NotFound")
        self.assertEqual([request["status"] for request in self.jira_requests(path)], [500])

    def test_make_primary_500_not_found(self):
        self.create_link(name="First")
        second = self.create_link(name="Second", url=OTHER_SALESFORCE_URL)
        path = f"{LIST_PATH}/primary/{second['id']}"
        self.jira.configure(status={"path": path, "method": "POST", "status": 500,
                                    "body": java_exception_body(
                                        "java.lang.IllegalArgumentException",
                                        f"No application link with id {second['id']}")})
        error = self.manager.error("UpdateLink", "ssa{sv}", self.site, second["id"],
                                   asv(primary=True))
        self.assertEqual(error.name, "NotFound")
        self.assertIn(second["id"], error.message)

    def test_server_error_not_hidden(self):
        """A 500 from another cause than an unknown id is a JiraError with Jira's message."""
        # NOTE: applinkd turns every 500 on GET .../applicationlink/{id} into NotFound.
        path = f"{LIST_PATH}/{jira_link_id(SALESFORCE_URL)}"
        self.jira.configure(status={"path": path, "method": "GET", "status": 500,
                                    "body": java_exception_body(
                                        "org.ofbiz.core.entity.GenericDataSourceException",
                                        "database unavailable")})
        error = self.manager.error("CreateLink", "sssa{sv}", self.site, SALESFORCE_URL,
                                   "Salesforce", {})
        self.assertEqual(error.name, "JiraError")


class BlockedLoopbackTest(SharedSiteTestCase):
    """A Jira 9 double started with --block-loopback, as Jira without applinks.allow.all.hosts."""

    jira_arguments = ("--block-loopback",)

    def test_create_blocked(self):
        error = self.manager.error("CreateLink", "sssa{sv}", self.site, SALESFORCE_URL,
                                   "Salesforce", {})
        self.assertEqual(error.name, "JiraHostBlocked")
        self.assertIn(SALESFORCE_URL, error.message)
        self.assertIn("-Dapplinks.allow.all.hosts=true", error.message)
        self.assertEqual(self.jira_requests(CREATE_PATH, "PUT"), [])

    def test_probe_reports_blocked(self):
        result = self.manager.probe_url(SALESFORCE_URL, {"site": self.site})
        self.assertEqual(result["jira-status"], "blocked")


class JiraVersionTest(JiraTestCase):
    """Sites on Jira 8 and Jira 9 doubles side by side."""

    def test_versions_recorded(self):
        jira_9 = self.start_jira_with_accounts()
        token_9 = self.accounts.admin_token
        jira_8 = self.start_jira_with_accounts("--version", "8.20.10")
        token_8 = self.accounts.admin_token
        self.manager = self.start_daemon()
        self.manager.add_site(jira_9.url, {"token": token_9}, {"name": "jira9"})
        self.manager.add_site(jira_8.url, {"token": token_8}, {"name": "jira8"})
        versions = {site["id"]: site["jira-version"] for site in self.manager.list_sites()}
        self.assertEqual(versions["jira8"], "8.20.10")
        self.assertRegex(versions["jira9"], r"^9\.")
        self.assertEqual(versions["jira9"], jira_9.state()["version"])


class Jira8Test(SharedSiteTestCase):
    """A Jira 8 double: applinks 3.x returns 404 for conflicts and has no redirect warning."""

    jira_arguments = ("--version", "8.20.10")

    def test_version_recorded(self):
        site = self.manager.list_sites()[0]
        self.assertRegex(site["jira-version"], r"^8\.")

    def test_link_lifecycle(self):
        link = self.create_link()
        self.assertEqual(self.manager.get_link(self.site, link["id"])["name"], "Salesforce")
        self.manager.update_link(self.site, link["id"], {"name": "Salesforce EU"})
        self.assertEqual([item["name"] for item in self.manager.list_links(self.site)],
                         ["Salesforce EU"])
        self.manager.delete_link(self.site, link["id"])
        self.assertEqual(self.jira_links(), [])

    def test_probe_existing_404(self):
        link = self.create_link()
        result = self.manager.probe_url(SALESFORCE_URL, {"site": self.site})
        statuses = [request["status"] for request in self.jira_requests(CHECK_PATH)]
        self.assertEqual(statuses[-1], 404)
        self.assertEqual(result["jira-status"], "already-linked")
        self.assertEqual(result["existing-link"], link["id"])

    def test_link_to_jira_404(self):
        error = self.manager.error("CreateLink", "sssa{sv}", self.site, self.jira.url,
                                   "Jira", {})
        self.assertEqual(error.name, "InvalidUrl")
        self.assertIn("Jira itself", error.message)
        self.assertEqual([request["status"] for request in self.jira_requests(CHECK_PATH)],
                         [404])

    def test_redirect_not_reported(self):
        self.jira.configure(redirect={"127.0.0.1": "https://acme.my.salesforce.com"})
        result = self.manager.probe_url(SALESFORCE_URL, {"site": self.site})
        self.assertEqual(result["jira-status"], "ok")


class ContextPathTest(SharedSiteTestCase):
    """A Jira double served under the context path /jira."""

    context_path = "/jira"

    def test_link_lifecycle(self):
        link = self.create_link()
        self.manager.update_link(self.site, link["id"], {"name": "Salesforce EU"})
        self.assertEqual([item["name"] for item in self.manager.list_links(self.site)],
                         ["Salesforce EU"])
        self.manager.delete_link(self.site, link["id"])
        self.assertEqual(self.jira_links(), [])

    def test_requests_under_context_path(self):
        self.create_link()
        paths = [request["path"] for request in self.jira.requests()]
        self.assertNotEqual(paths, [])
        self.assertEqual([path for path in paths if not path.startswith("/jira/")], [])

    def test_probe_with_site(self):
        result = self.manager.probe_url(SALESFORCE_URL, {"site": self.site})
        self.assertEqual(result["jira-status"], "ok")
        self.assertEqual(len(self.jira_requests(f"/jira{CHECK_PATH}")), 1)


class CertificateAuthority:
    """A private CA made with openssl in a folder, and server certificates it signs."""

    def __init__(self, folder):
        self.folder = folder
        (folder / "issued").mkdir()
        (folder / "index.txt").write_text("")
        (folder / "serial").write_text("1000\n")
        self.key = folder / "ca.key"
        self.certificate = folder / "ca.pem"
        self.config = folder / "ca.cnf"
        self.config.write_text(self._config_text())
        self._openssl("req", "-x509", "-new", *self._new_key(self.key), "-days", "30",
                      "-subj", "/CN=applink test CA", "-out", str(self.certificate),
                      "-addext", "basicConstraints=critical,CA:true",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def _config_text(self):
        folder = self.folder
        return f"""[ca]
default_ca = test_ca

[test_ca]
database = {folder}/index.txt
new_certs_dir = {folder}/issued
serial = {folder}/serial
certificate = {folder}/ca.pem
private_key = {folder}/ca.key
default_md = sha256
policy = any_name
unique_subject = no

[any_name]
commonName = supplied

[server]
subjectAltName = ${{ENV::SERVER_NAMES}}
basicConstraints = CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
"""

    @staticmethod
    def _new_key(path):
        return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", str(path)]

    def _openssl(self, *arguments, environment=None):
        completed = subprocess.run(["openssl", *arguments], capture_output=True, text=True,
                                   timeout=60, env=dict(os.environ, **(environment or {})))
        if completed.returncode != 0:
            raise RuntimeError(f"openssl {arguments[0]} failed: {completed.stderr}")

    def issue(self, name, subject_names, dates=None):
        """Sign a server certificate for subject_names, e.g. "IP:127.0.0.1".

        dates is None for 30 days from now, or (start, end) in openssl's YYYYMMDDHHMMSSZ
        form. Returns the paths of the certificate and of its key.
        """
        key = self.folder / f"{name}.key"
        request = self.folder / f"{name}.csr"
        certificate = self.folder / f"{name}.pem"
        self._openssl("req", "-new", *self._new_key(key), "-subj", f"/CN={name}",
                      "-out", str(request))
        validity = ["-days", "30"] if dates is None else ["-startdate", dates[0],
                                                          "-enddate", dates[1]]
        self._openssl("ca", "-batch", "-notext", "-config", str(self.config),
                      "-extensions", "server", "-in", str(request), "-out", str(certificate),
                      *validity, environment={"SERVER_NAMES": subject_names})
        return certificate, key


class TlsTest(JiraTestCase):
    """A TLS Jira double whose certificates a private CA signs."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if shutil.which("openssl") is None:
            raise unittest.SkipTest("openssl is not installed")
        cls.tls_folder = new_workdir("tls")
        cls.addClassCleanup(shutil.rmtree, cls.tls_folder, True)
        cls.authority = CertificateAuthority(cls.tls_folder)
        cls.good = cls.authority.issue("jira-good", "IP:127.0.0.1")
        cls.other_host = cls.authority.issue("jira-other-host", "DNS:jira.example.com")
        cls.expired = cls.authority.issue("jira-expired", "IP:127.0.0.1",
                                          ("20200101000000Z", "20200201000000Z"))

    def start_tls_jira(self, certificate):
        certificate_path, key_path = certificate
        self.start_jira_with_accounts("--tls-cert", str(certificate_path),
                                      "--tls-key", str(key_path))
        self.site_url = f"https://127.0.0.1:{self.jira.port}"
        self.manager = self.start_daemon()

    def tls_double_requests(self):
        """Return the request log of a double serving the certificate self.good."""
        context = ssl.create_default_context(cafile=str(self.authority.certificate))
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                             urllib.request.HTTPSHandler(context=context))
        with opener.open(f"{self.site_url}/_double/requests", timeout=10) as reply:
            return json.loads(reply.read().decode("utf-8"))

    def add_tls_site(self, ca_file=None):
        options = {"name": SITE}
        if ca_file is not None:
            options["ca-file"] = str(ca_file)
        return self.manager.add_site(self.site_url, {"token": self.accounts.admin_token},
                                     options)

    def add_tls_site_error(self, ca_file=None):
        options = asv(name=SITE) if ca_file is None else asv({"name": SITE,
                                                              "ca-file": str(ca_file)})
        return self.manager.error("AddSite", "sa{sv}a{sv}", self.site_url,
                                  asv(token=self.accounts.admin_token), options)

    def test_unknown_authority(self):
        self.start_tls_jira(self.good)
        error = self.add_tls_site_error()
        self.assertEqual(error.name, "TlsError")
        self.assertIn(f"127.0.0.1:{self.jira.port}", error.message)
        self.assertIn("unknown certificate authority", error.message)
        self.assertEqual(self.jira_items(site=SITE), [])
        self.assertEqual(self.tls_double_requests(), [])

    def test_ca_file_trusted(self):
        self.start_tls_jira(self.good)
        self.assertEqual(self.add_tls_site(self.authority.certificate), SITE)
        site = self.manager.list_sites()[0]
        self.assertEqual(site["url"], self.site_url)
        self.assertEqual(site["ca-file"], str(self.authority.certificate))

    def test_ca_file_later_calls(self):
        self.start_tls_jira(self.good)
        self.add_tls_site(self.authority.certificate)
        link = self.manager.create_link(SITE, SALESFORCE_URL, "Salesforce")
        self.assertEqual([item["id"] for item in self.manager.list_links(SITE)], [link["id"]])

    def test_ca_file_after_restart(self):
        self.start_tls_jira(self.good)
        self.add_tls_site(self.authority.certificate)
        self.daemon.stop()
        manager = self.start_daemon()
        self.assertEqual(manager.list_links(SITE), [])

    def test_other_host_name(self):
        self.start_tls_jira(self.other_host)
        error = self.add_tls_site_error(self.authority.certificate)
        self.assertEqual(error.name, "TlsError")
        self.assertIn(f"127.0.0.1:{self.jira.port}", error.message)
        self.assertIn("another host name", error.message)
        self.assertEqual(self.jira_items(site=SITE), [])

    def test_expired_certificate(self):
        self.start_tls_jira(self.expired)
        error = self.add_tls_site_error(self.authority.certificate)
        self.assertEqual(error.name, "TlsError")
        self.assertIn(f"127.0.0.1:{self.jira.port}", error.message)
        self.assertIn("expired", error.message)
        self.assertEqual(self.jira_items(site=SITE), [])

    def test_trusted_ca_not_blamed(self):
        """With the issuing CA in ca-file, the error names only the certificate's own problem."""
        # NOTE: applinkd describes the system store's verdict, which includes the unknown CA,
        # so the message advises passing the ca-file that was already given.
        self.start_tls_jira(self.expired)
        error = self.add_tls_site_error(self.authority.certificate)
        self.assertNotIn("unknown certificate authority", error.message)

    def test_other_host_without_ca_file(self):
        self.start_tls_jira(self.other_host)
        error = self.add_tls_site_error()
        self.assertEqual(error.name, "TlsError")
        self.assertIn("unknown certificate authority", error.message)


class ForwardingProxy:
    """An HTTP forward proxy on 127.0.0.1 that records each request and forwards it.

    It forwards only to http://127.0.0.1, so every byte stays on loopback.
    """

    # Headers not copied: the hop-by-hop ones, and those the proxy sets itself.
    DROPPED_HEADERS = {"connection", "keep-alive", "proxy-authorization", "proxy-connection",
                       "te", "trailer", "transfer-encoding", "upgrade", "content-length",
                       "server", "date"}

    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                proxy.forward(self)

            do_PUT = do_POST = do_DELETE = do_GET

            def log_message(self, format, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def forward(self, handler):
        target = urllib.parse.urlsplit(handler.path)
        with self.lock:
            self.requests.append((handler.command, handler.path))
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        if target.scheme != "http" or target.hostname != "127.0.0.1":
            handler.send_error(403, "this test proxy forwards only to http://127.0.0.1")
            return
        headers = {name: value for name, value in handler.headers.items()
                   if name.lower() not in self.DROPPED_HEADERS}
        path = target.path + (f"?{target.query}" if target.query else "")
        upstream = http.client.HTTPConnection("127.0.0.1", target.port, timeout=10)
        try:
            upstream.request(handler.command, path, body=body, headers=headers)
            reply = upstream.getresponse()
            data = reply.read()
        finally:
            upstream.close()
        handler.send_response(reply.status)
        for name, value in reply.getheaders():
            if name.lower() not in self.DROPPED_HEADERS:
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def paths(self):
        with self.lock:
            return [urllib.parse.urlsplit(url).path for _, url in self.requests]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class ProxyTest(JiraTestCase):
    """Proxies that applinkd takes from the system through GLib's default GProxyResolver.

    With glib-networking 2.74 and libproxy 0.4.18 (Debian 12), GLib picks the libproxy
    resolver, which reads http_proxy or HTTP_PROXY and no_proxy or NO_PROXY, but not
    all_proxy. Under XDG_CURRENT_DESKTOP=GNOME it picks the GNOME resolver instead, which
    reads the GSettings schema org.gnome.system.proxy and ignores the environment. Tests that
    rely on one resolver skip where GLib picks another.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.plain_resolver = default_resolver_name({})
        cls.gnome_resolver = default_resolver_name({"XDG_CURRENT_DESKTOP": "GNOME",
                                                    "GSETTINGS_BACKEND": "memory"})

    def setUp(self):
        super().setUp()
        self.start_jira_with_accounts()

    def require_libproxy(self):
        if self.plain_resolver != "GLibproxyResolver":
            self.skipTest(f"GLib's default proxy resolver here is {self.plain_resolver}")

    def require_gnome_resolver(self):
        if self.gnome_resolver != "GProxyResolverGnome":
            self.skipTest(f"under GNOME, GLib's proxy resolver here is {self.gnome_resolver}")

    def start_daemon_with(self, **variables):
        with process_environment(variables):
            return self.start_daemon()

    def add_site(self):
        return self.manager.add_site(self.jira.url, {"token": self.accounts.admin_token},
                                     {"name": SITE})

    def add_site_error(self):
        return self.manager.error("AddSite", "sa{sv}a{sv}", self.jira.url,
                                  asv(token=self.accounts.admin_token), asv(name=SITE))

    def start_proxy(self):
        proxy = ForwardingProxy()
        self.addCleanup(proxy.stop)
        return proxy

    def test_no_proxy_reaches_double(self):
        self.require_libproxy()
        self.manager = self.start_daemon_with(http_proxy=f"http://127.0.0.1:{closed_port()}",
                                              no_proxy="127.0.0.1,localhost")
        self.assertEqual(self.add_site(), SITE)
        self.assertEqual(self.manager.list_links(SITE), [])
        self.assertEqual(len(self.jira_requests(LIST_PATH)), 2)

    def test_closed_proxy_fails(self):
        self.require_libproxy()
        self.manager = self.start_daemon_with(http_proxy=f"http://127.0.0.1:{closed_port()}")
        error = self.add_site_error()
        self.assertEqual(error.name, "Unreachable")
        self.assertEqual(self.jira.requests(), [])
        self.assertEqual(self.jira_items(site=SITE), [])

    def test_closed_proxy_named(self):
        self.require_libproxy()
        # NOTE: applinkd reports a refused proxy connection as a refused connection to Jira.
        self.manager = self.start_daemon_with(http_proxy=f"http://127.0.0.1:{closed_port()}")
        error = self.add_site_error()
        self.assertIn("proxy", error.message)

    def test_proxy_carries_requests(self):
        self.require_libproxy()
        proxy = self.start_proxy()
        self.manager = self.start_daemon_with(http_proxy=proxy.url)
        self.assertEqual(self.add_site(), SITE)
        self.assertEqual(proxy.paths(), [MYSELF_PATH, SERVER_INFO_PATH, LIST_PATH])
        self.assertEqual(len(self.jira.requests()), 3)

    def test_uppercase_http_proxy_honoured(self):
        self.require_libproxy()
        proxy = self.start_proxy()
        self.manager = self.start_daemon_with(HTTP_PROXY=proxy.url)
        self.assertEqual(self.add_site(), SITE)
        self.assertEqual(proxy.paths(), [MYSELF_PATH, SERVER_INFO_PATH, LIST_PATH])

    def test_uppercase_no_proxy_honoured(self):
        self.require_libproxy()
        self.manager = self.start_daemon_with(http_proxy=f"http://127.0.0.1:{closed_port()}",
                                              NO_PROXY="127.0.0.1")
        self.assertEqual(self.add_site(), SITE)

    def test_all_proxy_ignored(self):
        self.require_libproxy()
        self.manager = self.start_daemon_with(all_proxy=f"http://127.0.0.1:{closed_port()}")
        self.assertEqual(self.add_site(), SITE)

    def test_gnome_ignores_environment(self):
        self.require_gnome_resolver()
        self.manager = self.start_daemon_with(http_proxy=f"http://127.0.0.1:{closed_port()}",
                                              XDG_CURRENT_DESKTOP="GNOME",
                                              GSETTINGS_BACKEND="memory")
        self.assertEqual(self.add_site(), SITE)
        self.assertEqual(len(self.jira.requests()), 3)

    def test_gnome_settings_proxy(self):
        self.require_gnome_resolver()
        source = Gio.SettingsSchemaSource.get_default()
        if source is None or source.lookup("org.gnome.system.proxy", True) is None:
            self.skipTest("the GSettings schema org.gnome.system.proxy is not installed")
        proxy = self.start_proxy()
        port = urllib.parse.urlsplit(proxy.url).port
        # GLib's keyfile GSettings backend reads this file under the test's XDG_CONFIG_HOME.
        keyfile = Path(os.environ["XDG_CONFIG_HOME"]) / "glib-2.0" / "settings" / "keyfile"
        keyfile.parent.mkdir(parents=True, exist_ok=True)
        keyfile.write_text("[system/proxy]\nmode='manual'\nignore-hosts=@as []\n\n"
                           f"[system/proxy/http]\nhost='127.0.0.1'\nport={port}\n")
        self.addCleanup(keyfile.unlink, True)
        self.manager = self.start_daemon_with(XDG_CURRENT_DESKTOP="GNOME",
                                              GSETTINGS_BACKEND="keyfile")
        self.assertEqual(self.add_site(), SITE)
        self.assertEqual(proxy.paths(), [MYSELF_PATH, SERVER_INFO_PATH, LIST_PATH])


if __name__ == "__main__":
    applinktest.main()

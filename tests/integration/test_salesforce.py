"""Salesforce logins through applinkd against the Salesforce double on 127.0.0.1.

The tests cover every SOAP login() fault and OAuth error that the double produces, and
credentials with characters that XML or form encoding must escape. They also cover the
choice of login host, redirects, what TestOutgoingAuth records, TLS and network failures,
and that no failed login changes a stored credential. Every request goes to a double on
127.0.0.1. Real Salesforce host names reach the daemon only through ProbeUrl, through
SetOutgoingAuth with "verify" false, and as Location or instance URLs in the double's
replies, and none of these makes the daemon connect to them.

The tests of a class share one daemon, one pair of doubles, one site and one link, which
keeps the module's run time low.
"""

import json
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import unittest
import urllib.request
from pathlib import Path

import applinktest
from applinktest import SALESFORCE_USER

DEFAULT_API_VERSION = "64.0"
PRODUCTION_LOGIN_URL = "https://login.salesforce.com"
SANDBOX_LOGIN_URL = "https://test.salesforce.com"

# The daemon logs this line (with --verbose) right before it sends a login request.
LOGIN_LOG_LINE = "Logging in to Salesforce at "

# The errors that SetOutgoingAuth may return, as org.applink.Manager.xml lists them.
SET_OUTGOING_AUTH_ERRORS = {
    "InvalidArgument", "InvalidUrl", "NotFound", "SecurityTokenRequired",
    "InvalidCredentials", "PasswordExpired", "ApiDisabled", "SalesforceRateLimited",
    "LoginNotAvailable", "LoginRedirected", "LoginRestricted", "SalesforceAccessDenied",
    "OrgUnavailable", "InvalidClient", "SalesforceError", "Unreachable", "TlsError", "Timeout",
    "KeyringLocked", "KeyringUnavailable",
}

NETWORK_SKIP_REASON = ("a failure of the daemon could reach a host outside this machine; run "
                       "inside a network namespace with only lo (unshare -n)")

# Characters that XML escaping, form encoding or a careless parser could change.
AWKWARD_CHARACTERS = ["&", "<", ">", '"', "'", "+", "%", "=", ";", " ", "\u00e4", "\u00df",
                      "\u00f1", "\u00e9", "e\u0301", "\u0436", "\u65e5", "&amp;", "%41"]


def user_entry(username, password, token, mode="ok"):
    """Return one user of the Salesforce double's users file or POST /_double/users."""
    return {"username": username, "password": password, "token": token, "mode": mode}


def closed_loopback_port():
    """Return a TCP port on 127.0.0.1 that nothing listens on at the time of the call."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def only_loopback_network():
    """Return whether this process's network namespace has no interface except lo.

    socket.if_nameindex() queries the kernel about the caller's own namespace. /sys/class/net
    is not used because it shows the namespace that mounted sysfs, which stays the host's
    after a bare `unshare -n`.
    """
    return [name for _index, name in socket.if_nameindex()] == ["lo"]


def clear_all_storage(config_dir):
    """Delete every applink keyring item and the settings folder."""
    for schema in (applinktest.JIRA_SCHEMA, applinktest.SALESFORCE_SCHEMA):
        subprocess.run(["secret-tool", "clear", "xdg:schema", schema],
                       capture_output=True, timeout=30)
    shutil.rmtree(config_dir, ignore_errors=True)


class SharedLinkCase(applinktest.ApplinkTestCase):
    """Base class whose tests share the doubles, applinkd, a site and a link.

    setUpClass starts them once. Each test begins with the Salesforce double reset to its
    start-up users, clients and config, and its cleanup clears the link's outgoing
    authentication, so the tests stay independent of each other.
    """

    # Extra applinkd arguments, which follow the fixture's "--timeout 5".
    daemon_arguments = ()

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        base = Path(os.environ.get("TMPDIR", tempfile.gettempdir()))
        cls.class_workdir = Path(tempfile.mkdtemp(prefix=f"{cls.__name__}-", dir=base))
        cls.addClassCleanup(shutil.rmtree, cls.class_workdir, True)
        cls.addClassCleanup(clear_all_storage,
                            Path(os.environ["XDG_CONFIG_HOME"]) / "applink")

        cls.class_secrets = set()
        cls.jira_admin_token = cls.class_secret("jiratok")
        cls.salesforce_password = cls.class_secret("sfpw")
        cls.salesforce_token = cls.class_secret("sftok")
        cls.consumer_key = "3MVG9double" + secrets.token_hex(6)
        cls.consumer_secret = cls.class_secret("consumer")

        cls.jira = cls.start_class_double(
            "jira-double", applinktest.JIRA_DOUBLE,
            ["--token", f"{cls.jira_admin_token}:{applinktest.JIRA_ADMIN}"])
        cls.salesforce = cls.start_class_double(
            "salesforce-double", applinktest.SALESFORCE_DOUBLE, cls.salesforce_arguments())

        cls.class_daemon = applinktest.Daemon(cls.bus, cls.class_workdir, 1,
                                              cls.daemon_arguments)
        cls.addClassCleanup(cls.class_daemon.stop)
        cls.class_daemon.wait_for_name()
        cls.class_signals = applinktest.SignalRecorder(cls.bus)
        cls.addClassCleanup(cls.class_signals.close)

        manager = applinktest.Manager(cls.bus, lambda label, text: None)
        cls.site = manager.add_site(cls.jira.url, {"token": cls.jira_admin_token},
                                    {"name": "jira"})
        cls.link = manager.create_link(cls.site, cls.salesforce.url, "Salesforce",
                                       {"check": False})["id"]

    @classmethod
    def class_secret(cls, kind):
        value = f"{kind}{secrets.token_hex(12)}"
        cls.class_secrets.add(value)
        return value

    @classmethod
    def start_class_double(cls, name, script, arguments):
        double = applinktest.Double(name, script, arguments, cls.class_workdir)
        cls.addClassCleanup(double.stop)
        return double

    @classmethod
    def salesforce_arguments(cls):
        """Return the Salesforce double's start-up arguments: one user and one OAuth client."""
        return ["--user", f"{SALESFORCE_USER}:{cls.salesforce_password}:{cls.salesforce_token}",
                "--client", f"{cls.consumer_key}:{cls.consumer_secret}"]

    def setUp(self):
        super().setUp()
        cls = type(self)
        self.daemon = cls.class_daemon
        self.daemons = [cls.class_daemon]
        self.jira = cls.jira
        self.salesforce = cls.salesforce
        self.doubles = [cls.jira, cls.salesforce]
        self.signals = cls.class_signals
        self.manager = applinktest.Manager(self.bus, self.record_output)
        for value in cls.class_secrets:
            self.remember_secret(value)
        self.salesforce.reset()
        self.signals.clear()

    def reset_storage(self):
        """Clear the link's outgoing authentication but keep the class's site and link."""
        self.manager.clear_outgoing_auth(self.site, self.link)

    # --- credentials and calls

    def credentials(self, password=None, token=None, username=SALESFORCE_USER):
        return {"username": username,
                "password": self.salesforce_password if password is None else password,
                "security-token": self.salesforce_token if token is None else token}

    def oauth_credentials(self, consumer_key=None, consumer_secret=None, **keywords):
        credentials = self.credentials(**keywords)
        credentials["consumer-key"] = consumer_key or self.consumer_key
        credentials["consumer-secret"] = consumer_secret or self.consumer_secret
        return credentials

    def set_auth(self, credentials=None, options=None, link=None):
        credentials = self.credentials() if credentials is None else credentials
        return self.manager.set_outgoing_auth(self.site, link or self.link, credentials, options)

    def set_auth_error(self, credentials=None, options=None, link=None):
        credentials = self.credentials() if credentials is None else credentials
        return self.manager.error("SetOutgoingAuth", "ssa{sv}a{sv}", self.site,
                                  link or self.link, applinktest.asv(credentials),
                                  applinktest.asv(options))

    def auth_test_error(self, link=None):
        return self.manager.error("TestOutgoingAuth", "ss", self.site, link or self.link)

    def set_users(self, *users):
        """Replace the Salesforce double's users and remember their secrets."""
        for user in users:
            self.remember_secret(user["password"])
            self.remember_secret(user["token"])
        self.salesforce.control("POST", "users", list(users))

    def set_user_mode(self, mode):
        """Give the standard user a MODE of the double, keeping its password and token."""
        self.set_users(user_entry(SALESFORCE_USER, self.salesforce_password,
                                  self.salesforce_token, mode))

    def login_requests(self):
        return [request for request in self.salesforce.requests()
                if request["flow"] is not None]

    def login_attempts_logged(self):
        """Return how many login requests the daemon has logged that it sends."""
        return self.daemon.log_text().count(LOGIN_LOG_LINE)

    # --- stored state

    def credential_snapshot(self):
        """Return the link's keyring item and Jira provider config, secrets included."""
        return {
            "lookup": self.keyring_lookup(site=self.site, link=self.link),
            "items": self.salesforce_items(site=self.site, link=self.link),
            "provider": self.jira_basic_provider(self.link),
        }

    def assert_credential_unchanged(self, before):
        """Assert that the keyring item and Jira's provider are as in the snapshot before.

        The comparison never prints a secret, so each part gets its own assertion message.
        """
        after = self.credential_snapshot()
        self.assertIsNotNone(before["lookup"], "the snapshot contains no stored secret")
        self.assertTrue(after["lookup"] == before["lookup"],
                        "secret-tool lookup returns another secret after the failed login")
        self.assertTrue(after["items"] == before["items"],
                        "the keyring item (secret, attributes, label or dates) changed")
        self.assertTrue(after["provider"] == before["provider"],
                        "the Jira double's Basic Access provider config changed")

    def assert_phrases(self, error, *phrases):
        for phrase in phrases:
            self.assertIn(phrase, error.message)


class SoapFaultTest(SharedLinkCase):
    """Every SOAP login() fault maps to its own error, and the message gives the advice."""

    def assert_mode_fault(self, mode, name, code, *phrases):
        self.set_user_mode(mode)
        error = self.set_auth_error()
        self.assertEqual(error.name, name)
        self.assert_phrases(error, f"Salesforce returned {code}", *phrases)
        return error

    def test_invalid_login_with_token(self):
        error = self.set_auth_error(self.credentials(password=self.new_secret("wrongpw")))
        self.assertEqual(error.name, "InvalidCredentials")
        self.assert_phrases(error, "Salesforce returned INVALID_LOGIN",
                            "username, password or security token is wrong",
                            "security token given may be wrong or stale")

    def test_invalid_login_without_token(self):
        error = self.set_auth_error(self.credentials(password=self.new_secret("wrongpw"),
                                                     token=""))
        self.assertEqual(error.name, "InvalidCredentials")
        self.assert_phrases(error, "Salesforce returned INVALID_LOGIN",
                            "No security token was given", "trusted IP ranges")

    def test_invalid_login_unknown_user(self):
        error = self.set_auth_error(self.credentials(username="nobody@example.com"))
        self.assertEqual(error.name, "InvalidCredentials")
        self.assertIn("nobody@example.com", error.message)

    def test_security_token_required(self):
        error = self.set_auth_error(self.credentials(token=""))
        self.assertEqual(error.name, "SecurityTokenRequired")
        self.assert_phrases(error, "Salesforce returned LOGIN_MUST_USE_SECURITY_TOKEN",
                            "Reset My Security Token", "trusted IP ranges")

    def test_password_expired(self):
        self.set_user_mode("expired")
        error = self.set_auth_error()
        self.assertEqual(error.name, "PasswordExpired")
        self.assert_phrases(error, "password has expired", "set a new password")

    def test_api_disabled_for_org(self):
        self.assert_mode_fault("api-disabled", "ApiDisabled", "API_DISABLED_FOR_ORG",
                               "edition")

    def test_api_currently_disabled(self):
        self.assert_mode_fault("api-currently-disabled", "ApiDisabled",
                               "API_CURRENTLY_DISABLED", '"API Enabled" permission')

    def test_request_limit_exceeded(self):
        self.assert_mode_fault("request-limit", "SalesforceRateLimited",
                               "REQUEST_LIMIT_EXCEEDED", "per user per hour",
                               "wait, then try again")

    def test_restricted_domain(self):
        self.assert_mode_fault("restricted-domain", "LoginRestricted",
                               "LOGIN_DURING_RESTRICTED_DOMAIN", "Login IP Ranges")

    def test_restricted_time(self):
        self.assert_mode_fault("restricted-time", "LoginRestricted",
                               "LOGIN_DURING_RESTRICTED_TIME", "Login Hours")

    def test_invalid_operation_api_version(self):
        error = self.set_auth_error(options={"api-version": "65.0"})
        self.assertEqual(error.name, "LoginNotAvailable")
        self.assert_phrases(error, "Salesforce returned INVALID_OPERATION",
                            "not available in the API version specified (65.0)",
                            "Enable SOAP API login()", "--consumer-key")
        self.assertEqual([request["path"] for request in self.login_requests()],
                         ["/services/Soap/u/65.0"])

    def test_invalid_operation_login_disabled(self):
        self.salesforce.configure(soap_disabled=True)
        error = self.set_auth_error()
        self.assertEqual(error.name, "LoginNotAvailable")
        self.assert_phrases(error, "Salesforce returned INVALID_OPERATION",
                            "disabled in the org", "Enable SOAP API login()", "--consumer-key")

    def test_unsupported_api_version(self):
        error = self.set_auth_error(options={"api-version": "30.0"})
        self.assertEqual(error.name, "LoginNotAvailable")
        self.assert_phrases(error, "Salesforce returned UNSUPPORTED_API_VERSION",
                            "Invalid Api version specified on URL", "--api-version",
                            DEFAULT_API_VERSION)
        self.assertEqual([request["path"] for request in self.login_requests()],
                         ["/services/Soap/u/30.0"])

    def test_insufficient_access(self):
        self.assert_mode_fault("insufficient-access", "SalesforceAccessDenied",
                               "INSUFFICIENT_ACCESS", '"Use Any API Auth" permission')

    def test_org_locked(self):
        self.assert_mode_fault("org-locked", "OrgUnavailable", "ORG_LOCKED",
                               "org is locked", "unlock it")

    def test_trial_expired(self):
        self.assert_mode_fault("trial-expired", "OrgUnavailable", "TRIAL_EXPIRED",
                               "trial of the Salesforce org has expired", "paid edition")

    def test_server_unavailable(self):
        self.assert_mode_fault("server-unavailable", "SalesforceError", "SERVER_UNAVAILABLE",
                               "temporarily unavailable", "try again later")

    def test_password_lockout(self):
        self.assert_mode_fault("code:PASSWORD_LOCKOUT", "InvalidCredentials", "PASSWORD_LOCKOUT",
                               "locked out after too many failed logins")

    def test_expired_password_operation(self):
        self.assert_mode_fault("code:INVALID_OPERATION_WITH_EXPIRED_PASSWORD", "PasswordExpired",
                               "INVALID_OPERATION_WITH_EXPIRED_PASSWORD", "set a new password")

    def test_unknown_code(self):
        error = self.assert_mode_fault("code:APPLINK_TEST_NEW_CODE", "SalesforceError",
                                       "APPLINK_TEST_NEW_CODE", "Login History")
        # Without a rule for the code, the message quotes Salesforce's own text.
        self.assertIn("Login failed with exception code APPLINK_TEST_NEW_CODE", error.message)

    def test_message_names_user_and_host(self):
        error = self.set_auth_error(self.credentials(token=""))
        self.assertIn(SALESFORCE_USER, error.message)
        self.assertIn(self.salesforce.url, error.message)

    def test_bare_faultcode(self):
        self.salesforce.configure(faultcode_prefix=False)
        error = self.set_auth_error(self.credentials(token=""))
        self.assertEqual(error.name, "SecurityTokenRequired")

    def test_alternating_faultcode(self):
        self.salesforce.configure(faultcode_prefix="alternate")
        for attempt in ("sf:CODE", "CODE"):
            with self.subTest(faultcode=attempt):
                error = self.set_auth_error(self.credentials(token=""))
                self.assertEqual(error.name, "SecurityTokenRequired")

    def test_prefixed_faultcode_only(self):
        # Without a detail element the faultcode "sf:ORG_LOCKED" is the only code given.
        self.salesforce.configure(fault_detail=False, faultcode_prefix=True)
        error = self.assert_mode_fault("org-locked", "OrgUnavailable", "ORG_LOCKED",
                                       "org is locked")
        self.assertNotIn("sf:ORG_LOCKED", error.message)

    def test_bare_faultcode_only(self):
        self.salesforce.configure(fault_detail=False, faultcode_prefix=False)
        self.assert_mode_fault("org-locked", "OrgUnavailable", "ORG_LOCKED", "org is locked")

    def test_faultcode_only_token_required(self):
        self.salesforce.configure(fault_detail=False, faultcode_prefix=True)
        error = self.set_auth_error(self.credentials(token=""))
        self.assertEqual(error.name, "SecurityTokenRequired")
        self.assert_phrases(error, "Reset My Security Token", "trusted IP ranges")

    def test_failure_stores_nothing(self):
        self.set_user_mode("api-disabled")
        self.set_auth_error()
        status = self.manager.get_outgoing_auth(self.site, self.link)
        self.assertEqual(status["state"], "not-configured")
        self.assertIs(status["stored"], False)
        self.assertEqual(self.salesforce_items(site=self.site, link=self.link), [])
        self.assertIsNone(self.jira_basic_provider(self.link))


class OAuthErrorTest(SharedLinkCase):
    """Every OAuth error of the username-password flow maps to its own error."""

    def forced_error(self, error, description, status=None):
        """Make the double reply to every token request with this error, and log in."""
        forced = {"error": error, "error_description": description}
        if status is not None:
            forced["status"] = status
        self.salesforce.configure(oauth_error=forced)
        return self.set_auth_error(self.oauth_credentials())

    def test_success(self):
        status = self.set_auth(self.oauth_credentials())
        self.assertEqual(status["state"], "configured")
        self.assertEqual(status["flow"], "oauth")
        self.assertEqual(status["instance-url"], self.salesforce.url)
        self.assertRegex(status["user-id"], r"^005[0-9A-Za-z]{15}$")
        self.assertRegex(status["organization-id"], r"^00D[0-9A-Za-z]{15}$")
        self.assertEqual([request["path"] for request in self.login_requests()],
                         ["/services/oauth2/token"])
        self.assertSecretEqual(self.jira_basic_provider(self.link)["password"],
                               self.salesforce_password + self.salesforce_token,
                               "Jira's provider password is not the password with the token")

    def test_authentication_failure(self):
        error = self.set_auth_error(self.oauth_credentials(password=self.new_secret("wrongpw")))
        self.assertEqual(error.name, "InvalidCredentials")
        self.assert_phrases(error, "Salesforce returned invalid_grant (authentication failure)",
                            "org blocks the username-password flow",
                            "Allow OAuth Username-Password Flows", "Login History",
                            "security token given may be wrong or stale")

    def test_flow_blocked(self):
        self.salesforce.configure(oauth_blocked=True)
        error = self.set_auth_error(self.oauth_credentials())
        self.assertEqual(error.name, "InvalidCredentials")
        self.assert_phrases(error, "org blocks the username-password flow")

    def test_missing_token(self):
        error = self.set_auth_error(self.oauth_credentials(token=""))
        self.assertEqual(error.name, "InvalidCredentials")
        self.assert_phrases(error, "No security token was given")

    def test_consumer_not_approved(self):
        error = self.forced_error("invalid_grant", "user hasn't approved this consumer")
        self.assertEqual(error.name, "InvalidClient")
        self.assert_phrases(error, "user hasn't approved this consumer", "Permitted Users",
                            "pre-authorized")

    def test_ip_restricted(self):
        self.set_user_mode("restricted-domain")
        error = self.set_auth_error(self.oauth_credentials())
        self.assertEqual(error.name, "LoginRestricted")
        self.assert_phrases(error, "IP restricted or invalid login hours", "Login IP Ranges",
                            "Login Hours")

    def test_login_hours(self):
        self.set_user_mode("restricted-time")
        error = self.set_auth_error(self.oauth_credentials())
        self.assertEqual(error.name, "LoginRestricted")

    def test_inactive_user_description(self):
        error = self.forced_error("invalid_grant", "inactive user")
        self.assertEqual(error.name, "InvalidCredentials")
        self.assert_phrases(error, "user is deactivated", "reactivate")

    def test_invalid_client_id(self):
        error = self.set_auth_error(self.oauth_credentials(consumer_key="3MVG9unknownkey"))
        self.assertEqual(error.name, "InvalidClient")
        self.assert_phrases(error, "Salesforce returned invalid_client_id",
                            "does not know this consumer key", "App Manager")

    def test_invalid_client(self):
        error = self.set_auth_error(
            self.oauth_credentials(consumer_secret=self.new_secret("wrongsecret")))
        self.assertEqual(error.name, "InvalidClient")
        self.assert_phrases(error, "Salesforce returned invalid_client (",
                            "consumer key or consumer secret")

    def test_invalid_client_credentials(self):
        error = self.forced_error("invalid_client_credentials", "invalid client credentials")
        self.assertEqual(error.name, "InvalidClient")
        self.assert_phrases(error, "consumer key or consumer secret")

    def test_invalid_client_status_401(self):
        error = self.forced_error("invalid_client", "invalid client credentials", status=401)
        self.assertEqual(error.name, "InvalidClient")

    def test_unsupported_grant_type(self):
        error = self.forced_error("unsupported_grant_type", "grant type not supported")
        self.assertEqual(error.name, "SalesforceError")
        self.assert_phrases(error, "grant type not supported", "wrong login host",
                            "My Domain URL")

    def test_inactive_user(self):
        error = self.forced_error("inactive_user", "user is inactive")
        self.assertEqual(error.name, "InvalidCredentials")
        self.assert_phrases(error, "user is deactivated")

    def test_inactive_org(self):
        for mode in ("org-locked", "trial-expired"):
            with self.subTest(mode=mode):
                self.set_user_mode(mode)
                error = self.set_auth_error(self.oauth_credentials())
                self.assertEqual(error.name, "OrgUnavailable")
                self.assert_phrases(error, "Salesforce returned inactive_org",
                                    "inactive or locked")

    def test_rate_limit_exceeded(self):
        self.set_user_mode("request-limit")
        error = self.set_auth_error(self.oauth_credentials())
        self.assertEqual(error.name, "SalesforceRateLimited")
        self.assert_phrases(error, "Salesforce returned rate_limit_exceeded",
                            "wait, then try again")

    def test_codes_without_rule(self):
        for code in ("invalid_scope", "invalid_request", "unsupported_response_type"):
            with self.subTest(code=code):
                description = f"applink test description of {code}"
                error = self.forced_error(code, description)
                self.assertEqual(error.name, "SalesforceError")
                self.assert_phrases(error, f"Salesforce returned {code} ({description})",
                                    "Login History")

    def test_other_invalid_grant(self):
        error = self.forced_error("invalid_grant", "expired access/refresh token")
        self.assertEqual(error.name, "SalesforceError")
        self.assert_phrases(error, "expired access/refresh token")

    def test_non_json_error(self):
        self.salesforce.configure(oauth_non_json=True)
        error = self.set_auth_error(self.oauth_credentials())
        self.assertEqual(error.name, "SalesforceError")
        self.assert_phrases(error, "HTTP 400", "text/html", "without an OAuth error code")

    def test_failure_stores_nothing(self):
        self.forced_error("inactive_user", "user is inactive")
        self.assertEqual(self.salesforce_items(site=self.site, link=self.link), [])
        self.assertIsNone(self.jira_basic_provider(self.link))


class CredentialCharactersTest(SharedLinkCase):
    """Credentials with characters that XML or form encoding must escape log in unchanged.

    The double reads the users file at start-up, and the per-character cases replace its
    users through POST /_double/users.
    """

    @classmethod
    def salesforce_arguments(cls):
        cls.awkward_username = "o'brien & \"co\" <x>+y%20=z; \u00e4\u00df e\u0301@example.com"
        cls.awkward_password = ("p&<>\"'+%=; \u00e4\u00f6\u00fc\u00df \u0436 &amp; %41 "
                                + cls.class_secret(""))
        cls.awkward_token = "t+%=;&<>\"' \u00f1\u65e5" + cls.class_secret("")
        cls.awkward_consumer_secret = "s&=+%;<>\"' \u00e9:" + cls.class_secret("")
        cls.class_secrets |= {cls.awkward_password, cls.awkward_token,
                              cls.awkward_consumer_secret}
        users_file = cls.class_workdir / "users.json"
        users = [user_entry(cls.awkward_username, cls.awkward_password, cls.awkward_token)]
        users_file.write_text(json.dumps(users), encoding="utf-8")
        return ["--users-file", str(users_file),
                "--client", f"{cls.consumer_key}:{cls.awkward_consumer_secret}"]

    def awkward_credentials(self):
        return {"username": self.awkward_username, "password": self.awkward_password,
                "security-token": self.awkward_token}

    def assert_jira_received(self, username, password, token):
        config = self.jira_basic_provider(self.link)
        self.assertIsNotNone(config, "Jira has no Basic Access provider for the link")
        self.assertEqual(config["username"], username)
        self.assertSecretEqual(config["password"].encode("utf-8"),
                               (password + token).encode("utf-8"),
                               "Jira's password is not the password with the token, byte "
                               "for byte")

    def assert_login_matched(self, flow):
        requests = self.login_requests()
        self.assertEqual([request["flow"] for request in requests], [flow])
        self.assertIs(requests[0]["password_matched"], True)
        self.assertIs(requests[0]["token_present"], True)

    def test_soap_all_characters(self):
        status = self.set_auth(self.awkward_credentials())
        self.assertEqual(status["state"], "configured")
        self.assertEqual(status["salesforce-username"], self.awkward_username)
        self.assert_login_matched("soap")
        self.assertEqual(self.login_requests()[0]["username"], self.awkward_username)
        self.assert_jira_received(self.awkward_username, self.awkward_password,
                                  self.awkward_token)

    def test_oauth_all_characters(self):
        credentials = self.awkward_credentials()
        credentials["consumer-key"] = self.consumer_key
        credentials["consumer-secret"] = self.awkward_consumer_secret
        status = self.set_auth(credentials)
        self.assertEqual(status["state"], "configured")
        self.assertEqual(status["flow"], "oauth")
        self.assert_login_matched("oauth")
        self.assertEqual(self.login_requests()[0]["username"], self.awkward_username)
        self.assert_jira_received(self.awkward_username, self.awkward_password,
                                  self.awkward_token)

    def test_stored_username(self):
        self.set_auth(self.awkward_credentials())
        status = self.manager.get_outgoing_auth(self.site, self.link)
        self.assertEqual(status["salesforce-username"], self.awkward_username)
        self.assertIs(status["in-sync"], True)
        items = self.salesforce_items(site=self.site, link=self.link)
        self.assertEqual(len(items), 1)
        self.assertEqual(items[0]["attributes"]["username"], self.awkward_username)

    def test_retest_after_set(self):
        self.set_auth(self.awkward_credentials())
        status = self.manager.test_outgoing_auth(self.site, self.link)
        self.assertIn("verified-at", status)
        self.assertEqual(len(self.login_requests()), 2)

    def check_character(self, character, oauth):
        """Log in with character in each credential, and check what the double and Jira received."""
        username = f"user{character}name@example.com"
        password = f"pw{character}{self.new_secret('')}{character}"
        token = f"tok{character}{self.new_secret('')}"
        consumer_secret = f"cs{character}{self.new_secret('')}"
        self.remember_secret(consumer_secret)
        self.set_users(user_entry(username, password, token))
        self.salesforce.control("POST", "clients", [
            {"client_id": self.consumer_key, "client_secret": consumer_secret}])
        credentials = {"username": username, "password": password, "security-token": token}
        if oauth:
            credentials["consumer-key"] = self.consumer_key
            credentials["consumer-secret"] = consumer_secret
        before = len(self.login_requests())

        status = self.set_auth(credentials)
        self.assertEqual(status["state"], "configured")
        request = self.login_requests()[before]
        self.assertEqual(request["username"], username)
        self.assertIs(request["password_matched"], True)
        self.assertIs(request["token_present"], True)
        self.assert_jira_received(username, password, token)

    def test_soap_each_character(self):
        for character in AWKWARD_CHARACTERS:
            with self.subTest(character=character):
                self.check_character(character, oauth=False)

    def test_oauth_each_character(self):
        for character in AWKWARD_CHARACTERS:
            with self.subTest(character=character):
                self.check_character(character, oauth=True)


class LoginHostTest(SharedLinkCase):
    """The login host: ProbeUrl's default, and what SetOutgoingAuth stores.

    Each SetOutgoingAuth whose login host is a real Salesforce host runs with "verify" false
    and checks that the daemon sent no login request.
    """

    def create_extra_link(self, url, name):
        """Create a link to url without Jira's URL check, and delete it when the test ends."""
        link = self.manager.create_link(self.site, url, name, {"check": False})["id"]
        self.addCleanup(self.manager.delete_link, self.site, link)
        self.addCleanup(self.manager.clear_outgoing_auth, self.site, link)
        return link

    def set_unverified(self, link=None, **options):
        """Set the outgoing authentication without a login, and check that none was sent.

        Underscores in option names become dashes, as in login_url for "login-url".
        """
        options = {key.replace("_", "-"): value for key, value in options.items()}
        options["verify"] = False
        logged_before = self.login_attempts_logged()
        status = self.set_auth(options=options, link=link)
        self.assertEqual(self.login_requests(), [])
        self.assertEqual(self.login_attempts_logged(), logged_before,
                         "the daemon logged a login request although verify was false")
        return status

    def test_probe_login_urls(self):
        # (pasted URL, kind, sandbox, login-url, rewritten-from or None)
        cases = [
            ("https://login.salesforce.com", "login", False, PRODUCTION_LOGIN_URL, None),
            ("https://test.salesforce.com", "login", True, SANDBOX_LOGIN_URL, None),
            ("https://acme--uat.sandbox.my.salesforce.com", "sandbox", True,
             "https://acme--uat.sandbox.my.salesforce.com", None),
            ("https://acme.my.salesforce.com/lightning/page/home", "my-domain", False,
             "https://acme.my.salesforce.com", None),
            (" https://ap1.Salesforce.com/home/home.jsp ", "instance", False,
             PRODUCTION_LOGIN_URL, None),
            ("https://cs42.salesforce.com", "sandbox", True, SANDBOX_LOGIN_URL, None),
            ("https://acme.lightning.force.com/lightning/page/home", "my-domain", False,
             "https://acme.my.salesforce.com", "https://acme.lightning.force.com"),
            ("https://acme--uat.sandbox.lightning.force.com", "sandbox", True,
             "https://acme--uat.sandbox.my.salesforce.com",
             "https://acme--uat.sandbox.lightning.force.com"),
            (self.salesforce.url, "loopback", False, self.salesforce.url, None),
        ]
        for url, kind, sandbox, login_url, rewritten_from in cases:
            with self.subTest(url=url):
                result = self.manager.probe_url(url)
                self.assertEqual(result["kind"], kind)
                self.assertIs(result["sandbox"], sandbox)
                self.assertEqual(result["login-url"], login_url)
                self.assertEqual(result.get("rewritten-from"), rewritten_from)
        self.assertEqual(self.login_requests(), [])

    def test_sandbox_option(self):
        status = self.set_unverified(sandbox=True)
        self.assertEqual(status["login-url"], SANDBOX_LOGIN_URL)
        stored = self.manager.get_outgoing_auth(self.site, self.link)
        self.assertEqual(stored["login-url"], SANDBOX_LOGIN_URL)
        self.assertNotIn("verified-at", stored)

    def test_keyring_login_url(self):
        self.set_unverified(sandbox=True)
        items = self.salesforce_items(site=self.site, link=self.link)
        self.assertEqual(len(items), 1)
        self.assertEqual(items[0]["attributes"]["login-url"], SANDBOX_LOGIN_URL)

    def test_loopback_link_default(self):
        status = self.set_unverified()
        self.assertEqual(status["login-url"], self.salesforce.url)

    def test_link_url_defaults(self):
        cases = [
            ("https://acme.my.salesforce.com", "https://acme.my.salesforce.com"),
            ("https://acme--uat.sandbox.my.salesforce.com",
             "https://acme--uat.sandbox.my.salesforce.com"),
            ("https://ap1.salesforce.com", PRODUCTION_LOGIN_URL),
            ("https://cs42.salesforce.com", SANDBOX_LOGIN_URL),
            ("https://globex.lightning.force.com", "https://globex.my.salesforce.com"),
        ]
        for index, (url, login_url) in enumerate(cases):
            with self.subTest(url=url):
                link = self.create_extra_link(url, f"Org {index}")
                self.set_unverified(link=link)
                status = self.manager.get_outgoing_auth(self.site, link)
                self.assertEqual(status["login-url"], login_url)

    def test_login_url_overrides(self):
        link = self.create_extra_link("https://acme.my.salesforce.com", "Acme")
        self.set_unverified(link=link, login_url=" https://Other.My.Salesforce.com/home ")
        status = self.manager.get_outgoing_auth(self.site, link)
        self.assertEqual(status["login-url"], "https://other.my.salesforce.com")

    def test_lightning_login_url(self):
        self.set_unverified(login_url="https://acme.lightning.force.com")
        status = self.manager.get_outgoing_auth(self.site, self.link)
        self.assertEqual(status["login-url"], "https://acme.my.salesforce.com")

    def test_http_login_url_rejected(self):
        error = self.set_auth_error(options={"login-url": "http://login.salesforce.com",
                                             "verify": False})
        self.assertEqual(error.name, "InvalidUrl")
        self.assertIn("https://", error.message)
        self.assertEqual(self.salesforce_items(site=self.site, link=self.link), [])

    def test_login_url_overrides_sandbox_link(self):
        link = self.create_extra_link("https://acme--uat.sandbox.my.salesforce.com", "UAT")
        self.set_unverified(link=link, login_url=PRODUCTION_LOGIN_URL)
        status = self.manager.get_outgoing_auth(self.site, link)
        self.assertEqual(status["login-url"], PRODUCTION_LOGIN_URL)

    def test_soap_sandbox_result(self):
        self.salesforce.configure(sandbox=True)
        status = self.set_auth()
        self.assertIs(status["sandbox"], True)
        self.assertEqual(status["login-url"], self.salesforce.url)

    @unittest.skipUnless(only_loopback_network(), NETWORK_SKIP_REASON)
    def test_oauth_sandbox_instance(self):
        # The daemon only stores the instance URL of the token reply. A daemon that connected
        # to it would reach a real host, so the test skips outside a loopback-only namespace.
        instance_url = "https://acme--uat.sandbox.my.salesforce.com"
        self.salesforce.configure(instance_url=instance_url)
        status = self.set_auth(self.oauth_credentials())
        self.assertIs(status["sandbox"], True)
        self.assertEqual(status["instance-url"], instance_url)
        self.assertEqual(len(self.login_requests()), 1)

    def test_sandbox_and_login_url(self):
        error = self.set_auth_error(options={"sandbox": True, "login-url": SANDBOX_LOGIN_URL,
                                             "verify": False})
        self.assertEqual(error.name, "InvalidArgument")
        self.assertIn("sandbox", error.message)

    def test_invalid_name_rejected(self):
        # No host under .invalid passes the URL rules, so no DNS failure can be provoked
        # through a login URL.
        for url in ("https://nohost.salesforce.com.invalid", "https://nohost.invalid"):
            with self.subTest(url=url):
                logged_before = self.login_attempts_logged()
                error = self.set_auth_error(options={"login-url": url, "verify": False})
                self.assertEqual(error.name, "InvalidUrl")
                self.assertIn("not a Salesforce host", error.message)
                self.assertEqual(self.login_attempts_logged(), logged_before)
                probe_error = self.manager.error("ProbeUrl", "sa{sv}", url, {})
                self.assertEqual(probe_error.name, "InvalidUrl")
        self.assertEqual(self.salesforce_items(site=self.site, link=self.link), [])

    def test_cli_auth_status(self):
        self.set_unverified(sandbox=True)
        result = self.cli("auth", "status", self.link)
        self.assertEqual(result.code, 0, self.mask_secrets(repr(result)))
        self.assertRegex(result.stdout,
                         rf"(?m)^login-url:\s+{re.escape(SANDBOX_LOGIN_URL)}$")
        result = self.cli("--json", "auth", "status", self.link)
        self.assertEqual(result.code, 0, self.mask_secrets(repr(result)))
        self.assertEqual(result.json()["login-url"], SANDBOX_LOGIN_URL)

    def test_cli_link_show(self):
        link = self.create_extra_link("https://acme.my.salesforce.com", "Acme")
        self.set_unverified(link=link)
        result = self.cli("link", "show", link)
        self.assertEqual(result.code, 0, self.mask_secrets(repr(result)))
        self.assertRegex(result.stdout,
                         r"(?m)^login-url:\s+https://acme\.my\.salesforce\.com$")
        result = self.cli("--json", "link", "show", "Acme")
        self.assertEqual(result.code, 0, self.mask_secrets(repr(result)))
        self.assertEqual(result.json()["login-url"], "https://acme.my.salesforce.com")


class RedirectTest(SharedLinkCase):
    """A redirected login request is reported and never followed.

    Each Location points back at the double, so a followed redirect would show up there as
    a second request and would never leave 127.0.0.1.
    """

    def assert_redirected(self, credentials, location, shown_location):
        self.salesforce.configure(redirect=location)
        error = self.set_auth_error(credentials)
        self.assertEqual(error.name, "LoginRedirected")
        self.assert_phrases(error, "HTTP 302", shown_location, "My Domain URL",
                            "https://NAME.my.salesforce.com")
        self.assertEqual(len(self.salesforce.requests()), 1)
        self.assertEqual(self.salesforce.stats()["requests"], 1)

    def test_soap_redirect(self):
        location = f"{self.salesforce.url}/services/Soap/u/63.0"
        self.assert_redirected(self.credentials(), location, location)

    def test_oauth_redirect(self):
        location = f"{self.salesforce.url}/services/oauth2/token"
        self.assert_redirected(self.oauth_credentials(), location, location)

    def test_relative_location(self):
        self.assert_redirected(self.credentials(), "/elsewhere",
                               f"{self.salesforce.url}/elsewhere")

    def test_redirect_without_location(self):
        self.salesforce.configure(status=307)
        error = self.set_auth_error()
        self.assertEqual(error.name, "LoginRedirected")
        self.assert_phrases(error, "HTTP 307", "a location it did not name", "My Domain URL")
        self.assertEqual(len(self.salesforce.requests()), 1)

    def test_redirect_stores_nothing(self):
        self.salesforce.configure(redirect=f"{self.salesforce.url}/services/Soap/u/63.0")
        self.set_auth_error()
        self.assertEqual(self.salesforce_items(site=self.site, link=self.link), [])
        self.assertIsNone(self.jira_basic_provider(self.link))


class OutgoingAuthRecordTest(SharedLinkCase):
    """TestOutgoingAuth records its outcome in GetOutgoingAuth and OutgoingAuthChanged."""

    def change_password(self):
        """Give the double's user a new password, so that the stored one fails."""
        self.set_users(user_entry(SALESFORCE_USER, self.new_secret("changedpw"),
                                  self.salesforce_token))

    def last_signal_status(self):
        arguments = self.signals.wait_for("OutgoingAuthChanged",
                                          lambda arguments: arguments[1] == self.link)
        self.assertIsNotNone(arguments, "no OutgoingAuthChanged signal for the link")
        return arguments[3]

    def test_success_records_verified_at(self):
        self.set_auth()
        self.signals.clear()
        status = self.manager.test_outgoing_auth(self.site, self.link)
        self.assertRegex(status["verified-at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        stored = self.manager.get_outgoing_auth(self.site, self.link)
        self.assertEqual(stored["verified-at"], status["verified-at"])
        signal_status = self.last_signal_status()
        self.assertEqual(signal_status["verified-at"], status["verified-at"])
        self.assertNotIn("last-error", signal_status)

    def test_success_after_unverified(self):
        self.set_auth(options={"verify": False})
        self.assertNotIn("verified-at", self.manager.get_outgoing_auth(self.site, self.link))
        status = self.manager.test_outgoing_auth(self.site, self.link)
        self.assertIn("verified-at", status)
        self.assertEqual(status["flow"], "soap")

    def test_failure_records_error(self):
        self.set_auth()
        self.change_password()
        self.signals.clear()
        error = self.auth_test_error()
        self.assertEqual(error.name, "InvalidCredentials")
        stored = self.manager.get_outgoing_auth(self.site, self.link)
        self.assertEqual(stored["last-error"], "InvalidCredentials")
        self.assertEqual(stored["last-error-message"], error.message)
        signal_status = self.last_signal_status()
        self.assertEqual(signal_status["last-error"], "InvalidCredentials")
        self.assertEqual(signal_status["last-error-message"], error.message)

    def test_failure_keeps_verified_at(self):
        verified_at = self.set_auth()["verified-at"]
        self.change_password()
        self.auth_test_error()
        stored = self.manager.get_outgoing_auth(self.site, self.link)
        self.assertEqual(stored["verified-at"], verified_at)
        self.assertEqual(stored["state"], "configured")

    def test_later_success_clears_error(self):
        self.set_auth()
        self.change_password()
        self.auth_test_error()
        self.salesforce.reset()
        self.signals.clear()
        status = self.manager.test_outgoing_auth(self.site, self.link)
        self.assertNotIn("last-error", status)
        stored = self.manager.get_outgoing_auth(self.site, self.link)
        self.assertNotIn("last-error", stored)
        self.assertNotIn("last-error-message", stored)
        self.assertIn("verified-at", stored)
        signal_status = self.last_signal_status()
        self.assertNotIn("last-error", signal_status)
        self.assertNotIn("last-error-message", signal_status)

    def test_set_clears_error(self):
        self.set_auth()
        self.change_password()
        self.auth_test_error()
        self.salesforce.reset()
        status = self.set_auth()
        self.assertNotIn("last-error", status)
        stored = self.manager.get_outgoing_auth(self.site, self.link)
        self.assertNotIn("last-error", stored)
        self.assertNotIn("last-error-message", stored)

    def test_token_required_recorded(self):
        self.set_auth(self.credentials(token=""), {"verify": False})
        error = self.auth_test_error()
        self.assertEqual(error.name, "SecurityTokenRequired")
        stored = self.manager.get_outgoing_auth(self.site, self.link)
        self.assertEqual(stored["last-error"], "SecurityTokenRequired")
        self.assertIn("Reset My Security Token", stored["last-error-message"])

    def test_unreachable_recorded(self):
        login_url = f"http://127.0.0.1:{closed_loopback_port()}"
        self.set_auth(options={"verify": False, "login-url": login_url})
        error = self.auth_test_error()
        self.assertEqual(error.name, "Unreachable")
        stored = self.manager.get_outgoing_auth(self.site, self.link)
        self.assertEqual(stored["last-error"], "Unreachable")

    def test_stored_api_version_used(self):
        self.set_auth(options={"verify": False, "api-version": "63.0"})
        self.manager.test_outgoing_auth(self.site, self.link)
        self.assertEqual([request["path"] for request in self.login_requests()],
                         ["/services/Soap/u/63.0"])
        stored = self.manager.get_outgoing_auth(self.site, self.link)
        self.assertEqual(stored["api-version"], "63.0")

    def test_oauth_failure_recorded(self):
        self.set_auth(self.oauth_credentials())
        self.salesforce.configure(oauth_blocked=True)
        error = self.auth_test_error()
        self.assertEqual(error.name, "InvalidCredentials")
        stored = self.manager.get_outgoing_auth(self.site, self.link)
        self.assertEqual(stored["last-error"], "InvalidCredentials")
        self.assertEqual(stored["flow"], "oauth")
        self.assertEqual([request["flow"] for request in self.login_requests()],
                         ["oauth", "oauth"])


class FailedLoginKeepsCredentialTest(SharedLinkCase):
    """A failed login leaves the stored credential and Jira's provider byte-identical."""

    def setUp(self):
        super().setUp()
        self.set_auth()
        self.before = self.credential_snapshot()
        self.status_before = self.manager.get_outgoing_auth(self.site, self.link)

    def assert_set_failure_keeps(self, credentials=None, options=None):
        error = self.set_auth_error(credentials, options)
        self.assertIn(error.name, SET_OUTGOING_AUTH_ERRORS)
        self.assert_credential_unchanged(self.before)
        self.assertEqual(self.manager.get_outgoing_auth(self.site, self.link),
                         self.status_before)
        return error

    def new_credentials(self, mode="ok", token=None):
        """Return new credentials, which the double accepts with the MODE given."""
        password = self.new_secret("newpw")
        token = self.new_secret("newtok") if token is None else token
        self.set_users(user_entry(SALESFORCE_USER, password, token, mode))
        return self.credentials(password=password, token=token)

    def test_invalid_login(self):
        error = self.assert_set_failure_keeps(
            self.credentials(password=self.new_secret("wrongpw")))
        self.assertEqual(error.name, "InvalidCredentials")

    def test_missing_token(self):
        credentials = self.new_credentials()
        credentials["security-token"] = ""
        error = self.assert_set_failure_keeps(credentials)
        self.assertEqual(error.name, "SecurityTokenRequired")

    def test_user_modes(self):
        for mode in ("api-disabled", "request-limit", "restricted-time", "org-locked",
                     "server-unavailable", "expired"):
            with self.subTest(mode=mode):
                self.assert_set_failure_keeps(self.new_credentials(mode))

    def test_login_not_available(self):
        error = self.assert_set_failure_keeps(self.new_credentials(), {"api-version": "65.0"})
        self.assertEqual(error.name, "LoginNotAvailable")

    def test_oauth_errors(self):
        self.salesforce.configure(oauth_error={"error": "inactive_org",
                                               "error_description": "inactive organization"})
        error = self.assert_set_failure_keeps(self.oauth_credentials())
        self.assertEqual(error.name, "OrgUnavailable")
        self.salesforce.configure(oauth_error=None)
        error = self.assert_set_failure_keeps(
            self.oauth_credentials(consumer_secret=self.new_secret("wrongsecret")))
        self.assertEqual(error.name, "InvalidClient")

    def test_redirect(self):
        self.salesforce.configure(redirect=f"{self.salesforce.url}/services/Soap/u/63.0")
        error = self.assert_set_failure_keeps(self.new_credentials())
        self.assertEqual(error.name, "LoginRedirected")

    def test_error_status(self):
        self.salesforce.configure(status=503)
        error = self.assert_set_failure_keeps(self.new_credentials())
        self.assertEqual(error.name, "SalesforceError")

    def test_connection_refused(self):
        login_url = f"http://127.0.0.1:{closed_loopback_port()}"
        error = self.assert_set_failure_keeps(self.new_credentials(), {"login-url": login_url})
        self.assertEqual(error.name, "Unreachable")

    def test_cut_off_reply(self):
        self.salesforce.configure(close=True)
        self.assert_set_failure_keeps(self.new_credentials())

    def test_failed_test_keeps(self):
        self.set_users(user_entry(SALESFORCE_USER, self.new_secret("changedpw"),
                                  self.salesforce_token))
        self.assertEqual(self.auth_test_error().name, "InvalidCredentials")
        self.assert_credential_unchanged(self.before)


class NetworkFailureTest(SharedLinkCase):
    """Connection failures, broken replies and error pages end in a typed error."""

    def assert_daemon_alive(self):
        self.assertIsNone(self.daemon.process.poll(), "applinkd exited")
        self.assertEqual(self.daemon.owner_pid(), self.daemon.process.pid)

    def test_connection_refused(self):
        port = closed_loopback_port()
        error = self.set_auth_error(options={"login-url": f"http://127.0.0.1:{port}"})
        self.assertEqual(error.name, "Unreachable")
        self.assert_phrases(error, f"127.0.0.1:{port}", "refused")

    def test_oauth_connection_refused(self):
        port = closed_loopback_port()
        error = self.set_auth_error(self.oauth_credentials(),
                                    {"login-url": f"http://127.0.0.1:{port}"})
        self.assertEqual(error.name, "Unreachable")
        self.assert_phrases(error, f"127.0.0.1:{port}")

    def test_cut_off_reply(self):
        self.salesforce.configure(close=True)
        error = self.set_auth_error()
        self.assertIn(error.name, {"Unreachable", "SalesforceError"})
        self.assertIn(f"127.0.0.1:{self.salesforce.port}", error.message)
        self.assertEqual(len(self.login_requests()), 1, "the login request was sent again")
        self.assert_daemon_alive()
        self.salesforce.configure(close=False)
        self.assertEqual(self.set_auth()["state"], "configured")

    def test_oauth_cut_off_reply(self):
        self.salesforce.configure(close=True)
        error = self.set_auth_error(self.oauth_credentials())
        self.assertIn(error.name, {"Unreachable", "SalesforceError"})
        self.assert_daemon_alive()

    def test_cut_off_fault(self):
        self.salesforce.configure(close=True)
        error = self.set_auth_error(self.credentials(token=""))
        self.assertIn(error.name, {"Unreachable", "SalesforceError"})
        self.assert_daemon_alive()

    def test_error_status_page(self):
        self.salesforce.configure(status=503)
        error = self.set_auth_error()
        self.assertEqual(error.name, "SalesforceError")
        self.assert_phrases(error, "HTTP 503", "not a SOAP message")

    def test_oauth_error_status_page(self):
        self.salesforce.configure(status=503)
        error = self.set_auth_error(self.oauth_credentials())
        self.assertEqual(error.name, "SalesforceError")
        self.assert_phrases(error, "HTTP 503", "without an OAuth error code")

    def test_slow_reply_within_timeout(self):
        self.salesforce.configure(delay=1)
        self.assertEqual(self.set_auth()["state"], "configured")

    @unittest.skipUnless(only_loopback_network(), NETWORK_SKIP_REASON)
    def test_jira_name_not_resolved(self):
        # Salesforce login URLs cannot name a host under .invalid, so the resolver error is
        # checked through AddSite, which uses the same HTTP client code.
        sites_before = self.manager.list_sites()
        error = self.manager.error(
            "AddSite", "sa{sv}a{sv}", "https://jira.nohost.invalid",
            applinktest.asv({"token": self.new_secret("jiratok")}),
            applinktest.asv({"name": "unresolvable"}))
        self.assertEqual(error.name, "Unreachable")
        self.assert_phrases(error, "jira.nohost.invalid", "could not be resolved")
        self.assertEqual(self.manager.list_sites(), sites_before)


class TimeoutTest(SharedLinkCase):
    """A login that gets no reply within --timeout fails with Timeout."""

    daemon_arguments = ("--timeout", "2")

    def hang(self):
        self.salesforce.configure(hang=True)
        self.addCleanup(self.salesforce.configure, hang=False)

    def test_soap_hang(self):
        self.hang()
        error = self.set_auth_error()
        self.assertEqual(error.name, "Timeout")
        self.assert_phrases(error, f"127.0.0.1:{self.salesforce.port}", "did not respond in time",
                            "--timeout")
        self.assertEqual(len(self.login_requests()), 1, "the login request was sent again")
        self.assertEqual(self.salesforce_items(site=self.site, link=self.link), [])
        self.assertIsNone(self.jira_basic_provider(self.link))

    def test_oauth_hang(self):
        self.hang()
        error = self.set_auth_error(self.oauth_credentials())
        self.assertEqual(error.name, "Timeout")

    def test_delay_beyond_timeout(self):
        self.salesforce.configure(delay=4)
        error = self.set_auth_error()
        self.assertEqual(error.name, "Timeout")

    def test_timeout_keeps_credential(self):
        self.set_auth()
        before = self.credential_snapshot()
        self.hang()
        error = self.set_auth_error(self.credentials(password=self.new_secret("newpw")))
        self.assertEqual(error.name, "Timeout")
        self.assert_credential_unchanged(before)

    def test_timeout_recorded(self):
        self.set_auth()
        self.hang()
        error = self.auth_test_error()
        self.assertEqual(error.name, "Timeout")
        stored = self.manager.get_outgoing_auth(self.site, self.link)
        self.assertEqual(stored["last-error"], "Timeout")


OPENSSL_CA_CONFIG = """\
[ca]
default_ca = test_ca

[test_ca]
database = {directory}/index.txt
new_certs_dir = {directory}
serial = {directory}/serial
default_md = sha256
policy = any_name
copy_extensions = copy
unique_subject = no

[any_name]
commonName = supplied
"""


class TlsCertificates:
    """Self-signed server certificates for 127.0.0.1, made with openssl in a directory."""

    def __init__(self, directory):
        self.directory = directory
        directory.mkdir()
        (directory / "index.txt").write_text("")
        (directory / "serial").write_text("01\n")
        self.ca_config = directory / "ca.cnf"
        self.ca_config.write_text(OPENSSL_CA_CONFIG.format(directory=directory))

    def run_openssl(self, *arguments):
        subprocess.run(["openssl", *arguments], check=True, capture_output=True, timeout=60)

    def current(self, name, host_name=None):
        """Make a certificate valid now, for IP 127.0.0.1 or for host_name, and its key."""
        subject_name = f"DNS:{host_name}" if host_name else "IP:127.0.0.1"
        cert, key = self.directory / f"{name}.pem", self.directory / f"{name}.key"
        self.run_openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                         "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key),
                         "-out", str(cert), "-days", "30",
                         "-subj", f"/CN={host_name or '127.0.0.1'}",
                         "-addext", f"subjectAltName={subject_name}")
        return cert, key

    def dated(self, name, start, end):
        """Make a certificate for IP 127.0.0.1 valid only from start to end (YYYYMMDDhhmmssZ).

        openssl req cannot set a start date, so openssl ca signs the request with its own key.
        """
        cert, key = self.directory / f"{name}.pem", self.directory / f"{name}.key"
        request = self.directory / f"{name}.csr"
        self.run_openssl("req", "-new", "-newkey", "ec", "-pkeyopt",
                         "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key),
                         "-out", str(request), "-subj", "/CN=127.0.0.1",
                         "-addext", "subjectAltName=IP:127.0.0.1")
        self.run_openssl("ca", "-batch", "-config", str(self.ca_config), "-selfsign",
                         "-keyfile", str(key), "-in", str(request), "-out", str(cert),
                         "-startdate", start, "-enddate", end, "-notext")
        return cert, key


@unittest.skipUnless(shutil.which("openssl"), "openssl is needed to make test certificates")
class TlsTest(SharedLinkCase):
    """A Salesforce double behind TLS whose certificate the daemon must reject."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        certificates = TlsCertificates(cls.class_workdir / "certificates")
        cls.unknown_ca = certificates.current("unknown-ca")
        cls.other_host = certificates.current("other-host", "other.example.invalid")
        cls.expired = certificates.dated("expired", "20200101000000Z", "20210101000000Z")
        cls.not_yet_valid = certificates.dated("not-yet-valid", "20900101000000Z",
                                               "20910101000000Z")

    def start_tls_double(self, certificate):
        cert, key = certificate
        return self.start_double("salesforce-tls", applinktest.SALESFORCE_DOUBLE, [
            "--tls-cert", str(cert), "--tls-key", str(key),
            "--user", f"{SALESFORCE_USER}:{self.salesforce_password}:{self.salesforce_token}"])

    def tls_login_requests(self, double):
        """Return the login requests that the TLS double received.

        The double's control endpoints are behind the same certificate, which this
        request does not verify because it only reads the double's own log.
        """
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                             urllib.request.HTTPSHandler(context=context))
        url = f"https://127.0.0.1:{double.port}/_double/requests"
        with opener.open(url, timeout=10) as reply:
            return json.loads(reply.read().decode("utf-8"))

    def tls_error(self, certificate, credentials=None):
        double = self.start_tls_double(certificate)
        error = self.set_auth_error(credentials,
                                    {"login-url": f"https://127.0.0.1:{double.port}"})
        self.assertEqual(error.name, "TlsError")
        self.assert_phrases(error, f"127.0.0.1:{double.port}")
        self.assertEqual(self.tls_login_requests(double), [],
                         "a login request passed the TLS handshake")
        return error

    def test_unknown_ca(self):
        error = self.tls_error(self.unknown_ca)
        self.assert_phrases(error, "unknown certificate authority")
        self.assertNotIn("another host name", error.message)
        self.assertNotIn("expired", error.message)

    # Salesforce logins trust the system store alone: --ca-file is a Jira site option.
    def test_unknown_ca_advice(self):
        error = self.tls_error(self.unknown_ca)
        self.assertNotIn("--ca-file", error.message)

    def test_oauth_unknown_ca(self):
        error = self.tls_error(self.unknown_ca, self.oauth_credentials())
        self.assert_phrases(error, "unknown certificate authority")

    def test_other_host_name(self):
        error = self.tls_error(self.other_host)
        self.assert_phrases(error, "issued for another host name",
                            "unknown certificate authority")

    def test_expired(self):
        error = self.tls_error(self.expired)
        self.assert_phrases(error, "it has expired", "unknown certificate authority")
        self.assertNotIn("another host name", error.message)

    def test_not_yet_valid(self):
        error = self.tls_error(self.not_yet_valid)
        self.assert_phrases(error, "not valid yet")

    def test_tls_failure_stores_nothing(self):
        self.tls_error(self.expired)
        self.assertEqual(self.salesforce_items(site=self.site, link=self.link), [])
        self.assertIsNone(self.jira_basic_provider(self.link))

    def test_tls_failure_keeps_credential(self):
        self.set_auth()
        before = self.credential_snapshot()
        self.tls_error(self.unknown_ca)
        self.assert_credential_unchanged(before)


if __name__ == "__main__":
    applinktest.main()

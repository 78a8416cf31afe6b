"""Outgoing authentication: the Salesforce credentials of a link, in Salesforce, the keyring
and Jira's Basic Access provider."""

import json
import secrets
import urllib.request

from gi.repository import GLib

import applinktest
from applinktest import SALESFORCE_USER, asv

STATUS_KEYS = {"state", "salesforce-username", "login-url", "user-id", "organization-id",
               "instance-url", "sandbox", "verified-at"}


class OutgoingAuthCase(applinktest.ApplinkTestCase):
    """Starts the services with one site and one link to the Salesforce double."""

    def setUp(self):
        super().setUp()
        self.manager = self.start_services()
        self.site = self.add_site("jira")
        self.link = self.create_link(self.site)["id"]

    def set_auth(self, credentials=None, options=None):
        credentials = self.salesforce_credentials() if credentials is None else credentials
        return self.manager.set_outgoing_auth(self.site, self.link, credentials, options)

    def set_auth_error(self, credentials, options=None):
        return self.manager.error("SetOutgoingAuth", "ssa{sv}a{sv}", self.site, self.link,
                                  asv(credentials), asv(options))

    def set_salesforce_user(self, password, token, mode="ok"):
        """Replace the Salesforce double's users with SALESFORCE_USER and these values."""
        self.remember_secret(password)
        self.remember_secret(token)
        user = {"username": SALESFORCE_USER, "password": password, "token": token, "mode": mode}
        self.salesforce.control("POST", "users", [user])

    def stored_secret(self):
        return self.keyring_lookup(site=self.site, link=self.link)


class SetOutgoingAuthTest(OutgoingAuthCase):
    def test_configured(self):
        status = self.set_auth()
        self.assertEqual(status["state"], "configured")

    def test_status_keys(self):
        status = self.set_auth()
        self.assertLessEqual(STATUS_KEYS, set(status))

    def test_status_values(self):
        status = self.set_auth()
        self.assertEqual(status["salesforce-username"], SALESFORCE_USER)
        self.assertEqual(status["login-url"], self.salesforce.url)
        self.assertEqual(status["instance-url"], self.salesforce.url)
        self.assertIs(status["sandbox"], False)
        self.assertRegex(status["user-id"], r"^005[0-9A-Za-z]{15}$")
        self.assertRegex(status["organization-id"], r"^00D[0-9A-Za-z]{15}$")
        self.assertRegex(status["verified-at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")

    def test_soap_login_sent(self):
        self.set_auth()
        requests = self.salesforce.requests()
        self.assertEqual(len(requests), 1)
        self.assertEqual(requests[0]["path"], "/services/Soap/u/64.0")
        self.assertEqual(requests[0]["flow"], "soap")
        self.assertTrue(requests[0]["token_present"])
        self.assertRegex(requests[0]["content_type"] or "", r"^text/xml")

    def test_jira_provider_config(self):
        self.set_auth()
        config = self.jira_basic_provider(self.link)
        self.assertIsNotNone(config)
        self.assertEqual(config["username"], SALESFORCE_USER)
        self.assertSecretEqual(config["password"], self.salesforce_password + self.salesforce_token,
                               "Jira's provider password is not password+token")

    def test_keyring_item(self):
        self.set_auth()
        items = self.salesforce_items(site=self.site, link=self.link)
        self.assertEqual(len(items), 1)
        self.assertEqual(items[0]["schema"], applinktest.SALESFORCE_SCHEMA)
        self.assertEqual(items[0]["attributes"]["username"], SALESFORCE_USER)
        self.assertEqual(items[0]["attributes"]["login-url"], self.salesforce.url)
        self.assertTrue(self.salesforce_password in items[0]["secret"],
                        "the keyring item does not hold the Salesforce password")

    def test_link_shows_configured(self):
        self.set_auth()
        link = self.manager.get_link(self.site, self.link)
        self.assertEqual(link["outgoing-auth"], "configured")
        self.assertEqual(link["salesforce-username"], SALESFORCE_USER)
        self.assertEqual(link["login-url"], self.salesforce.url)
        self.assertIn("verified-at", link)

    def test_list_shows_configured(self):
        self.set_auth()
        link = self.manager.list_links(self.site)[0]
        self.assertEqual(link["outgoing-auth"], "configured")

    def test_link_by_name(self):
        status = self.manager.set_outgoing_auth(self.site, "Salesforce",
                                                self.salesforce_credentials())
        self.assertEqual(status["state"], "configured")
        self.assertIsNotNone(self.jira_basic_provider(self.link))

    def test_signal_emitted(self):
        self.signals.clear()
        self.set_auth()
        arguments = self.signals.wait_for("OutgoingAuthChanged")
        self.assertIsNotNone(arguments)
        self.assertEqual(arguments[:3], (self.site, self.link, "configured"))
        self.assertEqual(arguments[3]["state"], "configured")

    def test_new_password_replaces(self):
        self.set_auth()
        password = self.new_secret("sfpw")
        token = self.new_secret("sftok")
        self.set_salesforce_user(password, token)
        self.set_auth({"username": SALESFORCE_USER, "password": password,
                       "security-token": token})
        items = self.salesforce_items(site=self.site, link=self.link)
        self.assertEqual(len(items), 1)
        self.assertTrue(password in items[0]["secret"], "the keyring kept the old password")
        self.assertSecretEqual(self.jira_basic_provider(self.link)["password"], password + token,
                               "Jira kept the old password")

    def test_trusted_network_without_token(self):
        self.salesforce.configure(trusted_network=True)
        status = self.set_auth(self.salesforce_credentials(token=""))
        self.assertEqual(status["state"], "configured")
        self.assertSecretEqual(self.jira_basic_provider(self.link)["password"],
                               self.salesforce_password, "Jira's password is not the password alone")

    def test_non_ascii_credentials(self):
        password = "p\u00e4ss&<w\u00f6rd>\"'" + self.new_secret("")
        token = "t\u00f6k&" + self.new_secret("")
        self.set_salesforce_user(password, token)
        status = self.set_auth({"username": SALESFORCE_USER, "password": password,
                                "security-token": token})
        self.assertEqual(status["state"], "configured")
        self.assertSecretEqual(self.jira_basic_provider(self.link)["password"], password + token,
                               "the non-ASCII password reached Jira changed")

    def test_without_verify(self):
        status = self.set_auth(options={"verify": False})
        self.assertEqual(status["state"], "configured")
        self.assertEqual(self.salesforce.requests(), [])
        self.assertEqual(len(self.salesforce_items(site=self.site, link=self.link)), 1)
        self.assertIsNotNone(self.jira_basic_provider(self.link))

    def test_login_url_option(self):
        other = self.start_double(
            "salesforce-login", applinktest.SALESFORCE_DOUBLE,
            ["--user", f"{SALESFORCE_USER}:{self.salesforce_password}:{self.salesforce_token}"])
        status = self.set_auth(options={"login-url": other.url})
        self.assertEqual(status["login-url"], other.url)
        self.assertEqual(len(other.requests()), 1)
        self.assertEqual(self.salesforce.requests(), [])


class OAuthFlowTest(OutgoingAuthCase):
    def setUp(self):
        super().setUp()
        self.consumer_key = "3MVG9double" + secrets.token_hex(4)
        self.consumer_secret = self.new_secret("consumer")
        self.salesforce.control("POST", "clients", [
            {"client_id": self.consumer_key, "client_secret": self.consumer_secret}])

    def oauth_credentials(self, consumer_secret=None):
        credentials = self.salesforce_credentials()
        credentials["consumer-key"] = self.consumer_key
        credentials["consumer-secret"] = consumer_secret or self.consumer_secret
        return credentials

    def test_configured(self):
        status = self.set_auth(self.oauth_credentials())
        self.assertEqual(status["state"], "configured")
        self.assertEqual(status["flow"], "oauth")

    def test_token_endpoint_used(self):
        self.set_auth(self.oauth_credentials())
        requests = self.salesforce.requests()
        self.assertEqual([request["flow"] for request in requests], ["oauth"])
        self.assertEqual(requests[0]["path"], "/services/oauth2/token")

    def test_jira_password_has_token(self):
        self.set_auth(self.oauth_credentials())
        self.assertSecretEqual(self.jira_basic_provider(self.link)["password"],
                               self.salesforce_password + self.salesforce_token,
                               "Jira's provider password is not password+token")

    def test_wrong_consumer_secret(self):
        error = self.set_auth_error(self.oauth_credentials(self.new_secret("wrong")))
        self.assertEqual(error.name, "InvalidClient")
        self.assertEqual(self.salesforce_items(site=self.site, link=self.link), [])

    def test_consumer_secret_without_key(self):
        credentials = self.salesforce_credentials()
        credentials["consumer-secret"] = self.consumer_secret
        error = self.set_auth_error(credentials)
        self.assertEqual(error.name, "InvalidArgument")
        self.assertIn("consumer-key", error.message)


class SetOutgoingAuthFailureTest(OutgoingAuthCase):
    def assert_nothing_stored(self):
        self.assertEqual(self.salesforce_items(site=self.site, link=self.link), [])
        self.assertIsNone(self.jira_basic_provider(self.link))

    def test_token_required(self):
        error = self.set_auth_error(self.salesforce_credentials(token=""))
        self.assertEqual(error.name, "SecurityTokenRequired")
        self.assertIn("security token", error.message.lower())

    def test_token_required_stores_nothing(self):
        self.set_auth_error(self.salesforce_credentials(token=""))
        self.assert_nothing_stored()

    def test_token_absent_required(self):
        credentials = self.salesforce_credentials()
        del credentials["security-token"]
        error = self.set_auth_error(credentials)
        self.assertEqual(error.name, "SecurityTokenRequired")

    def test_token_required_state(self):
        self.set_auth_error(self.salesforce_credentials(token=""))
        status = self.manager.get_outgoing_auth(self.site, self.link)
        self.assertEqual(status["state"], "not-configured")
        self.assertIs(status["stored"], False)

    def test_token_required_no_jira_change(self):
        before = len(self.jira_mutating_requests())
        self.set_auth_error(self.salesforce_credentials(token=""))
        self.assertEqual(len(self.jira_mutating_requests()), before)

    def test_wrong_password(self):
        credentials = self.salesforce_credentials()
        credentials["password"] = self.new_secret("wrongpw")
        error = self.set_auth_error(credentials)
        self.assertEqual(error.name, "InvalidCredentials")
        self.assert_nothing_stored()

    def test_unknown_user(self):
        credentials = self.salesforce_credentials()
        credentials["username"] = "nobody@example.com"
        error = self.set_auth_error(credentials)
        self.assertEqual(error.name, "InvalidCredentials")

    def test_user_modes(self):
        cases = {
            "expired": "PasswordExpired",
            "api-disabled": "ApiDisabled",
            "request-limit": "SalesforceRateLimited",
            "invalid-operation": "LoginNotAvailable",
            "restricted-domain": "LoginRestricted",
            "insufficient-access": "SalesforceAccessDenied",
            "org-locked": "OrgUnavailable",
        }
        for mode, expected in cases.items():
            with self.subTest(mode=mode):
                self.set_salesforce_user(self.salesforce_password, self.salesforce_token, mode)
                error = self.set_auth_error(self.salesforce_credentials())
                self.assertEqual(error.name, expected)
                self.assert_nothing_stored()

    def test_soap_disabled(self):
        self.salesforce.configure(soap_disabled=True)
        error = self.set_auth_error(self.salesforce_credentials())
        self.assertEqual(error.name, "LoginNotAvailable")

    def test_unprefixed_faultcode(self):
        self.salesforce.configure(faultcode_prefix=False)
        error = self.set_auth_error(self.salesforce_credentials(token=""))
        self.assertEqual(error.name, "SecurityTokenRequired")

    def test_redirect_not_followed(self):
        target = "https://acme.my.salesforce.com/services/Soap/u/64.0"
        self.salesforce.configure(redirect=target)
        error = self.set_auth_error(self.salesforce_credentials())
        self.assertEqual(error.name, "LoginRedirected")
        self.assertIn("acme.my.salesforce.com", error.message)
        self.assertEqual(len(self.salesforce.requests()), 1)

    def test_login_timeout(self):
        self.salesforce.configure(hang=True)
        self.addCleanup(self.salesforce.configure, hang=False)
        error = self.set_auth_error(self.salesforce_credentials())
        self.assertEqual(error.name, "Timeout")
        self.assert_nothing_stored()

    def test_jira_echo_masked(self):
        # Jira rejects the provider and quotes the request, password and token included.
        echoed = self.salesforce_password + self.salesforce_token
        self.jira.configure(status={
            "path": f"/rest/applinks/2.0/applicationlink/{self.link}/authentication/provider",
            "method": "PUT", "status": 400,
            "body": {"errorMessages": [f"bad config password={echoed} token "
                                       f"{self.salesforce_token}"]}})
        error = self.set_auth_error(self.salesforce_credentials())
        self.assertEqual(error.name, "JiraError")
        self.assertIn("password=[redacted][redacted] token [redacted]", error.message)
        self.assertNotIn(self.salesforce_password, error.message)
        self.assertNotIn(self.salesforce_token, error.message)
        log = self.daemon.log_text()
        self.assertNotIn(self.salesforce_password, log)
        self.assertNotIn(self.salesforce_token, log)
        self.assert_nothing_stored()

    def test_jira_json_echo_masked(self):
        # A quote and a backslash change the secret in the JSON body sent to Jira; Jira
        # quotes that body back.
        password = self.new_secret('pw"quo\\te-')
        token = self.new_secret("tok-")
        self.set_salesforce_user(password, token)
        echoed = json.dumps(password + token)[1:-1]
        self.jira.configure(status={
            "path": f"/rest/applinks/2.0/applicationlink/{self.link}/authentication/provider",
            "method": "PUT", "status": 400,
            "body": {"errorMessages": [f'bad body {{"password":"{echoed}"}}']}})
        error = self.set_auth_error({"username": SALESFORCE_USER, "password": password,
                                     "security-token": token})
        self.assertEqual(error.name, "JiraError")
        self.assertIn('{"password":"[redacted][redacted]"}', error.message)
        self.assertNotIn("quo", error.message)
        self.assertNotIn("quo", self.daemon.log_text())
        self.assert_nothing_stored()

    def test_login_reply_over_limit(self):
        self.salesforce.configure(huge_reply=9 * 1024 * 1024)
        error = self.set_auth_error(self.salesforce_credentials())
        self.assertEqual(error.name, "SalesforceError")
        self.assertIn("larger than 8 MiB", error.message)
        self.assert_nothing_stored()

    def test_salesforce_down(self):
        self.salesforce.stop()
        error = self.set_auth_error(self.salesforce_credentials())
        self.assertEqual(error.name, "Unreachable")
        self.assert_nothing_stored()

    def test_unknown_credential_key(self):
        credentials = self.salesforce_credentials()
        credentials["pin"] = "1234"
        error = self.set_auth_error(credentials)
        self.assertEqual(error.name, "InvalidArgument")
        self.assertIn("pin", error.message)

    def test_password_wrong_type(self):
        credentials = self.salesforce_credentials()
        credentials["password"] = GLib.Variant("i", 5)
        error = self.set_auth_error(credentials)
        self.assertEqual(error.name, "InvalidArgument")
        self.assertIn("password", error.message)

    def test_missing_username(self):
        credentials = self.salesforce_credentials()
        del credentials["username"]
        error = self.set_auth_error(credentials)
        self.assertEqual(error.name, "InvalidArgument")
        self.assertIn("username", error.message)

    def test_unknown_option(self):
        error = self.set_auth_error(self.salesforce_credentials(), {"colour": "blue"})
        self.assertEqual(error.name, "InvalidArgument")
        self.assertIn("colour", error.message)

    def test_unknown_link(self):
        error = self.manager.error("SetOutgoingAuth", "ssa{sv}a{sv}", self.site, "No such link",
                                   asv(self.salesforce_credentials()), {})
        self.assertEqual(error.name, "NotFound")


class EarlierCredentialTest(OutgoingAuthCase):
    """A failed SetOutgoingAuth leaves the credential stored earlier as it was."""

    def setUp(self):
        super().setUp()
        self.set_auth()
        self.secret_before = self.stored_secret()
        self.provider_before = self.jira_basic_provider(self.link)

    def test_wrong_password_keeps_secret(self):
        credentials = self.salesforce_credentials()
        credentials["password"] = self.new_secret("wrongpw")
        error = self.set_auth_error(credentials)
        self.assertEqual(error.name, "InvalidCredentials")
        self.assertIsNotNone(self.secret_before)
        self.assertSecretEqual(self.stored_secret(), self.secret_before,
                               "the stored secret changed after a failed SetOutgoingAuth")

    def test_wrong_password_keeps_jira(self):
        credentials = self.salesforce_credentials()
        credentials["password"] = self.new_secret("wrongpw")
        self.set_auth_error(credentials)
        self.assertTrue(self.jira_basic_provider(self.link) == self.provider_before,
                        "Jira's provider config changed after a failed SetOutgoingAuth")

    def test_missing_token_keeps_secret(self):
        error = self.set_auth_error(self.salesforce_credentials(token=""))
        self.assertEqual(error.name, "SecurityTokenRequired")
        self.assertSecretEqual(self.stored_secret(), self.secret_before,
                               "the stored secret changed after SecurityTokenRequired")

    def test_missing_token_keeps_state(self):
        self.set_auth_error(self.salesforce_credentials(token=""))
        status = self.manager.get_outgoing_auth(self.site, self.link)
        self.assertEqual(status["state"], "configured")
        self.assertIs(status["stored"], True)

    def test_one_item_after_failure(self):
        self.set_auth_error(self.salesforce_credentials(token=""))
        self.assertEqual(len(self.salesforce_items(site=self.site, link=self.link)), 1)


class GetOutgoingAuthTest(OutgoingAuthCase):
    def test_not_configured(self):
        status = self.manager.get_outgoing_auth(self.site, self.link)
        self.assertEqual(status["state"], "not-configured")
        self.assertIs(status["stored"], False)

    def test_configured_fields(self):
        self.set_auth()
        status = self.manager.get_outgoing_auth(self.site, self.link)
        self.assertEqual(status["state"], "configured")
        self.assertIs(status["stored"], True)
        self.assertEqual(status["flow"], "soap")
        self.assertEqual(status["salesforce-username"], SALESFORCE_USER)
        self.assertEqual(status["login-url"], self.salesforce.url)
        self.assertIn("verified-at", status)
        self.assertNotIn("last-error", status)

    def test_fields_survive_restart(self):
        self.set_auth()
        self.daemon.stop()
        manager = self.start_daemon()
        status = manager.get_outgoing_auth(self.site, self.link)
        self.assertIs(status["stored"], True)
        self.assertEqual(status["salesforce-username"], SALESFORCE_USER)

    def test_configured_outside_applink(self):
        # An administrator sets the provider in Jira itself, so applink stores nothing.
        body = {"provider": applinktest.BASIC_PROVIDER,
                "config": {"username": "someone", "password": self.new_secret("other")}}
        request = urllib.request.Request(
            f"{self.jira.url}/rest/applinks/2.0/applicationlink/{self.link}"
            "/authentication/provider",
            data=json.dumps(body).encode("utf-8"), method="PUT",
            headers={"Content-Type": "application/json",
                     "Authorization": f"Bearer {self.jira_admin_token}"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=10) as reply:
            self.assertEqual(reply.status, 201)
        status = self.manager.get_outgoing_auth(self.site, self.link)
        self.assertEqual(status["state"], "configured")
        self.assertIs(status["stored"], False)

    def test_no_secret_returned(self):
        self.set_auth()
        status = self.manager.get_outgoing_auth(self.site, self.link)
        self.assertFalse(any(self.salesforce_password in str(value) for value in status.values()),
                         "GetOutgoingAuth returned the password")

    def test_unknown_link(self):
        error = self.manager.error("GetOutgoingAuth", "ss", self.site, "No such link")
        self.assertEqual(error.name, "NotFound")


class TestOutgoingAuthTest(OutgoingAuthCase):
    def test_success(self):
        self.set_auth()
        status = self.manager.test_outgoing_auth(self.site, self.link)
        self.assertEqual(status["state"], "configured")
        self.assertIn("verified-at", status)
        self.assertEqual(len(self.salesforce.requests()), 2)

    def test_success_leaves_jira(self):
        self.set_auth()
        before = len(self.jira_mutating_requests())
        self.manager.test_outgoing_auth(self.site, self.link)
        self.assertEqual(len(self.jira_mutating_requests()), before)

    def test_failure_reported(self):
        self.set_auth()
        self.set_salesforce_user(self.new_secret("changedpw"), self.salesforce_token)
        error = self.manager.error("TestOutgoingAuth", "ss", self.site, self.link)
        self.assertEqual(error.name, "InvalidCredentials")

    def test_failure_recorded(self):
        self.set_auth()
        self.set_salesforce_user(self.new_secret("changedpw"), self.salesforce_token)
        self.manager.error("TestOutgoingAuth", "ss", self.site, self.link)
        status = self.manager.get_outgoing_auth(self.site, self.link)
        self.assertEqual(status["last-error"], "InvalidCredentials")
        self.assertIn("last-error-message", status)

    def test_failure_leaves_jira(self):
        self.set_auth()
        before = len(self.jira_mutating_requests())
        self.set_salesforce_user(self.new_secret("changedpw"), self.salesforce_token)
        self.manager.error("TestOutgoingAuth", "ss", self.site, self.link)
        self.assertEqual(len(self.jira_mutating_requests()), before)
        self.assertIsNotNone(self.jira_basic_provider(self.link))

    def test_failure_keeps_credential(self):
        self.set_auth()
        before = self.stored_secret()
        self.set_salesforce_user(self.new_secret("changedpw"), self.salesforce_token)
        self.manager.error("TestOutgoingAuth", "ss", self.site, self.link)
        self.assertSecretEqual(self.stored_secret(), before,
                               "a failed test changed the stored credential")

    def test_success_clears_error(self):
        self.set_auth()
        self.set_salesforce_user(self.new_secret("changedpw"), self.salesforce_token)
        self.manager.error("TestOutgoingAuth", "ss", self.site, self.link)
        self.set_salesforce_user(self.salesforce_password, self.salesforce_token)
        self.manager.test_outgoing_auth(self.site, self.link)
        status = self.manager.get_outgoing_auth(self.site, self.link)
        self.assertNotIn("last-error", status)

    def test_failure_signal(self):
        self.set_auth()
        self.set_salesforce_user(self.new_secret("changedpw"), self.salesforce_token)
        self.signals.clear()
        self.manager.error("TestOutgoingAuth", "ss", self.site, self.link)
        arguments = self.signals.wait_for("OutgoingAuthChanged",
                                          lambda arguments: "last-error" in arguments[3])
        self.assertIsNotNone(arguments, "no OutgoingAuthChanged with last-error")
        self.assertEqual(arguments[3]["last-error"], "InvalidCredentials")

    def test_nothing_stored(self):
        error = self.manager.error("TestOutgoingAuth", "ss", self.site, self.link)
        self.assertEqual(error.name, "NotFound")


class ClearOutgoingAuthTest(OutgoingAuthCase):
    def setUp(self):
        super().setUp()
        self.set_auth()

    def test_jira_provider_removed(self):
        self.manager.clear_outgoing_auth(self.site, self.link)
        self.assertIsNone(self.jira_basic_provider(self.link))

    def test_keyring_item_removed(self):
        self.manager.clear_outgoing_auth(self.site, self.link)
        self.assertEqual(self.salesforce_items(site=self.site, link=self.link), [])

    def test_state_not_configured(self):
        self.manager.clear_outgoing_auth(self.site, self.link)
        status = self.manager.get_outgoing_auth(self.site, self.link)
        self.assertEqual(status["state"], "not-configured")
        self.assertIs(status["stored"], False)

    def test_link_not_configured(self):
        self.manager.clear_outgoing_auth(self.site, self.link)
        link = self.manager.get_link(self.site, self.link)
        self.assertEqual(link["outgoing-auth"], "not-configured")
        self.assertNotIn("salesforce-username", link)

    def test_signal_emitted(self):
        self.signals.clear()
        self.manager.clear_outgoing_auth(self.site, self.link)
        arguments = self.signals.wait_for("OutgoingAuthChanged")
        self.assertIsNotNone(arguments)
        self.assertEqual(arguments[:3], (self.site, self.link, "not-configured"))

    def test_unknown_link(self):
        error = self.manager.error("ClearOutgoingAuth", "ss", self.site, "No such link")
        self.assertEqual(error.name, "NotFound")


if __name__ == "__main__":
    applinktest.main()

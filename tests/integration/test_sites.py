"""Sites: AddSite, ListSites and RemoveSite against the Jira double, and their storage."""

import stat

from gi.repository import GLib

import applinktest
from applinktest import JIRA_ADMIN, JIRA_USER, asv

SITE_KEYS = {"id", "url", "auth", "username", "jira-version", "ca-file", "link-type"}


class AddSiteTest(applinktest.ApplinkTestCase):
    def setUp(self):
        super().setUp()
        self.manager = self.start_services()

    def test_token_site_id(self):
        site = self.add_site("jira")
        self.assertEqual(site, "jira")

    def test_token_stored_in_keyring(self):
        self.add_site("jira")
        items = self.jira_items(site="jira")
        self.assertEqual(len(items), 1)
        self.assertEqual(items[0]["schema"], applinktest.JIRA_SCHEMA)
        self.assertEqual(items[0]["attributes"]["url"], self.jira.url)
        self.assertEqual(items[0]["attributes"]["username"], JIRA_ADMIN)
        self.assertSecretEqual(items[0]["secret"], self.jira_admin_token,
                               "the keyring item does not hold the Jira token")

    def test_token_sent_as_bearer(self):
        self.add_site("jira")
        kinds = {request["auth_kind"] for request in self.jira.requests()}
        self.assertEqual(kinds, {"bearer"})

    def test_password_stored_in_keyring(self):
        credentials = {"username": JIRA_ADMIN, "password": self.jira_admin_password}
        self.manager.add_site(self.jira.url, credentials, {"name": "jira"})
        items = self.jira_items(site="jira", username=JIRA_ADMIN)
        self.assertEqual(len(items), 1)
        self.assertSecretEqual(items[0]["secret"], self.jira_admin_password,
                               "the keyring item does not hold the Jira password")

    def test_password_sent_as_basic(self):
        credentials = {"username": JIRA_ADMIN, "password": self.jira_admin_password}
        self.manager.add_site(self.jira.url, credentials, {"name": "jira"})
        kinds = {request["auth_kind"] for request in self.jira.requests()}
        self.assertEqual(kinds, {"basic"})

    def test_requests_carry_headers(self):
        self.add_site("jira")
        request = self.jira.requests()[0]
        self.assertRegex(request["user_agent"] or "", r"^applink/")
        self.assertTrue(request["has_xsrf_header"])

    def test_bad_token_rejected(self):
        error = self.manager.error("AddSite", "sa{sv}a{sv}", self.jira.url,
                                   asv(token=self.new_secret("badtok")), asv(name="jira"))
        self.assertEqual(error.name, "JiraAuthFailed")

    def test_bad_token_stores_nothing(self):
        self.manager.error("AddSite", "sa{sv}a{sv}", self.jira.url,
                           asv(token=self.new_secret("badtok")), asv(name="jira"))
        self.assertEqual(self.jira_items(site="jira"), [])
        self.assertEqual(self.manager.list_sites(), [])

    def test_bad_password_rejected(self):
        credentials = asv(username=JIRA_ADMIN, password=self.new_secret("badpw"))
        error = self.manager.error("AddSite", "sa{sv}a{sv}", self.jira.url, credentials,
                                   asv(name="jira"))
        self.assertEqual(error.name, "JiraAuthFailed")
        self.assertEqual(self.jira_items(site="jira"), [])

    def test_non_admin_rejected(self):
        error = self.manager.error("AddSite", "sa{sv}a{sv}", self.jira.url,
                                   asv(token=self.jira_user_token), asv(name="jira"))
        self.assertEqual(error.name, "JiraPermissionDenied")
        self.assertEqual(self.jira_items(site="jira"), [])
        self.assertEqual(self.manager.list_sites(), [])

    def test_non_admin_password_rejected(self):
        credentials = asv(username=JIRA_USER, password=self.jira_user_password)
        error = self.manager.error("AddSite", "sa{sv}a{sv}", self.jira.url, credentials,
                                   asv(name="jira"))
        self.assertEqual(error.name, "JiraPermissionDenied")

    def test_captcha_reported(self):
        self.jira.configure(captcha=[JIRA_ADMIN])
        credentials = asv(username=JIRA_ADMIN, password=self.jira_admin_password)
        error = self.manager.error("AddSite", "sa{sv}a{sv}", self.jira.url, credentials,
                                   asv(name="jira"))
        self.assertEqual(error.name, "JiraCaptchaRequired")

    def test_default_id_from_host(self):
        url = f"http://localhost:{self.jira.port}"
        site = self.manager.add_site(url, {"token": self.jira_admin_token})
        # The id starts with the host and may add the port.
        self.assertRegex(site, r"^localhost\b")
        self.assertEqual([entry["id"] for entry in self.manager.list_sites()], [site])

    def test_trailing_slash_dropped(self):
        self.manager.add_site(self.jira.url + "/", {"token": self.jira_admin_token},
                              {"name": "jira"})
        self.assertEqual(self.manager.list_sites()[0]["url"], self.jira.url)

    def test_readd_updates_site(self):
        self.add_site("jira")
        credentials = {"username": JIRA_ADMIN, "password": self.jira_admin_password}
        site = self.manager.add_site(self.jira.url, credentials, {"name": "jira"})
        sites = self.manager.list_sites()
        self.assertEqual(site, "jira")
        self.assertEqual(len(sites), 1)
        self.assertEqual(sites[0]["auth"], "basic")

    def test_readd_replaces_credential(self):
        self.add_site("jira")
        credentials = {"username": JIRA_ADMIN, "password": self.jira_admin_password}
        self.manager.add_site(self.jira.url, credentials, {"name": "jira"})
        items = self.jira_items(site="jira")
        self.assertEqual(len(items), 1)
        self.assertSecretEqual(items[0]["secret"], self.jira_admin_password,
                               "re-adding the site did not replace the credential")

    def test_failed_readd_keeps_credential(self):
        self.add_site("jira")
        error = self.manager.error("AddSite", "sa{sv}a{sv}", self.jira.url,
                                   asv(token=self.new_secret("badtok")), asv(name="jira"))
        items = self.jira_items(site="jira")
        self.assertEqual(error.name, "JiraAuthFailed")
        self.assertEqual(len(items), 1)
        self.assertSecretEqual(items[0]["secret"], self.jira_admin_token,
                               "a failed re-add changed the stored credential")

    def test_sites_changed_emitted(self):
        self.signals.clear()
        self.add_site("jira")
        self.assertIsNotNone(self.signals.wait_for("SitesChanged"))

    def test_context_path_kept(self):
        self.jira.stop()
        self.start_jira("--context-path", "/jira", "--token", f"{self.jira_admin_token}:admin")
        url = self.jira.url + "/jira"
        self.manager.add_site(url, {"token": self.jira_admin_token}, {"name": "jira"})
        self.assertEqual(self.manager.list_sites()[0]["url"], url)


class AddSiteArgumentTest(applinktest.ApplinkTestCase):
    def setUp(self):
        super().setUp()
        self.manager = self.start_services()

    def add_site_error(self, url, credentials, options=None):
        return self.manager.error("AddSite", "sa{sv}a{sv}", url, credentials, options or {})

    def test_unknown_credential_key(self):
        credentials = asv(token=self.jira_admin_token, pin="1234")
        error = self.add_site_error(self.jira.url, credentials)
        self.assertEqual(error.name, "InvalidArgument")
        self.assertIn("pin", error.message)

    def test_unknown_option_key(self):
        error = self.add_site_error(self.jira.url, asv(token=self.jira_admin_token),
                                    asv(colour="blue"))
        self.assertEqual(error.name, "InvalidArgument")
        self.assertIn("colour", error.message)

    def test_token_wrong_type(self):
        error = self.add_site_error(self.jira.url, {"token": GLib.Variant("i", 42)})
        self.assertEqual(error.name, "InvalidArgument")
        self.assertIn("token", error.message)

    def test_name_wrong_type(self):
        error = self.add_site_error(self.jira.url, asv(token=self.jira_admin_token),
                                    {"name": GLib.Variant("b", True)})
        self.assertEqual(error.name, "InvalidArgument")
        self.assertIn("name", error.message)

    def test_missing_credentials(self):
        error = self.add_site_error(self.jira.url, {})
        self.assertEqual(error.name, "InvalidArgument")

    def test_password_without_username(self):
        error = self.add_site_error(self.jira.url, asv(password=self.jira_admin_password))
        self.assertEqual(error.name, "InvalidArgument")
        self.assertIn("username", error.message)

    def test_ftp_url_rejected(self):
        error = self.add_site_error("ftp://jira.example.com", asv(token=self.jira_admin_token))
        self.assertEqual(error.name, "InvalidUrl")
        self.assertIn("ftp://jira.example.com", error.message)

    def test_http_remote_url_rejected(self):
        error = self.add_site_error("http://jira.example.com", asv(token=self.jira_admin_token))
        self.assertEqual(error.name, "InvalidUrl")
        self.assertIn("http://jira.example.com", error.message)

    def test_invalid_url_stores_nothing(self):
        self.add_site_error("ftp://jira.example.com", asv(token=self.jira_admin_token),
                            asv(name="jira"))
        self.assertEqual(self.jira_items(site="jira"), [])
        self.assertEqual(self.jira.requests(), [])

    def test_missing_ca_file_rejected(self):
        error = self.add_site_error(self.jira.url, asv(token=self.jira_admin_token),
                                    asv(name="jira", **{"ca-file": "/nonexistent/ca.pem"}))
        self.assertIn(error.name, ("InvalidArgument", "TlsError"))
        self.assertIn("/nonexistent/ca.pem", error.message)


class JiraFailureTest(applinktest.ApplinkTestCase):
    """AddSite when Jira fails: each failure has its own error, and nothing is stored."""

    def setUp(self):
        super().setUp()
        self.manager = self.start_services()

    def add_site_error(self):
        error = self.manager.error("AddSite", "sa{sv}a{sv}", self.jira.url,
                                   asv(token=self.jira_admin_token), asv(name="jira"))
        self.assertEqual(self.jira_items(site="jira"), [])
        return error

    def test_websudo_required(self):
        self.jira.configure(websudo=True)
        self.assertEqual(self.add_site_error().name, "JiraWebSudoRequired")

    def test_rate_limited(self):
        self.jira.configure(status={"status": 429, "headers": {"Retry-After": "0"}})
        self.assertEqual(self.add_site_error().name, "JiraRateLimited")

    def test_rate_limit_retried(self):
        self.jira.configure(status={"status": 429, "headers": {"Retry-After": "0"},
                                    "path": "/rest/api/2/myself", "count": 1})
        self.assertEqual(self.add_site(), "jira")
        paths = [request["path"] for request in self.jira.requests()]
        self.assertEqual(paths.count("/rest/api/2/myself"), 2)

    def test_server_error(self):
        self.jira.configure(status={"status": 500})
        error = self.add_site_error()
        self.assertEqual(error.name, "JiraError")
        self.assertIn("500", error.message)

    def test_html_instead_of_json(self):
        self.jira.configure(html=True)
        self.assertIn(self.add_site_error().name, ("JiraError", "JiraAuthFailed"))

    def test_jira_down(self):
        self.jira.stop()
        self.assertEqual(self.add_site_error().name, "Unreachable")

    def test_jira_timeout(self):
        self.jira.configure(hang=True)
        self.assertEqual(self.add_site_error().name, "Timeout")


class ListSitesTest(applinktest.ApplinkTestCase):
    def setUp(self):
        super().setUp()
        self.manager = self.start_services()

    def test_empty_list(self):
        self.assertEqual(self.manager.list_sites(), [])

    def test_keys(self):
        self.add_site("jira")
        sites = self.manager.list_sites()
        self.assertEqual(len(sites), 1)
        self.assertEqual(set(sites[0]), SITE_KEYS)

    def test_token_site_values(self):
        self.add_site("jira")
        site = self.manager.list_sites()[0]
        self.assertEqual(site["id"], "jira")
        self.assertEqual(site["url"], self.jira.url)
        self.assertEqual(site["auth"], "token")
        self.assertEqual(site["username"], JIRA_ADMIN)
        self.assertEqual(site["jira-version"], self.jira.state()["version"])
        self.assertEqual(site["ca-file"], "")
        self.assertEqual(site["link-type"], "salesforce")

    def test_basic_site_values(self):
        credentials = {"username": JIRA_ADMIN, "password": self.jira_admin_password}
        self.manager.add_site(self.jira.url, credentials, {"name": "jira"})
        site = self.manager.list_sites()[0]
        self.assertEqual(site["auth"], "basic")
        self.assertEqual(site["username"], JIRA_ADMIN)

    def test_link_type_option(self):
        self.manager.add_site(self.jira.url, {"token": self.jira_admin_token},
                              {"name": "jira", "link-type": "generic"})
        self.assertEqual(self.manager.list_sites()[0]["link-type"], "generic")

    def test_sorted_by_id(self):
        self.add_site("zeta")
        self.add_site("alpha")
        ids = [site["id"] for site in self.manager.list_sites()]
        self.assertEqual(ids, ["alpha", "zeta"])

    def test_sites_survive_restart(self):
        self.add_site("jira")
        self.daemon.stop()
        manager = self.start_daemon()
        ids = [site["id"] for site in manager.list_sites()]
        self.assertEqual(ids, ["jira"])


class RemoveSiteTest(applinktest.ApplinkTestCase):
    def setUp(self):
        super().setUp()
        self.manager = self.start_services()

    def test_removed_from_list(self):
        self.add_site("jira")
        self.manager.remove_site("jira")
        self.assertEqual(self.manager.list_sites(), [])

    def test_jira_item_deleted(self):
        self.add_site("jira")
        self.manager.remove_site("jira")
        self.assertEqual(self.jira_items(site="jira"), [])

    def test_salesforce_items_deleted(self):
        site = self.add_site("jira")
        link = self.create_link(site)
        self.manager.set_outgoing_auth(site, link["id"], self.salesforce_credentials())
        self.manager.remove_site(site)
        self.assertEqual(self.salesforce_items(site=site), [])

    def test_jira_links_left_alone(self):
        site = self.add_site("jira")
        link = self.create_link(site)
        self.manager.remove_site(site)
        ids = [jira_link["id"] for jira_link in self.jira_links()]
        self.assertEqual(ids, [link["id"]])

    def test_other_site_kept(self):
        self.add_site("one")
        self.add_site("two")
        self.manager.remove_site("one")
        self.assertEqual(len(self.jira_items(site="two")), 1)

    def test_unknown_site_not_found(self):
        error = self.manager.error("RemoveSite", "s", "nosuchsite")
        self.assertEqual(error.name, "NotFound")
        self.assertIn("nosuchsite", error.message)

    def test_sites_changed_emitted(self):
        self.add_site("jira")
        self.signals.clear()
        self.manager.remove_site("jira")
        self.assertIsNotNone(self.signals.wait_for("SitesChanged"))


class SettingsTest(applinktest.ApplinkTestCase):
    def setUp(self):
        super().setUp()
        self.manager = self.start_services()

    def test_folder_mode(self):
        self.add_site("jira")
        mode = stat.S_IMODE(self.config_dir.stat().st_mode)
        self.assertEqual(oct(mode), oct(0o700))

    def test_file_modes(self):
        self.add_site("jira")
        files = [path for path in self.config_dir.rglob("*") if path.is_file()]
        self.assertNotEqual(files, [])
        for path in files:
            with self.subTest(path=path.name):
                self.assertEqual(oct(stat.S_IMODE(path.stat().st_mode)), oct(0o600))

    def test_no_secret_in_settings(self):
        credentials = {"username": JIRA_ADMIN, "password": self.jira_admin_password}
        self.manager.add_site(self.jira.url, credentials, {"name": "jira"})
        text = "".join(path.read_text(errors="replace")
                       for path in self.config_dir.rglob("*") if path.is_file())
        self.assertFalse(self.jira_admin_password in text, "the password is in a settings file")


class EmptySiteIdTest(applinktest.ApplinkTestCase):
    """An empty site id stands for the only registered site."""

    def setUp(self):
        super().setUp()
        self.manager = self.start_services()

    def test_only_site_used(self):
        self.add_site("jira")
        self.create_link("jira")
        links = self.manager.list_links("")
        self.assertEqual([link["name"] for link in links], ["Salesforce"])

    def test_no_site_not_found(self):
        error = self.manager.error("ListLinks", "s", "")
        self.assertEqual(error.name, "NotFound")
        self.assertIn("site add", error.message)

    def test_several_sites_named(self):
        self.add_site("one")
        self.add_site("two")
        error = self.manager.error("ListLinks", "s", "")
        self.assertEqual(error.name, "InvalidArgument")
        self.assertIn("one, two", error.message)

    def test_remove_needs_id(self):
        self.add_site("jira")
        error = self.manager.error("RemoveSite", "s", "")
        self.assertEqual(error.name, "InvalidArgument")
        self.assertEqual(len(self.manager.list_sites()), 1)


if __name__ == "__main__":
    applinktest.main()

"""Links: CreateLink, ListLinks, GetLink, UpdateLink and DeleteLink against the Jira double."""

from gi.repository import GLib

import applinktest
from applinktest import asv

LINK_KEYS = {"id", "name", "type", "url", "rpc-url", "primary", "system", "outgoing-auth"}


class CreateLinkTest(applinktest.ApplinkTestCase):
    def setUp(self):
        super().setUp()
        self.manager = self.start_services()
        self.site = self.add_site("jira")

    def test_returns_link(self):
        link = self.create_link(self.site)
        self.assertEqual(link["name"], "Salesforce")
        self.assertEqual(link["url"], self.salesforce.url)
        self.assertEqual(link["type"], "salesforce")
        self.assertEqual(link["outgoing-auth"], "not-configured")

    def test_returned_keys(self):
        link = self.create_link(self.site)
        self.assertLessEqual(LINK_KEYS, set(link))

    def test_link_created_in_jira(self):
        link = self.create_link(self.site)
        jira_links = self.jira_links()
        self.assertEqual(len(jira_links), 1)
        self.assertEqual(jira_links[0]["id"], link["id"])
        self.assertEqual(jira_links[0]["rpcUrl"], self.salesforce.url)
        self.assertEqual(jira_links[0]["typeId"], "salesforce")

    def test_url_normalised(self):
        link = self.manager.create_link(self.site, f" <{self.salesforce.url}/home> ",
                                        "Salesforce")
        self.assertEqual(link["url"], self.salesforce.url)

    def test_first_link_primary(self):
        link = self.create_link(self.site)
        self.assertIs(link["primary"], True)

    def test_url_checked_with_jira(self):
        self.create_link(self.site)
        paths = [request["path"] for request in self.jira.requests()]
        self.assertIn("/rest/applinks/1.0/applicationlinkForm/manifest", paths)

    def test_no_check_skips_jira_check(self):
        self.create_link(self.site, options={"check": False})
        paths = [request["path"] for request in self.jira.requests()]
        self.assertNotIn("/rest/applinks/1.0/applicationlinkForm/manifest", paths)

    def test_duplicate_already_exists(self):
        link = self.create_link(self.site)
        error = self.manager.error("CreateLink", "sssa{sv}", self.site, self.salesforce.url,
                                   "Salesforce again", {})
        self.assertEqual(error.name, "AlreadyExists")
        self.assertIn(link["id"], error.message)

    def test_duplicate_without_check(self):
        link = self.create_link(self.site)
        error = self.manager.error("CreateLink", "sssa{sv}", self.site, self.salesforce.url,
                                   "Salesforce again", asv(check=False))
        self.assertEqual(error.name, "AlreadyExists")
        self.assertIn(link["id"], error.message)

    def test_duplicate_creates_nothing(self):
        self.create_link(self.site)
        self.manager.error("CreateLink", "sssa{sv}", self.site, self.salesforce.url,
                           "Salesforce again", {})
        self.assertEqual(len(self.jira_links()), 1)

    def test_if_exists_return(self):
        link = self.create_link(self.site)
        again = self.create_link(self.site, "Salesforce again", {"if-exists": "return"})
        self.assertEqual(again["id"], link["id"])
        self.assertEqual(again["name"], "Salesforce")
        self.assertEqual(len(self.jira_links()), 1)

    def test_if_exists_invalid_value(self):
        error = self.manager.error("CreateLink", "sssa{sv}", self.site, self.salesforce.url,
                                   "Salesforce", asv({"if-exists": "overwrite"}))
        self.assertEqual(error.name, "InvalidArgument")
        self.assertIn("if-exists", error.message)

    def test_duplicate_name_renamed(self):
        self.create_link(self.site)
        other_url = f"http://localhost:{self.salesforce.port}"
        link = self.manager.create_link(self.site, other_url, "Salesforce")
        self.assertEqual(link["name"], "Salesforce - 2")
        self.assertEqual(link["requested-name"], "Salesforce")

    def test_type_not_installed(self):
        self.jira.configure(salesforce_type=False)
        error = self.manager.error("CreateLink", "sssa{sv}", self.site, self.salesforce.url,
                                   "Salesforce", {})
        self.assertEqual(error.name, "TypeNotInstalled")
        self.assertIn("salesforce", error.message)
        self.assertEqual(self.jira.state()["links"], [])

    def test_type_option(self):
        link = self.create_link(self.site, options={"type": "generic"})
        self.assertEqual(link["type"], "generic")

    def test_unknown_type_option(self):
        error = self.manager.error("CreateLink", "sssa{sv}", self.site, self.salesforce.url,
                                   "Salesforce", asv(type="nosuchtype"))
        self.assertEqual(error.name, "TypeNotInstalled")
        self.assertIn("nosuchtype", error.message)

    def test_blocked_host(self):
        self.jira.configure(block_loopback=True)
        error = self.manager.error("CreateLink", "sssa{sv}", self.site, self.salesforce.url,
                                   "Salesforce", {})
        self.assertEqual(error.name, "JiraHostBlocked")

    def test_redirected_url(self):
        target = "https://acme.my.salesforce.com"
        self.jira.configure(redirect={"127.0.0.1": target})
        error = self.manager.error("CreateLink", "sssa{sv}", self.site, self.salesforce.url,
                                   "Salesforce", {})
        self.assertEqual(error.name, "UrlRedirected")
        self.assertIn(target, error.message)
        self.assertEqual(self.jira_links(), [])

    def test_invalid_url(self):
        error = self.manager.error("CreateLink", "sssa{sv}", self.site,
                                   "https://x.my.site.com", "Salesforce", {})
        self.assertEqual(error.name, "InvalidUrl")
        self.assertEqual(self.jira.state()["links"], [])

    def test_unknown_option(self):
        error = self.manager.error("CreateLink", "sssa{sv}", self.site, self.salesforce.url,
                                   "Salesforce", asv(colour="blue"))
        self.assertEqual(error.name, "InvalidArgument")
        self.assertIn("colour", error.message)

    def test_primary_wrong_type(self):
        error = self.manager.error("CreateLink", "sssa{sv}", self.site, self.salesforce.url,
                                   "Salesforce", {"primary": GLib.Variant("s", "yes")})
        self.assertEqual(error.name, "InvalidArgument")
        self.assertIn("primary", error.message)

    def test_unknown_site(self):
        error = self.manager.error("CreateLink", "sssa{sv}", "nosuchsite", self.salesforce.url,
                                   "Salesforce", {})
        self.assertEqual(error.name, "NotFound")
        self.assertIn("nosuchsite", error.message)

    def test_links_changed_emitted(self):
        self.signals.clear()
        self.create_link(self.site)
        arguments = self.signals.wait_for("LinksChanged")
        self.assertEqual(arguments, (self.site,))


class ProbeWithSiteTest(applinktest.ApplinkTestCase):
    def setUp(self):
        super().setUp()
        self.manager = self.start_services()
        self.site = self.add_site("jira")

    def test_new_url_ok(self):
        result = self.manager.probe_url(self.salesforce.url, {"site": self.site})
        self.assertEqual(result["jira-status"], "ok")

    def test_linked_url_reported(self):
        link = self.create_link(self.site)
        result = self.manager.probe_url(self.salesforce.url, {"site": self.site})
        self.assertEqual(result["jira-status"], "already-linked")
        self.assertEqual(result["existing-link"], link["id"])

    def test_redirect_reported(self):
        target = "https://acme.my.salesforce.com"
        self.jira.configure(redirect={"127.0.0.1": target})
        result = self.manager.probe_url(self.salesforce.url, {"site": self.site})
        self.assertEqual(result["jira-status"], "redirected")
        self.assertEqual(result["redirected-to"], target)

    def test_unknown_host_reported(self):
        self.jira.configure(unknown_hosts=["127.0.0.1"])
        result = self.manager.probe_url(self.salesforce.url, {"site": self.site})
        self.assertEqual(result["jira-status"], "unknown-host")

    def test_probe_creates_nothing(self):
        self.manager.probe_url(self.salesforce.url, {"site": self.site})
        self.assertEqual(self.jira_mutating_requests(), [])


class ReadLinksTest(applinktest.ApplinkTestCase):
    def setUp(self):
        super().setUp()
        self.manager = self.start_services()
        self.site = self.add_site("jira")
        self.link = self.create_link(self.site)

    def test_list_links(self):
        links = self.manager.list_links(self.site)
        self.assertEqual([link["id"] for link in links], [self.link["id"]])

    def test_list_keys(self):
        links = self.manager.list_links(self.site)
        self.assertLessEqual(LINK_KEYS, set(links[0]))

    def test_list_values(self):
        link = self.manager.list_links(self.site)[0]
        self.assertEqual(link["name"], "Salesforce")
        self.assertEqual(link["url"], self.salesforce.url)
        self.assertEqual(link["rpc-url"], self.salesforce.url)
        self.assertIs(link["primary"], True)
        self.assertIs(link["system"], False)
        self.assertEqual(link["outgoing-auth"], "not-configured")

    def test_list_excludes_other_types(self):
        other_url = f"http://localhost:{self.salesforce.port}"
        self.manager.create_link(self.site, other_url, "Generic", {"type": "generic"})
        names = [link["name"] for link in self.manager.list_links(self.site)]
        self.assertEqual(names, ["Salesforce"])

    def test_get_by_id(self):
        link = self.manager.get_link(self.site, self.link["id"])
        self.assertEqual(link["name"], "Salesforce")

    def test_get_by_name(self):
        link = self.manager.get_link(self.site, "Salesforce")
        self.assertEqual(link["id"], self.link["id"])

    def test_get_unknown_link(self):
        error = self.manager.error("GetLink", "ss", self.site, "No such link")
        self.assertEqual(error.name, "NotFound")
        self.assertIn("No such link", error.message)

    def test_get_unknown_uuid(self):
        missing = "00000000-0000-3000-8000-000000000000"
        error = self.manager.error("GetLink", "ss", self.site, missing)
        self.assertEqual(error.name, "NotFound")

    def test_list_unknown_site(self):
        error = self.manager.error("ListLinks", "s", "nosuchsite")
        self.assertEqual(error.name, "NotFound")

    def test_list_type_not_installed(self):
        self.jira.configure(salesforce_type=False)
        error = self.manager.error("ListLinks", "s", self.site)
        self.assertEqual(error.name, "TypeNotInstalled")


class UpdateLinkTest(applinktest.ApplinkTestCase):
    def setUp(self):
        super().setUp()
        self.manager = self.start_services()
        self.site = self.add_site("jira")
        self.link = self.create_link(self.site)

    def test_rename(self):
        self.manager.update_link(self.site, self.link["id"], {"name": "Salesforce EU"})
        link = self.manager.get_link(self.site, self.link["id"])
        self.assertEqual(link["name"], "Salesforce EU")

    def test_rename_in_jira(self):
        self.manager.update_link(self.site, "Salesforce", {"name": "Salesforce EU"})
        self.assertEqual(self.jira_links()[0]["name"], "Salesforce EU")

    def test_make_primary(self):
        other_url = f"http://localhost:{self.salesforce.port}"
        other = self.manager.create_link(self.site, other_url, "Second")
        self.manager.update_link(self.site, other["id"], {"primary": True})
        self.assertIs(self.manager.get_link(self.site, other["id"])["primary"], True)
        self.assertIs(self.manager.get_link(self.site, self.link["id"])["primary"], False)

    def test_url_change_rejected(self):
        error = self.manager.error("UpdateLink", "ssa{sv}", self.site, self.link["id"],
                                   asv(url="https://acme.my.salesforce.com"))
        self.assertEqual(error.name, "InvalidArgument")
        self.assertIn("delete", error.message.lower())
        self.assertEqual(self.jira_links()[0]["rpcUrl"], self.salesforce.url)

    def test_taken_name_rejected(self):
        other_url = f"http://localhost:{self.salesforce.port}"
        self.manager.create_link(self.site, other_url, "Second")
        error = self.manager.error("UpdateLink", "ssa{sv}", self.site, self.link["id"],
                                   asv(name="Second"))
        self.assertEqual(error.name, "AlreadyExists")

    def test_unknown_key_rejected(self):
        error = self.manager.error("UpdateLink", "ssa{sv}", self.site, self.link["id"],
                                   asv(colour="blue"))
        self.assertEqual(error.name, "InvalidArgument")
        self.assertIn("colour", error.message)

    def test_name_wrong_type(self):
        error = self.manager.error("UpdateLink", "ssa{sv}", self.site, self.link["id"],
                                   {"name": GLib.Variant("i", 7)})
        self.assertEqual(error.name, "InvalidArgument")
        self.assertIn("name", error.message)

    def test_unknown_link(self):
        error = self.manager.error("UpdateLink", "ssa{sv}", self.site, "No such link",
                                   asv(name="x"))
        self.assertEqual(error.name, "NotFound")

    def test_links_changed_emitted(self):
        self.signals.clear()
        self.manager.update_link(self.site, self.link["id"], {"name": "Salesforce EU"})
        self.assertEqual(self.signals.wait_for("LinksChanged"), (self.site,))


class DeleteLinkTest(applinktest.ApplinkTestCase):
    def setUp(self):
        super().setUp()
        self.manager = self.start_services()
        self.site = self.add_site("jira")
        self.link = self.create_link(self.site)

    def test_deleted_from_jira(self):
        self.manager.delete_link(self.site, self.link["id"])
        self.assertEqual(self.jira_links(), [])
        self.assertEqual(self.manager.list_links(self.site), [])

    def test_delete_by_name(self):
        self.manager.delete_link(self.site, "Salesforce")
        self.assertEqual(self.jira_links(), [])

    def test_get_after_delete(self):
        self.manager.delete_link(self.site, self.link["id"])
        error = self.manager.error("GetLink", "ss", self.site, self.link["id"])
        self.assertEqual(error.name, "NotFound")

    def test_keyring_item_deleted(self):
        self.manager.set_outgoing_auth(self.site, self.link["id"], self.salesforce_credentials())
        self.manager.delete_link(self.site, self.link["id"])
        self.assertEqual(self.salesforce_items(site=self.site, link=self.link["id"]), [])

    def test_site_credential_kept(self):
        self.manager.delete_link(self.site, self.link["id"])
        self.assertEqual(len(self.jira_items(site=self.site)), 1)

    def test_unknown_link(self):
        error = self.manager.error("DeleteLink", "ss", self.site, "No such link")
        self.assertEqual(error.name, "NotFound")

    def test_links_changed_emitted(self):
        self.signals.clear()
        self.manager.delete_link(self.site, self.link["id"])
        self.assertEqual(self.signals.wait_for("LinksChanged"), (self.site,))


if __name__ == "__main__":
    applinktest.main()

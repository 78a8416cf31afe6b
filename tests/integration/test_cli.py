"""applinkctl: the main job with --stdin, --json output, exit statuses and --site."""

import os
import re
import signal
import time

import applinktest
from applinktest import JIRA_ADMIN, SALESFORCE_USER

# "configured" as a word of its own, so that "not-configured" does not match.
CONFIGURED = re.compile(r"(?<![\w-])configured(?![\w-])")


class CliCase(applinktest.ApplinkTestCase):
    def setUp(self):
        super().setUp()
        self.manager = self.start_services()

    def site_add(self, name="jira"):
        return self.cli("site", "add", self.jira.url, "--name", name, "--stdin",
                        stdin=self.jira_admin_token + "\n")

    def link_create(self, *extra):
        return self.cli("link", "create", self.salesforce.url, "--name", "Salesforce", *extra)

    def auth_set(self, token, *extra):
        stdin = f"{self.salesforce_password}\n{token}\n"
        return self.cli(*extra, "auth", "set", "Salesforce", "--username", SALESFORCE_USER,
                        "--stdin", stdin=stdin)

    def assertExit(self, result, code):
        self.assertEqual(result.code, code, self.mask_secrets(repr(result)))


class MainJobTest(CliCase):
    def test_site_add_token(self):
        self.assertExit(self.site_add(), 0)
        self.assertEqual([site["id"] for site in self.manager.list_sites()], ["jira"])

    def test_site_add_password(self):
        result = self.cli("site", "add", self.jira.url, "--name", "jira", "--user", JIRA_ADMIN,
                          "--stdin", stdin=self.jira_admin_password + "\n")
        self.assertExit(result, 0)
        self.assertEqual(self.manager.list_sites()[0]["auth"], "basic")

    def test_site_add_bad_token(self):
        result = self.cli("site", "add", self.jira.url, "--name", "jira", "--stdin",
                          stdin=self.new_secret("badtok") + "\n")
        self.assertExit(result, 1)
        self.assertEqual(self.manager.list_sites(), [])

    def test_link_create(self):
        self.site_add()
        self.assertExit(self.link_create(), 0)
        self.assertEqual([link["name"] for link in self.jira_links()], ["Salesforce"])

    def test_auth_set_without_token(self):
        self.site_add()
        self.link_create()
        result = self.auth_set("")
        self.assertExit(result, 1)
        self.assertIn("security token", result.stderr.lower())
        self.assertEqual(self.salesforce_items(site="jira"), [])

    def test_auth_set_with_token(self):
        self.site_add()
        self.link_create()
        self.assertExit(self.auth_set(self.salesforce_token), 0)
        link_id = self.jira_links()[0]["id"]
        self.assertIsNotNone(self.jira_basic_provider(link_id))

    def test_link_list_configured(self):
        self.site_add()
        self.link_create()
        self.auth_set(self.salesforce_token)
        result = self.cli("link", "list")
        self.assertExit(result, 0)
        self.assertRegex(result.stdout, CONFIGURED)

    def test_link_list_not_configured(self):
        self.site_add()
        self.link_create()
        result = self.cli("link", "list")
        self.assertExit(result, 0)
        self.assertIn("not-configured", result.stdout)
        self.assertNotRegex(result.stdout, CONFIGURED)

    def test_auth_status(self):
        self.site_add()
        self.link_create()
        self.auth_set(self.salesforce_token)
        result = self.cli("auth", "status", "Salesforce")
        self.assertExit(result, 0)
        self.assertRegex(result.stdout, CONFIGURED)
        self.assertIn(SALESFORCE_USER, result.stdout)

    def test_auth_test(self):
        self.site_add()
        self.link_create()
        self.auth_set(self.salesforce_token)
        self.assertExit(self.cli("auth", "test", "Salesforce"), 0)

    def test_auth_clear(self):
        self.site_add()
        self.link_create()
        self.auth_set(self.salesforce_token)
        self.assertExit(self.cli("auth", "clear", "Salesforce"), 0)
        self.assertEqual(self.salesforce_items(site="jira"), [])

    def test_link_edit_and_delete(self):
        self.site_add()
        self.link_create()
        self.assertExit(self.cli("link", "edit", "Salesforce", "--name", "Salesforce EU"), 0)
        self.assertExit(self.cli("link", "delete", "Salesforce EU"), 0)
        self.assertEqual(self.jira_links(), [])

    def test_site_remove(self):
        self.site_add()
        self.assertExit(self.cli("site", "remove", "jira"), 0)
        self.assertEqual(self.jira_items(site="jira"), [])

    def test_probe_offline(self):
        result = self.cli("probe", "https://ap1.Salesforce.com")
        self.assertExit(result, 0)
        self.assertIn("https://ap1.salesforce.com", result.stdout)
        self.assertEqual(self.salesforce.requests(), [])
        self.assertEqual(self.jira.requests(), [])

    def test_version(self):
        result = self.cli("version")
        self.assertExit(result, 0)
        self.assertIn(self.manager.get_property("Version"), result.stdout)


class JsonTest(CliCase):
    def test_site_list(self):
        self.site_add()
        result = self.cli("--json", "site", "list")
        self.assertExit(result, 0)
        sites = result.json()
        self.assertEqual([site["id"] for site in sites], ["jira"])
        self.assertEqual(sites[0]["auth"], "token")

    def test_link_create(self):
        self.site_add()
        result = self.cli("--json", "link", "create", self.salesforce.url, "--name", "Salesforce")
        self.assertExit(result, 0)
        self.assertEqual(result.json()["name"], "Salesforce")
        self.assertEqual(result.json()["id"], self.jira_links()[0]["id"])

    def test_link_list(self):
        self.site_add()
        self.link_create()
        self.auth_set(self.salesforce_token)
        result = self.cli("--json", "link", "list")
        self.assertExit(result, 0)
        links = result.json()
        self.assertEqual(len(links), 1)
        self.assertEqual(links[0]["outgoing-auth"], "configured")

    def test_auth_set(self):
        self.site_add()
        self.link_create()
        result = self.auth_set(self.salesforce_token, "--json")
        self.assertExit(result, 0)
        self.assertEqual(result.json()["state"], "configured")

    def test_auth_status(self):
        self.site_add()
        self.link_create()
        self.auth_set(self.salesforce_token)
        result = self.cli("--json", "auth", "status", "Salesforce")
        self.assertExit(result, 0)
        self.assertEqual(result.json()["state"], "configured")
        self.assertIs(result.json()["stored"], True)

    def test_probe(self):
        result = self.cli("--json", "probe", "https://ap1.Salesforce.com")
        self.assertExit(result, 0)
        self.assertEqual(result.json()["url"], "https://ap1.salesforce.com")
        self.assertEqual(result.json()["kind"], "instance")

    def test_error_object(self):
        self.site_add()
        self.link_create()
        result = self.auth_set("", "--json")
        self.assertExit(result, 1)
        error = result.json()["error"]
        self.assertEqual(set(error), {"name", "message"})
        self.assertTrue(error["name"].endswith("SecurityTokenRequired"), error["name"])
        self.assertIn("security token", error["message"].lower())

    def test_not_found_object(self):
        self.site_add()
        result = self.cli("--json", "link", "show", "No such link")
        self.assertExit(result, 1)
        self.assertTrue(result.json()["error"]["name"].endswith("NotFound"))

    def test_invalid_url_object(self):
        result = self.cli("--json", "probe", "https://x.my.site.com")
        self.assertExit(result, 1)
        self.assertTrue(result.json()["error"]["name"].endswith("InvalidUrl"))


class ExitStatusTest(CliCase):
    def test_no_command(self):
        self.assertExit(self.cli(), 2)

    def test_unknown_command(self):
        self.assertExit(self.cli("frobnicate"), 2)

    def test_unknown_verb(self):
        self.assertExit(self.cli("link", "frobnicate"), 2)

    def test_unknown_option(self):
        self.assertExit(self.cli("site", "list", "--no-such-option"), 2)

    def test_missing_name(self):
        self.site_add()
        self.assertExit(self.cli("link", "create", self.salesforce.url), 2)

    def test_missing_username(self):
        self.site_add()
        self.link_create()
        self.assertExit(self.cli("auth", "set", "Salesforce", "--stdin", stdin="x\ny\n"), 2)

    def test_operation_failed(self):
        self.assertExit(self.cli("site", "remove", "nosuchsite"), 1)

    def test_help(self):
        result = self.cli("--help")
        self.assertExit(result, 0)
        self.assertIn("site", result.stdout)


class SiteOptionTest(CliCase):
    def test_optional_with_one_site(self):
        self.site_add()
        self.assertExit(self.cli("link", "list"), 0)

    def test_explicit_site(self):
        self.site_add("one")
        self.site_add("two")
        self.assertExit(self.cli("--site", "two", "link", "list"), 0)

    def test_required_with_two_sites(self):
        self.site_add("one")
        self.site_add("two")
        result = self.cli("link", "list")
        self.assertNotEqual(result.code, 0)
        self.assertIn("--site", result.stderr)

    def test_unknown_site(self):
        self.site_add()
        result = self.cli("--site", "nosuchsite", "link", "list")
        self.assertExit(result, 1)
        self.assertIn("nosuchsite", result.stderr)


class ConnectionTest(CliCase):
    def test_activation(self):
        self.daemon.stop()
        result = self.cli("--json", "site", "list")
        pid = applinktest.name_owner_pid(self.bus)
        if pid is not None:
            self.addCleanup(self.stop_process, pid)
        self.assertExit(result, 0)
        self.assertEqual(result.json(), [])
        self.assertIsNotNone(pid)

    def stop_process(self, pid):
        """Stop the applinkd that the bus started for this test, by its process id."""
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if applinktest.name_owner_pid(self.bus) != pid:
                return
            time.sleep(0.1)

    def test_unreachable_bus(self):
        missing = os.path.join(os.environ["XDG_RUNTIME_DIR"], "no-such-bus")
        result = self.cli("site", "list", env={"DBUS_SESSION_BUS_ADDRESS": f"unix:path={missing}"})
        self.assertExit(result, 1)
        self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)


if __name__ == "__main__":
    applinktest.main()

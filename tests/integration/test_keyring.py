"""A locked keyring: KeyringLocked, never "not found", and no item deleted or overwritten.

The test keyring cannot show an unlock prompt (there is no display), so every unlock that
applinkd requests fails at once, as when a user dismisses the prompt.
"""

import applinktest
from applinktest import asv


class LockedKeyringTest(applinktest.ApplinkTestCase):
    def setUp(self):
        super().setUp()
        self.manager = self.start_services()
        self.site = self.add_site("jira")
        self.link = self.create_link(self.site)["id"]
        self.manager.set_outgoing_auth(self.site, self.link, self.salesforce_credentials())
        self.jira_secret = self.keyring_lookup(site=self.site, username=applinktest.JIRA_ADMIN)
        self.salesforce_secret = self.keyring_lookup(site=self.site, link=self.link)
        self.provider = self.jira_basic_provider(self.link)
        self.lock_keyring()

    def assert_items_unchanged(self):
        self.unlock_keyring()
        self.assertIsNotNone(self.salesforce_secret)
        self.assertSecretEqual(self.keyring_lookup(site=self.site, link=self.link),
                               self.salesforce_secret, "the Salesforce credential changed")
        self.assertSecretEqual(
            self.keyring_lookup(site=self.site, username=applinktest.JIRA_ADMIN),
            self.jira_secret, "the Jira credential changed")

    def test_keyring_is_locked(self):
        self.assertIs(self.keyring_locked(), True)

    def test_add_site_locked(self):
        credentials = {"username": applinktest.JIRA_ADMIN, "password": self.jira_admin_password}
        error = self.manager.error("AddSite", "sa{sv}a{sv}", self.jira.url, asv(credentials),
                                   asv(name=self.site))
        self.assertEqual(error.name, "KeyringLocked")
        self.assert_items_unchanged()

    def test_set_auth_locked(self):
        password = self.new_secret("sfpw")
        token = self.new_secret("sftok")
        self.salesforce.control("POST", "users", [{"username": applinktest.SALESFORCE_USER,
                                                   "password": password, "token": token}])
        credentials = {"username": applinktest.SALESFORCE_USER, "password": password,
                       "security-token": token}
        error = self.manager.error("SetOutgoingAuth", "ssa{sv}a{sv}", self.site, self.link,
                                   asv(credentials), {})
        self.assertEqual(error.name, "KeyringLocked")
        self.assertTrue(self.jira_basic_provider(self.link) == self.provider,
                        "Jira's provider changed although the keyring was locked")
        self.assert_items_unchanged()

    def test_test_auth_locked(self):
        error = self.manager.error("TestOutgoingAuth", "ss", self.site, self.link)
        self.assertEqual(error.name, "KeyringLocked")

    def test_remove_site_locked(self):
        error = self.manager.error("RemoveSite", "s", self.site)
        self.assertEqual(error.name, "KeyringLocked")
        self.assert_items_unchanged()

    def test_clear_auth_locked(self):
        error = self.manager.error("ClearOutgoingAuth", "ss", self.site, self.link)
        self.assertEqual(error.name, "KeyringLocked")
        self.assert_items_unchanged()

    def test_error_names_keyring(self):
        error = self.manager.error("TestOutgoingAuth", "ss", self.site, self.link)
        self.assertIn("keyring", error.message.lower())

    def test_reads_work_unlocked(self):
        self.unlock_keyring()
        status = self.manager.test_outgoing_auth(self.site, self.link)
        self.assertEqual(status["state"], "configured")


if __name__ == "__main__":
    applinktest.main()

"""ProbeUrl: normalising and classifying Salesforce URLs without creating anything."""

import applinktest


class ProbeUrlTest(applinktest.ApplinkTestCase):
    def setUp(self):
        super().setUp()
        self.manager = self.start_services()

    def test_instance_url_lowercased(self):
        result = self.manager.probe_url("https://ap1.Salesforce.com")
        self.assertEqual(result["url"], "https://ap1.salesforce.com")
        self.assertEqual(result["kind"], "instance")
        self.assertEqual(result["login-url"], "https://login.salesforce.com")
        self.assertNotIn("rewritten-from", result)

    def test_instance_url_not_sandbox(self):
        result = self.manager.probe_url("https://ap1.salesforce.com")
        self.assertIs(result["sandbox"], False)

    def test_pasted_url_trimmed(self):
        pasted = '  <https://user:pw@AP1.salesforce.com:443/home/home.jsp?x=1#top>  '
        result = self.manager.probe_url(pasted)
        self.assertEqual(result["url"], "https://ap1.salesforce.com")

    def test_quoted_url_trimmed(self):
        result = self.manager.probe_url('"https://ap1.salesforce.com/"')
        self.assertEqual(result["url"], "https://ap1.salesforce.com")

    def test_missing_scheme_added(self):
        result = self.manager.probe_url("ap1.salesforce.com")
        self.assertEqual(result["url"], "https://ap1.salesforce.com")

    def test_other_port_kept(self):
        result = self.manager.probe_url("https://ap1.salesforce.com:8443")
        self.assertEqual(result["url"], "https://ap1.salesforce.com:8443")

    def test_lightning_url_rewritten(self):
        result = self.manager.probe_url("https://acme.lightning.force.com/lightning/page/home")
        self.assertEqual(result["url"], "https://acme.my.salesforce.com")
        self.assertEqual(result["rewritten-from"], "https://acme.lightning.force.com")
        self.assertEqual(result["kind"], "my-domain")
        self.assertEqual(result["login-url"], "https://acme.my.salesforce.com")

    def test_sandbox_lightning_url_rewritten(self):
        result = self.manager.probe_url("https://acme--uat.sandbox.lightning.force.com")
        self.assertEqual(result["url"], "https://acme--uat.sandbox.my.salesforce.com")
        self.assertEqual(result["rewritten-from"],
                         "https://acme--uat.sandbox.lightning.force.com")

    def test_my_domain_with_lightning_kept(self):
        result = self.manager.probe_url("https://lightningcorp.my.salesforce.com")
        self.assertEqual(result["url"], "https://lightningcorp.my.salesforce.com")
        self.assertNotIn("rewritten-from", result)
        self.assertEqual(result["kind"], "my-domain")

    def test_sandbox_my_domain(self):
        result = self.manager.probe_url("https://acme--uat.sandbox.my.salesforce.com")
        self.assertEqual(result["url"], "https://acme--uat.sandbox.my.salesforce.com")
        self.assertEqual(result["kind"], "sandbox")
        self.assertIs(result["sandbox"], True)
        self.assertEqual(result["login-url"], "https://acme--uat.sandbox.my.salesforce.com")

    def test_login_host(self):
        result = self.manager.probe_url("https://login.salesforce.com")
        self.assertEqual(result["kind"], "login")
        self.assertEqual(result["login-url"], "https://login.salesforce.com")

    def test_other_salesforce_domains(self):
        for url in ("https://acme.my.salesforce.mil", "https://acme.cloudforce.com",
                    "https://acme.my.sfcrmproducts.cn", "https://acme.crmforce.mil"):
            with self.subTest(url=url):
                result = self.manager.probe_url(url)
                self.assertEqual(result["url"], url)

    def test_experience_cloud_rejected(self):
        error = self.manager.error("ProbeUrl", "sa{sv}", "https://x.my.site.com", {})
        self.assertEqual(error.name, "InvalidUrl")
        self.assertIn("x.my.site.com", error.message)

    def test_http_rejected(self):
        error = self.manager.error("ProbeUrl", "sa{sv}", "http://ap1.salesforce.com", {})
        self.assertEqual(error.name, "InvalidUrl")
        self.assertIn("http://ap1.salesforce.com", error.message)

    def test_foreign_host_rejected(self):
        error = self.manager.error("ProbeUrl", "sa{sv}", "https://salesforce.example.com", {})
        self.assertEqual(error.name, "InvalidUrl")
        self.assertIn("salesforce.example.com", error.message)

    def test_lookalike_host_rejected(self):
        error = self.manager.error("ProbeUrl", "sa{sv}", "https://evilsalesforce.com", {})
        self.assertEqual(error.name, "InvalidUrl")

    def test_empty_url_rejected(self):
        error = self.manager.error("ProbeUrl", "sa{sv}", "   ", {})
        self.assertEqual(error.name, "InvalidUrl")

    def test_loopback_double(self):
        result = self.manager.probe_url(self.salesforce.url)
        self.assertEqual(result["url"], self.salesforce.url)
        self.assertEqual(result["kind"], "loopback")
        self.assertEqual(result["login-url"], self.salesforce.url)

    def test_loopback_http_allowed(self):
        result = self.manager.probe_url("http://localhost:8080/x")
        self.assertEqual(result["url"], "http://localhost:8080")

    def test_probe_without_site_offline(self):
        self.manager.probe_url(self.salesforce.url)
        self.manager.probe_url("https://ap1.salesforce.com")
        self.assertEqual(self.salesforce.requests(), [])
        self.assertEqual(self.jira.requests(), [])

    def test_unknown_option_rejected(self):
        error = self.manager.error("ProbeUrl", "sa{sv}", "https://ap1.salesforce.com",
                                   applinktest.asv(colour="blue"))
        self.assertEqual(error.name, "InvalidArgument")
        self.assertIn("colour", error.message)

    def test_site_option_wrong_type(self):
        error = self.manager.error("ProbeUrl", "sa{sv}", "https://ap1.salesforce.com",
                                   applinktest.asv(site=True))
        self.assertEqual(error.name, "InvalidArgument")
        self.assertIn("site", error.message)

    def test_unknown_site_not_found(self):
        error = self.manager.error("ProbeUrl", "sa{sv}", "https://ap1.salesforce.com",
                                   applinktest.asv(site="nosuchsite"))
        self.assertEqual(error.name, "NotFound")
        self.assertIn("nosuchsite", error.message)


if __name__ == "__main__":
    applinktest.main()

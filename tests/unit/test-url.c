/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "applink-error.h"
#include "applink-url.h"

#include <string.h>

/* One pasted Salesforce URL and what the rules make of it; a NULL url means rejected. */
typedef struct {
	const gchar *input;
	const gchar *url;
	const gchar *kind;
	const gchar *login_url;
	const gchar *rewritten_from;
} SalesforceCase;

static const SalesforceCase salesforce_cases[] = {
	{"https://ap1.salesforce.com",
	 "https://ap1.salesforce.com",
	 "instance",
	 "https://login.salesforce.com",
	 NULL},
	{"https://ap1.Salesforce.com",
	 "https://ap1.salesforce.com",
	 "instance",
	 "https://login.salesforce.com",
	 NULL},
	{"  <https://AP1.SALESFORCE.COM/>  ",
	 "https://ap1.salesforce.com",
	 "instance",
	 "https://login.salesforce.com",
	 NULL},
	{"\"https://na15.salesforce.com/home/home.jsp?x=1#top\"",
	 "https://na15.salesforce.com",
	 "instance",
	 "https://login.salesforce.com",
	 NULL},
	{"ap1.salesforce.com",
	 "https://ap1.salesforce.com",
	 "instance",
	 "https://login.salesforce.com",
	 NULL},
	{"https://user:secret@ap1.salesforce.com:443/x",
	 "https://ap1.salesforce.com",
	 "instance",
	 "https://login.salesforce.com",
	 NULL},
	{"https://acme.my.salesforce.com",
	 "https://acme.my.salesforce.com",
	 "my-domain",
	 "https://acme.my.salesforce.com",
	 NULL},
	{"https://acme.lightning.force.com/lightning/page/home",
	 "https://acme.my.salesforce.com",
	 "my-domain",
	 "https://acme.my.salesforce.com",
	 "https://acme.lightning.force.com"},
	{"https://acme--uat.sandbox.lightning.force.com/",
	 "https://acme--uat.sandbox.my.salesforce.com",
	 "sandbox",
	 "https://acme--uat.sandbox.my.salesforce.com",
	 "https://acme--uat.sandbox.lightning.force.com"},
	{"https://acme--uat.sandbox.my.salesforce.com",
	 "https://acme--uat.sandbox.my.salesforce.com",
	 "sandbox",
	 "https://acme--uat.sandbox.my.salesforce.com",
	 NULL},
	{"https://acme-lightning.my.salesforce.com",
	 "https://acme-lightning.my.salesforce.com",
	 "my-domain",
	 "https://acme-lightning.my.salesforce.com",
	 NULL},
	{"https://acme-dev-ed.develop.my.salesforce.com",
	 "https://acme-dev-ed.develop.my.salesforce.com",
	 "my-domain",
	 "https://acme-dev-ed.develop.my.salesforce.com",
	 NULL},
	{"https://cs42.salesforce.com",
	 "https://cs42.salesforce.com",
	 "sandbox",
	 "https://test.salesforce.com",
	 NULL},
	{"https://login.salesforce.com",
	 "https://login.salesforce.com",
	 "login",
	 "https://login.salesforce.com",
	 NULL},
	{"https://test.salesforce.com",
	 "https://test.salesforce.com",
	 "login",
	 "https://test.salesforce.com",
	 NULL},
	{"https://acme.my.salesforce.mil",
	 "https://acme.my.salesforce.mil",
	 "my-domain",
	 "https://acme.my.salesforce.mil",
	 NULL},
	{"http://127.0.0.1:8443",
	 "http://127.0.0.1:8443",
	 "loopback",
	 "http://127.0.0.1:8443",
	 NULL},
	{"http://[::1]:9000/services", "http://[::1]:9000", "loopback", "http://[::1]:9000", NULL},
	{"http://[::1%25lo]:9000", NULL, NULL, NULL, NULL},
	{"http://localhost:80", "http://localhost", "loopback", "http://localhost", NULL},
	{"http://ap1.salesforce.com", NULL, NULL, NULL, NULL},
	{"ftp://ap1.salesforce.com", NULL, NULL, NULL, NULL},
	{"https://example.com", NULL, NULL, NULL, NULL},
	{"https://salesforce.com.evil.example", NULL, NULL, NULL, NULL},
	{"https://evilsalesforce.com", NULL, NULL, NULL, NULL},
	{"https://acme.my.site.com", NULL, NULL, NULL, NULL},
	{"https://acme.sandbox.my.site.com", NULL, NULL, NULL, NULL},
	{"", NULL, NULL, NULL, NULL},
	{"   ", NULL, NULL, NULL, NULL},
	{"<>", NULL, NULL, NULL, NULL},
	{"https://ap1.salesforce.com/a b", NULL, NULL, NULL, NULL},
	{"https://ap1.salesforce.com/\x01", NULL, NULL, NULL, NULL},
	{"https://\xff\xfe.salesforce.com", NULL, NULL, NULL, NULL},
	{"https:///path", NULL, NULL, NULL, NULL},
	{"https://evil.example%2F.salesforce.com", NULL, NULL, NULL, NULL},
	{"https://evil.example%23.salesforce.com", NULL, NULL, NULL, NULL},
	{"https://h@c!lou@.my.force.com", NULL, NULL, NULL, NULL},
	{"https://acme..my.salesforce.com", NULL, NULL, NULL, NULL},
	{"https://acme_x.my.salesforce.com", NULL, NULL, NULL, NULL},
	{"http://127.0.0.1:0", NULL, NULL, NULL, NULL},
	{"https://ap1.salesforce.com:0", NULL, NULL, NULL, NULL},
	{"https://ap1.salesforce.com/\xc2\x85", NULL, NULL, NULL, NULL},
	{"https://ap1.salesforce.com/\xe2\x80\xae", NULL, NULL, NULL, NULL},
};

static void
test_url_salesforce_table(void)
{
	for (gsize i = 0; i < G_N_ELEMENTS(salesforce_cases); i++) {
		const SalesforceCase *c = &salesforce_cases[i];
		g_autoptr(GError) error = NULL;
		g_autoptr(ApplinkSalesforceUrl) url = NULL;

		g_autofree gchar *shown = g_strescape(c->input, NULL);

		g_test_message("input: %s", shown);
		url = applink_url_parse_salesforce(c->input, &error);
		if (c->url == NULL) {
			g_assert_null(url);
			g_assert_error(error, APPLINK_ERROR, APPLINK_ERROR_INVALID_URL);
			continue;
		}
		g_assert_no_error(error);
		g_assert_nonnull(url);
		g_assert_cmpstr(url->url, ==, c->url);
		g_assert_cmpstr(url->kind, ==, c->kind);
		g_assert_cmpstr(url->login_url, ==, c->login_url);
		g_assert_cmpstr(url->rewritten_from, ==, c->rewritten_from);
	}
}

static void
test_url_salesforce_reasons(void)
{
	g_autoptr(GError) error_http = NULL;
	g_autoptr(GError) error_site = NULL;
	g_autoptr(GError) error_foreign = NULL;
	g_autoptr(ApplinkSalesforceUrl) http = NULL;
	g_autoptr(ApplinkSalesforceUrl) site = NULL;
	g_autoptr(ApplinkSalesforceUrl) foreign = NULL;

	http = applink_url_parse_salesforce("http://ap1.salesforce.com", &error_http);
	g_assert_null(http);
	g_assert_nonnull(strstr(error_http->message, "use https://"));

	site = applink_url_parse_salesforce("https://acme.my.site.com", &error_site);
	g_assert_null(site);
	g_assert_nonnull(strstr(error_site->message, "Experience Cloud"));

	foreign = applink_url_parse_salesforce("https://example.com/x", &error_foreign);
	g_assert_null(foreign);
	g_assert_nonnull(strstr(error_foreign->message, "'example.com' is not a Salesforce host"));
}

static void
test_url_port_zero_reason(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *result = applink_url_normalize_jira("http://127.0.0.1:0", &error);

	g_assert_null(result);
	g_assert_error(error, APPLINK_ERROR, APPLINK_ERROR_INVALID_URL);
	g_assert_nonnull(strstr(error->message, "the port 0"));
}

static void
test_url_control_character_named(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(ApplinkSalesforceUrl) url =
		applink_url_parse_salesforce("https://ap1.salesforce.com/\xc2\x9b", &error);

	g_assert_null(url);
	g_assert_error(error, APPLINK_ERROR, APPLINK_ERROR_INVALID_URL);
	g_assert_nonnull(strstr(error->message, "U+009B"));
}

static void
test_url_salesforce_sandbox_flag(void)
{
	g_autoptr(ApplinkSalesforceUrl) sandbox = NULL;
	g_autoptr(ApplinkSalesforceUrl) production = NULL;

	sandbox = applink_url_parse_salesforce("acme--qa.sandbox.my.salesforce.com", NULL);
	production = applink_url_parse_salesforce("acme.my.salesforce.com", NULL);
	g_assert_true(sandbox->sandbox);
	g_assert_false(production->sandbox);
}

/* One Jira URL and its normal form; a NULL result means rejected. */
typedef struct {
	const gchar *input;
	const gchar *result;
} JiraCase;

static const JiraCase jira_cases[] = {
	{"https://jira.example.com", "https://jira.example.com"},
	{"https://Jira.Example.com/", "https://jira.example.com"},
	{"https://jira.example.com/jira/", "https://jira.example.com/jira"},
	{"https://jira.example.com:443/jira//", "https://jira.example.com/jira"},
	{"https://jira.example.com:8443/jira", "https://jira.example.com:8443/jira"},
	{"jira.example.com", "https://jira.example.com"},
	{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
	{"http://localhost:2990/jira", "http://localhost:2990/jira"},
	{"https://jira.example.com/jira%3Fos_authType=none",
	 "https://jira.example.com/jira%3Fos_authType=none"},
	{"https://jira.example.com/a%0Ab", "https://jira.example.com/a%0Ab"},
	{"https://jira%2Fexample.com", NULL},
	{"http://[::1%25lo]:8080", NULL},
	{"[::1%251%25]:/h/127.0.0.1]:/h/127.0.0.1", NULL},
	{"http://jira.example.com", NULL},
	{"https://admin:pw@jira.example.com", NULL},
	{"file:///etc/passwd", NULL},
	{"http://127.0.0.1:0/jira", NULL},
	{"https://jira.example.com/\xe2\x80\xaejira", NULL},
	{"", NULL},
};

static void
test_url_jira_table(void)
{
	for (gsize i = 0; i < G_N_ELEMENTS(jira_cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree gchar *result = NULL;

		g_test_message("input: %s", jira_cases[i].input);
		result = applink_url_normalize_jira(jira_cases[i].input, &error);
		g_assert_cmpstr(result, ==, jira_cases[i].result);
		if (jira_cases[i].result == NULL)
			g_assert_error(error, APPLINK_ERROR, APPLINK_ERROR_INVALID_URL);
		else
			g_assert_no_error(error);
	}
}

static void
test_url_site_id(void)
{
	g_autofree gchar *plain = applink_url_site_id_from_url("https://jira.example.com");
	g_autofree gchar *full = applink_url_site_id_from_url("https://jira.example.com:8443/jira");
	g_autofree gchar *ipv6 = applink_url_site_id_from_url("http://[::1]:8080");

	g_assert_cmpstr(plain, ==, "jira.example.com");
	g_assert_cmpstr(full, ==, "jira.example.com-8443-jira");
	g_assert_true(applink_url_site_id_is_valid(ipv6));
	g_assert_true(applink_url_site_id_is_valid("prod_jira-1"));
	g_assert_false(applink_url_site_id_is_valid(""));
	g_assert_false(applink_url_site_id_is_valid("-jira"));
	g_assert_false(applink_url_site_id_is_valid("a/b"));
	g_assert_false(applink_url_site_id_is_valid("a b"));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/url/salesforce/table", test_url_salesforce_table);
	g_test_add_func("/url/salesforce/reasons", test_url_salesforce_reasons);
	g_test_add_func("/url/salesforce/sandbox-flag", test_url_salesforce_sandbox_flag);
	g_test_add_func("/url/port-zero-reason", test_url_port_zero_reason);
	g_test_add_func("/url/control-character-named", test_url_control_character_named);
	g_test_add_func("/url/jira/table", test_url_jira_table);
	g_test_add_func("/url/site-id", test_url_site_id);
	return g_test_run();
}

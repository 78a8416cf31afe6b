/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzzes the rules for pasted URLs. The input is one URL as text. Besides memory errors, a
 * finding is a result that the same rules reject or change when it is given back to them,
 * because the daemon stores the normalised URL, then parses it again or builds request URLs on
 * it.
 */
#include <string.h>

#include "applink-url.h"
#include "fuzz-target.h"

static void
check_salesforce_url(const ApplinkSalesforceUrl *url)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(ApplinkSalesforceUrl) again = NULL;

	fuzz_check_required_text("the Salesforce URL", url->url);
	fuzz_check_required_text("the Salesforce host", url->host);
	fuzz_check_required_text("the Salesforce URL kind", url->kind);
	fuzz_check_required_text("the login URL", url->login_url);
	fuzz_check_text("the Lightning URL", url->rewritten_from);

	/* Adding the scheme can make a result longer than the limit, so such a result is not
	 * checked. */
	if (strlen(url->url) > APPLINK_URL_MAX_LENGTH)
		return;
	again = applink_url_parse_salesforce(url->url, &error);
	if (again == NULL)
		g_error("the normalised Salesforce URL '%s' is rejected: %s",
			url->url,
			error->message);
	if (g_strcmp0(again->url, url->url) != 0 || g_strcmp0(again->host, url->host) != 0)
		g_error("the normalised Salesforce URL '%s' (host '%s') becomes '%s' (host '%s')",
			url->url,
			url->host,
			again->url,
			again->host);
}

static void
check_jira_url(const gchar *jira_url)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *again = NULL;
	g_autofree gchar *site_id = applink_url_site_id_from_url(jira_url);

	fuzz_check_required_text("the Jira URL", jira_url);
	if (!applink_url_site_id_is_valid(site_id))
		g_error("the site id '%s' made from '%s' is not valid", site_id, jira_url);

	if (strlen(jira_url) > APPLINK_URL_MAX_LENGTH)
		return;
	again = applink_url_normalize_jira(jira_url, &error);
	if (again == NULL)
		g_error("the normalised Jira URL '%s' is rejected: %s", jira_url, error->message);
	if (g_strcmp0(again, jira_url) != 0)
		g_error("the normalised Jira URL '%s' becomes '%s'", jira_url, again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree gchar *input = fuzz_text_new(data, size);
	g_autoptr(GError) salesforce_error = NULL;
	g_autoptr(GError) jira_error = NULL;
	g_autoptr(ApplinkSalesforceUrl) salesforce_url = NULL;
	g_autofree gchar *jira_url = NULL;

	salesforce_url = applink_url_parse_salesforce(input, &salesforce_error);
	if (salesforce_url != NULL)
		check_salesforce_url(salesforce_url);
	else
		fuzz_check_error("applink_url_parse_salesforce()", salesforce_error);

	jira_url = applink_url_normalize_jira(input, &jira_error);
	if (jira_url != NULL)
		check_jira_url(jira_url);
	else
		fuzz_check_error("applink_url_normalize_jira()", jira_error);
	return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The longest URL accepted from a caller, in bytes. */
#define APPLINK_URL_MAX_LENGTH 2048

/* The maximum length of a site id, in bytes. A site id derived from a URL is cut to this length. */
#define APPLINK_URL_MAX_SITE_ID_LENGTH 64

#define APPLINK_LOGIN_URL_PRODUCTION "https://login.salesforce.com"
#define APPLINK_LOGIN_URL_SANDBOX "https://test.salesforce.com"

/* A Salesforce application URL after normalisation. */
typedef struct {
	gchar *url;	   /* scheme, host and non-default port, e.g. https://ap1.salesforce.com */
	gchar *host;	   /* lower case, without brackets for IPv6 */
	const gchar *kind; /* "my-domain", "sandbox", "instance", "login" or "loopback" */
	gboolean sandbox;
	gchar *rewritten_from; /* the Lightning URL it was rewritten from, or NULL */
	gchar *login_url;      /* where outgoing authentication logs in by default */
} ApplinkSalesforceUrl;

void
applink_salesforce_url_free(ApplinkSalesforceUrl *url);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ApplinkSalesforceUrl, applink_salesforce_url_free)

ApplinkSalesforceUrl *
applink_url_parse_salesforce(const gchar *input, GError **error);

gchar *
applink_url_normalize_jira(const gchar *input, GError **error);

gchar *
applink_url_normalize_login(const gchar *input, GError **error);

gboolean
applink_url_host_is_loopback(const gchar *host);

gchar *
applink_url_site_id_from_url(const gchar *jira_url);

gboolean
applink_url_site_id_is_valid(const gchar *id);

G_END_DECLS

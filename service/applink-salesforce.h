/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "applink-http.h"

G_BEGIN_DECLS

#define APPLINK_SALESFORCE_DEFAULT_API_VERSION "64.0"

/* The non-secret outcome of a successful Salesforce login. */
typedef struct {
	gchar *flow;            /* "soap" or "oauth" */
	gchar *user_id;         /* may be NULL when the reply lacks it */
	gchar *organization_id; /* may be NULL */
	gchar *instance_url;    /* scheme and host of the instance, e.g. https://na1.salesforce.com */
	gboolean sandbox;
} ApplinkSalesforceLogin;

void
applink_salesforce_login_free(ApplinkSalesforceLogin *login);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ApplinkSalesforceLogin, applink_salesforce_login_free)

/* The credentials of one login. @password is the password alone, without the token. */
typedef struct {
	const gchar *username;
	const gchar *password;
	const gchar *security_token;  /* NULL or "" when none */
	const gchar *consumer_key;    /* NULL for SOAP login() */
	const gchar *consumer_secret; /* NULL for SOAP login() */
} ApplinkSalesforceCredentials;

/*
 * Logs in at @login_url (scheme and host, e.g. "https://login.salesforce.com") with SOAP
 * login() at @api_version, or with the OAuth 2.0 username-password flow when a consumer key
 * is given. Never follows redirects. Each failure is a specific APPLINK_ERROR whose message
 * says what the administrator should do; no secret is ever part of a message.
 * Call from a worker thread.
 */
ApplinkSalesforceLogin *
applink_salesforce_login(ApplinkHttp *http,
			 const gchar *login_url,
			 const gchar *api_version,
			 const ApplinkSalesforceCredentials *credentials,
			 GCancellable *cancellable,
			 GError **error);

/*
 * Parses the reply to a SOAP login() request: @status is the HTTP status and @body the
 * reply. @token_given tells whether a security token was appended, so that
 * LOGIN_MUST_USE_SECURITY_TOKEN and INVALID_LOGIN get the right advice.
 */
ApplinkSalesforceLogin *
applink_salesforce_parse_soap_reply(guint status,
				    const gchar *body,
				    gsize length,
				    gboolean token_given,
				    GError **error);

/* Parses the reply to an OAuth 2.0 username-password token request. */
ApplinkSalesforceLogin *
applink_salesforce_parse_oauth_reply(guint status,
				     const gchar *content_type,
				     const gchar *body,
				     gsize length,
				     gboolean token_given,
				     GError **error);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "applink-http.h"

G_BEGIN_DECLS

#define APPLINK_SALESFORCE_DEFAULT_API_VERSION "64.0"

/* The non-secret outcome of a successful Salesforce login. */
typedef struct {
	gchar *flow;		/* "soap" or "oauth" */
	gchar *user_id;		/* may be NULL when the reply lacks it */
	gchar *organization_id; /* may be NULL */
	gchar *instance_url;	/* scheme and host, such as https://na1.salesforce.com */
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
 * states what the administrator should do. No secret is ever part of a message.
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
 * reply. @token_given is TRUE when a security token was appended, so that
 * LOGIN_MUST_USE_SECURITY_TOKEN and INVALID_LOGIN get the right advice.
 */
ApplinkSalesforceLogin *
applink_salesforce_parse_soap_reply(
	guint status, const gchar *body, gsize length, gboolean token_given, GError **error);

/*
 * Parses the reply to an OAuth 2.0 username-password token request: @content_type is the
 * Content-Type header or NULL. @token_given is TRUE when a security token was appended.
 */
ApplinkSalesforceLogin *
applink_salesforce_parse_oauth_reply(guint status,
				     const gchar *content_type,
				     const gchar *body,
				     gsize length,
				     gboolean token_given,
				     GError **error);

/*
 * Sets a LoginRedirected error for a 3xx reply to a login request. @location is the
 * absolute target of the redirect, or NULL when the reply has no Location header.
 */
void
applink_salesforce_set_redirect_error(GError **error, guint status, const gchar *location);

/*
 * Builds the SOAP login() request, which does not follow redirects. Sets InvalidUrl when
 * @login_url is not an http(s) URL made of a scheme and host only, and InvalidArgument for a
 * malformed @api_version (NULL means APPLINK_SALESFORCE_DEFAULT_API_VERSION) or credentials.
 */
SoupMessage *
applink_salesforce_soap_message_new(const gchar *login_url,
				    const gchar *api_version,
				    const ApplinkSalesforceCredentials *credentials,
				    GError **error);

/* Builds the OAuth 2.0 username-password token request, which does not follow redirects. */
SoupMessage *
applink_salesforce_oauth_message_new(const gchar *login_url,
				     const ApplinkSalesforceCredentials *credentials,
				     GError **error);

/*
 * Builds the SOAP login() envelope for the partner WSDL, with the security token appended to
 * the password. The buffer is wiped when the last reference to the bytes is dropped.
 */
GBytes *
applink_salesforce_soap_body_new(const ApplinkSalesforceCredentials *credentials);

/*
 * Builds the form-encoded body of the OAuth 2.0 username-password token request, with the
 * security token appended to the password. The buffer is wiped like the SOAP body.
 */
GBytes *
applink_salesforce_oauth_body_new(const ApplinkSalesforceCredentials *credentials);

/*
 * Appends @text to @buffer with the five XML special characters (& < > " ') replaced by
 * entity references. All other bytes, UTF-8 sequences included, are copied unchanged.
 */
void
applink_salesforce_xml_escape_append(GString *buffer, const gchar *text);

/*
 * Appends @text to @buffer as an application/x-www-form-urlencoded value: RFC 3986
 * unreserved characters are kept and every other byte becomes %XX, a space included.
 */
void
applink_salesforce_form_encode_append(GString *buffer, const gchar *text);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzzes the parsers of Salesforce login replies. The first input byte selects the call and
 * the rest is the reply body, passed without a terminating NUL byte like the bodies that
 * applink-http.c reads:
 *
 *   bit 0     0: SOAP login() reply, 1: OAuth 2.0 token reply
 *   bit 1     whether a security token was given
 *   bits 2-4  the HTTP status, an index into reply_statuses
 *   bits 5-6  the Content-Type of an OAuth reply, an index into oauth_content_types
 *
 * For example 0x00 is a SOAP reply with HTTP 200, 0x04 a SOAP fault with HTTP 500, 0x01 an
 * OAuth reply with HTTP 200 and 0x09 an OAuth error with HTTP 400.
 */
#include "applink-salesforce.h"
#include "fuzz-target.h"

#define SELECT_OAUTH 0x01
#define SELECT_TOKEN_GIVEN 0x02
#define SELECT_STATUS(byte) (((byte) >> 2) & 0x07)
#define SELECT_CONTENT_TYPE(byte) (((byte) >> 5) & 0x03)

static const guint reply_statuses[] = {200, 500, 400, 401, 403, 404, 302, 503};

static const gchar *const oauth_content_types[] = {
	"application/json;charset=UTF-8",
	"application/json",
	"text/html;charset=UTF-8",
	NULL,
};

/* Checks that @url is "scheme://host[:port]" and nothing more, as the login's instance URL. */
static void
check_origin(const gchar *url)
{
	g_autoptr(GUri) uri = g_uri_parse(url, G_URI_FLAGS_NONE, NULL);
	const gchar *scheme;

	if (uri == NULL)
		g_error("the instance URL '%s' cannot be parsed", url);
	scheme = g_uri_get_scheme(uri);
	if (g_strcmp0(scheme, "https") != 0 && g_strcmp0(scheme, "http") != 0)
		g_error("the instance URL '%s' is not an http(s) URL", url);
	if (g_uri_get_userinfo(uri) != NULL || g_uri_get_path(uri)[0] != '\0' ||
	    g_uri_get_query(uri) != NULL || g_uri_get_fragment(uri) != NULL)
		g_error("the instance URL '%s' has more than a scheme, host and port", url);
}

static void
check_login(const ApplinkSalesforceLogin *login, const gchar *flow)
{
	if (g_strcmp0(login->flow, flow) != 0)
		g_error("the login has the flow '%s', not '%s'", login->flow, flow);
	fuzz_check_required_text("the instance URL", login->instance_url);
	fuzz_check_text("the user id", login->user_id);
	fuzz_check_text("the organization id", login->organization_id);
	check_origin(login->instance_url);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(ApplinkSalesforceLogin) login = NULL;
	const gchar *body;
	gsize length;
	guint status;
	gboolean token_given;

	if (size == 0)
		return 0;
	body = (const gchar *)data + 1;
	length = size - 1;
	status = reply_statuses[SELECT_STATUS(data[0])];
	token_given = (data[0] & SELECT_TOKEN_GIVEN) != 0;

	if ((data[0] & SELECT_OAUTH) == 0) {
		login = applink_salesforce_parse_soap_reply(
			status, body, length, token_given, &error);
		if (login != NULL)
			check_login(login, "soap");
		else
			fuzz_check_error("applink_salesforce_parse_soap_reply()", error);
		return 0;
	}

	login = applink_salesforce_parse_oauth_reply(
		status,
		oauth_content_types[SELECT_CONTENT_TYPE(data[0])],
		body,
		length,
		token_given,
		&error);
	if (login != NULL)
		check_login(login, "oauth");
	else
		fuzz_check_error("applink_salesforce_parse_oauth_reply()", error);
	return 0;
}

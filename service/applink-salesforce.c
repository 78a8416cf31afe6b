/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "applink-salesforce.h"

#include "applink-json.h"
#include "applink-log.h"
#include "applink-secret.h"

#include "applink-error.h"

#include <json-glib/json-glib.h>
#include <string.h>

#define SOAP_CONTENT_TYPE "text/xml; charset=UTF-8"
#define FORM_CONTENT_TYPE "application/x-www-form-urlencoded"

/* Maximum length of the replacement of one input byte: "&quot;" for XML, "%XX" for forms. */
#define XML_ESCAPE_MAX_GROWTH 6
#define FORM_ENCODE_MAX_GROWTH 3

static const gchar soap_envelope_start[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
	"<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "
	"xmlns:urn=\"urn:partner.soap.sforce.com\">"
	"<soapenv:Body><urn:login><urn:username>";
static const gchar soap_envelope_middle[] = "</urn:username><urn:password>";
static const gchar soap_envelope_end[] =
	"</urn:password></urn:login></soapenv:Body></soapenv:Envelope>";

/* How one error code from Salesforce becomes an APPLINK_ERROR and its advice. */
typedef struct {
	const gchar *code;
	const gchar *description; /* OAuth error_description to match, or NULL for any */
	ApplinkError error;
	const gchar *advice;
	const gchar *token_note;    /* appended when a security token was given */
	const gchar *no_token_note; /* appended when none was given */
	gboolean quote_salesforce;  /* whether the message quotes Salesforce's own text */
} LoginErrorRule;

static const LoginErrorRule soap_fault_rules[] = {
	{"INVALID_LOGIN",
	 NULL,
	 APPLINK_ERROR_INVALID_CREDENTIALS,
	 "The username, password or security token is wrong, or the user is locked out. "
	 "If the security token was reset or the password changed, use the new security token "
	 "from the reset email.",
	 " The security token given may be wrong or stale, because each reset and each password "
	 "change replaces it.",
	 " No security token was given, and a login from outside the org's trusted IP ranges "
	 "needs one.",
	 FALSE},
	{"LOGIN_MUST_USE_SECURITY_TOKEN",
	 NULL,
	 APPLINK_ERROR_SECURITY_TOKEN_REQUIRED,
	 "This network is outside the org's trusted IP ranges, so Salesforce requires the "
	 "security token appended to the password (applinkctl asks for it separately). "
	 "To get a new token, choose Reset My Security Token in the Salesforce personal settings, "
	 "which emails it to the user. Otherwise ask a Salesforce administrator to add this "
	 "network to the org's trusted IP ranges (Setup → Network Access).",
	 " The security token given was not accepted, so reset it to get a current one.",
	 NULL,
	 FALSE},
	{"PASSWORD_LOCKOUT",
	 NULL,
	 APPLINK_ERROR_INVALID_CREDENTIALS,
	 "The user is locked out after too many failed logins: wait for the lockout to end or ask "
	 "a Salesforce administrator to unlock the user.",
	 NULL,
	 NULL,
	 FALSE},
	{"API_DISABLED_FOR_ORG",
	 NULL,
	 APPLINK_ERROR_API_DISABLED,
	 "The org's Salesforce edition has no API access: use an org whose edition includes it "
	 "(such as Enterprise, Unlimited or Developer Edition), or ask Salesforce to enable it.",
	 NULL,
	 NULL,
	 FALSE},
	{"API_CURRENTLY_DISABLED",
	 NULL,
	 APPLINK_ERROR_API_DISABLED,
	 "The user may not use the API: ask a Salesforce administrator to grant the "
	 "\"API Enabled\" permission through the user's profile or a permission set.",
	 NULL,
	 NULL,
	 FALSE},
	{"REQUEST_LIMIT_EXCEEDED",
	 NULL,
	 APPLINK_ERROR_SALESFORCE_RATE_LIMITED,
	 "Salesforce limits the number of logins per user per hour: wait, then try again.",
	 NULL,
	 NULL,
	 FALSE},
	{"LOGIN_DURING_RESTRICTED_DOMAIN",
	 NULL,
	 APPLINK_ERROR_LOGIN_RESTRICTED,
	 "The user's profile does not allow logins from this IP address: ask a Salesforce "
	 "administrator to add this network to the profile's Login IP Ranges.",
	 NULL,
	 NULL,
	 FALSE},
	{"LOGIN_DURING_RESTRICTED_TIME",
	 NULL,
	 APPLINK_ERROR_LOGIN_RESTRICTED,
	 "The user's profile does not allow logins at this time: try again within the profile's "
	 "Login Hours, or ask a Salesforce administrator to change them.",
	 NULL,
	 NULL,
	 FALSE},
	{"INVALID_OPERATION",
	 NULL,
	 APPLINK_ERROR_LOGIN_NOT_AVAILABLE,
	 "SOAP login() is not available in this API version or is disabled in the org. "
	 "Ask a Salesforce administrator to turn on \"Enable SOAP API login()\" "
	 "(Setup → User Interface), or use the OAuth username-password flow with --consumer-key.",
	 NULL,
	 NULL,
	 TRUE},
	{"UNSUPPORTED_API_VERSION",
	 NULL,
	 APPLINK_ERROR_LOGIN_NOT_AVAILABLE,
	 "Salesforce does not serve this API version: choose another one with --api-version, "
	 "such as " APPLINK_SALESFORCE_DEFAULT_API_VERSION ".",
	 NULL,
	 NULL,
	 TRUE},
	{"INSUFFICIENT_ACCESS",
	 NULL,
	 APPLINK_ERROR_SALESFORCE_ACCESS_DENIED,
	 "The user may not log in through the API: ask a Salesforce administrator to grant the "
	 "\"Use Any API Auth\" permission through the user's profile or a permission set.",
	 NULL,
	 NULL,
	 FALSE},
	{"ORG_LOCKED",
	 NULL,
	 APPLINK_ERROR_ORG_UNAVAILABLE,
	 "The Salesforce org is locked: ask the org's administrator or Salesforce support to "
	 "unlock it.",
	 NULL,
	 NULL,
	 FALSE},
	{"TRIAL_EXPIRED",
	 NULL,
	 APPLINK_ERROR_ORG_UNAVAILABLE,
	 "The trial of the Salesforce org has expired: upgrade the org to a paid edition or link "
	 "another org.",
	 NULL,
	 NULL,
	 FALSE},
	{"SERVER_UNAVAILABLE",
	 NULL,
	 APPLINK_ERROR_SALESFORCE,
	 "Salesforce is temporarily unavailable: try again later.",
	 NULL,
	 NULL,
	 FALSE},
	{"INVALID_OPERATION_WITH_EXPIRED_PASSWORD",
	 NULL,
	 APPLINK_ERROR_PASSWORD_EXPIRED,
	 "The password has expired: log in to Salesforce in a browser and set a new password.",
	 NULL,
	 NULL,
	 FALSE},
};

/* Rules with a description come before the rule for the same error with any description. */
static const LoginErrorRule oauth_error_rules[] = {
	{"invalid_grant",
	 "authentication failure",
	 APPLINK_ERROR_INVALID_CREDENTIALS,
	 "The username, password or security token is wrong. Salesforce returns the same error "
	 "when the org blocks the username-password flow (Setup → OAuth and OpenID Connect "
	 "Settings → \"Allow OAuth Username-Password Flows\") and when an IP restriction applies. "
	 "The Login History in Setup shows the reason.",
	 " The security token given may be wrong or stale, because each reset and each password "
	 "change replaces it.",
	 " No security token was given, and a login from outside the org's trusted IP ranges "
	 "needs one.",
	 TRUE},
	{"invalid_grant",
	 "user hasn't approved this consumer",
	 APPLINK_ERROR_INVALID_CLIENT,
	 "The connected app is not authorized for this user: ask a Salesforce administrator to "
	 "set its Permitted Users to \"Admin approved users are pre-authorized\" and to add the "
	 "user's profile or a permission set to it.",
	 NULL,
	 NULL,
	 TRUE},
	{"invalid_grant",
	 "IP restricted or invalid login hours",
	 APPLINK_ERROR_LOGIN_RESTRICTED,
	 "The user's profile does not allow logins from this IP address or at this time: ask a "
	 "Salesforce administrator to check the profile's Login IP Ranges and Login Hours.",
	 NULL,
	 NULL,
	 TRUE},
	{"invalid_grant",
	 "inactive user",
	 APPLINK_ERROR_INVALID_CREDENTIALS,
	 "The Salesforce user is deactivated: ask a Salesforce administrator to reactivate it, "
	 "or use another user.",
	 NULL,
	 NULL,
	 TRUE},
	{"inactive_user",
	 NULL,
	 APPLINK_ERROR_INVALID_CREDENTIALS,
	 "The Salesforce user is deactivated: ask a Salesforce administrator to reactivate it, "
	 "or use another user.",
	 NULL,
	 NULL,
	 TRUE},
	{"inactive_org",
	 NULL,
	 APPLINK_ERROR_ORG_UNAVAILABLE,
	 "The Salesforce org is inactive or locked: ask the org's administrator or Salesforce "
	 "support to activate it.",
	 NULL,
	 NULL,
	 TRUE},
	{"invalid_client_id",
	 NULL,
	 APPLINK_ERROR_INVALID_CLIENT,
	 "Salesforce does not know this consumer key: check it against the connected app's "
	 "consumer details in Setup → App Manager.",
	 NULL,
	 NULL,
	 TRUE},
	{"invalid_client",
	 NULL,
	 APPLINK_ERROR_INVALID_CLIENT,
	 "Salesforce rejected the consumer key or consumer secret: check both against the "
	 "connected app's consumer details in Setup → App Manager.",
	 NULL,
	 NULL,
	 TRUE},
	{"invalid_client_credentials",
	 NULL,
	 APPLINK_ERROR_INVALID_CLIENT,
	 "Salesforce rejected the consumer key or consumer secret: check both against the "
	 "connected app's consumer details in Setup → App Manager.",
	 NULL,
	 NULL,
	 TRUE},
	{"unsupported_grant_type",
	 NULL,
	 APPLINK_ERROR_SALESFORCE,
	 "This host does not accept the password grant, which happens with a wrong login host: "
	 "use https and the My Domain URL (https://NAME.my.salesforce.com) or "
	 "https://login.salesforce.com as --login-url.",
	 NULL,
	 NULL,
	 TRUE},
	{"rate_limit_exceeded",
	 NULL,
	 APPLINK_ERROR_SALESFORCE_RATE_LIMITED,
	 "Salesforce limits the number of logins per user per hour: wait, then try again.",
	 NULL,
	 NULL,
	 TRUE},
};

static gsize
string_length(const gchar *text)
{
	return text != NULL ? strlen(text) : 0;
}

static gboolean
string_is_empty(const gchar *text)
{
	return text == NULL || *text == '\0';
}

static void
secret_string_clear(GString *buffer)
{
	explicit_bzero(buffer->str, buffer->len);
	g_string_truncate(buffer, 0);
}

void
applink_salesforce_login_free(ApplinkSalesforceLogin *login)
{
	if (login == NULL)
		return;
	g_free(login->flow);
	g_free(login->user_id);
	g_free(login->organization_id);
	g_free(login->instance_url);
	g_free(login);
}

void
applink_salesforce_xml_escape_append(GString *buffer, const gchar *text)
{
	if (text == NULL)
		return;
	for (const gchar *p = text; *p != '\0'; p++) {
		switch (*p) {
		case '&':
			g_string_append(buffer, "&amp;");
			break;
		case '<':
			g_string_append(buffer, "&lt;");
			break;
		case '>':
			g_string_append(buffer, "&gt;");
			break;
		case '"':
			g_string_append(buffer, "&quot;");
			break;
		case '\'':
			g_string_append(buffer, "&apos;");
			break;
		default:
			g_string_append_c(buffer, *p);
			break;
		}
	}
}

static gboolean
is_unreserved(guchar c)
{
	return g_ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

void
applink_salesforce_form_encode_append(GString *buffer, const gchar *text)
{
	static const gchar hex[] = "0123456789ABCDEF";

	if (text == NULL)
		return;
	for (const guchar *p = (const guchar *)text; *p != '\0'; p++) {
		if (is_unreserved(*p)) {
			g_string_append_c(buffer, (gchar)*p);
			continue;
		}
		g_string_append_c(buffer, '%');
		g_string_append_c(buffer, hex[*p >> 4]);
		g_string_append_c(buffer, hex[*p & 0x0f]);
	}
}

/*
 * The buffers below are sized for the worst case up front, so that GString never moves a
 * partly written secret with realloc() and leaves an unwiped copy behind.
 */
GBytes *
applink_salesforce_soap_body_new(const ApplinkSalesforceCredentials *credentials)
{
	GString *buffer;
	gsize secret_length;

	secret_length = string_length(credentials->username) +
			string_length(credentials->password) +
			string_length(credentials->security_token);
	buffer = g_string_sized_new(sizeof(soap_envelope_start) + sizeof(soap_envelope_middle) +
				    sizeof(soap_envelope_end) +
				    XML_ESCAPE_MAX_GROWTH * secret_length);

	g_string_append(buffer, soap_envelope_start);
	applink_salesforce_xml_escape_append(buffer, credentials->username);
	g_string_append(buffer, soap_envelope_middle);
	applink_salesforce_xml_escape_append(buffer, credentials->password);
	if (credentials->security_token != NULL)
		applink_salesforce_xml_escape_append(buffer, credentials->security_token);
	g_string_append(buffer, soap_envelope_end);
	return applink_secret_gstring_to_bytes(buffer);
}

static void
form_field_append(GString *buffer, const gchar *name, const gchar *value)
{
	if (buffer->len > 0)
		g_string_append_c(buffer, '&');
	g_string_append(buffer, name);
	g_string_append_c(buffer, '=');
	applink_salesforce_form_encode_append(buffer, value);
}

GBytes *
applink_salesforce_oauth_body_new(const ApplinkSalesforceCredentials *credentials)
{
	static const gchar field_names[] =
		"grant_type=password&client_id=&client_secret=&username=&password=";
	GString *buffer;
	gsize secret_length;

	secret_length =
		string_length(credentials->consumer_key) +
		string_length(credentials->consumer_secret) + string_length(credentials->username) +
		string_length(credentials->password) + string_length(credentials->security_token);
	buffer = g_string_sized_new(sizeof(field_names) + FORM_ENCODE_MAX_GROWTH * secret_length);

	form_field_append(buffer, "grant_type", "password");
	form_field_append(buffer, "client_id", credentials->consumer_key);
	if (!string_is_empty(credentials->consumer_secret))
		form_field_append(buffer, "client_secret", credentials->consumer_secret);
	form_field_append(buffer, "username", credentials->username);
	form_field_append(buffer, "password", credentials->password);
	if (credentials->security_token != NULL)
		applink_salesforce_form_encode_append(buffer, credentials->security_token);
	return applink_secret_gstring_to_bytes(buffer);
}

static gboolean
check_credential(const gchar *value, const gchar *name, gboolean required, GError **error)
{
	if (required && string_is_empty(value)) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_INVALID_ARGUMENT,
			    "The Salesforce %s is missing: give one to log in.",
			    name);
		return FALSE;
	}
	if (value != NULL && !g_utf8_validate(value, -1, NULL)) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_INVALID_ARGUMENT,
			    "The Salesforce %s is not valid UTF-8 text: give it again.",
			    name);
		return FALSE;
	}
	return TRUE;
}

static gboolean
check_credentials(const ApplinkSalesforceCredentials *credentials, gboolean oauth, GError **error)
{
	return check_credential(credentials->username, "username", TRUE, error) &&
	       check_credential(credentials->password, "password", TRUE, error) &&
	       check_credential(credentials->security_token, "security token", FALSE, error) &&
	       check_credential(credentials->consumer_key, "consumer key", oauth, error) &&
	       check_credential(credentials->consumer_secret, "consumer secret", FALSE, error);
}

/* Returns the port of @uri, or -1 when it is the default port of the scheme. */
static gint
uri_get_explicit_port(GUri *uri)
{
	const gchar *scheme = g_uri_get_scheme(uri);
	gint port = g_uri_get_port(uri);

	if ((port == 443 && g_ascii_strcasecmp(scheme, "https") == 0) ||
	    (port == 80 && g_ascii_strcasecmp(scheme, "http") == 0))
		return -1;
	return port;
}

/* Returns @login_url with @path as its path, after checking it is a bare http(s) origin. */
static GUri *
endpoint_uri_new(const gchar *login_url, const gchar *path, GError **error)
{
	g_autoptr(GUri) base = NULL;
	const gchar *scheme;
	const gchar *base_path;

	/* A user name or password may follow the scheme, so such a URL is left out of this message.
	 */
	if (login_url != NULL && strchr(login_url, '@') != NULL) {
		g_set_error_literal(error,
				    APPLINK_ERROR,
				    APPLINK_ERROR_INVALID_URL,
				    "The login URL contains a user name or password: give only the "
				    "scheme and host, such as https://login.salesforce.com.");
		return NULL;
	}

	base = login_url != NULL ? g_uri_parse(login_url, SOUP_HTTP_URI_FLAGS, NULL) : NULL;
	if (base == NULL || string_is_empty(g_uri_get_host(base))) {
		g_set_error(
			error,
			APPLINK_ERROR,
			APPLINK_ERROR_INVALID_URL,
			"The login URL “%s” is not a valid URL: give the scheme and host of the "
			"Salesforce login server, such as https://login.salesforce.com.",
			login_url != NULL ? login_url : "");
		return NULL;
	}

	scheme = g_uri_get_scheme(base);
	if (g_ascii_strcasecmp(scheme, "https") != 0 && g_ascii_strcasecmp(scheme, "http") != 0) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_INVALID_URL,
			    "The login URL “%s” is not an https URL: give one such as "
			    "https://login.salesforce.com.",
			    login_url);
		return NULL;
	}

	base_path = g_uri_get_path(base);
	if ((*base_path != '\0' && g_strcmp0(base_path, "/") != 0) ||
	    g_uri_get_query(base) != NULL || g_uri_get_fragment(base) != NULL) {
		g_set_error(
			error,
			APPLINK_ERROR,
			APPLINK_ERROR_INVALID_URL,
			"The login URL “%s” has a path, query or fragment: give only the scheme "
			"and host, such as https://login.salesforce.com.",
			login_url);
		return NULL;
	}

	return g_uri_build(SOUP_HTTP_URI_FLAGS,
			   scheme,
			   NULL,
			   g_uri_get_host(base),
			   uri_get_explicit_port(base),
			   path,
			   NULL,
			   NULL);
}

/* Accepts API versions like "64.0" only, because other text could change the request path. */
static gboolean
check_api_version(const gchar *api_version, GError **error)
{
	if (g_regex_match_simple("^[0-9]{1,3}\\.[0-9]$", api_version, 0, 0))
		return TRUE;
	g_set_error(error,
		    APPLINK_ERROR,
		    APPLINK_ERROR_INVALID_ARGUMENT,
		    "The API version “%s” is invalid: give a number such as %s with --api-version.",
		    api_version,
		    APPLINK_SALESFORCE_DEFAULT_API_VERSION);
	return FALSE;
}

static SoupMessage *
login_message_new(GUri *uri, const gchar *content_type, const gchar *accept, GBytes *body)
{
	SoupMessage *msg;
	SoupMessageHeaders *headers;

	msg = soup_message_new_from_uri(SOUP_METHOD_POST, uri);
	soup_message_add_flags(msg, SOUP_MESSAGE_NO_REDIRECT);
	headers = soup_message_get_request_headers(msg);
	soup_message_headers_replace(headers, "Accept", accept);
	soup_message_set_request_body_from_bytes(msg, content_type, body);
	return msg;
}

SoupMessage *
applink_salesforce_soap_message_new(const gchar *login_url,
				    const gchar *api_version,
				    const ApplinkSalesforceCredentials *credentials,
				    GError **error)
{
	g_autoptr(GUri) uri = NULL;
	g_autoptr(GBytes) body = NULL;
	g_autofree gchar *path = NULL;
	SoupMessage *msg;

	if (api_version == NULL)
		api_version = APPLINK_SALESFORCE_DEFAULT_API_VERSION;
	if (!check_api_version(api_version, error))
		return NULL;
	if (!check_credentials(credentials, FALSE, error))
		return NULL;
	path = g_strdup_printf("/services/Soap/u/%s", api_version);
	uri = endpoint_uri_new(login_url, path, error);
	if (uri == NULL)
		return NULL;

	body = applink_salesforce_soap_body_new(credentials);
	msg = login_message_new(uri, SOAP_CONTENT_TYPE, "text/xml", body);
	soup_message_headers_replace(soup_message_get_request_headers(msg), "SOAPAction", "login");
	return msg;
}

SoupMessage *
applink_salesforce_oauth_message_new(const gchar *login_url,
				     const ApplinkSalesforceCredentials *credentials,
				     GError **error)
{
	g_autoptr(GUri) uri = NULL;
	g_autoptr(GBytes) body = NULL;

	if (!check_credentials(credentials, TRUE, error))
		return NULL;
	uri = endpoint_uri_new(login_url, "/services/oauth2/token", error);
	if (uri == NULL)
		return NULL;

	body = applink_salesforce_oauth_body_new(credentials);
	return login_message_new(uri, FORM_CONTENT_TYPE, "application/json", body);
}

/* Returns "scheme://host[:port]" of @url, or NULL when it is not an http(s) URL. */
static gchar *
origin_from_url(const gchar *url)
{
	g_autoptr(GUri) uri = NULL;
	g_autofree gchar *host = NULL;
	const gchar *scheme;

	uri = g_uri_parse(url, SOUP_HTTP_URI_FLAGS, NULL);
	if (uri == NULL || string_is_empty(g_uri_get_host(uri)))
		return NULL;
	scheme = g_uri_get_scheme(uri);
	if (g_strcmp0(scheme, "https") != 0 && g_strcmp0(scheme, "http") != 0)
		return NULL;
	host = g_ascii_strdown(g_uri_get_host(uri), -1);
	return g_uri_join(
		G_URI_FLAGS_NONE, scheme, NULL, host, uri_get_explicit_port(uri), "", NULL, NULL);
}

static ApplinkSalesforceLogin *
login_new(const gchar *flow, const gchar *instance_url)
{
	ApplinkSalesforceLogin *login = g_new0(ApplinkSalesforceLogin, 1);

	login->flow = g_strdup(flow);
	login->instance_url = g_strdup(instance_url);
	return login;
}

void
applink_salesforce_set_redirect_error(GError **error, guint status, const gchar *location)
{
	g_autofree gchar *target = applink_server_text_dup(location, "a location it did not name");

	g_set_error(error,
		    APPLINK_ERROR,
		    APPLINK_ERROR_LOGIN_REDIRECTED,
		    "Salesforce redirected the login request (HTTP %u) to %s, and login requests "
		    "do not follow redirects. Lightning hosts (*.lightning.force.com) redirect "
		    "login requests: use the My Domain URL (https://NAME.my.salesforce.com) as "
		    "--login-url.",
		    status,
		    target);
}

/* Sets the error of @rule, or a SalesforceError naming @code when @rule is NULL. */
static void
set_rule_error(GError **error,
	       const LoginErrorRule *rule,
	       const gchar *code,
	       const gchar *description,
	       gboolean token_given)
{
	g_autoptr(GString) message = g_string_new(NULL);
	g_autofree gchar *code_text = applink_server_text_dup(code, NULL);
	g_autofree gchar *description_text = applink_server_text_dup(description, NULL);
	const gchar *note;

	g_string_append_printf(message, "Salesforce returned %s", code_text);
	if (!string_is_empty(description_text) && (rule == NULL || rule->quote_salesforce))
		g_string_append_printf(message, " (%s)", description_text);
	g_string_append(message, ". ");

	if (rule == NULL) {
		g_string_append(message, "The Login History in Salesforce Setup shows the reason.");
		g_set_error_literal(error, APPLINK_ERROR, APPLINK_ERROR_SALESFORCE, message->str);
		return;
	}

	g_string_append(message, rule->advice);
	note = token_given ? rule->token_note : rule->no_token_note;
	if (note != NULL)
		g_string_append(message, note);
	g_set_error_literal(error, APPLINK_ERROR, rule->error, message->str);
}

/* SOAP replies are read by the local names of their elements, so any prefix works. */
typedef enum {
	SOAP_FIELD_SERVER_URL,
	SOAP_FIELD_USER_ID,
	SOAP_FIELD_INFO_USER_ID,
	SOAP_FIELD_ORGANIZATION_ID,
	SOAP_FIELD_PASSWORD_EXPIRED,
	SOAP_FIELD_SANDBOX,
	SOAP_FIELD_FAULT_CODE,
	SOAP_FIELD_FAULT_STRING,
	SOAP_FIELD_EXCEPTION_CODE,
	SOAP_FIELD_EXCEPTION_MESSAGE,
	SOAP_FIELD_COUNT,
} SoapField;

#define SOAP_RESULT_PATH "Envelope/Body/loginResponse/result"
#define SOAP_FAULT_PATH "Envelope/Body/Fault"
#define SOAP_SESSION_ID_PATH SOAP_RESULT_PATH "/sessionId"

/* Element paths of the fields, where "*" matches any one element. */
static const gchar *const soap_field_paths[SOAP_FIELD_COUNT] = {
	[SOAP_FIELD_SERVER_URL] = SOAP_RESULT_PATH "/serverUrl",
	[SOAP_FIELD_USER_ID] = SOAP_RESULT_PATH "/userId",
	[SOAP_FIELD_INFO_USER_ID] = SOAP_RESULT_PATH "/userInfo/userId",
	[SOAP_FIELD_ORGANIZATION_ID] = SOAP_RESULT_PATH "/userInfo/organizationId",
	[SOAP_FIELD_PASSWORD_EXPIRED] = SOAP_RESULT_PATH "/passwordExpired",
	[SOAP_FIELD_SANDBOX] = SOAP_RESULT_PATH "/sandbox",
	[SOAP_FIELD_FAULT_CODE] = SOAP_FAULT_PATH "/faultcode",
	[SOAP_FIELD_FAULT_STRING] = SOAP_FAULT_PATH "/faultstring",
	[SOAP_FIELD_EXCEPTION_CODE] = SOAP_FAULT_PATH "/detail/*/exceptionCode",
	[SOAP_FIELD_EXCEPTION_MESSAGE] = SOAP_FAULT_PATH "/detail/*/exceptionMessage",
};

/* What a SOAP reply contains. The session id is only noted as present, never copied. */
typedef struct {
	GPtrArray *path; /* local names of the open elements */
	GString *text;	 /* character data of the innermost open element */
	gchar *fields[SOAP_FIELD_COUNT];
	gboolean has_session_id;
	gboolean has_result;
	gboolean has_fault;
} SoapReply;

static void
soap_reply_init(SoapReply *reply)
{
	memset(reply, 0, sizeof(*reply));
	reply->path = g_ptr_array_new_with_free_func(g_free);
	reply->text = g_string_sized_new(256);
}

static void
soap_reply_clear(SoapReply *reply)
{
	g_clear_pointer(&reply->path, g_ptr_array_unref);
	if (reply->text != NULL)
		applink_secret_wipe_gstring(g_steal_pointer(&reply->text));
	for (guint i = 0; i < SOAP_FIELD_COUNT; i++)
		g_clear_pointer(&reply->fields[i], g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(SoapReply, soap_reply_clear)

static const gchar *
local_name(const gchar *element_name)
{
	const gchar *colon = strrchr(element_name, ':');

	return colon != NULL ? colon + 1 : element_name;
}

static gboolean
soap_path_matches(GPtrArray *path, const gchar *pattern)
{
	const gchar *segment = pattern;

	for (guint i = 0; i < path->len; i++) {
		const gchar *name = g_ptr_array_index(path, i);
		const gchar *end;
		gsize length;

		if (segment == NULL)
			return FALSE;
		end = strchr(segment, '/');
		length = end != NULL ? (gsize)(end - segment) : strlen(segment);
		if (!(length == 1 && *segment == '*') &&
		    (strlen(name) != length || strncmp(name, segment, length) != 0))
			return FALSE;
		segment = end != NULL ? end + 1 : NULL;
	}
	return segment == NULL;
}

static void
soap_start_element_cb(GMarkupParseContext *context G_GNUC_UNUSED,
		      const gchar *element_name,
		      const gchar **attribute_names G_GNUC_UNUSED,
		      const gchar **attribute_values G_GNUC_UNUSED,
		      gpointer user_data,
		      GError **error)
{
	SoapReply *reply = user_data;
	const gchar *name = local_name(element_name);

	if (reply->path->len == 0 && g_strcmp0(name, "Envelope") != 0) {
		g_set_error(error,
			    G_MARKUP_ERROR,
			    G_MARKUP_ERROR_INVALID_CONTENT,
			    "the root element is <%s>, not a SOAP Envelope",
			    element_name);
		return;
	}

	g_ptr_array_add(reply->path, g_strdup(name));
	secret_string_clear(reply->text);
	if (soap_path_matches(reply->path, SOAP_RESULT_PATH))
		reply->has_result = TRUE;
	if (soap_path_matches(reply->path, SOAP_FAULT_PATH))
		reply->has_fault = TRUE;
}

static gboolean
text_is_blank(const gchar *text, gsize length)
{
	for (gsize i = 0; i < length; i++) {
		if (!g_ascii_isspace(text[i]))
			return FALSE;
	}
	return TRUE;
}

static void
soap_end_element_cb(GMarkupParseContext *context G_GNUC_UNUSED,
		    const gchar *element_name G_GNUC_UNUSED,
		    gpointer user_data,
		    GError **error G_GNUC_UNUSED)
{
	SoapReply *reply = user_data;

	if (soap_path_matches(reply->path, SOAP_SESSION_ID_PATH))
		reply->has_session_id = !text_is_blank(reply->text->str, reply->text->len);

	for (guint i = 0; i < SOAP_FIELD_COUNT; i++) {
		if (reply->fields[i] != NULL ||
		    !soap_path_matches(reply->path, soap_field_paths[i]))
			continue;
		if (!text_is_blank(reply->text->str, reply->text->len))
			reply->fields[i] =
				g_strstrip(g_strndup(reply->text->str, reply->text->len));
	}

	secret_string_clear(reply->text);
	g_ptr_array_set_size(reply->path, reply->path->len - 1);
}

static void
soap_text_cb(GMarkupParseContext *context G_GNUC_UNUSED,
	     const gchar *text,
	     gsize text_len,
	     gpointer user_data,
	     GError **error G_GNUC_UNUSED)
{
	SoapReply *reply = user_data;

	g_string_append_len(reply->text, text, (gssize)text_len);
}

static gboolean
soap_reply_parse(SoapReply *reply, const gchar *body, gsize length, GError **error)
{
	static const GMarkupParser parser = {
		.start_element = soap_start_element_cb,
		.end_element = soap_end_element_cb,
		.text = soap_text_cb,
	};
	g_autoptr(GMarkupParseContext) context = NULL;

	/* GMarkup in GLib 2.74 can set an error twice on invalid UTF-8 inside CDATA. */
	if (!g_utf8_validate(body, (gssize)length, NULL)) {
		g_set_error_literal(
			error, G_MARKUP_ERROR, G_MARKUP_ERROR_BAD_UTF8, "invalid UTF-8");
		return FALSE;
	}
	context = g_markup_parse_context_new(&parser,
					     G_MARKUP_TREAT_CDATA_AS_TEXT |
						     G_MARKUP_PREFIX_ERROR_POSITION,
					     reply,
					     NULL);
	return g_markup_parse_context_parse(context, body, (gssize)length, error) &&
	       g_markup_parse_context_end_parse(context, error);
}

static const LoginErrorRule *
find_soap_fault_rule(const gchar *code)
{
	for (gsize i = 0; i < G_N_ELEMENTS(soap_fault_rules); i++) {
		if (g_strcmp0(soap_fault_rules[i].code, code) == 0)
			return &soap_fault_rules[i];
	}
	return NULL;
}

static void
set_soap_fault_error(const SoapReply *reply, guint status, gboolean token_given, GError **error)
{
	const gchar *code = reply->fields[SOAP_FIELD_EXCEPTION_CODE];
	const gchar *message = reply->fields[SOAP_FIELD_EXCEPTION_MESSAGE];

	if (code == NULL)
		code = reply->fields[SOAP_FIELD_FAULT_CODE];
	if (message == NULL)
		message = reply->fields[SOAP_FIELD_FAULT_STRING];
	if (code == NULL) {
		g_autofree gchar *message_text =
			applink_server_text_dup(message, "no message either");

		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_SALESFORCE,
			    "Salesforce returned a SOAP fault without a fault code (HTTP %u): %s",
			    status,
			    message_text);
		return;
	}

	code = local_name(code);
	g_debug("SOAP login() fault %s at HTTP %u: %s",
		code,
		status,
		message != NULL ? message : "");
	set_rule_error(error, find_soap_fault_rule(code), code, message, token_given);
}

static gboolean
xml_boolean_is_true(const gchar *value)
{
	return g_strcmp0(value, "true") == 0 || g_strcmp0(value, "1") == 0;
}

/*
 * Returns a copy of @id when it has the form of a Salesforce record id, 15 or 18 ASCII letters
 * and digits, or NULL. A reply with an id of another form is still a successful login, but the
 * id is not stored or shown, since it cannot be Salesforce's.
 */
static gchar *
salesforce_id_dup(const gchar *id)
{
	gsize length;

	if (id == NULL)
		return NULL;
	length = strlen(id);
	if (length != 15 && length != 18)
		return NULL;
	for (gsize i = 0; i < length; i++) {
		if (!g_ascii_isalnum(id[i]))
			return NULL;
	}
	return g_strdup(id);
}

static ApplinkSalesforceLogin *
soap_login_new(const SoapReply *reply, GError **error)
{
	const gchar *server_url = reply->fields[SOAP_FIELD_SERVER_URL];
	g_autofree gchar *instance_url = NULL;
	ApplinkSalesforceLogin *login;

	if (xml_boolean_is_true(reply->fields[SOAP_FIELD_PASSWORD_EXPIRED])) {
		g_set_error_literal(
			error,
			APPLINK_ERROR,
			APPLINK_ERROR_PASSWORD_EXPIRED,
			"The password has expired. Log in to Salesforce in a browser and "
			"set a new password, then give the new password and the security "
			"token that Salesforce emails with it.");
		return NULL;
	}
	if (!reply->has_session_id || server_url == NULL) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_SALESFORCE,
			    "The login() reply has no %s, so the login cannot be verified: check "
			    "that the login URL is a Salesforce login host.",
			    reply->has_session_id ? "serverUrl" : "sessionId");
		return NULL;
	}
	instance_url = origin_from_url(server_url);
	if (instance_url == NULL) {
		g_autofree gchar *server_url_text = applink_server_text_dup(server_url, NULL);

		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_SALESFORCE,
			    "The serverUrl “%s” of the login() reply is not an http(s) URL: check "
			    "that the login URL is a Salesforce login host.",
			    server_url_text);
		return NULL;
	}

	login = login_new("soap", instance_url);
	login->user_id = salesforce_id_dup(reply->fields[SOAP_FIELD_USER_ID] != NULL
						   ? reply->fields[SOAP_FIELD_USER_ID]
						   : reply->fields[SOAP_FIELD_INFO_USER_ID]);
	login->organization_id = salesforce_id_dup(reply->fields[SOAP_FIELD_ORGANIZATION_ID]);
	login->sandbox = xml_boolean_is_true(reply->fields[SOAP_FIELD_SANDBOX]);
	return login;
}

ApplinkSalesforceLogin *
applink_salesforce_parse_soap_reply(
	guint status, const gchar *body, gsize length, gboolean token_given, GError **error)
{
	g_auto(SoapReply) reply = {NULL};
	g_autoptr(GError) parse_error = NULL;

	if (SOUP_STATUS_IS_REDIRECTION(status)) {
		applink_salesforce_set_redirect_error(error, status, NULL);
		return NULL;
	}
	if (body == NULL || text_is_blank(body, length)) {
		g_set_error(
			error,
			APPLINK_ERROR,
			APPLINK_ERROR_SALESFORCE,
			"Salesforce returned HTTP %u with an empty reply to login(): check that "
			"the login URL is a Salesforce login host, or try again later.",
			status);
		return NULL;
	}

	soap_reply_init(&reply);
	if (!soap_reply_parse(&reply, body, length, &parse_error)) {
		g_autofree gchar *problem = applink_server_text_dup(parse_error->message, NULL);

		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_SALESFORCE,
			    "Salesforce returned HTTP %u with a reply that is not a SOAP message "
			    "(%s): check that the login URL is a Salesforce login host, or try "
			    "again later.",
			    status,
			    problem);
		return NULL;
	}

	if (reply.has_fault) {
		set_soap_fault_error(&reply, status, token_given, error);
		return NULL;
	}
	if (status != SOUP_STATUS_OK || !reply.has_result) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_SALESFORCE,
			    "Salesforce returned HTTP %u with neither a login() result nor a SOAP "
			    "fault: check that the login URL is a Salesforce login host.",
			    status);
		return NULL;
	}
	return soap_login_new(&reply, error);
}

/* Returns the root object of @body, or NULL when it is not a JSON object, with the reason in
 * @reason for an error message. */
static JsonObject *
json_object_from_data(const gchar *body, gsize length, gchar **reason)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) parse_error = NULL;
	JsonNode *root;

	*reason = NULL;
	if (body == NULL || length == 0) {
		*reason = g_strdup("the body is empty");
		return NULL;
	}
	if (!applink_json_check(body, length, &parse_error) ||
	    !json_parser_load_from_data(parser, body, (gssize)length, &parse_error)) {
		*reason = applink_server_text_dup(parse_error->message, NULL);
		g_debug("Salesforce token reply is not JSON: %s", *reason);
		return NULL;
	}
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
		*reason = g_strdup("the JSON value is not an object");
		return NULL;
	}
	return json_object_ref(json_node_get_object(root));
}

/* Returns the string member @name of @object, or NULL when it is missing or not a string. */
static const gchar *
json_object_get_string_or_null(JsonObject *object, const gchar *name)
{
	JsonNode *node;

	if (object == NULL)
		return NULL;
	node = json_object_get_member(object, name);
	if (node == NULL || !JSON_NODE_HOLDS_VALUE(node) ||
	    json_node_get_value_type(node) != G_TYPE_STRING)
		return NULL;
	return json_node_get_string(node);
}

/* Splits an identity URL such as https://login.salesforce.com/id/<org id>/<user id>. */
static void
login_set_identity(ApplinkSalesforceLogin *login, const gchar *identity_url)
{
	g_autoptr(GUri) uri = NULL;
	g_auto(GStrv) segments = NULL;
	guint count;

	if (identity_url == NULL)
		return;
	uri = g_uri_parse(identity_url, SOUP_HTTP_URI_FLAGS, NULL);
	if (uri == NULL)
		return;
	segments = g_strsplit(g_uri_get_path(uri), "/", -1);
	count = g_strv_length(segments);
	if (count < 3 || g_strcmp0(segments[count - 3], "id") != 0 ||
	    *segments[count - 2] == '\0' || *segments[count - 1] == '\0')
		return;
	login->organization_id = salesforce_id_dup(segments[count - 2]);
	login->user_id = salesforce_id_dup(segments[count - 1]);
}

static ApplinkSalesforceLogin *
oauth_login_new(JsonObject *object, const gchar *content_type, const gchar *reason, GError **error)
{
	const gchar *instance = json_object_get_string_or_null(object, "instance_url");
	g_autofree gchar *instance_url = NULL;
	ApplinkSalesforceLogin *login;

	if (object == NULL) {
		g_autofree gchar *content_type_text =
			applink_server_text_dup(content_type, "no content type");

		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_SALESFORCE,
			    "Salesforce returned HTTP 200 (%s) without a JSON token reply (%s): "
			    "check that the login URL is a Salesforce login host.",
			    content_type_text,
			    reason);
		return NULL;
	}
	if (json_object_get_string_or_null(object, "access_token") == NULL || instance == NULL) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_SALESFORCE,
			    "The token reply has no %s string, so the login cannot be verified: "
			    "check that the login URL is a Salesforce login host.",
			    instance == NULL ? "instance_url" : "access_token");
		return NULL;
	}
	instance_url = origin_from_url(instance);
	if (instance_url == NULL) {
		g_autofree gchar *instance_text = applink_server_text_dup(instance, NULL);

		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_SALESFORCE,
			    "The instance_url “%s” of the token reply is not an http(s) URL: check "
			    "that the login URL is a Salesforce login host.",
			    instance_text);
		return NULL;
	}

	login = login_new("oauth", instance_url);
	login_set_identity(login, json_object_get_string_or_null(object, "id"));
	/*
	 * NOTE: The token reply has no sandbox flag, so only sandbox My Domain hosts are
	 * recognised. Legacy instance hosts (csNN.salesforce.com) count as production.
	 */
	login->sandbox = g_str_has_suffix(instance_url, ".sandbox.my.salesforce.com");
	return login;
}

static const LoginErrorRule *
find_oauth_error_rule(const gchar *code, const gchar *description)
{
	for (gsize i = 0; i < G_N_ELEMENTS(oauth_error_rules); i++) {
		const LoginErrorRule *rule = &oauth_error_rules[i];

		if (g_strcmp0(rule->code, code) != 0)
			continue;
		if (rule->description == NULL ||
		    (description != NULL &&
		     g_ascii_strcasecmp(rule->description, description) == 0))
			return rule;
	}
	return NULL;
}

static void
set_oauth_error(JsonObject *object,
		guint status,
		const gchar *content_type,
		const gchar *reason,
		gboolean token_given,
		GError **error)
{
	const gchar *code = json_object_get_string_or_null(object, "error");
	const gchar *description = json_object_get_string_or_null(object, "error_description");
	const LoginErrorRule *rule;

	if (code == NULL) {
		g_autofree gchar *content_type_text =
			applink_server_text_dup(content_type, "no content type");

		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_SALESFORCE,
			    "Salesforce returned HTTP %u (%s) without an OAuth error code%s%s%s: "
			    "check that the login URL is a Salesforce login host, or try again "
			    "later.",
			    status,
			    content_type_text,
			    reason != NULL ? " (" : "",
			    reason != NULL ? reason : "",
			    reason != NULL ? ")" : "");
		return;
	}

	g_debug("OAuth token request error %s at HTTP %u: %s",
		code,
		status,
		description != NULL ? description : "");
	rule = find_oauth_error_rule(code, description);
	set_rule_error(error, rule, code, description, token_given);
}

ApplinkSalesforceLogin *
applink_salesforce_parse_oauth_reply(guint status,
				     const gchar *content_type,
				     const gchar *body,
				     gsize length,
				     gboolean token_given,
				     GError **error)
{
	g_autoptr(JsonObject) object = NULL;
	g_autofree gchar *reason = NULL;

	if (SOUP_STATUS_IS_REDIRECTION(status)) {
		applink_salesforce_set_redirect_error(error, status, NULL);
		return NULL;
	}

	object = json_object_from_data(body, length, &reason);
	if (status == SOUP_STATUS_OK)
		return oauth_login_new(object, content_type, reason, error);
	set_oauth_error(object, status, content_type, reason, token_given, error);
	return NULL;
}

/* Returns the Location of a redirect as an absolute URL, or NULL when there is none. */
static gchar *
redirect_location(SoupMessage *msg)
{
	const gchar *location;
	g_autofree gchar *request_url = NULL;
	gchar *absolute;

	location = soup_message_headers_get_one(soup_message_get_response_headers(msg), "Location");
	if (location == NULL)
		return NULL;
	request_url = g_uri_to_string(soup_message_get_uri(msg));
	absolute = g_uri_resolve_relative(request_url, location, SOUP_HTTP_URI_FLAGS, NULL);
	return absolute != NULL ? absolute : g_strdup(location);
}

static ApplinkSalesforceLogin *
parse_reply(SoupMessage *msg, GBytes *reply, gboolean oauth, gboolean token_given, GError **error)
{
	guint status = soup_message_get_status(msg);
	const gchar *content_type;
	const gchar *body;
	gsize length;

	if (SOUP_STATUS_IS_REDIRECTION(status)) {
		g_autofree gchar *location = redirect_location(msg);

		applink_salesforce_set_redirect_error(error, status, location);
		return NULL;
	}

	body = g_bytes_get_data(reply, &length);
	if (!oauth)
		return applink_salesforce_parse_soap_reply(
			status, body, length, token_given, error);
	content_type =
		soup_message_headers_get_content_type(soup_message_get_response_headers(msg), NULL);
	return applink_salesforce_parse_oauth_reply(
		status, content_type, body, length, token_given, error);
}

ApplinkSalesforceLogin *
applink_salesforce_login(ApplinkHttp *http,
			 const gchar *login_url,
			 const gchar *api_version,
			 const ApplinkSalesforceCredentials *credentials,
			 GCancellable *cancellable,
			 GError **error)
{
	g_autoptr(SoupMessage) msg = NULL;
	g_autoptr(GBytes) reply = NULL;
	g_autofree gchar *request_url = NULL;
	ApplinkSalesforceLogin *login;
	gboolean oauth;
	gboolean token_given;
	const gchar *flow;

	g_return_val_if_fail(APPLINK_IS_HTTP(http), NULL);
	g_return_val_if_fail(credentials != NULL, NULL);

	oauth = !string_is_empty(credentials->consumer_key);
	token_given = !string_is_empty(credentials->security_token);
	flow = oauth ? "OAuth username-password flow" : "SOAP login()";

	if (oauth)
		msg = applink_salesforce_oauth_message_new(login_url, credentials, error);
	else
		msg = applink_salesforce_soap_message_new(
			login_url, api_version, credentials, error);
	if (msg == NULL)
		return NULL;

	request_url = g_uri_to_string(soup_message_get_uri(msg));
	g_debug("Logging in to Salesforce at %s as %s with %s",
		request_url,
		credentials->username,
		flow);
	reply = applink_http_send(http, msg, cancellable, error);
	if (reply == NULL)
		return NULL;
	g_debug("Salesforce %s returned HTTP %u with %" G_GSIZE_FORMAT " bytes",
		flow,
		soup_message_get_status(msg),
		g_bytes_get_size(reply));

	login = parse_reply(msg, reply, oauth, token_given, error);
	if (login == NULL) {
		g_prefix_error(error,
			       "Salesforce login of “%s” at %s failed. ",
			       credentials->username,
			       login_url);
		return NULL;
	}
	g_debug("Salesforce login of %s succeeded: user %s in org %s on %s",
		credentials->username,
		login->user_id != NULL ? login->user_id : "(unknown)",
		login->organization_id != NULL ? login->organization_id : "(unknown)",
		login->instance_url);
	return login;
}

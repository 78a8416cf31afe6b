/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "applink-error.h"

#include <gio/gio.h>
#include <string.h>

#define APPLINK_ERROR_PREFIX "org.applink.Error."

/* Indexed by ApplinkError; the assertion below keeps it in step with the enum. */
static const GDBusErrorEntry applink_error_entries[] = {
	{APPLINK_ERROR_INVALID_ARGUMENT, APPLINK_ERROR_PREFIX "InvalidArgument"},
	{APPLINK_ERROR_INVALID_URL, APPLINK_ERROR_PREFIX "InvalidUrl"},
	{APPLINK_ERROR_NOT_FOUND, APPLINK_ERROR_PREFIX "NotFound"},
	{APPLINK_ERROR_ALREADY_EXISTS, APPLINK_ERROR_PREFIX "AlreadyExists"},
	{APPLINK_ERROR_UNREACHABLE, APPLINK_ERROR_PREFIX "Unreachable"},
	{APPLINK_ERROR_TLS, APPLINK_ERROR_PREFIX "TlsError"},
	{APPLINK_ERROR_TIMEOUT, APPLINK_ERROR_PREFIX "Timeout"},
	{APPLINK_ERROR_CANCELLED, APPLINK_ERROR_PREFIX "Cancelled"},
	{APPLINK_ERROR_ACCESS_DENIED, APPLINK_ERROR_PREFIX "AccessDenied"},
	{APPLINK_ERROR_JIRA_AUTH_FAILED, APPLINK_ERROR_PREFIX "JiraAuthFailed"},
	{APPLINK_ERROR_JIRA_CAPTCHA_REQUIRED, APPLINK_ERROR_PREFIX "JiraCaptchaRequired"},
	{APPLINK_ERROR_JIRA_PERMISSION_DENIED, APPLINK_ERROR_PREFIX "JiraPermissionDenied"},
	{APPLINK_ERROR_JIRA_WEBSUDO_REQUIRED, APPLINK_ERROR_PREFIX "JiraWebSudoRequired"},
	{APPLINK_ERROR_JIRA_XSRF_FAILED, APPLINK_ERROR_PREFIX "JiraXsrfFailed"},
	{APPLINK_ERROR_JIRA_RATE_LIMITED, APPLINK_ERROR_PREFIX "JiraRateLimited"},
	{APPLINK_ERROR_JIRA_HOST_BLOCKED, APPLINK_ERROR_PREFIX "JiraHostBlocked"},
	{APPLINK_ERROR_URL_REDIRECTED, APPLINK_ERROR_PREFIX "UrlRedirected"},
	{APPLINK_ERROR_TYPE_NOT_INSTALLED, APPLINK_ERROR_PREFIX "TypeNotInstalled"},
	{APPLINK_ERROR_JIRA, APPLINK_ERROR_PREFIX "JiraError"},
	{APPLINK_ERROR_SECURITY_TOKEN_REQUIRED, APPLINK_ERROR_PREFIX "SecurityTokenRequired"},
	{APPLINK_ERROR_INVALID_CREDENTIALS, APPLINK_ERROR_PREFIX "InvalidCredentials"},
	{APPLINK_ERROR_PASSWORD_EXPIRED, APPLINK_ERROR_PREFIX "PasswordExpired"},
	{APPLINK_ERROR_API_DISABLED, APPLINK_ERROR_PREFIX "ApiDisabled"},
	{APPLINK_ERROR_SALESFORCE_RATE_LIMITED, APPLINK_ERROR_PREFIX "SalesforceRateLimited"},
	{APPLINK_ERROR_LOGIN_NOT_AVAILABLE, APPLINK_ERROR_PREFIX "LoginNotAvailable"},
	{APPLINK_ERROR_LOGIN_REDIRECTED, APPLINK_ERROR_PREFIX "LoginRedirected"},
	{APPLINK_ERROR_LOGIN_RESTRICTED, APPLINK_ERROR_PREFIX "LoginRestricted"},
	{APPLINK_ERROR_SALESFORCE_ACCESS_DENIED, APPLINK_ERROR_PREFIX "SalesforceAccessDenied"},
	{APPLINK_ERROR_ORG_UNAVAILABLE, APPLINK_ERROR_PREFIX "OrgUnavailable"},
	{APPLINK_ERROR_INVALID_CLIENT, APPLINK_ERROR_PREFIX "InvalidClient"},
	{APPLINK_ERROR_SALESFORCE, APPLINK_ERROR_PREFIX "SalesforceError"},
	{APPLINK_ERROR_KEYRING_LOCKED, APPLINK_ERROR_PREFIX "KeyringLocked"},
	{APPLINK_ERROR_KEYRING_UNAVAILABLE, APPLINK_ERROR_PREFIX "KeyringUnavailable"},
	{APPLINK_ERROR_SETTINGS, APPLINK_ERROR_PREFIX "SettingsError"},
};

G_STATIC_ASSERT(G_N_ELEMENTS(applink_error_entries) == APPLINK_ERROR_LAST);

GQuark
applink_error_quark(void)
{
	static gsize quark = 0;

	g_dbus_error_register_error_domain("applink-error-quark",
					   &quark,
					   applink_error_entries,
					   G_N_ELEMENTS(applink_error_entries));
	return (GQuark)quark;
}

/* Returns the D-Bus error name of @code, e.g. "org.applink.Error.NotFound". */
const gchar *
applink_error_to_dbus_name(gint code)
{
	if (code < 0 || code >= APPLINK_ERROR_LAST)
		return APPLINK_ERROR_PREFIX "Failed";
	return applink_error_entries[code].dbus_error_name;
}

/* Returns the short name of @code, e.g. "NotFound". */
const gchar *
applink_error_to_name(gint code)
{
	return applink_error_to_dbus_name(code) + strlen(APPLINK_ERROR_PREFIX);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "applink-daemon-private.h"

#include <string.h>

#include "applink-keyring.h"
#include "applink-salesforce.h"
#include "applink-settings.h"
#include "applink-url.h"

/* The non-secret fields kept in the settings per link, as they appear in status replies. */
static const gchar *const stored_string_fields[] = {
	"salesforce-username",
	"login-url",
	"flow",
	"user-id",
	"organization-id",
	"instance-url",
	"verified-at",
	"last-error",
	"last-error-message",
	"api-version",
};

/* Adds what applink stored about a link's outgoing authentication to a status dictionary. */
void
applink_outgoing_auth_add_stored_fields(GVariantBuilder *builder,
					const gchar *site,
					const gchar *link)
{
	g_autofree gchar *sandbox = applink_settings_get_link(site, link, "sandbox");

	for (gsize i = 0; i < G_N_ELEMENTS(stored_string_fields); i++) {
		g_autofree gchar *value =
			applink_settings_get_link(site, link, stored_string_fields[i]);

		if (value != NULL && value[0] != '\0')
			g_variant_builder_add(builder,
					      "{sv}",
					      stored_string_fields[i],
					      g_variant_new_string(value));
	}
	if (sandbox != NULL)
		g_variant_builder_add(builder,
				      "{sv}",
				      "sandbox",
				      g_variant_new_boolean(g_strcmp0(sandbox, "true") == 0));
}

static gchar *
applink_outgoing_auth_now(void)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();

	return g_date_time_format(now, "%Y-%m-%dT%H:%M:%SZ");
}

/* The arguments of SetOutgoingAuth after checking. */
typedef struct {
	gchar *username;
	ApplinkSalesforceSecret secret;
	gchar *login_url;
	gboolean sandbox;
	gchar *api_version;
	gboolean verify;
} ApplinkAuthRequest;

static void
applink_auth_request_clear(ApplinkAuthRequest *request)
{
	g_free(request->username);
	applink_secret_free(request->secret.password);
	applink_secret_free(request->secret.security_token);
	applink_secret_free(request->secret.consumer_key);
	applink_secret_free(request->secret.consumer_secret);
	g_free(request->login_url);
	g_free(request->api_version);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(ApplinkAuthRequest, applink_auth_request_clear)

static gboolean
applink_outgoing_auth_check_api_version(const gchar *version, GError **error)
{
	guint64 major = 0;
	g_auto(GStrv) parts = g_strsplit(version, ".", -1);

	if (g_strv_length(parts) != 2 || g_strcmp0(parts[1], "0") != 0 ||
	    !g_ascii_string_to_unsigned(parts[0], 10, 1, 999, &major, NULL)) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_INVALID_ARGUMENT,
			    "the API version '%s' is invalid; give it as Salesforce does, e.g. "
			    "'" APPLINK_SALESFORCE_DEFAULT_API_VERSION "'",
			    version);
		return FALSE;
	}
	return TRUE;
}

static gboolean
applink_outgoing_auth_check_credentials(ApplinkAuthRequest *request, GError **error)
{
	ApplinkSalesforceSecret *secret = &request->secret;

	if (request->username == NULL || secret->password == NULL) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_INVALID_ARGUMENT,
			    "credentials need the Salesforce 'username' and 'password'");
		return FALSE;
	}
	if ((secret->consumer_key != NULL) != (secret->consumer_secret != NULL)) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_INVALID_ARGUMENT,
			    "the OAuth flow needs both 'consumer-key' and 'consumer-secret'");
		return FALSE;
	}
	if (!applink_daemon_check_string(request->username,
					 "the Salesforce username",
					 APPLINK_MAX_NAME_LENGTH,
					 FALSE,
					 error) ||
	    !applink_daemon_check_string(secret->password,
					 "the Salesforce password",
					 APPLINK_MAX_SECRET_LENGTH,
					 FALSE,
					 error) ||
	    !applink_daemon_check_string(secret->security_token,
					 "the security token",
					 APPLINK_MAX_SECRET_LENGTH,
					 TRUE,
					 error) ||
	    !applink_daemon_check_string(secret->consumer_key,
					 "the consumer key",
					 APPLINK_MAX_SECRET_LENGTH,
					 TRUE,
					 error) ||
	    !applink_daemon_check_string(secret->consumer_secret,
					 "the consumer secret",
					 APPLINK_MAX_SECRET_LENGTH,
					 TRUE,
					 error))
		return FALSE;
	if (secret->security_token == NULL)
		secret->security_token = applink_secret_dup("");
	if (secret->consumer_key == NULL) {
		secret->consumer_key = applink_secret_dup("");
		secret->consumer_secret = applink_secret_dup("");
	}
	return TRUE;
}

static gboolean
applink_outgoing_auth_parse_request(GVariant *parameters,
				    ApplinkAuthRequest *request,
				    GError **error)
{
	g_autoptr(GVariant) credentials = g_variant_get_child_value(parameters, 2);
	g_autoptr(GVariant) options = g_variant_get_child_value(parameters, 3);
	const ApplinkDictKey credential_keys[] = {
		{"username", "s", &request->username},
		{"password", "s", &request->secret.password, TRUE},
		{"security-token", "s", &request->secret.security_token, TRUE},
		{"consumer-key", "s", &request->secret.consumer_key, TRUE},
		{"consumer-secret", "s", &request->secret.consumer_secret, TRUE},
	};
	const ApplinkDictKey option_keys[] = {
		{"login-url", "s", &request->login_url},
		{"sandbox", "b", &request->sandbox},
		{"api-version", "s", &request->api_version},
		{"verify", "b", &request->verify},
	};

	request->verify = TRUE;
	if (!applink_daemon_parse_dict(credentials,
				       "credentials",
				       credential_keys,
				       G_N_ELEMENTS(credential_keys),
				       error) ||
	    !applink_daemon_parse_dict(
		    options, "options", option_keys, G_N_ELEMENTS(option_keys), error))
		return FALSE;
	if (request->login_url != NULL && request->sandbox) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_INVALID_ARGUMENT,
			    "give either 'login-url' or 'sandbox', not both");
		return FALSE;
	}
	if (request->api_version == NULL)
		request->api_version = g_strdup(APPLINK_SALESFORCE_DEFAULT_API_VERSION);
	return applink_outgoing_auth_check_api_version(request->api_version, error) &&
	       applink_outgoing_auth_check_credentials(request, error);
}

/* Chooses where to log in: the option, else the sandbox host, else what the link URL implies. */
static gchar *
applink_outgoing_auth_choose_login_url(const ApplinkAuthRequest *request,
				       const ApplinkJiraLink *link,
				       GError **error)
{
	g_autoptr(ApplinkSalesforceUrl) url = NULL;

	if (request->login_url != NULL)
		return applink_url_normalize_login(request->login_url, error);
	if (request->sandbox)
		return g_strdup(APPLINK_LOGIN_URL_SANDBOX);
	url = applink_url_parse_salesforce(link->display_url, error);
	if (url == NULL) {
		g_prefix_error(error,
			       "link %s has no usable Salesforce URL; give --login-url: ",
			       link->id);
		return NULL;
	}
	return g_steal_pointer(&url->login_url);
}

static ApplinkSalesforceLogin *
applink_outgoing_auth_login(ApplinkCall *call,
			    const gchar *login_url,
			    const gchar *api_version,
			    const gchar *username,
			    const ApplinkSalesforceSecret *secret,
			    GError **error)
{
	g_autoptr(ApplinkHttp) http =
		applink_daemon_get_salesforce_http(call->daemon, login_url, error);
	ApplinkSalesforceCredentials credentials = {
		.username = username,
		.password = secret->password,
		.security_token = secret->security_token,
		.consumer_key = secret->consumer_key[0] != '\0' ? secret->consumer_key : NULL,
		.consumer_secret =
			secret->consumer_secret[0] != '\0' ? secret->consumer_secret : NULL,
	};

	if (http == NULL)
		return NULL;
	return applink_salesforce_login(
		http, login_url, api_version, &credentials, call->cancellable, error);
}

/* Records a successful login of the link in the settings. */
static gboolean
applink_outgoing_auth_record_success(const gchar *site,
				     const gchar *link,
				     const gchar *username,
				     const gchar *login_url,
				     const gchar *api_version,
				     const ApplinkSalesforceLogin *login,
				     gboolean consumer,
				     GError **error)
{
	g_autofree gchar *now = login != NULL ? applink_outgoing_auth_now() : NULL;
	const gchar *pairs[] = {
		"salesforce-username",
		username,
		"login-url",
		login_url,
		"api-version",
		api_version,
		"flow",
		consumer ? "oauth" : "soap",
		"sandbox",
		login != NULL && login->sandbox ? "true" : "false",
		"user-id",
		login != NULL ? login->user_id : NULL,
		"organization-id",
		login != NULL ? login->organization_id : NULL,
		"instance-url",
		login != NULL ? login->instance_url : NULL,
		"verified-at",
		now,
		"last-error",
		NULL,
		"last-error-message",
		NULL,
	};

	return applink_settings_update_link(site, link, pairs, G_N_ELEMENTS(pairs) / 2, error);
}

static gboolean
applink_outgoing_auth_record_failure(const gchar *site, const gchar *link, const GError *failure)
{
	g_autoptr(GError) error = NULL;
	const gchar *pairs[] = {
		"last-error",
		applink_error_to_name(failure->code),
		"last-error-message",
		failure->message,
	};

	if (!applink_settings_update_link(site, link, pairs, G_N_ELEMENTS(pairs) / 2, &error)) {
		g_warning("site %s link %s: cannot record the failed test: %s",
			  site,
			  link,
			  error->message);
		return FALSE;
	}
	return TRUE;
}

/* Starts a status dictionary in @builder with "state", "stored" and, when @in_sync is not
 * NULL, "in-sync". */
static void
applink_outgoing_auth_begin_status(GVariantBuilder *builder,
				   gboolean configured,
				   gboolean stored,
				   const gboolean *in_sync)
{
	g_variant_builder_init(builder, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(builder,
			      "{sv}",
			      "state",
			      g_variant_new_string(configured ? "configured" : "not-configured"));
	g_variant_builder_add(builder, "{sv}", "stored", g_variant_new_boolean(stored));
	if (in_sync != NULL)
		g_variant_builder_add(builder, "{sv}", "in-sync", g_variant_new_boolean(*in_sync));
}

/* Builds the GetOutgoingAuth dictionary from Jira's provider state and the stored fields. */
static GVariant *
applink_outgoing_auth_status(const gchar *site,
			     const gchar *link,
			     gboolean configured,
			     gboolean stored,
			     const gboolean *in_sync)
{
	GVariantBuilder builder;

	applink_outgoing_auth_begin_status(&builder, configured, stored, in_sync);
	applink_outgoing_auth_add_stored_fields(&builder, site, link);
	return g_variant_ref_sink(g_variant_builder_end(&builder));
}

/* Returns whether the settings of the link describe the credential stored as @username for
 * @login_url. They are written last in SetOutgoingAuth, so a call stopped before that leaves
 * them describing the credential stored before. */
static gboolean
applink_outgoing_auth_settings_describe(const gchar *site,
					const gchar *link,
					const gchar *username,
					const gchar *login_url)
{
	g_autofree gchar *recorded_username =
		applink_settings_get_link(site, link, "salesforce-username");
	g_autofree gchar *recorded_login_url = applink_settings_get_link(site, link, "login-url");

	return g_strcmp0(recorded_username, username) == 0 &&
	       g_strcmp0(recorded_login_url, login_url) == 0;
}

/* Builds a GetOutgoingAuth status from the keyring's item alone, for a credential that the
 * settings do not describe: its user name and login URL, without the details of a login. */
static GVariant *
applink_outgoing_auth_status_from_keyring(gboolean configured,
					  gboolean in_sync,
					  const gchar *username,
					  const gchar *login_url)
{
	GVariantBuilder builder;

	applink_outgoing_auth_begin_status(&builder, configured, TRUE, &in_sync);
	if (username != NULL)
		g_variant_builder_add(
			&builder, "{sv}", "salesforce-username", g_variant_new_string(username));
	if (login_url != NULL)
		g_variant_builder_add(
			&builder, "{sv}", "login-url", g_variant_new_string(login_url));
	return g_variant_ref_sink(g_variant_builder_end(&builder));
}

/* Puts back the credential that was stored before, after Jira refused the new one. */
static void
applink_outgoing_auth_roll_back(const gchar *site,
				const gchar *link,
				const gchar *new_username,
				const gchar *new_login_url,
				const ApplinkSalesforceSecret *previous,
				const gchar *previous_username,
				const gchar *previous_login_url)
{
	g_autoptr(GError) error = NULL;
	gboolean ok;

	if (previous != NULL)
		ok = applink_keyring_store_salesforce(
			     site, link, previous_username, previous_login_url, previous, &error) &&
		     (g_strcmp0(previous_username, new_username) == 0 &&
				      g_strcmp0(previous_login_url, new_login_url) == 0
			      ? TRUE
			      : applink_keyring_delete_salesforce(
					site, link, previous_username, previous_login_url, &error));
	else
		ok = applink_keyring_delete_salesforce(site, link, NULL, NULL, &error);
	if (!ok)
		g_warning("site %s link %s: cannot restore the earlier credential: %s",
			  site,
			  link,
			  error->message);
}

/*
 * Stores the verified credential and configures Jira, in that order, with the lock of the
 * link held. When Jira refuses, the keyring is put back as it was, so a failed call never
 * changes what was stored before.
 */
static gboolean
applink_outgoing_auth_store_and_configure(const ApplinkJira *jira,
					  const gchar *link,
					  const ApplinkAuthRequest *request,
					  const gchar *login_url,
					  GError **error)
{
	g_autoptr(ApplinkSalesforceSecret) previous = NULL;
	g_autofree gchar *previous_username = NULL;
	g_autofree gchar *previous_login_url = NULL;
	g_autoptr(ApplinkSecret) jira_password = NULL;

	previous = applink_keyring_lookup_salesforce(
		jira->site, link, &previous_username, &previous_login_url, error);
	if (previous == NULL && error != NULL && *error != NULL)
		return FALSE;
	/* The new item replaces all others before Jira is changed, so whatever stops the call
	 * from here on, the keyring contains one credential, and a verified one. */
	if (!applink_keyring_store_salesforce(
		    jira->site, link, request->username, login_url, &request->secret, error))
		return FALSE;
	if (!applink_keyring_delete_salesforce(
		    jira->site, link, request->username, login_url, error)) {
		applink_outgoing_auth_roll_back(jira->site,
						link,
						request->username,
						login_url,
						previous,
						previous_username,
						previous_login_url);
		return FALSE;
	}

	jira_password =
		applink_secret_concat(request->secret.password, request->secret.security_token);
	if (!applink_jira_set_basic_auth(jira, link, request->username, jira_password, error)) {
		applink_outgoing_auth_roll_back(jira->site,
						link,
						request->username,
						login_url,
						previous,
						previous_username,
						previous_login_url);
		return FALSE;
	}
	return TRUE;
}

static GVariant *
applink_outgoing_auth_set_locked(ApplinkCall *call,
				 ApplinkSite *site,
				 const ApplinkJira *jira,
				 const ApplinkJiraLink *link,
				 ApplinkAuthRequest *request,
				 GError **error)
{
	g_autofree gchar *login_url = NULL;
	g_autoptr(ApplinkSalesforceLogin) login = NULL;
	g_autoptr(GVariant) status = NULL;

	login_url = applink_outgoing_auth_choose_login_url(request, link, error);
	if (login_url == NULL)
		return NULL;
	if (request->verify) {
		login = applink_outgoing_auth_login(call,
						    login_url,
						    request->api_version,
						    request->username,
						    &request->secret,
						    error);
		if (login == NULL)
			return NULL;
		g_message("site %s link %s: Salesforce login as %s at %s verified",
			  site->id,
			  link->id,
			  request->username,
			  login_url);
	}
	if (!applink_outgoing_auth_store_and_configure(jira, link->id, request, login_url, error))
		return NULL;
	if (!applink_outgoing_auth_record_success(site->id,
						  link->id,
						  request->username,
						  login_url,
						  request->api_version,
						  login,
						  request->secret.consumer_key[0] != '\0',
						  error))
		return NULL;
	status = applink_outgoing_auth_status(site->id, link->id, TRUE, TRUE, NULL);
	applink_daemon_emit_outgoing_auth_changed(
		call->daemon, site->id, link->id, "configured", status);
	return g_variant_new("(@a{sv})", status);
}

/* SetOutgoingAuth: log in first; only then store the credential and configure Jira. */
GVariant *
applink_outgoing_auth_set(ApplinkCall *call, GError **error)
{
	g_auto(ApplinkAuthRequest) request = {0};
	g_autoptr(ApplinkSite) site = NULL;
	g_autoptr(SecretValue) authorization = NULL;
	g_autoptr(ApplinkJiraLink) link = NULL;
	ApplinkJira jira = {0};
	GVariant *result;
	GMutex *lock;

	if (!applink_outgoing_auth_parse_request(call->parameters, &request, error))
		return NULL;
	link = applink_site_open_link(call, &site, &jira, &authorization, error);
	if (link == NULL)
		return NULL;
	lock = applink_daemon_get_link_lock(call->daemon, site->id, link->id);
	g_mutex_lock(lock);
	result = applink_outgoing_auth_set_locked(call, site, &jira, link, &request, error);
	g_mutex_unlock(lock);
	return result;
}

/* Returns whether Jira's Basic Access provider contains exactly the stored credential. */
static gboolean
applink_outgoing_auth_jira_matches(const gchar *jira_username,
				   const gchar *jira_password,
				   const gchar *stored_username,
				   const ApplinkSalesforceSecret *stored)
{
	g_autoptr(ApplinkSecret) expected = NULL;

	if (jira_username == NULL || jira_password == NULL || stored == NULL)
		return FALSE;
	expected = applink_secret_concat(stored->password, stored->security_token);
	return g_strcmp0(jira_username, stored_username) == 0 &&
	       g_strcmp0(jira_password, expected) == 0;
}

/*
 * GetOutgoingAuth: reads Jira's provider and the keyring item. "in-sync" reports whether
 * Jira has the stored credential, which is how a call interrupted between the keyring and Jira
 * shows up afterwards.
 */
GVariant *
applink_outgoing_auth_get(ApplinkCall *call, GError **error)
{
	g_autoptr(ApplinkSite) site = NULL;
	g_autoptr(SecretValue) authorization = NULL;
	g_autoptr(ApplinkJiraLink) link = NULL;
	g_autoptr(ApplinkSalesforceSecret) stored = NULL;
	g_autoptr(GError) keyring_error = NULL;
	g_autofree gchar *jira_username = NULL;
	g_autoptr(ApplinkSecret) jira_password = NULL;
	g_autofree gchar *stored_username = NULL;
	g_autofree gchar *stored_login_url = NULL;
	g_autoptr(GVariant) status = NULL;
	ApplinkJira jira = {0};
	gboolean configured = FALSE;
	gboolean in_sync;

	link = applink_site_open_link(call, &site, &jira, &authorization, error);
	if (link == NULL)
		return NULL;
	if (!applink_jira_get_basic_auth(
		    &jira, link->id, &configured, &jira_username, &jira_password, error))
		return NULL;
	stored = applink_keyring_lookup_salesforce(
		site->id, link->id, &stored_username, &stored_login_url, &keyring_error);
	if (keyring_error != NULL) {
		g_propagate_error(error, g_steal_pointer(&keyring_error));
		return NULL;
	}
	in_sync = applink_outgoing_auth_jira_matches(
		jira_username, jira_password, stored_username, stored);
	if (stored != NULL && !applink_outgoing_auth_settings_describe(
				      site->id, link->id, stored_username, stored_login_url))
		status = applink_outgoing_auth_status_from_keyring(
			configured, in_sync, stored_username, stored_login_url);
	else
		status = applink_outgoing_auth_status(
			site->id, link->id, configured, stored != NULL, &in_sync);
	return g_variant_new("(@a{sv})", status);
}

/* Runs TestOutgoingAuth on @link while its lock is held. */
static GVariant *
applink_outgoing_auth_test_locked(ApplinkCall *call,
				  ApplinkSite *site,
				  ApplinkJira *jira,
				  ApplinkJiraLink *link,
				  GError **error)
{
	g_autoptr(ApplinkSalesforceSecret) stored = NULL;
	g_autoptr(ApplinkSalesforceLogin) login = NULL;
	g_autoptr(GVariant) status = NULL;
	g_autoptr(GError) login_error = NULL;
	g_autofree gchar *username = NULL;
	g_autofree gchar *login_url = NULL;
	g_autofree gchar *api_version = NULL;
	gboolean configured = FALSE;

	stored =
		applink_keyring_lookup_salesforce(site->id, link->id, &username, &login_url, error);
	if (stored == NULL) {
		if (error != NULL && *error == NULL)
			g_set_error(
				error,
				APPLINK_ERROR,
				APPLINK_ERROR_NOT_FOUND,
				"no Salesforce credential is stored for link %s of site '%s'; set "
				"one with 'applinkctl auth set'",
				link->id,
				site->id);
		return NULL;
	}
	api_version = applink_settings_get_link(site->id, link->id, "api-version");
	login = applink_outgoing_auth_login(
		call,
		login_url,
		api_version != NULL ? api_version : APPLINK_SALESFORCE_DEFAULT_API_VERSION,
		username,
		stored,
		&login_error);
	if (login != NULL) {
		if (!applink_outgoing_auth_record_success(site->id,
							  link->id,
							  username,
							  login_url,
							  api_version,
							  login,
							  stored->consumer_key[0] != '\0',
							  error))
			return NULL;
	} else {
		applink_daemon_normalize_error(&login_error);
		applink_outgoing_auth_record_failure(site->id, link->id, login_error);
	}
	if (!applink_jira_get_basic_auth(jira, link->id, &configured, NULL, NULL, error))
		return NULL;
	status = applink_outgoing_auth_status(site->id, link->id, configured, TRUE, NULL);
	applink_daemon_emit_outgoing_auth_changed(call->daemon,
						  site->id,
						  link->id,
						  configured ? "configured" : "not-configured",
						  status);
	if (login_error != NULL) {
		g_propagate_error(error, g_steal_pointer(&login_error));
		return NULL;
	}
	return g_variant_new("(@a{sv})", status);
}

/* TestOutgoingAuth: logs in with the stored credential and records the outcome. Never
 * changes Jira. */
GVariant *
applink_outgoing_auth_test(ApplinkCall *call, GError **error)
{
	g_autoptr(ApplinkSite) site = NULL;
	g_autoptr(SecretValue) authorization = NULL;
	g_autoptr(ApplinkJiraLink) link = NULL;
	ApplinkJira jira = {0};
	GVariant *result;
	GMutex *lock;

	link = applink_site_open_link(call, &site, &jira, &authorization, error);
	if (link == NULL)
		return NULL;
	/* The lock keeps SetOutgoingAuth and ClearOutgoingAuth from changing the credential
	 * between its lookup here and the record of the test's outcome. */
	lock = applink_daemon_get_link_lock(call->daemon, site->id, link->id);
	g_mutex_lock(lock);
	result = applink_outgoing_auth_test_locked(call, site, &jira, link, error);
	g_mutex_unlock(lock);
	return result;
}

/*
 * Deletes what applink stored for a link that Jira no longer has, as a DeleteLink stopped
 * between Jira and the keyring leaves it. @error contains Jira's NotFound, which stays the
 * result when nothing was stored under that link id.
 */
static GVariant *
applink_outgoing_auth_clear_orphan(ApplinkCall *call, ApplinkSite *site, GError **error)
{
	const gchar *link_id;
	g_autoptr(ApplinkSalesforceSecret) stored = NULL;
	g_autoptr(GError) keyring_error = NULL;

	g_variant_get_child(call->parameters, 1, "&s", &link_id);
	stored = applink_keyring_lookup_salesforce(site->id, link_id, NULL, NULL, &keyring_error);
	if (stored == NULL && keyring_error == NULL)
		return NULL;
	g_clear_error(error);
	if (keyring_error != NULL) {
		g_propagate_error(error, g_steal_pointer(&keyring_error));
		return NULL;
	}
	if (!applink_keyring_delete_salesforce(site->id, link_id, NULL, NULL, error) ||
	    !applink_settings_remove_link(site->id, link_id, error))
		return NULL;
	g_message("site %s link %s: the link is gone from Jira; its stored credential was deleted",
		  site->id,
		  link_id);
	return g_variant_new("()");
}

/* ClearOutgoingAuth: Jira first, then the keyring, so Jira never keeps a credential that
 * applink has deleted. */
GVariant *
applink_outgoing_auth_clear(ApplinkCall *call, GError **error)
{
	g_autoptr(ApplinkSite) site = NULL;
	g_autoptr(SecretValue) authorization = NULL;
	g_autoptr(ApplinkJiraLink) link = NULL;
	g_autoptr(GVariant) status = NULL;
	ApplinkJira jira = {0};
	gboolean ok;
	GMutex *lock;

	link = applink_site_open_link(call, &site, &jira, &authorization, error);
	if (link == NULL) {
		if (site != NULL && g_error_matches(*error, APPLINK_ERROR, APPLINK_ERROR_NOT_FOUND))
			return applink_outgoing_auth_clear_orphan(call, site, error);
		return NULL;
	}
	lock = applink_daemon_get_link_lock(call->daemon, site->id, link->id);
	g_mutex_lock(lock);
	/* Stops before Jira changes when the credential could not be deleted after. */
	ok = applink_keyring_check_unlocked("deleting the Salesforce credential", error) &&
	     applink_jira_clear_basic_auth(&jira, link->id, error) &&
	     applink_keyring_delete_salesforce(site->id, link->id, NULL, NULL, error) &&
	     applink_settings_remove_link(site->id, link->id, error);
	g_mutex_unlock(lock);
	if (!ok)
		return NULL;
	g_message("site %s link %s: outgoing authentication cleared", site->id, link->id);
	status = applink_outgoing_auth_status(site->id, link->id, FALSE, FALSE, NULL);
	applink_daemon_emit_outgoing_auth_changed(
		call->daemon, site->id, link->id, "not-configured", status);
	return g_variant_new("()");
}

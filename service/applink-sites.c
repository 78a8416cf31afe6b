/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "applink-daemon-private.h"

#include <string.h>

#include "applink-keyring.h"
#include "applink-settings.h"
#include "applink-url.h"

/* The arguments of AddSite after checking. */
typedef struct {
	gchar *url;
	ApplinkSecret *token;
	gchar *username;
	ApplinkSecret *password;
	gchar *name;
	gchar *ca_file;
	gchar *link_type;
} ApplinkSiteRequest;

static void
applink_site_request_clear(ApplinkSiteRequest *request)
{
	g_free(request->url);
	applink_secret_free(request->token);
	g_free(request->username);
	applink_secret_free(request->password);
	g_free(request->name);
	g_free(request->ca_file);
	g_free(request->link_type);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(ApplinkSiteRequest, applink_site_request_clear)

static gboolean
applink_sites_check_credentials(ApplinkSiteRequest *request, GError **error)
{
	if (request->token != NULL && (request->username != NULL || request->password != NULL)) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_INVALID_ARGUMENT,
			    "give either 'token' or 'username' and 'password' in credentials, not "
			    "both");
		return FALSE;
	}
	if (request->token != NULL)
		return applink_daemon_check_string(
			request->token, "the token", APPLINK_MAX_SECRET_LENGTH, FALSE, error);
	if (request->username == NULL || request->password == NULL) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_INVALID_ARGUMENT,
			    "credentials need 'token' (a personal access token) or 'username' and "
			    "'password'");
		return FALSE;
	}
	if (strchr(request->username, ':') != NULL) {
		g_set_error(
			error,
			APPLINK_ERROR,
			APPLINK_ERROR_INVALID_ARGUMENT,
			"the Jira user name '%s' contains ':', which Basic authentication cannot "
			"carry; use a personal access token",
			request->username);
		return FALSE;
	}
	return applink_daemon_check_string(request->username,
					   "the Jira user name",
					   APPLINK_MAX_NAME_LENGTH,
					   FALSE,
					   error) &&
	       applink_daemon_check_string(request->password,
					   "the Jira password",
					   APPLINK_MAX_SECRET_LENGTH,
					   FALSE,
					   error);
}

static gboolean
applink_sites_check_options(ApplinkSiteRequest *request, GError **error)
{
	if (request->name != NULL && !applink_url_site_id_is_valid(request->name)) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_INVALID_ARGUMENT,
			    "the site name '%s' is invalid: use up to 64 letters, digits, '.', '-' "
			    "or '_', starting with a letter or digit",
			    request->name);
		return FALSE;
	}
	if (request->link_type != NULL && !applink_url_site_id_is_valid(request->link_type)) {
		g_set_error(
			error,
			APPLINK_ERROR,
			APPLINK_ERROR_INVALID_ARGUMENT,
			"the link type '%s' is invalid: use the application type id Jira shows, "
			"e.g. 'salesforce'",
			request->link_type);
		return FALSE;
	}
	if (request->ca_file != NULL) {
		if (!g_path_is_absolute(request->ca_file)) {
			g_set_error(error,
				    APPLINK_ERROR,
				    APPLINK_ERROR_INVALID_ARGUMENT,
				    "the CA file '%s' must be an absolute path",
				    request->ca_file);
			return FALSE;
		}
		if (!g_file_test(request->ca_file, G_FILE_TEST_IS_REGULAR)) {
			g_set_error(error,
				    APPLINK_ERROR,
				    APPLINK_ERROR_INVALID_ARGUMENT,
				    "the CA file '%s' does not exist or is not a regular file",
				    request->ca_file);
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean
applink_sites_parse_request(GVariant *parameters, ApplinkSiteRequest *request, GError **error)
{
	const gchar *url;
	g_autoptr(GVariant) credentials = NULL;
	g_autoptr(GVariant) options = NULL;
	const ApplinkDictKey credential_keys[] = {
		{"token", "s", &request->token, TRUE},
		{"username", "s", &request->username},
		{"password", "s", &request->password, TRUE},
	};
	const ApplinkDictKey option_keys[] = {
		{"name", "s", &request->name},
		{"ca-file", "s", &request->ca_file},
		{"link-type", "s", &request->link_type},
	};

	g_variant_get(parameters, "(&s@a{sv}@a{sv})", &url, &credentials, &options);
	request->url = applink_url_normalize_jira(url, error);
	if (request->url == NULL)
		return FALSE;
	if (!applink_daemon_parse_dict(credentials,
				       "credentials",
				       credential_keys,
				       G_N_ELEMENTS(credential_keys),
				       error) ||
	    !applink_daemon_parse_dict(
		    options, "options", option_keys, G_N_ELEMENTS(option_keys), error))
		return FALSE;
	return applink_sites_check_credentials(request, error) &&
	       applink_sites_check_options(request, error);
}

static ApplinkSite *
applink_sites_new_site(ApplinkCall *call, ApplinkSiteRequest *request, GError **error)
{
	g_autoptr(ApplinkSite) site = g_new0(ApplinkSite, 1);

	site->ref_count = 1;
	g_mutex_init(&site->lock);
	g_mutex_init(&site->create_lock);
	site->id = request->name != NULL ? g_strdup(request->name)
					 : applink_url_site_id_from_url(request->url);
	site->url = g_strdup(request->url);
	site->auth = g_strdup(request->token != NULL ? "token" : "basic");
	site->username = g_strdup(request->username);
	site->ca_file = g_strdup(request->ca_file);
	site->link_type = g_strdup(request->link_type != NULL ? request->link_type : "salesforce");
	site->http = applink_daemon_create_http(call->daemon, TRUE, site->ca_file, error);
	if (site->http == NULL)
		return NULL;
	return g_steal_pointer(&site);
}

static gboolean
applink_sites_save(ApplinkSite *site, GError **error)
{
	const gchar *pairs[] = {
		"url",
		site->url,
		"auth",
		site->auth,
		"username",
		site->username,
		"jira-version",
		site->jira_version,
		"link-type",
		site->link_type,
		site->ca_file != NULL ? "ca-file" : NULL,
		site->ca_file,
		NULL,
	};

	return applink_settings_set_site(site->id, pairs, error);
}

/* Deletes the credential just stored for the new site @id, whose settings could not be
 * written, so that the failed AddSite leaves nothing behind. */
static void
applink_sites_delete_unsaved(const gchar *id)
{
	g_autoptr(GError) error = NULL;

	if (!applink_keyring_delete_site(id, NULL, &error))
		g_warning("site %s: cannot delete the credential of the site that was not added: "
			  "%s; remove it with 'applinkctl site remove %s'",
			  id,
			  error->message,
			  id);
}

/*
 * AddSite: verifies the credentials and the administrator right against Jira before
 * anything is stored, then stores the credential in the keyring and the site in the
 * settings. A site with an existing id is replaced.
 */
GVariant *
applink_sites_add(ApplinkCall *call, GError **error)
{
	g_auto(ApplinkSiteRequest) request = {0};
	g_autoptr(ApplinkSite) site = NULL;
	g_autoptr(ApplinkSecret) authorization = NULL;
	const gchar *secret;
	ApplinkJira jira = {0};
	gboolean existed;

	if (!applink_sites_parse_request(call->parameters, &request, error))
		return NULL;
	site = applink_sites_new_site(call, &request, error);
	if (site == NULL)
		return NULL;
	secret = request.token != NULL ? request.token : request.password;
	if (request.token != NULL)
		authorization = applink_secret_concat("Bearer ", request.token);
	else {
		g_autoptr(ApplinkSecret) pair =
			g_strdup_printf("%s:%s", request.username, request.password);
		g_autoptr(ApplinkSecret) encoded =
			g_base64_encode((const guchar *)pair, strlen(pair));

		authorization = applink_secret_concat("Basic ", encoded);
	}

	jira.http = site->http;
	jira.site = site->id;
	jira.base_url = site->url;
	jira.authorization = authorization;
	jira.cancellable = call->cancellable;
	g_clear_pointer(&site->username, g_free);
	if (!applink_jira_verify(&jira, &site->username, &site->jira_version, error))
		return NULL;

	/* The user name and version are stored in the settings file and returned by ListSites. A
	 * user name that is the one given is fine even if the password equals it (admin/admin). */
	if ((g_strcmp0(site->username, request.username) != 0 &&
	     applink_secret_appears_in(site->username)) ||
	    applink_secret_appears_in(site->jira_version)) {
		g_set_error(
			error,
			APPLINK_ERROR,
			APPLINK_ERROR_JIRA,
			"Jira at %s returned its user name or version with the credential in it, "
			"so the site was not added; check that the URL is the Jira site",
			site->url);
		return NULL;
	}
	existed = applink_settings_has_site(site->id);
	if (!applink_keyring_store_jira(site->id, site->url, site->username, secret, error))
		return NULL;
	if (!applink_sites_save(site, error)) {
		if (!existed)
			applink_sites_delete_unsaved(site->id);
		return NULL;
	}
	site->authorization = secret_value_new(authorization, -1, "text/plain");
	site->authorization_expiry =
		g_get_monotonic_time() + (gint64)APPLINK_CREDENTIAL_CACHE_SECONDS * G_USEC_PER_SEC;
	applink_daemon_put_site(call->daemon, site);
	g_message("site %s added: %s, Jira %s, user %s",
		  site->id,
		  site->url,
		  site->jira_version,
		  site->username);
	applink_daemon_emit_sites_changed(call->daemon);
	return g_variant_new("(s)", site->id);
}

/*
 * Deletes the keyring items of @id, a site that is not registered. An AddSite that timed out
 * in the keyring can leave its item behind, stored once the keyring responded. Keeps @error,
 * the site's NotFound, when there was no item.
 */
static GVariant *
applink_sites_remove_orphan(const gchar *id, GError **error)
{
	g_autoptr(GError) keyring_error = NULL;
	guint deleted = 0;

	if (!applink_url_site_id_is_valid(id))
		return NULL;
	if (!applink_keyring_delete_site(id, &deleted, &keyring_error)) {
		g_clear_error(error);
		g_propagate_error(error, g_steal_pointer(&keyring_error));
		return NULL;
	}
	if (deleted == 0)
		return NULL;
	g_clear_error(error);
	g_message("site %s: %u keyring items without a site deleted", id, deleted);
	return g_variant_new("()");
}

/* RemoveSite: deletes the site's keyring items first, so no credential outlives it. */
GVariant *
applink_sites_remove(ApplinkCall *call, GError **error)
{
	const gchar *id;
	g_autoptr(ApplinkSite) site = NULL;

	g_variant_get(call->parameters, "(&s)", &id);
	if (id[0] == '\0') {
		g_set_error_literal(error,
				    APPLINK_ERROR,
				    APPLINK_ERROR_INVALID_ARGUMENT,
				    "RemoveSite needs the id of the site to remove");
		return NULL;
	}
	site = applink_daemon_lookup_site(call->daemon, id, error);
	if (site == NULL && g_error_matches(*error, APPLINK_ERROR, APPLINK_ERROR_NOT_FOUND))
		return applink_sites_remove_orphan(id, error);
	if (site == NULL)
		return NULL;
	if (!applink_keyring_delete_site(site->id, NULL, error))
		return NULL;
	if (!applink_settings_remove_site(site->id, error))
		return NULL;
	applink_daemon_remove_site(call->daemon, site->id);
	g_message("site %s removed", site->id);
	applink_daemon_emit_sites_changed(call->daemon);
	return g_variant_new("()");
}

static GVariant *
applink_sites_to_variant(ApplinkSite *site)
{
	GVariantBuilder builder;

	g_variant_builder_init(&builder, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&builder, "{sv}", "id", g_variant_new_string(site->id));
	g_variant_builder_add(&builder, "{sv}", "url", g_variant_new_string(site->url));
	g_variant_builder_add(&builder, "{sv}", "auth", g_variant_new_string(site->auth));
	g_variant_builder_add(&builder,
			      "{sv}",
			      "username",
			      g_variant_new_string(site->username != NULL ? site->username : ""));
	g_variant_builder_add(
		&builder,
		"{sv}",
		"jira-version",
		g_variant_new_string(site->jira_version != NULL ? site->jira_version : ""));
	g_variant_builder_add(&builder,
			      "{sv}",
			      "ca-file",
			      g_variant_new_string(site->ca_file != NULL ? site->ca_file : ""));
	g_variant_builder_add(&builder, "{sv}", "link-type", g_variant_new_string(site->link_type));
	return g_variant_builder_end(&builder);
}

GVariant *
applink_sites_list(ApplinkCall *call, GError **error)
{
	g_autoptr(GPtrArray) sites = applink_daemon_list_sites(call->daemon);
	GVariantBuilder builder;

	(void)error;
	g_variant_builder_init(&builder, G_VARIANT_TYPE("aa{sv}"));
	for (guint i = 0; i < sites->len; i++)
		g_variant_builder_add_value(&builder,
					    applink_sites_to_variant(g_ptr_array_index(sites, i)));
	return g_variant_new("(aa{sv})", &builder);
}

/* Fills @jira for one call on @site; @authorization receives the header value to free. */
gboolean
applink_site_open_jira(ApplinkCall *call,
		       ApplinkSite *site,
		       ApplinkJira *jira,
		       SecretValue **authorization,
		       GError **error)
{
	*authorization = applink_daemon_get_authorization(call->daemon, site, error);
	if (*authorization == NULL)
		return FALSE;
	jira->http = site->http;
	jira->site = site->id;
	jira->base_url = site->url;
	jira->authorization = secret_value_get_text(*authorization);
	jira->cancellable = call->cancellable;
	return TRUE;
}

/* Opens the site of a (site, link) call and finds the link by id or exact name. */
ApplinkJiraLink *
applink_site_open_link(ApplinkCall *call,
		       ApplinkSite **site,
		       ApplinkJira *jira,
		       SecretValue **authorization,
		       GError **error)
{
	const gchar *site_id;
	const gchar *link_id;

	g_variant_get_child(call->parameters, 0, "&s", &site_id);
	g_variant_get_child(call->parameters, 1, "&s", &link_id);
	if (!applink_daemon_check_string(
		    link_id, "the link id or name", APPLINK_MAX_NAME_LENGTH, FALSE, error))
		return NULL;
	*site = applink_daemon_lookup_site(call->daemon, site_id, error);
	if (*site == NULL || !applink_site_open_jira(call, *site, jira, authorization, error))
		return NULL;
	return applink_jira_find_link(jira, link_id, error);
}

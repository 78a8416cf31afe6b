/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "applink-daemon-private.h"

#include "applink-keyring.h"
#include "applink-settings.h"
#include "applink-url.h"

/* Returns TRUE when @a and @b name the same Salesforce org after normalisation. */
static gboolean
applink_links_same_url(const gchar *a, const gchar *b)
{
	g_autoptr(ApplinkSalesforceUrl) url_a = NULL;
	g_autoptr(ApplinkSalesforceUrl) url_b = NULL;

	if (a == NULL || b == NULL)
		return FALSE;
	url_a = applink_url_parse_salesforce(a, NULL);
	url_b = applink_url_parse_salesforce(b, NULL);
	if (url_a == NULL || url_b == NULL)
		return g_ascii_strcasecmp(a, b) == 0;
	return g_strcmp0(url_a->url, url_b->url) == 0;
}

/* Builds the GetLink dictionary of @link, whose provider state Jira gave as @configured. */
static GVariant *
applink_links_build_variant(const gchar *site,
			    const ApplinkJiraLink *link,
			    gboolean configured,
			    const gchar *requested_name)
{
	GVariantBuilder builder;

	g_variant_builder_init(&builder, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&builder, "{sv}", "id", g_variant_new_string(link->id));
	g_variant_builder_add(&builder, "{sv}", "name", g_variant_new_string(link->name));
	g_variant_builder_add(&builder, "{sv}", "type", g_variant_new_string(link->type_id));
	g_variant_builder_add(&builder, "{sv}", "url", g_variant_new_string(link->display_url));
	g_variant_builder_add(&builder,
			      "{sv}",
			      "rpc-url",
			      g_variant_new_string(link->rpc_url != NULL ? link->rpc_url : ""));
	g_variant_builder_add(&builder, "{sv}", "primary", g_variant_new_boolean(link->primary));
	g_variant_builder_add(&builder, "{sv}", "system", g_variant_new_boolean(link->system));
	g_variant_builder_add(&builder,
			      "{sv}",
			      "outgoing-auth",
			      g_variant_new_string(configured ? "configured" : "not-configured"));
	if (requested_name != NULL && g_strcmp0(requested_name, link->name) != 0)
		g_variant_builder_add(
			&builder, "{sv}", "requested-name", g_variant_new_string(requested_name));
	applink_outgoing_auth_add_stored_fields(&builder, site, link->id);
	return g_variant_builder_end(&builder);
}

static GVariant *
applink_links_to_variant(const ApplinkJira *jira,
			 const gchar *site,
			 const ApplinkJiraLink *link,
			 const gchar *requested_name,
			 GError **error)
{
	gboolean configured = FALSE;

	if (!applink_jira_get_basic_auth(jira, link->id, &configured, NULL, NULL, error))
		return NULL;
	return applink_links_build_variant(site, link, configured, requested_name);
}

static ApplinkJiraLink *
applink_links_find_by_url(GPtrArray *links, const gchar *url);

/* Adds the id of the link that, according to Jira, already points at @url. */
static gboolean
applink_links_add_existing(const ApplinkJira *jira,
			   const gchar *url,
			   GVariantBuilder *builder,
			   GError **error)
{
	g_autoptr(GPtrArray) links = applink_jira_list_links(jira, error);
	g_autoptr(ApplinkJiraLink) existing = NULL;

	if (links == NULL)
		return FALSE;
	existing = applink_links_find_by_url(links, url);
	if (existing != NULL)
		g_variant_builder_add(
			builder, "{sv}", "existing-link", g_variant_new_string(existing->id));
	return TRUE;
}

/* ProbeUrl: classifies a Salesforce URL offline, and queries Jira about it when a site is given. */
GVariant *
applink_links_probe_url(ApplinkCall *call, GError **error)
{
	const gchar *input;
	g_autoptr(GVariant) options = NULL;
	g_autofree gchar *site_id = NULL;
	g_autoptr(ApplinkSalesforceUrl) url = NULL;
	GVariantBuilder builder;
	const ApplinkDictKey keys[] = {{"site", "s", &site_id}};

	g_variant_get(call->parameters, "(&s@a{sv})", &input, &options);
	if (!applink_daemon_parse_dict(options, "options", keys, G_N_ELEMENTS(keys), error))
		return NULL;
	url = applink_url_parse_salesforce(input, error);
	if (url == NULL)
		return NULL;

	g_variant_builder_init(&builder, G_VARIANT_TYPE_VARDICT);
	g_variant_builder_add(&builder, "{sv}", "url", g_variant_new_string(url->url));
	g_variant_builder_add(&builder, "{sv}", "kind", g_variant_new_string(url->kind));
	g_variant_builder_add(&builder, "{sv}", "sandbox", g_variant_new_boolean(url->sandbox));
	g_variant_builder_add(&builder, "{sv}", "login-url", g_variant_new_string(url->login_url));
	if (url->rewritten_from != NULL)
		g_variant_builder_add(&builder,
				      "{sv}",
				      "rewritten-from",
				      g_variant_new_string(url->rewritten_from));
	if (site_id != NULL) {
		g_autoptr(ApplinkSite) site =
			applink_daemon_lookup_site(call->daemon, site_id, error);
		g_autoptr(SecretValue) authorization = NULL;
		g_auto(ApplinkJiraUrlCheck) check = {0};
		ApplinkJira jira = {0};

		if (site == NULL ||
		    !applink_site_open_jira(call, site, &jira, &authorization, error) ||
		    !applink_jira_check_url(&jira, url->url, &check, error)) {
			g_variant_builder_clear(&builder);
			return NULL;
		}
		g_variant_builder_add(
			&builder,
			"{sv}",
			"jira-status",
			g_variant_new_string(applink_jira_url_status_to_string(check.status)));
		if (check.redirected_to != NULL)
			g_variant_builder_add(&builder,
					      "{sv}",
					      "redirected-to",
					      g_variant_new_string(check.redirected_to));
		if (check.message != NULL)
			g_variant_builder_add(&builder,
					      "{sv}",
					      "jira-message",
					      g_variant_new_string(check.message));
		if (check.status == APPLINK_JIRA_URL_ALREADY_LINKED &&
		    !applink_links_add_existing(&jira, url->url, &builder, error)) {
			g_variant_builder_clear(&builder);
			return NULL;
		}
	}
	return g_variant_new("(a{sv})", &builder);
}

/* Applies Jira's verdict on the URL; only OK and an unknown host let creation go on. */
static gboolean
applink_links_apply_url_check(const ApplinkJira *jira,
			      const ApplinkSalesforceUrl *url,
			      const ApplinkJiraUrlCheck *check,
			      GError **error)
{
	switch (check->status) {
	case APPLINK_JIRA_URL_REDIRECTED:
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_URL_REDIRECTED,
			    "Jira at %s sees %s redirect to %s; create the link with that URL, or "
			    "pass --no-check to keep %s",
			    jira->base_url,
			    url->url,
			    check->redirected_to != NULL ? check->redirected_to : "another address",
			    url->url);
		return FALSE;
	case APPLINK_JIRA_URL_ALREADY_LINKED:
		g_set_error(
			error,
			APPLINK_ERROR,
			APPLINK_ERROR_ALREADY_EXISTS,
			"Jira at %s already has an application link to %s (%s); see 'applinkctl "
			"link list'",
			jira->base_url,
			url->url,
			check->message != NULL ? check->message : "HTTP 409");
		return FALSE;
	case APPLINK_JIRA_URL_IS_SELF:
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_INVALID_URL,
			    "%s is the URL of Jira itself (%s); give the Salesforce URL",
			    url->url,
			    jira->base_url);
		return FALSE;
	case APPLINK_JIRA_URL_BLOCKED:
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_JIRA_HOST_BLOCKED,
			    "Jira at %s refuses to link to %s because it is a loopback, link-local "
			    "or Jira's own address (%s); Jira allows such hosts only when it runs "
			    "with -Dapplinks.allow.all.hosts=true",
			    jira->base_url,
			    url->url,
			    check->message != NULL ? check->message : "HTTP 403");
		return FALSE;
	case APPLINK_JIRA_URL_UNKNOWN_HOST:
		g_message("site %s: Jira cannot resolve the host of %s; creating the link anyway",
			  jira->site,
			  url->url);
		return TRUE;
	case APPLINK_JIRA_URL_OK:
	default:
		return TRUE;
	}
}

static ApplinkJiraLink *
applink_links_find_by_url(GPtrArray *links, const gchar *url)
{
	for (guint i = 0; i < links->len; i++) {
		ApplinkJiraLink *link = g_ptr_array_index(links, i);

		if (applink_links_same_url(link->rpc_url, url) ||
		    applink_links_same_url(link->display_url, url))
			return g_ptr_array_steal_index(links, i);
	}
	return NULL;
}

/* The arguments of CreateLink after checking. */
typedef struct {
	ApplinkSalesforceUrl *url;
	const gchar *name;
	gchar *type;
	gboolean primary;
	gboolean check;
	gchar *if_exists;
} ApplinkLinkRequest;

static void
applink_link_request_clear(ApplinkLinkRequest *request)
{
	applink_salesforce_url_free(request->url);
	g_free(request->type);
	g_free(request->if_exists);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(ApplinkLinkRequest, applink_link_request_clear)

static gboolean
applink_links_parse_create(GVariant *parameters,
			   const gchar **site_id,
			   ApplinkLinkRequest *request,
			   GError **error)
{
	const gchar *input;
	g_autoptr(GVariant) options = NULL;
	const ApplinkDictKey keys[] = {
		{"type", "s", &request->type},
		{"primary", "b", &request->primary},
		{"check", "b", &request->check},
		{"if-exists", "s", &request->if_exists},
	};

	request->check = TRUE;
	g_variant_get(parameters, "(&s&s&s@a{sv})", site_id, &input, &request->name, &options);
	if (!applink_daemon_parse_dict(options, "options", keys, G_N_ELEMENTS(keys), error))
		return FALSE;
	if (request->if_exists != NULL && g_strcmp0(request->if_exists, "error") != 0 &&
	    g_strcmp0(request->if_exists, "return") != 0) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_INVALID_ARGUMENT,
			    "the option 'if-exists' must be 'error' or 'return', not '%s'",
			    request->if_exists);
		return FALSE;
	}
	if (!applink_daemon_check_string(
		    request->name, "the link name", APPLINK_MAX_NAME_LENGTH, FALSE, error) ||
	    (request->type != NULL &&
	     !applink_daemon_check_string(request->type, "the link type", 64, FALSE, error)))
		return FALSE;
	request->url = applink_url_parse_salesforce(input, error);
	return request->url != NULL;
}

/* Creates the link once the URL passed every check; the site's create lock is held. */
static GVariant *
applink_links_create_locked(ApplinkCall *call,
			    ApplinkSite *site,
			    const ApplinkJira *jira,
			    ApplinkLinkRequest *request,
			    GError **error)
{
	const gchar *type = request->type != NULL ? request->type : site->link_type;
	g_autoptr(GPtrArray) links = NULL;
	g_autoptr(ApplinkJiraLink) existing = NULL;
	g_autoptr(ApplinkJiraLink) created = NULL;
	g_auto(ApplinkJiraUrlCheck) check = {0};
	g_autofree gchar *id = NULL;
	GVariant *result;

	if (!applink_jira_check_type(jira, type, error))
		return NULL;
	links = applink_jira_list_links(jira, error);
	if (links == NULL)
		return NULL;
	existing = applink_links_find_by_url(links, request->url->url);
	if (existing != NULL && g_strcmp0(request->if_exists, "return") == 0) {
		result = applink_links_to_variant(jira, site->id, existing, NULL, error);
		return result != NULL ? g_variant_new("(@a{sv})", result) : NULL;
	}
	if (existing != NULL) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_ALREADY_EXISTS,
			    "Jira site '%s' already has link %s ('%s') to %s; use it, delete it "
			    "first, or pass --if-exists to get it back",
			    site->id,
			    existing->id,
			    existing->name,
			    request->url->url);
		return NULL;
	}
	if (request->check && (!applink_jira_check_url(jira, request->url->url, &check, error) ||
			       !applink_links_apply_url_check(jira, request->url, &check, error)))
		return NULL;

	id = applink_jira_create_link(
		jira, request->name, type, request->url->url, request->primary, error);
	if (id == NULL)
		return NULL;
	g_message("site %s: link %s created for %s", site->id, id, request->url->url);
	applink_daemon_emit_links_changed(call->daemon, site->id);
	created = applink_jira_get_link(jira, id, error);
	if (created == NULL) {
		g_prefix_error(error, "link %s was created, but reading it back failed: ", id);
		return NULL;
	}
	if (request->primary && !created->primary) {
		if (!applink_jira_make_primary(jira, id, error)) {
			g_prefix_error(
				error, "link %s was created, but making it primary failed: ", id);
			return NULL;
		}
		created->primary = TRUE;
	}
	result = applink_links_to_variant(jira, site->id, created, request->name, error);
	if (result == NULL) {
		g_prefix_error(error, "link %s was created, but reading it back failed: ", id);
		return NULL;
	}
	return g_variant_new("(@a{sv})", result);
}

/* CreateLink: one creation at a time per site, so two calls cannot link one URL twice. */
GVariant *
applink_links_create(ApplinkCall *call, GError **error)
{
	const gchar *site_id;
	g_auto(ApplinkLinkRequest) request = {0};
	g_autoptr(ApplinkSite) site = NULL;
	g_autoptr(SecretValue) authorization = NULL;
	ApplinkJira jira = {0};
	GVariant *result;

	if (!applink_links_parse_create(call->parameters, &site_id, &request, error))
		return NULL;
	site = applink_daemon_lookup_site(call->daemon, site_id, error);
	if (site == NULL || !applink_site_open_jira(call, site, &jira, &authorization, error))
		return NULL;
	g_mutex_lock(&site->create_lock);
	result = applink_links_create_locked(call, site, &jira, &request, error);
	g_mutex_unlock(&site->create_lock);
	return result;
}

/* ListLinks: the links of the site's type, with their providers read all at once. */
GVariant *
applink_links_list(ApplinkCall *call, GError **error)
{
	const gchar *site_id;
	g_autoptr(ApplinkSite) site = NULL;
	g_autoptr(SecretValue) authorization = NULL;
	g_autoptr(GPtrArray) links = NULL;
	g_autoptr(GPtrArray) selected = g_ptr_array_new();
	g_autofree gboolean *configured = NULL;
	ApplinkJira jira = {0};
	GVariantBuilder builder;

	g_variant_get(call->parameters, "(&s)", &site_id);
	site = applink_daemon_lookup_site(call->daemon, site_id, error);
	if (site == NULL || !applink_site_open_jira(call, site, &jira, &authorization, error))
		return NULL;
	links = applink_jira_list_links(&jira, error);
	if (links == NULL)
		return NULL;
	for (guint i = 0; i < links->len; i++) {
		ApplinkJiraLink *link = g_ptr_array_index(links, i);

		if (g_strcmp0(link->type_id, site->link_type) == 0)
			g_ptr_array_add(selected, link);
	}
	configured = g_new0(gboolean, MAX(selected->len, 1));
	if (!applink_jira_get_basic_auth_all(&jira, selected, configured, error))
		return NULL;

	g_variant_builder_init(&builder, G_VARIANT_TYPE("aa{sv}"));
	for (guint i = 0; i < selected->len; i++)
		g_variant_builder_add_value(
			&builder,
			applink_links_build_variant(
				site->id, g_ptr_array_index(selected, i), configured[i], NULL));
	return g_variant_new("(aa{sv})", &builder);
}

GVariant *
applink_links_get(ApplinkCall *call, GError **error)
{
	g_autoptr(ApplinkSite) site = NULL;
	g_autoptr(SecretValue) authorization = NULL;
	g_autoptr(ApplinkJiraLink) link = NULL;
	ApplinkJira jira = {0};
	GVariant *result;

	link = applink_site_open_link(call, &site, &jira, &authorization, error);
	if (link == NULL)
		return NULL;
	result = applink_links_to_variant(&jira, site->id, link, NULL, error);
	return result != NULL ? g_variant_new("(@a{sv})", result) : NULL;
}

GVariant *
applink_links_update(ApplinkCall *call, GError **error)
{
	g_autoptr(ApplinkSite) site = NULL;
	g_autoptr(SecretValue) authorization = NULL;
	g_autoptr(ApplinkJiraLink) link = NULL;
	g_autoptr(GVariant) changes = g_variant_get_child_value(call->parameters, 2);
	g_autofree gchar *name = NULL;
	g_autofree gchar *url = NULL;
	gboolean primary = FALSE;
	gboolean primary_given = FALSE;
	ApplinkJira jira = {0};
	const ApplinkDictKey keys[] = {
		{"name", "s", &name},
		{"primary", "b", &primary, FALSE, &primary_given},
		{"url", "s", &url},
	};

	if (!applink_daemon_parse_dict(changes, "changes", keys, G_N_ELEMENTS(keys), error))
		return NULL;
	if (url != NULL) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_INVALID_ARGUMENT,
			    "the URL of a link cannot be changed, as in Jira; delete the link and "
			    "create it again with the new URL ('applinkctl link delete' then "
			    "'applinkctl link create %s')",
			    url);
		return NULL;
	}
	if (primary_given && !primary) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_INVALID_ARGUMENT,
			    "a link stops being primary only when another link of its type is made "
			    "primary; make that link primary instead");
		return NULL;
	}
	if (name != NULL && !applink_daemon_check_string(
				    name, "the link name", APPLINK_MAX_NAME_LENGTH, FALSE, error))
		return NULL;

	link = applink_site_open_link(call, &site, &jira, &authorization, error);
	if (link == NULL)
		return NULL;
	if (name != NULL && g_strcmp0(name, link->name) != 0 &&
	    !applink_jira_rename_link(&jira, link, name, error))
		return NULL;
	if (primary && !link->primary && !applink_jira_make_primary(&jira, link->id, error))
		return NULL;
	g_message("site %s: link %s updated", site->id, link->id);
	applink_daemon_emit_links_changed(call->daemon, site->id);
	return g_variant_new("()");
}

/* DeleteLink: Jira first, then the keyring item, so a failure never leaves a link whose
 * credential is gone. */
GVariant *
applink_links_delete(ApplinkCall *call, GError **error)
{
	g_autoptr(ApplinkSite) site = NULL;
	g_autoptr(SecretValue) authorization = NULL;
	g_autoptr(ApplinkJiraLink) link = NULL;
	ApplinkJira jira = {0};
	GMutex *lock;
	gboolean ok;

	link = applink_site_open_link(call, &site, &jira, &authorization, error);
	if (link == NULL)
		return NULL;
	lock = applink_daemon_get_link_lock(call->daemon, site->id, link->id);
	g_mutex_lock(lock);
	/* Stops before Jira changes when the link's credential could not be deleted after. */
	ok = applink_keyring_check_unlocked("deleting the Salesforce credential", error) &&
	     applink_jira_delete_link(&jira, link->id, error);
	if (ok) {
		g_message("site %s: link %s deleted", site->id, link->id);
		applink_daemon_emit_links_changed(call->daemon, site->id);
		ok = applink_keyring_delete_salesforce(site->id, link->id, NULL, NULL, error) &&
		     applink_settings_remove_link(site->id, link->id, error);
		if (!ok)
			g_prefix_error(error,
				       "link %s was deleted in Jira, but its stored credential "
				       "was not: ",
				       link->id);
	}
	g_mutex_unlock(lock);
	return ok ? g_variant_new("()") : NULL;
}

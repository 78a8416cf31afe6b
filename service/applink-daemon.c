/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "applink-daemon-private.h"

#include <string.h>
#include <unistd.h>

#include "applink-keyring.h"
#include "applink-log.h"
#include "applink-settings.h"
#include "applink-url.h"

/* The maximum number of worker threads for calls that concern no site, and per site for calls
 * to its Jira and, apart, for calls that log in to Salesforce. Further calls wait in their
 * queue. Four per site matches libsoup's connections per host. */
#define APPLINK_MAX_WORKERS 16
#define APPLINK_WORKERS_PER_SITE 4

struct _ApplinkDaemon {
	GObject parent_instance;
	GMainLoop *loop;
	GMainContext *context;
	ApplinkDBusManager *skeleton;
	GThreadPool *pool;
	guint http_timeout;
	guint idle_timeout;
	guint idle_source;
	gint calls_in_flight; /* atomic */

	GMutex lock;		     /* guards the tables below */
	GHashTable *sites;	     /* id -> ApplinkSite */
	GHashTable *salesforce_http; /* login URL -> ApplinkHttp */
	GHashTable *link_locks;	     /* "site link" -> GMutex */
	GHashTable *caller_uids;     /* unique bus name -> uid, a small cache */
	GHashTable *site_pools;	     /* site id -> GThreadPool */
	GHashTable *login_pools;     /* site id -> GThreadPool for Salesforce logins */
	GPtrArray *active_calls;     /* ApplinkCall, the calls in flight */
};

G_DEFINE_TYPE(ApplinkDaemon, applink_daemon, G_TYPE_OBJECT)

ApplinkSite *
applink_site_ref(ApplinkSite *site)
{
	g_atomic_int_inc(&site->ref_count);
	return site;
}

void
applink_site_unref(ApplinkSite *site)
{
	if (site == NULL || !g_atomic_int_dec_and_test(&site->ref_count))
		return;
	g_free(site->id);
	g_free(site->url);
	g_free(site->auth);
	g_free(site->username);
	g_free(site->jira_version);
	g_free(site->ca_file);
	g_free(site->link_type);
	g_clear_object(&site->http);
	g_clear_pointer(&site->authorization, secret_value_unref);
	g_mutex_clear(&site->lock);
	g_mutex_clear(&site->create_lock);
	g_free(site);
}

static void
applink_link_lock_free(gpointer data)
{
	GMutex *mutex = data;

	g_mutex_clear(mutex);
	g_free(mutex);
}

/* Frees a worker pool after its queued calls have run. */
static void
applink_thread_pool_free(gpointer pool)
{
	g_thread_pool_free(pool, FALSE, TRUE);
}

static void
applink_daemon_finalize(GObject *object)
{
	ApplinkDaemon *self = APPLINK_DAEMON(object);

	if (self->pool != NULL)
		g_thread_pool_free(self->pool, FALSE, TRUE);
	g_clear_pointer(&self->site_pools, g_hash_table_unref);
	g_clear_pointer(&self->login_pools, g_hash_table_unref);
	if (self->idle_source != 0)
		g_source_remove(self->idle_source);
	g_clear_object(&self->skeleton);
	g_hash_table_unref(self->sites);
	g_hash_table_unref(self->salesforce_http);
	g_hash_table_unref(self->link_locks);
	g_hash_table_unref(self->caller_uids);
	g_ptr_array_unref(self->active_calls);
	g_mutex_clear(&self->lock);
	g_main_loop_unref(self->loop);
	g_main_context_unref(self->context);
	G_OBJECT_CLASS(applink_daemon_parent_class)->finalize(object);
}

static void
applink_daemon_class_init(ApplinkDaemonClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = applink_daemon_finalize;
}

static void
applink_daemon_init(ApplinkDaemon *self)
{
	g_mutex_init(&self->lock);
	self->sites = g_hash_table_new_full(
		g_str_hash, g_str_equal, g_free, (GDestroyNotify)applink_site_unref);
	self->salesforce_http =
		g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_object_unref);
	self->link_locks =
		g_hash_table_new_full(g_str_hash, g_str_equal, g_free, applink_link_lock_free);
	self->caller_uids = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	self->site_pools =
		g_hash_table_new_full(g_str_hash, g_str_equal, g_free, applink_thread_pool_free);
	self->login_pools =
		g_hash_table_new_full(g_str_hash, g_str_equal, g_free, applink_thread_pool_free);
	self->active_calls = g_ptr_array_new();
	self->context = g_main_context_ref_thread_default();
}

/* Idle exit. */

static gboolean
applink_daemon_idle_cb(gpointer user_data)
{
	ApplinkDaemon *self = user_data;

	self->idle_source = 0;
	if (g_atomic_int_get(&self->calls_in_flight) > 0)
		return G_SOURCE_REMOVE;
	g_message("no call for %u s, exiting", self->idle_timeout);
	g_main_loop_quit(self->loop);
	return G_SOURCE_REMOVE;
}

static void
applink_daemon_schedule_idle_exit(ApplinkDaemon *self)
{
	if (self->idle_timeout == 0)
		return;
	if (self->idle_source != 0)
		g_source_remove(self->idle_source);
	self->idle_source = g_timeout_add_seconds(self->idle_timeout, applink_daemon_idle_cb, self);
}

static gboolean
applink_daemon_call_finished_cb(gpointer user_data)
{
	ApplinkDaemon *self = user_data;

	if (g_atomic_int_get(&self->calls_in_flight) == 0)
		applink_daemon_schedule_idle_exit(self);
	g_object_unref(self);
	return G_SOURCE_REMOVE;
}

/* Calls. */

static void
applink_call_free(ApplinkCall *call)
{
	g_object_unref(call->invocation);
	g_variant_unref(call->parameters);
	g_object_unref(call->cancellable);
	g_free(call);
}

/* Makes sure every error that crosses the bus is an org.applink.Error. */
void
applink_daemon_normalize_error(GError **error)
{
	GError *original = *error;

	if (original->domain == APPLINK_ERROR)
		return;
	*error = g_error_new(APPLINK_ERROR,
			     g_error_matches(original, G_IO_ERROR, G_IO_ERROR_CANCELLED)
				     ? APPLINK_ERROR_CANCELLED
				     : APPLINK_ERROR_INVALID_ARGUMENT,
			     "%s",
			     original->message);
	g_error_free(original);
}

/* Where a call runs. */
typedef enum {
	APPLINK_JOB_QUICK, /* on the main context, because it blocks on nothing */
	APPLINK_JOB_JIRA,  /* in its site's pool, or the general pool when it names no site */
	APPLINK_JOB_LOGIN, /* in its site's pool for calls that log in to Salesforce */
} ApplinkJobKind;

typedef struct {
	ApplinkCallFunc func;
	ApplinkCall *call;
	gchar *site; /* routes the call to that site's pool, or NULL */
	ApplinkJobKind kind;
} ApplinkJob;

static void
applink_daemon_forget_credentials(ApplinkDaemon *self);

/* Unique names are never reused, so caching them is safe. The cache is emptied when full. */
#define APPLINK_MAX_CACHED_CALLERS 256

/*
 * Masks the secrets of the call in @error's message, which may quote a server's reply that
 * echoes them, replaces control characters and shortens the message to
 * APPLINK_ERROR_MESSAGE_MAX_CHARS characters by cutting its middle.
 */
static void
applink_daemon_clean_error_message(GError *error)
{
	g_autofree gchar *scrubbed = applink_secret_scrub(error->message);

	g_free(error->message);
	error->message =
		applink_text_make_printable_elided(scrubbed, APPLINK_ERROR_MESSAGE_MAX_CHARS);
}

/* Replies to the call of @job with @result or @error, and frees @job. */
static void
applink_daemon_finish_job(ApplinkDaemon *self, ApplinkJob *job, GVariant *result, GError *error)
{
	ApplinkCall *call = job->call;
	const gchar *method = g_dbus_method_invocation_get_method_name(call->invocation);

	if (result != NULL) {
		g_debug("%s done", method);
		g_dbus_method_invocation_return_value(call->invocation, result);
	} else {
		if (error == NULL)
			error = g_error_new(
				APPLINK_ERROR, APPLINK_ERROR_INVALID_ARGUMENT, "%s failed", method);
		applink_daemon_normalize_error(&error);
		applink_daemon_clean_error_message(error);
		/* The keyring may hold a newer credential than the one Jira just rejected. */
		if (g_error_matches(error, APPLINK_ERROR, APPLINK_ERROR_JIRA_AUTH_FAILED))
			applink_daemon_forget_credentials(self);
		g_message("%s failed: %s: %s",
			  method,
			  applink_error_to_name(error->code),
			  error->message);
		g_dbus_method_invocation_return_gerror(call->invocation, error);
		g_error_free(error);
	}
	g_mutex_lock(&self->lock);
	g_ptr_array_remove_fast(self->active_calls, call);
	g_mutex_unlock(&self->lock);
	applink_call_free(call);
	g_free(job->site);
	g_free(job);
	g_atomic_int_dec_and_test(&self->calls_in_flight);
	g_main_context_invoke(self->context, applink_daemon_call_finished_cb, g_object_ref(self));
}

static void
applink_daemon_run_job(gpointer data, gpointer user_data)
{
	ApplinkJob *job = data;
	GError *error = NULL;
	GVariant *result;

	applink_secret_forget_watched();
	result = job->func(job->call, &error);
	applink_daemon_finish_job(user_data, job, result, error);
	applink_secret_forget_watched();
}

/*
 * Returns the worker pool for a call of @kind to @site. Each registered site has its own pool
 * of APPLINK_WORKERS_PER_SITE threads, so calls waiting on a hanging Jira hold only that site's
 * workers and never delay calls for other sites. Calls that log in to Salesforce have another
 * such pool per site, so that a hanging Salesforce login host does not delay the calls that
 * only read Jira. Other calls share the general pool.
 */
static GThreadPool *
applink_daemon_get_pool(ApplinkDaemon *self, const gchar *site, ApplinkJobKind kind)
{
	GHashTable *pools = kind == APPLINK_JOB_LOGIN ? self->login_pools : self->site_pools;
	GThreadPool *pool = NULL;

	if (site == NULL)
		return self->pool;
	g_mutex_lock(&self->lock);
	if (site[0] == '\0' && g_hash_table_size(self->sites) == 1) {
		GHashTableIter iter;

		g_hash_table_iter_init(&iter, self->sites);
		g_hash_table_iter_next(&iter, (gpointer *)&site, NULL);
	}
	if (g_hash_table_contains(self->sites, site)) {
		pool = g_hash_table_lookup(pools, site);
		if (pool == NULL) {
			pool = g_thread_pool_new(applink_daemon_run_job,
						 self,
						 APPLINK_WORKERS_PER_SITE,
						 FALSE,
						 NULL);
			g_hash_table_insert(pools, g_strdup(site), pool);
		}
	}
	g_mutex_unlock(&self->lock);
	return pool != NULL ? pool : self->pool;
}

static void
applink_daemon_dispatch(ApplinkDaemon *self, ApplinkJob *job)
{
	if (job->kind == APPLINK_JOB_QUICK) {
		applink_daemon_run_job(job, self);
		return;
	}
	g_thread_pool_push(applink_daemon_get_pool(self, job->site, job->kind), job, NULL);
}

static gboolean
applink_daemon_accept_uid(ApplinkDaemon *self, ApplinkJob *job, guint32 uid)
{
	const gchar *sender = g_dbus_method_invocation_get_sender(job->call->invocation);

	if (uid == getuid())
		return TRUE;
	g_warning("refused a call from %s, which runs as uid %u, not %u",
		  sender,
		  uid,
		  (guint)getuid());
	applink_daemon_finish_job(
		self,
		job,
		NULL,
		g_error_new(APPLINK_ERROR,
			    APPLINK_ERROR_ACCESS_DENIED,
			    "applinkd serves only uid %u; the caller runs as uid %u",
			    (guint)getuid(),
			    uid));
	return FALSE;
}

static void
applink_daemon_caller_uid_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	ApplinkJob *job = user_data;
	ApplinkDaemon *self = job->call->daemon;
	const gchar *sender = g_dbus_method_invocation_get_sender(job->call->invocation);
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GError) error = NULL;
	guint32 uid = 0;

	reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, &error);
	if (reply == NULL) {
		applink_daemon_finish_job(self,
					  job,
					  NULL,
					  g_error_new(APPLINK_ERROR,
						      APPLINK_ERROR_ACCESS_DENIED,
						      "cannot tell which user %s is (%s), so the "
						      "call is rejected",
						      sender,
						      error->message));
		return;
	}
	g_variant_get(reply, "(u)", &uid);
	g_mutex_lock(&self->lock);
	if (g_hash_table_size(self->caller_uids) >= APPLINK_MAX_CACHED_CALLERS)
		g_hash_table_remove_all(self->caller_uids);
	g_hash_table_insert(self->caller_uids, g_strdup(sender), GUINT_TO_POINTER(uid + 1));
	g_mutex_unlock(&self->lock);
	if (applink_daemon_accept_uid(self, job, uid))
		applink_daemon_dispatch(self, job);
}

/*
 * Rejects calls from other users, then dispatches the call. The session bus normally admits
 * only its owner, but a bus opened to others by its configuration must not hand them this
 * user's credentials. The bus tells the caller's uid; the question is asked asynchronously,
 * so the main loop never waits for it.
 */
static void
applink_daemon_check_caller(ApplinkDaemon *self, ApplinkJob *job)
{
	GDBusMethodInvocation *invocation = job->call->invocation;
	const gchar *sender = g_dbus_method_invocation_get_sender(invocation);
	gpointer cached;

	if (sender == NULL) {
		applink_daemon_dispatch(self, job);
		return;
	}
	g_mutex_lock(&self->lock);
	cached = g_hash_table_lookup(self->caller_uids, sender);
	g_mutex_unlock(&self->lock);
	if (cached != NULL) {
		if (applink_daemon_accept_uid(self, job, GPOINTER_TO_UINT(cached) - 1))
			applink_daemon_dispatch(self, job);
		return;
	}
	g_dbus_connection_call(g_dbus_method_invocation_get_connection(invocation),
			       "org.freedesktop.DBus",
			       "/org/freedesktop/DBus",
			       "org.freedesktop.DBus",
			       "GetConnectionUnixUser",
			       g_variant_new("(s)", sender),
			       G_VARIANT_TYPE("(u)"),
			       G_DBUS_CALL_FLAGS_NONE,
			       5000,
			       NULL,
			       applink_daemon_caller_uid_cb,
			       job);
}

static gboolean
applink_daemon_queue_full(ApplinkDaemon *self,
			  GDBusMethodInvocation *invocation,
			  ApplinkCallFunc func,
			  const gchar *site,
			  ApplinkJobKind kind)
{
	ApplinkJob *job = g_new0(ApplinkJob, 1);

	job->func = func;
	job->site = g_strdup(site);
	job->kind = kind;
	job->call = g_new0(ApplinkCall, 1);
	job->call->daemon = self;
	job->call->invocation = g_object_ref(invocation);
	job->call->parameters = g_variant_ref(g_dbus_method_invocation_get_parameters(invocation));
	job->call->cancellable = g_cancellable_new();
	g_mutex_lock(&self->lock);
	g_ptr_array_add(self->active_calls, job->call);
	g_mutex_unlock(&self->lock);
	g_atomic_int_inc(&self->calls_in_flight);
	if (self->idle_source != 0) {
		g_source_remove(self->idle_source);
		self->idle_source = 0;
	}
	g_debug("%s from %s",
		g_dbus_method_invocation_get_method_name(invocation),
		g_dbus_method_invocation_get_sender(invocation));
	applink_daemon_check_caller(self, job);
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* Hands a call for @site (NULL when it concerns no site) to a worker. */
static gboolean
applink_daemon_queue(ApplinkDaemon *self,
		     GDBusMethodInvocation *invocation,
		     ApplinkCallFunc func,
		     const gchar *site)
{
	return applink_daemon_queue_full(self, invocation, func, site, APPLINK_JOB_JIRA);
}

/* D-Bus handlers: each hands its call to a worker. */

static gboolean
handle_add_site(ApplinkDBusManager *object,
		GDBusMethodInvocation *invocation,
		const gchar *url,
		GVariant *credentials,
		GVariant *options,
		gpointer user_data)
{
	(void)object, (void)url, (void)credentials, (void)options;
	return applink_daemon_queue(user_data, invocation, applink_sites_add, NULL);
}

static gboolean
handle_remove_site(ApplinkDBusManager *object,
		   GDBusMethodInvocation *invocation,
		   const gchar *site,
		   gpointer user_data)
{
	(void)object, (void)site;
	return applink_daemon_queue(user_data, invocation, applink_sites_remove, NULL);
}

static gboolean
handle_list_sites(ApplinkDBusManager *object, GDBusMethodInvocation *invocation, gpointer user_data)
{
	(void)object;
	/* ListSites reads only the daemon's memory, so it runs on the main context. */
	return applink_daemon_queue_full(
		user_data, invocation, applink_sites_list, NULL, APPLINK_JOB_QUICK);
}

static gboolean
handle_probe_url(ApplinkDBusManager *object,
		 GDBusMethodInvocation *invocation,
		 const gchar *url,
		 GVariant *options,
		 gpointer user_data)
{
	const gchar *site = NULL;

	(void)object, (void)url;
	g_variant_lookup(options, "site", "&s", &site);
	return applink_daemon_queue(user_data, invocation, applink_links_probe_url, site);
}

static gboolean
handle_create_link(ApplinkDBusManager *object,
		   GDBusMethodInvocation *invocation,
		   const gchar *site,
		   const gchar *url,
		   const gchar *name,
		   GVariant *options,
		   gpointer user_data)
{
	(void)object, (void)url, (void)name, (void)options;
	return applink_daemon_queue(user_data, invocation, applink_links_create, site);
}

static gboolean
handle_list_links(ApplinkDBusManager *object,
		  GDBusMethodInvocation *invocation,
		  const gchar *site,
		  gpointer user_data)
{
	(void)object;
	return applink_daemon_queue(user_data, invocation, applink_links_list, site);
}

/* GetLink, DeleteLink and the outgoing-authentication getters share one signature. */
static gboolean
handle_link_call(ApplinkDBusManager *object,
		 GDBusMethodInvocation *invocation,
		 const gchar *site,
		 const gchar *link,
		 gpointer user_data)
{
	const gchar *method = g_dbus_method_invocation_get_method_name(invocation);
	ApplinkCallFunc func = applink_links_get;
	ApplinkJobKind kind = APPLINK_JOB_JIRA;

	(void)object, (void)link;
	if (g_strcmp0(method, "DeleteLink") == 0) {
		func = applink_links_delete;
	} else if (g_strcmp0(method, "GetOutgoingAuth") == 0) {
		func = applink_outgoing_auth_get;
	} else if (g_strcmp0(method, "TestOutgoingAuth") == 0) {
		func = applink_outgoing_auth_test;
		kind = APPLINK_JOB_LOGIN;
	} else if (g_strcmp0(method, "ClearOutgoingAuth") == 0) {
		func = applink_outgoing_auth_clear;
	}
	return applink_daemon_queue_full(user_data, invocation, func, site, kind);
}

static gboolean
handle_update_link(ApplinkDBusManager *object,
		   GDBusMethodInvocation *invocation,
		   const gchar *site,
		   const gchar *link,
		   GVariant *changes,
		   gpointer user_data)
{
	(void)object, (void)link, (void)changes;
	return applink_daemon_queue(user_data, invocation, applink_links_update, site);
}

static gboolean
handle_set_outgoing_auth(ApplinkDBusManager *object,
			 GDBusMethodInvocation *invocation,
			 const gchar *site,
			 const gchar *link,
			 GVariant *credentials,
			 GVariant *options,
			 gpointer user_data)
{
	(void)object, (void)link, (void)credentials, (void)options;
	return applink_daemon_queue_full(
		user_data, invocation, applink_outgoing_auth_set, site, APPLINK_JOB_LOGIN);
}

/* Sites. */

static ApplinkSite *
applink_daemon_load_site(ApplinkDaemon *self, const gchar *id, GError **error)
{
	g_autoptr(ApplinkSite) site = g_new0(ApplinkSite, 1);

	site->ref_count = 1;
	g_mutex_init(&site->lock);
	g_mutex_init(&site->create_lock);
	site->id = g_strdup(id);
	site->url = applink_settings_get_site(id, "url");
	site->auth = applink_settings_get_site(id, "auth");
	site->username = applink_settings_get_site(id, "username");
	site->jira_version = applink_settings_get_site(id, "jira-version");
	site->ca_file = applink_settings_get_site(id, "ca-file");
	site->link_type = applink_settings_get_site(id, "link-type");
	if (site->url == NULL || site->auth == NULL) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_INVALID_ARGUMENT,
			    "site '%s' in %s lacks its url or auth; add the site again",
			    id,
			    applink_settings_get_path());
		return NULL;
	}
	if (site->link_type == NULL)
		site->link_type = g_strdup("salesforce");
	site->http = applink_http_new(self->http_timeout, TRUE, site->ca_file, error);
	if (site->http == NULL)
		return NULL;
	return g_steal_pointer(&site);
}

static void
applink_daemon_load_sites(ApplinkDaemon *self)
{
	g_auto(GStrv) ids = applink_settings_list_sites();

	for (gsize i = 0; ids[i] != NULL; i++) {
		g_autoptr(GError) error = NULL;
		ApplinkSite *site = applink_daemon_load_site(self, ids[i], &error);

		if (site == NULL) {
			g_warning("cannot load site %s: %s", ids[i], error->message);
			continue;
		}
		g_hash_table_replace(self->sites, g_strdup(site->id), site);
	}
}

/* Returns the only registered site, or NULL with @error set when there are none or several. */
static ApplinkSite *
applink_daemon_lookup_only_site(ApplinkDaemon *self, GError **error)
{
	g_autoptr(GPtrArray) sites = applink_daemon_list_sites(self);
	g_autoptr(GString) ids = g_string_new(NULL);

	if (sites->len == 1)
		return applink_site_ref(g_ptr_array_index(sites, 0));
	if (sites->len == 0) {
		g_set_error_literal(
			error,
			APPLINK_ERROR,
			APPLINK_ERROR_NOT_FOUND,
			"no Jira site registered: add one with 'applinkctl site add URL'");
		return NULL;
	}
	for (guint i = 0; i < sites->len; i++) {
		ApplinkSite *site = g_ptr_array_index(sites, i);

		g_string_append_printf(ids, "%s%s", i > 0 ? ", " : "", site->id);
	}
	g_set_error(error,
		    APPLINK_ERROR,
		    APPLINK_ERROR_INVALID_ARGUMENT,
		    "%u Jira sites are registered (%s): choose one with --site SITE",
		    sites->len,
		    ids->str);
	return NULL;
}

/* Returns the site @id, or the only registered site when @id is empty. */
ApplinkSite *
applink_daemon_lookup_site(ApplinkDaemon *self, const gchar *id, GError **error)
{
	ApplinkSite *site;

	if (id[0] == '\0')
		return applink_daemon_lookup_only_site(self, error);
	if (!applink_daemon_check_string(
		    id, "the site id", APPLINK_URL_MAX_SITE_ID_LENGTH, FALSE, error))
		return NULL;
	g_mutex_lock(&self->lock);
	site = g_hash_table_lookup(self->sites, id);
	if (site != NULL)
		applink_site_ref(site);
	g_mutex_unlock(&self->lock);
	if (site == NULL)
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_NOT_FOUND,
			    "no Jira site '%s'; list the sites with 'applinkctl site list' or add "
			    "one with 'applinkctl site add URL'",
			    id);
	return site;
}

static gint
applink_daemon_compare_sites(gconstpointer a, gconstpointer b)
{
	const ApplinkSite *site_a = *(ApplinkSite *const *)a;
	const ApplinkSite *site_b = *(ApplinkSite *const *)b;

	return g_strcmp0(site_a->id, site_b->id);
}

GPtrArray *
applink_daemon_list_sites(ApplinkDaemon *self)
{
	GPtrArray *sites = g_ptr_array_new_with_free_func((GDestroyNotify)applink_site_unref);
	GHashTableIter iter;
	gpointer value;

	g_mutex_lock(&self->lock);
	g_hash_table_iter_init(&iter, self->sites);
	while (g_hash_table_iter_next(&iter, NULL, &value))
		g_ptr_array_add(sites, applink_site_ref(value));
	g_mutex_unlock(&self->lock);
	g_ptr_array_sort(sites, applink_daemon_compare_sites);
	return sites;
}

void
applink_daemon_put_site(ApplinkDaemon *self, ApplinkSite *site)
{
	g_mutex_lock(&self->lock);
	g_hash_table_replace(self->sites, g_strdup(site->id), applink_site_ref(site));
	g_mutex_unlock(&self->lock);
}

void
applink_daemon_remove_site(ApplinkDaemon *self, const gchar *id)
{
	g_mutex_lock(&self->lock);
	g_hash_table_remove(self->sites, id);
	g_mutex_unlock(&self->lock);
}

/* HTTP clients are created on the main context, where libsoup wants sessions configured. */

typedef struct {
	ApplinkDaemon *daemon;
	gboolean for_site;
	const gchar *ca_file;
	ApplinkHttp *http;
	GError *error;
	gboolean done;
	GMutex mutex;
	GCond cond;
} ApplinkHttpCreation;

static gboolean
applink_daemon_create_http_cb(gpointer user_data)
{
	ApplinkHttpCreation *creation = user_data;

	g_mutex_lock(&creation->mutex);
	creation->http = applink_http_new(creation->daemon->http_timeout,
					  creation->for_site,
					  creation->ca_file,
					  &creation->error);
	creation->done = TRUE;
	g_cond_signal(&creation->cond);
	g_mutex_unlock(&creation->mutex);
	return G_SOURCE_REMOVE;
}

ApplinkHttp *
applink_daemon_create_http(ApplinkDaemon *self,
			   gboolean for_site,
			   const gchar *ca_file,
			   GError **error)
{
	ApplinkHttpCreation creation = {.daemon = self, .for_site = for_site, .ca_file = ca_file};

	g_mutex_init(&creation.mutex);
	g_cond_init(&creation.cond);
	g_main_context_invoke(self->context, applink_daemon_create_http_cb, &creation);
	g_mutex_lock(&creation.mutex);
	while (!creation.done)
		g_cond_wait(&creation.cond, &creation.mutex);
	g_mutex_unlock(&creation.mutex);
	g_mutex_clear(&creation.mutex);
	g_cond_clear(&creation.cond);
	if (creation.error != NULL)
		g_propagate_error(error, creation.error);
	return creation.http;
}

/* Returns the HTTP client for one Salesforce login host, shared by all calls. */
ApplinkHttp *
applink_daemon_get_salesforce_http(ApplinkDaemon *self, const gchar *login_url, GError **error)
{
	ApplinkHttp *http;

	g_mutex_lock(&self->lock);
	http = g_hash_table_lookup(self->salesforce_http, login_url);
	if (http != NULL)
		g_object_ref(http);
	g_mutex_unlock(&self->lock);
	if (http != NULL)
		return http;

	http = applink_daemon_create_http(self, FALSE, NULL, error);
	if (http == NULL)
		return NULL;
	g_mutex_lock(&self->lock);
	g_hash_table_replace(self->salesforce_http, g_strdup(login_url), g_object_ref(http));
	g_mutex_unlock(&self->lock);
	return http;
}

/* Builds the Authorization header value of a site from its keyring item. */
static ApplinkSecret *
applink_daemon_build_authorization(ApplinkSite *site, const gchar *secret)
{
	g_autoptr(ApplinkSecret) pair = NULL;
	g_autofree gchar *encoded = NULL;
	ApplinkSecret *header;

	if (g_strcmp0(site->auth, "token") == 0)
		return applink_secret_concat("Bearer ", secret);
	pair = g_strdup_printf("%s:%s", site->username, secret);
	encoded = g_base64_encode((const guchar *)pair, strlen(pair));
	header = applink_secret_concat("Basic ", encoded);
	explicit_bzero(encoded, strlen(encoded));
	return header;
}

/*
 * Returns the site's Authorization header value. The keyring is read at most once every
 * APPLINK_CREDENTIAL_CACHE_SECONDS per site, so repeated calls do not each wait for the
 * Secret Service. Meanwhile the value is kept in a SecretValue, which libsecret allocates in
 * locked memory and wipes when it is freed.
 */
SecretValue *
applink_daemon_get_authorization(ApplinkDaemon *self, ApplinkSite *site, GError **error)
{
	g_autoptr(ApplinkSecret) secret = NULL;
	g_autoptr(ApplinkSecret) header = NULL;
	SecretValue *result = NULL;
	gint64 now = g_get_monotonic_time();

	(void)self;
	g_mutex_lock(&site->lock);
	if (site->authorization != NULL && now < site->authorization_expiry)
		result = secret_value_ref(site->authorization);
	g_mutex_unlock(&site->lock);
	if (result != NULL)
		return result;

	secret = applink_keyring_lookup_jira(site->id, error);
	if (secret == NULL) {
		if (error != NULL && *error == NULL)
			g_set_error(
				error,
				APPLINK_ERROR,
				APPLINK_ERROR_NOT_FOUND,
				"the keyring has no Jira credential for site '%s'; add the site "
				"again with 'applinkctl site add %s'",
				site->id,
				site->url);
		return NULL;
	}
	header = applink_daemon_build_authorization(site, secret);
	g_mutex_lock(&site->lock);
	g_clear_pointer(&site->authorization, secret_value_unref);
	site->authorization = secret_value_new(header, -1, "text/plain");
	site->authorization_expiry =
		now + (gint64)APPLINK_CREDENTIAL_CACHE_SECONDS * G_USEC_PER_SEC;
	result = secret_value_ref(site->authorization);
	g_mutex_unlock(&site->lock);
	return result;
}

/* Drops every cached Jira credential, so the next call reads the keyring again. */
static void
applink_daemon_forget_credentials(ApplinkDaemon *self)
{
	g_autoptr(GPtrArray) sites = applink_daemon_list_sites(self);

	for (guint i = 0; i < sites->len; i++) {
		ApplinkSite *site = g_ptr_array_index(sites, i);

		g_mutex_lock(&site->lock);
		g_clear_pointer(&site->authorization, secret_value_unref);
		g_mutex_unlock(&site->lock);
	}
}

/* Returns the lock that serialises changes to one link's outgoing authentication. */
GMutex *
applink_daemon_get_link_lock(ApplinkDaemon *self, const gchar *site, const gchar *link)
{
	g_autofree gchar *key = g_strdup_printf("%s %s", site, link);
	GMutex *mutex;

	g_mutex_lock(&self->lock);
	mutex = g_hash_table_lookup(self->link_locks, key);
	if (mutex == NULL) {
		mutex = g_new0(GMutex, 1);
		g_mutex_init(mutex);
		g_hash_table_insert(self->link_locks, g_steal_pointer(&key), mutex);
	}
	g_mutex_unlock(&self->lock);
	return mutex;
}

/* Argument checks. */

gboolean
applink_daemon_check_string(const gchar *value,
			    const gchar *what,
			    gsize max_length,
			    gboolean allow_empty,
			    GError **error)
{
	gsize length = value != NULL ? strlen(value) : 0;

	if (length == 0 && !allow_empty) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_INVALID_ARGUMENT,
			    "%s is empty; give a non-empty value",
			    what);
		return FALSE;
	}
	if (length > max_length) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_INVALID_ARGUMENT,
			    "%s is longer than %" G_GSIZE_FORMAT " bytes",
			    what,
			    max_length);
		return FALSE;
	}
	/* GDBus passes only valid UTF-8 strings. The check covers the C1 controls and the
	 * direction controls too, which Jira stores but a terminal or a log must not show. */
	for (const gchar *p = value; p != NULL && *p != '\0'; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);

		if (applink_unichar_is_control(c)) {
			g_set_error(error,
				    APPLINK_ERROR,
				    APPLINK_ERROR_INVALID_ARGUMENT,
				    "%s contains the control character U+%04X at byte offset "
				    "%" G_GSIZE_FORMAT "; remove it",
				    what,
				    c,
				    (gsize)(p - value));
			return FALSE;
		}
	}
	return TRUE;
}

static const ApplinkDictKey *
applink_daemon_find_key(const ApplinkDictKey *keys, gsize n_keys, const gchar *key)
{
	for (gsize i = 0; i < n_keys; i++) {
		if (g_strcmp0(keys[i].key, key) == 0)
			return &keys[i];
	}
	return NULL;
}

/*
 * Reads the a{sv} @dict into the outputs of @keys. An unknown key or a value of the wrong
 * type is InvalidArgument naming the key and the expected type.
 */
gboolean
applink_daemon_parse_dict(GVariant *dict,
			  const gchar *argument,
			  const ApplinkDictKey *keys,
			  gsize n_keys,
			  GError **error)
{
	GVariantIter iter;
	const gchar *key;
	GVariant *value;

	g_variant_iter_init(&iter, dict);
	while (g_variant_iter_loop(&iter, "{&sv}", &key, &value)) {
		const ApplinkDictKey *spec = applink_daemon_find_key(keys, n_keys, key);

		if (spec == NULL) {
			g_set_error(error,
				    APPLINK_ERROR,
				    APPLINK_ERROR_INVALID_ARGUMENT,
				    "unknown key '%s' in %s",
				    key,
				    argument);
			g_variant_unref(value);
			return FALSE;
		}
		if (!g_variant_is_of_type(value, G_VARIANT_TYPE(spec->type))) {
			g_set_error(error,
				    APPLINK_ERROR,
				    APPLINK_ERROR_INVALID_ARGUMENT,
				    "the key '%s' in %s must be of type '%s', not '%s'",
				    key,
				    argument,
				    spec->type,
				    g_variant_get_type_string(value));
			g_variant_unref(value);
			return FALSE;
		}
		if (g_strcmp0(spec->type, "s") == 0) {
			gchar **out = spec->out;

			if (spec->secret)
				applink_secret_free(*out);
			else
				g_free(*out);
			*out = g_variant_dup_string(value, NULL);
			if (spec->secret)
				applink_secret_watch(*out);
		} else {
			*(gboolean *)spec->out = g_variant_get_boolean(value);
		}
		if (spec->present != NULL)
			*spec->present = TRUE;
	}
	return TRUE;
}

/* Signals. */

ApplinkDBusManager *
applink_daemon_get_skeleton(ApplinkDaemon *self)
{
	return self->skeleton;
}

/*
 * Emits a signal from the calling worker thread. GDBusConnection is thread-safe and sends
 * messages in the order they are queued, so a signal emitted before the reply reaches every
 * listener before the caller sees the reply.
 */
static void
applink_daemon_emit(ApplinkDaemon *self, const gchar *name, GVariant *parameters)
{
	GDBusInterfaceSkeleton *skeleton = G_DBUS_INTERFACE_SKELETON(self->skeleton);
	g_autoptr(GDBusConnection) connection = NULL;
	g_autoptr(GVariant) owned = g_variant_ref_sink(parameters);
	g_autoptr(GError) error = NULL;

	/* Held for the call, since a shutdown may unexport the object meanwhile. */
	connection = g_dbus_interface_skeleton_get_connection(skeleton);
	if (connection == NULL)
		return;
	g_object_ref(connection);
	if (!g_dbus_connection_emit_signal(connection,
					   NULL,
					   g_dbus_interface_skeleton_get_object_path(skeleton),
					   "org.applink.Manager",
					   name,
					   owned,
					   &error))
		g_warning("cannot emit %s: %s", name, error->message);
}

void
applink_daemon_emit_sites_changed(ApplinkDaemon *self)
{
	applink_daemon_emit(self, "SitesChanged", g_variant_new("()"));
}

void
applink_daemon_emit_links_changed(ApplinkDaemon *self, const gchar *site)
{
	applink_daemon_emit(self, "LinksChanged", g_variant_new("(s)", site));
}

void
applink_daemon_emit_outgoing_auth_changed(ApplinkDaemon *self,
					  const gchar *site,
					  const gchar *link,
					  const gchar *state,
					  GVariant *status)
{
	applink_daemon_emit(self,
			    "OutgoingAuthChanged",
			    g_variant_new("(sss@a{sv})", site, link, state, status));
}

/* Set-up. */

ApplinkDaemon *
applink_daemon_new(GMainLoop *loop, guint http_timeout, guint idle_timeout, GError **error)
{
	g_autoptr(ApplinkDaemon) self = g_object_new(APPLINK_TYPE_DAEMON, NULL);

	self->loop = g_main_loop_ref(loop);
	self->http_timeout = http_timeout;
	self->idle_timeout = idle_timeout;
	if (!applink_settings_load(error))
		return NULL;
	applink_daemon_load_sites(self);
	self->pool =
		g_thread_pool_new(applink_daemon_run_job, self, APPLINK_MAX_WORKERS, FALSE, error);
	if (self->pool == NULL)
		return NULL;

	self->skeleton = applink_dbus_manager_skeleton_new();
	applink_dbus_manager_set_version(self->skeleton, APPLINK_VERSION);
	g_signal_connect(self->skeleton, "handle-add-site", G_CALLBACK(handle_add_site), self);
	g_signal_connect(
		self->skeleton, "handle-remove-site", G_CALLBACK(handle_remove_site), self);
	g_signal_connect(self->skeleton, "handle-list-sites", G_CALLBACK(handle_list_sites), self);
	g_signal_connect(self->skeleton, "handle-probe-url", G_CALLBACK(handle_probe_url), self);
	g_signal_connect(
		self->skeleton, "handle-create-link", G_CALLBACK(handle_create_link), self);
	g_signal_connect(self->skeleton, "handle-list-links", G_CALLBACK(handle_list_links), self);
	g_signal_connect(self->skeleton, "handle-get-link", G_CALLBACK(handle_link_call), self);
	g_signal_connect(
		self->skeleton, "handle-update-link", G_CALLBACK(handle_update_link), self);
	g_signal_connect(self->skeleton, "handle-delete-link", G_CALLBACK(handle_link_call), self);
	g_signal_connect(self->skeleton,
			 "handle-set-outgoing-auth",
			 G_CALLBACK(handle_set_outgoing_auth),
			 self);
	g_signal_connect(
		self->skeleton, "handle-get-outgoing-auth", G_CALLBACK(handle_link_call), self);
	g_signal_connect(
		self->skeleton, "handle-test-outgoing-auth", G_CALLBACK(handle_link_call), self);
	g_signal_connect(
		self->skeleton, "handle-clear-outgoing-auth", G_CALLBACK(handle_link_call), self);
	return g_steal_pointer(&self);
}

gboolean
applink_daemon_export(ApplinkDaemon *self, GDBusConnection *connection, GError **error)
{
	if (!g_dbus_interface_skeleton_export(G_DBUS_INTERFACE_SKELETON(self->skeleton),
					      connection,
					      "/org/applink/Manager",
					      error))
		return FALSE;
	applink_daemon_schedule_idle_exit(self);
	return TRUE;
}

/*
 * Cancels the calls in flight and runs the main context, where their requests run, until
 * they have replied or @timeout_seconds have passed. Returns FALSE when some are still
 * running, for example in a keyring call that cannot be cancelled; the daemon must then not
 * be freed, since their workers still use it.
 */
gboolean
applink_daemon_shutdown(ApplinkDaemon *self, guint timeout_seconds)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_seconds * G_USEC_PER_SEC;
	g_autoptr(GPtrArray) cancellables = g_ptr_array_new_with_free_func(g_object_unref);

	/* Cancelled outside the lock, since cancellation may run handlers at once. */
	g_mutex_lock(&self->lock);
	for (guint i = 0; i < self->active_calls->len; i++) {
		ApplinkCall *call = g_ptr_array_index(self->active_calls, i);

		g_ptr_array_add(cancellables, g_object_ref(call->cancellable));
	}
	g_mutex_unlock(&self->lock);
	for (guint i = 0; i < cancellables->len; i++)
		g_cancellable_cancel(g_ptr_array_index(cancellables, i));

	while (g_atomic_int_get(&self->calls_in_flight) > 0 && g_get_monotonic_time() < deadline) {
		if (!g_main_context_iteration(self->context, FALSE))
			g_usleep(10 * 1000);
	}
	return g_atomic_int_get(&self->calls_in_flight) == 0;
}

void
applink_daemon_unexport(ApplinkDaemon *self)
{
	g_dbus_interface_skeleton_unexport(G_DBUS_INTERFACE_SKELETON(self->skeleton));
}

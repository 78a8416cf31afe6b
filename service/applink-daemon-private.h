/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <libsecret/secret.h>

#include "applink-daemon.h"
#include "applink-dbus-generated.h"
#include "applink-error.h"
#include "applink-http.h"
#include "applink-jira.h"
#include "applink-secret.h"

G_BEGIN_DECLS

/* Caps on caller-supplied strings, in bytes. */
#define APPLINK_MAX_NAME_LENGTH 255
#define APPLINK_MAX_SECRET_LENGTH 4096

/* How long a Jira credential read from the keyring is kept in memory, in seconds. */
#define APPLINK_CREDENTIAL_CACHE_SECONDS 300

/* A registered Jira site. Reference-counted so a call can keep using it while another call
 * replaces or removes it. */
typedef struct {
	gint ref_count;
	gchar *id;
	gchar *url;
	gchar *auth; /* "token" or "basic" */
	gchar *username;
	gchar *jira_version;
	gchar *ca_file;
	gchar *link_type;
	ApplinkHttp *http;
	GMutex lock;		     /* guards the cached credential */
	SecretValue *authorization;  /* cached Authorization header value, in secure memory */
	gint64 authorization_expiry; /* monotonic time, microseconds */
	GMutex create_lock; /* serialises link creation, so one URL is never linked twice */
} ApplinkSite;

ApplinkSite *
applink_site_ref(ApplinkSite *site);

void
applink_site_unref(ApplinkSite *site);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ApplinkSite, applink_site_unref)

/* The state of one method call while it runs in a worker thread. */
typedef struct {
	ApplinkDaemon *daemon;
	GDBusMethodInvocation *invocation;
	GVariant *parameters;
	GCancellable *cancellable;
} ApplinkCall;

typedef GVariant *(*ApplinkCallFunc)(ApplinkCall *call, GError **error);

/* One accepted key of an a{sv} argument. */
typedef struct {
	const gchar *key;
	const gchar *type; /* a GVariant type string: "s" or "b" */
	gpointer out;	   /* gchar ** for "s" (caller frees), gboolean * for "b" */
	gboolean secret;   /* a string that must be wiped */
	gboolean *present; /* set to TRUE when the key was given, may be NULL */
} ApplinkDictKey;

/* applink-daemon.c */

void
applink_daemon_normalize_error(GError **error);

gboolean
applink_daemon_parse_dict(GVariant *dict,
			  const gchar *argument,
			  const ApplinkDictKey *keys,
			  gsize n_keys,
			  GError **error);

gboolean
applink_daemon_check_string(const gchar *value,
			    const gchar *what,
			    gsize max_length,
			    gboolean allow_empty,
			    GError **error);

ApplinkSite *
applink_daemon_lookup_site(ApplinkDaemon *self, const gchar *id, GError **error);

GPtrArray *
applink_daemon_list_sites(ApplinkDaemon *self);

void
applink_daemon_put_site(ApplinkDaemon *self, ApplinkSite *site);

void
applink_daemon_remove_site(ApplinkDaemon *self, const gchar *id);

ApplinkHttp *
applink_daemon_create_http(ApplinkDaemon *self,
			   gboolean for_site,
			   const gchar *ca_file,
			   GError **error);

ApplinkHttp *
applink_daemon_get_salesforce_http(ApplinkDaemon *self, const gchar *login_url, GError **error);

SecretValue *
applink_daemon_get_authorization(ApplinkDaemon *self, ApplinkSite *site, GError **error);

GMutex *
applink_daemon_get_link_lock(ApplinkDaemon *self, const gchar *site, const gchar *link);

ApplinkDBusManager *
applink_daemon_get_skeleton(ApplinkDaemon *self);

void
applink_daemon_emit_sites_changed(ApplinkDaemon *self);

void
applink_daemon_emit_links_changed(ApplinkDaemon *self, const gchar *site);

void
applink_daemon_emit_outgoing_auth_changed(ApplinkDaemon *self,
					  const gchar *site,
					  const gchar *link,
					  const gchar *state,
					  GVariant *status);

/* Per-area method implementations; each runs in a worker thread. */

GVariant *
applink_sites_add(ApplinkCall *call, GError **error);
GVariant *
applink_sites_remove(ApplinkCall *call, GError **error);
GVariant *
applink_sites_list(ApplinkCall *call, GError **error);

GVariant *
applink_links_probe_url(ApplinkCall *call, GError **error);
GVariant *
applink_links_create(ApplinkCall *call, GError **error);
GVariant *
applink_links_list(ApplinkCall *call, GError **error);
GVariant *
applink_links_get(ApplinkCall *call, GError **error);
GVariant *
applink_links_update(ApplinkCall *call, GError **error);
GVariant *
applink_links_delete(ApplinkCall *call, GError **error);

GVariant *
applink_outgoing_auth_set(ApplinkCall *call, GError **error);
GVariant *
applink_outgoing_auth_get(ApplinkCall *call, GError **error);
GVariant *
applink_outgoing_auth_test(ApplinkCall *call, GError **error);
GVariant *
applink_outgoing_auth_clear(ApplinkCall *call, GError **error);

/* Shared between the link and outgoing-authentication methods. */

gboolean
applink_site_open_jira(ApplinkCall *call,
		       ApplinkSite *site,
		       ApplinkJira *jira,
		       SecretValue **authorization,
		       GError **error);

ApplinkJiraLink *
applink_site_open_link(ApplinkCall *call,
		       ApplinkSite **site,
		       ApplinkJira *jira,
		       SecretValue **authorization,
		       GError **error);

void
applink_outgoing_auth_add_stored_fields(GVariantBuilder *builder,
					const gchar *site,
					const gchar *link);

G_END_DECLS

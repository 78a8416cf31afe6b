/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>

#include "applink-http.h"
#include "applink-secret.h"

G_BEGIN_DECLS

#define APPLINK_JIRA_BASIC_PROVIDER                                                                \
	"com.atlassian.applinks.api.auth.types.BasicAuthenticationProvider"

/* How often an idempotent request is retried after 429 or 503, and the longest wait. */
#define APPLINK_JIRA_MAX_RETRIES 3
#define APPLINK_JIRA_MAX_RETRY_WAIT_SECONDS 10

/* The maximum length of a string member of a Jira reply, such as a name, id, version or URL. Longer
 * values are rejected, so that none is stored or quoted whole. */
#define APPLINK_JIRA_MAX_STRING_BYTES 4096

/* An application link as Jira returns it. */
typedef struct {
	gchar *id;
	gchar *name;
	gchar *type_id;
	gchar *display_url;
	gchar *rpc_url; /* NULL for system links */
	gboolean primary;
	gboolean system;
} ApplinkJiraLink;

void
applink_jira_link_free(ApplinkJiraLink *link);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ApplinkJiraLink, applink_jira_link_free)

/* What one Jira site is reached with, for the length of one call. */
typedef struct {
	ApplinkHttp *http;
	const gchar *site;	    /* the site id, for messages */
	const gchar *base_url;	    /* normalised, without trailing slash */
	const gchar *authorization; /* the whole Authorization header value: a secret */
	GCancellable *cancellable;
} ApplinkJira;

/* Jira's verdict on a Salesforce URL before a link is created. */
typedef enum {
	APPLINK_JIRA_URL_OK,
	APPLINK_JIRA_URL_REDIRECTED,
	APPLINK_JIRA_URL_UNKNOWN_HOST,
	APPLINK_JIRA_URL_ALREADY_LINKED,
	APPLINK_JIRA_URL_IS_SELF,
	APPLINK_JIRA_URL_BLOCKED,
} ApplinkJiraUrlStatus;

typedef struct {
	ApplinkJiraUrlStatus status;
	gchar *redirected_to; /* for APPLINK_JIRA_URL_REDIRECTED */
	gchar *message;	      /* Jira's own text, when it sent one */
} ApplinkJiraUrlCheck;

void
applink_jira_url_check_clear(ApplinkJiraUrlCheck *check);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(ApplinkJiraUrlCheck, applink_jira_url_check_clear)

const gchar *
applink_jira_url_status_to_string(ApplinkJiraUrlStatus status);

/* Requests; each blocks and must run in a worker thread. */

gboolean
applink_jira_verify(const ApplinkJira *jira, gchar **username, gchar **version, GError **error);

GPtrArray *
applink_jira_list_links(const ApplinkJira *jira, GError **error);

ApplinkJiraLink *
applink_jira_get_link(const ApplinkJira *jira, const gchar *id, GError **error);

ApplinkJiraLink *
applink_jira_find_link(const ApplinkJira *jira, const gchar *id_or_name, GError **error);

gboolean
applink_jira_check_url(const ApplinkJira *jira,
		       const gchar *url,
		       ApplinkJiraUrlCheck *check,
		       GError **error);

gboolean
applink_jira_check_type(const ApplinkJira *jira, const gchar *type_id, GError **error);

gchar *
applink_jira_create_link(const ApplinkJira *jira,
			 const gchar *name,
			 const gchar *type_id,
			 const gchar *url,
			 gboolean primary,
			 GError **error);

gboolean
applink_jira_rename_link(const ApplinkJira *jira,
			 const ApplinkJiraLink *link,
			 const gchar *name,
			 GError **error);

gboolean
applink_jira_make_primary(const ApplinkJira *jira, const gchar *id, GError **error);

gboolean
applink_jira_delete_link(const ApplinkJira *jira, const gchar *id, GError **error);

gboolean
applink_jira_get_basic_auth(const ApplinkJira *jira,
			    const gchar *id,
			    gboolean *configured,
			    gchar **username,
			    ApplinkSecret **password,
			    GError **error);

gboolean
applink_jira_get_basic_auth_all(const ApplinkJira *jira,
				GPtrArray *links,
				gboolean *configured,
				GError **error);

gboolean
applink_jira_set_basic_auth(const ApplinkJira *jira,
			    const gchar *id,
			    const gchar *username,
			    const gchar *password,
			    GError **error);

gboolean
applink_jira_clear_basic_auth(const ApplinkJira *jira, const gchar *id, GError **error);

/* Parsers of Jira replies, kept apart from the requests so they can be tested and fuzzed. */

JsonNode *
applink_jira_parse_json(const gchar *data,
			gsize length,
			const gchar *content_type,
			const gchar *request,
			GError **error);

ApplinkJiraLink *
applink_jira_parse_link(JsonNode *node, const gchar *request, GError **error);

GPtrArray *
applink_jira_parse_links(JsonNode *node, const gchar *request, GError **error);

gchar *
applink_jira_parse_created_id(JsonNode *node, const gchar *request, GError **error);

gchar *
applink_jira_parse_error_message(const gchar *data, gsize length);

gboolean
applink_jira_parse_url_check(guint status,
			     JsonNode *node,
			     ApplinkJiraUrlCheck *check,
			     const gchar *request,
			     GError **error);

gboolean
applink_jira_parse_providers(JsonNode *node,
			     gboolean *configured,
			     gchar **username,
			     ApplinkSecret **password,
			     const gchar *request,
			     GError **error);

gchar *
applink_jira_parse_server_version(JsonNode *node, const gchar *request, GError **error);

gchar *
applink_jira_parse_user_name(JsonNode *node, const gchar *request, GError **error);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "applink-jira.h"

#include <string.h>

#include "applink-error.h"
#include "applink-json.h"
#include "applink-log.h"
#include "applink-secret.h"

void
applink_jira_link_free(ApplinkJiraLink *link)
{
	if (link == NULL)
		return;
	g_free(link->id);
	g_free(link->name);
	g_free(link->type_id);
	g_free(link->display_url);
	g_free(link->rpc_url);
	g_free(link);
}

void
applink_jira_url_check_clear(ApplinkJiraUrlCheck *check)
{
	g_clear_pointer(&check->redirected_to, g_free);
	g_clear_pointer(&check->message, g_free);
}

const gchar *
applink_jira_url_status_to_string(ApplinkJiraUrlStatus status)
{
	switch (status) {
	case APPLINK_JIRA_URL_OK:
		return "ok";
	case APPLINK_JIRA_URL_REDIRECTED:
		return "redirected";
	case APPLINK_JIRA_URL_UNKNOWN_HOST:
		return "unknown-host";
	case APPLINK_JIRA_URL_ALREADY_LINKED:
		return "already-linked";
	case APPLINK_JIRA_URL_IS_SELF:
		return "is-self";
	case APPLINK_JIRA_URL_BLOCKED:
		return "blocked";
	default:
		return "unknown";
	}
}

/* Type-checked access to JSON members: a member of the wrong type is an error, never a
 * critical from json-glib. */

/* Reads the string @member into @out. With @display, control characters are replaced with
 * U+FFFD; without, they make the reply invalid. */
static gboolean
applink_jira_read_string(JsonObject *object,
			 const gchar *member,
			 gboolean required,
			 gboolean display,
			 gchar **out,
			 const gchar *request,
			 GError **error)
{
	JsonNode *node = json_object_get_member(object, member);

	*out = NULL;
	if (node == NULL || JSON_NODE_HOLDS_NULL(node)) {
		if (!required)
			return TRUE;
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_JIRA,
			    "the reply to %s lacks the member '%s'",
			    request,
			    member);
		return FALSE;
	}
	if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_JIRA,
			    "the member '%s' in the reply to %s is not a string",
			    member,
			    request);
		return FALSE;
	}
	if (!g_utf8_validate(json_node_get_string(node), -1, NULL)) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_JIRA,
			    "the member '%s' in the reply to %s is not valid UTF-8",
			    member,
			    request);
		return FALSE;
	}
	if (strlen(json_node_get_string(node)) > APPLINK_JIRA_MAX_STRING_BYTES) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_JIRA,
			    "the member '%s' in the reply to %s is longer than %d bytes",
			    member,
			    request,
			    APPLINK_JIRA_MAX_STRING_BYTES);
		return FALSE;
	}
	for (const gchar *p = json_node_get_string(node); *p != '\0'; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);

		if (!display && g_unichar_iscntrl(c)) {
			g_set_error(error,
				    APPLINK_ERROR,
				    APPLINK_ERROR_JIRA,
				    "the member '%s' in the reply to %s contains the control "
				    "character U+%04X",
				    member,
				    request,
				    c);
			return FALSE;
		}
	}
	if (display)
		*out = applink_text_make_printable(json_node_get_string(node), G_MAXUINT);
	else
		*out = g_strdup(json_node_get_string(node));
	return TRUE;
}

static gboolean
applink_jira_get_string(JsonObject *object,
			const gchar *member,
			gboolean required,
			gchar **out,
			const gchar *request,
			GError **error)
{
	return applink_jira_read_string(object, member, required, FALSE, out, request, error);
}

/* Reads text that is only shown, such as a link's name. Jira accepts control characters
 * there, and one link named so must not make every call on its site fail. */
static gboolean
applink_jira_get_display_string(JsonObject *object,
				const gchar *member,
				gboolean required,
				gchar **out,
				const gchar *request,
				GError **error)
{
	return applink_jira_read_string(object, member, required, TRUE, out, request, error);
}

static gboolean
applink_jira_get_boolean(JsonObject *object,
			 const gchar *member,
			 gboolean *out,
			 const gchar *request,
			 GError **error)
{
	JsonNode *node = json_object_get_member(object, member);

	*out = FALSE;
	if (node == NULL || JSON_NODE_HOLDS_NULL(node))
		return TRUE;
	if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_BOOLEAN) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_JIRA,
			    "the member '%s' in the reply to %s is not a boolean",
			    member,
			    request);
		return FALSE;
	}
	*out = json_node_get_boolean(node);
	return TRUE;
}

static JsonObject *
applink_jira_expect_object(JsonNode *node, const gchar *request, GError **error)
{
	if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node)) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_JIRA,
			    "the reply to %s is not a JSON object",
			    request);
		return NULL;
	}
	return json_node_get_object(node);
}

static gboolean
applink_jira_looks_like_html(const gchar *data, gsize length)
{
	gsize i = 0;

	while (i < length && g_ascii_isspace(data[i]))
		i++;
	return i < length && data[i] == '<';
}

JsonNode *
applink_jira_parse_json(const gchar *data,
			gsize length,
			const gchar *content_type,
			const gchar *request,
			GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	g_autoptr(GError) error_local = NULL;

	if (length == 0) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_JIRA,
			    "the reply to %s is empty where JSON was expected",
			    request);
		return NULL;
	}
	if ((content_type != NULL && g_str_has_prefix(content_type, "text/html")) ||
	    applink_jira_looks_like_html(data, length)) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_JIRA,
			    "the reply to %s is an HTML page where JSON was expected; check that "
			    "the site URL is Jira's base URL and that no proxy or login page is in "
			    "between",
			    request);
		return NULL;
	}
	if (!applink_json_check(data, length, &error_local) ||
	    !json_parser_load_from_data(parser, data, (gssize)length, &error_local) ||
	    json_parser_get_root(parser) == NULL) {
		/* json-glib may quote the invalid text, which must not reach D-Bus unchecked. */
		g_autofree gchar *reason =
			error_local != NULL ? g_utf8_make_valid(error_local->message, -1) : NULL;

		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_JIRA,
			    "the reply to %s could not be read as JSON%s%s",
			    request,
			    reason != NULL ? ": " : "",
			    reason != NULL ? reason : "");
		return NULL;
	}
	return json_parser_steal_root(parser);
}

ApplinkJiraLink *
applink_jira_parse_link(JsonNode *node, const gchar *request, GError **error)
{
	g_autoptr(ApplinkJiraLink) link = g_new0(ApplinkJiraLink, 1);
	JsonObject *object = applink_jira_expect_object(node, request, error);

	if (object == NULL)
		return NULL;
	if (!applink_jira_get_string(object, "id", TRUE, &link->id, request, error) ||
	    !applink_jira_get_display_string(object, "name", TRUE, &link->name, request, error) ||
	    !applink_jira_get_string(object, "typeId", TRUE, &link->type_id, request, error) ||
	    !applink_jira_get_string(
		    object, "displayUrl", FALSE, &link->display_url, request, error) ||
	    !applink_jira_get_string(object, "rpcUrl", FALSE, &link->rpc_url, request, error) ||
	    !applink_jira_get_boolean(object, "isPrimary", &link->primary, request, error) ||
	    !applink_jira_get_boolean(object, "isSystem", &link->system, request, error))
		return NULL;
	if (link->display_url == NULL)
		link->display_url = g_strdup(link->rpc_url != NULL ? link->rpc_url : "");
	return g_steal_pointer(&link);
}

GPtrArray *
applink_jira_parse_links(JsonNode *node, const gchar *request, GError **error)
{
	g_autoptr(GPtrArray) links =
		g_ptr_array_new_with_free_func((GDestroyNotify)applink_jira_link_free);
	JsonObject *object = applink_jira_expect_object(node, request, error);
	JsonNode *list;
	JsonArray *array;

	if (object == NULL)
		return NULL;
	list = json_object_get_member(object, "applicationLinks");
	if (list == NULL || !JSON_NODE_HOLDS_ARRAY(list)) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_JIRA,
			    "the reply to %s has no 'applicationLinks' list",
			    request);
		return NULL;
	}
	array = json_node_get_array(list);
	for (guint i = 0; i < json_array_get_length(array); i++) {
		ApplinkJiraLink *link =
			applink_jira_parse_link(json_array_get_element(array, i), request, error);
		if (link == NULL)
			return NULL;
		g_ptr_array_add(links, link);
	}
	return g_steal_pointer(&links);
}

static gboolean
applink_jira_id_is_valid(const gchar *id);

gchar *
applink_jira_parse_created_id(JsonNode *node, const gchar *request, GError **error)
{
	JsonObject *object = applink_jira_expect_object(node, request, error);
	JsonNode *created;
	JsonArray *array;
	g_autofree gchar *href = NULL;
	const gchar *slash;

	if (object == NULL)
		return NULL;
	created = json_object_get_member(object, "resources-created");
	if (created == NULL || !JSON_NODE_HOLDS_ARRAY(created) ||
	    json_array_get_length(array = json_node_get_array(created)) == 0) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_JIRA,
			    "the reply to %s does not say which link was created",
			    request);
		return NULL;
	}
	object = applink_jira_expect_object(json_array_get_element(array, 0), request, error);
	if (object == NULL || !applink_jira_get_string(object, "href", TRUE, &href, request, error))
		return NULL;
	slash = strrchr(href, '/');
	if (slash == NULL || !applink_jira_id_is_valid(slash + 1)) {
		g_autofree gchar *quoted = applink_server_text_dup(href, NULL);

		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_JIRA,
			    "the link address '%s' in the reply to %s does not end with a link id",
			    quoted,
			    request);
		return NULL;
	}
	return g_strdup(slash + 1);
}

/* Returns TRUE when @data has no control characters but line breaks and tabs, so it can be
 * quoted in a message. */
static gboolean
applink_jira_text_is_printable(const gchar *data, gsize length)
{
	for (gsize i = 0; i < length; i++) {
		guchar c = (guchar)data[i];

		if ((c < 0x20 && c != '\n' && c != '\r' && c != '\t') || c == 0x7f)
			return FALSE;
	}
	return TRUE;
}

/* Returns the "message" or "errorMessages" member of a JSON error reply, or NULL. */
static gchar *
applink_jira_json_error_message(JsonNode *root)
{
	JsonObject *object;
	JsonNode *message;

	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root))
		return NULL;
	object = json_node_get_object(root);
	message = json_object_get_member(object, "message");
	if (message == NULL)
		message = json_object_get_member(object, "errorMessages");
	if (message == NULL)
		return NULL;
	if (JSON_NODE_HOLDS_VALUE(message) && json_node_get_value_type(message) == G_TYPE_STRING)
		return g_strdup(json_node_get_string(message));
	if (JSON_NODE_HOLDS_ARRAY(message)) {
		JsonArray *array = json_node_get_array(message);
		g_autoptr(GString) text = g_string_new(NULL);

		for (guint i = 0; i < json_array_get_length(array); i++) {
			JsonNode *item = json_array_get_element(array, i);

			if (!JSON_NODE_HOLDS_VALUE(item) ||
			    json_node_get_value_type(item) != G_TYPE_STRING)
				continue;
			if (text->len > 0)
				g_string_append(text, "; ");
			g_string_append(text, json_node_get_string(item));
		}
		if (text->len > 0)
			return g_string_free(g_steal_pointer(&text), FALSE);
	}
	return NULL;
}

/*
 * Returns Jira's error text from either error shape, or NULL: {"status-code", "message"},
 * {"status", "message": [...]}, {"errorMessages": [...]}, or a short plain-text body. The text
 * is valid UTF-8, because applink_json_check() rejects invalid UTF-8 and unpaired surrogate
 * escapes, but it is not cut: callers search all of it, then quote it with
 * applink_server_text_dup().
 */
gchar *
applink_jira_parse_error_message(const gchar *data, gsize length)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	g_autofree gchar *message = NULL;

	if (data == NULL || length == 0 || !g_utf8_validate(data, (gssize)length, NULL))
		return NULL;
	if (!applink_jira_text_is_printable(data, length))
		return NULL;
	if (applink_json_check(data, length, NULL) &&
	    json_parser_load_from_data(parser, data, (gssize)length, NULL))
		message = applink_jira_json_error_message(json_parser_get_root(parser));
	else if (length < 200 && !applink_jira_looks_like_html(data, length))
		message = g_strstrip(g_strndup(data, length));
	if (message == NULL || message[0] == '\0')
		return NULL;
	return g_steal_pointer(&message);
}

gboolean
applink_jira_parse_url_check(guint status,
			     JsonNode *node,
			     ApplinkJiraUrlCheck *check,
			     const gchar *request,
			     GError **error)
{
	JsonObject *object = applink_jira_expect_object(node, request, error);
	g_autofree gchar *code = NULL;
	g_autofree gchar *warning = NULL;

	check->status = APPLINK_JIRA_URL_OK;
	if (object == NULL)
		return FALSE;
	(void)status;
	if (!applink_jira_get_string(object, "code", FALSE, &code, request, error))
		return FALSE;
	if (g_strcmp0(code, "applinks.warning.redirected.host") == 0) {
		JsonNode *params = json_object_get_member(object, "params");

		check->status = APPLINK_JIRA_URL_REDIRECTED;
		if (params != NULL && JSON_NODE_HOLDS_OBJECT(params) &&
		    !applink_jira_get_string(json_node_get_object(params),
					     "redirectedUrl",
					     FALSE,
					     &check->redirected_to,
					     request,
					     error))
			return FALSE;
	} else if (g_strcmp0(code, "applinks.warning.unknown.host") == 0) {
		check->status = APPLINK_JIRA_URL_UNKNOWN_HOST;
	}
	if (code == NULL)
		return TRUE;
	if (!applink_jira_get_string(object, "warning", FALSE, &warning, request, error))
		return FALSE;
	g_free(check->message);
	check->message = applink_server_text_dup(warning, NULL);
	return TRUE;
}

gboolean
applink_jira_parse_providers(JsonNode *node,
			     gboolean *configured,
			     gchar **username,
			     ApplinkSecret **password,
			     const gchar *request,
			     GError **error)
{
	JsonObject *object = applink_jira_expect_object(node, request, error);
	JsonNode *list;
	JsonArray *array;

	*configured = FALSE;
	if (object == NULL)
		return FALSE;
	list = json_object_get_member(object, "authenticationProviders");
	if (list == NULL || !JSON_NODE_HOLDS_ARRAY(list)) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_JIRA,
			    "the reply to %s has no 'authenticationProviders' list",
			    request);
		return FALSE;
	}
	array = json_node_get_array(list);
	for (guint i = 0; i < json_array_get_length(array); i++) {
		JsonObject *provider = applink_jira_expect_object(
			json_array_get_element(array, i), request, error);
		g_autofree gchar *name = NULL;
		JsonNode *config;

		if (provider == NULL ||
		    !applink_jira_get_string(provider, "provider", TRUE, &name, request, error))
			return FALSE;
		if (g_strcmp0(name, APPLINK_JIRA_BASIC_PROVIDER) != 0)
			continue;
		*configured = TRUE;
		config = json_object_get_member(provider, "config");
		if (config == NULL || !JSON_NODE_HOLDS_OBJECT(config))
			continue;
		if (username != NULL) {
			g_clear_pointer(username, g_free);
			if (!applink_jira_get_string(json_node_get_object(config),
						     "username",
						     FALSE,
						     username,
						     request,
						     error))
				return FALSE;
		}
		if (password != NULL) {
			g_autofree gchar *text = NULL;

			g_clear_pointer(password, applink_secret_free);
			if (!applink_jira_get_string(json_node_get_object(config),
						     "password",
						     FALSE,
						     &text,
						     request,
						     error))
				return FALSE;
			*password = applink_secret_dup(text);
			if (text != NULL)
				explicit_bzero(text, strlen(text));
		}
	}
	return TRUE;
}

gchar *
applink_jira_parse_server_version(JsonNode *node, const gchar *request, GError **error)
{
	JsonObject *object = applink_jira_expect_object(node, request, error);
	gchar *version = NULL;

	if (object == NULL ||
	    !applink_jira_get_string(object, "version", TRUE, &version, request, error))
		return NULL;
	return version;
}

gchar *
applink_jira_parse_user_name(JsonNode *node, const gchar *request, GError **error)
{
	JsonObject *object = applink_jira_expect_object(node, request, error);
	gchar *name = NULL;

	if (object == NULL || !applink_jira_get_string(object, "name", TRUE, &name, request, error))
		return NULL;
	return name;
}

/* One reply from Jira. */
typedef struct {
	guint status;
	GBytes *body;
	gchar *content_type;
	gchar *location; /* of a redirect */
	gchar *request;	 /* "GET /rest/..." for messages */
} ApplinkJiraReply;

static void
applink_jira_reply_free(ApplinkJiraReply *reply)
{
	if (reply == NULL)
		return;
	g_bytes_unref(reply->body);
	g_free(reply->content_type);
	g_free(reply->location);
	g_free(reply->request);
	g_free(reply);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ApplinkJiraReply, applink_jira_reply_free)

static const gchar *
applink_jira_reply_data(ApplinkJiraReply *reply, gsize *length)
{
	return g_bytes_get_data(reply->body, length);
}

/* Checks the authentication headers Jira sets on every reply. */
static gboolean
applink_jira_check_login_headers(const ApplinkJira *jira,
				 SoupMessageHeaders *headers,
				 guint status,
				 const gchar *request,
				 GError **error)
{
	const gchar *reason = soup_message_headers_get_one(headers, "X-Seraph-LoginReason");
	const gchar *denied =
		soup_message_headers_get_one(headers, "X-Authentication-Denied-Reason");
	const gchar *user = soup_message_headers_get_one(headers, "X-AUSERNAME");

	if ((denied != NULL && strstr(denied, "CAPTCHA_CHALLENGE") != NULL) ||
	    (reason != NULL && strstr(reason, "AUTHENTICATION_DENIED") != NULL)) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_JIRA_CAPTCHA_REQUIRED,
			    "Jira at %s refused the login for %s because it now asks for a CAPTCHA "
			    "after failed logins; log in once in a browser at %s to clear it, then "
			    "try again",
			    jira->base_url,
			    request,
			    jira->base_url);
		return FALSE;
	}
	if (reason != NULL && strstr(reason, "AUTHENTICATED_FAILED") != NULL) {
		g_autofree gchar *quoted = applink_server_text_dup(reason, NULL);

		g_set_error(
			error,
			APPLINK_ERROR,
			APPLINK_ERROR_JIRA_AUTH_FAILED,
			"Jira at %s rejected the credentials of site '%s' (%s); the token may "
			"be wrong, expired or revoked, or the password wrong: add the site again "
			"with a valid one",
			jira->base_url,
			jira->site,
			quoted);
		return FALSE;
	}
	if (status < 300 && g_strcmp0(user, "anonymous") == 0) {
		g_set_error(
			error,
			APPLINK_ERROR,
			APPLINK_ERROR_JIRA_AUTH_FAILED,
			"Jira at %s answered %s as the anonymous user, so it did not accept the "
			"credentials of site '%s'; add the site again with a valid token or "
			"password",
			jira->base_url,
			request,
			jira->site);
		return FALSE;
	}
	return TRUE;
}

static guint
applink_jira_retry_delay(SoupMessageHeaders *headers, guint attempt)
{
	const gchar *retry_after = soup_message_headers_get_one(headers, "Retry-After");
	guint64 seconds = attempt;

	if (retry_after != NULL &&
	    g_ascii_string_to_unsigned(retry_after, 10, 0, G_MAXUINT32, &seconds, NULL))
		seconds = MAX(seconds, 1);
	return (guint)MIN(seconds, APPLINK_JIRA_MAX_RETRY_WAIT_SECONDS);
}

/* Returns "METHOD /path" of a request, without its query, for messages and logs. */
static gchar *
applink_jira_describe_request(const gchar *method, const gchar *path)
{
	const gchar *query = strchr(path, '?');

	return g_strdup_printf("%s %.*s",
			       method,
			       (int)(query != NULL ? query - path : (gssize)strlen(path)),
			       path);
}

/* Builds a request with the headers every Jira request carries. */
static SoupMessage *
applink_jira_message_new(const ApplinkJira *jira,
			 const gchar *method,
			 const gchar *path,
			 const gchar *content_type,
			 GBytes *body,
			 GError **error)
{
	g_autofree gchar *url = g_strconcat(jira->base_url, path, NULL);
	SoupMessage *msg = soup_message_new(method, url);
	SoupMessageHeaders *headers;

	if (msg == NULL) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_INVALID_URL,
			    "cannot build a request to %s for site '%s'",
			    url,
			    jira->site);
		return NULL;
	}
	headers = soup_message_get_request_headers(msg);
	soup_message_headers_replace(headers, "Accept", "application/json");
	soup_message_headers_replace(headers, "X-Atlassian-Token", "no-check");
	soup_message_headers_replace(headers, "Authorization", jira->authorization);
	applink_secret_watch_authorization(jira->authorization);
	if (body != NULL)
		soup_message_set_request_body_from_bytes(msg, content_type, body);
	return msg;
}

/* Checks the login headers of the reply to @msg and wraps it; takes @body. */
static ApplinkJiraReply *
applink_jira_reply_new(const ApplinkJira *jira,
		       SoupMessage *msg,
		       GBytes *body,
		       const gchar *request,
		       GError **error)
{
	SoupMessageHeaders *headers = soup_message_get_response_headers(msg);
	guint status = soup_message_get_status(msg);
	ApplinkJiraReply *reply;

	g_debug("site %s: %s -> %u", jira->site, request, status);
	if (!applink_jira_check_login_headers(jira, headers, status, request, error)) {
		g_bytes_unref(body);
		return NULL;
	}
	reply = g_new0(ApplinkJiraReply, 1);
	reply->status = status;
	reply->body = body;
	reply->content_type = g_strdup(soup_message_headers_get_content_type(headers, NULL));
	reply->location = g_strdup(soup_message_headers_get_one(headers, "Location"));
	reply->request = g_strdup(request);
	return reply;
}

/*
 * Sends one request and returns the reply whatever its status. Idempotent requests (GET) are
 * retried on 429 and 503, at most APPLINK_JIRA_MAX_RETRIES times, waiting as long as
 * Retry-After requests. Other requests are never repeated, nor is anything after 401 or 403.
 */
static ApplinkJiraReply *
applink_jira_send(const ApplinkJira *jira,
		  const gchar *method,
		  const gchar *path,
		  const gchar *content_type,
		  GBytes *body,
		  GError **error)
{
	gboolean idempotent = g_strcmp0(method, "GET") == 0;
	g_autofree gchar *request = applink_jira_describe_request(method, path);

	for (guint attempt = 1;; attempt++) {
		g_autoptr(SoupMessage) msg = NULL;
		GBytes *reply_body;
		guint status;
		guint delay;

		msg = applink_jira_message_new(jira, method, path, content_type, body, error);
		if (msg == NULL)
			return NULL;
		reply_body = applink_http_send(jira->http, msg, jira->cancellable, error);
		if (reply_body == NULL)
			return NULL;
		status = soup_message_get_status(msg);
		if (!idempotent || (status != 429 && status != 503) ||
		    attempt > APPLINK_JIRA_MAX_RETRIES)
			return applink_jira_reply_new(jira, msg, reply_body, request, error);

		g_bytes_unref(reply_body);
		delay = applink_jira_retry_delay(soup_message_get_response_headers(msg), attempt);
		g_message("site %s: %s answered %u, retrying in %u s (attempt %u of %u)",
			  jira->site,
			  request,
			  status,
			  delay,
			  attempt + 1,
			  APPLINK_JIRA_MAX_RETRIES + 1);
		g_usleep((gulong)delay * G_USEC_PER_SEC);
	}
}

/* Sets the error for a status that the caller did not expect, mapped by status first since
 * Jira's texts are localised. */
static void
applink_jira_set_status_error(const ApplinkJira *jira, ApplinkJiraReply *reply, GError **error)
{
	gsize length = 0;
	const gchar *data = applink_jira_reply_data(reply, &length);
	g_autofree gchar *message = applink_jira_parse_error_message(data, length);
	g_autofree gchar *text = applink_server_text_dup(message, "no message");

	if (message != NULL && strstr(message, "XSRF check failed") != NULL) {
		g_set_error(
			error,
			APPLINK_ERROR,
			APPLINK_ERROR_JIRA_XSRF_FAILED,
			"Jira at %s rejected %s with 'XSRF check failed'; a proxy may strip the "
			"X-Atlassian-Token header or change the User-Agent",
			jira->base_url,
			reply->request);
	} else if (reply->status == 401 && message != NULL && strstr(message, "WebSudo") != NULL) {
		gboolean token = g_str_has_prefix(jira->authorization, "Bearer ");

		g_set_error(
			error,
			APPLINK_ERROR,
			APPLINK_ERROR_JIRA_WEBSUDO_REQUIRED,
			"Jira at %s requires a secure administrator session (WebSudo) for %s; "
			"%s, or disable WebSudo in Jira (jira.websudo.is.disabled)",
			jira->base_url,
			reply->request,
			token ? "this Jira does not exempt personal access tokens, so add the site "
				"with Basic credentials (--user), which skip WebSudo"
			      : "Basic credentials normally skip WebSudo, so a proxy may be "
				"dropping "
				"the Authorization header");
	} else if (reply->status == 401 || reply->status == 403) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_JIRA_PERMISSION_DENIED,
			    "Jira at %s refused %s (HTTP %u: %s); the user of site '%s' must be a "
			    "Jira administrator",
			    jira->base_url,
			    reply->request,
			    reply->status,
			    text,
			    jira->site);
	} else if (reply->status == 400 && message != NULL &&
		   strstr(message, "installed") != NULL && strstr(message, "type") != NULL) {
		g_set_error(
			error,
			APPLINK_ERROR,
			APPLINK_ERROR_TYPE_NOT_INSTALLED,
			"Jira at %s cannot load its application links (%s): the application type "
			"of a link is not installed; install and enable the Salesforce connector "
			"app in Jira",
			jira->base_url,
			message);
	} else if (reply->status == 429) {
		g_set_error(
			error,
			APPLINK_ERROR,
			APPLINK_ERROR_JIRA_RATE_LIMITED,
			"Jira at %s is rate limiting requests (%s: HTTP 429); wait a minute and "
			"try again, or ask the Jira administrator to raise the limit",
			jira->base_url,
			reply->request);
	} else if (reply->status >= 300 && reply->status < 400) {
		g_autofree gchar *target = applink_server_text_dup(reply->location, "nowhere");

		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_JIRA,
			    "Jira at %s answered %s with a redirect (HTTP %u) to %s, which applink "
			    "does not follow; check that the site URL is Jira's base URL",
			    jira->base_url,
			    reply->request,
			    reply->status,
			    target);
	} else {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_JIRA,
			    "Jira at %s answered %s with HTTP %u: %s",
			    jira->base_url,
			    reply->request,
			    reply->status,
			    text);
	}
}

static JsonNode *
applink_jira_reply_json(const ApplinkJira *jira, ApplinkJiraReply *reply, GError **error)
{
	gsize length = 0;
	const gchar *data = applink_jira_reply_data(reply, &length);

	(void)jira;
	return applink_jira_parse_json(data, length, reply->content_type, reply->request, error);
}

/* Sends a GET and returns its JSON when the status is 2xx. */
static JsonNode *
applink_jira_get_json(const ApplinkJira *jira, const gchar *path, GError **error)
{
	g_autoptr(ApplinkJiraReply) reply = applink_jira_send(jira, "GET", path, NULL, NULL, error);

	if (reply == NULL)
		return NULL;
	if (reply->status < 200 || reply->status >= 300) {
		applink_jira_set_status_error(jira, reply, error);
		return NULL;
	}
	return applink_jira_reply_json(jira, reply, error);
}

gboolean
applink_jira_verify(const ApplinkJira *jira, gchar **username, gchar **version, GError **error)
{
	g_autoptr(JsonNode) myself = NULL;
	g_autoptr(JsonNode) info = NULL;
	g_autoptr(ApplinkJiraReply) admin = NULL;
	g_autoptr(ApplinkJiraReply) reply = NULL;

	reply = applink_jira_send(jira, "GET", "/rest/api/2/myself", NULL, NULL, error);
	if (reply == NULL)
		return FALSE;
	if (reply->status == 401 || reply->status == 403) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_JIRA_AUTH_FAILED,
			    "Jira at %s rejected the credentials (HTTP %u on %s); check the token "
			    "or the user name and password, and that the token has not expired",
			    jira->base_url,
			    reply->status,
			    reply->request);
		return FALSE;
	}
	if (reply->status != 200) {
		applink_jira_set_status_error(jira, reply, error);
		return FALSE;
	}
	myself = applink_jira_reply_json(jira, reply, error);
	if (myself == NULL)
		return FALSE;
	*username = applink_jira_parse_user_name(myself, reply->request, error);
	if (*username == NULL)
		return FALSE;

	info = applink_jira_get_json(jira, "/rest/api/2/serverInfo", error);
	if (info == NULL)
		return FALSE;
	*version = applink_jira_parse_server_version(info, "GET /rest/api/2/serverInfo", error);
	if (*version == NULL)
		return FALSE;

	/* Only administrators may list application links. */
	admin = applink_jira_send(
		jira, "GET", "/rest/applinks/1.0/applicationlink", NULL, NULL, error);
	if (admin == NULL)
		return FALSE;
	if (admin->status == 401 || admin->status == 403) {
		g_autoptr(GError) status_error = NULL;

		applink_jira_set_status_error(jira, admin, &status_error);
		if (!g_error_matches(
			    status_error, APPLINK_ERROR, APPLINK_ERROR_JIRA_PERMISSION_DENIED)) {
			g_propagate_error(error, g_steal_pointer(&status_error));
			return FALSE;
		}
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_JIRA_PERMISSION_DENIED,
			    "the Jira user '%s' at %s is not a Jira administrator, and only "
			    "administrators can manage application links; use an administrator's "
			    "token or credentials",
			    *username,
			    jira->base_url);
		return FALSE;
	}
	if (admin->status != 200) {
		applink_jira_set_status_error(jira, admin, error);
		return FALSE;
	}
	return TRUE;
}

GPtrArray *
applink_jira_list_links(const ApplinkJira *jira, GError **error)
{
	const gchar *path = "/rest/applinks/1.0/applicationlink";
	g_autoptr(JsonNode) node = applink_jira_get_json(jira, path, error);

	if (node == NULL)
		return NULL;
	return applink_jira_parse_links(node, "GET /rest/applinks/1.0/applicationlink", error);
}

/*
 * Returns TRUE for the 500 that applinks gives for an unknown link id: a NullPointerException
 * (or IllegalArgumentException on make-primary), often with no message at all. Other server
 * errors stay JiraError, so a broken Jira is not reported as a missing link.
 */
static gboolean
applink_jira_is_unknown_id_error(ApplinkJiraReply *reply)
{
	gsize length = 0;
	const gchar *data = applink_jira_reply_data(reply, &length);
	g_autofree gchar *message = NULL;

	if (reply->status != 500)
		return FALSE;
	message = applink_jira_parse_error_message(data, length);
	return message == NULL || g_str_equal(message, "null") ||
	       strstr(message, "NullPointerException") != NULL ||
	       strstr(message, "IllegalArgumentException") != NULL ||
	       (length > 0 && g_strstr_len(data, (gssize)length, "NullPointerException") != NULL);
}

static void
applink_jira_set_link_not_found(const ApplinkJira *jira, const gchar *id, GError **error)
{
	g_set_error(error,
		    APPLINK_ERROR,
		    APPLINK_ERROR_NOT_FOUND,
		    "no application link '%s' in Jira site '%s'; list the links with "
		    "'applinkctl link list'",
		    id,
		    jira->site);
}

static gboolean
applink_jira_id_is_valid(const gchar *id)
{
	if (id == NULL || id[0] == '\0' || strlen(id) > 64)
		return FALSE;
	for (const gchar *p = id; *p != '\0'; p++) {
		if (!g_ascii_isxdigit(*p) && *p != '-')
			return FALSE;
	}
	return TRUE;
}

ApplinkJiraLink *
applink_jira_get_link(const ApplinkJira *jira, const gchar *id, GError **error)
{
	g_autofree gchar *path = NULL;
	g_autoptr(ApplinkJiraReply) reply = NULL;
	g_autoptr(JsonNode) node = NULL;

	if (!applink_jira_id_is_valid(id)) {
		applink_jira_set_link_not_found(jira, id, error);
		return NULL;
	}
	path = g_strdup_printf("/rest/applinks/1.0/applicationlink/%s", id);
	reply = applink_jira_send(jira, "GET", path, NULL, NULL, error);
	if (reply == NULL)
		return NULL;

	/* Applinks returns a 500 from a null pointer for an unknown id, not a 404. */
	if (reply->status == 404 || applink_jira_is_unknown_id_error(reply)) {
		applink_jira_set_link_not_found(jira, id, error);
		return NULL;
	}
	if (reply->status != 200) {
		applink_jira_set_status_error(jira, reply, error);
		return NULL;
	}
	node = applink_jira_reply_json(jira, reply, error);
	if (node == NULL)
		return NULL;
	return applink_jira_parse_link(node, reply->request, error);
}

/* Finds a link by id, else by its exact name. */
ApplinkJiraLink *
applink_jira_find_link(const ApplinkJira *jira, const gchar *id_or_name, GError **error)
{
	g_autoptr(GPtrArray) links = applink_jira_list_links(jira, error);
	ApplinkJiraLink *by_name = NULL;

	if (links == NULL)
		return NULL;
	for (guint i = 0; i < links->len; i++) {
		ApplinkJiraLink *link = g_ptr_array_index(links, i);

		if (g_strcmp0(link->id, id_or_name) == 0)
			return g_ptr_array_steal_index(links, i);
		if (g_strcmp0(link->name, id_or_name) == 0 && by_name == NULL)
			by_name = link;
	}
	if (by_name != NULL) {
		guint index = 0;

		g_ptr_array_find(links, by_name, &index);
		return g_ptr_array_steal_index(links, index);
	}
	applink_jira_set_link_not_found(jira, id_or_name, error);
	return NULL;
}

gboolean
applink_jira_check_url(const ApplinkJira *jira,
		       const gchar *url,
		       ApplinkJiraUrlCheck *check,
		       GError **error)
{
	g_autofree gchar *escaped = g_uri_escape_string(url, NULL, FALSE);
	g_autofree gchar *path =
		g_strdup_printf("/rest/applinks/1.0/applicationlinkForm/manifest?url=%s", escaped);
	g_autoptr(ApplinkJiraReply) reply = applink_jira_send(jira, "GET", path, NULL, NULL, error);
	g_autoptr(JsonNode) node = NULL;
	gsize length = 0;
	const gchar *data;

	if (reply == NULL)
		return FALSE;
	data = applink_jira_reply_data(reply, &length);

	/* Applinks 9 returns 409 for an existing link or a link to itself, and 3.x returned 404. */
	if (reply->status == 409 || reply->status == 404) {
		g_autofree gchar *message = applink_jira_parse_error_message(data, length);

		check->status = message != NULL && strstr(message, "itsme") != NULL
					? APPLINK_JIRA_URL_IS_SELF
					: APPLINK_JIRA_URL_ALREADY_LINKED;
		check->message = applink_server_text_dup(message, NULL);
		return TRUE;
	}
	if (reply->status == 403) {
		g_autofree gchar *message = applink_jira_parse_error_message(data, length);

		if (message == NULL || strstr(message, "XSRF") == NULL) {
			check->status = APPLINK_JIRA_URL_BLOCKED;
			check->message = applink_server_text_dup(message, NULL);
			return TRUE;
		}
	}
	if (reply->status != 200) {
		applink_jira_set_status_error(jira, reply, error);
		return FALSE;
	}
	node = applink_jira_reply_json(jira, reply, error);
	if (node == NULL)
		return FALSE;
	return applink_jira_parse_url_check(reply->status, node, check, reply->request, error);
}

gboolean
applink_jira_check_type(const ApplinkJira *jira, const gchar *type_id, GError **error)
{
	g_autofree gchar *escaped = g_uri_escape_string(type_id, NULL, FALSE);
	g_autofree gchar *path =
		g_strdup_printf("/rest/applinks/1.0/applicationlink/type/%s", escaped);
	g_autoptr(ApplinkJiraReply) reply = applink_jira_send(jira, "GET", path, NULL, NULL, error);

	if (reply == NULL)
		return FALSE;
	if (reply->status == 400 || reply->status == 404) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_TYPE_NOT_INSTALLED,
			    "Jira at %s has no application type '%s': install and enable the "
			    "Salesforce connector app in Jira, or give the type id it uses with "
			    "--link-type (site add) or --type (link create)",
			    jira->base_url,
			    type_id);
		return FALSE;
	}
	if (reply->status != 200) {
		applink_jira_set_status_error(jira, reply, error);
		return FALSE;
	}
	return TRUE;
}

static GBytes *
applink_jira_json_body(JsonBuilder *builder)
{
	g_autoptr(JsonGenerator) generator = json_generator_new();
	g_autoptr(JsonNode) root = json_builder_get_root(builder);
	gsize length = 0;
	gchar *data;

	json_generator_set_root(generator, root);
	data = json_generator_to_data(generator, &length);
	return g_bytes_new_take(data, length);
}

gchar *
applink_jira_create_link(const ApplinkJira *jira,
			 const gchar *name,
			 const gchar *type_id,
			 const gchar *url,
			 gboolean primary,
			 GError **error)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(GBytes) body = NULL;
	g_autoptr(ApplinkJiraReply) reply = NULL;
	g_autoptr(JsonNode) node = NULL;
	gchar *id;

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "name");
	json_builder_add_string_value(builder, name);
	json_builder_set_member_name(builder, "typeId");
	json_builder_add_string_value(builder, type_id);
	json_builder_set_member_name(builder, "rpcUrl");
	json_builder_add_string_value(builder, url);
	json_builder_set_member_name(builder, "displayUrl");
	json_builder_add_string_value(builder, url);
	json_builder_set_member_name(builder, "isPrimary");
	json_builder_add_boolean_value(builder, primary);
	json_builder_end_object(builder);
	body = applink_jira_json_body(builder);

	reply = applink_jira_send(
		jira, "PUT", "/rest/applinks/2.0/applicationlink", "application/json", body, error);
	if (reply == NULL)
		return NULL;
	if (reply->status == 400 || reply->status == 409) {
		gsize length = 0;
		const gchar *data = applink_jira_reply_data(reply, &length);
		g_autofree gchar *message = applink_jira_parse_error_message(data, length);

		if (message != NULL &&
		    (strstr(message, "duplicate") != NULL || strstr(message, "exists") != NULL)) {
			g_autofree gchar *quoted = applink_server_text_dup(message, NULL);

			g_set_error(
				error,
				APPLINK_ERROR,
				APPLINK_ERROR_ALREADY_EXISTS,
				"Jira at %s already has a link to %s (%s); see 'applinkctl link "
				"list'",
				jira->base_url,
				url,
				quoted);
			return NULL;
		}
	}
	if (reply->status != 201 && reply->status != 200) {
		applink_jira_set_status_error(jira, reply, error);
		return NULL;
	}
	node = applink_jira_reply_json(jira, reply, error);
	id = node != NULL ? applink_jira_parse_created_id(node, reply->request, error) : NULL;
	if (id == NULL)
		g_prefix_error(error,
			       "Jira answered HTTP %u, so it may have created the link, but its id "
			       "could not be read; look for the link with 'applinkctl link list': ",
			       reply->status);
	return id;
}

gboolean
applink_jira_rename_link(const ApplinkJira *jira,
			 const ApplinkJiraLink *link,
			 const gchar *name,
			 GError **error)
{
	g_autoptr(JsonBuilder) builder = json_builder_new();
	g_autoptr(GBytes) body = NULL;
	g_autoptr(ApplinkJiraReply) reply = NULL;
	g_autofree gchar *path = g_strdup_printf("/rest/applinks/2.0/applicationlink/%s", link->id);

	json_builder_begin_object(builder);
	json_builder_set_member_name(builder, "id");
	json_builder_add_string_value(builder, link->id);
	json_builder_set_member_name(builder, "name");
	json_builder_add_string_value(builder, name);
	json_builder_set_member_name(builder, "typeId");
	json_builder_add_string_value(builder, link->type_id);
	json_builder_set_member_name(builder, "displayUrl");
	json_builder_add_string_value(builder, link->display_url);
	if (link->rpc_url != NULL) {
		json_builder_set_member_name(builder, "rpcUrl");
		json_builder_add_string_value(builder, link->rpc_url);
	}
	json_builder_set_member_name(builder, "isPrimary");
	json_builder_add_boolean_value(builder, link->primary);
	json_builder_end_object(builder);
	body = applink_jira_json_body(builder);

	reply = applink_jira_send(jira, "POST", path, "application/json", body, error);
	if (reply == NULL)
		return FALSE;
	if (reply->status == 404) {
		applink_jira_set_link_not_found(jira, link->id, error);
		return FALSE;
	}
	if (reply->status == 400) {
		gsize length = 0;
		const gchar *data = applink_jira_reply_data(reply, &length);
		g_autofree gchar *message = applink_jira_parse_error_message(data, length);
		g_autofree gchar *quoted = applink_server_text_dup(message, "HTTP 400");

		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_ALREADY_EXISTS,
			    "Jira at %s refused to rename link %s to '%s' (%s); the name may be "
			    "taken by another link",
			    jira->base_url,
			    link->id,
			    name,
			    quoted);
		return FALSE;
	}
	if (reply->status != 200 && reply->status != 204) {
		applink_jira_set_status_error(jira, reply, error);
		return FALSE;
	}
	return TRUE;
}

gboolean
applink_jira_make_primary(const ApplinkJira *jira, const gchar *id, GError **error)
{
	g_autofree gchar *path =
		g_strdup_printf("/rest/applinks/1.0/applicationlink/primary/%s", id);
	g_autoptr(GBytes) body = g_bytes_new_static("", 0);
	g_autoptr(ApplinkJiraReply) reply =
		applink_jira_send(jira, "POST", path, "application/json", body, error);

	if (reply == NULL)
		return FALSE;
	if (reply->status == 404 || applink_jira_is_unknown_id_error(reply)) {
		applink_jira_set_link_not_found(jira, id, error);
		return FALSE;
	}
	if (reply->status != 200 && reply->status != 204) {
		applink_jira_set_status_error(jira, reply, error);
		return FALSE;
	}
	return TRUE;
}

gboolean
applink_jira_delete_link(const ApplinkJira *jira, const gchar *id, GError **error)
{
	g_autofree gchar *path = g_strdup_printf("/rest/applinks/2.0/applicationlink/%s", id);
	g_autoptr(ApplinkJiraReply) reply =
		applink_jira_send(jira, "DELETE", path, NULL, NULL, error);

	if (reply == NULL)
		return FALSE;
	if (reply->status == 404) {
		applink_jira_set_link_not_found(jira, id, error);
		return FALSE;
	}
	if (reply->status != 200 && reply->status != 204) {
		applink_jira_set_status_error(jira, reply, error);
		return FALSE;
	}
	return TRUE;
}

gboolean
applink_jira_get_basic_auth(const ApplinkJira *jira,
			    const gchar *id,
			    gboolean *configured,
			    gchar **username,
			    ApplinkSecret **password,
			    GError **error)
{
	g_autofree gchar *path = g_strdup_printf(
		"/rest/applinks/2.0/applicationlink/%s/authentication/provider", id);
	g_autoptr(ApplinkJiraReply) reply = applink_jira_send(jira, "GET", path, NULL, NULL, error);
	g_autoptr(JsonNode) node = NULL;

	if (reply == NULL)
		return FALSE;
	if (reply->status == 404) {
		applink_jira_set_link_not_found(jira, id, error);
		return FALSE;
	}
	if (reply->status != 200) {
		applink_jira_set_status_error(jira, reply, error);
		return FALSE;
	}
	node = applink_jira_reply_json(jira, reply, error);
	if (node == NULL)
		return FALSE;
	return applink_jira_parse_providers(
		node, configured, username, password, reply->request, error);
}

static gchar *
applink_jira_provider_path(const gchar *id)
{
	return g_strdup_printf("/rest/applinks/2.0/applicationlink/%s/authentication/provider", id);
}

/*
 * Reads whether each of @links has the Basic Access outgoing provider, with the requests
 * sent at once rather than one after another. Fills @configured, one entry per link. A
 * reply that asks to retry (429, 503) is read again alone, with the usual retries.
 */
gboolean
applink_jira_get_basic_auth_all(const ApplinkJira *jira,
				GPtrArray *links,
				gboolean *configured,
				GError **error)
{
	g_autoptr(GPtrArray) messages = g_ptr_array_new_with_free_func(g_object_unref);
	g_autoptr(GPtrArray) bodies = NULL;

	for (guint i = 0; i < links->len; i++) {
		ApplinkJiraLink *link = g_ptr_array_index(links, i);
		g_autofree gchar *path = applink_jira_provider_path(link->id);
		SoupMessage *msg = applink_jira_message_new(jira, "GET", path, NULL, NULL, error);

		if (msg == NULL)
			return FALSE;
		g_ptr_array_add(messages, msg);
	}
	bodies = applink_http_send_all(jira->http, messages, jira->cancellable, error);
	if (bodies == NULL)
		return FALSE;
	for (guint i = 0; i < links->len; i++) {
		ApplinkJiraLink *link = g_ptr_array_index(links, i);
		SoupMessage *msg = g_ptr_array_index(messages, i);
		g_autofree gchar *path = applink_jira_provider_path(link->id);
		g_autofree gchar *request = applink_jira_describe_request("GET", path);
		g_autoptr(ApplinkJiraReply) reply = NULL;
		g_autoptr(JsonNode) node = NULL;
		guint status = soup_message_get_status(msg);

		if (status == 429 || status == 503) {
			if (!applink_jira_get_basic_auth(
				    jira, link->id, &configured[i], NULL, NULL, error))
				return FALSE;
			continue;
		}
		reply = applink_jira_reply_new(
			jira, msg, g_bytes_ref(g_ptr_array_index(bodies, i)), request, error);
		if (reply == NULL)
			return FALSE;
		if (reply->status == 404) {
			applink_jira_set_link_not_found(jira, link->id, error);
			return FALSE;
		}
		if (reply->status != 200) {
			applink_jira_set_status_error(jira, reply, error);
			return FALSE;
		}
		node = applink_jira_reply_json(jira, reply, error);
		if (node == NULL ||
		    !applink_jira_parse_providers(node, &configured[i], NULL, NULL, request, error))
			return FALSE;
	}
	return TRUE;
}

gboolean
applink_jira_set_basic_auth(const ApplinkJira *jira,
			    const gchar *id,
			    const gchar *username,
			    const gchar *password,
			    GError **error)
{
	g_autofree gchar *path = g_strdup_printf(
		"/rest/applinks/2.0/applicationlink/%s/authentication/provider", id);
	g_autoptr(ApplinkJiraReply) reply = NULL;
	static const gchar start[] =
		"{\"provider\":\"" APPLINK_JIRA_BASIC_PROVIDER "\",\"config\":{\"username\":\"";
	static const gchar middle[] = "\",\"password\":\"";
	static const gchar end[] = "\"}}";
	g_autoptr(GBytes) body = NULL;
	GString *json;

	/* Built by hand into a buffer that the body wipes when libsoup frees it, because it
	 * contains the password. It is sized for the worst case up front, so that GString never
	 * moves a partly written password with realloc() and leaves an unwiped copy behind. */
	json = g_string_sized_new(sizeof start + sizeof middle + sizeof end +
				  APPLINK_JSON_ESCAPE_MAX_GROWTH *
					  (strlen(username) + strlen(password)));
	g_string_append(json, start);
	applink_json_append_escaped(json, username);
	g_string_append(json, middle);
	applink_json_append_escaped(json, password);
	g_string_append(json, end);
	body = applink_secret_gstring_to_bytes(json);

	reply = applink_jira_send(jira, "PUT", path, "application/json", body, error);
	if (reply == NULL)
		return FALSE;
	if (reply->status == 404) {
		applink_jira_set_link_not_found(jira, id, error);
		return FALSE;
	}
	if (reply->status != 200 && reply->status != 201 && reply->status != 204) {
		applink_jira_set_status_error(jira, reply, error);
		return FALSE;
	}
	return TRUE;
}

gboolean
applink_jira_clear_basic_auth(const ApplinkJira *jira, const gchar *id, GError **error)
{
	g_autofree gchar *path =
		g_strdup_printf("/plugins/servlet/applinks/auth/conf/basic/%s", id);
	g_autoptr(GBytes) body = g_bytes_new_static("method=DELETE", strlen("method=DELETE"));
	g_autoptr(ApplinkJiraReply) reply = NULL;

	reply = applink_jira_send(
		jira, "POST", path, "application/x-www-form-urlencoded", body, error);
	if (reply == NULL)
		return FALSE;
	if (reply->status == 404) {
		applink_jira_set_link_not_found(jira, id, error);
		return FALSE;
	}
	if (reply->status == 302 && reply->location != NULL &&
	    strstr(reply->location, "WebSudo") != NULL) {
		g_set_error(
			error,
			APPLINK_ERROR,
			APPLINK_ERROR_JIRA_WEBSUDO_REQUIRED,
			"Jira at %s sent %s to the secure administrator session (WebSudo) login; "
			"add the site with Basic credentials (--user), which skip WebSudo, or "
			"disable WebSudo in Jira",
			jira->base_url,
			reply->request);
		return FALSE;
	}
	if (reply->status == 302 && reply->location != NULL &&
	    strstr(reply->location, "login") != NULL) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_JIRA_PERMISSION_DENIED,
			    "Jira at %s sent %s to its login page; the user of site '%s' must be a "
			    "Jira system administrator to change Basic Access settings",
			    jira->base_url,
			    reply->request,
			    jira->site);
		return FALSE;
	}
	if (reply->status != 200 && reply->status != 302 && reply->status != 204) {
		applink_jira_set_status_error(jira, reply, error);
		return FALSE;
	}
	return TRUE;
}

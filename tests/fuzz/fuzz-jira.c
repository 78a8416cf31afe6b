/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzzes the parsers of Jira replies. The input is one reply body, passed without a terminating
 * NUL byte like the bodies that applink-http.c reads. The body goes to the error message parser,
 * then to the JSON parser, and the resulting node to every parser of a Jira reply in turn,
 * whatever its shape.
 */
#include "applink-jira.h"
#include "fuzz-target.h"

#define FUZZ_REQUEST "GET /rest/applinks/1.0/applicationlink"

static void
check_link(const ApplinkJiraLink *link)
{
	fuzz_check_required_text("the link id", link->id);
	fuzz_check_required_text("the link name", link->name);
	fuzz_check_required_text("the link type", link->type_id);
	fuzz_check_required_text("the link display URL", link->display_url);
	fuzz_check_text("the link RPC URL", link->rpc_url);
}

static void
fuzz_links(JsonNode *node)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) links = applink_jira_parse_links(node, FUZZ_REQUEST, &error);

	if (links == NULL) {
		fuzz_check_error("applink_jira_parse_links()", error);
		return;
	}
	for (guint i = 0; i < links->len; i++)
		check_link(g_ptr_array_index(links, i));
}

static void
fuzz_link(JsonNode *node)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(ApplinkJiraLink) link = applink_jira_parse_link(node, FUZZ_REQUEST, &error);

	if (link != NULL)
		check_link(link);
	else
		fuzz_check_error("applink_jira_parse_link()", error);
}

/* Runs a parser that returns a string, such as applink_jira_parse_created_id(). */
static void
fuzz_string_parser(JsonNode *node,
		   gchar *(*parse)(JsonNode *node, const gchar *request, GError **error),
		   const gchar *what)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *text = parse(node, FUZZ_REQUEST, &error);
	g_autofree gchar *result = NULL;

	if (text == NULL) {
		fuzz_check_error(what, error);
		return;
	}
	result = g_strdup_printf("the string returned by %s", what);
	fuzz_check_text(result, text);
}

static void
fuzz_url_check(JsonNode *node)
{
	g_autoptr(GError) error = NULL;
	g_auto(ApplinkJiraUrlCheck) check = {0};

	if (!applink_jira_parse_url_check(200, node, &check, FUZZ_REQUEST, &error)) {
		fuzz_check_error("applink_jira_parse_url_check()", error);
		return;
	}
	fuzz_check_text("the redirect target", check.redirected_to);
	fuzz_check_text("the URL check message", check.message);
}

static void
fuzz_providers(JsonNode *node)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *username = NULL;
	g_autoptr(ApplinkSecret) password = NULL;
	gboolean configured = FALSE;

	if (!applink_jira_parse_providers(
		    node, &configured, &username, &password, FUZZ_REQUEST, &error)) {
		fuzz_check_error("applink_jira_parse_providers()", error);
		return;
	}
	fuzz_check_text("the outgoing authentication user name", username);
	fuzz_check_text("the outgoing authentication password", password);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const gchar *body = (const gchar *)data;
	g_autofree gchar *message = applink_jira_parse_error_message(body, size);
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = NULL;

	fuzz_check_text("the error message", message);

	node = applink_jira_parse_json(body, size, "application/json", FUZZ_REQUEST, &error);
	if (node == NULL) {
		fuzz_check_error("applink_jira_parse_json()", error);
		return 0;
	}
	fuzz_links(node);
	fuzz_link(node);
	fuzz_string_parser(node, applink_jira_parse_created_id, "applink_jira_parse_created_id()");
	fuzz_url_check(node);
	fuzz_providers(node);
	fuzz_string_parser(
		node, applink_jira_parse_server_version, "applink_jira_parse_server_version()");
	fuzz_string_parser(node, applink_jira_parse_user_name, "applink_jira_parse_user_name()");
	return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "applink-error.h"
#include "applink-jira.h"
#include "applink-log.h"

static JsonNode *
parse(const gchar *text, GError **error)
{
	return applink_jira_parse_json(text, strlen(text), "application/json", "GET /test", error);
}

static void
test_jira_json_rejects_non_json(void)
{
	const gchar *bodies[] = {
		"",
		"<html><body>Log in</body></html>",
		"  \n<!DOCTYPE html>",
		"{\"applicationLinks\": [",
		"\xff\xfe{}",
		"{\"applicationLinks\": []} trailing",
		"{\"applicationLinks\": [{\"id\": \"a\\ud800\"}]}",
		"{\"applicationLinks\": [{\"id\": \"a\", \"isPrimary\": "
		"123456789012345678901234567890}]}",
	};

	for (gsize i = 0; i < G_N_ELEMENTS(bodies); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(JsonNode) node = parse(bodies[i], &error);

		g_assert_null(node);
		g_assert_error(error, APPLINK_ERROR, APPLINK_ERROR_JIRA);
		g_assert_nonnull(strstr(error->message, "GET /test"));
	}
}

static void
test_jira_json_html_content_type(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = applink_jira_parse_json("{}", 2, "text/html", "GET /x", &error);

	g_assert_null(node);
	g_assert_error(error, APPLINK_ERROR, APPLINK_ERROR_JIRA);
	g_assert_nonnull(strstr(error->message, "HTML"));
}

static void
test_jira_links_parse(void)
{
	const gchar *body =
		"{\"applicationLinks\": ["
		"{\"id\": \"a1\", \"name\": \"SF\", \"typeId\": \"salesforce\","
		" \"displayUrl\": \"https://ap1.salesforce.com\","
		" \"rpcUrl\": \"https://ap1.salesforce.com\", \"isPrimary\": true,"
		" \"isSystem\": false, \"unknown\": [1, 2]},"
		"{\"id\": \"b2\", \"name\": \"System\", \"typeId\": \"jira\","
		" \"displayUrl\": \"https://x\", \"isPrimary\": false, \"isSystem\": true}"
		"]}";
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = parse(body, &error);
	g_autoptr(GPtrArray) links = NULL;
	ApplinkJiraLink *first;
	ApplinkJiraLink *second;

	g_assert_no_error(error);
	links = applink_jira_parse_links(node, "GET /test", &error);
	g_assert_no_error(error);
	g_assert_cmpuint(links->len, ==, 2);
	first = g_ptr_array_index(links, 0);
	second = g_ptr_array_index(links, 1);
	g_assert_cmpstr(first->id, ==, "a1");
	g_assert_cmpstr(first->type_id, ==, "salesforce");
	g_assert_true(first->primary);
	g_assert_false(first->system);
	g_assert_null(second->rpc_url);
	g_assert_true(second->system);
}

static void
test_jira_links_control_in_name(void)
{
	const gchar *body = "{\"applicationLinks\": ["
			    "{\"id\": \"a1\", \"name\": \"Sales\\u0085force\\u202e\", "
			    "\"typeId\": \"salesforce\", \"rpcUrl\": \"https://x\"}]}";
	const gchar *control_in_id = "{\"applicationLinks\": ["
				     "{\"id\": \"a\\u0085\", \"name\": \"SF\", "
				     "\"typeId\": \"salesforce\"}]}";
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) id_error = NULL;
	g_autoptr(JsonNode) node = parse(body, &error);
	g_autoptr(JsonNode) id_node = parse(control_in_id, &id_error);
	g_autoptr(GPtrArray) links = NULL;
	g_autoptr(GPtrArray) id_links = NULL;

	g_assert_no_error(error);
	links = applink_jira_parse_links(node, "GET /test", &error);
	g_assert_no_error(error);
	g_assert_cmpuint(links->len, ==, 1);
	g_assert_cmpstr(((ApplinkJiraLink *)g_ptr_array_index(links, 0))->name,
			==,
			"Sales\xef\xbf\xbd"
			"force\xef\xbf\xbd");

	g_assert_no_error(id_error);
	id_links = applink_jira_parse_links(id_node, "GET /test", &id_error);
	g_assert_null(id_links);
	g_assert_error(id_error, APPLINK_ERROR, APPLINK_ERROR_JIRA);
	g_assert_nonnull(strstr(id_error->message, "U+0085"));
}

/* Replies of the right syntax but the wrong shape: each is an error, never a critical. */
static void
test_jira_links_wrong_shape(void)
{
	const gchar *bodies[] = {
		"[]",
		"{}",
		"{\"applicationLinks\": \"x\"}",
		"{\"applicationLinks\": [1]}",
		"{\"applicationLinks\": [{\"id\": 5, \"name\": \"a\", \"typeId\": \"t\"}]}",
		"{\"applicationLinks\": [{\"id\": \"a\", \"name\": [], \"typeId\": \"t\"}]}",
		"{\"applicationLinks\": [{\"id\": \"a\", \"name\": \"n\", \"typeId\": \"t\","
		" \"isPrimary\": \"yes\"}]}",
		"{\"applicationLinks\": [{\"id\": \"a\", \"name\": \"n\", \"typeId\": \"t\","
		" \"isPrimary\": 1}]}",
		"{\"applicationLinks\": [{\"name\": \"n\", \"typeId\": \"t\"}]}",
	};

	for (gsize i = 0; i < G_N_ELEMENTS(bodies); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(JsonNode) node = parse(bodies[i], &error);
		g_autoptr(GPtrArray) links = NULL;

		g_test_message("body: %s", bodies[i]);
		g_assert_no_error(error);
		links = applink_jira_parse_links(node, "GET /test", &error);
		g_assert_null(links);
		g_assert_error(error, APPLINK_ERROR, APPLINK_ERROR_JIRA);
	}
}

static void
test_jira_created_id(void)
{
	const gchar *body = "{\"status-code\": 201, \"resources-created\": [{\"href\":"
			    " \"http://jira/rest/applinks/2.0/applicationlink/1234-abcd\","
			    " \"rel\": \"self\"}]}";
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = parse(body, &error);
	g_autofree gchar *id = applink_jira_parse_created_id(node, "PUT /x", &error);
	g_autoptr(JsonNode) empty = parse("{\"resources-created\": []}", NULL);
	g_autoptr(GError) empty_error = NULL;
	g_autofree gchar *none = applink_jira_parse_created_id(empty, "PUT /x", &empty_error);

	g_assert_no_error(error);
	g_assert_cmpstr(id, ==, "1234-abcd");
	g_assert_null(none);
	g_assert_error(empty_error, APPLINK_ERROR, APPLINK_ERROR_JIRA);
}

static void
test_jira_error_message_shapes(void)
{
	const struct {
		const gchar *body;
		const gchar *message;
	} cases[] = {
		{"{\"status-code\": 401, \"message\": \"This resource requires WebSudo.\"}",
		 "This resource requires WebSudo."},
		{"{\"status\": 400, \"message\": [\"a\", \"b\"], \"fields\": []}", "a; b"},
		{"{\"errorMessages\": [\"You are not authenticated\"]}",
		 "You are not authenticated"},
		{"XSRF check failed", "XSRF check failed"},
		{"<html>long page</html>", NULL},
		{"{\"message\": 5}", NULL},
		/* Invalid JSON is quoted as it is, like any short plain-text body. */
		{"{\"message\": \"a\\ud800\"}", "{\"message\": \"a\\ud800\"}"},
		{"", NULL},
		{"\n", NULL},
		{" \r\n\t", NULL},
	};
	g_autoptr(GString) long_body = g_string_new("{\"errorMessages\": [\"");
	g_autofree gchar *long_message = NULL;
	g_autofree gchar *quoted = NULL;

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *message =
			applink_jira_parse_error_message(cases[i].body, strlen(cases[i].body));

		g_assert_cmpstr(message, ==, cases[i].message);
	}

	/* The parser returns a long message whole, so that callers can search all of it, and
	 * applink_server_text_dup() cuts it after a whole character, with an ellipsis. */
	for (guint i = 0; i < 1000; i++)
		g_string_append(long_body, "\xc3\xa9");
	g_string_append(long_body, "\"]}");
	long_message = applink_jira_parse_error_message(long_body->str, long_body->len);
	g_assert_nonnull(long_message);
	g_assert_cmpuint(g_utf8_strlen(long_message, -1), ==, 1000);
	quoted = applink_server_text_dup(long_message, NULL);
	g_assert_true(g_utf8_validate(quoted, -1, NULL));
	g_assert_cmpuint(g_utf8_strlen(quoted, -1), ==, APPLINK_SERVER_TEXT_MAX_CHARS + 1);
	g_assert_true(g_str_has_suffix(quoted, "\xc3\xa9…"));
}

static void
test_jira_url_check(void)
{
	const gchar *redirected = "{\"code\": \"applinks.warning.redirected.host\", \"warning\":"
				  " \"moved\", \"params\": {\"redirectedUrl\": \"https://b\"}}";
	g_autoptr(JsonNode) node = parse(redirected, NULL);
	g_autoptr(JsonNode) unknown = parse("{\"code\": \"applinks.warning.unknown.host\"}", NULL);
	g_autoptr(JsonNode) manifest = parse("{}", NULL);
	g_auto(ApplinkJiraUrlCheck) check = {0};
	g_auto(ApplinkJiraUrlCheck) check_unknown = {0};
	g_auto(ApplinkJiraUrlCheck) check_ok = {0};

	g_assert_true(applink_jira_parse_url_check(200, node, &check, "GET /m", NULL));
	g_assert_cmpint(check.status, ==, APPLINK_JIRA_URL_REDIRECTED);
	g_assert_cmpstr(check.redirected_to, ==, "https://b");
	g_assert_true(applink_jira_parse_url_check(200, unknown, &check_unknown, "GET /m", NULL));
	g_assert_cmpint(check_unknown.status, ==, APPLINK_JIRA_URL_UNKNOWN_HOST);
	g_assert_true(applink_jira_parse_url_check(200, manifest, &check_ok, "GET /m", NULL));
	g_assert_cmpint(check_ok.status, ==, APPLINK_JIRA_URL_OK);
}

static void
test_jira_providers(void)
{
	const gchar *body =
		"{\"authenticationProviders\": [{\"provider\":"
		" \"com.atlassian.applinks.api.auth.types.BasicAuthenticationProvider\","
		" \"config\": {\"username\": \"u\", \"password\": \"pT\"}}]}";
	g_autoptr(JsonNode) node = parse(body, NULL);
	g_autoptr(JsonNode) none = parse("{\"authenticationProviders\": []}", NULL);
	g_autoptr(JsonNode) bad = parse("{\"authenticationProviders\": [{\"provider\": 1}]}", NULL);
	g_autofree gchar *username = NULL;
	g_autoptr(ApplinkSecret) password = NULL;
	g_autoptr(GError) error = NULL;
	gboolean configured = FALSE;

	g_assert_true(applink_jira_parse_providers(
		node, &configured, &username, &password, "GET /p", NULL));
	g_assert_true(configured);
	g_assert_cmpstr(username, ==, "u");
	g_assert_cmpstr(password, ==, "pT");
	g_assert_true(applink_jira_parse_providers(none, &configured, NULL, NULL, "GET /p", NULL));
	g_assert_false(configured);
	g_assert_false(
		applink_jira_parse_providers(bad, &configured, NULL, NULL, "GET /p", &error));
	g_assert_error(error, APPLINK_ERROR, APPLINK_ERROR_JIRA);
}

static void
test_jira_server_info(void)
{
	g_autoptr(JsonNode) info =
		parse("{\"version\": \"9.12.2\", \"versionNumbers\": [9, 12, 2]}", NULL);
	g_autoptr(JsonNode) bad = parse("{\"version\": 9}", NULL);
	g_autoptr(GError) error = NULL;
	g_autofree gchar *version = applink_jira_parse_server_version(info, "GET /s", NULL);
	g_autofree gchar *none = applink_jira_parse_server_version(bad, "GET /s", &error);

	g_assert_cmpstr(version, ==, "9.12.2");
	g_assert_null(none);
	g_assert_error(error, APPLINK_ERROR, APPLINK_ERROR_JIRA);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/jira/json/non-json", test_jira_json_rejects_non_json);
	g_test_add_func("/jira/json/html-content-type", test_jira_json_html_content_type);
	g_test_add_func("/jira/links/parse", test_jira_links_parse);
	g_test_add_func("/jira/links/wrong-shape", test_jira_links_wrong_shape);
	g_test_add_func("/jira/links/control-in-name", test_jira_links_control_in_name);
	g_test_add_func("/jira/created-id", test_jira_created_id);
	g_test_add_func("/jira/error-message", test_jira_error_message_shapes);
	g_test_add_func("/jira/url-check", test_jira_url_check);
	g_test_add_func("/jira/providers", test_jira_providers);
	g_test_add_func("/jira/server-info", test_jira_server_info);
	return g_test_run();
}

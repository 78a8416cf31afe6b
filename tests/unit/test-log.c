/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "applink-log.h"
#include "applink-secret.h"

typedef struct {
	const gchar *message;
	const gchar *redacted;
} RedactCase;

static void
test_log_redact_patterns(void)
{
	const RedactCase cases[] = {
		{"Authorization: Bearer abc123", "Authorization: Bearer [redacted]"},
		{"authorization: Basic dXNlcjpwdw==, next",
		 "authorization: Basic [redacted], next"},
		{"Authorization:xyz", "Authorization:[redacted]"},
		{"got Bearer abc123 back", "got Bearer [redacted] back"},
		{"grant_type=password&password=pw1&client_secret=cs1",
		 "grant_type=password&password=[redacted]&client_secret=[redacted]"},
		{"{\"password\": \"a b c\", \"user\": \"u\"}",
		 "{\"password\": \"[redacted]\", \"user\": \"u\"}"},
		{"{\"access_token\":\"00D!AQ\",\"x\":1}",
		 "{\"access_token\":\"[redacted]\",\"x\":1}"},
		{"access_token=00D!AQ&x=1", "access_token=[redacted]&x=1"},
		{"<sessionId>00D!AQ</sessionId>", "<sessionId>[redacted]</sessionId>"},
		{"no credential here", "no credential here"},
		{"line\nbreak\x1b[2J", "line\\x0abreak\\x1b[2J"},
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *redacted = applink_log_redact(cases[i].message);

		g_assert_cmpstr(redacted, ==, cases[i].redacted);
	}
}

static void
test_log_redact_watched_secret(void)
{
	g_autofree gchar *before = NULL;
	g_autofree gchar *watched = NULL;
	g_autofree gchar *after = NULL;

	before = applink_log_redact("Jira said: pw-1234 is wrong");
	applink_secret_watch("pw-1234");
	watched = applink_log_redact("Jira said: pw-1234 is wrong");
	applink_secret_forget_watched();
	after = applink_log_redact("Jira said: pw-1234 is wrong");

	g_assert_cmpstr(before, ==, "Jira said: pw-1234 is wrong");
	g_assert_cmpstr(watched, ==, "Jira said: [redacted] is wrong");
	g_assert_cmpstr(after, ==, "Jira said: pw-1234 is wrong");
}

static void
test_secret_scrub_longest_first(void)
{
	g_autofree gchar *scrubbed = NULL;
	g_autofree gchar *empty = NULL;

	applink_secret_watch("abcd");
	applink_secret_watch("abcdef");
	applink_secret_watch("abc");
	applink_secret_watch("");
	applink_secret_watch(NULL);
	scrubbed = applink_secret_scrub("xabcdefy abcd abcdab abc");
	empty = applink_secret_scrub("");
	applink_secret_forget_watched();

	/* "abc" is shorter than APPLINK_SECRET_MIN_WATCHED_LENGTH, so it stays. */
	g_assert_cmpstr(scrubbed, ==, "x[redacted]y [redacted] [redacted]ab abc");
	g_assert_cmpstr(empty, ==, "");
	g_assert_null(applink_secret_scrub(NULL));
}

static void
test_secret_watch_authorization(void)
{
	g_autofree gchar *header = NULL;
	g_autofree gchar *token = NULL;

	applink_secret_watch_authorization("Bearer tok-5678");
	header = applink_secret_scrub("sent Bearer tok-5678");
	token = applink_secret_scrub("token tok-5678 expired");
	applink_secret_forget_watched();

	g_assert_cmpstr(header, ==, "sent [redacted]");
	g_assert_cmpstr(token, ==, "token [redacted] expired");
}

/* A server may quote the request body back, so the forms in which a secret is sent are
 * masked as well. */
static void
test_secret_watch_encoded_forms(void)
{
	g_autofree gchar *percent = NULL;
	g_autofree gchar *form = NULL;
	g_autofree gchar *xml = NULL;
	g_autofree gchar *json = NULL;
	g_autofree gchar *json_logged = NULL;

	applink_secret_watch("q\"uo\\te");
	json = applink_secret_scrub("{\"password\":\"q\\\"uo\\\\te\"}");
	json_logged = applink_log_redact("Jira: {\"password\":\"q\\\"uo\\\\te\", \"x\": 1}");
	applink_secret_forget_watched();
	applink_secret_watch("p@ss w+rd&<1>");
	percent = applink_secret_scrub("body p%40ss%20w%2Brd%26%3C1%3E end");
	form = applink_secret_scrub("body p%40ss+w%2Brd%26%3C1%3E end");
	xml = applink_secret_scrub("<password>p@ss w+rd&amp;&lt;1&gt;</password>");
	g_assert_true(applink_secret_appears_in("x p@ss w+rd&<1> y"));
	g_assert_false(applink_secret_appears_in("x p@ss y"));
	applink_secret_forget_watched();

	g_assert_cmpstr(percent, ==, "body [redacted] end");
	g_assert_cmpstr(form, ==, "body [redacted] end");
	g_assert_cmpstr(xml, ==, "<password>[redacted]</password>");
	g_assert_cmpstr(json, ==, "{\"password\":\"[redacted]\"}");
	g_assert_cmpstr(json_logged, ==, "Jira: {\"password\":\"[redacted]\", \"x\": 1}");
	g_assert_false(applink_secret_appears_in("x p@ss w+rd&<1> y"));
}

/* A secret that straddles the cut of a server's text is masked before the cut. */
static void
test_server_text_masked_before_cut(void)
{
	const gchar *secret = "tok-0123456789abcdef";
	g_autofree gchar *padding = g_strnfill(APPLINK_SERVER_TEXT_MAX_CHARS - 5, 'A');
	g_autofree gchar *text = g_strconcat(padding, secret, NULL);
	g_autofree gchar *quoted = NULL;

	applink_secret_watch(secret);
	quoted = applink_server_text_dup(text, NULL);
	applink_secret_forget_watched();

	g_assert_null(strstr(quoted, "tok-"));
	g_assert_true(g_str_has_prefix(quoted, padding));
	g_assert_true(g_str_has_suffix(quoted, "[reda…"));
}

static void
test_log_line_cut(void)
{
	g_autofree gchar *long_message = g_strnfill(100000, 'x');
	g_autofree gchar *line = applink_log_redact(long_message);

	g_assert_cmpuint(strlen(line), <=, 4096 + strlen("…"));
	g_assert_true(g_str_has_suffix(line, "x…"));
}

/* The pattern redaction of a quoted JSON value does not stop at an escaped quote. */
static void
test_log_redact_escaped_quote(void)
{
	g_autofree gchar *line = applink_log_redact("{\"password\":\"ab\\\"cd\",\"x\":1}");

	g_assert_cmpstr(line, ==, "{\"password\":\"[redacted]\",\"x\":1}");
}

/* An error message that is too long loses its middle, so that its end, which names the next
 * step, stays. */
static void
test_text_make_printable_elided(void)
{
	g_autofree gchar *value = g_strnfill(5000, 'v');
	g_autofree gchar *message =
		g_strdup_printf("the name '%s' is invalid; use up to 64 letters", value);
	g_autofree gchar *elided = applink_text_make_printable_elided(message, 1000);
	g_autofree gchar *short_text = applink_text_make_printable_elided("a\x01"
									  "b",
									  1000);
	GString *wide = g_string_new(NULL);
	g_autofree gchar *wide_elided = NULL;

	g_assert_cmpint(g_utf8_strlen(elided, -1), ==, 1000);
	g_assert_true(g_str_has_prefix(elided, "the name 'vvv"));
	g_assert_true(g_str_has_suffix(elided, "vvv' is invalid; use up to 64 letters"));
	g_assert_nonnull(strstr(elided, "v…v"));
	g_assert_cmpstr(short_text,
			==,
			"a\xef\xbf\xbd"
			"b");

	/* Characters are counted, not bytes: é is two bytes. */
	for (guint i = 0; i < 2000; i++)
		g_string_append(wide, "é");
	wide_elided = applink_text_make_printable_elided(wide->str, 10);
	g_string_free(wide, TRUE);
	g_assert_cmpstr(wide_elided, ==, "éééééé…ééé");
}

static gpointer
scrub_in_thread(gpointer data)
{
	return applink_secret_scrub(data);
}

/* Each worker thread watches the secrets of its own call only. */
static void
test_secret_watch_per_thread(void)
{
	GThread *thread;
	g_autofree gchar *other_thread = NULL;
	g_autofree gchar *this_thread = NULL;

	applink_secret_watch("thread-secret");
	thread = g_thread_new("scrub", scrub_in_thread, "a thread-secret b");
	other_thread = g_thread_join(thread);
	this_thread = applink_secret_scrub("a thread-secret b");
	applink_secret_forget_watched();

	g_assert_cmpstr(other_thread, ==, "a thread-secret b");
	g_assert_cmpstr(this_thread, ==, "a [redacted] b");
}

static void
test_text_make_printable(void)
{
	g_autofree gchar *controls = applink_text_make_printable("a\x1b[2J\tb\xc2\x9b\n", 100);
	g_autofree gchar *direction = applink_text_make_printable("abc\xe2\x80\xae"
								  "def",
								  100);
	g_autofree gchar *invalid = applink_text_make_printable("a\xff"
								"b",
								100);
	g_autofree gchar *cut = applink_text_make_printable("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 3);
	g_autofree gchar *exact = applink_text_make_printable("abc", 3);
	g_autofree gchar *server = applink_server_text_dup(NULL, "none");

	g_assert_cmpstr(controls,
			==,
			"a\xef\xbf\xbd[2J\xef\xbf\xbd"
			"b\xef\xbf\xbd\xef\xbf\xbd");
	g_assert_cmpstr(direction,
			==,
			"abc\xef\xbf\xbd"
			"def");
	g_assert_cmpstr(invalid,
			==,
			"a\xef\xbf\xbd"
			"b");
	g_assert_cmpstr(cut, ==, "\xc3\xa9\xc3\xa9\xc3\xa9…");
	g_assert_cmpstr(exact, ==, "abc");
	g_assert_cmpstr(server, ==, "none");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/log/redact/patterns", test_log_redact_patterns);
	g_test_add_func("/log/redact/watched-secret", test_log_redact_watched_secret);
	g_test_add_func("/secret/scrub/longest-first", test_secret_scrub_longest_first);
	g_test_add_func("/secret/scrub/authorization", test_secret_watch_authorization);
	g_test_add_func("/secret/scrub/per-thread", test_secret_watch_per_thread);
	g_test_add_func("/secret/scrub/encoded-forms", test_secret_watch_encoded_forms);
	g_test_add_func("/log/server-text/masked-before-cut", test_server_text_masked_before_cut);
	g_test_add_func("/log/redact/line-cut", test_log_line_cut);
	g_test_add_func("/text/make-printable", test_text_make_printable);
	g_test_add_func("/text/make-printable-elided", test_text_make_printable_elided);
	g_test_add_func("/log/redact/escaped-quote", test_log_redact_escaped_quote);
	return g_test_run();
}

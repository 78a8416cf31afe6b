/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <json-glib/json-glib.h>
#include <string.h>

#include "applink-json.h"

typedef struct {
	const gchar *name;
	const gchar *text;
	/* NULL when the text is accepted, otherwise a part of the expected error message. */
	const gchar *message;
	/* The length of a text with a NUL byte inside, or 0 to use strlen(). */
	gsize length;
} JsonCase;

static const JsonCase json_cases[] = {
	/* Accepted: every kind of value, and whitespace where the grammar allows it. */
	{"object", "{\"a\": 1, \"b\": [true, false, null]}", NULL},
	{"empty-containers", "[{}, [], {\"a\": {}}]", NULL},
	{"scalar-root", "\"text\"", NULL},
	{"number-root", "-0", NULL},
	{"whitespace", " \t\r\n[ 1 , { \"a\" : 2 } ] \n", NULL},
	{"numbers", "[0, -1, 1.5, -0.25e-3, 1E+5, 2e9, 123456789]", NULL},
	{"integer-max", "[9223372036854775807, -9223372036854775808]", NULL},
	{"large-double", "[1e400, 1.5e-400]", NULL},
	{"escapes", "\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\uFFFF\"", NULL},
	{"surrogate-pair", "\"\\ud834\\udd1e\"", NULL},
	{"raw-utf8", "\"\xc3\xa9 \xf0\x9d\x84\x9e\"", NULL},
	{"empty-member-name", "{\"\": 1}", NULL},
	{"duplicate-members", "{\"a\": 1, \"a\": 2}", NULL},
	{"byte-order-mark", "\xef\xbb\xbf{}", NULL},

	/* Rejected syntax. */
	{"empty", "", "ends at byte 0 where a value was expected"},
	{"only-whitespace", "  \n", "ends at byte 3 where a value was expected"},
	{"trailing-text", "{} x", "unexpected character \"x\" at byte 3"},
	{"two-values", "[1] [2]", "where the end of the text was expected"},
	{"trailing-comma-array", "[1,]", "unexpected character \"]\" at byte 3"},
	{"trailing-comma-object", "{\"a\": 1,}", "a member name in double quotes"},
	{"missing-comma", "[1 2]", "',' or ']'"},
	{"missing-colon", "{\"a\" 1}", "':' after the member name"},
	{"unquoted-name", "{a: 1}", "a member name in double quotes"},
	{"single-quotes", "['a']", "unexpected character \"'\" at byte 1"},
	{"unclosed-array", "[1, 2", "ends at byte 5 where ',' or ']' was expected"},
	{"unclosed-object", "{\"a\": 1", "',' or '}'"},
	{"unclosed-string", "[\"abc", "the string at byte 1 is not closed"},
	{"mismatched-close", "[1}", "',' or ']'"},
	{"stray-close", "]", "unexpected character \"]\" at byte 0"},
	{"bad-literal", "[tru]", "invalid value at byte 1, where true was expected"},
	{"literal-suffix", "nulll", "where the end of the text was expected"},
	{"capital-literal", "True", "unexpected character \"T\""},
	{"nan", "NaN", "unexpected character \"N\""},
	{"leading-zero", "[01]", "',' or ']'"},
	{"leading-plus", "+1", "unexpected character \"+\""},
	{"leading-point", "[.5]", "unexpected character \".\""},
	{"trailing-point", "[1.]", "where a digit was expected"},
	{"empty-exponent", "[1e]", "where a digit was expected"},
	{"lone-minus", "[-]", "where a digit was expected"},
	{"hexadecimal", "0x10", "unexpected character \"x\" at byte 1"},
	{"comment", "[1 /* one */]", "',' or ']'"},
	{"nul-byte", "[1,\0 2]", "contains a NUL byte at byte 3", 7},
	{"vertical-tab", "[\v1]", "unexpected character U+000B at byte 1"},
	{"non-ascii-character", "[\xc3\xa9]", "unexpected character \"\xc3\xa9\" at byte 1"},

	/* Rejected strings. */
	{"raw-newline", "\"a\nb\"", "contains the control character 0x0a at byte 2"},
	{"raw-tab", "\"a\tb\"", "control character 0x09"},
	{"unknown-escape", "\"\\x\"", "unexpected character \"x\" at byte 2"},
	{"short-unicode-escape", "\"\\u12\"", "where a hexadecimal digit was expected"},
	{"unicode-escape-at-end", "\"\\u00", "ends at byte 5 where a hexadecimal digit"},
	{"escape-at-end", "\"\\", "ends at byte 2"},
	{"nul-escape", "\"a\\u0000b\"", "\\u0000 at byte 2 is not accepted"},
	{"lone-high-surrogate", "\"\\ud800\"", "at byte 1 is an unpaired UTF-16 surrogate"},
	{"lone-low-surrogate", "\"\\udc00\\ud800\"", "at byte 1 is an unpaired"},
	{"high-then-letter", "\"\\ud834\\u0041\"", "at byte 1 is an unpaired"},
	{"high-then-high", "\"\\ud834\\ud834\"", "at byte 1 is an unpaired"},
	{"high-then-text", "\"\\ud834x\"", "at byte 1 is an unpaired"},
	{"high-at-end", "[\"\\ud834", "at byte 2 is an unpaired"},
	{"high-then-short-escape",
	 "\"\\ud834\\u12\"",
	 "unexpected character '\"' at byte 11, where a hexadecimal digit was expected"},
	{"invalid-utf8", "\"\xff\"", "not valid UTF-8 at byte 1"},
	{"overlong-utf8", "\"\xc0\xaf\"", "not valid UTF-8 at byte 1"},
	{"utf8-surrogate", "\"\xed\xa0\x80\"", "not valid UTF-8 at byte 1"},

	/* Rejected numbers that json-glib would read wrongly. */
	{"integer-too-large", "[9223372036854775808]", "integer at byte 1 is outside the range"},
	{"integer-too-small", "[-9223372036854775809]", "outside the range"},
	{"integer-twenty-digits", "12345678901234567890", "outside the range"},
	{"integer-many-digits", "[1000000000000000000000000000000]", "outside the range"},
};

/* Returns @count copies of @open, then a 1, then the matching closing brackets. */
static gchar *
nested_text(guint count, gchar open)
{
	GString *text = g_string_new(NULL);

	for (guint i = 0; i < count; i++)
		g_string_append(text, open == '[' ? "[" : "{\"a\":");
	g_string_append_c(text, '1');
	for (guint i = 0; i < count; i++)
		g_string_append_c(text, open == '[' ? ']' : '}');
	return g_string_free(text, FALSE);
}

static void
check_case(gconstpointer data)
{
	const JsonCase *json_case = data;
	gsize length = json_case->length != 0 ? json_case->length : strlen(json_case->text);
	g_autoptr(GError) error = NULL;
	gboolean accepted;

	accepted = applink_json_check(json_case->text, length, &error);
	if (json_case->message == NULL) {
		g_autoptr(JsonParser) parser = json_parser_new();
		g_autoptr(GError) parse_error = NULL;

		g_assert_no_error(error);
		g_assert_true(accepted);
		/* Everything that the check accepts must be parsed by json-glib as well. */
		g_assert_true(json_parser_load_from_data(
			parser, json_case->text, (gssize)length, &parse_error));
		g_assert_no_error(parse_error);
		g_assert_nonnull(json_parser_get_root(parser));
		return;
	}
	g_assert_false(accepted);
	g_assert_error(error, JSON_PARSER_ERROR, error->code);
	g_assert_true(error->code == JSON_PARSER_ERROR_PARSE ||
		      error->code == JSON_PARSER_ERROR_INVALID_BAREWORD ||
		      error->code == JSON_PARSER_ERROR_INVALID_DATA);
	if (strstr(error->message, json_case->message) == NULL)
		g_error("the error for %s is \"%s\", which lacks \"%s\"",
			json_case->name,
			error->message,
			json_case->message);
}

static void
test_json_depth_limit(void)
{
	g_autofree gchar *deepest_array = nested_text(APPLINK_JSON_MAX_DEPTH, '[');
	g_autofree gchar *deepest_object = nested_text(APPLINK_JSON_MAX_DEPTH, '{');
	g_autofree gchar *too_deep_array = nested_text(APPLINK_JSON_MAX_DEPTH + 1, '[');
	g_autofree gchar *too_deep_object = nested_text(APPLINK_JSON_MAX_DEPTH + 1, '{');
	g_autoptr(GError) array_error = NULL;
	g_autoptr(GError) object_error = NULL;

	g_assert_true(applink_json_check(deepest_array, strlen(deepest_array), NULL));
	g_assert_true(applink_json_check(deepest_object, strlen(deepest_object), NULL));
	g_assert_false(applink_json_check(too_deep_array, strlen(too_deep_array), &array_error));
	g_assert_error(array_error, JSON_PARSER_ERROR, JSON_PARSER_ERROR_INVALID_DATA);
	g_assert_nonnull(strstr(array_error->message, "deeper than 64 levels at byte 64"));
	g_assert_false(applink_json_check(too_deep_object, strlen(too_deep_object), &object_error));
	g_assert_error(object_error, JSON_PARSER_ERROR, JSON_PARSER_ERROR_INVALID_DATA);
	g_assert_nonnull(strstr(object_error->message, "deeper than 64 levels"));
}

/* Closing brackets after the deepest level must match the containers in order. */
static void
test_json_mixed_nesting(void)
{
	const gchar *matched = "[{\"a\": [{}, {\"b\": [1]}]}, 2]";
	const gchar *mismatched = "[{\"a\": [{}, {\"b\": [1]]}], 2]";
	g_autoptr(GError) error = NULL;

	g_assert_true(applink_json_check(matched, strlen(matched), NULL));
	g_assert_false(applink_json_check(mismatched, strlen(mismatched), &error));
	g_assert_nonnull(strstr(error->message, "',' or '}'"));
}

/* The text need not end with a NUL byte: the check reads only @length bytes, even where the
 * bytes after them would complete a value. */
static void
test_json_length_bound(void)
{
	const gchar text[] = "[1, 2]garbage";
	const struct {
		const gchar *text;
		gsize length;
	} cuts[] = {
		{"true", 3},
		{"\"\\u0041\"", 5},
		{"\"\\ud834\\udd1e\"", 10},
		{"1e5", 2},
		{"-5", 1},
		{"\"ab\"", 3},
		{"{\"a\":1}", 6},
	};

	g_assert_true(applink_json_check(text, 6, NULL));
	g_assert_false(applink_json_check(text, 5, NULL));
	g_assert_false(applink_json_check(text, sizeof text - 1, NULL));
	for (gsize i = 0; i < G_N_ELEMENTS(cuts); i++) {
		g_assert_true(applink_json_check(cuts[i].text, strlen(cuts[i].text), NULL));
		g_assert_false(applink_json_check(cuts[i].text, cuts[i].length, NULL));
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	for (gsize i = 0; i < G_N_ELEMENTS(json_cases); i++) {
		g_autofree gchar *path = g_strdup_printf("/json/check/%s", json_cases[i].name);

		g_test_add_data_func(path, &json_cases[i], check_case);
	}
	g_test_add_func("/json/check/depth-limit", test_json_depth_limit);
	g_test_add_func("/json/check/mixed-nesting", test_json_mixed_nesting);
	g_test_add_func("/json/check/length-bound", test_json_length_bound);
	return g_test_run();
}

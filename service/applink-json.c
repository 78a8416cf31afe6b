/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "applink-json.h"

#include <errno.h>
#include <json-glib/json-glib.h>
#include <string.h>

/*
 * A strict JSON syntax check (RFC 8259) that runs before json-glib reads a reply. Only text that
 * passes it reaches json_parser_load_from_data(), for three reasons:
 *
 * - json-glib 1.6.6 (Debian 12) leaks memory when a parse fails part-way, for example on an
 * unpaired surrogate escape or on text after the root value.
 * - It parses recursively, so deep nesting could overflow the stack of a worker thread.
 * - It reads some input wrongly without an error: integers beyond the range of gint64 wrap
 *   around, and a \u0000 escape cuts its string short.
 *
 * NOTE: Doubles beyond the range of a double, such as 1e400, pass and become infinity in
 * json-glib. No reply that applinkd reads has a member of type double.
 *
 * The check is iterative and stops at the first error, which it reports with the byte offset.
 */

typedef struct {
	const gchar *data;
	gsize length;
	gsize position;
} JsonCheck;

/* Sets an error for the character at the current position, or for the end of the text. The text
 * is valid UTF-8 when this runs, so the character is quoted whole. */
static void
set_unexpected_error(const JsonCheck *check, const gchar *expected, GError **error)
{
	gunichar c;

	if (check->position >= check->length) {
		g_set_error(error,
			    JSON_PARSER_ERROR,
			    JSON_PARSER_ERROR_PARSE,
			    "the text ends at byte %" G_GSIZE_FORMAT " where %s was expected",
			    check->position,
			    expected);
		return;
	}
	c = g_utf8_get_char(check->data + check->position);
	if (g_unichar_isgraph(c)) {
		gchar character[7] = {0};

		g_unichar_to_utf8(c, character);
		g_set_error(error,
			    JSON_PARSER_ERROR,
			    JSON_PARSER_ERROR_PARSE,
			    "unexpected character %s%s%s at byte %" G_GSIZE_FORMAT
			    ", where %s was expected",
			    c == '"' ? "'" : "\"",
			    character,
			    c == '"' ? "'" : "\"",
			    check->position,
			    expected);
	} else {
		g_set_error(error,
			    JSON_PARSER_ERROR,
			    JSON_PARSER_ERROR_PARSE,
			    "unexpected character U+%04X at byte %" G_GSIZE_FORMAT
			    ", where %s was expected",
			    c,
			    check->position,
			    expected);
	}
}

static gboolean
is_at_end(const JsonCheck *check)
{
	return check->position >= check->length;
}

static gchar
peek(const JsonCheck *check)
{
	return is_at_end(check) ? '\0' : check->data[check->position];
}

static void
skip_whitespace(JsonCheck *check)
{
	while (!is_at_end(check)) {
		gchar c = check->data[check->position];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		check->position++;
	}
}

/* Reads the four hexadecimal digits of a \u escape that starts at the backslash. */
static gboolean
read_unicode_escape(JsonCheck *check, gunichar *code_unit, GError **error)
{
	gsize start = check->position;

	*code_unit = 0;
	check->position = start + 1;
	if (peek(check) != 'u') {
		set_unexpected_error(check, "a \\u escape", error);
		return FALSE;
	}
	for (check->position = start + 2; check->position < start + 6; check->position++) {
		gint digit = g_ascii_xdigit_value(peek(check));

		if (is_at_end(check) || digit < 0) {
			set_unexpected_error(check, "a hexadecimal digit", error);
			return FALSE;
		}
		*code_unit = *code_unit * 16 + (gunichar)digit;
	}
	return TRUE;
}

/* Checks a \u escape that starts at the backslash, with its low surrogate if it needs one. */
static gboolean
check_unicode_escape(JsonCheck *check, GError **error)
{
	gsize start = check->position;
	gunichar code_unit;
	gunichar low;

	if (!read_unicode_escape(check, &code_unit, error))
		return FALSE;
	if (code_unit == 0) {
		g_set_error(error,
			    JSON_PARSER_ERROR,
			    JSON_PARSER_ERROR_INVALID_DATA,
			    "the escape \\u0000 at byte %" G_GSIZE_FORMAT
			    " is not accepted, because "
			    "a NUL character would cut its string short",
			    start);
		return FALSE;
	}
	if (code_unit >= 0xdc00 && code_unit <= 0xdfff)
		goto unpaired;
	if (code_unit < 0xd800 || code_unit > 0xdbff)
		return TRUE;
	if (peek(check) != '\\' || check->position + 1 >= check->length ||
	    check->data[check->position + 1] != 'u')
		goto unpaired;
	/* A malformed escape after the high surrogate is reported as such, at its own offset. */
	if (!read_unicode_escape(check, &low, error))
		return FALSE;
	if (low < 0xdc00 || low > 0xdfff)
		goto unpaired;
	return TRUE;

unpaired:
	g_set_error(error,
		    JSON_PARSER_ERROR,
		    JSON_PARSER_ERROR_INVALID_DATA,
		    "the escape at byte %" G_GSIZE_FORMAT " is an unpaired UTF-16 surrogate",
		    start);
	return FALSE;
}

static gboolean
check_string(JsonCheck *check, GError **error)
{
	gsize start = check->position;

	check->position++;
	while (!is_at_end(check)) {
		guchar c = (guchar)check->data[check->position];

		if (c == '"') {
			check->position++;
			return TRUE;
		}
		if (c < 0x20) {
			g_set_error(error,
				    JSON_PARSER_ERROR,
				    JSON_PARSER_ERROR_INVALID_DATA,
				    "the string at byte %" G_GSIZE_FORMAT " contains the control "
				    "character 0x%02x at byte %" G_GSIZE_FORMAT
				    ", which must be escaped",
				    start,
				    c,
				    check->position);
			return FALSE;
		}
		if (c != '\\') {
			check->position++;
			continue;
		}
		if (check->position + 1 < check->length &&
		    check->data[check->position + 1] == 'u') {
			if (!check_unicode_escape(check, error))
				return FALSE;
			continue;
		}
		check->position++;
		/* memchr(), unlike strchr(), does not match the terminating NUL byte. */
		if (is_at_end(check) || memchr("\"\\/bfnrt", peek(check), 8) == NULL) {
			set_unexpected_error(
				check, "an escape character such as \\n or \\u", error);
			return FALSE;
		}
		check->position++;
	}
	g_set_error(error,
		    JSON_PARSER_ERROR,
		    JSON_PARSER_ERROR_PARSE,
		    "the string at byte %" G_GSIZE_FORMAT " is not closed",
		    start);
	return FALSE;
}

static gboolean
skip_digits(JsonCheck *check, GError **error)
{
	if (!g_ascii_isdigit(peek(check))) {
		set_unexpected_error(check, "a digit", error);
		return FALSE;
	}
	while (g_ascii_isdigit(peek(check)))
		check->position++;
	return TRUE;
}

/* Checks that an integer without fraction or exponent fits in a gint64, as json-glib stores it. */
static gboolean
check_integer_range(const JsonCheck *check, gsize start, GError **error)
{
	/* A sign, 19 digits and the NUL byte: the maximum length of a gint64 in decimal. */
	gchar text[21];
	gsize length = check->position - start;
	gchar *end = NULL;

	if (length < sizeof text) {
		memcpy(text, check->data + start, length);
		text[length] = '\0';
		errno = 0;
		g_ascii_strtoll(text, &end, 10);
		if (errno == 0 && end == text + length)
			return TRUE;
	}
	g_set_error(error,
		    JSON_PARSER_ERROR,
		    JSON_PARSER_ERROR_INVALID_DATA,
		    "the integer at byte %" G_GSIZE_FORMAT " is outside the range of a 64-bit "
		    "signed integer",
		    start);
	return FALSE;
}

static gboolean
check_number(JsonCheck *check, GError **error)
{
	gsize start = check->position;
	gboolean is_integer = TRUE;

	if (peek(check) == '-')
		check->position++;
	if (peek(check) == '0')
		check->position++;
	else if (!skip_digits(check, error))
		return FALSE;
	if (peek(check) == '.') {
		check->position++;
		is_integer = FALSE;
		if (!skip_digits(check, error))
			return FALSE;
	}
	if (peek(check) == 'e' || peek(check) == 'E') {
		check->position++;
		is_integer = FALSE;
		if (peek(check) == '+' || peek(check) == '-')
			check->position++;
		if (!skip_digits(check, error))
			return FALSE;
	}
	return !is_integer || check_integer_range(check, start, error);
}

static gboolean
check_literal(JsonCheck *check, const gchar *literal, GError **error)
{
	gsize length = strlen(literal);

	if (check->length - check->position < length ||
	    memcmp(check->data + check->position, literal, length) != 0) {
		g_set_error(error,
			    JSON_PARSER_ERROR,
			    JSON_PARSER_ERROR_INVALID_BAREWORD,
			    "invalid value at byte %" G_GSIZE_FORMAT ", where %s was expected",
			    check->position,
			    literal);
		return FALSE;
	}
	check->position += length;
	return TRUE;
}

/* Checks a string, number or literal. */
static gboolean
check_scalar(JsonCheck *check, GError **error)
{
	switch (peek(check)) {
	case '"':
		return check_string(check, error);
	case 't':
		return check_literal(check, "true", error);
	case 'f':
		return check_literal(check, "false", error);
	case 'n':
		return check_literal(check, "null", error);
	default:
		if (peek(check) == '-' || g_ascii_isdigit(peek(check)))
			return check_number(check, error);
		set_unexpected_error(check, "a value", error);
		return FALSE;
	}
}

/* Checks an object member's name and the colon after it. */
static gboolean
check_member_name(JsonCheck *check, GError **error)
{
	skip_whitespace(check);
	if (peek(check) != '"') {
		set_unexpected_error(check, "a member name in double quotes", error);
		return FALSE;
	}
	if (!check_string(check, error))
		return FALSE;
	skip_whitespace(check);
	if (peek(check) != ':') {
		set_unexpected_error(check, "':' after the member name", error);
		return FALSE;
	}
	check->position++;
	return TRUE;
}

/**
 * applink_json_check:
 * @data: (array length=length): the text, which need not end with a NUL byte
 * @length: the length of @data in bytes
 * @error: return location for a #JSON_PARSER_ERROR
 *
 * Checks that @data is one JSON value in valid UTF-8, with optional whitespace around it and
 * an optional UTF-8 byte order mark before it. Arrays and objects nest at most
 * %APPLINK_JSON_MAX_DEPTH levels deep. Strings contain no unpaired surrogate and no \u0000
 * escape, and integers fit in a gint64.
 *
 * Returns: %TRUE if @data passes, and so can be given to json_parser_load_from_data()
 */
gboolean
applink_json_check(const gchar *data, gsize length, GError **error)
{
	JsonCheck check = {data, length, 0};
	const gchar *invalid = NULL;
	/* Bit N is set when the container at depth N + 1 is an object. */
	guint64 objects = 0;
	guint depth = 0;

	G_STATIC_ASSERT(APPLINK_JSON_MAX_DEPTH <= 64);

	/* g_utf8_validate_len() also stops at a NUL byte, which is valid UTF-8 but never valid
	 * in JSON text, where U+0000 can only be written as an escape. */
	if (!g_utf8_validate_len(data, length, &invalid)) {
		g_set_error(error,
			    JSON_PARSER_ERROR,
			    JSON_PARSER_ERROR_INVALID_DATA,
			    *invalid == '\0'
				    ? "the text contains a NUL byte at byte %" G_GSIZE_FORMAT
				    : "the text is not valid UTF-8 at byte %" G_GSIZE_FORMAT,
			    (gsize)(invalid - data));
		return FALSE;
	}
	if (length >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
		check.position = 3;

	for (;;) {
		skip_whitespace(&check);
		if (peek(&check) == '[' || peek(&check) == '{') {
			gboolean is_object = peek(&check) == '{';

			if (depth == APPLINK_JSON_MAX_DEPTH) {
				g_set_error(
					error,
					JSON_PARSER_ERROR,
					JSON_PARSER_ERROR_INVALID_DATA,
					"the text nests arrays and objects deeper than %d levels "
					"at byte %" G_GSIZE_FORMAT,
					APPLINK_JSON_MAX_DEPTH,
					check.position);
				return FALSE;
			}
			if (is_object)
				objects |= G_GUINT64_CONSTANT(1) << depth;
			else
				objects &= ~(G_GUINT64_CONSTANT(1) << depth);
			depth++;
			check.position++;
			skip_whitespace(&check);
			if (peek(&check) == (is_object ? '}' : ']')) {
				check.position++;
				depth--;
			} else {
				if (is_object && !check_member_name(&check, error))
					return FALSE;
				continue;
			}
		} else if (!check_scalar(&check, error)) {
			return FALSE;
		}

		/* A value ended. Close the containers that end after it, then find the next value.
		 */
		for (;;) {
			gboolean in_object;
			gchar close;

			skip_whitespace(&check);
			if (depth == 0) {
				if (!is_at_end(&check)) {
					set_unexpected_error(&check, "the end of the text", error);
					return FALSE;
				}
				return TRUE;
			}
			in_object = (objects >> (depth - 1)) & 1;
			close = in_object ? '}' : ']';
			if (peek(&check) == close) {
				check.position++;
				depth--;
				continue;
			}
			if (peek(&check) != ',') {
				set_unexpected_error(
					&check, in_object ? "',' or '}'" : "',' or ']'", error);
				return FALSE;
			}
			check.position++;
			if (in_object && !check_member_name(&check, error))
				return FALSE;
			break;
		}
	}
}

/* Appends @text to @out escaped as the contents of a JSON string, without the quotes. */
void
applink_json_append_escaped(GString *out, const gchar *text)
{
	for (const gchar *p = text; *p != '\0'; p++) {
		guchar c = (guchar)*p;

		if (c == '"' || c == '\\')
			g_string_append_printf(out, "\\%c", c);
		else if (c < 0x20)
			g_string_append_printf(out, "\\u%04x", c);
		else
			g_string_append_c(out, (gchar)c);
	}
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "applink-log.h"

#include "applink-secret.h"

#include <stdio.h>
#include <string.h>

static gboolean applink_log_verbose = FALSE;

/* The maximum length in bytes of a log line, so that a server's huge text cannot fill the
 * journal. Longer messages are cut and end with an ellipsis. */
#define APPLINK_LOG_MAX_LINE_BYTES 4096

/* Words after which the next value is a credential and must never be written. */
static const gchar *const redacted_prefixes[] = {
	"Authorization:",
	"authorization:",
	"Bearer ",
	"Basic ",
	"password=",
	"client_secret=",
	"sessionId>",
	"access_token",
	"\"password\":",
	"\"client_secret\":",
	"\"securityToken\":",
};

/* Authentication schemes that an Authorization header names before its credential. */
static const gchar *const authorization_schemes[] = {"Bearer ", "Basic "};

/* Returns the end of the value that starts at @start in @text. A quoted value ends at its
 * closing quote, which is not part of it, and other values at the first delimiter. */
static gsize
applink_log_value_end(const GString *text, gsize start, gboolean quoted)
{
	gsize end = start;

	if (quoted) {
		/* A backslash escapes the next character, as in a JSON string. */
		while (end < text->len && text->str[end] != '"')
			end += text->str[end] == '\\' && end + 1 < text->len ? 2 : 1;
		return end;
	}
	while (end < text->len && strchr(" &<,\n\";}]", text->str[end]) == NULL)
		end++;
	return end;
}

/* Escapes line breaks and other control characters, so that text quoted from a caller or a
 * server cannot start a log line of its own. */
static void
applink_log_escape_controls(GString *out)
{
	for (gsize i = 0; i < out->len; i++) {
		guchar c = (guchar)out->str[i];
		gchar escaped[8];

		if (c >= 0x20 && c != 0x7f)
			continue;
		g_snprintf(escaped, sizeof escaped, "\\x%02x", c);
		g_string_erase(out, (gssize)i, 1);
		g_string_insert(out, (gssize)i, escaped);
		i += strlen(escaped) - 1;
	}
}

/*
 * Masks anything that looks like a credential in @message. Code never logs secrets on
 * purpose; this is the one place that makes sure a mistake, or a server that echoes a
 * header into an error text, does not put one in the journal.
 */
gchar *
applink_log_redact(const gchar *message)
{
	g_autofree gchar *scrubbed = applink_secret_scrub(message);
	GString *out = g_string_new(scrubbed);

	for (gsize i = 0; i < G_N_ELEMENTS(redacted_prefixes); i++) {
		const gchar *prefix = redacted_prefixes[i];
		gchar *at = out->str;

		while ((at = strstr(at, prefix)) != NULL) {
			gsize start = (gsize)(at - out->str) + strlen(prefix);
			gsize end;
			gboolean quoted = FALSE;

			/* Keep the separators and an Authorization header's scheme, so that
			 * "Authorization: Bearer X" becomes "Authorization: Bearer [redacted]". A
			 * value is quoted when the last separator is a double quote, as in
			 * "access_token":"X". */
			while (start < out->len && strchr(" :=\"", out->str[start]) != NULL) {
				quoted = out->str[start] == '"';
				start++;
			}
			for (gsize j = 0; j < G_N_ELEMENTS(authorization_schemes); j++) {
				if (g_str_has_prefix(out->str + start, authorization_schemes[j]))
					start += strlen(authorization_schemes[j]);
			}
			/* An earlier prefix may have masked this value already. */
			if (g_str_has_prefix(out->str + start, "[redacted]")) {
				at = out->str + start + strlen("[redacted]");
				continue;
			}
			end = applink_log_value_end(out, start, quoted);
			if (end == start) {
				at = out->str + start;
				continue;
			}
			g_string_erase(out, (gssize)start, (gssize)(end - start));
			g_string_insert(out, (gssize)start, "[redacted]");
			at = out->str + start + strlen("[redacted]");
		}
	}
	applink_log_escape_controls(out);
	if (out->len > APPLINK_LOG_MAX_LINE_BYTES) {
		/* Cut at the start of a character, so that the line stays valid UTF-8. */
		gsize cut = APPLINK_LOG_MAX_LINE_BYTES;

		while (cut > 0 && (out->str[cut] & 0xc0) == 0x80)
			cut--;
		g_string_truncate(out, cut);
		g_string_append(out, "…");
	}
	return g_string_free(out, FALSE);
}

/* Debug output is this daemon's own with --verbose; libraries' only when G_MESSAGES_DEBUG
 * asks for them. */
static gboolean
applink_log_wants_debug(const GLogField *fields, gsize n_fields)
{
	const gchar *domain = NULL;

	for (gsize i = 0; i < n_fields; i++) {
		if (g_strcmp0(fields[i].key, "GLIB_DOMAIN") == 0 && fields[i].length < 0)
			domain = fields[i].value;
	}
	if (g_strcmp0(domain, G_LOG_DOMAIN) == 0)
		return applink_log_verbose;
	return !g_log_writer_default_would_drop(G_LOG_LEVEL_DEBUG, domain);
}

static GLogWriterOutput
applink_log_writer(GLogLevelFlags level,
		   const GLogField *fields,
		   gsize n_fields,
		   gpointer user_data)
{
	g_autofree GLogField *copy = NULL;
	g_autofree gchar *redacted = NULL;

	(void)user_data;
	if ((level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO)) != 0 &&
	    !applink_log_wants_debug(fields, n_fields))
		return G_LOG_WRITER_HANDLED;

	copy = g_memdup2(fields, n_fields * sizeof(GLogField));
	for (gsize i = 0; i < n_fields; i++) {
		if (g_strcmp0(copy[i].key, "MESSAGE") != 0)
			continue;
		if (copy[i].length < 0)
			redacted = applink_log_redact(copy[i].value);
		else {
			g_autofree gchar *text = g_strndup(copy[i].value, (gsize)copy[i].length);
			redacted = applink_log_redact(text);
		}
		copy[i].value = redacted;
		copy[i].length = -1;
		break;
	}
	if (g_log_writer_is_journald(fileno(stderr)))
		return g_log_writer_journald(level, copy, n_fields, NULL);
	return g_log_writer_standard_streams(level, copy, n_fields, NULL);
}

void
applink_log_init(gboolean verbose)
{
	applink_log_verbose = verbose;
	g_log_set_writer_func(applink_log_writer, NULL, NULL);
}

/* Returns whether @c must not reach a terminal or a log as it is: C0 and C1 control characters
 * and the Unicode controls of text direction, which can make text display in another order. */
gboolean
applink_unichar_is_control(gunichar c)
{
	return g_unichar_iscntrl(c) || (c >= 0x202a && c <= 0x202e) ||
	       (c >= 0x2066 && c <= 0x2069) || c == 0x200e || c == 0x200f || c == 0x061c;
}

/*
 * Returns @text made valid UTF-8, with each control character replaced by U+FFFD and cut to
 * @max_chars characters followed by an ellipsis when it is longer.
 */
gchar *
applink_text_make_printable(const gchar *text, guint max_chars)
{
	g_autofree gchar *valid = g_utf8_make_valid(text, -1);
	GString *out = g_string_sized_new(strlen(valid));
	guint count = 0;

	for (const gchar *p = valid; *p != '\0'; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);

		if (count == max_chars) {
			g_string_append(out, "…");
			break;
		}
		if (applink_unichar_is_control(c))
			g_string_append_unichar(out, 0xfffd);
		else
			g_string_append_unichar(out, c);
		count++;
	}
	return g_string_free(out, FALSE);
}

/*
 * Returns @text made printable as applink_text_make_printable() does, and at most @max_chars
 * characters long. A longer text loses characters from its middle, where an error message
 * quotes a value, so that its start and its end, which names the next step, are kept.
 */
gchar *
applink_text_make_printable_elided(const gchar *text, guint max_chars)
{
	g_autofree gchar *printable = applink_text_make_printable(text, G_MAXUINT);
	glong length = g_utf8_strlen(printable, -1);
	glong head = (glong)max_chars * 2 / 3;
	glong tail = (glong)max_chars - head - 1;
	const gchar *tail_start;
	gchar *head_end;

	if (max_chars < 3 || length <= (glong)max_chars)
		return g_steal_pointer(&printable);
	head_end = g_utf8_offset_to_pointer(printable, head);
	tail_start = g_utf8_offset_to_pointer(printable, length - tail);
	*head_end = '\0';
	return g_strconcat(printable, "…", tail_start, NULL);
}

/*
 * Returns @text from a server's reply with the secrets of the current call masked, made
 * printable and cut to APPLINK_SERVER_TEXT_MAX_CHARS characters by
 * applink_text_make_printable(), so that it can be quoted in an error message.
 * NULL becomes a copy of @fallback.
 */
gchar *
applink_server_text_dup(const gchar *text, const gchar *fallback)
{
	g_autofree gchar *scrubbed = NULL;

	if (text == NULL)
		return g_strdup(fallback);
	/* Masked before it is cut, so that a cut inside a secret cannot leave part of it. */
	scrubbed = applink_secret_scrub(text);
	return applink_text_make_printable(scrubbed, APPLINK_SERVER_TEXT_MAX_CHARS);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "applink-log.h"

#include <stdio.h>
#include <string.h>

static gboolean applink_log_verbose = FALSE;

/* Words after which the rest of the token is a credential and must never be written. */
static const gchar *const redacted_prefixes[] = {
	"Authorization:",
	"authorization:",
	"Bearer ",
	"Basic ",
	"password=",
	"client_secret=",
	"sessionId>",
	"access_token",
};

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
	GString *out = g_string_new(message);

	for (gsize i = 0; i < G_N_ELEMENTS(redacted_prefixes); i++) {
		const gchar *prefix = redacted_prefixes[i];
		gsize prefix_len = strlen(prefix);
		gchar *at = out->str;

		while ((at = strstr(at, prefix)) != NULL) {
			gsize start = (gsize)(at - out->str) + prefix_len;
			gsize end = start;

			while (end < out->len && out->str[end] == ' ')
				end++;
			while (end < out->len && out->str[end] != ' ' && out->str[end] != '&' &&
			       out->str[end] != '<' && out->str[end] != ',' &&
			       out->str[end] != '\n')
				end++;
			g_string_erase(out, (gssize)start, (gssize)(end - start));
			g_string_insert(out, (gssize)start, "[redacted]");
			at = out->str + start + strlen("[redacted]");
		}
	}
	applink_log_escape_controls(out);
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

/*
 * Returns @text from a server's reply, made valid UTF-8 and cut to
 * APPLINK_SERVER_TEXT_MAX_CHARS characters with an ellipsis, so that it can be quoted in an error
 * message that goes over D-Bus. NULL becomes a copy of @fallback.
 */
gchar *
applink_server_text_dup(const gchar *text, const gchar *fallback)
{
	g_autofree gchar *valid = NULL;
	g_autofree gchar *start = NULL;

	if (text == NULL)
		return g_strdup(fallback);
	valid = g_utf8_make_valid(text, -1);
	if (g_utf8_strlen(valid, -1) <= APPLINK_SERVER_TEXT_MAX_CHARS)
		return g_steal_pointer(&valid);
	start = g_utf8_substring(valid, 0, APPLINK_SERVER_TEXT_MAX_CHARS);
	return g_strconcat(start, "…", NULL);
}

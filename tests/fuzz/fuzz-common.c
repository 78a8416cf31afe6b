/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fuzz-target.h"

#include <stdlib.h>
#include <string.h>

#include "applink-error.h"

/*
 * Writes a warning or worse to stderr and aborts. GLib's default writer stops a fatal message
 * with a breakpoint trap, which libFuzzer does not catch, so it would save no input. libFuzzer
 * does catch abort().
 */
static GLogWriterOutput
fuzz_log_writer(GLogLevelFlags log_level,
		const GLogField *fields,
		gsize n_fields,
		gpointer user_data)
{
	if ((log_level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING)) == 0)
		return g_log_writer_default(log_level, fields, n_fields, user_data);
	g_log_writer_standard_streams(log_level, fields, n_fields, user_data);
	abort();
}

int
LLVMFuzzerInitialize(int *argc G_GNUC_UNUSED, char ***argv G_GNUC_UNUSED)
{
	/* A critical or a warning means a parser misused GLib or json-glib: make it a crash. */
	g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
	g_log_set_writer_func(fuzz_log_writer, NULL, NULL);
	return 0;
}

gchar *
fuzz_text_new(const uint8_t *data, size_t size)
{
	gchar *text = g_malloc(size + 1);

	if (size > 0)
		memcpy(text, data, size);
	text[size] = '\0';
	return text;
}

void
fuzz_check_text(const gchar *what, const gchar *text)
{
	if (text != NULL && !g_utf8_validate(text, -1, NULL))
		g_error("%s is not valid UTF-8", what);
}

void
fuzz_check_required_text(const gchar *what, const gchar *text)
{
	if (text == NULL)
		g_error("%s is NULL", what);
	fuzz_check_text(what, text);
}

void
fuzz_check_error(const gchar *what, const GError *error)
{
	if (error == NULL)
		g_error("%s returned no result and set no error", what);
	if (error->domain != APPLINK_ERROR)
		g_error("%s set an error of domain %s, not APPLINK_ERROR: %s",
			what,
			g_quark_to_string(error->domain),
			error->message);
	fuzz_check_required_text("the error message", error->message);
}

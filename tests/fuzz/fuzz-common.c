/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fuzz-target.h"

#include <string.h>

#include "applink-error.h"

int
LLVMFuzzerInitialize(int *argc G_GNUC_UNUSED, char ***argv G_GNUC_UNUSED)
{
	/* A critical or a warning means a parser misused GLib or json-glib: make it a crash. */
	g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
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

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A secret read from the terminal or from standard input: NUL-terminated UTF-8 without
 * control characters, in a buffer of exactly strlen() + 1 bytes, which
 * applink_console_secret_free() wipes before freeing. */
typedef gchar ApplinkConsoleSecret;

typedef enum {
	APPLINK_CONSOLE_SECRET_NONE = 0,
	/* Read one line of standard input instead of prompting on the terminal. */
	APPLINK_CONSOLE_SECRET_FROM_STDIN = 1 << 0,
	/* Accept an empty line, e.g. for a security token that a trusted network does not need. */
	APPLINK_CONSOLE_SECRET_ALLOW_EMPTY = 1 << 1,
} ApplinkConsoleSecretFlags;

/* A column of a table: its title and the a{sv} key of its cells. */
typedef struct {
	const gchar *title;
	const gchar *key;
} ApplinkConsoleColumn;

const gchar *
applink_console_find_text_problem(const gchar *text, gsize length);

ApplinkConsoleSecret *
applink_console_read_secret(const gchar *label,
			    const gchar *prompt,
			    ApplinkConsoleSecretFlags flags,
			    GError **error);

void
applink_console_secret_free(ApplinkConsoleSecret *secret);

GVariant *
applink_console_secret_to_variant(ApplinkConsoleSecret *secret);

gchar *
applink_console_printable_text(const gchar *text, gboolean keep_newlines);

gchar *
applink_console_to_json(GVariant *value);

void
applink_console_print_json(GVariant *value);

void
applink_console_print_fields(GVariant *object);

void
applink_console_print_table(GVariant *rows, const ApplinkConsoleColumn *columns);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ApplinkConsoleSecret, applink_console_secret_free)

G_END_DECLS

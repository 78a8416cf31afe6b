/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The deepest nesting of arrays and objects accepted in a reply. json-glib parses
 * recursively, so a deeply nested body could otherwise overflow the stack. */
#define APPLINK_JSON_MAX_DEPTH 64

gboolean
applink_json_check(const gchar *data, gsize length, GError **error);

/* The maximum number of bytes that applink_json_append_escaped() writes for one byte of
 * text: six, for a control character written as \u001f. */
#define APPLINK_JSON_ESCAPE_MAX_GROWTH 6

void
applink_json_append_escaped(GString *out, const gchar *text);

G_END_DECLS

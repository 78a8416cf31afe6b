/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

void
applink_log_init(gboolean verbose);

gchar *
applink_log_redact(const gchar *message);

/* The maximum number of characters of a server's own text, such as Jira's or Salesforce's error
 * message, that applinkd quotes in an error message or a log line. */
#define APPLINK_SERVER_TEXT_MAX_CHARS 300

gchar *
applink_server_text_dup(const gchar *text, const gchar *fallback);

/* The maximum number of characters of an error message that applinkd sends over D-Bus. */
#define APPLINK_ERROR_MESSAGE_MAX_CHARS 1000

gchar *
applink_text_make_printable(const gchar *text, guint max_chars);

gchar *
applink_text_make_printable_elided(const gchar *text, guint max_chars);

gboolean
applink_unichar_is_control(gunichar c);

G_END_DECLS

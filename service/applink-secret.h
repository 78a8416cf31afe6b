/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * A secret string in memory that this code owns: a NUL-terminated gchar array that is
 * overwritten with explicit_bzero() before it is freed, so it does not linger in freed heap.
 */
typedef gchar ApplinkSecret;

void
applink_secret_free(ApplinkSecret *secret);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ApplinkSecret, applink_secret_free)

ApplinkSecret *
applink_secret_dup(const gchar *text);

ApplinkSecret *
applink_secret_concat(const gchar *first, const gchar *second);

void
applink_secret_wipe_gstring(GString *string);

GBytes *
applink_secret_gstring_to_bytes(GString *buffer);

/*
 * The secrets that the current thread handles for the call it runs. Text that a server sends
 * back, such as an error message that echoes a request, passes applink_secret_scrub() before
 * it reaches a D-Bus error or a log line written on that thread. Worker threads forget the list
 * after each call.
 */
void
applink_secret_watch(const gchar *secret);

/* The shortest secret that applink_secret_watch() accepts. Masking every occurrence of a
 * shorter one, such as a one-letter test password, would garble messages. */
#define APPLINK_SECRET_MIN_WATCHED_LENGTH 4

void
applink_secret_watch_authorization(const gchar *authorization);

gchar *
applink_secret_scrub(const gchar *text);

gboolean
applink_secret_appears_in(const gchar *text);

void
applink_secret_forget_watched(void);

G_END_DECLS

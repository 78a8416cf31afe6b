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

G_END_DECLS

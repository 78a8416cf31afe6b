/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

void
applink_log_init(gboolean verbose);

gchar *
applink_log_redact(const gchar *message);

G_END_DECLS

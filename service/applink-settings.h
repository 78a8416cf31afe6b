/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * Non-secret settings in $XDG_CONFIG_HOME/applink/applink.conf: one group per site
 * ("site <id>") and one per link with stored outgoing authentication
 * ("link <site> <link>"). All access is serialised by one lock, and every change is written
 * at once, atomically, with mode 0600 in a 0700 folder.
 */

gboolean
applink_settings_load(GError **error);

const gchar *
applink_settings_get_path(void);

/* Returns the site ids, sorted. */
GStrv
applink_settings_list_sites(void);

gboolean
applink_settings_has_site(const gchar *site);

/* Returns a copy of one value of a site (NULL when unset). */
gchar *
applink_settings_get_site(const gchar *site, const gchar *key);

/* Replaces the whole site group with the NULL-terminated key/value pairs in @pairs. */
gboolean
applink_settings_set_site(const gchar *site, const gchar *const *pairs, GError **error);

gboolean
applink_settings_remove_site(const gchar *site, GError **error);

gchar *
applink_settings_get_link(const gchar *site, const gchar *link, const gchar *key);

/* Sets the given key/value pairs of a link; a NULL value removes that key. */
gboolean
applink_settings_update_link(const gchar *site,
			     const gchar *link,
			     const gchar *const *pairs,
			     guint n_pairs,
			     GError **error);

gboolean
applink_settings_remove_link(const gchar *site, const gchar *link, GError **error);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "applink-settings.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#include "applink-error.h"

static GMutex settings_lock;
static GKeyFile *settings_file = NULL;
static gchar *settings_path = NULL;
/* The contents of the file as last read or written, to undo a change that was not saved. */
static gchar *settings_saved = NULL;

static gchar *
applink_settings_site_group(const gchar *site)
{
	return g_strdup_printf("site %s", site);
}

static gchar *
applink_settings_link_group(const gchar *site, const gchar *link)
{
	return g_strdup_printf("link %s %s", site, link);
}

const gchar *
applink_settings_get_path(void)
{
	return settings_path;
}

gboolean
applink_settings_load(GError **error)
{
	g_autofree gchar *folder = g_build_filename(g_get_user_config_dir(), "applink", NULL);
	g_autoptr(GError) error_local = NULL;
	g_autoptr(GKeyFile) file = g_key_file_new();

	if (g_mkdir_with_parents(folder, 0700) != 0) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_SETTINGS,
			    "cannot create the settings folder %s: %s; check its permissions",
			    folder,
			    g_strerror(errno));
		return FALSE;
	}
	g_chmod(folder, 0700);
	g_free(settings_path);
	settings_path = g_build_filename(folder, "applink.conf", NULL);
	if (!g_key_file_load_from_file(file, settings_path, G_KEY_FILE_NONE, &error_local) &&
	    !g_error_matches(error_local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_SETTINGS,
			    "cannot read the settings file %s: %s; fix or remove it",
			    settings_path,
			    error_local->message);
		return FALSE;
	}
	g_mutex_lock(&settings_lock);
	if (settings_file != NULL)
		g_key_file_unref(settings_file);
	settings_file = g_steal_pointer(&file);
	g_free(settings_saved);
	settings_saved = g_key_file_to_data(settings_file, NULL, NULL);
	g_mutex_unlock(&settings_lock);
	return TRUE;
}

/* Puts the settings back as they were last read or written; the caller holds the lock. */
static void
applink_settings_undo_locked(void)
{
	g_autoptr(GKeyFile) file = g_key_file_new();

	if (!g_key_file_load_from_data(file, settings_saved, (gsize)-1, G_KEY_FILE_NONE, NULL))
		return;
	g_key_file_unref(settings_file);
	settings_file = g_steal_pointer(&file);
}

/* Writes the settings, or undoes the changes not yet written when that fails, so that they
 * cannot reach the file with a later write. The caller holds the lock. */
static gboolean
applink_settings_save_locked(GError **error)
{
	g_autofree gchar *data = NULL;
	g_autoptr(GError) error_local = NULL;
	gsize length = 0;

	data = g_key_file_to_data(settings_file, &length, NULL);
	if (!g_file_set_contents_full(settings_path,
				      data,
				      (gssize)length,
				      G_FILE_SET_CONTENTS_CONSISTENT,
				      0600,
				      &error_local)) {
		applink_settings_undo_locked();
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_SETTINGS,
			    "cannot write the settings file %s: %s; check the permissions of "
			    "the file and its folder, and the free disk space",
			    settings_path,
			    error_local->message);
		return FALSE;
	}
	g_free(settings_saved);
	settings_saved = g_steal_pointer(&data);
	return TRUE;
}

static gint
applink_settings_compare_ids(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

GStrv
applink_settings_list_sites(void)
{
	g_autoptr(GPtrArray) ids = g_ptr_array_new();
	g_auto(GStrv) groups = NULL;

	g_mutex_lock(&settings_lock);
	groups = g_key_file_get_groups(settings_file, NULL);
	g_mutex_unlock(&settings_lock);
	for (gsize i = 0; groups[i] != NULL; i++) {
		if (g_str_has_prefix(groups[i], "site "))
			g_ptr_array_add(ids, g_strdup(groups[i] + strlen("site ")));
	}
	g_ptr_array_sort(ids, applink_settings_compare_ids);
	g_ptr_array_add(ids, NULL);
	return (GStrv)g_ptr_array_free(g_steal_pointer(&ids), FALSE);
}

gboolean
applink_settings_has_site(const gchar *site)
{
	g_autofree gchar *group = applink_settings_site_group(site);
	gboolean found;

	g_mutex_lock(&settings_lock);
	found = g_key_file_has_group(settings_file, group);
	g_mutex_unlock(&settings_lock);
	return found;
}

static gchar *
applink_settings_get(const gchar *group, const gchar *key)
{
	gchar *value;

	g_mutex_lock(&settings_lock);
	value = g_key_file_get_string(settings_file, group, key, NULL);
	g_mutex_unlock(&settings_lock);
	return value;
}

gchar *
applink_settings_get_site(const gchar *site, const gchar *key)
{
	g_autofree gchar *group = applink_settings_site_group(site);

	return applink_settings_get(group, key);
}

gboolean
applink_settings_set_site(const gchar *site, const gchar *const *pairs, GError **error)
{
	g_autofree gchar *group = applink_settings_site_group(site);
	gboolean ok;

	g_mutex_lock(&settings_lock);
	g_key_file_remove_group(settings_file, group, NULL);
	for (gsize i = 0; pairs[i] != NULL && pairs[i + 1] != NULL; i += 2)
		g_key_file_set_string(settings_file, group, pairs[i], pairs[i + 1]);
	ok = applink_settings_save_locked(error);
	g_mutex_unlock(&settings_lock);
	return ok;
}

gboolean
applink_settings_remove_site(const gchar *site, GError **error)
{
	g_autofree gchar *group = applink_settings_site_group(site);
	g_autofree gchar *link_prefix = g_strdup_printf("link %s ", site);
	g_auto(GStrv) groups = NULL;
	gboolean ok;

	g_mutex_lock(&settings_lock);
	g_key_file_remove_group(settings_file, group, NULL);
	groups = g_key_file_get_groups(settings_file, NULL);
	for (gsize i = 0; groups[i] != NULL; i++) {
		if (g_str_has_prefix(groups[i], link_prefix))
			g_key_file_remove_group(settings_file, groups[i], NULL);
	}
	ok = applink_settings_save_locked(error);
	g_mutex_unlock(&settings_lock);
	return ok;
}

gchar *
applink_settings_get_link(const gchar *site, const gchar *link, const gchar *key)
{
	g_autofree gchar *group = applink_settings_link_group(site, link);

	return applink_settings_get(group, key);
}

gboolean
applink_settings_update_link(const gchar *site,
			     const gchar *link,
			     const gchar *const *pairs,
			     guint n_pairs,
			     GError **error)
{
	g_autofree gchar *group = applink_settings_link_group(site, link);
	gboolean ok;

	g_mutex_lock(&settings_lock);
	for (guint i = 0; i + 1 < n_pairs * 2; i += 2) {
		if (pairs[i + 1] != NULL)
			g_key_file_set_string(settings_file, group, pairs[i], pairs[i + 1]);
		else
			g_key_file_remove_key(settings_file, group, pairs[i], NULL);
	}
	ok = applink_settings_save_locked(error);
	g_mutex_unlock(&settings_lock);
	return ok;
}

gboolean
applink_settings_remove_link(const gchar *site, const gchar *link, GError **error)
{
	g_autofree gchar *group = applink_settings_link_group(site, link);
	gboolean ok;

	g_mutex_lock(&settings_lock);
	g_key_file_remove_group(settings_file, group, NULL);
	ok = applink_settings_save_locked(error);
	g_mutex_unlock(&settings_lock);
	return ok;
}

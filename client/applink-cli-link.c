/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "applink-cli.h"

#include <stdio.h>

static const ApplinkConsoleColumn link_columns[] = {
	{"ID", "id"},
	{"NAME", "name"},
	{"URL", "url"},
	{"PRIMARY", "primary"},
	{"OUTGOING-AUTH", "outgoing-auth"},
	{NULL, NULL},
};

gboolean
applink_cli_probe(ApplinkCli *cli, gchar **args, GError **error)
{
	ApplinkDBusManager *manager = applink_cli_get_manager(cli, error);
	g_auto(GVariantBuilder) options = G_VARIANT_BUILDER_INIT(G_VARIANT_TYPE_VARDICT);
	g_autoptr(GVariant) result = NULL;
	const gchar *site = NULL;

	if (manager == NULL || !applink_cli_find_site(cli, &site, error))
		return FALSE;
	if (site != NULL)
		g_variant_builder_add(&options, "{sv}", "site", g_variant_new_string(site));
	if (!applink_dbus_manager_call_probe_url_sync(
		    manager, args[0], g_variant_builder_end(&options), &result, NULL, error))
		return FALSE;
	applink_cli_print_object(cli, result);
	return TRUE;
}

static GVariant *
build_create_options(const ApplinkCliOptions *options)
{
	g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT(G_VARIANT_TYPE_VARDICT);

	if (options->type != NULL)
		g_variant_builder_add(
			&builder, "{sv}", "type", g_variant_new_string(options->type));
	if (options->primary)
		g_variant_builder_add(&builder, "{sv}", "primary", g_variant_new_boolean(TRUE));
	g_variant_builder_add(&builder, "{sv}", "check", g_variant_new_boolean(!options->no_check));
	if (options->if_exists)
		g_variant_builder_add(
			&builder, "{sv}", "if-exists", g_variant_new_string("return"));
	return g_variant_builder_end(&builder);
}

/* Prints a note when Jira stored the link under another name than the one requested. */
static void
print_rename_note(GVariant *link)
{
	const gchar *name;
	const gchar *requested_name;
	g_autofree gchar *printable_name = NULL;
	g_autofree gchar *printable_requested_name = NULL;

	if (!g_variant_lookup(link, "requested-name", "&s", &requested_name) ||
	    !g_variant_lookup(link, "name", "&s", &name))
		return;
	printable_name = applink_console_printable_text(name, FALSE);
	printable_requested_name = applink_console_printable_text(requested_name, FALSE);
	printf("Jira renamed the link to '%s' because a link named '%s' exists.\n",
	       printable_name,
	       printable_requested_name);
}

gboolean
applink_cli_link_create(ApplinkCli *cli, gchar **args, GError **error)
{
	g_autoptr(GVariant) link = NULL;
	ApplinkDBusManager *manager;
	const gchar *site;

	if (!applink_cli_connect_site(cli, &manager, &site, error))
		return FALSE;
	if (!applink_dbus_manager_call_create_link_sync(manager,
							site,
							args[0],
							cli->options->name,
							build_create_options(cli->options),
							&link,
							NULL,
							error))
		return FALSE;
	applink_cli_print_object(cli, link);
	if (!cli->json)
		print_rename_note(link);
	return TRUE;
}

gboolean
applink_cli_link_list(ApplinkCli *cli, gchar **args, GError **error)
{
	g_autoptr(GVariant) links = NULL;
	g_autofree gchar *empty_message = NULL;
	ApplinkDBusManager *manager;
	const gchar *site;

	(void)args;
	if (!applink_cli_connect_site(cli, &manager, &site, error))
		return FALSE;
	if (!applink_dbus_manager_call_list_links_sync(manager, site, &links, NULL, error))
		return FALSE;
	empty_message = g_strdup_printf("No Salesforce link on site %s.", site);
	applink_cli_print_list(cli, links, link_columns, empty_message);
	return TRUE;
}

gboolean
applink_cli_link_show(ApplinkCli *cli, gchar **args, GError **error)
{
	g_autoptr(GVariant) link = NULL;
	ApplinkDBusManager *manager;
	const gchar *site;

	if (!applink_cli_connect_site(cli, &manager, &site, error))
		return FALSE;
	if (!applink_dbus_manager_call_get_link_sync(manager, site, args[0], &link, NULL, error))
		return FALSE;
	applink_cli_print_object(cli, link);
	return TRUE;
}

gboolean
applink_cli_link_edit(ApplinkCli *cli, gchar **args, GError **error)
{
	const ApplinkCliOptions *options = cli->options;
	g_auto(GVariantBuilder) changes = G_VARIANT_BUILDER_INIT(G_VARIANT_TYPE_VARDICT);
	ApplinkDBusManager *manager;
	const gchar *site;

	if (options->name == NULL && !options->primary)
		return applink_cli_usage_error(error, "'link edit' needs --name NAME or --primary");
	if (!applink_cli_connect_site(cli, &manager, &site, error))
		return FALSE;
	if (options->name != NULL)
		g_variant_builder_add(
			&changes, "{sv}", "name", g_variant_new_string(options->name));
	if (options->primary)
		g_variant_builder_add(&changes, "{sv}", "primary", g_variant_new_boolean(TRUE));
	if (!applink_dbus_manager_call_update_link_sync(
		    manager, site, args[0], g_variant_builder_end(&changes), NULL, error))
		return FALSE;
	applink_cli_print_done(cli);
	return TRUE;
}

gboolean
applink_cli_link_delete(ApplinkCli *cli, gchar **args, GError **error)
{
	ApplinkDBusManager *manager;
	const gchar *site;

	if (!applink_cli_connect_site(cli, &manager, &site, error))
		return FALSE;
	if (!applink_dbus_manager_call_delete_link_sync(manager, site, args[0], NULL, error))
		return FALSE;
	applink_cli_print_done(cli);
	return TRUE;
}

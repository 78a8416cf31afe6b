/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "applink-cli.h"

#include <stdio.h>

static const ApplinkConsoleColumn site_columns[] = {
	{"ID", "id"},
	{"URL", "url"},
	{"AUTH", "auth"},
	{"USER", "username"},
	{"JIRA", "jira-version"},
	{NULL, NULL},
};

/* Returns the AddSite options, or NULL when the --ca-file path is not UTF-8 or names no
 * regular file. The file is checked here, before the secret is read, because it is on this
 * machine. */
static GVariant *
build_site_options(const ApplinkCliOptions *options, GError **error)
{
	g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT(G_VARIANT_TYPE_VARDICT);
	g_autofree gchar *ca_file = NULL;

	if (options->name != NULL)
		g_variant_builder_add(
			&builder, "{sv}", "name", g_variant_new_string(options->name));
	if (options->ca_file != NULL) {
		/* applinkd does not run in this working directory. */
		ca_file = g_canonicalize_filename(options->ca_file, NULL);
		if (!g_utf8_validate(ca_file, -1, NULL)) {
			applink_cli_usage_error(
				error, "the absolute path of --ca-file is not valid UTF-8");
			return NULL;
		}
		if (!g_file_test(ca_file, G_FILE_TEST_IS_REGULAR)) {
			applink_cli_usage_error(
				error,
				"the --ca-file '%s' is not a regular file; give the "
				"path of a PEM bundle",
				ca_file);
			return NULL;
		}
		g_variant_builder_add(&builder, "{sv}", "ca-file", g_variant_new_string(ca_file));
	}
	if (options->link_type != NULL)
		g_variant_builder_add(
			&builder, "{sv}", "link-type", g_variant_new_string(options->link_type));
	return g_variant_ref_sink(g_variant_builder_end(&builder));
}

/* Reads the Jira credential of the site at @url and returns the floating AddSite
 * credentials: a personal access token, or with --user a username and password. */
static GVariant *
read_jira_credentials(const ApplinkCliOptions *options, const gchar *url, GError **error)
{
	ApplinkConsoleSecretFlags flags = options->from_stdin ? APPLINK_CONSOLE_SECRET_FROM_STDIN
							      : APPLINK_CONSOLE_SECRET_NONE;
	g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT(G_VARIANT_TYPE_VARDICT);
	g_autoptr(ApplinkConsoleSecret) secret = NULL;
	g_autofree gchar *prompt = NULL;
	const gchar *key;

	if (options->user != NULL) {
		prompt = g_strdup_printf("Jira password of %s at %s: ", options->user, url);
		secret = applink_console_read_secret("Jira password", prompt, flags, error);
		key = "password";
	} else {
		prompt = g_strdup_printf("Jira personal access token for %s: ", url);
		secret = applink_console_read_secret(
			"Jira personal access token", prompt, flags, error);
		key = "token";
	}
	if (secret == NULL)
		return NULL;
	if (options->user != NULL)
		g_variant_builder_add(
			&builder, "{sv}", "username", g_variant_new_string(options->user));
	g_variant_builder_add(
		&builder, "{sv}", key, applink_console_secret_to_variant(g_steal_pointer(&secret)));
	return g_variant_builder_end(&builder);
}

static void
print_site_id(ApplinkCli *cli, const gchar *site)
{
	g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT(G_VARIANT_TYPE_VARDICT);
	g_autoptr(GVariant) result = NULL;

	if (!cli->json) {
		puts(site);
		return;
	}
	g_variant_builder_add(&builder, "{sv}", "site", g_variant_new_string(site));
	result = g_variant_ref_sink(g_variant_builder_end(&builder));
	applink_console_print_json(result);
}

gboolean
applink_cli_site_add(ApplinkCli *cli, gchar **args, GError **error)
{
	const gchar *url = args[0];
	g_autoptr(GVariant) site_options = NULL;
	g_autofree gchar *site = NULL;
	ApplinkDBusManager *manager;
	GVariant *credentials;

	site_options = build_site_options(cli->options, error);
	if (site_options == NULL)
		return FALSE;
	manager = applink_cli_get_manager(cli, error);
	if (manager == NULL)
		return FALSE;
	credentials = read_jira_credentials(cli->options, url, error);
	if (credentials == NULL)
		return FALSE;
	/* The call consumes the floating credentials, so the secrets are wiped and freed as
	 * soon as it returns. */
	if (!applink_dbus_manager_call_add_site_sync(
		    manager, url, credentials, site_options, &site, NULL, error))
		return FALSE;
	print_site_id(cli, site);
	return TRUE;
}

gboolean
applink_cli_site_list(ApplinkCli *cli, gchar **args, GError **error)
{
	ApplinkDBusManager *manager = applink_cli_get_manager(cli, error);
	g_autoptr(GVariant) sites = NULL;

	(void)args;
	if (manager == NULL)
		return FALSE;
	if (!applink_dbus_manager_call_list_sites_sync(manager, &sites, NULL, error))
		return FALSE;
	applink_cli_print_list(cli,
			       sites,
			       site_columns,
			       "No Jira site registered: add one with 'applinkctl site add URL'.");
	return TRUE;
}

gboolean
applink_cli_site_remove(ApplinkCli *cli, gchar **args, GError **error)
{
	ApplinkDBusManager *manager = applink_cli_get_manager(cli, error);

	if (manager == NULL)
		return FALSE;
	if (!applink_dbus_manager_call_remove_site_sync(manager, args[0], NULL, error))
		return FALSE;
	applink_cli_print_done(cli);
	return TRUE;
}

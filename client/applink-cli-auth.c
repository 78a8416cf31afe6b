/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "applink-cli.h"

/* Reads the Salesforce secrets in the order --stdin documents: the password, the security
 * token (possibly empty), then the consumer secret when --consumer-key is given. Returns
 * the floating SetOutgoingAuth credentials. */
static GVariant *
read_salesforce_credentials(const ApplinkCliOptions *options, GError **error)
{
	ApplinkConsoleSecretFlags flags = options->from_stdin ? APPLINK_CONSOLE_SECRET_FROM_STDIN
							      : APPLINK_CONSOLE_SECRET_NONE;
	g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT(G_VARIANT_TYPE_VARDICT);
	g_autoptr(ApplinkConsoleSecret) password = NULL;
	g_autoptr(ApplinkConsoleSecret) security_token = NULL;
	g_autoptr(ApplinkConsoleSecret) consumer_secret = NULL;
	g_autofree gchar *prompt =
		g_strdup_printf("Salesforce password of %s: ", options->username);

	password = applink_console_read_secret("Salesforce password", prompt, flags, error);
	if (password == NULL)
		return NULL;
	security_token = applink_console_read_secret(
		"security token",
		"Salesforce security token (empty when the network is trusted): ",
		flags | APPLINK_CONSOLE_SECRET_ALLOW_EMPTY,
		error);
	if (security_token == NULL)
		return NULL;
	if (options->consumer_key != NULL) {
		consumer_secret = applink_console_read_secret(
			"consumer secret", "Consumer secret of the connected app: ", flags, error);
		if (consumer_secret == NULL)
			return NULL;
	}

	g_variant_builder_add(
		&builder, "{sv}", "username", g_variant_new_string(options->username));
	g_variant_builder_add(&builder,
			      "{sv}",
			      "password",
			      applink_console_secret_to_variant(g_steal_pointer(&password)));
	g_variant_builder_add(&builder,
			      "{sv}",
			      "security-token",
			      applink_console_secret_to_variant(g_steal_pointer(&security_token)));
	if (options->consumer_key == NULL)
		return g_variant_builder_end(&builder);
	g_variant_builder_add(
		&builder, "{sv}", "consumer-key", g_variant_new_string(options->consumer_key));
	g_variant_builder_add(&builder,
			      "{sv}",
			      "consumer-secret",
			      applink_console_secret_to_variant(g_steal_pointer(&consumer_secret)));
	return g_variant_builder_end(&builder);
}

/* Checks the form of --api-version, "64.0" for example, before any secret is read. */
static gboolean
check_api_version(const gchar *version, GError **error)
{
	g_auto(GStrv) parts = NULL;

	if (version == NULL)
		return TRUE;
	parts = g_strsplit(version, ".", -1);
	if (g_strv_length(parts) != 2 || g_strcmp0(parts[1], "0") != 0 ||
	    !g_ascii_string_to_unsigned(parts[0], 10, 1, 999, NULL, NULL))
		return applink_cli_usage_error(error,
					       "the --api-version '%s' is invalid; give it as "
					       "Salesforce does, e.g. '64.0'",
					       version);
	return TRUE;
}

static GVariant *
build_auth_options(const ApplinkCliOptions *options)
{
	g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT(G_VARIANT_TYPE_VARDICT);

	if (options->login_url != NULL)
		g_variant_builder_add(
			&builder, "{sv}", "login-url", g_variant_new_string(options->login_url));
	if (options->sandbox)
		g_variant_builder_add(&builder, "{sv}", "sandbox", g_variant_new_boolean(TRUE));
	if (options->api_version != NULL)
		g_variant_builder_add(&builder,
				      "{sv}",
				      "api-version",
				      g_variant_new_string(options->api_version));
	g_variant_builder_add(
		&builder, "{sv}", "verify", g_variant_new_boolean(!options->no_verify));
	return g_variant_ref_sink(g_variant_builder_end(&builder));
}

gboolean
applink_cli_auth_set(ApplinkCli *cli, gchar **args, GError **error)
{
	const ApplinkCliOptions *options = cli->options;
	g_autoptr(GVariant) auth_options = NULL;
	g_autoptr(GVariant) status = NULL;
	ApplinkDBusManager *manager;
	GVariant *credentials;
	const gchar *site;

	if (options->sandbox && options->login_url != NULL)
		return applink_cli_usage_error(
			error,
			"--sandbox and --login-url exclude each other: --sandbox logs in at "
			"https://test.salesforce.com");
	if (!check_api_version(options->api_version, error) ||
	    !applink_cli_connect_site(cli, &manager, &site, error))
		return FALSE;
	auth_options = build_auth_options(options);
	credentials = read_salesforce_credentials(options, error);
	if (credentials == NULL)
		return FALSE;
	/* The call consumes the floating credentials, so the secrets are wiped and freed as
	 * soon as it returns. */
	if (!applink_dbus_manager_call_set_outgoing_auth_sync(
		    manager, site, args[0], credentials, auth_options, &status, NULL, error))
		return FALSE;
	applink_cli_print_object(cli, status);
	return TRUE;
}

gboolean
applink_cli_auth_status(ApplinkCli *cli, gchar **args, GError **error)
{
	g_autoptr(GVariant) status = NULL;
	ApplinkDBusManager *manager;
	const gchar *site;

	if (!applink_cli_connect_site(cli, &manager, &site, error))
		return FALSE;
	if (!applink_dbus_manager_call_get_outgoing_auth_sync(
		    manager, site, args[0], &status, NULL, error))
		return FALSE;
	applink_cli_print_object(cli, status);
	return TRUE;
}

gboolean
applink_cli_auth_test(ApplinkCli *cli, gchar **args, GError **error)
{
	g_autoptr(GVariant) status = NULL;
	ApplinkDBusManager *manager;
	const gchar *site;

	if (!applink_cli_connect_site(cli, &manager, &site, error))
		return FALSE;
	if (!applink_dbus_manager_call_test_outgoing_auth_sync(
		    manager, site, args[0], &status, NULL, error))
		return FALSE;
	applink_cli_print_object(cli, status);
	return TRUE;
}

gboolean
applink_cli_auth_clear(ApplinkCli *cli, gchar **args, GError **error)
{
	ApplinkDBusManager *manager;
	const gchar *site;

	if (!applink_cli_connect_site(cli, &manager, &site, error))
		return FALSE;
	if (!applink_dbus_manager_call_clear_outgoing_auth_sync(
		    manager, site, args[0], NULL, error))
		return FALSE;
	applink_cli_print_done(cli);
	return TRUE;
}

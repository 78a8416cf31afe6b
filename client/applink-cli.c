/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "applink-cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "applink-error.h"

#define EXIT_USAGE 2

GQuark
applink_cli_error_quark(void)
{
	return g_quark_from_static_string("applink-cli-error-quark");
}

/* The option tables below point into this instance; see ApplinkCliOptions. */
static ApplinkCliOptions option_values;

/* Command options that take a value are G_OPTION_ARG_FILENAME, which GLib stores as the
 * bytes of argv without converting them from the locale's character set.
 * check_option_values() then requires UTF-8, which D-Bus strings must be, whatever the
 * locale. */
static const GOptionEntry site_add_options[] = {
	{
		.long_name = "name",
		.arg = G_OPTION_ARG_FILENAME,
		.arg_data = &option_values.name,
		.description = "Site id (default: derived from the host, e.g. jira.example.com)",
		.arg_description = "ID",
	},
	{
		.long_name = "user",
		.arg = G_OPTION_ARG_FILENAME,
		.arg_data = &option_values.user,
		.description = "Log in to Jira as this user with a password instead of a personal "
			       "access token",
		.arg_description = "NAME",
	},
	{
		.long_name = "ca-file",
		.arg = G_OPTION_ARG_FILENAME,
		.arg_data = &option_values.ca_file,
		.description = "PEM file of certificate authorities to trust for this site besides "
			       "the system's",
		.arg_description = "FILE",
	},
	{
		.long_name = "link-type",
		.arg = G_OPTION_ARG_FILENAME,
		.arg_data = &option_values.link_type,
		.description = "Application type id of Salesforce links in this Jira (default: "
			       "salesforce)",
		.arg_description = "ID",
	},
	{
		.long_name = "stdin",
		.arg = G_OPTION_ARG_NONE,
		.arg_data = &option_values.from_stdin,
		.description = "Read the token, or with --user the password, from standard input",
	},
	G_OPTION_ENTRY_NULL,
};

static const GOptionEntry link_create_options[] = {
	{
		.long_name = "name",
		.arg = G_OPTION_ARG_FILENAME,
		.arg_data = &option_values.name,
		.description = "Name of the link in Jira (required)",
		.arg_description = "NAME",
	},
	{
		.long_name = "type",
		.arg = G_OPTION_ARG_FILENAME,
		.arg_data = &option_values.type,
		.description = "Application type id (default: the site's link type)",
		.arg_description = "ID",
	},
	{
		.long_name = "primary",
		.arg = G_OPTION_ARG_NONE,
		.arg_data = &option_values.primary,
		.description = "Make the link the primary link of its type",
	},
	{
		.long_name = "if-exists",
		.arg = G_OPTION_ARG_NONE,
		.arg_data = &option_values.if_exists,
		.description = "Print the existing link to the same URL instead of failing",
	},
	{
		.long_name = "no-check",
		.arg = G_OPTION_ARG_NONE,
		.arg_data = &option_values.no_check,
		.description = "Do not ask Jira about the URL before creating the link",
	},
	G_OPTION_ENTRY_NULL,
};

static const GOptionEntry link_edit_options[] = {
	{
		.long_name = "name",
		.arg = G_OPTION_ARG_FILENAME,
		.arg_data = &option_values.name,
		.description = "New name of the link",
		.arg_description = "NAME",
	},
	{
		.long_name = "primary",
		.arg = G_OPTION_ARG_NONE,
		.arg_data = &option_values.primary,
		.description = "Make the link the primary link of its type",
	},
	G_OPTION_ENTRY_NULL,
};

static const GOptionEntry auth_set_options[] = {
	{
		.long_name = "username",
		.arg = G_OPTION_ARG_FILENAME,
		.arg_data = &option_values.username,
		.description = "Salesforce username (required)",
		.arg_description = "USER",
	},
	{
		.long_name = "sandbox",
		.arg = G_OPTION_ARG_NONE,
		.arg_data = &option_values.sandbox,
		.description = "Log in at https://test.salesforce.com",
	},
	{
		.long_name = "login-url",
		.arg = G_OPTION_ARG_FILENAME,
		.arg_data = &option_values.login_url,
		.description = "Salesforce URL to log in at (default: derived from the link's URL)",
		.arg_description = "URL",
	},
	{
		.long_name = "consumer-key",
		.arg = G_OPTION_ARG_FILENAME,
		.arg_data = &option_values.consumer_key,
		.description =
			"Consumer key of a connected app, to log in with OAuth 2.0 instead of SOAP",
		.arg_description = "KEY",
	},
	{
		.long_name = "api-version",
		.arg = G_OPTION_ARG_FILENAME,
		.arg_data = &option_values.api_version,
		.description = "Salesforce SOAP API version (default: 64.0)",
		.arg_description = "V",
	},
	{
		.long_name = "no-verify",
		.arg = G_OPTION_ARG_NONE,
		.arg_data = &option_values.no_verify,
		.description = "Store the credentials without logging in to Salesforce first",
	},
	{
		.long_name = "stdin",
		.arg = G_OPTION_ARG_NONE,
		.arg_data = &option_values.from_stdin,
		.description = "Read the secrets from standard input, one per line",
	},
	G_OPTION_ENTRY_NULL,
};

static const ApplinkCliCommand commands[] = {
	{
		.group = "site",
		.verb = "add",
		.arguments = "URL",
		.summary = "Verify a Jira site's credential and register the site",
		.details = "URL is the Jira base URL, e.g. https://jira.example.com/jira.\n"
			   "The credential is a personal access token, or with --user a\n"
			   "password, and must belong to a Jira administrator. Registering\n"
			   "an existing site id updates that site.",
		.options = site_add_options,
		.func = applink_cli_site_add,
	},
	{
		.group = "site",
		.verb = "list",
		.arguments = "",
		.summary = "List the registered Jira sites",
		.func = applink_cli_site_list,
	},
	{
		.group = "site",
		.verb = "remove",
		.arguments = "SITE",
		.summary = "Forget a Jira site and delete its credentials from the keyring",
		.details = "The site's links stay in Jira.",
		.func = applink_cli_site_remove,
	},
	{
		.verb = "probe",
		.arguments = "URL",
		.summary = "Normalise and classify a Salesforce URL without creating anything",
		.details = "With a Jira site (--site, or the only registered one), also\n"
			   "shows what that Jira sees at the URL.",
		.uses_site = TRUE,
		.func = applink_cli_probe,
	},
	{
		.group = "link",
		.verb = "create",
		.arguments = "URL",
		.required_option = "name",
		.summary = "Create a Salesforce application link in Jira",
		.details = "Prints the link as Jira stored it: Jira renames a duplicate\n"
			   "name to 'NAME - 2'. A link to the same URL already in Jira is\n"
			   "an error unless --if-exists is given.",
		.options = link_create_options,
		.uses_site = TRUE,
		.func = applink_cli_link_create,
	},
	{
		.group = "link",
		.verb = "list",
		.arguments = "",
		.summary = "List the Salesforce links of the Jira site",
		.uses_site = TRUE,
		.func = applink_cli_link_list,
	},
	{
		.group = "link",
		.verb = "show",
		.arguments = "LINK",
		.summary = "Show a link",
		.details = "LINK is a link id or the link's exact name.",
		.uses_site = TRUE,
		.func = applink_cli_link_show,
	},
	{
		.group = "link",
		.verb = "edit",
		.arguments = "LINK",
		.summary = "Rename a link or make it the primary link of its type",
		.details = "LINK is a link id or the link's exact name. Jira cannot change\n"
			   "the URL of a link: delete the link and create it again.",
		.options = link_edit_options,
		.uses_site = TRUE,
		.func = applink_cli_link_edit,
	},
	{
		.group = "link",
		.verb = "delete",
		.arguments = "LINK",
		.summary = "Delete a link in Jira and its Salesforce credential in the keyring",
		.details = "LINK is a link id or the link's exact name.",
		.uses_site = TRUE,
		.func = applink_cli_link_delete,
	},
	{
		.group = "auth",
		.verb = "set",
		.arguments = "LINK",
		.required_option = "username",
		.summary = "Verify a Salesforce login and set it as the link's outgoing "
			   "authentication",
		.details = "Asks for the Salesforce password, the security token (empty\n"
			   "when the network is trusted) and, with --consumer-key, the\n"
			   "consumer secret. With --stdin, reads them from standard input\n"
			   "in that order, one per line. Unless --no-verify is given,\n"
			   "nothing is stored or changed in Jira when the login fails.",
		.options = auth_set_options,
		.uses_site = TRUE,
		.func = applink_cli_auth_set,
	},
	{
		.group = "auth",
		.verb = "status",
		.arguments = "LINK",
		.summary = "Show the outgoing authentication of a link",
		.uses_site = TRUE,
		.func = applink_cli_auth_status,
	},
	{
		.group = "auth",
		.verb = "test",
		.arguments = "LINK",
		.summary = "Log in to Salesforce again with the stored credentials of a link",
		.uses_site = TRUE,
		.func = applink_cli_auth_test,
	},
	{
		.group = "auth",
		.verb = "clear",
		.arguments = "LINK",
		.summary =
			"Remove the outgoing authentication of a link and its stored credentials",
		.uses_site = TRUE,
		.func = applink_cli_auth_clear,
	},
	{
		.verb = "version",
		.arguments = "",
		.summary = "Show the versions of applinkctl and applinkd",
		.func = applink_cli_version,
	},
};

static const gchar main_summary[] =
	"Link Jira to Salesforce through applinkd, which keeps the credentials in the desktop\n"
	"keyring. Secrets are never read from the command line: applinkctl asks for them on\n"
	"the terminal, or reads them from standard input with --stdin.";

/**
 * applink_cli_get_commands:
 * @n_commands: (out): the number of commands
 *
 * Returns the verb table, for help, man pages and shell completion.
 */
const ApplinkCliCommand *
applink_cli_get_commands(gsize *n_commands)
{
	*n_commands = G_N_ELEMENTS(commands);
	return commands;
}

/* Returns "site add", or "probe" for a top-level command. */
static gchar *
get_command_name(const ApplinkCliCommand *command)
{
	if (command->group == NULL)
		return g_strdup(command->verb);
	return g_strdup_printf("%s %s", command->group, command->verb);
}

/* Sets @error to a usage error, for which applinkctl exits with status 2, and returns
 * FALSE. */
gboolean
applink_cli_usage_error(GError **error, const gchar *format, ...)
{
	va_list args;

	va_start(args, format);
	g_propagate_error(
		error,
		g_error_new_valist(APPLINK_CLI_ERROR, APPLINK_CLI_ERROR_USAGE, format, args));
	va_end(args);
	return FALSE;
}

static ApplinkCli *
applink_cli_new(void)
{
	ApplinkCli *cli = g_new0(ApplinkCli, 1);

	cli->options = &option_values;
	return cli;
}

static void
clear_option_values(void)
{
	for (gsize i = 0; i < G_N_ELEMENTS(commands); i++) {
		for (const GOptionEntry *entry = commands[i].options;
		     entry != NULL && entry->long_name != NULL;
		     entry++) {
			if (entry->arg == G_OPTION_ARG_FILENAME)
				g_clear_pointer((gchar **)entry->arg_data, g_free);
		}
	}
	memset(&option_values, 0, sizeof option_values);
}

static void
applink_cli_free(ApplinkCli *cli)
{
	clear_option_values();
	g_free(cli->site);
	g_clear_object(&cli->manager);
	g_free(cli);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ApplinkCli, applink_cli_free)

/* Prints a single result: as a JSON object, or as "key: value" lines. */
void
applink_cli_print_object(ApplinkCli *cli, GVariant *object)
{
	if (cli->json)
		applink_console_print_json(object);
	else
		applink_console_print_fields(object);
}

/* Prints an aa{sv} result: as a JSON array, or as a table, or @empty_message when it has
 * no element. */
void
applink_cli_print_list(ApplinkCli *cli,
		       GVariant *list,
		       const ApplinkConsoleColumn *columns,
		       const gchar *empty_message)
{
	if (cli->json)
		applink_console_print_json(list);
	else if (g_variant_n_children(list) == 0)
		puts(empty_message);
	else
		applink_console_print_table(list, columns);
}

/* Prints the result of a command that returns nothing: "{}" in JSON, else nothing. */
void
applink_cli_print_done(ApplinkCli *cli)
{
	if (cli->json)
		puts("{}");
}

static gboolean
is_usage_error(const GError *error)
{
	return g_error_matches(error, APPLINK_CLI_ERROR, APPLINK_CLI_ERROR_USAGE) ||
	       error->domain == G_OPTION_ERROR;
}

/* Returns the short name of a D-Bus error name: "NotFound" for
 * "org.applink.Error.NotFound", "ServiceUnknown" for
 * "org.freedesktop.DBus.Error.ServiceUnknown", else the part after the last dot. */
static const gchar *
shorten_error_name(const gchar *name)
{
	const gchar *prefixes[] = {"org.applink.Error.", "org.freedesktop.DBus.Error."};
	const gchar *last_dot;

	for (gsize i = 0; i < G_N_ELEMENTS(prefixes); i++) {
		if (g_str_has_prefix(name, prefixes[i]))
			return name + strlen(prefixes[i]);
	}
	last_dot = strrchr(name, '.');
	return last_dot != NULL ? last_dot + 1 : name;
}

/* Returns the name of @error for JSON output. @remote_name is its D-Bus error name, if any. */
static const gchar *
get_error_name(const GError *error, const gchar *remote_name)
{
	if (error->domain == APPLINK_ERROR)
		return applink_error_to_name(error->code);
	if (is_usage_error(error))
		return "UsageError";
	if (g_error_matches(error, APPLINK_CLI_ERROR, APPLINK_CLI_ERROR_NO_BUS))
		return "NoSessionBus";
	if (remote_name != NULL)
		return shorten_error_name(remote_name);
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
		return "NoReply";
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CLOSED))
		return "Disconnected";
	return "Failed";
}

static void
print_json_error(const gchar *name, const gchar *message)
{
	g_auto(GVariantBuilder) details = G_VARIANT_BUILDER_INIT(G_VARIANT_TYPE_VARDICT);
	g_auto(GVariantBuilder) document = G_VARIANT_BUILDER_INIT(G_VARIANT_TYPE_VARDICT);
	g_autofree gchar *valid_message = g_utf8_make_valid(message, -1);
	g_autoptr(GVariant) json = NULL;

	g_variant_builder_add(&details, "{sv}", "name", g_variant_new_string(name));
	g_variant_builder_add(&details, "{sv}", "message", g_variant_new_string(valid_message));
	g_variant_builder_add(&document, "{sv}", "error", g_variant_builder_end(&details));
	json = g_variant_ref_sink(g_variant_builder_end(&document));
	applink_console_print_json(json);
}

static void
print_human_error(ApplinkCli *cli,
		  const GError *error,
		  const gchar *message,
		  const gchar *remote_name)
{
	g_autofree gchar *printable = applink_console_printable_text(message, TRUE);
	g_autofree gchar *command_name = NULL;

	fprintf(stderr, "%s: %s\n", g_get_prgname(), printable);
	if (is_usage_error(error) && cli->command != NULL) {
		command_name = get_command_name(cli->command);
		fprintf(stderr, "Run '%s %s --help' for usage.\n", g_get_prgname(), command_name);
	} else if (is_usage_error(error)) {
		fprintf(stderr, "Run '%s --help' for usage.\n", g_get_prgname());
	} else if (remote_name != NULL && !applink_cli_is_unreachable_error(error)) {
		fprintf(stderr, "(%s)\n", remote_name);
	}
}

/* Prints @error, on standard output as JSON with --json, else on standard error, and
 * returns the exit status: 2 for a usage error, else 1. */
static gint
report_error(ApplinkCli *cli, GError *error)
{
	/* The D-Bus name must be read before the prefix that carries it is stripped. */
	g_autofree gchar *remote_name = g_dbus_error_get_remote_error(error);
	g_autofree gchar *message = NULL;

	g_dbus_error_strip_remote_error(error);
	message = applink_cli_describe_error(error);
	if (cli->json)
		print_json_error(get_error_name(error, remote_name), message);
	else
		print_human_error(cli, error, message, remote_name);
	fflush(stdout);
	return is_usage_error(error) ? EXIT_USAGE : EXIT_FAILURE;
}

static const GOptionEntry *
find_option_entry(const ApplinkCliCommand *command, const gchar *long_name)
{
	for (const GOptionEntry *entry = command->options;
	     entry != NULL && entry->long_name != NULL;
	     entry++) {
		if (g_str_equal(entry->long_name, long_name))
			return entry;
	}
	return NULL;
}

/* Returns the command with its arguments and required option: "link create URL --name NAME". */
static gchar *
get_command_usage(const ApplinkCliCommand *command)
{
	g_autofree gchar *name = get_command_name(command);
	GString *usage = g_string_new(name);
	const GOptionEntry *required = NULL;

	if (*command->arguments != '\0')
		g_string_append_printf(usage, " %s", command->arguments);
	if (command->required_option != NULL)
		required = find_option_entry(command, command->required_option);
	if (required != NULL)
		g_string_append_printf(
			usage, " --%s %s", required->long_name, required->arg_description);
	return g_string_free(usage, FALSE);
}

/* Returns the list of commands for the main help, each with its summary. */
static gchar *
describe_commands(void)
{
	GString *text = g_string_new("Commands:\n");
	gsize width = 0;

	for (gsize i = 0; i < G_N_ELEMENTS(commands); i++) {
		g_autofree gchar *name = get_command_name(&commands[i]);

		width = MAX(width, strlen(name) + 1 + strlen(commands[i].arguments));
	}
	for (gsize i = 0; i < G_N_ELEMENTS(commands); i++) {
		g_autofree gchar *name = get_command_name(&commands[i]);
		g_autofree gchar *synopsis = g_strdup_printf("%s %s", name, commands[i].arguments);

		g_string_append_printf(
			text, "  %-*s  %s\n", (int)width, synopsis, commands[i].summary);
	}
	g_string_append_printf(text,
			       "\nRun '%s COMMAND --help' for the options of a command.\n"
			       "Exit status: 0 on success, 1 when the operation failed, 2 on a "
			       "usage error.",
			       g_get_prgname());
	return g_string_free(text, FALSE);
}

/* Returns the options that every command accepts, before or after the command words. */
static GOptionGroup *
new_global_group(ApplinkCli *cli)
{
	const GOptionEntry entries[] = {
		{
			.long_name = "json",
			.arg = G_OPTION_ARG_NONE,
			.arg_data = &cli->json,
			.description = "Print results, and errors, as JSON on standard output",
		},
		{
			.long_name = "site",
			.arg = G_OPTION_ARG_FILENAME,
			.arg_data = &cli->site,
			.description = "Jira site id to act on (default: the only registered site)",
			.arg_description = "SITE",
		},
		{
			.long_name = "help",
			.short_name = 'h',
			.arg = G_OPTION_ARG_NONE,
			.arg_data = &cli->help,
			.description = "Show help",
		},
		G_OPTION_ENTRY_NULL,
	};
	GOptionGroup *group = g_option_group_new(
		"global", "Global options:", "Show the global options", NULL, NULL);

	g_option_group_add_entries(group, entries);
	return group;
}

static GOptionContext *
new_main_context(ApplinkCli *cli)
{
	const GOptionEntry hidden_entries[] = {
		{
			.long_name = "list-commands",
			.flags = G_OPTION_FLAG_HIDDEN,
			.arg = G_OPTION_ARG_NONE,
			.arg_data = &cli->list_commands,
			.description = "Print each command with its options, one per line",
		},
		G_OPTION_ENTRY_NULL,
	};
	g_autofree gchar *description = describe_commands();
	GOptionContext *context = g_option_context_new("COMMAND [ARGUMENT...]");

	g_option_context_set_help_enabled(context, FALSE);
	/* Stop at the command, whose options its own context parses. */
	g_option_context_set_strict_posix(context, TRUE);
	g_option_context_set_summary(context, main_summary);
	g_option_context_set_description(context, description);
	g_option_context_add_main_entries(context, hidden_entries, NULL);
	g_option_context_add_group(context, new_global_group(cli));
	return context;
}

static GOptionContext *
new_command_context(ApplinkCli *cli, const ApplinkCliCommand *command)
{
	g_autofree gchar *usage = get_command_usage(command);
	GOptionContext *context = g_option_context_new(usage);
	GOptionGroup *group;

	g_option_context_set_help_enabled(context, FALSE);
	g_option_context_set_summary(context, command->summary);
	if (command->details != NULL)
		g_option_context_set_description(context, command->details);
	if (command->options != NULL) {
		group = g_option_group_new(
			"command", "Options:", "Show the options of the command", NULL, NULL);
		g_option_group_add_entries(group, command->options);
		g_option_context_add_group(context, group);
	}
	g_option_context_add_group(context, new_global_group(cli));
	return context;
}

static void
print_help(GOptionContext *context)
{
	g_autofree gchar *help = g_option_context_get_help(context, FALSE, NULL);

	fputs(help, stdout);
}

/* Prints each command with its options, one per line ("site add --name --user ..."), for
 * the checks that keep the man page and the shell completion in step with the table. */
static void
print_command_list(void)
{
	for (gsize i = 0; i < G_N_ELEMENTS(commands); i++) {
		g_autofree gchar *name = get_command_name(&commands[i]);

		fputs(name, stdout);
		for (const GOptionEntry *entry = commands[i].options;
		     entry != NULL && entry->long_name != NULL;
		     entry++)
			printf(" --%s", entry->long_name);
		fputc('\n', stdout);
	}
}

static gboolean
is_group_name(const gchar *word)
{
	if (word == NULL)
		return FALSE;
	for (gsize i = 0; i < G_N_ELEMENTS(commands); i++) {
		if (g_strcmp0(commands[i].group, word) == 0)
			return TRUE;
	}
	return FALSE;
}

static gboolean
is_help_option(const gchar *word)
{
	return g_strcmp0(word, "--help") == 0 || g_strcmp0(word, "-h") == 0;
}

/* Sets the error for a group word followed by no verb or by an unknown one. */
static gboolean
set_unknown_verb_error(const gchar *group, const gchar *verb, GError **error)
{
	g_autoptr(GPtrArray) verbs = g_ptr_array_new();
	g_autofree gchar *joined = NULL;

	for (gsize i = 0; i < G_N_ELEMENTS(commands); i++) {
		if (g_strcmp0(commands[i].group, group) == 0)
			g_ptr_array_add(verbs, (gpointer)commands[i].verb);
	}
	g_ptr_array_add(verbs, NULL);
	joined = g_strjoinv(", ", (gchar **)verbs->pdata);
	if (verb == NULL)
		return applink_cli_usage_error(
			error, "missing command after '%s': use one of %s", group, joined);
	return applink_cli_usage_error(
		error, "unknown command '%s %s': use one of %s", group, verb, joined);
}

/* Finds the command named by the first one or two of @words, and sets @n_words to their
 * number. */
static gboolean
find_command(gchar **words, const ApplinkCliCommand **command, guint *n_words, GError **error)
{
	/* Only command words are checked here: after a one-word command come its arguments,
	 * which check_arguments() names when they are invalid. */
	for (guint i = 0; i < 2 && words[i] != NULL && (i == 0 || is_group_name(words[0])); i++) {
		const gchar *problem =
			applink_console_find_text_problem(words[i], strlen(words[i]));

		if (problem != NULL)
			return applink_cli_usage_error(error, "invalid command: it %s", problem);
	}
	for (gsize i = 0; i < G_N_ELEMENTS(commands); i++) {
		const ApplinkCliCommand *candidate = &commands[i];
		gboolean in_group = candidate->group != NULL;

		if (g_strcmp0(in_group ? candidate->group : candidate->verb, words[0]) != 0)
			continue;
		if (in_group && g_strcmp0(candidate->verb, words[1]) != 0)
			continue;
		*command = candidate;
		*n_words = in_group ? 2 : 1;
		return TRUE;
	}
	if (is_group_name(words[0]))
		return set_unknown_verb_error(words[0], words[1], error);
	return applink_cli_usage_error(error, "unknown command '%s'", words[0]);
}

/* Removes the first "--" from @args: GLib stops parsing options there but keeps it. */
static void
remove_option_terminator(gchar **args)
{
	for (gsize i = 0; args[i] != NULL; i++) {
		if (g_str_equal(args[i], "--")) {
			g_free(args[i]);
			memmove(&args[i],
				&args[i + 1],
				(g_strv_length(&args[i + 1]) + 1) * sizeof *args);
			return;
		}
	}
}

static gboolean
check_arguments(const ApplinkCliCommand *command, gchar **args, GError **error)
{
	g_auto(GStrv) names = g_strsplit(command->arguments, " ", -1);
	g_autofree gchar *command_name = get_command_name(command);
	guint n_names = *command->arguments != '\0' ? g_strv_length(names) : 0;
	guint n_args = g_strv_length(args);
	const gchar *problem;

	if (n_args < n_names)
		return applink_cli_usage_error(
			error, "missing %s argument for '%s'", names[n_args], command_name);
	if (n_args > n_names && n_names == 0)
		return applink_cli_usage_error(error, "'%s' takes no arguments", command_name);
	if (n_args > n_names)
		return applink_cli_usage_error(error,
					       "too many arguments for '%s': it takes %s",
					       command_name,
					       command->arguments);
	for (guint i = 0; i < n_args; i++) {
		if (*args[i] == '\0')
			return applink_cli_usage_error(error, "the %s argument is empty", names[i]);
		problem = applink_console_find_text_problem(args[i], strlen(args[i]));
		if (problem != NULL)
			return applink_cli_usage_error(
				error, "invalid %s argument: it %s", names[i], problem);
	}
	return TRUE;
}

static gboolean
check_text_option(const gchar *long_name, const gchar *value, GError **error)
{
	const gchar *problem;

	if (value == NULL)
		return TRUE;
	if (*value == '\0')
		return applink_cli_usage_error(error, "the value of --%s is empty", long_name);
	problem = applink_console_find_text_problem(value, strlen(value));
	if (problem != NULL)
		return applink_cli_usage_error(
			error, "invalid value for --%s: it %s", long_name, problem);
	return TRUE;
}

/* Checks the text of every option value, that --site applies, and the required option. */
static gboolean
check_option_values(ApplinkCli *cli, const ApplinkCliCommand *command, GError **error)
{
	g_autofree gchar *command_name = get_command_name(command);
	const GOptionEntry *required;

	if (!check_text_option("site", cli->site, error))
		return FALSE;
	if (cli->site != NULL && !command->uses_site)
		return applink_cli_usage_error(
			error, "the --site option does not apply to '%s'", command_name);
	for (const GOptionEntry *entry = command->options;
	     entry != NULL && entry->long_name != NULL;
	     entry++) {
		if (entry->arg == G_OPTION_ARG_FILENAME &&
		    !check_text_option(entry->long_name, *(gchar **)entry->arg_data, error))
			return FALSE;
	}
	if (command->required_option == NULL)
		return TRUE;
	required = find_option_entry(command, command->required_option);
	if (*(gchar **)required->arg_data == NULL)
		return applink_cli_usage_error(error,
					       "'%s' needs --%s %s",
					       command_name,
					       required->long_name,
					       required->arg_description);
	return TRUE;
}

/* Returns a new argument vector of the program name followed by @words. */
static gchar **
new_command_argv(gchar **words)
{
	guint n_words = g_strv_length(words);
	gchar **argv = g_new0(gchar *, n_words + 2);

	argv[0] = g_strdup(g_get_prgname());
	for (guint i = 0; i < n_words; i++)
		argv[i + 1] = g_strdup(words[i]);
	return argv;
}

/* Parses the options and arguments that follow the command words, @words, and runs the
 * command. */
static gboolean
run_command(ApplinkCli *cli, const ApplinkCliCommand *command, gchar **words, GError **error)
{
	g_autoptr(GOptionContext) context = new_command_context(cli, command);
	g_auto(GStrv) argv = new_command_argv(words);

	cli->command = command;
	if (!g_option_context_parse_strv(context, &argv, error))
		return FALSE;
	if (cli->help) {
		print_help(context);
		return TRUE;
	}
	remove_option_terminator(argv + 1);
	if (!check_arguments(command, argv + 1, error) || !check_option_values(cli, command, error))
		return FALSE;
	return command->func(cli, argv + 1, error);
}

/* Runs "help" and "help COMMAND". */
static gboolean
run_help(ApplinkCli *cli, GOptionContext *main_context, gchar **words, GError **error)
{
	const ApplinkCliCommand *command;
	g_autoptr(GOptionContext) context = NULL;
	guint n_words;

	if (words[0] == NULL) {
		print_help(main_context);
		return TRUE;
	}
	if (!find_command(words, &command, &n_words, error))
		return FALSE;
	if (words[n_words] != NULL)
		return applink_cli_usage_error(error, "'help' takes one command");
	context = new_command_context(cli, command);
	print_help(context);
	return TRUE;
}

static gboolean
parse_and_run(ApplinkCli *cli, gchar ***argv, GError **error)
{
	g_autoptr(GOptionContext) context = new_main_context(cli);
	const ApplinkCliCommand *command;
	guint n_words;
	gchar **words;

	if (!g_option_context_parse_strv(context, argv, error))
		return FALSE;
	words = *argv + 1;
	if (g_strcmp0(words[0], "--") == 0)
		words++;
	if (cli->list_commands) {
		print_command_list();
		return TRUE;
	}
	if (cli->help || (is_group_name(words[0]) && is_help_option(words[1]))) {
		print_help(context);
		return TRUE;
	}
	if (words[0] == NULL)
		return applink_cli_usage_error(error, "missing command");
	if (g_str_equal(words[0], "help"))
		return run_help(cli, context, words + 1, error);
	if (!find_command(words, &command, &n_words, error))
		return FALSE;
	return run_command(cli, command, words + n_words, error);
}

static gboolean
flush_output(GError **error)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return TRUE;
	g_set_error(error,
		    G_IO_ERROR,
		    g_io_error_from_errno(errno),
		    "failed to write to standard output: %s",
		    g_strerror(errno));
	return FALSE;
}

/* Returns whether @name is an option that takes no value, of a command or global. */
static gboolean
is_flag_option(const gchar *name)
{
	static const gchar *const global_flags[] = {"json", "help", "list-commands"};

	if (g_strv_contains(global_flags, name))
		return TRUE;
	for (gsize i = 0; i < G_N_ELEMENTS(commands); i++) {
		for (const GOptionEntry *entry = commands[i].options;
		     entry != NULL && entry->long_name != NULL;
		     entry++) {
			if (entry->arg == G_OPTION_ARG_NONE && g_str_equal(entry->long_name, name))
				return TRUE;
		}
	}
	return FALSE;
}

/* Rejects a value given to an option that takes none, as in --json=no: GLib would ignore the
 * value and turn the option on. */
static gboolean
check_flags_without_value(gchar **argv, GError **error)
{
	for (gchar **arg = argv + 1; *arg != NULL && !g_str_equal(*arg, "--"); arg++) {
		const gchar *equals = strchr(*arg, '=');
		g_autofree gchar *name = NULL;

		if (!g_str_has_prefix(*arg, "--") || equals == NULL)
			continue;
		name = g_strndup(*arg + 2, (gsize)(equals - *arg - 2));
		if (is_flag_option(name))
			return applink_cli_usage_error(
				error,
				"the option --%s takes no value; give it as --%s",
				name,
				name);
	}
	return TRUE;
}

/* Returns whether @argv contains --json before any "--". GLib undoes what it parsed when the
 * parse fails, and the usage error must still be JSON when JSON was requested. */
static gboolean
argv_requests_json(gchar **argv)
{
	for (gchar **arg = argv + 1; *arg != NULL && !g_str_equal(*arg, "--"); arg++) {
		if (g_str_equal(*arg, "--json"))
			return TRUE;
	}
	return FALSE;
}

/* Opens /dev/null on standard input, output or error when it is closed, so that no descriptor
 * that GLib opens later takes its number and gets read or written as if it were that stream. */
static void
open_missing_standard_streams(void)
{
	for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++) {
		int opened;

		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		opened = open("/dev/null", fd == STDIN_FILENO ? O_RDONLY : O_WRONLY);
		if (opened >= 0 && opened != fd)
			close(opened);
	}
}

/* Runs applinkctl with the command line @argv and returns its exit status. */
gint
applink_cli_run(gint argc, gchar **argv)
{
	g_autoptr(ApplinkCli) cli = NULL;
	g_auto(GStrv) args = g_new0(gchar *, argc + 1);
	g_autoptr(GError) error = NULL;

	open_missing_standard_streams();
	cli = applink_cli_new();
	for (gint i = 0; i < argc; i++)
		args[i] = g_strdup(argv[i]);
	if (!check_flags_without_value(argv, &error) || !parse_and_run(cli, &args, &error) ||
	    !flush_output(&error)) {
		cli->json = cli->json || argv_requests_json(argv);
		return report_error(cli, error);
	}
	return EXIT_SUCCESS;
}

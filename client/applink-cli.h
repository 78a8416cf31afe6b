/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "applink-console.h"
#include "applink-dbus-generated.h"

G_BEGIN_DECLS

#define APPLINK_CLI_ERROR (applink_cli_error_quark())

/* Failures that applinkctl finds itself, without a reply from applinkd. */
typedef enum {
	APPLINK_CLI_ERROR_USAGE,  /* unknown command or option, missing argument, bad input */
	APPLINK_CLI_ERROR_NO_BUS, /* no session bus to connect to */
} ApplinkCliError;

/* Values of the command options. The option tables of the verb table point into one
 * instance, and each command reads the fields its own options set. */
typedef struct {
	gchar *name;
	gchar *user;
	gchar *ca_file;
	gchar *link_type;
	gchar *type;
	gchar *username;
	gchar *login_url;
	gchar *consumer_key;
	gchar *api_version;
	gboolean from_stdin;
	gboolean primary;
	gboolean if_exists;
	gboolean no_check;
	gboolean sandbox;
	gboolean no_verify;
} ApplinkCliOptions;

typedef struct _ApplinkCliCommand ApplinkCliCommand;

/* State of one applinkctl run. */
typedef struct {
	gboolean json;
	gchar *site;
	gboolean help;
	gboolean list_commands;
	ApplinkCliOptions *options;
	const ApplinkCliCommand *command;
	ApplinkDBusManager *manager; /* connected on first use */
} ApplinkCli;

/* Runs one command with its positional arguments, @args, whose number is already checked. */
typedef gboolean (*ApplinkCliFunc)(ApplinkCli *cli, gchar **args, GError **error);

/* One entry of the verb table, from which parsing, help, --list-commands and the
 * documentation are made. */
struct _ApplinkCliCommand {
	const gchar *group;	      /* "site", "link", "auth", or NULL for a top-level command */
	const gchar *verb;	      /* "add" */
	const gchar *arguments;	      /* positional arguments, space-separated: "URL" */
	const gchar *required_option; /* long name of an option the command needs, or NULL */
	const gchar *summary;	      /* one line for the help */
	const gchar *details;	      /* a paragraph for the command's help, or NULL */
	const GOptionEntry *options;  /* command options, or NULL */
	gboolean uses_site;	      /* whether the global --site applies */
	ApplinkCliFunc func;
};

GQuark
applink_cli_error_quark(void);

gint
applink_cli_run(gint argc, gchar **argv);

const ApplinkCliCommand *
applink_cli_get_commands(gsize *n_commands);

gboolean
applink_cli_usage_error(GError **error, const gchar *format, ...) G_GNUC_PRINTF(2, 3);

gboolean
applink_cli_is_unreachable_error(const GError *error);

gchar *
applink_cli_describe_error(const GError *error);

ApplinkDBusManager *
applink_cli_get_manager(ApplinkCli *cli, GError **error);

const gchar *
applink_cli_get_site(ApplinkCli *cli, GError **error);

gboolean
applink_cli_connect_site(ApplinkCli *cli,
			 ApplinkDBusManager **manager,
			 const gchar **site,
			 GError **error);

gboolean
applink_cli_find_site(ApplinkCli *cli, const gchar **site, GError **error);

void
applink_cli_print_object(ApplinkCli *cli, GVariant *object);

void
applink_cli_print_list(ApplinkCli *cli,
		       GVariant *list,
		       const ApplinkConsoleColumn *columns,
		       const gchar *empty_message);

void
applink_cli_print_done(ApplinkCli *cli);

gboolean
applink_cli_version(ApplinkCli *cli, gchar **args, GError **error);

gboolean
applink_cli_site_add(ApplinkCli *cli, gchar **args, GError **error);

gboolean
applink_cli_site_list(ApplinkCli *cli, gchar **args, GError **error);

gboolean
applink_cli_site_remove(ApplinkCli *cli, gchar **args, GError **error);

gboolean
applink_cli_probe(ApplinkCli *cli, gchar **args, GError **error);

gboolean
applink_cli_link_create(ApplinkCli *cli, gchar **args, GError **error);

gboolean
applink_cli_link_list(ApplinkCli *cli, gchar **args, GError **error);

gboolean
applink_cli_link_show(ApplinkCli *cli, gchar **args, GError **error);

gboolean
applink_cli_link_edit(ApplinkCli *cli, gchar **args, GError **error);

gboolean
applink_cli_link_delete(ApplinkCli *cli, gchar **args, GError **error);

gboolean
applink_cli_auth_set(ApplinkCli *cli, gchar **args, GError **error);

gboolean
applink_cli_auth_status(ApplinkCli *cli, gchar **args, GError **error);

gboolean
applink_cli_auth_test(ApplinkCli *cli, gchar **args, GError **error);

gboolean
applink_cli_auth_clear(ApplinkCli *cli, gchar **args, GError **error);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "applink-cli.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "applink-error.h"

#define APPLINK_BUS_NAME "org.applink.Manager"
#define APPLINK_OBJECT_PATH "/org/applink/Manager"

/* Longer than applinkd's own HTTP timeouts, so that applinkd reports a slow Jira or
 * Salesforce itself. */
#define CALL_TIMEOUT_SECONDS 120

/* Fails with a one-line error when no session bus address can be found. Without this
 * check, GLib would try X11 autolaunch, which fails slowly or starts a bus of its own. */
static gboolean
check_session_bus_address(GError **error)
{
	const gchar *address = g_getenv("DBUS_SESSION_BUS_ADDRESS");
	g_autofree gchar *socket_path = NULL;
	struct stat info;

	if (address != NULL && strstr(address, "autolaunch:") != NULL) {
		g_set_error_literal(error,
				    APPLINK_CLI_ERROR,
				    APPLINK_CLI_ERROR_NO_BUS,
				    "no D-Bus session bus: DBUS_SESSION_BUS_ADDRESS asks for "
				    "autolaunch, which applinkctl does not use (run inside a "
				    "desktop session or 'dbus-run-session')");
		return FALSE;
	}
	if (address != NULL && *address != '\0')
		return TRUE;
	/* The same path GLib tries when the variable is not set. Anything but a socket there
	 * would make GLib fall back to autolaunch. */
	socket_path = g_build_filename(g_get_user_runtime_dir(), "bus", NULL);
	if (stat(socket_path, &info) == 0 && S_ISSOCK(info.st_mode))
		return TRUE;
	g_set_error_literal(error,
			    APPLINK_CLI_ERROR,
			    APPLINK_CLI_ERROR_NO_BUS,
			    "no D-Bus session bus: DBUS_SESSION_BUS_ADDRESS is not set "
			    "(run inside a desktop session or 'dbus-run-session')");
	return FALSE;
}

/* Calls @method of the bus itself and returns its reply of type @reply_type. */
static GVariant *
call_bus(GDBusConnection *connection,
	 const gchar *method,
	 GVariant *parameters,
	 const gchar *reply_type,
	 GError **error)
{
	return g_dbus_connection_call_sync(connection,
					   "org.freedesktop.DBus",
					   "/org/freedesktop/DBus",
					   "org.freedesktop.DBus",
					   method,
					   parameters,
					   G_VARIANT_TYPE(reply_type),
					   G_DBUS_CALL_FLAGS_NONE,
					   CALL_TIMEOUT_SECONDS * 1000,
					   NULL,
					   error);
}

/* Returns the unique name of the owner of org.applink.Manager. When the name has no owner,
 * has the bus start applinkd by D-Bus activation first. */
static gchar *
get_daemon_owner(GDBusConnection *connection, GError **error)
{
	g_autoptr(GVariant) owner = NULL;
	g_autoptr(GVariant) started = NULL;
	g_autoptr(GError) owner_error = NULL;
	gchar *unique_name = NULL;

	owner = call_bus(connection,
			 "GetNameOwner",
			 g_variant_new("(s)", APPLINK_BUS_NAME),
			 "(s)",
			 &owner_error);
	if (owner == NULL &&
	    g_error_matches(owner_error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER)) {
		started = call_bus(connection,
				   "StartServiceByName",
				   g_variant_new("(su)", APPLINK_BUS_NAME, 0),
				   "(u)",
				   error);
		if (started == NULL)
			return NULL;
		g_clear_error(&owner_error);
		owner = call_bus(connection,
				 "GetNameOwner",
				 g_variant_new("(s)", APPLINK_BUS_NAME),
				 "(s)",
				 &owner_error);
	}
	if (owner == NULL) {
		g_propagate_error(error, g_steal_pointer(&owner_error));
		return NULL;
	}
	g_variant_get(owner, "(s)", &unique_name);
	return unique_name;
}

/*
 * Returns the unique name of the applinkd that owns org.applink.Manager, after checking that
 * it runs as this user. A bus that its configuration opens to other users would let their
 * process take the name and receive this user's secrets. Calls then go to the unique name,
 * so a process that takes the well-known name over later does not receive them either.
 */
static gchar *
find_daemon(GDBusConnection *connection, GError **error)
{
	g_autofree gchar *unique_name = get_daemon_owner(connection, error);
	g_autoptr(GVariant) reply = NULL;
	guint32 uid;

	if (unique_name == NULL)
		return NULL;
	reply = call_bus(connection,
			 "GetConnectionUnixUser",
			 g_variant_new("(s)", unique_name),
			 "(u)",
			 error);
	if (reply == NULL)
		return NULL;
	g_variant_get(reply, "(u)", &uid);
	if (uid != getuid()) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_ACCESS_DENIED,
			    "%s on the session bus belongs to a process of uid %u, not to you "
			    "(uid %u), so applinkctl sends it nothing; stop that process, and "
			    "check the bus configuration that lets other users connect",
			    APPLINK_BUS_NAME,
			    uid,
			    (guint)getuid());
		return NULL;
	}
	return g_steal_pointer(&unique_name);
}

/* Returns the proxy of applinkd's manager object, connecting on the first call and starting
 * applinkd by D-Bus activation when it is not running. */
ApplinkDBusManager *
applink_cli_get_manager(ApplinkCli *cli, GError **error)
{
	g_autoptr(GDBusConnection) connection = NULL;
	g_autoptr(GError) bus_error = NULL;
	g_autofree gchar *daemon = NULL;

	if (cli->manager != NULL)
		return cli->manager;
	if (!check_session_bus_address(error))
		return NULL;
	connection = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, &bus_error);
	if (connection == NULL) {
		g_set_error(error,
			    APPLINK_CLI_ERROR,
			    APPLINK_CLI_ERROR_NO_BUS,
			    "cannot connect to the D-Bus session bus: %s",
			    bus_error->message);
		return NULL;
	}
	daemon = find_daemon(connection, error);
	if (daemon == NULL)
		return NULL;
	cli->manager = applink_dbus_manager_proxy_new_sync(
		connection,
		G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES |
			G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS |
			G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
		daemon,
		APPLINK_OBJECT_PATH,
		NULL,
		error);
	if (cli->manager == NULL)
		return NULL;
	g_dbus_proxy_set_default_timeout(G_DBUS_PROXY(cli->manager), CALL_TIMEOUT_SECONDS * 1000);
	return cli->manager;
}

/* Returns the ids of the registered sites, from ListSites. */
static GPtrArray *
list_site_ids(ApplinkCli *cli, GError **error)
{
	ApplinkDBusManager *manager = applink_cli_get_manager(cli, error);
	g_autoptr(GVariant) sites = NULL;
	g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);
	GVariantIter iter;
	GVariant *site;

	if (manager == NULL)
		return NULL;
	if (!applink_dbus_manager_call_list_sites_sync(manager, &sites, NULL, error))
		return NULL;
	g_variant_iter_init(&iter, sites);
	while (g_variant_iter_loop(&iter, "@a{sv}", &site)) {
		const gchar *id;

		if (g_variant_lookup(site, "id", "&s", &id))
			g_ptr_array_add(ids, g_strdup(id));
	}
	return g_steal_pointer(&ids);
}

/**
 * applink_cli_find_site:
 * @site: (out): the site id, or %NULL when none applies
 *
 * Finds the site a command that can do without one should use: --site, else the only
 * registered site. Fails only when ListSites fails.
 */
gboolean
applink_cli_find_site(ApplinkCli *cli, const gchar **site, GError **error)
{
	g_autoptr(GPtrArray) ids = NULL;

	*site = cli->site;
	if (cli->site != NULL)
		return TRUE;
	ids = list_site_ids(cli, error);
	if (ids == NULL)
		return FALSE;
	if (ids->len == 1) {
		cli->site = g_strdup(ids->pdata[0]);
		*site = cli->site;
	}
	return TRUE;
}

/* Returns the site a command acts on: --site, else "", which applinkd takes as the only
 * registered site (and reports when there are none or several), so no ListSites is needed. */
const gchar *
applink_cli_get_site(ApplinkCli *cli, GError **error)
{
	(void)error;
	return cli->site != NULL ? cli->site : "";
}

/* Connects to applinkd and finds the site a command acts on, as applink_cli_get_site()
 * does. */
gboolean
applink_cli_connect_site(ApplinkCli *cli,
			 ApplinkDBusManager **manager,
			 const gchar **site,
			 GError **error)
{
	*manager = applink_cli_get_manager(cli, error);
	if (*manager == NULL)
		return FALSE;
	*site = applink_cli_get_site(cli, error);
	return *site != NULL;
}

/* Returns whether @error means that the call did not reach applinkd or that applinkd did not
 * reply, as opposed to an error that applinkd returned. */
gboolean
applink_cli_is_unreachable_error(const GError *error)
{
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT) ||
	    g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CLOSED))
		return TRUE;
	if (error->domain != G_DBUS_ERROR)
		return FALSE;
	switch (error->code) {
	case G_DBUS_ERROR_SERVICE_UNKNOWN:
	case G_DBUS_ERROR_NAME_HAS_NO_OWNER:
	case G_DBUS_ERROR_NO_REPLY:
	case G_DBUS_ERROR_TIMEOUT:
	case G_DBUS_ERROR_TIMED_OUT:
	case G_DBUS_ERROR_NO_SERVER:
	case G_DBUS_ERROR_DISCONNECTED:
	case G_DBUS_ERROR_SPAWN_EXEC_FAILED:
	case G_DBUS_ERROR_SPAWN_FORK_FAILED:
	case G_DBUS_ERROR_SPAWN_CHILD_EXITED:
	case G_DBUS_ERROR_SPAWN_CHILD_SIGNALED:
	case G_DBUS_ERROR_SPAWN_FAILED:
	case G_DBUS_ERROR_SPAWN_SETUP_FAILED:
	case G_DBUS_ERROR_SPAWN_CONFIG_INVALID:
	case G_DBUS_ERROR_SPAWN_SERVICE_INVALID:
	case G_DBUS_ERROR_SPAWN_SERVICE_NOT_FOUND:
	case G_DBUS_ERROR_SPAWN_PERMISSIONS_INVALID:
	case G_DBUS_ERROR_SPAWN_FILE_INVALID:
	case G_DBUS_ERROR_SPAWN_NO_MEMORY:
		return TRUE;
	default:
		return FALSE;
	}
}

/* Returns the message to print for @error, prefixed with the bus name of applinkd when
 * applinkd cannot be reached. */
gchar *
applink_cli_describe_error(const GError *error)
{
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
		return g_strdup_printf("no reply from applinkd (%s) within %d seconds",
				       APPLINK_BUS_NAME,
				       CALL_TIMEOUT_SECONDS);
	if (applink_cli_is_unreachable_error(error))
		return g_strdup_printf("cannot reach applinkd (%s) on the session bus: %s",
				       APPLINK_BUS_NAME,
				       error->message);
	return g_strdup(error->message);
}

/* Reads the Version property with an explicit Properties.Get call, which starts applinkd
 * when it is not running and returns the cause when it cannot be reached. */
static gchar *
get_daemon_version(ApplinkCli *cli, GError **error)
{
	ApplinkDBusManager *manager = applink_cli_get_manager(cli, error);
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GVariant) version = NULL;

	if (manager == NULL)
		return NULL;
	reply = g_dbus_proxy_call_sync(G_DBUS_PROXY(manager),
				       "org.freedesktop.DBus.Properties.Get",
				       g_variant_new("(ss)", APPLINK_BUS_NAME, "Version"),
				       G_DBUS_CALL_FLAGS_NONE,
				       -1,
				       NULL,
				       error);
	if (reply == NULL)
		return NULL;
	g_variant_get(reply, "(v)", &version);
	if (!g_variant_is_of_type(version, G_VARIANT_TYPE_STRING)) {
		g_set_error(error,
			    G_IO_ERROR,
			    G_IO_ERROR_INVALID_DATA,
			    "applinkd returned a Version of type '%s' instead of a string",
			    g_variant_get_type_string(version));
		return NULL;
	}
	return g_variant_dup_string(version, NULL);
}

static void
print_version_json(const gchar *daemon_version)
{
	g_auto(GVariantBuilder) builder = G_VARIANT_BUILDER_INIT(G_VARIANT_TYPE_VARDICT);
	g_autoptr(GVariant) versions = NULL;

	g_variant_builder_add(
		&builder, "{sv}", "applinkctl", g_variant_new_string(APPLINK_VERSION));
	g_variant_builder_add(&builder, "{sv}", "applinkd", g_variant_new_string(daemon_version));
	versions = g_variant_ref_sink(g_variant_builder_end(&builder));
	applink_console_print_json(versions);
}

/* Prints both versions. When applinkd cannot be reached, prints "applinkd: not running", or
 * "applinkd: no session bus", and fails with the cause. With --json, only the error is
 * printed then. */
gboolean
applink_cli_version(ApplinkCli *cli, gchar **args, GError **error)
{
	g_autoptr(GError) local_error = NULL;
	g_autofree gchar *daemon_version = get_daemon_version(cli, &local_error);

	(void)args;
	if (cli->json && daemon_version != NULL)
		print_version_json(daemon_version);
	if (!cli->json) {
		printf("applinkctl %s\n", APPLINK_VERSION);
		if (daemon_version != NULL)
			printf("applinkd %s\n", daemon_version);
		else if (g_error_matches(local_error, APPLINK_CLI_ERROR, APPLINK_CLI_ERROR_NO_BUS))
			puts("applinkd: no session bus");
		else if (applink_cli_is_unreachable_error(local_error))
			puts("applinkd: not running");
		else
			puts("applinkd: version unknown");
	}
	if (daemon_version != NULL)
		return TRUE;
	g_propagate_error(error, g_steal_pointer(&local_error));
	return FALSE;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <errno.h>
#include <glib-unix.h>
#include <locale.h>
#include <stdlib.h>
#include <sys/prctl.h>

#include "applink-daemon.h"
#include "applink-error.h"
#include "applink-keyring.h"
#include "applink-log.h"

#define APPLINK_BUS_NAME "org.applink.Manager"

/* How long calls in flight get to finish after a stop was requested. */
#define APPLINK_SHUTDOWN_SECONDS 5

typedef struct {
	GMainLoop *loop;
	ApplinkDaemon *daemon;
	GError *error; /* why the daemon stopped early, if it did */
	gboolean name_owned;
} ApplinkMain;

static void
applink_main_bus_acquired_cb(GDBusConnection *connection, const gchar *name, gpointer user_data)
{
	ApplinkMain *main_data = user_data;

	(void)name;
	/* Export before the name is owned, so an activating call finds the object. */
	if (!applink_daemon_export(main_data->daemon, connection, &main_data->error))
		g_main_loop_quit(main_data->loop);
}

static void
applink_main_name_acquired_cb(GDBusConnection *connection, const gchar *name, gpointer user_data)
{
	ApplinkMain *main_data = user_data;

	(void)connection;
	main_data->name_owned = TRUE;
	g_message("applinkd %s started, owning %s", APPLINK_VERSION, name);
}

static void
applink_main_name_lost_cb(GDBusConnection *connection, const gchar *name, gpointer user_data)
{
	ApplinkMain *main_data = user_data;

	if (main_data->error == NULL) {
		if (connection == NULL && main_data->name_owned)
			main_data->error =
				g_error_new(APPLINK_ERROR,
					    APPLINK_ERROR_UNREACHABLE,
					    "the connection to the session bus was closed, by "
					    "the bus or after a message GDBus could not read");
		else if (connection == NULL)
			main_data->error = g_error_new(APPLINK_ERROR,
						       APPLINK_ERROR_UNREACHABLE,
						       "cannot connect to the session bus");
		else if (main_data->name_owned)
			g_message("another applinkd took over %s, stopping", name);
		else
			main_data->error =
				g_error_new(APPLINK_ERROR,
					    APPLINK_ERROR_ALREADY_EXISTS,
					    "the name %s is taken by another applinkd; stop it, "
					    "or start this one with --replace",
					    name);
	}
	g_main_loop_quit(main_data->loop);
}

static gboolean
applink_main_signal_cb(gpointer user_data)
{
	ApplinkMain *main_data = user_data;

	g_message("stopping on a signal");
	g_main_loop_quit(main_data->loop);
	return G_SOURCE_CONTINUE;
}

int
main(int argc, char **argv)
{
	gboolean verbose = FALSE;
	gboolean replace = FALSE;
	gboolean version = FALSE;
	gint idle_timeout = 0;
	gint http_timeout = 30;
	gint keyring_timeout = APPLINK_KEYRING_DEFAULT_TIMEOUT_SECONDS;
	const GOptionEntry entries[] = {
		{"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Log debug messages", NULL},
		{"replace",
		 'r',
		 0,
		 G_OPTION_ARG_NONE,
		 &replace,
		 "Replace a running applinkd",
		 NULL},
		{"idle-timeout",
		 0,
		 0,
		 G_OPTION_ARG_INT,
		 &idle_timeout,
		 "Exit after SECONDS without a call in flight (0 = never)",
		 "SECONDS"},
		{"timeout",
		 0,
		 0,
		 G_OPTION_ARG_INT,
		 &http_timeout,
		 "Time limit of one HTTP request, in seconds (default 30)",
		 "SECONDS"},
		{"keyring-timeout",
		 0,
		 0,
		 G_OPTION_ARG_INT,
		 &keyring_timeout,
		 "Time limit of one keyring call, including an unlock prompt, in seconds (default "
		 "60)",
		 "SECONDS"},
		{"version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL},
		{NULL},
	};
	g_autoptr(GOptionContext) context = g_option_context_new("- the applink session service");
	g_autoptr(GError) error = NULL;
	g_autoptr(GMainLoop) loop = NULL;
	g_autoptr(ApplinkDaemon) daemon = NULL;
	ApplinkMain main_data = {0};
	guint owner_id;

	setlocale(LC_ALL, "");
	/* Credentials pass through this process: keep them out of core dumps and ptrace. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		g_warning("cannot turn off core dumps and ptrace: %s; a core dump of applinkd "
			  "could contain credentials",
			  g_strerror(errno));

	g_option_context_add_main_entries(context, entries, NULL);
	if (!g_option_context_parse(context, &argc, &argv, &error)) {
		g_printerr("applinkd: %s\n", error->message);
		return 2;
	}
	if (version) {
		g_print("applinkd %s\n", APPLINK_VERSION);
		return 0;
	}
	if (idle_timeout < 0 || http_timeout <= 0 || keyring_timeout <= 0) {
		g_printerr("applinkd: --idle-timeout must be 0 or more, --timeout and "
			   "--keyring-timeout more than 0\n");
		return 2;
	}
	applink_keyring_set_timeout((guint)keyring_timeout);
	applink_log_init(verbose);
	(void)APPLINK_ERROR;

	loop = g_main_loop_new(NULL, FALSE);
	daemon = applink_daemon_new(loop, (guint)http_timeout, (guint)idle_timeout, &error);
	if (daemon == NULL) {
		g_printerr("applinkd: %s\n", error->message);
		return 1;
	}
	main_data.loop = loop;
	main_data.daemon = daemon;
	g_unix_signal_add(SIGINT, applink_main_signal_cb, &main_data);
	g_unix_signal_add(SIGTERM, applink_main_signal_cb, &main_data);
	g_unix_signal_add(SIGHUP, applink_main_signal_cb, &main_data);
	owner_id = g_bus_own_name(G_BUS_TYPE_SESSION,
				  APPLINK_BUS_NAME,
				  G_BUS_NAME_OWNER_FLAGS_ALLOW_REPLACEMENT |
					  (replace ? G_BUS_NAME_OWNER_FLAGS_REPLACE : 0),
				  applink_main_bus_acquired_cb,
				  applink_main_name_acquired_cb,
				  applink_main_name_lost_cb,
				  &main_data,
				  NULL);
	g_main_loop_run(loop);

	g_bus_unown_name(owner_id);
	applink_daemon_unexport(daemon);
	if (!applink_daemon_shutdown(daemon, APPLINK_SHUTDOWN_SECONDS)) {
		/* Workers still use the daemon, so it is left to the exit of the process. */
		g_message("stopping with calls still running after %d s", APPLINK_SHUTDOWN_SECONDS);
		(void)g_steal_pointer(&daemon);
	}
	if (main_data.error != NULL) {
		g_printerr("applinkd: %s\n", main_data.error->message);
		g_error_free(main_data.error);
		return 1;
	}
	g_message("applinkd stopped");
	return 0;
}

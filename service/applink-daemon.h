/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define APPLINK_TYPE_DAEMON (applink_daemon_get_type())
G_DECLARE_FINAL_TYPE(ApplinkDaemon, applink_daemon, APPLINK, DAEMON, GObject)

/*
 * The org.applink.Manager service. Method calls are checked on the main context and then
 * run, one worker thread each, in a thread pool, so no network or keyring call ever blocks
 * the main loop. @loop is quit when no call has been in flight for @idle_timeout seconds
 * (0 = never).
 */
ApplinkDaemon *
applink_daemon_new(GMainLoop *loop, guint http_timeout, guint idle_timeout, GError **error);

gboolean
applink_daemon_export(ApplinkDaemon *self, GDBusConnection *connection, GError **error);

void
applink_daemon_unexport(ApplinkDaemon *self);

gboolean
applink_daemon_shutdown(ApplinkDaemon *self, guint timeout_seconds);

G_END_DECLS

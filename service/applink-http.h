/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

/* Replies larger than this are refused, so a broken or hostile server cannot exhaust memory. */
#define APPLINK_HTTP_MAX_BODY (8 * 1024 * 1024)

#define APPLINK_TYPE_HTTP (applink_http_get_type())
G_DECLARE_FINAL_TYPE(ApplinkHttp, applink_http, APPLINK, HTTP, GObject)

/*
 * An HTTP client for one remote (a Jira site, or Salesforce): one SoupSession with
 * keep-alive, a user agent and a timeout. It is created and configured on the main
 * context. applink_http_send() may then be called from any worker thread: the request
 * itself runs on the main context, so connections are pooled in one place, and the worker
 * blocks until the reply has been read.
 */
/* @for_site is TRUE for a Jira site's client, whose CA file the user can set, so that TLS
 * errors give the advice that applies. */
ApplinkHttp *
applink_http_new(guint timeout_seconds, gboolean for_site, const gchar *ca_file, GError **error);

/*
 * Sends @msg and reads the whole reply body, at most APPLINK_HTTP_MAX_BODY bytes.
 * Redirects are never followed: a 3xx reply is returned like any other.
 * On a transport failure returns NULL and sets an APPLINK_ERROR (Unreachable, TlsError,
 * Timeout, Cancelled) whose message names the host of @msg.
 * Call from a worker thread, never from the main context.
 */
GBytes *
applink_http_send(ApplinkHttp *self, SoupMessage *msg, GCancellable *cancellable, GError **error);

GPtrArray *
applink_http_send_all(ApplinkHttp *self,
		      GPtrArray *messages,
		      GCancellable *cancellable,
		      GError **error);

G_END_DECLS

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "applink-http.h"

#include "applink-error.h"

struct _ApplinkHttp {
	GObject parent_instance;
	SoupSession *session;
	GMainContext *context;
	GTlsDatabase *extra_ca; /* the site's --ca-file, trusted beside the system store */
	gboolean site_client;	/* a Jira site's client, which --ca-file can configure */
	guint timeout_seconds;	/* the limit of a whole request, 0 for none */
};

G_DEFINE_TYPE(ApplinkHttp, applink_http, G_TYPE_OBJECT)

/* The time limit of one request: when it fires, it marks the message and cancels the request.
 * It holds references of its own, because it runs on the main context and may fire while the
 * worker that owns the request is already returning. */
typedef struct {
	SoupMessage *msg;
	GCancellable *cancellable;
} ApplinkHttpDeadline;

/* One request handed from a worker thread to the main context and back. */
typedef struct {
	ApplinkHttp *http;
	SoupMessage *msg;
	GCancellable *cancellable;	  /* the request's own, cancelled by either below */
	GCancellable *caller_cancellable; /* the call's, or NULL */
	gulong caller_handler;
	GSource *deadline;
	GMutex mutex;
	GCond cond;
	gboolean done;
	GBytes *body;
	GError *error;
	gulong tls_handler;
} ApplinkHttpRequest;

static void
applink_http_finalize(GObject *object)
{
	ApplinkHttp *self = APPLINK_HTTP(object);

	g_clear_object(&self->session);
	g_clear_object(&self->extra_ca);
	g_main_context_unref(self->context);
	G_OBJECT_CLASS(applink_http_parent_class)->finalize(object);
}

static void
applink_http_class_init(ApplinkHttpClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = applink_http_finalize;
}

static void
applink_http_init(ApplinkHttp *self)
{
	self->context = g_main_context_ref_thread_default();
}

static gboolean
applink_http_load_ca_file(ApplinkHttp *self, const gchar *ca_file, GError **error)
{
	g_autoptr(GError) error_local = NULL;

	self->extra_ca = g_tls_file_database_new(ca_file, &error_local);
	if (self->extra_ca == NULL) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_INVALID_ARGUMENT,
			    "cannot read the CA file %s: %s; give a readable PEM bundle",
			    ca_file,
			    error_local->message);
		return FALSE;
	}
	return TRUE;
}

/*
 * Accepts a certificate that the system store rejected only for its unknown issuer when the
 * site's own CA bundle verifies the whole chain for the host, so --ca-file adds trust
 * instead of replacing the system's.
 */
static gboolean
applink_http_accept_certificate_cb(SoupMessage *msg,
				   GTlsCertificate *certificate,
				   GTlsCertificateFlags errors,
				   gpointer user_data)
{
	ApplinkHttp *self = user_data;
	g_autoptr(GSocketConnectable) identity = NULL;
	GTlsCertificateFlags flags;

	/* The system store's verdict in @errors is replaced by the site CA's own. */
	(void)errors;
	if (self->extra_ca == NULL)
		return FALSE;
	identity = g_network_address_new(g_uri_get_host(soup_message_get_uri(msg)), 0);
	flags = g_tls_database_verify_chain(self->extra_ca,
					    certificate,
					    G_TLS_DATABASE_PURPOSE_AUTHENTICATE_SERVER,
					    identity,
					    NULL,
					    G_TLS_DATABASE_VERIFY_NONE,
					    NULL,
					    NULL);
	if (flags != 0)
		g_object_set_data(
			G_OBJECT(msg), "applink-site-ca-flags", GUINT_TO_POINTER((guint)flags + 1));
	return flags == 0;
}

ApplinkHttp *
applink_http_new(guint timeout_seconds, gboolean for_site, const gchar *ca_file, GError **error)
{
	g_autoptr(ApplinkHttp) self = g_object_new(APPLINK_TYPE_HTTP, NULL);
	g_autofree gchar *user_agent = g_strdup_printf("applink/%s", APPLINK_VERSION);

	self->session = soup_session_new_with_options("user-agent",
						      user_agent,
						      "timeout",
						      timeout_seconds,
						      "idle-timeout",
						      60,
						      "max-conns-per-host",
						      4,
						      NULL);
	/* Proxies come from the system: libsoup calls g_proxy_resolver_get_default() when it
	 * first connects, which also keeps GIO's proxy modules unloaded until a request is made. */
	if (ca_file != NULL && ca_file[0] != '\0' &&
	    !applink_http_load_ca_file(self, ca_file, error))
		return NULL;
	self->site_client = for_site;
	self->timeout_seconds = timeout_seconds;
	return g_steal_pointer(&self);
}

/* Describes every problem set in @flags, e.g. "it has expired (...); it was issued for ...". */
static gchar *
applink_http_describe_tls_flags(GTlsCertificateFlags flags, gboolean site_client)
{
	const struct {
		GTlsCertificateFlags flag;
		const gchar *text;
	} problems[] = {
		{G_TLS_CERTIFICATE_UNKNOWN_CA,
		 site_client
			 ? "it is signed by an unknown certificate authority (trust the CA for "
			   "this "
			   "site with 'applinkctl site add --ca-file', or install it in the system "
			   "store)"
			 : "it is signed by an unknown certificate authority (install the CA in "
			   "the "
			   "system store with update-ca-certificates, or check for a proxy that "
			   "intercepts TLS)"},
		{G_TLS_CERTIFICATE_BAD_IDENTITY,
		 "it was issued for another host name (use the host name the certificate names)"},
		{G_TLS_CERTIFICATE_EXPIRED, "it has expired (renew the server's certificate)"},
		{G_TLS_CERTIFICATE_NOT_ACTIVATED,
		 "it is not valid yet (check the clocks and the certificate dates)"},
		{G_TLS_CERTIFICATE_REVOKED, "it has been revoked"},
		{G_TLS_CERTIFICATE_INSECURE, "it uses an insecure algorithm"},
		{G_TLS_CERTIFICATE_GENERIC_ERROR, "it could not be verified"},
	};
	GString *text = g_string_new(NULL);

	for (gsize i = 0; i < G_N_ELEMENTS(problems); i++) {
		if ((flags & problems[i].flag) == 0)
			continue;
		if (text->len > 0)
			g_string_append(text, "; ");
		g_string_append(text, problems[i].text);
	}
	if (text->len == 0)
		g_string_append(text, "it could not be verified");
	return g_string_free(text, FALSE);
}

/* Turns a libsoup or GIO transport error into an APPLINK_ERROR that names the host. */
static GError *
applink_http_convert_error(ApplinkHttp *self, SoupMessage *msg, const GError *error)
{
	GUri *uri = soup_message_get_uri(msg);
	const gchar *host = g_uri_get_host(uri);
	gint port = g_uri_get_port(uri);
	g_autofree gchar *where = port > 0 ? g_strdup_printf("%s:%d", host, port) : g_strdup(host);
	GTlsCertificateFlags tls_flags = soup_message_get_tls_peer_certificate_errors(msg);
	gpointer site_verdict = g_object_get_data(G_OBJECT(msg), "applink-site-ca-flags");

	/* With a site CA, what that CA found is the problem, not the system store's verdict. */
	if (site_verdict != NULL)
		tls_flags = (GTlsCertificateFlags)(GPOINTER_TO_UINT(site_verdict) - 1);

	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED) &&
	    g_object_get_data(G_OBJECT(msg), "applink-deadline-passed") != NULL)
		return g_error_new(
			APPLINK_ERROR,
			APPLINK_ERROR_TIMEOUT,
			"%s did not respond in time: its reply was not complete within %u s; "
			"check that the server is up, or raise applinkd's --timeout",
			where,
			self->timeout_seconds);
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return g_error_new(APPLINK_ERROR,
				   APPLINK_ERROR_CANCELLED,
				   "the request to %s was cancelled",
				   where);
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
		return g_error_new(
			APPLINK_ERROR,
			APPLINK_ERROR_TIMEOUT,
			"%s did not respond in time; check that the server is up, or raise "
			"applinkd's --timeout",
			where);
	if (error->domain == G_TLS_ERROR || tls_flags != 0) {
		g_autofree gchar *problems =
			applink_http_describe_tls_flags(tls_flags, self->site_client);

		return g_error_new(APPLINK_ERROR,
				   APPLINK_ERROR_TLS,
				   "the TLS certificate of %s was rejected: %s",
				   where,
				   tls_flags != 0 ? problems : error->message);
	}
	if (error->domain == G_RESOLVER_ERROR)
		return g_error_new(APPLINK_ERROR,
				   APPLINK_ERROR_UNREACHABLE,
				   "the host name %s could not be resolved (%s); check the URL and "
				   "the network",
				   host,
				   error->message);
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED))
		return g_error_new(APPLINK_ERROR,
				   APPLINK_ERROR_UNREACHABLE,
				   "the connection to %s was refused; check the URL and that the "
				   "server is running",
				   where);
	/* Site clients talk to Jira, the others to Salesforce login hosts. */
	if (error->domain == G_IO_ERROR && error->code == G_IO_ERROR_MESSAGE_TOO_LARGE)
		return g_error_new(
			APPLINK_ERROR,
			self->site_client ? APPLINK_ERROR_JIRA : APPLINK_ERROR_SALESFORCE,
			"the reply to %s %s from %s is larger than %d MiB and was not read",
			soup_message_get_method(msg),
			g_uri_get_path(uri),
			where,
			APPLINK_HTTP_MAX_BODY / (1024 * 1024));
	return g_error_new(APPLINK_ERROR,
			   APPLINK_ERROR_UNREACHABLE,
			   "the request to %s failed: %s",
			   where,
			   error->message);
}

static void
applink_http_request_finish(ApplinkHttpRequest *request, GBytes *body, GError *error)
{
	g_mutex_lock(&request->mutex);
	request->body = body;
	request->error = error;
	request->done = TRUE;
	g_cond_signal(&request->cond);
	g_mutex_unlock(&request->mutex);
}

/* Reads at most APPLINK_HTTP_MAX_BODY bytes of @stream into one GBytes, on the main context. */
typedef struct {
	ApplinkHttpRequest *request;
	GInputStream *stream;
	GByteArray *buffer;
} ApplinkHttpReader;

static void
applink_http_reader_next(ApplinkHttpReader *reader);

static void
applink_http_reader_done(ApplinkHttpReader *reader, GError *error)
{
	ApplinkHttpRequest *request = reader->request;
	GBytes *body = NULL;

	if (error == NULL)
		body = g_byte_array_free_to_bytes(g_steal_pointer(&reader->buffer));
	else
		g_byte_array_unref(g_steal_pointer(&reader->buffer));
	g_input_stream_close_async(reader->stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
	g_object_unref(reader->stream);
	g_free(reader);
	applink_http_request_finish(request, body, error);
}

static void
applink_http_reader_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	ApplinkHttpReader *reader = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) chunk = NULL;

	chunk = g_input_stream_read_bytes_finish(G_INPUT_STREAM(source), result, &error);
	if (chunk == NULL) {
		applink_http_reader_done(reader,
					 applink_http_convert_error(reader->request->http,
								    reader->request->msg,
								    error));
		return;
	}
	if (g_bytes_get_size(chunk) == 0) {
		applink_http_reader_done(reader, NULL);
		return;
	}
	if (reader->buffer->len + g_bytes_get_size(chunk) > APPLINK_HTTP_MAX_BODY) {
		g_autoptr(GError) too_large = g_error_new_literal(
			G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE, "reply too large");
		applink_http_reader_done(reader,
					 applink_http_convert_error(reader->request->http,
								    reader->request->msg,
								    too_large));
		return;
	}
	g_byte_array_append(
		reader->buffer, g_bytes_get_data(chunk, NULL), (guint)g_bytes_get_size(chunk));
	applink_http_reader_next(reader);
}

static void
applink_http_reader_next(ApplinkHttpReader *reader)
{
	g_input_stream_read_bytes_async(reader->stream,
					64 * 1024,
					G_PRIORITY_DEFAULT,
					reader->request->cancellable,
					applink_http_reader_cb,
					reader);
}

static void
applink_http_send_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
	ApplinkHttpRequest *request = user_data;
	g_autoptr(GError) error = NULL;
	GInputStream *stream;
	ApplinkHttpReader *reader;

	stream = soup_session_send_finish(SOUP_SESSION(source), result, &error);
	if (stream == NULL) {
		applink_http_request_finish(
			request,
			NULL,
			applink_http_convert_error(request->http, request->msg, error));
		return;
	}
	reader = g_new0(ApplinkHttpReader, 1);
	reader->request = request;
	reader->stream = stream;
	reader->buffer = g_byte_array_new();
	applink_http_reader_next(reader);
}

static gboolean
applink_http_deadline_cb(gpointer user_data)
{
	ApplinkHttpDeadline *deadline = user_data;

	g_object_set_data(G_OBJECT(deadline->msg), "applink-deadline-passed", GINT_TO_POINTER(1));
	g_cancellable_cancel(deadline->cancellable);
	return G_SOURCE_REMOVE;
}

static void
applink_http_deadline_free(gpointer data)
{
	ApplinkHttpDeadline *deadline = data;

	g_object_unref(deadline->msg);
	g_object_unref(deadline->cancellable);
	g_free(deadline);
}

/* Limits the whole request to the timeout. libsoup's own timeout limits each read and write
 * only, so a server that sends its reply a byte at a time could hold the request forever. */
static void
applink_http_start_deadline(ApplinkHttpRequest *request)
{
	ApplinkHttpDeadline *deadline;

	if (request->http->timeout_seconds == 0)
		return;
	deadline = g_new0(ApplinkHttpDeadline, 1);
	deadline->msg = g_object_ref(request->msg);
	deadline->cancellable = g_object_ref(request->cancellable);
	request->deadline = g_timeout_source_new_seconds(request->http->timeout_seconds);
	g_source_set_callback(
		request->deadline, applink_http_deadline_cb, deadline, applink_http_deadline_free);
	g_source_attach(request->deadline, request->http->context);
}

static void
applink_http_cancel_cb(GCancellable *caller_cancellable, gpointer user_data)
{
	(void)caller_cancellable;
	g_cancellable_cancel(user_data);
}

static gboolean
applink_http_start_cb(gpointer user_data)
{
	ApplinkHttpRequest *request = user_data;

	applink_http_start_deadline(request);
	soup_session_send_async(request->http->session,
				request->msg,
				G_PRIORITY_DEFAULT,
				request->cancellable,
				applink_http_send_cb,
				request);
	return G_SOURCE_REMOVE;
}

/* Adds the proxy to an Unreachable message when the system sends @msg through one, since the
 * proxy may be what could not be reached. Runs in the worker, as proxy lookups may block. */
static void
applink_http_name_proxy(SoupMessage *msg, GError *error)
{
	g_autofree gchar *uri = g_uri_to_string(soup_message_get_uri(msg));
	g_auto(GStrv) proxies =
		g_proxy_resolver_lookup(g_proxy_resolver_get_default(), uri, NULL, NULL);
	gchar *message;

	if (proxies == NULL || proxies[0] == NULL || g_str_equal(proxies[0], "direct://"))
		return;
	message = g_strdup_printf(
		"%s (the request went through the proxy %s from the system "
		"proxy settings: check that proxy, or exempt the host with no_proxy)",
		error->message,
		proxies[0]);
	g_free(error->message);
	error->message = message;
}

/* Prepares @request for @msg and starts it on the main context. */
static void
applink_http_request_begin(ApplinkHttp *self,
			   ApplinkHttpRequest *request,
			   SoupMessage *msg,
			   GCancellable *cancellable)
{
	request->http = self;
	request->msg = msg;
	request->cancellable = g_cancellable_new();
	request->caller_cancellable = cancellable;
	if (cancellable != NULL)
		request->caller_handler = g_cancellable_connect(cancellable,
								G_CALLBACK(applink_http_cancel_cb),
								g_object_ref(request->cancellable),
								g_object_unref);
	g_mutex_init(&request->mutex);
	g_cond_init(&request->cond);
	soup_message_add_flags(msg, SOUP_MESSAGE_NO_REDIRECT);
	request->tls_handler = g_signal_connect(
		msg, "accept-certificate", G_CALLBACK(applink_http_accept_certificate_cb), self);
	g_main_context_invoke(self->context, applink_http_start_cb, request);
}

/* Waits until @request is done and returns its body, or NULL with @error set. */
static GBytes *
applink_http_request_end(ApplinkHttpRequest *request, GError **error)
{
	g_mutex_lock(&request->mutex);
	while (!request->done)
		g_cond_wait(&request->cond, &request->mutex);
	g_mutex_unlock(&request->mutex);

	g_signal_handler_disconnect(request->msg, request->tls_handler);
	g_mutex_clear(&request->mutex);
	g_cond_clear(&request->cond);
	if (request->deadline != NULL) {
		g_source_destroy(request->deadline);
		g_source_unref(request->deadline);
	}
	if (request->caller_cancellable != NULL)
		g_cancellable_disconnect(request->caller_cancellable, request->caller_handler);
	g_object_unref(request->cancellable);
	if (request->error != NULL) {
		if (g_error_matches(request->error, APPLINK_ERROR, APPLINK_ERROR_UNREACHABLE))
			applink_http_name_proxy(request->msg, request->error);
		g_propagate_error(error, g_steal_pointer(&request->error));
		return NULL;
	}
	return g_steal_pointer(&request->body);
}

GBytes *
applink_http_send(ApplinkHttp *self, SoupMessage *msg, GCancellable *cancellable, GError **error)
{
	ApplinkHttpRequest request = {0};

	g_return_val_if_fail(APPLINK_IS_HTTP(self), NULL);
	g_return_val_if_fail(!g_main_context_is_owner(self->context), NULL);

	applink_http_request_begin(self, &request, msg, cancellable);
	return applink_http_request_end(&request, error);
}

/*
 * Sends all of @messages at once and waits for every reply. Returns an array of bodies in
 * the order of @messages, or NULL with @error set to the first failure. Each reply is read
 * whole, as applink_http_send() reads it.
 */
GPtrArray *
applink_http_send_all(ApplinkHttp *self,
		      GPtrArray *messages,
		      GCancellable *cancellable,
		      GError **error)
{
	g_autofree ApplinkHttpRequest *requests = g_new0(ApplinkHttpRequest, messages->len);
	g_autoptr(GPtrArray) bodies = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	g_autoptr(GError) first_error = NULL;

	g_return_val_if_fail(APPLINK_IS_HTTP(self), NULL);
	g_return_val_if_fail(!g_main_context_is_owner(self->context), NULL);

	for (guint i = 0; i < messages->len; i++)
		applink_http_request_begin(
			self, &requests[i], g_ptr_array_index(messages, i), cancellable);
	for (guint i = 0; i < messages->len; i++) {
		g_autoptr(GError) request_error = NULL;
		GBytes *body = applink_http_request_end(&requests[i], &request_error);

		if (body == NULL && first_error == NULL)
			first_error = g_steal_pointer(&request_error);
		g_ptr_array_add(bodies, body);
	}
	if (first_error != NULL) {
		g_propagate_error(error, g_steal_pointer(&first_error));
		return NULL;
	}
	return g_steal_pointer(&bodies);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "applink-secret.h"

#include "applink-json.h"

#include <string.h>

void
applink_secret_free(ApplinkSecret *secret)
{
	if (secret == NULL)
		return;
	explicit_bzero(secret, strlen(secret));
	g_free(secret);
}

ApplinkSecret *
applink_secret_dup(const gchar *text)
{
	return g_strdup(text != NULL ? text : "");
}

/* Returns @first immediately followed by @second (either may be NULL), e.g. a password with
 * its security token appended. */
ApplinkSecret *
applink_secret_concat(const gchar *first, const gchar *second)
{
	gsize first_len = first != NULL ? strlen(first) : 0;
	gsize second_len = second != NULL ? strlen(second) : 0;
	gchar *out = g_malloc(first_len + second_len + 1);

	if (first_len > 0)
		memcpy(out, first, first_len);
	if (second_len > 0)
		memcpy(out + first_len, second, second_len);
	out[first_len + second_len] = '\0';
	return out;
}

/* Overwrites and frees @string, which held a secret. The whole allocation is overwritten,
 * because the text may have been longer before. */
void
applink_secret_wipe_gstring(GString *string)
{
	if (string == NULL)
		return;
	explicit_bzero(string->str, string->allocated_len);
	g_string_free(string, TRUE);
}

static void
applink_secret_wipe_gstring_cb(gpointer data)
{
	applink_secret_wipe_gstring(data);
}

/* Hands @buffer, which contains a secret, over to the returned bytes, which wipe it when they
 * are freed. */
GBytes *
applink_secret_gstring_to_bytes(GString *buffer)
{
	return g_bytes_new_with_free_func(
		buffer->str, buffer->len, applink_secret_wipe_gstring_cb, buffer);
}

static void
applink_secret_list_free(gpointer data)
{
	g_ptr_array_unref(data);
}

/* A GPtrArray of ApplinkSecret copies, per thread. */
static GPrivate watched_secrets = G_PRIVATE_INIT(applink_secret_list_free);

/* Adds @secret as it is to the current thread's list and returns TRUE, or returns FALSE when
 * the list has it already. */
static gboolean
applink_secret_watch_text(const gchar *secret)
{
	GPtrArray *secrets = g_private_get(&watched_secrets);

	if (secrets == NULL) {
		secrets = g_ptr_array_new_with_free_func((GDestroyNotify)applink_secret_free);
		g_private_set(&watched_secrets, secrets);
	}
	for (guint i = 0; i < secrets->len; i++) {
		if (g_str_equal(g_ptr_array_index(secrets, i), secret))
			return FALSE;
	}
	g_ptr_array_add(secrets, applink_secret_dup(secret));
	return TRUE;
}

/* Adds @encoded, another form of a secret, to @secrets when it differs from @other, and takes
 * it. */
static void
applink_secret_add_form(GPtrArray *secrets, const gchar *other, ApplinkSecret *encoded)
{
	if (encoded != NULL && !g_str_equal(encoded, other))
		g_ptr_array_add(secrets, encoded);
	else
		applink_secret_free(encoded);
}

/* Returns @secret escaped as in a JSON string, in a buffer that is wiped when freed. */
static ApplinkSecret *
applink_secret_json_escape(const gchar *secret)
{
	GString *escaped = g_string_sized_new(APPLINK_JSON_ESCAPE_MAX_GROWTH * strlen(secret));
	ApplinkSecret *copy;

	applink_json_append_escaped(escaped, secret);
	copy = applink_secret_dup(escaped->str);
	applink_secret_wipe_gstring(escaped);
	return copy;
}

/*
 * Adds @secret to the current thread's list with the forms in which applinkd sends it, so that
 * a server that quotes the request back is masked too. The forms are percent-encoded as in
 * URLs, form-encoded as in the OAuth request body, XML-escaped as in the SOAP request, and
 * escaped as in the JSON body that sets a link's outgoing authentication in Jira.
 */
void
applink_secret_watch(const gchar *secret)
{
	GPtrArray *secrets;
	ApplinkSecret *percent;
	ApplinkSecret *form;

	if (secret == NULL || strlen(secret) < APPLINK_SECRET_MIN_WATCHED_LENGTH)
		return;
	if (!applink_secret_watch_text(secret))
		return;
	secrets = g_private_get(&watched_secrets);
	percent = g_uri_escape_string(secret, NULL, FALSE);
	form = applink_secret_dup(percent);
	for (gchar *p = strstr(form, "%20"); p != NULL; p = strstr(p + 1, "%20")) {
		p[0] = '+';
		memmove(p + 1, p + 3, strlen(p + 3) + 1);
	}
	applink_secret_add_form(secrets, percent, form);
	applink_secret_add_form(secrets, secret, percent);
	applink_secret_add_form(secrets, secret, g_markup_escape_text(secret, -1));
	applink_secret_add_form(secrets, secret, applink_secret_json_escape(secret));
}

/* Watches the credential of an HTTP Authorization header value, "Bearer TOKEN" or
 * "Basic BASE64", and the header value itself. */
void
applink_secret_watch_authorization(const gchar *authorization)
{
	const gchar *space;

	if (authorization == NULL)
		return;
	applink_secret_watch(authorization);
	space = strchr(authorization, ' ');
	if (space != NULL)
		applink_secret_watch(space + 1);
}

/* Returns the length of the longest watched secret that @text starts with, or 0. */
static gsize
applink_secret_match_length(GPtrArray *secrets, const gchar *text)
{
	gsize longest = 0;

	for (guint i = 0; i < secrets->len; i++) {
		const gchar *secret = g_ptr_array_index(secrets, i);
		gsize length = strlen(secret);

		if (length > longest && strncmp(text, secret, length) == 0)
			longest = length;
	}
	return longest;
}

/*
 * Returns a copy of @text in which every watched secret of the current thread is replaced with
 * "[redacted]". The text is read once from the start, and at each position the longest
 * matching secret is replaced, so a secret that contains another is masked whole.
 */
gchar *
applink_secret_scrub(const gchar *text)
{
	GPtrArray *secrets = g_private_get(&watched_secrets);
	GString *out;

	if (text == NULL)
		return NULL;
	if (secrets == NULL || secrets->len == 0)
		return g_strdup(text);
	out = g_string_sized_new(strlen(text));
	for (const gchar *p = text; *p != '\0';) {
		gsize length = applink_secret_match_length(secrets, p);

		if (length > 0) {
			g_string_append(out, "[redacted]");
			p += length;
		} else {
			g_string_append_c(out, *p);
			p++;
		}
	}
	return g_string_free(out, FALSE);
}

/* Returns whether @text contains a watched secret of the current thread. */
gboolean
applink_secret_appears_in(const gchar *text)
{
	GPtrArray *secrets = g_private_get(&watched_secrets);

	if (text == NULL || secrets == NULL)
		return FALSE;
	for (const gchar *p = text; *p != '\0'; p++) {
		if (applink_secret_match_length(secrets, p) > 0)
			return TRUE;
	}
	return FALSE;
}

/* Empties the current thread's list and wipes the copies. */
void
applink_secret_forget_watched(void)
{
	GPtrArray *secrets = g_private_get(&watched_secrets);

	if (secrets != NULL)
		g_ptr_array_set_size(secrets, 0);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "applink-keyring.h"

#include <libsecret/secret.h>
#include <string.h>

#include "applink-error.h"
#include "applink-secret.h"

#define APPLINK_SALESFORCE_SECRET_VERSION "applink-salesforce-1"

static guint keyring_timeout = APPLINK_KEYRING_DEFAULT_TIMEOUT_SECONDS;

void
applink_keyring_set_timeout(guint seconds)
{
	keyring_timeout = seconds;
}

static const SecretSchema jira_schema = {
	"org.applink.JiraCredential",
	SECRET_SCHEMA_NONE,
	{
		{"site", SECRET_SCHEMA_ATTRIBUTE_STRING},
		{"url", SECRET_SCHEMA_ATTRIBUTE_STRING},
		{"username", SECRET_SCHEMA_ATTRIBUTE_STRING},
		{NULL, 0},
	},
};

static const SecretSchema salesforce_schema = {
	"org.applink.SalesforceCredential",
	SECRET_SCHEMA_NONE,
	{
		{"site", SECRET_SCHEMA_ATTRIBUTE_STRING},
		{"link", SECRET_SCHEMA_ATTRIBUTE_STRING},
		{"username", SECRET_SCHEMA_ATTRIBUTE_STRING},
		{"login-url", SECRET_SCHEMA_ATTRIBUTE_STRING},
		{NULL, 0},
	},
};

void
applink_salesforce_secret_free(ApplinkSalesforceSecret *secret)
{
	if (secret == NULL)
		return;
	applink_secret_free(secret->password);
	applink_secret_free(secret->security_token);
	applink_secret_free(secret->consumer_key);
	applink_secret_free(secret->consumer_secret);
	g_free(secret);
}

/* Turns a libsecret or D-Bus failure into KeyringLocked or KeyringUnavailable. */
static void
applink_keyring_set_error(GError **error, const GError *cause, const gchar *what)
{
	if (g_error_matches(cause, SECRET_ERROR, SECRET_ERROR_IS_LOCKED) ||
	    g_error_matches(cause, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
		g_set_error(
			error,
			APPLINK_ERROR,
			APPLINK_ERROR_KEYRING_LOCKED,
			"the keyring is locked, or the unlock prompt was dismissed or not "
			"answered within %u s, while %s; unlock the keyring (e.g. with Seahorse "
			"or by logging in to the desktop) and try again",
			keyring_timeout,
			what);
		return;
	}
	g_set_error(error,
		    APPLINK_ERROR,
		    APPLINK_ERROR_KEYRING_UNAVAILABLE,
		    "the keyring (Secret Service) is not available while %s: %s; start "
		    "gnome-keyring-daemon or another Secret Service provider in this session",
		    what,
		    cause->message);
}

static gboolean
applink_keyring_timeout_cb(gpointer user_data)
{
	g_cancellable_cancel(G_CANCELLABLE(user_data));
	return G_SOURCE_REMOVE;
}

/* A cancellable that fires after the keyring timeout, so no call waits forever. */
typedef struct {
	GCancellable *cancellable;
	GSource *timeout;
} ApplinkKeyringCall;

static void
applink_keyring_call_begin(ApplinkKeyringCall *call)
{
	call->cancellable = g_cancellable_new();
	call->timeout = g_timeout_source_new_seconds(keyring_timeout);
	g_source_set_callback(call->timeout,
			      applink_keyring_timeout_cb,
			      g_object_ref(call->cancellable),
			      g_object_unref);
	g_source_attach(call->timeout, NULL);
}

static void
applink_keyring_call_end(ApplinkKeyringCall *call)
{
	g_source_destroy(call->timeout);
	g_source_unref(call->timeout);
	g_object_unref(call->cancellable);
}

static SecretService *
applink_keyring_get_service(GCancellable *cancellable, const gchar *what, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	SecretService *service;

	service = secret_service_get_sync(SECRET_SERVICE_OPEN_SESSION |
						  SECRET_SERVICE_LOAD_COLLECTIONS,
					  cancellable,
					  &error_local);
	if (service == NULL)
		applink_keyring_set_error(error, error_local, what);
	return service;
}

/*
 * Makes sure that the default collection, where applinkd stores its items, is unlocked. When
 * it is locked, requests an unlock from the Secret Service, which may show a prompt. A search
 * finds nothing in a collection that has stayed locked since the keyring daemon started, and
 * that must not pass for "nothing stored" or "nothing to delete".
 */
static gboolean
applink_keyring_unlock_default(SecretService *service,
			       GCancellable *cancellable,
			       const gchar *what,
			       GError **error)
{
	g_autoptr(SecretCollection) collection = NULL;
	g_autoptr(GError) error_local = NULL;
	GList *objects;
	gint unlocked;

	collection = secret_collection_for_alias_sync(service,
						      SECRET_COLLECTION_DEFAULT,
						      SECRET_COLLECTION_NONE,
						      cancellable,
						      &error_local);
	if (error_local != NULL) {
		applink_keyring_set_error(error, error_local, what);
		return FALSE;
	}
	if (collection == NULL || !secret_collection_get_locked(collection))
		return TRUE;
	objects = g_list_append(NULL, collection);
	unlocked = secret_service_unlock_sync(service, objects, cancellable, NULL, &error_local);
	g_list_free(objects);
	if (unlocked == 1)
		return TRUE;
	if (error_local == NULL)
		error_local = g_error_new_literal(SECRET_ERROR,
						  SECRET_ERROR_IS_LOCKED,
						  "the default collection stays locked");
	applink_keyring_set_error(error, error_local, what);
	return FALSE;
}

gboolean
applink_keyring_check_unlocked(const gchar *what, GError **error)
{
	ApplinkKeyringCall call;
	g_autoptr(SecretService) service = NULL;
	gboolean ok = FALSE;

	applink_keyring_call_begin(&call);
	service = applink_keyring_get_service(call.cancellable, what, error);
	if (service != NULL)
		ok = applink_keyring_unlock_default(service, call.cancellable, what, error);
	applink_keyring_call_end(&call);
	return ok;
}

static gboolean
applink_keyring_store(const SecretSchema *schema,
		      GHashTable *attributes,
		      const gchar *label,
		      SecretValue *value,
		      const gchar *what,
		      GError **error)
{
	ApplinkKeyringCall call;
	g_autoptr(SecretService) service = NULL;
	g_autoptr(GError) error_local = NULL;
	gboolean ok = FALSE;

	applink_keyring_call_begin(&call);
	service = applink_keyring_get_service(call.cancellable, what, error);
	if (service != NULL) {
		ok = secret_service_store_sync(service,
					       schema,
					       attributes,
					       SECRET_COLLECTION_DEFAULT,
					       label,
					       value,
					       call.cancellable,
					       &error_local);
		if (!ok)
			applink_keyring_set_error(error, error_local, what);
	}
	applink_keyring_call_end(&call);
	return ok;
}

/* Returns the most recently changed of @items: when an interrupted store left two items for
 * one credential, the newer one is the credential in use. */
static SecretItem *
applink_keyring_newest_item(GList *items)
{
	SecretItem *newest = items->data;

	for (GList *l = items->next; l != NULL; l = l->next) {
		if (secret_item_get_modified(l->data) > secret_item_get_modified(newest))
			newest = l->data;
	}
	return newest;
}

/* Returns the value of the item matching @attributes, NULL when there is none. */
static SecretValue *
applink_keyring_lookup(const SecretSchema *schema,
		       GHashTable *attributes,
		       GHashTable **item_attributes,
		       const gchar *what,
		       GError **error)
{
	ApplinkKeyringCall call;
	g_autoptr(SecretService) service = NULL;
	g_autoptr(GError) error_local = NULL;
	GList *items = NULL;
	SecretValue *value = NULL;

	applink_keyring_call_begin(&call);
	service = applink_keyring_get_service(call.cancellable, what, error);
	if (service != NULL) {
		items = secret_service_search_sync(service,
						   schema,
						   attributes,
						   SECRET_SEARCH_UNLOCK |
							   SECRET_SEARCH_LOAD_SECRETS,
						   call.cancellable,
						   &error_local);
		if (error_local != NULL) {
			applink_keyring_set_error(error, error_local, what);
		} else if (items == NULL) {
			applink_keyring_unlock_default(service, call.cancellable, what, error);
		} else {
			SecretItem *item = applink_keyring_newest_item(items);

			value = secret_item_get_secret(item);
			if (value == NULL && secret_item_get_locked(item)) {
				g_autoptr(GError) locked = g_error_new_literal(
					SECRET_ERROR, SECRET_ERROR_IS_LOCKED, "locked");
				applink_keyring_set_error(error, locked, what);
			} else if (item_attributes != NULL) {
				*item_attributes = secret_item_get_attributes(item);
			}
		}
	}
	g_list_free_full(items, g_object_unref);
	applink_keyring_call_end(&call);
	return value;
}

static GHashTable *
applink_keyring_attributes_new(void)
{
	return g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
}

static gboolean
applink_keyring_attributes_equal(GHashTable *a, GHashTable *b)
{
	GHashTableIter iter;
	gpointer key, value;

	g_hash_table_iter_init(&iter, a);
	while (g_hash_table_iter_next(&iter, &key, &value)) {
		if (g_strcmp0(value, g_hash_table_lookup(b, key)) != 0)
			return FALSE;
	}
	return TRUE;
}

/*
 * Deletes the items that match @selector but not @keep (both attribute tables), and adds
 * their number to @deleted when it is not NULL. Items are stored first and stale ones pruned
 * afterwards, so a failure never leaves no credential.
 */
static gboolean
applink_keyring_prune(const SecretSchema *schema,
		      GHashTable *selector,
		      GHashTable *keep,
		      guint *deleted,
		      const gchar *what,
		      GError **error)
{
	ApplinkKeyringCall call;
	g_autoptr(SecretService) service = NULL;
	g_autoptr(GError) error_local = NULL;
	GList *items = NULL;
	gboolean ok = FALSE;

	applink_keyring_call_begin(&call);
	service = applink_keyring_get_service(call.cancellable, what, error);
	if (service != NULL &&
	    applink_keyring_unlock_default(service, call.cancellable, what, error)) {
		items = secret_service_search_sync(service,
						   schema,
						   selector,
						   SECRET_SEARCH_ALL,
						   call.cancellable,
						   &error_local);
		ok = error_local == NULL;
		for (GList *l = items; ok && l != NULL; l = l->next) {
			SecretItem *item = l->data;
			g_autoptr(GHashTable) found = secret_item_get_attributes(item);

			if (keep != NULL && applink_keyring_attributes_equal(keep, found))
				continue;
			ok = secret_item_delete_sync(item, call.cancellable, &error_local);
			if (ok && deleted != NULL)
				(*deleted)++;
		}
		if (!ok)
			applink_keyring_set_error(error, error_local, what);
	}
	g_list_free_full(items, g_object_unref);
	applink_keyring_call_end(&call);
	return ok;
}

gboolean
applink_keyring_store_jira(const gchar *site,
			   const gchar *url,
			   const gchar *username,
			   const gchar *secret,
			   GError **error)
{
	g_autoptr(GHashTable) attributes = applink_keyring_attributes_new();
	g_autoptr(GHashTable) selector = applink_keyring_attributes_new();
	g_autofree gchar *label = g_strdup_printf("Jira credential of %s for %s", username, url);
	g_autoptr(SecretValue) value = secret_value_new(secret, -1, "text/plain");
	const gchar *what = "storing the Jira credential";

	g_hash_table_insert(attributes, "site", g_strdup(site));
	g_hash_table_insert(attributes, "url", g_strdup(url));
	g_hash_table_insert(attributes, "username", g_strdup(username));
	g_hash_table_insert(selector, "site", g_strdup(site));
	if (!applink_keyring_store(&jira_schema, attributes, label, value, what, error))
		return FALSE;
	return applink_keyring_prune(&jira_schema, selector, attributes, NULL, what, error);
}

ApplinkSecret *
applink_keyring_lookup_jira(const gchar *site, GError **error)
{
	g_autoptr(GHashTable) attributes = applink_keyring_attributes_new();
	g_autoptr(SecretValue) value = NULL;
	const gchar *text;

	g_hash_table_insert(attributes, "site", g_strdup(site));
	value = applink_keyring_lookup(
		&jira_schema, attributes, NULL, "reading the Jira credential", error);
	if (value == NULL)
		return NULL;
	text = secret_value_get_text(value);
	applink_secret_watch(text);
	return applink_secret_dup(text);
}

/* Serialises @secret as NUL-separated fields after a format tag; D-Bus strings cannot
 * contain NUL, so no field can contain the separator. */
static SecretValue *
applink_keyring_encode_salesforce(const ApplinkSalesforceSecret *secret)
{
	const gchar *fields[] = {
		APPLINK_SALESFORCE_SECRET_VERSION,
		secret->password,
		secret->security_token,
		secret->consumer_key,
		secret->consumer_secret,
	};
	GString *buffer = g_string_new(NULL);
	SecretValue *value;

	for (gsize i = 0; i < G_N_ELEMENTS(fields); i++) {
		g_string_append(buffer, fields[i] != NULL ? fields[i] : "");
		g_string_append_c(buffer, '\0');
	}
	value = secret_value_new(
		buffer->str, (gssize)buffer->len, "application/x-applink-salesforce-credential");
	applink_secret_wipe_gstring(buffer);
	return value;
}

static ApplinkSalesforceSecret *
applink_keyring_decode_salesforce(SecretValue *value, GError **error)
{
	gsize length = 0;
	const gchar *data = secret_value_get(value, &length);
	const gchar *fields[5] = {NULL};
	gsize count = 0;
	gsize start = 0;
	ApplinkSalesforceSecret *secret;

	for (gsize i = 0; i < length && count < G_N_ELEMENTS(fields); i++) {
		if (data[i] != '\0')
			continue;
		fields[count++] = data + start;
		start = i + 1;
	}
	if (count != G_N_ELEMENTS(fields) ||
	    g_strcmp0(fields[0], APPLINK_SALESFORCE_SECRET_VERSION) != 0) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_KEYRING_UNAVAILABLE,
			    "the stored Salesforce credential has an unknown format; set it again "
			    "with 'applinkctl auth set'");
		return NULL;
	}
	secret = g_new0(ApplinkSalesforceSecret, 1);
	secret->password = applink_secret_dup(fields[1]);
	secret->security_token = applink_secret_dup(fields[2]);
	secret->consumer_key = applink_secret_dup(fields[3]);
	secret->consumer_secret = applink_secret_dup(fields[4]);
	/* The same fields that SetOutgoingAuth takes as secret arguments. */
	for (guint i = 1; i < G_N_ELEMENTS(fields); i++)
		applink_secret_watch(fields[i]);
	return secret;
}

gboolean
applink_keyring_store_salesforce(const gchar *site,
				 const gchar *link,
				 const gchar *username,
				 const gchar *login_url,
				 const ApplinkSalesforceSecret *secret,
				 GError **error)
{
	g_autoptr(GHashTable) attributes = applink_keyring_attributes_new();
	g_autofree gchar *label = NULL;
	g_autoptr(SecretValue) value = applink_keyring_encode_salesforce(secret);

	label = g_strdup_printf("Salesforce credential of %s for Jira link %s", username, link);
	g_hash_table_insert(attributes, "site", g_strdup(site));
	g_hash_table_insert(attributes, "link", g_strdup(link));
	g_hash_table_insert(attributes, "username", g_strdup(username));
	g_hash_table_insert(attributes, "login-url", g_strdup(login_url));
	return applink_keyring_store(&salesforce_schema,
				     attributes,
				     label,
				     value,
				     "storing the Salesforce credential",
				     error);
}

ApplinkSalesforceSecret *
applink_keyring_lookup_salesforce(
	const gchar *site, const gchar *link, gchar **username, gchar **login_url, GError **error)
{
	g_autoptr(GHashTable) attributes = applink_keyring_attributes_new();
	g_autoptr(GHashTable) found = NULL;
	g_autoptr(SecretValue) value = NULL;

	g_hash_table_insert(attributes, "site", g_strdup(site));
	g_hash_table_insert(attributes, "link", g_strdup(link));
	value = applink_keyring_lookup(
		&salesforce_schema, attributes, &found, "reading the Salesforce credential", error);
	if (value == NULL)
		return NULL;
	if (username != NULL)
		*username = g_strdup(found != NULL ? g_hash_table_lookup(found, "username") : NULL);
	if (login_url != NULL)
		*login_url =
			g_strdup(found != NULL ? g_hash_table_lookup(found, "login-url") : NULL);
	return applink_keyring_decode_salesforce(value, error);
}

/* Deletes the link's Salesforce credentials, except the one stored with @keep_username and
 * @keep_login_url when they are given. */
gboolean
applink_keyring_delete_salesforce(const gchar *site,
				  const gchar *link,
				  const gchar *keep_username,
				  const gchar *keep_login_url,
				  GError **error)
{
	g_autoptr(GHashTable) selector = applink_keyring_attributes_new();
	g_autoptr(GHashTable) keep = NULL;

	g_hash_table_insert(selector, "site", g_strdup(site));
	g_hash_table_insert(selector, "link", g_strdup(link));
	if (keep_username != NULL) {
		keep = applink_keyring_attributes_new();
		g_hash_table_insert(keep, "username", g_strdup(keep_username));
		g_hash_table_insert(keep, "login-url", g_strdup(keep_login_url));
	}
	return applink_keyring_prune(&salesforce_schema,
				     selector,
				     keep,
				     NULL,
				     "deleting the Salesforce credential",
				     error);
}

/* Deletes every item of @site, and sets @deleted to their number when it is not NULL. */
gboolean
applink_keyring_delete_site(const gchar *site, guint *deleted, GError **error)
{
	g_autoptr(GHashTable) selector = applink_keyring_attributes_new();
	const gchar *what = "deleting the site's credentials";

	if (deleted != NULL)
		*deleted = 0;
	g_hash_table_insert(selector, "site", g_strdup(site));
	if (!applink_keyring_prune(&salesforce_schema, selector, NULL, deleted, what, error))
		return FALSE;
	return applink_keyring_prune(&jira_schema, selector, NULL, deleted, what, error);
}

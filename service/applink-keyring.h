/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "applink-secret.h"

G_BEGIN_DECLS

/* How long one keyring call may take by default, including an unlock prompt, before it is
 * abandoned. */
#define APPLINK_KEYRING_DEFAULT_TIMEOUT_SECONDS 60

void
applink_keyring_set_timeout(guint seconds);

/* The secret parts of a link's Salesforce credential, kept together in one keyring item. */
typedef struct {
	ApplinkSecret *password;
	ApplinkSecret *security_token;	/* "" when none */
	ApplinkSecret *consumer_key;	/* "" for SOAP login() */
	ApplinkSecret *consumer_secret; /* "" for SOAP login() */
} ApplinkSalesforceSecret;

void
applink_salesforce_secret_free(ApplinkSalesforceSecret *secret);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ApplinkSalesforceSecret, applink_salesforce_secret_free)

/*
 * Every function here blocks on the Secret Service and must run in a worker thread. A
 * missing item is not an error: lookups return NULL without setting @error. A locked,
 * absent or silent keyring is KeyringLocked or KeyringUnavailable, never "not found".
 */

gboolean
applink_keyring_store_jira(const gchar *site,
			   const gchar *url,
			   const gchar *username,
			   const gchar *secret,
			   GError **error);

ApplinkSecret *
applink_keyring_lookup_jira(const gchar *site, GError **error);

gboolean
applink_keyring_store_salesforce(const gchar *site,
				 const gchar *link,
				 const gchar *username,
				 const gchar *login_url,
				 const ApplinkSalesforceSecret *secret,
				 GError **error);

ApplinkSalesforceSecret *
applink_keyring_lookup_salesforce(
	const gchar *site, const gchar *link, gchar **username, gchar **login_url, GError **error);

gboolean
applink_keyring_delete_salesforce(const gchar *site,
				  const gchar *link,
				  const gchar *keep_username,
				  const gchar *keep_login_url,
				  GError **error);

gboolean
applink_keyring_delete_site(const gchar *site, guint *deleted, GError **error);

/* Fails with KeyringLocked or KeyringUnavailable unless the default collection is unlocked,
 * so that a call can stop before it changes Jira. */
gboolean
applink_keyring_check_unlocked(const gchar *what, GError **error);

G_END_DECLS

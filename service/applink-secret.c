/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "applink-secret.h"

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

/* Overwrites and frees @string, which held a secret. */
void
applink_secret_wipe_gstring(GString *string)
{
	if (string == NULL)
		return;
	explicit_bzero(string->str, string->allocated_len);
	g_string_free(string, TRUE);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "applink-url.h"

#include <gio/gio.h>
#include <string.h>

#include "applink-error.h"
#include "applink-log.h"

/* The domains whose hosts may receive Salesforce credentials. */
static const gchar *const salesforce_domains[] = {
	"salesforce.com",
	"force.com",
	"cloudforce.com",
	"salesforce.mil",
	"crmforce.mil",
	"sfcrmproducts.cn",
};

void
applink_salesforce_url_free(ApplinkSalesforceUrl *url)
{
	if (url == NULL)
		return;
	g_free(url->url);
	g_free(url->host);
	g_free(url->rewritten_from);
	g_free(url->login_url);
	g_free(url);
}

static gboolean
applink_url_host_has_suffix(const gchar *host, const gchar *domain)
{
	gsize host_len = strlen(host);
	gsize domain_len = strlen(domain);

	if (host_len == domain_len)
		return g_strcmp0(host, domain) == 0;
	return host_len > domain_len && host[host_len - domain_len - 1] == '.' &&
	       strcmp(host + host_len - domain_len, domain) == 0;
}

gboolean
applink_url_host_is_loopback(const gchar *host)
{
	g_autoptr(GInetAddress) address = NULL;

	if (host == NULL)
		return FALSE;
	if (g_ascii_strcasecmp(host, "localhost") == 0)
		return TRUE;
	address = g_inet_address_new_from_string(host);
	return address != NULL && g_inet_address_get_is_loopback(address);
}

/* Trims white space and wrapping <>, double or single quotes, as pasted from mail or docs. */
static gchar *
applink_url_strip_wrapping(const gchar *input)
{
	g_autofree gchar *text = g_strstrip(g_strdup(input));

	for (;;) {
		gsize len = strlen(text);
		gchar first = text[0];
		gchar last = len > 0 ? text[len - 1] : '\0';

		if (len < 2)
			break;
		if (!((first == '<' && last == '>') || (first == '"' && last == '"') ||
		      (first == '\'' && last == '\'')))
			break;
		text[len - 1] = '\0';
		memmove(text, text + 1, len - 1);
		g_strstrip(text);
	}
	return g_steal_pointer(&text);
}

static gboolean
applink_url_check_text(const gchar *input, const gchar *what, GError **error)
{
	if (input == NULL || input[0] == '\0') {
		g_set_error(
			error, APPLINK_ERROR, APPLINK_ERROR_INVALID_URL, "the %s is empty", what);
		return FALSE;
	}
	if (strlen(input) > APPLINK_URL_MAX_LENGTH) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_INVALID_URL,
			    "the %s is longer than %d bytes",
			    what,
			    APPLINK_URL_MAX_LENGTH);
		return FALSE;
	}
	if (!g_utf8_validate(input, -1, NULL)) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_INVALID_URL,
			    "the %s is not valid UTF-8",
			    what);
		return FALSE;
	}
	for (const gchar *p = input; *p != '\0'; p = g_utf8_next_char(p)) {
		if (applink_unichar_is_control(g_utf8_get_char(p))) {
			g_set_error(error,
				    APPLINK_ERROR,
				    APPLINK_ERROR_INVALID_URL,
				    "the %s contains the control character U+%04X; remove it",
				    what,
				    g_utf8_get_char(p));
			return FALSE;
		}
	}
	return TRUE;
}

/* Returns TRUE for a DNS name of letters, digits, hyphens and dots with no empty label, or
 * an IP address literal without an IPv6 zone id ("%eth0"). A zone id names an interface of one
 * machine, and GLib 2.74 decodes its "%25" to "%", which would not parse again. */
static gboolean
applink_url_host_is_valid(const gchar *host)
{
	gsize label_length = 0;

	if (strchr(host, '%') != NULL)
		return FALSE;
	if (g_hostname_is_ip_address(host))
		return TRUE;
	for (const gchar *p = host; *p != '\0'; p++) {
		if (*p == '.') {
			if (label_length == 0)
				return FALSE;
			label_length = 0;
		} else if (g_ascii_isalnum(*p) || *p == '-') {
			if (++label_length > 63)
				return FALSE;
		} else {
			return FALSE;
		}
	}
	return label_length > 0 && strlen(host) <= 253;
}

/* Parses @input (a scheme is added when missing) and checks scheme and host. */
static GUri *
applink_url_parse_common(const gchar *input, const gchar *what, GError **error)
{
	g_autofree gchar *text = NULL;
	g_autofree gchar *with_scheme = NULL;
	g_autoptr(GError) error_local = NULL;
	g_autoptr(GUri) uri = NULL;
	const gchar *scheme;

	if (!applink_url_check_text(input, what, error))
		return NULL;
	text = applink_url_strip_wrapping(input);
	if (text[0] == '\0') {
		g_set_error(
			error, APPLINK_ERROR, APPLINK_ERROR_INVALID_URL, "the %s is empty", what);
		return NULL;
	}
	if (strchr(text, ' ') != NULL) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_INVALID_URL,
			    "the %s '%s' contains a space",
			    what,
			    text);
		return NULL;
	}
	with_scheme =
		strstr(text, "://") != NULL ? g_strdup(text) : g_strconcat("https://", text, NULL);
	/* Parsed encoded, so that %2F or %3F in a host or path never turns into a separator. */
	uri = g_uri_parse(with_scheme, G_URI_FLAGS_ENCODED, &error_local);
	if (uri == NULL) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_INVALID_URL,
			    "the %s '%s' cannot be parsed: %s",
			    what,
			    text,
			    error_local->message);
		return NULL;
	}
	scheme = g_uri_get_scheme(uri);
	if (g_uri_get_host(uri) != NULL && g_uri_get_host(uri)[0] != '\0' &&
	    !applink_url_host_is_valid(g_uri_get_host(uri))) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_INVALID_URL,
			    "the %s '%s' has an invalid host name: use letters, digits, dots and "
			    "hyphens, or an IP address",
			    what,
			    text);
		return NULL;
	}
	if (g_uri_get_host(uri) == NULL || g_uri_get_host(uri)[0] == '\0') {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_INVALID_URL,
			    "the %s '%s' has no host name",
			    what,
			    text);
		return NULL;
	}
	if (g_uri_get_port(uri) == 0) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_INVALID_URL,
			    "the %s '%s' has the port 0; give the port the server listens on, or "
			    "none for the default",
			    what,
			    text);
		return NULL;
	}
	if (g_ascii_strcasecmp(scheme, "https") != 0 && g_ascii_strcasecmp(scheme, "http") != 0) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_INVALID_URL,
			    "the %s '%s' uses the scheme '%s'; use https://",
			    what,
			    text,
			    scheme);
		return NULL;
	}
	if (g_ascii_strcasecmp(scheme, "http") == 0 &&
	    !applink_url_host_is_loopback(g_uri_get_host(uri))) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_INVALID_URL,
			    "the %s '%s' uses http://, which would send credentials in clear text; "
			    "use https://",
			    what,
			    text);
		return NULL;
	}
	return g_steal_pointer(&uri);
}

/* Builds scheme://host[:port] with a lower-case host and without the default port. */
static gchar *
applink_url_build_origin(GUri *uri, const gchar *host)
{
	g_autofree gchar *scheme = g_ascii_strdown(g_uri_get_scheme(uri), -1);
	gint port = g_uri_get_port(uri);
	gint default_port = g_strcmp0(scheme, "https") == 0 ? 443 : 80;
	gboolean ipv6 = strchr(host, ':') != NULL;
	GString *out = g_string_new(scheme);

	g_string_append(out, "://");
	g_string_append_printf(out, ipv6 ? "[%s]" : "%s", host);
	if (port > 0 && port != default_port)
		g_string_append_printf(out, ":%d", port);
	return g_string_free(out, FALSE);
}

static gboolean
applink_url_host_is_salesforce(const gchar *host)
{
	for (gsize i = 0; i < G_N_ELEMENTS(salesforce_domains); i++) {
		if (applink_url_host_has_suffix(host, salesforce_domains[i]))
			return TRUE;
	}
	return FALSE;
}

/* Rewrites X.lightning.force.com to X.my.salesforce.com (and the sandbox form likewise). */
static gchar *
applink_url_rewrite_lightning(const gchar *host)
{
	const gchar *suffix = ".lightning.force.com";
	gsize host_len = strlen(host);
	gsize suffix_len = strlen(suffix);
	g_autofree gchar *name = NULL;

	if (host_len <= suffix_len || strcmp(host + host_len - suffix_len, suffix) != 0)
		return NULL;
	name = g_strndup(host, host_len - suffix_len);
	return g_strconcat(name, ".my.salesforce.com", NULL);
}

static void
applink_url_classify(ApplinkSalesforceUrl *url)
{
	const gchar *host = url->host;

	if (applink_url_host_is_loopback(host)) {
		url->kind = "loopback";
		url->login_url = g_strdup(url->url);
	} else if (g_strcmp0(host, "login.salesforce.com") == 0 ||
		   g_strcmp0(host, "test.salesforce.com") == 0) {
		url->kind = "login";
		url->sandbox = g_str_has_prefix(host, "test.");
		url->login_url = g_strdup(url->url);
	} else if (strstr(host, ".sandbox.my.") != NULL) {
		url->kind = "sandbox";
		url->sandbox = TRUE;
		url->login_url = g_strdup(url->url);
	} else if (strstr(host, ".my.") != NULL ||
		   applink_url_host_has_suffix(host, "cloudforce.com")) {
		url->kind = "my-domain";
		url->login_url = g_strdup(url->url);
	} else if (g_str_has_prefix(host, "cs") && g_ascii_isdigit(host[2])) {
		/* Instanced sandboxes such as cs42.salesforce.com log in at the sandbox host. */
		url->kind = "sandbox";
		url->sandbox = TRUE;
		url->login_url = g_strdup(APPLINK_LOGIN_URL_SANDBOX);
	} else {
		url->kind = "instance";
		url->login_url = g_strdup(APPLINK_LOGIN_URL_PRODUCTION);
	}
}

ApplinkSalesforceUrl *
applink_url_parse_salesforce(const gchar *input, GError **error)
{
	g_autoptr(GUri) uri = NULL;
	g_autoptr(ApplinkSalesforceUrl) url = g_new0(ApplinkSalesforceUrl, 1);
	g_autofree gchar *host = NULL;
	g_autofree gchar *rewritten = NULL;

	uri = applink_url_parse_common(input, "Salesforce URL", error);
	if (uri == NULL)
		return NULL;
	host = g_ascii_strdown(g_uri_get_host(uri), -1);
	if (applink_url_host_has_suffix(host, "my.site.com")) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_INVALID_URL,
			    "'%s' is an Experience Cloud site, which cannot be linked or logged in "
			    "to as an organization; use the org's My Domain URL, "
			    "https://NAME.my.salesforce.com",
			    host);
		return NULL;
	}
	if (!applink_url_host_is_loopback(host) && !applink_url_host_is_salesforce(host)) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_INVALID_URL,
			    "'%s' is not a Salesforce host: the URL must be under salesforce.com, "
			    "force.com, cloudforce.com, salesforce.mil, crmforce.mil or "
			    "sfcrmproducts.cn, e.g. https://NAME.my.salesforce.com",
			    host);
		return NULL;
	}
	rewritten = applink_url_rewrite_lightning(host);
	if (rewritten != NULL) {
		url->rewritten_from = applink_url_build_origin(uri, host);
		g_free(host);
		host = g_steal_pointer(&rewritten);
	}
	url->url = applink_url_build_origin(uri, host);
	url->host = g_steal_pointer(&host);
	applink_url_classify(url);
	return g_steal_pointer(&url);
}

gchar *
applink_url_normalize_login(const gchar *input, GError **error)
{
	g_autoptr(ApplinkSalesforceUrl) url = applink_url_parse_salesforce(input, error);

	if (url == NULL)
		return NULL;
	return g_steal_pointer(&url->url);
}

gchar *
applink_url_normalize_jira(const gchar *input, GError **error)
{
	g_autoptr(GUri) uri = NULL;
	g_autofree gchar *host = NULL;
	g_autofree gchar *origin = NULL;
	g_autofree gchar *path = NULL;
	gsize len;

	uri = applink_url_parse_common(input, "Jira URL", error);
	if (uri == NULL)
		return NULL;
	if (g_uri_get_userinfo(uri) != NULL) {
		g_set_error(error,
			    APPLINK_ERROR,
			    APPLINK_ERROR_INVALID_URL,
			    "the Jira URL contains a user name or password; give the URL without "
			    "them and the credentials separately");
		return NULL;
	}
	host = g_ascii_strdown(g_uri_get_host(uri), -1);
	origin = applink_url_build_origin(uri, host);
	path = g_strdup(g_uri_get_path(uri));
	len = strlen(path);
	while (len > 0 && path[len - 1] == '/')
		path[--len] = '\0';
	return g_strconcat(origin, path, NULL);
}

gboolean
applink_url_site_id_is_valid(const gchar *id)
{
	gsize len;

	if (id == NULL || !g_ascii_isalnum(id[0]))
		return FALSE;
	len = strlen(id);
	if (len > APPLINK_URL_MAX_SITE_ID_LENGTH)
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		if (!g_ascii_isalnum(id[i]) && id[i] != '.' && id[i] != '-' && id[i] != '_')
			return FALSE;
	}
	return TRUE;
}

/* Derives a site id from a normalised Jira URL: host, port and context path, e.g.
 * "https://jira.example.com:8443/jira" gives "jira.example.com-8443-jira". */
gchar *
applink_url_site_id_from_url(const gchar *jira_url)
{
	const gchar *start = strstr(jira_url, "://");
	GString *id = g_string_new(NULL);

	for (const gchar *p = start != NULL ? start + 3 : jira_url; *p != '\0'; p++) {
		if (g_ascii_isalnum(*p) || *p == '.' || *p == '_' || *p == '-')
			g_string_append_c(id, *p);
		else if (id->len > 0 && id->str[id->len - 1] != '-')
			g_string_append_c(id, '-');
	}
	while (id->len > 0 && id->str[id->len - 1] == '-')
		g_string_truncate(id, id->len - 1);
	while (id->len > 0 && !g_ascii_isalnum(id->str[0]))
		g_string_erase(id, 0, 1);
	if (id->len > APPLINK_URL_MAX_SITE_ID_LENGTH)
		g_string_truncate(id, APPLINK_URL_MAX_SITE_ID_LENGTH);
	if (id->len == 0)
		g_string_assign(id, "jira");
	return g_string_free(id, FALSE);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "applink-error.h"
#include "applink-salesforce.h"

#include <string.h>

#define SOAP_ENVELOPE_START                                                                        \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>"                                               \
	"<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "           \
	"xmlns=\"urn:partner.soap.sforce.com\" "                                                   \
	"xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body>"
#define SOAP_ENVELOPE_END "</soapenv:Body></soapenv:Envelope>"

/* A partner login() result; the format takes the serverUrl. */
#define SOAP_SUCCESS_FORMAT                                                                        \
	SOAP_ENVELOPE_START                                                                        \
	"<loginResponse><result>"                                                                  \
	"<metadataServerUrl>https://na1.salesforce.com/services/Soap/m/64.0/00D000000000001"       \
	"</metadataServerUrl>"                                                                     \
	"<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"                         \
	"<serverUrl>%s</serverUrl>"                                                                \
	"<sessionId>00D000000000001!AQ0AQfakesession</sessionId>"                                  \
	"<userId>005000000000001AAA</userId>"                                                      \
	"<userInfo><organizationId>00D000000000001EAA</organizationId>"                            \
	"<roleId xsi:nil=\"true\"/><sessionSecondsValid>7200</sessionSecondsValid>"                \
	"<userId>005000000000001AAA</userId><userName>jdoe@example.com</userName></userInfo>"      \
	"</result></loginResponse>" SOAP_ENVELOPE_END

static const gchar soap_success[] = SOAP_ENVELOPE_START
	"<loginResponse><result>"
	"<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
	"<serverUrl>https://NA1.salesforce.com/services/Soap/u/64.0/00D000000000001</serverUrl>"
	"<sessionId>00D000000000001!AQ0AQfakesession</sessionId>"
	"<userId>005000000000001AAA</userId>"
	"<userInfo><organizationId>00D000000000001EAA</organizationId>"
	"<roleId xsi:nil=\"true\"/><userId>005000000000001AAA</userId></userInfo>"
	"</result></loginResponse>" SOAP_ENVELOPE_END;

/* Enterprise namespace, other prefixes, whitespace, and the user id only inside userInfo. */
static const gchar soap_success_enterprise[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<env:Envelope xmlns:env=\"http://schemas.xmlsoap.org/soap/envelope/\"\n"
	"    xmlns:ent=\"urn:enterprise.soap.sforce.com\">\n"
	"  <env:Body>\n"
	"    <ent:loginResponse>\n"
	"      <ent:result>\n"
	"        <ent:passwordExpired>false</ent:passwordExpired>\n"
	"        <ent:sandbox>true</ent:sandbox>\n"
	"        <ent:serverUrl>\n"
	"          https://acme--uat.sandbox.my.salesforce.com/services/Soap/c/64.0/00D0000002\n"
	"        </ent:serverUrl>\n"
	"        <ent:sessionId><![CDATA[00D0000002!AQfake]]></ent:sessionId>\n"
	"        <ent:userInfo>\n"
	"          <ent:organizationId>00D000000000002EAA</ent:organizationId>\n"
	"          <ent:userId>005000000000002AAA</ent:userId>\n"
	"        </ent:userInfo>\n"
	"      </ent:result>\n"
	"    </ent:loginResponse>\n"
	"  </env:Body>\n"
	"</env:Envelope>\n";

static const gchar soap_password_expired[] = SOAP_ENVELOPE_START
	"<loginResponse><result><passwordExpired>true</passwordExpired><sandbox>false</sandbox>"
	"<serverUrl>https://na1.salesforce.com/services/Soap/u/64.0/00D000000000001</serverUrl>"
	"<sessionId>00D000000000001!AQ0AQfakesession</sessionId>"
	"<userId>005000000000001AAA</userId></result></loginResponse>" SOAP_ENVELOPE_END;

static const gchar soap_missing_session[] = SOAP_ENVELOPE_START
	"<loginResponse><result><passwordExpired>false</passwordExpired>"
	"<serverUrl>https://na1.salesforce.com/services/Soap/u/64.0/00D000000000001</serverUrl>"
	"<sessionId/></result></loginResponse>" SOAP_ENVELOPE_END;

static const gchar soap_missing_server_url[] =
	SOAP_ENVELOPE_START "<loginResponse><result><passwordExpired>false</passwordExpired>"
			    "<sessionId>00D000000000001!AQ0AQfakesession</sessionId></result></"
			    "loginResponse>" SOAP_ENVELOPE_END;

static const gchar soap_bad_server_url[] = SOAP_ENVELOPE_START
	"<loginResponse><result><serverUrl>ftp://na1.salesforce.com/</serverUrl>"
	"<sessionId>00D000000000001!AQ0AQfakesession</sessionId></result></"
	"loginResponse>" SOAP_ENVELOPE_END;

static const gchar soap_detail_wins[] =
	"<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "
	"xmlns:sf=\"urn:fault.partner.soap.sforce.com\"><soapenv:Body><soapenv:Fault>"
	"<faultcode>soapenv:Server</faultcode><faultstring>INVALID_LOGIN: Invalid</faultstring>"
	"<detail><sf:LoginFault><sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode>"
	"<sf:exceptionMessage>Invalid username, password, security token; or user locked out."
	"</sf:exceptionMessage></sf:LoginFault></detail></soapenv:Fault></soapenv:Body>"
	"</soapenv:Envelope>";

static const gchar soap_fault_enterprise[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope "
	"xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "
	"xmlns:sf=\"urn:fault.enterprise.soap.sforce.com\" "
	"xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body><soapenv:Fault>"
	"<faultcode>sf:LOGIN_MUST_USE_SECURITY_TOKEN</faultcode>"
	"<faultstring>LOGIN_MUST_USE_SECURITY_TOKEN: Invalid username, password, security token; "
	"or user locked out. Are you at a new location?</faultstring>"
	"<detail><sf:LoginFault xsi:type=\"sf:LoginFault\">"
	"<sf:exceptionCode>LOGIN_MUST_USE_SECURITY_TOKEN</sf:exceptionCode>"
	"<sf:exceptionMessage>Are you at a new location? From your personal settings, enter "
	"Reset My Security Token in the Quick Find box.</sf:exceptionMessage>"
	"</sf:LoginFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>";

static const gchar soap_fault_without_code[] =
	SOAP_ENVELOPE_START "<soapenv:Fault><faultstring>Something "
			    "broke</faultstring></soapenv:Fault>" SOAP_ENVELOPE_END;

static const gchar soap_without_result[] = SOAP_ENVELOPE_START "<loginResponse/>" SOAP_ENVELOPE_END;

static const gchar html_page[] =
	"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Maintenance</title></head>"
	"<body><p>Salesforce is down for maintenance.<br></p></body></html>";

/* One SOAP reply that is not a successful login, and the error it must give. */
typedef struct {
	const gchar *name;
	guint status;
	const gchar *body;
	gboolean token_given;
	ApplinkError code;
	const gchar *text;
} SoapErrorCase;

static const SoapErrorCase soap_error_cases[] = {
	{"password-expired",
	 200,
	 soap_password_expired,
	 FALSE,
	 APPLINK_ERROR_PASSWORD_EXPIRED,
	 "set a new password"},
	{"missing-session",
	 200,
	 soap_missing_session,
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "sessionId"},
	{"missing-server-url",
	 200,
	 soap_missing_server_url,
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "serverUrl"},
	{"bad-server-url", 200, soap_bad_server_url, FALSE, APPLINK_ERROR_SALESFORCE, "ftp://"},
	{"without-result",
	 200,
	 soap_without_result,
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "neither a login() result nor a SOAP fault"},
	{"unexpected-status",
	 404,
	 soap_without_result,
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "HTTP 404"},
	{"success-at-500", 500, soap_success, FALSE, APPLINK_ERROR_SALESFORCE, "HTTP 500"},
	{"detail-wins",
	 500,
	 soap_detail_wins,
	 FALSE,
	 APPLINK_ERROR_INVALID_CREDENTIALS,
	 "INVALID_LOGIN"},
	{"fault-enterprise",
	 500,
	 soap_fault_enterprise,
	 FALSE,
	 APPLINK_ERROR_SECURITY_TOKEN_REQUIRED,
	 "Setup → Network Access"},
	{"fault-at-200",
	 200,
	 soap_detail_wins,
	 FALSE,
	 APPLINK_ERROR_INVALID_CREDENTIALS,
	 "INVALID_LOGIN"},
	{"fault-without-code",
	 500,
	 soap_fault_without_code,
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "Something broke"},
	{"malformed",
	 200,
	 SOAP_ENVELOPE_START "<loginResponse><result></loginResponse>",
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "not a SOAP message"},
	{"truncated",
	 500,
	 SOAP_ENVELOPE_START "<soapenv:Fault><faultcode>sf:INVALID_LO",
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "not a SOAP message"},
	{"invalid-utf8",
	 200,
	 SOAP_ENVELOPE_START "<x>\xff\xfe</x>" SOAP_ENVELOPE_END,
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "not a SOAP message"},
	{"other-root",
	 200,
	 "<loginResponse/>",
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "not a SOAP Envelope"},
	{"empty", 500, "", FALSE, APPLINK_ERROR_SALESFORCE, "empty reply"},
	{"blank", 200, " \r\n\t", FALSE, APPLINK_ERROR_SALESFORCE, "empty reply"},
	{"html-503", 503, html_page, FALSE, APPLINK_ERROR_SALESFORCE, "HTTP 503"},
	{"html-200", 200, html_page, FALSE, APPLINK_ERROR_SALESFORCE, "not a SOAP message"},
	{"plain-text-500",
	 500,
	 "Internal Server Error",
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "HTTP 500"},
	{"redirect", 302, "", FALSE, APPLINK_ERROR_LOGIN_REDIRECTED, "NAME.my.salesforce.com"},
};

/* One fault code and the error and advice it must map to. */
typedef struct {
	const gchar *code;
	ApplinkError error;
	const gchar *text;
} FaultCase;

static const FaultCase fault_cases[] = {
	{"INVALID_LOGIN", APPLINK_ERROR_INVALID_CREDENTIALS, "locked out"},
	{"LOGIN_MUST_USE_SECURITY_TOKEN",
	 APPLINK_ERROR_SECURITY_TOKEN_REQUIRED,
	 "Reset My Security Token"},
	{"PASSWORD_LOCKOUT", APPLINK_ERROR_INVALID_CREDENTIALS, "unlock the user"},
	{"API_DISABLED_FOR_ORG", APPLINK_ERROR_API_DISABLED, "edition"},
	{"API_CURRENTLY_DISABLED", APPLINK_ERROR_API_DISABLED, "\"API Enabled\""},
	{"REQUEST_LIMIT_EXCEEDED", APPLINK_ERROR_SALESFORCE_RATE_LIMITED, "per user per hour"},
	{"LOGIN_DURING_RESTRICTED_DOMAIN", APPLINK_ERROR_LOGIN_RESTRICTED, "Login IP Ranges"},
	{"LOGIN_DURING_RESTRICTED_TIME", APPLINK_ERROR_LOGIN_RESTRICTED, "Login Hours"},
	{"INVALID_OPERATION", APPLINK_ERROR_LOGIN_NOT_AVAILABLE, "--consumer-key"},
	{"UNSUPPORTED_API_VERSION", APPLINK_ERROR_LOGIN_NOT_AVAILABLE, "--api-version"},
	{"INSUFFICIENT_ACCESS", APPLINK_ERROR_SALESFORCE_ACCESS_DENIED, "\"Use Any API Auth\""},
	{"ORG_LOCKED", APPLINK_ERROR_ORG_UNAVAILABLE, "unlock it"},
	{"TRIAL_EXPIRED", APPLINK_ERROR_ORG_UNAVAILABLE, "trial"},
	{"SERVER_UNAVAILABLE", APPLINK_ERROR_SALESFORCE, "try again later"},
	{"INVALID_OPERATION_WITH_EXPIRED_PASSWORD",
	 APPLINK_ERROR_PASSWORD_EXPIRED,
	 "set a new password"},
	{"LOGIN_CHALLENGE_ISSUED", APPLINK_ERROR_SALESFORCE, "Salesforce text for"},
};

/* How a fault is written: the faultcode prefix, and whether detail carries the code. */
typedef struct {
	const gchar *name;
	const gchar *fault_code_prefix;
	const gchar *detail_prefix; /* NULL for a fault without detail */
} FaultStyle;

static const FaultStyle fault_styles[] = {
	{"fault-prefixed", "sf:", "sf:"},
	{"fault-bare", "", ""},
	{"fault-no-detail", "sf:", NULL},
	{"fault-bare-no-detail", "", NULL},
};

typedef struct {
	const FaultStyle *style;
	const FaultCase *fault;
} FaultTest;

/* One OAuth token reply that is not a successful login, and the error it must give. */
typedef struct {
	const gchar *name;
	guint status;
	const gchar *content_type;
	const gchar *body;
	gboolean token_given;
	ApplinkError code;
	const gchar *text;
} OauthErrorCase;

#define JSON_TYPE "application/json;charset=UTF-8"
#define OAUTH_ERROR(error, description)                                                            \
	"{\"error\":\"" error "\",\"error_description\":\"" description "\"}"

static const OauthErrorCase oauth_error_cases[] = {
	{"auth-failure",
	 400,
	 JSON_TYPE,
	 OAUTH_ERROR("invalid_grant", "authentication failure"),
	 FALSE,
	 APPLINK_ERROR_INVALID_CREDENTIALS,
	 "Allow OAuth Username-Password Flows"},
	{"auth-failure-no-token",
	 400,
	 JSON_TYPE,
	 OAUTH_ERROR("invalid_grant", "authentication failure"),
	 FALSE,
	 APPLINK_ERROR_INVALID_CREDENTIALS,
	 "No security token was given"},
	{"auth-failure-token",
	 400,
	 JSON_TYPE,
	 OAUTH_ERROR("invalid_grant", "authentication failure"),
	 TRUE,
	 APPLINK_ERROR_INVALID_CREDENTIALS,
	 "wrong or stale"},
	{"auth-failure-case",
	 400,
	 JSON_TYPE,
	 OAUTH_ERROR("invalid_grant", "Authentication Failure"),
	 FALSE,
	 APPLINK_ERROR_INVALID_CREDENTIALS,
	 "IP restriction"},
	{"not-approved",
	 400,
	 JSON_TYPE,
	 OAUTH_ERROR("invalid_grant", "user hasn't approved this consumer"),
	 FALSE,
	 APPLINK_ERROR_INVALID_CLIENT,
	 "pre-authorized"},
	{"ip-restricted",
	 400,
	 JSON_TYPE,
	 OAUTH_ERROR("invalid_grant", "IP restricted or invalid login hours"),
	 FALSE,
	 APPLINK_ERROR_LOGIN_RESTRICTED,
	 "Login IP Ranges"},
	{"grant-inactive-user",
	 400,
	 JSON_TYPE,
	 OAUTH_ERROR("invalid_grant", "inactive user"),
	 FALSE,
	 APPLINK_ERROR_INVALID_CREDENTIALS,
	 "deactivated"},
	{"grant-other",
	 400,
	 JSON_TYPE,
	 OAUTH_ERROR("invalid_grant", "expired access/refresh token"),
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "expired access/refresh token"},
	{"inactive-user",
	 400,
	 JSON_TYPE,
	 OAUTH_ERROR("inactive_user", "inactive user"),
	 FALSE,
	 APPLINK_ERROR_INVALID_CREDENTIALS,
	 "deactivated"},
	{"inactive-org",
	 400,
	 JSON_TYPE,
	 OAUTH_ERROR("inactive_org", "inactive organization"),
	 FALSE,
	 APPLINK_ERROR_ORG_UNAVAILABLE,
	 "inactive or locked"},
	{"invalid-client-id",
	 400,
	 JSON_TYPE,
	 OAUTH_ERROR("invalid_client_id", "client identifier invalid"),
	 FALSE,
	 APPLINK_ERROR_INVALID_CLIENT,
	 "consumer key"},
	{"invalid-client",
	 400,
	 JSON_TYPE,
	 OAUTH_ERROR("invalid_client", "invalid client"),
	 FALSE,
	 APPLINK_ERROR_INVALID_CLIENT,
	 "consumer secret"},
	{"invalid-client-credentials",
	 400,
	 JSON_TYPE,
	 OAUTH_ERROR("invalid_client_credentials", "invalid client credentials"),
	 FALSE,
	 APPLINK_ERROR_INVALID_CLIENT,
	 "consumer secret"},
	{"unsupported-grant",
	 400,
	 JSON_TYPE,
	 OAUTH_ERROR("unsupported_grant_type", "grant type not supported"),
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "use https"},
	{"rate-limit",
	 400,
	 JSON_TYPE,
	 OAUTH_ERROR("rate_limit_exceeded", "rate limit exceeded"),
	 FALSE,
	 APPLINK_ERROR_SALESFORCE_RATE_LIMITED,
	 "per hour"},
	{"invalid-scope",
	 400,
	 JSON_TYPE,
	 OAUTH_ERROR("invalid_scope", "bad scope"),
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "invalid_scope (bad scope)"},
	{"invalid-request",
	 400,
	 JSON_TYPE,
	 OAUTH_ERROR("invalid_request", "must use HTTPS"),
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "invalid_request (must use HTTPS)"},
	{"unsupported-response-type",
	 400,
	 JSON_TYPE,
	 OAUTH_ERROR("unsupported_response_type", "response type not supported"),
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "unsupported_response_type"},
	{"unknown-error",
	 401,
	 JSON_TYPE,
	 OAUTH_ERROR("something_new", "new failure"),
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "something_new (new failure)"},
	{"error-only",
	 400,
	 JSON_TYPE,
	 "{\"error\":\"invalid_client_id\"}",
	 FALSE,
	 APPLINK_ERROR_INVALID_CLIENT,
	 "consumer key"},
	{"description-number",
	 400,
	 JSON_TYPE,
	 "{\"error\":\"invalid_grant\",\"error_description\":7}",
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "invalid_grant"},
	{"error-number",
	 400,
	 JSON_TYPE,
	 "{\"error\":42,\"error_description\":\"x\"}",
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "without an OAuth error code"},
	{"error-object",
	 400,
	 JSON_TYPE,
	 "{\"error\":{\"code\":\"invalid_grant\"}}",
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "without an OAuth error code"},
	{"error-null",
	 400,
	 JSON_TYPE,
	 "{\"error\":null}",
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "without an OAuth error code"},
	{"json-array",
	 400,
	 JSON_TYPE,
	 "[{\"error\":\"invalid_grant\"}]",
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "without an OAuth error code"},
	{"html-400",
	 400,
	 "text/html",
	 html_page,
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "HTTP 400 (text/html)"},
	{"empty-500", 500, NULL, "", FALSE, APPLINK_ERROR_SALESFORCE, "HTTP 500 (no content type)"},
	{"truncated-json",
	 400,
	 JSON_TYPE,
	 "{\"error\":\"invalid_gr",
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "HTTP 400"},
	/* Replies that json-glib would read, but that applink_json_check() rejects. */
	{"trailing-value",
	 400,
	 JSON_TYPE,
	 OAUTH_ERROR("invalid_grant", "authentication failure") " 2",
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "without an OAuth error code (unexpected character \"2\" at byte"},
	{"success-trailing-value",
	 200,
	 JSON_TYPE,
	 "{\"access_token\":\"00D!AQfake\",\"instance_url\":\"https://na1.salesforce.com\"}{}",
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "without a JSON token reply (unexpected character \"{\""},
	{"integer-too-large",
	 400,
	 JSON_TYPE,
	 "{\"error\":\"invalid_grant\",\"issued_at\":123456789012345678901234567890}",
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "outside the range of a 64-bit signed integer"},
	{"unpaired-surrogate",
	 400,
	 JSON_TYPE,
	 "{\"error\":\"invalid_grant\",\"error_description\":\"\\ud800\"}",
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "is an unpaired UTF-16 surrogate"},
	{"invalid-utf8",
	 400,
	 JSON_TYPE,
	 "{\"error\":\"\xff\xfe\"}",
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "HTTP 400"},
	{"html-200",
	 200,
	 "text/html",
	 html_page,
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "HTTP 200 (text/html)"},
	{"content-type-invalid-utf8",
	 502,
	 "text/h\xfftml",
	 "<html/>",
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "HTTP 502 (text/h"},
	{"array-200", 200, JSON_TYPE, "[]", FALSE, APPLINK_ERROR_SALESFORCE, "HTTP 200"},
	{"instance-number",
	 200,
	 JSON_TYPE,
	 "{\"access_token\":\"00D!x\",\"instance_url\":5}",
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "instance_url"},
	{"instance-null",
	 200,
	 JSON_TYPE,
	 "{\"access_token\":\"00D!x\",\"instance_url\":null}",
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "instance_url"},
	{"token-array",
	 200,
	 JSON_TYPE,
	 "{\"access_token\":[],\"instance_url\":\"https://na1.salesforce.com\"}",
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "access_token"},
	{"missing-token",
	 200,
	 JSON_TYPE,
	 "{\"instance_url\":\"https://na1.salesforce.com\"}",
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "access_token"},
	{"instance-not-url",
	 200,
	 JSON_TYPE,
	 "{\"access_token\":\"00D!x\",\"instance_url\":\"na1.salesforce.com\"}",
	 FALSE,
	 APPLINK_ERROR_SALESFORCE,
	 "“na1.salesforce.com”"},
	{"redirect", 302, "text/html", "", FALSE, APPLINK_ERROR_LOGIN_REDIRECTED, "--login-url"},
};

/* One successful token reply and the ids it must give. */
typedef struct {
	const gchar *name;
	const gchar *body;
	const gchar *instance_url;
	const gchar *organization_id;
	const gchar *user_id;
	gboolean sandbox;
} OauthSuccessCase;

static const OauthSuccessCase oauth_success_cases[] = {
	{"success",
	 "{\"access_token\":\"00D000000000001!AQfake\",\"scope\":\"web api\","
	 "\"instance_url\":\"https://na1.salesforce.com\","
	 "\"id\":\"https://login.salesforce.com/id/00D000000000001EAA/005000000000001AAA\","
	 "\"token_type\":\"Bearer\",\"issued_at\":\"1700000000000\","
	 "\"signature\":\"c2lnbmF0dXJl\"}",
	 "https://na1.salesforce.com",
	 "00D000000000001EAA",
	 "005000000000001AAA",
	 FALSE},
	{"success-without-id",
	 "{\"access_token\":\"00D!AQfake\",\"instance_url\":\"https://Acme.my.salesforce.com/\"}",
	 "https://acme.my.salesforce.com",
	 NULL,
	 NULL,
	 FALSE},
	{"success-id-number",
	 "{\"access_token\":\"00D!AQfake\",\"instance_url\":\"https://na1.salesforce.com\","
	 "\"id\":12}",
	 "https://na1.salesforce.com",
	 NULL,
	 NULL,
	 FALSE},
	{"success-id-malformed",
	 "{\"access_token\":\"00D!AQfake\",\"instance_url\":\"https://na1.salesforce.com\","
	 "\"id\":\"https://login.salesforce.com/id/00D000000000001EAA/\"}",
	 "https://na1.salesforce.com",
	 NULL,
	 NULL,
	 FALSE},
	/* Ids that cannot be Salesforce record ids are dropped, the login still succeeds. */
	{"success-ids-not-record-ids",
	 "{\"access_token\":\"00D!AQfake\",\"instance_url\":\"https://na1.salesforce.com\","
	 "\"id\":\"https://login.salesforce.com/id/00D000000000001EAA0/005-00000000001AA\"}",
	 "https://na1.salesforce.com",
	 NULL,
	 NULL,
	 FALSE},
	{"success-sandbox",
	 "{\"access_token\":\"00D!AQfake\","
	 "\"instance_url\":\"https://acme--uat.sandbox.my.salesforce.com\","
	 "\"id\":\"https://test.salesforce.com/id/00D000000000003EAA/005000000000003AAA\"}",
	 "https://acme--uat.sandbox.my.salesforce.com",
	 "00D000000000003EAA",
	 "005000000000003AAA",
	 TRUE},
};

/* Credentials with every character that XML or form encoding must change. */
static const gchar tricky_text[] = "a&b<c>d\"e'f+g%h=i;j k Ünïcødé 日本-._~";

static void
assert_contains(const gchar *text, const gchar *part)
{
	if (strstr(text, part) == NULL)
		g_test_message("“%s” does not contain “%s”", text, part);
	g_assert_nonnull(strstr(text, part));
}

static void
assert_not_contains(const gchar *text, const gchar *part)
{
	if (strstr(text, part) != NULL)
		g_test_message("“%s” contains “%s”", text, part);
	g_assert_null(strstr(text, part));
}

static void
assert_applink_error(const GError *error, ApplinkError code, const gchar *text)
{
	g_assert_nonnull(error);
	g_assert_true(g_utf8_validate(error->message, -1, NULL));
	g_test_message("error: %s", error->message);
	g_assert_cmpstr(applink_error_to_name(error->code), ==, applink_error_to_name((gint)code));
	g_assert_error(error, APPLINK_ERROR, (gint)code);
	if (text != NULL)
		assert_contains(error->message, text);
}

static void
test_soap_success(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(ApplinkSalesforceLogin) login = NULL;

	login = applink_salesforce_parse_soap_reply(
		200, soap_success, strlen(soap_success), FALSE, &error);
	g_assert_no_error(error);
	g_assert_nonnull(login);
	g_assert_cmpstr(login->flow, ==, "soap");
	g_assert_cmpstr(login->instance_url, ==, "https://na1.salesforce.com");
	g_assert_cmpstr(login->user_id, ==, "005000000000001AAA");
	g_assert_cmpstr(login->organization_id, ==, "00D000000000001EAA");
	g_assert_false(login->sandbox);
}

static void
test_soap_success_enterprise(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(ApplinkSalesforceLogin) login = NULL;

	login = applink_salesforce_parse_soap_reply(
		200, soap_success_enterprise, strlen(soap_success_enterprise), TRUE, &error);
	g_assert_no_error(error);
	g_assert_nonnull(login);
	g_assert_cmpstr(login->flow, ==, "soap");
	g_assert_cmpstr(login->instance_url, ==, "https://acme--uat.sandbox.my.salesforce.com");
	g_assert_cmpstr(login->user_id, ==, "005000000000002AAA");
	g_assert_cmpstr(login->organization_id, ==, "00D000000000002EAA");
	g_assert_true(login->sandbox);
}

/* Server URLs whose origin keeps an explicit port and drops the default one. */
static void
test_soap_success_port(void)
{
	static const gchar *const server_urls[][2] = {
		{"http://127.0.0.1:8443/services/Soap/u/64.0/00D0", "http://127.0.0.1:8443"},
		{"http://[::1]:9000/services/Soap/u/64.0/00D0", "http://[::1]:9000"},
		{"https://na1.salesforce.com:443/services/Soap/u/64.0/00D0",
		 "https://na1.salesforce.com"},
		{"http://localhost:80/services/Soap/u/64.0/00D0", "http://localhost"},
	};

	for (gsize i = 0; i < G_N_ELEMENTS(server_urls); i++) {
		g_autofree gchar *body = g_strdup_printf(SOAP_SUCCESS_FORMAT, server_urls[i][0]);
		g_autoptr(GError) error = NULL;
		g_autoptr(ApplinkSalesforceLogin) login = NULL;

		login = applink_salesforce_parse_soap_reply(200, body, strlen(body), FALSE, &error);
		g_assert_no_error(error);
		g_assert_nonnull(login);
		g_assert_cmpstr(login->instance_url, ==, server_urls[i][1]);
	}
}

static void
test_soap_error(gconstpointer data)
{
	const SoapErrorCase *test = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(ApplinkSalesforceLogin) login = NULL;

	login = applink_salesforce_parse_soap_reply(
		test->status, test->body, strlen(test->body), test->token_given, &error);
	g_assert_null(login);
	assert_applink_error(error, test->code, test->text);
	assert_not_contains(error->message, "fakesession");
}

static gchar *
fault_body_new(const FaultStyle *style, const gchar *code)
{
	g_autoptr(GString) body = g_string_new(NULL);

	g_string_append(body,
			"<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope "
			"xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "
			"xmlns:sf=\"urn:fault.partner.soap.sforce.com\" "
			"xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">"
			"<soapenv:Body><soapenv:Fault>");
	g_string_append_printf(body,
			       "<faultcode>%s%s</faultcode><faultstring>%s: Salesforce text for "
			       "%s</faultstring>",
			       style->fault_code_prefix,
			       code,
			       code,
			       code);
	if (style->detail_prefix != NULL) {
		const gchar *prefix = style->detail_prefix;

		g_string_append_printf(
			body,
			"<detail><%sLoginFault xsi:type=\"sf:LoginFault\">"
			"<%sexceptionCode>%s</%sexceptionCode>"
			"<%sexceptionMessage>Salesforce text for %s</%sexceptionMessage>"
			"</%sLoginFault></detail>",
			prefix,
			prefix,
			code,
			prefix,
			prefix,
			code,
			prefix,
			prefix);
	}
	g_string_append(body, "</soapenv:Fault></soapenv:Body></soapenv:Envelope>");
	return g_string_free(g_steal_pointer(&body), FALSE);
}

static void
test_soap_fault(gconstpointer data)
{
	const FaultTest *test = data;
	g_autofree gchar *body = fault_body_new(test->style, test->fault->code);
	g_autoptr(GError) error = NULL;
	g_autoptr(ApplinkSalesforceLogin) login = NULL;

	login = applink_salesforce_parse_soap_reply(500, body, strlen(body), FALSE, &error);
	g_assert_null(login);
	assert_applink_error(error, test->fault->error, test->fault->text);
	assert_contains(error->message, test->fault->code);
	assert_not_contains(error->message, "sf:");
}

static ApplinkSalesforceLogin *
parse_invalid_login(gboolean token_given, GError **error)
{
	g_autofree gchar *body = fault_body_new(&fault_styles[0], "INVALID_LOGIN");

	return applink_salesforce_parse_soap_reply(500, body, strlen(body), token_given, error);
}

static void
test_soap_invalid_login_token(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(ApplinkSalesforceLogin) login = parse_invalid_login(TRUE, &error);

	g_assert_null(login);
	assert_applink_error(error, APPLINK_ERROR_INVALID_CREDENTIALS, "wrong or stale");
	assert_contains(error->message, "reset email");
	assert_not_contains(error->message, "No security token was given");
}

static void
test_soap_invalid_login_no_token(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(ApplinkSalesforceLogin) login = parse_invalid_login(FALSE, &error);

	g_assert_null(login);
	assert_applink_error(error, APPLINK_ERROR_INVALID_CREDENTIALS, "No security token");
	assert_not_contains(error->message, "wrong or stale");
}

static void
test_soap_security_token_advice(void)
{
	g_autofree gchar *body = fault_body_new(&fault_styles[0], "LOGIN_MUST_USE_SECURITY_TOKEN");
	g_autoptr(GError) error = NULL;
	g_autoptr(ApplinkSalesforceLogin) login = NULL;

	login = applink_salesforce_parse_soap_reply(500, body, strlen(body), FALSE, &error);
	g_assert_null(login);
	assert_applink_error(
		error, APPLINK_ERROR_SECURITY_TOKEN_REQUIRED, "appended to the password");
	assert_contains(error->message, "applinkctl asks for it separately");
	assert_contains(error->message, "Reset My Security Token");
	assert_contains(error->message, "emails");
	assert_contains(error->message, "trusted IP ranges (Setup → Network Access)");
}

static void
test_soap_fault_long_message(void)
{
	g_autoptr(GString) body = g_string_new(SOAP_ENVELOPE_START);
	g_autoptr(GError) error = NULL;
	g_autoptr(ApplinkSalesforceLogin) login = NULL;

	g_string_append(body,
			"<soapenv:Fault><faultcode>sf:SOMETHING_NEW</faultcode><faultstring>");
	for (guint i = 0; i < 10000; i++)
		g_string_append(body, "é");
	g_string_append(body, "</faultstring></soapenv:Fault>" SOAP_ENVELOPE_END);

	login = applink_salesforce_parse_soap_reply(500, body->str, body->len, FALSE, &error);
	g_assert_null(login);
	assert_applink_error(error, APPLINK_ERROR_SALESFORCE, "SOMETHING_NEW (ééé");
	assert_contains(error->message, "é…)");
	g_assert_cmpuint(g_utf8_strlen(error->message, -1), <, 500);
}

static void
test_redirect_location(void)
{
	g_autoptr(GError) error = NULL;

	applink_salesforce_set_redirect_error(&error, 301, "https://acme.my.salesforce.com/x");
	assert_applink_error(error, APPLINK_ERROR_LOGIN_REDIRECTED, "HTTP 301");
	assert_contains(error->message, "to https://acme.my.salesforce.com/x,");
	assert_contains(error->message, "--login-url");
}

static void
test_redirect_location_invalid_utf8(void)
{
	g_autoptr(GError) error = NULL;

	applink_salesforce_set_redirect_error(&error, 302, "https://acme\xff.example/");
	assert_applink_error(error, APPLINK_ERROR_LOGIN_REDIRECTED, "https://acme");
}

static void
test_oauth_error(gconstpointer data)
{
	const OauthErrorCase *test = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(ApplinkSalesforceLogin) login = NULL;

	login = applink_salesforce_parse_oauth_reply(test->status,
						     test->content_type,
						     test->body,
						     strlen(test->body),
						     test->token_given,
						     &error);
	g_assert_null(login);
	assert_applink_error(error, test->code, test->text);
	assert_not_contains(error->message, "00D!x");
}

static void
test_oauth_success(gconstpointer data)
{
	const OauthSuccessCase *test = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(ApplinkSalesforceLogin) login = NULL;

	login = applink_salesforce_parse_oauth_reply(
		200, JSON_TYPE, test->body, strlen(test->body), FALSE, &error);
	g_assert_no_error(error);
	g_assert_nonnull(login);
	g_assert_cmpstr(login->flow, ==, "oauth");
	g_assert_cmpstr(login->instance_url, ==, test->instance_url);
	g_assert_cmpstr(login->organization_id, ==, test->organization_id);
	g_assert_cmpstr(login->user_id, ==, test->user_id);
	g_assert_cmpint(login->sandbox, ==, test->sandbox);
}

static void
test_escape_xml(void)
{
	g_autoptr(GString) buffer = g_string_new("<kept>");

	applink_salesforce_xml_escape_append(buffer, tricky_text);
	g_assert_cmpstr(buffer->str,
			==,
			"<kept>a&amp;b&lt;c&gt;d&quot;e&apos;f+g%h=i;j k Ünïcødé 日本-._~");
}

static void
test_escape_xml_empty(void)
{
	g_autoptr(GString) buffer = g_string_new(NULL);

	applink_salesforce_xml_escape_append(buffer, "");
	g_assert_cmpstr(buffer->str, ==, "");
}

static void
test_escape_form(void)
{
	g_autoptr(GString) buffer = g_string_new("x=");

	applink_salesforce_form_encode_append(buffer, tricky_text);
	g_assert_cmpstr(buffer->str,
			==,
			"x=a%26b%3Cc%3Ed%22e%27f%2Bg%25h%3Di%3Bj%20k%20%C3%9Cn%C3%AFc%C3%B8d%C3%A9"
			"%20%E6%97%A5%E6%9C%AC-._~");
}

static void
test_escape_form_round_trip(void)
{
	g_autoptr(GString) buffer = g_string_new(NULL);
	g_autofree gchar *decoded = NULL;

	applink_salesforce_form_encode_append(buffer, tricky_text);
	decoded = g_uri_unescape_string(buffer->str, NULL);
	g_assert_cmpstr(decoded, ==, tricky_text);
}

static void
test_body_soap(void)
{
	ApplinkSalesforceCredentials credentials = {
		.username = "jo&e<x>@example.com",
		.password = "p\"w'd é",
		.security_token = "T0K&N",
	};
	g_autoptr(GBytes) body = applink_salesforce_soap_body_new(&credentials);
	g_autofree gchar *text = g_strndup(g_bytes_get_data(body, NULL), g_bytes_get_size(body));
	g_autoptr(GMarkupParseContext) context = NULL;
	static const GMarkupParser no_callbacks = {0};
	g_autoptr(GError) error = NULL;

	assert_contains(text, "<urn:username>jo&amp;e&lt;x&gt;@example.com</urn:username>");
	assert_contains(text, "<urn:password>p&quot;w&apos;d éT0K&amp;N</urn:password>");
	assert_contains(text, "xmlns:urn=\"urn:partner.soap.sforce.com\"");
	assert_contains(text, "<urn:login>");

	context = g_markup_parse_context_new(&no_callbacks, 0, NULL, NULL);
	g_assert_true(g_markup_parse_context_parse(context, text, -1, &error));
	g_assert_no_error(error);
	g_assert_true(g_markup_parse_context_end_parse(context, &error));
	g_assert_no_error(error);
}

static void
test_body_soap_no_token(void)
{
	ApplinkSalesforceCredentials credentials = {
		.username = "jdoe@example.com",
		.password = "secret",
	};
	g_autoptr(GBytes) body = applink_salesforce_soap_body_new(&credentials);
	g_autofree gchar *text = g_strndup(g_bytes_get_data(body, NULL), g_bytes_get_size(body));

	assert_contains(text, "<urn:password>secret</urn:password>");
}

static void
test_body_oauth(void)
{
	ApplinkSalesforceCredentials credentials = {
		.username = "jo+e@example.com",
		.password = "p&w=d é",
		.security_token = "T0K%N",
		.consumer_key = "3MVG9 key",
		.consumer_secret = "s;cret",
	};
	g_autoptr(GBytes) body = applink_salesforce_oauth_body_new(&credentials);
	g_autofree gchar *text = g_strndup(g_bytes_get_data(body, NULL), g_bytes_get_size(body));

	g_assert_cmpstr(text,
			==,
			"grant_type=password&client_id=3MVG9%20key&client_secret=s%3Bcret"
			"&username=jo%2Be%40example.com&password=p%26w%3Dd%20%C3%A9T0K%25N");
}

static void
test_body_oauth_no_secret(void)
{
	ApplinkSalesforceCredentials credentials = {
		.username = "jdoe@example.com",
		.password = "secret",
		.consumer_key = "key",
	};
	g_autoptr(GBytes) body = applink_salesforce_oauth_body_new(&credentials);
	g_autofree gchar *text = g_strndup(g_bytes_get_data(body, NULL), g_bytes_get_size(body));

	g_assert_cmpstr(text,
			==,
			"grant_type=password&client_id=key&username=jdoe%40example.com"
			"&password=secret");
}

static const ApplinkSalesforceCredentials plain_credentials = {
	.username = "jdoe@example.com",
	.password = "hunter2",
	.security_token = "TOKEN123",
};

static const ApplinkSalesforceCredentials oauth_credentials = {
	.username = "jdoe@example.com",
	.password = "hunter2",
	.security_token = "TOKEN123",
	.consumer_key = "consumer-key",
	.consumer_secret = "consumer-secret",
};

static void
test_message_soap(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(SoupMessage) msg = NULL;
	g_autofree gchar *url = NULL;
	SoupMessageHeaders *headers;

	msg = applink_salesforce_soap_message_new(
		"https://login.salesforce.com/", NULL, &plain_credentials, &error);
	g_assert_no_error(error);
	g_assert_nonnull(msg);
	url = g_uri_to_string(soup_message_get_uri(msg));
	g_assert_cmpstr(url, ==, "https://login.salesforce.com/services/Soap/u/64.0");
	g_assert_cmpstr(soup_message_get_method(msg), ==, "POST");
	headers = soup_message_get_request_headers(msg);
	g_assert_cmpstr(soup_message_headers_get_one(headers, "Content-Type"),
			==,
			"text/xml; charset=UTF-8");
	g_assert_cmpstr(soup_message_headers_get_one(headers, "SOAPAction"), ==, "login");
	g_assert_true(soup_message_get_flags(msg) & SOUP_MESSAGE_NO_REDIRECT);
}

static void
test_message_soap_version(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(SoupMessage) msg = NULL;
	g_autofree gchar *url = NULL;

	msg = applink_salesforce_soap_message_new(
		"http://127.0.0.1:8443", "58.0", &plain_credentials, &error);
	g_assert_no_error(error);
	g_assert_nonnull(msg);
	url = g_uri_to_string(soup_message_get_uri(msg));
	g_assert_cmpstr(url, ==, "http://127.0.0.1:8443/services/Soap/u/58.0");
}

static void
test_message_soap_bad_version(void)
{
	static const gchar *const versions[] = {"v64.0", "64", "64.0/../../x", "64.0?x", ""};

	for (gsize i = 0; i < G_N_ELEMENTS(versions); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(SoupMessage) msg = NULL;

		g_test_message("API version “%s”", versions[i]);
		msg = applink_salesforce_soap_message_new(
			"https://login.salesforce.com", versions[i], &plain_credentials, &error);
		g_assert_null(msg);
		assert_applink_error(error, APPLINK_ERROR_INVALID_ARGUMENT, "--api-version");
	}
}

static void
test_message_oauth(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(SoupMessage) msg = NULL;
	g_autofree gchar *url = NULL;
	SoupMessageHeaders *headers;

	msg = applink_salesforce_oauth_message_new(
		"https://acme.my.salesforce.com", &oauth_credentials, &error);
	g_assert_no_error(error);
	g_assert_nonnull(msg);
	url = g_uri_to_string(soup_message_get_uri(msg));
	g_assert_cmpstr(url, ==, "https://acme.my.salesforce.com/services/oauth2/token");
	g_assert_cmpstr(soup_message_get_method(msg), ==, "POST");
	headers = soup_message_get_request_headers(msg);
	g_assert_cmpstr(soup_message_headers_get_one(headers, "Content-Type"),
			==,
			"application/x-www-form-urlencoded");
	g_assert_cmpstr(soup_message_headers_get_one(headers, "Accept"), ==, "application/json");
	g_assert_true(soup_message_get_flags(msg) & SOUP_MESSAGE_NO_REDIRECT);
}

static void
test_message_login_url(void)
{
	static const gchar *const urls[] = {
		"",
		"login.salesforce.com",
		"ftp://login.salesforce.com",
		"https://login.salesforce.com/services",
		"https://login.salesforce.com?next=x",
		"https://login.salesforce.com#top",
		"https://jdoe:hunter2@login.salesforce.com",
		"https://jdoe:hunter2@",
		"https://jdoe:hunter2@login.salesforce.com:port",
		NULL,
	};

	for (gsize i = 0; i < G_N_ELEMENTS(urls); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(SoupMessage) msg = NULL;

		g_test_message("login URL “%s”", urls[i] != NULL ? urls[i] : "(null)");
		msg = applink_salesforce_soap_message_new(
			urls[i], NULL, &plain_credentials, &error);
		g_assert_null(msg);
		assert_applink_error(
			error, APPLINK_ERROR_INVALID_URL, "https://login.salesforce.com");
		assert_not_contains(error->message, "hunter2");
	}
}

static void
test_message_credentials(void)
{
	static const ApplinkSalesforceCredentials cases[] = {
		{.username = "", .password = "hunter2"},
		{.username = NULL, .password = "hunter2"},
		{.username = "jdoe@example.com", .password = ""},
		{.username = "jdoe@example.com", .password = "hunter2\xff"},
		{.username = "jdoe@example.com", .password = "hunter2", .security_token = "T\xfe"},
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(SoupMessage) msg = NULL;

		msg = applink_salesforce_soap_message_new(
			"https://login.salesforce.com", NULL, &cases[i], &error);
		g_assert_null(msg);
		assert_applink_error(error, APPLINK_ERROR_INVALID_ARGUMENT, "Salesforce");
		assert_not_contains(error->message, "hunter2");
	}
}

static void
test_message_oauth_no_key(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(SoupMessage) msg = NULL;

	msg = applink_salesforce_oauth_message_new(
		"https://login.salesforce.com", &plain_credentials, &error);
	g_assert_null(msg);
	assert_applink_error(error, APPLINK_ERROR_INVALID_ARGUMENT, "consumer key");
}

/* A loopback double of the Salesforce login endpoints, with one canned reply. */
typedef struct {
	SoupServer *server;
	gchar *base_url;
	guint requests;
	guint reply_status;
	const gchar *reply_content_type;
	gchar *reply_body;
	const gchar *reply_location;
	gchar *method;
	gchar *path;
	gchar *content_type;
	gchar *soap_action;
	gchar *body;
} LoginDouble;

static void
login_fixturecb(SoupServer *server G_GNUC_UNUSED,
		SoupServerMessage *msg,
		const char *path,
		GHashTable *query G_GNUC_UNUSED,
		gpointer user_data)
{
	LoginDouble *fixture = user_data;
	SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
	SoupMessageBody *body = soup_server_message_get_request_body(msg);

	fixture->requests++;
	g_free(fixture->method);
	fixture->method = g_strdup(soup_server_message_get_method(msg));
	g_free(fixture->path);
	fixture->path = g_strdup(path);
	g_free(fixture->content_type);
	fixture->content_type = g_strdup(soup_message_headers_get_one(headers, "Content-Type"));
	g_free(fixture->soap_action);
	fixture->soap_action = g_strdup(soup_message_headers_get_one(headers, "SOAPAction"));
	g_free(fixture->body);
	fixture->body = g_strndup(body->data, (gsize)body->length);

	soup_server_message_set_status(msg, fixture->reply_status, NULL);
	if (fixture->reply_location != NULL)
		soup_message_headers_replace(soup_server_message_get_response_headers(msg),
					     "Location",
					     fixture->reply_location);
	soup_server_message_set_response(msg,
					 fixture->reply_content_type,
					 SOUP_MEMORY_COPY,
					 fixture->reply_body,
					 strlen(fixture->reply_body));
}

static void
login_fixturesetup(LoginDouble *fixture, gconstpointer data G_GNUC_UNUSED)
{
	g_autoptr(GError) error = NULL;
	GSList *uris;

	fixture->server = soup_server_new(NULL, NULL);
	soup_server_add_handler(fixture->server, NULL, login_fixturecb, fixture, NULL);
	g_assert_true(
		soup_server_listen_local(fixture->server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error));
	g_assert_no_error(error);
	uris = soup_server_get_uris(fixture->server);
	fixture->base_url = g_strdup_printf("http://127.0.0.1:%d", g_uri_get_port(uris->data));
	g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);
	fixture->reply_status = 200;
	fixture->reply_content_type = "text/xml;charset=UTF-8";
	fixture->reply_body = g_strdup("");
}

static void
login_fixtureteardown(LoginDouble *fixture, gconstpointer data G_GNUC_UNUSED)
{
	soup_server_disconnect(fixture->server);
	g_object_unref(fixture->server);
	g_free(fixture->base_url);
	g_free(fixture->reply_body);
	g_free(fixture->method);
	g_free(fixture->path);
	g_free(fixture->content_type);
	g_free(fixture->soap_action);
	g_free(fixture->body);
}

/* One applink_salesforce_login() call, made on a worker thread as the daemon does. */
typedef struct {
	ApplinkHttp *http;
	const gchar *login_url;
	const ApplinkSalesforceCredentials *credentials;
	ApplinkSalesforceLogin *login;
	GError *error;
	GMainLoop *loop;
} LoginCall;

static gboolean
quit_loop_cb(gpointer user_data)
{
	g_main_loop_quit(user_data);
	return G_SOURCE_REMOVE;
}

static gpointer
login_thread_cb(gpointer user_data)
{
	LoginCall *call = user_data;

	call->login = applink_salesforce_login(
		call->http, call->login_url, NULL, call->credentials, NULL, &call->error);
	g_idle_add(quit_loop_cb, call->loop);
	return NULL;
}

static ApplinkSalesforceLogin *
login_on_thread(const gchar *login_url,
		const ApplinkSalesforceCredentials *credentials,
		GError **error)
{
	g_autoptr(GError) http_error = NULL;
	g_autoptr(ApplinkHttp) http = applink_http_new(10, FALSE, NULL, &http_error);
	g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
	LoginCall call = {.http = http, .login_url = login_url, .credentials = credentials};
	GThread *thread;

	g_assert_no_error(http_error);
	call.loop = loop;
	thread = g_thread_new("login", login_thread_cb, &call);
	g_main_loop_run(loop);
	g_thread_join(thread);
	if (call.error != NULL)
		g_propagate_error(error, call.error);
	return call.login;
}

static void
test_login_soap(LoginDouble *fixture, gconstpointer data G_GNUC_UNUSED)
{
	ApplinkSalesforceCredentials credentials = {
		.username = "jo&e@example.com",
		.password = "p<w>d",
		.security_token = "T'K",
	};
	g_autofree gchar *server_url = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(ApplinkSalesforceLogin) login = NULL;

	server_url = g_strdup_printf("%s/services/Soap/u/64.0/00D000000000001", fixture->base_url);
	g_free(fixture->reply_body);
	fixture->reply_body = g_strdup_printf(SOAP_SUCCESS_FORMAT, server_url);

	login = login_on_thread(fixture->base_url, &credentials, &error);
	g_assert_no_error(error);
	g_assert_nonnull(login);
	g_assert_cmpuint(fixture->requests, ==, 1);
	g_assert_cmpstr(fixture->method, ==, "POST");
	g_assert_cmpstr(fixture->path, ==, "/services/Soap/u/64.0");
	g_assert_cmpstr(fixture->content_type, ==, "text/xml; charset=UTF-8");
	g_assert_cmpstr(fixture->soap_action, ==, "login");
	assert_contains(fixture->body, "<urn:username>jo&amp;e@example.com</urn:username>");
	assert_contains(fixture->body, "<urn:password>p&lt;w&gt;dT&apos;K</urn:password>");
	g_assert_cmpstr(login->flow, ==, "soap");
	g_assert_cmpstr(login->instance_url, ==, fixture->base_url);
	g_assert_cmpstr(login->user_id, ==, "005000000000001AAA");
	g_assert_cmpstr(login->organization_id, ==, "00D000000000001EAA");
}

static void
test_login_oauth(LoginDouble *fixture, gconstpointer data G_GNUC_UNUSED)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(ApplinkSalesforceLogin) login = NULL;

	fixture->reply_content_type = JSON_TYPE;
	g_free(fixture->reply_body);
	fixture->reply_body =
		g_strdup_printf("{\"access_token\":\"00D!AQfake\",\"instance_url\":\"%s\","
				"\"id\":\"%s/id/00D000000000001EAA/005000000000001AAA\"}",
				fixture->base_url,
				fixture->base_url);

	login = login_on_thread(fixture->base_url, &oauth_credentials, &error);
	g_assert_no_error(error);
	g_assert_nonnull(login);
	g_assert_cmpstr(fixture->method, ==, "POST");
	g_assert_cmpstr(fixture->path, ==, "/services/oauth2/token");
	g_assert_cmpstr(fixture->content_type, ==, "application/x-www-form-urlencoded");
	g_assert_cmpstr(fixture->body,
			==,
			"grant_type=password&client_id=consumer-key&client_secret=consumer-secret"
			"&username=jdoe%40example.com&password=hunter2TOKEN123");
	g_assert_cmpstr(login->flow, ==, "oauth");
	g_assert_cmpstr(login->instance_url, ==, fixture->base_url);
	g_assert_cmpstr(login->organization_id, ==, "00D000000000001EAA");
	g_assert_cmpstr(login->user_id, ==, "005000000000001AAA");
}

static void
test_login_redirect(LoginDouble *fixture, gconstpointer data G_GNUC_UNUSED)
{
	g_autofree gchar *target = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(ApplinkSalesforceLogin) login = NULL;

	fixture->reply_status = 302;
	fixture->reply_location = "/lightning/login";
	fixture->reply_content_type = "text/html";

	login = login_on_thread(fixture->base_url, &plain_credentials, &error);
	g_assert_null(login);
	assert_applink_error(error, APPLINK_ERROR_LOGIN_REDIRECTED, "HTTP 302");
	target = g_strdup_printf("%s/lightning/login", fixture->base_url);
	assert_contains(error->message, target);
	assert_contains(error->message, fixture->base_url);
	assert_contains(error->message, "https://NAME.my.salesforce.com");
	g_assert_cmpuint(fixture->requests, ==, 1);
}

static void
test_login_fault(LoginDouble *fixture, gconstpointer data G_GNUC_UNUSED)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(ApplinkSalesforceLogin) login = NULL;

	fixture->reply_status = 500;
	g_free(fixture->reply_body);
	fixture->reply_body = fault_body_new(&fault_styles[0], "INVALID_LOGIN");

	login = login_on_thread(fixture->base_url, &plain_credentials, &error);
	g_assert_null(login);
	assert_applink_error(error, APPLINK_ERROR_INVALID_CREDENTIALS, "INVALID_LOGIN");
	assert_contains(error->message, "“jdoe@example.com”");
	assert_contains(error->message, fixture->base_url);
	assert_contains(error->message, "wrong or stale");
	assert_not_contains(error->message, "hunter2");
	assert_not_contains(error->message, "TOKEN123");
}

static void
test_login_oauth_fault(LoginDouble *fixture, gconstpointer data G_GNUC_UNUSED)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(ApplinkSalesforceLogin) login = NULL;

	fixture->reply_status = 400;
	fixture->reply_content_type = JSON_TYPE;
	g_free(fixture->reply_body);
	fixture->reply_body = g_strdup(OAUTH_ERROR("invalid_client", "invalid client credentials"));

	login = login_on_thread(fixture->base_url, &oauth_credentials, &error);
	g_assert_null(login);
	assert_applink_error(error, APPLINK_ERROR_INVALID_CLIENT, "consumer secret");
	assert_contains(error->message, "“jdoe@example.com”");
	assert_not_contains(error->message, "hunter2");
	assert_not_contains(error->message, "TOKEN123");
	assert_not_contains(error->message, "consumer-secret");
}

/* Returns a loopback URL on which nothing listens, by binding a port and closing it again. */
static gchar *
closed_port_url_new(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GSocket) listener = NULL;
	g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) address = g_inet_socket_address_new(loopback, 0);
	g_autoptr(GSocketAddress) bound = NULL;
	guint16 port;

	listener = g_socket_new(
		G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
	g_assert_no_error(error);
	g_assert_true(g_socket_bind(listener, address, FALSE, &error));
	g_assert_no_error(error);
	bound = g_socket_get_local_address(listener, &error);
	g_assert_no_error(error);
	port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
	g_socket_close(listener, NULL);
	return g_strdup_printf("http://127.0.0.1:%u", port);
}

static void
test_login_unreachable(void)
{
	g_autofree gchar *url = closed_port_url_new();
	g_autoptr(GError) error = NULL;
	g_autoptr(ApplinkSalesforceLogin) login = NULL;

	login = login_on_thread(url, &plain_credentials, &error);
	g_assert_null(login);
	assert_applink_error(error, APPLINK_ERROR_UNREACHABLE, NULL);
	assert_not_contains(error->message, "Salesforce login of");
}

static void
add_soap_tests(void)
{
	g_test_add_func("/salesforce/soap/success", test_soap_success);
	g_test_add_func("/salesforce/soap/success-enterprise", test_soap_success_enterprise);
	g_test_add_func("/salesforce/soap/success-port", test_soap_success_port);
	g_test_add_func("/salesforce/soap/invalid-login-token", test_soap_invalid_login_token);
	g_test_add_func("/salesforce/soap/invalid-login-no-token",
			test_soap_invalid_login_no_token);
	g_test_add_func("/salesforce/soap/security-token-advice", test_soap_security_token_advice);
	g_test_add_func("/salesforce/soap/fault-long-message", test_soap_fault_long_message);
	g_test_add_func("/salesforce/redirect/location", test_redirect_location);
	g_test_add_func("/salesforce/redirect/location-invalid-utf8",
			test_redirect_location_invalid_utf8);

	for (gsize i = 0; i < G_N_ELEMENTS(soap_error_cases); i++) {
		g_autofree gchar *path =
			g_strdup_printf("/salesforce/soap/%s", soap_error_cases[i].name);

		g_test_add_data_func(path, &soap_error_cases[i], test_soap_error);
	}

	for (gsize i = 0; i < G_N_ELEMENTS(fault_styles); i++) {
		for (gsize j = 0; j < G_N_ELEMENTS(fault_cases); j++) {
			FaultTest *test = g_new0(FaultTest, 1);
			g_autofree gchar *path = NULL;

			test->style = &fault_styles[i];
			test->fault = &fault_cases[j];
			path = g_strdup_printf("/salesforce/soap/%s/%s",
					       fault_styles[i].name,
					       fault_cases[j].code);
			g_test_add_data_func_full(path, test, test_soap_fault, g_free);
		}
	}
}

static void
add_oauth_tests(void)
{
	for (gsize i = 0; i < G_N_ELEMENTS(oauth_error_cases); i++) {
		g_autofree gchar *path =
			g_strdup_printf("/salesforce/oauth/%s", oauth_error_cases[i].name);

		g_test_add_data_func(path, &oauth_error_cases[i], test_oauth_error);
	}
	for (gsize i = 0; i < G_N_ELEMENTS(oauth_success_cases); i++) {
		g_autofree gchar *path =
			g_strdup_printf("/salesforce/oauth/%s", oauth_success_cases[i].name);

		g_test_add_data_func(path, &oauth_success_cases[i], test_oauth_success);
	}
}

static void
add_request_tests(void)
{
	g_test_add_func("/salesforce/escape/xml", test_escape_xml);
	g_test_add_func("/salesforce/escape/xml-empty", test_escape_xml_empty);
	g_test_add_func("/salesforce/escape/form", test_escape_form);
	g_test_add_func("/salesforce/escape/form-round-trip", test_escape_form_round_trip);
	g_test_add_func("/salesforce/body/soap", test_body_soap);
	g_test_add_func("/salesforce/body/soap-no-token", test_body_soap_no_token);
	g_test_add_func("/salesforce/body/oauth", test_body_oauth);
	g_test_add_func("/salesforce/body/oauth-no-secret", test_body_oauth_no_secret);
	g_test_add_func("/salesforce/message/soap", test_message_soap);
	g_test_add_func("/salesforce/message/soap-version", test_message_soap_version);
	g_test_add_func("/salesforce/message/soap-bad-version", test_message_soap_bad_version);
	g_test_add_func("/salesforce/message/oauth", test_message_oauth);
	g_test_add_func("/salesforce/message/oauth-no-key", test_message_oauth_no_key);
	g_test_add_func("/salesforce/message/login-url", test_message_login_url);
	g_test_add_func("/salesforce/message/credentials", test_message_credentials);
}

static void
add_login_tests(void)
{
	g_test_add("/salesforce/login/soap",
		   LoginDouble,
		   NULL,
		   login_fixturesetup,
		   test_login_soap,
		   login_fixtureteardown);
	g_test_add("/salesforce/login/oauth",
		   LoginDouble,
		   NULL,
		   login_fixturesetup,
		   test_login_oauth,
		   login_fixtureteardown);
	g_test_add("/salesforce/login/redirect",
		   LoginDouble,
		   NULL,
		   login_fixturesetup,
		   test_login_redirect,
		   login_fixtureteardown);
	g_test_add("/salesforce/login/fault",
		   LoginDouble,
		   NULL,
		   login_fixturesetup,
		   test_login_fault,
		   login_fixtureteardown);
	g_test_add("/salesforce/login/oauth-fault",
		   LoginDouble,
		   NULL,
		   login_fixturesetup,
		   test_login_oauth_fault,
		   login_fixtureteardown);
	g_test_add_func("/salesforce/login/unreachable", test_login_unreachable);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	add_soap_tests();
	add_oauth_tests();
	add_request_tests();
	add_login_tests();
	return g_test_run();
}

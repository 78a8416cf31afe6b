/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzzes applink_json_check(), the syntax check that every reply passes before json-glib reads
 * it. The input is the reply body, passed without a terminating NUL byte. An input that the
 * check accepts must be parsed by json-glib without an error, since the callers rely on that.
 * An input that it rejects never reaches json-glib, as in the service.
 */
#include <json-glib/json-glib.h>

#include "applink-json.h"
#include "fuzz-target.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonParser) parser = NULL;

	if (!applink_json_check((const gchar *)data, size, &error)) {
		if (error == NULL || error->domain != JSON_PARSER_ERROR)
			g_error("applink_json_check() rejected the input without a "
				"JSON_PARSER_ERROR");
		fuzz_check_required_text("the error message", error->message);
		return 0;
	}
	if (error != NULL)
		g_error("applink_json_check() accepted the input but set an error");

	parser = json_parser_new_immutable();
	if (!json_parser_load_from_data(parser, (const gchar *)data, (gssize)size, &error))
		g_error("json-glib rejects an input that applink_json_check() accepted: %s",
			error->message);
	if (json_parser_get_root(parser) == NULL)
		g_error("json-glib found no value in an input that applink_json_check() accepted");
	return 0;
}

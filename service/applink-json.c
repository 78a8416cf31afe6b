/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "applink-json.h"

/* Returns FALSE when arrays and objects in @data nest deeper than APPLINK_JSON_MAX_DEPTH.
 * Brackets inside strings are skipped; the rest of the syntax is left to the parser. */
gboolean
applink_json_depth_is_acceptable(const gchar *data, gsize length)
{
	guint depth = 0;
	gboolean in_string = FALSE;

	for (gsize i = 0; i < length; i++) {
		gchar c = data[i];

		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = FALSE;
			continue;
		}
		if (c == '"') {
			in_string = TRUE;
		} else if (c == '[' || c == '{') {
			if (++depth > APPLINK_JSON_MAX_DEPTH)
				return FALSE;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return TRUE;
}

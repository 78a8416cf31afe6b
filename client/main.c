/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <locale.h>

#include "applink-cli.h"
#include "applink-error.h"

int
main(int argc, char **argv)
{
	setlocale(LC_ALL, "");
	g_set_prgname("applinkctl");
	/* Registers the org.applink.Error names, so that errors from applinkd arrive in the
	 * APPLINK_ERROR domain. */
	(void)APPLINK_ERROR;
	return applink_cli_run(argc, argv);
}

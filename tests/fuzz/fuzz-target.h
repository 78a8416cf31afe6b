/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

G_BEGIN_DECLS

/*
 * The entry points that libFuzzer calls, also called by fuzz-replay.c. Each fuzzer defines
 * LLVMFuzzerTestOneInput(); fuzz-common.c defines LLVMFuzzerInitialize(). Both return 0.
 */
int
LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Returns a NUL-terminated copy of @data, which ends at its first NUL byte if it has one. */
gchar *
fuzz_text_new(const uint8_t *data, size_t size);

/*
 * The checks below abort with g_error() when a parser breaks its contract, so that libFuzzer
 * records the input as a crash. Each @what names the value in the abort message.
 */

/* Checks that @text is NULL or valid UTF-8, as every string sent over D-Bus must be. */
void
fuzz_check_text(const gchar *what, const gchar *text);

/* Checks that @text is set and valid UTF-8. */
void
fuzz_check_required_text(const gchar *what, const gchar *text);

/* Checks that a parser that returned no result set an APPLINK_ERROR with a UTF-8 message. */
void
fuzz_check_error(const gchar *what, const GError *error);

G_END_DECLS

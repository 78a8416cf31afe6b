/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Runs a fuzzer's LLVMFuzzerTestOneInput() once on each input file, so that the corpus is a
 * regression test in any build, without libFuzzer. Each argument is a file or a folder, whose
 * files are run in name order. Hidden files and subfolders are skipped.
 */
#include <stdlib.h>

#include "fuzz-target.h"

static gboolean
replay_file(const gchar *path, GError **error)
{
	g_autofree gchar *contents = NULL;
	g_autofree gchar *input = NULL;
	gsize length = 0;

	if (!g_file_get_contents(path, &contents, &length, error))
		return FALSE;

	/* An exact-size copy, so that a sanitizer detects a read past the end of the input. */
	input = g_memdup2(contents, length);
	g_print("%s (%" G_GSIZE_FORMAT " bytes)\n", path, length);
	LLVMFuzzerTestOneInput((const uint8_t *)input, length);
	return TRUE;
}

static gint
compare_names(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

/* Returns the paths of the files in @folder in name order. */
static GPtrArray *
list_folder(const gchar *folder, GError **error)
{
	g_autoptr(GDir) dir = g_dir_open(folder, 0, error);
	g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);
	const gchar *name;

	if (dir == NULL)
		return NULL;
	while ((name = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *path = g_build_filename(folder, name, NULL);

		if (name[0] == '.' || !g_file_test(path, G_FILE_TEST_IS_REGULAR))
			continue;
		g_ptr_array_add(paths, g_steal_pointer(&path));
	}
	g_ptr_array_sort(paths, compare_names);
	return g_steal_pointer(&paths);
}

/* Replays @path, a file or a folder, and adds the number of inputs run to @count. */
static gboolean
replay_path(const gchar *path, guint *count, GError **error)
{
	g_autoptr(GPtrArray) paths = NULL;

	if (!g_file_test(path, G_FILE_TEST_IS_DIR)) {
		if (!replay_file(path, error))
			return FALSE;
		(*count)++;
		return TRUE;
	}

	paths = list_folder(path, error);
	if (paths == NULL)
		return FALSE;
	for (guint i = 0; i < paths->len; i++) {
		if (!replay_file(g_ptr_array_index(paths, i), error))
			return FALSE;
		(*count)++;
	}
	return TRUE;
}

int
main(int argc, char **argv)
{
	guint count = 0;

	LLVMFuzzerInitialize(&argc, &argv);
	if (argc < 2) {
		g_printerr("Usage: %s FILE-OR-FOLDER...\n", argv[0]);
		return EXIT_FAILURE;
	}

	for (int i = 1; i < argc; i++) {
		g_autoptr(GError) error = NULL;

		if (!replay_path(argv[i], &count, &error)) {
			g_printerr("%s: %s\n", argv[0], error->message);
			return EXIT_FAILURE;
		}
	}

	/* A replay of no input would pass without testing anything, so it fails. */
	if (count == 0) {
		g_printerr("%s: no input file found in the given paths\n", argv[0]);
		return EXIT_FAILURE;
	}
	g_print("Ran %u inputs\n", count);
	return EXIT_SUCCESS;
}

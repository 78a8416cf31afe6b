/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "applink-console.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "applink-cli.h"

/* Maximum length of a secret, in bytes. Personal access tokens, passwords and security
 * tokens are far shorter. */
#define SECRET_MAX_LENGTH 4096
/* Room for the secret, a "\r" that a "\r\n" line end leaves, and the NUL byte. */
#define SECRET_BUFFER_SIZE (SECRET_MAX_LENGTH + 2)

/* A read buffer of SECRET_BUFFER_SIZE bytes, wiped whole before it is freed because a NUL
 * byte read from the input would hide the bytes after it from strlen(). */
typedef gchar SecretBuffer;

static void
secret_buffer_free(SecretBuffer *buffer)
{
	explicit_bzero(buffer, SECRET_BUFFER_SIZE);
	g_free(buffer);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(SecretBuffer, secret_buffer_free)

/* Signals that end the program during a prompt. Their handler restores the echo first. */
static const int prompt_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

/* The terminal a prompt switched the echo off on, for prompt_signal_cb(). */
static volatile sig_atomic_t prompt_fd = -1;
static struct termios prompt_saved_attributes;

/* The echo state of a terminal during a prompt, and the signal actions it replaced. */
typedef struct {
	int fd;
	struct termios saved;
	struct sigaction previous[G_N_ELEMENTS(prompt_signals)];
} TerminalEcho;

/* Returns whether @c is a control character, C0 or C1, or one of the Unicode controls of text
 * direction, which can make text display in another order. applinkd rejects the same set. */
static gboolean
is_control_character(gunichar c)
{
	return g_unichar_iscntrl(c) || (c >= 0x202a && c <= 0x202e) ||
	       (c >= 0x2066 && c <= 0x2069) || c == 0x200e || c == 0x200f || c == 0x061c;
}

/* Returns why @text, of @length bytes, cannot be sent as a value: "contains a NUL byte",
 * "is not valid UTF-8" or "contains a control character". Returns NULL when it can. */
const gchar *
applink_console_find_text_problem(const gchar *text, gsize length)
{
	const gchar *end = text + length;

	if (memchr(text, '\0', length) != NULL)
		return "contains a NUL byte";
	if (!g_utf8_validate(text, (gssize)length, NULL))
		return "is not valid UTF-8";
	for (const gchar *p = text; p < end; p = g_utf8_next_char(p)) {
		if (is_control_character(g_utf8_get_char(p)))
			return "contains a control character";
	}
	return NULL;
}

static void
write_text(int fd, const gchar *text)
{
	gsize length = strlen(text);
	ssize_t written;

	while (length > 0) {
		written = write(fd, text, length);
		if (written < 0 && errno == EINTR)
			continue;
		if (written <= 0)
			return;
		text += written;
		length -= (gsize)written;
	}
}

static void
prompt_signal_cb(int signum)
{
	int fd = prompt_fd;
	ssize_t ignored;

	if (fd >= 0) {
		tcsetattr(fd, TCSAFLUSH, &prompt_saved_attributes);
		ignored = write(fd, "\n", 1);
		(void)ignored;
	}
	/* SA_RESETHAND restored the default action, which ends the program with this signal. */
	raise(signum);
}

static void
install_prompt_signal_handlers(TerminalEcho *echo)
{
	struct sigaction action = {0};

	action.sa_handler = prompt_signal_cb;
	action.sa_flags = SA_RESETHAND;
	sigemptyset(&action.sa_mask);
	for (gsize i = 0; i < G_N_ELEMENTS(prompt_signals); i++)
		sigaction(prompt_signals[i], &action, &echo->previous[i]);
}

static void
restore_prompt_signal_handlers(TerminalEcho *echo)
{
	for (gsize i = 0; i < G_N_ELEMENTS(prompt_signals); i++)
		sigaction(prompt_signals[i], &echo->previous[i], NULL);
}

static gboolean
terminal_echo_off(TerminalEcho *echo, int fd, GError **error)
{
	struct termios quiet;

	echo->fd = fd;
	if (tcgetattr(fd, &echo->saved) != 0) {
		g_set_error(error,
			    G_IO_ERROR,
			    g_io_error_from_errno(errno),
			    "cannot read the terminal settings: %s",
			    g_strerror(errno));
		return FALSE;
	}
	quiet = echo->saved;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);

	prompt_saved_attributes = echo->saved;
	prompt_fd = fd;
	install_prompt_signal_handlers(echo);
	if (tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
		g_set_error(error,
			    G_IO_ERROR,
			    g_io_error_from_errno(errno),
			    "cannot switch the terminal echo off: %s",
			    g_strerror(errno));
		prompt_fd = -1;
		restore_prompt_signal_handlers(echo);
		return FALSE;
	}
	return TRUE;
}

static void
terminal_echo_restore(TerminalEcho *echo)
{
	tcsetattr(echo->fd, TCSAFLUSH, &echo->saved);
	prompt_fd = -1;
	restore_prompt_signal_handlers(echo);
}

/* Reads bytes up to a newline or the end of input into @buffer, without the newline and
 * without one "\r" before it. Reads one byte at a time so that the next secret's line stays
 * unread. Sets @end_of_input when the input ended before the first byte. */
static gboolean
read_secret_line(int fd,
		 SecretBuffer *buffer,
		 gsize *length,
		 gboolean *end_of_input,
		 const gchar *label,
		 GError **error)
{
	gsize n = 0;
	ssize_t count;
	gchar c = '\0';

	for (;;) {
		count = read(fd, &c, 1);
		if (count < 0 && errno == EINTR)
			continue;
		if (count < 0) {
			g_set_error(error,
				    G_IO_ERROR,
				    g_io_error_from_errno(errno),
				    "failed to read the %s: %s",
				    label,
				    g_strerror(errno));
			return FALSE;
		}
		if (count == 0 || c == '\n')
			break;
		if (n == SECRET_MAX_LENGTH + 1)
			return applink_cli_usage_error(
				error, "the %s is longer than %d bytes", label, SECRET_MAX_LENGTH);
		buffer[n++] = c;
	}
	*end_of_input = count == 0 && n == 0;
	if (n > 0 && buffer[n - 1] == '\r')
		n--;
	if (n > SECRET_MAX_LENGTH)
		return applink_cli_usage_error(
			error, "the %s is longer than %d bytes", label, SECRET_MAX_LENGTH);
	buffer[n] = '\0';
	*length = n;
	return TRUE;
}

/* Prompts on the terminal with the echo off. The echo comes back on every return, and
 * prompt_signal_cb() turns it back on when a signal ends the program. */
static gboolean
prompt_secret_line(const gchar *prompt,
		   SecretBuffer *buffer,
		   gsize *length,
		   gboolean *end_of_input,
		   const gchar *label,
		   GError **error)
{
	int tty_fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	int fd = tty_fd >= 0 ? tty_fd : STDIN_FILENO;
	int prompt_out = tty_fd >= 0 ? tty_fd : STDERR_FILENO;
	TerminalEcho echo;
	gboolean ok = FALSE;

	write_text(prompt_out, prompt);
	if (terminal_echo_off(&echo, fd, error)) {
		ok = read_secret_line(fd, buffer, length, end_of_input, label, error);
		terminal_echo_restore(&echo);
		write_text(prompt_out, "\n");
	}
	if (tty_fd >= 0)
		close(tty_fd);
	return ok;
}

static gboolean
check_secret(const SecretBuffer *buffer,
	     gsize length,
	     gboolean end_of_input,
	     const gchar *label,
	     ApplinkConsoleSecretFlags flags,
	     GError **error)
{
	const gchar *problem;

	if (end_of_input && (flags & APPLINK_CONSOLE_SECRET_FROM_STDIN))
		return applink_cli_usage_error(
			error,
			"standard input ended before the %s (--stdin reads one secret per line)",
			label);
	if (end_of_input)
		return applink_cli_usage_error(error, "no %s entered", label);
	if (length == 0 && !(flags & APPLINK_CONSOLE_SECRET_ALLOW_EMPTY))
		return applink_cli_usage_error(error, "the %s is empty", label);
	problem = applink_console_find_text_problem(buffer, length);
	if (problem != NULL)
		return applink_cli_usage_error(error, "the %s %s", label, problem);
	return TRUE;
}

/**
 * applink_console_read_secret:
 * @label: what the secret is, for error messages, e.g. "Salesforce password"
 * @prompt: the prompt shown on the terminal
 *
 * Reads one secret, never echoed: with %APPLINK_CONSOLE_SECRET_FROM_STDIN one line of a
 * standard input that is not a terminal, else a line typed at the terminal after @prompt.
 * When standard input is not a terminal and the flag is not set, fails with a usage error
 * that names --stdin.
 */
ApplinkConsoleSecret *
applink_console_read_secret(const gchar *label,
			    const gchar *prompt,
			    ApplinkConsoleSecretFlags flags,
			    GError **error)
{
	g_autoptr(SecretBuffer) buffer = g_malloc0(SECRET_BUFFER_SIZE);
	gboolean on_terminal = isatty(STDIN_FILENO);
	gboolean end_of_input = FALSE;
	gsize length = 0;
	gboolean ok;

	if (!on_terminal && !(flags & APPLINK_CONSOLE_SECRET_FROM_STDIN)) {
		applink_cli_usage_error(
			error,
			"standard input is not a terminal: pass --stdin to read the %s from it",
			label);
		return NULL;
	}
	if (on_terminal)
		ok = prompt_secret_line(prompt, buffer, &length, &end_of_input, label, error);
	else
		ok = read_secret_line(STDIN_FILENO, buffer, &length, &end_of_input, label, error);
	if (!ok || !check_secret(buffer, length, end_of_input, label, flags, error))
		return NULL;
	return g_strndup(buffer, length);
}

void
applink_console_secret_free(ApplinkConsoleSecret *secret)
{
	if (secret == NULL)
		return;
	explicit_bzero(secret, strlen(secret));
	g_free(secret);
}

/* Wraps @secret, whose ownership passes to the returned floating GVariant, without a copy:
 * the GVariant wipes and frees it when it is finalised. */
GVariant *
applink_console_secret_to_variant(ApplinkConsoleSecret *secret)
{
	return g_variant_new_from_data(G_VARIANT_TYPE_STRING,
				       secret,
				       strlen(secret) + 1,
				       TRUE,
				       (GDestroyNotify)applink_console_secret_free,
				       secret);
}

static void
append_json_string(GString *json, const gchar *text)
{
	g_string_append_c(json, '"');
	for (const guchar *p = (const guchar *)text; *p != '\0'; p++) {
		switch (*p) {
		case '"':
			g_string_append(json, "\\\"");
			break;
		case '\\':
			g_string_append(json, "\\\\");
			break;
		case '\b':
			g_string_append(json, "\\b");
			break;
		case '\f':
			g_string_append(json, "\\f");
			break;
		case '\n':
			g_string_append(json, "\\n");
			break;
		case '\r':
			g_string_append(json, "\\r");
			break;
		case '\t':
			g_string_append(json, "\\t");
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				g_string_append_printf(json, "\\u%04x", *p);
			else
				g_string_append_c(json, (gchar)*p);
		}
	}
	g_string_append_c(json, '"');
}

/* Formats @number in the C locale with 15 significant digits, or 17 when 15 do not read
 * back as the same number. */
static void
format_double(gchar *buffer, gsize size, gdouble number)
{
	g_ascii_formatd(buffer, (gint)size, "%.15g", number);
	if (g_ascii_strtod(buffer, NULL) != number)
		g_ascii_formatd(buffer, (gint)size, "%.17g", number);
}

static void
append_json_double(GString *json, gdouble number)
{
	gchar buffer[G_ASCII_DTOSTR_BUF_SIZE];

	/* JSON has no infinity and no NaN. */
	if (!isfinite(number)) {
		g_string_append(json, "null");
		return;
	}
	format_double(buffer, sizeof buffer, number);
	g_string_append(json, buffer);
}

/* Appends a number or boolean and returns TRUE, or returns FALSE for other types. */
static gboolean
append_json_scalar(GString *json, GVariant *value)
{
	switch (g_variant_classify(value)) {
	case G_VARIANT_CLASS_BOOLEAN:
		g_string_append(json, g_variant_get_boolean(value) ? "true" : "false");
		return TRUE;
	case G_VARIANT_CLASS_BYTE:
		g_string_append_printf(json, "%u", g_variant_get_byte(value));
		return TRUE;
	case G_VARIANT_CLASS_INT16:
		g_string_append_printf(json, "%d", g_variant_get_int16(value));
		return TRUE;
	case G_VARIANT_CLASS_UINT16:
		g_string_append_printf(json, "%u", g_variant_get_uint16(value));
		return TRUE;
	case G_VARIANT_CLASS_INT32:
		g_string_append_printf(json, "%" G_GINT32_FORMAT, g_variant_get_int32(value));
		return TRUE;
	case G_VARIANT_CLASS_UINT32:
		g_string_append_printf(json, "%" G_GUINT32_FORMAT, g_variant_get_uint32(value));
		return TRUE;
	case G_VARIANT_CLASS_INT64:
		g_string_append_printf(json, "%" G_GINT64_FORMAT, g_variant_get_int64(value));
		return TRUE;
	case G_VARIANT_CLASS_UINT64:
		g_string_append_printf(json, "%" G_GUINT64_FORMAT, g_variant_get_uint64(value));
		return TRUE;
	case G_VARIANT_CLASS_HANDLE:
		g_string_append_printf(json, "%" G_GINT32_FORMAT, g_variant_get_handle(value));
		return TRUE;
	case G_VARIANT_CLASS_DOUBLE:
		append_json_double(json, g_variant_get_double(value));
		return TRUE;
	default:
		return FALSE;
	}
}

static void
append_json_indent(GString *json, guint depth)
{
	for (guint i = 0; i < depth; i++)
		g_string_append(json, "  ");
}

static void
append_json_value(GString *json, GVariant *value, guint depth);

/* Appends the key of a dictionary entry: a string key as it is, any other printed. */
static void
append_json_key(GString *json, GVariant *key)
{
	g_autofree gchar *printed = NULL;

	if (g_variant_is_of_type(key, G_VARIANT_TYPE_STRING)) {
		append_json_string(json, g_variant_get_string(key, NULL));
		return;
	}
	printed = g_variant_print(key, FALSE);
	append_json_string(json, printed);
}

/* Appends an array of dictionary entries, such as a{sv}, as an object, or any other array
 * or tuple as an array. */
static void
append_json_container(GString *json, GVariant *container, guint depth)
{
	gboolean is_object = g_variant_is_of_type(container, G_VARIANT_TYPE_DICTIONARY);
	gsize n_children = g_variant_n_children(container);

	g_string_append(json, is_object ? "{" : "[");
	for (gsize i = 0; i < n_children; i++) {
		g_autoptr(GVariant) child = g_variant_get_child_value(container, i);

		g_string_append(json, i == 0 ? "\n" : ",\n");
		append_json_indent(json, depth + 1);
		if (is_object) {
			g_autoptr(GVariant) key = g_variant_get_child_value(child, 0);
			g_autoptr(GVariant) entry_value = g_variant_get_child_value(child, 1);

			append_json_key(json, key);
			g_string_append(json, ": ");
			append_json_value(json, entry_value, depth + 1);
		} else {
			append_json_value(json, child, depth + 1);
		}
	}
	if (n_children > 0) {
		g_string_append_c(json, '\n');
		append_json_indent(json, depth);
	}
	g_string_append(json, is_object ? "}" : "]");
}

static void
append_json_value(GString *json, GVariant *value, guint depth)
{
	g_autoptr(GVariant) child = NULL;

	if (append_json_scalar(json, value))
		return;
	switch (g_variant_classify(value)) {
	case G_VARIANT_CLASS_STRING:
	case G_VARIANT_CLASS_OBJECT_PATH:
	case G_VARIANT_CLASS_SIGNATURE:
		append_json_string(json, g_variant_get_string(value, NULL));
		break;
	case G_VARIANT_CLASS_VARIANT:
		child = g_variant_get_variant(value);
		append_json_value(json, child, depth);
		break;
	case G_VARIANT_CLASS_MAYBE:
		child = g_variant_get_maybe(value);
		if (child == NULL)
			g_string_append(json, "null");
		else
			append_json_value(json, child, depth);
		break;
	default:
		append_json_container(json, value, depth);
	}
}

/* Returns @value as JSON, indented by two spaces: a{sv} as an object, booleans and
 * numbers as such, strings escaped, other arrays and tuples as arrays. */
gchar *
applink_console_to_json(GVariant *value)
{
	g_autoptr(GString) json = g_string_new(NULL);

	append_json_value(json, value, 0);
	return g_string_free(g_steal_pointer(&json), FALSE);
}

void
applink_console_print_json(GVariant *value)
{
	g_autofree gchar *json = applink_console_to_json(value);

	/* Not g_print(), which converts to the locale's character set and would turn UTF-8
	 * into escapes in the C locale. */
	fputs(json, stdout);
	fputc('\n', stdout);
}

/* Returns the number of terminal columns @text takes: two for wide characters, none for
 * combining marks and other zero-width characters. */
static gsize
display_width(const gchar *text)
{
	gsize width = 0;
	gunichar c;

	for (const gchar *p = text; *p != '\0'; p = g_utf8_next_char(p)) {
		c = g_utf8_get_char(p);
		if (g_unichar_iszerowidth(c))
			continue;
		width += g_unichar_iswide(c) ? 2 : 1;
	}
	return width;
}

/* Returns whether @c is a Unicode control of text direction, which can make a terminal show
 * the text around it in another order. */
static gboolean
applink_console_is_direction_control(gunichar c)
{
	return (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || c == 0x200e ||
	       c == 0x200f || c == 0x061c;
}

/* Returns @text with invalid UTF-8, each control character and each control of text
 * direction replaced, so that a value from Jira cannot send escape sequences to the terminal
 * or reorder what it shows. Newlines are kept when @keep_newlines is set. */
gchar *
applink_console_printable_text(const gchar *text, gboolean keep_newlines)
{
	g_autofree gchar *valid = g_utf8_make_valid(text, -1);
	GString *printable = g_string_sized_new(strlen(valid));

	for (const gchar *p = valid; *p != '\0'; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);

		if ((g_unichar_iscntrl(c) && !(keep_newlines && c == '\n')) ||
		    applink_console_is_direction_control(c))
			g_string_append_c(printable, '?');
		else
			g_string_append_unichar(printable, c);
	}
	return g_string_free(printable, FALSE);
}

/* Formats a value for people: booleans as yes or no, string arrays joined by commas. */
static gchar *
format_value(GVariant *value)
{
	g_autofree const gchar **strings = NULL;
	g_autofree gchar *text = NULL;

	if (g_variant_is_of_type(value, G_VARIANT_TYPE_VARIANT)) {
		g_autoptr(GVariant) child = g_variant_get_variant(value);
		return format_value(child);
	}
	if (g_variant_is_of_type(value, G_VARIANT_TYPE_BOOLEAN))
		return g_strdup(g_variant_get_boolean(value) ? "yes" : "no");
	if (g_variant_is_of_type(value, G_VARIANT_TYPE_DOUBLE)) {
		text = g_malloc(G_ASCII_DTOSTR_BUF_SIZE);
		format_double(text, G_ASCII_DTOSTR_BUF_SIZE, g_variant_get_double(value));
		return g_steal_pointer(&text);
	}
	if (g_variant_is_of_type(value, G_VARIANT_TYPE_STRING))
		return applink_console_printable_text(g_variant_get_string(value, NULL), FALSE);
	if (g_variant_is_of_type(value, G_VARIANT_TYPE_STRING_ARRAY)) {
		strings = g_variant_get_strv(value, NULL);
		text = g_strjoinv(", ", (gchar **)strings);
	} else {
		text = g_variant_print(value, FALSE);
	}
	return applink_console_printable_text(text, FALSE);
}

static void
print_padded(const gchar *text, gsize width)
{
	fputs(text, stdout);
	for (gsize i = display_width(text); i < width; i++)
		fputc(' ', stdout);
}

/* Prints each entry of the a{sv} @object as "key: value" on its own line, the values
 * aligned. */
void
applink_console_print_fields(GVariant *object)
{
	GVariantIter iter;
	const gchar *key;
	GVariant *value;
	gsize key_width = 0;

	g_variant_iter_init(&iter, object);
	while (g_variant_iter_next(&iter, "{&sv}", &key, NULL))
		key_width = MAX(key_width, display_width(key) + 1);

	g_variant_iter_init(&iter, object);
	while (g_variant_iter_loop(&iter, "{&sv}", &key, &value)) {
		g_autofree gchar *label = g_strconcat(key, ":", NULL);
		g_autofree gchar *text = format_value(value);

		print_padded(label, key_width + 1);
		fputs(text, stdout);
		fputc('\n', stdout);
	}
}

/* Returns the cell texts of @rows, an aa{sv}, row by row, with a row of titles first. A
 * missing or empty value is shown as "-". */
static GPtrArray *
collect_table_cells(GVariant *rows, const ApplinkConsoleColumn *columns)
{
	GPtrArray *cells = g_ptr_array_new_with_free_func(g_free);
	GVariantIter iter;
	GVariant *row;

	for (const ApplinkConsoleColumn *column = columns; column->title != NULL; column++)
		g_ptr_array_add(cells, g_strdup(column->title));

	g_variant_iter_init(&iter, rows);
	while (g_variant_iter_loop(&iter, "@a{sv}", &row)) {
		for (const ApplinkConsoleColumn *column = columns; column->title != NULL;
		     column++) {
			g_autoptr(GVariant) value = g_variant_lookup_value(row, column->key, NULL);
			g_autofree gchar *text = value != NULL ? format_value(value) : NULL;

			if (text == NULL || *text == '\0')
				g_ptr_array_add(cells, g_strdup("-"));
			else
				g_ptr_array_add(cells, g_steal_pointer(&text));
		}
	}
	return cells;
}

/* Prints @rows, an aa{sv}, as a table with a title row, each column padded to the display
 * width of its widest cell and separated from the next by two spaces. */
void
applink_console_print_table(GVariant *rows, const ApplinkConsoleColumn *columns)
{
	g_autoptr(GPtrArray) cells = NULL;
	g_autofree gsize *widths = NULL;
	gsize n_columns = 0;

	while (columns[n_columns].title != NULL)
		n_columns++;
	cells = collect_table_cells(rows, columns);
	widths = g_new0(gsize, n_columns);
	for (guint i = 0; i < cells->len; i++)
		widths[i % n_columns] = MAX(widths[i % n_columns], display_width(cells->pdata[i]));

	for (guint i = 0; i < cells->len; i++) {
		gsize column = i % n_columns;

		if (column + 1 < n_columns) {
			print_padded(cells->pdata[i], widths[column] + 2);
		} else {
			fputs(cells->pdata[i], stdout);
			fputc('\n', stdout);
		}
	}
}

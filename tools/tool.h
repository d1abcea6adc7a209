/* tool.h - the small layer every koala-* tool shares: messages, exit codes, "-", option values,
 * and a buffered stdout that stops cleanly when the reader goes away. */
#ifndef KOALA_TOOL_H
#define KOALA_TOOL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdnoreturn.h>

#include "koala.h"

/* Exit codes of every tool (diff(1)'s convention). */
enum {
    TOOL_EXIT_OK = 0,
    TOOL_EXIT_DIFF = 1,    /* differences found (koala-diff) */
    TOOL_EXIT_FAILED = 1,  /* some sessions failed to replay (koala-replay) */
    TOOL_EXIT_TROUBLE = 2, /* usage, input or output trouble */
};

/* The program name used in every message, "koala-dump". Set by tool_init(). */
extern const char *tool_name;

/** Call first in main(): sets tool_name and makes a closed stdout an error (EPIPE) rather
 * than a silent kill, so buffered output and writers can stop cleanly. */
void tool_init(const char *name);

/** Flush stdout, then print "NAME: message" to stderr. */
void tool_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** tool_warn(), then exit TOOL_EXIT_TROUBLE. */
noreturn void tool_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** For a library call that fails only when memory runs out (kl_buf_printf, a clone): die
 * "out of memory" when rc is not KL_OK. */
void tool_must(int rc);
/** For option errors: "NAME: message" and "Try 'NAME -h' for help.", exit TOOL_EXIT_TROUBLE. */
noreturn void tool_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** For getopt_long's '?' and ':' (with opterr = 0 and ":" leading the short options): name the
 * bad option and exit as tool_usage_error(). */
noreturn void tool_bad_option(int c, char **argv);
/** Print usage (the tool's -h text) to stdout and exit 0. */
noreturn void tool_help(const char *usage);
/** Print "NAME (koala) VERSION, format N" to stdout and exit 0. */
noreturn void tool_version(void);

/** True for "-", the name of stdin or stdout. */
bool tool_is_stdio(const char *path);
/** A name for messages: "(stdin)" for "-", else path. */
const char *tool_display_name(const char *path);
/** Exit with a clear error when binary output would go to a terminal ("-" or no -o). */
void tool_refuse_tty(const char *path);
/** A kl_writer on path ("-": stdout) failed: "NAME: path: detail" and exit TOOL_EXIT_TROUBLE;
 * quietly when stdout is a pipe whose reader has gone (head), as the buffered stdout does. */
noreturn void tool_die_writing(const char *path, const char *detail);
/** A writer of kind on path ("-": stdout) at zstd level, compressing on a second thread, with
 * the tool's name in its header; dies with the reason when it cannot be opened. */
kl_writer *tool_writer_open(const char *path, kl_kind kind, int level);
/** Flush and close w (NULL: nothing), dying with the reason when the last writes fail. */
void tool_writer_close(kl_writer *w, const char *path);
/** A reader failed with rc: "NAME: name: detail (N sessions read before it)", N being those
 * it delivered. */
void tool_warn_read(const char *name, kl_reader *r, int rc);
/** "NAME: name: going on after the damage, at session N (M left out)", r having skipped. */
void tool_warn_skipped(const char *name, kl_reader *r, uint64_t skipped);
/** tool_warn_read(), then, where the index leads past the damage, go on there and say how many
 * sessions are left out. @return true when reading can go on. */
bool tool_read_past(const char *name, kl_reader *r, int rc);
/** Open any input to read: a koala session file (path, "-" for stdin), a session file of the
 * original koala (JSON, as its recorder wrote one per session: told by its first bytes, '{'
 * then '"' or '}', from a file, stdin or a pipe alike), or a directory of them, read in time
 * order of the sessions (then id). In a directory, files whose content starts so or whose name
 * is a session id ("<ns>-<thread>") are session files; others (README, dot files, .pb files,
 * subdirectories) are skipped. A session file that does not import is named in a warning with
 * the JSON path at fault, *damaged is set and the others are read. JSON sessions
 * are held in memory (as their .pb records) until tool_reader_close().
 * @return the reader, to close with tool_reader_close(); or NULL after a warning "NAME: name:
 *         why": the caller notes the trouble and goes on with its other inputs. */
kl_reader *tool_input_open(const char *path, bool *damaged);
/** Close a reader of tool_input_open() and free the sessions it was reading from. Accepts NULL. */
void tool_reader_close(kl_reader *r);
/** Exit with a clear error when out (not "-") is one of the n inputs too: creating it would
 * truncate that input before it is read. */
void tool_refuse_output_as_input(const char *out, char *const *inputs, int n);

/** Parse a count for option opt ("--max-count"); dies with a usage error when text is not a
 * whole number in [min, max]. */
uint64_t tool_parse_count(const char *opt, const char *text, uint64_t min, uint64_t max);
/** Compile the display filter expr of option opt ("-Y") into *f, freeing an earlier one (the
 * last -Y wins); dies with a usage error naming the column when it does not parse. */
void tool_parse_filter(const char *opt, const char *expr, kl_filter **f);

/* Buffered stdout: data goes through a large buffer; a failed write (the reader closed the
 * pipe, the disk is full) exits TOOL_EXIT_TROUBLE, quietly for a closed pipe. */
/** Write b's bytes, then empty b (its memory is kept for the next use). */
void tool_out_buf(kl_buf *b);
/** Write out what is buffered. */
void tool_out_flush(void);

#endif

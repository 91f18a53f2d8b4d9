/*
 * cli_int.h - internals shared by the agent's command files.
 */
#ifndef FIELDGATE_AGENT_CLI_INT_H
#define FIELDGATE_AGENT_CLI_INT_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "agent/config.h"
#include "agent/progress.h"

/* Allocate and load the config at path. Returns 0 with *out to free(), or
 * the exit status after printing the one-line error (2: bad config, 1: out
 * of memory). */
int cli_load_config(const char *path, struct config **out);

/* Called per non-empty line (newline stripped, NUL-terminated); return 0 to
 * go on, non-zero to stop (returned by cli_foreach_line). */
typedef int (*cli_line_fn)(void *ctx, char *line, size_t len, long lineno);

/* Read `in` line by line. Returns 0, the callback's non-zero value, or -1 on
 * a read error (reported on stderr with `name`). */
int cli_foreach_line(FILE *in, const char *name, cli_line_fn fn, void *ctx);

/* The same, updating bar (PROGRESS_BYTES; may be NULL) with the bytes read. */
int cli_foreach_line_progress(FILE *in, const char *name, cli_line_fn fn, void *ctx,
			      struct progress *bar);

/* The size of the regular file behind `in` (what reading it will take), or
 * 0 when it has none (a pipe, a terminal). */
uint64_t cli_file_size(FILE *in);

struct state;
/* The "shadow: ..." lines of `fieldgate status` from a live agent's state
 * (nothing when it has no shadow set). */
void status_print_shadow(const struct state *st);

#endif

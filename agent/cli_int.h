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

struct trainer_options;
struct evaluation;

/* One of `fieldgate train`'s model options (c: 'o' --out, 'S' --source, 's'
 * --seed, 'v' --version, 't' --trees, 'D' --depth, 'i' --iterations, 'b'
 * --bins, 'r' --reg) into o. Returns 0, 1 for a bad value, -1 for another c. */
int train_option(struct trainer_options *o, int c, const char *arg);

/* `fieldgate train -c SITE.conf ...` and `fieldgate eval -c SITE.conf ...`:
 * from the site's buffer (cmd_retrain.c). Same contract as cmd_train. */
int cmd_train_site(int argc, char **argv);
int cmd_eval_site(int argc, char **argv);

/* eval's report of one evaluation: the JSON object of `eval --json` (SPEC
 * §1), or the text (confusion matrices and RMSE). */
void eval_print_json(const struct evaluation *e, unsigned long rejected, int newline);
void eval_print_text(const struct evaluation *e);

struct config;

/* `models promote`'s checks and reload, shared with `train --promote-if-better`
 * (cmd_lifecycle.c): 0 when [models] dir is the site's own (not the packaged
 * set), else EXIT_USAGE after saying what to do; and tell a running agent to
 * reload and wait until it serves `want` (0, or 1 said on stderr). */
int lifecycle_own_dir(const struct config *cfg, const char *cmd);
int lifecycle_reload_agent(const struct config *cfg, const char *want);

struct state;
/* The "shadow: ..." lines of `fieldgate status` from a live agent's state
 * (nothing when it has no shadow set). */
void status_print_shadow(const struct state *st);

#endif

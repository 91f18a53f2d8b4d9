/*
 * progress.h - the progress bar of long commands (train, eval, replay): a
 * label, a bar, the percentage, counts, the rate and the time left, redrawn
 * in place at most 10 times a second and ended with a newline.
 *
 * A bar is drawn only when it is switched on, which the commands do when
 * stderr is a terminal; switched off, every call is a cheap no-op and the
 * command's output (pipes, logs, tests) is exactly what it prints itself.
 * One bar belongs to one thread.
 */
#ifndef FIELDGATE_AGENT_PROGRESS_H
#define FIELDGATE_AGENT_PROGRESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PROGRESS_REDRAW_MS 100 /* at most 10 redraws a second */
#define PROGRESS_LABEL_MAX 18  /* label column ("humidity_regressor") */

/* How the counts read. */
enum progress_unit {
	PROGRESS_ITEMS, /* whole things, named by the unit string: "12/20 trees" */
	PROGRESS_BYTES, /* bytes, in kB/MB/GB: "88.1/209.3 MB" */
};

/* One bar. */
struct progress {
	FILE *out;                            /* where it is drawn (stderr) */
	int on;                               /* draw at all (out is a terminal) */
	char label[PROGRESS_LABEL_MAX + 1];   /* first column, cut to fit */
	enum progress_unit kind;              /* how counts read */
	const char *unit;                     /* PROGRESS_ITEMS: what is counted ("trees"), static */
	uint64_t done;                        /* work done so far */
	uint64_t total;                       /* all the work; 0 = not known (no bar, no ETA) */
	int64_t start_ms;                     /* monotonic, when it started */
	int64_t drawn_ms;                     /* monotonic, last draw; INT64_MIN before the first */
	int visible;                          /* a line of ours is on the screen, cursor on it */
};

/* True when f is a terminal: where commands switch bars on. */
int progress_wanted(FILE *f);

/* Start a bar (nothing is drawn yet). `on` = 0 makes every call a no-op. */
void progress_start(struct progress *p, FILE *out, int on, const char *label,
		    enum progress_unit kind, const char *unit, uint64_t total);

/* Record progress; redraws when the last draw is PROGRESS_REDRAW_MS old. */
void progress_update(struct progress *p, uint64_t done);

/* Change the total (work found to be larger or smaller than announced). */
void progress_set_total(struct progress *p, uint64_t total);

/* Draw the final state (done = total when the total is known) with the
 * elapsed time instead of the time left, and end the line. */
void progress_finish(struct progress *p);

/* Clear the bar's line before other output goes to the same terminal (a
 * warning); the next update draws it again below that output. */
void progress_interrupt(struct progress *p);

/* The bar's text at monotonic time now_ms into buf (always terminated); the
 * bar itself takes what `width` columns leave (10..30 characters); `final`
 * shows the elapsed time instead of the time left. Returns strlen(buf). */
size_t progress_format(const struct progress *p, int64_t now_ms, int final, size_t width,
		       char *buf, size_t len);

/* Draw n bars on n lines of p[0]->out as one block, cut to the terminal's
 * width; the cursor goes back to the block's first line so the next draw
 * overwrites it, or below it when `final`. Bars that are off are skipped. */
void progress_draw(struct progress *const *bars, size_t n, int final);

/* A training progress callback for models/ (forest_params.progress and the
 * like): ctx is a struct progress; sets the total and updates. */
void progress_callback(void *ctx, size_t done, size_t total);

#endif

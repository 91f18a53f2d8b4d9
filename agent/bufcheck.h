/*
 * bufcheck.h - the check of the whole buffer in the background.
 *
 * The check at start has a time budget (store_recover.c: 2 s, which covers
 * a warm file of about 2 GB); on a larger or cold file it stops part way.
 * This thread then checks the whole file (PRAGMA quick_check, store_check())
 * on a read-only handle of its own, at the lowest CPU priority, once per
 * start. When it finds damage it leaves the marker (store_mark_damaged())
 * and says so through bufcheck_damaged(): the agent then restarts itself,
 * and the start moves the file aside and salvages it.
 */
#ifndef FIELDGATE_AGENT_BUFCHECK_H
#define FIELDGATE_AGENT_BUFCHECK_H

#include <stddef.h>

#include "store/store.h"

struct bufcheck;

/* Start the check of opt->path (opened read-only by the thread). Returns 0,
 * or -1 with a reason in err (nothing started). */
int bufcheck_start(struct bufcheck **out, const struct store_options *opt,
		   char *err, size_t errlen);

/* 1 when the check found the file damaged (cause, if not NULL, gets one
 * line), 0 while it runs or when it passed. */
int bufcheck_damaged(struct bufcheck *b, char *cause, size_t causelen);

/* End the check (interrupting it) and free; accepts NULL, clears *b. */
void bufcheck_stop(struct bufcheck **b);

#endif

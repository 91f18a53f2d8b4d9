/*
 * bufcheck.c - the check of the whole buffer in the background (bufcheck.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "agent/bufcheck.h"
#include "agent/clock.h"
#include "agent/log.h"

struct bufcheck {
	pthread_t thread;
	struct store_options opt;   /* readonly */
	struct store *st;           /* the thread's handle; set under mu */
	pthread_mutex_t mu;
	int stopping;               /* under mu */
	_Atomic int done;
	_Atomic int damaged;
	char cause[512];            /* written before damaged is set */
};

static void *bufcheck__main(void *arg)
{
	struct bufcheck *b = arg;
	struct store *st = NULL;
	char err[512], cause[sizeof b->cause] = "";
	int64_t start = clock_mono_ms();
	int rc, stopping;

	/* The lowest priority: ingestion and delivery come first (a failure,
	 * e.g. EPERM under a seccomp filter, only leaves the default). */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), 19) < 0)
		log_debug("store", "background check at the default priority: %s", strerror(errno));
	if (store_open(&st, &b->opt, err, sizeof err) < 0) {
		log_warn("store", "cannot check the whole buffer in the background: %s", err);
		atomic_store(&b->done, 1);
		return NULL;
	}
	pthread_mutex_lock(&b->mu);
	stopping = b->stopping;
	if (!stopping)
		b->st = st;
	pthread_mutex_unlock(&b->mu);
	rc = stopping ? 0 : store_check(st, cause, sizeof cause);
	pthread_mutex_lock(&b->mu);
	b->st = NULL;
	stopping = b->stopping;
	pthread_mutex_unlock(&b->mu);
	if (rc == 1) {
		snprintf(b->cause, sizeof b->cause, "%s", cause);
		if (store_mark_damaged(st) < 0)
			log_warn("store", "cannot leave the marker %s.check: %s", b->opt.path,
				 strerror(errno));
		atomic_store(&b->damaged, 1);
	} else if (rc < 0) {
		log_warn("store", "the background check of %s stopped: %s", b->opt.path, cause);
	} else if (!stopping) {
		log_info("store", "checked the whole buffer %s in the background in %.1f s: sound",
			 b->opt.path, (double)(clock_mono_ms() - start) / 1000.0);
	}
	store_close(&st);
	atomic_store(&b->done, 1);
	return NULL;
}

int bufcheck_start(struct bufcheck **out, const struct store_options *opt,
		   char *err, size_t errlen)
{
	struct bufcheck *b = calloc(1, sizeof *b);
	int rc;

	*out = NULL;
	if (!b) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	b->opt = *opt;
	b->opt.readonly = 1;
	b->opt.checkpoints_for = NULL;
	pthread_mutex_init(&b->mu, NULL);
	if ((rc = pthread_create(&b->thread, NULL, bufcheck__main, b)) != 0) {
		snprintf(err, errlen, "cannot start the background check: %s", strerror(rc));
		pthread_mutex_destroy(&b->mu);
		free(b);
		return -1;
	}
	*out = b;
	return 0;
}

int bufcheck_damaged(struct bufcheck *b, char *cause, size_t causelen)
{
	if (!b || !atomic_load(&b->damaged))
		return 0;
	if (cause && causelen)
		snprintf(cause, causelen, "%s", b->cause);
	return 1;
}

void bufcheck_stop(struct bufcheck **pb)
{
	struct bufcheck *b = pb ? *pb : NULL;

	if (!b)
		return;
	/* The interrupt is a no-op until the check runs: repeat it until the
	 * thread is out. */
	pthread_mutex_lock(&b->mu);
	b->stopping = 1;
	pthread_mutex_unlock(&b->mu);
	while (!atomic_load(&b->done)) {
		struct timespec ts = { 0, 20 * 1000000L };

		pthread_mutex_lock(&b->mu);
		store_interrupt(b->st);
		pthread_mutex_unlock(&b->mu);
		nanosleep(&ts, NULL);
	}
	pthread_join(b->thread, NULL);
	pthread_mutex_destroy(&b->mu);
	free(b);
	*pb = NULL;
}

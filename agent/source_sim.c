/*
 * source_sim.c - the simulator source (see source_sim.h).
 */
#include "agent/source_sim.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/clock.h"
#include "sensors/sim.h"

#define SIM_SOURCE__NAP_MS 100 /* longest sleep, so that a stop is seen soon */

struct sim_source {
	struct sim *sim;         /* the generator */
	int64_t t0_mono, t0_sim; /* the start, on the monotonic clock and the simulated one:
				  * pacing by the wall clock would stop the source for an
				  * hour when NTP steps the clock back an hour */
	double scale;            /* simulated ms per wall ms ([simulator] time_scale) */
	struct ingest ingest;    /* score + queue */
	pthread_t thread;        /* runs sim_source__main() */
	_Atomic int stop;        /* set by sim_source_stop() */
};

static void *sim_source__main(void *arg)
{
	struct sim_source *src = arg;
	struct reading r;

	while (!atomic_load_explicit(&src->stop, memory_order_relaxed)) {
		int64_t mono = clock_mono_ms(), due = src->t0_mono +
			(int64_t)((double)(sim_next_time(src->sim) - src->t0_sim) / src->scale);
		if (due > mono) {
			int64_t ms = due - mono > SIM_SOURCE__NAP_MS ? SIM_SOURCE__NAP_MS : due - mono;
			struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
			nanosleep(&ts, NULL);
			continue;
		}
		sim_next(src->sim, &r);
		if (ingest_reading(&src->ingest, &r, clock_wall_ms(), NULL) < 0)
			break;
	}
	return NULL;
}

int sim_source_start(struct sim_source **out, const struct config *cfg, struct pipeline *pipe,
		     struct scorer *scorer, struct scorer *shadow, struct ingest_counters *ctr,
		     struct alerts *alerts, char *err, size_t errlen)
{
	struct sim_options so = {
		.sensors = cfg->sim_sensors, .rate = cfg->sim_rate, .seed = cfg->sim_seed,
		.start_ms = clock_wall_ms(), .drift_after = cfg->sim_drift_after,
	};
	struct sim_source *s = calloc(1, sizeof *s);
	int e;

	if (!s || ingest_init(&s->ingest, scorer, pipe, ctr) < 0) {
		snprintf(err, errlen, "out of memory");
		free(s);
		return -1;
	}
	s->ingest.alerts = alerts;
	s->t0_mono = clock_mono_ms();
	s->t0_sim = so.start_ms;
	if (ingest_limit_sensors(&s->ingest, cfg->models_max_sensors,
				 cfg->models_sensor_idle_timeout_ms) < 0) {
		snprintf(err, errlen, "[models] max_sensors %u: outside 1..%zu", cfg->models_max_sensors,
			 SENSOR_MAP_MAX);
		goto fail;
	}
	s->scale = cfg->sim_time_scale > 0 ? cfg->sim_time_scale : 1.0;
	s->ingest.shadow = shadow;
	s->ingest.shadow_in_events = cfg->models_shadow_in_events;
	if (sim_create(&s->sim, &so, err, errlen) < 0)
		goto fail;
	if ((e = pthread_create(&s->thread, NULL, sim_source__main, s)) != 0) {
		snprintf(err, errlen, "cannot start the simulator thread: %s", strerror(e));
		goto fail;
	}
	*out = s;
	return 0;
fail:
	s->ingest.scorer = s->ingest.shadow = NULL; /* the caller's again: this start failed */
	ingest_cleanup(&s->ingest);
	sim_free(&s->sim);
	free(s);
	return -1;
}

struct ingest *sim_source_ingest(struct sim_source *s)
{
	return &s->ingest;
}

void sim_source_stop(struct sim_source **sp, int drain_ms)
{
	struct sim_source *s;

	if (!sp || !*sp)
		return;
	s = *sp;
	atomic_store(&s->stop, 1);
	/* A thread blocked on a full queue is released only by the pipeline
	 * ending its writer (the queue committed, or given up on). */
	pipeline_drain(s->ingest.pipe, drain_ms);
	pthread_join(s->thread, NULL);
	ingest_cleanup(&s->ingest);
	sim_free(&s->sim);
	free(s);
	*sp = NULL;
}

/*
 * bench_lifecycle.c - what the model lifecycle costs on the scoring path:
 * ingest_score() (features, the live set, drift counters, the event body)
 * per simulated reading, with and without input-drift counting and a shadow
 * set (issue 12: shadow scoring overhead <= 0.5 us per event, PSI upkeep
 * <= 0.1 us per event).
 *
 * Modes, timed in turn within every repetition so that a slow moment of the
 * machine hits all of them alike:
 *
 *   no_psi        the live set, its histograms ignored (no input-drift counting)
 *   live          the live set as the agent runs it: input drift counted
 *   shadow        + a shadow set scoring every reading, counted against the live one
 *   shadow_event  + its predictions written into each event (shadow_in_events)
 *
 * Overheads: live - no_psi (PSI upkeep), shadow - live, shadow_event - live.
 *
 * Each mode has its own ingest context (its own per-sensor feature state)
 * over the same N readings; one untimed pass warms them up. Prints
 * "MODE median=X min=X max=X runs=..." (ns/event) and "psi_overhead",
 * "shadow_overhead", "shadow_event_overhead" lines (the per-repetition
 * differences above), which tests/bench/run.sh parses. Run from the repository root:
 *
 *   build/bench/bench_lifecycle [LIVE_DIR [SHADOW_DIR [N [REPS]]]]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/ingest.h"
#include "agent/scorer.h"
#include "sensors/sim.h"

#define BENCH_DEFAULT_N 100000
#define BENCH_DEFAULT_REPS 9
#define BENCH_MAX_REPS 101
#define BENCH_START_MS 1767571200000LL /* 2026-01-05T00:00:00Z, as the training data */

enum bench_mode { MODE_NO_PSI, MODE_LIVE, MODE_SHADOW, MODE_SHADOW_EVENT, NMODES };
static const char *const mode_names[NMODES] = { "no_psi", "live", "shadow", "shadow_event" };
/* What each mode's overhead is measured against. */
static const enum bench_mode mode_base[NMODES] = { MODE_NO_PSI, MODE_NO_PSI, MODE_LIVE, MODE_LIVE };

static volatile int bench_sink; /* the timed loops write here: no dead code */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void report(const char *name, double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	printf("%s median=%.1f min=%.1f max=%.1f runs=", name, v[n / 2], v[0], v[n - 1]);
	for (int i = 0; i < n; i++)
		printf("%s%.1f", i ? "," : "", v[i]);
	printf("\n");
}

/* One pass of ctx over the readings; ns per reading. */
static double pass(struct ingest *in, const struct reading *r, size_t n)
{
	struct event_prediction p;
	uint64_t t0 = now_ns();
	int acc = 0;

	for (size_t i = 0; i < n; i++)
		acc += ingest_score(in, &r[i], r[i].timestamp_ms + 2, &p);
	bench_sink = acc;
	return (double)(now_ns() - t0) / (double)n;
}

int main(int argc, char **argv)
{
	const char *live_dir = argc > 1 ? argv[1] : "models/default";
	const char *shadow_dir = argc > 2 ? argv[2] : live_dir;
	size_t n = argc > 3 ? strtoul(argv[3], NULL, 10) : BENCH_DEFAULT_N;
	int reps = argc > 4 ? atoi(argv[4]) : BENCH_DEFAULT_REPS;
	struct sim_options so = { .sensors = 100, .rate = 0.01, .seed = 11, .start_ms = BENCH_START_MS };
	static struct ingest_counters ctr[NMODES];
	static struct ingest in[NMODES];
	double t[NMODES][BENCH_MAX_REPS], over[NMODES][BENCH_MAX_REPS];
	struct reading *r = NULL;
	struct sim *sim = NULL;
	char err[1024];
	int rc = 1;

	if (n == 0 || reps < 1 || reps > BENCH_MAX_REPS) {
		fprintf(stderr, "usage: bench_lifecycle [LIVE_DIR [SHADOW_DIR [N [REPS <= %d]]]]\n",
			BENCH_MAX_REPS);
		return 2;
	}
	if (!(r = malloc(n * sizeof *r)) || sim_create(&sim, &so, err, sizeof err) < 0) {
		fprintf(stderr, "bench_lifecycle: %s\n", r ? err : "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		sim_next(sim, &r[i]);
	for (int m = 0; m < NMODES; m++) {
		struct scorer *live = NULL, *shadow = NULL;
		if (scorer_load(&live, live_dir, err, sizeof err) < 0 ||
		    (m >= MODE_SHADOW && scorer_load(&shadow, shadow_dir, err, sizeof err) < 0) ||
		    ingest_init(&in[m], live, NULL, &ctr[m]) < 0) {
			fprintf(stderr, "bench_lifecycle: %s\n", err);
			scorer_free(&live);
			scorer_free(&shadow);
			goto out;
		}
		in[m].shadow = shadow;
		in[m].shadow_in_events = m == MODE_SHADOW_EVENT;
		if (m == MODE_NO_PSI)
			in[m].scorer->npsi = 0;
	}
	printf("bench_lifecycle: %zu features watched for input drift\n", in[MODE_LIVE].scorer->npsi);
	printf("bench_lifecycle: %zu readings, %d runs, live %s, shadow %s\n", n, reps, live_dir,
	       shadow_dir);
	for (int m = 0; m < NMODES; m++)
		(void)pass(&in[m], r, n);
	for (int i = 0; i < reps; i++) {
		for (int m = 0; m < NMODES; m++)
			t[m][i] = pass(&in[m], r, n);
		for (int m = 0; m < NMODES; m++)
			over[m][i] = t[m][i] - t[mode_base[m]][i];
	}
	for (int m = 0; m < NMODES; m++) {
		char name[64];
		report(mode_names[m], t[m], reps);
		if (m == MODE_NO_PSI)
			continue;
		snprintf(name, sizeof name, "%s_overhead", m == MODE_LIVE ? "psi" : mode_names[m]);
		report(name, over[m], reps);
	}
	rc = 0;
out:
	for (int m = 0; m < NMODES; m++)
		if (in[m].features)
			ingest_cleanup(&in[m]);
	sim_free(&sim);
	free(r);
	return rc;
}

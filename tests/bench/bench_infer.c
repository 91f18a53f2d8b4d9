/*
 * bench_infer.c - micro-benchmark of the scoring path on the source thread.
 *
 * Benchmark 1 of tests/bench/RESULTS.md. Loads the shipped models with the
 * agent's scorer, builds catalogue feature vectors for N simulated readings
 * (the same simulator and feature code the agent runs), then times:
 *
 *   infer  scorer_predict() alone: all three models for one event
 *   infer_status, infer_anomaly, infer_humidity
 *          one model alone (scorer_model_output(), with the gather of its
 *          features), to tell a big model's cost from the others'
 *   path   features_compute() + scorer_predict() + event_encode_body():
 *          the whole per-reading CPU work the source thread does before it
 *          hands the event to the writer (decode excluded: the simulator
 *          produces a struct reading directly)
 *
 * Each is run REPS times over all N readings after one untimed warm-up pass;
 * the median, min and max of the per-event time are printed as
 * "NAME median=X min=X max=X runs=a,b,..." lines (ns/event) that
 * tests/bench/run.sh parses. Run from the repository root:
 *
 *   build/bench/bench_infer [MODELS_DIR [N [REPS]]]
 *
 * (tests/bench/run.sh runs it on models/default for benchmark 1, and on
 * models imported from scikit-learn for infer_sklearn.)
 *
 * Exits 0, or 1 with a reason on stderr when the models or the simulator
 * cannot be set up.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/features.h"
#include "agent/scorer.h"
#include "sensors/event.h"
#include "sensors/sim.h"

#define BENCH_DEFAULT_N 100000
#define BENCH_DEFAULT_REPS 7
#define BENCH_MAX_REPS 101
#define BENCH_START_MS 1767571200000LL /* 2026-01-05T00:00:00Z, as the training data */

/* Everything one benchmark run needs, allocated once in main(). */
struct bench {
	struct scorer *scorer;     /* the shipped models */
	struct reading *readings;  /* n simulated readings, in arrival order */
	double *features;          /* n x FEATURE_COUNT catalogue vectors */
	size_t n;                  /* readings */
	int reps;                  /* timed repetitions per measurement */
	char body[16384];          /* event body scratch, as ingest's */
};

/* Written by every timed loop so the compiler cannot drop the work. */
static volatile double bench_sink;

/* Monotonic clock in nanoseconds. */
static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* qsort comparator for doubles, ascending. */
static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Print "name median=.. min=.. max=.. runs=.." for per-event times v[0..n). */
static void report(const char *name, const double *v, int n)
{
	double s[BENCH_MAX_REPS];

	memcpy(s, v, (size_t)n * sizeof *s);
	qsort(s, (size_t)n, sizeof *s, cmp_double);
	printf("%s median=%.1f min=%.1f max=%.1f runs=", name, s[n / 2], s[0], s[n - 1]);
	for (int i = 0; i < n; i++)
		printf("%s%.1f", i ? "," : "", v[i]);
	printf("\n");
}

/* One pass of scorer_predict over every precomputed vector; ns per event. */
static double run_infer(struct bench *b)
{
	struct event_prediction p;
	double acc = 0;
	uint64_t t0 = now_ns();

	for (size_t i = 0; i < b->n; i++) {
		scorer_predict(b->scorer, b->features + i * FEATURE_COUNT, &p);
		acc += p.status + p.anomaly_probability + p.humidity;
	}
	uint64_t t1 = now_ns();
	bench_sink = acc;
	return (double)(t1 - t0) / (double)b->n;
}

/* One pass of one model over every precomputed vector; ns per event. */
static double run_slot(struct bench *b, enum scorer_slot slot)
{
	struct model_output o;
	double acc = 0;
	uint64_t t0 = now_ns();

	for (size_t i = 0; i < b->n; i++) {
		scorer_model_output(b->scorer, slot, b->features + i * FEATURE_COUNT, &o);
		acc += o.probability + o.value;
	}
	uint64_t t1 = now_ns();
	bench_sink = acc;
	return (double)(t1 - t0) / (double)b->n;
}

/*
 * One pass of the source thread's per-reading work over every reading, with
 * fresh rolling state (so every pass sees the same histories); ns per event,
 * or -1 when out of memory or an event does not fit.
 */
static double run_path(struct bench *b)
{
	struct features *feat = NULL;
	struct event_prediction p;
	double f[FEATURE_COUNT];
	double acc = 0;

	if (features_create(&feat) < 0)
		return -1;
	uint64_t t0 = now_ns();
	for (size_t i = 0; i < b->n; i++) {
		const struct reading *r = &b->readings[i];
		(void)features_compute(feat, r, f);
		scorer_predict(b->scorer, f, &p);
		int len = event_encode_body(r, r->timestamp_ms + 2, &p, &b->scorer->names,
					    b->body, sizeof b->body);
		if (len < 0) {
			features_free(&feat);
			return -1;
		}
		acc += len;
	}
	uint64_t t1 = now_ns();
	features_free(&feat);
	bench_sink = acc;
	return (double)(t1 - t0) / (double)b->n;
}

/* Simulate the readings and compute their feature vectors in arrival order,
 * as the agent would. Returns 0, or -1 with a reason in err. */
static int prepare(struct bench *b, char *err, size_t errlen)
{
	struct sim_options opt = { .sensors = 100, .rate = 0.01, .seed = 1,
				   .start_ms = BENCH_START_MS };
	struct sim *sim = NULL;
	struct features *feat = NULL;

	b->readings = malloc(b->n * sizeof *b->readings);
	b->features = malloc(b->n * FEATURE_COUNT * sizeof *b->features);
	if (!b->readings || !b->features) {
		snprintf(err, errlen, "out of memory for %zu readings", b->n);
		goto fail;
	}
	if (sim_create(&sim, &opt, err, errlen) < 0)
		goto fail;
	if (features_create(&feat) < 0) {
		snprintf(err, errlen, "out of memory for feature state");
		goto fail;
	}
	for (size_t i = 0; i < b->n; i++) {
		sim_next(sim, &b->readings[i]);
		(void)features_compute(feat, &b->readings[i], b->features + i * FEATURE_COUNT);
	}
	features_free(&feat);
	sim_free(&sim);
	return 0;
fail:
	features_free(&feat);
	sim_free(&sim);
	return -1;
}

int main(int argc, char **argv)
{
	static struct bench b; /* static: the body scratch is 16 KiB */
	const char *dir = argc > 1 ? argv[1] : "models/default";
	static const char *const slot_rows[SCORER_NMODELS] = {
		"infer_status", "infer_anomaly", "infer_humidity",
	};
	double infer[BENCH_MAX_REPS], path[BENCH_MAX_REPS], one[BENCH_MAX_REPS];
	char err[512];
	int rc = 1;

	b.n = argc > 2 ? strtoul(argv[2], NULL, 10) : BENCH_DEFAULT_N;
	b.reps = argc > 3 ? atoi(argv[3]) : BENCH_DEFAULT_REPS;
	if (b.n == 0 || b.reps < 1 || b.reps > BENCH_MAX_REPS) {
		fprintf(stderr, "usage: bench_infer [MODELS_DIR [N >= 1 [REPS 1..%d]]]\n",
			BENCH_MAX_REPS);
		return 2;
	}
	if (scorer_load(&b.scorer, dir, err, sizeof err) < 0) {
		fprintf(stderr, "bench_infer: %s\n", err);
		return 1;
	}
	if (prepare(&b, err, sizeof err) < 0) {
		fprintf(stderr, "bench_infer: %s\n", err);
		goto out;
	}
	printf("# %zu readings (100 sensors, seed 1), %d runs, models %s (%s, %s, %s)\n",
	       b.n, b.reps, dir, b.scorer->names.status, b.scorer->names.anomaly,
	       b.scorer->names.humidity);

	(void)run_infer(&b); /* warm-up: caches, branch predictors, CPU clock */
	for (int i = 0; i < b.reps; i++)
		infer[i] = run_infer(&b);
	report("infer", infer, b.reps);
	for (int s = 0; s < SCORER_NMODELS; s++) {
		(void)run_slot(&b, (enum scorer_slot)s);
		for (int i = 0; i < b.reps; i++)
			one[i] = run_slot(&b, (enum scorer_slot)s);
		report(slot_rows[s], one, b.reps);
	}

	if (run_path(&b) < 0) { /* warm-up, and a check that every body fits */
		fprintf(stderr, "bench_infer: per-reading path failed (out of memory or event too large)\n");
		goto out;
	}
	for (int i = 0; i < b.reps; i++)
		path[i] = run_path(&b);
	report("path", path, b.reps);
	rc = 0;
out:
	free(b.readings);
	free(b.features);
	scorer_free(&b.scorer);
	return rc;
}

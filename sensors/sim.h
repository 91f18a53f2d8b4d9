/*
 * sim.h - the built-in device simulator.
 *
 * N sensors spread over a few locations, each with coordinates, a per-sensor
 * temperature offset and noise; temperature follows a daily cycle, humidity
 * follows temperature, time of day and location; anomalies (spikes, drifts,
 * stuck values) are injected; ground-truth status_flag and is_anomaly come
 * from a documented process with label noise (sensors/SIMULATOR.md), so no
 * model can be perfect. Fully deterministic for a given seed and start time:
 * the generator has its own PRNG and never reads the clock.
 *
 * Readings come round-robin: sensor 0..N-1 at t0, then again at t0 + 1/rate s.
 */
#ifndef FIELDGATE_SENSORS_SIM_H
#define FIELDGATE_SENSORS_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "sensors/reading.h"

struct sim_options {
	unsigned sensors;    /* number of sensors, >= 1 */
	double rate;         /* readings per second per sensor, > 0 */
	uint64_t seed;       /* PRNG seed */
	int64_t start_ms;    /* timestamp of the first round (epoch ms) */
	uint64_t drift_after; /* after this many readings, every other sensor's
				 surroundings are SIM_DRIFT_T °C warmer (a drift of
				 the inputs, for drift detection); 0 = never */
};

#define SIM_DRIFT_T 10.0 /* °C added to a drifted sensor's temperature (its
			   humidity follows: SIMULATOR.md) */

struct sim;

/* Create a simulator. Returns 0, or -1 with a reason in err (bad option,
 * out of memory). The caller frees it with sim_free(). */
int sim_create(struct sim **out, const struct sim_options *opt,
	       char *err, size_t errlen);

/* Produce the next reading (all fields set, including ground truth,
 * location and geo). Never fails. */
void sim_next(struct sim *s, struct reading *out);

/* Timestamp (epoch ms) the next call to sim_next() will carry; a paced
 * source sleeps until the wall clock reaches it. */
int64_t sim_next_time(const struct sim *s);

/* Free a simulator and clear the pointer; accepts NULL. */
void sim_free(struct sim **s);

#endif

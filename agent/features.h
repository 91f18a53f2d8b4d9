/*
 * features.h - the feature catalogue: every named feature a model file may
 * declare, and the per-sensor state the rolling ones need.
 *
 * This is the one place that turns a reading into numbers for the models
 * (DESIGN §1). A model file lists features by name; the scorer maps each name
 * to a catalogue id once at load time, so scoring is an array gather.
 *
 * Rolling features describe the sensor's PREVIOUS readings (the window never
 * includes the reading being scored), so a spike stands out against its own
 * history. State is per sensor_id, kept in a bounded table (sensor_map.h)
 * that belongs to one thread (the source thread, or the train/eval loop).
 *
 * Bounded memory: at most max_sensors sensors have state ([models]
 * max_sensors, FEATURES_MAX_SENSORS_DEFAULT); a new sensor beyond that evicts
 * the least recently seen one, and with an idle timeout ([models]
 * sensor_idle_timeout) a sensor not seen for that long is evicted too. An
 * evicted sensor loses its history: its next reading is scored as a new
 * sensor's first (rolling features from that reading alone: temp_mean_10 =
 * the temperature, differences, deviations and repeats 0), and its window
 * fills again over the next FEATURES_WINDOW readings. Each sensor costs
 * features_sensor_bytes() (344 bytes) plus 8 to 16 bytes of index.
 */
#ifndef FIELDGATE_AGENT_FEATURES_H
#define FIELDGATE_AGENT_FEATURES_H

#include <stddef.h>

#include "agent/sensor_map.h"
#include "sensors/reading.h"

#define FEATURES_WINDOW 10 /* readings in the rolling window */
#define FEATURES_MAX_SENSORS_DEFAULT 100000 /* sensors with state: about 36 MB at most */

enum feature_id {
	FEATURE_TEMPERATURE,         /* °C as measured */
	FEATURE_HUMIDITY,            /* % RH as measured */
	FEATURE_HOUR_OF_DAY,         /* 0..23 */
	FEATURE_DAY_OF_WEEK,         /* 0..6, Monday = 0 */
	FEATURE_HOUR_SIN,            /* sin(2π·hour/24), hour with minutes */
	FEATURE_HOUR_COS,            /* cos(2π·hour/24) */
	FEATURE_LAT,                 /* latitude, 0 when absent */
	FEATURE_LON,                 /* longitude, 0 when absent */
	FEATURE_TEMP_MEAN_10,        /* mean of the previous 10 temperatures (current when none) */
	FEATURE_TEMP_STD_10,         /* their standard deviation (0 when < 2) */
	FEATURE_TEMP_DEV_10,         /* temperature - temp_mean_10 */
	FEATURE_TEMP_ABS_DEV_10,     /* |temp_dev_10| */
	FEATURE_TEMP_DIFF_PREV,      /* temperature - previous temperature (0 when none) */
	FEATURE_TEMP_ABS_DIFF_PREV,  /* |temp_diff_prev| */
	FEATURE_TEMP_REPEAT,         /* previous readings in a row with exactly this temperature, capped at 50 */
	FEATURE_TEMP_IS_REPEAT,      /* 1 if exactly the previous temperature, else 0 (a stuck sensor) */
	FEATURE_TEMP_EWMA_ABS_DEV,   /* |temperature - slow EWMA (alpha 0.02) of previous temperatures| */
	FEATURE_HUMIDITY_MEAN_10,    /* mean of the previous 10 humidities (current when none) */
	FEATURE_COUNT
};

/* Catalogue name of a feature ("temp_mean_10"), or NULL for a bad id. */
const char *features_name(enum feature_id id);

/* Catalogue id of a name, or -1 when the catalogue has no such feature. */
int features_lookup(const char *name);

/* The comma-separated list of all names, for error messages. */
const char *features_names_list(void);

/* 1 for a feature that is a function of the clock alone (hour_of_day,
 * day_of_week, hour_sin, hour_cos): its distribution over a window of
 * readings is the window's, not the sensors', so input drift skips it. */
int features_is_calendar(enum feature_id id);

struct features; /* per-sensor rolling state */

/* Create empty state for at most FEATURES_MAX_SENSORS_DEFAULT sensors, no
 * idle timeout. Returns 0, or -1 when out of memory. */
int features_create(struct features **out);

/* At most max_sensors sensors (1..SENSOR_MAP_MAX) with state, and, when
 * idle_ms > 0, a sensor's state dropped idle_ms after its last reading (by
 * the now_ms clock of features_compute_at()). A smaller cap evicts at once.
 * 0, or -1 for a bad limit (nothing changed). */
int features_set_limits(struct features *f, size_t max_sensors, int64_t idle_ms);

/* Free the state and clear the pointer; accepts NULL. */
void features_free(struct features **f);

/*
 * Compute every catalogue feature of r into out[FEATURE_COUNT] from the
 * sensor's previous readings, then add r to the sensor's history.
 * Returns 0, or -1 when out of memory (out is then still filled, as if the
 * sensor had no history).
 */
int features_compute(struct features *f, const struct reading *r, double *out);

/* The same, at time now_ms (the arrival time, the clock of the idle timeout);
 * features_compute() takes the reading's own timestamp. */
int features_compute_at(struct features *f, const struct reading *r, int64_t now_ms, double *out);

/* Number of sensors with state. */
size_t features_sensors(const struct features *f);

/* Sensors with state now, and those evicted so far (cap, idle timeout). */
void features_stats(const struct features *f, struct sensor_map_stats *out);

/* Bytes of state one sensor takes (its table entry and link, without the index). */
size_t features_sensor_bytes(void);

#endif

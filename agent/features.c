/*
 * features.c - the feature catalogue and per-sensor rolling state
 * (see features.h); per-sensor state lives in a sensor_map.
 */
#include "agent/features.h"
#include "agent/sensor_map.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EWMA_ALPHA 0.02
#define REPEAT_CAP 50

static const char *const feature_names[FEATURE_COUNT] = {
	[FEATURE_TEMPERATURE] = "temperature",
	[FEATURE_HUMIDITY] = "humidity",
	[FEATURE_HOUR_OF_DAY] = "hour_of_day",
	[FEATURE_DAY_OF_WEEK] = "day_of_week",
	[FEATURE_HOUR_SIN] = "hour_sin",
	[FEATURE_HOUR_COS] = "hour_cos",
	[FEATURE_LAT] = "lat",
	[FEATURE_LON] = "lon",
	[FEATURE_TEMP_MEAN_10] = "temp_mean_10",
	[FEATURE_TEMP_STD_10] = "temp_std_10",
	[FEATURE_TEMP_DEV_10] = "temp_dev_10",
	[FEATURE_TEMP_ABS_DEV_10] = "temp_abs_dev_10",
	[FEATURE_TEMP_DIFF_PREV] = "temp_diff_prev",
	[FEATURE_TEMP_ABS_DIFF_PREV] = "temp_abs_diff_prev",
	[FEATURE_TEMP_REPEAT] = "temp_repeat",
	[FEATURE_TEMP_IS_REPEAT] = "temp_is_repeat",
	[FEATURE_TEMP_EWMA_ABS_DEV] = "temp_ewma_abs_dev",
	[FEATURE_HUMIDITY_MEAN_10] = "humidity_mean_10",
};

/* One sensor's history (the value in the sensor map). */
struct sensor_state {
	double temp[FEATURES_WINDOW];  /* ring of previous temperatures */
	double hum[FEATURES_WINDOW];   /* ring of previous humidities */
	unsigned count;                /* readings seen (saturates at UINT32_MAX) */
	unsigned head;                 /* next ring index to write */
	unsigned repeat;               /* previous readings in a row equal to the last one */
	double ewma;                   /* slow EWMA of previous temperatures */
};

struct features {
	struct sensor_map *sensors;    /* sensor_id -> struct sensor_state */
};

const char *features_name(enum feature_id id)
{
	if ((int)id < 0 || id >= FEATURE_COUNT)
		return NULL;
	return feature_names[id];
}

int features_lookup(const char *name)
{
	for (int i = 0; i < FEATURE_COUNT; i++)
		if (strcmp(feature_names[i], name) == 0)
			return i;
	return -1;
}

const char *features_names_list(void)
{
	return "temperature, humidity, hour_of_day, day_of_week, hour_sin, hour_cos, "
	       "lat, lon, temp_mean_10, temp_std_10, temp_dev_10, temp_abs_dev_10, "
	       "temp_diff_prev, temp_abs_diff_prev, temp_repeat, temp_is_repeat, temp_ewma_abs_dev, "
	       "humidity_mean_10";
}

int features_is_calendar(enum feature_id id)
{
	return id == FEATURE_HOUR_OF_DAY || id == FEATURE_DAY_OF_WEEK || id == FEATURE_HOUR_SIN ||
	       id == FEATURE_HOUR_COS;
}

int features_create(struct features **out)
{
	struct features *f = calloc(1, sizeof *f);
	if (!f)
		return -1;
	if (sensor_map_create(&f->sensors, sizeof(struct sensor_state), FEATURES_MAX_SENSORS_DEFAULT,
			      0) < 0) {
		free(f);
		return -1;
	}
	*out = f;
	return 0;
}

void features_free(struct features **f)
{
	if (!f || !*f)
		return;
	sensor_map_free(&(*f)->sensors);
	free(*f);
	*f = NULL;
}

size_t features_sensors(const struct features *f)
{
	return sensor_map_count(f->sensors);
}

int features_set_limits(struct features *f, size_t max_sensors, int64_t idle_ms)
{
	return sensor_map_set_limits(f->sensors, max_sensors, idle_ms);
}

void features_stats(const struct features *f, struct sensor_map_stats *out)
{
	sensor_map_stats(f->sensors, out);
}

size_t features_sensor_bytes(void)
{
	return sensor_map_entry_bytes(sizeof(struct sensor_state));
}

int features_compute(struct features *f, const struct reading *r, double *out)
{
	return features_compute_at(f, r, r->timestamp_ms, out);
}

int features_compute_at(struct features *f, const struct reading *r, int64_t now_ms, double *out)
{
	struct sensor_state *s = sensor_map_get(f->sensors, r->sensor_id, now_ms, 1, NULL);
	double t = r->temperature;
	double hour = r->hour_of_day + (double)((r->timestamp_ms / 60000) % 60) / 60.0;
	unsigned n = 0;

	out[FEATURE_TEMPERATURE] = t;
	out[FEATURE_HUMIDITY] = r->humidity;
	out[FEATURE_HOUR_OF_DAY] = r->hour_of_day;
	out[FEATURE_DAY_OF_WEEK] = r->day_of_week;
	out[FEATURE_HOUR_SIN] = sin(2.0 * M_PI * hour / 24.0);
	out[FEATURE_HOUR_COS] = cos(2.0 * M_PI * hour / 24.0);
	out[FEATURE_LAT] = r->has_geo ? r->lat : 0.0;
	out[FEATURE_LON] = r->has_geo ? r->lon : 0.0;

	if (s)
		n = s->count < FEATURES_WINDOW ? s->count : FEATURES_WINDOW;
	if (n == 0) {
		out[FEATURE_TEMP_MEAN_10] = t;
		out[FEATURE_TEMP_STD_10] = 0.0;
		out[FEATURE_TEMP_DIFF_PREV] = 0.0;
		out[FEATURE_TEMP_REPEAT] = 0.0;
		out[FEATURE_TEMP_EWMA_ABS_DEV] = 0.0;
		out[FEATURE_HUMIDITY_MEAN_10] = r->humidity;
	} else {
		double st = 0, sh = 0, ss = 0, mean;
		unsigned last = (s->head + FEATURES_WINDOW - 1) % FEATURES_WINDOW;
		for (unsigned i = 0; i < n; i++) {
			st += s->temp[i];
			sh += s->hum[i];
		}
		mean = st / n;
		for (unsigned i = 0; i < n; i++)
			ss += (s->temp[i] - mean) * (s->temp[i] - mean);
		out[FEATURE_TEMP_MEAN_10] = mean;
		out[FEATURE_TEMP_STD_10] = n > 1 ? sqrt(ss / (n - 1)) : 0.0;
		out[FEATURE_TEMP_DIFF_PREV] = t - s->temp[last];
		out[FEATURE_TEMP_REPEAT] = t == s->temp[last] ? (double)(s->repeat + 1) : 0.0;
		out[FEATURE_TEMP_EWMA_ABS_DEV] = fabs(t - s->ewma);
		out[FEATURE_HUMIDITY_MEAN_10] = sh / n;
	}
	out[FEATURE_TEMP_DEV_10] = t - out[FEATURE_TEMP_MEAN_10];
	out[FEATURE_TEMP_ABS_DEV_10] = fabs(out[FEATURE_TEMP_DEV_10]);
	out[FEATURE_TEMP_ABS_DIFF_PREV] = fabs(out[FEATURE_TEMP_DIFF_PREV]);
	out[FEATURE_TEMP_IS_REPEAT] = out[FEATURE_TEMP_REPEAT] > 0 ? 1.0 : 0.0;
	if (out[FEATURE_TEMP_REPEAT] > REPEAT_CAP)
		out[FEATURE_TEMP_REPEAT] = REPEAT_CAP;

	if (!s)
		return -1;
	/* Now remember this reading. */
	s->repeat = out[FEATURE_TEMP_REPEAT] > 0 ? (unsigned)out[FEATURE_TEMP_REPEAT] : 0;
	s->ewma = s->count == 0 ? t : s->ewma + EWMA_ALPHA * (t - s->ewma);
	s->temp[s->head] = t;
	s->hum[s->head] = r->humidity;
	s->head = (s->head + 1) % FEATURES_WINDOW;
	if (s->count < UINT32_MAX)
		s->count++;
	return 0;
}

/*
 * sim.c - the built-in device simulator (sim.h). The process it follows, its
 * parameters and its label noise are written out in sensors/SIMULATOR.md;
 * the constants below are that document's numbers, and a change to either
 * must change both.
 *
 * Determinism: all randomness comes from one xoshiro256** generator seeded
 * through splitmix64 from the seed, drawn in a fixed order (sensor set-up at
 * creation, then per reading), so a seed and a start time give the same
 * readings on every run. The clock is never read. Normal variates use
 * Marsaglia's polar method with the spare value kept in the state.
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sensors/reading.h"
#include "sensors/sim.h"

#define SIM__PI 3.14159265358979323846
#define SIM__MAX_SENSORS 1000000u
#define SIM__MAX_RATE 1000.0 /* per sensor; timestamps have ms resolution */
/* 9000-01-01: leaves centuries of readings before the decoder's 9999 limit. */
#define SIM__MAX_START_MS 221845392000000LL

/* One location: where its sensors stand and how its climate differs. */
struct sim__location {
	const char *name;  /* location field of its readings */
	double lat, lon;   /* centre, degrees */
	double t_base;     /* daily mean temperature, °C */
	double h_base;     /* humidity at t_base, % RH */
	double t_offset_sd; /* spread of its sensors' temperature offsets, °C */
	double t_amplitude; /* its daily temperature swing (half range), °C */
};

static const struct sim__location sim__locations[] = {
	{ "building-a", 33.6400, 72.9900, 22.0, 45.0, 1.5, 6.0 },
	{ "building-b", 33.6425, 72.9935, 21.0, 50.0, 1.5, 6.0 },
	{ "building-c", 33.6380, 72.9870, 23.0, 62.0, 1.5, 6.0 },
	{ "building-d", 33.6445, 72.9855, 20.0, 40.0, 1.5, 6.0 },
	{ "boiler-room", 33.6410, 72.9920, 26.0, 35.0, 2.0, 14.0 },
};
#define SIM__NLOC (sizeof sim__locations / sizeof sim__locations[0])

/* Process parameters (SIMULATOR.md, "Parameters"). */
#define SIM__GEO_JITTER 0.0005     /* ± degrees around the location centre */
#define SIM__H_OFFSET_SD 3.0       /* per-sensor humidity offset, % RH */
#define SIM__T_PEAK_HOUR 15.0      /* UTC hour of the daily maximum */
#define SIM__T_NOISE_SD 0.8        /* per-reading temperature noise, °C */
#define SIM__H_PER_DEGREE 1.2      /* humidity drop per °C above t_base */
#define SIM__H_AMPLITUDE 4.0       /* daily humidity cycle, % RH */
#define SIM__H_PEAK_HOUR 5.0       /* UTC hour of its maximum */
#define SIM__H_NOISE_SD 2.0        /* per-reading humidity noise, % RH */
#define SIM__EPISODE_P 0.0008      /* chance an episode starts at a reading */
#define SIM__SPIKE_SHARE 0.5       /* of episodes; drift and stuck share the rest */
#define SIM__DRIFT_SHARE 0.25
#define SIM__SPIKE_MIN 8.0         /* spike size, °C, either sign */
#define SIM__SPIKE_MAX 15.0
#define SIM__SPIKE_LEN_MAX 3       /* readings, 1..3 */
#define SIM__LONG_LEN_MIN 20       /* drift and stuck episodes, readings */
#define SIM__LONG_LEN_MAX 60
#define SIM__DRIFT_MIN 0.15        /* drift slope, °C per reading, either sign */
#define SIM__DRIFT_MAX 0.40
#define SIM__ANOM_MISS_P 0.02      /* label noise: episode reading labelled 0 */
#define SIM__ANOM_FALSE_P 0.003    /* label noise: normal reading labelled 1 */
#define SIM__STATUS_T_SD 0.7       /* threshold blur on temperature, °C */
#define SIM__STATUS_H_SD 1.5       /* threshold blur on humidity, % RH */
#define SIM__WARN_T 32.0
#define SIM__WARN_H 80.0
#define SIM__FAULT_T 40.0
#define SIM__FAULT_H 92.0
#define SIM__STATUS_NOISE_P 0.03   /* label noise: status moved one class */

enum sim__episode {
	SIM__NONE = 0,
	SIM__SPIKE,
	SIM__DRIFT,
	SIM__STUCK,
};

/* One simulated sensor: fixed traits, then the state of its anomaly episode. */
struct sim__sensor {
	char id[24];          /* "sensor-007" */
	size_t id_len;        /* strlen(id) */
	unsigned loc;         /* index into sim__locations */
	double lat, lon;      /* its coordinates, rounded to 1e-6 degrees */
	double t_offset;      /* its constant temperature bias, °C */
	double h_offset;      /* its constant humidity bias, % RH */
	int episode;          /* enum sim__episode in progress */
	int ep_left;          /* readings the episode still covers */
	int ep_step;          /* readings of it done so far */
	double ep_value;      /* spike size or drift slope, °C */
	double last_t, last_h; /* last values reported (what a stuck sensor repeats) */
};

struct sim {
	struct sim_options opt;      /* as given */
	struct sim__sensor *sensors; /* opt.sensors of them */
	uint64_t rng[4];             /* xoshiro256** state */
	double spare;                /* second normal variate of the polar method */
	int has_spare;               /* 1 if spare is unused */
	uint64_t round;              /* round of the next reading */
	unsigned next;               /* sensor of the next reading */
	int64_t round_ms;            /* timestamp of the current round */
	int8_t hour, dow;            /* its calendar fields */
	double t_cycle, h_cycle;     /* its daily cycles: cos(phase) of temperature, humidity term in % RH */
};

static uint64_t sim__splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint64_t sim__rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t sim__next64(struct sim *s)
{
	uint64_t *r = s->rng;
	uint64_t result = sim__rotl(r[1] * 5, 7) * 9;
	uint64_t t = r[1] << 17;

	r[2] ^= r[0];
	r[3] ^= r[1];
	r[1] ^= r[2];
	r[0] ^= r[3];
	r[2] ^= t;
	r[3] = sim__rotl(r[3], 45);
	return result;
}

/* Uniform in [0, 1). */
static inline double sim__uniform(struct sim *s)
{
	return (double)(sim__next64(s) >> 11) * 0x1.0p-53;
}

/* Uniform in [lo, hi). */
static inline double sim__between(struct sim *s, double lo, double hi)
{
	return lo + (hi - lo) * sim__uniform(s);
}

/* Uniform integer in lo..hi. */
static inline int sim__int_between(struct sim *s, int lo, int hi)
{
	return lo + (int)(sim__uniform(s) * (hi - lo + 1));
}

/* Standard normal (polar method). */
static double sim__normal(struct sim *s)
{
	double u, v, q;

	if (s->has_spare) {
		s->has_spare = 0;
		return s->spare;
	}
	do {
		u = 2 * sim__uniform(s) - 1;
		v = 2 * sim__uniform(s) - 1;
		q = u * u + v * v;
	} while (q >= 1 || q == 0);
	q = sqrt(-2 * log(q) / q);
	s->spare = v * q;
	s->has_spare = 1;
	return u * q;
}

/* Round to 'scale' units (100 = two decimals). */
static inline double sim__round(double v, double scale)
{
	return floor(v * scale + 0.5) / scale;
}

/* Timestamp of round r. */
static int64_t sim__round_time(const struct sim *s, uint64_t r)
{
	return s->opt.start_ms + (int64_t)llround((double)r * 1000.0 / s->opt.rate);
}

/* Cache what every reading of the current round shares. */
static void sim__start_round(struct sim *s)
{
	s->round_ms = sim__round_time(s, s->round);
	reading_derive_calendar(s->round_ms, &s->hour, &s->dow);
	int64_t in_day = s->round_ms % 86400000;
	if (in_day < 0)
		in_day += 86400000;
	double hours = (double)in_day / 3600000.0;
	s->t_cycle = cos(2 * SIM__PI * (hours - SIM__T_PEAK_HOUR) / 24);
	s->h_cycle = SIM__H_AMPLITUDE * cos(2 * SIM__PI * (hours - SIM__H_PEAK_HOUR) / 24);
}

int sim_create(struct sim **out, const struct sim_options *opt,
	       char *err, size_t errlen)
{
	struct sim *s = NULL;
	uint64_t seed;

	assert(out && opt);
	*out = NULL;
	if (opt->sensors < 1 || opt->sensors > SIM__MAX_SENSORS) {
		snprintf(err, errlen, "simulator: sensors: %u outside 1..%u",
			 opt->sensors, SIM__MAX_SENSORS);
		goto fail;
	}
	if (!(opt->rate > 0) || !(opt->rate <= SIM__MAX_RATE)) {
		snprintf(err, errlen,
			 "simulator: rate: %g outside (0, %g] readings per second per sensor",
			 opt->rate, SIM__MAX_RATE);
		goto fail;
	}
	if (opt->start_ms < READING_TIME_MIN_MS || opt->start_ms > SIM__MAX_START_MS) {
		snprintf(err, errlen,
			 "simulator: start: %lld outside 2000-01-01..9000-01-01 (epoch milliseconds)",
			 (long long)opt->start_ms);
		goto fail;
	}
	s = calloc(1, sizeof *s);
	if (!s)
		goto oom;
	s->opt = *opt;
	s->sensors = calloc(opt->sensors, sizeof *s->sensors);
	if (!s->sensors)
		goto oom;
	seed = opt->seed;
	for (int i = 0; i < 4; i++)
		s->rng[i] = sim__splitmix64(&seed);

	for (unsigned i = 0; i < opt->sensors; i++) {
		struct sim__sensor *x = &s->sensors[i];
		const struct sim__location *l;
		x->id_len = (size_t)snprintf(x->id, sizeof x->id, "sensor-%03u", i);
		x->loc = i % SIM__NLOC;
		l = &sim__locations[x->loc];
		x->lat = sim__round(l->lat + sim__between(s, -SIM__GEO_JITTER, SIM__GEO_JITTER), 1e6);
		x->lon = sim__round(l->lon + sim__between(s, -SIM__GEO_JITTER, SIM__GEO_JITTER), 1e6);
		x->t_offset = l->t_offset_sd * sim__normal(s);
		x->h_offset = SIM__H_OFFSET_SD * sim__normal(s);
		x->last_t = l->t_base;
		x->last_h = l->h_base;
	}
	sim__start_round(s);
	*out = s;
	return 0;
oom:
	snprintf(err, errlen, "simulator: out of memory");
fail:
	sim_free(&s);
	return -1;
}

/* Maybe start an episode on sensor x (none in progress). */
static void sim__maybe_start_episode(struct sim *s, struct sim__sensor *x)
{
	if (sim__uniform(s) >= SIM__EPISODE_P)
		return;
	double kind = sim__uniform(s);
	double sign = sim__uniform(s) < 0.5 ? -1 : 1;
	x->ep_step = 0;
	if (kind < SIM__SPIKE_SHARE) {
		x->episode = SIM__SPIKE;
		x->ep_left = sim__int_between(s, 1, SIM__SPIKE_LEN_MAX);
		x->ep_value = sign * sim__between(s, SIM__SPIKE_MIN, SIM__SPIKE_MAX);
	} else if (kind < SIM__SPIKE_SHARE + SIM__DRIFT_SHARE) {
		x->episode = SIM__DRIFT;
		x->ep_left = sim__int_between(s, SIM__LONG_LEN_MIN, SIM__LONG_LEN_MAX);
		x->ep_value = sign * sim__between(s, SIM__DRIFT_MIN, SIM__DRIFT_MAX);
	} else {
		x->episode = SIM__STUCK;
		x->ep_left = sim__int_between(s, SIM__LONG_LEN_MIN, SIM__LONG_LEN_MAX);
		x->ep_value = 0;
	}
}

void sim_next(struct sim *s, struct reading *out)
{
	struct sim__sensor *x = &s->sensors[s->next];
	const struct sim__location *l = &sim__locations[x->loc];
	double t, h, tt, hh;
	int status, anomalous;

	/* The physical values. */
	double t_true = l->t_base + x->t_offset + l->t_amplitude * s->t_cycle +
			SIM__T_NOISE_SD * sim__normal(s);
	/* Input drift: half of the sensors now stand somewhere warmer. */
	if (s->opt.drift_after && s->round * s->opt.sensors + s->next >= s->opt.drift_after &&
	    s->next % 2 == 0)
		t_true += SIM_DRIFT_T;
	h = l->h_base + x->h_offset - SIM__H_PER_DEGREE * (t_true - l->t_base) +
	    s->h_cycle + SIM__H_NOISE_SD * sim__normal(s);
	t = t_true;

	/* What the sensor reports: a fault episode may distort it. */
	if (x->episode == SIM__NONE)
		sim__maybe_start_episode(s, x);
	anomalous = x->episode != SIM__NONE;
	switch (x->episode) {
	case SIM__SPIKE:
		t += x->ep_value;
		break;
	case SIM__DRIFT:
		t += x->ep_value * (x->ep_step + 1);
		break;
	case SIM__STUCK:
		t = x->last_t;
		h = x->last_h;
		break;
	default:
		break;
	}
	if (anomalous) {
		x->ep_step++;
		if (--x->ep_left <= 0)
			x->episode = SIM__NONE;
	}
	t = sim__round(fmin(fmax(t, -60), 150), 100);
	h = sim__round(fmin(fmax(h, 0), 100), 100);
	x->last_t = t;
	x->last_h = h;

	/* Ground truth, with blurred thresholds and label noise. */
	tt = t + SIM__STATUS_T_SD * sim__normal(s);
	hh = h + SIM__STATUS_H_SD * sim__normal(s);
	if (tt > SIM__FAULT_T || hh > SIM__FAULT_H)
		status = 2;
	else if (tt > SIM__WARN_T || hh > SIM__WARN_H)
		status = 1;
	else
		status = 0;
	if (sim__uniform(s) < SIM__STATUS_NOISE_P)
		status = status == 1 ? (sim__uniform(s) < 0.5 ? 0 : 2) : 1;
	if (sim__uniform(s) < (anomalous ? SIM__ANOM_MISS_P : SIM__ANOM_FALSE_P))
		anomalous = !anomalous;

	memcpy(out->sensor_id, x->id, x->id_len + 1);
	strcpy(out->location, l->name);
	out->temperature = t;
	out->humidity = h;
	out->lat = x->lat;
	out->lon = x->lon;
	out->timestamp_ms = s->round_ms;
	out->has_location = 1;
	out->has_geo = 1;
	out->hour_of_day = s->hour;
	out->day_of_week = s->dow;
	out->status_flag = (int8_t)status;
	out->is_anomaly = (int8_t)anomalous;

	if (++s->next == s->opt.sensors) {
		s->next = 0;
		s->round++;
		sim__start_round(s);
	}
}

int64_t sim_next_time(const struct sim *s)
{
	return s->round_ms;
}

void sim_free(struct sim **s)
{
	if (!s || !*s)
		return;
	free((*s)->sensors);
	free(*s);
	*s = NULL;
}

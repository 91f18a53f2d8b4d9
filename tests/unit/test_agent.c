/*
 * test_agent.c - unit tests of the agent's own pieces: the feature
 * catalogue's arithmetic, the pipeline (queue + group-commit writer) against
 * a real SQLite buffer, the bounded per-sensor table (LRU order, cap,
 * idle timeout, against a reference model), and ingest (dedup of a redelivered reading,
 * quarantine of bad bytes with the reason) with the shipped models; and the
 * pipeline on a full disk: nothing committed, nothing lost, resumes by itself;
 * the progress bar's text, rate limit and drawing; and the agent.state file
 * read while it is rewritten.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/drift.h"
#include "agent/features.h"
#include "agent/forward.h"
#include "agent/ingest.h"
#include "agent/pipeline.h"
#include "agent/progress.h"
#include "agent/scorer.h"
#include "agent/sensor_map.h"
#include "agent/state.h"
#include "check.h"
#include "sensors/event.h"
#include "sinks/sink.h"
#include "store/store.h"
#include "store/store_int.h" /* the connection, to make the disk "full" */

#include <sqlite3.h>

static struct reading make_reading(const char *id, double t, double h, int64_t ts)
{
	struct reading r;
	memset(&r, 0, sizeof r);
	strcpy(r.sensor_id, id);
	r.temperature = t;
	r.humidity = h;
	r.timestamp_ms = ts;
	reading_derive_calendar(ts, &r.hour_of_day, &r.day_of_week);
	r.status_flag = -1;
	r.is_anomaly = -1;
	return r;
}

static void test_features(void)
{
	struct features *f;
	double v[FEATURE_COUNT];
	/* 2026-11-21T06:00:00Z: hour 6 -> sin = 1, cos = 0. */
	int64_t t0 = 1763704800000LL;
	struct reading r = make_reading("s1", 20.0, 50.0, t0);

	CHECK_INT(features_create(&f), 0);
	CHECK_INT(features_lookup("temp_mean_10"), FEATURE_TEMP_MEAN_10);
	CHECK_INT(features_lookup("nope"), -1);
	for (int i = 0; i < FEATURE_COUNT; i++)
		CHECK_INT(features_lookup(features_name(i)), i);

	CHECK_INT(features_compute(f, &r, v), 0);
	/* First reading: no history, so the window is the reading itself. */
	CHECK_NEAR(v[FEATURE_TEMP_MEAN_10], 20.0, 1e-12);
	CHECK_NEAR(v[FEATURE_TEMP_DIFF_PREV], 0.0, 1e-12);
	CHECK_NEAR(v[FEATURE_HOUR_SIN], 1.0, 1e-12);
	CHECK_NEAR(v[FEATURE_HOUR_COS], 0.0, 1e-12);
	CHECK_INT(v[FEATURE_HOUR_OF_DAY], 6);

	r.temperature = 22.0;
	CHECK_INT(features_compute(f, &r, v), 0);
	CHECK_NEAR(v[FEATURE_TEMP_MEAN_10], 20.0, 1e-12);   /* previous only */
	CHECK_NEAR(v[FEATURE_TEMP_DIFF_PREV], 2.0, 1e-12);
	CHECK_NEAR(v[FEATURE_TEMP_ABS_DEV_10], 2.0, 1e-12);
	CHECK_NEAR(v[FEATURE_TEMP_EWMA_ABS_DEV], 2.0, 1e-12);
	CHECK_NEAR(v[FEATURE_TEMP_REPEAT], 0.0, 1e-12);

	/* Stuck value: the repeat count grows. */
	CHECK_INT(features_compute(f, &r, v), 0);
	CHECK_NEAR(v[FEATURE_TEMP_REPEAT], 1.0, 1e-12);
	CHECK_NEAR(v[FEATURE_TEMP_MEAN_10], 21.0, 1e-12);
	CHECK_NEAR(v[FEATURE_TEMP_STD_10], sqrt(2.0), 1e-12);
	CHECK_INT(features_compute(f, &r, v), 0);
	CHECK_NEAR(v[FEATURE_TEMP_REPEAT], 2.0, 1e-12);

	/* The window holds the last 10 only. */
	for (int i = 0; i < 20; i++) {
		r.temperature = i;
		features_compute(f, &r, v);
	}
	r.temperature = 100;
	features_compute(f, &r, v);
	CHECK_NEAR(v[FEATURE_TEMP_MEAN_10], 14.5, 1e-12); /* mean of 10..19 */

	/* Sensors are independent; the table grows past its first size. */
	for (int i = 0; i < 500; i++) {
		char id[32];
		snprintf(id, sizeof id, "grow-%d", i);
		struct reading g = make_reading(id, i, 10, t0);
		features_compute(f, &g, v);
	}
	CHECK_INT(features_sensors(f), 501);
	r.temperature = 7;
	features_compute(f, &r, v);
	CHECK_NEAR(v[FEATURE_TEMP_DIFF_PREV], -93.0, 1e-12); /* s1 kept its history */

	/* A cap of 2: a third sensor evicts the least recently seen, whose next
	 * reading is then scored as a new sensor's first. */
	{
		struct sensor_map_stats st;
		struct reading a = make_reading("cap-a", 30.0, 40.0, t0), b = make_reading("cap-b", 10.0, 40.0, t0);
		struct reading c = make_reading("cap-c", 50.0, 40.0, t0);

		CHECK_INT(features_set_limits(f, 0, 0), -1);
		CHECK_INT(features_set_limits(f, 2, 0), 0);
		features_stats(f, &st);
		CHECK_INT(st.count, 2);
		CHECK_INT(st.evicted_lru, 499); /* 501 sensors down to the two last seen */
		features_compute_at(f, &a, t0, v);
		features_compute_at(f, &b, t0 + 1, v);
		a.temperature = 31.0;
		features_compute_at(f, &a, t0 + 2, v);
		CHECK_NEAR(v[FEATURE_TEMP_DIFF_PREV], 1.0, 1e-12); /* a has history */
		features_compute_at(f, &c, t0 + 3, v);            /* evicts b */
		b.temperature = 12.0;
		features_compute_at(f, &b, t0 + 4, v);            /* evicts a */
		CHECK_NEAR(v[FEATURE_TEMP_MEAN_10], 12.0, 1e-12);  /* b starts afresh */
		CHECK_NEAR(v[FEATURE_TEMP_DIFF_PREV], 0.0, 1e-12);
		c.temperature = 49.0;
		features_compute_at(f, &c, t0 + 5, v);
		CHECK_NEAR(v[FEATURE_TEMP_DIFF_PREV], -1.0, 1e-12); /* c kept its history */
		features_stats(f, &st);
		CHECK_INT(st.count, 2);
		CHECK_INT(st.evicted_lru, 499 + 4); /* s1, grow-499, b, a */
		/* Idle timeout: a sensor unseen for 60 s starts afresh. */
		CHECK_INT(features_set_limits(f, 2, 60000), 0);
		c.temperature = 45.0;
		features_compute_at(f, &c, t0 + 5 + 60000, v);
		CHECK_NEAR(v[FEATURE_TEMP_DIFF_PREV], 0.0, 1e-12);
		features_stats(f, &st);
		CHECK_INT(st.evicted_idle, 2); /* b and c */
		CHECK_INT(st.count, 1);
		CHECK(features_sensor_bytes() >= sizeof(double) * 2 * FEATURES_WINDOW + READING_ID_MAX);
	}
	features_free(&f);
	CHECK(f == NULL);
}

/* A value of the map in the tests: which sensor it was created for. */
struct map_value {
	int who;
	int touches;
};

static void sensor_id_of(int i, char *buf, size_t len)
{
	snprintf(buf, len, "sensor-%d", i);
}

/* Present or not, without touching: a lookup that creates nothing touches
 * the entry, so these tests look at the stats and at values instead. */
static struct map_value *map_touch(struct sensor_map *m, int i, int64_t now, int create, int *created)
{
	char id[32];
	sensor_id_of(i, id, sizeof id);
	return sensor_map_get(m, id, now, create, created);
}

static void test_sensor_map_lru(void)
{
	struct sensor_map *m = NULL;
	struct sensor_map_stats st;
	struct map_value *v;
	char id[READING_ID_MAX + 2];
	int created;

	CHECK_INT(sensor_map_create(&m, sizeof(struct map_value), 0, 0), -1);
	CHECK_INT(sensor_map_create(&m, sizeof(struct map_value), SENSOR_MAP_MAX + 1, 0), -1);
	CHECK_INT(sensor_map_create(&m, sizeof(struct map_value), 3, -1), -1);
	CHECK(m == NULL);

	/* Eviction order: the least recently used goes first; a lookup counts as a use. */
	CHECK_INT(sensor_map_create(&m, sizeof(struct map_value), 3, 0), 0);
	for (int i = 0; i < 3; i++) {
		v = map_touch(m, i, i, 1, &created);
		CHECK(v && created && v->who == 0);
		v->who = 100 + i;
	}
	v = map_touch(m, 0, 10, 1, &created); /* 0 is now the most recent: 1 is next out */
	CHECK(v && !created && v->who == 100);
	v = map_touch(m, 3, 11, 1, &created);
	CHECK(v && created);
	v->who = 103;
	sensor_map_stats(m, &st);
	CHECK_INT(st.count, 3);
	CHECK_INT(st.evicted_lru, 1);
	CHECK_INT(st.evicted_idle, 0);
	CHECK(map_touch(m, 1, 12, 0, NULL) == NULL); /* 1 is gone */
	/* Order now (oldest first): 2, 0, 3. A new one evicts 2. */
	v = map_touch(m, 4, 13, 1, &created);
	CHECK(v && created && v->who == 0); /* zero-filled, not 2's old value */
	CHECK(map_touch(m, 2, 14, 0, NULL) == NULL);
	CHECK((v = map_touch(m, 0, 15, 0, NULL)) && v->who == 100);
	CHECK((v = map_touch(m, 3, 16, 0, NULL)) && v->who == 103);
	sensor_map_stats(m, &st);
	CHECK_INT(st.count, 3);
	CHECK_INT(st.evicted_lru, 2);

	/* A smaller cap evicts the least recently used at once (4, then 0 kept 3). */
	CHECK_INT(sensor_map_set_limits(m, 1, 0), 0);
	CHECK_INT(sensor_map_count(m), 1);
	CHECK((v = map_touch(m, 3, 17, 0, NULL)) && v->who == 103);
	CHECK(map_touch(m, 0, 18, 0, NULL) == NULL);
	CHECK_INT(sensor_map_set_limits(m, 0, 0), -1);
	CHECK_INT(sensor_map_count(m), 1);

	/* Cap 1: every new sensor replaces the last one, and the re-created one starts afresh. */
	v = map_touch(m, 5, 19, 1, &created);
	CHECK(v && created);
	v->who = 105;
	CHECK(map_touch(m, 3, 20, 0, NULL) == NULL);
	v = map_touch(m, 3, 21, 1, &created);
	CHECK(v && created && v->who == 0);
	v = map_touch(m, 3, 22, 1, &created); /* re-touch: the same one, kept */
	CHECK(v && !created);
	sensor_map_stats(m, &st);
	CHECK_INT(st.count, 1);
	CHECK_INT(st.evicted_lru, 6);

	/* Ids: empty and over 128 bytes are refused, 128 is fine. */
	CHECK(sensor_map_get(m, "", 23, 1, &created) == NULL && !created);
	memset(id, 'x', sizeof id - 1);
	id[sizeof id - 1] = '\0';
	CHECK(sensor_map_get(m, id, 23, 1, NULL) == NULL);
	id[READING_ID_MAX] = '\0';
	CHECK(sensor_map_get(m, id, 23, 1, &created) != NULL && created);
	CHECK(sensor_map_get(m, id, 24, 0, NULL) != NULL);
	sensor_map_free(&m);
	CHECK(m == NULL);
	sensor_map_free(&m);

	/* Idle timeout: unused for idle_ms or more (at the time of a lookup) is gone. */
	CHECK_INT(sensor_map_create(&m, sizeof(struct map_value), 100, 1000), 0);
	CHECK(map_touch(m, 0, 0, 1, NULL));
	CHECK(map_touch(m, 1, 500, 1, NULL));
	CHECK(map_touch(m, 2, 999, 1, NULL));
	CHECK(map_touch(m, 0, 999, 0, NULL)); /* 999 ms unused: kept, and touched at 999 */
	CHECK(map_touch(m, 1, 1500, 0, NULL) == NULL); /* 1000 ms: gone */
	sensor_map_stats(m, &st);
	CHECK_INT(st.count, 2);
	CHECK_INT(st.evicted_idle, 1);
	CHECK_INT(st.evicted_lru, 0);
	v = map_touch(m, 1, 1501, 1, &created);
	CHECK(v && created);
	CHECK(map_touch(m, 7, 5000, 0, NULL) == NULL); /* any lookup expires: 0, 2, 1 all idle */
	sensor_map_stats(m, &st);
	CHECK_INT(st.count, 0);
	CHECK_INT(st.evicted_idle, 4);
	/* No timeout after set_limits(.., 0): nothing expires, however old. */
	CHECK_INT(sensor_map_set_limits(m, 100, 0), 0);
	CHECK(map_touch(m, 0, 6000, 1, NULL));
	CHECK(map_touch(m, 0, INT64_MAX / 2, 0, NULL));
	sensor_map_free(&m);

	/* Against a reference LRU: random lookups of 3000 ids through a cap of
	 * 250 with a 400-tick idle timeout; the index grows, and deletions with
	 * backward shifts run all the time. Presence, values and stats agree. */
	{
		enum { IDS = 3000, CAP = 250, IDLE = 400, OPS = 60000 };
		static int64_t last[IDS];   /* reference: time of last use, -1 absent */
		static int seq[IDS];        /* ... and its order (times repeat) */
		static int present[CAP + 1], npresent;
		uint64_t rng = 0x9e3779b97f4a7c15ULL, ev_lru = 0, ev_idle = 0;
		int64_t now = 0;
		int bad = 0;

		for (int i = 0; i < IDS; i++)
			last[i] = -1;
		npresent = 0;
		CHECK_INT(sensor_map_create(&m, sizeof(struct map_value), CAP, IDLE), 0);
		for (int op = 0; op < OPS && !bad; op++) {
			int i, create, want_created = 0;
			rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
			/* Mostly a working set of 300 ids, sometimes any of the 3000. */
			i = (int)((rng >> 8) % (rng % 4 ? 300 : IDS));
			create = (rng >> 40) % 8 != 0;
			now += (int64_t)((rng >> 50) % 3);
			/* Reference: expire, then look up, then evict and insert. */
			for (int k = 0; k < npresent;) {
				if (now - last[present[k]] >= IDLE) {
					last[present[k]] = -1;
					present[k] = present[--npresent];
					ev_idle++;
				} else {
					k++;
				}
			}
			if (last[i] < 0 && create) {
				if (npresent == CAP) {
					int oldest = 0;
					for (int k = 1; k < npresent; k++)
						if (seq[present[k]] < seq[present[oldest]])
							oldest = k;
					last[present[oldest]] = -1;
					present[oldest] = present[--npresent];
					ev_lru++;
				}
				present[npresent++] = i;
				want_created = 1;
			}
			int was = last[i] >= 0 || want_created;
			if (was)
				last[i] = now, seq[i] = op;
			v = map_touch(m, i, now, create, &created);
			if ((v != NULL) != was || created != want_created ||
			    (v && !created && v->who != i + 1)) {
				fprintf(stderr, "  sensor_map op %d: id %d, now %lld: got %p created %d\n",
					op, i, (long long)now, (void *)v, created);
				bad = 1;
			}
			if (v && created)
				v->who = i + 1;
		}
		CHECK(!bad);
		sensor_map_stats(m, &st);
		CHECK_INT(st.count, npresent);
		CHECK_INT(st.evicted_lru, ev_lru);
		CHECK_INT(st.evicted_idle, ev_idle);
		CHECK(ev_lru > 1000 && ev_idle > 100); /* both kinds really happened */
		sensor_map_free(&m);
	}
}

static int count_events(void *ctx, uint64_t seq, int64_t ts, const void *d, size_t len)
{
	(void)seq; (void)ts; (void)d; (void)len;
	(*(int *)ctx)++;
	return 0;
}

static void test_pipeline_and_ingest(const char *dir)
{
	char path[512], err[512];
	struct store *st;
	struct store_options so = { .path = path };
	struct pipeline *p;
	struct pipeline_stats ps;
	struct scorer *sc;
	struct ingest_counters ctr;
	struct ingest in;
	struct store_stats ss;
	uint64_t t1, t2, t3;
	int n = 0;
	int64_t ts = 1763762400123LL;

	memset(&ctr, 0, sizeof ctr);
	snprintf(path, sizeof path, "%s/buf.db", dir);
	CHECK_INT(store_open(&st, &so, err, sizeof err), 0);
	struct pipeline_options po = { .store = st, .gateway_id = "gw-1", .site = "s", .commit_ms = 5 };
	CHECK_INT(pipeline_start(&p, &po, err, sizeof err), 0);
	if (scorer_load(&sc, "../../models/default", err, sizeof err) < 0) {
		fprintf(stderr, "cannot load models: %s\n", err);
		CHECK(0);
		return;
	}
	CHECK_INT(ingest_init(&in, sc, p, &ctr), 0);

	struct reading r = make_reading("sensor-1", 21.5, 40.0, ts);
	CHECK_INT(ingest_reading(&in, &r, ts + 2, &t1), 0);
	/* The broker redelivers the same reading: stored once. */
	CHECK_INT(ingest_reading(&in, &r, ts + 9, &t2), 0);
	const char *bad = "{\"sensor_id\": \"x\", \"temperature\": 999, \"humidity\": 1}";
	CHECK_INT(ingest_raw(&in, bad, strlen(bad), "sensors/x/reading", NULL, ts + 10, &t3), 0);
	CHECK(t1 < t2 && t2 < t3);
	CHECK_INT(pipeline_wait(p, t3, 5000), 0);
	pipeline_get_stats(p, &ps);
	CHECK_INT(ps.events, 1);
	CHECK_INT(ps.duplicates, 1);
	CHECK_INT(ps.quarantined, 1);
	CHECK_INT(ps.last_seq, 1);
	CHECK_INT(atomic_load(&ctr.received), 3);
	CHECK_INT(atomic_load(&ctr.rejected), 1);
	CHECK_INT(atomic_load(&ctr.rejected_by_reason[-READING_ERANGE]), 1);

	/* Many events through a small queue: backpressure, nothing dropped. */
	int pushed = 0;
	for (int i = 0; i < 10000; i++) {
		struct reading q = make_reading("bulk", 20 + (i % 7), 50, ts + 1000 + i);
		pushed += ingest_reading(&in, &q, ts + 1000 + i, &t1) == 0;
	}
	CHECK_INT(pushed, 10000);
	CHECK_INT(pipeline_wait(p, t1, 10000), 0);
	pipeline_stop(&p, 5000);
	CHECK(p == NULL);
	ingest_cleanup(&in);

	CHECK_INT(store_stats(st, &ss, err, sizeof err), 0);
	CHECK_INT(ss.events, 10001);
	CHECK_INT(ss.newest_seq, 10001);
	CHECK_INT(ss.quarantined, 1);
	CHECK_INT(store_read(st, 1, 20000, count_events, &n, err, sizeof err), 10001);
	CHECK_INT(n, 10001);
	store_close(&st);
}

/* Pushes without a ticket (QoS 0, the simulator) into an open group do not
 * wake the writer one by one: it must still find them on its own. With a
 * 60 s commit_ms, only its idle commit can commit them in time, and it does
 * for a group of IDLE_COMMIT_BYTES (32 KiB) or more. A smaller group waits
 * for more until commit_ms (fewer commits, less flash wear): not committed
 * at the idle gap, committed at commit_ms. */
static void push_untracked(struct pipeline *p, int from, int to, size_t body_len, int every)
{
	struct timespec gap = { 0, 300000 };
	char key[16], body[512];

	for (int i = from; i < to; i++) {
		snprintf(key, sizeof key, "k%05d", i);
		snprintf(body, sizeof body, "{\"i\":%d,\"pad\":\"%*s\"}", i, (int)body_len, "");
		CHECK_INT(pipeline_push_event(p, key, strlen(key), 1000 + i, body, strlen(body), NULL), 0);
		if (every && i % every == 0)
			nanosleep(&gap, NULL);
	}
}

static void test_pipeline_untracked(const char *dir)
{
	char path[512], err[512];
	struct store *st;
	struct store_options so = { .path = path };
	struct pipeline *p;
	struct pipeline_stats ps;

	snprintf(path, sizeof path, "%s/untracked.db", dir);
	CHECK_INT(store_open(&st, &so, err, sizeof err), 0);
	struct pipeline_options po = { .store = st, .gateway_id = "gw", .site = "s", .commit_ms = 60000 };
	CHECK_INT(pipeline_start(&p, &po, err, sizeof err), 0);
	push_untracked(p, 0, 100, 400, 0); /* a burst of 40 KiB */
	CHECK_INT(pipeline_wait_events(p, 99, 5000), 1);
	push_untracked(p, 100, 1100, 400, 5); /* a trickle that keeps a group open */
	CHECK_INT(pipeline_wait_events(p, 1099, 5000), 1);
	pipeline_get_stats(p, &ps);
	CHECK_INT(ps.events, 1100);
	CHECK_INT(ps.last_seq, 1100);
	pipeline_stop(&p, 5000);

	/* Readings one by one, 2 ms apart (a steady QoS 0 stream): the 2 ms
	 * gaps are no pause, so 200 KiB fill one group until the stream stops
	 * (were each gap a pause: a commit per 32 KiB, 6 or more). A late
	 * wake-up of 8 ms or more (a loaded machine) cuts the group, and what
	 * is left if under 32 KiB waits for commit_ms (3 s): two of those are
	 * tolerated. */
	po.commit_ms = 3000;
	CHECK_INT(pipeline_start(&p, &po, err, sizeof err), 0);
	{
		struct timespec two = { 0, 2000000L };
		for (int i = 2000; i < 2500; i++) {
			push_untracked(p, i, i + 1, 400, 0);
			nanosleep(&two, NULL);
		}
	}
	CHECK_INT(pipeline_wait_events(p, 1599, 10000), 1);
	pipeline_get_stats(p, &ps);
	if (ps.commits > 3)
		fprintf(stderr, "steady stream: %llu commits\n", (unsigned long long)ps.commits);
	CHECK(ps.commits >= 1 && ps.commits <= 3);
	pipeline_stop(&p, 5000);

	/* A few small readings: held back to commit_ms (500 ms), not longer. */
	po.commit_ms = 500;
	CHECK_INT(pipeline_start(&p, &po, err, sizeof err), 0);
	push_untracked(p, 1100, 1103, 10, 0);
	CHECK_INT(pipeline_wait_events(p, 1600, 200), 0);
	CHECK_INT(pipeline_wait_events(p, 1602, 5000), 1);
	pipeline_get_stats(p, &ps);
	CHECK_INT(ps.commits, 1);
	pipeline_stop(&p, 5000);
	store_close(&st);
}

/* The buffer refuses to grow (as on a full disk) while events arrive; when
 * space returns, every event is committed in order, none twice. */
static void test_pipeline_disk_full(const char *dir)
{
	char path[512], err[512];
	struct store *st;
	struct store_options so = { .path = path };
	struct pipeline *p;
	struct pipeline_stats ps;
	struct store_stats ss;
	uint64_t ticket = 0;
	char body[400];
	int pushed = 0;

	snprintf(path, sizeof path, "%s/full.db", dir);
	CHECK_INT(store_open(&st, &so, err, sizeof err), 0);
	struct pipeline_options po = { .store = st, .gateway_id = "gw", .site = "s", .commit_ms = 5 };
	CHECK_INT(pipeline_start(&p, &po, err, sizeof err), 0);
	memset(body, 'b', sizeof body - 2);
	body[0] = '"';
	strcpy(body + sizeof body - 3, "\"}");
	/* SQLite connections are serialized: the cap may be set from this thread. */
	CHECK_INT(sqlite3_exec(st->db, "PRAGMA max_page_count = 3", NULL, NULL, NULL), SQLITE_OK);
	for (int i = 0; i < 500; i++) {
		unsigned char key[16];
		memset(key, 0, sizeof key);
		key[0] = (unsigned char)(i >> 8);
		key[1] = (unsigned char)i;
		pushed += pipeline_push_event(p, key, sizeof key, 1000 + i, body, strlen(body), &ticket) == 0;
	}
	CHECK_INT(pushed, 500);
	CHECK_INT(pipeline_wait(p, ticket, 1500), -1); /* cannot commit */
	pipeline_get_stats(p, &ps);
	CHECK_INT(ps.healthy, 0);
	CHECK(ps.commit_errors > 0);
	CHECK_INT(ps.events, 0);
	/* Space returns: the writer's retry commits everything by itself. */
	CHECK_INT(sqlite3_exec(st->db, "PRAGMA max_page_count = 1073741823", NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(pipeline_wait(p, ticket, 15000), 0);
	pipeline_get_stats(p, &ps);
	CHECK_INT(ps.healthy, 1);
	CHECK_INT(ps.events, 500);
	pipeline_stop(&p, 5000);
	CHECK_INT(store_stats(st, &ss, err, sizeof err), 0);
	CHECK_INT(ss.events, 500);
	CHECK_INT(ss.oldest_seq, 1);
	CHECK_INT(ss.newest_seq, 500);
	store_close(&st);
}

/*
 * The forwarder against a sink written here (the sink interface is ours).
 * Like librdkafka it answers later, in poll(): only once 60 events wait, or
 * when the forwarder has nothing more to send (poll with a timeout), so
 * several batches are in flight at once. It answers "retry" to the first
 * attempt of every third event, "rejected" for event 5, "delivered"
 * otherwise. Events are 60 kB: the retries of several batches fill the
 * forwarder's 1 MiB arena before its event count, the case where an event
 * that did not fit was once taken for dropped. In the end every event is
 * delivered exactly once except event 5, a dead letter, and the position
 * is the last seq.
 */
#define FW_EVENTS 120
struct test_sink {
	struct sink base;                 /* first */
	uint64_t queued[FW_EVENTS * 2];   /* sent, not answered yet */
	size_t nqueued;
	int attempts[FW_EVENTS + 1];      /* sends per seq */
	int delivered[FW_EVENTS + 1];     /* "delivered" answers per seq */
};

static long ts_send(struct sink *s, const struct sink_event *ev, size_t n, char *err, size_t errlen)
{
	struct test_sink *t = (struct test_sink *)s;
	size_t i;

	(void)err, (void)errlen;
	for (i = 0; i < n && t->nqueued < FW_EVENTS * 2; i++) {
		uint64_t q = ev[i].seq;
		CHECK(q >= 1 && q <= FW_EVENTS && ev[i].sensor_id_len == 3 &&
		      memcmp(ev[i].sensor_id, "s-1", 3) == 0);
		t->queued[t->nqueued++] = q;
	}
	return (long)i;
}

static int ts_poll(struct sink *s, int ms)
{
	struct test_sink *t = (struct test_sink *)s;
	size_t n = t->nqueued;

	if (n < 60 && ms == 0)
		return 0;
	t->nqueued = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t q = t->queued[i];
		if (q < 1 || q > FW_EVENTS)
			continue;
		t->attempts[q]++;
		if (q == 5)
			s->on_outcome(s->ctx, q, SINK_REJECTED, "400 test: bad field", 0);
		else if (q % 3 == 0 && t->attempts[q] == 1)
			s->on_outcome(s->ctx, q, SINK_RETRY, "503 test: try later", 0);
		else {
			t->delivered[q]++;
			s->on_outcome(s->ctx, q, SINK_DELIVERED, NULL, 0);
		}
	}
	return 0;
}
static size_t ts_flush(struct sink *s, int ms) { (void)ms; ts_poll(s, 1); return 0; }
static size_t ts_inflight(const struct sink *s) { return ((const struct test_sink *)s)->nqueued; }
static void ts_destroy(struct sink *s) { (void)s; /* owned by the test */ }
static const struct sink_ops ts_ops = { ts_send, ts_poll, ts_flush, ts_inflight, ts_destroy };

static void test_forwarder(const char *dir)
{
	char path[512], err[512], head[EVENT_HEAD_MAX];
	const char *sinks[] = { "test" };
	struct store_options so = { .path = path, .sinks = sinks, .nsinks = 1 };
	struct forward_options fo = { .name = "test", .describe = "a test sink", .window = 500, .batch = 200 };
	struct test_sink *t = calloc(1, sizeof *t);
	size_t body_len = 60000;
	char *ev = malloc(EVENT_HEAD_MAX + body_len + 64);
	struct store *st = NULL;
	struct forward *fw = NULL;
	struct forward_stats fs = { 0 };
	uint64_t pos = 0;
	int ok = 1;

	CHECK(t && ev);
	if (!t || !ev)
		goto out;
	snprintf(path, sizeof path, "%s/forward.db", dir);
	CHECK_INT(store_open(&st, &so, err, sizeof err), 0);
	CHECK_INT(store_begin(st, err, sizeof err), 0);
	for (uint64_t q = 1; q <= FW_EVENTS; q++) {
		int hl = event_encode_head("gw", "site", q, head, sizeof head);
		int n = snprintf(ev, EVENT_HEAD_MAX + 64, "%s\"sensor_id\":\"s-1\",\"pad\":\"", head);
		char key[16];
		memset(ev + n, 'x', body_len);
		memcpy(ev + n + body_len, "\"}", 3);
		snprintf(key, sizeof key, "k%llu", (unsigned long long)q);
		(void)hl;
		ok &= store_append(st, q, 1000 + (int64_t)q, key, strlen(key), ev, (size_t)n + body_len + 2,
				   err, sizeof err) == 1;
	}
	CHECK(ok);
	CHECK_INT(store_commit(st, err, sizeof err), 0);
	store_close(&st);

	t->base.ops = &ts_ops;
	t->base.name = "test";
	t->base.on_outcome = forward_on_outcome;
	t->base.on_state = forward_on_state;
	fo.store = so;
	CHECK_INT(forward_create(&fw, &fo, err, sizeof err), 0);
	if (!fw)
		goto out;
	t->base.ctx = fw;
	CHECK_INT(forward_start(fw, &t->base, err, sizeof err), 0);
	for (int i = 0; i < 300 && fs.position < FW_EVENTS; i++) {
		usleep(20000);
		forward_get_stats(fw, &fs);
	}
	forward_stop(&fw, 1000);
	CHECK_INT((int)fs.position, FW_EVENTS);
	CHECK_INT((int)fs.rejected, 1);
	CHECK_INT((int)fs.missing, 0);
	{
		int wrong = 0, retried = 0;
		for (int q = 1; q <= FW_EVENTS; q++) {
			if (t->delivered[q] != (q == 5 ? 0 : 1))
				wrong++;
			if (t->attempts[q] == 2)
				retried++;
		}
		CHECK_INT(wrong, 0);
		CHECK_INT(retried, FW_EVENTS / 3 - (5 % 3 == 0));
	}
	/* The position and the dead letter are in the buffer. */
	so.readonly = 1;
	CHECK_INT(store_open(&st, &so, err, sizeof err), 0);
	if (st) {
		struct store_stats ss;
		CHECK_INT(store_position_get(st, "test", &pos, err, sizeof err), 0);
		CHECK_INT((int)pos, FW_EVENTS);
		CHECK_INT(store_stats(st, &ss, err, sizeof err), 0);
		CHECK_INT((int)ss.dead_letters, 1);
		store_close(&st);
	}
out:
	free(ev);
	free(t);
}

/* A copy of models/default in dir/name; returns its path in out. */
static void copy_set(const char *dir, const char *name, char *out, size_t cap)
{
	char cmd[2200];

	snprintf(out, cap, "%s/%s", dir, name);
	snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s' && cp ../../models/default/*.json '%s'/",
		 out, out, out);
	CHECK_INT(system(cmd), 0);
}

/* A sealed set loads; a file that no longer matches its seal, or that the
 * seal does not list, is refused with the file named; an unsealed set loads. */
static void test_scorer_seal(const char *dir)
{
	char set[600], cmd[1400], err[1024];
	_Static_assert(sizeof cmd > 2 * sizeof set, "room for the commands");
	struct scorer *sc = NULL;

	copy_set(dir, "set", set, sizeof set);
	CHECK_INT(scorer_load(&sc, set, err, sizeof err), 0);
	scorer_free(&sc);
	CHECK_INT(scorer_seal(set, err, sizeof err), 0);
	snprintf(cmd, sizeof cmd, "cd '%s' && sha256sum --quiet -c SHA256SUMS", set);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(scorer_load(&sc, set, err, sizeof err), 0);
	CHECK(sc != NULL);
	scorer_free(&sc);
	/* Another valid model file in place of the sealed one: a mixed set. */
	snprintf(cmd, sizeof cmd, "sed -i 's/\"version\": 1/\"version\": 2/' '%s/anomaly_detector.json'", set);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(scorer_load(&sc, set, err, sizeof err), -1);
	CHECK(sc == NULL);
	CHECK(strstr(err, "/anomaly_detector.json: does not match SHA256SUMS") != NULL);
	/* A seal that does not list a file. */
	CHECK_INT(scorer_seal(set, err, sizeof err), 0);
	snprintf(cmd, sizeof cmd, "sed -i '/humidity_regressor/d' '%s/SHA256SUMS'", set);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(scorer_load(&sc, set, err, sizeof err), -1);
	CHECK(strstr(err, "/humidity_regressor.json: not listed in") != NULL);
	/* Without a seal the set loads as it is. */
	snprintf(cmd, sizeof cmd, "rm '%s/SHA256SUMS'", set);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(scorer_load(&sc, set, err, sizeof err), 0);
	scorer_free(&sc);
	/* A missing directory, a missing file. */
	CHECK_INT(scorer_load(&sc, "/nonexistent/models", err, sizeof err), -1);
	CHECK(strstr(err, "/nonexistent/models: cannot open the model directory") != NULL);
	snprintf(cmd, sizeof cmd, "rm '%s/status_predictor.json'", set);
	CHECK_INT(system(cmd), 0);
	CHECK_INT(scorer_load(&sc, set, err, sizeof err), -1);
	CHECK(strstr(err, "/status_predictor.json: cannot open: No such file") != NULL);
}

/* What a bar wrote to its (non-terminal) file. */
static char *progress_text(FILE *f)
{
	static char buf[4096];
	long n = ftell(f);
	rewind(f);
	size_t got = fread(buf, 1, n > 0 && n < (long)sizeof buf ? (size_t)n : sizeof buf - 1, f);
	buf[got] = '\0';
	rewind(f);
	if (ftruncate(fileno(f), 0) != 0)
		buf[0] = '\0';
	return buf;
}

static void test_progress(void)
{
	struct progress p, q;
	char line[256];
	FILE *f = tmpfile();

	if (!f) {
		CHECK(!"tmpfile");
		return;
	}
	/* switched off: nothing at all */
	progress_start(&p, f, 0, "reading", PROGRESS_BYTES, NULL, 1000);
	progress_update(&p, 500);
	progress_interrupt(&p);
	progress_finish(&p);
	CHECK_STR(progress_text(f), "");

	/* the text: bar, percent, counts, rate, time left; then the elapsed time */
	progress_start(&p, f, 1, "status_predictor", PROGRESS_ITEMS, "trees", 20);
	p.start_ms -= 2000; /* as if it had run for 2 s */
	p.done = 5;
	progress_format(&p, p.start_ms + 2000, 0, 79, line, sizeof line);
	CHECK(strncmp(line, "status_predictor   [", 20) == 0);
	CHECK(strstr(line, ".]  25%  5/20 trees   2.5/s ETA 0:06") != NULL);
	CHECK_INT(strlen(line), 79); /* the bar takes the room left */
	progress_format(&p, p.start_ms + 2000, 1, 79, line, sizeof line);
	CHECK(strstr(line, " in 0:02") != NULL && !strstr(line, "ETA"));
	CHECK_INT(strlen(line), 78); /* the bar kept its width */
	/* no time left in the first second */
	progress_format(&p, p.start_ms + 900, 0, 79, line, sizeof line);
	CHECK(!strstr(line, "ETA"));
	/* a narrow terminal: the bar shrinks to 10, no further */
	progress_format(&p, p.start_ms + 2000, 0, 20, line, sizeof line);
	CHECK(strstr(line, "[###.......]") != NULL || strstr(line, "[##........]") != NULL);
	/* bytes, in the total's scale */
	progress_start(&q, f, 1, "reading", PROGRESS_BYTES, NULL, 209300000);
	q.done = 88100000;
	q.start_ms = 0;
	progress_format(&q, 1000, 0, 79, line, sizeof line);
	CHECK(strstr(line, " 42%  88.1/209.3 MB  88.1 MB/s ETA 0:01") != NULL);
	/* no total: no bar, no percentage, no time left */
	q.total = 0;
	progress_format(&q, 1000, 0, 79, line, sizeof line);
	CHECK(!strchr(line, '[') && !strchr(line, '%') && !strstr(line, "ETA"));
	CHECK(strstr(line, " 88.1 MB  88.1 MB/s") != NULL);
	/* the label is cut to its column */
	progress_start(&q, f, 1, "a_label_longer_than_eighteen", PROGRESS_ITEMS, "x", 1);
	CHECK(strlen(q.label) == PROGRESS_LABEL_MAX);

	/* drawing: at most one redraw per 100 ms, a final line with a newline */
	progress_text(f);
	progress_start(&p, f, 1, "scoring", PROGRESS_ITEMS, "rows", 100);
	progress_update(&p, 10);
	progress_update(&p, 20); /* too soon: not drawn */
	char *t = progress_text(f);
	CHECK(strncmp(t, "\rscoring", 8) == 0 && strstr(t, " 10/100 rows") && !strstr(t, "20/100"));
	CHECK(p.visible);
	progress_interrupt(&p);
	CHECK_STR(progress_text(f), "\r\033[K");
	progress_finish(&p);
	t = progress_text(f);
	CHECK(strstr(t, "100% 100/100 rows") != NULL && t[strlen(t) - 1] == '\n');
	/* a block of two bars goes back up one line between draws */
	struct progress *two[2] = { &p, &q };
	progress_start(&q, f, 1, "elasticsearch", PROGRESS_ITEMS, "events", 10);
	progress_draw(two, 2, 0);
	t = progress_text(f);
	CHECK(strstr(t, "\n\relasticsearch") != NULL && strstr(t, "\033[1A") != NULL);
	progress_draw(two, 2, 1);
	t = progress_text(f);
	CHECK(!strstr(t, "\033[1A") && t[strlen(t) - 1] == '\n');
	/* the callback for models/ sets the total */
	progress_start(&p, f, 1, "gbt", PROGRESS_ITEMS, "trees", 0);
	progress_callback(&p, 3, 10);
	CHECK_INT(p.total, 10);
	CHECK_INT(p.done, 3);
	fclose(f);
}

/* Add n readings to the counters, spread over the bins of every watched
 * feature as the shares w (NULL: the training shares). */
static void psi_add(struct ingest_counters *c, const struct drift_input *di, uint64_t n,
		    const double *w)
{
	for (size_t f = 0; f < di->n; f++) {
		uint64_t left = n;
		for (size_t b = 0; b < di->f[f].nbins; b++) {
			uint64_t k = b + 1 == di->f[f].nbins ? left
				     : (uint64_t)((double)n * (w ? w[b] : di->f[f].expected[b]));
			if (k > left)
				k = left;
			atomic_fetch_add(&c->psi[f][b], k);
			left -= k;
		}
	}
}

/* Input drift: no verdict before the window is full; the training shares
 * give PSI ~0; readings piled into one bin start a drift (once), and a
 * window of training-like readings ends it (once); a new set restarts. */
static void test_input_drift(void)
{
	static struct ingest_counters c;
	static struct drift_input di;
	double skew[MODEL_HISTOGRAM_MAX_BINS] = { 0 };
	struct scorer *sc = NULL;
	char err[1024];
	int64_t t = 1000000, starts = 0, ends = 0, movable = 0;

	if (scorer_load(&sc, "../../models/default", err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		CHECK(0);
		return;
	}
	CHECK(sc->npsi >= 8);
	for (size_t i = 0; i < sc->npsi; i++)
		CHECK(!features_is_calendar(sc->psi[i].id) && sc->psi[i].nbins >= 2);
	CHECK_INT(drift_input_init(&di, 24000, sc, t), 0);
	skew[0] = 1.0;
	/* 48 s of training-like readings, 1,000 a second. */
	for (int s = 1; s <= 48; s++) {
		psi_add(&c, &di, 1000, NULL);
		drift_input_update(&di, &c, t + s * 1000);
		if (s < 24)
			CHECK(!di.full);
		for (size_t i = 0; i < di.n; i++)
			CHECK_INT(di.f[i].change, 0);
	}
	CHECK(di.full);
	CHECK_INT(di.readings, 24000);
	CHECK(di.f[0].psi < 0.01);
	/* Every reading in the first bin: the drift starts, one verdict per
	 * feature whose training data was not there already (a 0/1 feature that
	 * is nearly always 0, for one). */
	for (size_t i = 0; i < di.n; i++)
		movable += di.f[i].expected[0] < 0.5;
	for (int s = 49; s <= 80; s++) {
		psi_add(&c, &di, 1000, skew);
		drift_input_update(&di, &c, t + s * 1000);
		for (size_t i = 0; i < di.n; i++)
			starts += di.f[i].change == 1, ends += di.f[i].change == -1;
	}
	CHECK(movable >= 8);
	CHECK_INT(starts, movable);
	CHECK_INT(ends, 0);
	CHECK(di.f[0].drifting && di.f[0].psi > 1);
	/* Back to normal: it ends, once each. */
	starts = 0;
	for (int s = 81; s <= 120; s++) {
		psi_add(&c, &di, 1000, NULL);
		drift_input_update(&di, &c, t + s * 1000);
		for (size_t i = 0; i < di.n; i++)
			starts += di.f[i].change == 1, ends += di.f[i].change == -1;
	}
	CHECK_INT(starts, 0);
	CHECK_INT(ends, movable);
	CHECK(!di.f[0].drifting);
	/* The source takes a new set: the window starts afresh. */
	drift_input_offer(&di, sc);
	atomic_fetch_add(&c.psi_generation, 1);
	drift_input_update(&di, &c, t + 121000);
	CHECK(!di.full);
	CHECK_INT(di.readings, 0);
	drift_input_cleanup(&di);
	scorer_free(&sc);
}

/*
 * agent.state is rewritten in place (state.c): a reader running beside the
 * writer must see one whole version every time, never half of two. Each
 * version carries its number in every key and grows or shrinks by a block,
 * so a torn read shows as keys that disagree or a count that does not fit.
 */
struct state_writer {
	const char *dir;
	_Atomic int stop;
	int failed;
	long versions;
};

static void state_version(struct state *s, long v)
{
	s->n = 0;
	/* 40 or 120 keys of ~70 bytes: the file is 4 or 12 KiB, by turns. */
	for (int i = 0; i < (v % 2 ? 120 : 40); i++) {
		char k[16];
		snprintf(k, sizeof k, "key%03d", i);
		state_set(s, k, "%ld-%.60s", v, "padding-padding-padding-padding-padding-padding-padding-pad");
	}
}

static void *state_writer_main(void *arg)
{
	struct state_writer *w = arg;
	static struct state s;

	while (!atomic_load(&w->stop) && !w->failed) {
		state_version(&s, ++w->versions);
		if (state_write(&s, w->dir) != 0)
			w->failed = 1;
	}
	return NULL;
}

static void test_state_file(const char *dir)
{
	static struct state s, r;
	struct state_writer w = { .dir = dir };
	char path[512];
	struct stat sb;
	pthread_t t;
	int reads = 0, torn = 0;

	/* Round trip; values lose their newlines; a shorter version shrinks the file. */
	state_version(&s, 1);
	state_set(&s, "multi", "a\nb");
	CHECK_INT(state_write(&s, dir), 0);
	CHECK_INT(state_read(&r, dir), 0);
	CHECK_INT((long)r.n, 121);
	CHECK(strncmp(state_value(&r, "key119", ""), "1-padding-", 10) == 0);
	CHECK_STR(state_value(&r, "multi", ""), "a b");
	snprintf(path, sizeof path, "%s/%s", dir, STATE_FILE);
	CHECK(stat(path, &sb) == 0 && sb.st_size == 12288);
	state_version(&s, 2);
	CHECK_INT(state_write(&s, dir), 0);
	CHECK(stat(path, &sb) == 0 && sb.st_size == 4096);
	CHECK_INT(state_read(&r, dir), 0);
	CHECK_INT((long)r.n, 40);
	CHECK(state_get(&r, "key040") == NULL);

	CHECK_INT(pthread_create(&t, NULL, state_writer_main, &w), 0);
	while (reads < 20000 && !w.failed) {
		const char *v0;
		if (state_read(&r, dir) != 0) {
			torn++;
			break;
		}
		reads++;
		v0 = state_value(&r, "key000", "");
		if (r.n != (strtol(v0, NULL, 10) % 2 ? 120u : 40u))
			torn++;
		for (size_t i = 1; i < r.n; i++)
			if (strcmp(r.kv[i].value, v0) != 0) {
				torn++;
				break;
			}
	}
	atomic_store(&w.stop, 1);
	pthread_join(t, NULL);
	CHECK_INT(w.failed, 0);
	CHECK_INT(torn, 0);
	/* The reader had a writer to race with. */
	CHECK(w.versions > 100);
}

int main(void)
{
	char dir[] = "/tmp/fieldgate-test-agent.XXXXXX";
	char cmd[600];

	test_features();
	test_sensor_map_lru();
	test_input_drift();
	test_progress();
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_pipeline_and_ingest(dir);
	test_scorer_seal(dir);
	test_pipeline_disk_full(dir);
	test_pipeline_untracked(dir);
	test_forwarder(dir);
	test_state_file(dir);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return check_done("test_agent");
}

/*
 * test_agent.c - unit tests of the agent's own pieces: the feature
 * catalogue's arithmetic, the pipeline (queue + group-commit writer) against
 * a real SQLite buffer, and ingest (dedup of a redelivered reading,
 * quarantine of bad bytes with the reason) with the shipped models; and the
 * pipeline on a full disk: nothing committed, nothing lost, resumes by itself.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/features.h"
#include "agent/ingest.h"
#include "agent/pipeline.h"
#include "agent/scorer.h"
#include "check.h"
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
	features_free(&f);
	CHECK(f == NULL);
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

int main(void)
{
	char dir[] = "/tmp/fieldgate-test-agent.XXXXXX";
	char cmd[600];

	test_features();
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_pipeline_and_ingest(dir);
	test_pipeline_disk_full(dir);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return check_done("test_agent");
}

/*
 * cmd_replay.c - `fieldgate replay -c FILE [--since T] [--until T]
 * [--sink NAME] [--rate N]`: send a time range of buffered events to the
 * sinks again, e.g. after an Elasticsearch index was lost or a Kafka topic
 * re-created.
 *
 * It uses the same forwarder as the agent, in replay mode: a read-only
 * handle on the buffer, a seq range found from the time range, no position
 * read or written, so the running agent (if any) is not disturbed and its
 * sinks' positions do not move. Elasticsearch answers 409 for documents it
 * already has (_id = event_id): a replay never makes duplicates there;
 * Kafka is at-least-once, so consumers see the events again.
 *
 * Progress: a bar per sink on a terminal (agent/progress.c), otherwise a
 * line every 10 s. A sink that makes no progress for a minute (down,
 * refusing) ends the replay with exit status 1, as does any event the sink
 * rejected.
 */
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/cli.h"
#include "agent/cli_int.h"
#include "agent/clock.h"
#include "agent/config.h"
#include "agent/forward.h"
#include "agent/log.h"
#include "agent/progress.h"
#include "agent/sink_setup.h"
#include "sensors/reading.h"
#include "sinks/es.h"
#include "store/store.h"

#define REPLAY_STALL_MS 60000  /* no delivery for this long: give up */
#define REPLAY_FLUSH_MS 5000   /* on stop: time to deliver what is in flight */

static void replay__usage(FILE *f)
{
	fprintf(f, "usage: fieldgate replay -c FILE [--since T] [--until T] [--sink kafka|elasticsearch] "
		"[--rate N]\n"
		"Send buffered events whose arrival time is in [since, until] to the sinks\n"
		"again, without moving the sinks' positions (the agent may keep running).\n"
		"  -c, --config FILE  site config: the buffer and the sinks to use\n"
		"  --since T          first arrival time: RFC 3339 (2026-11-21T22:00:00Z) or epoch ms\n"
		"                     (default: the oldest buffered event)\n"
		"  --until T          last arrival time, inclusive (default: now)\n"
		"  --sink NAME        only this sink (default: every enabled sink)\n"
		"  --rate N           at most N events per second per sink (default: no limit)\n"
		"Elasticsearch keeps one document per event_id, so a replay adds no duplicates;\n"
		"Kafka consumers receive the events again. Exit status 0 when every event was\n"
		"delivered, 1 otherwise, 2 for a usage or configuration error.\n");
}

/* Off a terminal: one line per sink every 10 s. */
static void replay__line(FILE *f, const char *name, uint64_t done, uint64_t total, double secs)
{
	double rate = secs > 0 ? (double)done / secs : 0;

	fprintf(f, "%s: %llu of %llu events delivered (%.0f/s)\n", name,
		(unsigned long long)done, (unsigned long long)total, rate);
	fflush(f);
}

/* One replay: what was asked and what runs. */
struct replay {
	const char *cfgpath;                 /* -c */
	const char *only;                    /* --sink, or NULL for every enabled sink */
	int64_t since, until, rate;          /* --since, --until (arrival ms), --rate (0 = none) */
	struct config *cfg;                  /* the site's settings */
	const char *names[SINK_SETUP_MAX];   /* the sinks to replay to */
	size_t nsinks;                       /* entries in names */
	struct store *st;                    /* read-only, to find the seq range */
	uint64_t first, last, count;         /* the seq range and how many events it holds */
	struct forward *fws[SINK_SETUP_MAX]; /* one replaying forwarder per sink */
	size_t nfw;                          /* forwarders started */
	sigset_t sigs;                       /* SIGINT, SIGTERM */
	int tty;                             /* stderr is a terminal: draw bars */
	struct progress bars[SINK_SETUP_MAX];/* one bar per forwarder (on a terminal) */
	struct progress *barv[SINK_SETUP_MAX]; /* pointers to bars, for progress_draw */
	int bars_ended;                      /* the bars' final state is drawn */
	int curl_ready;                      /* libcurl's global state is set up */
	int64_t started;                     /* monotonic ms when the forwarders started */
};

/* The command line into r. Returns 0, or the exit status (-1: --help done). */
static int replay__args(struct replay *r, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "sink", required_argument, NULL, 'k' },
		{ "rate", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		char *end;
		switch (c) {
		case 'c': r->cfgpath = optarg; break;
		case 's':
		case 'u':
			if (reading_parse_time(optarg, c == 's' ? &r->since : &r->until) < 0) {
				fprintf(stderr, "fieldgate replay: --%s %s: not a time (expected RFC 3339 "
					"such as 2026-11-21T22:00:00Z, or epoch milliseconds)\n",
					c == 's' ? "since" : "until", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'k': r->only = optarg; break;
		case 'r':
			r->rate = strtoll(optarg, &end, 10);
			if (*end || r->rate <= 0) {
				fprintf(stderr, "fieldgate replay: --rate %s: expected a positive number "
					"of events per second\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h': replay__usage(stdout); return -1;
		default: replay__usage(stderr); return EXIT_USAGE;
		}
	}
	if (!r->cfgpath || optind != argc) {
		replay__usage(stderr);
		return EXIT_USAGE;
	}
	if (r->since > r->until) {
		fprintf(stderr, "fieldgate replay: --since is after --until: nothing to send\n");
		return EXIT_USAGE;
	}
	return 0;
}

/* Why --sink names no enabled sink, and what to do: one line. */
static void replay__no_such_sink(const struct replay *r)
{
	char enabled[64] = "";
	int known = strcmp(r->only, "kafka") == 0 || strcmp(r->only, "elasticsearch") == 0;

	for (size_t i = 0; i < r->nsinks; i++)
		snprintf(enabled + strlen(enabled), sizeof enabled - strlen(enabled), "%s%s",
			 i ? " or " : "", r->names[i]);
	if (!known && r->nsinks)
		fprintf(stderr, "fieldgate replay: --sink %s: unknown sink (expected %s, the %s "
			"enabled in %s)\n", r->only, enabled, r->nsinks > 1 ? "sinks" : "sink",
			r->cfg->file);
	else if (!known)
		fprintf(stderr, "fieldgate replay: --sink %s: unknown sink, and none is enabled in %s "
			"(set [kafka] or [elasticsearch] enabled = true)\n", r->only, r->cfg->file);
	else if (r->nsinks)
		fprintf(stderr, "fieldgate replay: --sink %s: not enabled in %s (set [%s] enabled = "
			"true, or replay to %s)\n", r->only, r->cfg->file, r->only, enabled);
	else
		fprintf(stderr, "fieldgate replay: --sink %s: not enabled in %s, nor is any other sink "
			"(set [%s] enabled = true)\n", r->only, r->cfg->file, r->only);
}

/* The sinks to replay to: --sink, or every enabled one. 0 or EXIT_USAGE. */
static int replay__pick_sinks(struct replay *r)
{
	r->nsinks = sink_setup_enabled(r->cfg, r->names);
	if (r->only) {
		size_t i;
		for (i = 0; i < r->nsinks && strcmp(r->names[i], r->only) != 0; i++)
			;
		if (i == r->nsinks) {
			replay__no_such_sink(r);
			return EXIT_USAGE;
		}
		r->names[0] = r->names[i];
		r->nsinks = 1;
	}
	if (r->nsinks == 0) {
		fprintf(stderr, "fieldgate replay: %s enables no sink ([kafka] or [elasticsearch] "
			"enabled = true)\n", r->cfg->file);
		return EXIT_USAGE;
	}
	return 0;
}

/* The seq range of the time range, from a read-only handle. 0 or EXIT_RUNTIME. */
static int replay__find_range(struct replay *r)
{
	struct store_options so = { .path = r->cfg->buffer_path, .readonly = 1 };
	char err[1024];

	if (access(r->cfg->buffer_path, F_OK) < 0) {
		fprintf(stderr, "fieldgate replay: %s: no buffer (has the agent run with this config?)\n",
			r->cfg->buffer_path);
		return EXIT_RUNTIME;
	}
	if (store_open(&r->st, &so, err, sizeof err) < 0 ||
	    store_range(r->st, r->since, r->until, &r->first, &r->last, &r->count,
			err, sizeof err) < 0) {
		fprintf(stderr, "fieldgate replay: %s\n", err);
		return EXIT_RUNTIME;
	}
	return 0;
}

/* Draw the bars' final state, once, so what follows starts below them. */
static void replay__end_bars(struct replay *r)
{
	if (!r->bars_ended)
		progress_draw(r->barv, r->nfw, 1);
	r->bars_ended = 1;
}

/* Take the signals, then one replaying forwarder per sink. 0 or an exit status. */
static int replay__start(struct replay *r)
{
	char err[1024];

	sigemptyset(&r->sigs);
	sigaddset(&r->sigs, SIGINT);
	sigaddset(&r->sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &r->sigs, NULL);
	if (r->cfg->es_enabled) {
		if (es_global_init(err, sizeof err) < 0) {
			fprintf(stderr, "fieldgate replay: %s\n", err);
			return EXIT_RUNTIME;
		}
		r->curl_ready = 1;
	}
	for (size_t i = 0; i < r->nsinks; i++) {
		struct forward_options fo = {
			.store = { .path = r->cfg->buffer_path }, .replay = 1, .from_seq = r->first,
			.until_seq = r->last, .since_ms = r->since, .until_ms = r->until,
			.max_rate = r->rate,
		};
		enum sink_setup_rc rc = sink_setup_start(&r->fws[i], r->names[i], r->cfg, &fo,
							 err, sizeof err);
		if (rc != SINK_SETUP_OK) {
			fprintf(stderr, "fieldgate replay: %s: %s\n", r->names[i], err);
			return rc == SINK_SETUP_BAD_FILE ? EXIT_USAGE : EXIT_RUNTIME;
		}
		progress_start(&r->bars[i], stderr, r->tty, r->names[i], PROGRESS_ITEMS, "events",
			       r->count);
		r->barv[i] = &r->bars[i];
		r->nfw++;
	}
	r->started = clock_mono_ms();
	return 0;
}

/* Wait until every sink is done, showing progress. Returns 0, or
 * EXIT_RUNTIME when interrupted or a sink stalled. */
static int replay__wait(struct replay *r)
{
	uint64_t delivered[SINK_SETUP_MAX] = { 0 };
	int64_t last_progress[SINK_SETUP_MAX];
	int interrupted = 0;

	for (size_t i = 0; i < r->nfw; i++)
		last_progress[i] = r->started;
	for (int64_t last_line = r->started;;) {
		struct timespec ts = { 0, 200 * 1000000L };
		int sig = sigtimedwait(&r->sigs, NULL, &ts);
		int64_t now = clock_mono_ms();
		size_t done = 0;

		if (sig == SIGINT || sig == SIGTERM) {
			replay__end_bars(r);
			fprintf(stderr, "fieldgate replay: interrupted; stopping\n");
			return EXIT_RUNTIME;
		}
		for (size_t i = 0; i < r->nfw; i++) {
			struct forward_stats fs;
			forward_get_stats(r->fws[i], &fs);
			if (fs.delivered + fs.rejected != delivered[i])
				last_progress[i] = now;
			delivered[i] = fs.delivered + fs.rejected;
			if (fs.done)
				done++;
			else if (now - last_progress[i] >= REPLAY_STALL_MS) {
				replay__end_bars(r);
				fprintf(stderr, "fieldgate replay: %s: nothing delivered for %d s (%s); "
					"giving up\n", r->names[i], REPLAY_STALL_MS / 1000,
					fs.last_error[0] ? fs.last_error : "no error reported");
				interrupted = 1;
			}
		}
		if (interrupted)
			return EXIT_RUNTIME;
		if (done == r->nfw)
			return 0;
		if (r->tty) {
			for (size_t i = 0; i < r->nfw; i++)
				r->bars[i].done = delivered[i];
			progress_draw(r->barv, r->nfw, 0);
		} else if (now - last_line >= 10000) {
			for (size_t i = 0; i < r->nfw; i++)
				replay__line(stderr, r->names[i], delivered[i], r->count,
					     (double)(now - r->started) / 1000.0);
			last_line = now;
		}
	}
}

/* Stop the forwarders (delivering what is in flight for a bounded time)
 * and print each sink's result. Returns rc, or EXIT_RUNTIME when a sink
 * did not deliver every event. */
static int replay__finish(struct replay *r, int rc)
{
	struct forward_stats fs[SINK_SETUP_MAX];
	double secs[SINK_SETUP_MAX];

	for (size_t i = 0; i < r->nfw; i++)
		forward_request_stop(r->fws[i], REPLAY_FLUSH_MS);
	for (size_t i = 0; i < r->nfw; i++) {
		secs[i] = (double)(clock_mono_ms() - r->started) / 1000.0;
		forward_wait(r->fws[i]);
		forward_get_stats(r->fws[i], &fs[i]);
		r->bars[i].done = fs[i].delivered + fs[i].rejected;
	}
	replay__end_bars(r);
	for (size_t i = 0; i < r->nfw; i++) {
		printf("%s: %llu of %llu events delivered in %.1f s (%.0f/s)%s%llu rejected\n", r->names[i],
		       (unsigned long long)fs[i].delivered, (unsigned long long)r->count, secs[i],
		       secs[i] > 0 ? (double)fs[i].delivered / secs[i] : 0.0, ", ",
		       (unsigned long long)fs[i].rejected);
		if (fs[i].delivered != r->count)
			rc = EXIT_RUNTIME;
		forward_stop(&r->fws[i], 0);
	}
	return rc;
}

int cmd_replay(int argc, char **argv)
{
	struct replay r = { .until = clock_wall_ms(), .tty = isatty(STDERR_FILENO) };
	int rc = replay__args(&r, argc, argv);

	if (rc)
		return rc < 0 ? 0 : rc;
	if ((rc = cli_load_config(r.cfgpath, &r.cfg)) != 0)
		return rc;
	log_set_level(r.cfg->log_level);
	if ((rc = replay__pick_sinks(&r)) != 0 || (rc = replay__find_range(&r)) != 0)
		goto out;
	if (r.count == 0) {
		fprintf(stderr, "fieldgate replay: no buffered event arrived in that time range; "
			"nothing to send\n");
		goto out;
	}
	fprintf(stderr, "replaying %llu events (seq %llu..%llu) to %s%s%s\n",
		(unsigned long long)r.count, (unsigned long long)r.first, (unsigned long long)r.last,
		r.names[0], r.nsinks > 1 ? " and " : "", r.nsinks > 1 ? r.names[1] : "");
	if ((rc = replay__start(&r)) == 0)
		rc = replay__finish(&r, replay__wait(&r));
out:
	for (size_t i = 0; i < SINK_SETUP_MAX; i++)
		forward_stop(&r.fws[i], 0);
	store_close(&r.st);
	if (r.curl_ready)
		es_global_cleanup();
	free(r.cfg);
	return rc;
}

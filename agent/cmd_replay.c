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
 * Progress: a bar on a terminal, otherwise a line every 10 s. A sink that
 * makes no progress for a minute (down, refusing) ends the replay with
 * exit status 1, as does any event the sink rejected.
 */
#include <getopt.h>
#include <limits.h>
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
#include "agent/sink_setup.h"
#include "sensors/reading.h"
#include "sinks/es.h"
#include "store/store.h"

#define REPLAY_STALL_MS 60000  /* no delivery for this long: give up */
#define REPLAY_FLUSH_MS 5000   /* on stop: time to deliver what is in flight */

static void usage(FILE *f)
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

/* Draw the progress bar (terminal) or a line (otherwise). */
static void progress(FILE *f, int tty, const char *name, uint64_t done, uint64_t total,
		     double secs, int final)
{
	double rate = secs > 0 ? (double)done / secs : 0;

	if (tty) {
		int width = 30, fill = total ? (int)((double)done * width / (double)total) : width;
		char bar[32];
		if (fill > width)
			fill = width;
		memset(bar, '#', (size_t)fill);
		memset(bar + fill, '.', (size_t)(width - fill));
		bar[width] = '\0';
		fprintf(f, "\r%-13s [%s] %3.0f%% %llu/%llu events, %.0f/s ", name, bar,
			total ? 100.0 * (double)done / (double)total : 100.0,
			(unsigned long long)done, (unsigned long long)total, rate);
		if (final)
			fputc('\n', f);
	} else {
		fprintf(f, "%s: %llu of %llu events delivered (%.0f/s)\n", name,
			(unsigned long long)done, (unsigned long long)total, rate);
	}
	fflush(f);
}

int cmd_replay(int argc, char **argv)
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
	const char *cfgpath = NULL, *only = NULL, *names[SINK_SETUP_MAX];
	struct forward *fws[SINK_SETUP_MAX] = { NULL };
	uint64_t first, last, count, delivered[SINK_SETUP_MAX] = { 0 };
	int64_t since = 0, until = clock_wall_ms(), rate = 0, started, last_progress[SINK_SETUP_MAX];
	struct config *cfg = NULL;
	struct store *st = NULL;
	char err[1024];
	size_t nsinks, nfw = 0;
	int c, rc = EXIT_RUNTIME, tty = isatty(STDERR_FILENO), curl_ready = 0, interrupted = 0;
	sigset_t sigs;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		char *end;
		switch (c) {
		case 'c': cfgpath = optarg; break;
		case 's':
		case 'u':
			if (reading_parse_time(optarg, c == 's' ? &since : &until) < 0) {
				fprintf(stderr, "fieldgate replay: --%s %s: not a time (expected RFC 3339 "
					"such as 2026-11-21T22:00:00Z, or epoch milliseconds)\n",
					c == 's' ? "since" : "until", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'k': only = optarg; break;
		case 'r':
			rate = strtoll(optarg, &end, 10);
			if (*end || rate <= 0) {
				fprintf(stderr, "fieldgate replay: --rate %s: expected a positive number "
					"of events per second\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (!cfgpath || optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (since > until) {
		fprintf(stderr, "fieldgate replay: --since is after --until: nothing to send\n");
		return EXIT_USAGE;
	}
	if ((rc = cli_load_config(cfgpath, &cfg)) != 0)
		return rc;
	rc = EXIT_RUNTIME;
	log_set_level(cfg->log_level);
	nsinks = sink_setup_enabled(cfg, names);
	if (only) {
		size_t i;
		for (i = 0; i < nsinks && strcmp(names[i], only) != 0; i++)
			;
		if (i == nsinks) {
			fprintf(stderr, "fieldgate replay: --sink %s: not enabled in %s (expected one of:%s%s)\n",
				only, cfg->file, nsinks ? " " : " none enabled", nsinks ? names[0] : "");
			rc = EXIT_USAGE;
			goto out;
		}
		names[0] = names[i];
		nsinks = 1;
	}
	if (nsinks == 0) {
		fprintf(stderr, "fieldgate replay: %s enables no sink ([kafka] or [elasticsearch] "
			"enabled = true)\n", cfg->file);
		rc = EXIT_USAGE;
		goto out;
	}
	{
		struct store_options so = { .path = cfg->buffer_path, .readonly = 1 };
		if (access(cfg->buffer_path, F_OK) < 0) {
			fprintf(stderr, "fieldgate replay: %s: no buffer (has the agent run with this config?)\n",
				cfg->buffer_path);
			goto out;
		}
		if (store_open(&st, &so, err, sizeof err) < 0 ||
		    store_range(st, since, until, &first, &last, &count, err, sizeof err) < 0) {
			fprintf(stderr, "fieldgate replay: %s\n", err);
			goto out;
		}
	}
	if (count == 0) {
		fprintf(stderr, "fieldgate replay: no buffered event arrived in that time range; "
			"nothing to send\n");
		rc = 0;
		goto out;
	}
	fprintf(stderr, "replaying %llu events (seq %llu..%llu) to %s%s%s\n",
		(unsigned long long)count, (unsigned long long)first, (unsigned long long)last,
		names[0], nsinks > 1 ? " and " : "", nsinks > 1 ? names[1] : "");

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	if (cfg->es_enabled) {
		if (es_global_init(err, sizeof err) < 0) {
			fprintf(stderr, "fieldgate replay: %s\n", err);
			goto out;
		}
		curl_ready = 1;
	}
	for (size_t i = 0; i < nsinks; i++) {
		struct forward_options fo = {
			.store = { .path = cfg->buffer_path }, .replay = 1, .from_seq = first,
			.until_seq = last, .since_ms = since, .until_ms = until, .max_rate = rate,
		};
		enum sink_setup_rc r = sink_setup_start(&fws[i], names[i], cfg, &fo, err, sizeof err);
		if (r != SINK_SETUP_OK) {
			fprintf(stderr, "fieldgate replay: %s: %s\n", names[i], err);
			rc = r == SINK_SETUP_BAD_FILE ? EXIT_USAGE : EXIT_RUNTIME;
			goto out;
		}
		nfw++;
	}

	started = clock_mono_ms();
	for (size_t i = 0; i < nfw; i++)
		last_progress[i] = started;
	for (int64_t last_line = started;;) {
		struct timespec ts = { 0, 200 * 1000000L };
		int sig = sigtimedwait(&sigs, NULL, &ts);
		int64_t now;
		size_t done = 0;

		now = clock_mono_ms();
		if (sig == SIGINT || sig == SIGTERM) {
			if (tty)
				fputc('\n', stderr);
			fprintf(stderr, "fieldgate replay: interrupted; stopping\n");
			interrupted = 1;
			break;
		}
		for (size_t i = 0; i < nfw; i++) {
			struct forward_stats fs;
			forward_get_stats(fws[i], &fs);
			if (fs.delivered + fs.rejected != delivered[i])
				last_progress[i] = now;
			delivered[i] = fs.delivered + fs.rejected;
			if (fs.done)
				done++;
			else if (now - last_progress[i] >= REPLAY_STALL_MS) {
				if (tty)
					fputc('\n', stderr);
				fprintf(stderr, "fieldgate replay: %s: nothing delivered for %d s (%s); "
					"giving up\n", names[i], REPLAY_STALL_MS / 1000,
					fs.last_error[0] ? fs.last_error : "no error reported");
				interrupted = 1;
			}
		}
		if (interrupted || done == nfw)
			break;
		if (tty || now - last_line >= 10000) {
			for (size_t i = 0; i < nfw; i++)
				progress(stderr, tty, names[i], delivered[i], count,
					 (double)(now - started) / 1000.0, 0);
			if (tty && nfw > 1)
				fprintf(stderr, "\033[%zuA", nfw - 1); /* redraw the bars in place */
			last_line = now;
		}
	}
	rc = interrupted ? EXIT_RUNTIME : 0;
	for (size_t i = 0; i < nfw; i++)
		forward_request_stop(fws[i], REPLAY_FLUSH_MS);
	for (size_t i = 0; i < nfw; i++) {
		struct forward_stats fs;
		double secs = (double)(clock_mono_ms() - started) / 1000.0;

		forward_wait(fws[i]);
		forward_get_stats(fws[i], &fs);
		if (tty)
			progress(stderr, tty, names[i], fs.delivered + fs.rejected, count, secs, 1);
		printf("%s: %llu of %llu events delivered in %.1f s (%.0f/s)%s%llu rejected\n", names[i],
		       (unsigned long long)fs.delivered, (unsigned long long)count, secs,
		       secs > 0 ? (double)fs.delivered / secs : 0.0, ", ",
		       (unsigned long long)fs.rejected);
		if (fs.delivered != count)
			rc = EXIT_RUNTIME;
		forward_stop(&fws[i], 0);
	}
out:
	for (size_t i = 0; i < SINK_SETUP_MAX; i++)
		forward_stop(&fws[i], 0);
	store_close(&st);
	if (curl_ready)
		es_global_cleanup();
	free(cfg);
	return rc;
}

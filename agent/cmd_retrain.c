/*
 * cmd_retrain.c - `fieldgate train -c SITE.conf` and `fieldgate eval -c
 * SITE.conf`: the model commands on the events already in a site's buffer.
 *
 * Every event keeps the reading it was scored from, with the ground truth
 * the reading carried (status_flag, is_anomaly): readings_decode_event()
 * gives it back, and the features are computed again in arrival (seq)
 * order, as the agent computed them. train -c trains a new, versioned set on
 * all but the last part of a time range and compares it with the live set
 * on that held-out slice, which neither was trained on; with
 * --promote-if-better it installs the new set (as `models promote` does:
 * one atomic swap, the old set kept) only when it is better, and the running
 * agent reloads. eval -c reports the live set (and a candidate) on a range.
 * The buffer is opened read-only: the running agent is not disturbed.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/cli.h"
#include "agent/cli_int.h"
#include "agent/clock.h"
#include "agent/config.h"
#include "agent/features.h"
#include "agent/modelset.h"
#include "agent/progress.h"
#include "agent/scorer.h"
#include "agent/trainer.h"
#include "sensors/reading.h"
#include "store/store.h"

#define RETRAIN__BATCH 4096          /* events read from the buffer at a time */
#define RETRAIN__HOLDOUT_PCT 20      /* default share of the range held out */
/* "Better": no model worse by more than these, at least one better by more.
 * The anomaly model is judged on accuracy, i.e. on false alarms plus misses,
 * the quantity its threshold is chosen for (--threshold auto): F1 rewards
 * trading many false alarms for a few more hits, which is what makes an
 * operator turn the alerts off. A candidate that never fires (98 %
 * accurate with 2 % anomalies) is never better on it. */
#define RETRAIN__ACCURACY_MARGIN 0.001  /* status and anomaly accuracy: 0.1 percentage point */
#define RETRAIN__RMSE_MARGIN 0.005      /* humidity: 0.5 % of the RMSE */

/* The events of a time range of the site's buffer. */
struct retrain__range {
	const struct config *cfg;   /* the site */
	struct store *st;           /* read-only handle */
	int64_t since, until;       /* arrival times, ms (inclusive) */
	uint64_t first, last, count;/* their seqs and how many */
};

/* What is done with each reading of the range, in seq order. */
typedef int (*retrain__fn)(void *ctx, uint64_t index, const struct reading *r, const double *f);

/* The state of one walk over a range. */
struct retrain__walk {
	struct retrain__range *rg;  /* the range */
	struct features *feat;      /* rolling state, as the agent's */
	retrain__fn fn;             /* the consumer */
	void *ctx;                  /* its context */
	uint64_t index;             /* readings handed over so far */
	uint64_t next_seq;          /* where the next batch starts */
	unsigned long skipped;      /* events that did not decode */
	struct progress *bar;       /* events read, on a terminal */
	int failed;                 /* the consumer returned non-zero */
};

static int retrain__event(void *vctx, uint64_t seq, int64_t ts, const void *data, size_t len)
{
	struct retrain__walk *w = vctx;
	struct reading r;
	double f[FEATURE_COUNT];
	char why[256];

	w->next_seq = seq + 1;
	progress_update(w->bar, w->index + w->skipped);
	if (seq > w->rg->last)
		return 1;
	if (ts < w->rg->since || ts > w->rg->until)
		return 0;
	if (reading_decode_event(data, len, &r, why, sizeof why) != READING_OK) {
		if (w->skipped++ < 10) {
			progress_interrupt(w->bar);
			fprintf(stderr, "%s: event seq %" PRIu64 " skipped: %s\n", w->rg->cfg->buffer_path,
				seq, why);
		}
		return 0;
	}
	(void)features_compute(w->feat, &r, f);
	if (w->fn(w->ctx, w->index++, &r, f) != 0) {
		w->failed = 1;
		return 1;
	}
	return 0;
}

/* Hand every reading of the range to fn, in seq order. Returns 0, or -1
 * (said on stderr). */
static int retrain__walk(struct retrain__range *rg, retrain__fn fn, void *ctx, int bars)
{
	struct retrain__walk w = { rg, NULL, fn, ctx, 0, rg->first, 0, NULL, 0 };
	struct progress bar;
	char err[1024];
	int rc = -1;

	if (features_create(&w.feat) < 0) {
		fprintf(stderr, "fieldgate: out of memory\n");
		return -1;
	}
	progress_start(&bar, stderr, bars, "reading the buffer", PROGRESS_ITEMS, "events", rg->count);
	w.bar = &bar;
	while (w.next_seq <= rg->last && !w.failed) {
		long n = store_read(rg->st, w.next_seq, RETRAIN__BATCH, retrain__event, &w,
				    err, sizeof err);
		if (n < 0) {
			progress_interrupt(&bar);
			fprintf(stderr, "%s: %s\n", rg->cfg->buffer_path, err);
			goto out;
		}
		if (n == 0)
			break;
	}
	if (w.failed) {
		progress_interrupt(&bar);
		goto out;
	}
	progress_finish(&bar);
	if (w.skipped)
		fprintf(stderr, "%s: %lu events skipped (they did not decode)\n", rg->cfg->buffer_path,
			w.skipped);
	rc = 0;
out:
	features_free(&w.feat);
	return rc;
}

/* Open the buffer read-only and find the range. Returns 0, or an exit status. */
static int retrain__open(struct retrain__range *rg, const char *cmd)
{
	struct store_options so = { .path = rg->cfg->buffer_path, .readonly = 1 };
	char err[1024];

	if (access(rg->cfg->buffer_path, F_OK) < 0) {
		fprintf(stderr, "fieldgate %s: %s: no buffer (has the agent run with this config?)\n",
			cmd, rg->cfg->buffer_path);
		return EXIT_RUNTIME;
	}
	if (store_open(&rg->st, &so, err, sizeof err) < 0 ||
	    store_range(rg->st, rg->since, rg->until, &rg->first, &rg->last, &rg->count,
			err, sizeof err) < 0) {
		fprintf(stderr, "fieldgate %s: %s\n", cmd, err);
		return EXIT_RUNTIME;
	}
	if (rg->count == 0) {
		fprintf(stderr, "fieldgate %s: no buffered event arrived in that time range\n", cmd);
		return EXIT_RUNTIME;
	}
	return 0;
}

/* --since / --until into *ms. 0, or EXIT_USAGE (said). */
static int retrain__time(const char *cmd, const char *opt, const char *arg, int64_t *ms)
{
	if (reading_parse_time(arg, ms) == 0)
		return 0;
	fprintf(stderr, "fieldgate %s: --%s %s: not a time (expected RFC 3339 such as "
		"2026-11-21T22:00:00Z, or epoch milliseconds)\n", cmd, opt, arg);
	return EXIT_USAGE;
}

/* "(+0.52 pp)" or "(-2.9 %)": the candidate against the live figure. */
static void retrain__delta(char *buf, size_t cap, double live, double cand, int is_rmse)
{
	if (isnan(live) || isnan(cand))
		snprintf(buf, cap, "-");
	else if (is_rmse)
		snprintf(buf, cap, "%+.1f %%", live > 0 ? 100.0 * (cand - live) / live : 0.0);
	else
		snprintf(buf, cap, "%+.2f pp", 100.0 * (cand - live));
}

/* A model's figure in an evaluation: status accuracy, anomaly accuracy,
 * humidity RMSE; NAN when nothing was counted. */
static double retrain__figure(const struct evaluation *e, enum scorer_slot slot)
{
	if (slot == SCORER_STATUS)
		return e->status.n ? confusion_accuracy(&e->status) : NAN;
	if (slot == SCORER_ANOMALY)
		return e->anomaly.n ? confusion_accuracy(&e->anomaly) : NAN;
	return e->humidity.n ? rmse_value(&e->humidity) : NAN;
}

/* Is cand better than live? 1 when no model is worse by more than its
 * margin and at least one is better by more; why says which. */
static int retrain__better(const struct evaluation *live, const struct evaluation *cand,
			   char *why, size_t cap)
{
	static const char *const what[SCORER_NMODELS] = { "status accuracy", "anomaly accuracy",
							  "humidity RMSE" };
	size_t used = 0;
	int worse = 0, better = 0;

	why[0] = '\0';
	for (int i = 0; i < SCORER_NMODELS; i++) {
		double l = retrain__figure(live, (enum scorer_slot)i),
		       c = retrain__figure(cand, (enum scorer_slot)i);
		char d[32];
		int w, b, n;

		if (isnan(l) || isnan(c))
			continue;
		if (i == SCORER_HUMIDITY) {
			w = c > l * (1 + RETRAIN__RMSE_MARGIN);
			b = c < l * (1 - RETRAIN__RMSE_MARGIN);
		} else {
			w = c < l - RETRAIN__ACCURACY_MARGIN;
			b = c > l + RETRAIN__ACCURACY_MARGIN;
			if (i == SCORER_ANOMALY && confusion_recall(&cand->anomaly, 1) <= 0)
				b = 0; /* it never fires */
		}
		worse += w;
		better += b;
		retrain__delta(d, sizeof d, l, c, i == SCORER_HUMIDITY);
		n = snprintf(why + used, cap - used, "%s%s %s%s", used ? ", " : "", what[i], d,
			     w ? " (worse)" : b ? " (better)" : " (the same)");
		if (n > 0 && (size_t)n < cap - used)
			used += (size_t)n;
	}
	return !worse && better > 0;
}

/* One more anomaly figure of both sets, for information: f of class 1, or
 * the all-normal baseline when f is NULL. */
static void retrain__info(const char *what, const struct evaluation *live,
			  const struct evaluation *cand,
			  double (*f)(const struct confusion *, size_t))
{
	const struct confusion *l = &live->anomaly, *c = &cand->anomaly;
	double lv = !l->n ? NAN : f ? f(l, 1) : confusion_share(l, 0),
	       cv = !c->n ? NAN : f ? f(c, 1) : confusion_share(c, 0);
	char d[32];

	retrain__delta(d, sizeof d, lv, cv, 0);
	printf("%-22s %-14.4f %-14.4f %s (for information)\n", what, lv, cv, d);
}

/* The two evaluations side by side. */
static void retrain__compare(const struct evaluation *live, const char *live_name,
			     const struct evaluation *cand, const char *cand_name)
{
	static const char *const what[SCORER_NMODELS] = { "status accuracy", "anomaly accuracy",
							  "humidity RMSE (% RH)" };
	char d[32];

	printf("%-22s %-14s %-14s\n", "", live_name, cand_name);
	for (int i = 0; i < SCORER_NMODELS; i++) {
		double l = retrain__figure(live, (enum scorer_slot)i),
		       c = retrain__figure(cand, (enum scorer_slot)i);
		retrain__delta(d, sizeof d, l, c, i == SCORER_HUMIDITY);
		printf("%-22s %-14.4f %-14.4f %s\n", what[i], l, c, d);
		if (i == SCORER_ANOMALY) {
			retrain__info("anomaly F1", live, cand, confusion_f1);
			retrain__info("anomaly precision", live, cand, confusion_precision);
			retrain__info("anomaly recall", live, cand, confusion_recall);
			retrain__info("all-normal accuracy", live, cand, NULL);
		}
	}
}

/* ---- train -c ---- */

/* The held-out readings: labels and features, scored once the set is trained. */
struct retrain__holdout {
	struct reading *r;       /* labels and measured humidity */
	double *f;               /* n x FEATURE_COUNT */
	size_t n, cap;           /* rows, allocated */
};

/* One train -c run: what was asked, and what it works with. */
struct retrain__train {
	const char *cfgpath;             /* -c */
	int have_since;                  /* --since was given */
	unsigned long long holdout;      /* --holdout, percent */
	int promote;                     /* --promote-if-better */
	int version_given;               /* --version was given */
	struct trainer_options o;        /* the models' options, the output */
	struct retrain__range rg;        /* the events */
	struct config *cfg;              /* the site */
	struct scorer *live, *fresh;     /* the live set, the new one */
	char outdir[CONFIG_PATH_MAX + 32]; /* the default output */
	char source[512];                /* provenance for the model files */
	uint64_t boundary;               /* readings before it train, the rest are held out */
	struct trainer *trainer;         /* the training rows */
	struct retrain__holdout held;    /* the held-out rows */
};

static int retrain__train_row(void *vctx, uint64_t index, const struct reading *r, const double *f)
{
	struct retrain__train *t = vctx;
	struct retrain__holdout *h = &t->held;

	if (index < t->boundary)
		return trainer_add(t->trainer, r, f) < 0 ? (fprintf(stderr, "out of memory\n"), -1) : 0;
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 4096;
		struct reading *nr = realloc(h->r, cap * sizeof *nr);
		double *nf;
		if (!nr)
			return fprintf(stderr, "out of memory\n"), -1;
		h->r = nr;
		if (!(nf = realloc(h->f, cap * FEATURE_COUNT * sizeof *nf)))
			return fprintf(stderr, "out of memory\n"), -1;
		h->f = nf;
		h->cap = cap;
	}
	h->r[h->n] = *r;
	memcpy(h->f + h->n * FEATURE_COUNT, f, FEATURE_COUNT * sizeof *f);
	h->n++;
	return 0;
}

static void retrain__train_usage(FILE *f)
{
	fprintf(f, "usage: fieldgate train -c SITE.conf --since T [--until T] [--holdout PCT] [--out DIR]\n"
		"                       [--promote-if-better] [--seed S] [--trees N] [--depth N]\n"
		"                       [--iterations N] [--reg X] [--bins N] [--version N]\n"
		"                       [--threshold auto|P] [--class-weight none|balanced]\n"
		"Train a new model set on the labelled events in the site's buffer (their readings'\n"
		"status_flag and is_anomaly) that arrived between --since and --until (RFC 3339 or\n"
		"epoch ms; --until defaults to now). The last PCT %% of those events (20) are held\n"
		"out: the new set and the live set ([models] dir) are both scored on them and\n"
		"compared. The set is written, sealed, to DIR (default DATA_DIR/models/set-V, V the\n"
		"live set's highest version + 1, which every model of the new set carries).\n"
		"  --promote-if-better  install the new set as the live set (an atomic swap, the\n"
		"                       old one kept as DIR.previous, the running agent reloads)\n"
		"                       only when it is better: none of status accuracy (by 0.1 pp),\n"
		"                       anomaly accuracy (0.1 pp: false alarms plus misses) and\n"
		"                       humidity RMSE (0.5 %%) worse by more, and one better by\n"
		"                       more (an anomaly model that never fires is never better)\n"
		"The model options, --threshold and --class-weight (the anomaly detector's\n"
		"decision threshold, auto by default, and class weights, none by default) are\n"
		"those of fieldgate train --data (see fieldgate train --help).\n"
		"Exit status 0 (also when the new set was not better), 1 on failure, 2 for usage.\n");
}

/* The command line into t. Returns 0, -1 after --help, or EXIT_USAGE (said). */
static int retrain__train_args(struct retrain__train *t, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "since", required_argument, NULL, 'A' },
		{ "until", required_argument, NULL, 'U' }, { "holdout", required_argument, NULL, 'H' },
		{ "promote-if-better", no_argument, NULL, 'P' }, { "out", required_argument, NULL, 'o' },
		{ "seed", required_argument, NULL, 's' }, { "trees", required_argument, NULL, 't' },
		{ "depth", required_argument, NULL, 'D' }, { "iterations", required_argument, NULL, 'i' },
		{ "reg", required_argument, NULL, 'r' }, { "bins", required_argument, NULL, 'b' },
		{ "version", required_argument, NULL, 'v' }, { "help", no_argument, NULL, 'h' },
		{ "threshold", required_argument, NULL, 'T' },
		{ "class-weight", required_argument, NULL, 'W' },
		{ 0, 0, 0, 0 },
	};
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': t->cfgpath = optarg; continue;
		case 'A': if (retrain__time("train", "since", optarg, &t->rg.since)) return EXIT_USAGE;
			t->have_since = 1; continue;
		case 'U': if (retrain__time("train", "until", optarg, &t->rg.until)) return EXIT_USAGE;
			continue;
		case 'H': if (cli_parse_u64(optarg, &t->holdout) < 0 || t->holdout < 1 || t->holdout > 90) {
				fprintf(stderr, "fieldgate train: --holdout %s: expected a percentage "
					"from 1 to 90\n", optarg);
				return EXIT_USAGE;
			}
			continue;
		case 'P': t->promote = 1; continue;
		case 'h': retrain__train_usage(stdout); return -1;
		default: break;
		}
		t->version_given |= c == 'v';
		if ((r = train_option(&t->o, c, optarg)) != 0) {
			if (r > 0)
				fprintf(stderr, "fieldgate train: bad value for an option: '%s'\n", optarg);
			else
				retrain__train_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!t->cfgpath || !t->have_since || optind != argc) {
		retrain__train_usage(stderr);
		return EXIT_USAGE;
	}
	if (t->rg.since > t->rg.until) {
		fprintf(stderr, "fieldgate train: --since is after --until\n");
		return EXIT_USAGE;
	}
	return 0;
}

/* The live set, the new set's version and directory, the range. Returns 0
 * or an exit status (said). */
static int retrain__train_prepare(struct retrain__train *t)
{
	char err[1024];
	int rc;

	if (t->promote && (rc = lifecycle_own_dir(t->cfg, "train --promote-if-better")) != 0)
		return rc;
	if (scorer_load(&t->live, t->cfg->models_dir, err, sizeof err) < 0) {
		fprintf(stderr, "fieldgate train: the live set: %s\n", err);
		return EXIT_RUNTIME;
	}
	if (!t->version_given) {
		t->o.version = 0;
		for (int i = 0; i < SCORER_NMODELS; i++)
			if (model_version(t->live->model[i]) > t->o.version)
				t->o.version = model_version(t->live->model[i]);
		t->o.version++;
	}
	if (!t->o.outdir) {
		snprintf(t->outdir, sizeof t->outdir, "%s/models/set-%d", t->cfg->data_dir, t->o.version);
		t->o.outdir = t->outdir;
	}
	if (access(t->o.outdir, F_OK) == 0 && !t->version_given) {
		fprintf(stderr, "fieldgate train: %s exists already (pass --out DIR or --version N)\n",
			t->o.outdir);
		return EXIT_RUNTIME;
	}
	t->rg.cfg = t->cfg;
	if ((rc = retrain__open(&t->rg, "train")) != 0)
		return rc;
	t->boundary = t->rg.count - t->rg.count * t->holdout / 100;
	snprintf(t->source, sizeof t->source, "the buffer of site %s: events seq %" PRIu64 "..%" PRIu64
		 " (the first %" PRIu64 " of %" PRIu64 ")", t->cfg->site, t->rg.first, t->rg.last,
		 t->boundary, t->rg.count);
	t->o.source = t->source;
	t->o.bars = progress_wanted(stderr);
	return 0;
}

/* Read the range (training rows, held-out rows), train and write the new
 * set, load it. Returns 0 or -1 (said). */
static int retrain__train_set(struct retrain__train *t)
{
	size_t rows[SCORER_NMODELS];
	char err[1024];

	if (trainer_create(&t->trainer) < 0) {
		fprintf(stderr, "fieldgate train: out of memory\n");
		return -1;
	}
	if (retrain__walk(&t->rg, retrain__train_row, t, t->o.bars) < 0)
		return -1;
	trainer_rows(t->trainer, rows);
	if (!rows[SCORER_STATUS] || !rows[SCORER_ANOMALY]) {
		fprintf(stderr, "fieldgate train: the events in that range carry no ground truth "
			"(%s): retraining needs readings with status_flag and is_anomaly\n",
			!rows[SCORER_STATUS] ? "status_flag" : "is_anomaly");
		return -1;
	}
	printf("training on %zu events, %zu held out (seq %" PRIu64 "..%" PRIu64 " of the buffer)\n",
	       rows[SCORER_HUMIDITY], t->held.n, t->rg.first, t->rg.last);
	if (trainer_train(t->trainer, &t->o, err, sizeof err) < 0) {
		fprintf(stderr, "fieldgate train: %s\n", err);
		return -1;
	}
	if (scorer_load(&t->fresh, t->o.outdir, err, sizeof err) < 0) {
		fprintf(stderr, "fieldgate train: the new set: %s\n", err);
		return -1;
	}
	return 0;
}

/* Both sets on the held-out rows, side by side; with --promote-if-better
 * the new one installed when it is better. Returns the exit status. */
static int retrain__train_judge(struct retrain__train *t)
{
	struct evaluation el, ef;
	char err[1024], why[512], prev[4200], ln[64], fn[64];

	evaluation_init(&el);
	evaluation_init(&ef);
	for (size_t i = 0; i < t->held.n; i++) {
		evaluation_add(&el, t->live, &t->held.r[i], t->held.f + i * FEATURE_COUNT, NULL);
		evaluation_add(&ef, t->fresh, &t->held.r[i], t->held.f + i * FEATURE_COUNT, NULL);
	}
	printf("on the %zu held-out events:\n", t->held.n);
	snprintf(ln, sizeof ln, "live (v%d)", model_version(t->live->model[SCORER_STATUS]));
	snprintf(fn, sizeof fn, "new (v%d)", t->o.version);
	retrain__compare(&el, ln, &ef, fn);
	if (!retrain__better(&el, &ef, why, sizeof why)) {
		printf("the new set is not better: %s; the live set stays%s\n", why,
		       t->promote ? " (nothing installed)" : "");
		return 0;
	}
	printf("the new set is better: %s\n", why);
	if (!t->promote) {
		printf("to make it the live set: fieldgate models promote needs it as shadow_dir, "
		       "or run again with --promote-if-better\n");
		return 0;
	}
	if (modelset_install(t->o.outdir, t->cfg->models_dir, prev, sizeof prev, err, sizeof err) < 0) {
		fprintf(stderr, "fieldgate train: %s (the live set is unchanged)\n", err);
		return EXIT_RUNTIME;
	}
	printf("installed into %s; the set it replaced is kept in %s\n", t->cfg->models_dir, prev);
	return lifecycle_reload_agent(t->cfg, t->fresh->names.status) ? EXIT_RUNTIME : 0;
}

int cmd_train_site(int argc, char **argv)
{
	struct retrain__train t = { .holdout = RETRAIN__HOLDOUT_PCT, .rg = { .until = clock_wall_ms() } };
	int rc;

	trainer_options_default(&t.o);
	if ((rc = retrain__train_args(&t, argc, argv)) != 0)
		return rc < 0 ? 0 : rc;
	if ((rc = cli_load_config(t.cfgpath, &t.cfg)) != 0)
		return rc;
	if ((rc = retrain__train_prepare(&t)) == 0)
		rc = retrain__train_set(&t) < 0 ? EXIT_RUNTIME : retrain__train_judge(&t);
	trainer_free(&t.trainer);
	free(t.held.r);
	free(t.held.f);
	scorer_free(&t.live);
	scorer_free(&t.fresh);
	store_close(&t.rg.st);
	free(t.cfg);
	return rc;
}

/* ---- eval -c ---- */

/* One eval -c run: the sets and what they got right. */
struct retrain__eval {
	struct scorer *set[2];       /* live, candidate (or NULL) */
	struct evaluation ev[2];     /* theirs */
};

static int retrain__eval_row(void *vctx, uint64_t index, const struct reading *r, const double *f)
{
	struct retrain__eval *e = vctx;

	(void)index;
	for (int i = 0; i < 2; i++)
		if (e->set[i])
			evaluation_add(&e->ev[i], e->set[i], r, f, NULL);
	return 0;
}

static void retrain__eval_usage(FILE *f)
{
	fprintf(f, "usage: fieldgate eval -c SITE.conf [--models DIR] [--since T] [--until T] [--json]\n"
		"Score the labelled events in the site's buffer that arrived between --since and\n"
		"--until (default: all of them) with the live set ([models] dir) and, with --models,\n"
		"a candidate set beside it; report what eval reports for each, and whether the\n"
		"candidate is better (none of status accuracy, anomaly accuracy and humidity RMSE\n"
		"worse by more than 0.1 pp, 0.1 pp, 0.5 %%, one better by more; an anomaly model\n"
		"that never fires is never better).\n"
		"  --json   {\"rows\":N,\"live\":{...},\"candidate\":{...},\"better\":B}, each as eval --json\n");
}

int cmd_eval_site(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "models", required_argument, NULL, 'm' },
		{ "since", required_argument, NULL, 'A' }, { "until", required_argument, NULL, 'U' },
		{ "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	struct retrain__range rg = { .until = clock_wall_ms() };
	struct retrain__eval e;
	struct config *cfg = NULL;
	const char *cfgpath = NULL, *models = NULL;
	char err[1024], why[512];
	int c, json = 0, rc;

	memset(&e, 0, sizeof e);
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': cfgpath = optarg; break;
		case 'm': models = optarg; break;
		case 'A': if (retrain__time("eval", "since", optarg, &rg.since)) return EXIT_USAGE; break;
		case 'U': if (retrain__time("eval", "until", optarg, &rg.until)) return EXIT_USAGE; break;
		case 'j': json = 1; break;
		case 'h': retrain__eval_usage(stdout); return 0;
		default: retrain__eval_usage(stderr); return EXIT_USAGE;
		}
	}
	if (!cfgpath || optind != argc) {
		retrain__eval_usage(stderr);
		return EXIT_USAGE;
	}
	if ((rc = cli_load_config(cfgpath, &cfg)) != 0)
		return rc;
	rc = EXIT_RUNTIME;
	rg.cfg = cfg;
	if (scorer_load(&e.set[0], cfg->models_dir, err, sizeof err) < 0 ||
	    (models && scorer_load(&e.set[1], models, err, sizeof err) < 0)) {
		fprintf(stderr, "fieldgate eval: %s\n", err);
		goto out;
	}
	if ((rc = retrain__open(&rg, "eval")) != 0)
		goto out;
	rc = EXIT_RUNTIME;
	evaluation_init(&e.ev[0]);
	evaluation_init(&e.ev[1]);
	if (retrain__walk(&rg, retrain__eval_row, &e, progress_wanted(stderr)) < 0)
		goto out;
	if (json) {
		printf("{\"rows\":%zu,\"live\":", e.ev[0].rows);
		eval_print_json(&e.ev[0], 0, 0);
		if (e.set[1]) {
			printf(",\"candidate\":");
			eval_print_json(&e.ev[1], 0, 0);
			printf(",\"better\":%s", retrain__better(&e.ev[0], &e.ev[1], why, sizeof why)
			       ? "true" : "false");
		}
		printf("}\n");
	} else {
		printf("%zu events of the buffer (seq %" PRIu64 "..%" PRIu64 ")\n", e.ev[0].rows,
		       rg.first, rg.last);
		if (!e.set[1]) {
			printf("live set %s, %s, %s:\n", e.set[0]->names.status, e.set[0]->names.anomaly,
			       e.set[0]->names.humidity);
			eval_print_text(&e.ev[0]);
		} else {
			retrain__compare(&e.ev[0], "live", &e.ev[1], "candidate");
			printf("the candidate is %s: %s\n",
			       retrain__better(&e.ev[0], &e.ev[1], why, sizeof why) ? "better"
			       : "not better", why);
		}
	}
	rc = 0;
out:
	scorer_free(&e.set[0]);
	scorer_free(&e.set[1]);
	store_close(&rg.st);
	free(cfg);
	return rc;
}

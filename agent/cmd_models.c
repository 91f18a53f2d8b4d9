/*
 * cmd_models.c - the model commands: `train`, `eval` and `score`.
 *
 * All three read readings as JSON lines and turn each into the catalogue's
 * features in file order, exactly as the running agent does, so a model is
 * trained and evaluated on the same numbers it will see in production
 * (trainer.c does the training and the counting). `train -c` and `eval -c`,
 * from a site's buffer, are in cmd_retrain.c.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/cli.h"
#include "agent/cli_int.h"
#include "agent/clock.h"
#include "agent/features.h"
#include "agent/ingest.h"
#include "agent/log.h"
#include "agent/progress.h"
#include "agent/scorer.h"
#include "agent/trainer.h"
#include "models/metrics.h"
#include "models/model.h"
#include "sensors/event.h"
#include "sensors/reading.h"

/* ---- train ---- */

struct train_ctx {
	const char *file;                     /* data file, for messages */
	struct features *feat;                /* rolling state */
	struct trainer *trainer;              /* the rows of the three models */
	unsigned long rejected;               /* lines skipped */
	struct progress *bar;                 /* reading the file (on a terminal) */
};

static int train__line(void *vctx, char *line, size_t len, long lineno)
{
	struct train_ctx *t = vctx;
	struct reading r;
	char why[256];
	double f[FEATURE_COUNT];
	int rc = reading_decode(line, len, 0, &r, why, sizeof why);

	if (rc != READING_OK) {
		if (t->rejected++ < 10) {
			progress_interrupt(t->bar);
			fprintf(stderr, "%s:%ld: skipped: %s\n", t->file, lineno, why);
		}
		return 0;
	}
	(void)features_compute(t->feat, &r, f);
	if (trainer_add(t->trainer, &r, f) < 0) {
		progress_interrupt(t->bar);
		fprintf(stderr, "%s:%ld: out of memory\n", t->file, lineno);
		return -1;
	}
	return 0;
}

static void train__usage(FILE *f)
{
	fprintf(f, "usage: fieldgate train --data FILE --out DIR [--seed S] [--source TEXT]\n"
		"                       [--threshold auto|P] [--class-weight none|balanced]\n"
		"Train the three models from labelled readings (JSON lines with status_flag and\n"
		"is_anomaly) and write status_predictor.json, anomaly_detector.json and\n"
		"humidity_regressor.json into DIR, sealed by DIR/SHA256SUMS (the agent refuses\n"
		"a set that does not match it). Same data and seed give the same files.\n"
		"  --trees N      random-forest trees (20)     --depth N   tree depth (5)\n"
		"  --iterations N GBT iterations (10)          --reg X     logistic L2 regParam (0.001)\n"
		"  --bins N       tree split candidates per feature (128)\n"
		"  --version N    model version to record (1)\n"
		"The anomaly detector (logistic regression) raises an alarm when its probability\n"
		"is at least a threshold:\n"
		"  --threshold auto  (default) fit on the first 80 %% of its rows and take the\n"
		"                 threshold with the fewest false alarms plus misses (the best\n"
		"                 accuracy) on the last 20 %%, then fit on all rows; so on those\n"
		"                 rows it never raises more false alarms than it catches\n"
		"                 anomalies. 0.5 when no threshold beats never alarming.\n"
		"  --threshold P  a fixed threshold, 0 < P < 1 (lower: more alarms, more false)\n"
		"  --class-weight none  (default) every row weighs the same\n"
		"  --class-weight balanced  anomalies weigh n/(2 n_anomalies), normal rows\n"
		"                 n/(2 n_normal), as scikit-learn's: more alarms, many false when\n"
		"                 anomalies are rare (with --threshold auto it matters little)\n"
		"The settings and the threshold are recorded in anomaly_detector.json. Each\n"
		"classifier is also fitted on the first 80 %% of its rows and scored on the rest:\n"
		"a warning says so when it is less accurate there than always answering the\n"
		"most frequent class.\n"
		"On a terminal, stderr shows the progress of reading and of each model.\n"
		"       fieldgate train -c SITE.conf --since T [--until T] [--promote-if-better] ...\n"
		"The same on the labelled events in a site's buffer, compared with its live set\n"
		"on a held-out slice (see fieldgate train -c x --help).\n");
}

int cmd_train(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' }, { "out", required_argument, NULL, 'o' },
		{ "seed", required_argument, NULL, 's' }, { "source", required_argument, NULL, 'S' },
		{ "trees", required_argument, NULL, 't' }, { "depth", required_argument, NULL, 'D' },
		{ "iterations", required_argument, NULL, 'i' }, { "reg", required_argument, NULL, 'r' },
		{ "version", required_argument, NULL, 'v' }, { "bins", required_argument, NULL, 'b' },
		{ "threshold", required_argument, NULL, 'T' },
		{ "class-weight", required_argument, NULL, 'W' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	struct train_ctx t = { 0 };
	struct trainer_options o;
	struct progress bar;
	const char *data = NULL;
	char err[1024];
	int c, rc = EXIT_RUNTIME;
	FILE *in = NULL;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "-c") == 0 || strncmp(argv[i], "--config", 8) == 0)
			return cmd_train_site(argc, argv);
	trainer_options_default(&o);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		int r = c == 'd' ? (data = optarg, 0) : train_option(&o, c, optarg);
		if (r > 0) {
			fprintf(stderr, "fieldgate train: bad value for an option: '%s'\n", optarg);
			return EXIT_USAGE;
		}
		if (r < 0) {
			if (c == 'h') {
				train__usage(stdout);
				return 0;
			}
			train__usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!data || !o.outdir || optind != argc) {
		train__usage(stderr);
		return EXIT_USAGE;
	}
	if (!o.source)
		o.source = data;
	o.bars = progress_wanted(stderr);
	if (!(in = fopen(data, "r"))) {
		fprintf(stderr, "%s: cannot open: %s\n", data, strerror(errno));
		return EXIT_RUNTIME;
	}
	if (features_create(&t.feat) < 0 || trainer_create(&t.trainer) < 0) {
		fprintf(stderr, "fieldgate train: out of memory\n");
		goto out;
	}
	t.file = data;
	progress_start(&bar, stderr, o.bars, "reading", PROGRESS_BYTES, NULL, cli_file_size(in));
	t.bar = &bar;
	if (cli_foreach_line_progress(in, data, train__line, &t, &bar) != 0)
		goto out;
	progress_finish(&bar);
	if (t.rejected)
		fprintf(stderr, "%s: %lu lines skipped as invalid readings\n", data, t.rejected);
	if (trainer_train(t.trainer, &o, err, sizeof err) < 0) {
		fprintf(stderr, "%s: %s\n", data, err);
		goto out;
	}
	rc = 0;
out:
	trainer_free(&t.trainer);
	features_free(&t.feat);
	if (in)
		fclose(in);
	return rc;
}

/* One of train's model options (c as in its option table) into o. Returns 0,
 * 1 for a bad value, -1 for an option it does not know. */
int train_option(struct trainer_options *o, int c, const char *arg)
{
	unsigned long long u;

	switch (c) {
	case 'o': o->outdir = arg; return 0;
	case 'S': o->source = arg; return 0;
	case 's':
		if (cli_parse_u64(arg, &u) < 0)
			return 1;
		o->forest.seed = o->gbt.seed = u;
		return 0;
	case 'v':
		if (cli_parse_u64(arg, &u) < 0 || u < 1 || u > 1000000)
			return 1;
		o->version = (int)u;
		return 0;
	case 't':
		if (cli_parse_u64(arg, &u) < 0 || u < 1 || u > 1000)
			return 1;
		o->forest.trees = (int)u;
		return 0;
	case 'D':
		if (cli_parse_u64(arg, &u) < 0 || u < 1 || u > 16)
			return 1;
		o->forest.max_depth = o->gbt.max_depth = (int)u;
		return 0;
	case 'i':
		if (cli_parse_u64(arg, &u) < 0 || u < 1 || u > 1000)
			return 1;
		o->gbt.iterations = (int)u;
		return 0;
	case 'b':
		if (cli_parse_u64(arg, &u) < 0 || u < 2 || u > 1024)
			return 1;
		o->forest.max_bins = o->gbt.max_bins = (int)u;
		return 0;
	case 'r':
		return cli_parse_double(arg, &o->logreg.reg_param) < 0 || o->logreg.reg_param < 0;
	case 'T':
		if (strcmp(arg, "auto") == 0) {
			o->logreg.auto_threshold = 1;
			return 0;
		}
		o->logreg.auto_threshold = 0;
		return cli_parse_double(arg, &o->logreg.threshold) < 0 ||
		       !(o->logreg.threshold > 0 && o->logreg.threshold < 1);
	case 'W':
		if (strcmp(arg, "none") == 0)
			o->logreg.class_weight = LOGREG_WEIGHT_NONE;
		else if (strcmp(arg, "balanced") == 0)
			o->logreg.class_weight = LOGREG_WEIGHT_BALANCED;
		else
			return 1;
		return 0;
	default:
		return -1;
	}
}

/* ---- eval ---- */

/* Errors of one sensor, for --by-sensor. */
struct sensor_errors {
	char id[READING_ID_MAX + 1]; /* sensor_id */
	unsigned long rows;          /* readings */
	unsigned long status_errors; /* wrong status predictions */
	unsigned long anomaly_errors;/* wrong anomaly predictions */
	double sq_err;               /* sum of squared humidity errors */
};

struct eval_ctx {
	const char *file;                   /* data file */
	struct features *feat;              /* rolling state */
	struct scorer *scorer;              /* the models */
	struct evaluation ev;               /* what they got right */
	unsigned long rejected;             /* lines skipped */
	struct progress *bar;               /* reading the file (on a terminal) */
	int by_sensor;                      /* collect per-sensor errors */
	struct sensor_errors *by;           /* per sensor */
	size_t nby, capby;                  /* entries, allocated */
	size_t last;                        /* index of the last sensor (fast path) */
};

static struct sensor_errors *eval__sensor(struct eval_ctx *e, const char *id)
{
	if (e->nby && strcmp(e->by[e->last].id, id) == 0)
		return &e->by[e->last];
	for (size_t i = 0; i < e->nby; i++)
		if (strcmp(e->by[i].id, id) == 0)
			return &e->by[e->last = i];
	if (e->nby == e->capby) {
		size_t cap = e->capby ? e->capby * 2 : 256;
		struct sensor_errors *n = realloc(e->by, cap * sizeof *n);
		if (!n)
			return NULL;
		e->by = n;
		e->capby = cap;
	}
	memset(&e->by[e->nby], 0, sizeof e->by[0]);
	strcpy(e->by[e->nby].id, id);
	e->last = e->nby;
	return &e->by[e->nby++];
}

static int eval__line(void *vctx, char *line, size_t len, long lineno)
{
	struct eval_ctx *e = vctx;
	struct reading r;
	struct evaluation_row o;
	struct sensor_errors *se = NULL;
	char why[256];
	double f[FEATURE_COUNT];

	if (reading_decode(line, len, 0, &r, why, sizeof why) != READING_OK) {
		if (e->rejected++ < 10) {
			progress_interrupt(e->bar);
			fprintf(stderr, "%s:%ld: skipped: %s\n", e->file, lineno, why);
		}
		return 0;
	}
	(void)features_compute(e->feat, &r, f);
	evaluation_add(&e->ev, e->scorer, &r, f, &o);
	if (e->by_sensor) {
		if (!(se = eval__sensor(e, r.sensor_id))) {
			progress_interrupt(e->bar);
			fprintf(stderr, "%s:%ld: out of memory\n", e->file, lineno);
			return -1;
		}
		se->rows++;
		se->status_errors += o.status != r.status_flag;
		se->anomaly_errors += o.anomaly != r.is_anomaly;
		se->sq_err += (r.humidity - o.humidity) * (r.humidity - o.humidity);
	}
	return 0;
}

static void eval__print_confusion(const char *title, const struct confusion *c,
				  const char *const *names);

void eval_print_json(const struct evaluation *e, unsigned long rejected, int newline)
{
	printf("{\"rows\":%zu,\"rejected\":%lu,\"status\":{\"accuracy\":%.6f,\"rows\":%zu,\"confusion\":[",
	       e->rows, rejected, confusion_accuracy(&e->status), e->status.n);
	for (size_t i = 0; i < 3; i++)
		printf("%s[%zu,%zu,%zu]", i ? "," : "", e->status.m[i][0], e->status.m[i][1],
		       e->status.m[i][2]);
	printf("]},\"anomaly\":{\"accuracy\":%.6f,\"rows\":%zu,\"confusion\":[[%zu,%zu],[%zu,%zu]],"
	       "\"precision\":%.6f,\"recall\":%.6f,\"f1\":%.6f,\"all_normal_accuracy\":%.6f},"
	       "\"humidity\":{\"rmse\":%.6f,\"rows\":%zu}}%s",
	       confusion_accuracy(&e->anomaly), e->anomaly.n, e->anomaly.m[0][0], e->anomaly.m[0][1],
	       e->anomaly.m[1][0], e->anomaly.m[1][1], confusion_precision(&e->anomaly, 1),
	       confusion_recall(&e->anomaly, 1), confusion_f1(&e->anomaly, 1),
	       confusion_share(&e->anomaly, 0), rmse_value(&e->humidity), e->humidity.n,
	       newline ? "\n" : "");
}

/* The anomaly model's alarms: precision, recall, F1 and the all-normal
 * baseline, and a plain warning when the model is below that baseline. */
static void eval__print_alarms(const struct confusion *c)
{
	double acc = confusion_accuracy(c), base = confusion_share(c, 0);

	printf("  precision %.4f (alarms that were anomalies), recall %.4f (anomalies alarmed), "
	       "F1 %.4f\n", confusion_precision(c, 1), confusion_recall(c, 1), confusion_f1(c, 1));
	printf("  all-normal baseline: accuracy %.4f (never raising an alarm)%s\n", base,
	       acc < base ? "" : acc > base ? "; the model is better" : "; the model is no better");
	if (acc < base)
		printf("  WORSE than never alarming: %zu false alarms for %zu anomalies caught (see its "
		       "\"threshold\" and \"class_weight\" in anomaly_detector.json and fieldgate "
		       "train --help)\n", c->m[0][1], c->m[1][1]);
}

void eval_print_text(const struct evaluation *e)
{
	static const char *const status_names[] = { "normal", "warning", "fault" };
	static const char *const anomaly_names[] = { "normal", "anomaly" };

	eval__print_confusion("status", &e->status, status_names);
	eval__print_confusion("anomaly", &e->anomaly, anomaly_names);
	if (e->anomaly.n)
		eval__print_alarms(&e->anomaly);
	printf("humidity: RMSE %.4f %% RH over %zu rows\n", rmse_value(&e->humidity), e->humidity.n);
}

static void eval__print_confusion(const char *title, const struct confusion *c, const char *const *names)
{
	printf("%s: accuracy %.4f over %zu rows\n  actual \\ predicted", title,
	       confusion_accuracy(c), c->n);
	for (size_t j = 0; j < c->k; j++)
		printf(" %9s", names[j]);
	printf("\n");
	for (size_t i = 0; i < c->k; i++) {
		printf("  %-20s", names[i]);
		for (size_t j = 0; j < c->k; j++)
			printf(" %9zu", c->m[i][j]);
		printf("\n");
	}
}

static void eval__usage(FILE *f)
{
	fprintf(f, "usage: fieldgate eval --models DIR --data FILE [--by-sensor OUT.csv] [--json]\n"
		"Score labelled readings with the models in DIR and report status accuracy and\n"
		"confusion matrix, anomaly accuracy and confusion matrix with the anomaly\n"
		"model's precision, recall and F1 and the accuracy of never raising an alarm\n"
		"(the all-normal baseline: a model below it raises more false alarms than it\n"
		"catches anomalies), humidity RMSE.\n"
		"  --by-sensor OUT.csv  write per-sensor error counts\n"
		"  --json               print one JSON object instead of text\n"
		"On a terminal, stderr shows the progress of reading and scoring.\n"
		"       fieldgate eval -c SITE.conf [--models DIR] [--since T] [--until T] [--json]\n"
		"The same on the labelled events in a site's buffer, for its live set and, with\n"
		"--models, a candidate beside it (see fieldgate eval -c x --help).\n");
}

static int eval__write_by_sensor(const struct eval_ctx *e, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "%s: cannot create: %s\n", path, strerror(errno));
		return -1;
	}
	fprintf(f, "sensor_id,rows,status_errors,anomaly_errors,humidity_rmse\n");
	for (size_t i = 0; i < e->nby; i++)
		fprintf(f, "%s,%lu,%lu,%lu,%.4f\n", e->by[i].id, e->by[i].rows, e->by[i].status_errors,
			e->by[i].anomaly_errors, e->by[i].rows ? sqrt(e->by[i].sq_err / e->by[i].rows) : 0.0);
	if (fclose(f) != 0) {
		fprintf(stderr, "%s: write error: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

int cmd_eval(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "models", required_argument, NULL, 'm' }, { "data", required_argument, NULL, 'd' },
		{ "by-sensor", required_argument, NULL, 'b' }, { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' }, { 0, 0, 0, 0 },
	};
	struct eval_ctx e = { 0 };
	struct progress bar;
	const char *models = NULL, *data = NULL, *by = NULL;
	char err[1024];
	int c, json = 0, rc = EXIT_RUNTIME;
	FILE *in = NULL;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "-c") == 0 || strncmp(argv[i], "--config", 8) == 0)
			return cmd_eval_site(argc, argv);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': models = optarg; break;
		case 'd': data = optarg; break;
		case 'b': by = optarg; break;
		case 'j': json = 1; break;
		case 'h': eval__usage(stdout); return 0;
		default: eval__usage(stderr); return EXIT_USAGE;
		}
	}
	if (!models || !data || optind != argc) {
		eval__usage(stderr);
		return EXIT_USAGE;
	}
	if (scorer_load(&e.scorer, models, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		return EXIT_RUNTIME;
	}
	if (!(in = fopen(data, "r"))) {
		fprintf(stderr, "%s: cannot open: %s\n", data, strerror(errno));
		goto out;
	}
	if (features_create(&e.feat) < 0)
		goto out;
	e.file = data;
	evaluation_init(&e.ev);
	e.by_sensor = by != NULL;
	progress_start(&bar, stderr, progress_wanted(stderr), "scoring", PROGRESS_BYTES, NULL,
		       cli_file_size(in));
	e.bar = &bar;
	if (cli_foreach_line_progress(in, data, eval__line, &e, &bar) != 0)
		goto out;
	progress_finish(&bar);
	if (by && eval__write_by_sensor(&e, by) < 0)
		goto out;
	if (json) {
		eval_print_json(&e.ev, e.rejected, 1);
	} else {
		printf("rows: %zu (%lu skipped as invalid)\n", e.ev.rows, e.rejected);
		eval_print_text(&e.ev);
		if (by)
			printf("per-sensor errors: %s (%zu sensors)\n", by, e.nby);
	}
	rc = 0;
out:
	if (in)
		fclose(in);
	free(e.by);
	features_free(&e.feat);
	scorer_free(&e.scorer);
	return rc;
}

/* ---- score ---- */

struct score_ctx {
	struct ingest in;         /* features + scorer */
	char hostname[256];       /* gateway_id of the events */
	unsigned long seq;        /* events written */
	unsigned long rejected;   /* lines rejected */
	char head[EVENT_HEAD_MAX];/* scratch */
};

static int score__line(void *vctx, char *line, size_t len, long lineno)
{
	struct score_ctx *s = vctx;
	struct reading r;
	struct event_prediction p;
	char why[256];
	int64_t now = clock_wall_ms();
	int rc = reading_decode(line, len, now, &r, why, sizeof why), bl, hl;

	if (rc != READING_OK) {
		s->rejected++;
		fprintf(stderr, "stdin:%ld: rejected (%s): %s\n", lineno, reading_reason_name(rc), why);
		return 0;
	}
	bl = ingest_score(&s->in, &r, now, &p);
	hl = event_encode_head(s->hostname, "score", s->seq + 1, s->head, sizeof s->head);
	if (bl < 0 || hl < 0) {
		s->rejected++;
		fprintf(stderr, "stdin:%ld: rejected: event too large to encode\n", lineno);
		return 0;
	}
	s->seq++;
	fwrite(s->head, 1, (size_t)hl, stdout);
	fwrite(s->in.body, 1, (size_t)bl, stdout);
	if (putchar('\n') == EOF) {
		fprintf(stderr, "fieldgate score: write error on stdout: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

int cmd_score(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "models", required_argument, NULL, 'm' }, { "max-sensors", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' }, { 0, 0, 0, 0 },
	};
	struct score_ctx *s;
	struct scorer *sc = NULL;
	const char *models = NULL;
	unsigned long max_sensors = FEATURES_MAX_SENSORS_DEFAULT;
	char err[1024], *end;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': models = optarg; break;
		case 's':
			errno = 0;
			max_sensors = strtoul(optarg, &end, 10);
			if (errno || *end || !isdigit((unsigned char)optarg[0]) || max_sensors < 1 ||
			    max_sensors > SENSOR_MAP_MAX) {
				fprintf(stderr, "fieldgate score: --max-sensors %s: expected an integer "
					"from 1 to %zu\n", optarg, SENSOR_MAP_MAX);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			printf("usage: fieldgate score --models DIR [--max-sensors N]\nRead readings (JSON "
			       "lines) on stdin, write scored events (JSON lines) on stdout.\nInvalid lines "
			       "are reported on stderr and skipped; the exit status is 1 if any was.\n"
			       "Rolling features are kept for the N sensors seen most recently (default "
			       "%d, as [models] max_sensors).\n", FEATURES_MAX_SENSORS_DEFAULT);
			return 0;
		default: return EXIT_USAGE;
		}
	}
	if (!models || optind != argc) {
		fprintf(stderr, "usage: fieldgate score --models DIR [--max-sensors N]\n");
		return EXIT_USAGE;
	}
	if (scorer_load(&sc, models, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		return EXIT_RUNTIME;
	}
	if (!(s = calloc(1, sizeof *s)) || ingest_init(&s->in, sc, NULL, NULL) < 0) {
		fprintf(stderr, "fieldgate score: out of memory\n");
		scorer_free(&sc);
		free(s);
		return EXIT_RUNTIME;
	}
	if (ingest_limit_sensors(&s->in, max_sensors, 0) < 0) { /* checked above: cannot happen */
		fprintf(stderr, "fieldgate score: --max-sensors %lu refused\n", max_sensors);
		ingest_cleanup(&s->in);
		free(s);
		return EXIT_USAGE;
	}
	if (gethostname(s->hostname, sizeof s->hostname - 1) < 0 || !s->hostname[0])
		strcpy(s->hostname, "localhost");
	rc = cli_foreach_line(stdin, "stdin", score__line, s);
	if (fflush(stdout) != 0 && rc == 0) {
		fprintf(stderr, "fieldgate score: write error on stdout: %s\n", strerror(errno));
		rc = -1;
	}
	ingest_cleanup(&s->in);
	rc = rc != 0 || s->rejected ? EXIT_RUNTIME : 0;
	free(s);
	return rc;
}

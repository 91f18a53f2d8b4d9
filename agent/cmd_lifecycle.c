/*
 * cmd_lifecycle.c - `fieldgate models SUBCOMMAND`: the model lifecycle at
 * the edge, for operators who bring, check and swap model sets.
 *
 *   models features [--data FILE [--out FILE]]
 *       the feature catalogue; with --data, every catalogue feature of every
 *       reading as CSV, computed exactly as the agent does (file order, per
 *       sensor history), with the labels: what to train an external model on
 *   models seal DIR
 *       write DIR/SHA256SUMS for a set assembled or edited by hand
 *   models promote -c SITE.conf [--dry-run]
 *       the shadow set becomes the live set: installed into [models] dir
 *       with one atomic rename (the old set kept for rollback), and the
 *       running agent told to reload
 *   models rollback -c SITE.conf
 *       the set promote replaced goes live again
 *   models check FILE|DIR ...
 *       load each model file (a directory: its three) with every check the
 *       agent applies when it loads them, one line per file
 *   models predict --models DIR --features FILE.csv [--slot SLOT]
 *       the raw outputs of the models for each row of a features CSV, at
 *       full precision: what a parity test compares with another library
 *
 * The subcommands share cmd_models.c's view of readings: JSON lines, one
 * feature vector per reading through features_compute().
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "agent/cli.h"
#include "agent/cli_int.h"
#include "agent/clock.h"
#include "agent/config.h"
#include "agent/features.h"
#include "agent/modelset.h"
#include "agent/scorer.h"
#include "agent/state.h"
#include "models/model.h"
#include "sensors/reading.h"

/* ---- models features ---- */

/* One CSV export: the reader's state and where the rows go. */
struct features_csv {
	const char *file;       /* data file, for messages */
	FILE *out;              /* the CSV */
	struct features *feat;  /* rolling state */
	unsigned long rows;     /* rows written */
	unsigned long skipped;  /* invalid readings */
};

/* ",v" in the shortest of %.15g, %.16g, %.17g that reads back as v exactly:
 * 20.1, not 20.100000000000001. */
static void lifecycle__number(FILE *f, double v)
{
	char buf[32];

	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, sizeof buf, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	fprintf(f, ",%s", buf);
}

/* A label as a CSV cell: empty when the reading has none. */
static void lifecycle__label(FILE *f, int v)
{
	if (v >= 0)
		fprintf(f, ",%d", v);
	else
		fputc(',', f);
}

static int lifecycle__csv_line(void *vctx, char *line, size_t len, long lineno)
{
	struct features_csv *x = vctx;
	struct reading r;
	double f[FEATURE_COUNT];
	char why[256];

	if (reading_decode(line, len, 0, &r, why, sizeof why) != READING_OK) {
		if (x->skipped++ < 10)
			fprintf(stderr, "%s:%ld: skipped: %s\n", x->file, lineno, why);
		return 0;
	}
	(void)features_compute(x->feat, &r, f);
	/* sensor_id holds no comma or quote in practice; quote it anyway. */
	fputc('"', x->out);
	for (const char *p = r.sensor_id; *p; p++) {
		if (*p == '"')
			fputc('"', x->out);
		fputc(*p, x->out);
	}
	fprintf(x->out, "\",%lld", (long long)r.timestamp_ms);
	for (int i = 0; i < FEATURE_COUNT; i++)
		lifecycle__number(x->out, f[i]);
	lifecycle__label(x->out, r.status_flag);
	lifecycle__label(x->out, r.is_anomaly);
	if (fputc('\n', x->out) == EOF) {
		fprintf(stderr, "fieldgate models features: write error: %s\n", strerror(errno));
		return -1;
	}
	x->rows++;
	return 0;
}

static void lifecycle__features_usage(FILE *f)
{
	fprintf(f, "usage: fieldgate models features [--data FILE [--out FILE]]\n"
		"Without --data: the names of the features a model file may declare, one a line.\n"
		"With --data (labelled readings, JSON lines): one CSV row per valid reading with\n"
		"sensor_id, timestamp (epoch ms), every catalogue feature as the agent computes it\n"
		"(in file order, each sensor's history from its previous readings) and the labels\n"
		"status_flag and is_anomaly (empty when absent). Train an external model on these\n"
		"columns, under these names, and fieldgate computes the same numbers at the edge.\n"
		"  --out FILE   write the CSV there (default: stdout)\n");
}

static int lifecycle__features(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' }, { "out", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' }, { 0, 0, 0, 0 },
	};
	struct features_csv x = { 0 };
	const char *data = NULL, *out = NULL;
	FILE *in = NULL;
	int c, rc = EXIT_RUNTIME;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'o': out = optarg; break;
		case 'h': lifecycle__features_usage(stdout); return 0;
		default: lifecycle__features_usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc || (out && !data)) {
		lifecycle__features_usage(stderr);
		return EXIT_USAGE;
	}
	if (!data) {
		for (int i = 0; i < FEATURE_COUNT; i++)
			printf("%s\n", features_name((enum feature_id)i));
		return fflush(stdout) == 0 ? 0 : EXIT_RUNTIME;
	}
	if (!(in = fopen(data, "r"))) {
		fprintf(stderr, "%s: cannot open: %s\n", data, strerror(errno));
		return EXIT_RUNTIME;
	}
	x.file = data;
	x.out = stdout;
	if (out && !(x.out = fopen(out, "w"))) {
		fprintf(stderr, "%s: cannot create: %s\n", out, strerror(errno));
		goto done;
	}
	if (features_create(&x.feat) < 0) {
		fprintf(stderr, "fieldgate models features: out of memory\n");
		goto done;
	}
	fprintf(x.out, "sensor_id,timestamp");
	for (int i = 0; i < FEATURE_COUNT; i++)
		fprintf(x.out, ",%s", features_name((enum feature_id)i));
	fprintf(x.out, ",status_flag,is_anomaly\n");
	if (cli_foreach_line(in, data, lifecycle__csv_line, &x) != 0)
		goto done;
	if (x.skipped)
		fprintf(stderr, "%s: %lu lines skipped as invalid readings\n", data, x.skipped);
	rc = 0;
done:
	if (x.out && (x.out == stdout ? fflush(x.out) : fclose(x.out)) != 0 && rc == 0) {
		fprintf(stderr, "%s: write error: %s\n", out ? out : "stdout", strerror(errno));
		rc = EXIT_RUNTIME;
	}
	features_free(&x.feat);
	fclose(in);
	return rc;
}

/* ---- models seal ---- */

static int lifecycle__seal(int argc, char **argv)
{
	char err[1024];

	if (argc == 2 && cli_is_help(argv[1])) {
		printf("usage: fieldgate models seal DIR\n"
		       "Write DIR/SHA256SUMS with the SHA-256 of the set's three model files\n"
		       "(sha256sum -c SHA256SUMS checks it by hand). The agent refuses a sealed\n"
		       "set whose files do not match, so a half-copied set never goes live.\n"
		       "fieldgate train seals what it writes; seal a set you assembled yourself.\n");
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: fieldgate models seal DIR\n");
		return EXIT_USAGE;
	}
	if (scorer_seal(argv[1], err, sizeof err) < 0) {
		fprintf(stderr, "fieldgate models seal: %s\n", err);
		return EXIT_RUNTIME;
	}
	printf("sealed %s/%s\n", argv[1], SCORER_MANIFEST);
	return 0;
}

/* ---- models promote / rollback ---- */

#define LIFECYCLE__RELOAD_WAIT_MS 10000 /* how long to wait for the agent to take the set */

/* -c FILE [--dry-run] into *cfg. Returns 0, -1 after --help, or an exit status. */
static int lifecycle__site_args(int argc, char **argv, const char *usage, int *dry_run,
				struct config **cfg)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' }, { 0, 0, 0, 0 },
	};
	const char *path = NULL;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'n': if (dry_run) { *dry_run = 1; break; } /* fall through */
		default: fprintf(stderr, "%s", usage); return EXIT_USAGE;
		case 'h': printf("%s", usage); return -1;
		}
	}
	if (!path || optind != argc) {
		fprintf(stderr, "%s", usage);
		return EXIT_USAGE;
	}
	return cli_load_config(path, cfg);
}

/* [models] dir must be a set this site owns: the packaged one is replaced
 * by upgrades. Returns 0, or EXIT_USAGE after saying what to do. */
int lifecycle_own_dir(const struct config *cfg, const char *cmd)
{
	if (strncmp(cfg->models_dir, "/usr/", 5) != 0)
		return 0;
	fprintf(stderr, "fieldgate models %s: %s: [models] dir = %s is the packaged set, which "
		"package upgrades replace; copy it to a directory of the site's (cp -a %s "
		"/var/lib/fieldgate/%s/models), set [models] dir to it, restart, then %s again\n",
		cmd, cfg->file, cfg->models_dir, cfg->models_dir, cfg->site, cmd);
	return EXIT_USAGE;
}

/* Tell a running agent to reload (SIGHUP) and wait until its state file
 * shows `want` as the live status model. Returns 0 when it does (or no agent
 * runs), 1 otherwise (said on stderr). */
int lifecycle_reload_agent(const struct config *cfg, const char *want)
{
	struct state st;
	int64_t end;
	long pid;

	if (state_read(&st, cfg->data_dir) != 0 || !state_is_live(&st, clock_wall_ms(), 10000)) {
		printf("the agent of site %s is not running: it loads the new set when it starts\n",
		       cfg->site);
		return 0;
	}
	pid = strtol(state_value(&st, "pid", "0"), NULL, 10);
	if (!cfg->models_watch && kill((pid_t)pid, SIGHUP) != 0) {
		fprintf(stderr, "cannot signal the agent (pid %ld): %s; reload it yourself "
			"(systemctl reload fieldgate@%s)\n", pid, strerror(errno), cfg->site);
		return 1;
	}
	for (end = clock_mono_ms() + LIFECYCLE__RELOAD_WAIT_MS; clock_mono_ms() < end;) {
		struct timespec ts = { 0, 100 * 1000000L };
		nanosleep(&ts, NULL);
		if (state_read(&st, cfg->data_dir) == 0 &&
		    strcmp(state_value(&st, "models.status", ""), want) == 0) {
			printf("the running agent (pid %ld) now serves the new set\n", pid);
			return 0;
		}
	}
	fprintf(stderr, "the running agent (pid %ld) has not taken the new set after %d s: "
		"see its log (journalctl -u fieldgate@%s)\n", pid, LIFECYCLE__RELOAD_WAIT_MS / 1000,
		cfg->site);
	return 1;
}

static int lifecycle__promote(int argc, char **argv)
{
	static const char usage[] =
		"usage: fieldgate models promote -c SITE.conf [--dry-run]\n"
		"Make the shadow set ([models] shadow_dir) the live set ([models] dir): show how\n"
		"it did beside the live set (from the running agent), copy it into place with one\n"
		"atomic rename (an agent loading at that moment sees the old set or the new one),\n"
		"keep the set it replaces as DIR.previous (fieldgate models rollback brings it\n"
		"back), and tell the running agent to reload.\n"
		"  --dry-run   show the evidence and what would be installed; change nothing\n";
	struct config *cfg = NULL;
	struct scorer *cand = NULL;
	struct state st;
	char err[1024], prev[4200];
	int dry = 0, rc = lifecycle__site_args(argc, argv, usage, &dry, &cfg);

	if (rc)
		return rc < 0 ? 0 : rc;
	rc = EXIT_USAGE;
	if (!cfg->models_shadow_dir[0]) {
		fprintf(stderr, "fieldgate models promote: %s has no [models] shadow_dir: nothing to "
			"promote\n", cfg->file);
		goto out;
	}
	if ((rc = lifecycle_own_dir(cfg, "promote")) != 0)
		goto out;
	rc = EXIT_RUNTIME;
	if (scorer_load(&cand, cfg->models_shadow_dir, err, sizeof err) < 0) {
		fprintf(stderr, "fieldgate models promote: the shadow set does not load: %s\n", err);
		goto out;
	}
	if (state_read(&st, cfg->data_dir) == 0 && state_is_live(&st, clock_wall_ms(), 10000)) {
		printf("live:       %s, %s, %s\n", state_value(&st, "models.status", "?"),
		       state_value(&st, "models.anomaly", "?"), state_value(&st, "models.humidity", "?"));
		status_print_shadow(&st);
	} else {
		printf("the agent is not running: no figures of the shadow set beside the live one\n");
	}
	printf("%s %s, %s, %s from %s into %s\n", dry ? "would promote" : "promoting",
	       cand->names.status, cand->names.anomaly, cand->names.humidity,
	       cfg->models_shadow_dir, cfg->models_dir);
	if (dry) {
		rc = 0;
		goto out;
	}
	if (modelset_install(cfg->models_shadow_dir, cfg->models_dir, prev, sizeof prev,
			     err, sizeof err) < 0) {
		fprintf(stderr, "fieldgate models promote: %s (nothing changed)\n", err);
		goto out;
	}
	printf("promoted; the set it replaced is kept in %s (fieldgate models rollback -c %s "
	       "brings it back)\n", prev, cfg->file);
	rc = lifecycle_reload_agent(cfg, cand->names.status) ? EXIT_RUNTIME : 0;
out:
	scorer_free(&cand);
	free(cfg);
	return rc;
}

static int lifecycle__rollback(int argc, char **argv)
{
	static const char usage[] =
		"usage: fieldgate models rollback -c SITE.conf\n"
		"Put back the set the last `fieldgate models promote` replaced ([models] dir's\n"
		"DIR.previous, swapped in with one atomic rename; the promoted set becomes\n"
		"DIR.previous), and tell the running agent to reload.\n";
	struct config *cfg = NULL;
	struct scorer *now = NULL;
	char err[1024];
	int rc = lifecycle__site_args(argc, argv, usage, NULL, &cfg);

	if (rc)
		return rc < 0 ? 0 : rc;
	if ((rc = lifecycle_own_dir(cfg, "rollback")) != 0)
		goto out;
	rc = EXIT_RUNTIME;
	if (modelset_rollback(cfg->models_dir, err, sizeof err) < 0) {
		fprintf(stderr, "fieldgate models rollback: %s (nothing changed)\n", err);
		goto out;
	}
	if (scorer_load(&now, cfg->models_dir, err, sizeof err) < 0) {
		fprintf(stderr, "fieldgate models rollback: %s\n", err);
		goto out;
	}
	printf("rolled back: %s holds %s, %s, %s again\n", cfg->models_dir, now->names.status,
	       now->names.anomaly, now->names.humidity);
	rc = lifecycle_reload_agent(cfg, now->names.status) ? EXIT_RUNTIME : 0;
out:
	scorer_free(&now);
	free(cfg);
	return rc;
}

/* ---- models check ---- */

/* The slot a model file is for: by its name when it is one of the three a
 * models directory holds, else by its kind (each kind has one slot). */
static enum scorer_slot lifecycle__slot_of(const char *path, const struct model *m)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	for (int i = 0; i < SCORER_NMODELS; i++)
		if (strcmp(base, scorer_slot_file((enum scorer_slot)i)) == 0)
			return (enum scorer_slot)i;
	for (int i = 0; i < SCORER_NMODELS; i++)
		if (model_kind(m) == scorer_slot_kind((enum scorer_slot)i))
			return (enum scorer_slot)i;
	return SCORER_STATUS; /* not reached: every kind has a slot */
}

/* Load and check one file as the agent would; print its line (stdout when
 * it is fine, stderr with the reason when not). Returns 0 or -1. */
static int lifecycle__check_file(const char *path)
{
	struct model *m = NULL;
	char err[1024];

	if (model_load(&m, path, err, sizeof err) < 0 ||
	    scorer_check_model(m, lifecycle__slot_of(path, m), path, NULL, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		model_free(&m);
		return -1;
	}
	printf("%s: OK %s %s@%d, %zu features (", path, model_kind_name(model_kind(m)),
	       model_name(m), model_version(m), model_nfeatures(m));
	for (size_t j = 0; j < model_nfeatures(m); j++)
		printf("%s%s", j ? "," : "", model_feature_name(m, j));
	printf(")");
	if (model_ntrees(m))
		printf(", %zu trees, %zu nodes", model_ntrees(m), model_nnodes(m));
	if (model_split_float32(m))
		printf(", float32 splits");
	printf("\n");
	model_free(&m);
	return 0;
}

static void lifecycle__check_usage(FILE *f)
{
	fprintf(f, "usage: fieldgate models check FILE|DIR ...\n"
		"Load each model file as the agent does, with the same checks: a valid file within\n"
		"the size limits (models/FORMAT.md), the kind its slot takes, 3 classes for the\n"
		"status model, and only features the catalogue computes (fieldgate models features).\n"
		"The slot is the file's name when it is %s,\n"
		"%s or %s, else the model's kind.\n"
		"A DIR is a models directory: its three files are checked.\n"
		"One line per file: \"FILE: OK ...\" on stdout, or the reason on stderr.\n"
		"Exit status 0 when every file is fine, 2 otherwise.\n",
		SCORER_STATUS_FILE, SCORER_ANOMALY_FILE, SCORER_HUMIDITY_FILE);
}

static int lifecycle__check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' }, { 0, 0, 0, 0 },
	};
	int c, bad = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h': lifecycle__check_usage(stdout); return 0;
		default: lifecycle__check_usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind == argc) {
		lifecycle__check_usage(stderr);
		return EXIT_USAGE;
	}
	for (int i = optind; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			char path[4096];
			for (int k = 0; k < SCORER_NMODELS; k++) {
				snprintf(path, sizeof path, "%s/%s", argv[i], scorer_slot_file((enum scorer_slot)k));
				bad |= lifecycle__check_file(path) < 0;
			}
		} else {
			bad |= lifecycle__check_file(argv[i]) < 0;
		}
	}
	if (fflush(stdout) != 0) {
		fprintf(stderr, "fieldgate models check: write error: %s\n", strerror(errno));
		return EXIT_RUNTIME;
	}
	return bad ? EXIT_USAGE : 0;
}

/* ---- models predict ---- */

static const char *const lifecycle__slot_names[SCORER_NMODELS] = {
	[SCORER_STATUS] = "status", [SCORER_ANOMALY] = "anomaly", [SCORER_HUMIDITY] = "humidity",
};

/* State of one `models predict` run. */
struct predict_ctx {
	const char *file;                          /* the CSV, for messages */
	struct model *model[SCORER_NMODELS];       /* the models predicted with (NULL: not asked for) */
	int map[SCORER_NMODELS][MODEL_MAX_FEATURES]; /* model feature j -> catalogue id */
	int col[FEATURE_COUNT];                    /* catalogue id -> CSV column, -1 when absent */
	int ncols;                                 /* columns in the header */
	unsigned long rows;                        /* rows predicted */
};

/*
 * Split a CSV line in place into at most max cells (RFC 4180: a quoted cell
 * may hold commas and "" for a quote). Returns the cell count, or -1 for a
 * quote that does not close or more than max cells.
 */
static int lifecycle__csv_split(char *line, char **cell, int max)
{
	int n = 0;
	char *p = line;

	for (;;) {
		char *out = p;
		if (n == max)
			return -1;
		cell[n++] = p;
		if (*p == '"') {
			char *q = p + 1;
			for (;;) {
				if (*q == '\0')
					return -1;
				if (*q == '"' && q[1] == '"') {
					*out++ = '"';
					q += 2;
				} else if (*q == '"') {
					q++;
					break;
				} else {
					*out++ = *q++;
				}
			}
			if (*q != ',' && *q != '\0')
				return -1;
			p = q;
		} else {
			while (*p && *p != ',')
				p++;
			out = p;
		}
		char sep = *p;
		*out = '\0';
		if (sep == '\0')
			return n;
		p++;
	}
}

#define PREDICT_MAX_COLUMNS 256 /* columns in a features CSV */

static int lifecycle__predict_header(struct predict_ctx *x, char *line)
{
	char *cell[PREDICT_MAX_COLUMNS];
	int n = lifecycle__csv_split(line, cell, PREDICT_MAX_COLUMNS);

	if (n < 0) {
		fprintf(stderr, "%s:1: not a CSV header (an open quote, or more than %d columns)\n",
			x->file, PREDICT_MAX_COLUMNS);
		return -1;
	}
	for (int i = 0; i < FEATURE_COUNT; i++)
		x->col[i] = -1;
	for (int c = 0; c < n; c++) {
		int id = features_lookup(cell[c]);
		if (id < 0)
			continue; /* sensor_id, timestamp, the labels, anything else */
		if (x->col[id] >= 0) {
			fprintf(stderr, "%s:1: column \"%s\" appears twice\n", x->file, cell[c]);
			return -1;
		}
		x->col[id] = c;
	}
	for (int i = 0; i < SCORER_NMODELS; i++) {
		const struct model *m = x->model[i];
		for (size_t j = 0; m && j < model_nfeatures(m); j++)
			if (x->col[x->map[i][j]] < 0) {
				fprintf(stderr, "%s:1: no column \"%s\" (%s@%d needs it)\n", x->file,
					model_feature_name(m, j), model_name(m), model_version(m));
				return -1;
			}
	}
	x->ncols = n;
	if (x->model[SCORER_STATUS])
		printf("status,p_normal,p_warning,p_fault%s", x->model[SCORER_ANOMALY] ||
		       x->model[SCORER_HUMIDITY] ? "," : "\n");
	if (x->model[SCORER_ANOMALY])
		printf("anomaly_probability,anomaly%s", x->model[SCORER_HUMIDITY] ? "," : "\n");
	if (x->model[SCORER_HUMIDITY])
		printf("humidity\n");
	return 0;
}

static int lifecycle__predict_line(void *vctx, char *line, size_t len, long lineno)
{
	struct predict_ctx *x = vctx;
	char *cell[PREDICT_MAX_COLUMNS];
	double f[FEATURE_COUNT], v[MODEL_MAX_FEATURES];
	struct model_output o;
	int n;

	(void)len;
	if (lineno == 1)
		return lifecycle__predict_header(x, line);
	n = lifecycle__csv_split(line, cell, PREDICT_MAX_COLUMNS);
	if (n != x->ncols) {
		fprintf(stderr, "%s:%ld: %s (the header has %d columns)\n", x->file, lineno,
			n < 0 ? "not a CSV row" : "a different number of columns", x->ncols);
		return -1;
	}
	for (int i = 0; i < FEATURE_COUNT; i++) {
		char *end;
		f[i] = NAN;
		if (x->col[i] < 0)
			continue;
		const char *c = cell[x->col[i]];
		errno = 0;
		f[i] = strtod(c, &end);
		if (end == c || *end || !isfinite(f[i])) {
			fprintf(stderr, "%s:%ld: column \"%s\": not a finite number: \"%.40s\"\n", x->file,
				lineno, features_name((enum feature_id)i), c);
			return -1;
		}
	}
	for (int i = 0; i < SCORER_NMODELS; i++) {
		const struct model *m = x->model[i];
		if (!m)
			continue;
		for (size_t j = 0; j < model_nfeatures(m); j++)
			v[j] = f[x->map[i][j]];
		model_predict(m, v, &o);
		if (i == SCORER_STATUS)
			printf("%d,%.17g,%.17g,%.17g", o.label, o.proba[0], o.proba[1], o.proba[2]);
		else if (i == SCORER_ANOMALY)
			printf("%s%.17g,%d", x->model[SCORER_STATUS] ? "," : "", o.probability, o.label);
		else
			printf("%s%.17g", x->model[SCORER_STATUS] || x->model[SCORER_ANOMALY] ? "," : "",
			       o.value);
	}
	if (putchar('\n') == EOF) {
		fprintf(stderr, "fieldgate models predict: write error: %s\n", strerror(errno));
		return -1;
	}
	x->rows++;
	return 0;
}

static void lifecycle__predict_usage(FILE *f)
{
	fprintf(f, "usage: fieldgate models predict --models DIR --features FILE.csv [--slot SLOT]\n"
		"Score each row of a features CSV (as 'fieldgate models features --data' writes it:\n"
		"a header of catalogue names; other columns are ignored) with the models in DIR and\n"
		"print their raw outputs as CSV at full precision (%%.17g): status class and the\n"
		"three class probabilities, anomaly probability and label, humidity. For comparing\n"
		"with the library a model was trained in; events round to 6 digits.\n"
		"  --slot SLOT   status, anomaly or humidity: that model only (only its file is loaded)\n"
		"  --features -  read the CSV from stdin\n");
}

static int lifecycle__predict(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "models", required_argument, NULL, 'm' }, { "features", required_argument, NULL, 'f' },
		{ "slot", required_argument, NULL, 's' }, { "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	struct predict_ctx x = { 0 };
	const char *dir = NULL, *csv = NULL;
	char path[4096], err[1024];
	int c, slot = -1, rc = EXIT_RUNTIME;
	FILE *in = NULL;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': dir = optarg; break;
		case 'f': csv = optarg; break;
		case 's':
			for (slot = 0; slot < SCORER_NMODELS; slot++)
				if (strcmp(optarg, lifecycle__slot_names[slot]) == 0)
					break;
			if (slot == SCORER_NMODELS) {
				fprintf(stderr, "fieldgate models predict: --slot '%s' (expected status, "
					"anomaly or humidity)\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h': lifecycle__predict_usage(stdout); return 0;
		default: lifecycle__predict_usage(stderr); return EXIT_USAGE;
		}
	}
	if (!dir || !csv || optind != argc) {
		lifecycle__predict_usage(stderr);
		return EXIT_USAGE;
	}
	x.file = strcmp(csv, "-") == 0 ? "stdin" : csv;
	for (int i = 0; i < SCORER_NMODELS; i++) {
		if (slot >= 0 && i != slot)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, scorer_slot_file((enum scorer_slot)i));
		if (model_load(&x.model[i], path, err, sizeof err) < 0 ||
		    scorer_check_model(x.model[i], (enum scorer_slot)i, path, x.map[i], err, sizeof err) < 0) {
			fprintf(stderr, "%s\n", err);
			goto done;
		}
	}
	in = strcmp(csv, "-") == 0 ? stdin : fopen(csv, "r");
	if (!in) {
		fprintf(stderr, "%s: cannot open: %s\n", csv, strerror(errno));
		goto done;
	}
	if (cli_foreach_line(in, x.file, lifecycle__predict_line, &x) != 0)
		goto done;
	if (x.ncols == 0) {
		fprintf(stderr, "%s: empty (expected a header line)\n", x.file);
		goto done;
	}
	rc = 0;
done:
	if (fflush(stdout) != 0 && rc == 0) {
		fprintf(stderr, "fieldgate models predict: write error: %s\n", strerror(errno));
		rc = EXIT_RUNTIME;
	}
	if (in && in != stdin)
		fclose(in);
	for (int i = 0; i < SCORER_NMODELS; i++)
		model_free(&x.model[i]);
	return rc;
}

/* ---- the group ---- */

static const struct {
	const char *name;                  /* as typed after `models` */
	int (*fn)(int argc, char **argv);  /* argv[0] is the subcommand */
	const char *summary;               /* one line for `fieldgate models help` */
} lifecycle__commands[] = {
	{ "features", lifecycle__features, "the feature catalogue; --data: features as CSV" },
	{ "seal", lifecycle__seal, "write a set's SHA256SUMS (the agent refuses a set that does not match)" },
	{ "promote", lifecycle__promote, "make the shadow set the live set (-c SITE.conf)" },
	{ "rollback", lifecycle__rollback, "put back the set the last promote replaced" },
	{ "check", lifecycle__check, "load and check model files as the agent would" },
	{ "predict", lifecycle__predict, "raw model outputs for a features CSV, full precision" },
};

static void lifecycle__usage(FILE *f)
{
	fprintf(f, "usage: fieldgate models SUBCOMMAND [OPTIONS]   (SUBCOMMAND --help for details)\n"
		"The model lifecycle: bring, check and swap model sets.\n\nsubcommands:\n");
	for (size_t i = 0; i < sizeof lifecycle__commands / sizeof lifecycle__commands[0]; i++)
		fprintf(f, "  %-10s %s\n", lifecycle__commands[i].name, lifecycle__commands[i].summary);
}

int cmd_models(int argc, char **argv)
{
	if (argc < 2) {
		lifecycle__usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "help") == 0 || cli_is_help(argv[1])) {
		lifecycle__usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof lifecycle__commands / sizeof lifecycle__commands[0]; i++)
		if (strcmp(argv[1], lifecycle__commands[i].name) == 0)
			return lifecycle__commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "fieldgate models: unknown subcommand '%s' (try 'fieldgate models help')\n",
		argv[1]);
	return EXIT_USAGE;
}

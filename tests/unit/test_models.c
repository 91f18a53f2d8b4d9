/*
 * test_models.c - unit tests of models/: hand-written models whose
 * predictions are worked out by hand, training on small synthetic data,
 * byte-for-byte determinism, save/load round trips (including exact
 * doubles), every loader error path against the broken files in
 * tests/data/models/, training errors, and the metrics arithmetic.
 */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/metrics.h"
#include "models/model.h"
#include "models/models_int.h"
#include "tests/unit/check.h"

#define FIXTURES "../data/models/"

static char tmpdir[64];

static char *tmp_path(const char *name)
{
	static char buf[8][128];
	static int next;
	char *p = buf[next++ % 8];
	snprintf(p, 128, "%s/%s", tmpdir, name);
	return p;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t cap = 0, n = 0;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			buf = realloc(buf, cap + 1);
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static int same_file(const char *a, const char *b)
{
	size_t la, lb;
	char *x = slurp(a, &la), *y = slurp(b, &lb);
	int same = x && y && la == lb && memcmp(x, y, la) == 0;
	free(x);
	free(y);
	return same;
}

static struct model *parse_str(const char *json)
{
	struct model *m = NULL;
	char err[256] = "";
	if (model_parse(&m, json, strlen(json), "test", err, sizeof(err)) < 0)
		fprintf(stderr, "parse failed: %s\n", err);
	return m;
}

/* ---- hand-written models ---- */

static const char *forest_json =
	"{\"format\":\"fieldgate-model\",\"format_version\":1,"
	"\"kind\":\"random_forest_classifier\",\"name\":\"status_predictor\",\"version\":3,"
	"\"features\":[\"temperature\",\"vibration\"],"
	"\"hyperparameters\":{},\"training\":{\"rows\":0},\"classes\":3,"
	"\"trees\":["
	"{\"nodes\":[{\"feature\":0,\"threshold\":10,\"left\":1,\"right\":2},"
	"{\"leaf\":[1,0,0]},{\"leaf\":[0,0.5,0.5]}]},"
	/* second tree lists the right child first: any order with children after parents */
	"{\"nodes\":[{\"feature\":1,\"threshold\":5,\"left\":2,\"right\":1},"
	"{\"leaf\":[0,0,1]},{\"leaf\":[0.5,0.5,0]}]}]}";

static void test_forest_by_hand(void)
{
	struct model *m = parse_str(forest_json);
	struct model_output o;
	CHECK(m != NULL);
	if (!m)
		return;
	CHECK_INT(model_kind(m), MODEL_RANDOM_FOREST);
	CHECK_STR(model_name(m), "status_predictor");
	CHECK_INT(model_version(m), 3);
	CHECK_INT(model_nfeatures(m), 2);
	CHECK_STR(model_feature_name(m, 0), "temperature");
	CHECK_STR(model_feature_name(m, 1), "vibration");
	CHECK_INT(model_nclasses(m), 3);

	/* (5,1): [1,0,0] and [.5,.5,0] -> [.75,.25,0] */
	model_predict(m, (double[]){5, 1}, &o);
	CHECK_INT(o.label, 0);
	CHECK_NEAR(o.probability, 0.75, 1e-15);
	CHECK_NEAR(o.proba[0], 0.75, 1e-15);
	CHECK_NEAR(o.proba[1], 0.25, 1e-15);
	CHECK_NEAR(o.proba[2], 0.0, 1e-15);
	CHECK_NEAR(o.value, 0, 0);
	/* (20,1): [0,.5,.5] and [.5,.5,0] -> [.25,.5,.25] */
	model_predict(m, (double[]){20, 1}, &o);
	CHECK_INT(o.label, 1);
	CHECK_NEAR(o.probability, 0.5, 1e-15);
	CHECK_NEAR(o.value, 1, 0);
	/* (20,9): [0,.5,.5] and [0,0,1] -> [0,.25,.75] */
	model_predict(m, (double[]){20, 9}, &o);
	CHECK_INT(o.label, 2);
	CHECK_NEAR(o.proba[2], 0.75, 1e-15);
	/* (5,9): [1,0,0] and [0,0,1] -> a tie, the lowest class wins */
	model_predict(m, (double[]){5, 9}, &o);
	CHECK_INT(o.label, 0);
	CHECK_NEAR(o.probability, 0.5, 1e-15);
	/* x == threshold goes left */
	model_predict(m, (double[]){10, 5}, &o);
	CHECK_NEAR(o.proba[0], 0.75, 1e-15);
	/* proba beyond the classes is zero */
	CHECK_NEAR(o.proba[3], 0, 0);
	model_free(&m);
	CHECK(m == NULL);
	model_free(&m);
	model_free(NULL);
}

static void test_logreg_by_hand(void)
{
	struct model *m = parse_str(
		"{\"format\":\"fieldgate-model\",\"format_version\":1,"
		"\"kind\":\"logistic_regression\",\"name\":\"anomaly_detector\",\"version\":1,"
		"\"features\":[\"a\",\"b\"],\"hyperparameters\":{\"reg_param\":0.1},"
		"\"training\":{\"rows\":5,\"data_source\":\"hand\"},\"classes\":2,"
		"\"intercept\":-1,\"weights\":[2,-0.5]}");
	struct model_output o;
	CHECK(m != NULL);
	if (!m)
		return;
	CHECK_INT(model_kind(m), MODEL_LOGISTIC_REGRESSION);
	CHECK_INT(model_nclasses(m), 2);
	/* z = -1 + 2*1 - 0.5*2 = 0 -> P = 0.5 -> label 1 (P >= 0.5) */
	model_predict(m, (double[]){1, 2}, &o);
	CHECK_NEAR(o.probability, 0.5, 1e-15);
	CHECK_INT(o.label, 1);
	/* z = -1 -> P = 1 / (1 + e) */
	model_predict(m, (double[]){0, 0}, &o);
	double p = 1.0 / (1.0 + exp(1.0));
	CHECK_NEAR(o.probability, p, 1e-15);
	CHECK_NEAR(o.proba[1], p, 1e-15);
	CHECK_NEAR(o.proba[0], 1 - p, 1e-15);
	CHECK_INT(o.label, 0);
	CHECK_NEAR(o.value, 0, 0);
	/* z = -1 + 2*3 - 0.5*0 = 5 */
	model_predict(m, (double[]){3, 0}, &o);
	CHECK_NEAR(o.probability, 1.0 / (1.0 + exp(-5.0)), 1e-15);
	CHECK_INT(o.label, 1);
	/* extreme z saturates without NaN */
	model_predict(m, (double[]){-1e6, 0}, &o);
	CHECK(o.probability >= 0 && o.probability < 1e-300);
	model_free(&m);
}

static void test_gbt_by_hand(void)
{
	struct model *m = parse_str(
		"{\"format\":\"fieldgate-model\",\"format_version\":1,"
		"\"kind\":\"gbt_regressor\",\"name\":\"humidity_regressor\",\"version\":1,"
		"\"features\":[\"t\",\"p\"],\"hyperparameters\":{},\"training\":{\"rows\":1},"
		"\"init\":10,\"tree_weights\":[1,0.1],"
		"\"trees\":[{\"nodes\":[{\"feature\":0,\"threshold\":0,\"left\":1,\"right\":2},"
		"{\"value\":-2},{\"value\":3}]},"
		"{\"nodes\":[{\"feature\":1,\"threshold\":100,\"left\":1,\"right\":2},"
		"{\"value\":5},{\"value\":-5}]}]}");
	struct model_output o;
	CHECK(m != NULL);
	if (!m)
		return;
	CHECK_INT(model_kind(m), MODEL_GBT_REGRESSOR);
	CHECK_INT(model_nclasses(m), 0);
	model_predict(m, (double[]){-1, 0}, &o); /* 10 - 2 + 0.1*5 */
	CHECK_NEAR(o.value, 8.5, 1e-12);
	CHECK_INT(o.label, 0);
	model_predict(m, (double[]){1, 0}, &o);  /* 10 + 3 + 0.1*5 */
	CHECK_NEAR(o.value, 13.5, 1e-12);
	model_predict(m, (double[]){1, 200}, &o); /* 10 + 3 - 0.1*5 */
	CHECK_NEAR(o.value, 12.5, 1e-12);
	model_free(&m);
}

/* tmpl with its one "@" replaced by ins, into dst[n]. */
static void fill(char *dst, size_t n, const char *tmpl, const char *ins)
{
	const char *at = strchr(tmpl, '@');
	snprintf(dst, n, "%.*s%s%s", (int)(at - tmpl), tmpl, ins, at + 1);
}

/* "split_input": "float32": scikit-learn's trees compare (float)x <= t. */
static void test_split_float32(void)
{
	static const char *const heads[] = {
		"{\"format\":\"fieldgate-model\",\"format_version\":1,"
		"\"kind\":\"random_forest_classifier\",\"name\":\"s\",\"version\":1,"
		"\"features\":[\"a\",\"b\"],\"hyperparameters\":{},\"training\":{\"rows\":0},"
		"\"classes\":2,@\"trees\":[{\"nodes\":[{\"feature\":1,\"threshold\":0.1,"
		"\"left\":1,\"right\":2},{\"leaf\":[1,0]},{\"leaf\":[0,1]}]}]}",
		"{\"format\":\"fieldgate-model\",\"format_version\":1,"
		"\"kind\":\"gbt_regressor\",\"name\":\"h\",\"version\":1,"
		"\"features\":[\"a\",\"b\"],\"hyperparameters\":{},\"training\":{\"rows\":0},"
		"\"init\":0,\"tree_weights\":[1],@\"trees\":[{\"nodes\":[{\"feature\":1,"
		"\"threshold\":0.1,\"left\":1,\"right\":2},{\"value\":0},{\"value\":1}]}]}",
	};
	/* (float)0.1 = 0.100000001490116... > 0.1: left as a double, right as a float */
	const double x[2] = {0, 0.1}, below[2] = {0, 0.09999999}, above[2] = {0, 0.1000001};
	char json[1024], err[256];

	for (int k = 0; k < 2; k++) {
		struct model *m64 = NULL, *m32 = NULL, *def = NULL, *back = NULL;
		struct model_output o;
		fill(json, sizeof json, heads[k], "\"split_input\":\"float64\",");
		m64 = parse_str(json);
		fill(json, sizeof json, heads[k], "\"split_input\":\"float32\",");
		m32 = parse_str(json);
		fill(json, sizeof json, heads[k], "");
		def = parse_str(json);
		CHECK(m64 && m32 && def);
		if (!m64 || !m32 || !def)
			goto next;
		CHECK_INT(model_split_float32(m64), 0);
		CHECK_INT(model_split_float32(def), 0);
		CHECK_INT(model_split_float32(m32), 1);
		model_predict(def, x, &o);
		CHECK(k == 0 ? o.label == 0 : o.value == 0);
		model_predict(m64, x, &o);
		CHECK(k == 0 ? o.label == 0 : o.value == 0);
		model_predict(m32, x, &o);
		CHECK(k == 0 ? o.label == 1 : o.value == 1);
		/* away from the threshold both agree */
		model_predict(m32, below, &o);
		CHECK(k == 0 ? o.label == 0 : o.value == 0);
		model_predict(m32, above, &o);
		CHECK(k == 0 ? o.label == 1 : o.value == 1);
		/* the caller's vector is not touched */
		CHECK(x[1] == 0.1);
		/* saved only when float32, and read back */
		CHECK_INT(model_save(m32, tmp_path("f32.json"), err, sizeof err), 0);
		CHECK_INT(model_save(m64, tmp_path("f64.json"), err, sizeof err), 0);
		size_t len;
		char *text = slurp(tmp_path("f32.json"), &len);
		CHECK(text && strstr(text, "\"split_input\": \"float32\"") != NULL);
		free(text);
		text = slurp(tmp_path("f64.json"), &len);
		CHECK(text && strstr(text, "split_input") == NULL);
		free(text);
		CHECK_INT(model_load(&back, tmp_path("f32.json"), err, sizeof err), 0);
		if (back) {
			CHECK_INT(model_split_float32(back), 1);
			model_predict(back, x, &o);
			CHECK(k == 0 ? o.label == 1 : o.value == 1);
		}
		unlink(tmp_path("f32.json"));
		unlink(tmp_path("f64.json"));
	next:
		model_free(&m64);
		model_free(&m32);
		model_free(&def);
		model_free(&back);
	}
	/* anything else is an error, and logistic regression has no trees */
	struct model *m = NULL;
	fill(json, sizeof json, heads[0], "\"split_input\":\"float16\",");
	CHECK(model_parse(&m, json, strlen(json), "t.json", err, sizeof err) < 0);
	CHECK_STR(err, "t.json: $.split_input: \"float16\" (expected \"float64\" or \"float32\")");
	fill(json, sizeof json, heads[1], "\"split_input\":32,");
	CHECK(model_parse(&m, json, strlen(json), "t.json", err, sizeof err) < 0);
	CHECK_STR(err, "t.json: $.split_input: expected a string, got a number");
	static const char lr[] =
		"{\"format\":\"fieldgate-model\",\"format_version\":1,\"kind\":\"logistic_regression\","
		"\"name\":\"x\",\"version\":1,\"features\":[\"a\"],\"hyperparameters\":{},"
		"\"training\":{\"rows\":0},\"classes\":2,\"intercept\":0,\"weights\":[1],"
		"\"split_input\":\"float32\"}";
	CHECK(model_parse(&m, lr, strlen(lr), "t.json", err, sizeof err) < 0);
	CHECK_STR(err, "t.json: $: unknown key \"split_input\"");
}

static void test_load_good_fixtures(void)
{
	struct model *m = NULL;
	char err[256];
	struct model_output o;
	CHECK_INT(model_load(&m, FIXTURES "good_forest.json", err, sizeof(err)), 0);
	if (m) {
		model_predict(m, (double[]){30, 0, 0, 1}, &o); /* [0,.2,.8] + [0,0,1] */
		CHECK_INT(o.label, 2);
		CHECK_NEAR(o.probability, 0.9, 1e-15);
		model_free(&m);
	}
	CHECK_INT(model_load(&m, FIXTURES "good_logreg.json", err, sizeof(err)), 0);
	if (m) {
		CHECK_INT(model_version(m), 2);
		model_predict(m, (double[]){2, 4, 0.5}, &o); /* -1 + 1 - 1 + 1 = 0 */
		CHECK_NEAR(o.probability, 0.5, 1e-15);
		model_free(&m);
	}
	CHECK_INT(model_load(&m, FIXTURES "good_gbt.json", err, sizeof(err)), 0);
	if (m) {
		model_predict(m, (double[]){25, 1000}, &o); /* 45 + 4 + 0.1 */
		CHECK_NEAR(o.value, 49.1, 1e-12);
		const double *e = NULL, *f = NULL;
		CHECK_INT(model_input_histogram(m, 0, &e, &f), 0); /* a file without them */
		model_free(&m);
	}
	/* input histograms: edges and fractions per feature, saved back as read */
	CHECK_INT(model_load(&m, FIXTURES "good_logreg_histograms.json", err, sizeof(err)), 0);
	if (m) {
		const double *e = NULL, *f = NULL;
		CHECK_INT(model_input_histogram(m, 0, &e, &f), 3);
		CHECK(e && f && e[0] == 10 && e[1] == 20 && f[0] == 0.25 && f[1] == 0.5 && f[2] == 0.25);
		CHECK_INT(model_input_histogram(m, 1, &e, &f), 1);
		CHECK(f && f[0] == 1);
		CHECK_INT(model_input_histogram(m, 2, &e, &f), 2);
		CHECK(e && f && e[0] == 0 && f[0] == 0.9 && f[1] == 0.1);
		CHECK_INT(model_input_histogram(m, 3, &e, &f), 0); /* no such feature */
		struct model *back = NULL;
		CHECK_INT(model_save(m, tmp_path("h1.json"), err, sizeof(err)), 0);
		CHECK_INT(model_load(&back, tmp_path("h1.json"), err, sizeof(err)), 0);
		if (back) {
			CHECK_INT(model_input_histogram(back, 0, &e, &f), 3);
			CHECK(e[1] == 20 && f[2] == 0.25);
			CHECK_INT(model_save(back, tmp_path("h2.json"), err, sizeof(err)), 0);
			CHECK(same_file(tmp_path("h1.json"), tmp_path("h2.json")));
		}
		size_t len;
		char *text = slurp(tmp_path("h1.json"), &len);
		CHECK(text && strstr(text, "\"input_histograms\": [\n    {\"edges\":[10,20],\"fractions\":[0.25,0.5,0.25]},\n"
				     "    {\"edges\":[],\"fractions\":[1]},") != NULL);
		free(text);
		model_free(&back);
		model_free(&m);
		unlink(tmp_path("h1.json"));
		unlink(tmp_path("h2.json"));
	}
}

/* ---- the loader's error paths ---- */

static const struct {
	const char *file;   /* in tests/data/models/ */
	const char *expect; /* substring of the message */
} broken[] = {
	{"empty.json", "empty.json: empty file"},
	{"whitespace.json", "not JSON: only white space"},
	{"truncated.json", "truncated.json: not JSON: unexpected end of input"},
	{"garbage.json", "garbage.json: not JSON: parse error near byte 11"},
	{"trailing_garbage.json", "not JSON: parse error near byte"},
	{"not_object.json", "not_object.json: $: expected an object, got an array"},
	{"bad_format.json", "$.format: \"other-model\" is not a fieldgate model"},
	{"format_version_2.json", "$.format_version: unsupported format_version 2 (this build reads 1)"},
	{"bad_kind.json", "$.kind: unknown kind \"svm\""},
	{"unknown_key.json", "$: unknown key \"treez\""},
	{"unknown_key_newline.json", "$: unknown key \"tree?z\""}, /* one line (found by fuzz_model) */
	{"duplicate_key.json", "$: duplicate key \"name\""},
	{"missing_name.json", "$.name: missing"},
	{"empty_name.json", "$.name: empty name"},
	{"long_name.json", "$.name: name of 65 bytes (at most 64)"},
	{"version_zero.json", "$.version: 0 out of range (expected >= 1)"},
	{"version_fraction.json", "$.version: 1.5 is not an integer"},
	{"version_string.json", "$.version: expected a number, got a string"},
	{"no_features.json", "$.features: 0 features (expected 1..32)"},
	{"too_many_features.json", "$.features: 33 features (expected 1..32)"},
	{"feature_empty.json", "$.features[1]: empty name"},
	{"feature_not_string.json", "$.features[0]: expected a string, got a number"},
	{"feature_duplicate.json", "$.features[2]: duplicate feature \"temperature\""},
	{"hyper_not_object.json", "$.hyperparameters: expected an object, got an array"},
	{"hyper_infinite.json", "$.hyperparameters.max_depth: not a finite number"},
	{"training_no_rows.json", "$.training.rows: missing"},
	{"classes_9.json", "$.classes: 9 out of range (expected 2..8)"},
	{"trees_empty.json", "$.trees: empty (expected at least one tree)"},
	{"trees_missing.json", "$.trees: missing"},
	{"nodes_empty.json", "$.trees[1].nodes: empty"},
	{"left_out_of_range.json", "left_out_of_range.json: $.trees[1].nodes[0].left: index 99 out of range (tree has 3 nodes)"},
	{"cycle.json", "$.trees[0].nodes[1].left: index 0 does not come after its parent 1"},
	{"two_parents.json", "$.trees[0].nodes[0].right: node 1 already has a parent (node 0)"},
	{"unreachable.json", "$.trees[0].nodes[3]: unreachable (no node links to it)"},
	{"feature_index.json", "$.trees[0].nodes[0].feature: 4 out of range (expected 0..3)"},
	{"threshold_string.json", "$.trees[0].nodes[0].threshold: expected a number, got a string"},
	{"threshold_infinite.json", "$.trees[0].nodes[0].threshold: not a finite number"},
	{"missing_threshold.json", "$.trees[0].nodes[0].threshold: missing"},
	{"leaf_length.json", "$.trees[1].nodes[2].leaf: 2 values (expected 3, one per class)"},
	{"leaf_sum.json", "$.trees[0].nodes[1].leaf: probabilities sum to 0.6"},
	{"leaf_negative.json", "$.trees[0].nodes[1].leaf[0]: probability 1.5 outside 0..1"},
	{"node_mixed.json", "$.trees[0].nodes[1]: unknown key \"feature\""},
	{"node_not_object.json", "$.trees[0].nodes[1]: expected an object, got a number"},
	{"logreg_weights_count.json", "$.weights: 2 values (expected 3, one per feature)"},
	{"logreg_classes_3.json", "$.classes: 3 out of range (expected 2: logistic regression is binary)"},
	{"logreg_no_intercept.json", "$.intercept: missing"},
	{"logreg_weight_null.json", "$.weights[1]: expected a number, got null"},
	{"gbt_tree_weights_count.json", "$.tree_weights: 1 values (expected 2, one per tree)"},
	{"gbt_value_string.json", "$.trees[0].nodes[1].value: expected a number, got a string"},
	{"gbt_with_classes.json", "$: unknown key \"classes\""},
	{"gbt_forest_leaf.json", "$.trees[1].nodes[0]: unknown key \"leaf\""},
	{"hist_not_array.json", "$.input_histograms: expected an array, got an object"},
	{"hist_count.json", "$.input_histograms: 2 histograms (expected 3, one per feature)"},
	{"hist_not_object.json", "$.input_histograms[1]: expected an object, got a number"},
	{"hist_unknown_key.json", "$.input_histograms[2]: unknown key \"counts\""},
	{"hist_no_fractions.json", "$.input_histograms[1].fractions: missing"},
	{"hist_edges_order.json", "$.input_histograms[0].edges[1]: 10 is not above the edge before it (10)"},
	{"hist_edge_infinite.json", "$.input_histograms[0].edges[1]: not a finite number"},
	{"hist_edge_string.json", "$.input_histograms[2].edges[0]: expected a number, got a string"},
	{"hist_fractions_count.json", "$.input_histograms[2].fractions: 3 values (expected 2: one per bin, 1 edges + 1)"},
	{"hist_fraction_range.json", "$.input_histograms[2].fractions[0]: fraction 1.5 outside 0..1"},
	{"hist_fraction_sum.json", "$.input_histograms[0].fractions: fractions sum to 0.95"},
	{"hist_too_many_bins.json", "$.input_histograms[0].edges: 64 edges (at most 63)"},
	{"does_not_exist.json", "does_not_exist.json: cannot open: No such file or directory"},
	/* bad input of every kind (issue 12): none may crash, loop or take unbounded memory */
	{"truncated_tree.json", "truncated_tree.json: not JSON: unexpected end of input at byte"},
	{"right_out_of_range.json", "$.trees[0].nodes[0].right: index 3 out of range (tree has 3 nodes)"},
	{"left_negative.json", "$.trees[0].nodes[0].left: index -1 out of range (tree has 3 nodes)"},
	{"child_huge.json", "$.trees[0].nodes[0].left: 1.0000000000000001e+300 out of range (expected a node index)"},
	{"self_loop.json", "$.trees[0].nodes[1].left: index 1 does not come after its parent 1"},
	{"cycle_ancestor.json", "$.trees[0].nodes[3].left: index 0 does not come after its parent 3"},
	{"threshold_nan.json", "threshold_nan.json: not JSON: parse error near byte"},
	{"threshold_infinity.json", "threshold_infinity.json: not JSON: parse error near byte"},
	{"threshold_neg_1e999.json", "$.trees[0].nodes[0].threshold: not a finite number"},
	{"leaf_1e999.json", "$.trees[0].nodes[1].leaf[0]: not a finite number"},
	{"gbt_value_1e999.json", "$.trees[0].nodes[1].value: not a finite number"},
	{"gbt_init_nan.json", "gbt_init_nan.json: not JSON: parse error near byte"},
	{"logreg_intercept_1e999.json", "$.intercept: not a finite number"},
	{"logreg_weight_nan.json", "logreg_weight_nan.json: not JSON: parse error near byte"},
	{"logreg_weights_extra.json", "$.weights: 4 values (expected 3, one per feature)"},
	{"gbt_tree_weights_extra.json", "$.tree_weights: 3 values (expected 2, one per tree)"},
	{"feature_index_negative.json", "$.trees[0].nodes[0].feature: -1 out of range (expected 0..3)"},
	{"feature_index_huge.json", "$.trees[0].nodes[0].feature: 1e+18 out of range (expected 0..3)"},
	{"gbt_feature_index.json", "$.trees[0].nodes[0].feature: 2 out of range (expected 0..1)"},
	{"classes_1e9.json", "$.classes: 1000000000 out of range (expected 2..8)"},
	{"version_huge.json", "$.version: 1.0000000000000001e+300 out of range (expected >= 1)"},
};

static void test_broken_files(void)
{
	for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		char path[256], err[512] = "";
		struct model *m = (struct model *)&m; /* must be cleared on failure */
		snprintf(path, sizeof(path), FIXTURES "%s", broken[i].file);
		int rc = model_load(&m, path, err, sizeof(err));
		CHECK(rc < 0);
		CHECK(m == NULL);
		if (!strstr(err, broken[i].expect)) {
			CHECK(!"message mismatch");
			fprintf(stderr, "  %s:\n    got:  %s\n    want: %s\n", broken[i].file, err, broken[i].expect);
		} else {
			CHECK(1);
		}
		CHECK(strchr(err, '\n') == NULL);
		if (rc == 0)
			model_free(&m);
	}
	/* in memory: an embedded NUL byte, and the origin named in messages */
	struct model *m = NULL;
	char err[256];
	CHECK(model_parse(&m, "{\"a\":\0}", 7, "mem.json", err, sizeof(err)) < 0);
	CHECK(strstr(err, "mem.json: not JSON: parse error near byte") != NULL);
	CHECK(model_parse(&m, "", 0, "x.json", err, sizeof(err)) < 0);
	CHECK_STR(err, "x.json: empty file");
	/* a tiny error buffer is truncated, not overrun */
	char small[8];
	CHECK(model_parse(&m, "[]", 2, "x.json", small, sizeof(small)) < 0);
	CHECK_INT(strlen(small), 7);
}

/* ---- caps: absurd sizes are refused before they cost memory or time ---- */

/* A GBT with nt trees as JSON (malloc'd). The first tree has 2 * spine + 1
 * nodes (a caterpillar: each split has a leaf on the left and the rest of
 * the tree on the right, so it is spine deep); the others are one leaf. */
static char *gbt_text(size_t nt, size_t spine)
{
	size_t cap = 512 + nt * 48 + spine * 128, n = 0;
	char *t = malloc(cap);
	n += (size_t)snprintf(t + n, cap - n,
		"{\"format\":\"fieldgate-model\",\"format_version\":1,\"kind\":\"gbt_regressor\","
		"\"name\":\"h\",\"version\":1,\"features\":[\"a\"],\"hyperparameters\":{},"
		"\"training\":{\"rows\":0},\"init\":0,\"tree_weights\":[");
	for (size_t i = 0; i < nt; i++)
		n += (size_t)snprintf(t + n, cap - n, "%s1", i ? "," : "");
	n += (size_t)snprintf(t + n, cap - n, "],\"trees\":[{\"nodes\":[");
	for (size_t i = 0; i < spine; i++)
		n += (size_t)snprintf(t + n, cap - n,
			"{\"feature\":0,\"threshold\":%zu,\"left\":%zu,\"right\":%zu},{\"value\":%zu},",
			i, 2 * i + 1, 2 * i + 2, i);
	n += (size_t)snprintf(t + n, cap - n, "{\"value\":-1}]}");
	for (size_t i = 1; i < nt; i++)
		n += (size_t)snprintf(t + n, cap - n, ",{\"nodes\":[{\"value\":1}]}");
	snprintf(t + n, cap - n, "]}");
	return t;
}

/* Parse text under lim (NULL: the defaults); 0 or -1, the reason in err. */
static int parse_with(const char *text, size_t len, const struct model__limits *lim,
		      char *err, size_t errlen)
{
	struct model *m = (struct model *)&m; /* must be cleared on failure */
	int rc = model__parse_limited(&m, text, len, "cap.json", lim ? lim : &model__limits_default,
				      err, errlen);
	CHECK(rc == 0 ? m != NULL : m == NULL);
	model_free(&m);
	return rc;
}

static void test_caps(void)
{
	char err[512];
	struct model__limits lim = model__limits_default;

	/* the caps, as documented in FORMAT.md */
	CHECK_INT(model__limits_default.bytes, 32 * 1024 * 1024);
	CHECK_INT(model__limits_default.values, 2 * 1024 * 1024);
	CHECK_INT(model__limits_default.trees, 10000);
	CHECK_INT(model__limits_default.nodes, 262144);

	/* trees: MODEL_MAX_TREES is fine, one more is not */
	char *t = gbt_text(MODEL_MAX_TREES, 0);
	CHECK_INT(parse_with(t, strlen(t), NULL, err, sizeof err), 0);
	free(t);
	t = gbt_text(MODEL_MAX_TREES + 1, 0);
	CHECK_INT(parse_with(t, strlen(t), NULL, err, sizeof err), -1);
	CHECK_STR(err, "cap.json: $.trees: 10001 trees (at most 10000)");
	free(t);

	/* nodes in all trees (a cap of 101 stands in for MODEL_MAX_NODES) */
	lim.nodes = 101;
	t = gbt_text(1, 50); /* 101 nodes, 50 deep */
	CHECK_INT(parse_with(t, strlen(t), &lim, err, sizeof err), 0);
	free(t);
	t = gbt_text(1, 51);
	CHECK_INT(parse_with(t, strlen(t), &lim, err, sizeof err), -1);
	CHECK_STR(err, "cap.json: $.trees: 103 nodes in all trees (at most 101: fewer trees or less depth)");
	free(t);
	t = gbt_text(2, 50); /* 101 + 1 */
	CHECK_INT(parse_with(t, strlen(t), &lim, err, sizeof err), -1);
	CHECK_STR(err, "cap.json: $.trees: 102 nodes in all trees (at most 101: fewer trees or less depth)");
	free(t);
	/* the default node cap itself: MODEL_MAX_NODES nodes load, one more does not */
	t = gbt_text(2, (MODEL_MAX_NODES - 2) / 2); /* 2 * spine + 1 + 1 */
	CHECK_INT(parse_with(t, strlen(t), NULL, err, sizeof err), 0);
	free(t);
	t = gbt_text(3, (MODEL_MAX_NODES - 2) / 2);
	CHECK_INT(parse_with(t, strlen(t), NULL, err, sizeof err), -1);
	CHECK_STR(err, "cap.json: $.trees: 262145 nodes in all trees (at most 262144: fewer trees or less depth)");
	free(t);
	/* one tree as deep as the default node cap allows is fine, and quick */
	t = gbt_text(1, 5000);
	CHECK_INT(parse_with(t, strlen(t), NULL, err, sizeof err), 0);
	free(t);

	/* JSON values, counted before parsing; commas and brackets inside
	 * strings (and an escaped quote) are not values: this text has 16 */
	static const char sixteen[] =
		"{\"format\":\"fieldgate-model\",\"format_version\":1,\"kind\":\"logistic_regression\","
		"\"name\":\"x\",\"version\":1,\"features\":[\"a\"],"
		"\"hyperparameters\":{\"note\":\"[{,,\\\",}] ,\"},\"training\":{\"rows\":0},"
		"\"classes\":2,\"intercept\":0,\"weights\":[1]}";
	lim = model__limits_default;
	lim.values = 16;
	CHECK_INT(parse_with(sixteen, strlen(sixteen), &lim, err, sizeof err), 0);
	lim.values = 15;
	CHECK_INT(parse_with(sixteen, strlen(sixteen), &lim, err, sizeof err), -1);
	CHECK_STR(err, "cap.json: more than 15 JSON values (a model file has at most 15: fewer trees or less depth)");
	/* the default: 2 Mi values of two bytes each are refused unparsed */
	size_t nv = (size_t)MODEL_MAX_JSON_VALUES + 1, len = 2 * nv + 1;
	t = malloc(len + 1);
	t[0] = '[';
	for (size_t i = 0; i < nv; i++) {
		t[1 + 2 * i] = '0';
		t[2 + 2 * i] = i + 1 < nv ? ',' : ']';
	}
	t[len] = '\0';
	CHECK_INT(parse_with(t, len, NULL, err, sizeof err), -1);
	CHECK_STR(err, "cap.json: more than 2097152 JSON values (a model file has at most 2097152: "
		  "fewer trees or less depth)");
	free(t);

	/* bytes, in memory */
	lim = model__limits_default;
	lim.bytes = strlen(sixteen) - 1;
	CHECK_INT(parse_with(sixteen, strlen(sixteen), &lim, err, sizeof err), -1);
	CHECK(strstr(err, "bytes (a model file has at most") != NULL);
	lim.bytes = strlen(sixteen);
	CHECK_INT(parse_with(sixteen, strlen(sixteen), &lim, err, sizeof err), 0);

	/* bytes, on disk: a sparse 2 GB file and one a byte over the cap are
	 * refused by their size, unread; /dev/zero is read to one byte past it */
	static const long long sizes[] = {2LL * 1024 * 1024 * 1024, MODEL_MAX_FILE_BYTES + 1};
	for (size_t i = 0; i < 2; i++) {
		const char *big = tmp_path("big.json");
		int fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		CHECK(fd >= 0);
		CHECK_INT(ftruncate(fd, (off_t)sizes[i]), 0);
		close(fd);
		struct model *m = (struct model *)&m;
		char want[256];
		snprintf(want, sizeof want, "%s: %lld bytes (a model file has at most 33554432, 32 MiB)", big,
			 sizes[i]);
		CHECK_INT(model_load(&m, big, err, sizeof err), -1);
		CHECK(m == NULL);
		CHECK_STR(err, want);
		unlink(big);
	}
	struct model *m = (struct model *)&m;
	CHECK_INT(model_load(&m, "/dev/zero", err, sizeof err), -1);
	CHECK(m == NULL);
	CHECK_STR(err, "/dev/zero: more than 33554432 bytes (a model file has at most 33554432, 32 MiB)");

	/* nesting deeper than cJSON's limit is a parse error, not a deep recursion */
	size_t depth = 5000;
	t = malloc(2 * depth + 256);
	int n = snprintf(t, 256, "{\"format\":\"fieldgate-model\",\"hyperparameters\":");
	memset(t + n, '[', depth);
	memset(t + n + depth, ']', depth);
	strcpy(t + n + 2 * depth, "}");
	CHECK_INT(parse_with(t, strlen(t), NULL, err, sizeof err), -1);
	CHECK(strstr(err, "cap.json: not JSON: parse error near byte") != NULL);
	free(t);
}

/* ---- exact doubles in the file ---- */

static void test_exact_doubles(void)
{
	static const double vals[] = {0.1, 1e-300, 0.30000000000000004, 5e-324,
				      1.7976931348623157e308, -2.5, 123456789012345678.0,
				      1.0 / 3.0, 2.2250738585072014e-308, 100};
	size_t nv = sizeof(vals) / sizeof(vals[0]);
	char json[4096], err[256];
	int n = snprintf(json, sizeof(json),
		"{\"format\":\"fieldgate-model\",\"format_version\":1,\"kind\":\"logistic_regression\","
		"\"name\":\"x\",\"version\":1,\"features\":[");
	for (size_t i = 0; i < nv; i++)
		n += snprintf(json + n, sizeof(json) - (size_t)n, "%s\"f%zu\"", i ? "," : "", i);
	n += snprintf(json + n, sizeof(json) - (size_t)n,
		"],\"hyperparameters\":{\"r\":0.1,\"list\":[1e-300,\"s\\\"q\\n\"]},"
		"\"training\":{\"rows\":3},\"classes\":2,\"intercept\":0.1,\"weights\":[");
	for (size_t i = 0; i < nv; i++)
		n += snprintf(json + n, sizeof(json) - (size_t)n, "%s%.17g", i ? "," : "", vals[i]);
	snprintf(json + n, sizeof(json) - (size_t)n, "]}");

	struct model *m = parse_str(json), *m2 = NULL;
	CHECK(m != NULL);
	if (!m)
		return;
	for (size_t i = 0; i < nv; i++)
		CHECK(m->weights[i] == vals[i]);
	CHECK_INT(model_save(m, tmp_path("exact.json"), err, sizeof(err)), 0);
	CHECK_INT(model_load(&m2, tmp_path("exact.json"), err, sizeof(err)), 0);
	if (m2) {
		for (size_t i = 0; i < nv; i++)
			CHECK(memcmp(&m2->weights[i], &vals[i], sizeof(double)) == 0);
		CHECK(m2->intercept == 0.1);
		CHECK_INT(model_save(m2, tmp_path("exact2.json"), err, sizeof(err)), 0);
		CHECK(same_file(tmp_path("exact.json"), tmp_path("exact2.json")));
	}
	size_t len;
	char *text = slurp(tmp_path("exact.json"), &len);
	CHECK(text && strstr(text, "0.30000000000000004") != NULL);
	CHECK(text && strstr(text, "1e-300") != NULL);
	CHECK(text && strstr(text, "\"s\\\"q\\n\"") != NULL);
	CHECK(text && len > 0 && text[len - 1] == '\n');
	free(text);
	model_free(&m);
	model_free(&m2);
	unlink(tmp_path("exact.json"));
	unlink(tmp_path("exact2.json"));
}

/* ---- training ---- */

/* n rows of nf uniform [0,1) features. */
static double *uniform_rows(size_t n, size_t nf, uint64_t seed)
{
	struct model__rng r;
	double *x = malloc(n * nf * sizeof(*x));
	model__rng_seed(&r, seed);
	for (size_t i = 0; i < n * nf; i++)
		x[i] = model__rng_unit(&r);
	return x;
}

static const char *const names4[] = {"temperature", "humidity", "vibration", "battery"};
static const struct model_info info = {"test_model", 1, "test_models.c"};

static double accuracy(const struct model *m, const double *x, const double *y, size_t n)
{
	struct confusion c;
	confusion_init(&c, model_nclasses(m));
	for (size_t i = 0; i < n; i++) {
		struct model_output o;
		model_predict(m, x + i * model_nfeatures(m), &o);
		confusion_add(&c, (int)y[i], o.label);
	}
	return confusion_accuracy(&c);
}

/* What a training progress callback saw. */
struct progress_log {
	size_t calls;       /* calls */
	size_t first_done;  /* done of the first call */
	size_t done, total; /* of the last call */
	int backwards;      /* done ever went down */
};

static void progress_rec(void *ctx, size_t done, size_t total)
{
	struct progress_log *l = ctx;
	if (l->calls == 0)
		l->first_done = done;
	else if (done < l->done)
		l->backwards = 1;
	l->calls++;
	l->done = done;
	l->total = total;
}

static void test_forest_training(void)
{
	size_t n = 3000, nt = 2000;
	double *x = uniform_rows(n, 4, 1), *xt = uniform_rows(nt, 4, 2);
	double *y = malloc(n * sizeof(*y)), *yt = malloc(nt * sizeof(*yt));
	char err[256];
	/* a threshold rule on feature 1, three classes */
	for (size_t i = 0; i < n; i++)
		y[i] = x[i * 4 + 1] < 0.3 ? 0 : x[i * 4 + 1] < 0.7 ? 1 : 2;
	for (size_t i = 0; i < nt; i++)
		yt[i] = xt[i * 4 + 1] < 0.3 ? 0 : xt[i * 4 + 1] < 0.7 ? 1 : 2;
	struct model_data d = {x, y, n, 4, names4};
	struct forest_params p;
	forest_params_default(&p);
	CHECK_INT(p.trees, 20);
	CHECK_INT(p.max_depth, 5);
	CHECK_INT(p.max_bins, 32);
	p.nclasses = 3;
	struct model *m = NULL, *m2 = NULL, *m3 = NULL, *back = NULL;
	CHECK_INT(forest_train(&m, &info, &d, &p, err, sizeof(err)), 0);
	if (!m) {
		fprintf(stderr, "forest_train: %s\n", err);
		goto out;
	}
	CHECK_INT(model_kind(m), MODEL_RANDOM_FOREST);
	CHECK_INT(m->ntrees, 20);
	CHECK_STR(model_feature_name(m, 2), "vibration");
	double acc = accuracy(m, xt, yt, nt);
	CHECK(acc > 0.95);
	printf("forest held-out accuracy %.4f\n", acc);
	for (size_t i = 0; i < m->nnodes; i++)
		if (!model__is_leaf(&m->nodes[i]))
			CHECK(m->nodes[i].left > i && m->nodes[i].right > i);
		else
			CHECK(m->nodes[i].left == i && m->nodes[i].right == i);
	CHECK(m->tree_depth[0] >= 2 && m->tree_depth[0] <= 5);

	/* determinism: the same inputs give the same bytes (with or without a
	 * progress callback, which sees every tree); another seed does not */
	struct progress_log pl = {0};
	p.progress = progress_rec;
	p.progress_ctx = &pl;
	CHECK_INT(forest_train(&m2, &info, &d, &p, err, sizeof(err)), 0);
	p.progress = NULL;
	CHECK_INT(pl.calls, 21);
	CHECK_INT(pl.first_done, 0);
	CHECK(pl.done == 20 && pl.total == 20 && !pl.backwards);
	CHECK_INT(model_save(m, tmp_path("f1.json"), err, sizeof(err)), 0);
	CHECK_INT(model_save(m2, tmp_path("f2.json"), err, sizeof(err)), 0);
	CHECK(same_file(tmp_path("f1.json"), tmp_path("f2.json")));
	p.seed = 7;
	CHECK_INT(forest_train(&m3, &info, &d, &p, err, sizeof(err)), 0);
	CHECK_INT(model_save(m3, tmp_path("f3.json"), err, sizeof(err)), 0);
	CHECK(!same_file(tmp_path("f1.json"), tmp_path("f3.json")));

	/* round trip: identical predictions, identical bytes when saved again */
	CHECK_INT(model_load(&back, tmp_path("f1.json"), err, sizeof(err)), 0);
	if (back) {
		int same = 1;
		for (size_t i = 0; i < nt; i++) {
			struct model_output a, b;
			model_predict(m, xt + i * 4, &a);
			model_predict(back, xt + i * 4, &b);
			same &= a.label == b.label && memcmp(a.proba, b.proba, sizeof(a.proba)) == 0;
		}
		CHECK(same);
		CHECK_INT(model_save(back, tmp_path("f4.json"), err, sizeof(err)), 0);
		CHECK(same_file(tmp_path("f1.json"), tmp_path("f4.json")));
	}
	size_t len;
	char *text = slurp(tmp_path("f1.json"), &len);
	CHECK(text && strstr(text, "\"training_accuracy\"") != NULL);
	CHECK(text && strstr(text, "\"data_source\":\"test_models.c\"") != NULL);
	free(text);
out:
	model_free(&m);
	model_free(&m2);
	model_free(&m3);
	model_free(&back);
	for (int i = 1; i <= 4; i++) {
		char f[32];
		snprintf(f, sizeof(f), "f%d.json", i);
		unlink(tmp_path(f));
	}
	free(x);
	free(xt);
	free(y);
	free(yt);
}

static void test_logreg_training(void)
{
	size_t n = 2000;
	double *x = uniform_rows(n, 3, 3), *y = malloc(n * sizeof(*y));
	char err[256];
	/* a linear rule; feature 2 is a constant and must get weight 0 */
	for (size_t i = 0; i < n; i++) {
		x[i * 3 + 0] = x[i * 3 + 0] * 40 - 10; /* raw scales differ */
		x[i * 3 + 2] = 7;
		y[i] = x[i * 3 + 0] / 40 + x[i * 3 + 1] > 0.75;
	}
	struct model_data d = {x, y, n, 3, names4};
	struct logreg_params p;
	logreg_params_default(&p);
	CHECK_NEAR(p.reg_param, 0.1, 0);
	CHECK_INT(p.max_iter, 100);
	struct model *m = NULL, *m2 = NULL, *back = NULL;
	CHECK_INT(logreg_train(&m, &info, &d, &p, err, sizeof(err)), 0);
	if (!m) {
		fprintf(stderr, "logreg_train: %s\n", err);
		goto out;
	}
	double acc = accuracy(m, x, y, n);
	CHECK(acc > 0.95);
	printf("logreg training accuracy %.4f\n", acc);
	CHECK(m->weights[0] > 0 && m->weights[1] > 0);
	CHECK_NEAR(m->weights[2], 0, 0);
	/* the rule weighs feature 1 forty times more per raw unit */
	CHECK_NEAR(m->weights[1] / m->weights[0], 40, 4);

	/* regularisation shrinks the weights */
	p.reg_param = 1.0;
	CHECK_INT(logreg_train(&m2, &info, &d, &p, err, sizeof(err)), 0);
	if (m2)
		CHECK(fabs(m2->weights[1]) < fabs(m->weights[1]));
	model_free(&m2);
	p.reg_param = 0.1;
	struct progress_log pl = {0};
	p.progress = progress_rec;
	p.progress_ctx = &pl;
	CHECK_INT(logreg_train(&m2, &info, &d, &p, err, sizeof(err)), 0);
	p.progress = NULL;
	/* Newton iterations against max_iter, then done == total == iterations */
	CHECK(pl.calls >= 2 && pl.first_done == 0 && !pl.backwards);
	CHECK(pl.done == pl.total && pl.done == (size_t)model_training_stat(m2, "iterations"));
	CHECK_INT(model_save(m, tmp_path("l1.json"), err, sizeof(err)), 0);
	CHECK_INT(model_save(m2, tmp_path("l2.json"), err, sizeof(err)), 0);
	CHECK(same_file(tmp_path("l1.json"), tmp_path("l2.json")));
	CHECK_INT(model_load(&back, tmp_path("l1.json"), err, sizeof(err)), 0);
	if (back) {
		int same = 1;
		for (size_t i = 0; i < n; i++) {
			struct model_output a, b;
			model_predict(m, x + i * 3, &a);
			model_predict(back, x + i * 3, &b);
			same &= a.label == b.label && a.probability == b.probability;
		}
		CHECK(same);
	}
out:
	model_free(&m);
	model_free(&m2);
	model_free(&back);
	unlink(tmp_path("l1.json"));
	unlink(tmp_path("l2.json"));
	free(x);
	free(y);
}

/* The automatic threshold rule (issue 16) on probabilities worked out by hand. */
static void test_logreg_threshold_rule(void)
{
	double t = 0;
	/* cuts after 0.8 and after 0.6 both make 1 error: the higher one wins */
	double p1[] = {0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1}, y1[] = {1, 1, 0, 1, 0, 0, 0, 0};
	CHECK_INT(logreg_choose_threshold(p1, y1, 8, &t), 1);
	CHECK_NEAR(t, 0.75, 1e-15);
	/* the order given does not matter */
	double p2[] = {0.1, 0.6, 0.3, 0.9, 0.2, 0.7, 0.4, 0.8}, y2[] = {0, 1, 0, 1, 0, 0, 0, 1};
	CHECK_INT(logreg_choose_threshold(p2, y2, 8, &t), 1);
	CHECK_NEAR(t, 0.75, 1e-15);
	/* nothing beats never alarming (1 miss): 0.5 and 0 */
	double p3[] = {0.9, 0.8, 0.1}, y3[] = {0, 0, 1};
	t = 0;
	CHECK_INT(logreg_choose_threshold(p3, y3, 3, &t), 0);
	CHECK_NEAR(t, 0.5, 0);
	/* equal probabilities are never split: 3 rows at 0.6 (2 anomalies) */
	double p4[] = {0.6, 0.6, 0.6, 0.2}, y4[] = {1, 0, 1, 0};
	CHECK_INT(logreg_choose_threshold(p4, y4, 4, &t), 1);
	CHECK_NEAR(t, 0.4, 1e-15);
	CHECK_INT(logreg_choose_threshold(p4, y4, 0, &t), 0);
	CHECK_NEAR(t, 0.5, 0);
	/* every row an alarm: below the lowest probability */
	double p5[] = {0.9, 0.3}, y5[] = {1, 1};
	CHECK_INT(logreg_choose_threshold(p5, y5, 2, &t), 1);
	CHECK(t > 0 && t < 0.3);
	/* the promise: on the rows it was chosen on, fewer false alarms than hits,
	 * and no other cut has fewer errors */
	struct model__rng r;
	model__rng_seed(&r, 5);
	size_t n = 3000, tp = 0, fp = 0, pos = 0, err_best;
	double *p = malloc(n * sizeof *p), *y = malloc(n * sizeof *y);
	for (size_t i = 0; i < n; i++) {
		double u = model__rng_unit(&r);
		p[i] = round(u * 1000) / 1000; /* ties */
		y[i] = model__rng_unit(&r) < 0.1 + 0.5 * u * u;
		pos += y[i] == 1;
	}
	CHECK_INT(logreg_choose_threshold(p, y, n, &t), 1);
	for (size_t i = 0; i < n; i++) {
		tp += p[i] >= t && y[i] == 1;
		fp += p[i] >= t && y[i] == 0;
	}
	CHECK(fp < tp);
	err_best = fp + pos - tp;
	int none_better = 1;
	for (int c = 0; c <= 1001; c++) {
		double tc = (c - 0.5) / 1000;
		size_t e = 0;
		for (size_t i = 0; i < n; i++)
			e += (p[i] >= tc) != (y[i] == 1);
		none_better &= e >= err_best;
	}
	CHECK(none_better);
	free(p);
	free(y);
}

/* Rows whose class 1 is rare and only partly explained by feature 0. */
static void rare_rows(uint64_t seed, size_t n, double *x, double *y)
{
	struct model__rng r;
	model__rng_seed(&r, seed);
	for (size_t i = 0; i < n; i++) {
		x[i * 2] = model__rng_unit(&r) * 10;
		x[i * 2 + 1] = model__rng_unit(&r);
		double z = -7 + 0.8 * x[i * 2];
		y[i] = model__rng_unit(&r) < 1 / (1 + exp(-z));
	}
}

/* Class weights and the threshold settings of logreg_train (issue 16). */
static void test_logreg_weights_threshold(void)
{
	size_t n = 4000, alarms[2] = {0, 0}, pos = 0;
	double *x = malloc(n * 2 * sizeof *x), *y = malloc(n * sizeof *y);
	struct model_data d = {x, y, n, 2, names4};
	struct logreg_params p;
	struct model *m = NULL, *mb = NULL, *ma = NULL, *m80 = NULL;
	char err[256], *text = NULL;
	size_t len;

	rare_rows(9, n, x, y);
	for (size_t i = 0; i < n; i++)
		pos += y[i] == 1;
	CHECK(pos > n / 20 && pos < n / 4);
	logreg_params_default(&p);
	CHECK_INT(p.class_weight, LOGREG_WEIGHT_NONE);
	CHECK_INT(p.auto_threshold, 0);
	CHECK_NEAR(p.threshold, 0.5, 0);
	CHECK_INT(logreg_train(&m, &info, &d, &p, err, sizeof err), 0);
	p.class_weight = LOGREG_WEIGHT_BALANCED;
	CHECK_INT(logreg_train(&mb, &info, &d, &p, err, sizeof err), 0);
	if (!m || !mb)
		goto out;
	/* balanced: both classes weigh the same, so far more rows reach 0.5 */
	for (size_t i = 0; i < n; i++) {
		struct model_output o;
		model_predict(m, x + i * 2, &o);
		alarms[0] += o.label;
		model_predict(mb, x + i * 2, &o);
		alarms[1] += o.label;
	}
	CHECK(alarms[1] > 2 * alarms[0]);
	CHECK(alarms[1] > pos);
	CHECK_INT(model_save(mb, tmp_path("lb.json"), err, sizeof err), 0);
	text = slurp(tmp_path("lb.json"), &len);
	CHECK(text && strstr(text, "\"class_weight\": \"balanced\"") && strstr(text, "\"threshold\": 0.5\n"));
	free(text);
	CHECK_INT(model_save(m, tmp_path("ln.json"), err, sizeof err), 0);
	text = slurp(tmp_path("ln.json"), &len);
	CHECK(text && strstr(text, "\"class_weight\": \"none\""));
	free(text);
	model_free(&m);
	model_free(&mb);

	/* balanced with n0 = 3 n1 and no penalty is the unweighted fit of the
	 * data with each class-1 row three times: the same mean weighted loss */
	{
		size_t n1 = 200, nb = 4 * n1, nd = nb + 2 * n1;
		double *xb = malloc(nb * 2 * sizeof *xb), *yb = malloc(nb * sizeof *yb);
		double *xd = malloc(nd * 2 * sizeof *xd), *yd = malloc(nd * sizeof *yd);
		struct model_data db = {xb, yb, nb, 2, names4}, dd = {xd, yd, nd, 2, names4};
		struct model__rng r;
		size_t k = 0;
		model__rng_seed(&r, 3);
		for (size_t i = 0; i < nb; i++) {
			yb[i] = i % 4 == 0;
			xb[i * 2] = model__rng_unit(&r) + 0.8 * yb[i];
			xb[i * 2 + 1] = model__rng_unit(&r);
			for (int c = 0; c < (yb[i] == 1 ? 3 : 1); c++, k++) {
				xd[k * 2] = xb[i * 2];
				xd[k * 2 + 1] = xb[i * 2 + 1];
				yd[k] = yb[i];
			}
		}
		CHECK_INT(k, nd);
		logreg_params_default(&p);
		p.reg_param = 0;
		p.class_weight = LOGREG_WEIGHT_BALANCED;
		CHECK_INT(logreg_train(&m, &info, &db, &p, err, sizeof err), 0);
		p.class_weight = LOGREG_WEIGHT_NONE;
		CHECK_INT(logreg_train(&mb, &info, &dd, &p, err, sizeof err), 0);
		if (m && mb) {
			CHECK_NEAR(m->intercept, mb->intercept, 1e-6 * fabs(mb->intercept));
			CHECK_NEAR(m->weights[0], mb->weights[0], 1e-6 * fabs(mb->weights[0]));
			CHECK_NEAR(m->weights[1], mb->weights[1], 1e-6 * fabs(mb->weights[0]));
			CHECK(fabs(m->weights[0]) > 1);
		}
		model_free(&m);
		model_free(&mb);
		free(xb);
		free(yb);
		free(xd);
		free(yd);
	}

	/* auto: the threshold the rule picks on the last 20 % for a fit on the
	 * first 80 %, kept by the fit on all rows */
	logreg_params_default(&p);
	p.auto_threshold = 1;
	CHECK_INT(logreg_train(&ma, &info, &d, &p, err, sizeof err), 0);
	p.auto_threshold = 0;
	struct model_data d80 = {x, y, n - n / 5, 2, names4};
	CHECK_INT(logreg_train(&m80, &info, &d80, &p, err, sizeof err), 0);
	if (!ma || !m80)
		goto out;
	{
		size_t hold = n / 5;
		double *ph = malloc(hold * sizeof *ph), t = 0;
		for (size_t i = 0; i < hold; i++) {
			struct model_output o;
			model_predict(m80, x + (n - hold + i) * 2, &o);
			ph[i] = o.probability;
		}
		CHECK_INT(logreg_choose_threshold(ph, y + n - hold, hold, &t), 1);
		CHECK(t == ma->threshold);
		CHECK(t != 0.5);
		free(ph);
		CHECK_NEAR(model_training_stat(ma, "threshold_holdout_rows"), (double)hold, 0);
		CHECK(model_training_stat(ma, "threshold_holdout_accuracy") >
		      model_training_stat(ma, "threshold_holdout_all_normal_accuracy"));
	}
	/* on fresh rows the auto threshold beats never alarming */
	{
		double *xt = malloc(n * 2 * sizeof *xt), *yt = malloc(n * sizeof *yt);
		size_t normal = 0;
		rare_rows(10, n, xt, yt);
		for (size_t i = 0; i < n; i++)
			normal += yt[i] == 0;
		double acc = accuracy(ma, xt, yt, n);
		printf("logreg auto threshold %.4f: accuracy %.4f on fresh rows, never alarming %.4f\n",
		       ma->threshold, acc, (double)normal / (double)n);
		CHECK(acc > (double)normal / (double)n);
		free(xt);
		free(yt);
	}
	CHECK_INT(model_save(ma, tmp_path("la.json"), err, sizeof err), 0);
	text = slurp(tmp_path("la.json"), &len);
	CHECK(text && strstr(text, "\"threshold\": \"auto\"") && strstr(text, "\"threshold_rule\"") &&
	      strstr(text, "\"threshold_holdout_precision\""));
	free(text);
	/* the rule's fallback: too few rows to hold any out */
	model_free(&m);
	d.n = 40;
	p.auto_threshold = 1;
	CHECK_INT(logreg_train(&m, &info, &d, &p, err, sizeof err), 0);
	if (m)
		CHECK_NEAR(m->threshold, 0.5, 0);
	model_free(&m);
	d.n = n;
	/* a fixed threshold is used and recorded; 0, 1 and NaN are refused */
	p.auto_threshold = 0;
	p.threshold = 0.2;
	CHECK_INT(logreg_train(&m, &info, &d, &p, err, sizeof err), 0);
	if (m)
		CHECK_NEAR(m->threshold, 0.2, 0);
	model_free(&m);
	double bad[] = {0, 1, NAN, -0.5};
	for (size_t i = 0; i < 4; i++) {
		p.threshold = bad[i];
		CHECK(logreg_train(&m, &info, &d, &p, err, sizeof err) < 0);
		CHECK(strstr(err, "expected a probability between 0 and 1") != NULL);
	}
	p.threshold = 0.5;
	p.class_weight = (enum logreg_class_weight)7;
	CHECK(logreg_train(&m, &info, &d, &p, err, sizeof err) < 0);
	CHECK(strstr(err, "class_weight 7") != NULL);
out:
	model_free(&m);
	model_free(&mb);
	model_free(&ma);
	model_free(&m80);
	unlink(tmp_path("lb.json"));
	unlink(tmp_path("ln.json"));
	unlink(tmp_path("la.json"));
	free(x);
	free(y);
}

static void test_gbt_training(void)
{
	size_t n = 2000;
	double *x = uniform_rows(n, 2, 4), *y = malloc(n * sizeof(*y));
	char err[256];
	/* a step function of feature 0 on a level of 40; feature 0 takes 20
	 * values, so the bins hold a threshold between 0.5 and 0.55 */
	for (size_t i = 0; i < n; i++) {
		x[i * 2] = floor(x[i * 2] * 20) / 20;
		y[i] = 40 + (x[i * 2] > 0.5 ? 10 : 0);
	}
	struct model_data d = {x, y, n, 2, names4};
	struct gbt_params p;
	gbt_params_default(&p);
	CHECK_INT(p.iterations, 10);
	CHECK_NEAR(p.step_size, 0.1, 0);
	struct model *m = NULL, *m2 = NULL, *back = NULL;
	CHECK_INT(gbt_train(&m, &info, &d, &p, err, sizeof(err)), 0);
	if (!m) {
		fprintf(stderr, "gbt_train: %s\n", err);
		goto out;
	}
	CHECK_NEAR(m->init, 45, 1.5);
	CHECK_NEAR(m->tree_weights[0], 1, 0);
	CHECK_NEAR(m->tree_weights[1], 0.1, 0);
	struct rmse r;
	rmse_init(&r);
	for (size_t i = 0; i < n; i++) {
		struct model_output o;
		model_predict(m, x + i * 2, &o);
		rmse_add(&r, y[i], o.value);
	}
	CHECK(rmse_value(&r) < 0.05);
	printf("gbt step-function rmse %.6f\n", rmse_value(&r));
	/* a smooth target is approximated, not exactly fitted */
	for (size_t i = 0; i < n; i++)
		y[i] = 3 * x[i * 2] + x[i * 2 + 1];
	model_free(&m);
	CHECK_INT(gbt_train(&m, &info, &d, &p, err, sizeof(err)), 0);
	if (!m)
		goto out;
	rmse_init(&r);
	for (size_t i = 0; i < n; i++) {
		struct model_output o;
		model_predict(m, x + i * 2, &o);
		rmse_add(&r, y[i], o.value);
	}
	CHECK(rmse_value(&r) < 0.15);
	printf("gbt linear rmse %.6f\n", rmse_value(&r));

	struct progress_log pl = {0};
	p.progress = progress_rec;
	p.progress_ctx = &pl;
	CHECK_INT(gbt_train(&m2, &info, &d, &p, err, sizeof(err)), 0);
	p.progress = NULL;
	CHECK(pl.calls == 11 && pl.first_done == 0 && pl.done == 10 && pl.total == 10 && !pl.backwards);
	CHECK_INT(model_save(m, tmp_path("g1.json"), err, sizeof(err)), 0);
	CHECK_INT(model_save(m2, tmp_path("g2.json"), err, sizeof(err)), 0);
	CHECK(same_file(tmp_path("g1.json"), tmp_path("g2.json")));
	CHECK_INT(model_load(&back, tmp_path("g1.json"), err, sizeof(err)), 0);
	if (back) {
		int same = 1;
		for (size_t i = 0; i < n; i++) {
			struct model_output a, b;
			model_predict(m, x + i * 2, &a);
			model_predict(back, x + i * 2, &b);
			same &= a.value == b.value;
		}
		CHECK(same);
		CHECK_INT(model_save(back, tmp_path("g3.json"), err, sizeof(err)), 0);
		CHECK(same_file(tmp_path("g1.json"), tmp_path("g3.json")));
	}
out:
	model_free(&m);
	model_free(&m2);
	model_free(&back);
	unlink(tmp_path("g1.json"));
	unlink(tmp_path("g2.json"));
	unlink(tmp_path("g3.json"));
	free(x);
	free(y);
}

/* The histogram of values v[0..n) as model__input_histograms makes it. */
static size_t hist_of(const double *v, size_t n, struct model__histogram *h)
{
	double *s = malloc(n * sizeof *s), *tmp = malloc(n * sizeof *tmp);
	memcpy(s, v, n * sizeof *s);
	model__sort_doubles(s, n, tmp);
	model__histogram_of(h, s, n);
	free(s);
	free(tmp);
	return h->bins;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void test_histograms(void)
{
	struct model__histogram h;
	size_t n = 10000;
	double *v = malloc(n * sizeof *v), *w = malloc(n * sizeof *w), *tmp = malloc(n * sizeof *tmp);
	struct model__rng r;
	char err[256];

	/* the radix sort orders exactly as qsort does, negatives, tiny and huge included */
	model__rng_seed(&r, 5);
	for (size_t i = 0; i < n; i++) {
		double u = model__rng_unit(&r) - 0.5;
		v[i] = i % 7 == 0 ? u * 1e300 : i % 11 == 0 ? u * 1e-300 : i % 13 == 0 ? floor(u * 8) : u;
	}
	memcpy(w, v, n * sizeof *v);
	qsort(w, n, sizeof *w, cmp_dbl);
	model__sort_doubles(v, n, tmp);
	CHECK(memcmp(v, w, n * sizeof *v) == 0);

	/* continuous values: 10 bins of a tenth each, edges at the deciles */
	for (size_t i = 0; i < n; i++)
		v[i] = (double)((i * 7919) % n); /* 0..9999, shuffled */
	CHECK_INT(hist_of(v, n, &h), 10);
	CHECK(h.edges[0] == 999 && h.edges[8] == 8999);
	for (size_t b = 0; b < 10; b++)
		CHECK_NEAR(h.fractions[b], 0.1, 0);
	/* a 0/1 feature gets 2 bins, whichever value is rare */
	for (size_t i = 0; i < n; i++)
		v[i] = i % 20 != 0; /* 5 % zeros */
	CHECK_INT(hist_of(v, n, &h), 2);
	CHECK(h.edges[0] == 0 && h.fractions[0] == 0.05 && h.fractions[1] == 0.95);
	for (size_t i = 0; i < n; i++)
		v[i] = i % 20 == 0; /* 5 % ones */
	CHECK_INT(hist_of(v, n, &h), 2);
	CHECK(h.fractions[0] == 0.95 && h.fractions[1] == 0.05);
	/* a constant: one bin */
	for (size_t i = 0; i < n; i++)
		v[i] = 3.5;
	CHECK_INT(hist_of(v, n, &h), 1);
	CHECK(h.fractions[0] == 1);
	/* a heap at the top of continuous values keeps a bin of its own */
	for (size_t i = 0; i < n; i++)
		v[i] = i < n / 20 ? (double)i : 100000;
	CHECK_INT(hist_of(v, n, &h), 2);
	CHECK(h.edges[0] == (double)(n / 20 - 1) && h.fractions[1] == 0.95);
	/* and one at the bottom gets one bin, the rest the deciles above it */
	for (size_t i = 0; i < n; i++)
		v[i] = i < n / 2 ? 0 : (double)i;
	CHECK_INT(hist_of(v, n, &h), 6);
	CHECK(h.edges[0] == 0 && h.fractions[0] == 0.5);
	double sum = 0;
	for (size_t b = 0; b < h.bins; b++)
		sum += h.fractions[b];
	CHECK_NEAR(sum, 1, 1e-12);
	for (size_t b = 1; b + 1 < h.bins; b++)
		CHECK(h.edges[b] > h.edges[b - 1]);

	/* every trainer records one histogram per feature, and it round-trips */
	for (size_t i = 0; i < 2000; i++) {
		w[i * 2] = (double)(i % 3);         /* three values: three bins */
		w[i * 2 + 1] = (double)(i * 37 % 2000) / 100;
		v[i] = i % 3 == 2;                   /* labels */
	}
	struct model_data d = {w, v, 2000, 2, names4};
	struct forest_params fp;
	struct logreg_params lp;
	struct gbt_params gp;
	forest_params_default(&fp);
	logreg_params_default(&lp);
	gbt_params_default(&gp);
	fp.nclasses = 2;
	fp.trees = 2;
	gp.iterations = 2;
	struct model *ms[3] = {NULL, NULL, NULL};
	CHECK_INT(forest_train(&ms[0], &info, &d, &fp, err, sizeof(err)), 0);
	CHECK_INT(logreg_train(&ms[1], &info, &d, &lp, err, sizeof(err)), 0);
	CHECK_INT(gbt_train(&ms[2], &info, &d, &gp, err, sizeof(err)), 0);
	for (int k = 0; k < 3; k++) {
		const double *e = NULL, *f = NULL;
		struct model *back = NULL;
		if (!ms[k])
			continue;
		CHECK_INT(model_input_histogram(ms[k], 0, &e, &f), 3);
		CHECK(e[0] == 0 && e[1] == 1 && fabs(f[0] - 667.0 / 2000) < 1e-15);
		CHECK_INT(model_input_histogram(ms[k], 1, &e, &f), 10);
		CHECK(e[0] == 1.99 && f[0] == 0.1);
		CHECK_INT(model_save(ms[k], tmp_path("ht.json"), err, sizeof(err)), 0);
		CHECK_INT(model_load(&back, tmp_path("ht.json"), err, sizeof(err)), 0);
		if (back) {
			const double *e2 = NULL, *f2 = NULL;
			CHECK_INT(model_input_histogram(back, 1, &e2, &f2), 10);
			CHECK(memcmp(e, e2, 9 * sizeof *e) == 0 && memcmp(f, f2, 10 * sizeof *f) == 0);
		}
		model_free(&back);
		model_free(&ms[k]);
	}
	unlink(tmp_path("ht.json"));
	free(v);
	free(w);
	free(tmp);
}

static void test_training_errors(void)
{
	double x[8] = {0, 1, 2, 3, 4, 5, 6, 7}, y[4] = {0, 1, 0, 1};
	double bady[4] = {0, 1, 3, 1}, nanx[8] = {0, 1, 2, NAN, 4, 5, 6, 7};
	struct model_data d = {x, y, 4, 2, names4};
	struct forest_params fp;
	struct logreg_params lp;
	struct gbt_params gp;
	struct model *m = NULL;
	char err[256];

	forest_params_default(&fp);
	logreg_params_default(&lp);
	gbt_params_default(&gp);
	fp.nclasses = 2;

	d.n = 0;
	CHECK(forest_train(&m, &info, &d, &fp, err, sizeof(err)) < 0);
	CHECK(strstr(err, "no training data") != NULL);
	CHECK(logreg_train(&m, &info, &d, &lp, err, sizeof(err)) < 0);
	CHECK(strstr(err, "no training data") != NULL);
	CHECK(gbt_train(&m, &info, &d, &gp, err, sizeof(err)) < 0);
	CHECK(strstr(err, "no training data") != NULL);
	d.n = 4;

	d.nfeatures = 33;
	CHECK(forest_train(&m, &info, &d, &fp, err, sizeof(err)) < 0);
	CHECK(strstr(err, "33 features") != NULL);
	CHECK(logreg_train(&m, &info, &d, &lp, err, sizeof(err)) < 0);
	CHECK(strstr(err, "33 features") != NULL);
	d.nfeatures = 2;

	d.y = bady;
	CHECK(forest_train(&m, &info, &d, &fp, err, sizeof(err)) < 0);
	CHECK(strstr(err, "row 2: label 3 is not a class 0..1") != NULL);
	CHECK(logreg_train(&m, &info, &d, &lp, err, sizeof(err)) < 0);
	CHECK(strstr(err, "row 2: label 3 is not 0 or 1") != NULL);
	d.y = y;

	d.x = nanx;
	CHECK(forest_train(&m, &info, &d, &fp, err, sizeof(err)) < 0);
	CHECK(strstr(err, "row 1: feature 1 is not a finite number") != NULL);
	CHECK(logreg_train(&m, &info, &d, &lp, err, sizeof(err)) < 0);
	CHECK(strstr(err, "row 1: feature 1 is not a finite number") != NULL);
	CHECK(gbt_train(&m, &info, &d, &gp, err, sizeof(err)) < 0);
	d.x = x;

	double infy[4] = {1, 2, INFINITY, 3};
	d.y = infy;
	CHECK(gbt_train(&m, &info, &d, &gp, err, sizeof(err)) < 0);
	CHECK(strstr(err, "row 2: target is not a finite number") != NULL);
	d.y = y;

	fp.nclasses = 9;
	CHECK(forest_train(&m, &info, &d, &fp, err, sizeof(err)) < 0);
	CHECK(strstr(err, "nclasses 9") != NULL);
	fp.nclasses = 2;
	fp.trees = 0;
	CHECK(forest_train(&m, &info, &d, &fp, err, sizeof(err)) < 0);
	CHECK(strstr(err, "trees 0") != NULL);
	fp.trees = 2;
	fp.max_bins = 1;
	CHECK(forest_train(&m, &info, &d, &fp, err, sizeof(err)) < 0);
	CHECK(strstr(err, "max_bins 1") != NULL);
	fp.max_bins = 32;
	gp.step_size = 0;
	CHECK(gbt_train(&m, &info, &d, &gp, err, sizeof(err)) < 0);
	CHECK(strstr(err, "step_size") != NULL);
	gp.step_size = 0.1;
	lp.reg_param = -1;
	CHECK(logreg_train(&m, &info, &d, &lp, err, sizeof(err)) < 0);
	CHECK(strstr(err, "reg_param") != NULL);
	lp.reg_param = 0.1;

	struct model_info noname = {"", 1, NULL}, v0 = {"x", 0, NULL};
	CHECK(forest_train(&m, &noname, &d, &fp, err, sizeof(err)) < 0);
	CHECK(strstr(err, "model name") != NULL);
	CHECK(gbt_train(&m, &v0, &d, &gp, err, sizeof(err)) < 0);
	CHECK(strstr(err, "version 0") != NULL);
	const char *const dup[] = {"a", "a"};
	d.feature_names = dup;
	CHECK(logreg_train(&m, &info, &d, &lp, err, sizeof(err)) < 0);
	CHECK(strstr(err, "duplicate name \"a\"") != NULL);
	d.feature_names = names4;
	CHECK(m == NULL);

	/* tiny data still trains: one row, and a constant target */
	d.n = 1;
	CHECK_INT(forest_train(&m, &info, &d, &fp, err, sizeof(err)), 0);
	model_free(&m);
	double cy[4] = {5, 5, 5, 5};
	d.n = 4;
	d.y = cy;
	CHECK_INT(gbt_train(&m, &info, &d, &gp, err, sizeof(err)), 0);
	if (m) {
		struct model_output o;
		model_predict(m, x, &o);
		CHECK_NEAR(o.value, 5, 1e-12);
		CHECK_INT(m->tree_nodes[0], 1); /* nothing to split */
	}
	model_free(&m);

	/* saving where no file can be created */
	struct model *hm = parse_str(forest_json);
	CHECK(model_save(hm, "/nonexistent-dir/x.json", err, sizeof(err)) < 0);
	CHECK(strstr(err, "/nonexistent-dir/x.json: cannot create a temporary file") != NULL);
	model_free(&hm);
}

/* ---- metrics ---- */

static void test_metrics(void)
{
	struct confusion c;
	confusion_init(&c, 3);
	CHECK_NEAR(confusion_accuracy(&c), 0, 0);
	CHECK_INT(confusion_add(&c, 0, 0), 0);
	CHECK_INT(confusion_add(&c, 1, 1), 0);
	CHECK_INT(confusion_add(&c, 2, 1), 0);
	CHECK_INT(confusion_add(&c, 2, 2), 0);
	CHECK_INT(confusion_add(&c, 3, 0), -1);
	CHECK_INT(confusion_add(&c, 0, -1), -1);
	CHECK_INT(c.n, 4);
	CHECK_INT(c.m[2][1], 1);
	CHECK_INT(c.m[1][2], 0);
	CHECK_NEAR(confusion_accuracy(&c), 0.75, 1e-15);
	/* class 1: predicted twice (once right), actually once */
	CHECK_NEAR(confusion_precision(&c, 1), 0.5, 1e-15);
	CHECK_NEAR(confusion_recall(&c, 1), 1, 1e-15);
	CHECK_NEAR(confusion_f1(&c, 1), 2.0 / 3, 1e-15);
	CHECK_NEAR(confusion_recall(&c, 2), 0.5, 1e-15);
	CHECK_NEAR(confusion_share(&c, 2), 0.5, 1e-15);
	CHECK_NEAR(confusion_share(&c, 0), 0.25, 1e-15);
	CHECK_NEAR(confusion_precision(&c, 3), 0, 0);

	/* the issue's anomaly detector: 1077 TN, 993 false alarms, 82 misses, 513 hits */
	struct confusion a;
	confusion_init(&a, 2);
	size_t cells[2][2] = {{1077, 993}, {82, 513}};
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 2; j++)
			for (size_t q = 0; q < cells[i][j]; q++)
				(void)confusion_add(&a, i, j);
	CHECK_NEAR(confusion_accuracy(&a), 1590.0 / 2665, 1e-15);
	CHECK_NEAR(confusion_share(&a, 0), 2070.0 / 2665, 1e-15);
	CHECK(confusion_accuracy(&a) < confusion_share(&a, 0));
	CHECK_NEAR(confusion_precision(&a, 1), 513.0 / 1506, 1e-15);
	CHECK_NEAR(confusion_recall(&a, 1), 513.0 / 595, 1e-15);
	CHECK_NEAR(confusion_f1(&a, 1), 1026.0 / 2101, 1e-15);
	confusion_init(&a, 2);
	CHECK_NEAR(confusion_f1(&a, 1), 0, 0);
	CHECK_NEAR(confusion_share(&a, 0), 0, 0);

	struct rmse r;
	rmse_init(&r);
	CHECK_NEAR(rmse_value(&r), 0, 0);
	rmse_add(&r, 1, 4);  /* err 3 */
	rmse_add(&r, 2, -2); /* err 4 */
	CHECK_INT(r.n, 2);
	CHECK_NEAR(r.sum_sq, 25, 1e-12);
	CHECK_NEAR(rmse_value(&r), sqrt(12.5), 1e-12);
}

static void test_rng(void)
{
	struct model__rng a, b;
	model__rng_seed(&a, 42);
	model__rng_seed(&b, 42);
	int same = 1;
	for (int i = 0; i < 100; i++)
		same &= model__rng_next(&a) == model__rng_next(&b);
	CHECK(same);
	/* Poisson(1) has mean 1 */
	double sum = 0;
	for (int i = 0; i < 100000; i++)
		sum += model__rng_poisson1(&a);
	CHECK_NEAR(sum / 100000, 1.0, 0.02);
	int in = 1;
	for (int i = 0; i < 1000; i++)
		in &= model__rng_below(&a, 7) < 7;
	CHECK(in);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_models.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_forest_by_hand();
	test_logreg_by_hand();
	test_gbt_by_hand();
	test_split_float32();
	test_load_good_fixtures();
	test_broken_files();
	test_caps();
	test_exact_doubles();
	test_forest_training();
	test_logreg_training();
	test_logreg_threshold_rule();
	test_logreg_weights_threshold();
	test_gbt_training();
	test_histograms();
	test_training_errors();
	test_metrics();
	test_rng();
	rmdir(tmpdir);
	return check_done("test_models");
}

/*
 * model.c - the model object: inference for the three kinds, the JSON model
 * file (models/FORMAT.md) with a loader that validates everything and names
 * the JSON path of the first problem, and a deterministic writer.
 *
 * In memory a model is flat: all trees' nodes in one array with absolute
 * child indices, leaf class distributions in a second array, logistic
 * weights in a fixed array. Inference is a few array walks and never
 * allocates. The writer prints numbers itself (shortest of %.15g..%.17g that
 * parses back to the same double) because cJSON's printer only checks that
 * a number round-trips approximately.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "models/models_int.h"

#define MODEL__FORMAT "fieldgate-model"
#define MODEL__FORMAT_VERSION 1
#define PATHMAX 160                           /* bytes of a JSON path in messages */

static const char *kind_names[] = {
	[MODEL_RANDOM_FOREST] = "random_forest_classifier",
	[MODEL_LOGISTIC_REGRESSION] = "logistic_regression",
	[MODEL_GBT_REGRESSOR] = "gbt_regressor",
};

/* ---- accessors ---- */

enum model_kind model_kind(const struct model *m) { return m->kind; }

const char *model_kind_name(enum model_kind kind)
{
	if (kind < MODEL_RANDOM_FOREST || kind > MODEL_GBT_REGRESSOR)
		return "?";
	return kind_names[kind];
}
const char *model_name(const struct model *m) { return m->name; }
int model_version(const struct model *m) { return m->version; }

double model_training_stat(const struct model *m, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(m->training, name);

	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}
size_t model_nfeatures(const struct model *m) { return m->nfeatures; }
size_t model_nclasses(const struct model *m) { return m->nclasses; }
size_t model_ntrees(const struct model *m) { return m->ntrees; }
size_t model_nnodes(const struct model *m) { return m->nnodes; }
int model_split_float32(const struct model *m) { return m->split_f32; }

const char *model_feature_name(const struct model *m, size_t i)
{
	assert(i < m->nfeatures);
	return i < m->nfeatures ? m->features[i] : NULL;
}

void model_free(struct model **mp)
{
	if (!mp || !*mp)
		return;
	struct model *m = *mp;
	free(m->roots);
	free(m->tree_nodes);
	free(m->tree_depth);
	free(m->tree_weights);
	free(m->nodes);
	free(m->dist);
	free(m->hist);
	cJSON_Delete(m->hyperparameters);
	cJSON_Delete(m->training);
	free(m);
	*mp = NULL;
}

/* ---- inference ---- */

static double model__sigmoid(double z)
{
	if (z >= 0)
		return 1.0 / (1.0 + exp(-z));
	double e = exp(z);
	return e / (1.0 + e);
}

/*
 * The leaves of trees t0..t0+nl-1 for x into leaf[]. The trees are walked
 * in lockstep for as many steps as the deepest needs (leaves link to
 * themselves), so the walks overlap in the CPU instead of waiting on each
 * other's loads and the loop has no data-dependent branch.
 */
static inline void model__walk_block(const struct model *m, size_t t0, size_t nl, const double *x,
				     uint32_t *leaf)
{
	const struct model__node *nodes = m->nodes;
	uint32_t steps = 0;
	for (size_t l = 0; l < nl; l++) {
		leaf[l] = m->roots[t0 + l];
		if (m->tree_depth[t0 + l] > steps)
			steps = m->tree_depth[t0 + l];
	}
	for (uint32_t s = 0; s < steps; s++)
#pragma GCC unroll 8
		for (size_t l = 0; l < nl; l++) {
			const struct model__node *n = nodes + leaf[l];
			/* a select by mask, not a branch: the direction is unpredictable */
			uint32_t go_right = -(uint32_t)!(x[n->feature] <= n->value);
			leaf[l] = n->left ^ ((n->left ^ n->right) & go_right);
		}
}

#define LANES 8 /* trees walked together */

void model_predict(const struct model *m, const double *x, struct model_output *out)
{
	const struct model__node *nodes = m->nodes;
	uint32_t leaf[LANES];
	double xf[MODEL_MAX_FEATURES];

	memset(out->proba, 0, sizeof(out->proba));
	if (m->split_f32) {
		/* Round once here, not at every node: then the walk is the same
		 * double comparison either way. (float)x <= t is what
		 * scikit-learn's trees compute (X cast to float32, t a double). */
		for (size_t j = 0; j < m->nfeatures; j++)
			xf[j] = (float)x[j];
		x = xf;
	}
	switch (m->kind) {
	case MODEL_RANDOM_FOREST: {
		size_t k = m->nclasses;
		double acc[MODEL_MAX_CLASSES] = {0};
		for (size_t t = 0; t < m->ntrees; t += LANES) {
			size_t nl = m->ntrees - t < LANES ? m->ntrees - t : LANES;
			if (nl == LANES)
				model__walk_block(m, t, LANES, x, leaf);
			else
				model__walk_block(m, t, nl, x, leaf);
			for (size_t l = 0; l < nl; l++) {
				const double *d = m->dist + nodes[leaf[l]].leaf;
				for (size_t c = 0; c < k; c++)
					acc[c] += d[c];
			}
		}
		int best = 0;
		for (size_t c = 0; c < k; c++) {
			out->proba[c] = acc[c] / (double)m->ntrees;
			if (out->proba[c] > out->proba[best])
				best = (int)c;
		}
		out->label = best;
		out->probability = out->proba[best];
		out->value = best;
		break;
	}
	case MODEL_LOGISTIC_REGRESSION: {
		double z = m->intercept;
		for (size_t j = 0; j < m->nfeatures; j++)
			z += m->weights[j] * x[j];
		double p = model__sigmoid(z);
		out->proba[0] = 1.0 - p;
		out->proba[1] = p;
		out->label = p >= m->threshold;
		out->probability = p;
		out->value = out->label;
		break;
	}
	case MODEL_GBT_REGRESSOR: {
		double v = m->init;
		for (size_t t = 0; t < m->ntrees; t += LANES) {
			size_t nl = m->ntrees - t < LANES ? m->ntrees - t : LANES;
			if (nl == LANES)
				model__walk_block(m, t, LANES, x, leaf);
			else
				model__walk_block(m, t, nl, x, leaf);
			for (size_t l = 0; l < nl; l++)
				v += m->tree_weights[t + l] * nodes[leaf[l]].value;
		}
		out->label = 0;
		out->probability = 0;
		out->value = v;
		break;
	}
	}
}

/* ---- building (for the trainers) ---- */

int model__check_info(const struct model_info *info, char *err, size_t errlen)
{
	if (!info || !info->name || !info->name[0] || strlen(info->name) > MODEL_NAME_MAX) {
		snprintf(err, errlen, "model name must be 1..%d bytes", MODEL_NAME_MAX);
		return -1;
	}
	if (info->version < 1) {
		snprintf(err, errlen, "model version %d (expected >= 1)", info->version);
		return -1;
	}
	return 0;
}

int model__check_data(const struct model_data *d, char *err, size_t errlen)
{
	if (!d || !d->x || !d->y || d->n == 0) {
		snprintf(err, errlen, "no training data");
		return -1;
	}
	if (d->nfeatures < 1 || d->nfeatures > MODEL_MAX_FEATURES) {
		snprintf(err, errlen, "%zu features (expected 1..%d)", d->nfeatures, MODEL_MAX_FEATURES);
		return -1;
	}
	return 0;
}

struct model *model__new(enum model_kind kind, const struct model_info *info,
			 const struct model_data *d, char *err, size_t errlen)
{
	struct model *m = NULL;

	if (model__check_info(info, err, errlen) < 0)
		return NULL;
	if (!d->feature_names) {
		snprintf(err, errlen, "no feature names");
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		goto nomem;
	m->kind = kind;
	snprintf(m->name, sizeof(m->name), "%s", info->name);
	m->version = info->version;
	m->nfeatures = d->nfeatures;
	for (size_t j = 0; j < d->nfeatures; j++) {
		const char *fn = d->feature_names[j];
		if (!fn || !fn[0] || strlen(fn) > MODEL_NAME_MAX) {
			snprintf(err, errlen, "feature %zu: name must be 1..%d bytes", j, MODEL_NAME_MAX);
			goto fail;
		}
		for (size_t i = 0; i < j; i++)
			if (strcmp(m->features[i], fn) == 0) {
				snprintf(err, errlen, "feature %zu: duplicate name \"%s\"", j, fn);
				goto fail;
			}
		snprintf(m->features[j], sizeof(m->features[j]), "%s", fn);
	}
	m->hyperparameters = cJSON_CreateObject();
	m->training = cJSON_CreateObject();
	if (!m->hyperparameters || !m->training)
		goto nomem;
	if (model__meta_number(m, 't', "rows", (double)d->n) < 0 ||
	    model__meta_string(m, 't', "data_source", info->data_source ? info->data_source : "") < 0)
		goto nomem;
	return m;
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	model_free(&m);
	return NULL;
}

int model__take_trees(struct model *m, struct model__builder *b)
{
	m->nodes = b->nodes;
	m->nnodes = b->nnodes;
	m->dist = b->dist;
	m->ndist = b->ndist;
	m->roots = b->roots;
	m->tree_nodes = b->tree_nodes;
	m->ntrees = b->ntrees;
	memset(b, 0, sizeof(*b));
	return model__depths(m);
}

int model__depths(struct model *m)
{
	size_t biggest = 1;
	for (size_t t = 0; t < m->ntrees; t++)
		if (m->tree_nodes[t] > biggest)
			biggest = m->tree_nodes[t];
	uint32_t *depth = malloc(biggest * sizeof(*depth));
	free(m->tree_depth);
	m->tree_depth = calloc(m->ntrees ? m->ntrees : 1, sizeof(*m->tree_depth));
	if (!depth || !m->tree_depth) {
		free(depth);
		return -1;
	}
	for (size_t t = 0; t < m->ntrees; t++) {
		/* children follow their parent, so one forward pass sees every parent first */
		uint32_t base = m->roots[t], deepest = 0;
		depth[0] = 0;
		for (size_t i = 0; i < m->tree_nodes[t]; i++) {
			const struct model__node *n = &m->nodes[base + i];
			if (model__is_leaf(n)) {
				if (depth[i] > deepest)
					deepest = depth[i];
				continue;
			}
			depth[n->left - base] = depth[i] + 1;
			depth[n->right - base] = depth[i] + 1;
		}
		m->tree_depth[t] = deepest;
	}
	free(depth);
	return 0;
}

int model__meta_number(struct model *m, char which, const char *key, double v)
{
	cJSON *o = which == 'h' ? m->hyperparameters : m->training;
	return cJSON_AddNumberToObject(o, key, v) ? 0 : -1;
}

int model__meta_string(struct model *m, char which, const char *key, const char *v)
{
	cJSON *o = which == 'h' ? m->hyperparameters : m->training;
	return cJSON_AddStringToObject(o, key, v) ? 0 : -1;
}

int model__meta_seed(struct model *m, char which, const char *key, uint64_t seed)
{
	if (seed <= (UINT64_C(1) << 53))
		return model__meta_number(m, which, key, (double)seed);
	char buf[32];
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)seed);
	return model__meta_string(m, which, key, buf);
}

/* ---- loading ---- */

const struct model__limits model__limits_default = {
	.bytes = MODEL_MAX_FILE_BYTES,
	.values = MODEL_MAX_JSON_VALUES,
	.trees = MODEL_MAX_TREES,
	.nodes = MODEL_MAX_NODES,
};

/* Loader context: where messages go, and the caps. */
struct ld {
	const char *origin;               /* file name for messages */
	char *err;                        /* caller's buffer */
	size_t errlen;                    /* its size */
	const struct model__limits *lim;  /* what the file may hold at most */
};

__attribute__((format(printf, 3, 4)))
static int model__bad(struct ld *l, const char *path, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (path)
		snprintf(l->err, l->errlen, "%s: %s: %s", l->origin, path, msg);
	else
		snprintf(l->err, l->errlen, "%s: %s", l->origin, msg);
	/* Keys and strings quoted from the file may hold control characters
	 * (a "\n" in a JSON key): '?', so that the reason stays one line. */
	for (char *p = l->err; l->errlen && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return -1;
}

static const char *model__type_name(const cJSON *j)
{
	if (cJSON_IsString(j)) return "a string";
	if (cJSON_IsNumber(j)) return "a number";
	if (cJSON_IsObject(j)) return "an object";
	if (cJSON_IsArray(j)) return "an array";
	if (cJSON_IsBool(j)) return "a boolean";
	if (cJSON_IsNull(j)) return "null";
	return "an invalid value";
}

/* path.key and path[i] for messages; a path too long is cut, never overrun. */
static void model__path_key(char dst[PATHMAX], const char *path, const char *key)
{
	if (snprintf(dst, PATHMAX, "%s.%s", path, key) >= PATHMAX)
		dst[PATHMAX - 1] = '\0';
}

static void model__path_index(char dst[PATHMAX], const char *path, int i)
{
	if (snprintf(dst, PATHMAX, "%s[%d]", path, i) >= PATHMAX)
		dst[PATHMAX - 1] = '\0';
}

/* Reject keys outside allowed[] and duplicate keys. */
static int model__check_keys(struct ld *l, const cJSON *obj, const char *path,
			     const char *const *allowed, size_t nallowed)
{
	for (const cJSON *c = obj->child; c; c = c->next) {
		size_t i;
		for (i = 0; i < nallowed; i++)
			if (strcmp(c->string, allowed[i]) == 0)
				break;
		if (i == nallowed)
			return model__bad(l, path, "unknown key \"%s\"", c->string);
		for (const cJSON *p = obj->child; p != c; p = p->next)
			if (strcmp(p->string, c->string) == 0)
				return model__bad(l, path, "duplicate key \"%s\"", c->string);
	}
	return 0;
}

/* Find a required member; its path goes to kpath. */
static int model__need(struct ld *l, const cJSON *obj, const char *path, const char *key,
		       const cJSON **out, char kpath[PATHMAX])
{
	model__path_key(kpath, path, key);
	*out = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!*out)
		return model__bad(l, kpath, "missing");
	return 0;
}

static int model__want_type(struct ld *l, const cJSON *j, const char *path, int ok, const char *what)
{
	if (!ok)
		return model__bad(l, path, "expected %s, got %s", what, model__type_name(j));
	return 0;
}

static int model__get_finite(struct ld *l, const cJSON *j, const char *path, double *v)
{
	if (model__want_type(l, j, path, cJSON_IsNumber(j), "a number") < 0)
		return -1;
	if (!isfinite(j->valuedouble))
		return model__bad(l, path, "not a finite number");
	*v = j->valuedouble;
	return 0;
}

/* An integer-valued number within [lo, hi]; `range` describes it. */
static int model__get_int(struct ld *l, const cJSON *j, const char *path, long long lo,
			  long long hi, const char *range, long long *v)
{
	double d = 0;
	if (model__get_finite(l, j, path, &d) < 0)
		return -1;
	if (d != floor(d))
		return model__bad(l, path, "%.17g is not an integer", d);
	if (d < -9007199254740992.0 || d > 9007199254740992.0)
		return model__bad(l, path, "%.17g out of range (expected %s)", d, range);
	if ((long long)d < lo || (long long)d > hi)
		return model__bad(l, path, "%lld out of range (expected %s)", (long long)d, range);
	*v = (long long)d;
	return 0;
}

static int model__get_name(struct ld *l, const cJSON *j, const char *path, char dst[MODEL_NAME_MAX + 1])
{
	if (model__want_type(l, j, path, cJSON_IsString(j), "a string") < 0)
		return -1;
	size_t n = strlen(j->valuestring);
	if (n == 0)
		return model__bad(l, path, "empty name");
	if (n > MODEL_NAME_MAX)
		return model__bad(l, path, "name of %zu bytes (at most %d)", n, MODEL_NAME_MAX);
	memcpy(dst, j->valuestring, n + 1);
	return 0;
}

/* Free-form metadata: any JSON, but numbers must be finite so it saves back. */
static int model__check_meta(struct ld *l, const cJSON *j, const char *path)
{
	if (cJSON_IsNumber(j) && !isfinite(j->valuedouble))
		return model__bad(l, path, "not a finite number");
	int i = 0;
	for (const cJSON *c = j->child; c; c = c->next, i++) {
		char sub[PATHMAX];
		if (cJSON_IsObject(j))
			model__path_key(sub, path, c->string);
		else
			model__path_index(sub, path, i);
		if (model__check_meta(l, c, sub) < 0)
			return -1;
	}
	return 0;
}

/* One tree's nodes: validate and append to m->nodes (absolute indices). */
static int model__parse_tree(struct ld *l, struct model *m, const cJSON *tree, const char *tpath,
			     int32_t *parent)
{
	static const char *const tree_keys[] = {"nodes"};
	static const char *const split_keys[] = {"feature", "threshold", "left", "right"};
	static const char *const forest_leaf_keys[] = {"leaf"};
	static const char *const gbt_leaf_keys[] = {"value"};
	const cJSON *nodes, *j;
	char npath[PATHMAX], path[PATHMAX], kpath[PATHMAX];
	int forest = m->kind == MODEL_RANDOM_FOREST;
	const char *leaf_key = forest ? "leaf" : "value";

	if (model__want_type(l, tree, tpath, cJSON_IsObject(tree), "an object") < 0 ||
	    model__check_keys(l, tree, tpath, tree_keys, 1) < 0 ||
	    model__need(l, tree, tpath, "nodes", &nodes, npath) < 0 ||
	    model__want_type(l, nodes, npath, cJSON_IsArray(nodes), "an array") < 0)
		return -1;
	int nn = cJSON_GetArraySize(nodes);
	if (nn == 0)
		return model__bad(l, npath, "empty (a tree needs at least one node)");
	size_t base = m->nnodes;
	char range[64];
	snprintf(range, sizeof(range), "0..%zu", m->nfeatures - 1);
	for (int i = 0; i < nn; i++)
		parent[i] = -1;

	int i = 0;
	for (const cJSON *n = nodes->child; n; n = n->next, i++) {
		struct model__node *nd = &m->nodes[base + (size_t)i];
		memset(nd, 0, sizeof(*nd));
		model__path_index(path, npath, i);
		if (model__want_type(l, n, path, cJSON_IsObject(n), "an object") < 0)
			return -1;
		if (cJSON_GetObjectItemCaseSensitive(n, leaf_key)) {
			if (model__check_keys(l, n, path, forest ? forest_leaf_keys : gbt_leaf_keys, 1) < 0)
				return -1;
			j = cJSON_GetObjectItemCaseSensitive(n, leaf_key);
			model__path_key(kpath, path, leaf_key);
			nd->feature = 0;
			nd->left = nd->right = (uint32_t)(base + (size_t)i);
			if (!forest) {
				if (model__get_finite(l, j, kpath, &nd->value) < 0)
					return -1;
				continue;
			}
			if (model__want_type(l, j, kpath, cJSON_IsArray(j), "an array of class probabilities") < 0)
				return -1;
			int nv = cJSON_GetArraySize(j);
			if (nv != (int)m->nclasses)
				return model__bad(l, kpath, "%d values (expected %zu, one per class)", nv, m->nclasses);
			nd->leaf = (uint32_t)m->ndist;
			double sum = 0;
			int c = 0;
			for (const cJSON *v = j->child; v; v = v->next, c++) {
				char vpath[PATHMAX];
				double p = 0;
				model__path_index(vpath, kpath, c);
				if (model__get_finite(l, v, vpath, &p) < 0)
					return -1;
				if (p < 0 || p > 1)
					return model__bad(l, vpath, "probability %.17g outside 0..1", p);
				sum += p;
				m->dist[m->ndist++] = p;
			}
			if (fabs(sum - 1.0) > 1e-6)
				return model__bad(l, kpath, "probabilities sum to %g (expected 1)", sum);
			continue;
		}
		if (model__check_keys(l, n, path, split_keys, 4) < 0)
			return -1;
		long long f, ch[2];
		if (model__need(l, n, path, "feature", &j, kpath) < 0 ||
		    model__get_int(l, j, kpath, 0, (long long)m->nfeatures - 1, range, &f) < 0 ||
		    model__need(l, n, path, "threshold", &j, kpath) < 0 ||
		    model__get_finite(l, j, kpath, &nd->value) < 0)
			return -1;
		nd->feature = (uint32_t)f;
		for (int side = 0; side < 2; side++) {
			const char *key = side ? "right" : "left";
			if (model__need(l, n, path, key, &j, kpath) < 0 ||
			    model__get_int(l, j, kpath, LLONG_MIN, LLONG_MAX, "a node index", &ch[side]) < 0)
				return -1;
			long long c = ch[side];
			if (c < 0 || c >= nn)
				return model__bad(l, kpath, "index %lld out of range (tree has %d nodes)", c, nn);
			if (c <= i)
				return model__bad(l, kpath, "index %lld does not come after its parent %d (children must follow their parent)", c, i);
			if (parent[c] >= 0)
				return model__bad(l, kpath, "node %lld already has a parent (node %d)", c, parent[c]);
			parent[c] = i;
		}
		nd->left = (uint32_t)(base + (size_t)ch[0]);
		nd->right = (uint32_t)(base + (size_t)ch[1]);
	}
	for (i = 1; i < nn; i++)
		if (parent[i] < 0) {
			model__path_index(path, npath, i);
			return model__bad(l, path, "unreachable (no node links to it)");
		}
	m->roots[m->ntrees] = (uint32_t)base;
	m->tree_nodes[m->ntrees] = (size_t)nn;
	m->ntrees++;
	m->nnodes += (size_t)nn;
	return 0;
}

static int model__parse_trees(struct ld *l, struct model *m, const cJSON *root)
{
	const cJSON *trees;
	char path[PATHMAX], tpath[PATHMAX];
	int32_t *parent = NULL;
	int rc = -1;

	if (model__need(l, root, "$", "trees", &trees, path) < 0 ||
	    model__want_type(l, trees, path, cJSON_IsArray(trees), "an array") < 0)
		return -1;
	int nt = cJSON_GetArraySize(trees);
	if (nt == 0)
		return model__bad(l, path, "empty (expected at least one tree)");
	if ((size_t)nt > l->lim->trees)
		return model__bad(l, path, "%d trees (at most %zu)", nt, l->lim->trees);
	/* Size the arrays first; model__parse_tree checks each tree in detail. */
	size_t total = 0, biggest = 0;
	for (const cJSON *t = trees->child; t; t = t->next) {
		const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(t, "nodes");
		size_t nn = cJSON_IsArray(nodes) ? (size_t)cJSON_GetArraySize(nodes) : 0;
		total += nn;
		if (nn > biggest)
			biggest = nn;
	}
	/* The cap also keeps absolute node indices and dist offsets in 32 bits. */
	assert(l->lim->nodes <= UINT32_MAX / MODEL_MAX_CLASSES);
	if (total > l->lim->nodes)
		return model__bad(l, path, "%zu nodes in all trees (at most %zu: fewer trees or less depth)",
				  total, l->lim->nodes);
	m->roots = calloc((size_t)nt, sizeof(*m->roots));
	m->tree_nodes = calloc((size_t)nt, sizeof(*m->tree_nodes));
	m->nodes = calloc(total ? total : 1, sizeof(*m->nodes));
	parent = calloc(biggest ? biggest : 1, sizeof(*parent));
	if (m->kind == MODEL_RANDOM_FOREST)
		m->dist = calloc((total ? total : 1) * m->nclasses, sizeof(*m->dist));
	if (!m->roots || !m->tree_nodes || !m->nodes || !parent ||
	    (m->kind == MODEL_RANDOM_FOREST && !m->dist)) {
		model__bad(l, NULL, "out of memory");
		goto out;
	}
	int i = 0;
	for (const cJSON *t = trees->child; t; t = t->next, i++) {
		model__path_index(tpath, path, i);
		if (model__parse_tree(l, m, t, tpath, parent) < 0)
			goto out;
	}
	if (model__depths(m) < 0) {
		model__bad(l, NULL, "out of memory");
		goto out;
	}
	rc = 0;
out:
	free(parent);
	return rc;
}

/* Numbers of an array at path into dst (at most max; their count in *n). */
static int model__parse_numbers(struct ld *l, const cJSON *a, const char *path, size_t max,
				const char *what, double *dst, size_t *n)
{
	char ipath[PATHMAX];
	if (model__want_type(l, a, path, cJSON_IsArray(a), "an array") < 0)
		return -1;
	int cnt = cJSON_GetArraySize(a);
	if ((size_t)cnt > max)
		return model__bad(l, path, "%d %s (at most %zu)", cnt, what, max);
	int i = 0;
	for (const cJSON *v = a->child; v; v = v->next, i++) {
		model__path_index(ipath, path, i);
		if (model__get_finite(l, v, ipath, &dst[i]) < 0)
			return -1;
	}
	*n = (size_t)cnt;
	return 0;
}

static int model__parse_number_array(struct ld *l, const cJSON *root, const char *key, size_t want,
				     const char *per, double *dst)
{
	const cJSON *a;
	char path[PATHMAX];
	size_t got;
	if (model__need(l, root, "$", key, &a, path) < 0 ||
	    model__want_type(l, a, path, cJSON_IsArray(a), "an array") < 0)
		return -1;
	int n = cJSON_GetArraySize(a);
	if ((size_t)n != want)
		return model__bad(l, path, "%d values (expected %zu, one per %s)", n, want, per);
	return model__parse_numbers(l, a, path, want, "values", dst, &got);
}


/* The optional "input_histograms": one {"edges", "fractions"} per feature. */
static int model__parse_histograms(struct ld *l, struct model *m, const cJSON *root)
{
	static const char *const hist_keys[] = {"edges", "fractions"};
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "input_histograms"), *j;
	char path[PATHMAX], hpath[PATHMAX], kpath[PATHMAX], vpath[PATHMAX];

	if (!a)
		return 0;
	model__path_key(path, "$", "input_histograms");
	if (model__want_type(l, a, path, cJSON_IsArray(a), "an array") < 0)
		return -1;
	int nh = cJSON_GetArraySize(a);
	if ((size_t)nh != m->nfeatures)
		return model__bad(l, path, "%d histograms (expected %zu, one per feature)", nh, m->nfeatures);
	if (!(m->hist = calloc(m->nfeatures, sizeof *m->hist)))
		return model__bad(l, NULL, "out of memory");
	int i = 0;
	for (const cJSON *h = a->child; h; h = h->next, i++) {
		struct model__histogram *mh = &m->hist[i];
		size_t ne = 0, nfr = 0;
		model__path_index(hpath, path, i);
		if (model__want_type(l, h, hpath, cJSON_IsObject(h), "an object") < 0 ||
		    model__check_keys(l, h, hpath, hist_keys, 2) < 0 ||
		    model__need(l, h, hpath, "edges", &j, kpath) < 0 ||
		    model__parse_numbers(l, j, kpath, MODEL_HISTOGRAM_MAX_BINS - 1, "edges", mh->edges, &ne) < 0)
			return -1;
		for (size_t e = 1; e < ne; e++)
			if (!(mh->edges[e] > mh->edges[e - 1])) {
				model__path_index(vpath, kpath, (int)e);
				return model__bad(l, vpath, "%.17g is not above the edge before it (%.17g): "
						  "edges must increase", mh->edges[e], mh->edges[e - 1]);
			}
		if (model__need(l, h, hpath, "fractions", &j, kpath) < 0 ||
		    model__parse_numbers(l, j, kpath, MODEL_HISTOGRAM_MAX_BINS, "fractions", mh->fractions, &nfr) < 0)
			return -1;
		if (nfr != ne + 1)
			return model__bad(l, kpath, "%zu values (expected %zu: one per bin, %zu edges + 1)",
					  nfr, ne + 1, ne);
		double sum = 0;
		for (size_t b = 0; b < nfr; b++) {
			if (mh->fractions[b] < 0 || mh->fractions[b] > 1) {
				model__path_index(vpath, kpath, (int)b);
				return model__bad(l, vpath, "fraction %.17g outside 0..1", mh->fractions[b]);
			}
			sum += mh->fractions[b];
		}
		if (fabs(sum - 1.0) > 1e-6)
			return model__bad(l, kpath, "fractions sum to %g (expected 1)", sum);
		mh->bins = nfr;
	}
	return 0;
}

static int model__parse_root(struct ld *l, struct model *m, const cJSON *root)
{
	static const char *const forest_keys[] = {
		"format", "format_version", "kind", "name", "version", "features",
		"hyperparameters", "training", "classes", "split_input", "trees",
		"input_histograms"};
	static const char *const logreg_keys[] = {
		"format", "format_version", "kind", "name", "version", "features",
		"hyperparameters", "training", "classes", "intercept", "weights", "threshold",
		"input_histograms"};
	static const char *const gbt_keys[] = {
		"format", "format_version", "kind", "name", "version", "features",
		"hyperparameters", "training", "init", "tree_weights", "split_input", "trees",
		"input_histograms"};
	const cJSON *j;
	char path[PATHMAX], ipath[PATHMAX];
	long long v;

	if (model__want_type(l, root, "$", cJSON_IsObject(root), "an object") < 0)
		return -1;
	if (model__need(l, root, "$", "format", &j, path) < 0 ||
	    model__want_type(l, j, path, cJSON_IsString(j), "a string") < 0)
		return -1;
	if (strcmp(j->valuestring, MODEL__FORMAT) != 0)
		return model__bad(l, path, "\"%.64s\" is not a fieldgate model (expected \"%s\")",
				  j->valuestring, MODEL__FORMAT);
	if (model__need(l, root, "$", "format_version", &j, path) < 0 ||
	    model__get_int(l, j, path, 1, LLONG_MAX, ">= 1", &v) < 0)
		return -1;
	if (v != MODEL__FORMAT_VERSION)
		return model__bad(l, path, "unsupported format_version %lld (this build reads %d)",
				  v, MODEL__FORMAT_VERSION);
	if (model__need(l, root, "$", "kind", &j, path) < 0 ||
	    model__want_type(l, j, path, cJSON_IsString(j), "a string") < 0)
		return -1;
	if (strcmp(j->valuestring, kind_names[MODEL_RANDOM_FOREST]) == 0)
		m->kind = MODEL_RANDOM_FOREST;
	else if (strcmp(j->valuestring, kind_names[MODEL_LOGISTIC_REGRESSION]) == 0)
		m->kind = MODEL_LOGISTIC_REGRESSION;
	else if (strcmp(j->valuestring, kind_names[MODEL_GBT_REGRESSOR]) == 0)
		m->kind = MODEL_GBT_REGRESSOR;
	else
		return model__bad(l, path, "unknown kind \"%.64s\" (expected random_forest_classifier, "
				  "logistic_regression or gbt_regressor)", j->valuestring);
	if ((m->kind == MODEL_RANDOM_FOREST && model__check_keys(l, root, "$", forest_keys, sizeof forest_keys / sizeof forest_keys[0]) < 0) ||
	    (m->kind == MODEL_LOGISTIC_REGRESSION && model__check_keys(l, root, "$", logreg_keys, sizeof logreg_keys / sizeof logreg_keys[0]) < 0) ||
	    (m->kind == MODEL_GBT_REGRESSOR && model__check_keys(l, root, "$", gbt_keys, sizeof gbt_keys / sizeof gbt_keys[0]) < 0))
		return -1;
	if ((j = cJSON_GetObjectItemCaseSensitive(root, "split_input"))) {
		model__path_key(path, "$", "split_input");
		if (model__want_type(l, j, path, cJSON_IsString(j), "a string") < 0)
			return -1;
		if (strcmp(j->valuestring, "float32") == 0)
			m->split_f32 = 1;
		else if (strcmp(j->valuestring, "float64") != 0)
			return model__bad(l, path, "\"%.64s\" (expected \"float64\" or \"float32\")",
					  j->valuestring);
	}
	if (model__need(l, root, "$", "name", &j, path) < 0 || model__get_name(l, j, path, m->name) < 0)
		return -1;
	if (model__need(l, root, "$", "version", &j, path) < 0 ||
	    model__get_int(l, j, path, 1, INT32_MAX, ">= 1", &v) < 0)
		return -1;
	m->version = (int)v;

	if (model__need(l, root, "$", "features", &j, path) < 0 ||
	    model__want_type(l, j, path, cJSON_IsArray(j), "an array of names") < 0)
		return -1;
	int nf = cJSON_GetArraySize(j);
	if (nf < 1 || nf > MODEL_MAX_FEATURES)
		return model__bad(l, path, "%d features (expected 1..%d)", nf, MODEL_MAX_FEATURES);
	m->nfeatures = (size_t)nf;
	int i = 0;
	for (const cJSON *f = j->child; f; f = f->next, i++) {
		model__path_index(ipath, path, i);
		if (model__get_name(l, f, ipath, m->features[i]) < 0)
			return -1;
		for (int k = 0; k < i; k++)
			if (strcmp(m->features[k], m->features[i]) == 0)
				return model__bad(l, ipath, "duplicate feature \"%s\"", m->features[i]);
	}

	if (model__need(l, root, "$", "hyperparameters", &j, path) < 0 ||
	    model__want_type(l, j, path, cJSON_IsObject(j), "an object") < 0 ||
	    model__check_meta(l, j, path) < 0)
		return -1;
	if (!(m->hyperparameters = cJSON_Duplicate(j, 1)))
		return model__bad(l, NULL, "out of memory");
	const cJSON *tr;
	if (model__need(l, root, "$", "training", &tr, path) < 0 ||
	    model__want_type(l, tr, path, cJSON_IsObject(tr), "an object") < 0 ||
	    model__check_meta(l, tr, path) < 0 ||
	    model__need(l, tr, path, "rows", &j, ipath) < 0 ||
	    model__get_int(l, j, ipath, 0, LLONG_MAX, ">= 0", &v) < 0)
		return -1;
	j = cJSON_GetObjectItemCaseSensitive(tr, "data_source");
	model__path_key(ipath, path, "data_source");
	if (j && model__want_type(l, j, ipath, cJSON_IsString(j), "a string") < 0)
		return -1;
	if (!(m->training = cJSON_Duplicate(tr, 1)))
		return model__bad(l, NULL, "out of memory");
	if (model__parse_histograms(l, m, root) < 0)
		return -1;

	switch (m->kind) {
	case MODEL_RANDOM_FOREST:
		if (model__need(l, root, "$", "classes", &j, path) < 0 ||
		    model__get_int(l, j, path, 2, MODEL_MAX_CLASSES, "2..8", &v) < 0)
			return -1;
		m->nclasses = (size_t)v;
		return model__parse_trees(l, m, root);
	case MODEL_LOGISTIC_REGRESSION:
		if (model__need(l, root, "$", "classes", &j, path) < 0 ||
		    model__get_int(l, j, path, 2, 2, "2: logistic regression is binary", &v) < 0)
			return -1;
		m->nclasses = 2;
		if (model__need(l, root, "$", "intercept", &j, path) < 0 ||
		    model__get_finite(l, j, path, &m->intercept) < 0)
			return -1;
		m->threshold = 0.5;
		if ((j = cJSON_GetObjectItemCaseSensitive(root, "threshold"))) {
			model__path_key(path, "$", "threshold");
			if (model__get_finite(l, j, path, &m->threshold) < 0)
				return -1;
			if (!(m->threshold > 0 && m->threshold < 1))
				return model__bad(l, path, "%.17g outside (0, 1)", m->threshold);
		}
		return model__parse_number_array(l, root, "weights", m->nfeatures, "feature", m->weights);
	case MODEL_GBT_REGRESSOR:
		if (model__need(l, root, "$", "init", &j, path) < 0 ||
		    model__get_finite(l, j, path, &m->init) < 0)
			return -1;
		if (model__parse_trees(l, m, root) < 0)
			return -1;
		m->tree_weights = calloc(m->ntrees, sizeof(*m->tree_weights));
		if (!m->tree_weights)
			return model__bad(l, NULL, "out of memory");
		return model__parse_number_array(l, root, "tree_weights", m->ntrees, "tree", m->tree_weights);
	}
	return model__bad(l, "$.kind", "unknown kind");
}

/*
 * An upper bound on the JSON values in text: every value but the first
 * follows a comma or opens a container's first slot, so values <= 1 +
 * commas + '[' + '{', counted outside strings. Stops counting past max.
 */
static size_t model__count_values(const char *text, size_t len, size_t max)
{
	size_t n = 1;
	int in_string = 0;

	for (size_t i = 0; i < len && n <= max; i++) {
		char c = text[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = 0;
		} else if (c == '"') {
			in_string = 1;
		} else if (c == ',' || c == '[' || c == '{') {
			n++;
		}
	}
	return n;
}

int model_parse(struct model **out, const char *json, size_t len,
		const char *origin, char *err, size_t errlen)
{
	return model__parse_limited(out, json, len, origin, &model__limits_default, err, errlen);
}

int model__parse_limited(struct model **out, const char *json, size_t len, const char *origin,
			 const struct model__limits *lim, char *err, size_t errlen)
{
	struct ld l = {.origin = origin ? origin : "(model)", .err = err, .errlen = errlen, .lim = lim};
	struct model *m = NULL;
	cJSON *root = NULL;
	char *buf = NULL;
	size_t i;

	*out = NULL;
	for (i = 0; i < len; i++)
		if (json[i] != ' ' && json[i] != '\t' && json[i] != '\n' && json[i] != '\r')
			break;
	if (i == len) {
		model__bad(&l, NULL, len ? "not JSON: only white space" : "empty file");
		goto fail;
	}
	if (len > lim->bytes) {
		model__bad(&l, NULL, "%zu bytes (a model file has at most %zu, %zu MiB)", len, lim->bytes,
			   lim->bytes >> 20);
		goto fail;
	}
	/* Before cJSON allocates a tree of them. */
	if (model__count_values(json, len, lim->values) > lim->values) {
		model__bad(&l, NULL, "more than %zu JSON values (a model file has at most %zu: "
			   "fewer trees or less depth)", lim->values, lim->values);
		goto fail;
	}
	/* cJSON wants the terminating NUL inside the length to accept the end. */
	buf = malloc(len + 1);
	if (!buf) {
		model__bad(&l, NULL, "out of memory");
		goto fail;
	}
	memcpy(buf, json, len);
	buf[len] = '\0';
	const char *end = NULL;
	root = cJSON_ParseWithLengthOpts(buf, len + 1, &end, 1);
	if (!root) {
		size_t at = end ? (size_t)(end - buf) : 0;
		if (at >= len)
			model__bad(&l, NULL, "not JSON: unexpected end of input at byte %zu (truncated?)", len);
		else
			model__bad(&l, NULL, "not JSON: parse error near byte %zu", at);
		goto fail;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		model__bad(&l, NULL, "out of memory");
		goto fail;
	}
	if (model__parse_root(&l, m, root) < 0)
		goto fail;
	cJSON_Delete(root);
	free(buf);
	*out = m;
	return 0;
fail:
	cJSON_Delete(root);
	free(buf);
	model_free(&m);
	return -1;
}

int model_load(struct model **out, const char *path, char *err, size_t errlen)
{
	const size_t max = model__limits_default.bytes;
	struct stat st;
	FILE *f = NULL;
	char *buf = NULL;
	size_t len = 0, cap;
	int rc = -1;

	*out = NULL;
	f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		goto out;
	}
	/* A regular file too big is refused unread; anything else (a pipe, a
	 * file still growing) is read up to one byte past the cap. */
	cap = 65536;
	if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode)) {
		if ((unsigned long long)st.st_size > max) {
			snprintf(err, errlen, "%s: %lld bytes (a model file has at most %zu, %zu MiB)", path,
				 (long long)st.st_size, max, max >> 20);
			goto out;
		}
		cap = (size_t)st.st_size + 1;
	}
	for (;;) {
		if (len == cap || !buf) {
			size_t ncap = !buf ? cap : cap * 2 > max + 1 ? max + 1 : cap * 2;
			char *nb = realloc(buf, ncap);
			if (!nb) {
				snprintf(err, errlen, "%s: out of memory", path);
				goto out;
			}
			buf = nb;
			cap = ncap;
		}
		size_t got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (len > max) {
			snprintf(err, errlen, "%s: more than %zu bytes (a model file has at most %zu, %zu MiB)",
				 path, max, max, max >> 20);
			goto out;
		}
		if (got == 0) {
			if (ferror(f)) {
				snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
				goto out;
			}
			break;
		}
	}
	rc = model_parse(out, buf, len, path, err, errlen);
out:
	if (f)
		fclose(f);
	free(buf);
	return rc;
}

/* ---- saving ---- */

/* Growable output text. */
struct sbuf {
	char *p;      /* text, NUL-terminated while oom == 0 */
	size_t len;   /* bytes used */
	size_t cap;   /* bytes allocated */
	int oom;      /* an allocation failed; the text is incomplete */
};

static void model__sb_put(struct sbuf *s, const char *t, size_t n)
{
	if (s->oom)
		return;
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->len + n + 1)
			cap *= 2;
		char *np = realloc(s->p, cap);
		if (!np) {
			s->oom = 1;
			return;
		}
		s->p = np;
		s->cap = cap;
	}
	memcpy(s->p + s->len, t, n);
	s->len += n;
	s->p[s->len] = '\0';
}

static void model__sb_str(struct sbuf *s, const char *t)
{
	model__sb_put(s, t, strlen(t));
}

/* Shortest "%.Ng" (N = 15..17) that strtod reads back as exactly d. */
static void model__format_double(char out[40], double d)
{
	if (d == floor(d) && fabs(d) < 1e15) {
		snprintf(out, 40, "%.0f", d);
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(out, 40, "%.*g", prec, d);
		if (strtod(out, NULL) == d)
			return;
	}
}

static void model__emit_string(struct sbuf *s, const char *t)
{
	model__sb_put(s, "\"", 1);
	for (; *t; t++) {
		unsigned char c = (unsigned char)*t;
		char esc[8];
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			model__sb_put(s, esc, 2);
		} else if (c == '\n') {
			model__sb_str(s, "\\n");
		} else if (c == '\t') {
			model__sb_str(s, "\\t");
		} else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			model__sb_str(s, esc);
		} else {
			model__sb_put(s, t, 1);
		}
	}
	model__sb_put(s, "\"", 1);
}

static void model__emit_compact(struct sbuf *s, const cJSON *j)
{
	if (cJSON_IsNumber(j)) {
		char num[40];
		model__format_double(num, j->valuedouble);
		model__sb_str(s, num);
	} else if (cJSON_IsString(j)) {
		model__emit_string(s, j->valuestring);
	} else if (cJSON_IsBool(j)) {
		model__sb_str(s, cJSON_IsTrue(j) ? "true" : "false");
	} else if (cJSON_IsArray(j) || cJSON_IsObject(j)) {
		int obj = cJSON_IsObject(j);
		model__sb_str(s, obj ? "{" : "[");
		for (const cJSON *c = j->child; c; c = c->next) {
			if (obj) {
				model__emit_string(s, c->string);
				model__sb_str(s, ":");
			}
			model__emit_compact(s, c);
			if (c->next)
				model__sb_str(s, ",");
		}
		model__sb_str(s, obj ? "}" : "]");
	} else {
		model__sb_str(s, "null");
	}
}

/* Containers that fit on a line stay on one line (one tree node per line). */
static void model__emit_pretty(struct sbuf *s, const cJSON *j, int indent)
{
	struct sbuf one = {0};
	model__emit_compact(&one, j);
	if (one.oom) {
		s->oom = 1;
	} else if (!(cJSON_IsArray(j) || cJSON_IsObject(j)) || !j->child ||
		   one.len + (size_t)indent <= 100) {
		model__sb_put(s, one.p, one.len);
	} else {
		int obj = cJSON_IsObject(j);
		model__sb_str(s, obj ? "{\n" : "[\n");
		for (const cJSON *c = j->child; c; c = c->next) {
			for (int i = 0; i < indent + 2; i++)
				model__sb_put(s, " ", 1);
			if (obj) {
				model__emit_string(s, c->string);
				model__sb_str(s, ": ");
			}
			model__emit_pretty(s, c, indent + 2);
			model__sb_str(s, c->next ? ",\n" : "\n");
		}
		for (int i = 0; i < indent; i++)
			model__sb_put(s, " ", 1);
		model__sb_str(s, obj ? "}" : "]");
	}
	free(one.p);
}

/* "input_histograms" into root, when m has them. Returns 1 or 0 (out of memory). */
static int model__histograms_to_json(const struct model *m, cJSON *root)
{
	cJSON *a, *h, *e, *f;
	if (!m->hist)
		return 1;
	if (!(a = cJSON_AddArrayToObject(root, "input_histograms")))
		return 0;
	for (size_t j = 0; j < m->nfeatures; j++) {
		const struct model__histogram *mh = &m->hist[j];
		if (!(h = cJSON_CreateObject()) || !cJSON_AddItemToArray(a, h) ||
		    !(e = cJSON_AddArrayToObject(h, "edges")) || !(f = cJSON_AddArrayToObject(h, "fractions")))
			return 0;
		for (size_t b = 0; b + 1 < mh->bins; b++)
			if (!cJSON_AddItemToArray(e, cJSON_CreateNumber(mh->edges[b])))
				return 0;
		for (size_t b = 0; b < mh->bins; b++)
			if (!cJSON_AddItemToArray(f, cJSON_CreateNumber(mh->fractions[b])))
				return 0;
	}
	return 1;
}

/* The model as a cJSON tree in the file's key order. */
static cJSON *model__to_json(const struct model *m)
{
	cJSON *root = cJSON_CreateObject(), *a, *o;
	int ok = root != NULL;

	ok = ok && cJSON_AddStringToObject(root, "format", MODEL__FORMAT);
	ok = ok && cJSON_AddNumberToObject(root, "format_version", MODEL__FORMAT_VERSION);
	ok = ok && cJSON_AddStringToObject(root, "kind", kind_names[m->kind]);
	ok = ok && cJSON_AddStringToObject(root, "name", m->name);
	ok = ok && cJSON_AddNumberToObject(root, "version", m->version);
	ok = ok && (a = cJSON_AddArrayToObject(root, "features"));
	for (size_t i = 0; ok && i < m->nfeatures; i++)
		ok = cJSON_AddItemToArray(a, cJSON_CreateString(m->features[i]));
	ok = ok && (o = cJSON_Duplicate(m->hyperparameters, 1)) &&
	     cJSON_AddItemToObject(root, "hyperparameters", o);
	ok = ok && (o = cJSON_Duplicate(m->training, 1)) &&
	     cJSON_AddItemToObject(root, "training", o);
	ok = ok && model__histograms_to_json(m, root);
	if (m->kind != MODEL_GBT_REGRESSOR)
		ok = ok && cJSON_AddNumberToObject(root, "classes", (double)m->nclasses);
	if (m->kind == MODEL_LOGISTIC_REGRESSION) {
		ok = ok && cJSON_AddNumberToObject(root, "intercept", m->intercept);
		ok = ok && (a = cJSON_AddArrayToObject(root, "weights"));
		for (size_t i = 0; ok && i < m->nfeatures; i++)
			ok = cJSON_AddItemToArray(a, cJSON_CreateNumber(m->weights[i]));
		if (m->threshold != 0.5)
			ok = ok && cJSON_AddNumberToObject(root, "threshold", m->threshold);
		goto done;
	}
	if (m->kind == MODEL_GBT_REGRESSOR) {
		ok = ok && cJSON_AddNumberToObject(root, "init", m->init);
		ok = ok && (a = cJSON_AddArrayToObject(root, "tree_weights"));
		for (size_t t = 0; ok && t < m->ntrees; t++)
			ok = cJSON_AddItemToArray(a, cJSON_CreateNumber(m->tree_weights[t]));
	}
	/* Written only when set, so our own models keep their bytes. */
	if (m->split_f32)
		ok = ok && cJSON_AddStringToObject(root, "split_input", "float32");
	cJSON *trees = NULL;
	ok = ok && (trees = cJSON_AddArrayToObject(root, "trees"));
	for (size_t t = 0; ok && t < m->ntrees; t++) {
		cJSON *tree = cJSON_CreateObject(), *nodes = NULL;
		ok = tree && cJSON_AddItemToArray(trees, tree) &&
		     (nodes = cJSON_AddArrayToObject(tree, "nodes"));
		uint32_t base = m->roots[t];
		for (size_t i = 0; ok && i < m->tree_nodes[t]; i++) {
			const struct model__node *nd = &m->nodes[base + i];
			cJSON *n = cJSON_CreateObject();
			ok = n && cJSON_AddItemToArray(nodes, n);
			if (ok && !model__is_leaf(nd)) {
				ok = cJSON_AddNumberToObject(n, "feature", nd->feature) &&
				     cJSON_AddNumberToObject(n, "threshold", nd->value) &&
				     cJSON_AddNumberToObject(n, "left", nd->left - base) &&
				     cJSON_AddNumberToObject(n, "right", nd->right - base);
			} else if (ok && m->kind == MODEL_GBT_REGRESSOR) {
				ok = cJSON_AddNumberToObject(n, "value", nd->value) != NULL;
			} else if (ok) {
				ok = (a = cJSON_AddArrayToObject(n, "leaf")) != NULL;
				for (size_t c = 0; ok && c < m->nclasses; c++)
					ok = cJSON_AddItemToArray(a, cJSON_CreateNumber(m->dist[nd->leaf + c]));
			}
		}
	}
done:
	if (!ok) {
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

int model_save(const struct model *m, const char *path, char *err, size_t errlen)
{
	struct sbuf s = {0};
	cJSON *root = NULL;
	char *tmp = NULL;
	int fd = -1, rc = -1;

	root = model__to_json(m);
	if (!root) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	model__emit_pretty(&s, root, 0);
	model__sb_str(&s, "\n");
	if (s.oom) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	size_t tl = strlen(path) + 16;
	tmp = malloc(tl);
	if (!tmp) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	snprintf(tmp, tl, "%s.tmp-XXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot create a temporary file: %s", path, strerror(errno));
		free(tmp);
		tmp = NULL;
		goto fail;
	}
	if (fchmod(fd, 0644) < 0)
		goto ioerr;
	for (size_t off = 0; off < s.len;) {
		ssize_t w = write(fd, s.p + off, s.len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto ioerr;
		off += (size_t)w;
	}
	if (fsync(fd) < 0)
		goto ioerr;
	if (close(fd) < 0) {
		fd = -1;
		goto ioerr;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto ioerr;
	free(tmp);
	tmp = NULL;
	rc = 0;
	goto out;
ioerr:
	snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
fail:
out:
	if (fd >= 0)
		close(fd);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	cJSON_Delete(root);
	free(s.p);
	return rc;
}

'use strict';
/*
 * score.js - fieldgate's features and its three models in plain JavaScript,
 * for the Node-RED peer of `make compare` (the function node of flow.json
 * and score_cli.js both use this one module, so the parity check runs the
 * code the flow runs).
 *
 *   const { createScorer } = require('./score.js');
 *   const s = createScorer('/path/to/prep/models');  // the fieldgate JSON files
 *   const p = s.score(reading);  // reading: the parsed JSON object
 *   // p = {status, status_probability, anomaly, anomaly_probability,
 *   //      humidity, humidity_residual}
 *
 * It reproduces, operation for operation where the result depends on it:
 *   agent/features.c  per-sensor rolling state (a 10-slot ring summed in slot
 *                     order, sample std, EWMA alpha 0.02, repeat count capped
 *                     at 50, hour_sin/hour_cos from hour + minutes/60);
 *   models/model.c    model_predict(): "split_input": "float32" rounds each
 *                     feature once with Math.fround, then x <= threshold goes
 *                     left (NaN right); forest = mean of leaf distributions
 *                     summed in tree order, argmax ties to the lowest class;
 *                     logistic regression = intercept + sum w*x in feature
 *                     order, fieldgate's two-branch sigmoid, P >= threshold;
 *                     GBT = init + sum tree_weight*leaf in tree order.
 * Differences left: per-sensor state is not capped at 100,000 sensors (no
 * eviction; the comparison has 100 sensors), and Math.sin/Math.cos (V8's
 * fdlibm) may differ from glibc's in the last bit, which can only matter
 * for a hour_sin/hour_cos sitting exactly on a float32 rounding boundary.
 */
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

const FILES = {
	status: 'status_predictor.json',
	anomaly: 'anomaly_detector.json',
	humidity: 'humidity_regressor.json',
};
const KINDS = {
	status: 'random_forest_classifier',
	anomaly: 'logistic_regression',
	humidity: 'gbt_regressor',
};

/* The catalogue, in agent/features.h order. */
const CATALOGUE = [
	'temperature', 'humidity', 'hour_of_day', 'day_of_week', 'hour_sin', 'hour_cos',
	'lat', 'lon', 'temp_mean_10', 'temp_std_10', 'temp_dev_10', 'temp_abs_dev_10',
	'temp_diff_prev', 'temp_abs_diff_prev', 'temp_repeat', 'temp_is_repeat',
	'temp_ewma_abs_dev', 'humidity_mean_10',
];
const F = Object.fromEntries(CATALOGUE.map((n, i) => [n, i]));
const WINDOW = 10;
const EWMA_ALPHA = 0.02;
const REPEAT_CAP = 50;
const DAY_MS = 86400000;

/* ---- models ---- */

function fail(file, msg) {
	throw new Error(`${file}: ${msg}`);
}

/* Flatten a model's trees into typed arrays: node i of all trees together. */
function flattenTrees(m, file, forest) {
	let total = 0;
	for (const t of m.trees) total += t.nodes.length;
	const feat = new Int32Array(total), left = new Int32Array(total), right = new Int32Array(total);
	const thr = new Float64Array(total), val = new Float64Array(total);
	const roots = new Int32Array(m.trees.length);
	const k = forest ? m.classes : 0;
	const dist = forest ? new Float64Array(total * k) : null;
	let base = 0;
	m.trees.forEach((t, ti) => {
		roots[ti] = base;
		t.nodes.forEach((n, j) => {
			const i = base + j;
			if (n.leaf !== undefined || n.value !== undefined) {
				feat[i] = -1;
				if (forest) {
					if (!Array.isArray(n.leaf) || n.leaf.length !== k)
						fail(file, `$.trees[${ti}].nodes[${j}]: leaf needs ${k} probabilities`);
					for (let c = 0; c < k; c++) dist[i * k + c] = n.leaf[c];
				} else {
					val[i] = n.value;
				}
			} else {
				if (!(n.feature >= 0 && n.feature < m.features.length))
					fail(file, `$.trees[${ti}].nodes[${j}].feature: ${n.feature} out of range`);
				if (!(n.left > j && n.right > j && n.left < t.nodes.length && n.right < t.nodes.length))
					fail(file, `$.trees[${ti}].nodes[${j}]: children must follow their parent inside the tree`);
				feat[i] = n.feature;
				thr[i] = n.threshold;
				left[i] = base + n.left;
				right[i] = base + n.right;
			}
		});
		base += t.nodes.length;
	});
	return { feat, thr, left, right, val, dist, roots, k };
}

function loadModel(dir, slot, manifest) {
	const file = path.join(dir, FILES[slot]);
	let buf;
	try {
		buf = fs.readFileSync(file);
	} catch (e) {
		throw new Error(`${file}: cannot read: ${e.message}`);
	}
	if (manifest) {
		const want = manifest.get(FILES[slot]);
		if (!want)
			fail(file, `not listed in ${dir}/SHA256SUMS (the set is sealed: reseal it with fieldgate models seal)`);
		if (crypto.createHash('sha256').update(buf).digest('hex') !== want)
			fail(file, 'does not match SHA256SUMS (a set half-copied, or a file changed after the set was sealed)');
	}
	let m;
	try {
		m = JSON.parse(buf.toString('utf8'));
	} catch (e) {
		fail(file, `not JSON: ${e.message}`);
	}
	if (m.format !== 'fieldgate-model' || m.format_version !== 1)
		fail(file, 'not a fieldgate model file (format_version 1)');
	if (m.kind !== KINDS[slot]) fail(file, `kind ${m.kind}, expected ${KINDS[slot]}`);
	const map = m.features.map((n) => {
		if (!(n in F)) fail(file, `feature "${n}" is not in the catalogue (known: ${CATALOGUE.join(', ')})`);
		return F[n];
	});
	const out = {
		kind: m.kind, label: `${m.name}@${m.version}`, map,
		f32: m.split_input === 'float32', x: new Float64Array(map.length),
	};
	if (slot === 'status') {
		if (m.classes !== 3) fail(file, `${m.classes} classes, expected 3 (normal, warning, fault)`);
		out.t = flattenTrees(m, file, true);
		out.ntrees = m.trees.length;
	} else if (slot === 'humidity') {
		out.t = flattenTrees(m, file, false);
		out.ntrees = m.trees.length;
		out.init = m.init;
		out.tw = Float64Array.from(m.tree_weights);
		if (out.tw.length !== out.ntrees) fail(file, '$.tree_weights: one weight per tree expected');
	} else {
		out.intercept = m.intercept;
		out.w = Float64Array.from(m.weights);
		if (out.w.length !== map.length) fail(file, '$.weights: one weight per feature expected');
		out.threshold = m.threshold === undefined ? 0.5 : m.threshold;
	}
	return out;
}

function readManifest(dir) {
	let text;
	try {
		text = fs.readFileSync(path.join(dir, 'SHA256SUMS'), 'utf8');
	} catch (e) {
		if (e.code === 'ENOENT') return null;
		throw new Error(`${dir}/SHA256SUMS: cannot read: ${e.message}`);
	}
	const m = new Map();
	for (const line of text.split('\n')) {
		const r = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
		if (r) m.set(r[2], r[1]);
	}
	return m;
}

/* The leaf node index tree `root` sends x to. */
function walk(t, root, x) {
	const { feat, thr, left, right } = t;
	let i = root;
	let f;
	while ((f = feat[i]) >= 0) i = x[f] <= thr[i] ? left[i] : right[i];
	return i;
}

function gather(m, feats) {
	const x = m.x, map = m.map;
	if (m.f32) for (let j = 0; j < map.length; j++) x[j] = Math.fround(feats[map[j]]);
	else for (let j = 0; j < map.length; j++) x[j] = feats[map[j]];
	return x;
}

function sigmoid(z) {
	if (z >= 0) return 1.0 / (1.0 + Math.exp(-z));
	const e = Math.exp(z);
	return e / (1.0 + e);
}

/* ---- features (agent/features.c) ---- */

function timestampMs(r) {
	const v = r.timestamp;
	if (v === undefined || v === null) return Date.now();
	if (typeof v === 'number') {
		if (!Number.isInteger(v)) throw new Error(`timestamp: ${v} is not an integer (expected epoch milliseconds)`);
		return v;
	}
	if (typeof v === 'string') {
		if (/^[0-9]+$/.test(v)) return Number(v);
		const ms = Date.parse(v);
		if (Number.isNaN(ms)) throw new Error(`timestamp: "${v}" is not an RFC 3339 time or epoch milliseconds`);
		return ms;
	}
	throw new Error(`timestamp: expected a number or a string, got ${typeof v}`);
}

function num(r, k, lo, hi, unit) {
	const v = r[k];
	if (v === undefined || v === null) throw new Error(`${k}: missing (required)`);
	if (typeof v !== 'number') throw new Error(`${k}: expected a number, got ${typeof v}`);
	if (!(v >= lo && v <= hi)) throw new Error(`${k}: ${v}${unit} outside ${lo}..${hi}`);
	return v;
}

class Features {
	constructor() {
		this.sensors = new Map();
		this.out = new Float64Array(CATALOGUE.length);
	}

	/* Every catalogue feature of r (already validated) into this.out, then
	 * remember r in its sensor's history. */
	compute(id, t, h, ts, hourOfDay, dayOfWeek, lat, lon) {
		const out = this.out;
		let s = this.sensors.get(id);
		if (!s) {
			s = { temp: new Float64Array(WINDOW), hum: new Float64Array(WINDOW), count: 0, head: 0, repeat: 0, ewma: 0 };
			this.sensors.set(id, s);
		}
		const hour = hourOfDay + (Math.trunc(ts / 60000) % 60) / 60.0;
		out[F.temperature] = t;
		out[F.humidity] = h;
		out[F.hour_of_day] = hourOfDay;
		out[F.day_of_week] = dayOfWeek;
		out[F.hour_sin] = Math.sin(2.0 * Math.PI * hour / 24.0);
		out[F.hour_cos] = Math.cos(2.0 * Math.PI * hour / 24.0);
		out[F.lat] = lat;
		out[F.lon] = lon;
		const n = s.count < WINDOW ? s.count : WINDOW;
		if (n === 0) {
			out[F.temp_mean_10] = t;
			out[F.temp_std_10] = 0.0;
			out[F.temp_diff_prev] = 0.0;
			out[F.temp_repeat] = 0.0;
			out[F.temp_ewma_abs_dev] = 0.0;
			out[F.humidity_mean_10] = h;
		} else {
			let st = 0, sh = 0, ss = 0;
			const last = (s.head + WINDOW - 1) % WINDOW;
			for (let i = 0; i < n; i++) {
				st += s.temp[i];
				sh += s.hum[i];
			}
			const mean = st / n;
			for (let i = 0; i < n; i++) ss += (s.temp[i] - mean) * (s.temp[i] - mean);
			out[F.temp_mean_10] = mean;
			out[F.temp_std_10] = n > 1 ? Math.sqrt(ss / (n - 1)) : 0.0;
			out[F.temp_diff_prev] = t - s.temp[last];
			out[F.temp_repeat] = t === s.temp[last] ? s.repeat + 1 : 0.0;
			out[F.temp_ewma_abs_dev] = Math.abs(t - s.ewma);
			out[F.humidity_mean_10] = sh / n;
		}
		out[F.temp_dev_10] = t - out[F.temp_mean_10];
		out[F.temp_abs_dev_10] = Math.abs(out[F.temp_dev_10]);
		out[F.temp_abs_diff_prev] = Math.abs(out[F.temp_diff_prev]);
		out[F.temp_is_repeat] = out[F.temp_repeat] > 0 ? 1.0 : 0.0;
		if (out[F.temp_repeat] > REPEAT_CAP) out[F.temp_repeat] = REPEAT_CAP;

		s.repeat = out[F.temp_repeat] > 0 ? out[F.temp_repeat] : 0;
		s.ewma = s.count === 0 ? t : s.ewma + EWMA_ALPHA * (t - s.ewma);
		s.temp[s.head] = t;
		s.hum[s.head] = h;
		s.head = (s.head + 1) % WINDOW;
		s.count++;
		return out;
	}
}

/* ---- the scorer ---- */

function createScorer(dir) {
	const manifest = readManifest(dir);
	const st = loadModel(dir, 'status', manifest);
	const an = loadModel(dir, 'anomaly', manifest);
	const hu = loadModel(dir, 'humidity', manifest);
	const features = new Features();
	const k = st.t.k;
	const acc = new Float64Array(k);

	/* Decode what reading_decode() checks, in its words, then score. Throws
	 * an Error naming the field for a reading fieldgate would reject. */
	function score(r) {
		if (r === null || typeof r !== 'object' || Array.isArray(r)) throw new Error('reading: not a JSON object');
		const id = r.sensor_id;
		if (typeof id !== 'string' || id === '') throw new Error('sensor_id: missing or not a non-empty string');
		const t = num(r, 'temperature', -60, 150, ' °C');
		const h = num(r, 'humidity', 0, 100, ' %RH');
		const ts = timestampMs(r);
		const days = Math.floor(ts / DAY_MS);
		let hod = Math.floor((ts - days * DAY_MS) / 3600000);
		let dow = ((days + 3) % 7 + 7) % 7;
		if (r.hour_of_day !== undefined && r.hour_of_day !== null) hod = r.hour_of_day;
		if (r.day_of_week !== undefined && r.day_of_week !== null) dow = r.day_of_week;
		const geo = r.lat !== undefined && r.lat !== null;
		const feats = features.compute(id, t, h, ts, hod, dow, geo ? r.lat : 0.0, geo ? r.lon : 0.0);

		/* status: random forest */
		let x = gather(st, feats);
		acc.fill(0);
		const T = st.t;
		for (let i = 0; i < st.ntrees; i++) {
			const leaf = walk(T, T.roots[i], x) * k;
			for (let c = 0; c < k; c++) acc[c] += T.dist[leaf + c];
		}
		let best = 0;
		for (let c = 0; c < k; c++) {
			acc[c] = acc[c] / st.ntrees;
			if (acc[c] > acc[best]) best = c;
		}
		/* anomaly: logistic regression */
		x = gather(an, feats);
		let z = an.intercept;
		for (let j = 0; j < x.length; j++) z += an.w[j] * x[j];
		const p = sigmoid(z);
		/* humidity: gradient-boosted trees */
		x = gather(hu, feats);
		let v = hu.init;
		const G = hu.t;
		for (let i = 0; i < hu.ntrees; i++) v += hu.tw[i] * G.val[walk(G, G.roots[i], x)];
		return {
			status: best,
			status_probability: acc[best],
			anomaly: p >= an.threshold,
			anomaly_probability: p,
			humidity: v,
			humidity_residual: h - v,
		};
	}

	return {
		score,
		timestampMs,
		models: { status: st.label, anomaly: an.label, humidity: hu.label },
		sensors: () => features.sensors.size,
	};
}

module.exports = { createScorer, timestampMs, CATALOGUE };

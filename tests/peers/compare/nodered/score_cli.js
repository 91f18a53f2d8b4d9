#!/usr/bin/env node
'use strict';
/*
 * score_cli.js - the peer contract's `score` mode for the Node-RED peer:
 *   node score_cli.js --models OUT < readings.jsonl > predictions.jsonl
 * OUT is the prep directory (its models/ holds fieldgate's JSON model files)
 * or that models directory itself. One JSON line out per reading in:
 *   {"sensor_id":..., "timestamp": <epoch ms>, "prediction": {...}}
 * computed by score.js, the module the flow's function node runs. A line that
 * is not a valid reading is reported on stderr (line number and reason) and
 * skipped; the exit status is then 1.
 */
const fs = require('fs');
const path = require('path');
const readline = require('readline');
const { createScorer } = require('./score.js');

function usage(msg) {
	if (msg) process.stderr.write(`score_cli.js: ${msg}\n`);
	process.stderr.write('usage: node score_cli.js --models DIR < readings.jsonl\n');
	process.exit(2);
}

const args = process.argv.slice(2);
let models = null;
for (let i = 0; i < args.length; i++) {
	if (args[i] === '--models' && i + 1 < args.length) models = args[++i];
	else if (args[i].startsWith('--models=')) models = args[i].slice(9);
	else usage(`unknown option ${args[i]}`);
}
if (!models) usage('--models is required');
if (fs.existsSync(path.join(models, 'models', 'status_predictor.json'))) models = path.join(models, 'models');

let scorer;
try {
	scorer = createScorer(models);
} catch (e) {
	process.stderr.write(`score_cli.js: ${e.message}\n`);
	process.exit(1);
}

const out = [];
let lineNo = 0, bad = 0;
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (line) => {
	lineNo++;
	if (line.trim() === '') return;
	try {
		const r = JSON.parse(line);
		const p = scorer.score(r);
		out.push(JSON.stringify({ sensor_id: r.sensor_id, timestamp: scorer.timestampMs(r), prediction: p }));
	} catch (e) {
		bad++;
		process.stderr.write(`score_cli.js: line ${lineNo}: ${e.message}\n`);
	}
	if (out.length >= 1024) process.stdout.write(out.splice(0).join('\n') + '\n');
});
rl.on('close', () => {
	if (out.length) process.stdout.write(out.join('\n') + '\n');
	process.exitCode = bad ? 1 : 0;
});

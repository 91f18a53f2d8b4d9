/*
 * settings.js - Node-RED settings for the `make compare` peer: headless (no
 * editor, no admin API, no HTTP server at all), no credential secret prompt,
 * the flow read from flow.json beside this file, logs on stdout (run.sh
 * watches them for the MQTT connection). run.sh sets NODE_PATH to
 * build/compare/nodered/node_modules, where `make compare-deps` installed the
 * npm packages, and passes the contract's options as FG_* environment
 * variables, which flow.json reads with ${FG_...} and env.get().
 */
const path = require('path');

module.exports = {
	flowFile: path.join(__dirname, 'flow.json'),
	flowFilePretty: true,
	credentialSecret: false,     // the flow holds no credentials; never prompt, never write a key
	httpAdminRoot: false,        // no editor, no admin API
	httpNodeRoot: false,         // no HTTP-in endpoints
	disableEditor: true,
	uiPort: 0,
	externalModules: {
		autoInstall: false,
		palette: { allowInstall: false },
		modules: { allowInstall: false },
	},
	functionExternalModules: false,
	// What the function nodes use: score.js (the same module score_cli.js
	// runs), better-sqlite3 and kafkajs from build/compare/nodered.
	functionGlobalContext: {
		fgScore: require('./score.js'),
		Database: require('better-sqlite3'),
		kafkajs: require('kafkajs'),
	},
	logging: {
		console: { level: 'info', metrics: false, audit: false },
	},
	contextStorage: { default: { module: 'memory' } },
	exportGlobalContextKeys: false,
	editorTheme: { tours: false },
};

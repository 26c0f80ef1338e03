#!/usr/bin/env node
'use strict';
// `kds run`, the service, loads the engine's own bundle (a third of the whole CLI's, parsed at every start).
const { main } = require(process.argv[2] === 'run' ? '../dist/kds-run.js' : '../dist/kds.js');
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`${(err && err.stack) || String(err)}\n`);
    process.exitCode = 1;
  },
);

#!/usr/bin/env node
'use strict';
const { main } = require('../dist/kds.js');
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`${(err && err.stack) || String(err)}\n`);
    process.exitCode = 1;
  },
);

// What the bundles take of undici, in place of its index.js (scripts/build.mjs points `undici`
// here). index.js loads every part of undici — fetch, WebSocket, cookies, caches, mocks, proxy
// agents — which cost `kds run` ~40 ms of CPU at each start for code it never runs; the KATA
// client needs only the Agent's dispatch, the connector and the header parser. These are the
// same modules index.js exports (test/unit/undiciSubset.test.ts checks every name src/ imports
// from undici is here and is undici's own).
'use strict';
const util = require('undici/lib/core/util');

module.exports = {
  Agent: require('undici/lib/dispatcher/agent'),
  buildConnector: require('undici/lib/core/connect'),
  // undici's public util is these two of its core util.
  util: { parseHeaders: util.parseHeaders, headerNameToString: util.headerNameToString },
};

// Runs examples/cloudfront/sign-request.js as CloudFront Functions would, without AWS.
//
// stdin: {"source": path, "store": {key: text}, "now": ms or null, "events": [event, ...]}
// stdout: [{"result": <what handler returned>} | {"error": message}, ...]
//
// The function source runs in a fresh V8 context holding only what JavaScript runtime 2.0
// documents for it: the `crypto` module reduced to createHash/createHmac with md5, sha1 and
// sha256 and the hex/base64/base64url digests, the `cloudfront` module's KeyValueStore handle
// (get with the string/json/bytes formats, exists, meta; get rejects a missing key), Buffer and
// console. No require, process, fetch, TextEncoder, timers: using one is a ReferenceError.
'use strict';
const nodeCrypto = require('crypto');
const fs = require('fs');
const vm = require('vm');

const ALGORITHMS = ['md5', 'sha1', 'sha256'];
const ENCODINGS = [undefined, 'hex', 'base64', 'base64url'];

function digester(node) {
  const wrapper = {
    update(data, encoding) {
      if (typeof data !== 'string' && !Buffer.isBuffer(data)) {
        throw new TypeError('update() takes a string or a Buffer');
      }
      node.update(data, encoding);
      return wrapper;
    },
    digest(encoding) {
      if (!ENCODINGS.includes(encoding)) {
        throw new Error('runtime 2.0 digests: hex, base64, base64url or a Buffer, not ' + encoding);
      }
      return encoding === undefined ? node.digest() : node.digest(encoding);
    },
  };
  return wrapper;
}

function checkAlgorithm(algorithm) {
  if (!ALGORITHMS.includes(algorithm)) {
    throw new Error('runtime 2.0 hashes: md5, sha1, sha256, not ' + algorithm);
  }
}

const cryptoShim = Object.freeze({
  createHash(algorithm) {
    checkAlgorithm(algorithm);
    return digester(nodeCrypto.createHash(algorithm));
  },
  createHmac(algorithm, key) {
    checkAlgorithm(algorithm);
    if (typeof key !== 'string' && !Buffer.isBuffer(key)) {
      throw new TypeError('createHmac() key: a string or a Buffer');
    }
    return digester(nodeCrypto.createHmac(algorithm, key));
  },
});

function cloudfrontShim(store, counter) {
  const handle = Object.freeze({
    async get(key, options) {
      counter.reads += 1;
      if (!Object.prototype.hasOwnProperty.call(store, key)) {
        throw new Error('KeyValueStore: key not found: ' + key);
      }
      const format = (options && options.format) || 'string';
      const text = store[key];
      if (format === 'string') return text;
      if (format === 'json') return JSON.parse(text);
      if (format === 'bytes') return Buffer.from(text, 'utf8');
      throw new Error('KeyValueStore: unknown format ' + format);
    },
    async exists(key) {
      counter.reads += 1;
      return Object.prototype.hasOwnProperty.call(store, key);
    },
    async meta() {
      return { creationDateTime: '2026-12-01T00:00:00Z', lastUpdatedDateTime: '2026-12-01T00:00:00Z',
        keyCount: Object.keys(store).length };
    },
  });
  return Object.freeze({ kvs: function () { return handle; } });
}

// The two module imports runtime 2.0 supports, replaced by the shims above; anything else
// that looks like a module system is refused.
function load(source, context) {
  const imports = [
    /^import crypto from 'crypto';$/m,
    /^import cf from 'cloudfront';$/m,
  ];
  let body = source;
  for (const pattern of imports) {
    if (!pattern.test(body)) throw new Error('expected ' + pattern);
    body = body.replace(pattern, '');
  }
  if (/\b(import|export|require)\b/.test(body)) {
    throw new Error('only the crypto and cloudfront imports are allowed');
  }
  return vm.runInContext(body + '\n;handler', context, { filename: 'sign-request.js' });
}

async function main() {
  const input = JSON.parse(fs.readFileSync(0, 'utf8'));
  const counter = { reads: 0 };
  const context = vm.createContext({
    crypto: cryptoShim,
    cf: cloudfrontShim(input.store, counter),
    Buffer: Buffer,
    console: { log() {} },
  });
  if (input.now !== null && input.now !== undefined) {
    vm.runInContext('Date.now = function () { return ' + Number(input.now) + '; };', context);
  }
  const handler = load(fs.readFileSync(input.source, 'utf8'), context);
  const results = [];
  for (const event of input.events) {
    const before = counter.reads;
    try {
      const result = await handler(event);
      results.push({ result: JSON.parse(JSON.stringify(result)), kvsReads: counter.reads - before });
    } catch (e) {
      results.push({ error: String(e && e.stack || e) });
    }
  }
  process.stdout.write(JSON.stringify(results));
}

main().catch(function (e) {
  process.stderr.write(String(e && e.stack || e) + '\n');
  process.exit(1);
});

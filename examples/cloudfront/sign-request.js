// originverify: sign each viewer request for the origin (RFC 9421, hmac-sha256).
// CloudFront Functions, JavaScript runtime 2.0, viewer-request event, one KeyValueStore.
// The key "originverify-signing" holds JSON: {"keyid": "cf-2026-12",
//   "key": "hmac-sha256:<base64, 32+ bytes>", "authority": "<origin domain>",
//   "pathPrefix": "<origin path or empty>"}. Rotate by putting a new keyid+key there.
// Covers @method @authority @path @query and the CloudFront-Viewer-Cert-Present / -Sha256
// / -Serial-Number headers it sees; nonce = the CloudFront request id. docs/cloudfront-signing.md
import crypto from 'crypto';
import cf from 'cloudfront';

const kvs = cf.kvs();
const CONFIG = 'originverify-signing';
const LIFETIME = 30;
const CLAIMS = ['cloudfront-viewer-cert-present', 'cloudfront-viewer-cert-sha256',
  'cloudfront-viewer-cert-serial-number'];
const UNAVAILABLE = { statusCode: 503, statusDescription: 'Service Unavailable' };
const BAD = { statusCode: 400, statusDescription: 'Bad Request' };
// A surrogate pair is one character (encoded as its 4 UTF-8 bytes).
const PATH_UNSAFE = /%(?![0-9A-Fa-f]{2})|[\uD800-\uDBFF][\uDC00-\uDFFF]|[^A-Za-z0-9._~!$&'()*+,;=:@\/%-]/g;
const QUERY_UNSAFE = /%(?![0-9A-Fa-f]{2})|[\uD800-\uDBFF][\uDC00-\uDFFF]|[^A-Za-z0-9._~!$&'()*+,;=:@\/?%-]/g;
const TOKEN = /^[A-Za-z0-9._:@\/+=-]{1,128}$/;

// What the origin derives from the target: bytes outside RFC 3986 percent-encoded.
function escape(text, unsafe) {
  return text.replace(unsafe, function (c) {
    return c === '%' ? '%25' : encodeURIComponent(c);
  });
}

// The query string CloudFront forwards: set from the same serialisation that is signed.
function query(qs) {
  const parts = [];
  for (const name in qs) {
    const item = qs[name];
    const values = item.multiValue || [item];
    for (let i = 0; i < values.length; i++) {
      parts.push(name + '=' + values[i].value);
    }
  }
  return parts.join('&');
}

function sfString(text) {
  if (!TOKEN.test(text)) {
    throw new Error('unexpected characters');
  }
  return '"' + text + '"';
}

async function settings() {
  try {
    const config = await kvs.get(CONFIG, { format: 'json' });
    const key = config.key;
    const prefix = config.pathPrefix || '';
    const authority = config.authority || '';
    if (typeof key !== 'string' || key.indexOf('hmac-sha256:') !== 0 ||
        typeof config.keyid !== 'string' || typeof prefix !== 'string' ||
        typeof authority !== 'string') {
      return null;
    }
    const secret = Buffer.from(key.slice(12), 'base64');
    return secret.length < 32 ? null : { keyid: config.keyid, secret: secret,
      authority: authority, prefix: prefix };
  } catch (e) {
    return null;
  }
}

async function handler(event) {
  const request = event.request;
  const headers = request.headers;
  for (const name in headers) {
    if (name.replace(/_/g, '-') === 'signature' || name.replace(/_/g, '-') === 'signature-input') {
      delete headers[name];
    }
  }
  const config = await settings();
  if (config === null) {
    return UNAVAILABLE;
  }
  const ids = ['@method', '@authority', '@path', '@query'];
  const lines = [];
  try {
    const host = config.authority || (headers.host && headers.host.value) || '';
    const authority = String(host).toLowerCase();
    const qs = query(request.querystring);
    if (qs !== '') {
      request.querystring = qs;
    }
    if (!/^[a-z0-9.-]+(:[0-9]{1,5})?$/.test(authority)) {
      return BAD;
    }
    lines.push(request.method, authority, escape(config.prefix + request.uri, PATH_UNSAFE),
      '?' + escape(qs, QUERY_UNSAFE));
    for (let i = 0; i < CLAIMS.length; i++) {
      const header = headers[CLAIMS[i]];
      if (header) {
        const value = String(header.value).trim();
        if (!/^[\x20-\x7e]*$/.test(value)) {
          return BAD;
        }
        ids.push(CLAIMS[i]);
        lines.push(value);
      }
    }
    const created = Math.floor(Date.now() / 1000);
    const params = '(' + ids.map(function (id) { return '"' + id + '"'; }).join(' ') + ')' +
      ';created=' + created + ';expires=' + (created + LIFETIME) +
      ';keyid=' + sfString(config.keyid) + ';nonce=' + sfString(event.context.requestId) +
      ';alg="hmac-sha256";tag="originverify"';
    let base = '';
    for (let i = 0; i < ids.length; i++) {
      base += '"' + ids[i] + '": ' + lines[i] + '\n';
    }
    base += '"@signature-params": ' + params;
    const signature = crypto.createHmac('sha256', config.secret).update(base).digest('base64');
    headers['signature-input'] = { value: 'originverify=' + params };
    headers['signature'] = { value: 'originverify=:' + signature + ':' };
  } catch (e) {
    return BAD;
  }
  return request;
}

// Amazon SNS as an HTTP(S) subscriber sees it: messages signed exactly like SNS
// signs them, the SigningCertURL host that serves the signing certificates, and
// the SubscribeURL/UnsubscribeURL endpoint.
//
// At start a throwaway PKI is made with the openssl CLI in a private temporary
// directory (removed by close()):
//   - a test root CA (RSA 2048): the only thing a process under test has to
//     trust (caFile → the daemon's [aws] ca_bundle);
//   - signing certificates ("leaves") issued by it, one per variant (LEAF_VARIANTS):
//     'good' (CN and SAN sns.amazonaws.com, valid now) and variants for negative
//     tests. Each is served at its own https://HOST:PORT/SimpleNotificationService-<hex>.pem;
//   - an intermediate CA signed by the root, and two more leaves signed by it
//     (INTERMEDIATE_LEAF_VARIANTS), as real SNS signing certificates are:
//     'viaIntermediate', whose Authority Information Access names the
//     intermediate's "CA Issuers" URL on this host (https://HOST:PORT/intermediate.cer,
//     served as DER), and 'viaIntermediateNoAia', without that extension. Their
//     URLs serve the leaf alone, as SNS does, so they chain to the root only
//     when the process under test fetches the intermediate itself. Because the
//     AIA URL holds the port, these leaves are issued once the server listens;
//   - a TLS server certificate for 127.0.0.1/localhost, so the certificate host
//     can be HTTPS with peer and host verification on (also usable as the
//     daemon's own [http] tls_cert/tls_key).
//
// Everything is on loopback. Real SNS serves certificates only on port 443 of
// sns.REGION.amazonaws.com; here the port is ephemeral, so the process under
// test needs a host override (twowayd: [sns] signing_cert_host) that accepts it.
//
// The SNS management API (Query protocol: POST form Action=...&Version=2010-03-31,
// XML answers, SigV4 signing name "sns") is served by apiService() through the
// shared ServiceServer on its own plain-HTTP loopback port (standin.mjs exposes it
// as AWS_ENDPOINT_URL_SNS): GetTopicAttributes, SetTopicAttributes, Subscribe,
// ListSubscriptionsByTopic, Publish, ConfirmSubscription. Topics are kept with
// their attributes (the default topic exists from the start, with AWS's default
// policy, which does not let sms-voice.amazonaws.com publish). Subscribe to an
// http(s) endpoint POSTs a signed SubscriptionConfirmation to it; once its
// SubscribeURL is fetched (or ConfirmSubscription called) the subscription is
// confirmed, and Publish POSTs a signed Notification to every confirmed one.
//
// Pure helpers (stringToSign, signatureAlgorithm, signMessage, verifyMessage,
// formatSnsBody, deliver, deliverWithRetries) are exported on their own so that
// tests can check them against real SNS deliveries without starting anything.

import { EventEmitter } from 'node:events';
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import http from 'node:http';
import https from 'node:https';
import { promisify } from 'node:util';
import { X509Certificate, randomBytes, randomUUID, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import { Delays, closeServer, headerMap } from './service.mjs';
import { streamHugeBody } from './faults.mjs';

const execFileP = promisify(execFile);

export const SNS_USER_AGENT = 'Amazon Simple Notification Service Agent';

// What GetSubscriptionAttributes shows as EffectiveDeliveryPolicy of an HTTP/S
// subscription without a delivery policy of its own (SNS's defaults: 3 retries
// 20 s apart).
export const DEFAULT_EFFECTIVE_DELIVERY_POLICY = JSON.stringify({
  healthyRetryPolicy: { minDelayTarget: 20, maxDelayTarget: 20, numRetries: 3, numMaxDelayRetries: 0,
    numNoDelayRetries: 0, numMinDelayRetries: 0, backoffFunction: 'linear' },
  sicklyRetryPolicy: null, throttlePolicy: null, guaranteed: false,
});

// SNS's rules for an HTTP/S subscription's DeliveryPolicy: null when it is
// acceptable, else the reason. Limits: numRetries 0-100; minDelayTarget 1 to
// maxDelayTarget; maxDelayTarget up to 3600; the phases (no delay, min delay,
// max delay) fit in numRetries; a known backoffFunction; the whole retry
// window at most 3600 s (counted here with every backoff retry at
// maxDelayTarget, an upper bound of what SNS computes); throttlePolicy
// maxReceivesPerSecond at least 1.
export function deliveryPolicyError(text, protocol) {
  if (!['http', 'https'].includes(protocol)) return 'Delivery protocol [' + protocol + '] does not support delivery policies';
  let p;
  try { p = JSON.parse(text); } catch { return 'not valid JSON'; }
  if (!p || typeof p !== 'object' || Array.isArray(p)) return 'must be a JSON object';
  const unknown = Object.keys(p).filter((k) => !['healthyRetryPolicy', 'throttlePolicy', 'requestPolicy', 'sicklyRetryPolicy', 'guaranteed'].includes(k));
  if (unknown.length) return `unknown field ${unknown[0]}`;
  const h = p.healthyRetryPolicy;
  if (h !== undefined && h !== null) {
    const int = (k, lo, hi) => h[k] === undefined || (Number.isInteger(h[k]) && h[k] >= lo && h[k] <= hi);
    const known = ['minDelayTarget', 'maxDelayTarget', 'numRetries', 'numNoDelayRetries', 'numMinDelayRetries', 'numMaxDelayRetries', 'backoffFunction'];
    const extra = Object.keys(h).filter((k) => !known.includes(k));
    if (extra.length) return `healthyRetryPolicy: unknown field ${extra[0]}`;
    if (!int('numRetries', 0, 100)) return 'healthyRetryPolicy: numRetries must be between 0 and 100';
    if (!int('maxDelayTarget', 1, 3600)) return 'healthyRetryPolicy: maxDelayTarget must be between 1 and 3600';
    const max = h.maxDelayTarget ?? 20;
    if (!int('minDelayTarget', 1, max)) return 'healthyRetryPolicy: minDelayTarget must be between 1 and maxDelayTarget';
    for (const k of ['numNoDelayRetries', 'numMinDelayRetries', 'numMaxDelayRetries']) {
      if (!int(k, 0, 100)) return `healthyRetryPolicy: ${k} must be between 0 and 100`;
    }
    const n = h.numRetries ?? 3;
    const phases = (h.numNoDelayRetries ?? 0) + (h.numMinDelayRetries ?? 0) + (h.numMaxDelayRetries ?? 0);
    if (phases > n) return 'healthyRetryPolicy: numNoDelayRetries + numMinDelayRetries + numMaxDelayRetries exceed numRetries';
    if (h.backoffFunction !== undefined && !['linear', 'arithmetic', 'geometric', 'exponential'].includes(h.backoffFunction)) {
      return 'healthyRetryPolicy: backoffFunction must be linear, arithmetic, geometric or exponential';
    }
    const min = h.minDelayTarget ?? 20;
    const total = (h.numMinDelayRetries ?? 0) * min + (n - phases + (h.numMaxDelayRetries ?? 0)) * max;
    if (total > 3600) return `healthyRetryPolicy: total retry time ${total} s exceeds 3600 s`;
  }
  const t = p.throttlePolicy;
  if (t !== undefined && t !== null) {
    if (typeof t !== 'object' || !Number.isInteger(t.maxReceivesPerSecond) || t.maxReceivesPerSecond < 1) {
      return 'throttlePolicy: maxReceivesPerSecond must be an integer of at least 1';
    }
  }
  return null;
}

// A RedrivePolicy: {"deadLetterTargetArn": an SQS queue ARN in this region}.
export function redrivePolicyError(text, region) {
  let p;
  try { p = JSON.parse(text); } catch { return 'not valid JSON'; }
  const arn = p?.deadLetterTargetArn;
  if (typeof arn !== 'string') return 'deadLetterTargetArn is required';
  const m = /^arn:aws[a-z-]*:sqs:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_-]{1,80})$/.exec(arn);
  if (!m) return 'deadLetterTargetArn is not an Amazon SQS queue ARN';
  if (m[1] !== region) return 'deadLetterTargetArn must be in the region of the subscription';
  return null;
}
export const SNS_CONTENT_TYPE = 'text/plain; charset=UTF-8';
export const SNS_XMLNS = 'http://sns.amazonaws.com/doc/2010-03-31/';
// SNS gives an HTTP endpoint 15 s to answer before it counts a failed attempt.
export const SNS_DELIVERY_TIMEOUT_MS = 15000;
// Upper bound of numRetries in an SNS delivery policy.
export const SNS_MAX_RETRIES = 100;

// ---- string to sign ------------------------------------------------------------------

// Keys covered by the signature, per message type, in SNS's order (which is the
// byte order of the names). Anything else in the body (SignatureVersion,
// SigningCertURL, UnsubscribeURL, MessageAttributes, ...) is not signed.
export const SIGNED_KEYS = Object.freeze({
  Notification: Object.freeze(['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type']),
  SubscriptionConfirmation: Object.freeze(
    ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type']),
  UnsubscribeConfirmation: Object.freeze(
    ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type']),
});

/**
 * The exact bytes SNS signs for a message (the parsed JSON body): "Key\nValue\n"
 * for each signed key of its Type. Values are the decoded JSON strings, used as
 * they are (Timestamp is not re-formatted). Subject is optional and left out when
 * absent (or null); every other signed key must be a string.
 */
export function stringToSign(msg) {
  const keys = SIGNED_KEYS[msg?.Type];
  if (!keys) throw new TypeError(`stringToSign: unknown message Type ${JSON.stringify(msg?.Type)}`);
  let s = '';
  for (const k of keys) {
    const v = msg[k];
    if (k === 'Subject' && (v === undefined || v === null)) continue;
    if (typeof v !== 'string') throw new TypeError(`stringToSign: ${k} must be a string`);
    s += `${k}\n${v}\n`;
  }
  return s;
}

// SignatureVersion "1" is SHA1withRSA, "2" SHA256withRSA (both RSASSA-PKCS1-v1_5).
export function signatureAlgorithm(version) {
  switch (String(version)) {
    case '1':
      return 'sha1';
    case '2':
      return 'sha256';
    default:
      throw new TypeError(`unknown SignatureVersion ${JSON.stringify(version)}`);
  }
}

// Base64 signature of msg (its SignatureVersion decides the hash) with keyPem.
export function signMessage(msg, keyPem) {
  const alg = signatureAlgorithm(msg.SignatureVersion);
  return cryptoSign(alg, Buffer.from(stringToSign(msg), 'utf8'), keyPem).toString('base64');
}

// True when msg.Signature verifies with the public key of certPem.
export function verifyMessage(msg, certPem) {
  const alg = signatureAlgorithm(msg.SignatureVersion);
  return cryptoVerify(alg, Buffer.from(stringToSign(msg), 'utf8'), certPem,
    Buffer.from(msg.Signature, 'base64'));
}

/**
 * The body as SNS writes it: fields in insertion order, two-space indent and
 * `"Key" : "value"` (space before the colon), as in captured deliveries. Nested
 * values (MessageAttributes) are written compactly.
 */
export function formatSnsBody(fields) {
  const lines = Object.entries(fields).map(([k, v]) => `  ${JSON.stringify(k)} : ${JSON.stringify(v)}`);
  return `{\n${lines.join(',\n')}\n}`;
}

// ---- delivery (SNS → endpoint) ----------------------------------------------------------

const MAX_RESPONSE_BYTES = 1024 * 1024;

/**
 * POSTs one message as SNS does (new connection each time, no keep-alive).
 * Resolves {status, headers, body} for every HTTP answer, 2xx or not; rejects
 * only when there is no answer: connection error, or no complete answer within
 * timeoutMs (err.code 'ETIMEDOUT'). For https URLs the peer is verified against
 * `ca` (default: the system store). Userinfo in the URL becomes Basic auth,
 * which SNS supports too.
 */
export function deliver(url, { headers = {}, body = '' }, { timeoutMs = SNS_DELIVERY_TIMEOUT_MS, ca, rejectUnauthorized = true } = {}) {
  const u = new URL(url);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    return Promise.reject(new TypeError(`deliver: not an http(s) URL: ${url}`));
  }
  const lib = u.protocol === 'https:' ? https : http;
  const payload = Buffer.from(body, 'utf8');
  const opts = {
    method: 'POST',
    hostname: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port || undefined,
    path: u.pathname + u.search,
    headers: { ...headers, 'content-length': String(payload.length) },
    agent: false,
  };
  if (u.username) opts.auth = `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`;
  if (lib === https) Object.assign(opts, { ca, rejectUnauthorized });

  return new Promise((resolve, reject) => {
    const req = lib.request(opts, (res) => {
      const parts = [];
      let size = 0;
      res.on('data', (c) => {
        // SNS ignores the answer's body; keep a bounded prefix for assertions.
        if (size < MAX_RESPONSE_BYTES) parts.push(c.subarray(0, MAX_RESPONSE_BYTES - size));
        size += c.length;
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(parts).toString('utf8') });
      });
      res.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    // One deadline for the whole exchange, like SNS's, not a socket idle timeout.
    const timer = setTimeout(() => {
      req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end(payload);
  });
}

/**
 * Delivers like SNS with a retry policy: an attempt fails on a transport error,
 * a timeout, or a status outside 200–499 (so 4xx is final, 5xx is retried),
 * and is repeated unchanged (same x-amz-sns-message-id) up to `retries` more
 * times, `delayMs` apart. SNS's default policy is 3 retries 20 s apart; tests
 * pass a short delay. Resolves {delivered, status, body, attempts:[{status, error}]}
 * where status/body are the last answer's (status null when it had none).
 */
export async function deliverWithRetries(url, msg, { retries = 3, delayMs = 0, timeoutMs, ca, rejectUnauthorized } = {}) {
  if (!Number.isInteger(retries) || retries < 0 || retries > SNS_MAX_RETRIES) {
    throw new RangeError(`retries must be an integer 0..${SNS_MAX_RETRIES}`);
  }
  const attempts = [];
  let last = null;
  for (let i = 0; i <= retries; i++) {
    if (i > 0 && delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    try {
      last = await deliver(url, msg, { timeoutMs, ca, rejectUnauthorized });
      attempts.push({ status: last.status, error: null });
      if (last.status >= 200 && last.status < 500) {
        return { delivered: last.status < 300, status: last.status, body: last.body, attempts };
      }
    } catch (e) {
      last = null;
      attempts.push({ status: null, error: e.code ?? e.message });
    }
  }
  return { delivered: false, status: last?.status ?? null, body: last?.body ?? null, attempts };
}

// ---- throwaway PKI ------------------------------------------------------------------------

const DAY_MS = 24 * 3600 * 1000;
export const SNS_SIGNING_NAME = 'sns.amazonaws.com';

// Signing certificate variants. from/to are offsets from now in days.
export const LEAF_VARIANTS = Object.freeze({
  good: { cn: SNS_SIGNING_NAME, from: -1, to: 365, about: 'valid SNS signing certificate' },
  expired: { cn: SNS_SIGNING_NAME, from: -30, to: -1, about: 'notAfter in the past' },
  notYetValid: { cn: SNS_SIGNING_NAME, from: 1, to: 365, about: 'notBefore in the future' },
  wrongCn: { cn: 'sns.example.com', from: -1, to: 365, about: 'CN and SAN are not an SNS signing name' },
  untrusted: { cn: SNS_SIGNING_NAME, from: -1, to: 365, issuer: 'untrusted', about: 'issued by a CA not in caFile' },
  weakKey: { cn: SNS_SIGNING_NAME, from: -1, to: 365, bits: 1024, about: 'RSA 1024 key (SNS keys are >= 2048)' },
});

// Signing certificates issued by the intermediate CA (not by the root), issued
// after the HTTPS server listens. aia: whether the leaf carries the
// intermediate's CA Issuers URL.
export const INTERMEDIATE_LEAF_VARIANTS = Object.freeze({
  viaIntermediate: { cn: SNS_SIGNING_NAME, from: -1, to: 365, aia: true,
    about: 'issued by the intermediate CA; AIA CA Issuers names the intermediate on this host' },
  viaIntermediateNoAia: { cn: SNS_SIGNING_NAME, from: -1, to: 365, aia: false,
    about: 'issued by the intermediate CA; no AIA, so its issuer cannot be found' },
});

// Where the HTTPS host serves the intermediate CA certificate (DER).
export const ISSUER_PATH = '/intermediate.cer';

function opensslDate(ms) {
  // YYYYMMDDHHMMSSZ, the form `openssl ca -startdate/-enddate` takes.
  return new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
}

async function openssl(args, cwd) {
  try {
    return await execFileP('openssl', args, { cwd, timeout: 30000, maxBuffer: 4 * 1024 * 1024 });
  } catch (e) {
    throw new Error(`openssl ${args[0]} failed: ${e.stderr || e.message}`);
  }
}

// `openssl ca` rather than `openssl x509 -req`: only `ca` can set arbitrary
// notBefore/notAfter (needed for the expired and not-yet-valid variants) on
// OpenSSL 3.0.
function caConfig(dir) {
  return `[ca]
default_ca = this_ca
[this_ca]
database = ${dir}/index.txt
serial = ${dir}/serial
new_certs_dir = ${dir}
rand_serial = yes
default_md = sha256
policy = any_cn
unique_subject = no
copy_extensions = none
[any_cn]
commonName = supplied
`;
}

function leafExtensions(san, issuerUrl) {
  return `[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = ${san}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
${issuerUrl ? `authorityInfoAccess = caIssuers;URI:${issuerUrl}\n` : ''}`;
}

const INTERMEDIATE_EXTENSIONS = `[intermediate]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
`;

class TestPki {
  dir;
  cas = {};    // name -> {dir, config, certFile, keyFile, certPem} (+ certDer for 'intermediate')
  leaves = {}; // name -> {name, cn, about, certPem, keyPem, certFile, notBefore, notAfter}
  tls = null;  // {certPem, keyPem, certFile, keyFile}
  now;

  static async create({ tlsHost = '127.0.0.1', now = Date.now() } = {}) {
    const pki = new TestPki();
    pki.now = now;
    pki.dir = await mkdtemp(path.join(tmpdir(), 'standin-sns-'));
    try {
      await pki.#build(tlsHost, now);
    } catch (e) {
      await pki.close();
      throw e;
    }
    return pki;
  }

  async #build(tlsHost, now) {
    const d = this.dir;
    const key = (name, bits = 2048) =>
      openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', `rsa_keygen_bits:${bits}`, '-out', path.join(d, `${name}.key`)], d);
    // Key generation dominates start-up time, so all keys are made in parallel.
    await Promise.all([
      key('ca'), key('untrusted-ca'), key('intermediate-ca'), key('tls'),
      ...Object.entries(LEAF_VARIANTS).map(([n, v]) => key(`leaf-${n}`, v.bits)),
      ...Object.keys(INTERMEDIATE_LEAF_VARIANTS).map((n) => key(`leaf-${n}`)),
    ]);

    for (const [name, cn] of [['ca', 'twowayd stand-in test root CA'], ['untrusted-ca', 'twowayd stand-in UNTRUSTED CA']]) {
      const caDir = path.join(d, `${name}.db`);
      await mkdir(caDir);
      await writeFile(path.join(caDir, 'index.txt'), '');
      const config = path.join(caDir, 'ca.cnf');
      await writeFile(config, caConfig(caDir));
      const certFile = path.join(d, `${name}.pem`);
      await openssl(['req', '-x509', '-new', '-key', path.join(d, `${name}.key`), '-subj', `/CN=${cn}`,
        '-days', '3650', '-sha256', '-out', certFile,
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
        '-addext', 'subjectKeyIdentifier=hash'], d);
      this.cas[name] = { dir: caDir, config, certFile, keyFile: path.join(d, `${name}.key`), certPem: await readFile(certFile, 'utf8') };
    }

    // The intermediate: a CA certificate issued by the root (pathlen 0).
    {
      const name = 'intermediate-ca';
      const cn = 'twowayd stand-in test intermediate CA';
      const caDir = path.join(d, `${name}.db`);
      await mkdir(caDir);
      await writeFile(path.join(caDir, 'index.txt'), '');
      const config = path.join(caDir, 'ca.cnf');
      await writeFile(config, caConfig(caDir));
      const csr = path.join(d, `${name}.csr`);
      const ext = path.join(d, `${name}.ext`);
      const certFile = path.join(d, `${name}.pem`);
      const root = this.cas.ca;
      await openssl(['req', '-new', '-key', path.join(d, `${name}.key`), '-subj', `/CN=${cn}`, '-out', csr], d);
      await writeFile(ext, INTERMEDIATE_EXTENSIONS);
      await openssl(['ca', '-batch', '-notext', '-config', root.config, '-cert', root.certFile, '-keyfile', root.keyFile,
        '-in', csr, '-out', certFile, '-subj', `/CN=${cn}`, '-startdate', opensslDate(now - DAY_MS),
        '-enddate', opensslDate(now + 1825 * DAY_MS), '-extfile', ext, '-extensions', 'intermediate'], d);
      const certPem = await readFile(certFile, 'utf8');
      this.cas.intermediate = {
        dir: caDir, config, certFile, keyFile: path.join(d, `${name}.key`), certPem,
        certDer: Buffer.from(new X509Certificate(certPem).raw),
      };
    }

    for (const [name, v] of Object.entries(LEAF_VARIANTS)) {
      const notBefore = now + v.from * DAY_MS;
      const notAfter = now + v.to * DAY_MS;
      const certFile = await this.#issue(`leaf-${name}`, v.issuer === 'untrusted' ? 'untrusted-ca' : 'ca',
        v.cn, `DNS:${v.cn}`, notBefore, notAfter);
      this.leaves[name] = {
        name, cn: v.cn, about: v.about, certFile,
        certPem: await readFile(certFile, 'utf8'),
        keyPem: await readFile(path.join(d, `leaf-${name}.key`), 'utf8'),
        notBefore: new Date(notBefore).toISOString(), notAfter: new Date(notAfter).toISOString(),
      };
    }

    const san = ['IP:127.0.0.1', 'DNS:localhost'];
    if (tlsHost !== '127.0.0.1' && tlsHost !== 'localhost') san.push(/^[\d.]+$|:/.test(tlsHost) ? `IP:${tlsHost}` : `DNS:${tlsHost}`);
    const tlsCert = await this.#issue('tls', 'ca', 'localhost', san.join(','), now - DAY_MS, now + 365 * DAY_MS);
    this.tls = {
      certFile: tlsCert,
      keyFile: path.join(d, 'tls.key'),
      certPem: await readFile(tlsCert, 'utf8'),
      keyPem: await readFile(path.join(d, 'tls.key'), 'utf8'),
    };
  }

  // The leaves signed by the intermediate (INTERMEDIATE_LEAF_VARIANTS). issuerUrl
  // goes into the AIA CA Issuers of those with `aia`; it holds the server's port,
  // so this runs once the server listens.
  async issueIntermediateLeaves(issuerUrl) {
    const d = this.dir;
    const now = this.now;
    for (const [name, v] of Object.entries(INTERMEDIATE_LEAF_VARIANTS)) {
      const notBefore = now + v.from * DAY_MS;
      const notAfter = now + v.to * DAY_MS;
      const certFile = await this.#issue(`leaf-${name}`, 'intermediate', v.cn, `DNS:${v.cn}`, notBefore, notAfter,
        v.aia ? issuerUrl : null);
      this.leaves[name] = {
        name, cn: v.cn, about: v.about, certFile,
        certPem: await readFile(certFile, 'utf8'),
        keyPem: await readFile(path.join(d, `leaf-${name}.key`), 'utf8'),
        notBefore: new Date(notBefore).toISOString(), notAfter: new Date(notAfter).toISOString(),
      };
    }
  }

  async #issue(name, caName, cn, san, notBefore, notAfter, issuerUrl = null) {
    const d = this.dir;
    const ca = this.cas[caName];
    const csr = path.join(d, `${name}.csr`);
    const ext = path.join(d, `${name}.ext`);
    const out = path.join(d, `${name}.pem`);
    await openssl(['req', '-new', '-key', path.join(d, `${name}.key`), '-subj', `/CN=${cn}`, '-out', csr], d);
    await writeFile(ext, leafExtensions(san, issuerUrl));
    await openssl(['ca', '-batch', '-notext', '-config', ca.config, '-cert', ca.certFile, '-keyfile', ca.keyFile,
      '-in', csr, '-out', out, '-subj', `/CN=${cn}`, '-startdate', opensslDate(notBefore),
      '-enddate', opensslDate(notAfter), '-extfile', ext, '-extensions', 'leaf'], d);
    return out;
  }

  async close() {
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}

// ---- the SNS fake ---------------------------------------------------------------------------

const CERT_PATH_RE = /^\/SimpleNotificationService-[0-9a-f]+\.pem$/;
const SUBSCRIBE_MESSAGE = (topicArn) =>
  `You have chosen to subscribe to the topic ${topicArn}.\n` +
  'To confirm the subscription, visit the SubscribeURL included in this message.';
const UNSUBSCRIBE_MESSAGE = (subscriptionArn) =>
  `You have chosen to deactivate subscription ${subscriptionArn}.\n` +
  'To cancel this operation and restore the subscription, visit the SubscribeURL included in this message.';

function xmlEscape(s) {
  return String(s).replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]);
}

function sendXml(res, status, xml) {
  const body = `<?xml version="1.0"?>\n${xml}\n`;
  res.writeHead(status, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

// The awsQuery error shape SNS uses.
function sendSnsError(res, status, code, message, requestId) {
  sendXml(res, status, `<ErrorResponse xmlns="${SNS_XMLNS}">
  <Error>
    <Type>${status >= 500 ? 'Receiver' : 'Sender'}</Type>
    <Code>${xmlEscape(code)}</Code>
    <Message>${xmlEscape(message)}</Message>
  </Error>
  <RequestId>${requestId}</RequestId>
</ErrorResponse>`);
}

const STATUS_ERRORS = {
  400: 'InvalidParameter', 403: 'AuthorizationError', 404: 'NotFound', 429: 'Throttling',
  500: 'InternalError', 502: 'InternalError', 503: 'ServiceUnavailable', 504: 'InternalError',
};

export class SnsFake extends EventEmitter {
  #server;
  #pki;
  #faults;
  #faultKey;
  #requests = [];
  #confirmations = [];
  #unsubscribes = [];
  #tokens = new Map();        // token -> {topicArn, type}
  #subscriptions = new Map(); // topicArn -> subscription ARN
  #certPaths = new Map();     // leaf name -> URL path
  #delays = new Delays();
  #seq = 0;
  #topics = new Map();        // topicArn -> {attributes}
  #subs = new Map();          // subscription ARN -> {arn, topicArn, protocol, endpoint, owner, confirmed, token}
  #subsByToken = new Map();   // confirmation token -> subscription
  #publishes = [];
  #deliveries = [];
  #listPageSize = 100;
  #closing = false;
  #sqs = null;                // the SQS fake, for dead letters (RedrivePolicy)

  /**
   * Use startSnsFake(). opts: host ('127.0.0.1'), port (0), region ('us-east-1'),
   * accountId ('123456789012'), topicName ('twowayd-inbound'), faults (a FaultQueues;
   * default none) and faultKey (its queue name, 'sns').
   */
  constructor(opts = {}) {
    super();
    this.setMaxListeners(0);
    this.host = opts.host ?? '127.0.0.1';
    this.region = opts.region ?? 'us-east-1';
    this.accountId = opts.accountId ?? '123456789012';
    this.topicArn = `arn:aws:sns:${this.region}:${this.accountId}:${opts.topicName ?? 'twowayd-inbound'}`;
    this.#faults = opts.faults ?? null;
    this.#faultKey = opts.faultKey ?? 'sns';
    this.#sqs = opts.sqs ?? null;
    this.port = opts.port ?? 0;
    this.createTopic(this.topicArn.split(':').pop());
  }

  // ---- topics and subscriptions (the management API's state) ----

  // AWS's default topic policy: the owning account may do everything, nobody else.
  defaultPolicy(topicArn) {
    return JSON.stringify({
      Version: '2008-10-17',
      Id: '__default_policy_ID',
      Statement: [{
        Sid: '__default_statement_ID',
        Effect: 'Allow',
        Principal: { AWS: '*' },
        Action: ['SNS:GetTopicAttributes', 'SNS:SetTopicAttributes', 'SNS:AddPermission', 'SNS:RemovePermission',
          'SNS:DeleteTopic', 'SNS:Subscribe', 'SNS:ListSubscriptionsByTopic', 'SNS:Publish'],
        Resource: topicArn,
        Condition: { StringEquals: { 'AWS:SourceOwner': this.accountId } },
      }],
    });
  }

  // Creates (or returns) a topic in this fake's region and account; returns its ARN.
  createTopic(name, { policy } = {}) {
    const arn = `arn:aws:sns:${this.region}:${this.accountId}:${name}`;
    if (!this.#topics.has(arn)) {
      this.#topics.set(arn, { attributes: { Policy: policy ?? this.defaultPolicy(arn), DisplayName: '', Owner: this.accountId } });
    }
    return arn;
  }

  // The topic's attributes as GetTopicAttributes returns them, or null.
  topicAttributes(topicArn = this.topicArn) {
    const t = this.#topics.get(topicArn);
    if (!t) return null;
    const subs = [...this.#subs.values()].filter((x) => x.topicArn === topicArn);
    return {
      ...t.attributes,
      TopicArn: topicArn,
      SubscriptionsConfirmed: String(subs.filter((x) => x.confirmed).length),
      SubscriptionsPending: String(subs.filter((x) => !x.confirmed).length),
      SubscriptionsDeleted: '0',
    };
  }

  // Test setup: replace an attribute directly (not recorded).
  setTopicAttribute(topicArn, name, value) {
    const t = this.#topics.get(topicArn);
    if (!t) throw new TypeError(`no topic ${topicArn}`);
    t.attributes[name] = value;
  }

  // Subscriptions made through Subscribe: {arn, topicArn, protocol, endpoint, owner, confirmed}.
  subscriptions(topicArn) {
    return [...this.#subs.values()]
      .filter((x) => topicArn === undefined || x.topicArn === topicArn)
      .map(({ token, ...x }) => ({ ...x }));
  }

  // Test setup: a subscription in a given state, without any delivery.
  addSubscription({ topicArn = this.topicArn, protocol = 'https', endpoint, confirmed = true }) {
    const sub = { arn: `${topicArn}:${randomUUID()}`, topicArn, protocol, endpoint, owner: this.accountId, confirmed, token: null };
    this.#subs.set(sub.arn, sub);
    return { ...sub };
  }

  removeSubscription(arn) {
    this.#subs.delete(arn);
  }

  // Accepted Publish calls: {seq, time, topicArn, messageId, message, subject}.
  publishes() {
    return this.#publishes.map((x) => ({ ...x }));
  }

  // Deliveries to subscribed endpoints: {time, type, subscriptionArn, endpoint, messageId,
  // delivered, status, attempts, deadLetter (the queue ARN a failed notification went to, or null)}.
  deliveries() {
    return this.#deliveries.map((x) => ({ ...x }));
  }

  setListPageSize(n) {
    this.#listPageSize = n;
  }

  #deliverTo(sub, msg, type) {
    if (this.#closing) return;
    this.deliverWithRetries(sub.endpoint, msg, { retries: 2, delayMs: 200, timeoutMs: 5000 })
      .then((r) => ({ delivered: r.delivered, status: r.status, attempts: r.attempts }))
      .catch((e) => ({ delivered: false, status: null, attempts: [{ status: null, error: e.message }] }))
      .then((r) => {
        const deadLetter = !r.delivered && type === 'Notification' ? this.#deadLetter(sub, msg) : null;
        this.#deliveries.push({ time: new Date().toISOString(), type, subscriptionArn: sub.arn, endpoint: sub.endpoint,
          messageId: msg.json.MessageId, ...r, deadLetter });
        this.emit('change');
      });
  }

  // A notification given up on goes to the subscription's dead-letter queue,
  // when it has a RedrivePolicy and the queue's policy lets sns.amazonaws.com
  // send to it from this topic (SNS checks the same); the queue message's body
  // is the notification's JSON, signature included. Returns the queue's ARN,
  // or null when the message is dropped, as SNS drops it.
  #deadLetter(sub, msg) {
    const redrive = sub.attributes?.RedrivePolicy;
    if (!redrive || !this.#sqs) return null;
    const arn = JSON.parse(redrive).deadLetterTargetArn;
    if (!this.#sqs.allowsSend(arn, 'sns.amazonaws.com', sub.topicArn)) return null;
    this.#sqs.enqueue(arn, msg.body);
    return arn;
  }

  #requestConfirmation(sub) {
    if (sub.protocol !== 'http' && sub.protocol !== 'https') return;
    const conf = this.subscriptionConfirmation({ topicArn: sub.topicArn });
    if (sub.token) this.#subsByToken.delete(sub.token);
    sub.token = conf.token;
    this.#subsByToken.set(conf.token, sub);
    this.#deliverTo(sub, conf, 'SubscriptionConfirmation');
  }

  #subscribe(topicArn, protocol, endpoint) {
    let sub = [...this.#subs.values()].find((x) => x.topicArn === topicArn && x.protocol === protocol && x.endpoint === endpoint);
    if (sub?.confirmed) return sub;
    if (!sub) {
      sub = { arn: `${topicArn}:${randomUUID()}`, topicArn, protocol, endpoint, owner: this.accountId, confirmed: false, token: null };
      this.#subs.set(sub.arn, sub);
    }
    // A pending subscription gets a new confirmation message, as with SNS.
    this.#requestConfirmation(sub);
    return sub;
  }

  #publish(topicArn, message, subject) {
    const messageId = randomUUID();
    this.#publishes.push({ seq: ++this.#seq, time: new Date().toISOString(), topicArn, messageId, message, subject });
    for (const sub of this.#subs.values()) {
      if (sub.topicArn !== topicArn || !sub.confirmed || !['http', 'https'].includes(sub.protocol)) continue;
      const n = this.notification({ topicArn, message, subject, messageId, subscriptionArn: sub.arn });
      this.#deliverTo(sub, n, 'Notification');
    }
    this.emit('change');
    return messageId;
  }

  #confirmToken(topicArn, token) {
    const pending = this.#tokens.get(token);
    if (!pending) return { error: [404, 'NotFound', 'Invalid token'] };
    if (pending.topicArn !== topicArn) return { error: [400, 'InvalidParameter', 'Invalid parameter: Topic'] };
    const sub = this.#subsByToken.get(token);
    if (sub) sub.confirmed = true;
    // Confirming again is harmless and gives the same ARN, as with SNS.
    const subscriptionArn = sub ? sub.arn : this.subscriptionArn(topicArn);
    this.#confirmations.push({ seq: this.#seq, time: new Date().toISOString(), topicArn, token, subscriptionArn, type: pending.type });
    return { subscriptionArn };
  }

  // A subscription's attributes as GetSubscriptionAttributes returns them, or null.
  subscriptionAttributes(arn) {
    const sub = this.#subs.get(arn);
    if (!sub) return null;
    return {
      SubscriptionArn: sub.arn,
      TopicArn: sub.topicArn,
      Protocol: sub.protocol,
      Endpoint: sub.endpoint,
      Owner: sub.owner,
      PendingConfirmation: String(!sub.confirmed),
      ConfirmationWasAuthenticated: String(sub.confirmed),
      RawMessageDelivery: 'false',
      ...(sub.attributes ?? {}),
      ...(['http', 'https'].includes(sub.protocol)
        ? { EffectiveDeliveryPolicy: sub.attributes?.DeliveryPolicy ?? DEFAULT_EFFECTIVE_DELIVERY_POLICY } : {}),
    };
  }

  // Test setup: replace a subscription attribute directly (not validated, not
  // recorded); undefined removes it.
  setSubscriptionAttribute(arn, name, value) {
    const sub = this.#subs.get(arn);
    if (!sub) throw new TypeError(`no subscription ${arn}`);
    sub.attributes = { ...(sub.attributes ?? {}), [name]: value };
    if (value === undefined) delete sub.attributes[name];
  }

  // ---- the management API (Query protocol), for ServiceServer ----

  apiService() {
    const fake = this;
    const xml = (res, action, result, requestId) => sendXml(res, 200, `<${action}Response xmlns="${SNS_XMLNS}">
${result === null ? '' : `  <${action}Result>${result}</${action}Result>\n`}  <ResponseMetadata>
    <RequestId>${requestId}</RequestId>
  </ResponseMetadata>
</${action}Response>`);
    const invalid = (msg) => Object.assign(new Error(msg), { snsError: [400, 'InvalidParameter', `Invalid parameter: ${msg}`] });
    const topicOf = (q) => {
      const arn = q.get('TopicArn');
      if (!arn) throw invalid('TopicArn');
      if (!fake.#topics.has(arn)) throw Object.assign(new Error('no topic'), { snsError: [404, 'NotFound', 'Topic does not exist'] });
      return arn;
    };
    const actions = {
      GetTopicAttributes(q) {
        const attrs = fake.topicAttributes(topicOf(q));
        return '\n    <Attributes>\n' + Object.entries(attrs).map(([k, v]) =>
          `      <entry><key>${xmlEscape(k)}</key><value>${xmlEscape(v)}</value></entry>\n`).join('') + '    </Attributes>\n  ';
      },
      SetTopicAttributes(q) {
        const arn = topicOf(q);
        const name = q.get('AttributeName');
        const value = q.get('AttributeValue') ?? '';
        if (!['Policy', 'DisplayName', 'DeliveryPolicy', 'SignatureVersion', 'TracingConfig', 'KmsMasterKeyId'].includes(name)) {
          throw invalid('AttributeName');
        }
        if (name === 'Policy') {
          let p;
          try {
            p = JSON.parse(value);
          } catch {
            throw invalid('Policy Error: null');
          }
          const sts = p && typeof p === 'object' ? [].concat(p.Statement ?? []) : null;
          if (!sts || !sts.length || sts.some((st) => !['Allow', 'Deny'].includes(st?.Effect))) {
            throw invalid('Policy Error: invalid statement');
          }
        }
        fake.#topics.get(arn).attributes[name] = value;
        return null;
      },
      GetSubscriptionAttributes(q) {
        const arn = q.get('SubscriptionArn');
        if (!arn) throw invalid('SubscriptionArn');
        const attrs = fake.subscriptionAttributes(arn);
        if (!attrs) throw Object.assign(new Error('no subscription'), { snsError: [404, 'NotFound', 'Subscription does not exist'] });
        return '\n    <Attributes>\n' + Object.entries(attrs).map(([k, v]) =>
          `      <entry><key>${xmlEscape(k)}</key><value>${xmlEscape(v)}</value></entry>\n`).join('') + '    </Attributes>\n  ';
      },
      SetSubscriptionAttributes(q) {
        const arn = q.get('SubscriptionArn');
        if (!arn) throw invalid('SubscriptionArn');
        const sub = fake.#subs.get(arn);
        if (!sub) throw Object.assign(new Error('no subscription'), { snsError: [404, 'NotFound', 'Subscription does not exist'] });
        const name = q.get('AttributeName');
        const value = q.get('AttributeValue') ?? '';
        if (!['DeliveryPolicy', 'FilterPolicy', 'FilterPolicyScope', 'RawMessageDelivery', 'RedrivePolicy',
          'SubscriptionRoleArn', 'ReplayPolicy'].includes(name)) {
          throw invalid('AttributeName');
        }
        const why = name === 'DeliveryPolicy' ? deliveryPolicyError(value, sub.protocol)
          : name === 'RedrivePolicy' ? redrivePolicyError(value, fake.region) : null;
        if (why) throw invalid(`${name}: ${why}`);
        sub.attributes = { ...(sub.attributes ?? {}), [name]: value };
        return null;
      },
      Subscribe(q) {
        const arn = topicOf(q);
        const protocol = q.get('Protocol');
        const endpoint = q.get('Endpoint');
        if (!['http', 'https', 'email', 'email-json', 'sms', 'sqs', 'lambda', 'firehose', 'application'].includes(protocol)) {
          throw invalid('Invalid protocol type: ' + protocol);
        }
        if ((protocol === 'http' || protocol === 'https') && !String(endpoint ?? '').startsWith(`${protocol}://`)) {
          throw invalid('Invalid endpoint for protocol ' + protocol);
        }
        const sub = fake.#subscribe(arn, protocol, endpoint);
        const shown = sub.confirmed || q.get('ReturnSubscriptionArn') === 'true' ? sub.arn : 'pending confirmation';
        return `\n    <SubscriptionArn>${xmlEscape(shown)}</SubscriptionArn>\n  `;
      },
      ListSubscriptionsByTopic(q) {
        const arn = topicOf(q);
        const all = fake.subscriptions(arn);
        const start = q.get('NextToken') ? Number(Buffer.from(q.get('NextToken'), 'base64').toString('utf8')) : 0;
        if (!Number.isInteger(start) || start < 0) throw invalid('NextToken');
        const page = all.slice(start, start + fake.#listPageSize);
        const members = page.map((x) => `
      <member>
        <TopicArn>${xmlEscape(x.topicArn)}</TopicArn>
        <Protocol>${xmlEscape(x.protocol)}</Protocol>
        <SubscriptionArn>${xmlEscape(x.confirmed ? x.arn : 'PendingConfirmation')}</SubscriptionArn>
        <Owner>${xmlEscape(x.owner)}</Owner>
        <Endpoint>${xmlEscape(x.endpoint)}</Endpoint>
      </member>`).join('');
        const next = start + fake.#listPageSize < all.length
          ? `\n    <NextToken>${Buffer.from(String(start + fake.#listPageSize)).toString('base64')}</NextToken>` : '';
        return `\n    <Subscriptions>${members}\n    </Subscriptions>${next}\n  `;
      },
      Publish(q) {
        const arn = topicOf(q);
        const message = q.get('Message');
        if (!message) throw invalid('Empty message');
        if (Buffer.byteLength(message) > 262144) throw invalid('Message too long');
        const id = fake.#publish(arn, message, q.get('Subject') ?? undefined);
        return `\n    <MessageId>${id}</MessageId>\n  `;
      },
      ConfirmSubscription(q) {
        const arn = q.get('TopicArn');
        const token = q.get('Token');
        if (!arn || !token) throw invalid('TopicArn and Token are required');
        const r = fake.#confirmToken(arn, token);
        if (r.error) throw Object.assign(new Error('confirm'), { snsError: r.error });
        return `\n    <SubscriptionArn>${xmlEscape(r.subscriptionArn)}</SubscriptionArn>\n  `;
      },
    };
    return {
      name: 'sns-api',
      signingName: 'sns',
      contentType: 'text/xml',
      operationOf(req, record) {
        record.params = Object.fromEntries(new URLSearchParams(record.rawBody));
        return record.params.Action ?? null;
      },
      authErrorStatus() {
        return 403;
      },
      sendError(res, status, code, message) {
        sendSnsError(res, status, code.replace(/^.*#/, ''), message, res.getHeader('x-amzn-requestid') ?? randomUUID());
      },
      errorForStatus(status) {
        return { code: STATUS_ERRORS[status] ?? (status >= 500 ? 'InternalError' : 'InvalidParameter'), message: `injected ${status}` };
      },
      throttleError() {
        return { status: 400, code: 'Throttling', message: 'Rate exceeded' };
      },
      handle(ctx) {
        const { res, record, req } = ctx;
        if (req.method !== 'POST') {
          this.sendError(res, 405, 'MethodNotAllowed', `${req.method} is not supported`);
          return;
        }
        const q = new URLSearchParams(record.rawBody);
        if (q.get('Version') !== '2010-03-31') {
          this.sendError(res, 400, 'InvalidParameter', 'Invalid parameter: Version');
          return;
        }
        const fn = actions[record.operation];
        if (!fn) {
          this.sendError(res, 400, 'InvalidAction', `The action ${record.operation} is not valid for this endpoint.`);
          return;
        }
        try {
          xml(res, record.operation, fn(q), record.requestId);
        } catch (e) {
          if (!e.snsError) throw e;
          this.sendError(res, ...e.snsError);
        }
      },
    };
  }

  async start() {
    this.#pki = await TestPki.create({ tlsHost: this.host });
    this.#server = https.createServer({ key: this.#pki.tls.keyPem, cert: this.#pki.tls.certPem }, (req, res) => {
      this.#onRequest(req, res).catch((err) => {
        if (!res.headersSent && !res.destroyed) sendSnsError(res, 500, 'InternalError', `stand-in failure: ${err.message}`, randomUUID());
        else res.destroy();
      });
    });
    this.#server.keepAliveTimeout = 5000;
    try {
      await new Promise((resolve, reject) => {
        this.#server.once('error', reject);
        this.#server.listen(this.port, this.host, () => {
          this.#server.off('error', reject);
          this.port = this.#server.address().port;
          resolve();
        });
      });
      // The AIA URL names this server's port, known only now.
      await this.#pki.issueIntermediateLeaves(this.issuerUrl);
    } catch (e) {
      if (this.#server.listening) await new Promise((resolve) => this.#server.close(() => resolve()));
      await this.#pki.close();
      throw e;
    }
    for (const name of Object.keys(this.#pki.leaves)) {
      // A random name per leaf, in the real form (lower-case hex).
      this.#certPaths.set(name, `/SimpleNotificationService-${randomBytes(16).toString('hex')}.pem`);
    }
    return this;
  }

  // ---- what tests configure the daemon with ----

  // Base URL of the certificate/subscription host (no trailing slash).
  get url() {
    return `https://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  // The host name to allow in the process under test, and a whole-host POSIX ERE for it.
  get certHost() {
    return this.host;
  }

  get signingCertHostRegex() {
    return `^${this.host.replace(/[.[\]\\^$|?*+(){}]/g, '\\$&')}$`;
  }

  get caFile() {
    return this.#pki.cas.ca.certFile;
  }

  get caPem() {
    return this.#pki.cas.ca.certPem;
  }

  // The CA Issuers URL in the 'viaIntermediate' leaf, where the intermediate is served (DER).
  get issuerUrl() {
    return this.url + ISSUER_PATH;
  }

  // The intermediate CA (issued by the root, issuer of the viaIntermediate* leaves):
  // {certPem, certDer (Buffer, what issuerUrl serves), certFile, url}.
  get intermediate() {
    const { certPem, certDer, certFile } = this.#pki.cas.intermediate;
    return { certPem, certDer: Buffer.from(certDer), certFile, url: this.issuerUrl };
  }

  // The server certificate of the HTTPS host (signed by the CA): reusable as the
  // daemon's own [http] tls_cert/tls_key so deliver() can reach it over HTTPS.
  get serverTls() {
    const { certFile, keyFile, certPem } = this.#pki.tls;
    return { certFile, keyFile, certPem };
  }

  // Names of the signing certificate variants ('good', 'expired', ...).
  certNames() {
    return Object.keys(this.#pki.leaves);
  }

  // {name, cn, about, certPem, keyPem, certFile, notBefore, notAfter, url} of a variant.
  cert(name = 'good') {
    const leaf = this.#pki.leaves[name];
    if (!leaf) throw new TypeError(`unknown certificate '${name}' (one of ${this.certNames().join(', ')})`);
    return { ...leaf, url: this.certUrl(name) };
  }

  certUrl(name = 'good') {
    if (!this.#certPaths.has(name)) throw new TypeError(`unknown certificate '${name}' (one of ${this.certNames().join(', ')})`);
    return this.url + this.#certPaths.get(name);
  }

  // The subscription ARN the fake uses for a topic (stable; made on first use).
  subscriptionArn(topicArn = this.topicArn) {
    if (!this.#subscriptions.has(topicArn)) this.#subscriptions.set(topicArn, `${topicArn}:${randomUUID()}`);
    return this.#subscriptions.get(topicArn);
  }

  // ---- message builders ----

  /**
   * A Notification as SNS POSTs it. message: string, or an object (JSON.stringify'd,
   * e.g. inboundSms()). Returns {headers, body, json, stringToSign, certUrl}.
   */
  notification({ topicArn = this.topicArn, message, subject, messageId = randomUUID(), timestamp = isoNow(),
    signatureVersion = '1', cert = 'good', certUrl, subscriptionArn, unsubscribeUrl, messageAttributes,
    tamper, headers } = {}) {
    if (message === undefined || message === null) throw new TypeError('notification: message is required');
    const subArn = subscriptionArn ?? this.subscriptionArn(topicArn);
    const fields = { Type: 'Notification', MessageId: messageId, TopicArn: topicArn };
    if (subject !== undefined && subject !== null) fields.Subject = subject;
    fields.Message = typeof message === 'string' ? message : JSON.stringify(message);
    fields.Timestamp = timestamp;
    const tail = { UnsubscribeURL: unsubscribeUrl ?? `${this.url}/?Action=Unsubscribe&SubscriptionArn=${subArn}` };
    if (messageAttributes !== undefined) tail.MessageAttributes = messageAttributes;
    return this.#finish(fields, tail, { signatureVersion, cert, certUrl, tamper, headers, subscriptionArn: subArn });
  }

  /**
   * A SubscriptionConfirmation. Its token is registered, so GETting its
   * SubscribeURL confirms. Returns what notification() does plus {token}.
   */
  subscriptionConfirmation({ topicArn = this.topicArn, token = newToken(), messageId = randomUUID(),
    timestamp = isoNow(), signatureVersion = '1', cert = 'good', certUrl, subscribeUrl, tamper, headers } = {}) {
    this.#tokens.set(token, { topicArn, type: 'SubscriptionConfirmation' });
    const fields = {
      Type: 'SubscriptionConfirmation', MessageId: messageId, Token: token, TopicArn: topicArn,
      Message: SUBSCRIBE_MESSAGE(topicArn),
      SubscribeURL: subscribeUrl ?? this.subscribeUrl(topicArn, token),
      Timestamp: timestamp,
    };
    // No x-amz-sns-subscription-arn: the subscription does not exist yet.
    return { ...this.#finish(fields, {}, { signatureVersion, cert, certUrl, tamper, headers }), token };
  }

  /** An UnsubscribeConfirmation (its SubscribeURL would re-subscribe). */
  unsubscribeConfirmation({ topicArn = this.topicArn, token = newToken(), messageId = randomUUID(),
    timestamp = isoNow(), signatureVersion = '1', cert = 'good', certUrl, subscribeUrl, subscriptionArn,
    tamper, headers } = {}) {
    const subArn = subscriptionArn ?? this.subscriptionArn(topicArn);
    this.#tokens.set(token, { topicArn, type: 'UnsubscribeConfirmation' });
    const fields = {
      Type: 'UnsubscribeConfirmation', MessageId: messageId, Token: token, TopicArn: topicArn,
      Message: UNSUBSCRIBE_MESSAGE(subArn),
      SubscribeURL: subscribeUrl ?? this.subscribeUrl(topicArn, token),
      Timestamp: timestamp,
    };
    return { ...this.#finish(fields, {}, { signatureVersion, cert, certUrl, tamper, headers, subscriptionArn: subArn }), token };
  }

  // SNS writes the TopicArn and Token into the query unencoded (colons are legal there).
  subscribeUrl(topicArn, token) {
    return `${this.url}/?Action=ConfirmSubscription&TopicArn=${topicArn}&Token=${token}`;
  }

  /**
   * The Message that End User Messaging publishes for one inbound SMS, as
   * an object in AWS's field order. keyword and previousPublishedMessageId
   * default to "" (no registered keyword matched / not a reply); pass null to
   * leave the field out altogether.
   */
  inboundSms({ from = '+14255550123', to = '+18005550199', body = 'Hello', inboundMessageId = randomUUID(),
    keyword = '', previousPublishedMessageId = '' } = {}) {
    const m = { originationNumber: from, destinationNumber: to };
    if (keyword !== null) m.messageKeyword = keyword;
    m.messageBody = body;
    m.inboundMessageId = inboundMessageId;
    if (previousPublishedMessageId !== null) m.previousPublishedMessageId = previousPublishedMessageId;
    return m;
  }

  // Signs, applies the tamper option, and produces the HTTP request parts.
  #finish(fields, tail, { signatureVersion, cert, certUrl, tamper, headers, subscriptionArn }) {
    const leaf = this.cert(cert);
    const version = String(signatureVersion);
    signatureAlgorithm(version); // refuse unknown versions up front
    const tbs = stringToSign(fields);
    const signed = {
      ...fields,
      SignatureVersion: version,
      Signature: signMessage({ ...fields, SignatureVersion: version }, leaf.keyPem),
      SigningCertURL: certUrl ?? leaf.url,
      ...tail,
    };
    applyTamper(signed, tamper);
    const h = {
      'x-amz-sns-message-type': signed.Type,
      'x-amz-sns-message-id': signed.MessageId,
      'x-amz-sns-topic-arn': signed.TopicArn,
    };
    if (subscriptionArn) h['x-amz-sns-subscription-arn'] = subscriptionArn;
    h['content-type'] = SNS_CONTENT_TYPE;
    h['user-agent'] = SNS_USER_AGENT;
    for (const [k, v] of Object.entries(headers ?? {})) {
      if (v === null || v === undefined) delete h[k.toLowerCase()];
      else h[k.toLowerCase()] = v;
    }
    return { headers: h, body: formatSnsBody(signed), json: signed, stringToSign: tbs, certUrl: signed.SigningCertURL };
  }

  // ---- delivery ----

  // deliver()/deliverWithRetries() trusting this fake's CA by default, so an
  // endpoint using serverTls can be reached over HTTPS.
  deliver(url, msg, opts = {}) {
    return deliver(url, msg, { ca: this.caPem, ...opts });
  }

  deliverWithRetries(url, msg, opts = {}) {
    return deliverWithRetries(url, msg, { ca: this.caPem, ...opts });
  }

  // ---- what happened ----

  // Every request to the HTTPS host, oldest first:
  // {seq, kind: 'cert'|'issuer'|'confirm'|'unsubscribe'|'other', time, method, url, path,
  //  query, headers, certName (cert requests; null for an unknown .pem), fault, status}.
  // 'issuer' is a GET of issuerUrl (the intermediate).
  requests() {
    return this.#requests.map((r) => ({ ...r }));
  }

  // GETs of certificate URLs (optionally only those of one variant).
  fetches(name) {
    return this.requests().filter((r) => r.kind === 'cert' && (name === undefined || r.certName === name));
  }

  // GETs of issuerUrl (the intermediate CA certificate), as requests() records them.
  issuerFetches() {
    return this.requests().filter((r) => r.kind === 'issuer');
  }

  // Accepted ConfirmSubscription calls: {seq, time, topicArn, token, subscriptionArn, type}.
  confirmations() {
    return this.#confirmations.map((c) => ({ ...c }));
  }

  // Accepted Unsubscribe calls: {seq, time, subscriptionArn}.
  unsubscribes() {
    return this.#unsubscribes.map((c) => ({ ...c }));
  }

  clear() {
    this.#requests = [];
    this.#confirmations = [];
    this.#unsubscribes = [];
    this.#publishes = [];
    this.#deliveries = [];
  }

  // Resolves with predicate(this)'s first truthy value, re-checked whenever a
  // request arrives or finishes; rejects after timeoutMs.
  waitFor(predicate, { timeoutMs = 5000 } = {}) {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.off('change', onChange);
      };
      const check = () => {
        let v;
        try {
          v = predicate(this);
        } catch (e) {
          done();
          reject(e);
          return;
        }
        if (v) {
          done();
          resolve(v);
        }
      };
      const onChange = () => setImmediate(check);
      const timer = setTimeout(() => {
        done();
        reject(new Error(`sns.waitFor: condition not met within ${timeoutMs} ms`));
      }, timeoutMs);
      this.on('change', onChange);
      check();
    });
  }

  waitForConfirmations(count, { timeoutMs = 5000 } = {}) {
    return this.waitFor((s) => {
      const c = s.confirmations();
      return c.length >= count ? c : null;
    }, { timeoutMs });
  }

  // Waits until `count` certificate GETs (of variant `name`, if given) have been answered.
  waitForFetches(count, { name, timeoutMs = 5000 } = {}) {
    return this.waitFor((s) => {
      const f = s.fetches(name).filter((r) => r.status !== null || r.fault?.drop);
      return f.length >= count ? f : null;
    }, { timeoutMs });
  }

  // Waits until `count` GETs of issuerUrl have been answered (or dropped).
  waitForIssuerFetches(count, { timeoutMs = 5000 } = {}) {
    return this.waitFor((s) => {
      const f = s.issuerFetches().filter((r) => r.status !== null || r.fault?.drop);
      return f.length >= count ? f : null;
    }, { timeoutMs });
  }

  async close() {
    this.#closing = true;
    this.#delays.cancel();
    if (this.#server?.listening) await closeServer(this.#server);
    await this.#pki?.close();
  }

  // ---- HTTPS handler ----

  #classify(u) {
    if (CERT_PATH_RE.test(u.pathname)) {
      const entry = [...this.#certPaths].find(([, p]) => p === u.pathname);
      return { kind: 'cert', certName: entry ? entry[0] : null };
    }
    if (u.pathname === ISSUER_PATH) return { kind: 'issuer', certName: null };
    if (u.pathname === '/') {
      const action = u.searchParams.get('Action');
      if (action === 'ConfirmSubscription') return { kind: 'confirm', certName: null };
      if (action === 'Unsubscribe') return { kind: 'unsubscribe', certName: null };
    }
    return { kind: 'other', certName: null };
  }

  async #onRequest(req, res) {
    const u = new URL(req.url, this.url);
    const requestId = randomUUID();
    const record = {
      seq: ++this.#seq,
      ...this.#classify(u),
      time: new Date().toISOString(),
      method: req.method,
      url: this.url + req.url,
      path: u.pathname,
      query: Object.fromEntries(u.searchParams),
      headers: headerMap(req.rawHeaders),
      fault: null,
      status: null,
    };
    const fault = this.#faults?.shift(this.#faultKey) ?? null;
    record.fault = fault;
    this.#requests.push(record);
    res.on('finish', () => {
      record.status = res.statusCode;
      this.emit('change');
    });
    res.on('close', () => this.emit('change'));
    this.emit('change');
    // GET only: nothing here reads a request body.
    req.resume();

    if (fault) {
      if (fault.delayMs) {
        await this.#delays.sleep(fault.delayMs);
        if (res.destroyed || req.socket.destroyed || !this.#server.listening) return;
      }
      if (fault.drop) {
        req.socket.destroy();
        return;
      }
      if (fault.body !== undefined) {
        res.writeHead(fault.status ?? 200, { 'content-type': fault.contentType ?? 'text/plain', ...(fault.headers ?? {}) });
        res.end(fault.body);
        return;
      }
      if (fault.hugeBodyBytes !== undefined) {
        streamHugeBody(res, fault.hugeBodyBytes, fault.fill, fault.contentType ?? 'application/x-pem-file');
        return;
      }
      if (fault.throttle) {
        sendSnsError(res, fault.status ?? 400, fault.errorType ?? 'Throttling', fault.message ?? 'Rate exceeded', requestId);
        return;
      }
      if (fault.status !== undefined) {
        sendSnsError(res, fault.status, fault.errorType ?? STATUS_ERRORS[fault.status] ?? 'InternalError',
          fault.message ?? `injected ${fault.status}`, requestId);
        return;
      }
      // delay-only fault (or {delayMs: 0} as a placeholder): carry on normally.
    }

    if (req.method !== 'GET') {
      sendSnsError(res, 405, 'MethodNotAllowed', `${req.method} is not supported here`, requestId);
      return;
    }
    switch (record.kind) {
      case 'cert':
        if (!record.certName) {
          sendSnsError(res, 404, 'NotFound', 'no such certificate', requestId);
          return;
        }
        {
          const pem = this.#pki.leaves[record.certName].certPem;
          // SNS serves only the signing certificate, without its intermediate.
          res.writeHead(200, { 'content-type': 'application/x-pem-file', 'content-length': Buffer.byteLength(pem) });
          res.end(pem);
        }
        return;
      case 'issuer': {
        // As CA Issuers URLs serve it: the bare certificate, DER.
        const der = this.#pki.cas.intermediate.certDer;
        res.writeHead(200, { 'content-type': 'application/pkix-cert', 'content-length': der.length });
        res.end(der);
        return;
      }
      case 'confirm':
        this.#confirm(res, u.searchParams, requestId);
        return;
      case 'unsubscribe':
        this.#unsubscribe(res, u.searchParams, requestId);
        return;
      default:
        sendSnsError(res, 404, 'NotFound', 'not an SNS endpoint of this stand-in', requestId);
    }
  }

  #confirm(res, q, requestId) {
    const token = q.get('Token');
    const topicArn = q.get('TopicArn');
    if (!token || !topicArn) {
      sendSnsError(res, 400, 'InvalidParameter', 'Invalid parameter: TopicArn and Token are required', requestId);
      return;
    }
    const r = this.#confirmToken(topicArn, token);
    if (r.error) {
      sendSnsError(res, ...r.error, requestId);
      return;
    }
    const { subscriptionArn } = r;
    sendXml(res, 200, `<ConfirmSubscriptionResponse xmlns="${SNS_XMLNS}">
  <ConfirmSubscriptionResult>
    <SubscriptionArn>${xmlEscape(subscriptionArn)}</SubscriptionArn>
  </ConfirmSubscriptionResult>
  <ResponseMetadata>
    <RequestId>${requestId}</RequestId>
  </ResponseMetadata>
</ConfirmSubscriptionResponse>`);
  }

  #unsubscribe(res, q, requestId) {
    const subscriptionArn = q.get('SubscriptionArn');
    if (!subscriptionArn || (![...this.#subscriptions.values()].includes(subscriptionArn) && !this.#subs.has(subscriptionArn))) {
      sendSnsError(res, 404, 'NotFound', 'Subscription does not exist', requestId);
      return;
    }
    this.#unsubscribes.push({ seq: this.#seq, time: new Date().toISOString(), subscriptionArn });
    this.#subs.delete(subscriptionArn);
    sendXml(res, 200, `<UnsubscribeResponse xmlns="${SNS_XMLNS}">
  <ResponseMetadata>
    <RequestId>${requestId}</RequestId>
  </ResponseMetadata>
</UnsubscribeResponse>`);
  }
}

// Tamper with an already signed message so that only the signature check can
// notice: true/'message' appends a space to Message (a JSON payload stays
// parseable), 'signature' flips one bit of the signature (still valid base64),
// 'signatureVersion' declares the other algorithm, a function mutates the body.
function applyTamper(msg, tamper) {
  if (!tamper) return;
  if (typeof tamper === 'function') {
    tamper(msg);
  } else if (tamper === true || tamper === 'message') {
    msg.Message += ' ';
  } else if (tamper === 'signature') {
    const sig = Buffer.from(msg.Signature, 'base64');
    sig[sig.length >> 1] ^= 0x01;
    msg.Signature = sig.toString('base64');
  } else if (tamper === 'signatureVersion') {
    msg.SignatureVersion = msg.SignatureVersion === '1' ? '2' : '1';
  } else {
    throw new TypeError(`unknown tamper option ${JSON.stringify(tamper)}`);
  }
}

function isoNow() {
  // SNS's form: UTC with milliseconds, e.g. 2012-04-26T20:45:04.751Z.
  return new Date().toISOString();
}

function newToken() {
  // Real tokens are long lower-case hex strings.
  return randomBytes(128).toString('hex');
}

export async function startSnsFake(opts = {}) {
  const fake = new SnsFake(opts);
  return fake.start();
}

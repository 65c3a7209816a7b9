// Tests of the local AWS stand-in (tests/standin) itself: signatures really are
// checked, the fakes speak the AWS wire formats, and every fault kind does what
// it says. Loopback only; every wait is bounded.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const standinDir = path.join(here, '..');
// Resolve the signing libraries from the stand-in's own node_modules.
const requireStandin = createRequire(path.join(standinDir, 'package.json'));
const { SignatureV4 } = await import(requireStandin.resolve('@smithy/signature-v4'));
const { Hash } = await import(requireStandin.resolve('@smithy/hash-node'));
const { EventStreamCodec } = await import(requireStandin.resolve('@smithy/eventstream-codec'));
const { fromUtf8, toUtf8 } = await import(requireStandin.resolve('@smithy/util-utf8'));
const { startStandin, DEFAULT_STATIC_CREDENTIALS } = await import(path.join(standinDir, 'standin.mjs'));
const { verifySigV4 } = await import(path.join(standinDir, 'sigv4-verify.mjs'));
const { decodeEventStream } = await import(path.join(standinDir, 'bedrock.mjs'));
const { CredentialStore } = await import(path.join(standinDir, 'credentials.mjs'));

const Sha256 = Hash.bind(null, 'sha256');
const codec = new EventStreamCodec(toUtf8, fromUtf8);
const TABLE = 'twowayd-consent';
const REQUEST_TIMEOUT_MS = 10000;

// ---- helpers ------------------------------------------------------------------

// Plain HTTP request over loopback (node:http, so the Host header is exactly what
// was signed). Resolves {status, headers, body: Buffer}; rejects on socket errors.
function httpRequest(url, { method = 'POST', headers = {}, body } = {}) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, method, path: u.pathname + u.search, headers, agent: false },
      (res) => {
        const parts = [];
        res.on('data', (c) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(parts) }));
        res.on('error', reject);
      },
    );
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

const SERVICE_INFO = {
  dynamodb: { signingName: 'dynamodb', targetPrefix: 'DynamoDB_20120810.' },
  sms: { signingName: 'sms-voice', targetPrefix: 'PinpointSMSVoiceV2.' },
  bedrock: { signingName: 'bedrock' },
  sqs: { signingName: 'sqs', targetPrefix: 'AmazonSQS.' },
  snsApi: { signingName: 'sns' },
};

// Signs with the official signer exactly as an SDK would, then (optionally) lets
// the test corrupt the signed request before it is sent.
async function signedCall(standin, service, {
  operation, params = {}, urlPath = '/', credentials = DEFAULT_STATIC_CREDENTIALS,
  signingName = SERVICE_INFO[service].signingName, region = standin.region, signingDate,
  tamper, extraHeaders = {}, applyChecksum = true, form,
} = {}) {
  const base = new URL(standin.endpoints[service]);
  // form: a Query-protocol call (SNS), form-encoded.
  const body = form ? new URLSearchParams({ ...form, Version: '2010-03-31' }).toString() : JSON.stringify(params);
  const headers = {
    host: base.host,
    'content-type': form ? 'application/x-www-form-urlencoded; charset=utf-8'
      : service === 'bedrock' ? 'application/json' : 'application/x-amz-json-1.0',
    ...extraHeaders,
  };
  if (operation) headers['x-amz-target'] = SERVICE_INFO[service].targetPrefix + operation;
  // applyChecksum=true (the JS SDK default) adds a signed x-amz-content-sha256 header;
  // false signs the body hash only inside the canonical request, as botocore and the
  // daemon do.
  const signer = new SignatureV4({ credentials, region, service: signingName, sha256: Sha256, applyChecksum });
  const signed = await signer.sign(
    { method: 'POST', protocol: 'http:', hostname: base.hostname, port: Number(base.port), path: urlPath, query: {}, headers, body },
    signingDate ? { signingDate } : {},
  );
  const req = { headers: { ...signed.headers }, body, urlPath };
  if (tamper) tamper(req);
  req.headers['content-length'] = String(Buffer.byteLength(req.body));
  const res = await httpRequest(base.origin + req.urlPath, { headers: req.headers, body: req.body });
  return { ...res, json: parseJson(res.body) };
}

function parseJson(buf) {
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch {
    return undefined;
  }
}

function decodeStream(buf) {
  const out = [];
  let off = 0;
  while (off < buf.length) {
    const total = buf.readUInt32BE(off);
    const m = codec.decode(new Uint8Array(buf.buffer, buf.byteOffset + off, total));
    const headers = Object.fromEntries(Object.entries(m.headers).map(([k, v]) => [k, v.value]));
    out.push({ headers, payload: JSON.parse(toUtf8(m.body)) });
    off += total;
  }
  return out;
}

function answerText(events) {
  return events
    .filter((e) => e.headers[':event-type'] === 'chunk')
    .map((e) => Buffer.from(e.payload.bytes, 'base64').toString('utf8'))
    .join('');
}

const agentPath = (sessionId, agentId = 'AGENT12345', alias = 'TSTALIASID') =>
  `/agents/${agentId}/agentAliases/${alias}/sessions/${encodeURIComponent(sessionId)}/text`;

const invoke = (standin, sessionId, body, opts = {}) =>
  signedCall(standin, 'bedrock', { urlPath: agentPath(sessionId), params: body, ...opts });

const sendSms = (standin, params, opts = {}) =>
  signedCall(standin, 'sms', { operation: 'SendTextMessage', params, ...opts });

async function withStandin(opts, fn) {
  const standin = await startStandin(opts);
  try {
    await fn(standin);
  } finally {
    await standin.close();
  }
}

async function imdsCredentials(standin) {
  const tok = await httpRequest(`${standin.endpoints.imds}/latest/api/token`, {
    method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '21600' },
  });
  assert.equal(tok.status, 200);
  const h = { 'x-aws-ec2-metadata-token': tok.body.toString() };
  const role = await httpRequest(`${standin.endpoints.imds}/latest/meta-data/iam/security-credentials/`, { method: 'GET', headers: h });
  assert.equal(role.status, 200);
  const cr = await httpRequest(
    `${standin.endpoints.imds}/latest/meta-data/iam/security-credentials/${role.body.toString().trim()}`,
    { method: 'GET', headers: h });
  assert.equal(cr.status, 200);
  return JSON.parse(cr.body.toString());
}

const asSigner = (c) => ({ accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.Token });

// ---- signatures accepted ----------------------------------------------------------

// Independent of the signer library: vectors from the AWS SigV4 test suite
// (get-vanilla, post-vanilla; AKIDEXAMPLE, us-east-1, service "service", 20150830T123600Z).
test('the verifier accepts the AWS SigV4 test-suite vectors and rejects a one-digit change', async () => {
  const credentials = new CredentialStore();
  credentials.addStatic({ accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' });
  const ctx = { credentials, region: 'us-east-1', service: 'service', now: () => Date.UTC(2015, 7, 30, 12, 36, 0) };
  const vector = (method, sig) => ({
    method,
    url: '/',
    body: Buffer.alloc(0),
    headers: {
      host: 'example.amazonaws.com',
      'x-amz-date': '20150830T123600Z',
      authorization: 'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, ' +
        `SignedHeaders=host;x-amz-date, Signature=${sig}`,
    },
  });
  const getSig = '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31';
  const postSig = '5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b';
  const g = await verifySigV4(vector('GET', getSig), ctx);
  assert.equal(g.ok, true, g.message);
  assert.equal(g.canonicalRequest,
    'GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n' +
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal((await verifySigV4(vector('POST', postSig), ctx)).ok, true);
  const flipped = await verifySigV4(vector('GET', getSig.replace(/1$/, '2')), ctx);
  assert.equal(flipped.ok, false);
  assert.equal(flipped.code, 'InvalidSignatureException');
  // The GET signature does not fit a POST: the method is part of what is signed.
  assert.equal((await verifySigV4(vector('POST', getSig), ctx)).ok, false);
});

test('a request signed with the static keys is accepted by every service', async () => {
  await withStandin({ consentTable: TABLE }, async (standin) => {
    const d = await signedCall(standin, 'dynamodb', { operation: 'ListTables', params: {} });
    assert.equal(d.status, 200, d.body.toString());
    assert.deepEqual(d.json.TableNames, [TABLE]);

    const s = await sendSms(standin, { DestinationPhoneNumber: '+14255550182', MessageBody: 'hi' });
    assert.equal(s.status, 200, s.body.toString());
    assert.match(s.json.MessageId, /^[0-9a-f-]{36}$/);

    const b = await invoke(standin, 'sess-1', { inputText: 'hello' });
    assert.equal(b.status, 200, b.body.toString());

    for (const svc of ['dynamodb', 'sms', 'bedrock']) {
      const recs = standin.requests(svc);
      assert.equal(recs.length, 1);
      assert.equal(recs[0].verification.ok, true, recs[0].verification.message);
      assert.equal(recs[0].verification.accessKeyId, DEFAULT_STATIC_CREDENTIALS.accessKeyId);
      assert.equal(recs[0].verification.temporary, false);
    }
    assert.equal(standin.requests('dynamodb')[0].operation, 'ListTables');
    assert.equal(standin.requests('sms')[0].operation, 'SendTextMessage');
    assert.equal(standin.requests('bedrock')[0].operation, 'InvokeAgent');
    assert.deepEqual(standin.rejected(), []);
  });
});

test('session ids needing percent-encoding verify (double-encoded canonical URI) and arrive decoded', async () => {
  await withStandin({}, async (standin) => {
    const r = await invoke(standin, 'abc:def', { inputText: 'x' });
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.headers['x-amz-bedrock-agent-session-id'], 'abc:def');
    assert.equal(standin.bedrock.invocations()[0].sessionId, 'abc:def');
    assert.match(standin.requests('bedrock')[0].verification.canonicalRequest, /sessions\/abc%253Adef\/text/);
  });
});

test('the agent refuses a sessionState the model does not allow, as the service does', async () => {
  await withStandin({}, async (standin) => {
    const bad = [
      { sessionAttributes: { n: 1 } },
      { promptSessionAttributes: ['x'] },
      { returnControlInvocationResults: [] },
      { returnControlInvocationResults: Array(6).fill({ functionResult: { actionGroup: 'a' } }) },
      { returnControlInvocationResults: [{ functionResult: {} }] },
      { returnControlInvocationResults: [{ functionResult: { actionGroup: 'a' }, apiResult: { actionGroup: 'b' } }] },
    ];
    for (const sessionState of bad) {
      const r = await invoke(standin, 'sess-1', { inputText: 'x', sessionState });
      assert.equal(r.status, 400, JSON.stringify(sessionState));
      assert.match(r.headers['x-amzn-errortype'], /^ValidationException/);
      assert.match(r.json.message, /validation error\(s\) detected: invalid sessionState/);
    }
    const ok = await invoke(standin, 'sess-1', {
      sessionState: { invocationId: 'i-1', returnControlInvocationResults: [{ apiResult: { actionGroup: 'a' } }] },
    });
    assert.equal(ok.status, 200, ok.body.toString());
    assert.equal(standin.bedrock.invocations().length, 1);
  });
});

test('the agent scripts any event sequence', async () => {
  await withStandin({}, async (standin) => {
    standin.bedrock.setResponder(() => ({
      events: [{ trace: { t: 1 } }, { chunk: 'a', attribution: { citations: [] } }, { files: [{ name: 'f' }] },
        { returnControl: { invocationId: 'i' } }],
    }));
    const r = await invoke(standin, 'sess-1', { inputText: 'x' });
    assert.equal(r.status, 200);
    const types = decodeEventStream(r.body).map((m) => m.headers[':event-type']);
    assert.deepEqual(types, ['trace', 'chunk', 'files', 'returnControl']);
  });
});

// ---- signatures rejected ----------------------------------------------------------

test('a tampered body is rejected by every service with the AWS error shape', async () => {
  await withStandin({ consentTable: TABLE }, async (standin) => {
    // No x-amz-content-sha256 header: only recomputing the signature over the
    // received bytes can catch the change.
    const opts = { applyChecksum: false };
    const item = { phone_number: { S: '+14255550182' }, state: { S: 'opted_in' } };
    const d = await signedCall(standin, 'dynamodb', {
      ...opts, operation: 'PutItem', params: { TableName: TABLE, Item: item },
      tamper: (r) => { r.body = r.body.replace('opted_in', 'opted_no'); },
    });
    assert.equal(d.status, 400);
    assert.equal(d.json.__type, 'com.amazon.coral.service#InvalidSignatureException');
    assert.match(d.json.message, /^The request signature we calculated does not match the signature you provided/);
    // Like AWS, the message shows the canonical request the server expected.
    assert.match(d.json.message, /The Canonical String for this request should have been\n'POST\n\/\n/);
    // The rejected write never reached the database.
    const got = await standin.dynamodb.call('GetItem', { TableName: TABLE, Key: { phone_number: item.phone_number } });
    assert.equal(got.Item, undefined);

    const s = await sendSms(standin, { DestinationPhoneNumber: '+14255550182', MessageBody: 'hi' }, {
      ...opts,
      tamper: (r) => { r.body = r.body.replace('hi', 'ho'); },
    });
    assert.equal(s.status, 400);
    assert.equal(s.json.__type, 'com.amazon.coral.service#InvalidSignatureException');
    assert.equal(standin.sms.sent().length, 0);

    const b = await invoke(standin, 'sess-1', { inputText: 'hello' }, {
      ...opts,
      tamper: (r) => { r.body = r.body.replace('hello', 'hellO'); },
    });
    assert.equal(b.status, 403);
    assert.match(b.headers['x-amzn-errortype'], /^InvalidSignatureException:/);
    assert.match(b.json.message, /signature we calculated does not match/);
    assert.equal(standin.bedrock.invocations().length, 0);

    assert.equal(standin.rejected().length, 3);
    for (const r of standin.rejected()) assert.equal(r.verification.code, 'InvalidSignatureException');
  });
});

test('a wrong secret, an unknown key, a flipped signature digit and a changed signed header are rejected', async () => {
  await withStandin({}, async (standin) => {
    const wrongSecret = { ...DEFAULT_STATIC_CREDENTIALS, secretAccessKey: 'not-the-secret' };
    const r1 = await signedCall(standin, 'dynamodb', { operation: 'ListTables', credentials: wrongSecret });
    assert.equal(r1.status, 400);
    assert.equal(r1.json.__type, 'com.amazon.coral.service#InvalidSignatureException');

    const unknown = { accessKeyId: 'AKIAUNKNOWNKEY000000', secretAccessKey: 'x' };
    const r2 = await signedCall(standin, 'dynamodb', { operation: 'ListTables', credentials: unknown });
    assert.equal(r2.status, 400);
    assert.equal(r2.json.__type, 'com.amazon.coral.service#UnrecognizedClientException');
    assert.equal(r2.json.message, 'The security token included in the request is invalid.');

    const r2b = await invoke(standin, 'sess-1', {}, { credentials: unknown });
    assert.equal(r2b.status, 403);
    assert.match(r2b.headers['x-amzn-errortype'], /^UnrecognizedClientException:/);

    const r3 = await sendSms(standin, { DestinationPhoneNumber: '+14255550182' }, {
      tamper: (r) => {
        r.headers.authorization = r.headers.authorization.replace(/Signature=([0-9a-f])/,
          (_, c) => `Signature=${c === '0' ? '1' : '0'}`);
      },
    });
    assert.equal(r3.status, 400);
    assert.equal(r3.json.__type, 'com.amazon.coral.service#InvalidSignatureException');

    // X-Amz-Target is signed: turning a ListTables into a DeleteTable must fail.
    const r4 = await signedCall(standin, 'dynamodb', {
      operation: 'ListTables',
      tamper: (r) => { r.headers['x-amz-target'] = 'DynamoDB_20120810.DeleteTable'; },
    });
    assert.equal(r4.status, 400);
    assert.equal(r4.json.__type, 'com.amazon.coral.service#InvalidSignatureException');

    // A stale (signed) x-amz-content-sha256 cannot be used to smuggle a different body.
    const r5 = await signedCall(standin, 'dynamodb', {
      operation: 'ListTables', params: {},
      tamper: (r) => { r.body = '{"Limit":1}'; },
    });
    assert.equal(r5.status, 400);
    assert.match(r5.json.message, /x-amz-content-sha256/);

    const missing = await httpRequest(standin.endpoints.dynamodb, {
      headers: { 'x-amz-target': 'DynamoDB_20120810.ListTables', 'content-type': 'application/x-amz-json-1.0' },
      body: '{}',
    });
    assert.equal(missing.status, 400);
    assert.equal(parseJson(missing.body).__type, 'com.amazon.coral.service#MissingAuthenticationTokenException');
    assert.equal(standin.requests('dynamodb').filter((r) => r.verification.ok).length, 0);
  });
});

test('a wrong service or region in the credential scope and a skewed clock are rejected', async () => {
  await withStandin({}, async (standin) => {
    // sms-voice is the signing name; the host prefix "sms" or another service is wrong.
    const r1 = await sendSms(standin, { DestinationPhoneNumber: '+14255550182' }, { signingName: 'dynamodb' });
    assert.equal(r1.status, 400);
    assert.equal(r1.json.__type, 'com.amazon.coral.service#InvalidSignatureException');
    assert.equal(r1.json.message, "Credential should be scoped to correct service: 'sms-voice'. ");

    // Bedrock signs as "bedrock", not "bedrock-agent-runtime".
    const r2 = await invoke(standin, 'sess-1', {}, { signingName: 'bedrock-agent-runtime' });
    assert.equal(r2.status, 403);
    assert.match(r2.json.message, /scoped to correct service: 'bedrock'/);

    const r3 = await signedCall(standin, 'dynamodb', { operation: 'ListTables', region: 'eu-west-1' });
    assert.equal(r3.status, 400);
    assert.equal(r3.json.message, 'Credential should be scoped to a valid region. ');

    const r4 = await signedCall(standin, 'dynamodb', {
      operation: 'ListTables', signingDate: new Date(Date.now() - 10 * 60 * 1000),
    });
    assert.equal(r4.status, 400);
    assert.match(r4.json.message, /^Signature expired: \d{8}T\d{6}Z is now earlier than/);

    const r5 = await signedCall(standin, 'dynamodb', {
      operation: 'ListTables', signingDate: new Date(Date.now() + 10 * 60 * 1000),
    });
    assert.equal(r5.status, 400);
    assert.match(r5.json.message, /^Signature not yet current/);

    // Within the window is fine.
    const r6 = await signedCall(standin, 'dynamodb', {
      operation: 'ListTables', signingDate: new Date(Date.now() - 60 * 1000),
    });
    assert.equal(r6.status, 200);
  });
});

// ---- IMDSv2 -------------------------------------------------------------------------

test('IMDSv2: token required, role and credentials, region and identity document', async () => {
  await withStandin({ region: 'eu-central-1' }, async (standin) => {
    const imds = standin.endpoints.imds;
    const noTtl = await httpRequest(`${imds}/latest/api/token`, { method: 'PUT' });
    assert.equal(noTtl.status, 400);
    const noToken = await httpRequest(`${imds}/latest/meta-data/iam/security-credentials/`, { method: 'GET' });
    assert.equal(noToken.status, 401);
    const badToken = await httpRequest(`${imds}/latest/meta-data/placement/region`, {
      method: 'GET', headers: { 'x-aws-ec2-metadata-token': 'nope' },
    });
    assert.equal(badToken.status, 401);

    const tok = await httpRequest(`${imds}/latest/api/token`, {
      method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' },
    });
    assert.equal(tok.status, 200);
    assert.equal(tok.headers['x-aws-ec2-metadata-token-ttl-seconds'], '60');
    const h = { 'x-aws-ec2-metadata-token': tok.body.toString() };
    const region = await httpRequest(`${imds}/latest/meta-data/placement/region`, { method: 'GET', headers: h });
    assert.equal(region.body.toString(), 'eu-central-1');
    const doc = await httpRequest(`${imds}/latest/dynamic/instance-identity/document`, { method: 'GET', headers: h });
    assert.equal(JSON.parse(doc.body.toString()).region, 'eu-central-1');
    const other = await httpRequest(`${imds}/latest/meta-data/iam/security-credentials/other-role`, { method: 'GET', headers: h });
    assert.equal(other.status, 404);

    const c1 = await imdsCredentials(standin);
    assert.equal(c1.Code, 'Success');
    assert.equal(c1.Type, 'AWS-HMAC');
    assert.match(c1.AccessKeyId, /^ASIA/);
    assert.ok(c1.SecretAccessKey && c1.Token);
    assert.match(c1.Expiration, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.match(c1.LastUpdated, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const c2 = await imdsCredentials(standin);
    assert.notEqual(c2.AccessKeyId, c1.AccessKeyId, 'each issue gives new keys');
    assert.equal(standin.imds.issued().length, 2);
  });
});

test('IMDS credentials sign accepted requests until they expire, then ExpiredTokenException', async () => {
  await withStandin({ consentTable: TABLE, imds: { credentialLifetimeSec: 2 } }, async (standin) => {
    const c = await imdsCredentials(standin);
    const creds = asSigner(c);
    const ok1 = await signedCall(standin, 'dynamodb', { operation: 'ListTables', credentials: creds });
    assert.equal(ok1.status, 200, ok1.body.toString());
    const ok2 = await invoke(standin, 'sess-1', { inputText: 'a' }, { credentials: creds });
    assert.equal(ok2.status, 200, ok2.body.toString());
    const ok3 = await sendSms(standin, { DestinationPhoneNumber: '+14255550182', MessageBody: 'a' }, { credentials: creds });
    assert.equal(ok3.status, 200);
    assert.equal(standin.requests('dynamodb')[0].verification.temporary, true);

    // The same keys without the session token, or with another token, are not valid.
    const noTok = await signedCall(standin, 'dynamodb', {
      operation: 'ListTables', credentials: { ...creds, sessionToken: undefined },
    });
    assert.equal(noTok.json.__type, 'com.amazon.coral.service#UnrecognizedClientException');
    const otherTok = await signedCall(standin, 'dynamodb', {
      operation: 'ListTables', credentials: { ...creds, sessionToken: 'IQoJforged' },
    });
    assert.equal(otherTok.json.__type, 'com.amazon.coral.service#UnrecognizedClientException');

    // The condition here is the passage of time itself: wait (at most ~2 s) until the
    // advertised Expiration is behind us.
    const expiry = Date.parse(c.Expiration);
    assert.ok(expiry - Date.now() <= 2000);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiry - Date.now()) + 20));
    const d = await signedCall(standin, 'dynamodb', { operation: 'ListTables', credentials: creds });
    assert.equal(d.status, 400);
    assert.equal(d.json.__type, 'com.amazon.coral.service#ExpiredTokenException');
    assert.equal(d.json.message, 'The security token included in the request is expired');
    const b = await invoke(standin, 'sess-1', {}, { credentials: creds });
    assert.equal(b.status, 403);
    assert.match(b.headers['x-amzn-errortype'], /^ExpiredTokenException:/);

    // Fresh credentials from IMDS work again.
    const fresh = asSigner(await imdsCredentials(standin));
    const again = await signedCall(standin, 'dynamodb', { operation: 'ListTables', credentials: fresh });
    assert.equal(again.status, 200);
  });
});

test('credentials.expire() forces ExpiredTokenException without waiting', async () => {
  await withStandin({}, async (standin) => {
    const c = await imdsCredentials(standin);
    standin.credentials.expire(c.AccessKeyId);
    const r = await sendSms(standin, { DestinationPhoneNumber: '+14255550182' }, { credentials: asSigner(c) });
    assert.equal(r.status, 400);
    assert.equal(r.json.__type, 'com.amazon.coral.service#ExpiredTokenException');
  });
});

// ---- DynamoDB ---------------------------------------------------------------------------

test('DynamoDB PutItem/GetItem round trip through the verifying proxy', async () => {
  await withStandin({}, async (standin) => {
    const table = await standin.dynamodb.createConsentTable();
    assert.equal(table.TableName, TABLE);
    assert.deepEqual(table.KeySchema, [{ AttributeName: 'phone_number', KeyType: 'HASH' }]);

    const Item = { phone_number: { S: '+14255550182' }, consent: { BOOL: true }, ttl: { N: '1767225600' } };
    const put = await signedCall(standin, 'dynamodb', {
      operation: 'PutItem',
      params: { TableName: TABLE, Item, ConditionExpression: 'attribute_not_exists(phone_number)' },
    });
    assert.equal(put.status, 200, put.body.toString());
    assert.ok(put.headers['x-amz-crc32'], 'dynalite answer passed through unchanged');

    const get = await signedCall(standin, 'dynamodb', {
      operation: 'GetItem',
      params: { TableName: TABLE, Key: { phone_number: { S: '+14255550182' } }, ConsistentRead: true },
    });
    assert.equal(get.status, 200);
    assert.deepEqual(get.json.Item, Item);

    // Real DynamoDB semantics come from dynalite: the condition now fails.
    const again = await signedCall(standin, 'dynamodb', {
      operation: 'PutItem',
      params: { TableName: TABLE, Item, ConditionExpression: 'attribute_not_exists(phone_number)' },
    });
    assert.equal(again.status, 400);
    assert.match(again.json.__type, /#ConditionalCheckFailedException$/);

    assert.deepEqual(standin.requests('dynamodb').map((r) => r.operation), ['PutItem', 'GetItem', 'PutItem']);
    assert.deepEqual(standin.requests('dynamodb')[1].body.Key, { phone_number: { S: '+14255550182' } });
    assert.deepEqual(standin.rejected(), []);
  });
});

test('DynamoDB Time to Live: UpdateTimeToLive checked as the service does, DescribeTimeToLive answers from it', async () => {
  await withStandin({}, async (standin) => {
    const T = 'ttl-table';
    const ddb = (operation, params) => signedCall(standin, 'dynamodb', { operation, params });
    const spec = (Enabled, AttributeName = 'expires_at') => ({ TableName: T, TimeToLiveSpecification: { Enabled, AttributeName } });
    const refused = (r, type, message) => {
      assert.equal(r.status, 400, r.body.toString());
      assert.equal(r.json.__type, type);
      if (message instanceof RegExp) assert.match(r.json.message, message);
      else assert.equal(r.json.message, message);
    };
    await standin.dynamodb.call('CreateTable', { TableName: T, BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }] });

    let r = await ddb('DescribeTimeToLive', { TableName: T });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { TimeToLiveDescription: { TimeToLiveStatus: 'DISABLED' } });
    r = await ddb('UpdateTimeToLive', spec(true));
    assert.equal(r.status, 200, r.body.toString());
    assert.deepEqual(r.json, { TimeToLiveSpecification: { Enabled: true, AttributeName: 'expires_at' } });
    r = await ddb('DescribeTimeToLive', { TableName: `arn:aws:dynamodb:us-east-1:123456789012:table/${T}` });
    assert.deepEqual(r.json, { TimeToLiveDescription: { TimeToLiveStatus: 'ENABLED', AttributeName: 'expires_at' } });

    const invalid = 'com.amazon.coral.validate#ValidationException';
    refused(await ddb('UpdateTimeToLive', spec(true)), invalid, 'TimeToLive is already enabled');
    refused(await ddb('UpdateTimeToLive', spec(true, 'other')), invalid, 'TimeToLive is already enabled');
    refused(await ddb('UpdateTimeToLive', spec(false, 'other')), invalid,
      'TimeToLive is active on a different AttributeName: current AttributeName is expires_at');
    // One change an hour.
    refused(await ddb('UpdateTimeToLive', spec(false)), invalid,
      'Time to live has been modified multiple times within a fixed interval');
    standin.dynamodb.setTtlCooldownMs(0);
    r = await ddb('UpdateTimeToLive', spec(false));
    assert.equal(r.status, 200, r.body.toString());
    assert.deepEqual((await ddb('DescribeTimeToLive', { TableName: T })).json,
      { TimeToLiveDescription: { TimeToLiveStatus: 'DISABLED' } });
    refused(await ddb('UpdateTimeToLive', spec(false)), invalid, 'TimeToLive is already disabled');

    // The request is validated like any other.
    refused(await ddb('UpdateTimeToLive', { TableName: T }), invalid,
      "The parameter 'TimeToLiveSpecification' is required but was not present in the request");
    refused(await ddb('UpdateTimeToLive', { TableName: T, TimeToLiveSpecification: { AttributeName: '' } }), invalid,
      "2 validation errors detected: Value null at 'timeToLiveSpecification.enabled' failed to satisfy constraint: " +
      "Member must not be null; Value '' at 'timeToLiveSpecification.attributeName' failed to satisfy constraint: " +
      'Member must have length greater than or equal to 1');
    refused(await ddb('UpdateTimeToLive', { ...spec(true), TableName: 'no-such-table' }),
      'com.amazonaws.dynamodb.v20120810#ResourceNotFoundException', 'Requested resource not found: Table: no-such-table not found');
    refused(await ddb('DescribeTimeToLive', { TableName: 'x' }), invalid,
      'TableName must be at least 3 characters long and at most 255 characters long');

    // A table deleted and created again starts without TTL.
    await ddb('UpdateTimeToLive', spec(true));
    await standin.dynamodb.call('DeleteTable', { TableName: T });
    // deleteTableMs is 0, but the table goes on a timer: wait until it is gone, bounded.
    const deadline = Date.now() + 5000;
    for (;;) {
      const d = await ddb('DescribeTable', { TableName: T });
      if (d.status === 400 && d.json.__type.endsWith('#ResourceNotFoundException')) break;
      assert.ok(Date.now() < deadline, `table ${T} still there after 5 s`);
      await new Promise((r) => setTimeout(r, 5));
    }
    await standin.dynamodb.call('CreateTable', { TableName: T, BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }] });
    assert.deepEqual(await standin.dynamodb.call('DescribeTimeToLive', { TableName: T }),
      { TimeToLiveDescription: { TimeToLiveStatus: 'DISABLED' } });
    assert.deepEqual(standin.rejected(), []);
  });
});

// ---- Bedrock InvokeAgent ------------------------------------------------------------------

test('InvokeAgent answers an event stream that decodes into the scripted answer', async () => {
  await withStandin({}, async (standin) => {
    const r = await invoke(standin, 'sess-1', { inputText: 'hello' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/vnd.amazon.eventstream');
    assert.equal(r.headers['x-amzn-bedrock-agent-content-type'], 'application/json');
    assert.equal(r.headers['x-amz-bedrock-agent-session-id'], 'sess-1');
    const events = decodeStream(r.body);
    assert.equal(events.length, 1);
    assert.deepEqual(events[0].headers, {
      ':event-type': 'chunk', ':content-type': 'application/json', ':message-type': 'event',
    });
    assert.equal(answerText(events), 'You said: hello');

    const seen = [];
    standin.bedrock.setResponder((input, sessionId, attrs) => {
      seen.push({ input, sessionId, attrs });
      return { chunks: ['Hel', 'lo ', attrs.name] };
    });
    const r2 = await invoke(standin, 'sess-2', {
      inputText: 'hi', sessionState: { sessionAttributes: { name: 'Ana' } },
    });
    const ev2 = decodeStream(r2.body);
    assert.equal(ev2.length, 3);
    assert.equal(answerText(ev2), 'Hello Ana');
    assert.deepEqual(seen, [{ input: 'hi', sessionId: 'sess-2', attrs: { name: 'Ana' } }]);

    // Partial output, then an in-stream exception after HTTP 200.
    standin.bedrock.setResponder(() => ({ chunks: ['part'], exception: 'throttlingException', message: 'Rate exceeded' }));
    const r3 = await invoke(standin, 'sess-3', { inputText: 'x' });
    assert.equal(r3.status, 200);
    const ev3 = decodeStream(r3.body);
    assert.equal(answerText(ev3), 'part');
    assert.deepEqual(ev3[1].headers, {
      ':exception-type': 'throttlingException', ':content-type': 'application/json', ':message-type': 'exception',
    });
    assert.deepEqual(ev3[1].payload, { message: 'Rate exceeded' });

    standin.bedrock.setResponder(() => ({ exception: 'dependencyFailedException' }));
    const ev4 = decodeStream((await invoke(standin, 'sess-4', {})).body);
    assert.equal(ev4.length, 1);
    assert.equal(ev4[0].headers[':exception-type'], 'dependencyFailedException');

    // Per-call delay, async responders.
    standin.bedrock.setResponder(async (input) => ({ text: input.toUpperCase(), delayMs: 150 }));
    const t0 = Date.now();
    const r5 = await invoke(standin, 'sess-5', { inputText: 'slow' });
    assert.ok(Date.now() - t0 >= 140);
    assert.equal(answerText(decodeStream(r5.body)), 'SLOW');

    const bad = await invoke(standin, 'x', {}); // sessionId shorter than 2
    assert.equal(bad.status, 400);
    assert.equal(bad.headers['x-amzn-errortype'], 'ValidationException');
  });
});

// ---- SMS ----------------------------------------------------------------------------------

test('SendTextMessage records the message; validation and opt-out errors have the AWS shape', async () => {
  await withStandin({}, async (standin) => {
    standin.sms.addPhoneNumber({ phoneNumber: '+12125550101', numberType: 'SHORT_CODE' });
    const ok = await sendSms(standin, {
      DestinationPhoneNumber: '+14255550182', OriginationIdentity: '+12125550101', MessageBody: 'Hi there',
      MessageType: 'TRANSACTIONAL',
    });
    assert.equal(ok.status, 200);
    const sent = standin.sms.sent();
    assert.equal(sent.length, 1);
    assert.equal(sent[0].MessageId, ok.json.MessageId);
    assert.equal(sent[0].DestinationPhoneNumber, '+14255550182');
    assert.equal(sent[0].MessageBody, 'Hi there');

    const missing = await sendSms(standin, { MessageBody: 'x' });
    assert.equal(missing.status, 400);
    assert.equal(missing.json.__type, 'com.amazonaws.pinpointsmsvoicev2#ValidationException');
    assert.equal(missing.json.Reason, 'FIELD_VALIDATION_FAILED');
    assert.equal(missing.json.Fields[0].Name, 'DestinationPhoneNumber');
    assert.match(missing.json.Message, /validation error/);

    const badNumber = await sendSms(standin, { DestinationPhoneNumber: '0042' });
    assert.equal(badNumber.status, 400);

    standin.sms.setOptedOut('+14255550199');
    const opted = await sendSms(standin, { DestinationPhoneNumber: '+14255550199', MessageBody: 'x' });
    assert.equal(opted.status, 400);
    assert.match(opted.json.__type, /#ConflictException$/);
    assert.equal(opted.json.Reason, 'DESTINATION_PHONE_NUMBER_OPTED_OUT');
    assert.equal(standin.sms.sent().length, 1);

    const unknownOp = await signedCall(standin, 'sms', { operation: 'DescribeKeywords', params: {} });
    assert.equal(unknownOp.status, 400);
    assert.equal(unknownOp.json.__type, 'com.amazon.coral.service#UnknownOperationException');

    // Extension point for later operations.
    standin.sms.setHandler('DescribePhoneNumbers', () => ({ PhoneNumbers: [{ PhoneNumber: '+12125550101', TwoWayEnabled: true }] }));
    const described = await signedCall(standin, 'sms', { operation: 'DescribePhoneNumbers', params: {} });
    assert.equal(described.status, 200);
    assert.equal(described.json.PhoneNumbers[0].TwoWayEnabled, true);
    assert.deepEqual(standin.rejected(), []);
  });
});

test('SendTextMessage from an owned number is limited in message parts per second by its type', async () => {
  await withStandin({}, async (standin) => {
    const tollFree = standin.sms.addPhoneNumber({ phoneNumber: '+18005550150', numberType: 'TOLL_FREE', isoCountryCode: 'US' });
    const shortCode = standin.sms.addPhoneNumber({ phoneNumber: '+15550150', id: 'phone-short', numberType: 'SHORT_CODE', isoCountryCode: 'US' });
    const from = (OriginationIdentity, MessageBody = 'Hi') =>
      sendSms(standin, { DestinationPhoneNumber: '+14255550182', OriginationIdentity, MessageBody });

    // US toll-free: 3 parts per second. Three at once pass, the fourth is refused
    // with the service's throttling shape, and nothing is recorded for it.
    const burst = await Promise.all([1, 2, 3, 4].map(() => from(tollFree.PhoneNumber)));
    assert.deepEqual(burst.map((r) => r.status).sort(), [200, 200, 200, 400]);
    const refused = burst.find((r) => r.status === 400);
    assert.equal(refused.json.__type, 'com.amazonaws.pinpointsmsvoicev2#ThrottlingException');
    assert.equal(refused.json.Message, 'Rate exceeded');
    assert.equal(standin.sms.sent().length, 3);
    assert.deepEqual(standin.sms.throttled().map((t) => [t.OriginationIdentity, t.parts, t.mps]),
      [['+18005550150', 1, 3]]);

    // The same number by its id and by its ARN shares the one limit.
    assert.equal((await from(tollFree.PhoneNumberId)).status, 400);
    assert.equal((await from(tollFree.PhoneNumberArn)).status, 400);

    // A 3-part message costs 3: with a full bucket it passes, and the next part waits.
    standin.sms.resetRateLimits();
    assert.equal((await from(tollFree.PhoneNumber, 'x'.repeat(400))).status, 200);
    assert.equal(standin.sms.sent().at(-1).parts, 3);
    assert.equal((await from(tollFree.PhoneNumber)).status, 400);

    // A short code takes 100 at once.
    const fast = await Promise.all(Array.from({ length: 100 }, () => from(shortCode.PhoneNumberId)));
    assert.ok(fast.every((r) => r.status === 200));

    assert.deepEqual(standin.rejected(), []);
  });
});

test('SendTextMessage from an identity the account does not own is ResourceNotFoundException, and nothing is sent', async () => {
  await withStandin({}, async (standin) => {
    const owned = standin.sms.addPhoneNumber({ phoneNumber: '+18005550151', numberType: 'SHORT_CODE' });
    const from = (OriginationIdentity) =>
      sendSms(standin, { DestinationPhoneNumber: '+14255550182', OriginationIdentity, MessageBody: 'Hi' });
    for (const id of [owned.PhoneNumber, owned.PhoneNumberId, owned.PhoneNumberArn]) {
      assert.equal((await from(id)).status, 200, id);
    }
    const cases = [
      ['+12125550101', 'phone-number'],
      ['phone-0123456789abcdef0123456789abcdef', 'phone-number'],
      ['arn:aws:sms-voice:us-east-1:123456789012:phone-number/phone-0123456789abcdef', 'phone-number'],
      ['pool-0123456789abcdef0123456789abcdef', 'pool'],
      ['arn:aws:sms-voice:us-east-1:123456789012:pool/pool-0123456789abcdef', 'pool'],
      ['MySenderId', 'sender-id'],
      ['arn:aws:sms-voice:us-east-1:123456789012:sender-id/MySenderId/GB', 'sender-id'],
    ];
    for (const [id, type] of cases) {
      const r = await from(id);
      assert.equal(r.status, 400, id);
      assert.equal(r.json.__type, 'com.amazonaws.pinpointsmsvoicev2#ResourceNotFoundException', id);
      assert.equal(r.json.ResourceType, type, id);
      assert.equal(r.json.ResourceId, id);
      assert.match(r.json.Message, /was not found/);
    }
    assert.equal(standin.sms.sent().length, 3, 'nothing sent from the unknown identities');
    // Without an OriginationIdentity the service picks one of the account's.
    assert.equal((await sendSms(standin, { DestinationPhoneNumber: '+14255550182', MessageBody: 'Hi' })).status, 200);
    assert.deepEqual(standin.rejected(), []);
  });
});

// ---- faults --------------------------------------------------------------------------------

test('faults: status, throttle and in-stream exception use each service\'s error shape, in queue order', async () => {
  await withStandin({ consentTable: TABLE }, async (standin) => {
    standin.faults.push('dynamodb', { status: 500 }).push('dynamodb', { throttle: true });
    const a = await signedCall(standin, 'dynamodb', { operation: 'ListTables' });
    assert.equal(a.status, 500);
    assert.equal(a.json.__type, 'com.amazonaws.dynamodb.v20120810#InternalServerError');
    const b = await signedCall(standin, 'dynamodb', { operation: 'ListTables' });
    assert.equal(b.status, 400);
    assert.equal(b.json.__type, 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException');
    const c = await signedCall(standin, 'dynamodb', { operation: 'ListTables' });
    assert.equal(c.status, 200, 'queue drained: normal service again');
    assert.deepEqual(standin.faults.pending('dynamodb'), []);

    standin.faults.push('sms', { throttle: true }).push('sms', { status: 500 });
    const s1 = await sendSms(standin, { DestinationPhoneNumber: '+14255550182' });
    assert.equal(s1.status, 400);
    assert.equal(s1.json.__type, 'com.amazonaws.pinpointsmsvoicev2#ThrottlingException');
    const s2 = await sendSms(standin, { DestinationPhoneNumber: '+14255550182' });
    assert.equal(s2.status, 500);
    assert.equal(s2.json.__type, 'com.amazonaws.pinpointsmsvoicev2#InternalServerException');
    assert.equal(standin.sms.sent().length, 0, 'faulted calls send nothing');

    standin.faults.push('bedrock', { throttle: true }).push('bedrock', { status: 500 })
      .push('bedrock', { exception: 'internalServerException' });
    const b1 = await invoke(standin, 'sess-1', {});
    assert.equal(b1.status, 429);
    assert.equal(b1.headers['x-amzn-errortype'], 'ThrottlingException');
    const b2 = await invoke(standin, 'sess-1', {});
    assert.equal(b2.status, 500);
    assert.equal(b2.headers['x-amzn-errortype'], 'InternalServerException');
    const b3 = await invoke(standin, 'sess-1', {});
    assert.equal(b3.status, 200);
    assert.equal(decodeStream(b3.body)[0].headers[':exception-type'], 'internalServerException');

    // Faulted requests were still verified and recorded with their fault.
    assert.deepEqual(standin.rejected(), []);
    assert.deepEqual(standin.requests('dynamodb')[0].fault, { status: 500 });
  });
});

test('faults: delayMs, drop, garbage body and huge body', async () => {
  await withStandin({}, async (standin) => {
    standin.faults.push('sms', { delayMs: 300 });
    const t0 = Date.now();
    const d = await sendSms(standin, { DestinationPhoneNumber: '+14255550182', MessageBody: 'x' });
    assert.ok(Date.now() - t0 >= 290, 'delayed');
    assert.equal(d.status, 200, 'then answered normally');

    standin.faults.push('sms', { drop: true });
    await assert.rejects(sendSms(standin, { DestinationPhoneNumber: '+14255550182' }), /socket hang up|ECONNRESET/);

    standin.faults.push('bedrock', { body: 'garbage', status: 200 });
    const g = await invoke(standin, 'sess-1', {});
    assert.equal(g.status, 200);
    assert.equal(g.body.toString(), 'garbage');
    assert.equal(g.headers['content-type'], 'application/vnd.amazon.eventstream');
    assert.throws(() => decodeStream(g.body));

    const N = 3 * 1024 * 1024 + 7;
    standin.faults.push('dynamodb', { hugeBodyBytes: N });
    const h = await signedCall(standin, 'dynamodb', { operation: 'ListTables' });
    assert.equal(h.status, 200);
    assert.equal(h.body.length, N);

    standin.faults.push('imds', { status: 500 });
    const i = await httpRequest(`${standin.endpoints.imds}/latest/api/token`, {
      method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' },
    });
    assert.equal(i.status, 500);
  });
});

test('faults: an unknown fault field is refused', async () => {
  await withStandin({}, async (standin) => {
    assert.throws(() => standin.faults.push('sms', { stauts: 500 }), /unknown fault field/);
    assert.throws(() => standin.faults.push('s3', { status: 500 }), /unknown service/);
  });
});

test('setDown: refused connections, dropped requests, and recovery on the same port', async () => {
  await withStandin({}, async (standin) => {
    await standin.setDown('dynamodb', true);
    await assert.rejects(signedCall(standin, 'dynamodb', { operation: 'ListTables' }), /ECONNREFUSED/);
    await standin.setDown('dynamodb', false);
    const up = await signedCall(standin, 'dynamodb', { operation: 'ListTables' });
    assert.equal(up.status, 200);

    await standin.setDown('sms', true, 'drop');
    await assert.rejects(sendSms(standin, { DestinationPhoneNumber: '+14255550182' }), /socket hang up|ECONNRESET/);
    await standin.setDown('sms', false);
    const ok = await sendSms(standin, { DestinationPhoneNumber: '+14255550182', MessageBody: 'x' });
    assert.equal(ok.status, 200);
  });
});

test('waitFor resolves on a recorded request instead of sleeping', async () => {
  await withStandin({}, async (standin) => {
    const waiting = standin.sms.waitForSent(1, { timeoutMs: 5000 });
    await sendSms(standin, { DestinationPhoneNumber: '+14255550182', MessageBody: 'x' });
    const sent = await waiting;
    assert.equal(sent.length, 1);
    await assert.rejects(standin.waitForRequests('bedrock', 1, { timeoutMs: 50 }), /not met within 50 ms/);
  });
});

// ---- CLI ------------------------------------------------------------------------------------

test('CLI prints endpoints and env as one JSON line and stops on SIGTERM', async () => {
  const child = spawn(process.execPath, [path.join(standinDir, 'standin.mjs'), '--consent-table', TABLE], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    const line = await new Promise((resolve, reject) => {
      let out = '';
      let err = '';
      const timer = setTimeout(() => reject(new Error(`no JSON line within 10 s: ${err}`)), 10000);
      child.stderr.on('data', (c) => { err += c; });
      child.stdout.on('data', (c) => {
        out += c;
        const nl = out.indexOf('\n');
        if (nl >= 0) {
          clearTimeout(timer);
          resolve(out.slice(0, nl));
        }
      });
      child.on('exit', (code) => reject(new Error(`exited ${code}: ${err}`)));
    });
    const info = JSON.parse(line);
    assert.deepEqual(Object.keys(info.endpoints).sort(), ['bedrock', 'dynamodb', 'imds', 'sms', 'sqs']);
    for (const k of ['AWS_ENDPOINT_URL_DYNAMODB', 'AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME',
      'AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2', 'AWS_EC2_METADATA_SERVICE_ENDPOINT', 'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY', 'AWS_REGION']) {
      assert.ok(info.env[k], k);
      if (k.startsWith('AWS_ENDPOINT_URL') || k.includes('METADATA')) assert.match(info.env[k], /^http:\/\/127\.0\.0\.1:\d+$/);
    }
    const fake = { region: info.env.AWS_REGION, endpoints: info.endpoints };
    const r = await signedCall(fake, 'dynamodb', { operation: 'ListTables' });
    assert.deepEqual(r.json.TableNames, [TABLE]);
  } finally {
    const exited = new Promise((resolve) => {
      if (child.exitCode !== null) resolve(child.exitCode);
      else child.on('exit', (code, signal) => resolve(code ?? signal));
    });
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    const code = await exited;
    clearTimeout(timer);
    assert.equal(code, 0);
  }
});

// ---- SQS and the SNS subscription attributes (for twowayctl setup) -------------

test('sqs: CreateQueue is idempotent for the same attributes and refuses others; errors as SQS sends them', async () => {
  await withStandin({}, async (standin) => {
    const sqs = (operation, params) => signedCall(standin, 'sqs', { operation, params });
    const created = await sqs('CreateQueue', { QueueName: 'dlq-1', Attributes: { MessageRetentionPeriod: '1209600' } });
    assert.equal(created.status, 200, created.body.toString());
    assert.match(created.json.QueueUrl, /^http:\/\/127\.0\.0\.1:\d+\/123456789012\/dlq-1$/);
    const again = await sqs('CreateQueue', { QueueName: 'dlq-1', Attributes: { MessageRetentionPeriod: '1209600' } });
    assert.equal(again.json.QueueUrl, created.json.QueueUrl);
    const other = await sqs('CreateQueue', { QueueName: 'dlq-1', Attributes: { MessageRetentionPeriod: '60' } });
    assert.equal(other.status, 400);
    assert.equal(other.json.__type, 'com.amazonaws.sqs#QueueNameExists');
    assert.equal(other.headers['x-amzn-query-error'], 'QueueAlreadyExists;Sender');
    const attrs = await sqs('GetQueueAttributes', { QueueUrl: created.json.QueueUrl, AttributeNames: ['All'] });
    assert.equal(attrs.json.Attributes.QueueArn, 'arn:aws:sqs:us-east-1:123456789012:dlq-1');
    assert.equal(attrs.json.Attributes.MessageRetentionPeriod, '1209600');
    for (const [name, value] of [['MessageRetentionPeriod', '1209601'], ['Policy', '{"Statement":[]}'], ['Policy', 'not json']]) {
      const bad = await sqs('SetQueueAttributes', { QueueUrl: created.json.QueueUrl, Attributes: { [name]: value } });
      assert.equal(bad.status, 400, `${name}=${value}`);
      assert.equal(bad.json.__type, 'com.amazonaws.sqs#InvalidAttributeValue');
    }
    const unknown = await sqs('SetQueueAttributes', { QueueUrl: created.json.QueueUrl, Attributes: { Colour: 'red' } });
    assert.equal(unknown.json.__type, 'com.amazonaws.sqs#InvalidAttributeName');
    const missing = await sqs('GetQueueUrl', { QueueName: 'nope' });
    assert.equal(missing.status, 400);
    assert.equal(missing.json.__type, 'com.amazonaws.sqs#QueueDoesNotExist');
    assert.equal(missing.headers['x-amzn-query-error'], 'AWS.SimpleQueueService.NonExistentQueue;Sender');
    assert.deepEqual(standin.rejected('sqs'), []);
  });
});

test('sns: SetSubscriptionAttributes checks DeliveryPolicy and RedrivePolicy as SNS does', async () => {
  await withStandin({ sns: true }, async (standin) => {
    const sub = standin.sns.addSubscription({ endpoint: 'https://sms.example.com/sns' });
    const set = (name, value) => signedCall(standin, 'snsApi', {
      form: { Action: 'SetSubscriptionAttributes', SubscriptionArn: sub.arn, AttributeName: name, AttributeValue: value },
    });
    const retry = (h) => JSON.stringify({ healthyRetryPolicy: { minDelayTarget: 10, maxDelayTarget: 120, numRetries: 32,
      numNoDelayRetries: 3, numMinDelayRetries: 2, numMaxDelayRetries: 15, backoffFunction: 'exponential', ...h } });
    const refused = [
      ['DeliveryPolicy', 'not json', /not valid JSON/],
      ['DeliveryPolicy', retry({ numRetries: 101 }), /numRetries must be between 0 and 100/],
      ['DeliveryPolicy', retry({ maxDelayTarget: 3601 }), /maxDelayTarget must be between 1 and 3600/],
      ['DeliveryPolicy', retry({ minDelayTarget: 200 }), /minDelayTarget must be between 1 and maxDelayTarget/],
      ['DeliveryPolicy', retry({ numRetries: 10 }), /exceed numRetries/],
      ['DeliveryPolicy', retry({ backoffFunction: 'random' }), /backoffFunction/],
      ['DeliveryPolicy', retry({ numRetries: 100, numMaxDelayRetries: 40 }), /total retry time \d+ s exceeds 3600 s/],
      ['DeliveryPolicy', JSON.stringify({ throttlePolicy: { maxReceivesPerSecond: 0 } }), /maxReceivesPerSecond/],
      ['RedrivePolicy', JSON.stringify({ deadLetterTargetArn: 'arn:aws:sns:us-east-1:123456789012:t' }), /not an Amazon SQS queue ARN/],
      ['RedrivePolicy', JSON.stringify({ deadLetterTargetArn: 'arn:aws:sqs:eu-west-1:123456789012:q' }), /region/],
      ['Colour', 'red', /AttributeName/],
    ];
    for (const [name, value, why] of refused) {
      const r = await set(name, value);
      assert.equal(r.status, 400, `${name}=${value}`);
      assert.match(r.body.toString(), /<Code>InvalidParameter<\/Code>/);
      assert.match(r.body.toString(), why);
    }
    assert.equal(standin.sns.subscriptionAttributes(sub.arn).DeliveryPolicy, undefined);
    const ok = await set('DeliveryPolicy', retry({}));
    assert.equal(ok.status, 200, ok.body.toString());
    const get = await signedCall(standin, 'snsApi', { form: { Action: 'GetSubscriptionAttributes', SubscriptionArn: sub.arn } });
    assert.match(get.body.toString(), /<key>DeliveryPolicy<\/key><value>\{&quot;healthyRetryPolicy/);
    assert.match(get.body.toString(), /<key>PendingConfirmation<\/key><value>false<\/value>/);
    const gone = await signedCall(standin, 'snsApi', { form: { Action: 'GetSubscriptionAttributes', SubscriptionArn: `${sub.arn}x` } });
    assert.equal(gone.status, 404);
  });
});

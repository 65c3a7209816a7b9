// The AWS request core (http_client, aws_creds, aws, ddb) against the local
// stand-in, driven through tests/tools/awsreq: every request must pass the
// stand-in's independent SigV4 verifier, with static keys and with IMDS session
// credentials across refreshes; throttling and 5xx are retried with growing
// delays, then surfaced classified; permanent errors are not retried; bad
// responses become classified errors; and the loop stays responsive with 100
// slow requests in flight. Loopback only; every wait is bounded.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import readline from 'node:readline';
import { startStandin } from '../standin/standin.mjs';
import { SmsError } from '../standin/sms.mjs';

const TOOLS = process.env.TWOWAYD_TOOLS || new URL('../../build/tests/tools', import.meta.url).pathname;
const AWSREQ = `${TOOLS}/awsreq`;
const TABLE = 'twowayd-consent';
const KEY = JSON.stringify({ phone_number: { S: '+14255550100' } });

let standin;

before(async () => {
  standin = await startStandin({ consentTable: TABLE });
});

after(async () => {
  await standin?.close();
});

beforeEach(() => {
  standin.faults.clear();
  standin.clearRequests();
});

// Base environment for the tool: the stand-in's endpoints, no shared files.
function toolEnv(extra = {}, { imds = false } = {}) {
  const env = { PATH: process.env.PATH, HOME: '/nonexistent', ...standin.env({ imdsCredentials: imds }), ...extra };
  if (!imds) env.AWS_EC2_METADATA_DISABLED = 'true';
  return env;
}

// Runs awsreq; resolves with its exit code, result lines (stdout JSON) and log
// records (stderr JSON). onLine(obj) sees stdout lines as they arrive.
function awsreq(args, { env = toolEnv(), timeoutMs = 20000, onLine } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(AWSREQ, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = [];
    const logs = [];
    const stderrText = [];
    readline.createInterface({ input: child.stdout }).on('line', (l) => {
      const o = JSON.parse(l);
      lines.push(o);
      onLine?.(o, child);
    });
    readline.createInterface({ input: child.stderr }).on('line', (l) => {
      stderrText.push(l);
      try {
        logs.push(JSON.parse(l));
      } catch {
        /* not a log record (usage text) */
      }
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`awsreq ${args.join(' ')} did not finish within ${timeoutMs} ms\n${stderrText.join('\n')}`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (signal) reject(new Error(`awsreq killed by ${signal}\n${stderrText.join('\n')}`));
      else resolve({ code, lines, logs, stderr: stderrText.join('\n') });
    });
  });
}

function getHealthz(port, timeoutMs = 2000) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = http.get({ host: '127.0.0.1', port, path: '/healthz', agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
    });
    req.on('timeout', () => req.destroy(new Error('healthz timed out')));
    req.on('error', reject);
  });
}

function attemptLogs(logs) {
  return logs.filter((l) => l.event === 'aws.attempt');
}

test('static keys: DynamoDB, sms-voice and bedrock requests pass SigV4', async () => {
  const item = JSON.stringify({ phone_number: { S: '+14255550100' }, n: { N: '1' } });
  const { code, lines, logs } = await awsreq([
    '--log-level', 'debug',
    'ddb-put', TABLE, item, '--',
    'ddb-put', TABLE, item, 'attribute_not_exists(phone_number)', '--',
    'ddb-get', TABLE, KEY, '--',
    'ddb-update', TABLE, KEY, 'SET n = n + :one', '{":one":{"N":"1"}}', 'attribute_exists(phone_number)', '--',
    'sms-send', '+14255550182', 'hello there', '--',
    'agent', 'AGENT12345', 'TSTALIASID', 'sess-1.a_b', 'hi',
  ]);
  assert.equal(code, 1, 'the conditional put fails, so the exit status is 1');
  assert.equal(lines.length, 6);
  const [put, condPut, get, update, sms, agent] = lines;

  assert.equal(put.r, 0);
  assert.equal(put.status, 200);
  assert.equal(put.creds_source, 'environment');

  assert.equal(condPut.condition_failed, true);
  assert.equal(condPut.error.code, 'ConditionalCheckFailedException');
  assert.equal(condPut.error.kind, 'permanent');
  assert.equal(condPut.attempts, 1, 'a failed condition is never retried');

  assert.equal(get.r, 0);
  assert.deepEqual(get.body.Item, { phone_number: { S: '+14255550100' }, n: { N: '1' } });
  assert.equal(update.r, 0);
  assert.deepEqual(update.body.Attributes.n, { N: '2' });

  assert.equal(sms.r, 0);
  assert.match(sms.body.MessageId, /./);
  assert.equal(standin.sms.sent().length, 1);

  assert.equal(agent.r, 0);
  assert.equal(agent.event_stream, true);
  assert.ok(agent.body_len > 16);

  assert.deepEqual(standin.rejected(), []);
  const ddb = standin.requests('dynamodb');
  assert.deepEqual(ddb.map((r) => r.headers['x-amz-target']), [
    'DynamoDB_20120810.PutItem', 'DynamoDB_20120810.PutItem', 'DynamoDB_20120810.GetItem',
    'DynamoDB_20120810.UpdateItem',
  ]);
  assert.ok(ddb.every((r) => r.verification.ok && r.verification.service === 'dynamodb'));
  assert.equal(ddb[2].body.ConsistentRead, true);
  const [smsReq] = standin.requests('sms');
  assert.equal(smsReq.headers['x-amz-target'], 'PinpointSMSVoiceV2.SendTextMessage');
  assert.equal(smsReq.verification.service, 'sms-voice');
  const [bedReq] = standin.requests('bedrock');
  assert.equal(bedReq.verification.service, 'bedrock');
  assert.equal(bedReq.url, '/agents/AGENT12345/agentAliases/TSTALIASID/sessions/sess-1.a_b/text');

  // One structured event per attempt, with the request id the service returned.
  const attempts = attemptLogs(logs);
  assert.equal(attempts.length, 6);
  for (const a of attempts) {
    assert.ok(a.aws_service && a.aws_operation && a.attempt && a.latency_ms !== undefined);
  }
  assert.equal(attempts[1].aws_error, 'ConditionalCheckFailedException');
  assert.equal(attempts[1].aws_request_id, condPut.request_id);
});

test('IMDS session credentials are used and refreshed before they expire', async () => {
  standin.imds.setCredentialLifetime(4);
  try {
    const { code, lines } = await awsreq(
      ['repeat', '7', '700', 'ddb-get', TABLE, KEY, '--', 'creds'],
      { env: toolEnv({}, { imds: true }), timeoutMs: 30000 });
    assert.equal(code, 0);
    const gets = lines.filter((l) => l.cmd === 'ddb-get');
    assert.equal(gets.length, 7);
    assert.ok(gets.every((l) => l.r === 0 && l.creds_source === 'imds'));
    const creds = lines.find((l) => l.cmd === 'creds');
    assert.equal(creds.source, 'imds');
    assert.equal(creds.session, true);
    // Refreshed: IMDS handed out credentials again, and requests were
    // signed with the new ones.
    assert.ok(standin.imds.issued().length >= 2, `IMDS issued ${standin.imds.issued().length} credential set(s)`);

    assert.deepEqual(standin.rejected(), []);
    const keys = new Set(standin.requests('dynamodb').map((r) => r.verification.accessKeyId));
    assert.ok(keys.size >= 2, `requests were signed with ${keys.size} key(s)`);
    assert.ok(standin.requests('dynamodb').every((r) => r.verification.temporary));
    // Token reuse: one PUT, then GETs.
    const imds = standin.requests('imds');
    assert.ok(imds.filter((r) => r.method === 'PUT').length >= 1);
    assert.ok(imds.filter((r) => r.method === 'GET').length >= 4);
  } finally {
    standin.imds.setCredentialLifetime(3600);
  }
});

test('no region configured: it comes from the instance metadata, under the one IMDSv2 token', async () => {
  const env = toolEnv({}, { imds: true });
  delete env.AWS_REGION;
  delete env.AWS_DEFAULT_REGION;
  const { code, lines } = await awsreq(['ddb-get', TABLE, KEY], { env });
  assert.equal(code, 0);
  assert.equal(lines.find((l) => l.cmd === 'ddb-get').r, 0);
  assert.deepEqual(standin.rejected(), []);
  const imds = standin.requests('imds');
  const region = imds.filter((r) => r.url === '/latest/meta-data/placement/region');
  assert.equal(region.length, 1);
  assert.ok(region[0].headers['x-aws-ec2-metadata-token'], 'the region GET carries the token');
  assert.equal(imds.filter((r) => r.method === 'PUT').length, 1, 'one token for region and credentials');
});

test('AWS_EC2_METADATA_V1_DISABLED=true: a refused IMDS token never falls back to IMDSv1', async () => {
  // The token PUT answers 403 (as an IMDS that only speaks v1 would, or a
  // proxy in the way). Without the variable the provider goes on without a
  // token (IMDSv1); with it, it stops there.
  const run = async (env) => {
    standin.clearRequests();
    standin.faults.push('imds', { status: 403 });
    const { code } = await awsreq(['ddb-get', TABLE, KEY], { env: toolEnv(env, { imds: true }) });
    return { code, imds: standin.requests('imds') };
  };
  const fallback = await run({});
  assert.ok(fallback.imds.some((r) => r.method === 'GET' && !r.headers['x-aws-ec2-metadata-token']),
    'without the variable, an IMDSv1 GET follows the refused token');

  const strict = await run({ AWS_EC2_METADATA_V1_DISABLED: 'true' });
  assert.equal(strict.code, 1);
  assert.deepEqual(strict.imds.map((r) => r.method), ['PUT'], 'only the token request, no IMDSv1 GET');
  assert.equal(standin.requests('dynamodb').length, 0);
});

test('throttling is retried with growing delays, then surfaced as throttling', async () => {
  for (let i = 0; i < 3; i++) standin.faults.push('dynamodb', { throttle: true });
  const { code, lines, logs } = await awsreq(
    ['--jitter', '1', '--throttle-base-ms', '150', 'ddb-get', TABLE, KEY]);
  assert.equal(code, 1);
  const [res] = lines;
  assert.equal(res.attempts, 3);
  assert.equal(res.error.code, 'ProvisionedThroughputExceededException');
  assert.equal(res.error.kind, 'throttling');
  assert.deepEqual(res.history.map((h) => Math.round(h.delay_ms)), [150, 300, 0]);

  const times = standin.requests('dynamodb').map((r) => Date.parse(r.time));
  assert.equal(times.length, 3);
  const gap1 = times[1] - times[0];
  const gap2 = times[2] - times[1];
  assert.ok(gap1 >= 140, `first delay ${gap1} ms`);
  assert.ok(gap2 >= 290, `second delay ${gap2} ms`);
  assert.ok(gap2 > gap1, 'delays grow');

  const attempts = attemptLogs(logs);
  assert.equal(attempts.length, 3);
  assert.deepEqual(attempts.map((a) => a.level), ['warning', 'warning', 'info']);
  assert.equal(attempts[0].retry_delay_ms, '150');
});

test('5xx is retried and can recover; persistent 5xx is surfaced as transient', async () => {
  standin.faults.push('dynamodb', { status: 500 }).push('dynamodb', { status: 503 });
  let { code, lines } = await awsreq(['--jitter', '1', '--base-ms', '20', 'ddb-get', TABLE, KEY]);
  assert.equal(code, 0);
  assert.equal(lines[0].r, 0);
  assert.equal(lines[0].attempts, 3);
  assert.deepEqual(lines[0].history.map((h) => h.status), [500, 503, 200]);
  assert.deepEqual(lines[0].history.map((h) => h.kind), ['transient', 'transient', 'none']);

  standin.clearRequests();
  for (let i = 0; i < 4; i++) standin.faults.push('sms', { status: 500 });
  ({ code, lines } = await awsreq(['--jitter', '0.5', '--base-ms', '20', '--max-attempts', '4',
    'sms-send', '+14255550182', 'x']));
  assert.equal(code, 1);
  assert.equal(lines[0].attempts, 4);
  assert.equal(lines[0].error.kind, 'transient');
  assert.equal(lines[0].error.code, 'InternalServerException');
  assert.equal(standin.requests('sms').length, 4);
});

test('permanent errors are not retried', async () => {
  standin.faults.push('dynamodb', { status: 400, errorType: 'ValidationException', message: 'nope' });
  standin.faults.push('bedrock', { status: 404 });
  const { code, lines } = await awsreq(['--base-ms', '1', 'ddb-get', TABLE, KEY, '--',
    'agent', 'AGENT12345', 'TSTALIASID', 'sess-2', 'hi']);
  assert.equal(code, 1);
  assert.equal(lines[0].attempts, 1);
  assert.equal(lines[0].error.code, 'ValidationException');
  assert.equal(lines[0].error.message, 'nope');
  assert.equal(lines[0].error.kind, 'permanent');
  assert.equal(lines[1].attempts, 1);
  assert.equal(lines[1].status, 404);
  assert.equal(lines[1].error.kind, 'permanent');
  assert.equal(standin.requests('dynamodb').length, 1);
  assert.equal(standin.requests('bedrock').length, 1);
});

test('huge bodies, invalid JSON and dropped connections become classified errors', async () => {
  standin.faults
    .push('dynamodb', { hugeBodyBytes: 50 * 1024 * 1024 })
    .push('dynamodb', { body: '{"Item": {"oops"' })
    // Two drops: libcurl itself retries once when a reused keep-alive
    // connection dies before any byte of the answer; a fresh one is not.
    .push('dynamodb', { drop: true })
    .push('dynamodb', { drop: true });
  const { code, lines } = await awsreq(['--max-response', '1000000', '--max-attempts', '1',
    'ddb-get', TABLE, KEY, '--', 'ddb-get', TABLE, KEY, '--', 'ddb-get', TABLE, KEY, '--',
    'raw', 'dynamodb', 'ListTables', '{}']);
  assert.equal(code, 1);
  const [huge, invalid, dropped, ok] = lines;
  assert.equal(huge.error.code, 'ResponseTooLarge');
  assert.equal(huge.errno, 'Message too long');
  assert.equal(huge.error.kind, 'permanent');
  assert.equal(invalid.error.code, 'InvalidResponse');
  assert.equal(invalid.status, 200);
  assert.equal(invalid.error.kind, 'permanent');
  assert.equal(dropped.error.code, 'ConnectionReset');
  assert.equal(dropped.error.kind, 'transient');
  // The client survives all of that: the next call on it works.
  assert.equal(ok.r, 0);
  assert.ok(Array.isArray(ok.body.TableNames));

  // A dropped connection is retried by default and then succeeds.
  standin.faults.push('dynamodb', { drop: true });
  const again = await awsreq(['--base-ms', '10', 'ddb-get', TABLE, KEY]);
  assert.equal(again.code, 0);
  assert.equal(again.lines[0].attempts, 2);
});

test('a truncated body (connection closed early) is a transient error', async () => {
  standin.faults.push('dynamodb', { body: '{"Item":', headers: { 'content-length': '4000' } });
  const { code, lines } = await awsreq(['--max-attempts', '1', '--timeout-ms', '1000', 'ddb-get', TABLE, KEY]);
  assert.equal(code, 1);
  assert.equal(lines[0].error.kind, 'transient');
  assert.match(lines[0].error.code, /ConnectionReset|ClientTimeout/);
});

test('the loop answers /healthz while 100 slow requests are in flight', async () => {
  for (let i = 0; i < 100; i++) standin.faults.push('dynamodb', { delayMs: 2500 });
  let healthzPort;
  const run = awsreq(['--healthz', '0', '--max-in-flight', '128', '--timeout-ms', '15000',
    'parallel', '100', 'ddb-get', TABLE, KEY], {
    timeoutMs: 30000,
    onLine: (o) => {
      if (o.healthz_port) healthzPort = o.healthz_port;
    },
  });
  await standin.waitForRequests('dynamodb', 100, { timeoutMs: 10000 });
  assert.ok(healthzPort > 0);
  // All 100 are held by the stand-in now; the tool's loop must still answer.
  const results = [];
  for (let i = 0; i < 5; i++) results.push(await getHealthz(healthzPort));
  for (const h of results) {
    assert.equal(h.status, 200);
    assert.equal(h.body, 'ok\n');
    assert.ok(h.ms < 500, `healthz took ${h.ms} ms`);
  }
  const { code, lines } = await run;
  assert.equal(code, 0);
  const calls = lines.filter((l) => l.cmd === 'ddb-get');
  assert.equal(calls.length, 100);
  assert.ok(calls.every((l) => l.r === 0 && l.attempts === 1));
  assert.deepEqual(standin.rejected(), []);
});

test('rate learning: each identity\'s type, country and documented parts per second from DescribePhoneNumbers, page by page', async () => {
  // 100 other numbers first, so that the ones asked about are on the second page.
  for (let i = 0; i < 100; i++) standin.sms.addPhoneNumber({ phoneNumber: `+1206555${String(1000 + i)}`, numberType: 'TEN_DLC' });
  const tollFree = standin.sms.addPhoneNumber({ phoneNumber: '+18005550160', numberType: 'TOLL_FREE', isoCountryCode: 'US' });
  standin.sms.addPhoneNumber({ phoneNumber: '+447700900160', numberType: 'LONG_CODE', isoCountryCode: 'GB' });
  standin.sms.addPhoneNumber({ phoneNumber: '+14255550160', numberType: 'TEN_DLC', isoCountryCode: 'US' });
  const shortCode = standin.sms.addPhoneNumber({ phoneNumber: '+15550160', numberType: 'SHORT_CODE', isoCountryCode: 'US' });
  {
    const { code, lines } = await awsreq(['rate-learn', '+18005550160', shortCode.PhoneNumberId, tollFree.PhoneNumberArn,
      '+447700900160', '+14255550160', 'MySenderId']);
    assert.equal(code, 0);
    const [l] = lines;
    assert.equal(l.r, 0);
    assert.equal(l.found, 5);
    assert.equal(l.denied, false);
    assert.deepEqual(l.identities.map((i) => [i.identity, i.type, i.country, i.parts_per_second]), [
      ['+18005550160', 'TOLL_FREE', 'US', 3],
      [shortCode.PhoneNumberId, 'SHORT_CODE', 'US', 100],
      [tollFree.PhoneNumberArn, 'TOLL_FREE', 'US', 3],
      ['+447700900160', 'LONG_CODE', 'GB', 10],
      ['+14255550160', 'TEN_DLC', 'US', 1],
      ['MySenderId', '', '', 1], // not a number of the account: the conservative rate
    ]);
    const pages = standin.requests('sms').filter((r) => r.operation === 'DescribePhoneNumbers');
    assert.equal(pages.length, 2);

    // Every number of the account: all 104, over the same two pages.
    const all = (await awsreq(['rate-learn'])).lines[0];
    assert.equal(all.r, 0);
    assert.ok(all.identities.length >= 104);
    assert.deepEqual(all.identities.find((i) => i.identity === '+15550160'),
      { identity: '+15550160', type: 'SHORT_CODE', country: 'US', parts_per_second: 100 });
    assert.ok(pages.every((p) => p.body.MaxResults === 100));
    assert.equal(pages[0].body.NextToken, undefined);
    assert.equal(typeof pages[1].body.NextToken, 'string');
  }
});

test('rate learning: DescribePhoneNumbers denied leaves every identity at 1 part a second and says so', async () => {
  const describe = standin.sms.handlers.get('DescribePhoneNumbers');
  standin.sms.setHandler('DescribePhoneNumbers', () => {
    throw new SmsError(400, 'AccessDeniedException',
      'User: arn:aws:iam::123456789012:user/twowayd is not authorized to perform: sms-voice:DescribePhoneNumbers');
  });
  try {
    const { code, lines } = await awsreq(['rate-learn', '+18005550161']);
    assert.equal(code, 1);
    const [l] = lines;
    assert.ok(l.r < 0);
    assert.equal(l.denied, true);
    assert.equal(l.code, 'AccessDeniedException');
    assert.deepEqual(l.identities, [{ identity: '+18005550161', type: '', country: '', parts_per_second: 1 }]);
    // A refusal is not retried.
    assert.equal(standin.requests('sms').filter((r) => r.operation === 'DescribePhoneNumbers').length, 1);
  } finally {
    standin.sms.setHandler('DescribePhoneNumbers', describe);
  }
});

// Replies at the number's real rate: the daemon learns each origination
// identity's message parts per second from DescribePhoneNumbers and paces its
// replies in parts; the stand-in enforces the same limits and answers
// ThrottlingException beyond them, so any pacing error shows as a throttle.
// Each test has its own number (type per test), senders and daemon.
// Loopback only; every wait is bounded and waits for a condition.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { startStandin } from '../standin/standin.mjs';
import { SmsError } from '../standin/sms.mjs';
import { configText, sendSms, testDaemon, waitFor } from './lib/daemon.mjs';

const TABLE = 'twowayd-consent';
const OPT_OUT_REPLY = 'You have been unsubscribed from SMS messages. Your request will be processed within 10 business days. Reply START to resubscribe.';

let standin;
before(async () => { standin = await startStandin({ sns: true, consentTable: TABLE }); });
after(async () => { await standin?.close(); });
afterEach(() => {
  standin.faults.clear();
  standin.bedrock.setResponder(null);
});

let seq = 0;
const newPhone = () => `+1425556${String(1000 + seq++).padStart(4, '0')}`;
let numbers = 0;
// A number of the test's own, of the given type.
const ourNumber = (numberType, isoCountryCode = 'US') => standin.sms.addPhoneNumber({
  phoneNumber: `+1800556${String(1000 + numbers++)}`, numberType, isoCountryCode,
}).PhoneNumber;

async function daemon(t, { number, sms = [], dispatch = [] }) {
  const config = (dir) => configText({
    spoolDir: dir,
    tail: ['[aws]', `ca_bundle = ${standin.sns.caFile}`, '[sms]', ...sms,
      '[dispatch]', 'retry_initial_ms = 50', 'retry_max_ms = 200', ...dispatch].join('\n'),
  }).replace(/topic_arns = .*/, `topic_arns = ${standin.sns.topicArn}\nsigning_cert_host = ${standin.sns.signingCertHostRegex}`);
  const d = await testDaemon(t, { config, env: standin.env() });
  d.send = (from, body) => sendSms(standin, d, { from, to: number, body });
  d.metrics = async () => (await d.request({ path: '/metrics' })).body;
  return d;
}

// Delivers one message from each sender, 32 deliveries at a time.
async function burst(d, senders, text = (p) => `question from ${p}`) {
  const queue = [...senders];
  await Promise.all(Array.from({ length: 32 }, async () => {
    for (let p = queue.shift(); p; p = queue.shift()) await d.send(p, text(p));
  }));
}

const sentFrom = (number) => standin.sms.sent().filter((m) => m.OriginationIdentity === number);
const throttledFrom = (number) => standin.sms.throttled().filter((m) => m.OriginationIdentity === number);

function answeredOnce(number, senders) {
  const got = new Map();
  for (const m of sentFrom(number)) got.set(m.DestinationPhoneNumber, (got.get(m.DestinationPhoneNumber) ?? 0) + 1);
  return senders.every((p) => got.get(p) === 1) ? got : null;
}

const CTL = process.env.TWOWAYCTL_BIN ||
  (process.env.TWOWAYD_BIN ? join(process.env.TWOWAYD_BIN, '..', 'twowayctl')
    : new URL('../../build/twowayctl', import.meta.url).pathname);
function ctl(d, args) {
  return new Promise((resolve) => {
    execFile(CTL, ['-c', d.configPath, ...args], { env: { PATH: process.env.PATH, HOME: '/nonexistent', AWS_EC2_METADATA_DISABLED: 'true', ...standin.env() }, timeout: 20000 },
      (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }));
  });
}

function metric(text, name, labels) {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    const m = line.match(/^([a-z_]+)\{([^}]*)\} (\S+)$/);
    if (m && m[1] === name && want.every((l) => m[2].split(',').includes(l))) return Number(m[3]);
  }
  return undefined;
}

test('a burst of 200 senders on one toll-free number: each answered once at 3 parts a second, no throttling, a STOP confirmed first', async (t) => {
  const number = ourNumber('TOLL_FREE');
  const d = await daemon(t, { number, dispatch: ['concurrency = 256'] });
  await d.waitForLog((l) => l.event === 'sms.rate' && l.origination_identity === number, 10000);
  assert.equal(d.logs.find((l) => l.event === 'sms.rate' && l.origination_identity === number).parts_per_second, '3');

  const senders = Array.from({ length: 200 }, newPhone);
  const t0 = performance.now();
  await burst(d, senders);
  // Once the queue is long, a STOP from someone else.
  await waitFor(() => sentFrom(number).length >= 20, { timeoutMs: 30000, what: 'the burst under way' });
  const stopper = newPhone();
  const stopAcked = performance.now();
  await d.send(stopper, 'STOP');
  const confirmation = await standin.waitFor(() => sentFrom(number).find((m) => m.DestinationPhoneNumber === stopper), { timeoutMs: 30000 });
  const stopMs = performance.now() - stopAcked;
  const answersBefore = sentFrom(number).findIndex((m) => m.DestinationPhoneNumber === stopper);
  assert.equal(confirmation.MessageBody, OPT_OUT_REPLY);

  await standin.waitFor(() => answeredOnce(number, senders), { timeoutMs: 150000 });
  const lastMs = performance.now() - t0;
  t.diagnostic(`200 replies on a toll-free number: last after ${(lastMs / 1000).toFixed(1)} s (200/3 = 66.7 s); ` +
    `STOP confirmed ${stopMs.toFixed(0)} ms after it was acknowledged, as send ${answersBefore + 1} of 201`);
  // Confirmations go first: the STOP did not wait for the answers queued before it.
  assert.ok(sentFrom(number).length - answersBefore > 100, 'most answers were still waiting when the STOP was confirmed');
  assert.deepEqual(throttledFrom(number), [], 'never faster than the number allows');
  assert.equal(sentFrom(number).length, 201);

  // Visible: the rate, the waits and the backlog.
  const m = await d.metrics();
  assert.equal(metric(m, 'twowayd_sms_rate_parts_per_second', { identity: number }), 3);
  assert.equal(metric(m, 'twowayd_sms_identity_info', { identity: number, type: 'TOLL_FREE', country: 'US', source: 'learned' }), 1);
  assert.equal(metric(m, 'twowayd_sms_slot_wait_seconds_count', { identity: number }), 201);
  assert.equal(metric(m, 'twowayd_sms_queue_depth', { identity: number }), 0);
  const backlog = d.logs.filter((l) => l.event === 'sms.backlog' && l.origination_identity === number);
  assert.ok(backlog.length >= 1 && backlog.length <= 2, `${backlog.length} sms.backlog warnings (at most one a minute)`);
  assert.ok(Number(backlog[0].expected_wait_s) > 60);
});

test('a 3-segment reply costs 3 parts', async (t) => {
  const number = ourNumber('TOLL_FREE');
  const d = await daemon(t, { number });
  await d.waitForLog((l) => l.event === 'sms.rate' && l.origination_identity === number, 10000);
  const long = 'This answer is long enough to need three message parts. '.repeat(7).trim();
  standin.bedrock.setResponder(() => long);
  const senders = Array.from({ length: 4 }, newPhone);
  await burst(d, senders);
  await standin.waitFor(() => answeredOnce(number, senders), { timeoutMs: 30000 });
  assert.ok(sentFrom(number).every((m) => m.parts === 3), JSON.stringify(sentFrom(number).map((m) => m.parts)));
  // Paced as one message a second (3 parts each), not three.
  assert.deepEqual(throttledFrom(number), []);
});

test('[sms] max_per_second overrides the learned rate, in parts per second', async (t) => {
  const number = ourNumber('SHORT_CODE');
  const describes = () => standin.requests('sms').filter((r) => r.operation === 'DescribePhoneNumbers').length;
  const describedBefore = describes();
  const d = await daemon(t, { number, sms: ['max_per_second = 50'], dispatch: ['concurrency = 256'] });
  const senders = Array.from({ length: 200 }, newPhone);
  const t0 = performance.now();
  await burst(d, senders);
  await standin.waitFor(() => answeredOnce(number, senders), { timeoutMs: 60000 });
  t.diagnostic(`200 replies at an override of 50 parts a second: last after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  assert.deepEqual(throttledFrom(number), []);
  const m = await d.metrics();
  assert.equal(metric(m, 'twowayd_sms_rate_parts_per_second', { identity: number }), 50);
  assert.equal(metric(m, 'twowayd_sms_identity_info', { identity: number, type: '', country: '', source: 'override' }), 1);
  // Nothing to learn with the override.
  assert.equal(describes(), describedBefore);
});

test('throttling: the rate is lowered, the replies go back into the queue, nothing is lost or sent twice', async (t) => {
  const number = ourNumber('SHORT_CODE');
  const d = await daemon(t, { number });
  await d.waitForLog((l) => l.event === 'sms.rate' && l.origination_identity === number, 10000);
  standin.faults.push('sms', { throttle: true }).push('sms', { throttle: true }).push('sms', { throttle: true });
  const senders = Array.from({ length: 20 }, newPhone);
  await burst(d, senders);
  await standin.waitFor(() => answeredOnce(number, senders), { timeoutMs: 60000 });
  assert.equal(sentFrom(number).length, 20);
  const lowered = d.logs.filter((l) => l.event === 'sms.throttled' && l.origination_identity === number);
  assert.ok(lowered.length >= 1);
  assert.equal(lowered[0].parts_per_second, '50');
  const m = await d.metrics();
  assert.equal(metric(m, 'twowayd_sms_throttles_total', { identity: number }), 3);
  assert.ok(metric(m, 'twowayd_sms_rate_parts_per_second', { identity: number }) < 100);

  // twowayctl status shows the send queue, from what the daemon exposes.
  const daemonUrl = `http://127.0.0.1:${d.port}`;
  const js = await ctl(d, ['status', '--json', '--daemon-url', daemonUrl]);
  assert.equal(js.code, 0, js.stderr);
  const q = JSON.parse(js.stdout).send_queues.find((x) => x.identity === number);
  assert.deepEqual([q.type, q.country, q.source, q.depth, q.throttles], ['SHORT_CODE', 'US', 'learned', 0, 3]);
  assert.ok(q.rate > 0 && q.rate < 100);
  const human = await ctl(d, ['status', '--daemon-url', daemonUrl]);
  assert.match(human.stdout, /^IDENTITY +TYPE +COUNTRY +RATE \(PARTS\/S\) +SOURCE +QUEUE +THROTTLES$/m);
  assert.match(human.stdout, new RegExp(`^\\${number} +SHORT_CODE +US +[0-9.]+ +learned +0 +3$`, 'm'));
});

test('DescribePhoneNumbers denied: 1 part a second and one warning naming the permission', async (t) => {
  const number = ourNumber('SHORT_CODE');
  const describe = standin.sms.handlers.get('DescribePhoneNumbers');
  standin.sms.setHandler('DescribePhoneNumbers', () => {
    throw new SmsError(400, 'AccessDeniedException',
      'User: arn:aws:iam::123456789012:user/twowayd is not authorized to perform: sms-voice:DescribePhoneNumbers');
  });
  t.after(() => standin.sms.setHandler('DescribePhoneNumbers', describe));
  const d = await daemon(t, { number });
  const warning = await d.waitForLog('sms.rate_unknown', 10000);
  assert.match(warning.msg, /sms-voice:DescribePhoneNumbers/);
  assert.equal(warning.level, 'warning');
  const senders = Array.from({ length: 3 }, newPhone);
  await burst(d, senders);
  await standin.waitFor(() => answeredOnce(number, senders), { timeoutMs: 30000 });
  const m = await d.metrics();
  assert.equal(metric(m, 'twowayd_sms_rate_parts_per_second', { identity: number }), 1);
  assert.equal(metric(m, 'twowayd_sms_identity_info', { identity: number, type: '', country: '', source: 'default' }), 1);
  assert.equal(d.logs.filter((l) => l.event === 'sms.rate_unknown').length, 1);
});

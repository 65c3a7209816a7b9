// twowayctl against the real daemon and the local AWS stand-in: setup (fresh,
// twice, not ACTIVE, dry run), doctor (each check broken in turn, then all ok),
// consent, spool, send and simulate. Loopback only; every wait is bounded.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startStandin } from '../standin/standin.mjs';
import { SmsError } from '../standin/sms.mjs';
import { createClusterTable as createTable } from './lib/cluster_table.mjs';
import { SAFE_AWS_ENV, TOOLS, configText, ownNumber, startDaemon, tempDir, testDaemon, waitFor } from './lib/daemon.mjs';

const CTL = process.env.TWOWAYCTL_BIN ||
  (process.env.TWOWAYD_BIN ? join(process.env.TWOWAYD_BIN, '..', 'twowayctl')
    : new URL('../../build/twowayctl', import.meta.url).pathname);
const OUR_NUMBER = '+18005550199';
const MUTATING = ['SetTopicAttributes', 'Subscribe', 'UpdatePhoneNumber', 'Publish', 'SendTextMessage',
  'UpdateItem', 'PutItem', 'CreateQueue', 'SetQueueAttributes', 'SetSubscriptionAttributes', 'CreateTable',
  'UpdateTimeToLive'];

let standin;
before(async () => {
  standin = await startStandin({ sns: true, consentTable: 'twowayd-consent' });
  ownNumber(standin, OUR_NUMBER);
});
after(async () => { await standin?.close(); });

let seq = 0;
// A topic and a phone number of the test's own, so tests do not see each other's state.
function fixture(t, { status = 'ACTIVE', ...number } = {}) {
  const n = ++seq;
  const topicArn = standin.sns.createTopic(`twowayd-ctl-${n}`);
  const phone = standin.sms.addPhoneNumber({ phoneNumber: `+1800555${String(1000 + n).slice(-4)}`, status, ...number });
  return { topicArn, phone };
}

function config(dir, { topicArn, consentTable = 'twowayd-consent', origination = OUR_NUMBER, port = 0, cluster = [] } = {}) {
  return configText({
    port,
    spoolDir: dir,
    tail: ['[aws]', `ca_bundle = ${standin.sns.caFile}`, '[sms]', `origination_identity = ${origination}`,
      ...(cluster.length ? ['[cluster]', ...cluster] : [])].join('\n'),
  }).replace(/topic_arns = .*/, `topic_arns = ${topicArn}\nsigning_cert_host = ${standin.sns.signingCertHostRegex}`)
    .replace(/^table = twowayd-consent$/m, `table = ${consentTable}`);
}

// A daemon for the topic (its own spool and config); d.url is its SNS endpoint.
function daemon(t, opts) {
  return testDaemon(t, { config: (dir) => config(dir, opts), env: standin.env() });
}

// A config file for twowayctl alone (no daemon).
function configFile(t, opts) {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const path = join(dir, 'twowayd.conf');
  writeFileSync(path, config(dir, opts));
  return { dir, path };
}

function ctl(configPath, args, { env = {}, timeoutMs = 30000 } = {}) {
  const { dir } = tempDir();
  const childEnv = { ...process.env, ...SAFE_AWS_ENV(dir), ...standin.env(), ...env };
  for (const [k, v] of Object.entries(childEnv)) if (v === undefined) delete childEnv[k];
  delete childEnv.JOURNAL_STREAM;
  return new Promise((resolve) => {
    execFile(CTL, ['-c', configPath, ...args], { env: childEnv, encoding: 'utf8', timeout: timeoutMs },
      (err, stdout, stderr) => resolve({ code: err ? (err.code ?? err.signal) : 0, stdout, stderr }));
  });
}

const json = (r) => {
  assert.equal(typeof r.stdout, 'string');
  return JSON.parse(r.stdout);
};
const calls = () => ['sms', 'sns-api', 'dynamodb', 'sqs'].flatMap((s) => standin.requests(s));
const mutatingCalls = (from) => calls().filter((q) => q.seq > from && MUTATING.includes(q.operation));
const lastSeq = () => Math.max(0, ...calls().map((q) => q.seq));
const numberState = (id) => standin.sms.phoneNumbers().find((n) => n.PhoneNumberId === id);

function setupArgs(f, endpoint, extra = [], timeout = 15) {
  return ['setup', '--phone-number', f.phone.PhoneNumber, '--topic-arn', f.topicArn, '--endpoint', endpoint,
    '--timeout', String(timeout), ...extra];
}

// ---- setup -----------------------------------------------------------------------------

test('setup on a fresh account reaches a confirmed subscription with the daemon running', async (t) => {
  const f = fixture(t);
  const d = await daemon(t, { topicArn: f.topicArn });
  const r = await ctl(d.configPath, setupArgs(f, d.url));
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /topic policy: +added statement TwowaydSmsVoicePublish/);
  assert.match(r.stdout, /two-way messaging: +enabled towards/);
  assert.match(r.stdout, /self-managed opt-outs: +on/);
  assert.match(r.stdout, /subscription: +confirmed: arn:aws:sns:/);
  assert.match(r.stdout, /dead-letter queue: +created http:\/\/127\.0\.0\.1:\d+\/123456789012\/twowayd-ctl-\d+-twowayd-dlq \(messages kept 14 days\)/);
  assert.match(r.stdout, /queue policy: +added statement TwowaydSnsDeadLetter/);
  assert.match(r.stdout, /delivery policy: +set \{/);
  assert.match(r.stdout, /dead letters: +go to arn:aws:sqs:/);
  assert.match(r.stdout, /Setup complete\./);

  // Delivery made durable: retries with backoff over most of SNS's hour, a
  // throttle, and a dead-letter queue SNS may send to.
  const sub = standin.sns.subscriptions(f.topicArn)[0];
  const attrs = standin.sns.subscriptionAttributes(sub.arn);
  const delivery = JSON.parse(attrs.DeliveryPolicy);
  assert.deepEqual(delivery, {
    healthyRetryPolicy: { minDelayTarget: 10, maxDelayTarget: 120, numRetries: 32, numNoDelayRetries: 3,
      numMinDelayRetries: 2, numMaxDelayRetries: 15, backoffFunction: 'exponential' },
    throttlePolicy: { maxReceivesPerSecond: 1000 },
  });
  const queue = standin.sqs.queue(`twowayd-ctl-${seq}-twowayd-dlq`);
  assert.ok(queue, 'no dead-letter queue');
  assert.equal(queue.attributes.MessageRetentionPeriod, '1209600');
  assert.deepEqual(JSON.parse(attrs.RedrivePolicy), { deadLetterTargetArn: queue.arn });
  assert.ok(standin.sqs.allowsSend(queue.arn, 'sns.amazonaws.com', f.topicArn), queue.attributes.Policy);
  assert.ok(!standin.sqs.allowsSend(queue.arn, 'sns.amazonaws.com', standin.sns.topicArn), 'another topic may send to the queue');

  const n = numberState(f.phone.PhoneNumberId);
  assert.equal(n.TwoWayEnabled, true);
  assert.equal(n.TwoWayChannelArn, f.topicArn);
  assert.equal(n.SelfManagedOptOutsEnabled, true);
  const policy = JSON.parse(standin.sns.topicAttributes(f.topicArn).Policy);
  assert.deepEqual(policy.Statement.map((s) => s.Sid), ['__default_statement_ID', 'TwowaydSmsVoicePublish']);
  const ours = policy.Statement[1];
  assert.deepEqual(ours.Principal, { Service: 'sms-voice.amazonaws.com' });
  assert.equal(ours.Action, 'sns:Publish');
  assert.equal(ours.Resource, f.topicArn);
  assert.deepEqual(ours.Condition, { StringEquals: { 'aws:SourceAccount': '123456789012' } });
  const subs = standin.sns.subscriptions(f.topicArn);
  assert.equal(subs.length, 1);
  assert.deepEqual([subs[0].protocol, subs[0].endpoint, subs[0].confirmed], ['http', d.url, true]);
  // The daemon confirmed it, through the signed SubscriptionConfirmation.
  await d.waitForLog('sns.subscription_confirmed');
  assert.deepEqual(standin.rejected(), []);
  assert.deepEqual(standin.rejected('sns-api'), []);
});

test('setup run twice changes nothing the second time', async (t) => {
  const f = fixture(t);
  const d = await daemon(t, { topicArn: f.topicArn });
  const first = await ctl(d.configPath, setupArgs(f, d.url));
  assert.equal(first.code, 0, first.stdout + first.stderr);
  const policyBefore = standin.sns.topicAttributes(f.topicArn).Policy;
  const mark = lastSeq();
  const second = await ctl(d.configPath, setupArgs(f, d.url));
  assert.equal(second.code, 0, second.stdout + second.stderr);
  assert.match(second.stdout, /topic policy: +already allows sms-voice.amazonaws.com to publish \(statement TwowaydSmsVoicePublish\)/);
  assert.match(second.stdout, /two-way messaging: +already enabled/);
  assert.match(second.stdout, /self-managed opt-outs: +already on/);
  assert.match(second.stdout, /subscription: +already confirmed/);
  assert.match(second.stdout, /dead-letter queue: +already exists/);
  assert.match(second.stdout, /queue policy: +already lets/);
  assert.match(second.stdout, /delivery policy: +already retries for up to 54 minutes/);
  assert.match(second.stdout, /dead letters: +already go to arn:aws:sqs:/);
  assert.match(second.stdout, /Nothing to change/);
  assert.deepEqual(mutatingCalls(mark).map((q) => q.operation), []);
  assert.equal(standin.sns.topicAttributes(f.topicArn).Policy, policyBefore);
  assert.equal(standin.sns.subscriptions(f.topicArn).length, 1);
});

test('setup stops at a number that is not ACTIVE, saying how long provisioning takes', async (t) => {
  const f = fixture(t, { status: 'PENDING' });
  const c = configFile(t, { topicArn: f.topicArn });
  const mark = lastSeq();
  const r = await ctl(c.path, setupArgs(f, 'https://sms.example.com/sns'));
  assert.equal(r.code, 4, r.stdout + r.stderr);
  assert.match(r.stderr, new RegExp(`\\${f.phone.PhoneNumber} is PENDING, not ACTIVE`));
  assert.match(r.stderr, /toll-free number stays PENDING until its registration is approved/);
  assert.deepEqual(mutatingCalls(mark), []);
  assert.equal(numberState(f.phone.PhoneNumberId).TwoWayEnabled, false);
});

test('setup --dry-run prints the plan and mutates nothing', async (t) => {
  const f = fixture(t);
  const c = configFile(t, { topicArn: f.topicArn });
  const policyBefore = standin.sns.topicAttributes(f.topicArn).Policy;
  const mark = lastSeq();
  const r = await ctl(c.path, setupArgs(f, 'https://sms.example.com/sns', ['--dry-run']));
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /topic policy: +would add statement TwowaydSmsVoicePublish/);
  assert.match(r.stdout, /two-way messaging: +would enable it towards/);
  assert.match(r.stdout, /self-managed opt-outs: +would turn them on/);
  assert.match(r.stdout, /subscription: +would subscribe https:\/\/sms.example.com\/sns/);
  assert.match(r.stdout, /dead-letter queue: +would create SQS queue twowayd-ctl-\d+-twowayd-dlq \(messages kept 14 days\)/);
  assert.match(r.stdout, /delivery policy: +would retry for up to 54 minutes/);
  assert.match(r.stdout, /dead letters: +would send/);
  assert.match(r.stdout, /Dry run: 7 changes planned, nothing was changed/);
  assert.deepEqual(mutatingCalls(mark), []);
  assert.equal(standin.sns.topicAttributes(f.topicArn).Policy, policyBefore);
  assert.equal(numberState(f.phone.PhoneNumberId).TwoWayEnabled, false);
  assert.deepEqual(standin.sns.subscriptions(f.topicArn), []);
  assert.equal(standin.sqs.queue(`twowayd-ctl-${seq}-twowayd-dlq`), null);
});

test('setup keeps the other statements of an existing policy', async (t) => {
  const f = fixture(t);
  const c = configFile(t, { topicArn: f.topicArn });
  const other = { Sid: 'OpsAlarms', Effect: 'Allow', Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: 'sns:Publish', Resource: f.topicArn };
  standin.sns.setTopicAttribute(f.topicArn, 'Policy', JSON.stringify({ Version: '2012-10-17', Statement: other }));
  const r = await ctl(c.path, setupArgs(f, 'https://sms.example.com/sns', [], 1));
  // Nothing confirms that endpoint: the wait times out (exit 5) after the other steps.
  assert.equal(r.code, 5, r.stdout + r.stderr);
  assert.match(r.stderr, /still pending after 1s/);
  const policy = JSON.parse(standin.sns.topicAttributes(f.topicArn).Policy);
  assert.deepEqual(policy.Statement[0], other);
  assert.equal(policy.Statement[1].Sid, 'TwowaydSmsVoicePublish');
});

// ---- doctor ------------------------------------------------------------------------------

// A number, topic and daemon in the state setup leaves them in, set directly.
async function goodState(t, numberOpts = {}) {
  const f = fixture(t, numberOpts);
  const d = await daemon(t, { topicArn: f.topicArn });
  const r = await ctl(d.configPath, setupArgs(f, d.url));
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return { f, d };
}

// The daemons listen on an ephemeral port, so /healthz is named (the default URL,
// from [http] listen, is what the consent-table tests use).
async function doctor(d, f, extra = [], opts) {
  const healthz = d.port ? ['--healthz-url', `http://127.0.0.1:${d.port}/healthz`] : [];
  const r = await ctl(d.configPath ?? d, ['doctor', '--json', '--phone-number', f.phone.PhoneNumber, ...healthz, ...extra], opts);
  const out = json(r);
  const byCheck = {};
  for (const c of out.checks) (byCheck[c.check] ??= []).push(c);
  return { r, out, byCheck, failed: out.checks.filter((c) => c.status === 'fail').map((c) => c.check) };
}

test('doctor: everything in order exits 0', async (t) => {
  const { f, d } = await goodState(t);
  const { r, out, failed } = await doctor(d, f, ['--endpoint', d.url]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(out.ok, true);
  assert.deepEqual(failed, []);
  assert.deepEqual(out.checks.map((c) => c.check),
    ['credentials', 'phone-number', 'message-type', 'rate', 'two-way', 'opt-outs', 'topic-policy', 'subscription',
      'sns-retries', 'dead-letter', 'healthz', 'consent-table']);
  assert.ok(out.checks.every((c) => c.status === 'ok'), JSON.stringify(out.checks));
  assert.match(out.checks[0].message, /resolved from environment/);
  // The human form too.
  const human = await ctl(d.configPath, ['doctor', '--endpoint', d.url, '--healthz-url', `http://127.0.0.1:${d.port}/healthz`]);
  assert.equal(human.code, 0, human.stdout + human.stderr);
  assert.match(human.stdout, /^ok +credentials/m);
  assert.match(human.stdout, /0 failed, 0 warnings/);
});

test('doctor: the rate check shows the number\'s message parts per second and warns when the override is higher', async (t) => {
  // Toll-free in the US: 3 parts a second, learned by twowayd.
  const { f, d } = await goodState(t);
  let res = await doctor(d, f);
  assert.equal(res.byCheck.rate[0].status, 'ok');
  assert.match(res.byCheck.rate[0].message, /\(TOLL_FREE US\) may send 3 message parts a second: twowayd learns that/);

  // A long code in Great Britain: 10 parts a second; an override of 5 is fine, 20 is not.
  standin.sms.patchPhoneNumber(f.phone.PhoneNumberId, { NumberType: 'LONG_CODE', IsoCountryCode: 'GB' });
  const c = configFile(t, { topicArn: f.topicArn });
  const base = readFileSync(c.path, 'utf8');
  writeFileSync(c.path, base.replace('[sms]', '[sms]\nmax_per_second = 5'));
  res = await doctor(c.path, f);
  assert.equal(res.byCheck.rate[0].status, 'ok');
  assert.match(res.byCheck.rate[0].message, /\(LONG_CODE GB\) may send 10 message parts a second; \[sms\] max_per_second = 5 overrides that/);
  writeFileSync(c.path, base.replace('[sms]', '[sms]\nmax_per_second = 20'));
  res = await doctor(c.path, f);
  assert.equal(res.byCheck.rate[0].status, 'warn');
  assert.match(res.byCheck.rate[0].message, /may send 10 message parts a second, but \[sms\] max_per_second = 20: the excess is refused with ThrottlingException/);
  assert.equal(res.byCheck.rate[0].fix, 'remove [sms] max_per_second (the rate is then learned), or set it to 10');

  // DescribePhoneNumbers refused: twowayd could not learn the rate either.
  const describe = standin.sms.handlers.get('DescribePhoneNumbers');
  standin.sms.setHandler('DescribePhoneNumbers', () => {
    throw new SmsError(400, 'AccessDeniedException', 'not authorized to perform: sms-voice:DescribePhoneNumbers');
  });
  try {
    res = await doctor(d, f);
  } finally {
    standin.sms.setHandler('DescribePhoneNumbers', describe);
  }
  assert.equal(res.byCheck.rate[0].status, 'warn');
  assert.match(res.byCheck.rate[0].message, /cannot learn the numbers' message parts per second without sms-voice:DescribePhoneNumbers and sends at 1 a second/);
  assert.equal(res.byCheck.rate[0].fix, 'allow sms-voice:DescribePhoneNumbers');
});

test('doctor: a number that is not ACTIVE fails', async (t) => {
  const { f, d } = await goodState(t);
  standin.sms.setPhoneNumberStatus(f.phone.PhoneNumberId, 'PENDING');
  const { r, failed, byCheck } = await doctor(d, f);
  assert.equal(r.code, 1);
  assert.deepEqual(failed, ['phone-number']);
  assert.match(byCheck['phone-number'][0].message, /is PENDING, not ACTIVE/);
  assert.match(byCheck['phone-number'][0].fix, /registration/);
});

test('doctor: a PROMOTIONAL number fails against TRANSACTIONAL replies', async (t) => {
  const { f, d } = await goodState(t, { messageType: 'PROMOTIONAL' });
  const { r, failed, byCheck } = await doctor(d, f);
  assert.equal(r.code, 1);
  assert.deepEqual(failed, ['message-type']);
  assert.match(byCheck['message-type'][0].message, /is PROMOTIONAL but replies are sent as TRANSACTIONAL/);
});

test('doctor: two-way off, or pointing at a topic not in topic_arns, fails', async (t) => {
  const { f, d } = await goodState(t);
  standin.sms.patchPhoneNumber(f.phone.PhoneNumberId, { TwoWayEnabled: false });
  let res = await doctor(d, f);
  assert.equal(res.r.code, 1);
  assert.deepEqual(res.failed, ['two-way']);
  assert.match(res.byCheck['two-way'][0].message, /two-way messaging is off/);
  assert.match(res.byCheck['two-way'][0].fix, /twowayctl setup/);
  standin.sms.patchPhoneNumber(f.phone.PhoneNumberId, { TwoWayEnabled: true, TwoWayChannelArn: 'arn:aws:sns:us-east-1:123456789012:elsewhere' });
  res = await doctor(d, f);
  assert.equal(res.r.code, 1);
  assert.ok(res.failed.includes('two-way'));
  assert.match(res.byCheck['two-way'][0].message, /not in \[sns\] topic_arns/);
});

test('doctor: self-managed opt-outs off fails', async (t) => {
  const { f, d } = await goodState(t);
  standin.sms.patchPhoneNumber(f.phone.PhoneNumberId, { SelfManagedOptOutsEnabled: false });
  const { r, failed, byCheck } = await doctor(d, f);
  assert.equal(r.code, 1);
  assert.deepEqual(failed, ['opt-outs']);
  assert.match(byCheck['opt-outs'][0].message, /AWS answers STOP\/HELP itself/);
});

test('doctor: a topic policy that does not let sms-voice publish fails', async (t) => {
  const { f, d } = await goodState(t);
  standin.sns.setTopicAttribute(f.topicArn, 'Policy', standin.sns.defaultPolicy(f.topicArn));
  const { r, failed, byCheck } = await doctor(d, f);
  assert.equal(r.code, 1);
  assert.deepEqual(failed, ['topic-policy']);
  assert.match(byCheck['topic-policy'][0].message, /does not let sms-voice.amazonaws.com publish/);
  assert.match(byCheck['topic-policy'][0].fix, /TwowaydSmsVoicePublish/);
});

test('doctor: SNS\'s default delivery policy, or no working dead-letter queue, fails', async (t) => {
  const { f, d } = await goodState(t);
  const sub = standin.sns.subscriptions(f.topicArn)[0];
  const { RedrivePolicy, DeliveryPolicy } = standin.sns.subscriptionAttributes(sub.arn);
  const queue = standin.sqs.queue(`${f.topicArn.split(':').pop()}-twowayd-dlq`);

  // Delivery policy gone: SNS's default gives up after about a minute.
  standin.sns.setSubscriptionAttribute(sub.arn, 'DeliveryPolicy', undefined);
  let res = await doctor(d, f);
  assert.equal(res.r.code, 1);
  assert.deepEqual(res.failed, ['sns-retries']);
  assert.match(res.byCheck['sns-retries'][0].message, /no DeliveryPolicy: SNS gives up after 3 retries/);
  assert.match(res.byCheck['sns-retries'][0].fix, /twowayctl setup/);
  standin.sns.setSubscriptionAttribute(sub.arn, 'DeliveryPolicy', DeliveryPolicy);

  // No redrive policy: undeliverable messages are discarded.
  standin.sns.setSubscriptionAttribute(sub.arn, 'RedrivePolicy', undefined);
  res = await doctor(d, f);
  assert.deepEqual(res.failed, ['dead-letter']);
  assert.match(res.byCheck['dead-letter'][0].message, /no RedrivePolicy/);

  // A redrive policy naming a queue that does not exist.
  standin.sns.setSubscriptionAttribute(sub.arn, 'RedrivePolicy', JSON.stringify({ deadLetterTargetArn: `${queue.arn}-gone` }));
  res = await doctor(d, f);
  assert.deepEqual(res.failed, ['dead-letter']);
  assert.match(res.byCheck['dead-letter'][0].message, /does not exist/);
  standin.sns.setSubscriptionAttribute(sub.arn, 'RedrivePolicy', RedrivePolicy);

  // A queue policy that does not let the topic send.
  const other = { Version: '2012-10-17', Statement: [{ Sid: 'Other', Effect: 'Allow', Principal: { Service: 'sns.amazonaws.com' },
    Action: 'sqs:SendMessage', Resource: queue.arn, Condition: { ArnEquals: { 'aws:SourceArn': standin.sns.topicArn } } }] };
  standin.sqs.setQueueAttribute(queue.name, 'Policy', JSON.stringify(other));
  res = await doctor(d, f);
  assert.deepEqual(res.failed, ['dead-letter']);
  assert.match(res.byCheck['dead-letter'][0].message, /does not let .* send to it/);

  // setup repairs all of it.
  const again = await ctl(d.configPath, setupArgs(f, d.url));
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.match(again.stdout, /queue policy: +added statement TwowaydSnsDeadLetter/);
  res = await doctor(d, f);
  assert.deepEqual(res.failed, []);
  assert.match(res.byCheck['dead-letter'][0].message, /undeliverable messages go to arn:aws:sqs:.*\(0 waiting\)/);
});

test('doctor: no confirmed subscription for the endpoint fails', async (t) => {
  const { f, d } = await goodState(t);
  // Another endpoint: not subscribed at all; then a pending one.
  let res = await doctor(d, f, ['--endpoint', 'https://other.example.com/sns']);
  assert.equal(res.r.code, 1);
  assert.deepEqual(res.failed, ['subscription']);
  assert.match(res.byCheck.subscription[0].message, /is not subscribed/);
  standin.sns.addSubscription({ topicArn: f.topicArn, protocol: 'https', endpoint: 'https://other.example.com/sns', confirmed: false });
  res = await doctor(d, f, ['--endpoint', 'https://other.example.com/sns']);
  assert.equal(res.r.code, 1);
  assert.match(res.byCheck.subscription[0].message, /pending confirmation/);
});

test('doctor: a daemon that does not answer /healthz fails', async (t) => {
  const { f, d } = await goodState(t);
  await d.stop();
  const { r, failed, byCheck } = await doctor(d, f);
  assert.equal(r.code, 1);
  assert.deepEqual(failed, ['healthz']);
  assert.match(byCheck.healthz[0].message, /does not answer .*is twowayd running/);
});

test('doctor: a missing consent table fails with the command that creates it', async (t) => {
  const { f, d } = await goodState(t);
  const c = configFile(t, { topicArn: f.topicArn, consentTable: 'no-such-table', port: d.port });
  const { r, failed, byCheck } = await doctor(c.path, f, ['--endpoint', d.url]);
  assert.equal(r.code, 1);
  assert.deepEqual(failed, ['consent-table']);
  assert.match(byCheck['consent-table'][0].message, /does not exist/);
  assert.match(byCheck['consent-table'][0].fix, /aws dynamodb create-table --table-name no-such-table/);
});

test('doctor: a consent table with another key fails', async (t) => {
  const { f, d } = await goodState(t);
  await standin.dynamodb.call('CreateTable', {
    TableName: 'wrong-key', BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
    KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
  });
  const c = configFile(t, { topicArn: f.topicArn, consentTable: 'wrong-key', port: d.port });
  const { r, failed, byCheck } = await doctor(c.path, f, ['--endpoint', d.url]);
  assert.equal(r.code, 1);
  assert.deepEqual(failed, ['consent-table']);
  assert.match(byCheck['consent-table'][0].message, /phone_number \(S\) as its only key/);
});

test('doctor: credentials that do not resolve fail (and say so)', async (t) => {
  const { f, d } = await goodState(t);
  const r = await ctl(d.configPath, ['doctor', '--json'], { env: { AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_SESSION_TOKEN: undefined } });
  assert.equal(r.code, 1);
  const out = json(r);
  const creds = out.checks.find((c) => c.check === 'credentials');
  assert.equal(creds.status, 'fail');
  assert.match(creds.message, /no AWS credentials/);
  assert.match(creds.fix, /AWS_ACCESS_KEY_ID/);
});

// ---- consent -------------------------------------------------------------------------

test('consent get / opt-out / opt-in round trip writes the pipeline item shape', async (t) => {
  const c = configFile(t, { topicArn: standin.sns.topicArn });
  const phone = '+14255550777';
  let r = await ctl(c.path, ['consent', 'get', phone]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /no consent record/);

  r = await ctl(c.path, ['consent', 'opt-out', phone, '--note', 'asked by phone, ticket 42'], { env: { SUDO_USER: 'alice' } });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /is now opted_out \(method manual/);
  let item = (await standin.dynamodb.call('GetItem', { TableName: 'twowayd-consent', Key: { phone_number: { S: phone } } })).Item;
  assert.equal(item.consent_status.S, 'opted_out');
  assert.equal(item.opt_out_method.S, 'manual');
  assert.match(item.opt_out_requested_at.S, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.match(item.opt_out_deadline.S, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.ok(item.opt_out_deadline.S > item.opt_out_requested_at.S);
  assert.equal(item.updated_at.S, item.opt_out_requested_at.S);
  assert.equal(item.version.N, '1');
  assert.match(item.last_inbound_message_id.S, /^manual:[0-9a-f-]{36}$/);
  assert.equal(item.consent_history.L.length, 1);
  const h0 = item.consent_history.L[0].M;
  assert.deepEqual(Object.keys(h0).sort(), ['action', 'inbound_message_id', 'method', 'note', 'operator', 'time']);
  assert.deepEqual([h0.action.S, h0.method.S, h0.note.S, h0.operator.S], ['opt_out', 'manual', 'asked by phone, ticket 42', 'alice']);
  assert.equal(h0.inbound_message_id.S, item.last_inbound_message_id.S);

  r = await ctl(c.path, ['consent', 'opt-out', phone]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /already opted_out: nothing changed/);

  r = await ctl(c.path, ['consent', 'opt-in', phone, '--note', 'consent form signed']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  r = await ctl(c.path, ['consent', 'get', phone, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const got = json(r).item;
  assert.equal(got.consent_status, 'opted_in');
  assert.equal(got.opt_in_method, 'manual');
  assert.equal(got.version, 2);
  assert.equal(got.opt_out_method, 'manual'); // kept, as the pipeline keeps it
  assert.deepEqual(got.consent_history.map((e) => [e.action, e.method, e.note]),
    [['opt_out', 'manual', 'asked by phone, ticket 42'], ['opt_in', 'manual', 'consent form signed']]);

  r = await ctl(c.path, ['consent', 'get', phone]);
  assert.match(r.stdout, /^consent_status +opted_in$/m);
  assert.match(r.stdout, /consent_history:/);

  r = await ctl(c.path, ['consent', 'opt-out', '4255550777']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /not a number in E.164 form/);
});

// ---- spool ---------------------------------------------------------------------------------

test('spool ls / show / retry / purge on a spool the daemon wrote', async (t) => {
  const f = fixture(t);
  const d = await daemon(t, { topicArn: f.topicArn });
  const sns = standin.sns;
  const deliver = (msg) => sns.deliver(d.url, msg);
  // The daemon reads the numbers' rates first (DescribePhoneNumbers, also sms-voice).
  await d.waitForLog((l) => l.event === 'sms.rates_learned' || l.event === 'sms.rate_unknown', 10000);
  // One message whose reply send is cut off (may have been sent: dead), one unusable.
  standin.faults.push('sms', { drop: true });
  let res = await deliver(sns.notification({ topicArn: f.topicArn, message: sns.inboundSms({ from: '+14255550601', to: OUR_NUMBER, body: 'HELP' }) }));
  assert.equal(res.status, 200, res.body);
  res = await deliver(sns.notification({ topicArn: f.topicArn, message: '{"not":"an inbound sms"}' }));
  assert.equal(res.status, 200, res.body);

  // While the daemon runs: wait (bounded) until both rows are dead.
  let ls;
  const deadline = Date.now() + 10000;
  for (;;) {
    ls = await ctl(d.configPath, ['spool', 'ls', '--json']);
    assert.equal(ls.code, 0, ls.stderr);
    if (json(ls).counts.dead >= 2 || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const out = json(ls);
  assert.equal(out.counts.dead, 2, JSON.stringify(out));
  assert.equal(out.state, 'dead');
  const unusable = out.rows.find((w) => w.origination_number === null);
  const cutOff = out.rows.find((w) => w.origination_number === '+14255550601');
  assert.ok(unusable && cutOff, JSON.stringify(out.rows));
  assert.ok(unusable.last_error && cutOff.last_error);

  const human = await ctl(d.configPath, ['spool', 'ls']);
  assert.equal(human.code, 0);
  assert.match(human.stdout, /dead 2/);
  assert.match(human.stdout, /^ID +STATE +RECEIVED +FROM +ATTEMPTS +REPLY +REASON$/m);

  const show = await ctl(d.configPath, ['spool', 'show', String(cutOff.id), '--json']);
  assert.equal(show.code, 0, show.stderr);
  assert.equal(json(show).body, 'HELP');
  assert.equal(json(show).destination_number, OUR_NUMBER);

  await d.stop();
  let r = await ctl(d.configPath, ['spool', 'retry', String(unusable.id)]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /stored dead at arrival/);
  r = await ctl(d.configPath, ['spool', 'retry', String(cutOff.id)]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /pending again/);
  r = await ctl(d.configPath, ['spool', 'show', String(cutOff.id), '--json']);
  assert.equal(json(r).state, 'pending');
  assert.equal(json(r).attempts, 0);
  r = await ctl(d.configPath, ['spool', 'purge', String(cutOff.id)]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /is pending: only done or dead rows can be purged/);
  r = await ctl(d.configPath, ['spool', 'purge', String(unusable.id)]);
  assert.equal(r.code, 0, r.stderr);
  r = await ctl(d.configPath, ['spool', 'show', String(unusable.id)]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no row/);
  r = await ctl(d.configPath, ['spool', 'ls', '--state', 'any', '--json']);
  assert.deepEqual(json(r).rows.map((w) => [w.id, w.state]), [[cutOff.id, 'pending']]);
});

// Beside a daemon in the middle of a write (spool-hold takes the write lock
// as the daemon's commit does): ls and show read on a read-only connection and
// answer at once; purge waits for the lock, and when it stays taken says so
// clearly; once it is released, purge goes through.
test('spool ls and show read while the spool is being written; purge waits for the lock', async (t) => {
  const f = fixture(t);
  const d = await daemon(t, { topicArn: f.topicArn });
  const sns = standin.sns;
  const res = await sns.deliver(d.url, sns.notification({ topicArn: f.topicArn, message: '{"held":1}' }));
  assert.equal(res.status, 200, res.body);
  const row = json(await ctl(d.configPath, ['spool', 'ls', '--json'])).rows[0];
  assert.equal(row?.state, 'dead');

  const hold = spawn(join(TOOLS, 'spool-hold'), [d.dir], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => hold.on('exit', resolve));
  t.after(() => { hold.stdin.end(); return exited; });
  let out = '';
  hold.stdout.on('data', (b) => { out += b; });
  await waitFor(() => out.includes('held'), { what: 'spool-hold to take the write lock', emitter: hold.stdout, event: 'data' });

  const ls = await ctl(d.configPath, ['spool', 'ls', '--json']);
  assert.equal(ls.code, 0, ls.stderr);
  assert.deepEqual(json(ls).rows.map((w) => w.id), [row.id]);
  const show = await ctl(d.configPath, ['spool', 'show', String(row.id), '--json']);
  assert.equal(show.code, 0, show.stderr);
  assert.equal(json(show).raw, '{"held":1}');

  let purge = await ctl(d.configPath, ['spool', 'purge', String(row.id)]);
  assert.equal(purge.code, 1);
  assert.equal(purge.stderr, "twowayctl: the daemon held the spool's write lock for 5 s: try again\n");

  hold.stdin.end();
  assert.equal(await exited, 0);
  purge = await ctl(d.configPath, ['spool', 'purge', String(row.id)]);
  assert.equal(purge.code, 0, purge.stderr);
  assert.deepEqual(json(await ctl(d.configPath, ['spool', 'ls', '--state', 'any', '--json'])).rows, []);
});

// ---- send and simulate ----------------------------------------------------------------------

test('send records one SendTextMessage', async (t) => {
  const c = configFile(t, { topicArn: standin.sns.topicArn });
  const before = standin.sms.sent().length;
  const r = await ctl(c.path, ['send', '--to', '+14255550888', '--body', 'Your appointment is confirmed.', '--json']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const sent = standin.sms.sent().slice(before);
  assert.equal(sent.length, 1);
  assert.deepEqual([sent[0].DestinationPhoneNumber, sent[0].OriginationIdentity, sent[0].MessageBody, sent[0].MessageType],
    ['+14255550888', OUR_NUMBER, 'Your appointment is confirmed.', 'TRANSACTIONAL']);
  assert.equal(json(r).message_id, sent[0].MessageId);
  // An opted-out number is refused.
  assert.equal((await ctl(c.path, ['consent', 'opt-out', '+14255550888'])).code, 0);
  const refused = await ctl(c.path, ['send', '--to', '+14255550888', '--body', 'again']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /has opted out: not sent/);
  assert.equal(standin.sms.sent().length, before + 1);
});

test('send refuses, before any call, what SendTextMessage would refuse', async (t) => {
  const c = configFile(t, { topicArn: standin.sns.topicArn });
  const before = standin.requests('sms').length;
  const cases = [
    [['--to', '+14255550888', '--body', 'Hi', '--from', 'pool.main'], /--from: SendTextMessage OriginationIdentity must match/],
    [['--to', '+14255550888', '--body', '   '], /--body: SendTextMessage MessageBody must match/],
    [['--to', '+14255550888', '--body', 'x'.repeat(1601)], /--body: SendTextMessage MessageBody is at most 1600 characters \(this is 1601\)/],
  ];
  for (const [args, want] of cases) {
    const r = await ctl(c.path, ['send', ...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, want);
  }
  assert.equal(standin.requests('sms').length, before, 'no SendTextMessage was tried');
});

test('simulate makes the daemon store a message', async (t) => {
  const { f, d } = await goodState(t);
  const r = await ctl(d.configPath, ['simulate', '--from', '+14255550999', '--body', 'Schedule appointment', '--json']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const { inbound_message_id: inbound, message_id: messageId } = json(r);
  await d.waitForLog((l) => l.event === 'sns.stored', 10000);
  const pub = standin.sns.publishes().find((p) => p.messageId === messageId);
  assert.equal(pub.topicArn, f.topicArn);
  assert.deepEqual(JSON.parse(pub.message), {
    originationNumber: '+14255550999', destinationNumber: OUR_NUMBER, messageKeyword: '',
    messageBody: 'Schedule appointment', inboundMessageId: inbound, previousPublishedMessageId: '',
  });
  const ls = await ctl(d.configPath, ['spool', 'ls', '--state', 'any', '--json']);
  const row = json(ls).rows.find((w) => w.inbound_message_id === inbound);
  assert.ok(row, ls.stdout);
  assert.equal(row.sns_message_id, messageId);
  assert.equal(row.origination_number, '+14255550999');
});

// ---- dead letters ------------------------------------------------------------------------------

test('dlq: a message dead-lettered while the daemon was down is listed, replayed once, and stored once', async (t) => {
  const { f, d } = await goodState(t);
  const queueName = `${f.topicArn.split(':').pop()}-twowayd-dlq`;
  const from = '+14255550777';
  await d.stop();

  // SNS cannot reach the stopped daemon: after its retries the notification
  // goes to the dead-letter queue setup made.
  const sim = await ctl(d.configPath, ['simulate', '--from', from, '--body', 'Is anyone there?', '--json']);
  assert.equal(sim.code, 0, sim.stdout + sim.stderr);
  const { message_id: messageId, inbound_message_id: inbound } = json(sim);
  await standin.sns.waitFor(() => standin.sns.deliveries().find((x) => x.messageId === messageId && x.deadLetter),
    { timeoutMs: 15000 });
  assert.equal(standin.sqs.queue(queueName).messages.length, 1);

  // ls shows it and leaves it there.
  const ls = await ctl(d.configPath, ['dlq', 'ls', '--json']);
  assert.equal(ls.code, 0, ls.stdout + ls.stderr);
  assert.deepEqual(json(ls).map((m) => [m.sns_message_id, m.type, m.from]), [[messageId, 'Notification', '+1425***0777']]);
  const human = await ctl(d.configPath, ['dlq', 'ls']);
  assert.match(human.stdout, new RegExp(`${messageId} .*\\+1425\\*\\*\\*0777 +Notification`));
  assert.match(human.stdout, /^1 dead-lettered message$/m);
  const queue = standin.sqs.queue(queueName);
  assert.equal(queue.messages.length, 1);
  const deadBody = queue.messages[0].Body;
  assert.equal(JSON.parse(deadBody).MessageId, messageId);

  // The daemon back (on another port), replay: verified, stored, answered, deleted.
  const back = await startDaemon({ dir: d.dir, env: standin.env() });
  t.after(() => back.stop());
  const endpoint = `http://127.0.0.1:${back.port}/sns`;
  const replay = await ctl(d.configPath, ['dlq', 'replay', '--endpoint', endpoint]);
  assert.equal(replay.code, 0, replay.stdout + replay.stderr);
  assert.match(replay.stdout, new RegExp(`^${messageId}  stored \\(from \\+1425\\*\\*\\*0777\\)$`, 'm'));
  assert.match(replay.stdout, /Replayed 1: 1 stored, 0 already stored; 0 left in the queue\./);
  assert.equal(standin.sqs.queue(queueName).messages.length, 0);
  await back.waitForLog((l) => l.event === 'sns.stored' && l.inbound_message_id === inbound, 10000);
  await standin.waitFor(() => standin.sms.sent().some((m) => m.DestinationPhoneNumber === from), { timeoutMs: 15000 });

  // Replayed again (SQS delivers at least once): acknowledged, not stored twice.
  const again = await ctl(d.configPath, ['dlq', 'replay', '--endpoint', endpoint]);
  assert.match(again.stdout, /Replayed 0: 0 stored, 0 already stored; 0 left in the queue\./);
  standin.sqs.enqueue(queue.arn, deadBody);
  const dup = await ctl(d.configPath, ['dlq', 'replay', '--endpoint', endpoint]);
  assert.equal(dup.code, 0, dup.stdout + dup.stderr);
  assert.match(dup.stdout, new RegExp(`^${messageId}  already stored`, 'm'));
  assert.match(dup.stdout, /Replayed 1: 0 stored, 1 already stored; 0 left in the queue\./);
  assert.equal(standin.sqs.queue(queueName).messages.length, 0);
  const rows = json(await ctl(d.configPath, ['spool', 'ls', '--state', 'any', '--json'])).rows
    .filter((w) => w.inbound_message_id === inbound);
  assert.equal(rows.length, 1);
  assert.equal(standin.sms.sent().filter((m) => m.DestinationPhoneNumber === from).length, 1);

  // One the daemon refuses (its signature broken) stays in the queue: exit 1.
  const forged = JSON.parse(deadBody);
  forged.Message = forged.Message.replace('Is anyone there?', 'Is anyone here?');
  standin.sqs.enqueue(queue.arn, JSON.stringify(forged));
  const refused = await ctl(d.configPath, ['dlq', 'replay', '--endpoint', endpoint]);
  assert.equal(refused.code, 1, refused.stdout + refused.stderr);
  assert.match(refused.stderr, new RegExp(`${messageId}: the daemon answered 403 .*left in the queue`));
  assert.match(refused.stdout, /Replayed 0: 0 stored, 0 already stored; 1 left in the queue\./);
  assert.equal(standin.sqs.queue(queueName).messages.length, 1);
  assert.deepEqual(standin.rejected('sqs'), []);
});

// ---- usage -----------------------------------------------------------------------------------

test('--help for every command; usage errors exit 2; a bad config exits 3', async (t) => {
  const c = configFile(t, { topicArn: standin.sns.topicArn });
  for (const cmd of ['status', 'setup', 'doctor', 'consent', 'spool', 'send', 'simulate', 'dlq']) {
    const r = await ctl(c.path, [cmd, '--help']);
    assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^usage: twowayctl ${cmd}`), cmd);
  }
  const top = await ctl(c.path, ['--help']);
  assert.match(top.stdout, /Exit status: 0 success/);
  let r = await ctl(c.path, ['frobnicate']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown command 'frobnicate'/);
  r = await ctl(c.path, ['send', '--to', '+14255550123']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--body needs the text/);
  r = await ctl(c.path, ['dlq', 'ls', '--endpoint', 'http://x/sns']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--endpoint URL \(http or https\) goes with dlq replay/);
  r = await ctl(join(c.dir, 'missing.conf'), ['status']);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /cannot use the config/);
});

test('status lists every page of phone numbers; AWS errors name the call and the fix', async (t) => {
  const c = configFile(t, { topicArn: standin.sns.topicArn });
  standin.sms.setPageSize(2);
  t.after(() => standin.sms.setPageSize(10));
  const r = await ctl(c.path, ['status', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const all = standin.sms.phoneNumbers();
  assert.ok(all.length > 2);
  assert.deepEqual(json(r).numbers.map((n) => n.phone_number), all.map((n) => n.PhoneNumber));
  assert.equal(json(r).send_queues, null, 'no daemon answers on this config\'s port');
  const human = await ctl(c.path, ['status']);
  assert.match(human.stdout, /^NUMBER +ID +STATUS +TYPE +MESSAGE +TWO-WAY +TWO-WAY CHANNEL +SELF-MANAGED OPT-OUTS$/m);

  standin.faults.push('sms', { status: 400, errorType: 'AccessDeniedException', message: 'not allowed' });
  const denied = await ctl(c.path, ['status']);
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /^twowayctl: sms-voice DescribePhoneNumbers failed: AccessDeniedException: not allowed \[HTTP 400\]\. Allow sms-voice:DescribePhoneNumbers to these credentials \(from environment\)/m);
});

// ---- cluster table -------------------------------------------------------------------------

let clusterSeq = 0;
const clusterName = () => `twowayd-cluster-${++clusterSeq}`;
const describe = async (table) => (await standin.dynamodb.call('DescribeTable', { TableName: table })).Table;
const ttlOf = async (table) => (await standin.dynamodb.call('DescribeTimeToLive', { TableName: table })).TimeToLiveDescription;
async function exists(table) {
  try {
    await describe(table);
    return true;
  } catch (err) {
    if (err.body?.__type?.endsWith('ResourceNotFoundException')) return false;
    throw err;
  }
}
// The layout as twowayctl setup creates it, made directly (for doctor and status).
const createClusterTable = (table, { ttl = true, index = true } = {}) =>
  createTable(standin.dynamodb, table, { ttl, index });
async function heartbeat(table, name, ageMs) {
  const now = Date.now();
  await standin.dynamodb.call('PutItem', { TableName: table, Item: {
    pk: { S: 'cluster' }, sk: { S: `instance#${name}` }, heartbeat_at: { N: String(now - ageMs) },
    started_at: { N: String(now - ageMs - 3600e3) }, version: { S: '0.1.0' },
    expires_at: { N: String(Math.floor(now / 1000) + 7 * 86400) } } });
}

test('setup --cluster-table creates the table as documented; a second run changes nothing', async (t) => {
  const c = configFile(t, { topicArn: standin.sns.topicArn });
  const table = clusterName();
  const from = lastSeq();
  const r = await ctl(c.path, ['setup', '--cluster-table', table]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`cluster table: +created ${table}: key pk \\(S, hash\\) \\+ sk \\(S, range\\), index open-by`));
  assert.match(r.stdout, /cluster TTL: +enabled on expires_at/);
  assert.match(r.stdout, /Setup complete\./);
  assert.deepEqual(mutatingCalls(from).map((q) => q.operation), ['CreateTable', 'UpdateTimeToLive']);

  const d = await describe(table);
  assert.deepEqual(d.KeySchema, [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }]);
  assert.deepEqual([...d.AttributeDefinitions].sort((a, b) => a.AttributeName.localeCompare(b.AttributeName)),
    [{ AttributeName: 'open_by', AttributeType: 'S' }, { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' }]);
  assert.equal(d.BillingModeSummary.BillingMode, 'PAY_PER_REQUEST');
  assert.equal(d.GlobalSecondaryIndexes.length, 1);
  const gsi = d.GlobalSecondaryIndexes[0];
  assert.equal(gsi.IndexName, 'open-by');
  assert.deepEqual(gsi.KeySchema, [{ AttributeName: 'open_by', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }]);
  assert.deepEqual(gsi.Projection, { ProjectionType: 'ALL' });
  assert.deepEqual(await ttlOf(table), { TimeToLiveStatus: 'ENABLED', AttributeName: 'expires_at' });

  const again = lastSeq();
  const r2 = await ctl(c.path, ['setup', '--cluster-table', table]);
  assert.equal(r2.code, 0, r2.stdout + r2.stderr);
  assert.match(r2.stdout, /cluster table: +already exists with the cluster layout/);
  assert.match(r2.stdout, /cluster TTL: +already enabled on expires_at/);
  assert.match(r2.stdout, new RegExp(`Nothing to change: the cluster table ${table} is ready\\.`));
  assert.deepEqual(mutatingCalls(again), []);
  assert.deepEqual(standin.rejected(), []);
});

test('setup --cluster-table --dry-run shows the plan and writes nothing', async (t) => {
  const c = configFile(t, { topicArn: standin.sns.topicArn });
  const table = clusterName();
  let from = lastSeq();
  let r = await ctl(c.path, ['setup', '--cluster-table', table, '--dry-run']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`cluster table: +would create ${table}: key pk \\(S, hash\\) \\+ sk \\(S, range\\)`));
  assert.match(r.stdout, /cluster TTL: +would enable Time to Live on expires_at/);
  assert.match(r.stdout, /Dry run: 2 changes planned, nothing was changed\./);
  assert.deepEqual(mutatingCalls(from), []);
  assert.equal(await exists(table), false);

  // A table with the layout but TTL still off: only the TTL is planned.
  await createClusterTable(table, { ttl: false });
  from = lastSeq();
  r = await ctl(c.path, ['setup', '--cluster-table', table, '--dry-run']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /cluster table: +already exists with the cluster layout/);
  assert.match(r.stdout, /cluster TTL: +would enable Time to Live on expires_at/);
  assert.match(r.stdout, /Dry run: 1 change planned/);
  assert.deepEqual(mutatingCalls(from), []);
  assert.deepEqual(await ttlOf(table), { TimeToLiveStatus: 'DISABLED' });
});

test('setup --cluster-table leaves a table of another layout alone and says why', async (t) => {
  const c = configFile(t, { topicArn: standin.sns.topicArn });
  const cases = [
    // The consent table: another key schema.
    ['twowayd-consent', /is not a cluster table: its key schema is phone_number \(HASH\), not pk \(HASH\), sk \(RANGE\)/],
    // The keys right, no index.
    [clusterName(), /is not a cluster table: it has no global secondary index open-by/],
  ];
  await createClusterTable(cases[1][0], { index: false, ttl: false });
  for (const [table, why] of cases) {
    const before = await describe(table);
    const from = lastSeq();
    const r = await ctl(c.path, ['setup', '--cluster-table', table]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, why);
    assert.match(r.stderr, /It was left alone/);
    assert.deepEqual(mutatingCalls(from), []);
    assert.deepEqual(await describe(table), before);
    assert.deepEqual(await ttlOf(table), { TimeToLiveStatus: 'DISABLED' });
  }

  // TTL on another attribute is not changed either.
  const table = clusterName();
  await createClusterTable(table, { ttl: false });
  await standin.dynamodb.call('UpdateTimeToLive', { TableName: table,
    TimeToLiveSpecification: { Enabled: true, AttributeName: 'ttl' } });
  const from = lastSeq();
  const r = await ctl(c.path, ['setup', '--cluster-table', table]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /Time to Live of twowayd-cluster-\d+ is on ttl, not expires_at/);
  assert.deepEqual(mutatingCalls(from), []);
  assert.deepEqual(await ttlOf(table), { TimeToLiveStatus: 'ENABLED', AttributeName: 'ttl' });

  const bad = await ctl(c.path, ['setup', '--cluster-table', 'x']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--cluster-table needs a DynamoDB table name/);
});

test('doctor --cluster-table: a good table passes and lists live and dead instances', async (t) => {
  const { f, d } = await goodState(t);
  const table = clusterName();
  await createClusterTable(table);
  await heartbeat(table, 'i-live', 1000);
  await heartbeat(table, 'i-dead', 600e3);
  const from = lastSeq();
  const { r, failed, byCheck } = await doctor(d, f, ['--cluster-table', table]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.deepEqual(failed, []);
  assert.equal(byCheck['cluster-table'][0].status, 'ok');
  assert.match(byCheck['cluster-table'][0].message, /is ACTIVE with key pk, sk and the index open-by/);
  assert.equal(byCheck['cluster-ttl'][0].status, 'ok');
  assert.match(byCheck['cluster-ttl'][0].message, /enabled on expires_at/);
  assert.equal(byCheck['cluster-access'][0].status, 'ok');
  assert.equal(byCheck.instances[0].status, 'warn');
  assert.match(byCheck.instances[0].message, /1 live, 1 dead \(i-dead; no heartbeat for over 15s\)/);
  // The permission probes wrote nothing.
  assert.deepEqual(mutatingCalls(from).filter((q) => q.status === 200), []);
  const items = await standin.dynamodb.call('Scan', { TableName: table });
  assert.deepEqual(items.Items.map((i) => i.sk.S).sort(), ['instance#i-dead', 'instance#i-live']);

  await heartbeat(table, 'i-dead', 0);
  const ok = await doctor(d, f, ['--cluster-table', table]);
  assert.equal(ok.byCheck.instances[0].status, 'ok');
  assert.match(ok.byCheck.instances[0].message, /^2 live instances$/);
});

test('doctor --cluster-table: a missing table, TTL off, or a refused action fails', async (t) => {
  const { f, d } = await goodState(t);
  const missing = clusterName();
  let res = await doctor(d, f, ['--cluster-table', missing]);
  assert.equal(res.r.code, 1);
  assert.deepEqual(res.failed, ['cluster-table']);
  assert.match(res.byCheck['cluster-table'][0].message, /does not exist/);
  assert.equal(res.byCheck['cluster-table'][0].fix, `twowayctl setup --cluster-table ${missing}`);

  const noTtl = clusterName();
  await createClusterTable(noTtl, { ttl: false });
  res = await doctor(d, f, ['--cluster-table', noTtl]);
  assert.equal(res.r.code, 1);
  assert.deepEqual(res.failed, ['cluster-ttl']);
  assert.match(res.byCheck['cluster-ttl'][0].message, /is DISABLED: finished records never expire/);
  assert.equal(res.byCheck.instances[0].status, 'warn');
  assert.match(res.byCheck.instances[0].message, /no live instance/);

  // DescribeTable of the consent table, then of the cluster table, DescribeTimeToLive,
  // GetItem pass; the PutItem probe is refused.
  const table = clusterName();
  await createClusterTable(table);
  for (let i = 0; i < 4; i++) standin.faults.push('dynamodb', { delayMs: 0 });
  standin.faults.push('dynamodb', { status: 400, errorType: 'AccessDeniedException',
    message: `User: arn:aws:iam::123456789012:user/ops is not authorized to perform: dynamodb:PutItem on resource: ${table}` });
  t.after(() => standin.faults.clear('dynamodb'));
  res = await doctor(d, f, ['--cluster-table', table]);
  assert.equal(res.r.code, 1);
  assert.deepEqual(res.failed, ['cluster-access']);
  assert.match(res.byCheck['cluster-access'][0].message, /^dynamodb:PutItem on the table of twowayd-cluster-\d+: AccessDeniedException: User: .* is not authorized/);
  assert.match(res.byCheck['cluster-access'][0].fix, /Allow dynamodb:PutItem/);
});

test('doctor and status check the config\'s [cluster] table, with its lease_seconds', async (t) => {
  const { f, d } = await goodState(t);
  const table = clusterName();
  await createClusterTable(table);
  await heartbeat(table, 'i-1', 20e3);
  // A heartbeat 20 s old: dead at the default 15 s, live at lease_seconds = 30.
  for (const [lease, live] of [[null, false], [30, true]]) {
    const c = configFile(t, { topicArn: f.topicArn, port: d.port,
      cluster: [`table = ${table}`, ...(lease ? [`lease_seconds = ${lease}`] : [])] });
    const { r, failed, byCheck } = await doctor(c.path, f, ['--endpoint', d.url,
      '--healthz-url', `http://127.0.0.1:${d.port}/healthz`]);
    assert.deepEqual(failed, [], r.stdout + r.stderr);
    assert.equal(byCheck['cluster-table'][0].status, 'ok');
    assert.match(byCheck['cluster-table'][0].message, new RegExp(`^${table} is ACTIVE`));
    assert.equal(byCheck.instances[0].status, live ? 'ok' : 'warn');
    const s = await ctl(c.path, ['status', '--json']);
    assert.equal(s.code, 0, s.stderr);
    assert.deepEqual(json(s).cluster.instances.map((i) => [i.name, i.live]), [['i-1', live]]);
  }
});

test('status --cluster-table shows the instances', async (t) => {
  const c = configFile(t, { topicArn: standin.sns.topicArn });
  const table = clusterName();
  await createClusterTable(table);
  await heartbeat(table, 'i-b', 2000);
  await heartbeat(table, 'i-a', 900e3);
  const r = await ctl(c.path, ['status', '--json', '--cluster-table', table]);
  assert.equal(r.code, 0, r.stderr);
  const cluster = json(r).cluster;
  assert.equal(cluster.table, table);
  assert.deepEqual(cluster.instances.map((i) => [i.name, i.live, i.version]), [['i-b', true, '0.1.0'], ['i-a', false, '0.1.0']]);
  const human = await ctl(c.path, ['status', '--cluster-table', table]);
  assert.match(human.stdout, /^INSTANCE +STATE +LAST HEARTBEAT +STARTED +VERSION$/m);
  assert.match(human.stdout, /^i-b +live +\d+s ago +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ +0\.1\.0$/m);
  assert.match(human.stdout, /^i-a +dead +15m \d+s ago /m);
  const none = await ctl(c.path, ['status', '--json']);
  assert.equal(json(none).cluster, null);
});

// SNS ingress against the real binary: signed deliveries from the stand-in's
// SNS publisher (a test CA, certificates served over HTTPS on loopback), what
// is refused and why, and what the spool holds afterwards.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { startStandin } from '../standin/standin.mjs';
import { TOOLS, configText, startDaemon, tempDir, waitFor } from './lib/daemon.mjs';

let standin;
before(async () => { standin = await startStandin({ sns: true }); });
after(async () => { await standin?.close(); });

const TOPIC = () => standin.sns.topicArn;

function snsConfig(dir, { autoConfirm = 'yes', minFree, topic = TOPIC() } = {}) {
  return configText({
    spoolDir: dir,
    tail: [
      '[aws]', `ca_bundle = ${standin.sns.caFile}`,
      ...(minFree ? ['[spool]'] : []),
    ].join('\n'),
  }).replace(/topic_arns = .*/, `topic_arns = ${topic}\nsigning_cert_host = ${standin.sns.signingCertHostRegex}\nauto_confirm = ${autoConfirm}`)
    .replace(/^dir = (.*)$/m, (m) => (minFree ? `${m}\nmin_free = ${minFree}` : m));
}

async function daemon(t, opts = {}) {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const d = await startDaemon({ dir, config: snsConfig(dir, opts) });
  t.after(() => d.stop());
  d.dir = dir;
  d.url = () => `http://127.0.0.1:${d.port}/sns`;
  d.deliver = (msg) => standin.sns.deliver(d.url(), msg);
  return d;
}

function dump(dir) {
  const r = spawnSync(join(TOOLS, 'spool-dump'), [dir], { encoding: 'utf8', timeout: 10000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

const sms = (body, extra = {}) => standin.sns.inboundSms({ from: '+14255550123', to: '+18005550199', body, ...extra });

test('v1 and v2 notifications are verified, stored, and only then acknowledged', async (t) => {
  const d = await daemon(t);
  const v1 = standin.sns.notification({ message: sms('Hello', { inboundMessageId: 'in-v1' }), signatureVersion: '1' });
  const v2 = standin.sns.notification({ message: sms('Hi', { inboundMessageId: 'in-v2' }), signatureVersion: '2' });
  const r1 = await d.deliver(v1);
  const r2 = await d.deliver(v2);
  assert.equal(r1.status, 200, r1.body);
  assert.equal(r1.body, 'stored\n');
  assert.equal(r2.status, 200, r2.body);
  // One fetch of the signing certificate serves both.
  assert.equal(standin.sns.fetches('good').length >= 1, true);
  await d.stop();
  const rows = dump(d.dir);
  const byId = Object.fromEntries(rows.map((r) => [r.sns_message_id, r]));
  assert.equal(byId[v1.json.MessageId].inbound_message_id, 'in-v1');
  assert.equal(byId[v1.json.MessageId].body, 'Hello');
  assert.equal(byId[v1.json.MessageId].origination_number, '+14255550123');
  assert.equal(byId[v1.json.MessageId].destination_number, '+18005550199');
  assert.equal(byId[v2.json.MessageId].inbound_message_id, 'in-v2');
  const stored = d.logs.filter((l) => l.event === 'sns.stored');
  assert.equal(stored.length, 2);
  // Bodies and numbers never reach the logs with redaction on.
  assert.ok(!d.stderrText.some((l) => l.includes('+14255550123') || l.includes('Hello')));
});

test('the same MessageId three times is stored once; every copy gets 200', async (t) => {
  const d = await daemon(t);
  const msg = standin.sns.notification({ message: sms('once', { inboundMessageId: 'dup-1' }) });
  const answers = [];
  for (let i = 0; i < 3; i++) answers.push(await d.deliver(msg));
  assert.deepEqual(answers.map((a) => a.status), [200, 200, 200]);
  assert.deepEqual(answers.map((a) => a.body), ['stored\n', 'duplicate\n', 'duplicate\n']);
  // A redelivery under a new SNS MessageId but the same inbound message is a duplicate too.
  const again = standin.sns.notification({ message: sms('once', { inboundMessageId: 'dup-1' }) });
  assert.equal((await d.deliver(again)).body, 'duplicate\n');
  await d.stop();
  assert.equal(dump(d.dir).filter((r) => r.inbound_message_id === 'dup-1').length, 1);
});

test('a signed notification older than the redelivery window is refused as a replay', async (t) => {
  const d = await daemon(t); // retention_days = 7: the window is 7 days less an hour
  const old = new Date(Date.now() - 7 * 86400 * 1000).toISOString();
  const recent = new Date(Date.now() - 6 * 86400 * 1000).toISOString();
  const r1 = await d.deliver(standin.sns.notification({ message: sms('old', { inboundMessageId: 'replay-old' }), timestamp: old }));
  assert.equal(r1.status, 403);
  assert.equal(r1.body, 'Timestamp older than the redelivery window (replay?)\n');
  // Within the window (SNS retries for far less than that) it is stored.
  const r2 = await d.deliver(standin.sns.notification({ message: sms('recent', { inboundMessageId: 'replay-recent' }), timestamp: recent }));
  assert.equal(r2.status, 200, r2.body);
  await d.stop();
  assert.deepEqual(dump(d.dir).map((r) => r.inbound_message_id), ['replay-recent']);
});

test('subscription confirmation: SubscribeURL fetched once; unsubscribe logged, not undone', async (t) => {
  const d = await daemon(t);
  const before = standin.sns.confirmations().length;
  const conf = standin.sns.subscriptionConfirmation({});
  const r = await d.deliver(conf);
  assert.equal(r.status, 200, r.body);
  await standin.sns.waitForConfirmations(before + 1);
  await d.waitForLog('sns.subscription_confirmed');
  assert.equal(standin.sns.confirmations().filter((c) => c.token === conf.token).length, 1);

  const un = await d.deliver(standin.sns.unsubscribeConfirmation({}));
  assert.equal(un.status, 200);
  const logged = await d.waitForLog('sns.unsubscribed');
  assert.equal(logged.level, 'error');
  assert.equal(standin.sns.confirmations().length, before + 1);
});

test('auto_confirm = no leaves the subscription for the operator', async (t) => {
  const d = await daemon(t, { autoConfirm: 'no' });
  const before = standin.sns.confirmations().length;
  const r = await d.deliver(standin.sns.subscriptionConfirmation({}));
  assert.equal(r.status, 200);
  await d.waitForLog('sns.subscription_pending');
  assert.equal(standin.sns.confirmations().length, before);
});

test('a foreign topic is refused and nothing is fetched', async (t) => {
  const d = await daemon(t);
  const fetchesBefore = standin.sns.fetches().length;
  const foreign = 'arn:aws:sns:us-east-1:210987654321:someone-else';
  for (const msg of [
    standin.sns.notification({ topicArn: foreign, message: sms('x') }),
    standin.sns.subscriptionConfirmation({ topicArn: foreign }),
  ]) {
    const r = await d.deliver(msg);
    assert.equal(r.status, 403);
    assert.equal(r.body, 'topic not allowed\n');
  }
  assert.equal(standin.sns.fetches().length, fetchesBefore);
  assert.equal(standin.sns.confirmations().filter((c) => c.topicArn === foreign).length, 0);
});

test('certificate and subscribe URLs on hosts that fail the rule are never fetched', async (t) => {
  const d = await daemon(t);
  const fetchesBefore = standin.sns.requests().length;
  const good = standin.sns.certUrl('good');
  const bad = [
    good.replace('https://127.0.0.1', 'https://127.0.0.2'),
    good.replace('https://', 'http://'),
    good.replace('127.0.0.1', 'user@127.0.0.1'),
    good.replace(/SimpleNotificationService-[0-9a-f]+\.pem/, 'evil.pem'),
    `${good}?x=1`,
  ];
  for (const certUrl of bad) {
    const r = await d.deliver(standin.sns.notification({ message: sms('x'), certUrl }));
    assert.equal(r.status, 403, `${certUrl}: ${r.body}`);
  }
  assert.deepEqual(standin.sns.requests().slice(fetchesBefore), []);
  // A correctly signed confirmation whose SubscribeURL fails the rule: only the
  // signing certificate is fetched (to check the signature), never the URL.
  const evil = standin.sns.subscribeUrl(TOPIC(), 'tok-evil').replace('https://', 'http://');
  const r = await d.deliver(standin.sns.subscriptionConfirmation({ subscribeUrl: evil }));
  assert.equal(r.status, 403, r.body);
  assert.equal(r.body, 'URL scheme is not https\n');
  assert.deepEqual(standin.sns.requests().slice(fetchesBefore).map((q) => q.kind), ['cert']);
  assert.equal(d.findLog('sns.subscription_confirming'), undefined);
  await waitFor(() => d.logs.filter((l) => l.event === 'sns.refused').length >= bad.length + 1, { emitter: d.events, what: 'refusal logs' });
  assert.equal(d.logs.filter((l) => l.event === 'sns.refused').length, bad.length + 1);
});

test('tampered messages and bad certificates get 403', async (t) => {
  const d = await daemon(t);
  for (const tamper of ['message', 'signature', 'signatureVersion']) {
    const r = await d.deliver(standin.sns.notification({ message: sms('x'), tamper }));
    assert.equal(r.status, 403, `${tamper}: ${r.body}`);
    assert.equal(r.body, 'signature does not verify\n');
  }
  const reasons = {
    expired: 'certificate expired',
    notYetValid: 'certificate not yet valid',
    wrongCn: 'certificate is not the SNS signing certificate',
    untrusted: 'certificate not trusted',
  };
  for (const [cert, reason] of Object.entries(reasons)) {
    const r = await d.deliver(standin.sns.notification({ message: sms('x'), cert }));
    assert.equal(r.status, 403, `${cert}: ${r.body}`);
    assert.equal(r.body, `${reason}\n`);
  }
  await d.stop();
  assert.deepEqual(dump(d.dir), []);
});

test('malformed deliveries get 400 with a reason, one log event each', async (t) => {
  const d = await daemon(t);
  const good = standin.sns.notification({ message: sms('x') });
  const withBody = (body) => ({ headers: good.headers, body });
  const edit = (f) => { const j = JSON.parse(good.body); f(j); return withBody(JSON.stringify(j)); };
  const cases = [
    [withBody('{not json'), 'invalid JSON'],
    [edit((j) => { delete j.SigningCertURL; }), 'missing field SigningCertURL'],
    [edit((j) => { j.SignatureVersion = '3'; }), 'unknown SignatureVersion'],
    [edit((j) => { j.Signature = '!!!not-base64!!!'; }), 'bad base64 signature'],
    [{ headers: { ...good.headers, 'x-amz-sns-message-type': 'Notification' }, body: JSON.stringify({ ...JSON.parse(good.body), Type: 'Bogus' }) }, null],
    [{ headers: { ...good.headers, 'x-amz-sns-message-type': 'SubscriptionConfirmation' }, body: good.body }, 'x-amz-sns-message-type does not match Type'],
    [{ headers: { ...good.headers, 'x-amz-sns-topic-arn': 'arn:aws:sns:us-east-1:123456789012:other' }, body: good.body }, 'x-amz-sns-topic-arn does not match TopicArn'],
    [{ headers: { ...good.headers, 'x-amz-sns-rawdelivery': 'true' }, body: 'Hello' }, 'raw message delivery is not supported (it carries no signature)'],
  ];
  const from = d.logs.length;
  for (const [msg, reason] of cases) {
    const r = await d.deliver(msg);
    assert.equal(r.status, 400, `${reason}: ${r.status} ${r.body}`);
    if (reason) assert.equal(r.body, `${reason}\n`);
  }
  // The answer can overtake its log line on the way to the test.
  const refusedNow = () => d.logs.slice(from).filter((l) => l.event === 'sns.refused');
  await waitFor(() => refusedNow().length >= cases.length, { emitter: d.events, what: 'refusal logs' });
  const refused = refusedNow();
  assert.equal(refused.length, cases.length);
  assert.ok(refused.every((l) => l.client === '127.0.0.1' && l.http_status === '400' && l.reason));
});

test('a signed notification with an unusable SMS is acknowledged and stored as dead', async (t) => {
  const d = await daemon(t);
  const msg = standin.sns.notification({ message: { originationNumber: 'not-a-number', destinationNumber: '+18005550199', messageBody: 'x', inboundMessageId: 'bad-1' } });
  const r = await d.deliver(msg);
  assert.equal(r.status, 200);
  assert.equal(r.body, 'stored as dead\n');
  await d.stop();
  const rows = dump(d.dir);
  assert.equal(rows.length, 1);
  assert.equal(rows[0].state, 'dead');
  assert.match(rows[0].last_error, /originationNumber/);
});

test('a certificate that cannot be fetched gives 503, so SNS retries', async (t) => {
  const d = await daemon(t);
  standin.faults.push('sns', { status: 500 });
  const r = await d.deliver(standin.sns.notification({ message: sms('x'), cert: 'good', certUrl: standin.sns.certUrl('good').replace('.pem', '0.pem') }));
  assert.equal(r.status, 503, r.body);
  standin.faults.clear('sns');
});

// SNS serves the signing certificate alone; its issuer is fetched from the
// certificate's AIA CA Issuers URL (here on the stand-in's host, which
// signing_cert_host allows) and used as an untrusted intermediate.
test('a leaf served without its intermediate: the CA Issuers URL is fetched once, then the certificate is cached', async (t) => {
  const d = await daemon(t);
  const sns = standin.sns;
  const issuerBefore = sns.issuerFetches().length;
  const leafBefore = sns.fetches('viaIntermediate').length;

  const r1 = await d.deliver(sns.notification({ message: sms('via 1', { inboundMessageId: 'via-1' }), cert: 'viaIntermediate' }));
  assert.equal(r1.status, 200, r1.body);
  assert.equal(r1.body, 'stored\n');
  assert.equal(sns.fetches('viaIntermediate').length - leafBefore, 1);
  const issuer = (await sns.waitForIssuerFetches(issuerBefore + 1)).slice(issuerBefore);
  assert.equal(issuer.length, 1);
  assert.equal(issuer[0].url, sns.issuerUrl);
  assert.equal(issuer[0].method, 'GET');
  assert.equal(issuer[0].status, 200);

  // The checked leaf is cached under its SigningCertURL: nothing is fetched again.
  const r2 = await d.deliver(sns.notification({ message: sms('via 2', { inboundMessageId: 'via-2' }), cert: 'viaIntermediate' }));
  assert.equal(r2.status, 200, r2.body);
  assert.equal(r2.body, 'stored\n');
  assert.equal(sns.fetches('viaIntermediate').length - leafBefore, 1);
  assert.equal(sns.issuerFetches().length - issuerBefore, 1);
  const m = await d.request({ path: '/metrics' });
  assert.match(m.body, /^twowayd_sns_cert_cache_total\{result="miss"\} 1$/m);
  assert.match(m.body, /^twowayd_sns_cert_cache_total\{result="hit"\} 1$/m);
  // verify_threads = auto: idle workers once both are answered, none waiting.
  assert.match(m.body, /^twowayd_sns_verify_queue_depth 0$/m);
  assert.match(m.body, /^twowayd_sns_verify_workers\{state="busy"\} 0$/m);
  assert.match(m.body, /^twowayd_sns_verify_workers\{state="idle"\} [1-9]\d*$/m);
  // The two rows came in through at least one group commit.
  assert.match(m.body, /^twowayd_spool_commits_total [1-9]\d*$/m);

  // Same intermediate, but no AIA: the issuer cannot be found, nothing else is fetched.
  const noAiaBefore = sns.fetches('viaIntermediateNoAia').length;
  const r3 = await d.deliver(sns.notification({ message: sms('no aia', { inboundMessageId: 'via-noaia' }), cert: 'viaIntermediateNoAia' }));
  assert.equal(r3.status, 403, r3.body);
  assert.equal(r3.body, 'certificate not trusted\n');
  assert.equal(sns.fetches('viaIntermediateNoAia').length - noAiaBefore, 1);
  assert.equal(sns.issuerFetches().length - issuerBefore, 1);

  await d.stop();
  assert.deepEqual(dump(d.dir).map((r) => r.inbound_message_id).sort(), ['via-1', 'via-2']);
});

// issuer_fetched_cb() treats any failure to get the issuer (transport error,
// non-200, unparsable body) as "no issuer": the chain stays incomplete and the
// delivery is refused with 403, which SNS does not retry.
test('an intermediate that answers 500 gives 503, so SNS retries the delivery', async (t) => {
  const d = await daemon(t);
  const sns = standin.sns;
  const issuerBefore = sns.issuerFetches().length;
  const leafBefore = sns.fetches('viaIntermediate').length;
  t.after(() => standin.faults.clear('sns'));
  standin.faults.push('sns', { delayMs: 0 }); // the leaf: served normally
  standin.faults.push('sns', { status: 500 }); // the intermediate

  const msg = sns.notification({ message: sms('via 500', { inboundMessageId: 'via-500' }), cert: 'viaIntermediate' });
  const r = await d.deliver(msg);
  assert.equal(r.status, 503, r.body);
  assert.equal(r.body, 'cannot fetch issuer certificate\n');
  assert.deepEqual(standin.faults.pending('sns'), []);
  assert.equal(sns.fetches('viaIntermediate').length - leafBefore, 1);
  const issuer = (await sns.waitForIssuerFetches(issuerBefore + 1)).slice(issuerBefore);
  assert.equal(issuer.length, 1);
  assert.equal(issuer[0].status, 500);
  assert.deepEqual(issuer[0].fault, { status: 500 });
  const failed = await d.waitForLog('sns.cert_failed');
  assert.equal(failed.reason, 'cannot fetch issuer certificate');
  // SNS's retry within the failure cache's 30 s is still a temporary refusal.
  const again = await d.deliver(msg);
  assert.equal(again.status, 503, again.body);
  await d.stop();
  assert.deepEqual(dump(d.dir), []);
});

test('a full disk gives 503 on deliveries and /healthz, and nothing is half-written', async (t) => {
  const d = await daemon(t, { minFree: '1024g' });
  const r = await d.deliver(standin.sns.notification({ message: sms('x') }));
  assert.equal(r.status, 503);
  assert.equal(r.body, 'cannot store message\n');
  assert.equal((await d.request({ path: '/healthz' })).status, 503);
  const failed = d.logs.find((l) => l.event === 'sns.spool_failed');
  assert.equal(failed.errno, 28); // ENOSPC
  await d.stop();
  assert.deepEqual(dump(d.dir), []);
});

test('/metrics counts deliveries, refusals and the spool', async (t) => {
  const d = await daemon(t);
  await d.deliver(standin.sns.notification({ message: sms('m1') }));
  await d.deliver(standin.sns.notification({ message: sms('m2'), tamper: 'signature' }));
  const m = await d.request({ path: '/metrics' });
  assert.equal(m.status, 200);
  assert.match(m.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  assert.match(m.body, /^twowayd_sns_deliveries_total\{type="Notification",outcome="stored"\} 1$/m);
  assert.match(m.body, /^twowayd_sns_deliveries_total\{type="Notification",outcome="refused"\} 1$/m);
  assert.match(m.body, /^twowayd_sns_refusals_total\{reason="signature does not verify"\} 1$/m);
  assert.match(m.body, /^twowayd_sns_ack_seconds_count 2$/m);
  assert.match(m.body, /^twowayd_spool_messages\{state="(pending|in_progress|done|dead)"\} \d+$/m);
});

test('kill -9 under load: every acknowledged message is in the spool exactly once', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const config = snsConfig(dir);
  let d = await startDaemon({ dir, config });
  const url = `http://127.0.0.1:${d.port}/sns`;
  const N = 1000;
  const msgs = Array.from({ length: N }, (_, i) => standin.sns.notification({ message: sms(`m${i}`, { inboundMessageId: `load-${i}` }) }));
  const acked = new Set();
  let next = 0;
  let killed = false;
  const worker = async () => {
    while (next < N && !killed) {
      const i = next++;
      try {
        const r = await standin.sns.deliver(url, msgs[i], { timeoutMs: 5000 });
        if (r.status === 200) acked.add(i);
      } catch { /* the daemon died mid-request: not acknowledged */ }
    }
  };
  const workers = Array.from({ length: 16 }, worker);
  await waitFor(() => acked.size >= N / 2, { timeoutMs: 60000, what: 'half acknowledged' });
  d.proc.kill('SIGKILL');
  killed = true;
  await Promise.all(workers);
  await d.waitForExit();

  const afterKill = dump(dir);
  const ids = afterKill.map((r) => r.inbound_message_id);
  assert.equal(new Set(ids).size, ids.length, 'no message stored twice');
  for (const i of acked) assert.ok(ids.includes(`load-${i}`), `acknowledged load-${i} is stored`);

  // SNS redelivers everything not acknowledged (and some that were): each ends up stored once.
  d = await startDaemon({ dir, config });
  t.after(() => d.stop());
  const redeliver = `http://127.0.0.1:${d.port}/sns`;
  for (let i = 0; i < N; i += 1) {
    const r = await standin.sns.deliver(redeliver, msgs[i]);
    assert.equal(r.status, 200, `${i}: ${r.body}`);
  }
  await d.stop();
  const final = dump(dir).map((r) => r.inbound_message_id).filter((x) => x.startsWith('load-'));
  assert.equal(final.length, N);
  assert.equal(new Set(final).size, N);
});

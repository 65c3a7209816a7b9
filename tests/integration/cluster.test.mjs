// Cluster mode against the real binary: two (or three) daemons, each with its
// own spool, sharing one stand-in and its DynamoDB (dynalite) — the consent
// table and the cluster table ([cluster] table). What a user would notice:
// replies sent (once, in order, or not at all), agent calls in flight, the
// items in the table. Loopback only; every wait is bounded and waits for a
// condition; lease_seconds is 5 so that a takeover takes seconds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { createClusterTable } from './lib/cluster_table.mjs';
import { BIN, TOOLS, standinConfigText, startDaemon, tempDir, testDaemon, waitFor, waitForAsync } from './lib/daemon.mjs';
import { standinHooks } from './lib/standin_hooks.mjs';

const CONSENT = 'twowayd-consent';
const CLUSTER = 'twowayd-cluster';
const OUR_NUMBER = '+18005550199';
const LEASE_S = 5;
const WAIT_MS = 20000;
// A takeover: the dead instance's heartbeat ages past lease_seconds, a sweep
// (every lease_seconds/2) finds it, its sender lease runs out, then the work.
const TAKEOVER_MS = 6 * LEASE_S * 1000;
const OPT_OUT_REPLY = 'You have been unsubscribed from SMS messages. Your request will be processed within 10 business days. Reply START to resubscribe.';

let standin;
standinHooks({
  consentTable: CONSENT,
  ourNumber: OUR_NUMBER,
  started: async (s) => {
    standin = s;
    await createClusterTable(standin.dynamodb, CLUSTER);
  },
});

let seq = 0;
const newPhone = () => `+1425555${String(7000 + seq++).padStart(4, '0')}`;
const sessionOf = (phone) => `p${phone.slice(1)}`;
const sentTo = (phone) => standin.sms.sent().filter((m) => m.DestinationPhoneNumber === phone);
const agentCalls = (phone) => standin.bedrock.invocations().filter((i) => i.sessionId === sessionOf(phone) && i.inputText !== undefined);

function clusterConfig(dir) {
  return standinConfigText(standin, {
    spoolDir: dir,
    tail: [
      '[cluster]', `table = ${CLUSTER}`, `lease_seconds = ${LEASE_S}`,
      '[sms]', 'max_per_second = 1000',
      '[dispatch]', 'retry_initial_ms = 50', 'retry_max_ms = 200',
    ].join('\n'),
  });
}

function instance(t, { dir, minFree } = {}) {
  const config = (d) => {
    const text = clusterConfig(d);
    return minFree ? text.replace(/^dir = (.*)$/m, (m) => `${m}\nmin_free = ${minFree}`) : text;
  };
  return testDaemon(t, { dir, config, env: standin.env() });
}

// One inbound SMS as SNS would publish it; deliver() it to any instance.
function sms(from, body, { timestamp } = {}) {
  const inboundMessageId = randomUUID();
  const msg = standin.sns.notification({
    message: standin.sns.inboundSms({ from, to: OUR_NUMBER, body, inboundMessageId }),
    ...(timestamp ? { timestamp } : {}),
  });
  return { inboundMessageId, msg };
}
// From now until the test ends, SendTextMessage to phone never answers (to
// anyone else it answers as usual); returns how many were sent to phone.
function hangSendsTo(t, phone) {
  const send = standin.sms.handlers.get('SendTextMessage');
  let n = 0;
  standin.sms.setHandler('SendTextMessage', (p, ctx) => {
    if (p.DestinationPhoneNumber !== phone) return send(p, ctx);
    n++;
    return new Promise(() => {});
  });
  t.after(() => standin.sms.setHandler('SendTextMessage', send));
  return () => n;
}

async function deliver(d, m, status = 200) {
  const r = await standin.sns.deliver(d.url, m.msg);
  assert.equal(r.status, status, r.body);
  return r;
}

async function records(phone) {
  const r = await standin.dynamodb.call('Query', {
    TableName: CLUSTER,
    KeyConditionExpression: 'pk = :pk AND begins_with(sk, :msg)',
    ExpressionAttributeValues: { ':pk': { S: `sender#${phone}` }, ':msg': { S: 'msg#' } },
    ConsistentRead: true,
  });
  return r.Items;
}

function dump(dir) {
  const r = spawnSync(join(TOOLS, 'spool-dump'), [dir], { encoding: 'utf8', timeout: 10000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

// An agent that answers each session's turns slowly and records how many of
// one session's calls were ever in flight at once.
function slowAgent(ms) {
  const inFlight = new Map();
  let most = 0;
  standin.bedrock.setResponder(async (text, session) => {
    if (text === undefined) return '';
    inFlight.set(session, (inFlight.get(session) ?? 0) + 1);
    most = Math.max(most, inFlight.get(session));
    await new Promise((r) => setTimeout(r, ms));
    inFlight.set(session, inFlight.get(session) - 1);
    return `re: ${text}`;
  });
  return { most: () => most };
}

// An agent that holds phone's turns at a gate until release() (the test's
// end releases it anyway) and then answers them with answer(text); other
// sessions are answered at once. arrived() counts the turns that reached it.
function gatedAgent(t, phone, answer) {
  let release;
  const gate = new Promise((r) => { release = r; });
  let arrived = 0;
  standin.bedrock.setResponder(async (text, session) => {
    if (session !== sessionOf(phone) || text === undefined) return `re: ${text}`;
    arrived++;
    await gate;
    return answer(text);
  });
  t.after(() => release());
  return { arrived: () => arrived, release: () => release() };
}

// Two instances, A caught in the middle of a turn: the first agent call for a
// new sender's message, delivered to A, never ends (every later call is
// answered "re: <text>"). calls() counts that sender's agent calls.
async function aInAgentCall(t, text) {
  const a = await instance(t);
  const b = await instance(t);
  const phone = newPhone();
  let calls = 0;
  standin.bedrock.setResponder(async (input, session) => {
    if (session === sessionOf(phone) && input !== undefined && calls++ === 0) return { hang: true };
    return `re: ${input}`;
  });
  const m = sms(phone, text);
  await deliver(a, m);
  await waitFor(() => calls === 1, { timeoutMs: WAIT_MS, what: "A's agent call" });
  return { a, b, phone, m, calls: () => calls };
}

test('one SNS message delivered to both instances: one agent call, one reply, one finished record', async (t) => {
  const a = await instance(t);
  const b = await instance(t);
  const phone = newPhone();
  const m = sms(phone, 'Hello from both sides');
  await Promise.all([deliver(a, m), deliver(b, m)]);
  await waitFor(() => sentTo(phone).length === 1, { timeoutMs: WAIT_MS, what: 'the reply' });
  // Both instances end the message: one answered it, the other learns so.
  await waitFor(() => [a, b].every((d) => d.logs.some((l) => l.inbound_message_id === m.inboundMessageId &&
    ['sms.sent', 'cluster.handled_elsewhere'].includes(l.event))), { timeoutMs: WAIT_MS, what: 'both instances done' });
  await waitForAsync(async () => (await records(phone))[0]?.state?.S === 'done', { timeoutMs: WAIT_MS, what: 'the record finished' });
  assert.deepEqual(sentTo(phone).map((x) => x.MessageBody), ['You said: Hello from both sides']);
  assert.equal(agentCalls(phone).length, 1);
  const [rec] = await records(phone);
  assert.equal(rec.inbound_message_id.S, m.inboundMessageId);
  assert.equal(rec.reply_state.S, 'sent');
  assert.equal(rec.reply_message_id.S, sentTo(phone)[0].MessageId);
  assert.equal(rec.open_by, undefined, 'a finished record leaves the open-by index');
  assert.equal(rec.sk.S, `msg#${String(Date.parse(m.msg.json.Timestamp)).padStart(13, '0')}#${m.inboundMessageId}`);
  assert.ok(Number(rec.expires_at.N) > Date.now() / 1000 + 6 * 86400);
  assert.deepEqual(standin.rejected(), []);
});

test("one sender's messages alternating between the instances: one agent call at a time, answers in order", async (t) => {
  const a = await instance(t);
  const b = await instance(t);
  const agent = slowAgent(400);
  const phone = newPhone();
  const texts = ['one', 'two', 'three', 'four'];
  const t0 = Date.now();
  for (const [i, text] of texts.entries()) {
    // Publish times 10 ms apart, delivered to A, B, A, B.
    await deliver(i % 2 ? b : a, sms(phone, text, { timestamp: new Date(t0 + 10 * i).toISOString() }));
  }
  await waitFor(() => sentTo(phone).length === texts.length, { timeoutMs: 4 * TAKEOVER_MS, what: 'four answers' });
  assert.deepEqual(sentTo(phone).map((x) => x.MessageBody), texts.map((x) => `re: ${x}`));
  assert.deepEqual(agentCalls(phone).map((c) => c.inputText), texts);
  assert.equal(agent.most(), 1, 'never two agent calls in flight for one session');
  // Every record finished, none left open.
  await waitForAsync(async () => (await records(phone)).every((r) => r.state.S === 'done'), { timeoutMs: WAIT_MS, what: 'records finished' });
});

test('kill -9 right after the acknowledgement: the other instance answers that message once, within the lease time', async (t) => {
  // A's agent call never ends: nothing is answered before A dies.
  const { a, b, phone, m } = await aInAgentCall(t, 'Are you open tomorrow?');
  a.signal('SIGKILL');
  await a.waitForExit();
  const killedAt = Date.now();
  await waitFor(() => sentTo(phone).length === 1, { timeoutMs: TAKEOVER_MS, what: "B's answer" });
  t.diagnostic(`answered ${Date.now() - killedAt} ms after the kill`);
  assert.ok(b.logs.some((l) => l.event === 'cluster.takeover'), 'B logged the takeover');
  assert.deepEqual(sentTo(phone).map((x) => x.MessageBody), ['re: Are you open tomorrow?']);
  await waitForAsync(async () => (await records(phone))[0]?.state?.S === 'done', { timeoutMs: WAIT_MS, what: 'the record finished' });

  // A comes back on its spool: it finds the message handled, and sends nothing.
  const a2 = await instance(t, { dir: a.dir });
  await a2.waitForLog((l) => l.event === 'cluster.handled_elsewhere' && l.inbound_message_id === m.inboundMessageId, WAIT_MS);
  await a2.stop();
  assert.equal(dump(a.dir).find((r) => r.inbound_message_id === m.inboundMessageId)?.state, 'done');
  assert.equal(sentTo(phone).length, 1);
  assert.equal(agentCalls(phone).length, 2, "A's lost call and B's");
});

test('kill -9 after the reply marker: the reply is never sent again, by anyone, and the agent is not asked again', async (t) => {
  const a = await instance(t);
  const b = await instance(t);
  const phone = newPhone();
  // A's SendTextMessage to this sender never answers: A dies with the reply
  // on the wire, its marker written.
  const sending = hangSendsTo(t, phone);
  const m = sms(phone, 'What time is it?');
  await deliver(a, m);
  await waitFor(() => sending() === 1, { timeoutMs: WAIT_MS, what: "A's SendTextMessage" });
  a.signal('SIGKILL');
  await a.waitForExit();
  const ev = await b.waitForLog((l) => l.event === 'pipeline.reply_unknown' && l.inbound_message_id === m.inboundMessageId, TAKEOVER_MS);
  assert.match(ev.error, /reply state unknown/);
  await waitForAsync(async () => (await records(phone))[0]?.state?.S === 'dead', { timeoutMs: WAIT_MS, what: 'the record dead' });
  const [rec] = await records(phone);
  assert.equal(rec.reply_state.S, 'sending');
  assert.equal(sending(), 1, 'no second SendTextMessage');
  assert.equal(agentCalls(phone).length, 1, 'B did not ask the agent again');
});

test('an instance paused (SIGSTOP) past its lease: the other answers; the paused one, resumed, loses the lease and sends nothing', async (t) => {
  const { a, phone, m, calls } = await aInAgentCall(t, 'Anyone awake?');
  a.signal('SIGSTOP');
  t.after(() => a.signal('SIGCONT'));
  await waitFor(() => sentTo(phone).length === 1, { timeoutMs: TAKEOVER_MS, what: "B's answer" });
  await waitForAsync(async () => (await records(phone))[0]?.state?.S === 'done', { timeoutMs: WAIT_MS, what: 'the record finished' });
  a.signal('SIGCONT');
  // Its renewal finds the lease with B: A's work on the sender stops, and
  // its next attempt finds the message answered.
  await a.waitForLog((l) => l.event === 'cluster.lease_lost', WAIT_MS);
  assert.match((await a.request({ path: '/metrics' })).body, /^twowayd_cluster_leases_lost_total 1$/m);
  await a.waitForLog((l) => l.event === 'cluster.handled_elsewhere' && l.inbound_message_id === m.inboundMessageId, WAIT_MS);
  assert.deepEqual(sentTo(phone).map((x) => x.MessageBody), ['re: Anyone awake?']);
  assert.equal(calls(), 2, "A's call, then B's");
  await a.stop();
  assert.equal(dump(a.dir).find((r) => r.inbound_message_id === m.inboundMessageId)?.state, 'done');
});

test('[dedup] alone still works with one deprecation warning; [dedup] and [cluster] together are a config error', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const both = `${clusterConfig(dir)}\n[dedup]\ntable = twowayd-dedup\n`;
  const path = join(dir, 'both.conf');
  writeFileSync(path, both);
  const r = spawnSync(BIN, ['-t', '-c', path], { encoding: 'utf8', timeout: 10000 });
  assert.notEqual(r.status, 0);
  const line = both.split('\n').indexOf(`table = ${CLUSTER}`) + 1;
  assert.match(r.stderr, new RegExp(`${path}:${line}: \\[cluster\\] table replaces \\[dedup\\] table: set only one`));

  const d = await startDaemon({ dir, env: standin.env(),
    config: clusterConfig(dir).replace(/\[cluster\]\ntable = .*\nlease_seconds = .*\n/, '[dedup]\ntable = twowayd-dedup\n') });
  t.after(() => d.stop());
  assert.equal(d.exit, null, d.stderrText.join('\n'));
  assert.equal(d.logs.filter((l) => l.event === 'config.deprecated').length, 1);
  assert.ok(!d.logs.some((l) => l.event === 'cluster.started'));
});

test("STOP at one instance while the other is in an agent call for the same sender: one confirmation, the answer suppressed", async (t) => {
  const a = await instance(t);
  const b = await instance(t);
  const phone = newPhone();
  const agent = gatedAgent(t, phone, (text) => `late: ${text}`);
  const hello = sms(phone, 'Hello, what are your hours?');
  await deliver(a, hello);
  await waitFor(() => agent.arrived() === 1, { timeoutMs: WAIT_MS, what: "A's agent call" });
  const stop = sms(phone, 'STOP');
  await deliver(b, stop);
  await waitFor(() => sentTo(phone).length === 1, { timeoutMs: WAIT_MS, what: 'the confirmation' });
  agent.release();
  await a.waitForLog((l) => l.event === 'reply.suppressed' && l.inbound_message_id === hello.inboundMessageId, WAIT_MS);
  assert.deepEqual(sentTo(phone).map((x) => x.MessageBody), [OPT_OUT_REPLY]);
  await waitForAsync(async () => (await records(phone)).every((r) => r.state.S !== 'open'), { timeoutMs: WAIT_MS, what: 'records finished' });
  const states = Object.fromEntries((await records(phone)).map((r) => [r.inbound_message_id.S, r.state.S]));
  assert.deepEqual(states, { [hello.inboundMessageId]: 'superseded', [stop.inboundMessageId]: 'done' });
});

test('DynamoDB unreachable at the ingress: 503, nothing stored; once it is back the redelivery is stored once', async (t) => {
  const a = await instance(t);
  const phone = newPhone();
  const m = sms(phone, 'Is anyone there?');
  const snsId = m.msg.json.MessageId;
  await standin.setDown('dynamodb', true);
  await deliver(a, m, 503);
  const ev = await a.waitForLog('sns.cluster_unavailable');
  assert.equal(ev.sns_message_id, snsId);
  await standin.setDown('dynamodb', false);
  assert.deepEqual(await records(phone), []);
  assert.ok(!a.logs.some((l) => l.event === 'sns.stored' && l.sns_message_id === snsId));
  await deliver(a, m);
  await waitFor(() => sentTo(phone).length === 1, { timeoutMs: WAIT_MS, what: 'the reply' });
  assert.equal((await records(phone)).length, 1);
  await a.stop();
  assert.equal(dump(a.dir).filter((r) => r.sns_message_id === snsId).length, 1);
});

test('DynamoDB failing at the last check before sending: nothing goes out before the reply marker is written, then once', async (t) => {
  const a = await instance(t);
  const phone = newPhone();
  const agent = gatedAgent(t, phone, (text) => `re: ${text}`);
  await deliver(a, sms(phone, 'Marker please'));
  await waitFor(() => agent.arrived() === 1, { timeoutMs: WAIT_MS, what: 'the agent call' });
  // The next DynamoDB calls (the consent read again, the marker) fail with
  // 500s, more than the AWS core's retries of one call absorb.
  const before = standin.requests('dynamodb').length;
  for (let i = 0; i < 8; i++) standin.faults.push('dynamodb', { status: 500 });
  agent.release();
  await waitFor(() => sentTo(phone).length === 1, { timeoutMs: WAIT_MS, what: 'the reply' });
  const calls = standin.requests('dynamodb').slice(before);
  const markers = calls.filter((r) => r.body?.UpdateExpression?.startsWith('SET #rs = :sending'));
  assert.ok(calls.filter((r) => r.fault).length >= 8, 'the faults were served');
  assert.equal(markers.filter((r) => r.status === 200).length, 1, 'one marker written');
  const send = standin.requests('sms').find((r) => r.operation === 'SendTextMessage' && r.body?.DestinationPhoneNumber === phone);
  assert.ok(send.seq > markers.find((r) => r.status === 200).seq, 'sent after the marker');
  await waitForAsync(async () => (await records(phone))[0]?.state?.S === 'done', { timeoutMs: WAIT_MS, what: 'the record finished' });
  const [rec] = await records(phone);
  assert.equal(rec.reply_state.S, 'sent');
  assert.equal(sentTo(phone).length, 1);
});

// A record of the cluster table as another instance's ingress writes it.
function recordItem(phone, body, receivedAt, { state = 'open', openBy = 'gone:/var/lib/twowayd' } = {}) {
  const inboundMessageId = randomUUID();
  const item = {
    pk: { S: `sender#${phone}` },
    sk: { S: `msg#${String(receivedAt).padStart(13, '0')}#${inboundMessageId}` },
    inbound_message_id: { S: inboundMessageId },
    sns_message_id: { S: randomUUID() },
    destination: { S: OUR_NUMBER },
    topic_arn: { S: standin.sns.topicArn },
    keyword_class: { S: 'other' },
    raw: { S: JSON.stringify(standin.sns.inboundSms({ from: phone, to: OUR_NUMBER, body, inboundMessageId })) },
    received_at: { N: String(receivedAt) },
    stored_by: { S: openBy },
    stored_at: { N: String(receivedAt) },
    state: { S: state },
    expires_at: { N: String(Math.floor(receivedAt / 1000) + 86400) },
  };
  if (state === 'open') item.open_by = { S: openBy };
  return item;
}

test("the order check reads every page: an open record after 100 finished ones of the sender is answered first", async (t) => {
  const a = await instance(t);
  const phone = newPhone();
  const t0 = Date.now() - 60000;
  // 100 finished records fill the first page (the Limit counts them before
  // the filter), the open one is the 101st.
  await Promise.all(Array.from({ length: 100 }, (_, i) => standin.dynamodb.call('PutItem', {
    TableName: CLUSTER, Item: recordItem(phone, `old ${i}`, t0 + i, { state: 'done' }),
  })));
  const first = recordItem(phone, 'first', t0 + 1000);
  await standin.dynamodb.call('PutItem', { TableName: CLUSTER, Item: first });
  await deliver(a, sms(phone, 'second', { timestamp: new Date(t0 + 2000).toISOString() }));
  await waitFor(() => sentTo(phone).length === 2, { timeoutMs: WAIT_MS, what: 'two answers' });
  assert.deepEqual(sentTo(phone).map((x) => x.MessageBody), ['You said: first', 'You said: second']);
  assert.ok(a.logs.some((l) => l.event === 'cluster.order'), 'the earlier record was taken in');
  await waitForAsync(async () => (await records(phone)).filter((r) => r.state.S === 'open').length === 0,
    { timeoutMs: WAIT_MS, what: 'every record finished' });
});

test('a taken-over message the taker cannot store (its disk full) is given back, and another instance answers it once', async (t) => {
  const a = await instance(t);
  const phone = newPhone();
  let calls = 0;
  standin.bedrock.setResponder(async (text, session) => {
    if (session === sessionOf(phone) && text !== undefined && calls++ === 0) return { hang: true };
    return `re: ${text}`;
  });
  const m = sms(phone, 'Still there?');
  await deliver(a, m);
  await waitFor(() => calls === 1, { timeoutMs: WAIT_MS, what: "A's agent call" });
  const aName = (await records(phone))[0].open_by.S;
  // B's spool takes nothing: free space below its min_free.
  const b = await instance(t, { minFree: '1024g' });
  a.signal('SIGKILL');
  await a.waitForExit();
  const ev = await b.waitForLog((l) => l.event === 'cluster.adopt_failed' && l.inbound_message_id === m.inboundMessageId, TAKEOVER_MS);
  assert.equal(ev.dead_instance, aName);
  await waitForAsync(async () => (await records(phone))[0]?.open_by?.S === aName,
    { timeoutMs: WAIT_MS, what: 'the record given back to A' });
  await b.stop();
  const c = await instance(t);
  await waitFor(() => sentTo(phone).length === 1, { timeoutMs: TAKEOVER_MS, what: "C's answer" });
  assert.ok(c.logs.some((l) => l.event === 'cluster.takeover'), 'C took it over');
  assert.deepEqual(sentTo(phone).map((x) => x.MessageBody), ['re: Still there?']);
  await waitForAsync(async () => (await records(phone))[0]?.state?.S === 'done', { timeoutMs: WAIT_MS, what: 'the record finished' });
});

test('a message superseded while it waited at one instance: its record is closed at once, and no instance takes it over', async (t) => {
  const a = await instance(t);
  const b = await instance(t);
  const phone = newPhone();
  const other = newPhone();
  let release;
  const gate = new Promise((r) => { release = r; });
  let arrived = 0;
  let otherCalls = 0;
  standin.bedrock.setResponder(async (text, session) => {
    if (text === undefined) return '';
    if (session === sessionOf(other) && otherCalls++ === 0) return { hang: true };
    if (session !== sessionOf(phone)) return `re: ${text}`;
    arrived++;
    await gate;
    return `late: ${text}`;
  });
  t.after(() => release());
  const t0 = Date.now();
  // B works on the sender's first message (its agent waits): the sender's
  // lease is B's, so A's copy of the second waits in A's spool.
  const first = sms(phone, 'first', { timestamp: new Date(t0).toISOString() });
  await deliver(b, first);
  await waitFor(() => arrived === 1, { timeoutMs: WAIT_MS, what: "B's agent call" });
  const second = sms(phone, 'second', { timestamp: new Date(t0 + 10).toISOString() });
  await deliver(a, second);
  await a.waitForLog((l) => l.event === 'pipeline.retry' && l.inbound_message_id === second.inboundMessageId && l.cause === 'lease_held', WAIT_MS);
  // The STOP at A supersedes it there, without a claim.
  const stop = sms(phone, 'STOP', { timestamp: new Date(t0 + 20).toISOString() });
  await deliver(a, stop);
  const recordOf = async (m) => (await records(phone)).find((r) => r.inbound_message_id.S === m.inboundMessageId);
  await waitForAsync(async () => (await recordOf(second))?.state?.S === 'superseded', { timeoutMs: WAIT_MS, what: 'the superseded record closed' });
  assert.equal((await recordOf(second)).open_by, undefined, 'out of the open-by index');
  await waitFor(() => sentTo(phone).length === 1, { timeoutMs: WAIT_MS, what: 'the confirmation' });
  release();
  await b.waitForLog((l) => l.event === 'reply.suppressed' && l.inbound_message_id === first.inboundMessageId, WAIT_MS);

  // A dies with one message of another sender open: B takes that one over,
  // and only that one.
  await deliver(a, sms(other, 'anyone?'));
  await waitFor(() => otherCalls === 1, { timeoutMs: WAIT_MS, what: "A's agent call for the other sender" });
  a.signal('SIGKILL');
  await a.waitForExit();
  const ev = await b.waitForLog((l) => l.event === 'cluster.takeover', TAKEOVER_MS);
  assert.equal(ev.count, '1');
  await waitFor(() => sentTo(other).length === 1, { timeoutMs: TAKEOVER_MS, what: "B's answer to the other sender" });
  assert.ok(!b.logs.some((l) => l.inbound_message_id === second.inboundMessageId), 'B never took the superseded message');
  assert.deepEqual(sentTo(phone).map((x) => x.MessageBody), [OPT_OUT_REPLY]);
});

test('a row ended at start by its reply state (kill -9 while SendTextMessage was on the wire): its record is closed too', async (t) => {
  const a = await instance(t);
  const phone = newPhone();
  const sending = hangSendsTo(t, phone);
  const m = sms(phone, 'What is on the menu?');
  await deliver(a, m);
  await waitFor(() => sending() === 1, { timeoutMs: WAIT_MS, what: "A's SendTextMessage" });
  a.signal('SIGKILL');
  await a.waitForExit();
  // Back at once, under the same name: the row's reply may have gone out,
  // so it ends dead at start, before any claim; the record ends with it.
  const a2 = await instance(t, { dir: a.dir });
  await a2.waitForLog((l) => l.event === 'pipeline.reply_unknown' && l.inbound_message_id === m.inboundMessageId, WAIT_MS);
  await waitForAsync(async () => (await records(phone))[0]?.state?.S === 'dead', { timeoutMs: WAIT_MS, what: 'the record closed' });
  const [rec] = await records(phone);
  assert.equal(rec.open_by, undefined, 'out of the open-by index');
  assert.equal(rec.reply_state.S, 'sending');
  assert.equal(sending(), 1);
});

test('a message the daemon died on three times is closed at start, and so is its record: no instance takes it over', async (t) => {
  const phone = newPhone();
  // Its consent read is held at the stand-in, each time: every run dies
  // while the message is in progress, before any step of it finished.
  let held = 0;
  let release;
  const gate = new Promise((r) => { release = r; });
  standin.dynamodb.setHold((r) => {
    if (r.operation !== 'GetItem' || r.body?.TableName !== CONSENT || r.body?.Key?.phone_number?.S !== phone) return undefined;
    held++;
    return gate;
  });
  t.after(() => { standin.dynamodb.setHold(null); release(); });
  let a = await instance(t);
  const dir = a.dir;
  const m = sms(phone, 'the message that kills the daemon');
  await deliver(a, m);
  for (let run = 1; run <= 3; run++) {
    await waitFor(() => held === run, { timeoutMs: WAIT_MS, what: `held consent read ${run}` });
    a.signal('SIGKILL');
    await a.waitForExit();
    // Back under the same name, before any sweep could take the message.
    a = await instance(t, { dir });
  }
  const closed = await a.waitForLog((l) => l.event === 'spool.interrupted' && l.inbound_message_id === m.inboundMessageId, WAIT_MS);
  assert.equal(closed.level, 'error');
  await waitForAsync(async () => (await records(phone))[0]?.state?.S === 'dead', { timeoutMs: WAIT_MS, what: 'the record closed' });
  const [rec] = await records(phone);
  assert.equal(rec.open_by, undefined, 'out of the open-by index');
  assert.equal(rec.outcome.S, 'interrupted 3 times: the daemon stopped while working on it');

  // Another sender is answered; the closed message is neither claimed nor answered.
  const other = newPhone();
  const o = sms(other, 'hello after the crashes');
  await deliver(a, o);
  await waitFor(() => sentTo(other).length === 1, { timeoutMs: WAIT_MS, what: 'the other sender answered' });
  assert.ok(!a.logs.some((l) => l.event === 'pipeline.received' && l.inbound_message_id === m.inboundMessageId), 'not claimed again');
  assert.equal(held, 3);
  assert.equal(agentCalls(phone).length, 0);
  assert.equal(sentTo(phone).length, 0);
});

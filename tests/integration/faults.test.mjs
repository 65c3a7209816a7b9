// Faults against the real binary, beyond what sns.test.mjs and
// pipeline.test.mjs already cover: kill -9 at the points the other suites do
// not reach, every AWS dependency slow, throttling and answering garbage,
// connection floods and slow-loris clients, and SIGHUP under load.
//
// The promises checked throughout: an acknowledged message is never lost, a
// message is never answered twice, an opted-out number is never answered, and
// each message ends with exactly one outcome that the test names in advance
// (a reply, a retry then a reply, the fallback, or dead with a reason).
//
// Loopback only: the daemon talks to the stand-in on 127.0.0.1, and the
// flooding clients connect from other addresses of 127.0.0.0/8 so that the
// per-address limit can be told apart from the global one. Every wait is
// bounded and waits for a condition.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { encodeChunk } from '../standin/bedrock.mjs';
import { FINAL_EVENTS, SLOW, TOOLS, notifySocket, outcomeOf, sendSms, standinConfigText, tempDir, testDaemon, waitFor } from './lib/daemon.mjs';
import { standinHooks } from './lib/standin_hooks.mjs';

const TABLE = 'twowayd-consent';
const OUR_NUMBER = '+18005550199';
const WAIT_MS = 20000;
// Longer than the AWS client's 30 s per-attempt bound (HTTP_CLIENT_TIMEOUT_MS),
// which DynamoDB and SendTextMessage calls use.
const BEYOND_CALL_TIMEOUT_MS = 33000;

const OPT_OUT_REPLY = 'You have been unsubscribed from SMS messages. Your request will be processed within 10 business days. Reply START to resubscribe.';
const FALLBACK_REPLY = "Sorry, we can't answer right now. Please try again later.";

let standin;
standinHooks({ consentTable: TABLE, ourNumber: OUR_NUMBER, started: (s) => { standin = s; } });
let restoreSms = null;
afterEach(() => {
  restoreSms?.();
  restoreSms = null;
});

let seq = 0;
// Senders unique to this file: +1425 555 6000, 6001, ...
const newPhone = () => `+1425555${String(6000 + seq++).padStart(4, '0')}`;
const sessionOf = (phone) => `p${phone.slice(1)}`;

function faultsConfig(dir, { sms = [], dispatch = [], agent = [], http: httpLines = [], tail = [] } = {}) {
  return standinConfigText(standin, {
    spoolDir: dir,
    extraHttp: httpLines.join('\n'),
    tail: [
      '[sms]', 'max_per_second = 1000', ...sms,
      '[dispatch]', 'retry_initial_ms = 50', 'retry_max_ms = 200', ...dispatch,
      ...tail,
    ].join('\n'),
  })
    .replace('agent_alias_id = ALIAS12345', ['agent_alias_id = ALIAS12345', ...agent].join('\n'));
}

async function daemon(t, opts = {}) {
  const d = await testDaemon(t, {
    dir: opts.dir,
    config: (dir) => opts.config ?? faultsConfig(dir, opts),
    env: standin.env(),
    notify: opts.notify,
  });
  d.send = (from, body, { inboundMessageId } = {}) =>
    sendSms(standin, d, { from, to: OUR_NUMBER, body, inboundMessageId, timeoutMs: 15000 * SLOW });
  d.outcome = (id, timeoutMs = WAIT_MS) => outcomeOf(d, id, timeoutMs);
  d.outcomes = (id) => d.logs.filter((l) => l.inbound_message_id === id && FINAL_EVENTS.has(l.event));
  d.logsOf = (id, event) => d.logs.filter((l) => l.inbound_message_id === id && l.event === event);
  return d;
}

const sentTo = (phone) => standin.sms.sent().filter((m) => m.DestinationPhoneNumber === phone);
const bedrockCalls = (phone) => standin.requests('bedrock').filter((r) => r.url.includes(`/sessions/${sessionOf(phone)}/`));
// Turns that ask the agent something; endSession calls (on opt-out) apart.
const agentCalls = (phone) => bedrockCalls(phone).filter((r) => r.body?.endSession !== true);
const endSessions = (phone) => bedrockCalls(phone).filter((r) => r.body?.endSession === true);
const ddbCalls = (phone, op) => standin.requests('dynamodb')
  .filter((r) => r.operation === op && r.body?.Key?.phone_number?.S === phone);
const smsCalls = (phone) => standin.requests('sms')
  .filter((r) => r.operation === 'SendTextMessage' && r.body?.DestinationPhoneNumber === phone);

async function consentItem(phone) {
  const r = await standin.dynamodb.call('GetItem', { TableName: TABLE, Key: { phone_number: { S: phone } }, ConsistentRead: true });
  return r.Item;
}

function dump(dir) {
  const r = spawnSync(join(TOOLS, 'spool-dump'), [dir], { encoding: 'utf8', timeout: 10000 * SLOW });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

async function healthy(d) {
  assert.equal(d.exit, null, 'the daemon is still running');
  const h = await d.request({ path: '/healthz' });
  assert.equal(h.status, 200, h.body);
}

// Exactly one final event for the message, and it is `event`.
function assertOneOutcome(d, id, event) {
  const ends = d.outcomes(id).map((l) => l.event);
  assert.deepEqual(ends, [event], `outcomes of ${id}`);
}

// ---- kill -9 at the points the other suites do not reach -------------------------

test('kill -9 just after the 200s, before the dispatcher touched the rows: each answered once after restart', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  // One message at a time: the first is claimed and held at its consent read,
  // the others are acknowledged and stored but never touched by the dispatcher.
  standin.faults.push('dynamodb', { delayMs: 15000 });
  const d1 = await daemon(t, { dir, dispatch: ['concurrency = 1'] });
  const phones = [newPhone(), newPhone(), newPhone()];
  const ids = [];
  for (const [i, p] of phones.entries()) ids.push(await d1.send(p, `hello ${i}`));
  await waitFor(() => ddbCalls(phones[0], 'GetItem').length === 1, { timeoutMs: WAIT_MS, what: 'the held consent read' });
  d1.signal('SIGKILL');
  await d1.waitForExit();
  assert.equal(d1.logsOf(ids[1], 'pipeline.received').length, 0, 'the second row was never dispatched');
  assert.equal(d1.logsOf(ids[2], 'pipeline.received').length, 0, 'the third row was never dispatched');

  // Every acknowledged message is in the spool, unanswered.
  const rows = dump(dir);
  for (const id of ids) {
    const mine = rows.filter((r) => r.inbound_message_id === id);
    assert.equal(mine.length, 1, `${id} stored once`);
    assert.equal(mine[0].state, 'pending');
    assert.equal(mine[0].reply_state, 'none');
  }
  for (const p of phones) assert.equal(sentTo(p).length, 0);

  const d2 = await daemon(t, { dir });
  for (const id of ids) assert.equal((await d2.outcome(id)).event, 'sms.sent');
  await d2.stop();
  for (const [i, p] of phones.entries()) {
    assert.deepEqual(sentTo(p).map((m) => m.MessageBody), [`You said: hello ${i}`]);
    assert.equal(agentCalls(p).length, 1);
  }
  for (const id of ids) assertOneOutcome(d2, id, 'sms.sent');
  const final = dump(dir).filter((r) => ids.includes(r.inbound_message_id));
  assert.deepEqual(final.map((r) => [r.state, r.reply_state]), ids.map(() => ['done', 'sent']));
});

test('kill -9 during the STOP consent write (never applied): one confirmation after restart, opted out', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const phone = newPhone();
  // The GetItem passes; the UpdateItem is held at the stand-in, before DynamoDB
  // (dynalite) sees it, and is dropped when its connection dies with the daemon.
  standin.faults.push('dynamodb', { delayMs: 0 }).push('dynamodb', { delayMs: 15000 });
  const d1 = await daemon(t, { dir });
  const id = await d1.send(phone, 'STOP');
  await waitFor(() => ddbCalls(phone, 'UpdateItem').length === 1, { timeoutMs: WAIT_MS, what: 'the held consent write' });
  d1.signal('SIGKILL');
  await d1.waitForExit();
  assert.equal(await consentItem(phone), undefined, 'the write never reached DynamoDB');
  assert.equal(sentTo(phone).length, 0);

  const d2 = await daemon(t, { dir });
  assert.equal((await d2.outcome(id)).event, 'sms.sent');
  assert.deepEqual(sentTo(phone).map((m) => m.MessageBody), [OPT_OUT_REPLY]);
  const item = await consentItem(phone);
  assert.equal(item.consent_status.S, 'opted_out');
  assert.equal(item.version.N, '1');
  assert.equal(item.consent_history.L.length, 1);
  assert.equal(item.consent_history.L[0].M.inbound_message_id.S, id);

  // Opted out now: nothing more is sent to the number.
  const hello = await d2.send(phone, 'Hello?');
  assert.equal((await d2.outcome(hello)).event, 'pipeline.blocked');
  await d2.stop();
  assert.deepEqual(sentTo(phone).map((m) => m.MessageBody), [OPT_OUT_REPLY]);
  assert.equal(agentCalls(phone).length, 0);
  assertOneOutcome(d2, id, 'sms.sent');
  assertOneOutcome(d2, hello, 'pipeline.blocked');
});

test('kill -9 after the STOP consent write committed but before its answer: confirmed once, not written again', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const phone = newPhone();
  standin.faults.push('dynamodb', { delayMs: 0 }).push('dynamodb', { delayMs: 15000 });
  const d1 = await daemon(t, { dir });
  const id = await d1.send(phone, 'Stop');
  const [write] = await waitFor(() => {
    const w = ddbCalls(phone, 'UpdateItem');
    return w.length === 1 ? w : null;
  }, { timeoutMs: WAIT_MS, what: 'the held consent write' });
  d1.signal('SIGKILL');
  await d1.waitForExit();
  // DynamoDB committed the write; the daemon died before it saw the answer.
  await standin.dynamodb.call('UpdateItem', write.body);
  const written = await consentItem(phone);
  assert.equal(written.consent_status.S, 'opted_out');
  assert.equal(written.last_inbound_message_id.S, id);

  const d2 = await daemon(t, { dir });
  assert.equal((await d2.outcome(id)).event, 'sms.sent');
  const decision = d2.logsOf(id, 'consent.decision')[0];
  assert.equal(decision.action, 'confirm_opt_out', 'the record shows this message made the change');
  await d2.stop();
  assert.deepEqual(sentTo(phone).map((m) => m.MessageBody), [OPT_OUT_REPLY]);
  assert.deepEqual(await consentItem(phone), written, 'no second write, no second history entry');
  assert.equal(ddbCalls(phone, 'UpdateItem').length, 1);
  assertOneOutcome(d2, id, 'sms.sent');
});

// ---- slow dependencies ----------------------------------------------------------------

test('kill -9 three times while one message is in progress: closed as dead, never answered, the others still are', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const phone = newPhone();
  // Each run holds the message at its consent read, before any step of it
  // finishes, and dies there: the message that kills the daemon.
  let d = await daemon(t, { dir });
  standin.faults.push('dynamodb', { delayMs: 15000 });
  const id = await d.send(phone, 'the message that kills the daemon');
  for (let run = 1; run <= 3; run++) {
    await waitFor(() => ddbCalls(phone, 'GetItem').length === run, { timeoutMs: WAIT_MS, what: `held consent read ${run}` });
    d.signal('SIGKILL');
    await d.waitForExit();
    if (run < 3) standin.faults.push('dynamodb', { delayMs: 15000 });
    d = await daemon(t, { dir });
  }

  // The third start closed it instead of claiming it again.
  const closed = await d.waitForLog('spool.interrupted', WAIT_MS);
  assert.equal(closed.level, 'error');
  assert.equal(closed.inbound_message_id, id);
  assert.equal(closed.phone, `${phone.slice(0, 5)}***${phone.slice(-4)}`);
  assert.equal(closed.error, 'interrupted 3 times: the daemon stopped while working on it');
  assert.equal(d.logs.filter((l) => l.event === 'spool.interrupted').length, 1);
  assert.ok(!d.stderrText.some((l) => l.includes(phone)), 'the sender is redacted');

  // Another sender is answered as usual, and the closed message is not touched.
  const other = newPhone();
  const otherId = await d.send(other, 'hello after the crashes');
  assert.equal((await d.outcome(otherId)).event, 'sms.sent');
  assert.deepEqual(sentTo(other).map((m) => m.MessageBody), ['You said: hello after the crashes']);
  assert.equal(d.logsOf(id, 'pipeline.received').length, 0, 'not claimed again');
  assert.match((await d.request({ path: '/metrics' })).body, /^twowayd_spool_interrupted_dead_total 1$/m);
  assert.match((await d.request({ path: '/metrics' })).body, /^twowayd_spool_messages\{state="dead"\} 1$/m);
  await d.stop();
  assert.equal(ddbCalls(phone, 'GetItem').length, 3);
  assert.equal(agentCalls(phone).length, 0);
  assert.equal(smsCalls(phone).length, 0);
  const row = dump(dir).find((r) => r.inbound_message_id === id);
  assert.equal(row.state, 'dead');
  assert.equal(row.reply_state, 'none');
  assert.equal(row.last_error, 'interrupted 3 times: the daemon stopped while working on it');
});

test('each dependency slower than its call timeout: retry then reply, or dead when the send may have happened', async (t) => {
  const d = await daemon(t, { agent: ['timeout_ms = 1000'] });
  const slowSms = newPhone();
  const slowDdb = newPhone();
  const slowAgent = newPhone();

  // SendTextMessage held past the client's timeout: it may have gone out, so
  // it is never sent again; the row ends dead with the reason.
  standin.faults.push('sms', { delayMs: BEYOND_CALL_TIMEOUT_MS });
  const idSms = await d.send(slowSms, 'slow send');
  await waitFor(() => smsCalls(slowSms).length === 1, { timeoutMs: WAIT_MS, what: 'the held send' });

  // The consent read held past the timeout: the AWS client retries it.
  standin.faults.push('dynamodb', { delayMs: BEYOND_CALL_TIMEOUT_MS });
  const idDdb = await d.send(slowDdb, 'slow table');
  await waitFor(() => ddbCalls(slowDdb, 'GetItem').length === 1, { timeoutMs: WAIT_MS, what: 'the held consent read' });

  // The agent slower than [agent] timeout_ms: retried by the dispatcher.
  let agentCallsSeen = 0;
  standin.bedrock.setResponder((text, session) => {
    if (session !== sessionOf(slowAgent)) return `You said: ${text}`;
    return ++agentCallsSeen === 1 ? { chunks: ['too late'], delayMs: 4000 } : `You said: ${text}`;
  });
  const idAgent = await d.send(slowAgent, 'slow agent');

  // While all three are held the loop serves as usual.
  const t0 = performance.now();
  await healthy(d);
  assert.ok(performance.now() - t0 < 1000 * SLOW, '/healthz answered at once');

  assert.equal((await d.outcome(idAgent)).event, 'sms.sent');
  assert.deepEqual(sentTo(slowAgent).map((m) => m.MessageBody), ['You said: slow agent']);
  const failed = d.logsOf(idAgent, 'agent.failed')[0];
  assert.equal(failed.agent_error, 'AgentTimeout');
  assert.equal(failed.agent_error_kind, 'retryable');
  assert.equal(d.logsOf(idAgent, 'pipeline.retry').length, 1);

  const endSms = await d.outcome(idSms, 60000);
  assert.equal(endSms.event, 'pipeline.dead');
  assert.match(endSms.reason, /^reply state unknown/);
  const endDdb = await d.outcome(idDdb, 60000);
  assert.equal(endDdb.event, 'sms.sent');
  await healthy(d);
  await d.stop();

  assert.equal(smsCalls(slowSms).length, 1, 'a send that may have happened is not repeated');
  assert.equal(sentTo(slowSms).length, 0);
  const reads = ddbCalls(slowDdb, 'GetItem');
  assert.equal(reads.length, 2, 'the AWS client tried the read again');
  assert.equal(reads[0].status, null, 'the first read was never answered');
  assert.deepEqual(sentTo(slowDdb).map((m) => m.MessageBody), ['You said: slow table']);
  assert.equal(agentCalls(slowAgent).length, 2);
  assertOneOutcome(d, idSms, 'pipeline.dead');
  assertOneOutcome(d, idDdb, 'sms.sent');
  assertOneOutcome(d, idAgent, 'sms.sent');
  const rows = dump(d.dir);
  const row = (id) => rows.find((r) => r.inbound_message_id === id);
  assert.deepEqual([row(idSms).state, row(idSms).reply_state], ['dead', 'unknown']);
  assert.deepEqual([row(idDdb).state, row(idDdb).reply_state], ['done', 'sent']);
  assert.deepEqual([row(idAgent).state, row(idAgent).reply_state], ['done', 'sent']);
});

// ---- throttling -------------------------------------------------------------------------

test('throttling: DynamoDB, the agent and SendTextMessage are retried to one reply', async (t) => {
  const d = await daemon(t);

  // DynamoDB throttles every attempt of the AWS client's first call: the read
  // fails, nothing is sent (fail closed), the dispatcher retries, one reply.
  const p1 = newPhone();
  for (let i = 0; i < 3; i++) standin.faults.push('dynamodb', { throttle: true });
  const id1 = await d.send(p1, 'busy table');
  assert.equal((await d.outcome(id1)).event, 'sms.sent');
  const retry = d.logsOf(id1, 'pipeline.retry')[0];
  assert.match(retry.error, /^consent read: ProvisionedThroughputExceededException/);
  assert.equal(ddbCalls(p1, 'GetItem').length, 4);
  assert.equal(agentCalls(p1).length, 1, 'the agent is asked only once consent is known');
  assert.deepEqual(sentTo(p1).map((m) => m.MessageBody), ['You said: busy table']);
  await healthy(d);

  // The agent answers 429 ThrottlingException: the AWS client tries again
  // (no byte of the stream had arrived), one reply.
  const p2 = newPhone();
  const fromLog = d.logs.length;
  standin.faults.push('bedrock', { throttle: true });
  const id2 = await d.send(p2, 'busy agent');
  assert.equal((await d.outcome(id2)).event, 'sms.sent');
  assert.ok(d.logs.slice(fromLog).some((l) => l.event === 'aws.attempt' && l.aws_operation === 'InvokeAgent' &&
    l.aws_error === 'ThrottlingException' && l.aws_error_kind === 'throttling'), 'the throttled attempt is logged');
  assert.equal(agentCalls(p2).length, 2);
  assert.deepEqual(sentTo(p2).map((m) => m.MessageBody), ['You said: busy agent']);
  await healthy(d);

  // SendTextMessage throttled six times in a row (as many as a reply's failed
  // attempts): the number is busy, the reply is fine, so throttles spend none
  // of its attempts. It goes out once; the agent was asked once.
  const p3 = newPhone();
  for (let i = 0; i < 6; i++) standin.faults.push('sms', { throttle: true });
  const id3 = await d.send(p3, 'busy sms');
  const end = await d.outcome(id3, 60000);
  assert.equal(end.event, 'sms.sent');
  assert.equal(smsCalls(p3).length, 7);
  assert.deepEqual(sentTo(p3).map((m) => m.MessageBody), ['You said: busy sms']);
  assert.equal(agentCalls(p3).length, 1);
  assert.equal(d.logsOf(id3, 'sms.failed').length, 6, 'each throttled attempt is logged');
  await healthy(d);

  await d.stop();
  assertOneOutcome(d, id1, 'sms.sent');
  assertOneOutcome(d, id2, 'sms.sent');
  assertOneOutcome(d, id3, 'sms.sent');
  assert.deepEqual(standin.rejected(), []);
});

// ---- garbage ------------------------------------------------------------------------------

// A valid event-stream message with one byte of its payload flipped: the
// message CRC no longer matches.
function corruptedEventStream() {
  const buf = Buffer.from(encodeChunk('this answer was damaged in transit'));
  buf[buf.length - 10] ^= 0x20;
  return buf;
}

test('garbage answers: invalid JSON from DynamoDB and SMS, a corrupted event stream from the agent', async (t) => {
  const d = await daemon(t);

  // GetItem answers 200 with a body that is not JSON: fail closed, retry, reply.
  const p1 = newPhone();
  standin.faults.push('dynamodb', { body: '{"Item": {"phone_number": ' });
  const id1 = await d.send(p1, 'garbled read');
  assert.equal((await d.outcome(id1)).event, 'sms.sent');
  assert.match(d.logsOf(id1, 'pipeline.retry')[0].error, /^consent read: /);
  assert.equal(agentCalls(p1).length, 1);
  assert.deepEqual(sentTo(p1).map((m) => m.MessageBody), ['You said: garbled read']);
  await healthy(d);

  // The STOP's UpdateItem answers 200 with garbage: the write is not known to
  // have happened, so no confirmation yet; retried, one confirmation.
  const p2 = newPhone();
  standin.faults.push('dynamodb', { delayMs: 0 }).push('dynamodb', { body: 'not json at all' });
  const id2 = await d.send(p2, 'STOP');
  assert.equal((await d.outcome(id2)).event, 'sms.sent');
  assert.match(d.logsOf(id2, 'pipeline.retry')[0].error, /^consent write: /);
  assert.deepEqual(sentTo(p2).map((m) => m.MessageBody), [OPT_OUT_REPLY]);
  assert.equal((await consentItem(p2)).consent_status.S, 'opted_out');
  await healthy(d);

  // InvokeAgent answers 200 with a corrupted event stream: the service took
  // the turn (its actions may have run), so the agent is not asked again;
  // the fallback reply once.
  const p3 = newPhone();
  standin.faults.push('bedrock', { body: corruptedEventStream(), contentType: 'application/vnd.amazon.eventstream' });
  const id3 = await d.send(p3, 'garbled stream');
  assert.equal((await d.outcome(id3)).event, 'sms.sent');
  const failed = d.logsOf(id3, 'agent.failed')[0];
  assert.equal(failed.agent_error_kind, 'retryable');
  assert.equal(failed.agent_error, 'InvalidStream');
  assert.equal(d.logsOf(id3, 'agent.not_repeated').length, 1);
  assert.equal(agentCalls(p3).length, 1);
  assert.deepEqual(sentTo(p3).map((m) => m.MessageBody), [FALLBACK_REPLY]);
  await healthy(d);

  // InvokeAgent answers 200 with invalid JSON instead of a stream: a 200 too,
  // so the same rule: not asked again, the fallback once.
  const p4 = newPhone();
  standin.faults.push('bedrock', { body: '{"completion": ', contentType: 'application/json' });
  const id4 = await d.send(p4, 'garbled json');
  assert.equal((await d.outcome(id4)).event, 'sms.sent');
  assert.equal(d.logsOf(id4, 'agent.failed')[0].agent_error_kind, 'retryable');
  assert.equal(agentCalls(p4).length, 1);
  assert.deepEqual(sentTo(p4).map((m) => m.MessageBody), [FALLBACK_REPLY]);
  await healthy(d);

  // SendTextMessage answers 200 with garbage: the message may have been
  // accepted, so it is not sent again; dead with the reason.
  const p5 = newPhone();
  standin.faults.push('sms', { body: '<html>oops</html>' });
  const id5 = await d.send(p5, 'garbled send');
  const end = await d.outcome(id5);
  assert.equal(end.event, 'pipeline.dead');
  assert.match(end.reason, /^reply state unknown/);
  assert.equal(smsCalls(p5).length, 1);
  await healthy(d);

  await d.stop();
  for (const id of [id1, id2, id3, id4]) assertOneOutcome(d, id, 'sms.sent');
  assertOneOutcome(d, id5, 'pipeline.dead');
  const rows = dump(d.dir);
  assert.equal(rows.find((r) => r.inbound_message_id === id5).reply_state, 'unknown');
});

// ---- connection floods ------------------------------------------------------------------

// Opens a raw TCP connection from `local` (an address of 127.0.0.0/8) and
// tracks it: 'open' once connected, 'closed' when the server (or we) closed it.
function rawConnect(port, local) {
  return new Promise((resolve) => {
    const c = { local, state: 'connecting', data: '' };
    c.socket = net.connect({ host: '127.0.0.1', port, localAddress: local });
    c.socket.setNoDelay(true);
    c.socket.on('connect', () => { c.state = 'open'; resolve(c); });
    c.socket.on('data', (b) => { c.data += b.toString(); });
    c.socket.on('error', (e) => { c.error = e.code; });
    c.socket.on('close', () => { c.state = 'closed'; resolve(c); });
  });
}

async function openMany(port, local, n) {
  const out = [];
  for (let i = 0; i < n; i += 100) {
    out.push(...await Promise.all(Array.from({ length: Math.min(100, n - i) }, () => rawConnect(port, local))));
  }
  return out;
}

async function connectionsGauge(d, agent = false) {
  const m = await d.request({ path: '/metrics', agent });
  return Number(/^twowayd_http_connections (\d+)$/m.exec(m.body)[1]);
}

test('2,000 idle connections and slow-loris clients: limits hold, signed deliveries still answered in time', async (t) => {
  // What is expected, with max_connections = 300 and max_connections_per_ip = 50:
  //  - beyond the per-address limit of waiting connections a connection is
  //    accepted and closed at once (refused), whatever the client does;
  //  - slow-loris clients trickling header bytes keep their connection until
  //    the request deadline (made long here; edges.test.mjs tests it), but
  //    only up to the per-address limit;
  //  - normal traffic from another address is served meanwhile, each delivery
  //    within a bound;
  //  - at the global limit a new connection is admitted at once, and the
  //    connection that has waited longest for a request is closed for it.
  const MAX = 300;
  const PER_IP = 50;
  const d = await daemon(t, { http: [`max_connections = ${MAX}`, `max_connections_per_ip = ${PER_IP}`, 'timeout = 30', 'request_timeout = 600'] });
  const all = [];
  const trickles = new Set();
  t.after(() => {
    for (const timer of trickles) clearInterval(timer);
    for (const c of all) c.socket.destroy();
  });

  // A keep-alive connection of the "operator" (127.0.0.1), opened first.
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => keepAlive.destroy());
  assert.equal((await d.request({ path: '/healthz', agent: keepAlive })).status, 200);

  // 2,000 idle connections from four addresses, 500 each.
  const idleAddrs = ['127.0.1.1', '127.0.1.2', '127.0.1.3', '127.0.1.4'];
  for (const a of idleAddrs) all.push(...await openMany(d.port, a, 500));
  const idle = all.slice();
  await waitFor(() => idle.filter((c) => c.state === 'closed').length === idleAddrs.length * (500 - PER_IP),
    { timeoutMs: 10000, what: 'connections over the per-address limit refused' });
  for (const a of idleAddrs) {
    assert.equal(idle.filter((c) => c.local === a && c.state === 'open').length, PER_IP, `${a} keeps ${PER_IP}`);
  }
  assert.ok(idle.filter((c) => c.state === 'closed').every((c) => c.data === ''), 'refused without an answer');

  // Slow-loris: 60 clients from one address sending a request's headers one
  // byte at a time, never finishing them.
  const loris = await openMany(d.port, '127.0.2.1', 60);
  all.push(...loris);
  const headers = 'POST /sns HTTP/1.1\r\nHost: 127.0.0.1\r\nx-amz-sns-message-type: Notification\r\n' + 'X-Padding: a\r\n'.repeat(200);
  for (const c of loris.filter((x) => x.state === 'open')) {
    let i = 0;
    const timer = setInterval(() => {
      if (c.state !== 'open') { clearInterval(timer); trickles.delete(timer); return; }
      c.socket.write(headers[i++ % headers.length]);
    }, 50);
    trickles.add(timer);
  }
  await waitFor(() => loris.filter((c) => c.state === 'closed').length === 60 - PER_IP,
    { timeoutMs: 10000, what: 'slow-loris connections over the per-address limit refused' });
  const held = idleAddrs.length * PER_IP + PER_IP;
  assert.equal(await connectionsGauge(d), held + 1 /* the /metrics request itself */ + 1 /* keep-alive */);

  // Normal traffic from 127.0.0.1 meanwhile: 40 signed deliveries, 8 at a time.
  const phones = Array.from({ length: 40 }, newPhone);
  const queue = [...phones];
  const latencies = [];
  await Promise.all(Array.from({ length: 8 }, async () => {
    for (let p = queue.shift(); p; p = queue.shift()) {
      const t0 = performance.now();
      await d.send(p, 'are you open today?');
      latencies.push(performance.now() - t0);
    }
  }));
  const slowest = Math.max(...latencies);
  assert.ok(slowest < 2000 * SLOW, `every delivery answered within 2 s (slowest ${slowest.toFixed(0)} ms)`);
  await standin.waitFor(() => phones.every((p) => sentTo(p).length === 1), { timeoutMs: WAIT_MS * SLOW });
  // The trickling clients still hold their slots, no more than their limit.
  assert.equal(loris.filter((c) => c.state === 'open').length, PER_IP);

  // The global limit. The trickling stops first, so that no connection has
  // anything to say: the daemon must notice freed slots on its own.
  for (const timer of trickles) clearInterval(timer);
  trickles.clear();
  // Fill the remaining slots from further addresses.
  const free = MAX - held - 1 /* keep-alive */;
  const fillers = [];
  for (let i = 0; fillers.length < free; i++) fillers.push(...await openMany(d.port, `127.0.3.${i + 1}`, Math.min(PER_IP, free - fillers.length)));
  all.push(...fillers);
  // The operator's keep-alive connection is served at the limit: the loop turns.
  for (let i = 0; (await connectionsGauge(d, keepAlive)) < MAX; i++) {
    assert.ok(i < 100, 'the daemon accepts up to max_connections');
  }
  assert.equal(await connectionsGauge(d, keepAlive), MAX);
  assert.equal(fillers.filter((c) => c.state === 'closed').length, 0);
  // A new client beyond the limit is admitted and served at once: the
  // connection that has waited longest without a request (one of the first
  // idle ones, from the first address) is closed to make room.
  const before = all.filter((c) => c.state === 'open');
  const probe = await rawConnect(d.port, '127.0.4.1');
  all.push(probe);
  probe.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
  await waitFor(() => /^HTTP\/1\.1 200 /.test(probe.data), { timeoutMs: 5000, what: 'the new client to be served' });
  await waitFor(() => before.some((c) => c.state === 'closed'), { timeoutMs: 5000, what: 'the oldest waiting connection closed' });
  const evicted = before.filter((c) => c.state === 'closed');
  assert.equal(evicted.length, 1);
  assert.equal(evicted[0].local, idleAddrs[0]);
  assert.equal(evicted[0].data, '');
  assert.equal(fillers.filter((c) => c.state === 'closed').length, 0, 'newer connections kept');
  assert.equal((await d.request({ path: '/healthz', agent: keepAlive })).status, 200);
  for (const c of fillers) c.socket.destroy();
  await healthy(d);
  assert.equal(d.exit, null);
});

// ---- SIGHUP under load --------------------------------------------------------------------

test('SIGHUP 50 times under load: every delivery answered 200 and stored once, RELOADING/READY pairs, still serving', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const notify = await notifySocket(dir);
  t.after(notify.close);
  const variant = (i) => faultsConfig(dir, {
    http: [`max_body = ${524288 + (i % 2) * 1024}`],
    agent: [`fallback_reply = Sorry, try again later (${i % 2}).`],
  });
  const d = await daemon(t, { dir, config: variant(0), notify });
  await notify.waitFor('READY=1');
  const initialReady = notify.messages.length;

  // Load: 6 clients delivering continuously, each message from a new sender.
  const results = [];
  let stop = false;
  const load = Promise.all(Array.from({ length: 6 }, async () => {
    while (!stop) {
      const phone = newPhone();
      const id = randomUUID();
      const msg = standin.sns.notification({ message: standin.sns.inboundSms({ from: phone, to: OUR_NUMBER, body: `load ${id}`, inboundMessageId: id }) });
      let r;
      try {
        r = await standin.sns.deliver(d.url, msg, { timeoutMs: 15000 * SLOW });
      } catch (e) {
        r = { status: 0, body: String(e) };
      }
      results.push({ id, phone, status: r.status, body: r.body });
    }
  }));

  for (let i = 1; i <= 50; i++) {
    // Deliveries are in flight at every reload.
    const delivered = results.length;
    await waitFor(() => results.length > delivered, { timeoutMs: WAIT_MS, what: 'a delivery between reloads' });
    writeFileSync(d.configPath, variant(i));
    const from = notify.messages.length;
    d.signal('SIGHUP');
    await waitFor(() => {
      const m = notify.messages.slice(from);
      const reloading = m.findIndex((x) => x.includes('RELOADING=1'));
      return reloading >= 0 && m.slice(reloading + 1).some((x) => x.includes('READY=1'));
    }, { emitter: notify.events, timeoutMs: WAIT_MS, what: `reload ${i}: RELOADING=1 then READY=1` });
  }
  stop = true;
  await load;

  const bad = results.filter((r) => r.status !== 200);
  assert.deepEqual(bad, [], 'every delivery answered 200');
  assert.ok(results.length >= 50, `deliveries under load: ${results.length}`);
  assert.equal(d.logs.filter((l) => l.event === 'config.reloaded').length, 50);
  assert.equal(d.logs.filter((l) => l.event === 'config.reload_failed').length, 0);
  // Exactly 50 RELOADING=1, each followed by its READY=1 before the next.
  const seqNotes = notify.messages.slice(initialReady)
    .map((m) => (m.includes('RELOADING=1') ? 'R' : m.includes('READY=1') ? 'Y' : null)).filter(Boolean);
  assert.equal(seqNotes.join(''), 'RY'.repeat(50));
  await healthy(d);

  // Each stored message is answered once.
  await standin.waitFor(() => results.every((r) => sentTo(r.phone).length >= 1), { timeoutMs: 60000 * SLOW });
  await d.stop();
  for (const r of results) assert.deepEqual(sentTo(r.phone).map((m) => m.MessageBody), [`You said: load ${r.id}`]);
  const rows = dump(dir);
  const ids = rows.map((r) => r.inbound_message_id);
  assert.equal(new Set(ids).size, ids.length, 'nothing stored twice');
  for (const r of results) assert.ok(ids.includes(r.id), `${r.id} stored`);
  assert.equal(rows.length, results.length);
});

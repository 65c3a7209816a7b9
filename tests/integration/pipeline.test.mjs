// The pipeline against the real binary: signed SNS deliveries in, consent in
// DynamoDB (dynalite), the Bedrock agent and SendTextMessage on the stand-in.
// Each test runs its own daemon with its own spool; senders' numbers are
// unique per test, so the shared consent table and SMS record do not mix.
// Loopback only; every wait is bounded and waits for a condition.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { TOOLS, outcomeOf, sendSms, standinConfigText, tempDir, testDaemon, waitFor } from './lib/daemon.mjs';
import { standinHooks } from './lib/standin_hooks.mjs';

const TABLE = 'twowayd-consent';
const OUR_NUMBER = '+18005550199';
const WAIT_MS = 20000;

const OPT_OUT_REPLY = 'You have been unsubscribed from SMS messages. Your request will be processed within 10 business days. Reply START to resubscribe.';
const OPT_IN_REPLY = 'You have been resubscribed to SMS messages. Welcome back!';
const HELP_REPLY = 'For help, text your question to this number. Reply STOP to unsubscribe, START to resubscribe. Msg & data rates may apply.';
const FALLBACK_REPLY = "Sorry, we can't answer right now. Please try again later.";

let standin;
standinHooks({ consentTable: TABLE, ourNumber: OUR_NUMBER, started: (s) => { standin = s; } });

let seq = 0;
// A fresh sender for each use: +1425 555 2000, 2001, ...
const newPhone = () => `+1425555${String(2000 + seq++).padStart(4, '0')}`;
const sessionOf = (phone) => `p${phone.slice(1)}`;

function pipelineConfig(dir, { sms = [], dispatch = [], consent = [], agent = [], log = 'info' } = {}) {
  return standinConfigText(standin, {
    spoolDir: dir,
    log,
    tail: [
      '[sms]', ...(sms.some((l) => l.startsWith('max_per_second')) ? [] : ['max_per_second = 1000']), ...sms,
      '[dispatch]',
      ...(dispatch.some((l) => l.startsWith('retry_initial_ms')) ? [] : ['retry_initial_ms = 50']),
      ...(dispatch.some((l) => l.startsWith('retry_max_ms')) ? [] : ['retry_max_ms = 200']),
      ...dispatch,
    ].join('\n'),
  })
    .replace(`table = ${TABLE}`, [`table = ${TABLE}`, ...consent].join('\n'))
    .replace('agent_alias_id = ALIAS12345', ['agent_alias_id = ALIAS12345', ...agent].join('\n'));
}

async function daemon(t, opts = {}) {
  const d = await testDaemon(t, { dir: opts.dir, config: (dir) => pipelineConfig(dir, opts), env: standin.env() });
  // Deliver one inbound SMS; resolves with its inbound message id once stored.
  d.send = (from, body, { inboundMessageId } = {}) => sendSms(standin, d, { from, to: OUR_NUMBER, body, inboundMessageId });
  // The event that ends the processing of one message.
  d.outcome = (id, timeoutMs = WAIT_MS) => outcomeOf(d, id, timeoutMs);
  d.eventsOf = (id) => d.logs.filter((l) => l.inbound_message_id === id).map((l) => l.event);
  return d;
}

const sentTo = (phone) => standin.sms.sent().filter((m) => m.DestinationPhoneNumber === phone);
const bedrockCalls = (phone) => standin.requests('bedrock').filter((r) => r.url.includes(`/sessions/${sessionOf(phone)}/`));
// Turns that ask the agent something; endSession calls (on opt-out) apart.
const agentCalls = (phone) => bedrockCalls(phone).filter((r) => r.body?.endSession !== true);
const endSessions = (phone) => bedrockCalls(phone).filter((r) => r.body?.endSession === true);

async function consentItem(phone) {
  const r = await standin.dynamodb.call('GetItem', { TableName: TABLE, Key: { phone_number: { S: phone } }, ConsistentRead: true });
  return r.Item;
}

function dump(dir) {
  const r = spawnSync(join(TOOLS, 'spool-dump'), [dir], { encoding: 'utf8', timeout: 10000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

// The documented rule of business_days.h, written independently: the n-th
// Monday..Friday, not a holiday, strictly after the request's UTC date.
function addBusinessDays(iso, n, holidays = []) {
  const t = new Date(iso);
  const d = new Date(t);
  let left = n;
  while (left > 0) {
    d.setUTCDate(d.getUTCDate() + 1);
    const day = d.getUTCDay();
    const ymd = d.toISOString().slice(0, 10);
    if (day !== 0 && day !== 6 && !holidays.includes(ymd)) left--;
  }
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const ISO_Z = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

test('conversational messages get the agent\'s answer, in order, with the right request fields', async (t) => {
  const d = await daemon(t);
  const phone = newPhone();
  const texts = ['Hi there', 'What are your opening hours?', 'Do you ship to Canada?', 'Thanks, bye'];
  const ids = [];
  for (const text of texts) {
    const id = await d.send(phone, text);
    ids.push(id);
    await d.outcome(id);
  }
  const sent = sentTo(phone);
  assert.deepEqual(sent.map((m) => m.MessageBody), texts.map((x) => `You said: ${x}`));
  for (const [i, m] of sent.entries()) {
    assert.equal(m.OriginationIdentity, OUR_NUMBER); // the number the sender texted
    assert.equal(m.MessageType, 'TRANSACTIONAL');
    assert.deepEqual(m.Context, { inboundMessageId: ids[i] });
    assert.equal(m.ConfigurationSetName, undefined);
    assert.equal(m.MaxPrice, undefined);
    assert.equal(m.TimeToLive, undefined);
  }
  const calls = agentCalls(phone);
  assert.equal(calls.length, 4);
  for (const [i, c] of calls.entries()) {
    assert.equal(c.url, `/agents/AGENT12345/agentAliases/ALIAS12345/sessions/${sessionOf(phone)}/text`);
    // The date attributes describe the moment of the call, in UTC (the default zone).
    const at = c.body.sessionState?.promptSessionAttributes?.currentDateTime ?? '';
    assert.match(at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/);
    const when = new Date(at);
    assert.ok(Math.abs(when - Date.now()) < 60000, at);
    const iso = when.toISOString();
    assert.deepEqual(c.body, {
      inputText: texts[i],
      sessionState: {
        sessionAttributes: { originationNumber: phone, destinationNumber: OUR_NUMBER, inboundMessageId: ids[i] },
        promptSessionAttributes: {
          inboundMessageId: ids[i], textedNumber: OUR_NUMBER, timeZone: 'UTC',
          currentDate: iso.slice(0, 10), currentTime: iso.slice(11, 16), currentDateTime: at,
          weekday: ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'][when.getUTCDay()],
        },
      },
    });
  }
  // Every step is logged with the message id; numbers masked, bodies never logged.
  for (const ev of ['pipeline.received', 'consent.decision', 'agent.invoked', 'agent.answered', 'sms.sent']) {
    assert.ok(d.eventsOf(ids[0]).includes(ev), `${ev} logged`);
  }
  const sentLog = d.logs.find((l) => l.event === 'sms.sent' && l.inbound_message_id === ids[0]);
  assert.equal(sentLog.sms_message_id, sent[0].MessageId);
  assert.equal(sentLog.segments, '1');
  assert.equal(sentLog.phone, `${phone.slice(0, 5)}***${phone.slice(-4)}`);
  assert.ok(!d.stderrText.some((l) => l.includes(phone) || l.includes(sessionOf(phone)) || l.includes('opening hours')));
  assert.deepEqual(standin.rejected(), []);
  // No consent item is created by conversation alone.
  assert.equal(await consentItem(phone), undefined);
  // Outcomes and latencies are counted.
  const m = (await d.request({ path: '/metrics' })).body;
  assert.match(m, /^twowayd_pipeline_outcomes_total\{outcome="answer"\} 4$/m);
  assert.match(m, /^twowayd_agent_call_seconds_count\{result="answer"\} 4$/m);
  assert.match(m, /^twowayd_sms_send_seconds_count\{result="sent"\} 4$/m);
  assert.match(m, /^twowayd_pipeline_in_flight 0$/m);
});

test('STOP, then Hello, HELP, STOP again, START and Hello: the consent rules end to end', async (t) => {
  // Two holidays inside the deadline window: the next two calendar days.
  const day = (k) => new Date(Date.now() + k * 86400000).toISOString().slice(0, 10);
  const holidays = [day(1), day(2)];
  const d = await daemon(t, { consent: [`holidays = ${holidays.join(', ')}`] });
  const phone = newPhone();

  // STOP: one confirmation, the exact item.
  const stop = await d.send(phone, 'Stop');
  assert.equal((await d.outcome(stop)).event, 'sms.sent');
  assert.deepEqual(sentTo(phone).map((m) => m.MessageBody), [OPT_OUT_REPLY]);
  let item = await consentItem(phone);
  assert.equal(item.phone_number.S, phone);
  assert.equal(item.consent_status.S, 'opted_out');
  assert.equal(item.opt_out_method.S, 'sms');
  assert.match(item.opt_out_requested_at.S, ISO_Z);
  assert.equal(item.updated_at.S, item.opt_out_requested_at.S);
  assert.equal(item.opt_out_deadline.S, addBusinessDays(item.opt_out_requested_at.S, 10, holidays));
  const requested = new Date(item.opt_out_requested_at.S);
  assert.ok(Math.abs(requested - Date.now()) < 60000);
  assert.deepEqual(item.consent_history.L, [{ M: {
    time: { S: item.opt_out_requested_at.S }, action: { S: 'opt_out' }, method: { S: 'sms' },
    inbound_message_id: { S: stop },
  } }]);
  assert.equal(item.version.N, '1');
  assert.equal(agentCalls(phone).length, 0, 'compliance never asks the agent');
  // The opt-out ends the agent session, without the keyword.
  await waitFor(() => endSessions(phone).length === 1, { timeoutMs: WAIT_MS, what: 'the end of the session' });
  assert.equal(endSessions(phone)[0].body.inputText, undefined);

  // Hello from an opted-out number: no agent, no reply.
  const hello = await d.send(phone, 'Hello');
  assert.equal((await d.outcome(hello)).event, 'pipeline.blocked');
  assert.equal(agentCalls(phone).length, 0);
  assert.equal(sentTo(phone).length, 1);

  // HELP is answered whatever the state.
  const help = await d.send(phone, 'help');
  assert.equal((await d.outcome(help)).event, 'sms.sent');
  assert.equal(sentTo(phone).at(-1).MessageBody, HELP_REPLY);

  // STOP again: nothing changes, nothing is sent.
  const again = await d.send(phone, 'STOP');
  assert.equal((await d.outcome(again)).event, 'consent.already_opted_out');
  assert.equal(sentTo(phone).length, 2);
  assert.deepEqual(await consentItem(phone), item);

  // START: welcome, recorded.
  const start = await d.send(phone, 'START');
  assert.equal((await d.outcome(start)).event, 'sms.sent');
  assert.equal(sentTo(phone).at(-1).MessageBody, OPT_IN_REPLY);
  item = await consentItem(phone);
  assert.equal(item.consent_status.S, 'opted_in');
  assert.equal(item.opt_in_method.S, 'sms');
  assert.match(item.opt_in_at.S, ISO_Z);
  assert.equal(item.consent_history.L.length, 2);
  assert.equal(item.consent_history.L[1].M.action.S, 'opt_in');
  assert.equal(item.consent_history.L[1].M.inbound_message_id.S, start);
  assert.equal(item.version.N, '2');

  // And the agent answers again.
  const back = await d.send(phone, 'Hello again');
  assert.equal((await d.outcome(back)).event, 'sms.sent');
  assert.equal(sentTo(phone).at(-1).MessageBody, 'You said: Hello again');
  assert.equal(agentCalls(phone).length, 1);
  assert.equal(endSessions(phone).length, 1, 'a repeated STOP changes nothing, ends nothing');
  assert.equal(sentTo(phone).length, 4);

  const decision = d.logs.find((l) => l.event === 'consent.decision' && l.inbound_message_id === hello);
  assert.equal(decision.consent_status, 'opted_out');
  assert.equal(decision.action, 'block');
  assert.match((await d.request({ path: '/metrics' })).body, /^twowayd_pipeline_blocked_total 1$/m);
});

test('YES is an opt-in only while opted out', async (t) => {
  const d = await daemon(t);
  const phone = newPhone();
  const yes1 = await d.send(phone, 'yes');
  await d.outcome(yes1);
  assert.equal(sentTo(phone).at(-1).MessageBody, 'You said: yes');
  await d.outcome(await d.send(phone, 'UNSUBSCRIBE'));
  const yes2 = await d.send(phone, 'Yes!');
  await d.outcome(yes2);
  assert.equal(sentTo(phone).at(-1).MessageBody, OPT_IN_REPLY);
  assert.equal((await consentItem(phone)).consent_status.S, 'opted_in');
});

test('long and emoji-only answers are capped at max_segments with UTF-8 intact', async (t) => {
  const d = await daemon(t, { sms: ['max_segments = 3'] });
  const words = [];
  while (words.join(' ').length < 2000) words.push(`word${words.length}`);
  const long = words.join(' ').slice(0, 2000);
  const emoji = '😀🎉👍🏽🇨🇦'.repeat(60);
  const answers = { long: `“Sure” — ${long}`, emoji };
  standin.bedrock.setResponder((text) => answers[text]);

  const p1 = newPhone();
  await d.outcome(await d.send(p1, 'long'));
  const a = sentTo(p1)[0].MessageBody;
  assert.ok(a.startsWith('"Sure" - word0 word1'), 'typographic characters replaced');
  assert.ok(a.endsWith('...'));
  assert.ok(a.length <= 3 * 153, `GSM-7 text within 3 segments (${a.length})`);
  assert.ok(a.length > 2 * 153, 'the budget is used');
  // Cut at a word boundary: what precedes the dots is a whole word of the answer.
  const lastWord = a.slice(0, -3).split(' ').at(-1);
  assert.match(lastWord, /^word\d+$/);
  assert.ok(words.includes(lastWord));
  const logged = d.logs.find((l) => l.event === 'sms.sent' && l.phone?.endsWith(p1.slice(-4)));
  assert.equal(logged.segments, '3');

  const p2 = newPhone();
  await d.outcome(await d.send(p2, 'emoji'));
  const e = sentTo(p2)[0].MessageBody;
  assert.ok(e.isWellFormed(), 'no broken surrogate pair');
  assert.ok(!e.includes('\uFFFD'));
  assert.ok(e.endsWith('...'));
  assert.ok(e.length <= 3 * 67, `UCS-2 text within 3 segments (${e.length} code units)`);
  assert.ok(emoji.startsWith(e.slice(0, -3)), 'a prefix of the answer, cut between characters');
  // The cut keeps whole graphemes: it ends after a complete 4-emoji group or inside none.
  assert.ok(e.slice(0, -3).length % '😀🎉👍🏽🇨🇦'.length === 0 ||
    ['😀', '🎉', '👍🏽'].some((g) => e.slice(0, -3).endsWith(g)));
});

test('agent 5xx five times, then recovery: exactly one reply', async (t) => {
  const d = await daemon(t);
  const phone = newPhone();
  for (let i = 0; i < 5; i++) standin.faults.push('bedrock', { status: 500 });
  const id = await d.send(phone, 'Are you there?');
  assert.equal((await d.outcome(id)).event, 'sms.sent');
  assert.deepEqual(sentTo(phone).map((m) => m.MessageBody), ['You said: Are you there?']);
  assert.equal(agentCalls(phone).length, 6);
  assert.ok(d.logs.some((l) => l.event === 'pipeline.retry' && l.inbound_message_id === id));
  await d.stop();
  const [row] = dump(d.dir).filter((r) => r.inbound_message_id === id);
  assert.equal(row.state, 'done');
  assert.equal(row.reply_state, 'sent');
  assert.equal(row.reply_message_id, sentTo(phone)[0].MessageId);
  assert.equal(sentTo(phone).length, 1);
});

// The answer stream had begun (the agent may have acted): never asked again,
// even for an exception that would be worth a retry before any stream.
test('an in-stream throttling exception is not retried: the fallback once', async (t) => {
  const d = await daemon(t);
  const phone = newPhone();
  standin.faults.push('bedrock', { exception: 'throttlingException' });
  const id = await d.send(phone, 'Hi');
  assert.equal((await d.outcome(id)).event, 'sms.sent');
  const failed = d.logs.find((l) => l.event === 'agent.failed' && l.inbound_message_id === id);
  assert.equal(failed.agent_error, 'throttlingException');
  assert.equal(failed.agent_error_kind, 'retryable');
  assert.ok(d.logs.some((l) => l.event === 'agent.not_repeated' && l.inbound_message_id === id));
  assert.equal(agentCalls(phone).length, 1);
  assert.deepEqual(sentTo(phone).map((m) => m.MessageBody), [FALLBACK_REPLY]);
});

test('a permanent agent failure sends the fallback reply once', async (t) => {
  const d = await daemon(t);
  const phone = newPhone();
  standin.faults.push('bedrock', { exception: 'accessDeniedException' });
  const id = await d.send(phone, 'Hi');
  assert.equal((await d.outcome(id)).event, 'sms.sent');
  assert.equal(agentCalls(phone).length, 1);
  assert.deepEqual(sentTo(phone).map((m) => m.MessageBody), [FALLBACK_REPLY]);
});

test('SMS throttled twice: one reply', async (t) => {
  const d = await daemon(t);
  const phone = newPhone();
  standin.faults.push('sms', { throttle: true }).push('sms', { throttle: true });
  const id = await d.send(phone, 'Hello');
  assert.equal((await d.outcome(id)).event, 'sms.sent');
  assert.equal(sentTo(phone).length, 1);
  const attempts = standin.requests('sms').filter((r) => r.body?.DestinationPhoneNumber === phone);
  assert.equal(attempts.length, 3);
  assert.equal(d.logs.filter((l) => l.event === 'sms.failed' && l.inbound_message_id === id).length, 2);
  assert.equal(agentCalls(phone).length, 1, 'the agent is not asked again');
});

test('DynamoDB down: nothing is sent until it is back', async (t) => {
  const d = await daemon(t);
  const phone = newPhone();
  await standin.setDown('dynamodb', true);
  const id = await d.send(phone, 'Hello?');
  // Two failed attempts of the consent read, each retried.
  await waitFor(() => d.logs.filter((l) => l.event === 'pipeline.retry' && l.inbound_message_id === id).length >= 2,
    { emitter: d.events, timeoutMs: WAIT_MS, what: 'retries while DynamoDB is down' });
  assert.equal(agentCalls(phone).length, 0);
  assert.equal(sentTo(phone).length, 0);
  const retry = d.logs.find((l) => l.event === 'pipeline.retry' && l.inbound_message_id === id);
  assert.match(retry.error, /^consent read/);
  await standin.setDown('dynamodb', false);
  assert.equal((await d.outcome(id)).event, 'sms.sent');
  assert.equal(sentTo(phone).length, 1);
});

test('the destination opted out at AWS: recorded, no retry', async (t) => {
  const d = await daemon(t);
  const phone = newPhone();
  standin.sms.setOptedOut(phone, true);
  t.after(() => standin.sms.setOptedOut(phone, false));
  const id = await d.send(phone, 'Hi');
  await d.waitForLog((l) => l.event === 'consent.opted_out' && l.inbound_message_id === id, WAIT_MS);
  const item = await consentItem(phone);
  assert.equal(item.consent_status.S, 'opted_out');
  assert.equal(item.opt_out_method.S, 'aws');
  assert.equal(standin.requests('sms').filter((r) => r.body?.DestinationPhoneNumber === phone).length, 1);
  // From now on it is blocked before the agent.
  const next = await d.send(phone, 'Hi again');
  assert.equal((await d.outcome(next)).event, 'pipeline.blocked');
  assert.equal(agentCalls(phone).length, 1);
  await d.stop();
  assert.equal(dump(d.dir).find((r) => r.inbound_message_id === id).state, 'done');
});

test('a reply from an identity the account does not own: refused for good, once, with one clear event', async (t) => {
  const notOurs = '+18005550100';
  const d = await daemon(t, { sms: [`origination_identity = ${notOurs}`] });
  const phone = newPhone();
  const id = await d.send(phone, 'Hi');
  assert.equal((await d.outcome(id)).event, 'pipeline.dead');
  const sends = standin.requests('sms').filter((r) => r.operation === 'SendTextMessage' && r.body?.DestinationPhoneNumber === phone);
  assert.equal(sends.length, 1, 'not retried');
  assert.equal(sends[0].body.OriginationIdentity, notOurs);
  assert.equal(sentTo(phone).length, 0);
  const failed = d.logs.filter((l) => l.event === 'sms.failed' && l.inbound_message_id === id);
  assert.equal(failed.length, 1);
  assert.equal(failed[0].sms_failure, 'permanent');
  assert.equal(failed[0].origination_identity, notOurs);
  assert.match(failed[0].msg, /\+18005550100 is not a phone number, pool or sender ID of this account/);
  await d.stop();
  assert.match(dump(d.dir).find((r) => r.inbound_message_id === id).last_error, /ResourceNotFoundException/);
});

test('kill -9 during a slow agent call, restart: exactly one reply', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const phone = newPhone();
  let calls = 0;
  standin.bedrock.setResponder((text) => (++calls === 1 ? { chunks: [`slow: ${text}`], delayMs: 3000 } : `fast: ${text}`));
  const d1 = await daemon(t, { dir });
  const id = await d1.send(phone, 'Anyone home?');
  await d1.waitForLog((l) => l.event === 'agent.invoked' && l.inbound_message_id === id, WAIT_MS);
  // The log line can precede the request's arrival: kill only once the agent has it.
  await waitFor(() => calls >= 1, { timeoutMs: WAIT_MS, what: 'the first agent call to arrive' });
  d1.signal('SIGKILL');
  await d1.waitForExit();
  const d2 = await daemon(t, { dir });
  assert.equal((await d2.outcome(id)).event, 'sms.sent');
  assert.deepEqual(sentTo(phone).map((m) => m.MessageBody), ['fast: Anyone home?']);
  // The first call's answer arrives at a dead process; nothing else goes out.
  await waitFor(() => calls >= 2, { timeoutMs: WAIT_MS, what: 'second agent call' });
  await d2.stop();
  const rows = dump(dir).filter((r) => r.inbound_message_id === id);
  assert.equal(rows.length, 1);
  assert.equal(rows[0].state, 'done');
  assert.equal(rows[0].reply_state, 'sent');
  assert.equal(sentTo(phone).length, 1);
});

// Every SendTextMessage to phone is held at the stand-in for a second: it
// arrives (arrived() turns true), then completes, whatever became of its
// sender meanwhile.
function holdSends(t, phone) {
  const send = standin.sms.handlers.get('SendTextMessage');
  let arrived = false;
  standin.sms.setHandler('SendTextMessage', async (p, ctx) => {
    if (p.DestinationPhoneNumber === phone) {
      arrived = true;
      await new Promise((r) => setTimeout(r, 1000));
    }
    return send(p, ctx);
  });
  t.after(() => standin.sms.setHandler('SendTextMessage', send));
  return () => arrived;
}

test('kill -9 while the reply is being sent: never sent twice', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const phone = newPhone();
  // Hold the send at the stand-in: it arrives, then completes after the kill.
  const arrived = holdSends(t, phone);
  const d1 = await daemon(t, { dir });
  const id = await d1.send(phone, 'Quick question');
  await waitFor(arrived, { timeoutMs: WAIT_MS, what: 'the send at the stand-in' });
  d1.signal('SIGKILL');
  await d1.waitForExit();
  // The held request still completes: the message did go out.
  await waitFor(() => sentTo(phone).length === 1, { timeoutMs: WAIT_MS, what: 'the held send' });
  const d2 = await daemon(t, { dir });
  const end = await d2.outcome(id);
  assert.equal(end.event, 'pipeline.dead');
  assert.match(end.reason, /reply state unknown/);
  assert.ok(d2.logs.some((l) => l.event === 'pipeline.reply_unknown' && l.inbound_message_id === id));
  assert.equal(sentTo(phone).length, 1);
  assert.equal(agentCalls(phone).length, 1, 'the agent is not asked again either');
  await d2.stop();
  const row = dump(dir).find((r) => r.inbound_message_id === id);
  assert.equal(row.state, 'dead');
  assert.equal(row.reply_state, 'unknown');
});

test('SIGTERM with agent calls outstanding: a bounded stop, and the rows resume after restart', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const phones = [newPhone(), newPhone(), newPhone()];
  let slow = true;
  // Longer than the daemon's drain bound: the stop has to abandon the calls.
  standin.bedrock.setResponder((text) => (slow ? { chunks: [`late: ${text}`], delayMs: 15000 } : `now: ${text}`));
  const d1 = await daemon(t, { dir });
  const ids = [];
  for (const p of phones) ids.push(await d1.send(p, 'hold on'));
  await waitFor(() => ids.every((id) => d1.logs.some((l) => l.event === 'agent.invoked' && l.inbound_message_id === id)),
    { timeoutMs: WAIT_MS, what: 'three agent calls' });
  d1.signal('SIGTERM');
  const exit = await d1.waitForExit(15000);
  assert.equal(exit.code, 0, d1.stderrText.filter((l) => !l.startsWith('{')).join('\n'));
  assert.ok(d1.logs.some((l) => l.event === 'service.drain_timeout'));
  for (const p of phones) assert.equal(sentTo(p).length, 0);
  slow = false;
  const d2 = await daemon(t, { dir });
  for (const id of ids) assert.equal((await d2.outcome(id)).event, 'sms.sent');
  for (const p of phones) assert.deepEqual(sentTo(p).map((m) => m.MessageBody), ['now: hold on']);
});

test('200 senders at once get 200 correct replies; one sender\'s burst of 5 keeps its order', async (t) => {
  const d = await daemon(t, { dispatch: ['concurrency = 256'] });
  // Slow, uneven answers, so that completion order would scramble anything unordered.
  standin.bedrock.setResponder((text) => ({ chunks: [`re: ${text}`], delayMs: 300 + Math.floor(Math.random() * 400) }));
  const phones = Array.from({ length: 200 }, newPhone);
  const burst = newPhone();
  const burstTexts = [1, 2, 3, 4, 5].map((i) => `burst message ${i}`);

  // 32 deliveries at a time ([http] max_connections_per_ip is 64).
  const queue = [...phones];
  const sendAll = Promise.all(Array.from({ length: 32 }, async () => {
    for (let p = queue.shift(); p; p = queue.shift()) await d.send(p, `question from ${p}`);
  }));
  // The burst: each delivered as soon as the previous is stored.
  const sendBurst = (async () => { for (const text of burstTexts) await d.send(burst, text); })();
  await Promise.all([sendAll, sendBurst]);

  // /healthz stays fast while hundreds of agent calls are outstanding.
  await waitFor(() => standin.requests('bedrock').length >= 150, { timeoutMs: WAIT_MS, what: 'agent calls under way' });
  const t0 = performance.now();
  const h = await d.request({ path: '/healthz' });
  const healthMs = performance.now() - t0;
  assert.equal(h.status, 200);
  assert.ok(healthMs < 250, `healthz took ${healthMs.toFixed(0)} ms`);

  const want = new Set([...phones, burst]);
  await standin.waitFor(() => {
    const got = new Map();
    for (const m of standin.sms.sent()) if (want.has(m.DestinationPhoneNumber)) got.set(m.DestinationPhoneNumber, (got.get(m.DestinationPhoneNumber) ?? 0) + 1);
    return got.size === want.size && got.get(burst) === 5;
  }, { timeoutMs: 60000 });
  for (const p of phones) {
    assert.deepEqual(sentTo(p).map((m) => m.MessageBody), [`re: question from ${p}`], p);
  }
  assert.deepEqual(sentTo(burst).map((m) => m.MessageBody), burstTexts.map((x) => `re: ${x}`));
  // One at a time per sender: each agent call of the burst started after the previous reply.
  const burstCalls = agentCalls(burst).map((r) => r.time);
  const burstSends = sentTo(burst).map((m) => Date.parse(m.time));
  for (let i = 1; i < 5; i++) assert.ok(Date.parse(burstCalls[i]) >= burstSends[i - 1] - 5, `call ${i} after reply ${i - 1}`);
  assert.deepEqual(standin.rejected(), []);
});

test('[dedup] two instances receive the same SMS: exactly one of them answers it', async (t) => {
  const DEDUP = 'twowayd-dedup';
  await standin.dynamodb.call('CreateTable', {
    TableName: DEDUP,
    AttributeDefinitions: [{ AttributeName: 'inbound_message_id', AttributeType: 'S' }],
    KeySchema: [{ AttributeName: 'inbound_message_id', KeyType: 'HASH' }],
    BillingMode: 'PAY_PER_REQUEST',
  }).catch((e) => { if (!/already exists|ResourceInUse/i.test(String(e?.message ?? e))) throw e; });
  const dedup = [`[dedup]\ntable = ${DEDUP}`];
  const a = await daemon(t, { agent: dedup });
  const b = await daemon(t, { agent: dedup });
  const from = newPhone();
  const sentBefore = standin.sms.sent().length;
  // SNS delivers the same inbound message to both instances (e.g. a retry
  // that the load balancer routed elsewhere).
  const inbound = randomUUID();
  await Promise.all([a.send(from, 'Hello', { inboundMessageId: inbound }), b.send(from, 'Hello', { inboundMessageId: inbound })]);
  await waitFor(() => [a, b].some((d) => d.logs.some((l) => l.event === 'pipeline.claimed_elsewhere' && l.inbound_message_id === inbound)),
    { timeoutMs: WAIT_MS, what: 'one instance to yield' });
  await waitFor(() => standin.sms.sent().slice(sentBefore).some((m) => m.DestinationPhoneNumber === from),
    { timeoutMs: WAIT_MS, what: 'the reply' });
  const replies = () => standin.sms.sent().slice(sentBefore).filter((m) => m.DestinationPhoneNumber === from);
  await a.stop();
  await b.stop();
  assert.equal(replies().length, 1);
  assert.equal(standin.bedrock.invocations().filter((i) => i.sessionId === sessionOf(from)).length, 1);
  const claim = await standin.dynamodb.call('GetItem', { TableName: DEDUP, Key: { inbound_message_id: { S: inbound } }, ConsistentRead: true });
  assert.match(claim.Item.claimed_by.S, /:/);
  assert.ok(Number(claim.Item.expires_at.N) > Date.now() / 1000 + 6 * 86400);
});

// The stand-in runs in this process, so the tool is waited for without blocking it.
function runTool(name, args, { timeoutMs = 30000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(join(TOOLS, name), args, {
      env: { PATH: process.env.PATH, HOME: '/nonexistent', AWS_EC2_METADATA_DISABLED: 'true', ...standin.env() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b) => { stdout += b; });
    child.stderr.on('data', (b) => { stderr += b; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${name} timed out\n${stderr}`)); }, timeoutMs);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

test('3,000 STOP/START cycles: the consent item stays a few KB, and the STOP after them is recorded', async (t) => {
  const phone = newPhone();
  // Through the consent module's own read, decide and compare-and-swap (what
  // the daemon and twowayctl consent use), 6,000 changes one after the other.
  const r = await runTool('awsreq', ['--log-level', 'warning', 'consent-cycles', TABLE, phone, '3000'], { timeoutMs: 600000 });
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.deepEqual([summary.r, summary.done, summary.written], [0, 6000, 6000]);

  let item = await consentItem(phone);
  // DynamoDB counts attribute names and values; the JSON form is larger still.
  const size = Buffer.byteLength(JSON.stringify(item));
  t.diagnostic(`consent item after 6,000 changes: ${size} bytes as JSON`);
  assert.ok(size < 10 * 1024, `item is ${size} bytes`);
  assert.equal(item.consent_status.S, 'opted_in');
  assert.equal(item.consent_changes.N, '6000');
  assert.equal(item.version.N, '6000');
  assert.equal(item.consent_history.L.length, 20);
  assert.deepEqual(item.consent_history.L.map((e) => e.M.inbound_message_id.S),
    Array.from({ length: 20 }, (_, i) => `cycle-${5980 + i}`));

  // A real STOP afterwards: written, confirmed, the history still bounded.
  const d = await daemon(t);
  const stop = await d.send(phone, 'STOP');
  assert.equal((await d.outcome(stop)).event, 'sms.sent');
  assert.deepEqual(sentTo(phone).map((m) => m.MessageBody), [OPT_OUT_REPLY]);
  item = await consentItem(phone);
  assert.equal(item.consent_status.S, 'opted_out');
  assert.equal(item.consent_changes.N, '6001');
  assert.equal(item.consent_history.L.length, 20);
  assert.equal(item.consent_history.L.at(-1).M.inbound_message_id.S, stop);
  assert.equal(item.consent_history.L[0].M.inbound_message_id.S, 'cycle-5981');
});

// ---- consent first: a STOP wins every race -----------------------------------------------

// An agent that holds the answers to one sender until released (the end of
// their session, which has no input text, is not held).
function heldAgent(phone) {
  let release;
  const gate = new Promise((r) => { release = r; });
  const arrived = [];
  standin.bedrock.setResponder(async (text, session) => {
    if (session !== sessionOf(phone) || text === undefined) return `You said: ${text}`;
    arrived.push(text);
    await gate;
    return `late: ${text}`;
  });
  return { arrived, release };
}

// Deliver a message from a sender of no interest and wait for its answer: a
// point after which anything the daemon was going to do earlier is done.
async function marker(d) {
  const phone = newPhone();
  assert.equal((await d.outcome(await d.send(phone, 'marker'))).event, 'sms.sent');
}

const superseded = (d, id) => d.waitForLog((l) => l.event === 'pipeline.superseded' && l.inbound_message_id === id, WAIT_MS);

test('STOP while the agent is answering the same sender: one confirmation, no agent text after it', async (t) => {
  const d = await daemon(t);
  const phone = newPhone();
  const agent = heldAgent(phone);
  t.after(() => agent.release());
  const hello = await d.send(phone, 'Hello, are you open on Sunday?');
  await waitFor(() => agent.arrived.length === 1, { timeoutMs: WAIT_MS, what: 'the held agent call' });
  const stop = await d.send(phone, 'STOP');
  // The STOP does not wait for the earlier message: it is confirmed while the agent still holds it.
  assert.equal((await d.outcome(stop)).event, 'sms.sent');
  assert.deepEqual(sentTo(phone).map((m) => m.MessageBody), [OPT_OUT_REPLY]);
  const end = await superseded(d, hello);
  assert.match(end.reason, /opted out/);
  assert.ok(d.logs.some((l) => l.event === 'pipeline.superseding' && l.inbound_message_id === hello), 'its agent call was cancelled');
  agent.release();
  await marker(d);
  assert.deepEqual(sentTo(phone).map((m) => m.MessageBody), [OPT_OUT_REPLY]);
  assert.equal((await consentItem(phone)).consent_status.S, 'opted_out');
  const m = (await d.request({ path: '/metrics' })).body;
  assert.match(m, /^twowayd_pipeline_superseded_total 1$/m);
  assert.match(m, /^twowayd_pipeline_outcomes_total\{outcome="superseded"\} 1$/m);
  await d.stop();
  const rows = dump(d.dir);
  const row = rows.find((r) => r.inbound_message_id === hello);
  assert.equal(row.state, 'superseded');
  assert.equal(row.reply_state, 'none');
  assert.equal(rows.find((r) => r.inbound_message_id === stop).keyword_class, 'opt_out');
  assert.equal(row.keyword_class, 'other');
});

test('STOP while the earlier message keeps failing at the agent: confirmed at once, nothing after, also once the agent recovers', async (t) => {
  const d = await daemon(t);
  const phone = newPhone();
  let failing = true;
  standin.bedrock.setResponder((text, session) => (session === sessionOf(phone) && failing && text !== undefined
    ? { error: { status: 500, code: 'InternalServerException', message: 'Internal server error' } }
    : `You said: ${text}`));
  const hello = await d.send(phone, 'Can I book a viewing?');
  await waitFor(() => d.logs.filter((l) => l.event === 'pipeline.retry' && l.inbound_message_id === hello).length >= 2,
    { emitter: d.events, timeoutMs: WAIT_MS, what: 'the earlier message failing' });
  const stop = await d.send(phone, 'Stop');
  assert.equal((await d.outcome(stop)).event, 'sms.sent');
  assert.deepEqual(sentTo(phone).map((m) => m.MessageBody), [OPT_OUT_REPLY]);
  const callsAtConfirmation = agentCalls(phone).length;
  // The agent recovers: the earlier message is not asked again, and nothing is sent.
  failing = false;
  await marker(d);
  await marker(d);
  assert.deepEqual(sentTo(phone).map((m) => m.MessageBody), [OPT_OUT_REPLY]);
  assert.ok(agentCalls(phone).length <= callsAtConfirmation + 1, 'at most the call already under way');
  await d.stop();
  const row = dump(d.dir).find((r) => r.inbound_message_id === hello);
  assert.equal(row.state, 'superseded');
  assert.match(row.last_error, /opted out/);
  assert.ok(d.logs.every((l) => !(l.inbound_message_id === hello && l.event === 'sms.sent')));
});

test('STOP behind a queue of agent replies on the same number: the confirmation goes first', async (t) => {
  const d = await daemon(t, { sms: ['max_per_second = 1'] });
  const senders = Array.from({ length: 6 }, newPhone);
  const ids = [];
  for (const p of senders) ids.push(await d.send(p, `question from ${p}`));
  // Every answer is in, waiting for its slot in the number's send queue.
  await waitFor(() => ids.every((id) => d.logs.some((l) => l.event === 'agent.answered' && l.inbound_message_id === id)),
    { emitter: d.events, timeoutMs: WAIT_MS, what: 'all answers' });
  const stopper = newPhone();
  const ours = (m) => [...senders, stopper].includes(m.DestinationPhoneNumber);
  const stop = await d.send(stopper, 'STOP');
  // The opt-out is recorded right before its confirmation joins the queue.
  await d.waitForLog((l) => l.event === 'consent.opted_out' && l.inbound_message_id === stop, WAIT_MS);
  const sentBefore = standin.sms.sent().filter(ours).length;
  assert.ok(sentBefore < senders.length - 2, `a backlog is left (${sentBefore} of ${senders.length} sent)`);
  await standin.waitFor(() => standin.sms.sent().filter(ours).length === senders.length + 1, { timeoutMs: 30000 });
  const order = standin.sms.sent().filter(ours).map((m) => m.DestinationPhoneNumber);
  // Within one slot: at most the answer already on its way went before it.
  assert.ok(order.indexOf(stopper) <= sentBefore + 1, `confirmation at ${order.indexOf(stopper)}, ${sentBefore} sent before`);
  assert.deepEqual(sentTo(stopper).map((m) => m.MessageBody), [OPT_OUT_REPLY]);
  for (const p of senders) assert.deepEqual(sentTo(p).map((m) => m.MessageBody), [`You said: question from ${p}`]);
  // Waiting replies held no dispatch slot, and all of them are gone now.
  const m = (await d.request({ path: '/metrics' })).body;
  assert.match(m, /^twowayd_replies_waiting 0$/m);
});

test('STOP then START in quick succession, with an earlier message at the agent: opted in, two confirmations in order', async (t) => {
  const d = await daemon(t);
  const phone = newPhone();
  const agent = heldAgent(phone);
  t.after(() => agent.release());
  const hello = await d.send(phone, 'Is the pool open?');
  await waitFor(() => agent.arrived.length === 1, { timeoutMs: WAIT_MS, what: 'the held agent call' });
  const stop = await d.send(phone, 'STOP');
  const start = await d.send(phone, 'START');
  assert.equal((await d.outcome(stop)).event, 'sms.sent');
  assert.equal((await d.outcome(start)).event, 'sms.sent');
  assert.deepEqual(sentTo(phone).map((m) => m.MessageBody), [OPT_OUT_REPLY, OPT_IN_REPLY]);
  const item = await consentItem(phone);
  assert.equal(item.consent_status.S, 'opted_in');
  assert.deepEqual(item.consent_history.L.map((h) => [h.M.action.S, h.M.inbound_message_id.S]),
    [['opt_out', stop], ['opt_in', start]]);
  await superseded(d, hello);
  agent.release();
  await marker(d);
  assert.deepEqual(sentTo(phone).map((m) => m.MessageBody), [OPT_OUT_REPLY, OPT_IN_REPLY]);
});

test('opted out elsewhere while the agent answers: the answer is suppressed at the last check', async (t) => {
  const d = await daemon(t);
  const phone = newPhone();
  // The answer takes a moment, during which another instance records an opt-out.
  standin.bedrock.setResponder((text, session) => (session === sessionOf(phone)
    ? { chunks: [`late: ${text}`], delayMs: 1500 } : `You said: ${text}`));
  const id = await d.send(phone, 'When is rent due?');
  await waitFor(() => agentCalls(phone).length === 1, { timeoutMs: WAIT_MS, what: 'the agent call' });
  await standin.dynamodb.call('PutItem', {
    TableName: TABLE,
    Item: { phone_number: { S: phone }, consent_status: { S: 'opted_out' }, opt_out_method: { S: 'manual' }, version: { N: '1' } },
  });
  const end = await d.waitForLog((l) => l.event === 'reply.suppressed' && l.inbound_message_id === id, WAIT_MS);
  assert.equal(end.reply_kind, 'answer');
  assert.equal((await superseded(d, id)).inbound_message_id, id);
  assert.equal(sentTo(phone).length, 0);
  assert.match((await d.request({ path: '/metrics' })).body, /^twowayd_replies_suppressed_total 1$/m);
  await d.stop();
  const row = dump(d.dir).find((r) => r.inbound_message_id === id);
  assert.equal(row.state, 'superseded');
  assert.equal(row.reply_state, 'none');
});

test('kill -9 while the STOP confirmation is being sent: exactly one confirmation, the earlier message never answered', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const phone = newPhone();
  const agent = heldAgent(phone);
  t.after(() => agent.release());
  // Hold the confirmation at the stand-in: it arrives, then completes after the kill.
  const arrived = holdSends(t, phone);
  const d1 = await daemon(t, { dir });
  const hello = await d1.send(phone, 'Please send me the lease');
  await waitFor(() => agent.arrived.length === 1, { timeoutMs: WAIT_MS, what: 'the held agent call' });
  const stop = await d1.send(phone, 'STOP');
  await waitFor(arrived, { timeoutMs: WAIT_MS, what: 'the confirmation at the stand-in' });
  d1.signal('SIGKILL');
  await d1.waitForExit();
  await waitFor(() => sentTo(phone).length === 1, { timeoutMs: WAIT_MS, what: 'the held confirmation' });
  agent.release();
  const d2 = await daemon(t, { dir });
  const end = await d2.outcome(stop);
  assert.equal(end.event, 'pipeline.dead');
  assert.match(end.reason, /reply state unknown/);
  await marker(d2);
  await d2.stop();
  assert.deepEqual(sentTo(phone).map((m) => m.MessageBody), [OPT_OUT_REPLY]);
  assert.equal((await consentItem(phone)).consent_status.S, 'opted_out');
  const row = dump(dir).find((r) => r.inbound_message_id === hello);
  assert.ok(['superseded', 'done'].includes(row.state), row.state);
  assert.equal(row.reply_state, 'none');
});

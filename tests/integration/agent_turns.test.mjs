// Agent turns against the real binary: what each InvokeAgent carries
// (inboundMessageId, the date in [agent] time_zone, operator attributes), the
// at-most-once rule (never again once an answer stream began; one more call
// after a call with no response byte; across kill -9), return of control
// without a handler, STOP ending the session, and the settings -t refuses.
// Loopback only; every wait is bounded and waits for a condition.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { BIN, TOOLS, configText, sendSms, standinConfigText, tempDir, testDaemon, waitFor } from './lib/daemon.mjs';
import { standinHooks } from './lib/standin_hooks.mjs';

const TABLE = 'twowayd-consent';
const OUR_NUMBER = '+18005550199';
const WAIT_MS = 20000;
const FALLBACK_REPLY = "Sorry, we can't answer right now. Please try again later.";

let standin;
standinHooks({ consentTable: TABLE, ourNumber: OUR_NUMBER, started: (s) => { standin = s; } });

let seq = 0;
const newPhone = () => `+1425555${String(6000 + seq++).padStart(4, '0')}`;
const sessionOf = (phone) => `p${phone.slice(1)}`;

function agentConfig(dir, agent = [], log = 'info') {
  return standinConfigText(standin, {
    spoolDir: dir,
    log,
    tail: ['[sms]', 'max_per_second = 1000', '[dispatch]', 'retry_initial_ms = 50', 'retry_max_ms = 200'].join('\n'),
  })
    .replace('agent_alias_id = ALIAS12345', ['agent_alias_id = ALIAS12345',
      ...(agent.some((l) => l.startsWith('timeout_ms')) ? [] : ['timeout_ms = 1000']), ...agent].join('\n'));
}

async function daemon(t, { agent = [], dir, env = {}, bin, log } = {}) {
  const d = await testDaemon(t, { dir, config: (dir) => agentConfig(dir, agent, log), env: { ...standin.env(), ...env }, bin });
  d.send = (from, body, inboundMessageId) => sendSms(standin, d, { from, to: OUR_NUMBER, body, inboundMessageId });
  d.outcome = (id) => d.waitForLog((l) => l.inbound_message_id === id && ['sms.sent', 'pipeline.dead'].includes(l.event), WAIT_MS);
  return d;
}

const sentTo = (phone) => standin.sms.sent().filter((m) => m.DestinationPhoneNumber === phone);
const invocations = (phone) => standin.bedrock.invocations().filter((i) => i.sessionId === sessionOf(phone));
const idsOf = (phone) => invocations(phone).map((i) => i.sessionState?.sessionAttributes?.inboundMessageId);

function dump(dir, { live = false } = {}) {
  const r = spawnSync(join(TOOLS, 'spool-dump'), [...(live ? ['--live'] : []), dir], { encoding: 'utf8', timeout: 10000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

async function metric(d, name) {
  const r = await d.request({ path: '/metrics' });
  return r.body.split('\n').filter((l) => l.startsWith(name)).join('\n');
}

// ---- what the agent receives -------------------------------------------------------------

test('the agent receives the message id, the date in the configured zone, and the operator attributes', async (t) => {
  // 2026-12-02 17:30:05 UTC: 09:30 on Wednesday in Los Angeles.
  const d = await daemon(t, {
    bin: join(TOOLS, 'twowayd-ut'),
    env: { TWOWAYD_TEST_NOW: '1796232605' },
    agent: ['time_zone = America/Los_Angeles', 'session_attributes = propertyName = Maple Court, office = +14255550100'],
  });
  const phone = newPhone();
  const id = await d.send(phone, 'Can I come tomorrow at 2pm?');
  assert.equal((await d.outcome(id)).event, 'sms.sent');
  const [inv] = invocations(phone);
  assert.deepEqual(inv.sessionState.sessionAttributes, {
    propertyName: 'Maple Court', office: '+14255550100',
    originationNumber: phone, destinationNumber: OUR_NUMBER, inboundMessageId: id,
  });
  assert.deepEqual(inv.sessionState.promptSessionAttributes, {
    propertyName: 'Maple Court', office: '+14255550100', inboundMessageId: id, textedNumber: OUR_NUMBER,
    currentDate: '2026-12-02', currentTime: '09:30', currentDateTime: '2026-12-02T09:30:05-08:00',
    weekday: 'Wednesday', timeZone: 'America/Los_Angeles',
  });
  assert.equal(inv.body.enableTrace, undefined);
  assert.equal(inv.inputText, 'Can I come tomorrow at 2pm?');
});

test('the production daemon describes the real clock, in UTC by default', async (t) => {
  const d = await daemon(t, { env: { TWOWAYD_TEST_NOW: '1796232605' } });
  const phone = newPhone();
  const before = Date.now();
  const id = await d.send(phone, 'What day is it?');
  await d.outcome(id);
  const attrs = invocations(phone)[0].sessionState.promptSessionAttributes;
  assert.equal(attrs.timeZone, 'UTC');
  const t0 = Date.parse(attrs.currentDateTime);
  assert.ok(t0 >= Math.floor(before / 1000) * 1000 - 1000 && t0 <= Date.now(), `${attrs.currentDateTime} is now, not the test hook`);
  assert.match(attrs.currentDateTime, /\+00:00$/);
});

// ---- at most once ------------------------------------------------------------------------

test('a timeout before any byte: exactly one more call, with the same message id', async (t) => {
  const d = await daemon(t);
  const phone = newPhone();
  let n = 0;
  standin.bedrock.setResponder((text) => (n++ === 0 ? { hang: true } : `Answer to ${text}`));
  const id = await d.send(phone, 'Add note: prefer mornings');
  assert.equal((await d.outcome(id)).event, 'sms.sent');
  assert.deepEqual(idsOf(phone), [id, id]);
  assert.deepEqual(sentTo(phone).map((m) => m.MessageBody), ['Answer to Add note: prefer mornings']);

  // Both calls time out: two calls, then the fallback once.
  const p2 = newPhone();
  standin.bedrock.setResponder(() => ({ hang: true }));
  const id2 = await d.send(p2, 'Add note: call first');
  assert.equal((await d.outcome(id2)).event, 'sms.sent');
  assert.deepEqual(idsOf(p2), [id2, id2]);
  assert.deepEqual(sentTo(p2).map((m) => m.MessageBody), [FALLBACK_REPLY]);
  assert.ok(d.logs.some((l) => l.event === 'agent.not_repeated' && l.inbound_message_id === id2));
  await d.stop();
  const row = dump(d.dir).find((r) => r.inbound_message_id === id2);
  assert.deepEqual([row.state, row.agent_calls, row.agent_streamed], ['done', 2, false]);
});

test('the stream cut after the first chunk: no second call, the fallback once', async (t) => {
  const d = await daemon(t);
  const phone = newPhone();
  standin.bedrock.setResponder(() => ({ events: [{ chunk: 'Booked for ' }], cut: true }));
  const id = await d.send(phone, 'Book me for Tuesday');
  assert.equal((await d.outcome(id)).event, 'sms.sent');
  assert.equal(invocations(phone).length, 1);
  assert.deepEqual(sentTo(phone).map((m) => m.MessageBody), [FALLBACK_REPLY]);
  assert.ok(d.logs.some((l) => l.event === 'agent.not_repeated' && l.inbound_message_id === id));
  await d.stop();
  const row = dump(d.dir).find((r) => r.inbound_message_id === id);
  assert.deepEqual([row.state, row.agent_calls, row.agent_streamed], ['done', 1, true]);
});

test('kill -9 while the agent call is outstanding: at most one more call, with the same id', async (t) => {
  const tmp = tempDir();
  t.after(tmp.cleanup);
  const phone = newPhone();
  standin.bedrock.setResponder(() => ({ hang: true }));
  // No call times out here: each one ends with the daemon's death, or answers.
  const agent = ['timeout_ms = 60000'];
  const d1 = await daemon(t, { dir: tmp.dir, agent });
  const id = await d1.send(phone, 'Add note: gate code 4411');
  await waitFor(() => invocations(phone).length === 1, { timeoutMs: WAIT_MS, what: 'the first agent call' });
  d1.signal('SIGKILL');
  await d1.waitForExit();

  standin.bedrock.setResponder((text) => `Noted: ${text}`);
  const d2 = await daemon(t, { dir: tmp.dir, agent });
  assert.equal((await d2.outcome(id)).event, 'sms.sent');
  assert.deepEqual(idsOf(phone), [id, id]);
  assert.equal(sentTo(phone).length, 1);

  // Killed after the stream began: never asked again.
  const p2 = newPhone();
  standin.bedrock.setResponder(() => ({ events: [{ chunk: 'Working on it' }], chunkDelayMs: 60000 }));
  const id2 = await d2.send(p2, 'Add note: dog in the yard');
  await waitFor(() => dump(d2.dir, { live: true }).find((r) => r.inbound_message_id === id2)?.agent_streamed,
    { timeoutMs: WAIT_MS, what: 'the stream start recorded' });
  d2.signal('SIGKILL');
  await d2.waitForExit();
  standin.bedrock.setResponder((text) => `Noted: ${text}`);
  const d3 = await daemon(t, { dir: tmp.dir, agent });
  assert.equal((await d3.outcome(id2)).event, 'sms.sent');
  assert.equal(invocations(p2).length, 1);
  assert.deepEqual(sentTo(p2).map((m) => m.MessageBody), [FALLBACK_REPLY]);
});

// ---- every event -------------------------------------------------------------------------

test('citations appended, files and traces counted, every event type in /metrics', async (t) => {
  const d = await daemon(t, { agent: ['citations = append', 'trace = yes'], log: 'debug' });
  const phone = newPhone();
  const web = (url) => ({ location: { type: 'WEB', webLocation: { url } } });
  standin.bedrock.setResponder(() => ({
    events: [
      { trace: { orchestrationTrace: { modelInvocationInput: { text: 'Human: What are your hours?' } } } },
      { chunk: 'Office hours are 9-5.', attribution: { citations: [{ retrievedReferences: [web('https://ex.com/hours')] }] } },
      { files: [{ name: 'hours.csv', type: 'text/csv', bytes: 'YQ==' }] },
    ],
  }));
  const id = await d.send(phone, 'What are your hours?');
  assert.equal((await d.outcome(id)).event, 'sms.sent');
  assert.deepEqual(sentTo(phone).map((m) => m.MessageBody), ['Office hours are 9-5. [1] https://ex.com/hours']);
  assert.equal(invocations(phone)[0].body.enableTrace, true);
  // The trace is logged at debug level, without the customer's words ([log] redact).
  const trace = d.logs.find((l) => l.event === 'agent.trace');
  assert.equal(trace?.agent_trace, 'orchestrationTrace');
  assert.ok(!d.stderrText.some((l) => l.includes('What are your hours')));
  assert.ok(d.logs.some((l) => l.event === 'agent.files' && l.inbound_message_id === id && l.files === '1'));
  const m = await metric(d, 'twowayd_agent_events_total');
  for (const type of ['chunk', 'attribution', 'files', 'trace']) assert.match(m, new RegExp(`type="${type}"\\} 1`), m);
});

test('returnControl without a handler: one fallback and the log event with the action group', async (t) => {
  const d = await daemon(t);
  const phone = newPhone();
  standin.bedrock.setResponder(() => ({
    events: [{ returnControl: { invocationId: 'inv-1', invocationInputs: [{ functionInvocationInput: { actionGroup: 'calendar', function: 'book', parameters: [] } }] } }],
  }));
  const id = await d.send(phone, 'Book Tuesday 2pm');
  assert.equal((await d.outcome(id)).event, 'sms.sent');
  assert.deepEqual(sentTo(phone).map((m) => m.MessageBody), [FALLBACK_REPLY]);
  assert.equal(invocations(phone).length, 1);
  const ev = d.logs.filter((l) => l.event === 'agent.return_control_unsupported' && l.inbound_message_id === id);
  assert.equal(ev.length, 1);
  assert.equal(ev[0].action_group, 'calendar');
  assert.ok(!d.logs.some((l) => l.event === 'agent.empty_answer' && l.inbound_message_id === id));
  assert.match(await metric(d, 'twowayd_agent_return_control_total'), /outcome="unsupported"\} 1/);
  assert.match(await metric(d, 'twowayd_agent_events_total'), /type="returnControl"\} 1/);
});

// A loopback return-of-control handler: records each POST, answers with fn(body).
async function webhookServer(t, fn) {
  const seen = [];
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c) => { data += c; });
    req.on('end', () => {
      const body = JSON.parse(data);
      seen.push({ headers: req.headers, body });
      const { status = 200, json } = fn(body);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(json));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  return { url: `http://127.0.0.1:${server.address().port}/return-control`, seen };
}

const BOOK = { functionInvocationInput: { actionGroup: 'calendar', function: 'book', parameters: [{ name: 'when', type: 'string', value: 'Tuesday 14:00' }] } };
const BOOKED = [{ functionResult: { actionGroup: 'calendar', function: 'book', responseBody: { TEXT: { body: 'booked, ref 7' } } } }];

test('returnControl with a handler: the inputs posted, the results sent back, the final answer texted', async (t) => {
  const hook = await webhookServer(t, () => ({ json: { returnControlInvocationResults: BOOKED } }));
  const d = await daemon(t, { agent: [`return_control_url = ${hook.url}`] });
  const phone = newPhone();
  standin.bedrock.setResponder((text, sid, attrs, info) => {
    const results = info.body.sessionState?.returnControlInvocationResults;
    if (!results) return { events: [{ returnControl: { invocationId: 'inv-7', invocationInputs: [BOOK] } }] };
    return `Done: ${results[0].functionResult.responseBody.TEXT.body}`;
  });
  const id = await d.send(phone, 'Book Tuesday 2pm');
  assert.equal((await d.outcome(id)).event, 'sms.sent');
  assert.deepEqual(sentTo(phone).map((m) => m.MessageBody), ['Done: booked, ref 7']);

  assert.equal(hook.seen.length, 1);
  assert.match(hook.seen[0].headers['content-type'], /^application\/json/);
  assert.deepEqual(hook.seen[0].body, {
    invocationId: 'inv-7', invocationInputs: [BOOK], inboundMessageId: id,
    sessionId: sessionOf(phone), originationNumber: phone, destinationNumber: OUR_NUMBER,
  });
  const calls = invocations(phone);
  assert.equal(calls.length, 2);
  assert.equal(calls[1].inputText, undefined);
  assert.equal(calls[1].sessionState.invocationId, 'inv-7');
  assert.deepEqual(calls[1].sessionState.returnControlInvocationResults, BOOKED);
  assert.deepEqual(idsOf(phone), [id, id]);
  assert.deepEqual(standin.rejected(), []);
  assert.match(await metric(d, 'twowayd_agent_return_control_total'), /outcome="answered"\} 1/);

  // A handler that fails: no second post, the fallback once.
  const p2 = newPhone();
  const bad = await webhookServer(t, () => ({ status: 500, json: { error: 'down' } }));
  await d.stop();
  const d2 = await daemon(t, { agent: [`return_control_url = ${bad.url}`] });
  const id2 = await d2.send(p2, 'Book Wednesday');
  assert.equal((await d2.outcome(id2)).event, 'sms.sent');
  assert.deepEqual(sentTo(p2).map((m) => m.MessageBody), [FALLBACK_REPLY]);
  assert.equal(bad.seen.length, 1);
  assert.equal(invocations(p2).length, 1);
  assert.ok(d2.logs.some((l) => l.event === 'agent.return_control_failed' && l.inbound_message_id === id2));
});

// ---- STOP ends the session ---------------------------------------------------------------

test('STOP ends the agent session, without the keyword', async (t) => {
  const d = await daemon(t);
  const phone = newPhone();
  const id = await d.send(phone, 'STOP');
  await d.waitForLog((l) => l.event === 'agent.session_ended' && l.inbound_message_id === id, WAIT_MS);
  const calls = invocations(phone);
  assert.equal(calls.length, 1);
  assert.equal(calls[0].body.endSession, true);
  assert.equal(calls[0].inputText, undefined);
  assert.equal(calls[0].sessionState.sessionAttributes.inboundMessageId, id);
});

// ---- -t refuses what AWS refuses ---------------------------------------------------------

test('-t refuses each setting AWS would refuse, with its line', () => {
  const tmp = tempDir();
  try {
    const cases = [
      ['[sms]', 'max_price = 1', /max_price: SendTextMessage MaxPrice is 2-8 characters/],
      ['[sms]', 'configuration_set = twowayd.prod', /configuration_set: SendTextMessage ConfigurationSetName must match/],
      ['[sms]', 'origination_identity = pool.main', /origination_identity: SendTextMessage OriginationIdentity must match/],
      ['[agent]', 'time_zone = Mars/Olympus_Mons', /time_zone: no such time zone/],
      ['[agent]', 'session_attributes = inboundMessageId = x', /session_attributes: inboundMessageId is set by twowayd itself/],
    ];
    for (const [section, line, want] of cases) {
      const base = configText({ spoolDir: tmp.dir });
      const text = `${base}\n${section}\n${line}\n`;
      const path = join(tmp.dir, 'bad.conf');
      writeFileSync(path, text);
      const lineNo = text.split('\n').indexOf(line) + 1;
      const r = spawnSync(BIN, ['-t', '-c', path], { encoding: 'utf8', timeout: 10000 });
      assert.notEqual(r.status, 0, line);
      assert.match(r.stderr, new RegExp(`${path}:${lineNo}: `), r.stderr);
      assert.match(r.stderr, want, r.stderr);
    }
  } finally {
    tmp.cleanup();
  }
});

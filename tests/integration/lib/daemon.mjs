// Starts the real twowayd binary for integration tests and watches what it
// says: JSON log lines on stderr and sd_notify datagrams on a socket the test
// owns. Every wait is bounded; nothing sleeps a fixed time.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import readline from 'node:readline';

export const BIN = process.env.TWOWAYD_BIN || new URL('../../../build/twowayd', import.meta.url).pathname;
export const TOOLS = process.env.TWOWAYD_TOOLS || new URL('../../../build/tests/tools', import.meta.url).pathname;
// TWOWAYD_TEST_SLOW=N stretches every bound of this file N times, for a daemon
// that runs slower than usual (e.g. under valgrind).
export const SLOW = Math.max(1, Number(process.env.TWOWAYD_TEST_SLOW) || 1);

// A config with every required key; sections/keys in `extra` are appended
// and may override (a later key in the same section would be a duplicate,
// so callers pass whole sections they own).
export function configText({ port = 0, path = '/sns', log = 'info', maxBody, spoolDir, extraHttp = '', tail = '' } = {}) {
  // Each daemon gets its own spool: a shared one would mix tests' messages.
  if (!spoolDir) throw new Error('configText needs spoolDir');
  return [
    '[http]',
    `listen = 127.0.0.1:${port}`,
    `path = ${path}`,
    ...(maxBody !== undefined ? [`max_body = ${maxBody}`] : []),
    extraHttp,
    '[sns]',
    'topic_arns = arn:aws:sns:us-east-1:123456789012:twowayd-inbound',
    '[consent]',
    'table = twowayd-consent',
    '[agent]',
    'agent_id = AGENT12345',
    'agent_alias_id = ALIAS12345',
    '[spool]',
    `dir = ${spoolDir}`,
    '[log]',
    `level = ${log}`,
    tail,
    '',
  ].join('\n');
}

// configText() for a daemon that takes the stand-in's SNS deliveries: its
// topic, its signing certificates' host and its CA ([aws] ca_bundle, before
// the given tail).
export function standinConfigText(standin, { tail = '', ...opts } = {}) {
  return configText({ ...opts, tail: ['[aws]', `ca_bundle = ${standin.sns.caFile}`, tail].join('\n') })
    .replace(/topic_arns = .*/, `topic_arns = ${standin.sns.topicArn}\nsigning_cert_host = ${standin.sns.signingCertHostRegex}`);
}

export function tempDir(prefix = 'twowayd-test-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

// Resolve when pred() holds, re-checking on every event from `emitter`
// (or every 20 ms when none is given); reject after timeoutMs.
export function waitFor(pred, { timeoutMs = 5000, what = 'condition', emitter, event = 'change' } = {}) {
  return new Promise((resolve, reject) => {
    const check = () => {
      let v;
      try { v = pred(); } catch (e) { done(); reject(e); return true; }
      if (v) { done(); resolve(v); return true; }
      return false;
    };
    const timer = setTimeout(() => { done(); reject(new Error(`timed out after ${timeoutMs * SLOW} ms waiting for ${what}`)); }, timeoutMs * SLOW);
    const poll = emitter ? null : setInterval(check, 20);
    const onEvent = () => check();
    if (emitter) emitter.on(event, onEvent);
    function done() {
      clearTimeout(timer);
      if (poll) clearInterval(poll);
      if (emitter) emitter.off(event, onEvent);
    }
    check();
  });
}

// waitFor for a condition that needs a request (a table's state, its items):
// pred is awaited every 50 ms until it holds; reject after timeoutMs.
export async function waitForAsync(pred, { timeoutMs = 5000, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs * SLOW;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs * SLOW} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// A stand-in for systemd's NOTIFY_SOCKET: each datagram arrives as an array of lines.
export async function notifySocket(dir) {
  const path = join(dir, 'notify.sock');
  const proc = spawn(join(TOOLS, 'notify-listen'), [path], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages = [];
  const events = new (await import('node:events')).EventEmitter();
  readline.createInterface({ input: proc.stdout }).on('line', (line) => {
    messages.push(JSON.parse(line));
    events.emit('change');
  });
  await waitFor(() => messages.some((m) => m.includes('LISTENING=1')), { emitter: events, what: 'notify socket' });
  return {
    path,
    messages,
    events,
    has: (line) => messages.some((m) => m.includes(line)),
    waitFor: (line, timeoutMs = 5000, after = 0) =>
      waitFor(() => messages.slice(after).find((m) => m.some((l) => l === line || l.startsWith(line))), {
        emitter: events, timeoutMs, what: `notification ${line}`,
      }),
    close: () => proc.kill('SIGKILL'),
  };
}

export const SAFE_AWS_ENV = (dir) => ({
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_ENDPOINT_URL: 'http://127.0.0.1:9', // the discard port: nothing listens there
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'AKIDTESTNOTREAL00000',
  AWS_SECRET_ACCESS_KEY: 'test-secret-not-real',
  AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-credentials'),
  AWS_CONFIG_FILE: join(dir, 'no-config'),
  AWS_PROFILE: 'default',
});

// Start twowayd. Resolves once it logged "service.ready" (or exited).
export async function startDaemon({ config, dir, env = {}, args = [], notify, command, waitReady = true, bin = BIN } = {}) {
  const configPath = join(dir, 'twowayd.conf');
  if (config !== undefined) writeFileSync(configPath, config);
  const events = new (await import('node:events')).EventEmitter();
  const logs = [];
  const stderrText = [];
  // Tests talk to loopback only: no instance metadata, no real AWS endpoint,
  // no credentials or profile from the machine. A test's env may point the
  // daemon at the local stand-in instead.
  const childEnv = { ...process.env, ...SAFE_AWS_ENV(dir), ...env };
  for (const [k, v] of Object.entries(childEnv)) if (v === undefined) delete childEnv[k];
  delete childEnv.JOURNAL_STREAM;
  delete childEnv.NOTIFY_SOCKET;
  if (notify) childEnv.NOTIFY_SOCKET = notify.path;
  const argv = command ? [...command, bin, '-c', configPath, ...args] : ['-c', configPath, ...args];
  const proc = spawn(command ? argv.shift() : bin, argv, { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let exit = null;
  // 'close' comes after stderr is drained, so every log line is in by then.
  proc.on('close', (code, signal) => { exit = { code, signal }; events.emit('change'); });
  readline.createInterface({ input: proc.stderr }).on('line', (line) => {
    stderrText.push(line);
    try { logs.push(JSON.parse(line)); } catch { logs.push({ unparsed: line }); }
    events.emit('change');
  });
  const d = {
    proc, logs, stderrText, configPath, events,
    get exit() { return exit; },
    port: null,
    findLog: (event, from = 0) => logs.slice(from).find((l) => l.event === event),
    waitForLog: (event, timeoutMs = 5000, from = 0) =>
      waitFor(() => logs.slice(from).find((l) => (typeof event === 'function' ? event(l) : l.event === event)),
        { emitter: events, timeoutMs, what: `log event ${event}` }),
    waitForExit: (timeoutMs = 5000) => waitFor(() => exit, { emitter: events, timeoutMs, what: 'exit' }),
    signal: (sig) => proc.kill(sig),
    async stop(timeoutMs = 5000) {
      if (exit) return exit;
      proc.kill('SIGTERM');
      try { return await d.waitForExit(timeoutMs); } finally { if (!exit) proc.kill('SIGKILL'); }
    },
    request: (opts) => request({ port: d.port, ...opts }),
  };
  if (!waitReady) return d;
  await waitFor(() => exit || logs.find((l) => l.event === 'service.ready'), { emitter: events, timeoutMs: 10000, what: 'daemon ready' });
  const listening = logs.find((l) => l.event === 'http.listening');
  if (listening) d.port = Number(listening.port);
  return d;
}

// One HTTP request on a fresh connection unless an agent is given.
// A daemon for one test, stopped when the test ends (within stopMs): in dir,
// or in a temporary directory removed after the test; config(dir) is its
// configuration. It must come up; d.dir is its directory, d.url its SNS
// endpoint. TWOWAYD_TEST_LOGS=1 shows what it said (to debug a failure).
export async function testDaemon(t, { dir, config, env, notify, bin, stopMs } = {}) {
  if (!dir) {
    const tmp = tempDir();
    dir = tmp.dir;
    t.after(tmp.cleanup);
  }
  const d = await startDaemon({ dir, config: config(dir), env, notify, bin });
  t.after(async () => {
    await d.stop(stopMs);
    if (process.env.TWOWAYD_TEST_LOGS) t.diagnostic(d.stderrText.filter((l) => !l.includes('aws.attempt')).join('\n'));
  });
  assert.equal(d.exit, null, d.stderrText.join('\n'));
  d.dir = dir;
  d.url = `http://127.0.0.1:${d.port}/sns`;
  return d;
}

// The events that end the processing of one message.
export const FINAL_EVENTS = new Set(['sms.sent', 'pipeline.blocked', 'consent.already_opted_out',
  'pipeline.dead', 'pipeline.already_replied']);

// Resolves with the event that ended the processing of message id at d.
export function outcomeOf(d, id, timeoutMs) {
  return d.waitForLog((l) => l.inbound_message_id === id && FINAL_EVENTS.has(l.event), timeoutMs);
}

// Delivers one inbound SMS, from a sender to our number `to`, to d as SNS
// publishes it; resolves with its inbound message id once d has answered 200
// (stored it). timeoutMs: the delivery's own, when not the stand-in's.
export async function sendSms(standin, d, { from, to, body, inboundMessageId = randomUUID(), timeoutMs }) {
  const msg = standin.sns.notification({
    message: standin.sns.inboundSms({ from, to, body, inboundMessageId }),
  });
  const r = await standin.sns.deliver(d.url, msg, { timeoutMs });
  assert.equal(r.status, 200, r.body);
  return inboundMessageId;
}

export function request({ port, method = 'GET', path = '/', headers = {}, body, agent = false, timeoutMs = 5000 }) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent, timeout: timeoutMs * SLOW }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// The number texted, which replies come from, made one of the stand-in
// account's (SendTextMessage from any other identity is refused, as the
// service refuses it): a short code, so that the service's own rate limit
// never paces a test.
export function ownNumber(standin, phoneNumber) {
  return standin.sms.addPhoneNumber({ phoneNumber, numberType: 'SHORT_CODE' });
}

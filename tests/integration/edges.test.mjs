// Edges under hostile or unlucky conditions, against the real daemon on
// loopback: a second daemon on a live spool, a spool that fails its integrity
// check, the cost of /metrics with a large spool, and the connection policy
// (many connections from one proxy address, slow clients from many). Every
// wait is bounded; 127.0.0.2 and up play other clients.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startStandin } from '../standin/standin.mjs';
import { SAFE_AWS_ENV, SLOW, TOOLS, configText, ownNumber, startDaemon, tempDir, testDaemon, waitFor } from './lib/daemon.mjs';

const CTL = process.env.TWOWAYCTL_BIN ||
  (process.env.TWOWAYD_BIN ? join(process.env.TWOWAYD_BIN, '..', 'twowayctl')
    : new URL('../../build/twowayctl', import.meta.url).pathname);
const OUR_NUMBER = '+18005550199';

let standin;
before(async () => {
  standin = await startStandin({ sns: true, consentTable: 'twowayd-consent' });
  ownNumber(standin, OUR_NUMBER);
});
after(async () => { await standin?.close(); });

function config(dir, { extraHttp = '', tail = '' } = {}) {
  return configText({
    spoolDir: dir,
    extraHttp,
    tail: ['[aws]', `ca_bundle = ${standin.sns.caFile}`, '[sms]', `origination_identity = ${OUR_NUMBER}`, tail].join('\n'),
  }).replace(/topic_arns = .*/, `topic_arns = ${standin.sns.topicArn}\nsigning_cert_host = ${standin.sns.signingCertHostRegex}`);
}

function daemon(t, { dir, ...opts } = {}) {
  // A drain may wait for a held AWS call.
  return testDaemon(t, { dir, config: (d) => config(d, opts), env: standin.env(), stopMs: 15000 });
}

function run(cmd, args, env = {}) {
  const { dir } = tempDir();
  const childEnv = { ...process.env, ...SAFE_AWS_ENV(dir), ...standin.env(), ...env };
  delete childEnv.JOURNAL_STREAM;
  return new Promise((resolve) => {
    execFile(cmd, args, { env: childEnv, encoding: 'utf8', timeout: 30000 },
      (err, stdout, stderr) => resolve({ code: err ? (err.code ?? err.signal) : 0, stdout, stderr }));
  });
}
const ctl = (d, args) => run(CTL, ['-c', d.configPath, ...args]);
const spoolRows = async (d) => {
  const r = await ctl(d, ['spool', 'ls', '--state', 'any', '--limit', '1024', '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
};

let seq = 0;
function inbound(body = 'Hello') {
  const n = ++seq;
  const from = `+1425555${String(1000 + n).slice(-4)}`;
  return standin.sns.notification({ message: standin.sns.inboundSms({ from, to: OUR_NUMBER, body }) });
}

// ---- the spool ------------------------------------------------------------------------------

test('a second daemon on the same spool exits before touching a row', async (t) => {
  const a = await daemon(t);
  // The consent look-up of this message hangs, so its row stays in progress:
  // the row a second daemon's crash recovery would wrongly reset.
  standin.faults.push('dynamodb', { delayMs: 4000 });
  const res = await standin.sns.deliver(a.url, inbound('first'));
  assert.equal(res.status, 200, res.body);
  let rows;
  const deadline = Date.now() + 5000;
  do {
    rows = await spoolRows(a);
  } while (rows.counts.in_progress !== 1 && Date.now() < deadline);
  assert.equal(rows.counts.in_progress, 1, JSON.stringify(rows.counts));
  const before = JSON.stringify(rows.rows);

  const b = await startDaemon({ dir: a.dir, config: config(a.dir), env: standin.env() });
  t.after(() => b.stop());
  await b.waitForExit(5000);
  assert.notEqual(b.exit.code, 0);
  const locked = b.findLog('spool.locked');
  assert.ok(locked, b.stderrText.join('\n'));
  assert.equal(locked.holder_pid, String(a.proc.pid));
  assert.match(locked.msg, /in use by another twowayd/);
  assert.equal(b.findLog('http.listening'), undefined);

  const after = await spoolRows(a);
  assert.equal(JSON.stringify(after.rows), before, 'the second daemon changed no row');
  assert.equal(after.counts.in_progress, 1);
  assert.equal(a.exit, null);
});

test('a corrupt spool is moved aside, inbound keeps flowing, salvage brings the rows back', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  let d = await daemon(t, { dir });
  const old = [];
  for (let i = 0; i < 3; i++) {
    const msg = inbound(`HELP ${i}`);
    old.push(msg.json.MessageId);
    const res = await standin.sns.deliver(d.url, msg);
    assert.equal(res.status, 200, res.body);
  }
  await d.stop();
  const corrupt = await run(join(TOOLS, 'spool-corrupt'), [dir]);
  assert.equal(corrupt.code, 0, corrupt.stderr);

  d = await daemon(t, { dir });
  const crit = d.findLog('spool.corrupt');
  assert.ok(crit, d.stderrText.join('\n'));
  assert.equal(crit.level, 'crit');
  assert.match(crit.moved_to, /\/spool\.db\.corrupt-\d{8}T\d{6}Z$/);
  const fresh = inbound('HELP fresh');
  const res = await standin.sns.deliver(d.url, fresh);
  assert.equal(res.status, 200, res.body);
  let rows = await spoolRows(d);
  assert.deepEqual(rows.rows.map((w) => w.sns_message_id), [fresh.json.MessageId]);

  const salvage = await ctl(d, ['spool', 'salvage', crit.moved_to, '--json']);
  assert.equal(salvage.code, 0, salvage.stderr);
  assert.deepEqual(JSON.parse(salvage.stdout), {
    file: crit.moved_to, read: 3, imported: 3, duplicates: 0, unreadable: 0, read_errors: 0,
  });
  rows = await spoolRows(d);
  assert.deepEqual(rows.rows.map((w) => w.sns_message_id).sort(), [...old, fresh.json.MessageId].sort());
  // Again: nothing twice.
  const again = await ctl(d, ['spool', 'salvage', crit.moved_to]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /0 imported, 3 already in the spool/);
  assert.equal((await spoolRows(d)).rows.length, 4);
});

// ---- /metrics --------------------------------------------------------------------------------

test('/metrics with 300,000 rows in the spool: the spool gauges read no table', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const fill = await run(join(TOOLS, 'spool-fill'), [dir, '300000']);
  assert.equal(fill.code, 0, fill.stderr);
  const d = await daemon(t, { dir });
  const scrape = async () => {
    const r = await getFrom(d.port, '/metrics');
    assert.equal(r.status, 200);
    return r.body;
  };
  await scrape();
  const a = await scrape();
  const b = await scrape();
  assert.equal(metric(b, 'twowayd_spool_messages', '{state="done"}'), 300000);
  // The work of one scrape, in SQLite steps: a count of the table would take
  // at least one step per row.
  const steps = metric(b, 'twowayd_spool_sql_steps_total') - metric(a, 'twowayd_spool_sql_steps_total');
  assert.ok(steps >= 0 && steps < 1000, `one scrape took ${steps} SQLite steps`);
});

// ---- connections ------------------------------------------------------------------------------

// A raw TCP connection from `local` (127.0.0.0/8), tracked: 'open' once
// connected, 'closed' when the server (or we) closed it; data as received.
function rawConnect(port, local) {
  return new Promise((resolve) => {
    const c = { local, state: 'connecting', data: '' };
    c.socket = net.connect({ host: '127.0.0.1', port, localAddress: local });
    c.socket.on('connect', () => { c.state = 'open'; resolve(c); });
    c.socket.on('data', (b) => { c.data += b.toString(); });
    c.socket.on('error', (e) => { c.error = e.code; });
    c.socket.on('close', () => { c.state = 'closed'; resolve(c); });
  });
}

// GET from a given local address on a fresh connection.
function getFrom(port, path, local = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, localAddress: local, agent: false, timeout: 5000 * SLOW }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

function metric(text, name, labels = '') {
  const re = new RegExp(`^${name}${labels.replace(/[{}"]/g, '\\$&')} (\\d+)$`, 'm');
  const m = re.exec(text);
  return m ? Number(m[1]) : null;
}

const PARTIAL_HEAD = 'POST /sns HTTP/1.1\r\nHost: 127.0.0.1\r\nx-amz-sns-message-type: Notification\r\n';

test('128 concurrent deliveries from one address, each on its own connection: all acknowledged first time', async (t) => {
  const d = await daemon(t);
  const msgs = Array.from({ length: 128 }, () => inbound('HELP'));
  const results = await Promise.all(msgs.map((m) => standin.sns.deliver(d.url, m).catch((e) => ({ status: 0, body: String(e) }))));
  assert.deepEqual(results.filter((r) => r.status !== 200), [], 'every delivery answered 200 on its first attempt');
  const rows = await spoolRows(d);
  assert.deepEqual(rows.rows.map((w) => w.sns_message_id).sort(), msgs.map((m) => m.json.MessageId).sort());
  const m = (await getFrom(d.port, '/metrics')).body;
  assert.equal(metric(m, 'twowayd_http_connections_closed_total', '{reason="evicted"}'), 0);
  assert.equal(metric(m, 'twowayd_http_connections_closed_total', '{reason="refused_full"}'), 0);
  assert.equal(d.findLog('http.connections_shed'), undefined);
});

test('600 slow connections from 12 addresses: a fresh delivery is acknowledged within 1 s, evictions logged once and counted', async (t) => {
  const d = await daemon(t); // max_connections 512, no per-address limit
  const all = [];
  let trickle;
  t.after(() => { clearInterval(trickle); for (const c of all) c.socket.destroy(); });
  // 12 addresses, 50 connections each, every one sending half a request head.
  for (let a = 2; a <= 13; a++) {
    const conns = await Promise.all(Array.from({ length: 50 }, () => rawConnect(d.port, `127.0.0.${a}`)));
    for (const c of conns) if (c.state === 'open') c.socket.write(PARTIAL_HEAD);
    all.push(...conns);
  }
  // ... and going on slowly, one header byte at a time.
  let i = 0;
  trickle = setInterval(() => { for (const c of all) if (c.state === 'open') c.socket.write('X-Slow: 1\r\n'[i % 11]); i++; }, 200);
  // The table holds 512: the oldest waiting connections made room for the rest.
  await waitFor(() => all.filter((c) => c.state === 'open').length <= 512, { timeoutMs: 5000, what: 'the table bounded at max_connections' });
  assert.ok(all.filter((c) => c.state === 'closed').length >= 600 - 512);
  assert.ok(all.filter((c) => c.state === 'closed').every((c) => c.data === ''), 'closed without an answer');

  const t0 = performance.now();
  const res = await standin.sns.deliver(d.url, inbound('HELP now'));
  const took = performance.now() - t0;
  assert.equal(res.status, 200, res.body);
  assert.ok(took < 1000 * SLOW, `acknowledged within 1 s (took ${took.toFixed(0)} ms)`);

  const m = (await getFrom(d.port, '/metrics')).body;
  assert.ok(metric(m, 'twowayd_http_connections_closed_total', '{reason="evicted"}') >= 600 - 512 + 1, m);
  assert.equal(metric(m, 'twowayd_http_connections_closed_total', '{reason="refused_full"}'), 0);
  // Rate-limited: one warning so far, counting the first eviction; the rest
  // are summed into the next report.
  const shed = d.logs.filter((l) => l.event === 'http.connections_shed');
  assert.equal(shed.length, 1, JSON.stringify(shed));
  assert.equal(shed[0].level, 'warning');
  assert.equal(shed[0].evicted, '1');
});

test('request_timeout closes slow and idle connections; a request in progress is never cut, and with nothing to evict a new connection is refused', async (t) => {
  const d = await daemon(t, { extraHttp: ['max_connections = 8', 'request_timeout = 1', 'metrics_listen = 127.0.0.1:0'].join('\n') });
  const listening = d.findLog('http.metrics_listening');
  assert.ok(listening, d.stderrText.join('\n'));
  const mport = Number(listening.port);
  const all = [];
  t.after(() => { for (const c of all) c.socket.destroy(); });

  // The SNS listener no longer serves /metrics; the metrics listener does.
  assert.equal((await getFrom(d.port, '/metrics')).status, 404);
  assert.equal((await getFrom(mport, '/metrics')).status, 200);
  assert.equal((await getFrom(mport, '/sns')).status, 404);

  // A slow client and an idle one: both closed at the deadline, unanswered.
  const slow = await rawConnect(d.port, '127.0.0.2');
  const idle = await rawConnect(d.port, '127.0.0.3');
  all.push(slow, idle);
  slow.socket.write(PARTIAL_HEAD);
  const drip = setInterval(() => { if (slow.state === 'open') slow.socket.write('X'); }, 100);
  await waitFor(() => slow.state === 'closed' && idle.state === 'closed', { timeoutMs: 5000, what: 'both closed at the request deadline' });
  clearInterval(drip);
  assert.equal(slow.data + idle.data, '');
  let m = (await getFrom(mport, '/metrics')).body;
  assert.equal(metric(m, 'twowayd_http_connections_closed_total', '{reason="request_timeout"}'), 2);

  // Eight deliveries wait on a slow certificate fetch: eight requests in
  // progress, the table full.
  standin.faults.push('sns', { delayMs: 3000 });
  const pending = Array.from({ length: 8 }, () => standin.sns.deliver(d.url, inbound('HELP')));
  for (let i = 0; ; i++) {
    m = (await getFrom(mport, '/metrics')).body;
    if (metric(m, 'twowayd_http_requests_in_progress') === 8) break;
    assert.ok(i < 200, 'eight requests in progress');
  }
  // A ninth connection: nothing is waiting, so it is refused, and the eight
  // are answered, past the request deadline of 1 s.
  const extra = await rawConnect(d.port, '127.0.0.4');
  all.push(extra);
  extra.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitFor(() => extra.state === 'closed', { timeoutMs: 5000, what: 'the ninth connection refused' });
  assert.equal(extra.data, '');
  const answers = await Promise.all(pending);
  assert.deepEqual(answers.map((r) => r.status), Array(8).fill(200));
  m = (await getFrom(mport, '/metrics')).body;
  assert.equal(metric(m, 'twowayd_http_connections_closed_total', '{reason="refused_full"}'), 1);
  assert.equal(metric(m, 'twowayd_http_connections_closed_total', '{reason="evicted"}'), 0);
});

test('metrics_allow: /metrics only for the listed addresses', async (t) => {
  const d = await daemon(t, { extraHttp: 'metrics_allow = 127.0.0.2, 10.0.0.0/8' });
  assert.equal((await getFrom(d.port, '/metrics', '127.0.0.1')).status, 403);
  const ok = await getFrom(d.port, '/metrics', '127.0.0.2');
  assert.equal(ok.status, 200);
  assert.match(ok.body, /^twowayd_http_connections /m);
  assert.equal((await getFrom(d.port, '/healthz', '127.0.0.1')).status, 200);
  const refused = d.findLog('http.metrics_refused');
  assert.ok(refused);
  assert.equal(refused.client, '127.0.0.1');
});

// ---- certificate fetches and subscription confirmations ------------------------------------

test('certificate fetches have a budget of their own: 4 per host, the rest 503; replies go out meanwhile', async (t) => {
  const d = await daemon(t);
  t.after(() => standin.faults.clear('sns'));
  const sentTo = (phone) => standin.sms.sent().filter((m) => m.DestinationPhoneNumber === phone);
  // The signing certificate is cached by a first delivery.
  const first = inbound('HELP');
  assert.equal((await standin.sns.deliver(d.url, first)).status, 200);

  // 20 POSTs naming fresh certificate URLs on a host that answers slowly.
  const fetchesBefore = standin.sns.fetches().length;
  for (let i = 0; i < 20; i++) standin.faults.push('sns', { delayMs: 3000 });
  const fresh = Array.from({ length: 20 }, (_, i) => standin.sns.notification({
    message: standin.sns.inboundSms({ to: OUR_NUMBER, body: 'x' }),
    certUrl: `${standin.sns.url}/SimpleNotificationService-${(0xabc000 + i).toString(16)}.pem`,
  }));
  const refused = [];
  const answers = fresh.map((m) => standin.sns.deliver(d.url, m).then((r) => { refused.push(r); return r; }));
  await waitFor(() => refused.length >= 16, { timeoutMs: 2000, what: 'the deliveries over the budget answered' });
  assert.equal(refused.length, 16, 'all but the budget answered at once');
  assert.ok(refused.every((r) => r.status === 503 && /too many certificate fetches/.test(r.body)), JSON.stringify(refused[0]));
  await waitFor(() => standin.sns.fetches().length - fetchesBefore >= 4, { timeoutMs: 2000, what: 'the four fetches to reach the host' });

  // A signed delivery meanwhile is stored, answered and replied to.
  const phone = '+14255550777';
  const msg = standin.sns.notification({ message: standin.sns.inboundSms({ from: phone, to: OUR_NUMBER, body: 'HELP' }) });
  assert.equal((await standin.sns.deliver(d.url, msg)).status, 200);
  await waitFor(() => sentTo(phone).length === 1, { timeoutMs: 2000, what: 'the reply while the fetches hang' });
  const slow = await Promise.all(answers);
  assert.equal(slow.filter((r) => r.status === 503).length, 20);
  assert.equal(standin.sns.fetches().length - fetchesBefore, 4, 'four fetches to the one host, no more');
});

test('SubscriptionConfirmation: refused when older than the window, one fetch per MessageId, at most 8 pending', async (t) => {
  const d = await daemon(t);
  t.after(() => standin.faults.clear('sns'));
  const confirms = () => standin.sns.requests().filter((r) => r.kind === 'confirm').length;
  const before = confirms();

  const old = standin.sns.subscriptionConfirmation({ timestamp: new Date(Date.now() - 8 * 86400e3).toISOString() });
  const r1 = await standin.sns.deliver(d.url, old);
  assert.equal(r1.status, 403);
  assert.match(r1.body, /older than the redelivery window/);

  const conf = standin.sns.subscriptionConfirmation({});
  assert.equal((await standin.sns.deliver(d.url, conf)).status, 200);
  await d.waitForLog('sns.subscription_confirmed');
  const again = await standin.sns.deliver(d.url, conf);
  assert.equal(again.status, 200);
  assert.equal(again.body, 'duplicate\n');
  assert.equal(confirms() - before, 1, 'one GET of SubscribeURL for two copies of the old and one new');

  // Eight confirmations whose SubscribeURL answers slowly: the ninth is 503.
  for (let i = 0; i < 8; i++) standin.faults.push('sns', { delayMs: 2000 });
  for (let i = 0; i < 8; i++) assert.equal((await standin.sns.deliver(d.url, standin.sns.subscriptionConfirmation({}))).status, 200);
  const ninth = await standin.sns.deliver(d.url, standin.sns.subscriptionConfirmation({}));
  assert.equal(ninth.status, 503);
  assert.match(ninth.body, /too many subscription confirmations/);
  await waitFor(() => d.logs.filter((l) => l.event === 'sns.subscription_confirmed').length === 9,
    { timeoutMs: 10000, what: 'the eight slow confirmations done' });
});

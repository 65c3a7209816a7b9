// Edges under hostile or unlucky conditions, against the real daemon on
// loopback: a second daemon on a live spool, a spool that fails its integrity
// check, the cost of /metrics with a large spool, and the connection policy
// (many connections from one proxy address, slow clients from many). Every
// wait is bounded; 127.0.0.2 and up play other clients.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { startStandin } from '../standin/standin.mjs';
import { SAFE_AWS_ENV, TOOLS, configText, startDaemon, tempDir, waitFor } from './lib/daemon.mjs';

const CTL = process.env.TWOWAYCTL_BIN ||
  (process.env.TWOWAYD_BIN ? join(process.env.TWOWAYD_BIN, '..', 'twowayctl')
    : new URL('../../build/twowayctl', import.meta.url).pathname);
const OUR_NUMBER = '+18005550199';

let standin;
before(async () => { standin = await startStandin({ sns: true, consentTable: 'twowayd-consent' }); });
after(async () => { await standin?.close(); });

function config(dir, { extraHttp = '', tail = '' } = {}) {
  return configText({
    spoolDir: dir,
    extraHttp,
    tail: ['[aws]', `ca_bundle = ${standin.sns.caFile}`, '[sms]', `origination_identity = ${OUR_NUMBER}`, tail].join('\n'),
  }).replace(/topic_arns = .*/, `topic_arns = ${standin.sns.topicArn}\nsigning_cert_host = ${standin.sns.signingCertHostRegex}`);
}

async function daemon(t, { dir, ...opts } = {}) {
  if (!dir) {
    const tmp = tempDir();
    t.after(tmp.cleanup);
    dir = tmp.dir;
  }
  const d = await startDaemon({ dir, config: config(dir, opts), env: standin.env() });
  t.after(() => d.stop(15000)); // a drain may wait for a held AWS call
  assert.equal(d.exit, null, d.stderrText.join('\n'));
  d.dir = dir;
  d.url = `http://127.0.0.1:${d.port}/sns`;
  return d;
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

// make check-systemd: the .deb in a booted Debian 12 (systemd 252 as PID 1,
// journald, the packaged units unchanged), against the local AWS stand-in on
// this machine's loopback. Run by tests/systemd/run-systemd-test, which makes
// the root file system and cleans up whatever this file leaves behind.
//
// The checks run in order, each on the state the previous one left:
//   1. the package installs: user, /etc/twowayd root:twowayd 0750, conffile 0640
//   2. a config broken at start: the unit ends "failed" (start-limit-hit), deterministically
//   3. deployment 1, behind a proxy on [http] listen: start reaches active (running);
//      /etc/twowayd stays read-only for the service and keeps its mode
//   4. a signed SNS delivery over HTTP is acknowledged and answered
//   5. systemctl reload, good config: rc 0, and the new config is in effect when it returns
//   6. systemctl reload, broken config: the job fails, same PID, still serving
//   7. reload waits for the daemon (a stopped daemon keeps the job running)
//   8. the watchdog timestamp advances
//   9. kill -9 mid-work: restarted, every acknowledged message answered exactly once
//  10. systemctl stop exits 0, the unit ends inactive with result success
//  11. deployment 2, natively on 443 through the socket unit with [http] tls_cert:
//      a delivery over https:// starts the service and is answered; plain HTTP is refused
//  12. the journal: TWOWAY_EVENT and per-event fields, masked numbers, the caller's CODE_FILE
//  13. systemd-analyze security rates twowayd.service 1.5 or better
//
// Environment (from run-systemd-test): SYSTEMD_ROOT (the cached root, used
// read-only through an overlay), SYSTEMD_DEB, SYSTEMD_OUT (for the console
// log), SYSTEMD_PIDS (where the PIDs to kill afterwards are recorded).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFileSync, copyFileSync, mkdirSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { startStandin } from '../standin/standin.mjs';
import { ownNumber, request, waitFor } from '../integration/lib/daemon.mjs';

const ROOT = process.env.SYSTEMD_ROOT;
const DEB = process.env.SYSTEMD_DEB;
const OUT = process.env.SYSTEMD_OUT;
const PIDS = process.env.SYSTEMD_PIDS;
if (!ROOT || !DEB || !OUT || !PIDS) throw new Error('run through tests/systemd/run-systemd-test (make check-systemd)');

const MACHINE = 'twowayd-check';
const SHARE_IN = '/mnt/twowayd-test'; // the host's share directory, read-only in the container
const TABLE = 'twowayd-consent';
const OUR_NUMBER = '+18005550199';
const HTTPS_PORT = 443;

let standin;
let share;
let nspawn;
let nspawnExit = null;
let init; // the container's PID 1, as a host PID
let httpPort;

// ---- the container ----------------------------------------------------------

// A command inside the container (all its namespaces), with a clean
// environment. Resolves {code, stdout, stderr}; never rejects.
function sh(cmd, { timeoutMs = 60000 } = {}) {
  return new Promise((resolve) => {
    execFile('nsenter', ['-t', String(init), '-a', '/usr/bin/env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin',
      'LANG=C.UTF-8', 'SYSTEMD_COLORS=0', 'SYSTEMD_PAGER=', '/bin/sh', '-c', cmd],
    { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : (err.killed ? 'timeout' : err.code)) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

// The same, but the command must succeed; returns its stdout.
async function run(cmd, opts) {
  const r = await sh(cmd, opts);
  assert.equal(r.code, 0, `in the container: ${cmd}\nexit ${r.code}\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

async function props(unit, names) {
  const out = await run(`systemctl show ${names.map((n) => `-p ${n}`).join(' ')} ${unit}`);
  return Object.fromEntries(out.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

async function journal(filter = '') {
  const out = await run(`journalctl --no-pager -o json -u twowayd ${filter}`);
  return out.split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

// waitFor for conditions that need a command in the container: re-checked
// every 250 ms until truthy (resolves with the value), bounded by timeoutMs.
async function waitUntil(pred, { timeoutMs, what }) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function childrenOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch { return []; }
}

function isNamespaceInit(pid) {
  try {
    return /^NSpid:\s+\d+\s+1$/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch { return false; }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
  });
}

function portIsFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.on('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

async function boot() {
  const consoleLog = openSync(join(OUT, 'console.log'), 'w');
  nspawn = spawn('systemd-nspawn', ['--quiet', '--boot', `--directory=${ROOT}`, `--machine=${MACHINE}`,
    '--register=no', '--keep-unit', '--volatile=overlay', '--timezone=off', '--resolv-conf=off',
    `--bind-ro=${share}:${SHARE_IN}`],
  { env: { ...process.env, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '1' }, stdio: ['ignore', consoleLog, consoleLog] });
  closeSync(consoleLog);
  appendFileSync(PIDS, `systemd-nspawn ${nspawn.pid}\n`);
  nspawn.on('exit', (code, signal) => { nspawnExit = { code, signal }; });
  init = await waitFor(() => {
    if (nspawnExit) throw new Error(`systemd-nspawn exited (${JSON.stringify(nspawnExit)}); see ${OUT}/console.log`);
    return childrenOf(nspawn.pid).find(isNamespaceInit);
  }, { timeoutMs: 30000, what: "the container's init" });
  appendFileSync(PIDS, `container-init ${init}\n`);
  // "offline" until PID 1 answers on its private socket; then --wait waits for the boot.
  const state = await waitUntil(async () => {
    const s = (await sh('systemctl is-system-running --wait', { timeoutMs: 90000 })).stdout.trim();
    return ['offline', 'unknown', ''].includes(s) ? null : s;
  }, { timeoutMs: 90000, what: 'the container to boot' });
  if (state !== 'running') {
    const failed = await sh('systemctl --failed --no-legend');
    assert.equal(state, 'degraded', `the container did not boot: ${state}\n${failed.stdout}`);
    console.log(`# booted degraded; failed units: ${failed.stdout.trim()}`);
  }
}

async function shutdown() {
  if (!nspawn || nspawnExit) return;
  // SIGTERM makes systemd-nspawn power the container off cleanly (once its
  // systemd is far enough into the boot to handle the request).
  nspawn.kill('SIGTERM');
  try {
    await waitFor(() => nspawnExit, { timeoutMs: 20000, what: 'the container to power off' });
  } catch {
    // Killing the container's init ends every process of its PID namespace.
    if (init) process.kill(init, 'SIGKILL');
    try {
      await waitFor(() => nspawnExit, { timeoutMs: 10000, what: 'systemd-nspawn to exit' });
    } catch {
      nspawn.kill('SIGKILL');
    }
  }
}

// ---- what goes into the container --------------------------------------------

function serviceEnvironment() {
  // The daemon takes credentials from the instance metadata service (the
  // stand-in's IMDSv2), as on EC2: no keys in its environment.
  const env = standin.env();
  const keep = ['AWS_ENDPOINT_URL_DYNAMODB', 'AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME',
    'AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2', 'AWS_EC2_METADATA_SERVICE_ENDPOINT'];
  return ['[Service]', ...keep.map((k) => `Environment=${k}=${env[k]}`), ''].join('\n');
}

function configText({ tls = false, broken = false } = {}) {
  return [
    '[http]',
    `listen = 127.0.0.1:${httpPort}`,
    broken ? 'pth = /sns' : 'path = /sns',
    ...(tls ? ['tls_cert = /etc/twowayd/tls.pem', 'tls_key = /etc/twowayd/tls.key'] : []),
    '[aws]',
    'region = us-east-1',
    'ca_bundle = /etc/twowayd/standin-ca.pem',
    '[sns]',
    `topic_arns = ${standin.sns.topicArn}`,
    `signing_cert_host = ${standin.sns.signingCertHostRegex}`,
    '[consent]',
    `table = ${TABLE}`,
    '[agent]',
    'agent_id = AGENT12345',
    'agent_alias_id = ALIAS12345',
    '[sms]',
    'max_per_second = 100',
    '[dispatch]',
    'retry_initial_ms = 200',
    '',
  ].join('\n');
}

// Installs a config from the share as the operator would: root:twowayd 0640.
async function useConfig(name, text) {
  writeFileSync(join(share, name), text);
  await run(`install -m 0640 -o root -g twowayd ${SHARE_IN}/${name} /etc/twowayd/twowayd.conf`);
}

// ---- SNS deliveries and their answers ---------------------------------------

let senderSeq = 0;
const newSender = () => `+1425555${String(7000 + senderSeq++).padStart(4, '0')}`;

async function deliver(url, from, body) {
  const inboundMessageId = randomUUID();
  const msg = standin.sns.notification({
    message: standin.sns.inboundSms({ from, to: OUR_NUMBER, body, inboundMessageId }),
  });
  const r = await standin.sns.deliver(url, msg, { timeoutMs: 20000 });
  return { ...r, inboundMessageId };
}

const repliesTo = (phone) => standin.sms.sent().filter((m) => m.DestinationPhoneNumber === phone);

function waitForReply(phone, timeoutMs = 30000) {
  return waitFor(() => repliesTo(phone).length > 0, { timeoutMs, what: `a reply to ${phone}` });
}

// The daemon's PID; never 0 (a "kill 0" would signal this test's own group).
async function mainPid() {
  const pid = Number((await props('twowayd.service', ['MainPID'])).MainPID);
  assert.ok(pid > 1, 'twowayd.service has no main process');
  return pid;
}

// The spool, by state, from /metrics.
async function spoolCounts(port) {
  const r = await request({ port, path: '/metrics' });
  const counts = {};
  for (const m of r.body.matchAll(/^twowayd_spool_messages\{state="(\w+)"\} (\d+)/gm)) counts[m[1]] = Number(m[2]);
  return counts;
}

// ---- setup and teardown ---------------------------------------------------

before(async () => {
  assert.ok(await portIsFree(HTTPS_PORT), `127.0.0.1:${HTTPS_PORT} is in use on this machine; the socket unit needs it`);
  standin = await startStandin({ sns: true, consentTable: TABLE });
  ownNumber(standin, OUR_NUMBER);
  httpPort = await freePort();
  share = join(OUT, 'share');
  rmSync(share, { recursive: true, force: true });
  mkdirSync(share, { recursive: true });
  copyFileSync(DEB, join(share, 'twowayd.deb'));
  copyFileSync(standin.sns.caFile, join(share, 'standin-ca.pem'));
  copyFileSync(standin.sns.serverTls.certFile, join(share, 'tls.pem'));
  copyFileSync(standin.sns.serverTls.keyFile, join(share, 'tls.key'));
  writeFileSync(join(share, 'standin.conf'), serviceEnvironment());
  writeFileSync(join(share, 'loopback.conf'), '[Socket]\nListenStream=\nListenStream=127.0.0.1:443\n');
  await boot();
});

after(async () => {
  await shutdown();
  await standin?.close();
  if (share) rmSync(share, { recursive: true, force: true });
});

// ---- the checks -----------------------------------------------------------

// A failed check shows the unit's state and its last journal lines with it.
function check(name, fn) {
  test(name, async () => {
    try {
      await fn();
    } catch (e) {
      if (init && !nspawnExit) {
        const status = await sh('systemctl status --no-pager --lines=0 twowayd.service twowayd.socket');
        const tail = await sh('journalctl --no-pager -n 40 -o short-monotonic -u twowayd -u twowayd.socket');
        e.message += `\n--- systemctl status\n${status.stdout}--- journal\n${tail.stdout}`;
      }
      throw e;
    }
  });
}

check('1. the package installs: user, configuration directory and file with their owners and modes', async () => {
  await run(`dpkg -i ${SHARE_IN}/twowayd.deb`, { timeoutMs: 120000 });
  await run('id twowayd');
  assert.equal((await run('stat -c "%U:%G %a" /etc/twowayd /etc/twowayd/twowayd.conf')).trim(),
    'root:twowayd 750\nroot:twowayd 640');
  // Neither unit is enabled or started by the installation.
  const s = await props('twowayd.service', ['ActiveState', 'UnitFileState']);
  assert.deepEqual(s, { ActiveState: 'inactive', UnitFileState: 'disabled' });

  await run([
    `install -m 0644 ${SHARE_IN}/standin-ca.pem /etc/twowayd/standin-ca.pem`,
    `install -m 0640 -o root -g twowayd ${SHARE_IN}/tls.pem /etc/twowayd/tls.pem`,
    `install -m 0640 -o root -g twowayd ${SHARE_IN}/tls.key /etc/twowayd/tls.key`,
    `install -D -m 0644 ${SHARE_IN}/standin.conf /etc/systemd/system/twowayd.service.d/standin.conf`,
    'systemctl daemon-reload',
  ].join(' && '));
});

check('2. a config broken at start: the unit ends failed at the start limit, and starts once fixed and reset', async () => {
  await useConfig('broken.conf', configText({ broken: true }));
  const start = await sh('systemctl start twowayd');
  assert.notEqual(start.code, 0, 'systemctl start succeeded with a broken config');
  // Restart=on-failure every 2 s, at most 5 starts in 60 s: failed after ~10 s,
  // when the 6th start is refused ("Start request repeated too quickly").
  const end = await waitUntil(async () => {
    const p = await props('twowayd.service', ['ActiveState', 'Result', 'NRestarts']);
    return p.ActiveState === 'failed' ? p : null;
  }, { timeoutMs: 40000, what: 'the unit to end failed' });
  assert.deepEqual(end, { ActiveState: 'failed', Result: 'exit-code', NRestarts: '5' });
  assert.ok((await run('journalctl --no-pager -u twowayd -o cat')).includes("unknown key 'pth'"),
    'the broken line is not in the journal');
  // It stays failed: no more attempts, and a start inside the interval is refused.
  await useConfig('good.conf', configText());
  const refusals = async () => (await run('journalctl --no-pager -u twowayd -o cat')).split('Start request repeated too quickly').length - 1;
  const refusedBefore = await refusals();
  const again = await sh('systemctl start twowayd');
  assert.notEqual(again.code, 0, 'a start inside the start-limit interval was not refused');
  await waitUntil(async () => (await refusals()) > refusedBefore, { timeoutMs: 10000, what: 'the start refused at the limit' });
  await run('systemctl reset-failed twowayd');
});

check('3. deployment behind a proxy ([http] listen): start reaches active (running); /etc/twowayd stays read-only and keeps its mode', async () => {
  await run('chmod 0710 /etc/twowayd');
  await run('systemctl start twowayd');
  const p = await props('twowayd.service', ['ActiveState', 'SubState', 'MainPID', 'StatusText']);
  assert.equal(`${p.ActiveState} (${p.SubState})`, 'active (running)');
  assert.equal(p.StatusText, 'Serving');
  assert.equal((await run('stat -c %a /etc/twowayd')).trim(), '710', 'starting the service changed the mode of /etc/twowayd');
  // No writable mount of /etc/twowayd in the service's namespace; / is read-only there.
  const mounts = (await run(`cat /proc/${p.MainPID}/mountinfo`)).split('\n').map((l) => l.split(' '));
  assert.ok(!mounts.some((m) => m[4] === '/etc/twowayd' && m[5].split(',').includes('rw')), 'a read-write mount of /etc/twowayd');
  assert.ok(mounts.some((m) => m[4] === '/' && m[5].split(',').includes('ro')), '/ is not read-only for the service');
  await run('chmod 0750 /etc/twowayd');
  const listening = await journal('TWOWAY_EVENT=http.listening');
  assert.match(listening.at(-1).MESSAGE, new RegExp(`port ${httpPort} \\(plain HTTP\\)`));
});

check('4. a signed delivery over HTTP is acknowledged and answered', async () => {
  const from = newSender();
  const r = await deliver(`http://127.0.0.1:${httpPort}/sns`, from, 'Hello');
  assert.equal(r.status, 200, r.body);
  await waitForReply(from);
  assert.deepEqual(standin.rejected(), [], 'a request failed SigV4 at the stand-in');
  // Credentials came from the instance metadata service (IMDSv2), through the sandbox.
  assert.ok(standin.requests('imds').length > 0, 'the daemon never asked the instance metadata service');
});

let watchdogBefore;

check('5. systemctl reload with a good config: rc 0, and in effect when it returns', async () => {
  watchdogBefore = Number((await props('twowayd.service', ['WatchdogTimestampMonotonic'])).WatchdogTimestampMonotonic);
  const pid = await mainPid();
  await useConfig('good-debug.conf', configText().replace('[dispatch]', '[log]\nlevel = debug\n[dispatch]'));
  await run('systemctl reload twowayd');
  // The daemon wrote its outcome before the job could end.
  assert.match(await run('cat /run/twowayd/reload'), /^\d+ ok\n$/);
  assert.equal(await mainPid(), pid);
  await waitUntil(async () => (await journal('TWOWAY_EVENT=config.reloaded')).length === 1,
    { timeoutMs: 10000, what: 'config.reloaded in the journal' });
});

check('6. systemctl reload with a broken config: the job fails, same PID, still serving', async () => {
  const pid = await mainPid();
  await useConfig('broken.conf', configText({ broken: true }));
  const r = await sh('systemctl reload twowayd');
  assert.notEqual(r.code, 0, 'systemctl reload succeeded with a broken config');
  const p = await props('twowayd.service', ['ActiveState', 'SubState', 'MainPID']);
  assert.equal(`${p.ActiveState} (${p.SubState}) ${p.MainPID}`, `active (running) ${pid}`);
  const from = newSender();
  const d = await deliver(`http://127.0.0.1:${httpPort}/sns`, from, 'Still there?');
  assert.equal(d.status, 200, d.body);
  await waitForReply(from);
  await useConfig('good.conf', configText());
  await run('systemctl reload twowayd');
});

check('7. the reload job waits for the daemon: a stopped daemon keeps it running', async () => {
  const pid = await mainPid();
  await run(`kill -STOP ${pid}`);
  try {
    const r = await sh('timeout 3 systemctl reload twowayd');
    assert.equal(r.code, 124, `systemctl reload returned (${r.code}) while the daemon could not reload`);
    assert.equal((await props('twowayd.service', ['ActiveState'])).ActiveState, 'reloading');
  } finally {
    await run(`kill -CONT ${pid}`);
  }
  await waitUntil(async () => (await props('twowayd.service', ['ActiveState'])).ActiveState === 'active',
    { timeoutMs: 10000, what: 'the reload job to finish' });
});

check('8. the watchdog timestamp advances', async () => {
  // WatchdogSec=30s: the daemon pings every 15 s.
  await waitUntil(async () => Number((await props('twowayd.service', ['WatchdogTimestampMonotonic'])).WatchdogTimestampMonotonic) > watchdogBefore,
    { timeoutMs: 40000, what: 'a newer watchdog timestamp' });
});

check('9. kill -9 with messages in flight: restarted, every acknowledged message answered exactly once', async () => {
  const pid = await mainPid();
  const before = Number((await props('twowayd.service', ['NRestarts'])).NRestarts);
  const senders = Array.from({ length: 6 }, newSender);
  const agentCalls = standin.requests('bedrock').length;
  // The agent holds the first answers long enough for the kill to land mid-work.
  for (let i = 0; i < senders.length; i++) standin.faults.push('bedrock', { delayMs: 4000 });
  const acked = [];
  for (const from of senders) {
    const r = await deliver(`http://127.0.0.1:${httpPort}/sns`, from, `Before the crash ${from}`);
    assert.equal(r.status, 200, r.body);
    acked.push(from);
  }
  await waitFor(() => standin.requests('bedrock').length > agentCalls, { timeoutMs: 10000, what: 'an agent call in flight' });
  await run(`kill -9 ${pid}`);
  await waitUntil(async () => {
    const p = await props('twowayd.service', ['ActiveState', 'SubState', 'MainPID', 'NRestarts']);
    return p.ActiveState === 'active' && p.SubState === 'running' && Number(p.MainPID) !== pid &&
      Number(p.NRestarts) === before + 1;
  }, { timeoutMs: 30000, what: 'the service restarted after kill -9' });
  standin.faults.clear('bedrock');
  for (const from of acked) await waitForReply(from, 60000);
  await waitUntil(async () => {
    const c = await spoolCounts(httpPort);
    return (c.pending ?? 0) === 0 && (c.in_progress ?? 0) === 0;
  }, { timeoutMs: 30000, what: 'the spool to settle' });
  for (const from of acked) assert.equal(repliesTo(from).length, 1, `${from} got ${repliesTo(from).length} replies`);
});

check('10. systemctl stop exits 0; the unit ends inactive with result success', async () => {
  await run('systemctl stop twowayd');
  const p = await props('twowayd.service', ['ActiveState', 'Result', 'ExecMainStatus']);
  assert.deepEqual(p, { ActiveState: 'inactive', Result: 'success', ExecMainStatus: '0' });
});

check('11. deployment natively on 443 through the socket unit: HTTPS delivery answered, plain HTTP refused', async () => {
  await useConfig('https.conf', configText({ tls: true }));
  await run(`install -D -m 0644 ${SHARE_IN}/loopback.conf /etc/systemd/system/twowayd.socket.d/loopback.conf && systemctl daemon-reload`);
  await run('systemctl enable --now twowayd.socket');
  assert.equal((await props('twowayd.service', ['ActiveState'])).ActiveState, 'inactive');
  const from = newSender();
  const r = await deliver(`https://127.0.0.1:${HTTPS_PORT}/sns`, from, 'Hello over HTTPS');
  assert.equal(r.status, 200, r.body);
  await waitForReply(from);
  const p = await props('twowayd.service', ['ActiveState', 'SubState', 'TriggeredBy']);
  assert.equal(`${p.ActiveState} (${p.SubState})`, 'active (running)');
  const listening = await journal('TWOWAY_EVENT=http.listening');
  assert.match(listening.at(-1).MESSAGE, /port 443 \(HTTPS\)/);
  assert.equal(listening.at(-1).PROTOCOL, 'https');
  assert.ok((await journal('TWOWAY_EVENT=service.socket_activation')).length > 0);
  await assert.rejects(request({ port: HTTPS_PORT, path: '/healthz' }), 'plain HTTP to the HTTPS port was answered');
  // Enabling the socket is refused while the service runs on its own port:
  // the README says to stop the service first.
  await run('systemctl disable --now twowayd.socket && systemctl stop twowayd');
  await useConfig('good.conf', configText());
  await run('systemctl start twowayd');
  const busy = await sh('systemctl enable --now twowayd.socket');
  assert.notEqual(busy.code, 0, 'enabling the socket while the service runs succeeded');
  await run('systemctl stop twowayd && systemctl disable --now twowayd.socket');
});

check('12. the journal: event names, per-event fields, masked numbers, the caller\'s location', async () => {
  const records = await journal();
  const stored = records.filter((r) => r.TWOWAY_EVENT === 'sns.stored');
  assert.ok(stored.length >= 8, `${stored.length} sns.stored records`);
  for (const r of stored) {
    assert.match(r.SNS_MESSAGE_ID, /^[0-9a-f-]{36}$/);
    assert.match(r.PHONE, /^\+1425\*\*\*\d{4}$/, 'phone number not masked');
    assert.equal(r.SYSLOG_IDENTIFIER, 'twowayd');
    assert.equal(r.PRIORITY, '6');
    assert.equal(r.CODE_FILE, 'src/ingress.c');
    assert.match(r.CODE_LINE, /^\d+$/);
    assert.ok(r.CODE_FUNC && r.CODE_FUNC !== 'emit_journal');
  }
  const own = records.filter((r) => r.TWOWAY_EVENT);
  assert.ok(own.length > 0);
  assert.deepEqual(own.filter((r) => r.CODE_FILE === 'src/log.c').map((r) => r.TWOWAY_EVENT), []);
  const reloaded = records.filter((r) => r.TWOWAY_EVENT === 'config.reloaded');
  assert.ok(reloaded.length >= 2, `${reloaded.length} config.reloaded records`);
  for (const r of reloaded) assert.equal(r.CONFIG_FILE, '/etc/twowayd/twowayd.conf');
});

check('13. systemd-analyze security rates twowayd.service 1.5 or better', async () => {
  const out = await run('systemd-analyze security --no-pager twowayd.service');
  const m = out.match(/Overall exposure level for twowayd\.service: (\d+\.\d+)/);
  assert.ok(m, out.split('\n').slice(-3).join('\n'));
  assert.ok(Number(m[1]) <= 1.5, `exposure ${m[1]}`);
  console.log(`# systemd-analyze security: ${m[1]}`);
});

// The daemon's lifecycle as an operator sees it: command line, config check,
// systemd notifications, health endpoint, reload and shutdown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { BIN, configText, notifySocket, request, startDaemon, tempDir, waitFor } from './lib/daemon.mjs';

const SAMPLE = new URL('../../config/twowayd.conf', import.meta.url).pathname;

function run(args, opts = {}) {
  return spawnSync(BIN, args, { encoding: 'utf8', timeout: 10000, ...opts });
}

// A daemon in a temporary directory, with a notify socket, stopped when the
// test ends; resolves once it said READY=1. config: configText()'s options
// besides spoolDir.
async function notifiedDaemon(t, { config = {}, env } = {}) {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const notify = await notifySocket(dir);
  t.after(notify.close);
  const d = await startDaemon({ dir, config: configText({ spoolDir: dir, ...config }), notify, env });
  t.after(() => d.stop());
  await notify.waitFor('READY=1');
  return { d, dir, notify };
}

test('--version and --help answer and exit 0; a bad option exits 1', () => {
  const v = run(['--version']);
  assert.equal(v.status, 0);
  assert.match(v.stdout, /^twowayd \d+\.\d+\.\d+\n$/);
  const h = run(['--help']);
  assert.equal(h.status, 0);
  assert.match(h.stdout, /Usage: twowayd/);
  assert.match(h.stdout, /--config=FILE/);
  const bad = run(['--no-such-option']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--help/);
});

test('-t accepts the sample config', () => {
  const r = run(['-t', '-c', SAMPLE]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `${SAMPLE}: configuration OK\n`);
  assert.equal(r.stderr, '');
});

test('-t names every problem with its line: typo, bad port, missing required key', (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const file = join(dir, 'broken.conf');
  writeFileSync(file, [
    '[http]',                                 // 1
    'listen = 127.0.0.1:99999',               // 2: bad port
    'pth = /sns',                             // 3: typo
    '[sns]',                                  // 4
    'topic_arns = arn:aws:sns:us-east-1:123456789012:t',
    '[agent]',                                // 6
    'agent_id = AGENT12345',
    'agent_alias_id = ALIAS12345',
    // [consent] table missing
    '',
  ].join('\n'));
  const r = run(['-t', '-c', file]);
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 3, r.stderr);
  assert.ok(lines.some((l) => l.startsWith(`${file}:2: `) && /port/.test(l)), r.stderr);
  assert.ok(lines.some((l) => l.startsWith(`${file}:3: `) && /pth/.test(l) && /did you mean 'path'/.test(l)), r.stderr);
  assert.ok(lines.some((l) => l.startsWith(`${file}:`) && /table/.test(l) && /consent/.test(l)), r.stderr);
});

test('-t on a missing file exits 1 and says why', () => {
  const r = run(['-t', '-c', '/nonexistent/twowayd.conf']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /\/nonexistent\/twowayd\.conf/);
  assert.match(r.stderr, /No such file/);
});

test('a broken config keeps the daemon from starting', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const d = await startDaemon({ dir, config: configText({ spoolDir: dir }).replace('[consent]\ntable = twowayd-consent\n', '') });
  const exit = await d.waitForExit();
  assert.equal(exit.code, 1);
  assert.ok(d.logs.some((l) => l.event === 'config.invalid'), d.stderrText.join('\n'));
});

test('ready: READY=1 on the notify socket, /healthz 200, routes and logs as JSON', async (t) => {
  const { d } = await notifiedDaemon(t);
  assert.ok(d.port > 0);

  const h = await d.request({ path: '/healthz' });
  assert.equal(h.status, 200);
  assert.equal(h.body, 'ok\n');
  // Not an SNS delivery: refused with a reason (the SNS tests cover real ones).
  const sns = await d.request({ method: 'POST', path: '/sns', body: '{}' });
  assert.equal(sns.status, 400);
  assert.equal(sns.body, 'missing x-amz-sns-message-type header\n');
  assert.equal((await d.request({ path: '/nope' })).status, 404);
  assert.equal((await d.request({ method: 'GET', path: '/sns' })).status, 405);
  assert.equal((await d.request({ method: 'POST', path: '/healthz' })).status, 405);

  for (const l of d.logs) {
    assert.ok(!('unparsed' in l), `not JSON: ${l.unparsed}`);
    for (const k of ['ts', 'level', 'event', 'msg']) assert.ok(k in l, `missing ${k}: ${JSON.stringify(l)}`);
    assert.match(l.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  }
  assert.ok(d.logs.some((l) => l.event === 'sns.refused' && l.reason === 'missing x-amz-sns-message-type header' && l.client === '127.0.0.1'));
});

test('request bodies over max_body get 413 before they are read', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const d = await startDaemon({ dir, config: configText({ spoolDir: dir, maxBody: 1024 }) });
  t.after(() => d.stop());
  const declared = await d.request({ method: 'POST', path: '/sns', body: 'x'.repeat(2048) });
  assert.equal(declared.status, 413);
  // Chunked: no Content-Length, the limit trips while streaming.
  const chunked = await new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: d.port, method: 'POST', path: '/sns', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    for (let i = 0; i < 4; i++) req.write('y'.repeat(512));
    req.end();
  });
  assert.equal(chunked, 413);
  const ok = await d.request({ method: 'POST', path: '/sns', body: 'x'.repeat(1000) });
  assert.equal(ok.status, 400); // within the limit: reaches the SNS endpoint, which wants SNS headers
  assert.ok(d.logs.some((l) => l.event === 'http.refused' && l.reason === 'body too large'));
});

test('SIGHUP with a valid config: RELOADING=1 then READY=1, new values apply, connections survive', async (t) => {
  const { d, dir, notify } = await notifiedDaemon(t, { config: { maxBody: 4096 } });

  // A keep-alive connection opened before the reload must keep working after it.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  assert.equal((await d.request({ path: '/healthz', agent })).status, 200);
  assert.equal((await d.request({ method: 'POST', path: '/sns', body: 'x'.repeat(2000) })).status, 400);

  const before = notify.messages.length;
  writeFileSync(d.configPath, configText({ spoolDir: dir, port: d.port, maxBody: 1024, log: 'debug' }));
  d.signal('SIGHUP');
  const reloading = await notify.waitFor('RELOADING=1', 5000, before);
  assert.ok(reloading.some((l) => /^MONOTONIC_USEC=\d+$/.test(l)), JSON.stringify(reloading));
  await waitFor(() => notify.messages.slice(before).findIndex((m) => m.includes('READY=1')) >
    notify.messages.slice(before).findIndex((m) => m.includes('RELOADING=1')), { emitter: notify.events, what: 'READY after RELOADING' });
  await d.waitForLog('config.reloaded');

  assert.equal((await d.request({ method: 'POST', path: '/sns', body: 'x'.repeat(2000) })).status, 413);
  assert.equal((await d.request({ path: '/healthz', agent })).status, 200);
  assert.equal(d.exit, null);
});

test('SIGHUP with a broken config logs every error and keeps serving the old one', async (t) => {
  const { d, dir } = await notifiedDaemon(t, { config: { maxBody: 4096 } });
  const port = d.port;

  const from = d.logs.length;
  writeFileSync(d.configPath, configText({ spoolDir: dir, port, maxBody: 'lots' }).replace('[log]', '[lgo]'));
  d.signal('SIGHUP');
  await d.waitForLog('config.reload_failed', 5000, from);
  const errors = d.logs.slice(from).filter((l) => l.event === 'config.invalid');
  assert.ok(errors.some((l) => /:\d+: .*max_body/.test(l.config_error)), JSON.stringify(errors));
  assert.ok(errors.some((l) => /:\d+: .*lgo/.test(l.config_error)), JSON.stringify(errors));

  assert.equal((await d.request({ path: '/healthz' })).status, 200);
  // The old max_body (4096) still holds.
  assert.equal((await d.request({ method: 'POST', path: '/sns', body: 'x'.repeat(2000) })).status, 400);
  assert.equal(d.exit, null);
});

// The unit's ExecReload=: systemd 252 ends the reload job when this command
// exits, so it must not exit before the daemon has reloaded, and must fail
// when the daemon kept its old config.
test('--reload PID returns once the daemon has reloaded, and fails when it refused the config', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const env = { RUNTIME_DIRECTORY: dir };
  const d = await startDaemon({ dir, env, config: configText({ spoolDir: dir, maxBody: 4096 }) });
  t.after(() => d.stop());
  const reload = () => new Promise((resolve) => {
    const p = spawn(BIN, ['--reload', String(d.proc.pid)], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (c) => { stderr += c; });
    p.on('close', (code) => resolve({ code, stderr }));
  });

  writeFileSync(d.configPath, configText({ spoolDir: dir, port: d.port, maxBody: 1024 }));
  let from = d.logs.length;
  const good = await reload();
  assert.equal(good.code, 0, good.stderr);
  // Asked right after the command returned: the new max_body (1024) is in effect.
  assert.equal((await d.request({ method: 'POST', path: '/sns', body: 'x'.repeat(2000) })).status, 413);
  await d.waitForLog('config.reloaded', 5000, from);

  writeFileSync(d.configPath, configText({ spoolDir: dir, port: d.port, maxBody: 'lots' }));
  from = d.logs.length;
  const bad = await reload();
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /kept its running configuration/);
  await d.waitForLog('config.reload_failed', 5000, from);
  assert.equal((await d.request({ path: '/healthz' })).status, 200);

  // A daemon that cannot answer (stopped) keeps the command waiting.
  d.signal('SIGSTOP');
  writeFileSync(d.configPath, configText({ spoolDir: dir, port: d.port, maxBody: 2048 }));
  from = d.logs.length;
  const pending = reload();
  const early = await Promise.race([pending, new Promise((resolve) => setTimeout(() => resolve(null), 300))]);
  assert.equal(early, null, 'returned while the daemon was stopped');
  d.signal('SIGCONT');
  const late = await pending;
  assert.equal(late.code, 0, late.stderr);
  // 1500 bytes: over the old limit (1024), under the new one (2048).
  assert.equal((await d.request({ method: 'POST', path: '/sns', body: 'x'.repeat(1500) })).status, 400);
  await d.waitForLog('config.reloaded', 5000, from);

  const none = spawnSync(BIN, ['--reload', 'abc'], { encoding: 'utf8' });
  assert.equal(none.status, 1);
  assert.match(none.stderr, /--reload needs a process id/);
});

test('SIGTERM: STOPPING=1 and exit 0 promptly', async (t) => {
  const { d, notify } = await notifiedDaemon(t);
  d.signal('SIGTERM');
  const exit = await d.waitForExit(3000);
  assert.deepEqual(exit, { code: 0, signal: null });
  assert.ok(notify.has('STOPPING=1'));
  assert.ok(d.findLog('service.stopped'));
});

test('SIGINT stops it too, with exit 0', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const d = await startDaemon({ dir, config: configText({ spoolDir: dir }) });
  d.signal('SIGINT');
  assert.deepEqual(await d.waitForExit(3000), { code: 0, signal: null });
});

test('WATCHDOG=1 is sent while WATCHDOG_USEC is set', async (t) => {
  const { notify } = await notifiedDaemon(t, { env: { WATCHDOG_USEC: '200000' } });
  await notify.waitFor('WATCHDOG=1', 3000);
});

test('socket activation: a socket passed by systemd is served', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const port = await new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
  // systemd-socket-activate listens itself and starts the daemon on the first
  // connection, handing the socket over: the configured port (1) is never bound.
  const d = await startDaemon({
    dir, config: configText({ spoolDir: dir, port: 1 }), waitReady: false,
    command: ['systemd-socket-activate', '-l', `127.0.0.1:${port}`],
  });
  t.after(() => d.stop());
  await waitFor(() => d.stderrText.some((l) => l.startsWith('Listening on')), { emitter: d.events, what: 'socket-activate listening' });
  const h = await request({ port, path: '/healthz' });
  assert.equal(h.status, 200);
  await d.waitForLog('service.socket_activation');
  const listening = await d.waitForLog('http.listening');
  assert.equal(listening.port, String(port));
  assert.equal(listening.address, '127.0.0.1');
});

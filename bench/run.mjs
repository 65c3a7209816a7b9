#!/usr/bin/env node
// twowayd load benchmark (make bench). Everything runs on 127.0.0.1.
//
//   1. physical ceiling: openssl speed rsa2048 (one RSA verification per delivery)
//   2. pre-sign every SNS notification the run will send (distinct MessageId and
//      inboundMessageId each), written as raw HTTP requests; signing is not timed
//   3. idle RSS, then mode 1 (ack): acknowledged deliveries/s at 64 keep-alive
//      connections, ack latency, daemon CPU per 1,000, peak RSS; once with the
//      dispatcher not started (no AWS region: stored messages wait in the spool)
//      and once with it running against the discard port 127.0.0.1:9
//   4. mode 2 (conversations): ack -> consent (DynamoDB) -> agent (Bedrock) ->
//      SendTextMessage against the instant local stand-ins; whole conversations/s
//   5. mode 3: 1,000 conversations waiting on a 2 s agent: daemon RSS and
//      /healthz latency meanwhile
//   6. mode 4 (burst): 200 senders at once on one US toll-free number (3 message
//      parts a second, learned from DescribePhoneNumbers, enforced by the
//      stand-in), a STOP from someone else once 20 replies are out: the time to
//      the last reply, the STOP's confirmation time, the throttles
//      (BENCH_ONLY_BURST=1 runs this mode alone)
//
// BENCH_ONLY_ACK=1 runs mode 1 alone, BENCH_ONLY_CONV=1 mode 2 alone.
// BENCH_VERIFY_THREADS=N sets [http] verify_threads (unset: the default, auto).
// BENCH_SYSCALLS=1 counts the daemon's fdatasync, pwrite64 and futex calls and
// context switches in modes 1 and 2 (perf stat); mode 2 also reports the spool's
// commits per conversation (twowayd_spool_commits_total).
//
// Raw results: build/bench/results.json; a table on stdout. Every wait is
// bounded; BENCH_ACK_N, BENCH_CONV_N, BENCH_SLOW_N, BENCH_CONNS override sizes.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import http from 'node:http';
import { startStandin } from '../tests/standin/standin.mjs';
import { verifyMessage } from '../tests/standin/sns.mjs';
import { configText, ownNumber, SAFE_AWS_ENV } from '../tests/integration/lib/daemon.mjs';

const ROOT = resolve(new URL('..', import.meta.url).pathname);
const BUILD = resolve(ROOT, process.env.BUILD || 'build');
const OUT = join(BUILD, 'bench');
const BIN = join(BUILD, 'twowayd');
const LOADGEN = join(OUT, 'snsload');
const int = (v, d, lo, hi) => Math.min(hi, Math.max(lo, Number.parseInt(v ?? d, 10) || d));
const ACK_N = int(process.env.BENCH_ACK_N, 90000, 1000, 1000000);
const WARM_N = 5000;
const CONV_N = int(process.env.BENCH_CONV_N, 3000, 100, 100000);
const SLOW_N = int(process.env.BENCH_SLOW_N, 1000, 10, 10000);
const CONNS = int(process.env.BENCH_CONNS, 64, 1, 1024);
const VERIFY_THREADS = process.env.BENCH_VERIFY_THREADS;
const AGENT_DELAY_MS = 2000;
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
const PAGE = 4096;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (s) => process.stderr.write(`bench: ${s}\n`);

// ---- the machine ---------------------------------------------------------------------

function sh(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30000 });
  return r.status === 0 ? r.stdout.trim() : null;
}

function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? 'unknown';
  const mhz = /^cpu MHz\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? null;
  const src = sh('findmnt', ['-n', '-o', 'SOURCE,FSTYPE,OPTIONS', '-T', OUT]) ?? '';
  const dev = /^\/dev\/([a-z]+)/.exec(src)?.[1];
  let disk = src;
  if (dev) {
    const rd = (f) => { try { return readFileSync(`/sys/block/${dev}/${f}`, 'utf8').trim(); } catch { return '?'; } };
    const driver = sh('readlink', ['-f', `/sys/block/${dev}/device/driver`])?.split('/').pop() ?? '?';
    disk = `${src} (driver ${driver}, rotational=${rd('queue/rotational')}, scheduler ${rd('queue/scheduler')})`;
  }
  const pc = (p) => sh('pkg-config', ['--modversion', p]);
  return {
    nproc: Number(sh('nproc', [])),
    cpu_model: model,
    cpu_mhz: mhz,
    memory_mib: Math.round(totalmem() / 1048576),
    spool_disk: disk,
    kernel: sh('uname', ['-r']),
    os: /^PRETTY_NAME="?(.*?)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1],
    versions: {
      twowayd: sh(BIN, ['--version']),
      openssl: sh('openssl', ['version']),
      libmicrohttpd: pc('libmicrohttpd'),
      sqlite3: pc('sqlite3'),
      libcurl: pc('libcurl'),
      libev: sh('dpkg-query', ['-W', '-f=${Version}', 'libev4']),
      node: process.version,
      cc: sh('cc', ['--version'])?.split('\n')[0],
    },
    logical_cpus_seen_by_node: cpus().length,
  };
}

function opensslSpeed() {
  const r = spawnSync('openssl', ['speed', '-seconds', '3', 'rsa2048'], { encoding: 'utf8', timeout: 60000 });
  const m = /rsa\s+2048 bits\s+([\d.]+)s\s+([\d.]+)s\s+([\d.]+)\s+([\d.]+)/.exec(r.stdout ?? '');
  return m ? { sign_per_s: Number(m[3]), verify_per_s: Number(m[4]), verify_us: Number(m[2]) * 1e6 } : null;
}

// ---- pre-signed deliveries -------------------------------------------------------------

// Distinct senders everywhere (a sender's messages are answered in order, one at
// a time), 16 of our numbers as destinations.
let senderSeq = 0;
function items(n, body) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const s = senderSeq++;
    out.push({ from: `+1425${String(1000000 + s).slice(-7)}`, to: `+1800555${String(100 + (s % 16)).padStart(4, '0')}`, body: `${body} (${s})` });
  }
  return out;
}

async function signSet(sns, name, list, workers = 2) {
  const leaf = sns.cert('good');
  const subscriptionArn = sns.subscriptionArn();
  const per = Math.ceil(list.length / workers);
  const jobs = [];
  for (let w = 0; w < workers && w * per < list.length; w++) {
    const file = join(OUT, `${name}.${w}.req`);
    jobs.push(new Promise((res, rej) => {
      const wk = new Worker(new URL('./sign-worker.mjs', import.meta.url), {
        workerData: {
          keyPem: leaf.keyPem, certUrl: leaf.url, topicArn: sns.topicArn, subscriptionArn,
          unsubscribeUrl: `${sns.url}/?Action=Unsubscribe&SubscriptionArn=${subscriptionArn}`,
          file, items: list.slice(w * per, (w + 1) * per), path: '/sns', version: '1',
        },
      });
      wk.once('message', res);
      wk.once('error', rej);
    }));
  }
  const done = await Promise.all(jobs);
  // The worker signs like the stand-in's SNS: check it with the stand-in's verifier.
  if (!verifyMessage(done[0].first, leaf.certPem)) throw new Error(`${name}: pre-signed message does not verify`);
  return done.map((d) => d.file);
}

// ---- the daemon ------------------------------------------------------------------------

function procStat(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  // fields 14 and 15 (utime, stime) are f[11], f[12] after the comm
  return { cpu_s: (Number(f[11]) + Number(f[12])) / CLK_TCK, rss_kib: (Number(f[21]) * PAGE) / 1024 };
}

// The loop thread's CPU seconds (the main thread) apart from the other threads'
// (the verification workers of [http] verify_threads).
function threadsStat(pid) {
  let loop = 0, others = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let s;
    try { s = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'); } catch { continue; }
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    const cpu = (Number(f[11]) + Number(f[12])) / CLK_TCK;
    if (Number(tid) === pid) loop += cpu; else others += cpu;
  }
  return { loop, others };
}

// Machine-wide busy CPU seconds (all cores), from /proc/stat.
function sysBusy() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f;
  return (user + nice + system + irq + softirq + steal) / CLK_TCK;
}

// What else ran on the machine meanwhile: busy CPU not accounted to the daemon,
// the load generator or this process (the stand-ins). Near 0 on a quiet machine.
function otherCpu(busy0, self0, wall, accounted) {
  const self = process.cpuUsage(self0);
  const other = sysBusy() - busy0 - accounted - (self.user + self.system) / 1e6;
  return { other_cpu_s: other, other_cores: other / wall, loadavg: readFileSync('/proc/loadavg', 'utf8').trim() };
}

function procStatus(pid) {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
  return { VmRSS_kib: kib('VmRSS'), VmHWM_kib: kib('VmHWM'), RssAnon_kib: kib('RssAnon'), RssFile_kib: kib('RssFile') };
}

async function startTwowayd(name, { standin, env, tail = '' }) {
  const dir = join(OUT, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'spool'), { recursive: true });
  const sns = standin.sns;
  const config = configText({ spoolDir: join(dir, 'spool'), log: 'info', tail: `[aws]\nca_bundle = ${sns.caFile}\n${tail}` })
    .replace(/topic_arns = .*/, `topic_arns = ${sns.topicArn}\nsigning_cert_host = ${sns.signingCertHostRegex}`)
    .replace(/^\[http\]$/m, (m) => (VERIFY_THREADS === undefined ? m : `${m}\nverify_threads = ${VERIFY_THREADS}`));
  const configPath = join(dir, 'twowayd.conf');
  writeFileSync(configPath, config);
  const logPath = join(dir, 'daemon.log');
  const logFd = openSync(logPath, 'w');
  const childEnv = { ...process.env, ...SAFE_AWS_ENV(dir), ...env };
  for (const [k, v] of Object.entries(childEnv)) if (v === undefined) delete childEnv[k];
  delete childEnv.JOURNAL_STREAM;
  delete childEnv.NOTIFY_SOCKET;
  const proc = spawn(BIN, ['-c', configPath], { env: childEnv, stdio: ['ignore', 'ignore', logFd] });
  closeSync(logFd);
  let exited = null;
  proc.on('exit', (code, signal) => { exited = { code, signal }; });
  const t0 = Date.now();
  let port = null;
  while (Date.now() - t0 < 10000) {
    if (exited) break;
    const text = readFileSync(logPath, 'utf8');
    const m = /"event":"http\.listening".*?"port":"?(\d+)/.exec(text);
    if (m && text.includes('"event":"service.ready"')) { port = Number(m[1]); break; }
    await sleep(20);
  }
  if (!port) {
    proc.kill('SIGKILL');
    throw new Error(`${name}: twowayd did not start: ${readFileSync(logPath, 'utf8').slice(-2000)}`);
  }
  return {
    name, dir, proc, port, logPath,
    get exited() { return exited; },
    url: `http://127.0.0.1:${port}/sns`,
    async stop() {
      if (!exited) {
        proc.kill('SIGTERM');
        for (let i = 0; i < 300 && !exited; i++) await sleep(50);
        if (!exited) { proc.kill('SIGKILL'); for (let i = 0; i < 40 && !exited; i++) await sleep(50); }
      }
      // A mode leaves its config and the last 256 KiB of the daemon's log; the
      // spool (hundreds of MB after mode 1) goes.
      rmSync(join(dir, 'spool'), { recursive: true, force: true });
      const text = readFileSync(logPath);
      if (text.length > 262144) writeFileSync(logPath, text.subarray(text.indexOf(10, text.length - 262144) + 1));
      return exited;
    },
  };
}

function httpGet(port, path, timeoutMs = 5000) {
  return new Promise((res, rej) => {
    const req = http.get({ host: '127.0.0.1', port, path, timeout: timeoutMs, agent: false }, (r) => {
      const c = [];
      r.on('data', (d) => c.push(d));
      r.on('end', () => res({ status: r.statusCode, body: Buffer.concat(c).toString() }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', rej);
  });
}

// The metric lines worth keeping (outcomes, spool depth, ack histogram count/sum).
async function scrape(d) {
  try {
    // Right after a load run the load generator's closed connections may still
    // count against the per-address limit: retry a refused connection.
    let r;
    for (let i = 0; ; i++) {
      try { r = await httpGet(d.port, '/metrics'); break; } catch (e) { if (i >= 10) throw e; await sleep(200); }
    }
    const keep = /^twowayd_(sns_deliveries_total|sns_refusals_total|spool_messages|spool_commits_total|pipeline_outcomes_total|pipeline_in_flight|sns_ack_seconds_(count|sum)|agent_call_seconds_(count|sum)|sms_send_seconds_(count|sum))/;
    return r.body.split('\n').filter((l) => keep.test(l));
  } catch (e) {
    return [`scrape failed: ${e.message}`];
  }
}

function runLoad(port, files, { conns = CONNS, limitS = 120 } = {}) {
  return new Promise((res, rej) => {
    const args = ['-p', String(port), '-c', String(conns), '-t', String(limitS)];
    for (const f of files) args.push('-f', f);
    const p = spawn(LOADGEN, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    const out = [];
    p.stdout.on('data', (d) => out.push(d));
    p.on('exit', (code) => {
      if (code !== 0) return rej(new Error(`snsload exited ${code}`));
      res(JSON.parse(Buffer.concat(out).toString()));
    });
  });
}

function runProbe(port, { count, intervalMs, limitS = 60 }) {
  return new Promise((res, rej) => {
    const p = spawn(LOADGEN, ['-p', String(port), '-g', '/healthz', '-n', String(count), '-i', String(intervalMs), '-t', String(limitS)],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    const out = [];
    p.stdout.on('data', (d) => out.push(d));
    p.on('exit', (code) => (code === 0 ? res(JSON.parse(Buffer.concat(out).toString())) : rej(new Error(`snsload exited ${code}`))));
  });
}

// BENCH_PROFILE=1: sample the daemon during the timed part of mode 1 or 2 with
// perf (cpu-clock: this machine has no hardware counters) into
// build/bench/perf-<variant>.data (perf-conversations.data for mode 2).
function startProfile(d, variant) {
  if (!process.env.BENCH_PROFILE) return null;
  const p = spawn('perf', ['record', '-q', '-e', 'cpu-clock', '-F', '499', '--call-graph', 'dwarf,16384', '-o', join(OUT, `perf-${variant}.data`), '-p', String(d.proc.pid)],
    { stdio: 'ignore' });
  return p;
}

// BENCH_SYSCALLS=1: count the daemon's fdatasync, pwrite64 and futex calls and
// its context switches during the timed part of mode 1 or 2 (perf stat on the
// syscall tracepoints and the software event).
function startSyscalls(d, variant) {
  if (!process.env.BENCH_SYSCALLS) return null;
  const file = join(OUT, `syscalls-${variant}.txt`);
  const p = spawn('perf', ['stat', '-x', ',', '-o', file, '-e', 'syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync,syscalls:sys_enter_pwrite64,syscalls:sys_enter_futex,context-switches', '-p', String(d.proc.pid)],
    { stdio: 'ignore' });
  p.file = file;
  return p;
}

async function stopSyscalls(p) {
  if (!p) return null;
  await stopProfile(p);
  const counts = {};
  for (const line of readFileSync(p.file, 'utf8').split('\n')) {
    const f = line.split(',');
    if (f.length > 2 && /^(syscalls:sys_enter_|context-switches)/.test(f[2])) counts[f[2].replace('syscalls:sys_enter_', '')] = Number(f[0]);
  }
  return counts;
}

function metricValue(lines, name) {
  const l = lines.find((x) => x.startsWith(`${name} `));
  return l ? Number(l.split(' ')[1]) : null;
}

async function stopProfile(p) {
  if (!p) return;
  let done = false;
  p.on('exit', () => { done = true; });
  p.kill('SIGINT');
  for (let i = 0; i < 200 && !done; i++) await sleep(50);
}

async function waitUntil(pred, timeoutMs, everyMs = 20) {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    const v = pred();
    if (v) return v;
    await sleep(everyMs);
  }
  return null;
}

// ---- modes -----------------------------------------------------------------------------

// variant 'spool': no AWS region can be found (none configured, instance metadata
// off), so the dispatcher never starts and every stored message waits in the
// spool: the ingress path alone. Variant 'discard': a region, and every AWS
// endpoint at the discard port, so the dispatcher claims rows, fails to reach
// DynamoDB and schedules retries while deliveries arrive.
const ACK_VARIANTS = {
  spool: { env: { AWS_REGION: undefined, AWS_DEFAULT_REGION: undefined },
    dispatcher: 'not started: no AWS region (instance metadata disabled); stored messages wait in the spool' },
  discard: { env: {},
    dispatcher: 'running, every AWS endpoint at the discard port 127.0.0.1:9 (connection refused): each claimed row fails its consent read and is rescheduled' },
};

async function modeAck(standin, files, variant = 'spool') {
  const d = await startTwowayd(`ack-${variant}`, { standin, env: ACK_VARIANTS[variant].env });
  try {
    await sleep(1000);
    const idle = procStatus(d.proc.pid);
    // One delivery through the stand-in's own publisher: the certificate is fetched
    // and cached here, not during the timed run.
    const first = await standin.sns.deliver(d.url, standin.sns.notification({ message: standin.sns.inboundSms({ from: '+14259999999' }) }));
    if (first.status !== 200) throw new Error(`warm-up delivery answered ${first.status}: ${first.body}`);
    const warm = await runLoad(d.port, files.warm);
    const prof = startProfile(d, variant);
    const sys = startSyscalls(d, variant);
    const before = procStat(d.proc.pid);
    const threads0 = threadsStat(d.proc.pid);
    const busy0 = sysBusy();
    const self0 = process.cpuUsage();
    const run = await runLoad(d.port, files.ack);
    const after = procStat(d.proc.pid);
    const threads1 = threadsStat(d.proc.pid);
    const machineLoad = otherCpu(busy0, self0, run.elapsed_s, after.cpu_s - before.cpu_s + run.client_cpu_s);
    await stopProfile(prof);
    const syscalls = await stopSyscalls(sys);
    const status = procStatus(d.proc.pid);
    const metrics = await scrape(d);
    const spoolDir = join(d.dir, 'spool');
    const spoolBytes = Object.fromEntries(readdirSync(spoolDir).map((f) => [f, statSync(join(spoolDir, f)).size]));
    const cpu = after.cpu_s - before.cpu_s;
    return {
      dispatcher: ACK_VARIANTS[variant].dispatcher,
      idle_after_start: idle,
      warmup: { requests: warm.requests, status_2xx: warm.status_2xx, ok_per_s: warm.ok_per_s },
      load: run,
      daemon_cpu_s: cpu,
      daemon_cpu_s_per_1000: run.status_2xx ? (cpu / run.status_2xx) * 1000 : null,
      daemon_cpu_utilisation: cpu / run.elapsed_s,
      // of which the loop thread, and the worker threads (verify_threads)
      loop_cpu_s_per_1000: run.status_2xx ? ((threads1.loop - threads0.loop) / run.status_2xx) * 1000 : null,
      workers_cpu_s_per_1000: run.status_2xx ? ((threads1.others - threads0.others) / run.status_2xx) * 1000 : null,
      syscalls_per_delivery: syscalls && run.status_2xx ? Object.fromEntries(Object.entries(syscalls).map(([k, v]) => [k, v / run.status_2xx])) : null,
      client_cpu_utilisation: run.client_cpu_s / run.elapsed_s,
      machine: machineLoad,
      spool_bytes: spoolBytes,
      peak: status,
      metrics,
    };
  } finally {
    await d.stop();
  }
}

async function modeConversations(standin, files, n) {
  standin.bedrock.setResponder((text) => `Thanks, noted: ${text.slice(0, 40)}`);
  const sent0 = standin.sms.sent().length;
  const d = await startTwowayd('conversations', { standin, env: standin.env(), tail: '[sms]\nmax_per_second = 1000\n' });
  try {
    const commits0 = metricValue(await scrape(d), 'twowayd_spool_commits_total');
    const prof = startProfile(d, 'conversations');
    const sys = startSyscalls(d, 'conversations');
    const cpuD0 = procStat(d.proc.pid).cpu_s;
    const cpuS0 = process.cpuUsage();
    const t0 = performance.now();
    const load = runLoad(d.port, files.conv);
    const firstSentAt = waitUntil(() => (standin.sms.sent().length > sent0 ? performance.now() : null), 60000, 5);
    const ack = await load;
    const done = await waitUntil(() => standin.sms.sent().length - sent0 >= n, 90000, 25);
    const t1 = performance.now();
    const cpuS = process.cpuUsage(cpuS0);
    const cpuD = procStat(d.proc.pid).cpu_s - cpuD0;
    await stopProfile(prof);
    const syscalls = await stopSyscalls(sys);
    const sent = standin.sms.sent().length - sent0;
    const wall = (t1 - t0) / 1000;
    const status = procStatus(d.proc.pid);
    const metrics = await scrape(d);
    const commits = metricValue(metrics, 'twowayd_spool_commits_total') - commits0;
    return {
      stand_ins: 'local Node stand-in (DynamoDB via dynalite, Bedrock responder answering at once, SMS API), every request SigV4-verified',
      config: '[sms] max_per_second = 1000 per origination identity, 16 identities; [dispatch] concurrency = 64 (default)',
      conversations: n,
      completed: sent,
      timed_out: !done,
      ack,
      first_sms_after_s: ((await firstSentAt) - t0) / 1000,
      wall_s: wall,
      conversations_per_s: sent / wall,
      daemon_cpu_s: cpuD,
      daemon_cpu_utilisation: cpuD / wall,
      daemon_cpu_s_per_1000: sent ? (cpuD / sent) * 1000 : null,
      // the deliveries' group commits included
      spool_commits_per_conversation: sent ? commits / sent : null,
      syscalls_per_conversation: syscalls && sent ? Object.fromEntries(Object.entries(syscalls).map(([k, v]) => [k, v / sent])) : null,
      standin_cpu_s: (cpuS.user + cpuS.system) / 1e6,
      standin_cpu_utilisation: (cpuS.user + cpuS.system) / 1e6 / wall,
      sigv4_rejected: standin.rejected().length,
      peak: status,
      metrics,
    };
  } finally {
    await d.stop();
  }
}

async function modeBurst(standin, n = 200) {
  const number = standin.sms.addPhoneNumber({ phoneNumber: '+18005559300', numberType: 'TOLL_FREE', isoCountryCode: 'US' }).PhoneNumber;
  standin.bedrock.setResponder((text) => `Thanks, noted: ${text.slice(0, 40)}`);
  const d = await startTwowayd('burst', { standin, env: standin.env(), tail: '[dispatch]\nconcurrency = 256\n' });
  const fromNumber = () => standin.sms.sent().filter((m) => m.OriginationIdentity === number);
  const deliver = (from, body) => standin.sns.deliver(d.url, standin.sns.notification({
    message: standin.sns.inboundSms({ from, to: number, body, inboundMessageId: crypto.randomUUID() }),
  }));
  try {
    await waitUntil(() => readFileSync(d.logPath, 'utf8').includes('"event":"sms.rate"'), 10000);
    const senders = Array.from({ length: n }, (_, i) => `+1425777${String(1000 + i)}`);
    const t0 = performance.now();
    const queue = [...senders];
    await Promise.all(Array.from({ length: 32 }, async () => {
      for (let p = queue.shift(); p; p = queue.shift()) await deliver(p, `question from ${p}`);
    }));
    const acked_s = (performance.now() - t0) / 1000;
    await waitUntil(() => fromNumber().length >= 20, 30000);
    const stopper = '+14257779999';
    const ts = performance.now();
    await deliver(stopper, 'STOP');
    const confirmed = await waitUntil(() => (fromNumber().some((m) => m.DestinationPhoneNumber === stopper) ? performance.now() : null), 30000, 5);
    const stopPosition = fromNumber().findIndex((m) => m.DestinationPhoneNumber === stopper) + 1;
    const last = await waitUntil(() => (fromNumber().length >= n + 1 ? performance.now() : null), 150000, 10);
    const throttles = standin.sms.throttled().filter((m) => m.OriginationIdentity === number).length;
    const log = readFileSync(d.logPath, 'utf8');
    return {
      config: 'US toll-free number (3 parts/s learned), [dispatch] concurrency = 256, one-part answers',
      senders: n,
      all_acknowledged_after_s: acked_s,
      answered: fromNumber().length - 1,
      last_reply_after_s: last ? (last - t0) / 1000 : null,
      ideal_s: n / 3,
      stop_confirmed_after_ms: confirmed ? confirmed - ts : null,
      stop_confirmation_was_send: stopPosition,
      throttles,
      backlog_warnings: (log.match(/"event":"sms\.backlog"/g) ?? []).length,
      metrics: await scrape(d),
    };
  } finally {
    await d.stop();
  }
}

async function modeSlowAgent(standin, files, n) {
  standin.bedrock.setResponder((text) => ({ chunks: [`Slow answer to ${text.slice(0, 20)}`], delayMs: AGENT_DELAY_MS }));
  const sent0 = standin.sms.sent().length;
  const inv0 = standin.bedrock.invocations().length;
  const d = await startTwowayd('slow-agent', {
    standin, env: standin.env(),
    tail: `[sms]\nmax_per_second = 1000\n[dispatch]\nconcurrency = ${Math.max(n, 64)}\n`,
  });
  try {
    const before = procStatus(d.proc.pid);
    const t0 = performance.now();
    const ack = await runLoad(d.port, files.slow);
    // Wait until the agent is being called, then watch memory and /healthz while
    // the conversations wait on it.
    await waitUntil(() => standin.bedrock.invocations().length - inv0 > 0, 30000, 10);
    const rss = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const s = procStatus(d.proc.pid);
        rss.push({ t: (performance.now() - t0) / 1000, rss_kib: s.VmRSS_kib });
        await sleep(100);
      }
    })();
    const metricsWaiting = await scrape(d);
    const probe = await runProbe(d.port, { count: 60, intervalMs: 50 });
    const done = await waitUntil(() => standin.sms.sent().length - sent0 >= n, 120000, 50);
    sampling = false;
    await sampler;
    const t1 = performance.now();
    const status = procStatus(d.proc.pid);
    return {
      agent_delay_ms: AGENT_DELAY_MS,
      conversations: n,
      config: `[dispatch] concurrency = ${Math.max(n, 64)} so every conversation is in progress at once`,
      ack,
      rss_before_kib: before.VmRSS_kib,
      rss_max_while_waiting_kib: Math.max(...rss.map((r) => r.rss_kib)),
      rss_samples: rss.length,
      peak: status,
      healthz: probe,
      metrics_while_waiting: metricsWaiting,
      completed: standin.sms.sent().length - sent0,
      timed_out: !done,
      all_answered_after_s: (t1 - t0) / 1000,
      agent_calls: standin.bedrock.invocations().length - inv0,
    };
  } finally {
    await d.stop();
  }
}

// ---- table -----------------------------------------------------------------------------

// snsload prints no rate when it was itself the bottleneck (its one thread
// busy for 90 % of the time or more): say so instead of a figure.
const CLIENT_BOUND_PCT = 90;
function rate(load) {
  if (load.ok_per_s === null) return `none: load generator bound (${(load.client_cpu_share * 100).toFixed(0)} % of a core)`;
  return `${load.ok_per_s.toFixed(0)} /s`;
}

function table(r) {
  const mib = (k) => (k / 1024).toFixed(1);
  const a = r.ack;
  const c = r.conversations;
  const s = r.slow_agent;
  const rows = [
    ['RSA-2048 verify, openssl speed (1 core)', `${r.openssl?.verify_per_s?.toFixed(0)} /s`, 'ceiling'],
    ['acknowledged deliveries/s (64 conns)', rate(a.load), '>= 15000 /s'],
    ['load generator CPU during mode 1', `${(a.load.client_cpu_share * 100).toFixed(0)} % of a core`, `< ${CLIENT_BOUND_PCT} %`],
    ['ack latency p50 / p99 / p99.9', `${a.load.latency_ms.p50.toFixed(2)} / ${a.load.latency_ms.p99.toFixed(2)} / ${a.load.latency_ms.p99_9.toFixed(2)} ms`, 'p99 <= 5 ms'],
    ['daemon CPU per 1,000 deliveries', `${a.daemon_cpu_s_per_1000.toFixed(3)} s`, ''],
    ['daemon CPU during mode 1', `${(a.daemon_cpu_utilisation * 100).toFixed(0)} % of a core`, ''],
    ...(r.ack_discard ? [['  same, dispatcher failing (discard port)', `${rate(r.ack_discard.load)}, p99 ${r.ack_discard.load.latency_ms.p99.toFixed(0)} ms`, '']] : []),
    ['idle RSS after start', `${mib(a.idle_after_start.VmRSS_kib)} MiB`, '<= 16 MiB'],
    ['peak RSS, mode 1 (VmHWM)', `${mib(a.peak.VmHWM_kib)} MiB`, ''],
    ['conversations/s (instant stand-ins)', `${c.conversations_per_s.toFixed(0)} /s`, ''],
    ['  stand-in / daemon CPU in mode 2', `${(c.standin_cpu_utilisation * 100).toFixed(0)} % / ${(c.daemon_cpu_utilisation * 100).toFixed(0)} % of a core`, ''],
    [`RSS, ${s.conversations} conversations on a ${s.agent_delay_ms / 1000} s agent`, `${mib(s.rss_max_while_waiting_kib)} MiB (VmHWM ${mib(s.peak.VmHWM_kib)})`, '<= 64 MiB'],
    ['/healthz meanwhile p50 / p99 / max', `${s.healthz.latency_ms.p50.toFixed(2)} / ${s.healthz.latency_ms.p99.toFixed(2)} / ${s.healthz.latency_ms.max.toFixed(2)} ms`, ''],
    [`all ${s.conversations} slow conversations answered after`, `${s.all_answered_after_s.toFixed(1)} s`, ''],
  ];
  const w0 = Math.max(...rows.map((x) => x[0].length));
  const w1 = Math.max(...rows.map((x) => x[1].length));
  return rows.map(([k, v, t]) => `${k.padEnd(w0)}  ${v.padStart(w1)}  ${t}`).join('\n');
}

function burstTable(b) {
  const rows = [
    [`${b.senders} senders at once, one toll-free number: last reply after`, `${b.last_reply_after_s?.toFixed(1)} s`, `${b.ideal_s.toFixed(1)} s at 3 parts/s`],
    ['  STOP in the middle confirmed after', `${b.stop_confirmed_after_ms?.toFixed(0)} ms`, `send ${b.stop_confirmation_was_send} of ${b.senders + 1}`],
    ['  ThrottlingException answers', `${b.throttles}`, '0'],
    ['  sms.backlog warnings', `${b.backlog_warnings}`, 'at most one a minute'],
  ];
  const w0 = Math.max(...rows.map((x) => x[0].length));
  const w1 = Math.max(...rows.map((x) => x[1].length));
  return rows.map(([k, v, t]) => `${k.padEnd(w0)}  ${v.padStart(w1)}  ${t}`).join('\n');
}

// ---- main ------------------------------------------------------------------------------

async function main() {
  if (!existsSync(BIN) || !existsSync(LOADGEN)) throw new Error(`build ${BIN} and ${LOADGEN} first (make bench)`);
  mkdirSync(OUT, { recursive: true });
  const started = Date.now();
  const results = { started: new Date().toISOString(), machine: machine(), sizes: { ACK_N, WARM_N, CONV_N, SLOW_N, CONNS } };
  log('openssl speed -seconds 3 rsa2048');
  results.openssl = opensslSpeed();

  const standin = await startStandin({ sns: true, consentTable: 'twowayd-consent' });
  // The 16 numbers items() texts, which the replies come from.
  for (let i = 0; i < 16; i++) ownNumber(standin, `+1800555${String(100 + i).padStart(4, '0')}`);
  const reqFiles = [];
  if (process.env.BENCH_ONLY_BURST) {
    try {
      log('mode 4: a burst of 200 senders on one toll-free number');
      results.burst = await modeBurst(standin);
    } finally {
      await standin.close();
    }
    writeFileSync(join(OUT, 'results-burst.json'), JSON.stringify(results, null, 2) + '\n');
    console.log(burstTable(results.burst));
    return;
  }
  try {
    log(`pre-signing ${WARM_N + ACK_N + CONV_N + SLOW_N} SNS notifications`);
    const ts = performance.now();
    const files = {
      warm: await signSet(standin.sns, 'warm', items(WARM_N, 'Hello, is the two-bedroom on Elm St still available?')),
      ack: await signSet(standin.sns, 'ack', items(ACK_N, 'Hello, is the two-bedroom on Elm St still available?')),
      conv: await signSet(standin.sns, 'conv', items(CONV_N, 'Can I see the apartment on Saturday morning?')),
      slow: await signSet(standin.sns, 'slow', items(SLOW_N, 'What are your office hours?')),
    };
    reqFiles.push(...Object.values(files).flat());
    results.presign_s = (performance.now() - ts) / 1000;

    if (process.env.BENCH_ONLY_CONV) {
      log(`mode 2: ${CONV_N} conversations`);
      results.conversations = await modeConversations(standin, files, CONV_N);
    } else {
      log(`mode 1: ${ACK_N} deliveries at ${CONNS} connections`);
      results.ack = await modeAck(standin, files, 'spool');
    }
    if (!process.env.BENCH_ONLY_ACK && !process.env.BENCH_ONLY_CONV) {
      log('mode 1 again, dispatcher running against the discard port');
      results.ack_discard = await modeAck(standin, files, 'discard');
      log(`mode 2: ${CONV_N} conversations`);
      results.conversations = await modeConversations(standin, files, CONV_N);
      log(`mode 3: ${SLOW_N} conversations on a ${AGENT_DELAY_MS} ms agent`);
      results.slow_agent = await modeSlowAgent(standin, files, SLOW_N);
      log('mode 4: a burst of 200 senders on one toll-free number');
      results.burst = await modeBurst(standin);
    }
  } finally {
    await standin.close();
    for (const f of reqFiles) rmSync(f, { force: true });
  }
  results.total_s = (Date.now() - started) / 1000;
  writeFileSync(join(OUT, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  if (results.slow_agent) console.log(table(results));
  if (results.burst) console.log(burstTable(results.burst));
  console.log(`\nraw results: ${join(OUT, 'results.json')} (${results.total_s.toFixed(0)} s)`);
}

main().catch((e) => {
  console.error(`bench failed: ${e.stack ?? e}`);
  process.exit(1);
});

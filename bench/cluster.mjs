#!/usr/bin/env node
// twowayd cluster benchmark (make bench-cluster). Everything runs on 127.0.0.1.
//
// Two instances (A, B) in cluster mode share one stand-in and its DynamoDB
// (dynalite): the consent table and the cluster table. SENDERS senders text
// MESSAGES messages in all, spread over both instances (as a load balancer
// would), at a steady rate; the agent answers after AGENT_MS. Halfway through,
// A is killed with SIGKILL; from then on what SNS would have retried to A goes
// to B. Then every acknowledged message must be answered exactly once:
//
//   lost        acknowledged (200) but never answered          (must be 0)
//   duplicated  answered more than once                        (must be 0)
//   takeover    for each message A acknowledged and had not answered when it
//               died: kill -> its answer (by B), p50 / max
//   order       senders whose answers came out of their publish order
//
// Raw results: build/bench/results-cluster.json; a table on stdout. Every wait
// is bounded. BENCH_CLUSTER_N, BENCH_CLUSTER_SENDERS, BENCH_CLUSTER_AGENT_MS and
// BENCH_CLUSTER_LEASE (lease_seconds) override the defaults (600, 60, 1000, 5).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import readline from 'node:readline';
import { startStandin } from '../tests/standin/standin.mjs';
import { createClusterTable } from '../tests/integration/lib/cluster_table.mjs';
import { configText, ownNumber, SAFE_AWS_ENV, waitForAsync } from '../tests/integration/lib/daemon.mjs';

const ROOT = resolve(new URL('..', import.meta.url).pathname);
const BUILD = resolve(ROOT, process.env.BUILD || 'build');
const BIN = join(BUILD, 'twowayd');
const OUT = join(BUILD, 'bench');
const int = (v, d, lo, hi) => Math.min(hi, Math.max(lo, Number.parseInt(v ?? d, 10) || d));
const MESSAGES = int(process.env.BENCH_CLUSTER_N, 600, 20, 20000);
const SENDERS = int(process.env.BENCH_CLUSTER_SENDERS, 60, 2, 5000);
const RATE = 40; // deliveries a second, over both instances
const AGENT_MS = int(process.env.BENCH_CLUSTER_AGENT_MS, 1000, 0, 10000);
const LEASE_S = int(process.env.BENCH_CLUSTER_LEASE, 5, 5, 300);
const TABLE = 'twowayd-cluster';
const OUR_NUMBER = '+18005550199';
const log = (s) => process.stderr.write(`bench-cluster: ${s}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function startInstance(standin, name) {
  const dir = mkdtempSync(join(tmpdir(), `twowayd-bench-${name}-`));
  const config = configText({
    spoolDir: dir,
    tail: [
      '[aws]', `ca_bundle = ${standin.sns.caFile}`,
      '[cluster]', `table = ${TABLE}`, `lease_seconds = ${LEASE_S}`,
      '[sms]', 'max_per_second = 1000',
    ].join('\n'),
  }).replace(/topic_arns = .*/, `topic_arns = ${standin.sns.topicArn}\nsigning_cert_host = ${standin.sns.signingCertHostRegex}`);
  writeFileSync(join(dir, 'twowayd.conf'), config);
  const proc = spawn(BIN, ['-c', join(dir, 'twowayd.conf')], {
    env: { ...process.env, ...SAFE_AWS_ENV(dir), ...standin.env() },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const d = { name, dir, proc, port: 0, events: [], exited: false };
  proc.on('close', () => { d.exited = true; });
  readline.createInterface({ input: proc.stderr }).on('line', (line) => {
    let l;
    try { l = JSON.parse(line); } catch { return; }
    if (l.event === 'http.listening') d.port = Number(l.port);
    if (['service.ready', 'cluster.takeover', 'cluster.handled_elsewhere', 'pipeline.dead'].includes(l.event)) d.events.push(l);
  });
  await waitForAsync(() => d.events.some((l) => l.event === 'service.ready') || d.exited, { timeoutMs: 15000, what: `${name} ready` });
  if (d.exited) throw new Error(`${name} exited at start`);
  return d;
}

async function main() {
  mkdirSync(OUT, { recursive: true });
  const standin = await startStandin({ sns: true, consentTable: 'twowayd-consent' });
  ownNumber(standin, OUR_NUMBER);
  await createClusterTable(standin.dynamodb, TABLE);
  standin.bedrock.setResponder(async (text) => {
    if (text === undefined) return '';
    await sleep(AGENT_MS);
    return `re: ${text}`;
  });
  const a = await startInstance(standin, 'A');
  const b = await startInstance(standin, 'B');
  const phones = Array.from({ length: SENDERS }, (_, i) => `+1425556${String(i).padStart(4, '0')}`);
  const msgs = []; // {phone, body, msg, ackedBy, ackedAt}
  const t0 = Date.now();
  let killedAt = 0;
  let unansweredAtKill = [];
  const answered = (body) => standin.sms.sent().filter((s) => s.MessageBody === `re: ${body}`);

  const inFlight = new Set();
  for (let i = 0; i < MESSAGES; i++) {
    const phone = phones[i % SENDERS];
    const body = `m${i} ${randomUUID().slice(0, 8)}`;
    const msg = standin.sns.notification({
      message: standin.sns.inboundSms({ from: phone, to: OUR_NUMBER, body, inboundMessageId: randomUUID() }),
    });
    const m = { i, phone, body, msg, ackedBy: null, ackedAt: 0 };
    msgs.push(m);
    if (i === Math.floor(MESSAGES / 2)) {
      // A dies: whatever it acknowledged and had not answered is B's to find.
      unansweredAtKill = msgs.filter((x) => x.ackedBy === 'A' && answered(x.body).length === 0);
      a.proc.kill('SIGKILL');
      killedAt = Date.now();
      log(`killed A at message ${i}; ${unansweredAtKill.length} of its acknowledged messages unanswered`);
    }
    // Spread over the instances; a delivery that A cannot take (dead, reset)
    // is retried on B, as SNS would after a failed attempt.
    const first = !killedAt && i % 2 === 0 ? a : b;
    const p = (async () => {
      for (const d of first === a ? [a, b] : [b]) {
        try {
          const r = await standin.sns.deliver(`http://127.0.0.1:${d.port}/sns`, msg, { timeoutMs: 15000 });
          if (r.status === 200) {
            m.ackedBy = d.name;
            m.ackedAt = Date.now();
            return;
          }
        } catch { /* connection refused or reset: the next instance */ }
      }
    })();
    inFlight.add(p);
    p.finally(() => inFlight.delete(p));
    await sleep(1000 / RATE);
  }
  await Promise.all(inFlight);
  const acked = msgs.filter((m) => m.ackedBy);
  log(`${acked.length} of ${msgs.length} acknowledged; waiting for the answers`);
  let done = false;
  try {
    await waitForAsync(() => acked.every((m) => answered(m.body).length >= 1), { timeoutMs: 20 * LEASE_S * 1000, what: 'every answer' });
    done = true;
  } catch (e) { log(e.message); }
  // A little longer, for any duplicate still on its way (bounded).
  await sleep(2 * LEASE_S * 1000);

  const lost = acked.filter((m) => answered(m.body).length === 0).length;
  const duplicated = acked.filter((m) => answered(m.body).length > 1).length;
  const takeover = unansweredAtKill.map((m) => Date.parse(answered(m.body)[0]?.time ?? 'x') - killedAt)
    .filter((x) => Number.isFinite(x)).sort((x, y) => x - y);
  const outOfOrder = phones.filter((p) => {
    const sent = standin.sms.sent().filter((s) => s.DestinationPhoneNumber === p).map((s) => Number(/^re: m(\d+) /.exec(s.MessageBody)?.[1]));
    return sent.some((v, k) => k > 0 && v < sent[k - 1]);
  }).length;
  const results = {
    when: new Date(t0).toISOString(),
    messages: MESSAGES, senders: SENDERS, rate_per_s: RATE, agent_ms: AGENT_MS, lease_seconds: LEASE_S,
    acknowledged: acked.length, by_a: acked.filter((m) => m.ackedBy === 'A').length,
    all_answered: done, lost, duplicated, out_of_order_senders: outOfOrder,
    a_unanswered_at_kill: unansweredAtKill.length,
    takeover_ms: { n: takeover.length, p50: takeover[Math.floor(takeover.length / 2)] ?? null, max: takeover.at(-1) ?? null },
    b_takeovers: b.events.filter((l) => l.event === 'cluster.takeover').map((l) => Number(l.count)),
    b_dead: b.events.filter((l) => l.event === 'pipeline.dead').length,
    rejected_signatures: standin.rejected().length,
  };
  writeFileSync(join(OUT, 'results-cluster.json'), `${JSON.stringify(results, null, 2)}\n`);
  console.log(JSON.stringify(results, null, 2));
  b.proc.kill('SIGTERM');
  await waitForAsync(() => b.exited, { timeoutMs: 15000, what: 'B to stop' }).catch(() => b.proc.kill('SIGKILL'));
  await standin.close();
  for (const d of [a, b]) rmSync(d.dir, { recursive: true, force: true });
  process.exit(lost === 0 && duplicated === 0 && done ? 0 : 1);
}

main().catch((e) => { console.error(e); process.exit(2); });

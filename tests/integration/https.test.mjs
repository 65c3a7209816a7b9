// Native HTTPS: twowayd on [http] listen with [http] tls_cert/tls_key (the
// stand-in's TLS certificate for 127.0.0.1), as SNS reaches it on port 443
// through the socket unit. A signed delivery over https:// is acknowledged and
// answered; plain HTTP to the same port gets no HTTP answer at all.
// Loopback only; every wait is bounded and waits for a condition.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startStandin } from '../standin/standin.mjs';
import { configText, ownNumber, request, startDaemon, tempDir, waitFor } from './lib/daemon.mjs';

const TABLE = 'twowayd-consent';
const OUR_NUMBER = '+18005550199';

let standin;
before(async () => {
  standin = await startStandin({ sns: true, consentTable: TABLE });
  ownNumber(standin, OUR_NUMBER);
});
after(async () => { await standin?.close(); });

function httpsConfig(dir) {
  const tls = standin.sns.serverTls;
  return configText({
    spoolDir: dir,
    extraHttp: `tls_cert = ${tls.certFile}\ntls_key = ${tls.keyFile}`,
    tail: `[aws]\nca_bundle = ${standin.sns.caFile}\n[dispatch]\nretry_initial_ms = 50\n`,
  }).replace(/topic_arns = .*/, `topic_arns = ${standin.sns.topicArn}\nsigning_cert_host = ${standin.sns.signingCertHostRegex}`);
}

async function httpsDaemon(t) {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const d = await startDaemon({ dir, config: httpsConfig(dir), env: standin.env() });
  t.after(() => d.stop());
  assert.equal(d.exit, null, d.stderrText.join('\n'));
  return d;
}

test('a delivery over https:// is acknowledged, stored and answered', async (t) => {
  const d = await httpsDaemon(t);
  const listening = d.findLog('http.listening');
  assert.equal(listening.protocol, 'https');
  assert.match(listening.msg, /\(HTTPS\)/);

  const from = '+14255553100';
  const inboundMessageId = randomUUID();
  const msg = standin.sns.notification({
    message: standin.sns.inboundSms({ from, to: OUR_NUMBER, body: 'Hello over TLS', inboundMessageId }),
  });
  const r = await standin.sns.deliver(`https://127.0.0.1:${d.port}/sns`, msg);
  assert.equal(r.status, 200, r.body);
  await waitFor(() => d.logs.find((l) => l.event === 'sns.stored' && l.inbound_message_id === inboundMessageId),
    { emitter: d.events, timeoutMs: 10000, what: 'the message stored' });
  const sent = await waitFor(() => standin.sms.sent().find((s) => s.DestinationPhoneNumber === from),
    { timeoutMs: 15000, what: 'the reply sent' });
  assert.equal(sent.OriginationIdentity, OUR_NUMBER);
  assert.deepEqual(standin.rejected(), []);
});

test('plain HTTP to the HTTPS port gets no HTTP answer', async (t) => {
  const d = await httpsDaemon(t);
  await assert.rejects(request({ port: d.port, path: '/healthz' }),
    (e) => /ECONNRESET|socket hang up|Parse Error|HPE_/.test(`${e.code} ${e.message}`));
  // The daemon keeps serving TLS clients after the refused one.
  const msg = standin.sns.notification({
    message: standin.sns.inboundSms({ from: '+14255553101', to: OUR_NUMBER, body: 'after' }),
  });
  const r = await standin.sns.deliver(`https://127.0.0.1:${d.port}/sns`, msg);
  assert.equal(r.status, 200, r.body);
});

test('twowayd -t refuses a key that is not the certificate\'s', async (t) => {
  const { dir, cleanup } = tempDir();
  t.after(cleanup);
  const otherKey = join(dir, 'other.key');
  writeFileSync(otherKey, standin.sns.cert('good').keyPem);
  const config = httpsConfig(dir).replace(`tls_key = ${standin.sns.serverTls.keyFile}`, `tls_key = ${otherKey}`);
  const d = await startDaemon({ dir, config, args: ['-t'], waitReady: false });
  const exit = await d.waitForExit(5000);
  assert.equal(exit.code, 1);
  assert.match(d.stderrText.join('\n'), /:\d+: tls_key is not the private key of tls_cert/);
});

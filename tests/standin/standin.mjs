#!/usr/bin/env node
// Local AWS stand-in for twowayd's integration tests: DynamoDB (dynalite behind a
// SigV4-checking proxy), Bedrock Agents runtime InvokeAgent, End User Messaging SMS
// and IMDSv2, each on its own loopback port; optionally ({sns: true}) an SNS
// publisher with its signing-certificate/subscription host and the SNS management
// API on its own plain-HTTP port (sns.mjs; AWS_ENDPOINT_URL_SNS in env()).
//
//   import { startStandin } from './standin.mjs';
//   const standin = await startStandin();
//   spawn(daemon, { env: { ...process.env, ...standin.env() } });
//   ...
//   await standin.close();
//
// CLI: node tests/standin/standin.mjs [--dynamodb-port N] [--bedrock-port N] [--sms-port N]
//      [--imds-port N] [--region R] [--consent-table NAME] [--imds-credential-lifetime SEC]
//      [--sns [--sns-port N]]
// prints one JSON line {endpoints, env, consentTable[, sns]} and runs until SIGTERM/SIGINT.

import { EventEmitter } from 'node:events';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CredentialStore, DEFAULT_STATIC_CREDENTIALS } from './credentials.mjs';
import { FaultQueues } from './faults.mjs';
import { ServiceServer } from './service.mjs';
import { DynamoBackend, dynamodbService, DEFAULT_CONSENT_TABLE } from './dynamodb.mjs';
import { BedrockFake } from './bedrock.mjs';
import { SmsFake } from './sms.mjs';
import { ImdsFake } from './imds.mjs';
import { startSnsFake } from './sns.mjs';
import { SqsFake } from './sqs.mjs';

export const SERVICES = ['dynamodb', 'bedrock', 'sms', 'imds', 'sqs'];
export { DEFAULT_STATIC_CREDENTIALS, DEFAULT_CONSENT_TABLE };

function checkService(name) {
  if (!SERVICES.includes(name)) throw new TypeError(`unknown service '${name}' (one of ${SERVICES.join(', ')})`);
}

class Recorder extends EventEmitter {
  #all = [];
  #seq = 0;

  add(record) {
    record.seq = ++this.#seq;
    this.#all.push(record);
    this.emit('record', record);
  }

  list(service) {
    return this.#all.filter((r) => service === undefined || r.service === service);
  }

  clear() {
    this.#all = [];
  }
}

/**
 * Starts all fakes. Options (all optional):
 *   host                 '127.0.0.1'
 *   region               'us-east-1'
 *   ports                {dynamodb, bedrock, sms, imds}: fixed ports (default 0 = ephemeral)
 *   credentials          static key set {accessKeyId, secretAccessKey, sessionToken?}, or an array
 *                        of them; the first is what env() exports. Default DEFAULT_STATIC_CREDENTIALS.
 *   maxSkewMs            allowed clock skew of X-Amz-Date (default 5 min, as AWS)
 *   imds                 {roleName, credentialLifetimeSec (default 3600), accountId, instanceId}
 *   consentTable         a table name to create at start (default: none; see dynamodb.createConsentTable)
 *   sns                  true, or {port, accountId, topicName}: also start the SNS fake as
 *                        standin.sns (see sns.mjs; its faults are queued under 'sns') and
 *                        its management API (faults and requests under 'sns-api');
 *                        ports.sns / ports.snsApi fix their ports. Default: not started
 *                        (standin.sns null).
 *   now                  clock for expiry/skew checks, () => ms (default Date.now)
 */
export async function startStandin(opts = {}) {
  const host = opts.host ?? '127.0.0.1';
  const region = opts.region ?? 'us-east-1';
  const now = opts.now ?? (() => Date.now());
  const ports = opts.ports ?? {};
  const credentials = new CredentialStore({ now });
  const statics = [].concat(opts.credentials ?? DEFAULT_STATIC_CREDENTIALS);
  for (const c of statics) credentials.addStatic(c);

  const faults = new FaultQueues();
  const recorder = new Recorder();
  recorder.setMaxListeners(0);
  const deps = { host, region, credentials, faults, recorder, now, maxSkewMs: opts.maxSkewMs };

  const backend = await new DynamoBackend().start(host);
  const bedrock = new BedrockFake();
  const sms = new SmsFake({ region });
  const imds = new ImdsFake({ credentials, region, now, ...(opts.imds ?? {}) });
  const sqs = new SqsFake({ region });

  let sns = null;
  const servers = {
    dynamodb: new ServiceServer(dynamodbService(backend), { ...deps, port: ports.dynamodb }),
    bedrock: new ServiceServer(bedrock.service(), { ...deps, port: ports.bedrock }),
    sms: new ServiceServer(sms.service(), { ...deps, port: ports.sms }),
    imds: new ServiceServer(imds.service(), { ...deps, port: ports.imds }),
    sqs: new ServiceServer(sqs.service(), { ...deps, port: ports.sqs }),
  };
  try {
    for (const s of Object.values(servers)) await s.listen();
    sqs.baseUrl = servers.sqs.url;
    if (opts.consentTable) await backend.createConsentTable(opts.consentTable);
    if (opts.sns) {
      sns = await startSnsFake({
        host, region, faults, sqs, port: ports.sns, ...(typeof opts.sns === 'object' ? opts.sns : {}),
      });
      // The management API (Query protocol) shares the fault queues and the recorder
      // under the name 'sns-api'.
      servers.snsApi = new ServiceServer(sns.apiService(), { ...deps, port: ports.snsApi });
      await servers.snsApi.listen();
    }
  } catch (err) {
    await Promise.allSettled([...Object.values(servers).map((s) => s.close()), backend.close()]);
    throw err;
  }
  // Fault queues exist for the SERVICES, plus 'sns' when the SNS fake runs.
  const checkFaultTarget = (name) => {
    if ((name !== 'sns' && name !== 'sns-api') || !sns) checkService(name);
  };

  const endpoints = Object.fromEntries(SERVICES.map((n) => [n, servers[n].url]));
  if (sns) endpoints.snsApi = servers.snsApi.url;
  const primary = statics[0];

  const standin = {
    region,
    endpoints,
    staticCredentials: { ...primary },

    // Environment for a process under test. {imdsCredentials: true} leaves the static
    // keys out, so the process has to get (and refresh) credentials from the IMDS fake.
    env({ imdsCredentials = false } = {}) {
      const env = {
        AWS_REGION: region,
        AWS_DEFAULT_REGION: region,
        AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
        AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME: endpoints.bedrock,
        AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2: endpoints.sms,
        AWS_EC2_METADATA_SERVICE_ENDPOINT: endpoints.imds,
        AWS_ENDPOINT_URL_SQS: endpoints.sqs,
      };
      if (sns) env.AWS_ENDPOINT_URL_SNS = endpoints.snsApi;
      if (!imdsCredentials) {
        env.AWS_ACCESS_KEY_ID = primary.accessKeyId;
        env.AWS_SECRET_ACCESS_KEY = primary.secretAccessKey;
        if (primary.sessionToken) env.AWS_SESSION_TOKEN = primary.sessionToken;
      }
      return env;
    },

    // Recorded requests, oldest first: {seq, service, time, method, url, headers, operation,
    // body (parsed JSON or undefined), rawBody, verification {ok, code, message, accessKeyId,
    // temporary, region, service, signedHeaders, canonicalRequest, stringToSign} | null (IMDS),
    // fault, status, requestId}.
    // 'sns-api' (when the SNS fake runs): the management API's requests, with `params`
    // (the decoded form) and `operation` (its Action).
    requests(service) {
      if (service !== undefined) checkFaultTarget(service === 'sns' ? '' : service);
      return recorder.list(service);
    },

    // Requests the SigV4 verifier rejected (empty when everything was signed right).
    rejected(service) {
      return standin.requests(service).filter((r) => r.verification && !r.verification.ok);
    },

    clearRequests() {
      recorder.clear();
    },

    // Resolves with predicate's first truthy value, re-checked on every recorded
    // request; rejects after timeoutMs. No polling, no fixed sleeps.
    waitFor(predicate, { timeoutMs = 5000 } = {}) {
      return new Promise((resolve, reject) => {
        const check = () => {
          let v;
          try {
            v = predicate(standin);
          } catch (e) {
            done();
            reject(e);
            return true;
          }
          if (v) {
            done();
            resolve(v);
            return true;
          }
          return false;
        };
        const onRecord = () => {
          // Let the request's handler run first, so e.g. sms.sent() is up to date.
          setImmediate(check);
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`standin.waitFor: condition not met within ${timeoutMs} ms`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          recorder.off('record', onRecord);
        };
        recorder.on('record', onRecord);
        check();
      });
    },

    waitForRequests(service, count, { timeoutMs = 5000 } = {}) {
      checkService(service);
      return standin.waitFor((s) => {
        const r = s.requests(service);
        return r.length >= count ? r : null;
      }, { timeoutMs });
    },

    faults: {
      push(service, fault) {
        checkFaultTarget(service);
        if (service === 'sns' && fault?.exception !== undefined) throw new TypeError('sns has no exception fault');
        faults.push(service, fault);
        return standin.faults;
      },
      pending(service) {
        checkFaultTarget(service);
        return faults.pending(service);
      },
      clear(service) {
        if (service !== undefined) checkFaultTarget(service);
        faults.clear(service);
      },
    },

    // down=true: 'refuse' closes the port (ECONNREFUSED), 'drop' accepts and hangs up.
    async setDown(service, down, mode = 'refuse') {
      checkService(service);
      await servers[service].setDown(down, mode);
    },

    sms: {
      sent: () => sms.sent(),
      throttled: () => sms.throttled(),
      resetRateLimits: () => sms.resetRateLimits(),
      addPhoneNumber: (o) => sms.addPhoneNumber(o),
      phoneNumbers: () => sms.phoneNumbers(),
      setPhoneNumberStatus: (id, status) => sms.setPhoneNumberStatus(id, status),
      patchPhoneNumber: (id, fields) => sms.patchPhoneNumber(id, fields),
      setPageSize: (n) => sms.setPageSize(n),
      setHandler: (op, fn) => sms.setHandler(op, fn),
      setOptedOut: (phone, v = true) => sms.setOptedOut(phone, v),
      handlers: sms.handlers,
      waitForSent(count, { timeoutMs = 5000 } = {}) {
        return standin.waitFor(() => (sms.sent().length >= count ? sms.sent() : null), { timeoutMs });
      },
    },

    bedrock: {
      setResponder: (fn) => bedrock.setResponder(fn),
      invocations: () => bedrock.invocations(),
    },

    // SQS: the queues twowayctl creates. queue(name) -> {name, url, arn, attributes,
    // messages} or null; enqueue(arn, body) puts a message as SendMessage does.
    sqs: {
      queue: (name) => sqs.queue(name),
      enqueue: (arn, body) => sqs.enqueue(arn, body),
      setQueueAttribute: (name, key, value) => sqs.setQueueAttribute(name, key, value),
      allowsSend: (arn, service, sourceArn) => sqs.allowsSend(arn, service, sourceArn),
    },

    imds: {
      roleName: imds.roleName,
      issued: () => imds.issued(),
      setCredentialLifetime: (sec) => imds.setCredentialLifetime(sec),
    },

    credentials: {
      // Marks a key as expired now (ExpiredTokenException from then on).
      expire: (accessKeyId) => credentials.expire(accessKeyId),
      add: (c) => credentials.addStatic(c),
      list: () => credentials.list(),
    },

    // The SNS fake (sns.mjs SnsFake), or null unless started with {sns}.
    sns,

    dynamodb: {
      backendUrl: backend.url,
      createConsentTable: (name = DEFAULT_CONSENT_TABLE) => backend.createConsentTable(name),
      // Unsigned direct call to dynalite (test setup/inspection; not recorded).
      call: (operation, params) => backend.call(operation, params),
      // The wait DynamoDB imposes between two Time to Live changes of a table
      // (an hour; dynamodb_ttl.mjs).
      setTtlCooldownMs: (ms) => { backend.ttl.cooldownMs = ms; },
      // fn(record) for each request once its signature is checked: undefined to
      // answer it now, or a promise to hold it until it settles (one request of
      // one item, where the fault queue would hold whichever came next); null
      // removes it.
      setHold: (fn) => { backend.hold = fn ?? null; },
    },

    async close() {
      await Promise.allSettled([...Object.values(servers).map((s) => s.close()), sns?.close()]);
      await backend.close();
    },
  };
  return standin;
}

// ---- CLI -------------------------------------------------------------------------

function parseArgs(argv) {
  const o = { ports: {} };
  const next = (i, name) => {
    if (i + 1 >= argv.length) throw new Error(`${name} needs a value`);
    return argv[i + 1];
  };
  const port = (v, name) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${name}: bad port '${v}'`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const m = /^--(dynamodb|bedrock|sms|imds|sqs|sns|sns-api)-port$/.exec(a);
    if (m) o.ports[m[1] === 'sns-api' ? 'snsApi' : m[1]] = port(next(i++, a), a);
    else if (a === '--region') o.region = next(i++, a);
    else if (a === '--host') o.host = next(i++, a);
    else if (a === '--consent-table') o.consentTable = next(i++, a);
    else if (a === '--sns') o.sns = true;
    else if (a === '--imds-credential-lifetime') o.imds = { credentialLifetimeSec: Number(next(i++, a)) };
    else if (a === '--access-key-id') (o.credentials ??= { ...DEFAULT_STATIC_CREDENTIALS }).accessKeyId = next(i++, a);
    else if (a === '--secret-access-key') (o.credentials ??= { ...DEFAULT_STATIC_CREDENTIALS }).secretAccessKey = next(i++, a);
    else if (a === '-h' || a === '--help') o.help = true;
    else throw new Error(`unknown argument ${a}`);
  }
  if ((o.ports.sns !== undefined || o.ports.snsApi !== undefined) && !o.sns) throw new Error('--sns-port needs --sns');
  return o;
}

async function main() {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`standin: ${e.message}\n`);
    process.exit(2);
  }
  if (o.help) {
    process.stdout.write(
      'usage: standin.mjs [--dynamodb-port N] [--bedrock-port N] [--sms-port N] [--imds-port N]\n' +
        '                   [--host 127.0.0.1] [--region us-east-1] [--consent-table NAME]\n' +
        '                   [--imds-credential-lifetime SEC] [--access-key-id ID --secret-access-key KEY]\n' +
        '                   [--sns [--sns-port N] [--sns-api-port N]]\n');
    return;
  }
  const standin = await startStandin(o);
  const info = { endpoints: standin.endpoints, env: standin.env(), consentTable: o.consentTable ?? null };
  if (standin.sns) {
    const s = standin.sns;
    info.sns = {
      url: s.url,
      caFile: s.caFile,
      certHost: s.certHost,
      signingCertHost: s.signingCertHostRegex,
      topicArn: s.topicArn,
      apiUrl: standin.endpoints.snsApi,
      certUrls: Object.fromEntries(s.certNames().map((n) => [n, s.certUrl(n)])),
    };
  }
  process.stdout.write(JSON.stringify(info) + '\n');
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await standin.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

const invokedDirectly = (() => {
  try {
    return process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
})();
if (invokedDirectly) {
  main().catch((e) => {
    process.stderr.write(`standin: ${e.stack ?? e}\n`);
    process.exit(1);
  });
}

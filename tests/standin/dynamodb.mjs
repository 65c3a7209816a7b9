// DynamoDB: a SigV4-checking proxy in front of an in-process dynalite.
//
// dynalite is a real DynamoDB implementation (expressions, conditions, types,
// validation messages) but it ignores signatures entirely. The proxy adds what it
// lacks: SigV4 verification, request recording and fault injection. Accepted
// requests are forwarded byte for byte, and dynalite's answer (including its
// x-amz-crc32 header) is passed back unchanged. The one exception is Time to
// Live, which dynalite lacks: UpdateTimeToLive and DescribeTimeToLive are
// answered from dynamodb_ttl.mjs (same validation, same error shapes).

import http from 'node:http';
import { createRequire } from 'node:module';
import { sendAwsJsonError, sendJson } from './service.mjs';
import { TimeToLive } from './dynamodb_ttl.mjs';

const require = createRequire(import.meta.url);
const dynalite = require('dynalite');

const DDB_NS = 'com.amazonaws.dynamodb.v20120810#';
const CORAL_NS = 'com.amazon.coral.service#';

export const DEFAULT_CONSENT_TABLE = 'twowayd-consent';

export class DynamoBackend {
  #server;
  // (record) => undefined, or a promise the request waits for before it is
  // answered (standin.dynamodb.setHold).
  hold = null;
  #agent = new http.Agent({ keepAlive: true });
  port = 0;
  // Time to Live per table (UpdateTimeToLive / DescribeTimeToLive).
  ttl = new TimeToLive(this);

  async start(host) {
    // Tables become ACTIVE at once: tests should not wait for CREATING.
    this.#server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
    await new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(0, host, () => resolve());
    });
    this.host = host;
    this.port = this.#server.address().port;
    return this;
  }

  get url() {
    return `http://${this.host}:${this.port}`;
  }

  // Unsigned call straight to dynalite, for test setup and inspection (it bypasses
  // the proxy, so it is neither verified nor recorded nor subject to faults).
  // The Time to Live operations are answered from this.ttl, as through the proxy.
  async call(operation, params) {
    if (operation === 'UpdateTimeToLive' || operation === 'DescribeTimeToLive') {
      const out = operation === 'UpdateTimeToLive' ? await this.ttl.update(params) : await this.ttl.describe(params);
      if (out.status !== 200) {
        const err = new Error(`${operation}: ${out.body.__type}: ${out.body.message}`);
        err.status = out.status;
        err.body = out.body;
        throw err;
      }
      return out.body;
    }
    const body = JSON.stringify(params);
    const { status, text } = await new Promise((resolve, reject) => {
      const r = http.request(
        {
          host: this.host,
          port: this.port,
          method: 'POST',
          path: '/',
          agent: this.#agent,
          headers: {
            'content-type': 'application/x-amz-json-1.0',
            'x-amz-target': `DynamoDB_20120810.${operation}`,
            'content-length': Buffer.byteLength(body),
            // dynalite only checks that some Authorization is present.
            authorization: 'AWS4-HMAC-SHA256 Credential=standin/20000101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
            'x-amz-date': '20000101T000000Z',
          },
        },
        (res) => {
          const parts = [];
          res.on('data', (c) => parts.push(c));
          res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(parts).toString('utf8') }));
          res.on('error', reject);
        },
      );
      r.on('error', reject);
      r.end(body);
    });
    const out = text ? JSON.parse(text) : {};
    if (status !== 200) {
      const err = new Error(`${operation}: ${out.__type}: ${out.message ?? out.Message}`);
      err.status = status;
      err.body = out;
      throw err;
    }
    return out;
  }

  // The daemon's consent table: partition key phone_number (S), on-demand.
  async createConsentTable(tableName = DEFAULT_CONSENT_TABLE) {
    await this.call('CreateTable', {
      TableName: tableName,
      AttributeDefinitions: [{ AttributeName: 'phone_number', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'phone_number', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    });
    // createTableMs is 0, but the state flips on a timer: wait for ACTIVE, bounded.
    const deadline = Date.now() + 5000;
    for (;;) {
      const d = await this.call('DescribeTable', { TableName: tableName });
      if (d.Table.TableStatus === 'ACTIVE') return d.Table;
      if (Date.now() > deadline) throw new Error(`table ${tableName} not ACTIVE after 5 s`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  forward(method, url, headers, body) {
    return new Promise((resolve, reject) => {
      const h = { ...headers };
      delete h.connection;
      delete h['keep-alive'];
      delete h['transfer-encoding'];
      h['content-length'] = String(body.length);
      const r = http.request(
        { host: this.host, port: this.port, method, path: url, headers: h, agent: this.#agent },
        (res) => {
          const parts = [];
          res.on('data', (c) => parts.push(c));
          res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(parts) }));
          res.on('error', reject);
        },
      );
      r.on('error', reject);
      r.end(body);
    });
  }

  async close() {
    this.#agent.destroy();
    if (!this.#server) return;
    await new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections?.();
    });
  }
}

export function dynamodbService(backend) {
  return {
    name: 'dynamodb',
    signingName: 'dynamodb',
    contentType: 'application/x-amz-json-1.0',

    operationOf(req, record) {
      const target = record.headers['x-amz-target'] ?? '';
      return target.includes('.') ? target.slice(target.indexOf('.') + 1) : target || null;
    },

    // DynamoDB answers every client-side error, signature problems included, with 400.
    authErrorStatus() {
      return 400;
    },

    sendError(res, status, code, message, opts = {}) {
      const ns = opts.coral ? CORAL_NS : DDB_NS;
      sendAwsJsonError(res, status, code.includes('#') ? code : ns + code, message);
    },

    errorForStatus(status) {
      if (status >= 500) return { code: 'InternalServerError', message: 'Internal server error' };
      return { code: 'ValidationException', message: 'Injected client error' };
    },

    throttleError() {
      return {
        status: 400,
        code: 'ProvisionedThroughputExceededException',
        message:
          'The level of configured provisioned throughput for the table was exceeded. ' +
          'Consider increasing your provisioning level with the UpdateTable API.',
      };
    },

    async handle({ req, res, headers, body, record }) {
      const op = record.operation;
      // A test's hold (standin.dynamodb.setHold): the request waits, as one
      // DynamoDB has not answered yet; a client that gave up meanwhile gets
      // nothing, and the request never reaches dynalite.
      if (backend.hold) {
        await backend.hold(record);
        if (res.destroyed || req.socket.destroyed) return;
      }
      if (op === 'UpdateTimeToLive' || op === 'DescribeTimeToLive') {
        let params;
        try {
          params = JSON.parse(body.toString('utf8'));
        } catch {
          sendJson(res, 400, { __type: `${CORAL_NS}SerializationException` });
          return;
        }
        const out = op === 'UpdateTimeToLive' ? await backend.ttl.update(params) : await backend.ttl.describe(params);
        sendJson(res, out.status, out.body);
        return;
      }
      const up = await backend.forward(req.method, req.url, headers, body);
      // Report dynalite's request id, which is the one the client sees.
      record.requestId = up.headers['x-amzn-requestid'] ?? record.requestId;
      const out = {};
      for (const [k, v] of Object.entries(up.headers)) {
        if (!['connection', 'keep-alive', 'transfer-encoding', 'date'].includes(k)) out[k] = v;
      }
      out['content-length'] = String(up.body.length);
      res.writeHead(up.status, out);
      res.end(up.body);
    },
  };
}

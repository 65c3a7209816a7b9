// The HTTP front shared by every fake service: listen on loopback, read the body,
// verify SigV4, record the request, apply a queued fault or the "down" state, and
// only then hand the request to the service's own handler.
//
// A service module supplies:
//   name, signingName (null = no SigV4, e.g. IMDS), contentType,
//   operationOf(req, body)          -> string recorded as `operation`
//   sendError(res, status, code, message, extra)
//   errorForStatus(status)          -> {code, message}
//   throttleError()                 -> {status, code, message}
//   authErrorStatus(code)           -> HTTP status for a SigV4 rejection
//   handle(ctx)                     -> answers the request (may be async)
//   handleFault?(ctx, fault)        -> true if it answered a service-specific fault

import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { verifySigV4 } from './sigv4-verify.mjs';
import { streamHugeBody } from './faults.mjs';

const MAX_BODY_BYTES = 32 * 1024 * 1024;

// Header map with lower-case names. Repeated headers are joined with "," (the SigV4
// canonical form) instead of Node's ", ", so the verifier sees what AWS would.
export function headerMap(rawHeaders) {
  const h = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const k = rawHeaders[i].toLowerCase();
    h[k] = k in h ? `${h[k]},${rawHeaders[i + 1]}` : rawHeaders[i + 1];
  }
  return h;
}

function readBody(req, limit) {
  return new Promise((resolve, reject) => {
    const parts = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > limit) {
        reject(Object.assign(new Error('body too large'), { tooLarge: true }));
        req.destroy();
        return;
      }
      parts.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

// Delays that cancel() cuts short, so a test ending mid-delay does not hang.
export class Delays {
  #pending = new Set();

  sleep(ms) {
    return new Promise((resolve) => {
      const t = { resolve };
      t.timer = setTimeout(() => {
        this.#pending.delete(t);
        resolve();
      }, ms);
      this.#pending.add(t);
    });
  }

  cancel() {
    for (const t of this.#pending) {
      clearTimeout(t.timer);
      t.resolve();
    }
    this.#pending.clear();
  }
}

// Stops a listening server, cutting its open connections.
export function closeServer(server) {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export class ServiceServer {
  #server;
  #port;
  #down = null; // null | 'refuse' | 'drop'
  #delays = new Delays();
  #closed = false;

  /**
   * @param {object} svc   service module object (see above)
   * @param {object} deps  {host, port, credentials, region, faults, recorder, now, maxSkewMs}
   */
  constructor(svc, deps) {
    this.svc = svc;
    this.deps = deps;
    this.#port = deps.port ?? 0;
    this.#server = http.createServer((req, res) => {
      this.#onRequest(req, res).catch((err) => {
        if (!res.headersSent && !res.destroyed) {
          svc.sendError(res, 500, 'InternalServerError', `stand-in failure: ${err.message}`);
        } else {
          res.destroy();
        }
      });
    });
    // Tests open many short connections; do not let idle keep-alive sockets hold close() up.
    this.#server.keepAliveTimeout = 5000;
  }

  get port() {
    return this.#port;
  }

  get url() {
    return `http://${this.deps.host}:${this.#port}`;
  }

  listen() {
    return new Promise((resolve, reject) => {
      const onError = (e) => reject(e);
      this.#server.once('error', onError);
      this.#server.listen(this.#port, this.deps.host, () => {
        this.#server.off('error', onError);
        this.#port = this.#server.address().port;
        resolve(this);
      });
    });
  }

  // mode 'refuse': stop listening and cut open connections, so new connections get
  // ECONNREFUSED (the port is kept and re-bound when the service comes back);
  // mode 'drop': keep accepting but destroy every request without an answer.
  async setDown(down, mode = 'refuse') {
    if (!['refuse', 'drop'].includes(mode)) throw new TypeError(`unknown down mode ${mode}`);
    const was = this.#down;
    this.#down = down ? mode : null;
    if (down && mode === 'refuse' && was !== 'refuse') {
      await closeServer(this.#server);
    } else if (!down && was === 'refuse') {
      await this.listen();
    }
  }

  get down() {
    return this.#down;
  }

  async close() {
    this.#closed = true;
    this.#delays.cancel();
    if (this.#down === 'refuse') return;
    await closeServer(this.#server);
  }

  async #onRequest(req, res) {
    const { svc, deps } = this;
    const headers = headerMap(req.rawHeaders);
    const record = {
      service: svc.name,
      time: new Date().toISOString(),
      method: req.method,
      url: req.url,
      headers,
      operation: null,
      body: undefined,
      rawBody: '',
      verification: null,
      fault: null,
      status: null,
      requestId: randomUUID(),
    };
    res.on('finish', () => {
      record.status = res.statusCode;
    });
    res.setHeader('x-amzn-requestid', record.requestId);

    if (this.#down === 'drop') {
      record.fault = { down: 'drop' };
      deps.recorder.add(record);
      req.socket.destroy();
      return;
    }

    let body;
    try {
      body = await readBody(req, MAX_BODY_BYTES);
    } catch (err) {
      if (err.tooLarge) {
        record.fault = { tooLarge: true };
        deps.recorder.add(record);
      }
      return;
    }
    record.rawBody = body.toString('utf8');
    try {
      record.body = body.length ? JSON.parse(record.rawBody) : undefined;
    } catch {
      record.body = undefined; // left to the handler to reject; rawBody keeps the bytes
    }
    record.operation = svc.operationOf(req, record);

    if (svc.signingName) {
      record.verification = await verifySigV4(
        { method: req.method, url: req.url, headers, body },
        {
          credentials: deps.credentials,
          region: deps.region,
          service: svc.signingName,
          now: deps.now,
          maxSkewMs: deps.maxSkewMs,
        },
      );
    }

    const fault = deps.faults.shift(svc.name);
    record.fault = fault;
    deps.recorder.add(record);

    const ctx = { req, res, headers, body, record, json: record.body, sleep: (ms) => this.#delays.sleep(ms) };

    if (fault) {
      if (fault.delayMs) {
        await this.#delays.sleep(fault.delayMs);
        if (this.#closed || res.destroyed || req.socket.destroyed) return;
      }
      if (fault.drop) {
        req.socket.destroy();
        return;
      }
      if (svc.handleFault && (await svc.handleFault(ctx, fault))) return;
      if (fault.body !== undefined) {
        res.writeHead(fault.status ?? 200, {
          'content-type': fault.contentType ?? svc.contentType,
          ...(fault.headers ?? {}),
        });
        res.end(fault.body);
        return;
      }
      if (fault.hugeBodyBytes !== undefined) {
        streamHugeBody(res, fault.hugeBodyBytes, fault.fill, fault.contentType ?? svc.contentType);
        return;
      }
      if (fault.throttle) {
        const t = svc.throttleError();
        svc.sendError(res, fault.status ?? t.status, fault.errorType ?? t.code, fault.message ?? t.message);
        return;
      }
      if (fault.status !== undefined) {
        const e = svc.errorForStatus(fault.status);
        svc.sendError(res, fault.status, fault.errorType ?? e.code, fault.message ?? e.message);
        return;
      }
      // delay-only fault: fall through to normal handling
    }

    const v = record.verification;
    if (v && !v.ok) {
      svc.sendError(res, svc.authErrorStatus(v.code), v.code, v.message, { coral: true });
      return;
    }
    await svc.handle(ctx);
  }
}

// Error bodies of the two AWS JSON protocols used here.
export function sendAwsJsonError(res, status, type, message, extra = {}) {
  const body = JSON.stringify({ __type: type, message, ...extra });
  res.writeHead(status, {
    'content-type': 'application/x-amz-json-1.0',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

export function sendRestJsonError(res, status, code, message, extra = {}) {
  const body = JSON.stringify({ message, ...extra });
  res.writeHead(status, {
    'content-type': 'application/json',
    'x-amzn-errortype': code,
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

export function sendJson(res, status, obj, contentType = 'application/x-amz-json-1.0') {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

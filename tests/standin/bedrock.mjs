// Bedrock Agents runtime: InvokeAgent.
//   POST /agents/{agentId}/agentAliases/{agentAliasId}/sessions/{sessionId}/text
//   restJson1, SigV4 signing name "bedrock" (not the host prefix).
// The answer is an AWS event stream (application/vnd.amazon.eventstream) encoded
// with the official EventStreamCodec, so a decoder that agrees with this fake
// agrees with the SDKs.
//
// The reply is scripted: setResponder(fn) with
//   fn(inputText, sessionId, sessionAttributes, info) ->
//     string                                  one chunk with that text
//   | {chunks: ['a', 'b']}                    several chunk events
//   | {exception: 'throttlingException', message, chunks?}
//                                             optional chunks, then an in-stream exception
//   | {error: {status, code, message}}        an ordinary HTTP error before any stream
//   | {events: [...]}                         any sequence of ResponseStream members, each one of
//       {chunk: 'text', attribution?}  {returnControl: {invocationId, invocationInputs}}
//       {files: [{name, type, bytes}]}  {trace: {...}}   (encoded as the service encodes them)
//   plus optional delayMs (before the response headers), chunkDelayMs (between events),
//   hang: true (send nothing, keep the connection open) and cut: true (destroy the
//   connection after the events, without ending the stream).
// The request's sessionState is checked against the model first (maps of strings,
// returnControlInvocationResults 1-5 members, each one apiResult or functionResult with
// an actionGroup); a violation is a 400 ValidationException, as the service answers.
// fn may be async. The default echoes "You said: <inputText>".

import { EventStreamCodec } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import { sendRestJsonError } from './service.mjs';

export const codec = new EventStreamCodec(toUtf8, fromUtf8);

const ROUTE = /^\/agents\/([^/]+)\/agentAliases\/([^/]+)\/sessions\/([^/]+)\/text$/;
const ID = /^[0-9a-zA-Z]{1,10}$/;
const SESSION = /^[0-9a-zA-Z._:-]{2,100}$/;

// In-stream exception members and the extra fields their payload carries.
const EXCEPTIONS = {
  throttlingException: 'Rate exceeded',
  internalServerException: 'Internal server error',
  dependencyFailedException: 'Dependency failed',
  validationException: 'Validation failed',
  accessDeniedException: 'Access denied',
  conflictException: 'Conflict',
  resourceNotFoundException: 'Resource not found',
  serviceQuotaExceededException: 'Service quota exceeded',
  badGatewayException: 'Bad gateway',
  modelNotReadyException: 'Model not ready',
};

function header(value) {
  return { type: 'string', value };
}

export function encodeChunk(text, attribution) {
  const payload = { bytes: Buffer.from(text, 'utf8').toString('base64') };
  if (attribution) payload.attribution = attribution;
  return codec.encode({
    headers: {
      ':event-type': header('chunk'),
      ':content-type': header('application/json'),
      ':message-type': header('event'),
    },
    body: fromUtf8(JSON.stringify(payload)),
  });
}

export function encodeException(type, message, extra = {}) {
  return codec.encode({
    headers: {
      ':exception-type': header(type),
      ':content-type': header('application/json'),
      ':message-type': header('exception'),
    },
    body: fromUtf8(JSON.stringify({ message, ...extra })),
  });
}

// Splits a complete event-stream body into decoded messages (for tests and tools).
export function decodeEventStream(buf) {
  const out = [];
  let off = 0;
  const u8 = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  while (off < u8.length) {
    if (u8.length - off < 4) throw new Error('truncated event-stream prelude');
    const total = new DataView(u8.buffer, u8.byteOffset + off, 4).getUint32(0);
    if (total < 16 || off + total > u8.length) throw new Error('truncated event-stream message');
    const m = codec.decode(u8.subarray(off, off + total));
    const headers = {};
    for (const [k, v] of Object.entries(m.headers)) headers[k] = v.value;
    out.push({ headers, body: Buffer.from(m.body) });
    off += total;
  }
  return out;
}

export function encodeEvent(type, payload) {
  return codec.encode({
    headers: {
      ':event-type': header(type),
      ':content-type': header('application/json'),
      ':message-type': header('event'),
    },
    body: fromUtf8(JSON.stringify(payload)),
  });
}

function encodeScripted(ev) {
  if (ev.chunk !== undefined) return encodeChunk(ev.chunk, ev.attribution);
  if (ev.returnControl) return encodeEvent('returnControl', ev.returnControl);
  if (ev.files) return encodeEvent('files', { files: ev.files });
  if (ev.trace) return encodeEvent('trace', { trace: ev.trace });
  throw new TypeError(`unknown scripted event ${JSON.stringify(ev)}`);
}

const isStringMap = (m) => m === undefined ||
  (m && typeof m === 'object' && !Array.isArray(m) && Object.values(m).every((v) => typeof v === 'string'));

// SessionState as the model has it; the problems, in the service's words.
export function sessionStateProblems(state) {
  if (state === undefined) return [];
  if (!state || typeof state !== 'object' || Array.isArray(state)) return ['sessionState'];
  const p = [];
  if (!isStringMap(state.sessionAttributes)) p.push('sessionState.sessionAttributes');
  if (!isStringMap(state.promptSessionAttributes)) p.push('sessionState.promptSessionAttributes');
  const results = state.returnControlInvocationResults;
  if (results !== undefined) {
    if (!Array.isArray(results) || results.length < 1 || results.length > 5) {
      p.push('sessionState.returnControlInvocationResults (length 1-5)');
    } else {
      results.forEach((r, i) => {
        const keys = Object.keys(r ?? {});
        const member = r?.apiResult ?? r?.functionResult;
        if (keys.length !== 1 || !member || typeof member.actionGroup !== 'string') {
          p.push(`sessionState.returnControlInvocationResults.${i + 1}`);
        }
      });
    }
    if (state.invocationId !== undefined && typeof state.invocationId !== 'string') p.push('sessionState.invocationId');
  }
  return p;
}

function exceptionExtra(type) {
  if (type === 'dependencyFailedException' || type === 'badGatewayException') return { resourceName: 'agent' };
  return {};
}

export class BedrockFake {
  #responder = null;
  #invocations = [];

  setResponder(fn) {
    this.#responder = fn ?? null;
  }

  invocations() {
    return this.#invocations.map((i) => ({ ...i }));
  }

  async #answer(inputText, sessionId, attrs, info) {
    if (!this.#responder) return `You said: ${inputText ?? ''}`;
    return this.#responder(inputText, sessionId, attrs, info);
  }

  service() {
    const fake = this;
    const svc = {
      name: 'bedrock',
      signingName: 'bedrock',
      contentType: 'application/vnd.amazon.eventstream',

      operationOf(req) {
        return ROUTE.test(req.url.split('?')[0]) ? 'InvokeAgent' : null;
      },

      // restJson services answer authentication failures with 403.
      authErrorStatus() {
        return 403;
      },

      sendError(res, status, code, message, opts = {}) {
        const { coral, ...fields } = opts;
        if (coral) {
          // Gateway-generated errors carry the coral namespace in x-amzn-ErrorType.
          sendRestJsonError(res, status, `${code}:http://internal.amazon.com/coral/com.amazon.coral.service/`, message, fields);
        } else {
          sendRestJsonError(res, status, code, message, fields);
        }
      },

      errorForStatus(status) {
        const byStatus = {
          400: 'ValidationException',
          403: 'AccessDeniedException',
          404: 'ResourceNotFoundException',
          409: 'ConflictException',
          424: 'DependencyFailedException',
          429: 'ThrottlingException',
          502: 'BadGatewayException',
        };
        const code = byStatus[status] ?? (status >= 500 ? 'InternalServerException' : 'ValidationException');
        return { code, message: `Injected ${code}` };
      },

      throttleError() {
        return { status: 429, code: 'ThrottlingException', message: 'Rate exceeded' };
      },

      // {exception: ...} in the fault queue: a 200 stream holding just that exception.
      async handleFault(ctx, fault) {
        if (!fault.exception) return false;
        const sessionId = parseRoute(ctx.req.url)?.sessionId ?? 'unknown';
        startStream(ctx.res, sessionId);
        ctx.res.end(encodeException(fault.exception, fault.message ?? EXCEPTIONS[fault.exception] ?? 'error',
          exceptionExtra(fault.exception)));
        return true;
      },

      async handle({ req, res, record, sleep }) {
        if (req.method !== 'POST' || !record.operation) {
          sendRestJsonError(res, 404, 'UnknownOperationException', `No operation for ${req.method} ${req.url}`);
          return;
        }
        const route = parseRoute(req.url);
        const problems = [];
        if (!ID.test(route.agentId)) problems.push('agentId');
        if (!ID.test(route.agentAliasId)) problems.push('agentAliasId');
        if (!SESSION.test(route.sessionId)) problems.push('sessionId');
        if (record.rawBody.length && record.body === undefined) problems.push('body (not JSON)');
        problems.push(...sessionStateProblems(record.body?.sessionState));
        for (const k of ['endSession', 'enableTrace']) {
          if (record.body?.[k] !== undefined && typeof record.body[k] !== 'boolean') problems.push(k);
        }
        if (problems.length) {
          sendRestJsonError(res, 400, 'ValidationException',
            `${problems.length} validation error(s) detected: invalid ${problems.join(', ')}`);
          return;
        }
        const input = record.body ?? {};
        const attrs = input.sessionState?.sessionAttributes ?? {};
        const info = { ...route, body: input, headers: record.headers };
        fake.#invocations.push({ ...route, inputText: input.inputText, sessionState: input.sessionState, body: input });

        let answer = await fake.#answer(input.inputText, route.sessionId, attrs, info);
        if (typeof answer === 'string') answer = { chunks: [answer] };
        if (answer.text !== undefined && !answer.chunks) answer = { ...answer, chunks: [answer.text] };
        if (answer.delayMs) await sleep(answer.delayMs);
        if (res.destroyed) return;
        if (answer.hang) {
          await new Promise((resolve) => res.on('close', resolve));
          return;
        }
        if (answer.error) {
          const e = answer.error;
          sendRestJsonError(res, e.status ?? 500, e.code ?? 'InternalServerException', e.message ?? 'error');
          return;
        }
        startStream(res, route.sessionId, input.memoryId);
        for (const piece of answer.chunks ?? []) {
          res.write(encodeChunk(piece));
          if (answer.chunkDelayMs) await sleep(answer.chunkDelayMs);
          if (res.destroyed) return;
        }
        for (const ev of answer.events ?? []) {
          res.write(encodeScripted(ev));
          if (answer.chunkDelayMs) await sleep(answer.chunkDelayMs);
          if (res.destroyed) return;
        }
        if (answer.cut) {
          // Let the written events reach the client, then break the stream.
          await new Promise((resolve) => res.write('', resolve));
          res.socket?.destroy();
          return;
        }
        if (answer.exception) {
          res.write(encodeException(answer.exception, answer.message ?? EXCEPTIONS[answer.exception] ?? 'error',
            exceptionExtra(answer.exception)));
        }
        res.end();
      },
    };
    return svc;
  }
}

function parseRoute(url) {
  const m = ROUTE.exec(url.split('?')[0]);
  if (!m) return null;
  const dec = (s) => {
    try { return decodeURIComponent(s); } catch { return s; }
  };
  return { agentId: dec(m[1]), agentAliasId: dec(m[2]), sessionId: dec(m[3]) };
}

function startStream(res, sessionId, memoryId) {
  const h = {
    'content-type': 'application/vnd.amazon.eventstream',
    'x-amzn-bedrock-agent-content-type': 'application/json',
    'x-amz-bedrock-agent-session-id': sessionId,
  };
  if (memoryId) h['x-amz-bedrock-agent-memory-id'] = memoryId;
  // No content-length: the real service streams (chunked transfer encoding).
  res.writeHead(200, h);
  res.flushHeaders();
}

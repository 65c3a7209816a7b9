// Fault injection: one FIFO queue per service. Each incoming request of that
// service takes (at most) the next fault, in order, so a test can script
// "first call fails, second succeeds" exactly.
//
// Fault kinds (fields may be combined; delayMs is applied first):
//   {delayMs: N}          hold the request N ms, then carry on (normally, or with the other fields)
//   {drop: true}          destroy the socket without answering
//   {status: 500}         answer with that status and the service's own error shape
//                         (errorType/message override the defaults)
//   {throttle: true}      answer with the service's throttling error
//   {body: 'x', status}   answer with exactly these bytes (default status 200)
//   {hugeBodyBytes: N}    answer 200 with an N-byte body, streamed
//   {exception: 'throttlingException', message}
//                         bedrock only: HTTP 200, then an in-stream exception event

export const FAULT_KINDS = ['delayMs', 'drop', 'status', 'throttle', 'body', 'hugeBodyBytes', 'exception'];

export class FaultQueues {
  #queues = new Map();

  push(service, fault) {
    if (!fault || typeof fault !== 'object') throw new TypeError('fault must be an object');
    const unknown = Object.keys(fault).filter(
      (k) => !FAULT_KINDS.includes(k) && !['errorType', 'message', 'contentType', 'headers', 'fill'].includes(k));
    if (unknown.length) throw new TypeError(`unknown fault field(s): ${unknown.join(', ')}`);
    if (!this.#queues.has(service)) this.#queues.set(service, []);
    this.#queues.get(service).push({ ...fault });
    return this;
  }

  shift(service) {
    return this.#queues.get(service)?.shift() ?? null;
  }

  pending(service) {
    return [...(this.#queues.get(service) ?? [])];
  }

  clear(service) {
    if (service === undefined) this.#queues.clear();
    else this.#queues.delete(service);
  }
}

// Streams `n` bytes without building them in memory at once, respecting
// backpressure, and stops early when the client gives up.
export function streamHugeBody(res, n, fill = 'x', contentType = 'application/octet-stream') {
  const block = Buffer.alloc(Math.min(n, 64 * 1024), fill);
  res.writeHead(200, { 'content-type': contentType, 'content-length': String(n) });
  let left = n;
  const pump = () => {
    while (left > 0 && !res.destroyed) {
      const piece = left >= block.length ? block : block.subarray(0, left);
      left -= piece.length;
      if (!res.write(piece)) {
        res.once('drain', pump);
        return;
      }
    }
    if (!res.destroyed) res.end();
  };
  pump();
}

// Amazon SQS (awsJson1_0, X-Amz-Target: AmazonSQS.<Op>, signing name "sqs"),
// as much as twowayctl uses: CreateQueue, GetQueueUrl, GetQueueAttributes,
// SetQueueAttributes, SendMessage, ReceiveMessage, ChangeMessageVisibility,
// DeleteMessage. Standard
// queues only. Behaves like the service where a client could notice:
//   - CreateQueue of an existing name returns its URL when the attributes given
//     match the queue's, and QueueNameExists (awsQuery code QueueAlreadyExists)
//     when one differs; names are 1-80 of [A-Za-z0-9_-];
//   - attributes are checked by name (InvalidAttributeName) and value
//     (InvalidAttributeValue): MessageRetentionPeriod 60-1209600,
//     VisibilityTimeout 0-43200, ReceiveMessageWaitTimeSeconds 0-20,
//     DelaySeconds 0-900, MaximumMessageSize 1024-262144, Policy a JSON policy
//     document with at least one statement whose Effect is Allow or Deny;
//   - an unknown queue URL is QueueDoesNotExist (awsQuery code
//     AWS.SimpleQueueService.NonExistentQueue);
//   - errors are {"__type": "com.amazonaws.sqs#Code", "message": ...} with the
//     x-amzn-query-error header, as awsQueryCompatible services send them;
//   - ReceiveMessage hides what it returns for VisibilityTimeout seconds;
//     DeleteMessage takes the receipt handle of the latest receive.
// Queue URLs are http://HOST:PORT/ACCOUNT/NAME (the real ones have no port).
import { createHash, randomUUID } from 'node:crypto';

const NS = 'com.amazonaws.sqs#';
const QUERY_CODES = {
  QueueDoesNotExist: 'AWS.SimpleQueueService.NonExistentQueue',
  QueueNameExists: 'QueueAlreadyExists',
  InvalidAttributeName: 'InvalidAttributeName',
  InvalidAttributeValue: 'InvalidAttributeValue',
  ReceiptHandleIsInvalid: 'ReceiptHandleIsInvalid',
  InvalidParameterValue: 'InvalidParameterValue',
  MissingParameter: 'MissingParameter',
};

const RANGES = {
  MessageRetentionPeriod: [60, 1209600],
  VisibilityTimeout: [0, 43200],
  ReceiveMessageWaitTimeSeconds: [0, 20],
  DelaySeconds: [0, 900],
  MaximumMessageSize: [1024, 262144],
};
const DEFAULTS = {
  MessageRetentionPeriod: '345600',
  VisibilityTimeout: '30',
  ReceiveMessageWaitTimeSeconds: '0',
  DelaySeconds: '0',
  MaximumMessageSize: '262144',
};
const SETTABLE = [...Object.keys(RANGES), 'Policy', 'RedrivePolicy', 'RedriveAllowPolicy', 'SqsManagedSseEnabled',
  'KmsMasterKeyId', 'KmsDataKeyReusePeriodSeconds'];

export class SqsError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

function checkAttributes(attrs) {
  if (attrs === undefined) return {};
  if (!attrs || typeof attrs !== 'object' || Array.isArray(attrs)) throw new SqsError('InvalidParameterValue', 'Attributes must be a map');
  for (const [k, v] of Object.entries(attrs)) {
    if (!SETTABLE.includes(k)) throw new SqsError('InvalidAttributeName', `Unknown Attribute ${k}.`);
    if (typeof v !== 'string') throw new SqsError('InvalidAttributeValue', `Invalid value for the parameter ${k}.`);
    if (RANGES[k]) {
      const n = Number(v);
      if (!/^\d+$/.test(v) || n < RANGES[k][0] || n > RANGES[k][1]) {
        throw new SqsError('InvalidAttributeValue', `Invalid value for the parameter ${k}.`);
      }
    }
    if (k === 'Policy') {
      let p;
      try { p = JSON.parse(v); } catch { p = null; }
      const sts = p && typeof p === 'object' ? [].concat(p.Statement ?? []) : [];
      if (!sts.length || sts.some((st) => !['Allow', 'Deny'].includes(st?.Effect))) {
        throw new SqsError('InvalidAttributeValue', 'Invalid value for the parameter Policy.');
      }
    }
  }
  return attrs;
}

export class SqsFake {
  #queues = new Map(); // name -> {name, url, arn, attributes, messages: [], created}
  #seq = 0;

  constructor({ region = 'us-east-1', accountId = '123456789012' } = {}) {
    this.region = region;
    this.accountId = accountId;
    this.baseUrl = null; // set once the server listens
  }

  arnOf(name) {
    return `arn:aws:sqs:${this.region}:${this.accountId}:${name}`;
  }

  #byUrl(url) {
    const name = typeof url === 'string' ? url.split('/').pop() : '';
    const q = this.#queues.get(name);
    if (!q || url !== q.url) throw new SqsError('QueueDoesNotExist', 'The specified queue does not exist.');
    return q;
  }

  // ---- inspection and delivery (for tests and the SNS fake) ----

  queue(name) {
    const q = this.#queues.get(name);
    return q ? { name: q.name, url: q.url, arn: q.arn, attributes: { ...q.attributes }, messages: q.messages.map((m) => ({ ...m })) } : null;
  }

  // Test setup: replace a queue attribute directly (not validated, not recorded).
  setQueueAttribute(name, key, value) {
    const q = this.#queues.get(name);
    if (!q) throw new TypeError(`no queue ${name}`);
    q.attributes[key] = value;
  }

  queueByArn(arn) {
    return [...this.#queues.values()].find((q) => q.arn === arn) ?? null;
  }

  // Does the queue's policy let `service` (a service principal) sqs:SendMessage
  // with this aws:SourceArn? (Allow statements only; a Deny wins.)
  allowsSend(arn, service, sourceArn) {
    const q = this.queueByArn(arn);
    if (!q || !q.attributes.Policy) return false;
    const sts = [].concat(JSON.parse(q.attributes.Policy).Statement ?? []);
    const matches = (st) => {
      const principals = [].concat(st.Principal?.Service ?? []);
      const actions = [].concat(st.Action ?? []).map((a) => a.toLowerCase());
      const resources = [].concat(st.Resource ?? []);
      const cond = st.Condition?.ArnEquals?.['aws:SourceArn'] ?? st.Condition?.ArnLike?.['aws:SourceArn'];
      return principals.includes(service) &&
        actions.some((a) => a === 'sqs:sendmessage' || a === 'sqs:*') &&
        resources.some((r) => r === arn || r === '*') &&
        (cond === undefined || [].concat(cond).includes(sourceArn));
    };
    if (sts.some((st) => st.Effect === 'Deny' && matches(st))) return false;
    return sts.some((st) => st.Effect === 'Allow' && matches(st));
  }

  // Puts a message on the queue (what SendMessage does); returns its MessageId.
  enqueue(arn, body, attributes = {}) {
    const q = this.queueByArn(arn);
    if (!q) throw new SqsError('QueueDoesNotExist', 'The specified queue does not exist.');
    const m = { MessageId: randomUUID(), Body: body, MD5OfBody: createHash('md5').update(body).digest('hex'),
      attributes, visibleAt: 0, receiptHandle: null, receiveCount: 0, sentAt: Date.now() };
    q.messages.push(m);
    return m.MessageId;
  }

  // ---- the API ----

  #create(input) {
    const name = input.QueueName;
    if (typeof name !== 'string' || !/^[A-Za-z0-9_-]{1,80}$/.test(name)) {
      throw new SqsError('InvalidParameterValue', 'Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length');
    }
    const attrs = checkAttributes(input.Attributes);
    const existing = this.#queues.get(name);
    if (existing) {
      for (const [k, v] of Object.entries(attrs)) {
        if ((existing.attributes[k] ?? DEFAULTS[k]) !== v) {
          throw new SqsError('QueueNameExists', `A queue already exists with the same name and a different value for attribute ${k}`);
        }
      }
      return existing;
    }
    const q = { name, url: `${this.baseUrl}/${this.accountId}/${name}`, arn: this.arnOf(name),
      attributes: { ...DEFAULTS, ...attrs }, messages: [], created: Math.floor(Date.now() / 1000) };
    this.#queues.set(name, q);
    return q;
  }

  #visible(q) {
    const now = Date.now();
    return q.messages.filter((m) => m.visibleAt <= now);
  }

  handlers() {
    return {
      CreateQueue: (input) => ({ QueueUrl: this.#create(input).url }),
      GetQueueUrl: (input) => {
        const q = this.#queues.get(input.QueueName);
        if (!q) throw new SqsError('QueueDoesNotExist', 'The specified queue does not exist.');
        return { QueueUrl: q.url };
      },
      GetQueueAttributes: (input) => {
        const q = this.#byUrl(input.QueueUrl);
        const names = input.AttributeNames ?? [];
        const all = {
          ...q.attributes,
          QueueArn: q.arn,
          ApproximateNumberOfMessages: String(this.#visible(q).length),
          ApproximateNumberOfMessagesNotVisible: String(q.messages.length - this.#visible(q).length),
          ApproximateNumberOfMessagesDelayed: '0',
          CreatedTimestamp: String(q.created),
          LastModifiedTimestamp: String(q.created),
        };
        const known = new Set([...Object.keys(all), ...SETTABLE, 'All']);
        for (const n of names) if (!known.has(n)) throw new SqsError('InvalidAttributeName', `Unknown Attribute ${n}.`);
        const want = names.includes('All') ? Object.keys(all) : names;
        return { Attributes: Object.fromEntries(want.filter((n) => all[n] !== undefined).map((n) => [n, all[n]])) };
      },
      SetQueueAttributes: (input) => {
        const q = this.#byUrl(input.QueueUrl);
        Object.assign(q.attributes, checkAttributes(input.Attributes));
        return {};
      },
      SendMessage: (input) => {
        const q = this.#byUrl(input.QueueUrl);
        if (typeof input.MessageBody !== 'string' || !input.MessageBody) throw new SqsError('MissingParameter', 'The request must contain the parameter MessageBody.');
        const id = this.enqueue(q.arn, input.MessageBody);
        return { MessageId: id, MD5OfMessageBody: createHash('md5').update(input.MessageBody).digest('hex') };
      },
      ReceiveMessage: (input) => {
        const q = this.#byUrl(input.QueueUrl);
        const max = input.MaxNumberOfMessages ?? 1;
        if (!Number.isInteger(max) || max < 1 || max > 10) {
          throw new SqsError('InvalidParameterValue', 'Value for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.');
        }
        const timeout = input.VisibilityTimeout ?? Number(q.attributes.VisibilityTimeout);
        const out = this.#visible(q).slice(0, max).map((m) => {
          m.visibleAt = Date.now() + timeout * 1000;
          m.receiptHandle = `${m.MessageId}#${++this.#seq}`;
          m.receiveCount++;
          return { MessageId: m.MessageId, ReceiptHandle: m.receiptHandle, MD5OfBody: m.MD5OfBody, Body: m.Body,
            Attributes: { ApproximateReceiveCount: String(m.receiveCount), SentTimestamp: String(m.sentAt) } };
        });
        return out.length ? { Messages: out } : {};
      },
      ChangeMessageVisibility: (input) => {
        const q = this.#byUrl(input.QueueUrl);
        const m = q.messages.find((x) => x.receiptHandle && x.receiptHandle === input.ReceiptHandle);
        if (!m) throw new SqsError('ReceiptHandleIsInvalid', `The input receipt handle "${input.ReceiptHandle}" is not a valid receipt handle.`);
        const t = input.VisibilityTimeout;
        if (!Number.isInteger(t) || t < 0 || t > 43200) throw new SqsError('InvalidParameterValue', 'Value for parameter VisibilityTimeout is invalid.');
        m.visibleAt = Date.now() + t * 1000;
        return {};
      },
      DeleteMessage: (input) => {
        const q = this.#byUrl(input.QueueUrl);
        const i = q.messages.findIndex((m) => m.receiptHandle && m.receiptHandle === input.ReceiptHandle);
        if (i < 0) throw new SqsError('ReceiptHandleIsInvalid', `The input receipt handle "${input.ReceiptHandle}" is not a valid receipt handle.`);
        q.messages.splice(i, 1);
        return {};
      },
    };
  }

  service() {
    const fake = this;
    const handlers = this.handlers();
    const send = (res, status, body, headers = {}) => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0', 'content-length': Buffer.byteLength(text), ...headers });
      res.end(text);
    };
    return {
      name: 'sqs',
      signingName: 'sqs',
      contentType: 'application/x-amz-json-1.0',
      operationOf(req, record) {
        const target = record.headers['x-amz-target'] ?? '';
        return target.startsWith('AmazonSQS.') ? target.slice('AmazonSQS.'.length) : target || null;
      },
      authErrorStatus() {
        return 400;
      },
      sendError(res, status, code, message) {
        const bare = code.replace(/^.*#/, '');
        send(res, status, { __type: code.includes('#') ? code : NS + bare, message },
          { 'x-amzn-query-error': `${QUERY_CODES[bare] ?? bare};${status >= 500 ? 'Receiver' : 'Sender'}` });
      },
      errorForStatus(status) {
        if (status >= 500) return { code: 'InternalError', message: 'Internal error' };
        return { code: 'InvalidParameterValue', message: 'Injected client error' };
      },
      throttleError() {
        return { status: 400, code: 'RequestThrottled', message: 'Request is throttled.' };
      },
      async handle(ctx) {
        const { res, record } = ctx;
        if (record.rawBody.length && record.body === undefined) {
          this.sendError(res, 400, 'com.amazon.coral.service#SerializationException', 'Unable to parse request body as JSON');
          return;
        }
        const fn = handlers[record.operation];
        if (!fn) {
          this.sendError(res, 400, 'com.amazon.coral.service#UnknownOperationException', `Unknown operation ${record.operation}`);
          return;
        }
        try {
          send(res, 200, fn(record.body ?? {}));
        } catch (err) {
          if (!(err instanceof SqsError)) throw err;
          this.sendError(res, 400, err.code, err.message);
        }
      },
      setBaseUrl(url) { fake.baseUrl = url; },
    };
  }
}

// AWS End User Messaging SMS (pinpoint-sms-voice-v2): awsJson1_0 at POST /,
// X-Amz-Target PinpointSMSVoiceV2.<Operation>, SigV4 signing name "sms-voice".
//
// Operations live in a map (operation name -> handler) so that more of the API can
// be added, or replaced per test, with sms.setHandler(op, fn). A handler gets
// (params, ctx) and returns the response object, or throws smsError(...).

import { randomUUID } from 'node:crypto';
import { sendAwsJsonError, sendJson } from './service.mjs';

const CORAL_NS = 'com.amazon.coral.service#';
// Whether the service sends namespaced or bare __type values is not documented;
// clients must strip everything up to '#'. Namespaced is the stricter test of that.
const SMS_NS = 'com.amazonaws.pinpointsmsvoicev2#';

export class SmsError extends Error {
  constructor(status, code, message, fields = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.fields = fields;
  }
}

export function smsValidationError(message, reason, fields) {
  return new SmsError(400, 'ValidationException', message, {
    Reason: reason,
    ...(fields ? { Fields: fields } : {}),
  });
}

const E164 = /^\+?[1-9][0-9]{1,18}$/;
const NOT_BLANK = /^(?!\s*$)[\s\S]+$/;

function checkString(params, name, { required = false, min = 1, max, pattern } = {}, problems) {
  const v = params[name];
  if (v === undefined || v === null) {
    if (required) problems.push({ Name: name, Message: 'Member must not be null' });
    return;
  }
  if (typeof v !== 'string') {
    problems.push({ Name: name, Message: 'Member must be a string' });
    return;
  }
  if (v.length < min || (max !== undefined && v.length > max)) {
    problems.push({ Name: name, Message: `Member must have length between ${min} and ${max}` });
  } else if (pattern && !pattern.test(v)) {
    problems.push({ Name: name, Message: `Member must satisfy regular expression pattern: ${pattern.source}` });
  }
}

export class SmsFake {
  #sent = [];
  #optedOut = new Set();
  handlers = new Map();

  constructor() {
    this.handlers.set('SendTextMessage', (p, ctx) => this.#sendTextMessage(p, ctx));
  }

  setHandler(operation, fn) {
    if (fn) this.handlers.set(operation, fn);
    else this.handlers.delete(operation);
  }

  // Numbers that answer ConflictException DESTINATION_PHONE_NUMBER_OPTED_OUT.
  setOptedOut(phoneNumber, optedOut = true) {
    if (optedOut) this.#optedOut.add(phoneNumber);
    else this.#optedOut.delete(phoneNumber);
  }

  sent() {
    return this.#sent.map((m) => ({ ...m }));
  }

  #sendTextMessage(p, ctx) {
    const problems = [];
    checkString(p, 'DestinationPhoneNumber', { required: true, max: 20, pattern: E164 }, problems);
    checkString(p, 'OriginationIdentity', { max: 256, pattern: /^[A-Za-z0-9_:/+-]+$/ }, problems);
    checkString(p, 'MessageBody', { max: 1600, pattern: NOT_BLANK }, problems);
    checkString(p, 'ConfigurationSetName', { max: 256, pattern: /^[A-Za-z0-9_:/-]+$/ }, problems);
    checkString(p, 'Keyword', { max: 30, pattern: /^[ \S]+$/ }, problems);
    if (p.MessageType !== undefined && !['TRANSACTIONAL', 'PROMOTIONAL'].includes(p.MessageType)) {
      problems.push({ Name: 'MessageType', Message: 'Member must satisfy enum value set: [TRANSACTIONAL, PROMOTIONAL]' });
    }
    if (problems.length) {
      throw smsValidationError(
        `${problems.length} validation error${problems.length > 1 ? 's' : ''} detected: ` +
          problems.map((f) => `Value at '${f.Name}' failed to satisfy constraint: ${f.Message}`).join('; '),
        'FIELD_VALIDATION_FAILED',
        problems,
      );
    }
    if (this.#optedOut.has(p.DestinationPhoneNumber)) {
      throw new SmsError(400, 'ConflictException', 'The destination phone number is opted out.', {
        Reason: 'DESTINATION_PHONE_NUMBER_OPTED_OUT',
        ResourceType: 'opt-out-list',
        ResourceId: 'Default',
      });
    }
    const MessageId = randomUUID();
    this.#sent.push({ MessageId, ...p, time: new Date().toISOString(), accessKeyId: ctx.record.verification?.accessKeyId });
    return { MessageId };
  }

  service() {
    const fake = this;
    return {
      name: 'sms',
      signingName: 'sms-voice',
      contentType: 'application/x-amz-json-1.0',

      operationOf(req, record) {
        const target = record.headers['x-amz-target'] ?? '';
        return target.startsWith('PinpointSMSVoiceV2.') ? target.slice('PinpointSMSVoiceV2.'.length) : target || null;
      },

      // Coral awsJson services answer authentication failures with 400 (as DynamoDB).
      authErrorStatus() {
        return 400;
      },

      sendError(res, status, code, message, opts = {}) {
        const { coral, ...fields } = opts;
        const type = code.includes('#') ? code : (coral ? CORAL_NS : SMS_NS) + code;
        // Modeled sms-voice errors spell the member "Message"; coral auth errors "message".
        if (coral) sendAwsJsonError(res, status, type, message);
        else {
          const body = JSON.stringify({ __type: type, Message: message, ...fields });
          res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0', 'content-length': Buffer.byteLength(body) });
          res.end(body);
        }
      },

      errorForStatus(status) {
        if (status >= 500) return { code: 'InternalServerException', message: 'Internal server error' };
        return { code: 'ValidationException', message: 'Injected client error' };
      },

      throttleError() {
        return { status: 400, code: 'ThrottlingException', message: 'Rate exceeded' };
      },

      async handle(ctx) {
        const { res, record } = ctx;
        if (record.rawBody.length && record.body === undefined) {
          this.sendError(res, 400, 'SerializationException', 'Unable to parse request body as JSON', { coral: true });
          return;
        }
        const handler = fake.handlers.get(record.operation);
        if (!handler) {
          this.sendError(res, 400, 'UnknownOperationException', `Unknown operation ${record.operation}`, { coral: true });
          return;
        }
        try {
          const out = await handler(record.body ?? {}, ctx);
          sendJson(res, 200, out ?? {});
        } catch (err) {
          if (!(err instanceof SmsError)) throw err;
          this.sendError(res, err.status, err.code, err.message, err.fields);
        }
      },
    };
  }
}

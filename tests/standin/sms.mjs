// AWS End User Messaging SMS (pinpoint-sms-voice-v2): awsJson1_0 at POST /,
// X-Amz-Target PinpointSMSVoiceV2.<Operation>, SigV4 signing name "sms-voice".
//
// Operations live in a map (operation name -> handler) so that more of the API can
// be added, or replaced per test, with sms.setHandler(op, fn). A handler gets
// (params, ctx) and returns the response object, or throws smsError(...).
//
// Phone numbers (DescribePhoneNumbers, UpdatePhoneNumber) are
// kept per number: addPhoneNumber({phoneNumber, status: 'PENDING'|'ACTIVE'|..., ...})
// seeds one, setPhoneNumberStatus() moves it (a number leaves PENDING only when a
// test says so), phoneNumbers() shows the current state. UpdatePhoneNumber on a
// number that is not ACTIVE is ConflictException RESOURCE_NOT_ACTIVE.
// DescribePhoneNumbers pages by MaxResults (default: setPageSize(), 10).
//
// Rate: SendTextMessage from a number the stand-in owns is limited, like the
// service, in message parts per second (MPS) by the number's type and country
// (mpsOf(): US toll-free 3, US 10DLC 1, US and Canadian short codes 100,
// Canadian long codes 1, other long codes 10, anything else 1). Each number has
// a token bucket holding one second of its MPS, full at the start; a message
// costs its parts (partsOf(): GSM-7 160/153 septets, else UCS-2 70/67 code
// units) and is refused with ThrottlingException while the bucket holds fewer
// than min(parts, MPS) tokens (less 50 ms of refill: arrival jitter of requests
// paced exactly at the rate). throttled() lists the refusals; resetRateLimits()
// fills every bucket again. A test that
// needs a fast number gives it the SHORT_CODE type.
//
// Identities: SendTextMessage from an OriginationIdentity that is none of the
// seeded numbers (by number, id or ARN) is ResourceNotFoundException (400,
// ResourceType phone-number, pool or sender-id, ResourceId the identity), as
// the service answers an identity the account does not own. A test that
// sends seeds its numbers first (a SHORT_CODE when it needs speed).

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

const NUMBER_STATUSES = ['PENDING', 'ACTIVE', 'ASSOCIATING', 'DISASSOCIATING', 'DELETED'];
const NUMBER_TYPES = ['SHORT_CODE', 'LONG_CODE', 'TOLL_FREE', 'TEN_DLC', 'SIMULATOR'];
// DescribePhoneNumbers filter name -> PhoneNumberInformation member.
const NUMBER_FILTERS = {
  status: 'Status',
  'iso-country-code': 'IsoCountryCode',
  'message-type': 'MessageType',
  'number-type': 'NumberType',
  'two-way-enabled': 'TwoWayEnabled',
  'self-managed-opt-outs-enabled': 'SelfManagedOptOutsEnabled',
  'opt-out-list-name': 'OptOutListName',
  'deletion-protection-enabled': 'DeletionProtectionEnabled',
  'two-way-channel-arn': 'TwoWayChannelArn',
};

// AWS End User Messaging SMS, "Message Parts per Second (MPS) limits".
export function mpsOf(numberType, isoCountryCode) {
  if (numberType === 'SHORT_CODE' && ['US', 'CA'].includes(isoCountryCode)) return 100;
  if (numberType === 'TOLL_FREE' && isoCountryCode === 'US') return 3;
  if (numberType === 'TEN_DLC' && isoCountryCode === 'US') return 1;
  if (numberType === 'LONG_CODE') return isoCountryCode === 'CA' ? 1 : 10;
  return 1;
}

// GSM 03.38: the default alphabet (one septet) and its extension table (two).
const GSM_BASIC = new Set([...'@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà']);
const GSM_EXTENDED = new Set([...'\f^{}\\[~]|€']);

// The message parts a body is sent as.
export function partsOf(body) {
  let septets = 0;
  let gsm = true;
  for (const ch of body) {
    if (GSM_BASIC.has(ch)) septets += 1;
    else if (GSM_EXTENDED.has(ch)) septets += 2;
    else { gsm = false; break; }
  }
  if (gsm) return septets === 0 ? 0 : septets <= 160 ? 1 : Math.ceil(septets / 153);
  const units = body.length; // UTF-16 code units, as UCS-2 counts them
  return units <= 70 ? 1 : Math.ceil(units / 67);
}

function notFound(id) {
  return new SmsError(400, 'ResourceNotFoundException', `Phone number ${id} does not exist.`, {
    ResourceType: 'phone-number',
    ResourceId: id,
  });
}

// The kind of resource an OriginationIdentity names (ResourceType of the
// model's ResourceNotFoundException): a pool or sender ID by its id or ARN,
// else a phone number (E.164, id or ARN).
function identityType(id) {
  if (/^pool-|:pool\//.test(id)) return 'pool';
  if (/:sender-id\//.test(id) || !/^(\+?[0-9]+|phone-[0-9a-f]+|arn:.*)$/.test(id)) return 'sender-id';
  return 'phone-number';
}

function identityNotFound(id) {
  const type = identityType(id);
  return new SmsError(400, 'ResourceNotFoundException', `The ${type} ${id} was not found.`, {
    ResourceType: type,
    ResourceId: id,
  });
}

export class SmsFake {
  #sent = [];
  #optedOut = new Set();
  #numbers = new Map(); // PhoneNumberId -> PhoneNumberInformation
  #pageSize = 10;
  #buckets = new Map(); // PhoneNumberId -> { tokens, stamp } (seconds)
  #throttled = [];
  handlers = new Map();

  // opts: region ('us-east-1'), accountId ('123456789012') for phone number ARNs.
  constructor(opts = {}) {
    this.region = opts.region ?? 'us-east-1';
    this.accountId = opts.accountId ?? '123456789012';
    this.handlers.set('SendTextMessage', (p, ctx) => this.#sendTextMessage(p, ctx));
    this.handlers.set('DescribePhoneNumbers', (p) => this.#describePhoneNumbers(p));
    this.handlers.set('UpdatePhoneNumber', (p) => this.#updatePhoneNumber(p));
  }

  /**
   * Seeds a phone number; returns its PhoneNumberInformation. Fields (all optional):
   * phoneNumber ('+18005550199'), id, status ('ACTIVE'), numberType ('TOLL_FREE'),
   * messageType ('TRANSACTIONAL'), isoCountryCode ('US'), twoWayEnabled (false),
   * twoWayChannelArn, twoWayChannelRole, selfManagedOptOutsEnabled (false),
   * optOutListName ('Default').
   */
  addPhoneNumber(o = {}) {
    const id = o.id ?? `phone-${randomUUID().replace(/-/g, '')}`;
    const status = o.status ?? 'ACTIVE';
    if (!NUMBER_STATUSES.includes(status)) throw new TypeError(`unknown phone number status ${status}`);
    const numberType = o.numberType ?? 'TOLL_FREE';
    if (!NUMBER_TYPES.includes(numberType)) throw new TypeError(`unknown number type ${numberType}`);
    const info = {
      PhoneNumberArn: `arn:aws:sms-voice:${this.region}:${this.accountId}:phone-number/${id}`,
      PhoneNumberId: id,
      PhoneNumber: o.phoneNumber ?? '+18005550199',
      Status: status,
      IsoCountryCode: o.isoCountryCode ?? 'US',
      MessageType: o.messageType ?? 'TRANSACTIONAL',
      NumberCapabilities: ['SMS'],
      NumberType: numberType,
      MonthlyLeasingPrice: '2.00',
      TwoWayEnabled: o.twoWayEnabled ?? false,
      SelfManagedOptOutsEnabled: o.selfManagedOptOutsEnabled ?? false,
      OptOutListName: o.optOutListName ?? 'Default',
      DeletionProtectionEnabled: false,
      CreatedTimestamp: Math.floor(Date.now() / 1000),
    };
    if (o.twoWayChannelArn) info.TwoWayChannelArn = o.twoWayChannelArn;
    if (o.twoWayChannelRole) info.TwoWayChannelRole = o.twoWayChannelRole;
    this.#numbers.set(id, info);
    return structuredClone(info);
  }

  phoneNumbers() {
    return [...this.#numbers.values()].map((n) => structuredClone(n));
  }

  #lookup(idOrArn) {
    if (this.#numbers.has(idOrArn)) return this.#numbers.get(idOrArn);
    return [...this.#numbers.values()].find((n) => n.PhoneNumberArn === idOrArn || n.PhoneNumber === idOrArn);
  }

  // idOrNumber: the id, ARN or E.164 number.
  setPhoneNumberStatus(idOrNumber, status) {
    if (!NUMBER_STATUSES.includes(status)) throw new TypeError(`unknown phone number status ${status}`);
    const n = this.#lookup(idOrNumber);
    if (!n) throw new TypeError(`no phone number ${idOrNumber}`);
    n.Status = status;
  }

  // Changes fields of a seeded number directly (test setup; not recorded).
  patchPhoneNumber(idOrNumber, fields) {
    const n = this.#lookup(idOrNumber);
    if (!n) throw new TypeError(`no phone number ${idOrNumber}`);
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined || v === null) delete n[k];
      else n[k] = v;
    }
  }

  setPageSize(n) {
    if (!Number.isInteger(n) || n < 1 || n > 100) throw new RangeError('page size 1..100');
    this.#pageSize = n;
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

  // Every owned number's bucket full again (a test's fresh start).
  resetRateLimits() {
    this.#buckets.clear();
  }

  // SendTextMessage calls refused with ThrottlingException by the rate limit.
  throttled() {
    return this.#throttled.map((m) => ({ ...m }));
  }

  // Takes parts from the number's bucket, or throws ThrottlingException.
  #spend(number, parts) {
    const mps = mpsOf(number.NumberType, number.IsoCountryCode);
    const now = performance.now() / 1000;
    const b = this.#buckets.get(number.PhoneNumberId) ?? { tokens: mps, stamp: now };
    b.tokens = Math.min(mps, b.tokens + (now - b.stamp) * mps);
    b.stamp = now;
    this.#buckets.set(number.PhoneNumberId, b);
    // 50 ms of slack: requests paced exactly at the rate arrive with jitter.
    if (b.tokens + 0.05 * mps < Math.min(parts, mps)) {
      this.#throttled.push({ OriginationIdentity: number.PhoneNumber, parts, mps, time: new Date().toISOString() });
      throw new SmsError(400, 'ThrottlingException', 'Rate exceeded');
    }
    b.tokens -= parts;
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
    const parts = partsOf(p.MessageBody ?? '');
    const from = p.OriginationIdentity === undefined ? undefined : this.#lookup(p.OriginationIdentity);
    // The service sends only from the account's own identities (or a shared
    // resource's full ARN): anything else is a resource it cannot find.
    if (p.OriginationIdentity !== undefined && !from) throw identityNotFound(p.OriginationIdentity);
    if (from) this.#spend(from, parts);
    if (this.#optedOut.has(p.DestinationPhoneNumber)) {
      throw new SmsError(400, 'ConflictException', 'The destination phone number is opted out.', {
        Reason: 'DESTINATION_PHONE_NUMBER_OPTED_OUT',
        ResourceType: 'opt-out-list',
        ResourceId: 'Default',
      });
    }
    const MessageId = randomUUID();
    this.#sent.push({ MessageId, ...p, parts, time: new Date().toISOString(), accessKeyId: ctx.record.verification?.accessKeyId });
    return { MessageId };
  }

  #describePhoneNumbers(p) {
    const problems = [];
    if (p.PhoneNumberIds !== undefined &&
        (!Array.isArray(p.PhoneNumberIds) || p.PhoneNumberIds.length < 1 || p.PhoneNumberIds.length > 5)) {
      problems.push({ Name: 'PhoneNumberIds', Message: 'Member must have length between 1 and 5' });
    }
    if (p.MaxResults !== undefined && (!Number.isInteger(p.MaxResults) || p.MaxResults < 1 || p.MaxResults > 100)) {
      problems.push({ Name: 'MaxResults', Message: 'Member must have value between 1 and 100' });
    }
    if (p.Filters !== undefined && !Array.isArray(p.Filters)) problems.push({ Name: 'Filters', Message: 'Member must be a list' });
    let start = 0;
    if (p.NextToken !== undefined) {
      start = Number(Buffer.from(String(p.NextToken), 'base64').toString('utf8').replace(/^offset:/, ''));
      if (!Number.isInteger(start) || start < 0) problems.push({ Name: 'NextToken', Message: 'Invalid token' });
    }
    if (problems.length) {
      throw smsValidationError(`${problems.length} validation error(s) detected`, 'FIELD_VALIDATION_FAILED', problems);
    }
    let list;
    if (p.PhoneNumberIds) {
      list = p.PhoneNumberIds.map((id) => {
        const n = this.#numbers.get(id) ?? [...this.#numbers.values()].find((x) => x.PhoneNumberArn === id);
        if (!n) throw notFound(id);
        return n;
      });
    } else {
      list = [...this.#numbers.values()];
    }
    for (const f of p.Filters ?? []) {
      const member = NUMBER_FILTERS[f?.Name];
      if (!member || !Array.isArray(f.Values)) {
        throw smsValidationError(`Invalid filter ${JSON.stringify(f?.Name)}`, 'INVALID_FILTER_VALUES');
      }
      list = list.filter((n) => f.Values.includes(String(n[member] ?? '')));
    }
    const size = p.MaxResults ?? this.#pageSize;
    const page = list.slice(start, start + size);
    const out = { PhoneNumbers: page.map((n) => structuredClone(n)) };
    if (start + size < list.length) out.NextToken = Buffer.from(`offset:${start + size}`).toString('base64');
    return out;
  }

  #updatePhoneNumber(p) {
    const problems = [];
    checkString(p, 'PhoneNumberId', { required: true, max: 256, pattern: /^[A-Za-z0-9_:/-]+$/ }, problems);
    checkString(p, 'TwoWayChannelArn', { min: 20, max: 2048, pattern: /^\S+$/ }, problems);
    checkString(p, 'TwoWayChannelRole', { min: 20, max: 2048, pattern: /^arn:\S+$/ }, problems);
    checkString(p, 'OptOutListName', { max: 256, pattern: /^[A-Za-z0-9_:/-]+$/ }, problems);
    for (const b of ['TwoWayEnabled', 'SelfManagedOptOutsEnabled', 'DeletionProtectionEnabled']) {
      if (p[b] !== undefined && typeof p[b] !== 'boolean') problems.push({ Name: b, Message: 'Member must be a boolean' });
    }
    if (problems.length) {
      throw smsValidationError(`${problems.length} validation error(s) detected`, 'FIELD_VALIDATION_FAILED', problems);
    }
    const n = this.#numbers.get(p.PhoneNumberId) ??
      [...this.#numbers.values()].find((x) => x.PhoneNumberArn === p.PhoneNumberId);
    if (!n) throw notFound(p.PhoneNumberId);
    if (n.Status !== 'ACTIVE') {
      throw new SmsError(400, 'ConflictException', `Phone number ${n.PhoneNumberId} is ${n.Status}.`, {
        Reason: 'RESOURCE_NOT_ACTIVE', ResourceType: 'phone-number', ResourceId: n.PhoneNumberId,
      });
    }
    if (p.TwoWayEnabled === true && !p.TwoWayChannelArn && !n.TwoWayChannelArn) {
      throw smsValidationError('TwoWayChannelArn is required to enable two-way messaging.', 'TWO_WAY_CHANNEL_NOT_PRESENT');
    }
    for (const k of ['TwoWayEnabled', 'TwoWayChannelArn', 'TwoWayChannelRole', 'SelfManagedOptOutsEnabled',
      'OptOutListName', 'DeletionProtectionEnabled']) {
      if (p[k] !== undefined) n[k] = p[k];
    }
    return structuredClone(n);
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

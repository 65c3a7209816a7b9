// DynamoDB Time to Live for the stand-in: UpdateTimeToLive, which dynalite 4
// lacks, and DescribeTimeToLive answered from the same state (dynalite always
// says DISABLED).
//
// What the real service does, and this does too:
//   - the request is validated like every other (dynalite's own validation code
//     and messages): TableName required, 3 to 255 characters (a table ARN is
//     accepted and reduced to its name); TimeToLiveSpecification required, its
//     Enabled (boolean) and AttributeName (1 to 255 characters) required;
//   - a table that does not exist: ResourceNotFoundException
//     "Requested resource not found: Table: NAME not found";
//   - enabling while enabled (whatever the attribute): ValidationException
//     "TimeToLive is already enabled"; disabling while disabled: "TimeToLive is
//     already disabled"; disabling with another attribute than the enabled one:
//     "TimeToLive is active on a different AttributeName: current AttributeName
//     is X";
//   - a second change within the hour after one: ValidationException "Time to
//     live has been modified multiple times within a fixed interval" (the
//     interval is cooldownMs, an hour by default);
//   - the answer is {TimeToLiveSpecification: {Enabled, AttributeName}} as sent.
// The real service passes through ENABLING/DISABLING for up to an hour; here a
// change takes effect at once, as tables are ACTIVE at once (createTableMs 0).
// A table deleted and created again starts with TTL disabled.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const validations = require('dynalite/validations');
const db = require('dynalite/db');

const TTL_TYPES = {
  TableName: {
    type: 'String',
    required: true,
    tableName: true,
    regex: '[a-zA-Z0-9_.-]+',
  },
  TimeToLiveSpecification: {
    type: 'FieldStruct<TimeToLiveSpecification>',
    required: true,
    children: {
      Enabled: { type: 'Boolean', notNull: true },
      AttributeName: {
        type: 'String',
        notNull: true,
        lengthGreaterThanOrEqual: 1,
        lengthLessThanOrEqual: 255,
      },
    },
  },
};

const DESCRIBE_TYPES = { TableName: TTL_TYPES.TableName };

// "arn:aws:dynamodb:REGION:ACCOUNT:table/NAME" -> "NAME"; anything else as it is.
function tableNameOf(name) {
  const m = typeof name === 'string' ? /^arn:[^:]+:dynamodb:[^:]*:[^:]*:table\/([^/]+)$/.exec(name) : null;
  return m ? m[1] : name;
}

class ApiError extends Error {
  constructor(status, body) {
    super(body.message);
    this.status = status;
    this.body = body;
  }
}

function validationError(message) {
  return new ApiError(400, db.validationError(message).body);
}

// Run dynalite's validation of a request; throws an ApiError with its answer.
function validate(data, types) {
  try {
    const out = validations.checkTypes({ ...data }, types);
    validations.checkValidations(out, types, null, null);
    return out;
  } catch (err) {
    if (err.statusCode) throw new ApiError(err.statusCode, err.body);
    throw err;
  }
}

export class TimeToLive {
  // name -> {created, enabled, attributeName, modifiedAt}
  #tables = new Map();

  // backend: its call(operation, params) reaches dynalite directly.
  constructor(backend, { cooldownMs = 3600 * 1000, now = () => Date.now() } = {}) {
    this.backend = backend;
    this.cooldownMs = cooldownMs;
    this.now = now;
  }

  // The table's current TTL state, or an ApiError when it does not exist.
  async #state(name) {
    let table;
    try {
      table = (await this.backend.call('DescribeTable', { TableName: name })).Table;
    } catch (err) {
      if (err.body?.__type?.endsWith('ResourceNotFoundException')) {
        throw new ApiError(400, {
          __type: err.body.__type,
          message: `Requested resource not found: Table: ${name} not found`,
        });
      }
      throw err;
    }
    let s = this.#tables.get(name);
    if (!s || s.created !== table.CreationDateTime) {
      s = { created: table.CreationDateTime, enabled: false, attributeName: null, modifiedAt: null };
      this.#tables.set(name, s);
    }
    return s;
  }

  // Whatever the request's JSON is: {status, body} of the answer.
  async update(params) {
    try {
      const data = validate({ ...params, TableName: tableNameOf(params?.TableName) }, TTL_TYPES);
      const spec = data.TimeToLiveSpecification;
      const s = await this.#state(data.TableName);
      if (spec.Enabled && s.enabled) throw validationError('TimeToLive is already enabled');
      if (!spec.Enabled && !s.enabled) throw validationError('TimeToLive is already disabled');
      if (!spec.Enabled && s.attributeName !== spec.AttributeName) {
        throw validationError(
          `TimeToLive is active on a different AttributeName: current AttributeName is ${s.attributeName}`,
        );
      }
      if (s.modifiedAt !== null && this.now() - s.modifiedAt < this.cooldownMs) {
        throw validationError('Time to live has been modified multiple times within a fixed interval');
      }
      s.enabled = spec.Enabled;
      s.attributeName = spec.Enabled ? spec.AttributeName : null;
      s.modifiedAt = this.now();
      return {
        status: 200,
        body: { TimeToLiveSpecification: { Enabled: spec.Enabled, AttributeName: spec.AttributeName } },
      };
    } catch (err) {
      if (err instanceof ApiError) return { status: err.status, body: err.body };
      throw err;
    }
  }

  async describe(params) {
    try {
      const data = validate({ ...params, TableName: tableNameOf(params?.TableName) }, DESCRIBE_TYPES);
      const s = await this.#state(data.TableName);
      const d = s.enabled
        ? { TimeToLiveStatus: 'ENABLED', AttributeName: s.attributeName }
        : { TimeToLiveStatus: 'DISABLED' };
      return { status: 200, body: { TimeToLiveDescription: d } };
    } catch (err) {
      if (err instanceof ApiError) return { status: err.status, body: err.body };
      throw err;
    }
  }
}

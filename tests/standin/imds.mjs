// EC2 instance metadata service, IMDSv2 only (as on instances with
// HttpTokens=required): every GET needs a session token from PUT /latest/api/token,
// or gets 401.
//
// Each GET of the role's credentials issues a NEW temporary key set (short,
// configurable lifetime) and registers it with the shared credential store, so
// the SigV4 verifiers accept it until it expires. That makes credential refresh
// observable: a client that keeps using old keys past Expiration gets
// ExpiredTokenException from the services.

import { randomBytes } from 'node:crypto';

const MAX_TOKEN_TTL = 21600;

export class ImdsFake {
  #tokens = new Map(); // token -> expiresAt ms
  #issued = [];

  constructor({ credentials, region, roleName = 'twowayd-standin-role', credentialLifetimeSec = 3600,
    accountId = '123456789012', instanceId = 'i-0standin00000000', now = () => Date.now() }) {
    this.credentials = credentials;
    this.region = region;
    this.roleName = roleName;
    this.credentialLifetimeSec = credentialLifetimeSec;
    this.accountId = accountId;
    this.instanceId = instanceId;
    this.now = now;
  }

  setCredentialLifetime(sec) {
    this.credentialLifetimeSec = sec;
  }

  // Every credential set handed out so far, newest last.
  issued() {
    return this.#issued.map((c) => ({ ...c }));
  }

  #issue() {
    const e = this.credentials.issueTemporary(this.credentialLifetimeSec * 1000, 'imds');
    const doc = {
      Code: 'Success',
      LastUpdated: isoSeconds(e.issuedAt),
      Type: 'AWS-HMAC',
      AccessKeyId: e.accessKeyId,
      SecretAccessKey: e.secretAccessKey,
      Token: e.sessionToken,
      Expiration: isoSeconds(e.expiresAt),
    };
    this.#issued.push(doc);
    return doc;
  }

  service() {
    const fake = this;
    return {
      name: 'imds',
      signingName: null,
      contentType: 'text/plain',

      operationOf(req) {
        return `${req.method} ${req.url.split('?')[0]}`;
      },
      authErrorStatus() {
        return 401;
      },
      sendError(res, status, code, message) {
        res.writeHead(status, { 'content-type': 'text/plain' });
        res.end(message ?? code);
      },
      errorForStatus(status) {
        return { code: String(status), message: status >= 500 ? 'Internal Server Error' : 'Error' };
      },
      throttleError() {
        return { status: 429, code: '429', message: 'Too Many Requests' };
      },

      handle({ req, res, headers }) {
        const path = req.url.split('?')[0];
        const text = (status, body, extra = {}) => {
          res.writeHead(status, { 'content-type': 'text/plain', ...extra });
          res.end(body);
        };
        if (path === '/latest/api/token') {
          if (req.method !== 'PUT') return text(405, 'Method Not Allowed');
          // Real IMDS refuses token requests that went through a proxy.
          if (headers['x-forwarded-for']) return text(403, 'Forbidden');
          const ttl = Number(headers['x-aws-ec2-metadata-token-ttl-seconds']);
          if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TOKEN_TTL) return text(400, 'Bad Request');
          const token = randomBytes(32).toString('base64');
          fake.#tokens.set(token, fake.now() + ttl * 1000);
          return text(200, token, { 'x-aws-ec2-metadata-token-ttl-seconds': String(ttl) });
        }
        if (req.method !== 'GET') return text(405, 'Method Not Allowed');
        const token = headers['x-aws-ec2-metadata-token'];
        const exp = token && fake.#tokens.get(token);
        if (!exp || fake.now() >= exp) return text(401, 'Unauthorized');

        const credPrefix = '/latest/meta-data/iam/security-credentials/';
        if (path === credPrefix) return text(200, fake.roleName);
        if (path.startsWith(credPrefix)) {
          if (path.slice(credPrefix.length) !== fake.roleName) return text(404, 'Not Found');
          const body = JSON.stringify(fake.#issue(), null, 2);
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end(body);
          return;
        }
        const az = `${fake.region}a`;
        switch (path) {
          case '/latest/meta-data/placement/region':
            return text(200, fake.region);
          case '/latest/meta-data/placement/availability-zone':
            return text(200, az);
          case '/latest/meta-data/instance-id':
            return text(200, fake.instanceId);
          case '/latest/dynamic/instance-identity/document':
            res.writeHead(200, { 'content-type': 'text/plain' });
            res.end(JSON.stringify({
              accountId: fake.accountId,
              architecture: 'x86_64',
              availabilityZone: az,
              imageId: 'ami-0standin000000000',
              instanceId: fake.instanceId,
              instanceType: 't3.micro',
              pendingTime: '2026-01-01T00:00:00Z',
              privateIp: '127.0.0.1',
              region: fake.region,
              version: '2017-09-30',
            }, null, 2));
            return;
          default:
            return text(404, 'Not Found');
        }
      },
    };
  }
}

function isoSeconds(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// Server-side AWS Signature Version 4 verification (header form), built on the
// official signer @smithy/signature-v4.
//
// The signer has no verify(), so verification is "sign again and compare":
//   1. parse Authorization: AWS4-HMAC-SHA256 Credential=<akid>/<date>/<region>/<service>/aws4_request,
//      SignedHeaders=<a;b;c>, Signature=<hex>
//   2. check what AWS checks before the signature: key known, token present/matching
//      for temporary keys, not expired, scope region/service, scope date vs X-Amz-Date,
//      clock skew;
//   3. rebuild the request with exactly the headers the client listed as signed, the
//      raw path as sent on the wire and the raw body bytes, and sign it with the
//      client's own X-Amz-Date;
//   4. compare signatures in constant time.
// Every outcome carries the AWS error code and message the real service would answer
// with, plus the canonical request and string-to-sign we computed, because that is
// what one needs to debug a hand-written signer.

import { createHash, timingSafeEqual } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';

const Sha256 = Hash.bind(null, 'sha256');
const ALGORITHM = 'AWS4-HMAC-SHA256';
export const DEFAULT_MAX_SKEW_MS = 5 * 60 * 1000;

const MSG_BAD_SIGNATURE =
  'The request signature we calculated does not match the signature you provided. ' +
  'Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';
const MSG_BAD_TOKEN = 'The security token included in the request is invalid.';
const MSG_EXPIRED_TOKEN = 'The security token included in the request is expired';

function fail(code, message, extra = {}) {
  return { ok: false, code, message, ...extra };
}

// "Credential=a/b, SignedHeaders=c, Signature=d" -> {Credential, SignedHeaders, Signature}
export function parseAuthorization(value) {
  if (typeof value !== 'string') return null;
  const trimmed = value.trim();
  const sp = trimmed.indexOf(' ');
  if (sp < 0) return { algorithm: trimmed, params: {} };
  const algorithm = trimmed.slice(0, sp);
  const params = {};
  for (const part of trimmed.slice(sp + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    params[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return { algorithm, params };
}

// 20251124T101500Z -> Date (null if malformed)
export function parseAmzDate(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s ?? '');
  if (!m) return null;
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
  return Number.isNaN(d.getTime()) ? null : d;
}

export function formatAmzDate(ms) {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

// Query string -> the {name: value | [values]} map the signer expects (decoded; the
// signer re-encodes names and values itself).
function parseQuery(qs) {
  const query = {};
  if (!qs) return query;
  for (const pair of qs.split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const dec = (s) => {
      try { return decodeURIComponent(s); } catch { return s; }
    };
    const k = dec(eq < 0 ? pair : pair.slice(0, eq));
    const v = dec(eq < 0 ? '' : pair.slice(eq + 1));
    if (k in query) query[k] = [].concat(query[k], v);
    else query[k] = v;
  }
  return query;
}

/**
 * Verifies one request.
 * @param {object} req  {method, url (raw path + query as received), headers: {lowercase name: value},
 *                       body: Buffer}
 * @param {object} ctx  {credentials: CredentialStore, region, service (expected signing name),
 *                       now?: () => ms, maxSkewMs?}
 * @returns {Promise<object>} {ok, code?, message?, accessKeyId?, temporary?, region?, service?,
 *                      signedHeaders?, canonicalRequest?, stringToSign?}
 */
export async function verifySigV4(req, ctx) {
  const now = (ctx.now ?? Date.now)();
  const maxSkewMs = ctx.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
  const headers = req.headers;
  const auth = headers['authorization'];
  if (!auth) return fail('MissingAuthenticationTokenException', 'Request is missing Authentication Token');

  const parsed = parseAuthorization(auth);
  if (parsed.algorithm !== ALGORITHM) {
    return fail('IncompleteSignatureException', `Unsupported AWS 'algorithm': '${parsed.algorithm}'.`);
  }
  const missing = ['Credential', 'SignedHeaders', 'Signature'].filter((k) => !parsed.params[k]);
  if (missing.length) {
    return fail('IncompleteSignatureException',
      missing.map((k) => `Authorization header requires '${k}' parameter.`).join(' ') +
      ` Authorization=${auth}`);
  }
  const scopeParts = parsed.params.Credential.split('/');
  if (scopeParts.length !== 5 || scopeParts[4] !== 'aws4_request') {
    return fail('IncompleteSignatureException',
      `Credential should be scoped to a valid scope: '<akid>/<date>/<region>/<service>/aws4_request'. ` +
      `Credential=${parsed.params.Credential}`);
  }
  const [accessKeyId, scopeDate, scopeRegion, scopeService] = scopeParts;
  const signedHeaders = parsed.params.SignedHeaders.split(';');
  const signature = parsed.params.Signature;
  const base = { accessKeyId, region: scopeRegion, service: scopeService, signedHeaders };

  const amzDateStr = headers['x-amz-date'];
  if (!amzDateStr) {
    return fail('IncompleteSignatureException',
      "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. " +
      `Authorization=${auth}`, base);
  }
  const signingDate = parseAmzDate(amzDateStr);
  if (!signingDate) {
    return fail('IncompleteSignatureException', `Date must be in ISO-8601 'basic format'. Got '${amzDateStr}'.`, base);
  }

  // Key checks come before the signature, as on AWS: an unknown key or a missing
  // token is UnrecognizedClientException whatever the signature.
  const entry = ctx.credentials.get(accessKeyId);
  if (!entry) return fail('UnrecognizedClientException', MSG_BAD_TOKEN, base);
  const token = headers['x-amz-security-token'];
  if ((entry.sessionToken ?? undefined) !== (token ?? undefined)) {
    return fail('UnrecognizedClientException', MSG_BAD_TOKEN, base);
  }
  const temporary = entry.sessionToken !== undefined;
  Object.assign(base, { temporary });
  if (ctx.credentials.isExpired(entry)) return fail('ExpiredTokenException', MSG_EXPIRED_TOKEN, base);

  if (scopeRegion !== ctx.region) {
    return fail('InvalidSignatureException', 'Credential should be scoped to a valid region. ', base);
  }
  if (scopeService !== ctx.service) {
    return fail('InvalidSignatureException', `Credential should be scoped to correct service: '${ctx.service}'. `, base);
  }
  if (scopeDate !== amzDateStr.slice(0, 8)) {
    return fail('InvalidSignatureException',
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: ` +
      `'${scopeDate}' != '${amzDateStr.slice(0, 8)}', from '${amzDateStr}'.`, base);
  }
  const skew = signingDate.getTime() - now;
  if (skew < -maxSkewMs) {
    return fail('InvalidSignatureException',
      `Signature expired: ${amzDateStr} is now earlier than ${formatAmzDate(now - maxSkewMs)} ` +
      `(${formatAmzDate(now)} - ${maxSkewMs / 60000} min.)`, base);
  }
  if (skew > maxSkewMs) {
    return fail('InvalidSignatureException',
      `Signature not yet current: ${amzDateStr} is still later than ${formatAmzDate(now + maxSkewMs)} ` +
      `(${formatAmzDate(now)} + ${maxSkewMs / 60000} min.)`, base);
  }
  if (!signedHeaders.includes('host')) {
    return fail('InvalidSignatureException',
      "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.", base);
  }

  // The signer believes an x-amz-content-sha256 header instead of hashing the body.
  // Services other than S3 hash the bytes they received, so hold the header to the
  // real body hash; otherwise a tampered body with a stale header would pass.
  const body = req.body ?? Buffer.alloc(0);
  const bodyHash = createHash('sha256').update(body).digest('hex');
  const claimedHash = headers['x-amz-content-sha256'];
  if (claimedHash !== undefined && claimedHash !== bodyHash) {
    return fail('InvalidSignatureException',
      "The provided 'x-amz-content-sha256' header does not match what was computed.", base);
  }

  // Rebuild the request from exactly the signed headers. Headers that the signer
  // would normally skip (user-agent, content-length, ...) are forced in through
  // signableHeaders when the client chose to sign them.
  const rebuilt = {};
  for (const name of signedHeaders) {
    if (headers[name] === undefined) {
      return fail('InvalidSignatureException', `Signed header '${name}' is missing from the request. ` + MSG_BAD_SIGNATURE, base);
    }
    rebuilt[name] = headers[name];
  }
  const rawUrl = req.url ?? '/';
  const qi = rawUrl.indexOf('?');
  const request = {
    method: req.method,
    protocol: 'http:',
    hostname: (headers['host'] ?? 'localhost').replace(/:\d+$/, ''),
    path: qi < 0 ? rawUrl : rawUrl.slice(0, qi),
    query: parseQuery(qi < 0 ? '' : rawUrl.slice(qi + 1)),
    headers: rebuilt,
    body,
  };
  const signer = new SignatureV4({
    credentials: {
      accessKeyId,
      secretAccessKey: entry.secretAccessKey,
      // A token that was sent but left out of SignedHeaders is accepted by AWS (the
      // "token added after signing" variant); only let the signer add it if signed.
      sessionToken: signedHeaders.includes('x-amz-security-token') ? token : undefined,
    },
    region: scopeRegion,
    service: scopeService,
    sha256: Sha256,
    applyChecksum: false,
    uriEscapePath: true, // non-S3 rule: the wire path is URI-encoded once more
  });
  const signed = await signer.sign(request, {
    signingDate,
    signableHeaders: new Set(signedHeaders),
  });
  const expected = parseAuthorization(signed.headers['authorization']).params;

  // Diagnostics with the signer's own canonicalisation (same code path as sign()).
  const diag = await canonicalStrings(signer, signed, expected.SignedHeaders, amzDateStr,
    `${scopeDate}/${scopeRegion}/${scopeService}/aws4_request`, claimedHash ?? bodyHash);

  const sameHeaders = expected.SignedHeaders === parsed.params.SignedHeaders;
  const a = Buffer.from(expected.Signature, 'utf8');
  const b = Buffer.from(signature, 'utf8');
  const sameSig = a.length === b.length && timingSafeEqual(a, b);
  if (!sameHeaders || !sameSig) {
    return fail('InvalidSignatureException',
      `${MSG_BAD_SIGNATURE}\n\nThe Canonical String for this request should have been\n'${diag.canonicalRequest}'\n\n` +
      `The String-to-Sign should have been\n'${diag.stringToSign}'\n`,
      { ...base, ...diag });
  }
  return { ok: true, ...base, ...diag };
}

async function canonicalStrings(signer, signedRequest, signedHeaderList, longDate, scope, payloadHash) {
  const canonicalHeaders = {};
  for (const name of signedHeaderList.split(';')) {
    const v = signedRequest.headers[name];
    canonicalHeaders[name] = String(v).replace(/[\r\n]/g, ' ').replace(/[ \t]+/g, ' ').replace(/^ | $/g, '');
  }
  const canonicalRequest = signer.createCanonicalRequest(signedRequest, canonicalHeaders, payloadHash);
  const stringToSign = await signer.createStringToSign(longDate, scope, canonicalRequest, ALGORITHM);
  return { canonicalRequest, stringToSign };
}

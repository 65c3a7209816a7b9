// Credential store shared by the SigV4 verifiers of every service.
//
// Two kinds of keys are known:
//  - static keys given to startStandin() (what AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
//    point the daemon at); they never expire unless an expiry is given;
//  - temporary keys issued by the IMDS fake; each carries a session token and an
//    expiry, after which AWS answers ExpiredTokenException.
// Keys are never forgotten once issued, so an expired key is reported as
// "expired" rather than "unknown", which is what AWS does too.

import { randomBytes } from 'node:crypto';

// Test-only default keys. The AKIA/ASIA prefixes mirror AWS (long-term vs temporary),
// which some clients use to decide whether a session token is expected.
export const DEFAULT_STATIC_CREDENTIALS = Object.freeze({
  accessKeyId: 'AKIASTANDINTEST00001',
  secretAccessKey: 'standin/static/secret/key/000000000000001',
});

function randomKeyChars(n) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const bytes = randomBytes(n);
  let s = '';
  for (const b of bytes) s += alphabet[b & 31];
  return s;
}

export class CredentialStore {
  #keys = new Map(); // accessKeyId -> { accessKeyId, secretAccessKey, sessionToken?, expiresAt?, source }
  #now;

  constructor({ now = () => Date.now() } = {}) {
    this.#now = now;
  }

  addStatic({ accessKeyId, secretAccessKey, sessionToken, expiresAt }) {
    if (!accessKeyId || !secretAccessKey) throw new Error('static credentials need accessKeyId and secretAccessKey');
    const entry = { accessKeyId, secretAccessKey, sessionToken, expiresAt, source: 'static' };
    this.#keys.set(accessKeyId, entry);
    return entry;
  }

  // A fresh temporary key set, as IMDS (or STS) would hand out.
  issueTemporary(lifetimeMs, source = 'imds') {
    const now = this.#now();
    // IMDS reports Expiration with second precision; keep the server-side expiry on
    // the same second so a client that trusts Expiration agrees with the verifier.
    const expiresAt = Math.floor((now + lifetimeMs) / 1000) * 1000;
    const entry = {
      accessKeyId: 'ASIA' + randomKeyChars(16),
      secretAccessKey: randomBytes(30).toString('base64'),
      sessionToken: 'IQoJ' + randomBytes(96).toString('base64'),
      expiresAt,
      issuedAt: now,
      source,
    };
    this.#keys.set(entry.accessKeyId, entry);
    return entry;
  }

  get(accessKeyId) {
    return this.#keys.get(accessKeyId) ?? null;
  }

  isExpired(entry) {
    return entry.expiresAt !== undefined && this.#now() >= entry.expiresAt;
  }

  // Forces expiry (e.g. to test the daemon's reaction without waiting).
  expire(accessKeyId) {
    const e = this.#keys.get(accessKeyId);
    if (e) e.expiresAt = this.#now();
  }

  list() {
    return [...this.#keys.values()].map((e) => ({ ...e }));
  }
}

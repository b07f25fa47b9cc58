import canonicalizeModule from 'canonicalize';

// The package is CommonJS whose typings claim an ES default export; at runtime the default
// import is the function itself.
const canonicalizeJson = canonicalizeModule as unknown as (input: unknown) => string | undefined;

/**
 * RFC 8785 JSON Canonicalization Scheme: the one serialization the writer hashes and the
 * verifier re-hashes. Keys sorted by UTF-16 code units, ES2015 number formatting, no spaces.
 * Rejects values JSON cannot represent (NaN, Infinity, undefined at the top level) rather than
 * silently writing something the verifier would read back differently.
 */
export function canonicalize(value: unknown): string {
  const text = canonicalizeJson(value);
  if (text === undefined) throw new TypeError('value has no JSON representation');
  return text;
}

/** UTF-8 bytes of the canonical form: what SHA-256 and Ed25519 are computed over. */
export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalize(value), 'utf8');
}

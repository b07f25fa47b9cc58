import {
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  generateKeyPairSync,
  randomBytes,
  randomUUID,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** What each key is for; one active key per purpose, older ones kept to verify and decrypt. */
export const KEY_PURPOSES = {
  'token-signing': { alg: 'RS256', describe: 'access-token signing (RS256)' },
  'audit-signing': { alg: 'EdDSA', describe: 'audit checkpoint signing (Ed25519)' },
  'data-encryption': { alg: 'A256GCM', describe: 'PHI key-encryption key (AES-256-GCM)' },
  'blind-index': { alg: 'HS256', describe: 'search blind-index key (HMAC-SHA-256)' },
} as const;

export type KeyPurpose = keyof typeof KEY_PURPOSES;

export interface KeyRecord {
  kid: string;
  purpose: KeyPurpose;
  alg: string;
  createdAt: string;
  /** Private or secret key material as a JWK. */
  jwk: JsonWebKey;
}

export interface LoadedKey {
  kid: string;
  purpose: KeyPurpose;
  alg: string;
  createdAt: Date;
  /** Private key (asymmetric) or secret key (symmetric). */
  key: KeyObject;
  /** Public half of an asymmetric key. */
  publicKey?: KeyObject;
}

export class KeyringError extends Error {
  override readonly name = 'KeyringError';
}

function generate(purpose: KeyPurpose): KeyRecord {
  const alg = KEY_PURPOSES[purpose].alg;
  const kid = `${purpose}-${new Date().toISOString().slice(0, 10)}-${randomUUID().slice(0, 8)}`;
  let jwk: JsonWebKey;
  switch (purpose) {
    case 'token-signing':
      jwk = generateKeyPairSync('rsa', { modulusLength: 3072 }).privateKey.export({ format: 'jwk' });
      break;
    case 'audit-signing':
      jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
      break;
    case 'data-encryption':
    case 'blind-index':
      jwk = createSecretKey(randomBytes(32)).export({ format: 'jwk' });
      break;
  }
  return { kid, purpose, alg, createdAt: new Date().toISOString(), jwk };
}

function load(record: KeyRecord, file: string): LoadedKey {
  if (!(record.purpose in KEY_PURPOSES) || typeof record.kid !== 'string' || !record.jwk) {
    throw new KeyringError(`${file} is not a keyring key (needs kid, purpose and jwk)`);
  }
  try {
    if (record.jwk.kty === 'oct') {
      const key = createSecretKey(Buffer.from(record.jwk.k ?? '', 'base64url'));
      if (key.symmetricKeySize !== 32)
        throw new KeyringError(`${file}: a ${record.purpose} key must be 256 bits`);
      return {
        kid: record.kid,
        purpose: record.purpose,
        alg: record.alg,
        createdAt: new Date(record.createdAt),
        key,
      };
    }
    const key = createPrivateKey({ key: record.jwk, format: 'jwk' });
    return {
      kid: record.kid,
      purpose: record.purpose,
      alg: record.alg,
      createdAt: new Date(record.createdAt),
      key,
      publicKey: createPublicKey(key),
    };
  } catch (error) {
    if (error instanceof KeyringError) throw error;
    throw new KeyringError(`${file} holds unusable key material: ${(error as Error).message}`);
  }
}

/**
 * Signing, encryption and blind-index keys, one directory per purpose, one JSON file per key
 * (mode 0600). The newest key of a purpose is the active one; older keys stay loaded so that
 * data and tokens made with them can still be read until they are retired.
 */
export class Keyring {
  private constructor(
    readonly dir: string,
    private readonly keys: Map<KeyPurpose, LoadedKey[]>,
  ) {}

  /**
   * Loads the keyring. With `create` (development) missing purposes get a fresh key; without
   * it (production) a missing purpose is an error that names what is missing.
   */
  static async open(
    dir: string,
    options: { create: boolean; strictPermissions?: boolean },
  ): Promise<Keyring> {
    const keys = new Map<KeyPurpose, LoadedKey[]>();
    const missing: KeyPurpose[] = [];
    for (const purpose of Object.keys(KEY_PURPOSES) as KeyPurpose[]) {
      const loaded = await readPurpose(dir, purpose, options.strictPermissions ?? false);
      if (loaded.length === 0) {
        if (!options.create) {
          missing.push(purpose);
          continue;
        }
        loaded.push(load(await writeKey(dir, generate(purpose)), purpose));
      }
      keys.set(purpose, loaded);
    }
    if (missing.length > 0) {
      throw new KeyringError(
        `the keyring in ${dir} has no key for ${missing.map((p) => KEY_PURPOSES[p].describe).join(', ')}; ` +
          `create them with "iris keys init --dir ${dir}"`,
      );
    }
    return new Keyring(dir, keys);
  }

  /** Writes a key for every purpose that has none; returns the kids written. */
  static async init(dir: string): Promise<string[]> {
    const written: string[] = [];
    for (const purpose of Object.keys(KEY_PURPOSES) as KeyPurpose[]) {
      if ((await readPurpose(dir, purpose, false)).length === 0)
        written.push((await writeKey(dir, generate(purpose))).kid);
    }
    return written;
  }

  /** The key new signatures and ciphertexts use. */
  active(purpose: KeyPurpose): LoadedKey {
    const list = this.keys.get(purpose);
    const newest = list?.[list.length - 1];
    if (!newest) throw new KeyringError(`no ${purpose} key loaded`);
    return newest;
  }

  /** A key by id, to verify or decrypt what an older key produced. */
  find(purpose: KeyPurpose, kid: string): LoadedKey | undefined {
    return this.keys.get(purpose)?.find((k) => k.kid === kid);
  }

  list(purpose?: KeyPurpose): LoadedKey[] {
    if (purpose) return [...(this.keys.get(purpose) ?? [])];
    return [...this.keys.values()].flat();
  }

  /** Adds a new active key for `purpose`; the previous ones stay for verification/decryption. */
  async rotate(purpose: KeyPurpose): Promise<LoadedKey> {
    const record = await writeKey(this.dir, generate(purpose));
    const key = load(record, record.kid);
    this.keys.set(purpose, [...(this.keys.get(purpose) ?? []), key]);
    return key;
  }
}

async function readPurpose(dir: string, purpose: KeyPurpose, strict: boolean): Promise<LoadedKey[]> {
  const folder = join(dir, purpose);
  let names: string[];
  try {
    names = (await readdir(folder)).filter((n) => n.endsWith('.json'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const loaded: LoadedKey[] = [];
  for (const name of names) {
    const file = join(folder, name);
    if (strict && ((await stat(file)).mode & 0o077) !== 0) {
      throw new KeyringError(`${file} is readable by other users; chmod 600 it`);
    }
    let record: KeyRecord;
    try {
      record = JSON.parse(await readFile(file, 'utf8')) as KeyRecord;
    } catch {
      throw new KeyringError(`${file} is not valid JSON`);
    }
    if (record.purpose !== purpose)
      throw new KeyringError(`${file} is a ${record.purpose} key in the ${purpose} folder`);
    loaded.push(load(record, file));
  }
  return loaded.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.kid.localeCompare(b.kid));
}

async function writeKey(dir: string, record: KeyRecord): Promise<KeyRecord> {
  const folder = join(dir, record.purpose);
  await mkdir(folder, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const file = join(folder, `${record.kid}.json`);
  await writeFile(file, JSON.stringify(record, null, 2), { mode: 0o600, flag: 'wx' });
  return record;
}

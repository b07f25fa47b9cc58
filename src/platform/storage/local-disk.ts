import { mkdir, open, readFile, readdir, rename, rmdir, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import {
  DEFAULT_CONTENT_TYPE,
  InvalidObjectKeyError,
  ObjectNotFoundError,
  StorageUnavailableError,
  validateListPrefix,
  validateObjectKey,
} from './port.js';
import type {
  GetOptions,
  GetResult,
  ListEntry,
  ObjectMetadata,
  ObjectStorage,
  PutOptions,
  PutResult,
} from './port.js';
import { randomId, verifying, writeHashed } from './streams.js';

export interface LocalDiskStorageOptions {
  /** Directory that holds everything; created on first use. */
  root: string;
}

/** The sidecar record; renaming it into place is what commits a put. */
interface MetaRecord {
  v: 1;
  key: string;
  size: number;
  sha256: string;
  contentType: string;
  /** Id of the content file under `blobs/`. */
  blob: string;
  lastModified: string;
}

/**
 * Marks sidecar files. Encoded segments never contain '~', so a directory (key prefix `a/`) and an
 * object (key `a`) cannot collide, just as both may exist in S3.
 */
const META_SUFFIX = '~.json';
/** Longest file name on common file systems (ext4, APFS, NTFS). */
const NAME_MAX = 255;
const READ_ATTEMPTS = 3;

/**
 * Objects on the local file system, for development and single-node installs.
 *
 * Layout under `root`:
 * - `objects/<encoded key segments>~.json`: metadata sidecars, mirroring the key hierarchy;
 * - `blobs/<xx>/<id>`: content, named by a random id so a replacement never overwrites bytes that a
 *   reader may still be streaming;
 * - `tmp/`: files being written (safe to wipe while the server is stopped).
 *
 * A put writes and fsyncs the content, then renames the sidecar into place (atomic on POSIX), then
 * removes the previous content. Commits on the same key are serialised in-process; the data
 * directory belongs to one process at a time (see the data-dir lock).
 */
export class LocalDiskStorage implements ObjectStorage {
  readonly kind = 'local' as const;
  private readonly objectsDir: string;
  private readonly blobsDir: string;
  private readonly tmpDir: string;
  private ready: Promise<void> | undefined;
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(options: LocalDiskStorageOptions) {
    const root = resolve(options.root);
    this.objectsDir = join(root, 'objects');
    this.blobsDir = join(root, 'blobs');
    this.tmpDir = join(root, 'tmp');
  }

  async put(key: string, body: Buffer | Readable, opts: PutOptions = {}): Promise<PutResult> {
    const metaPath = this.metaPath(key);
    await this.init();
    const blob = randomId();
    const tmpBlob = join(this.tmpDir, blob);
    const tmpMeta = join(this.tmpDir, `${blob}.json`);
    const blobPath = this.blobPath(blob);
    let committed = false;
    try {
      const handle = await open(tmpBlob, 'wx', 0o600);
      const digest = await writeHashed(handle, body).finally(() => handle.close());
      await mkdir(dirname(blobPath), { recursive: true });
      await rename(tmpBlob, blobPath);
      const meta: MetaRecord = {
        v: 1,
        key,
        size: digest.size,
        sha256: digest.sha256,
        contentType: opts.contentType ?? DEFAULT_CONTENT_TYPE,
        blob,
        lastModified: new Date().toISOString(),
      };
      await writeDurable(tmpMeta, JSON.stringify(meta));
      await this.exclusive(key, async () => {
        const previous = await this.readMeta(key);
        await renameInto(tmpMeta, metaPath);
        committed = true;
        await syncDir(dirname(metaPath));
        if (previous && previous.blob !== blob) await unlinkIfPresent(this.blobPath(previous.blob));
      });
      return { key, size: digest.size, sha256: digest.sha256 };
    } finally {
      if (!committed) {
        await Promise.all([tmpBlob, tmpMeta, blobPath].map(unlinkIfPresent));
      }
    }
  }

  async get(key: string, opts: GetOptions = {}): Promise<GetResult> {
    this.metaPath(key);
    // A concurrent put or delete may remove the content between reading the sidecar and opening it.
    for (let attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
      const meta = await this.readMeta(key);
      if (!meta) break;
      let raw: Readable;
      try {
        const handle = await open(this.blobPath(meta.blob), 'r');
        raw = handle.createReadStream();
      } catch (err) {
        if (isMissing(err)) continue;
        throw err;
      }
      const body = opts.verify ? verifying(raw, key, meta.size, meta.sha256) : raw;
      return { ...toMetadata(meta), body };
    }
    throw new ObjectNotFoundError(key);
  }

  async head(key: string): Promise<ObjectMetadata | null> {
    this.metaPath(key);
    const meta = await this.readMeta(key);
    return meta ? toMetadata(meta) : null;
  }

  async delete(key: string): Promise<void> {
    const metaPath = this.metaPath(key);
    await this.exclusive(key, async () => {
      const meta = await this.readMeta(key);
      if (!meta) return;
      await unlinkIfPresent(metaPath);
      await unlinkIfPresent(this.blobPath(meta.blob));
    });
    await this.pruneEmptyDirs(dirname(metaPath));
  }

  async *list(prefix = ''): AsyncIterable<ListEntry> {
    validateListPrefix(prefix);
    await this.init();
    const cut = prefix.lastIndexOf('/');
    const segments = cut < 0 ? [] : prefix.slice(0, cut).split('/');
    const entries: ListEntry[] = [];
    await this.collect(join(this.objectsDir, ...segments.map(encodeSegment)), segments, prefix, entries);
    // S3 orders keys by their UTF-8 bytes; JS string order differs for astral characters.
    entries.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
    yield* entries;
  }

  async check(): Promise<void> {
    try {
      await this.init();
      const probe = join(this.tmpDir, `probe-${randomId()}`);
      await writeFile(probe, '', { mode: 0o600 });
      await unlink(probe);
    } catch (err) {
      throw new StorageUnavailableError(`local object storage is not writable: ${errorMessage(err)}`, {
        cause: err,
      });
    }
  }

  async close(): Promise<void> {
    // Nothing is held open between calls.
  }

  private init(): Promise<void> {
    this.ready ??= Promise.all(
      [this.objectsDir, this.blobsDir, this.tmpDir].map((dir) =>
        mkdir(dir, { recursive: true, mode: 0o700 }),
      ),
    ).then(
      () => undefined,
      (err: unknown) => {
        this.ready = undefined;
        throw err;
      },
    );
    return this.ready;
  }

  /** Validates the key and maps it to its sidecar path. */
  private metaPath(key: string): string {
    validateObjectKey(key);
    const names = key.split('/').map(encodeSegment);
    names[names.length - 1] += META_SUFFIX;
    if (names.some((name) => name.length > NAME_MAX)) {
      throw new InvalidObjectKeyError(key, 'a path segment is too long for local disk storage');
    }
    return join(this.objectsDir, ...names);
  }

  private blobPath(blob: string): string {
    return join(this.blobsDir, blob.slice(0, 2), blob);
  }

  private async readMeta(key: string): Promise<MetaRecord | null> {
    try {
      return JSON.parse(await readFile(this.metaPath(key), 'utf8')) as MetaRecord;
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  private async collect(dir: string, segments: string[], prefix: string, out: ListEntry[]): Promise<void> {
    let dirents;
    try {
      dirents = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (isMissing(err)) return;
      throw err;
    }
    for (const dirent of dirents) {
      if (dirent.isDirectory()) {
        const path = [...segments, decodeURIComponent(dirent.name)].join('/') + '/';
        // Descend only where keys can still match the prefix.
        if (path.startsWith(prefix) || prefix.startsWith(path)) {
          await this.collect(join(dir, dirent.name), path.slice(0, -1).split('/'), prefix, out);
        }
      } else if (dirent.name.endsWith(META_SUFFIX)) {
        const key = [...segments, decodeURIComponent(dirent.name.slice(0, -META_SUFFIX.length))].join('/');
        if (!key.startsWith(prefix)) continue;
        const meta = await this.readMeta(key);
        if (meta) out.push({ key: meta.key, size: meta.size, lastModified: new Date(meta.lastModified) });
      }
    }
  }

  /** Removes directories left empty by a delete, so listings do not wade through them. */
  private async pruneEmptyDirs(dir: string): Promise<void> {
    for (let current = dir; current.startsWith(this.objectsDir + sep); current = dirname(current)) {
      try {
        await rmdir(current);
      } catch {
        return; // not empty (or already gone): stop climbing
      }
    }
  }

  /** Runs `fn` after every earlier call for the same key has settled. */
  private async exclusive<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(key) ?? Promise.resolve();
    const result = previous.then(fn);
    const tail = result.catch(() => undefined);
    this.locks.set(key, tail);
    try {
      return await result;
    } finally {
      if (this.locks.get(key) === tail) this.locks.delete(key);
    }
  }
}

/**
 * Percent-encodes everything but `a-z 0-9 - _ .`: file names stay ASCII, unique on case-insensitive
 * and normalising file systems, and free of '~' (see META_SUFFIX).
 */
function encodeSegment(segment: string): string {
  let out = '';
  for (const byte of Buffer.from(segment, 'utf8')) {
    const char = String.fromCharCode(byte);
    out += /[a-z0-9._-]/.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function toMetadata(meta: MetaRecord): ObjectMetadata {
  return {
    key: meta.key,
    size: meta.size,
    sha256: meta.sha256,
    contentType: meta.contentType,
    lastModified: new Date(meta.lastModified),
  };
}

async function writeDurable(path: string, data: string): Promise<void> {
  const handle = await open(path, 'wx', 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Renames into a directory that a concurrent delete of a sibling may have just pruned. */
async function renameInto(from: string, to: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    await mkdir(dirname(to), { recursive: true, mode: 0o700 });
    try {
      await rename(from, to);
      return;
    } catch (err) {
      if (!isMissing(err) || attempt >= 3) throw err;
    }
  }
}

/** Makes a rename durable across a power loss. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function unlinkIfPresent(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if (!isMissing(err)) throw err;
  }
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

import type { Database } from '../../platform/db/types.js';

/** An entry as the verifier reads it: the evidence bytes, and `recorded_at` in epoch milliseconds. */
export interface StoredEntry {
  seq: number;
  /** The UTF-8 bytes of the canonical text, exactly as stored. */
  canonical: Buffer;
  hash: string;
  t: number;
}

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const HEADER_LENGTH = SIGNATURE.length + 8;
const COLUMNS = 4;
// Binary timestamps count microseconds from 2000-01-01 UTC.
const PG_EPOCH_MS = Date.UTC(2000, 0, 1);

/** The int8 at `at` as a number (exact below 2^53: sequence numbers, microseconds since 2000). */
const int64At = (buf: Buffer, at: number) => buf.readInt32BE(at) * 4_294_967_296 + buf.readUInt32BE(at + 4);

/**
 * Parses PostgreSQL's binary COPY output of `(seq int8, canonical text, hash text, recorded_at
 * timestamptz)`. The bytes of `canonical` are hashed where they arrived: the row protocol would
 * turn every field into a string first, and that conversion was the verifier's largest cost.
 */
export class ChainCopyParser {
  private rest: Buffer | null = null;
  private headerRead = false;
  private finished = false;

  /** Appends the complete rows of `chunk` (with what was left of the previous one) to `out`. */
  push(chunk: Buffer, out: StoredEntry[]): void {
    const buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    let off = 0;
    if (!this.headerRead) {
      if (buf.length < HEADER_LENGTH) {
        this.rest = buf;
        return;
      }
      if (!buf.subarray(0, SIGNATURE.length).equals(SIGNATURE)) throw new Error('not binary COPY output');
      off = HEADER_LENGTH + buf.readUInt32BE(SIGNATURE.length + 4);
      if (off > buf.length) {
        this.rest = buf;
        return;
      }
      this.headerRead = true;
    }
    const end = buf.length;
    while (!this.finished && off + 2 <= end) {
      const fields = buf.readInt16BE(off);
      if (fields === -1) {
        this.finished = true;
        off += 2;
        break;
      }
      if (fields !== COLUMNS) throw new Error(`expected ${COLUMNS} columns, got ${fields}`);
      // seq and recorded_at are never NULL (primary and partition key); the texts may be.
      let p = off + 2;
      if (p + 12 > end) break;
      if (buf.readInt32BE(p) !== 8) throw new Error('seq is not an int8');
      const seq = int64At(buf, p + 4);
      p += 12;
      if (p + 4 > end) break;
      const canonicalLength = Math.max(buf.readInt32BE(p), 0);
      const canonicalStart = p + 4;
      p = canonicalStart + canonicalLength;
      if (p + 4 > end) break;
      const hashLength = Math.max(buf.readInt32BE(p), 0);
      const hashStart = p + 4;
      p = hashStart + hashLength;
      if (p + 12 > end) break;
      if (buf.readInt32BE(p) !== 8) throw new Error('recorded_at is not a timestamptz');
      const micros = int64At(buf, p + 4);
      p += 12;
      out.push({
        seq,
        canonical: buf.subarray(canonicalStart, canonicalStart + canonicalLength),
        hash: buf.toString('latin1', hashStart, hashStart + hashLength),
        t: PG_EPOCH_MS + micros / 1000,
      });
      off = p;
    }
    this.rest = off < end ? buf.subarray(off) : null;
  }

  /** Throws when the output stopped in the middle of a row or before its trailer. */
  end(): void {
    if (!this.finished || this.rest) throw new Error('binary COPY output ended early');
  }
}

function windowSelect(afterSeq: number, toSeq: number): string {
  if (!Number.isSafeInteger(afterSeq) || !Number.isSafeInteger(toSeq)) {
    throw new RangeError('sequence numbers must be integers');
  }
  return `SELECT seq, canonical, hash, recorded_at FROM audit_log WHERE seq > ${afterSeq} AND seq <= ${toSeq}`;
}

/**
 * Entries with `afterSeq < seq <= toSeq`, in seq order: the evidence columns only, nothing
 * derived. Sorted here, not by the server: rows arrive almost in order (they were appended so),
 * which costs the sort next to nothing, while the server sorted a window on disk.
 */
export async function readChainWindow(db: Database, afterSeq: number, toSeq: number): Promise<StoredEntry[]> {
  const parser = new ChainCopyParser();
  const rows: StoredEntry[] = [];
  for await (const chunk of db.copyBinary(windowSelect(afterSeq, toSeq))) parser.push(chunk, rows);
  parser.end();
  return rows.sort((a, b) => a.seq - b.seq);
}

/**
 * The same window as the binary COPY output itself, in memory of its own, so that it can be
 * handed to another thread whole (transferred, not copied) and parsed there with
 * {@link parseChainWindow}.
 */
export async function readChainWindowBytes(
  db: Database,
  afterSeq: number,
  toSeq: number,
): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of db.copyBinary(windowSelect(afterSeq, toSeq))) {
    chunks.push(chunk);
    size += chunk.length;
  }
  const bytes = new Uint8Array(new ArrayBuffer(size));
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return bytes;
}

/** The entries of a window read by {@link readChainWindowBytes}, in seq order. */
export function parseChainWindow(bytes: Uint8Array): StoredEntry[] {
  const parser = new ChainCopyParser();
  const rows: StoredEntry[] = [];
  parser.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), rows);
  parser.end();
  return rows.sort((a, b) => a.seq - b.seq);
}

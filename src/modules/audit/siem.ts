import type { Queryable } from '../../platform/db/types.js';
import { readCanonicalAfter } from './repo.js';

export interface SiemPage {
  /** JSON Lines: one `{"entry":…,"hash":…,"seq":…}` object per line, the entry exactly as hashed. */
  lines: string;
  count: number;
  /** Pass as `sinceSeq` next time; equal to the input when nothing new was there. */
  nextSeq: number;
}

function line(r: { seq: number; hash: string; canonical: string }): string {
  return `{"entry":${r.canonical},"hash":${JSON.stringify(r.hash)},"seq":${r.seq}}\n`;
}

/** One page of entries after `sinceSeq` (incremental export: a SIEM keeps the cursor). */
export async function exportPage(db: Queryable, sinceSeq: number, limit = 10_000): Promise<SiemPage> {
  const rows = await readCanonicalAfter(db, sinceSeq, Math.min(Math.max(limit, 1), 100_000));
  return {
    lines: rows.map(line).join(''),
    count: rows.length,
    nextSeq: rows[rows.length - 1]?.seq ?? sinceSeq,
  };
}

/** Every entry after `sinceSeq`, page by page, for the CLI. */
export async function* exportAll(db: Queryable, sinceSeq: number, pageSize = 10_000): AsyncGenerator<string> {
  let cursor = sinceSeq;
  for (;;) {
    const page = await exportPage(db, cursor, pageSize);
    if (page.count === 0) return;
    yield page.lines;
    cursor = page.nextSeq;
  }
}

import type { Worker } from 'node:worker_threads';
import type { Database } from '../../platform/db/types.js';
import { moduleWorker } from '../../platform/threads/module-worker.js';
import { readChainWindowBytes } from './chain-copy.js';
import type { ChainCheckResult, ChainStart, CheckpointExpectation } from './chain-checker.js';

/** A run of the chain checked on its own: after `start.seq` up to and including `to`. */
export interface Segment {
  start: ChainStart;
  to: number;
  checkpoints: ReadonlyMap<number, CheckpointExpectation>;
}

/** What a verifier thread is started with. */
export interface SegmentInput {
  start: ChainStart;
  checkpoints: Array<[number, CheckpointExpectation]>;
  maxIssues: number;
}

export type ToSegmentWorker =
  { kind: 'window'; from: number; to: number; bytes: Uint8Array } | { kind: 'end' };
type FromSegmentWorker = { kind: 'checked' } | { kind: 'result'; result: ChainCheckResult };

// Windows read ahead for each thread: one being checked, one waiting.
const IN_FLIGHT = 2;

/**
 * Checks each segment on a thread of its own. This thread only reads: each window's binary COPY
 * output goes to its segment's thread whole, which parses and hashes it. Segments are read side
 * by side, so on a server each has its own connection.
 */
export async function checkSegmentsInThreads(
  db: Database,
  segments: readonly Segment[],
  batchSize: number,
  maxIssues: number,
  onChecked: (seqs: number) => void = () => undefined,
): Promise<ChainCheckResult[]> {
  const threads: Worker[] = [];
  try {
    return await Promise.all(
      segments.map((segment) => {
        const input: SegmentInput = {
          start: segment.start,
          checkpoints: [...segment.checkpoints],
          maxIssues,
        };
        const thread = moduleWorker(new URL('./verify-worker.js', import.meta.url), { workerData: input });
        threads.push(thread);
        return feed(db, thread, segment, batchSize, onChecked);
      }),
    );
  } finally {
    await Promise.all(threads.map((t) => t.terminate()));
  }
}

async function feed(
  db: Database,
  thread: Worker,
  segment: Segment,
  batchSize: number,
  onChecked: (seqs: number) => void,
): Promise<ChainCheckResult> {
  // Sizes of the windows sent and not yet answered, oldest first: the thread answers in order.
  const inFlight: number[] = [];
  let wake: (() => void) | undefined;
  let failure: Error | undefined;
  let settle: { resolve: (r: ChainCheckResult) => void; reject: (e: Error) => void } | undefined;
  const result = new Promise<ChainCheckResult>((resolve, reject) => (settle = { resolve, reject }));
  // Reported through `result` only: a failure while windows are still being read is rethrown below.
  result.catch(() => undefined);
  const fail = (error: Error) => {
    failure ??= error;
    settle?.reject(failure);
    wake?.();
  };
  thread.on('message', (message: FromSegmentWorker) => {
    if (message.kind === 'checked') {
      onChecked(inFlight.shift() ?? 0);
      wake?.();
    } else {
      settle?.resolve(message.result);
    }
  });
  thread.on('error', fail);
  thread.on('exit', (code) => fail(new Error(`a verifier thread stopped (exit code ${code})`)));

  for (let from = segment.start.seq + 1; from <= segment.to; from += batchSize) {
    const to = Math.min(from + batchSize - 1, segment.to);
    const bytes = await readChainWindowBytes(db, from - 1, to);
    while (inFlight.length >= IN_FLIGHT && !failure) await new Promise<void>((resolve) => (wake = resolve));
    if (failure) throw failure;
    inFlight.push(to - from + 1);
    const message: ToSegmentWorker = { kind: 'window', from, to, bytes };
    thread.postMessage(message, [bytes.buffer as ArrayBuffer]);
  }
  const end: ToSegmentWorker = { kind: 'end' };
  thread.postMessage(end);
  return result;
}

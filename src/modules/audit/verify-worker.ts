import { parentPort, workerData } from 'node:worker_threads';
import { parseChainWindow } from './chain-copy.js';
import { ChainChecker } from './chain-checker.js';
import type { SegmentInput, ToSegmentWorker } from './verify-segments.js';

/**
 * A verifier thread: checks one segment of the chain from the windows of binary COPY output
 * the main thread reads for it, and answers each window once checked so that the main thread
 * reads ahead a bounded amount.
 */
const input = workerData as SegmentInput;
const checker = new ChainChecker(input.start, new Map(input.checkpoints), input.maxIssues);
const port = parentPort!;

async function handle(message: ToSegmentWorker): Promise<void> {
  if (message.kind === 'window') {
    // Without a pause the check runs to its end at once, so windows are checked in arrival order.
    await checker.window(parseChainWindow(message.bytes), message.from, message.to);
    port.postMessage({ kind: 'checked' });
  } else {
    port.postMessage({ kind: 'result', result: checker.result() });
  }
}

port.on('message', (message: ToSegmentWorker) => {
  handle(message).catch((error: unknown) => {
    // Thrown outside the promise, it ends the thread and reaches the main thread as 'error'.
    process.nextTick(() => {
      throw error;
    });
  });
});

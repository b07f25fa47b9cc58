import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { progressReporter } from '../../src/platform/progress.js';

function capture(isTTY: boolean) {
  const chunks: string[] = [];
  let clock = 1_000_000;
  return {
    chunks,
    stream: { write: (chunk: string) => (chunks.push(chunk), true), isTTY },
    now: () => clock,
    advance: (ms: number) => (clock += ms),
  };
}

describe('progress of long commands', () => {
  test('a terminal gets one line, rewritten in place at most every 250 ms and erased at the end', () => {
    const c = capture(true);
    const progress = progressReporter(c.stream, { now: c.now });
    progress.update('imported 10 resources');
    c.advance(100);
    progress.update('imported 20 resources');
    c.advance(200);
    progress.update('done 30');
    progress.done();
    assert.deepEqual(c.chunks, [
      '\rimported 10 resources',
      // The shorter text is padded over what the longer one left on the line.
      `\r${'done 30'.padEnd('imported 10 resources'.length)}`,
      `\r${' '.repeat('done 30'.length)}\r`,
    ]);
  });

  test('a file or pipe gets plain lines, none in the first 10 s, then at most one per 10 s', () => {
    const c = capture(false);
    const progress = progressReporter(c.stream, { now: c.now });
    progress.update('re-indexed 100 resources');
    c.advance(9_999);
    progress.update('re-indexed 200 resources');
    c.advance(1);
    progress.update('re-indexed 300 resources');
    c.advance(5_000);
    progress.update('re-indexed 400 resources');
    c.advance(5_000);
    progress.update('re-indexed 500 resources');
    progress.done();
    assert.deepEqual(c.chunks, ['re-indexed 300 resources\n', 're-indexed 500 resources\n']);
  });

  test('nothing shown, nothing erased', () => {
    const c = capture(true);
    progressReporter(c.stream, { now: c.now }).done();
    assert.deepEqual(c.chunks, []);
  });
});

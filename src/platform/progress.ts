/** Where a long command reports how far it has got: standard error, or a test's capture. */
export interface ProgressStream {
  write(chunk: string): boolean;
  /** A terminal: the line is rewritten in place there; elsewhere progress goes as plain lines. */
  isTTY?: boolean;
}

export interface Progress {
  /** The state now; shown if enough time has passed since the last one shown. */
  update(text: string): void;
  /** The work is over: a terminal's line is erased, so the report that follows starts clean. */
  done(): void;
}

export interface ProgressOptions {
  /** Least time between two rewrites of a terminal's line. */
  terminalEveryMs?: number;
  /** Least time between two lines in a file or pipe, counted from the start. */
  logEveryMs?: number;
  now?: () => number;
}

/**
 * Progress of a long command (import, re-index, re-wrap, audit verification). On a terminal,
 * one line rewritten in place at most four times a second. In a file, a pipe or a cron job's
 * mail, one plain line every ten seconds at most: a log shows that a long run advances, a short
 * one leaves nothing, and no carriage returns pile up on one line.
 */
export function progressReporter(stream: ProgressStream, options: ProgressOptions = {}): Progress {
  const now = options.now ?? Date.now;
  const terminal = stream.isTTY === true;
  const every = terminal ? (options.terminalEveryMs ?? 250) : (options.logEveryMs ?? 10_000);
  // A terminal shows the first state at once; a log waits a full interval.
  let shownAt = terminal ? -Infinity : now();
  let shown = '';
  return {
    update(text) {
      const at = now();
      if (at - shownAt < every) return;
      shownAt = at;
      if (terminal) {
        stream.write(`\r${text.padEnd(shown.length)}`);
        shown = text;
      } else {
        stream.write(`${text}\n`);
      }
    },
    done() {
      if (terminal && shown) stream.write(`\r${' '.repeat(shown.length)}\r`);
      shown = '';
    },
  };
}

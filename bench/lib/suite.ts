import type { ServerHandle } from './server.js';

/** One line of the results table. `opsPerSec` is requests per second for HTTP rows. */
export interface Row {
  operation: string;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Resident set size of the process that served the operation, after the run. */
  rssMb: number;
  /** Requests that failed (non-2xx or socket errors); any makes the run invalid. */
  failed?: number;
}

export interface BenchSettings {
  durationSec: number;
  warmupSec: number;
  connections: number;
}

export interface BenchContext {
  settings: BenchSettings;
  /** Scratch directory removed when the run ends. */
  tmpDir: string;
  /** The IRIS server from dist/, started on first use and shared by every suite. */
  iris(): Promise<ServerHandle>;
}

/** A group of rows; modules add theirs to the list in bench/run.ts. */
export interface Suite {
  name: string;
  run(ctx: BenchContext): Promise<Row[]>;
}

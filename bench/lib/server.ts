import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ServerHandle {
  name: string;
  /** Base URL parsed from the server's own ready line. */
  url: string;
  pid: number;
  /** The environment it runs with (an `iris` command given the same one shares its database). */
  env: NodeJS.ProcessEnv;
  rssMb(): Promise<number>;
  stop(): Promise<void>;
}

export interface SpawnOptions {
  name: string;
  /** Arguments to `node`, run in `cwd`. */
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Receives the server's stdout (its logs), so log writing costs what it costs in production. */
  logFile: string;
  /** Matched against stdout; capture group 1 is the base URL. */
  ready: RegExp;
  startTimeoutMs: number;
}

const STOP_GRACE_MS = 12_000;
const children = new Set<ChildProcess>();

/** Last resort for process exit paths: no child may outlive the runner. */
export function killAllServers(): void {
  for (const child of children) child.kill('SIGKILL');
}

export async function spawnServer(options: SpawnOptions): Promise<ServerHandle> {
  const out = openSync(options.logFile, 'w');
  const child = spawn(process.execPath, options.args, {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', out, 'pipe'],
  });
  closeSync(out);
  children.add(child);

  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  let hasExited = false;
  const exited = new Promise<void>((resolve) => {
    const done = () => {
      hasExited = true;
      children.delete(child);
      resolve();
    };
    child.once('exit', done);
    child.once('error', done);
  });

  const stop = async () => {
    if (hasExited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  };

  try {
    const url = await waitForReady(options, () => hasExited);
    const pid = child.pid;
    if (pid === undefined) throw new Error(`${options.name}: no pid`);
    return { name: options.name, url, pid, env: options.env, rssMb: () => rssMb(pid), stop };
  } catch (error) {
    await stop();
    const log = await readFile(options.logFile, 'utf8').catch(() => '');
    throw new Error(
      `${options.name} did not start: ${(error as Error).message}\n--- stdout (tail) ---\n${log.slice(-2000)}\n--- stderr (tail) ---\n${stderr}`,
    );
  }
}

async function waitForReady(options: SpawnOptions, hasExited: () => boolean): Promise<string> {
  const deadline = Date.now() + options.startTimeoutMs;
  while (Date.now() < deadline) {
    const match = options.ready.exec(await readFile(options.logFile, 'utf8'));
    if (match?.[1]) return match[1];
    if (hasExited()) throw new Error('process exited');
    await sleep(100);
  }
  throw new Error(`no ready line within ${options.startTimeoutMs} ms`);
}

/** Resident set size from the kernel's view of the process (Linux). */
async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kb) / 1024;
}

/** A port free on 127.0.0.1 right now, for servers that cannot be told to pick one (PORT=0). */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', resolve);
  });
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('could not find a free port');
  return address.port;
}

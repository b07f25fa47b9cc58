import { chmod, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { PGLiteSocketHandler } from '@electric-sql/pglite-socket';
import type { PgliteDatabase } from './pglite.js';

const READY_FOR_QUERY = 0x5a; // 'Z'
const IDLE = 0x49; // 'I': not in a transaction block

/**
 * Serialises socket clients with the in-process users of one PGlite session.
 *
 * A client takes the database gate with its first protocol message and keeps it until the
 * backend reports ReadyForQuery/idle, so an extended-protocol exchange or an explicit
 * transaction of one client is never interleaved with statements from anybody else.
 */
class GatedQueue {
  private owner: number | null = null;
  private release: (() => void) | null = null;
  private readonly chains = new Map<number, Promise<unknown>>();

  constructor(private readonly db: PgliteDatabase) {}

  enqueue(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number> {
    const previous = this.chains.get(handlerId) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.run(handlerId, message, onData));
    this.chains.set(handlerId, next);
    return next;
  }

  private async run(
    handlerId: number,
    message: Uint8Array,
    onData: (data: Uint8Array) => void,
  ): Promise<number> {
    if (this.owner !== handlerId) {
      const release = await this.db.gate.acquire();
      // The client left while this message waited at the gate: typically its Terminate, queued
      // behind a busy server while the socket closed. Run now, it would make the departed client
      // the owner, and as no answer ends idle after it, nobody would ever free the gate again.
      if (!this.chains.has(handlerId)) {
        release();
        return 0;
      }
      this.release = release;
      this.owner = handlerId;
      this.db.forgetSessionSettings();
    }
    let bytes = 0;
    let tail: Uint8Array = new Uint8Array(0);
    try {
      await this.db.pg.execProtocolRawStream(message, {
        onRawData: (data) => {
          bytes += data.length;
          tail = lastBytes(tail, data, 6);
          onData(data);
        },
      });
    } catch (error) {
      this.free(handlerId);
      throw error;
    }
    if (tail.length === 6 && tail[0] === READY_FOR_QUERY && tail[5] === IDLE) this.free(handlerId);
    return bytes;
  }

  getQueueLength(): number {
    return this.chains.size;
  }

  clearQueueForHandler(handlerId: number): void {
    this.chains.delete(handlerId);
  }

  /** A client that vanished mid-transaction must not leave it open for everybody else. */
  async clearTransactionIfNeeded(handlerId: number): Promise<void> {
    if (this.owner !== handlerId) return;
    try {
      if (this.db.pg.isInTransaction()) await this.db.pg.exec('ROLLBACK');
    } finally {
      this.free(handlerId);
    }
  }

  private free(handlerId: number): void {
    if (this.owner !== handlerId) return;
    this.owner = null;
    const release = this.release;
    this.release = null;
    release?.();
  }
}

function lastBytes(previous: Uint8Array, data: Uint8Array, n: number): Uint8Array {
  if (data.length >= n) return data.slice(data.length - n);
  const joined = new Uint8Array(previous.length + data.length);
  joined.set(previous);
  joined.set(data, previous.length);
  return joined.slice(Math.max(0, joined.length - n));
}

/** Serves the embedded database to local `iris` commands over a Unix socket (mode 0600). */
export class PgliteShareServer {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly db: PgliteDatabase,
    readonly socketPath: string,
  ) {}

  async start(): Promise<void> {
    await rm(this.socketPath, { force: true });
    const queue = new GatedQueue(this.db);
    this.server = createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      const handler = new PGLiteSocketHandler({
        // The handler only calls the queue's public methods, which GatedQueue implements.
        queryQueue: queue as unknown as ConstructorParameters<typeof PGLiteSocketHandler>[0]['queryQueue'],
        closeOnDetach: true,
      });
      handler.attach(socket).catch(() => socket.destroy());
    });
    const server = this.server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    await chmod(this.socketPath, 0o600);
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(this.socketPath, { force: true });
  }
}

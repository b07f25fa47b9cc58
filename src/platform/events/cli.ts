import { InvalidArgumentError, type Command } from 'commander';
import { action, UsageError } from '../../cli/run.js';
import { userInfo } from 'node:os';
import type { AuditTrail } from '../audit/port.js';
import type { IrisEventBus } from './index.js';

/** What the event commands need from the application context. */
export interface EventCommandContext {
  events: IrisEventBus;
  /** Admin actions are audited when the context has the audit trail. */
  audit?: AuditTrail;
}

async function audit(
  ctx: EventCommandContext,
  action: string,
  details: Record<string, unknown>,
): Promise<void> {
  await ctx.audit?.record({
    action,
    outcome: 'success',
    actor: { type: 'system', id: `cli:${userInfo().username}` },
    details,
  });
}

function deliveryId(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`not a dead letter id: ${value}`);
  return n;
}

function isoDate(value: string): Date {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw new InvalidArgumentError(`not an ISO date-time: ${value}`);
  return date;
}

function aggregateRef(value: string): { type: string; id: string } {
  const slash = value.indexOf('/');
  if (slash <= 0 || slash === value.length - 1)
    throw new InvalidArgumentError('expected TYPE/ID, e.g. Patient/123');
  return { type: value.slice(0, slash), id: value.slice(slash + 1) };
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`not a positive whole number: ${value}`);
  return n;
}

function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Resolves on the first SIGTERM or SIGINT. */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(signal);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

/** `iris events replay|status|dlq ...` and `iris worker`. */
export function registerEventCommands(program: Command, load: () => Promise<EventCommandContext>): void {
  program
    .command('worker')
    .description('run event subscribers and scheduled jobs until SIGTERM/SIGINT')
    .action(
      action(async () => {
        // Listening before anything is announced: a SIGTERM without a listener kills the process
        // at once, so one sent as soon as "running" appeared could skip the graceful stop.
        const signal = untilSignal();
        const { events } = await load();
        await events.start('worker');
        print(`iris worker ${events.workerId} running; stop with SIGTERM or Ctrl-C`);
        await signal;
        await events.stop();
        print('iris worker stopped');
      }),
    );

  const group = program
    .command('events')
    .description('event bus administration: replay, dead letters, status');

  group
    .command('replay')
    .description('deliver stored events again to one subscriber')
    .requiredOption('--subscriber <name>', 'the subscriber to deliver to')
    .option('--type <type>', 'event type or pattern, e.g. immunization.*')
    .option('--from <iso>', 'events that occurred at or after this time', isoDate)
    .option('--to <iso>', 'events that occurred at or before this time', isoDate)
    .option('--aggregate <TYPE/ID>', 'events of one aggregate, e.g. Patient/123', aggregateRef)
    .action(
      action(
        async (options: {
          subscriber: string;
          type?: string;
          from?: Date;
          to?: Date;
          aggregate?: { type: string; id: string };
        }) => {
          if (options.from && options.to && options.from > options.to)
            throw new UsageError('--from is after --to');
          const ctx = await load();
          const scheduled = await ctx.events.replay(options).catch((error: unknown) => {
            throw error instanceof Error && error.name === 'UnknownSubscriberError'
              ? new UsageError(error.message)
              : error;
          });
          await audit(ctx, 'events.replay', { ...options, scheduled });
          print(`scheduled ${scheduled} deliver${scheduled === 1 ? 'y' : 'ies'} to ${options.subscriber}`);
        },
      ),
    );

  group
    .command('status')
    .description('open deliveries, lag and dead letters per subscriber')
    .action(
      action(async () => {
        const { events } = await load();
        const stats = await events.queueStats();
        if (stats.length === 0) print('no open deliveries');
        for (const s of stats) {
          print(
            `${s.subscriber}  pending ${s.pending}  leased ${s.leased}  retry ${s.retryWait}  dead ${s.dead}  lag ${s.lagSeconds.toFixed(1)}s`,
          );
        }
      }),
    );

  group
    .command('jobs')
    .description('scheduled jobs of this build and their latest runs')
    .option('--job <name>', 'only this job')
    .option('--limit <n>', 'at most this many runs', positiveInt, 20)
    .action(
      action(async (options: { job?: string; limit: number }) => {
        const { events } = await load();
        for (const j of events.jobs()) print(`${j.name}  ${j.cron}${j.timezone ? ` (${j.timezone})` : ''}`);
        for (const r of await events.jobHistory(options.job, options.limit)) {
          const took = r.finishedAt ? `${r.finishedAt.getTime() - r.startedAt.getTime()} ms` : '-';
          print(
            `#${r.id}  ${r.job}  ${r.status}  for ${r.scheduledFor.toISOString()}  took ${took}  on ${r.owner}${r.error ? `  ${r.error}` : ''}`,
          );
        }
      }),
    );

  const dlq = group.command('dlq').description('dead-lettered deliveries');
  dlq
    .command('list')
    .description('list dead letters, newest first')
    .option('--subscriber <name>', 'only this subscriber')
    .option('--type <type>', 'only this event type')
    .option('--limit <n>', 'at most this many', positiveInt, 50)
    .action(
      action(async (options: { subscriber?: string; type?: string; limit: number }) => {
        const { events } = await load();
        const letters = await events.deadLetters.list(options);
        if (letters.length === 0) print('no dead letters');
        for (const l of letters) {
          const error = (l.lastError ?? '').split('\n')[0]?.slice(0, 120);
          print(
            `${l.id}  ${l.failedAt}  ${l.subscriber}  ${l.event.type}  ${l.event.aggregate.type}/${l.event.aggregate.id}  attempts ${l.attempts}  ${error}`,
          );
        }
      }),
    );
  dlq
    .command('show <id>')
    .description('one dead letter with its event, as JSON')
    .action(
      action(async (id: string) => {
        const ctx = await load();
        const letter = await ctx.events.deadLetters.get(deliveryId(id));
        if (!letter) throw new UsageError(`no dead letter with id ${id}`);
        await audit(ctx, 'events.dlq.show', { deliveryId: letter.id, eventId: letter.event.id });
        print(JSON.stringify(letter, null, 2));
      }),
    );
  dlq
    .command('retry <id>')
    .description('put a dead letter back in line with fresh attempts')
    .action(
      action(async (id: string) => {
        const ctx = await load();
        if (!(await ctx.events.deadLetters.retry(deliveryId(id))))
          throw new UsageError(`no dead letter with id ${id}`);
        await audit(ctx, 'events.dlq.retry', { deliveryId: Number(id) });
        print(`dead letter ${id} will be delivered again`);
      }),
    );
  dlq
    .command('discard <id>')
    .description('give up on a dead letter for good')
    .action(
      action(async (id: string) => {
        const ctx = await load();
        if (!(await ctx.events.deadLetters.discard(deliveryId(id))))
          throw new UsageError(`no dead letter with id ${id}`);
        await audit(ctx, 'events.dlq.discard', { deliveryId: Number(id) });
        print(`dead letter ${id} discarded`);
      }),
    );
}

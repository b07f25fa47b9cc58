import type { Command } from 'commander';
import type { AppContext } from '../../platform/context.js';
import { progressReporter, type ProgressStream } from '../../platform/progress.js';
import type { AuditService } from './service.js';
import { exportAll } from './siem.js';

function wholeNumber(value: string, name: string): number {
  if (!/^\d{1,15}$/.test(value)) throw new Error(`${name} must be a whole number (got "${value}")`);
  return Number(value);
}

/**
 * `iris audit verify [--from N] [--to N] [--threads N]` (exit 0 intact, 1 damaged) and
 * `iris audit export --since-seq N` (JSON Lines on stdout, cursor on stderr).
 */
export interface CliOutput extends ProgressStream {
  once(event: 'drain', listener: () => void): unknown;
}

export function registerAuditCli(
  program: Command,
  load: () => Promise<AppContext>,
  service: (ctx: AppContext) => AuditService,
  io: { out: CliOutput; err: CliOutput } = { out: process.stdout, err: process.stderr },
): void {
  const audit = program.command('audit').description('tamper-evident audit log: verify, export, archive');

  audit
    .command('verify')
    .description('recompute the hash chain and signed checkpoints; report the first damaged entry')
    .option('--from <seq>', 'first sequence number')
    .option('--to <seq>', 'last sequence number')
    .option(
      '--threads <n>',
      'threads checking segments of the chain side by side (default: cores less one, at most 8)',
    )
    .option('--json', 'print the full report as JSON')
    .action(async (options: { from?: string; to?: string; threads?: string; json?: boolean }) => {
      try {
        const from = options.from === undefined ? undefined : wholeNumber(options.from, '--from');
        const to = options.to === undefined ? undefined : wholeNumber(options.to, '--to');
        const threads = options.threads === undefined ? undefined : wholeNumber(options.threads, '--threads');
        if (threads === 0) throw new Error('--threads must be at least 1');
        const ctx = await load();
        const trail = service(ctx);
        await trail.flush();
        const progress = progressReporter(io.err);
        const report = await trail
          .verify({
            from,
            to,
            threads,
            onProgress: (checked, total) =>
              progress.update(
                `verifying: ${checked.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} entries ` +
                  `(${total > 0 ? Math.floor((100 * checked) / total) : 100}%)`,
              ),
          })
          .finally(() => progress.done());
        if (options.json) {
          io.out.write(`${JSON.stringify(report, null, 2)}\n`);
        } else if (report.ok) {
          io.out.write(
            `audit log intact: entries ${report.from}..${report.to} (${report.entriesChecked} entries, ` +
              `${report.checkpointsChecked} checkpoints) in ${report.durationMs} ms` +
              `${report.threads > 1 ? ` on ${report.threads} threads` : ''}\n`,
          );
        } else {
          const d = report.firstDamage!;
          io.out.write(`audit log DAMAGED: first damage at ${d.seq ?? 'schema'} (${d.kind}): ${d.detail}\n`);
          for (const issue of report.issues.slice(1, 20)) {
            io.out.write(`  ${issue.seq ?? 'schema'} ${issue.kind}: ${issue.detail}\n`);
          }
        }
        for (const w of report.warnings) io.err.write(`warning: ${w}\n`);
        process.exitCode = report.ok ? 0 : 1;
      } catch (error) {
        io.err.write(`iris: ${(error as Error).message}\n`);
        process.exitCode = 2;
      }
    });

  audit
    .command('export')
    .description('write entries after a sequence number as JSON Lines (SIEM export)')
    .option('--since-seq <seq>', 'export entries with a higher sequence number', '0')
    .action(async (options: { sinceSeq: string }) => {
      try {
        const since = wholeNumber(options.sinceSeq, '--since-seq');
        const ctx = await load();
        const trail = service(ctx);
        let last = since;
        for await (const chunk of exportAll(trail.db, since)) {
          if (!io.out.write(chunk)) await new Promise<void>((r) => io.out.once('drain', () => r()));
          const tail = chunk.slice(chunk.lastIndexOf('"seq":', chunk.length - 2) + 6);
          last = Number.parseInt(tail, 10);
        }
        io.err.write(`next --since-seq ${last}\n`);
      } catch (error) {
        io.err.write(`iris: ${(error as Error).message}\n`);
        process.exitCode = 2;
      }
    });

  audit
    .command('archive')
    .description('archive monthly partitions past the retention period to object storage')
    .action(async () => {
      try {
        const ctx = await load();
        const done = await service(ctx).archiveExpired();
        for (const a of done)
          io.out.write(`archived ${a.partition}: ${a.entries} entries -> ${a.objectKey}\n`);
        if (done.length === 0) io.out.write('nothing is past the retention period\n');
      } catch (error) {
        io.err.write(`iris: ${(error as Error).message}\n`);
        process.exitCode = 2;
      }
    });
}

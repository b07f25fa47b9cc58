/**
 * `iris forecast`: evaluates a patient's doses and prints the CDSi forecast as tables. Needs no
 * database: everything comes from the command line and the bundled CDC supporting data.
 */
import { Option } from 'commander';
import type { Command } from 'commander';
import { getSupportingData, parseDate, runForecast } from './cdsi/index.js';
import type { AdministeredDose, ForecastResult, Gender } from './cdsi/index.js';

interface ForecastOptions {
  dob: string;
  gender?: Gender;
  dose?: string[];
  date?: string;
  group?: string[];
  all?: boolean;
  json?: boolean;
}

/** Parses CVX:YYYY-MM-DD or CVX:MVX:YYYY-MM-DD. */
export function parseDoseArgument(text: string): AdministeredDose {
  const parts = text.split(':').map((p) => p.trim());
  const cvx = parts[0] ?? '';
  const date = parts[parts.length - 1] ?? '';
  if (parts.length < 2 || parts.length > 3 || !/^\d{1,3}$/.test(cvx)) {
    throw new Error(`--dose "${text}": expected CVX:YYYY-MM-DD or CVX:MVX:YYYY-MM-DD`);
  }
  parseDate(date);
  return parts.length === 3 ? { cvx, mvx: parts[1], date } : { cvx, date };
}

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function formatForecast(
  result: ForecastResult,
  dob: string,
  doses: AdministeredDose[],
  showAll: boolean,
): string {
  const data = getSupportingData();
  const evaluations = result.vaccineGroups
    .flatMap((g) => g.evaluations.map((e) => ({ group: g.vaccineGroup, e })))
    .sort((a, b) => a.e.date.localeCompare(b.e.date) || a.e.doseIndex - b.e.doseIndex);
  const evaluationRows = evaluations.map(({ group, e }) => [
    e.date,
    e.cvx,
    data.cvxDescriptions.get(e.cvx) ?? '',
    group,
    e.targetDose === undefined ? '' : String(e.targetDose),
    e.status,
    e.reason ?? '',
  ]);
  const groups = result.vaccineGroups.filter(
    (g) => showAll || g.status !== 'not recommended' || g.evaluations.length > 0,
  );
  const forecastRows = groups.map((g) => [
    g.vaccineGroup,
    g.status,
    g.targetDose === undefined ? '' : String(g.targetDose),
    g.earliest ?? '',
    g.recommended ?? '',
    g.pastDue ?? '',
    g.latest ?? '',
    g.recommendedCvx.join(' '),
  ]);
  const unmapped = result.unmappedDoses.map((i) => `${doses[i]?.cvx ?? '?'}:${doses[i]?.date ?? '?'}`);
  return [
    `Patient born ${dob}, assessed on ${result.assessmentDate} (CDC CDSi supporting data ${result.supportingDataVersion})`,
    '',
    'Evaluation',
    evaluationRows.length > 0
      ? table(['Date', 'CVX', 'Vaccine', 'Vaccine group', 'Dose', 'Status', 'Reason'], evaluationRows)
      : '(no doses)',
    ...(unmapped.length > 0 ? [`Not evaluated (CVX unknown to CDSi): ${unmapped.join(', ')}`] : []),
    '',
    'Forecast',
    table(
      ['Vaccine group', 'Status', 'Dose', 'Earliest', 'Recommended', 'Past due', 'Latest', 'CVX'],
      forecastRows,
    ),
    '',
  ].join('\n');
}

export function registerForecastCommand(program: Command): void {
  program
    .command('forecast')
    .description('evaluate immunizations and forecast the next doses (CDC CDSi)')
    .requiredOption('--dob <YYYY-MM-DD>', 'date of birth')
    .addOption(new Option('--gender <gender>', 'administrative gender').choices(['M', 'F', 'U']))
    .option(
      '--dose <CVX:YYYY-MM-DD...>',
      'administered dose; repeat or list several (CVX:MVX:DATE also accepted)',
    )
    .option('--date <YYYY-MM-DD>', 'assessment date (default: today)')
    .option('--group <name...>', 'only these vaccine groups, e.g. MMR "DTaP/Tdap/Td"')
    .option('--all', 'also list vaccine groups that are not recommended for the patient')
    .option('--json', 'print the raw result as JSON')
    .action(function (this: Command, opts: ForecastOptions) {
      let root: Command | null = this.parent;
      while (root?.parent) root = root.parent;
      // Output goes through the program's output configuration so callers (and tests) can capture it.
      const write = (root ?? this).configureOutput().writeOut ?? ((s: string) => process.stdout.write(s));
      let result: ForecastResult;
      let doses: AdministeredDose[] = [];
      try {
        parseDate(opts.dob);
        if (opts.date) parseDate(opts.date);
        doses = (opts.dose ?? []).map(parseDoseArgument);
        const known = new Set(getSupportingData().vaccineGroups.map((g) => g.name));
        const unknown = (opts.group ?? []).filter((g) => !known.has(g));
        if (unknown.length > 0) throw new Error(`unknown vaccine group ${unknown.join(', ')}`);
        result = runForecast({
          dob: opts.dob,
          gender: opts.gender,
          doses,
          assessmentDate: opts.date,
          vaccineGroups: opts.group,
        });
      } catch (err) {
        this.error(`error: ${(err as Error).message}`);
      }
      write(
        opts.json
          ? `${JSON.stringify(result, null, 2)}\n`
          : formatForecast(result, opts.dob, doses, opts.all ?? false),
      );
    });
}

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Command, CommanderError } from 'commander';
import { parseDoseArgument, registerForecastCommand } from '../../../src/modules/immunization/cli.js';

async function run(args: string[]): Promise<{ out: string; err: string; error?: CommanderError }> {
  let out = '';
  let err = '';
  const program = new Command('iris');
  program.exitOverride();
  program.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (err += s) });
  registerForecastCommand(program);
  try {
    await program.parseAsync(['forecast', ...args], { from: 'user' });
    return { out, err };
  } catch (e) {
    if (e instanceof CommanderError) return { out, err, error: e };
    throw e;
  }
}

describe('iris forecast', () => {
  test('prints the evaluation and forecast tables', async () => {
    const { out, error } = await run([
      '--dob',
      '2025-01-01',
      '--dose',
      '20:2025-03-01',
      '08:2025-01-02',
      '--dose',
      '20:2025-03-15',
      '998:2025-03-15',
      '--date',
      '2025-06-01',
    ]);
    assert.equal(error, undefined);
    assert.match(out, /assessed on 2025-06-01/);
    assert.match(out, /Not evaluated \(CVX unknown to CDSi\): 998:2025-03-15/);
    const lines = out.split('\n');
    const tooSoon = lines.find((l) => l.startsWith('2025-03-15'));
    assert.ok(tooSoon?.includes('DTaP/Tdap/Td'));
    assert.match(tooSoon ?? '', /not valid\s+Interval: Too Soon/);
    const dtap = lines.find((l) => l.startsWith('DTaP/Tdap/Td'));
    assert.match(dtap ?? '', /not complete\s+2\s+2025-04-12/);
    assert.ok(lines.some((l) => l.startsWith('HepB') && l.includes('not complete')));
    assert.ok(!lines.some((l) => l.startsWith('Yellow Fever')), 'groups that are not recommended are hidden');
  });

  test('--json prints the engine result and --group restricts the groups', async () => {
    const { out } = await run(['--dob', '2024-11-10', '--date', '2025-11-10', '--group', 'MMR', '--json']);
    const parsed = JSON.parse(out) as { vaccineGroups: Array<{ vaccineGroup: string; earliest: string }> };
    assert.deepEqual(
      parsed.vaccineGroups.map((g) => g.vaccineGroup),
      ['MMR'],
    );
    assert.equal(parsed.vaccineGroups[0]?.earliest, '2025-11-10');
  });

  test('reports bad input as a command error', async () => {
    const badDose = await run(['--dob', '2025-01-01', '--dose', '20-2025-03-01']);
    assert.ok(badDose.error);
    assert.match(badDose.err, /expected CVX:YYYY-MM-DD/);
    const badDob = await run(['--dob', '2025-02-30']);
    assert.match(badDob.err, /invalid date/);
    const badGroup = await run(['--dob', '2025-01-01', '--group', 'Flu']);
    assert.match(badGroup.err, /unknown vaccine group Flu/);
    const missing = await run([]);
    assert.match(missing.err, /--dob/);
  });

  test('parses dose arguments with an optional MVX', () => {
    assert.deepEqual(parseDoseArgument('20:2025-03-01'), { cvx: '20', date: '2025-03-01' });
    assert.deepEqual(parseDoseArgument('115:SKB:2025-03-01'), { cvx: '115', mvx: 'SKB', date: '2025-03-01' });
    assert.throws(() => parseDoseArgument('DTaP:2025-03-01'), /expected CVX/);
  });
});

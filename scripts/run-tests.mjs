// Runs the test suites with Node's built-in runner (through tsx for TypeScript).
//   unit        every test/**/*.test.ts except *.server.test.ts — offline, embedded PGlite
//   integration test/integration/**/*.test.ts against the servers in DATABASE_URL and REDIS_URL
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const mode = process.argv[2] ?? 'unit';
const filter = process.argv.slice(3);

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...walk(full));
    else if (name.endsWith('.test.ts')) out.push(relative(process.cwd(), full));
  }
  return out;
}

let files;
const env = { ...process.env, IRIS_TEST_MODE: mode };
if (mode === 'unit') {
  files = walk('test').filter((f) => !f.endsWith('.server.test.ts'));
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
} else if (mode === 'integration') {
  for (const name of ['DATABASE_URL', 'REDIS_URL']) {
    if (!process.env[name]) {
      console.error(`test:integration needs ${name} (a PostgreSQL server and a Redis server); see README`);
      process.exit(2);
    }
  }
  files = walk(join('test', 'integration'));
} else {
  console.error(`unknown test mode "${mode}" (unit | integration)`);
  process.exit(2);
}
if (filter.length > 0) files = files.filter((f) => filter.some((p) => f.includes(p)));
files.sort();

const args = [
  '--import',
  'tsx',
  '--test',
  '--test-reporter=spec',
  `--test-concurrency=${process.env.TEST_CONCURRENCY ?? 2}`,
  '--test-timeout=180000',
  ...files,
];
const result = spawnSync(process.execPath, args, { stdio: 'inherit', env });
process.exit(result.status ?? 1);

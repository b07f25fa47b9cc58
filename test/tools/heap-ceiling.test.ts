import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { DEPLOYED_NODE_ARGS } from '../../bench/lib/suites.js';

// The server's heap ceiling is set in three places that must agree: what `npm start` runs,
// what the image runs, and what the server bench measures as deployed.
test('npm start, the image and the server bench give the server the same Node flags', () => {
  const start = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> })
    .scripts.start!;
  assert.equal(start, `node ${DEPLOYED_NODE_ARGS.join(' ')} dist/main.js`);
  const image = readFileSync('Dockerfile', 'utf8');
  const options = /NODE_OPTIONS="([^"]+)"/.exec(image)?.[1];
  assert.equal(options, DEPLOYED_NODE_ARGS.join(' '));
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_PREPARED_SEARCHES, searchStatement } from '../../../src/modules/fhir/search/prepared.js';

test('search texts are prepared under their own text, up to a bound per process', () => {
  assert.deepEqual(searchStatement('SELECT 1 -- shape 0'), { name: 'SELECT 1 -- shape 0' });
  for (let n = 1; n < MAX_PREPARED_SEARCHES; n++) searchStatement(`SELECT 1 -- shape ${n}`);
  // Full: a new shape runs unprepared, a known one keeps its name.
  assert.deepEqual(searchStatement('SELECT 1 -- one shape too many'), {});
  assert.deepEqual(searchStatement('SELECT 1 -- shape 7'), { name: 'SELECT 1 -- shape 7' });
});

// The identity scenarios on PostgreSQL + Redis. The auth harness keeps its state in DATABASE_URL
// (a fresh schema per suite) and REDIS_URL when they are set, so the unit suites run here
// unchanged: sign-in, lockout, refresh-token reuse, revocation, sessions (login.test.ts) and the
// role × route matrix with the FHIR routes and BOLA rows (matrix.test.ts).
for (const name of ['DATABASE_URL', 'REDIS_URL']) {
  if (!process.env[name])
    throw new Error(`auth.server.test.ts needs ${name}; run it through npm run test:integration`);
}

await import('../modules/auth/login.test.js');
await import('../modules/auth/matrix.test.js');

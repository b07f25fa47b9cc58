// The tamper-detection suite again, on a PostgreSQL server: there the verifier reads the log
// through binary COPY, embedded through the same format written to a blob.
import '../modules/audit/tamper.test.js';

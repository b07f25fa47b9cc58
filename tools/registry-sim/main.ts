// CLI entry: `npm run registry-sim -- --port 8787 --username u --password p`.
import { parseArgs } from 'node:util';
import { startRegistrySim } from './server.js';
import type { Faults, SimOptions } from './types.js';

const HELP = `Usage: npm run registry-sim -- [options]
  --port <n>               port (env REGISTRY_SIM_PORT, default 8787; 0 picks a free one)
  --host <addr>            bind address (env REGISTRY_SIM_HOST, default 127.0.0.1)
  --username <u>           SOAP username   (env REGISTRY_SIM_USERNAME)
  --password <p>           SOAP password   (env REGISTRY_SIM_PASSWORD)
  --facility-id <id>       SOAP facilityID (env REGISTRY_SIM_FACILITY_ID)
  --client-id <id>         FHIR OAuth client id     (env REGISTRY_SIM_CLIENT_ID)
  --client-secret <s>      FHIR OAuth client secret (env REGISTRY_SIM_CLIENT_SECRET)
  --hmac-secret <s>        FHIR request signing secret (env REGISTRY_SIM_HMAC_SECRET)
  --max-message-bytes <n>  largest HL7 message accepted (default 65536)
  --faults <json>          initial faults, e.g. '{"http5xxRate":0.1}' (env REGISTRY_SIM_FAULTS)`;

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string' },
    username: { type: 'string' },
    password: { type: 'string' },
    'facility-id': { type: 'string' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    'hmac-secret': { type: 'string' },
    'max-message-bytes': { type: 'string' },
    faults: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});

if (values.help) {
  console.log(HELP);
  process.exit(0);
}

const env = process.env;
const pick = (flag: string | undefined, name: string) => flag ?? env[`REGISTRY_SIM_${name}`] ?? undefined;

function integer(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`registry-sim: ${name} must be a non-negative integer`);
    process.exit(2);
  }
  return n;
}

const username = pick(values.username, 'USERNAME');
const password = pick(values.password, 'PASSWORD');
const clientId = pick(values['client-id'], 'CLIENT_ID');
const clientSecret = pick(values['client-secret'], 'CLIENT_SECRET');
const facilityId = pick(values['facility-id'], 'FACILITY_ID');
const faultsJson = pick(values.faults, 'FAULTS');

const options: SimOptions = {
  port: integer(pick(values.port, 'PORT'), '--port', 8787),
  host: pick(values.host, 'HOST') ?? '127.0.0.1',
  maxMessageBytes: integer(values['max-message-bytes'], '--max-message-bytes', 64 * 1024),
  hmacSecret: pick(values['hmac-secret'], 'HMAC_SECRET'),
};
if (username !== undefined || password !== undefined) {
  options.credentials = {
    username: username ?? '',
    password: password ?? '',
    ...(facilityId ? { facilityId } : {}),
  };
}
if (clientId !== undefined || clientSecret !== undefined) {
  options.oauth = { clientId: clientId ?? '', clientSecret: clientSecret ?? '' };
}
if (faultsJson) {
  try {
    options.faults = JSON.parse(faultsJson) as Partial<Faults>;
  } catch {
    console.error('registry-sim: --faults must be JSON');
    process.exit(2);
  }
}

try {
  const sim = await startRegistrySim(options);
  const stop = () => {
    sim.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  // Listening before the announcement, which tests wait for before they send the signal.
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  console.log(`registry-sim listening
  SOAP  ${sim.soapUrl}   (WSDL: ${sim.soapUrl}?wsdl)
  FHIR  ${sim.fhirUrl}
  OAuth ${sim.tokenUrl}${options.oauth ? '' : '   (disabled: no --client-id)'}
  admin ${sim.url}/sim/stats | /sim/doses | /sim/faults | /sim/reset | /sim/health`);
} catch (err) {
  console.error(`registry-sim: ${(err as Error).message}`);
  process.exit(1);
}

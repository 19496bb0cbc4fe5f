// One child process of the fault tests: the workload of fault_workload.mjs
// through pools made from a connection string, while the parent kills their
// backends.
//   node fault_process.mjs CONNECTION_STRING APPLICATION_NAME TAG CALLS MIN_MS RETRY_JSON
// Prints {"calls": N, "expected": {...}}; any call that raises ends the
// process with status 1 (and so fails the test), as would a crash.
import { workload } from './fault_workload.mjs';

const [connectionString, applicationName, tag, calls, minMs, retry] = process.argv.slice(2);
try {
  const out = await workload({ cfg: { connectionString, application_name: applicationName, max: 3 },
                               retry: JSON.parse(retry), tag, calls: Number(calls), minMs: Number(minMs) });
  process.stdout.write(JSON.stringify(out));
} catch (err) {
  process.stderr.write(`${err?.stack ?? err}\n${err?.cause ? `cause: ${err.cause.stack ?? err.cause}` : ''}\n`);
  process.exit(1);
}

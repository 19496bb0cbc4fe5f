// One child process of the fault tests: the workload of fault_workload.mjs
// through pools made from a connection string, while the parent kills their
// backends.
//   node fault_process.mjs CONNECTION_STRING APPLICATION_NAME TAG CALLS RETRY_JSON
// Runs at least CALLS rounds, and goes on until the parent writes a line
// `stop` on stdin or closes it.  Prints {"calls": N, "expected": {...}};
// any call that raises ends the process with status 1 (and so fails the
// test), as would a crash.
import { createInterface } from 'node:readline';

import { workload } from './fault_workload.mjs';

const [connectionString, applicationName, tag, calls, retry] = process.argv.slice(2);
let stopped = false;
const stdin = createInterface({ input: process.stdin });
stdin.on('line', (line) => { if (line.trim() === 'stop') stopped = true; });
stdin.on('close', () => { stopped = true; });
try {
  const out = await workload({ cfg: { connectionString, application_name: applicationName, max: 3 },
                               retry: JSON.parse(retry), tag, calls: Number(calls), more: () => !stopped });
  stdin.close();
  process.stdin.destroy();
  process.stdout.write(JSON.stringify(out));
} catch (err) {
  process.stderr.write(`${err?.stack ?? err}\n${err?.cause ? `cause: ${err.cause.stack ?? err.cause}` : ''}\n`);
  process.exit(1);
}

// The `prepare` script: builds dist/ with tsc.
//
// `npm install ./clients/node` (a folder outside the installing project)
// links this folder without installing its dependencies, so tsc and pg are
// missing here then: install them first, at the versions package-lock.json
// pins, with scripts off so that this script does not run itself again.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

if (!existsSync(tsc) || !existsSync(join(root, 'node_modules', 'pg'))) {
  // the installing npm's settings (its prefix, its project) are not ours
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
  execFileSync('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'],
               { cwd: root, env, stdio: 'inherit' });
}
await import('./copy-sql.mjs');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { cwd: root, stdio: 'inherit' });

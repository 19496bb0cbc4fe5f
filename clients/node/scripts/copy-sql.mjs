// Copies the portable edition's script, portable/session_store.sql of the
// repository (the one source; portable/build.sh makes it), into the
// package as sql/session_store.sql, which install() runs.  Outside the
// repository (a packed tarball) the copy it carries is kept.
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, '..', '..', 'portable', 'session_store.sql');
const target = join(root, 'sql', 'session_store.sql');
if (existsSync(source)) {
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(source, target);
} else if (!existsSync(target)) {
  throw new Error(`neither ${source} nor ${target} exists: the portable edition cannot be packaged`);
}

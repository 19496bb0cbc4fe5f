#!/bin/bash
# The npm package (clients/node), built and checked as a user gets it:
#
#  1. `npm pack` of clients/node (its build at the lock's pins); the
#     tarball holds what the package needs
#     (package.json, README.md, the dist/*.js and *.d.ts of every entry of
#     "exports" and of the bin, sql/session_store.sql) and nothing it
#     should not ship (tests, benchmarks, build scripts, tsconfig,
#     node_modules): every file is one of dist/*, src/*.ts (the sources
#     the declaration and source maps point to), sql/session_store.sql,
#     package.json, README.md;
#  2. a clean folder installs the tarball with the peer frameworks,
#     TypeScript and @types/node at the versions package-lock.json pins;
#  3. every entry point of "exports" imports as ESM there;
#  4. a consumer .ts that uses the public types of every entry point (a
#     LoadedSession built without latestMessageTime among them)
#     compiles with the pinned tsc (--noEmit, strict), under moduleResolution
#     node16 and bundler; @ts-expect-error lines prove the types are not
#     `any`; and with skipLibCheck off, the package's own declarations have
#     no error (the frameworks' declarations have some of their own, which
#     are not this package's to fix: DOM types, optional peers);
#  5. against a throwaway cluster: `session-store install URL` and
#     `session-store edition URL` (the package's bin), then a session
#     created, appended to and read through the package.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/env.sh

scratch=$(mktemp -d /var/tmp/session_store_pkg_node.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
npmq=(--no-audit --no-fund --prefer-offline --loglevel=error)
version=$(node -p 'require("./clients/node/package.json").version')
lock=$(pwd)/clients/node/package-lock.json
pin() { node -e 'const l = require(process.argv[1]); const p = l.packages["node_modules/" + process.argv[2]];
	if (!p) { console.error("package-lock.json pins no " + process.argv[2]); process.exit(1); }
	console.log(process.argv[2] + "@" + p.version)' "$lock" "$1"; }

# 1. pack (npm pack runs the package's prepare script: the SQL copied in
# from portable/, dist/ built by the pinned tsc, after `npm ci` when the
# folder has no node_modules yet, as in a fresh clone)
[ -f portable/session_store.sql ] || { echo "portable/session_store.sql is missing (portable/build.sh)" >&2; exit 1; }
(cd clients/node && npm pack --pack-destination "$scratch" "${npmq[@]}" >/dev/null)
tarball=$scratch/session-store-$version.tgz
tar -tzf "$tarball" | sed 's|^package/||' | sort >"$scratch/files"
node - clients/node/package.json "$scratch/files" <<'EOF'
const fs = require('node:fs');
const [pkgPath, listPath] = process.argv.slice(2);
const pkg = JSON.parse(fs.readFileSync(pkgPath, 'utf8'));
const files = new Set(fs.readFileSync(listPath, 'utf8').split('\n').filter(Boolean));
const problems = [];
const need = ['package.json', 'README.md', 'sql/session_store.sql'];
for (const [entry, targets] of Object.entries(pkg.exports)) {
  for (const cond of ['types', 'import']) {
    if (!targets[cond]) problems.push(`exports["${entry}"] has no "${cond}"`);
    else need.push(targets[cond].replace(/^\.\//, ''));
  }
}
for (const bin of Object.values(pkg.bin)) need.push(bin.replace(/^\.\//, ''));
for (const f of need) if (!files.has(f)) problems.push(`the tarball lacks ${f}`);
const allowed = /^(dist\/[\w.-]+\.(js|d\.ts|js\.map|d\.ts\.map)|src\/[\w-]+\.ts|sql\/session_store\.sql|package\.json|README\.md)$/;
for (const f of files) if (!allowed.test(f)) problems.push(`the tarball should not ship ${f}`);
if (problems.length) { console.error(problems.join('\n')); process.exit(1); }
console.log(`tarball: ${files.size} files, every entry point's .js and .d.ts, the bin and the SQL in, nothing else`);
EOF
echo "packed $(basename "$tarball") [${SECONDS}s]"

# 2. a clean folder: the tarball, the peers and the type tools at the lock's pins
app=$scratch/app
mkdir -p "$app"
echo '{ "name": "consumer", "private": true, "type": "module" }' >"$app/package.json"
peers=$(node -p 'Object.keys(require("./clients/node/package.json").peerDependencies).join(" ")')
deps=("$tarball")
for p in $peers typescript @types/node; do deps+=("$(pin "$p")"); done
(cd "$app" && npm install --save-exact "${npmq[@]}" "${deps[@]}" >/dev/null)
[ ! -e "$app/node_modules/session-store/node_modules/typescript" ] ||
	{ echo "installing the tarball ran its build" >&2; exit 1; }
echo "installed: ${deps[*]#"$scratch/"} [${SECONDS}s]"

# 3. every entry point, as ESM
entries=$(node -p 'Object.keys(require("./clients/node/package.json").exports).join(" ")')
(cd "$app" && node --input-type=module - $entries <<'EOF'
const names = [];
for (const entry of process.argv.slice(2)) {
  const spec = entry === '.' ? 'session-store' : `session-store/${entry.slice(2)}`;
  const mod = await import(spec);
  if (!Object.keys(mod).length) throw new Error(`${spec} exports nothing`);
  names.push(spec);
}
const { SessionStore } = await import('session-store');
const { SessionStore: fromClient } = await import('session-store/client');
if (SessionStore !== fromClient) throw new Error('session-store and session-store/client disagree');
console.log(`imported as ESM: ${names.join(', ')}`);
EOF
)

# 4. the types, as a TypeScript consumer sees them
cat >"$app/consumer.ts" <<'EOF'
import { SessionStore, SessionNotFound, type SessionRow, type AppendResult } from 'session-store';
import { SessionStore as ClientStore, type LoadedSession, type StoredMessage, type StoreSource } from 'session-store/client';
import { SessionStoreService, type SessionStoreServiceOptions } from 'session-store/adk';
import { SessionStoreSession } from 'session-store/openai';
import { isPGlite, type PGliteLike } from 'session-store/pglite';
import { install, editionOf, type Edition } from 'session-store/install';
import type { BaseSessionService } from '@google/adk';
import type { Session as AgentsSession } from '@openai/agents';

export async function use(url: string, lite: PGliteLike): Promise<number> {
  const source: StoreSource = { connectionString: url };
  const store: SessionStore = new ClientStore(source, { retry: { maxAttempts: 3 } });
  const row: SessionRow = await store.createSession('app', 'u1', { state: { k: 1 } });
  const appended: AppendResult = await store.appendMessages('app', 'u1', row.sessionId,
                                                            [{ role: 'user', content: 'hi' }]);
  const read: StoredMessage<{ role: string }>[] = await store.getMessages('app', 'u1', row.sessionId);
  const edition: Edition | null = await store.edition();
  // a LoadedSession built by the caller (a mock, a wrapper) needs no latestMessageTime
  const built: LoadedSession = { session: row, messages: [] };
  const options: SessionStoreServiceOptions = {};
  const service: BaseSessionService = new SessionStoreService(store, options);
  const session: AgentsSession = new SessionStoreSession('s1', { store, appName: 'app', userId: 'u1' });
  const installed: Edition = await install(lite);
  const again: Edition | null = await editionOf(lite);
  // @ts-expect-error: an app name is a string
  await store.createSession(1, 'u1');
  // @ts-expect-error: a stored message's seq is a number
  const seq: string = read[0]!.seq;
  const err: Error = new SessionNotFound('gone');
  void [service, session, installed, again, seq, err, edition, built, isPGlite(lite)];
  return appended.version + read.length;
}
EOF
tsc=("$app/node_modules/.bin/tsc" --noEmit --strict --target ES2022 --lib ES2022 --types node)
(cd "$app" && "${tsc[@]}" --skipLibCheck --module esnext --moduleResolution bundler consumer.ts)
# node16, without skipLibCheck: the consumer and the package's own
# declarations must have no error (the frameworks' may)
(cd "$app" && "${tsc[@]}" --module node16 --moduleResolution node16 consumer.ts >"$scratch/tsc.out") || true
if grep -E '^(consumer\.ts|node_modules/session-store/)' "$scratch/tsc.out"; then
	echo "consumer.ts or the package's declarations have errors (moduleResolution node16)" >&2; exit 1
fi
echo "consumer.ts type-checks (moduleResolution node16 and bundler); the package's .d.ts have no error [${SECONDS}s]"

# 5. the bin and the client, against a throwaway cluster
cat >"$app/smoke.sh" <<'EOF'
set -euo pipefail
url="postgresql://$PGUSER:$PGPASSWORD@$PGHOST:$PGPORT/$PGDATABASE"
npx --no-install session-store install "$url" >/dev/null
got=$(npx --no-install session-store edition "$url")
want="{\"edition\":\"portable\",\"version\":\"${version%.*}\"}"
[ "$got" = "$want" ] || { echo "session-store edition: $got, not $want" >&2; exit 1; }
echo "session-store edition: $got"
node --input-type=module - "$url" <<'JS'
import { SessionStore } from 'session-store';
const store = new SessionStore({ connectionString: process.argv[2] });
try {
  const s = await store.createSession('pkg', 'u1', { state: { k: 1 } });
  await store.appendMessages('pkg', 'u1', s.sessionId, [{ role: 'user', content: 'hi' }]);
  const got = await store.getMessages('pkg', 'u1', s.sessionId);
  if (got.length !== 1 || got[0].message.content !== 'hi') throw new Error(JSON.stringify(got));
  console.log('the client works from the tarball');
} finally {
  await store.close();
}
JS
EOF
cd "$app"
pg_virtualenv -t -v "$PG_MAJOR" -i "--encoding=UTF8 --locale=C.UTF-8" \
	env version="$version" bash "$app/smoke.sh"

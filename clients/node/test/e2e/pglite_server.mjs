// PGlite behind its socket server (@electric-sql/pglite-socket), for the
// PGlite fault test: the pg driver connects to it like to a server.
//   node pglite_server.mjs    prints {"port": N}, serves until stdin ends
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

const db = await PGlite.create();
const server = new PGLiteSocketServer({ db, port: 0, host: '127.0.0.1', maxConnections: 1 });
await server.start();
process.stdout.write(`${JSON.stringify({ port: Number(server.getServerConn().split(':')[1]) })}\n`);
process.stdin.resume();
process.stdin.on('end', async () => { await server.stop(); await db.close(); process.exit(0); });

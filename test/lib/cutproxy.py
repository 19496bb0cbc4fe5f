"""A TCP proxy between a client and PostgreSQL that cuts connections at
random points, for the fault-injection tests.

Every request the client sends after its session is ready may be cut, with
probability ``probability``, in one of four ways, chosen at random:

  before      the connection is closed before the request reaches the server
              (nothing ran);
  after_send  the request is forwarded, the client's side is closed at once,
              and the server's reply is read to its ReadyForQuery and thrown
              away: the statement ran to its end (committed, in autocommit)
              and the client never hears of it -- the uncertain case;
  mid_exec    the request is forwarded and both sides are closed at once:
              the server may or may not have finished the statement;
  mid_reply   the request is forwarded and the reply cut after its first
              message has reached the client.

SSLRequest and GSSENCRequest are answered "N" by the proxy itself, so the
stream stays plain protocol (clients connect with sslmode=prefer or
disable).

Use from Python::

    p = CutProxy(("127.0.0.1", 5432), probability=0.05, seed=1)
    port = p.start()          # listens on 127.0.0.1:port, in its own thread
    ...
    p.stats                   # {"connections": .., "cuts": .., "before": .., ...}
    p.stop()

or as a process (the Node suite does)::

    python3 cutproxy.py --target HOST:PORT [--probability P] [--seed N]

which prints {"port": N} on its first line and then answers each line of
its standard input: "stats" (a JSON line of the counters), "probability P",
"quit" (or end of input).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import struct
import sys
import threading
from typing import Optional

KINDS = ("before", "after_send", "mid_exec", "mid_reply")
_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104


class CutProxy:
    def __init__(self, target, probability: float = 0.05,
                 seed: Optional[int] = None, kinds=KINDS,
                 drain_timeout: float = 30.0):
        # target: (host, port) for TCP, or a str path of a Unix socket
        self.target = target
        self.probability = probability
        self.kinds = tuple(kinds)
        self.rng = random.Random(seed)
        self.drain_timeout = drain_timeout
        self.stats = {"connections": 0, "cuts": 0, **{k: 0 for k in KINDS}}
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._server = None
        self._thread: Optional[threading.Thread] = None
        self._conns: set = set()

    # -- running -----------------------------------------------------------

    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._handle, host, port)
        return self._server.sockets[0].getsockname()[1]

    def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Serve in a thread of its own; returns the port."""
        ready = threading.Event()
        box = {}

        def run():
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            box["port"] = loop.run_until_complete(self.serve(host, port))
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="cutproxy", daemon=True)
        self._thread.start()
        ready.wait(10)
        return box["port"]

    def stop(self) -> None:
        if self._loop is None:
            return

        async def shut():
            self._server.close()
            for w in list(self._conns):
                w.close()
            await asyncio.sleep(0)

        if self._thread is not None:
            asyncio.run_coroutine_threadsafe(shut(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop = None

    # -- one connection ----------------------------------------------------

    async def _open_target(self):
        if isinstance(self.target, str):
            return await asyncio.open_unix_connection(self.target)
        return await asyncio.open_connection(*self.target)

    async def _handle(self, creader, cwriter):
        self.stats["connections"] += 1
        self._conns.add(cwriter)
        swriter = None
        try:
            # startup: answer SSL/GSS requests "N", forward the startup packet
            while True:
                head = await creader.readexactly(8)
                length, code = struct.unpack("!ii", head)
                if code in (_SSL_REQUEST, _GSSENC_REQUEST) and length == 8:
                    cwriter.write(b"N")
                    await cwriter.drain()
                    continue
                if length < 8 or length > 10000:
                    return
                body = await creader.readexactly(length - 8)
                break
            sreader, swriter = await self._open_target()
            self._conns.add(swriter)
            swriter.write(head + body)
            await swriter.drain()
            state = {"ready": False, "cut": None}
            up = asyncio.ensure_future(_quiet(self._client_to_server(creader, swriter, cwriter, state)))
            down = asyncio.ensure_future(_quiet(self._server_to_client(sreader, cwriter, swriter, state)))
            done, pending = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
            if state["cut"] == "after_send":
                # let the server finish the statement; its reply goes nowhere
                try:
                    await asyncio.wait_for(down, self.drain_timeout)
                except Exception:
                    pass
            for t in pending:
                t.cancel()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            for w in (cwriter, swriter):
                if w is not None:
                    self._conns.discard(w)
                    try:
                        w.close()
                    except Exception:
                        pass

    def _decide(self) -> Optional[str]:
        if self.probability > 0 and self.rng.random() < self.probability:
            kind = self.rng.choice(self.kinds)
            self.stats["cuts"] += 1
            self.stats[kind] += 1
            return kind
        return None

    async def _client_to_server(self, creader, swriter, cwriter, state):
        while True:
            data = await creader.read(65536)
            if not data:
                swriter.close()
                return
            kind = self._decide() if state["ready"] and state["cut"] is None else None
            if kind == "before":
                state["cut"] = kind
                return
            swriter.write(data)
            await swriter.drain()
            if kind is None:
                continue
            state["cut"] = kind
            if kind == "after_send":
                cwriter.close()
                return
            if kind == "mid_exec":
                return
            # mid_reply: the down pump cuts after the next message it forwards

    async def _server_to_client(self, sreader, cwriter, swriter, state):
        while True:
            head = await sreader.readexactly(5)
            mtype = head[:1]
            (length,) = struct.unpack("!i", head[1:])
            body = await sreader.readexactly(length - 4) if length > 4 else b""
            if state["cut"] == "after_send":
                if mtype == b"Z":
                    return
                continue
            cwriter.write(head + body)
            await cwriter.drain()
            if state["cut"] == "mid_reply":
                return
            if mtype == b"Z":
                state["ready"] = True


async def _quiet(coro):
    """A pump ends when either side closes: that is not an error here."""
    try:
        await coro
    except (asyncio.IncompleteReadError, ConnectionError, OSError):
        pass


def _parse_target(s: str):
    if s.startswith("/"):
        return s
    host, _, port = s.rpartition(":")
    return (host or "127.0.0.1", int(port))


async def _main(args) -> None:
    proxy = CutProxy(_parse_target(args.target), args.probability, args.seed)
    port = await proxy.serve(args.listen, args.port)
    print(json.dumps({"port": port}), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().strip()
        if not line or line == "quit":
            break
        if line == "stats":
            print(json.dumps(proxy.stats), flush=True)
        elif line.startswith("probability "):
            proxy.probability = float(line.split()[1])
            print(json.dumps({"probability": proxy.probability}), flush=True)
    print(json.dumps(proxy.stats), flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", required=True, help="HOST:PORT or a Unix socket path")
    ap.add_argument("--listen", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--probability", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=None)
    asyncio.run(_main(ap.parse_args()))

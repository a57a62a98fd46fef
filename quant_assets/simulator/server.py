"""HTTP server: one loopback port, three protocol prefixes plus control endpoints.

    /krx/...      KRX Data Marketplace (krx.py)
    /kis/...      KIS real host (kis.py), 20 req/s per appkey
    /kis-vts/...  KIS virtual host, 2 req/s per appkey, ETF TRs refused
    /_sim/...     control: GET/POST /_sim/clock, POST/DELETE /_sim/faults, GET /_sim/health,
                  GET /_sim/stats, POST /_sim/sessions/reset

stdlib `ThreadingHTTPServer` with HTTP/1.1 keep-alive: a timeout fault sleeps in its own thread
without blocking other clients. Responses honour `Accept-Encoding: gzip` like the real KRX.
"""

from __future__ import annotations

import collections
import datetime as dt
import gzip
import json
import socket
import threading
import time
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from .clock import SimClock
from .config import SimConfig
from .faults import FaultInjector, wait_unless_hung_up
from .kis import KisService
from .krx import KrxService
from .market import Market
from .wire import Request, Response, json_response

SECRET_KEYS = {"pw", "appsecret", "appkey", "authorization", "token", "secretkey"}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class SimulatorServer:
    """Builds the market and serves it. `start()` returns self; `stop()` shuts the port."""

    def __init__(self, config: SimConfig | None = None, host: str = "127.0.0.1", port: int = 0,
                 market: Market | None = None):
        self.config = config or SimConfig()
        t0 = time.perf_counter()
        self.market = market or Market(self.config)
        self.build_seconds = time.perf_counter() - t0
        self.clock = SimClock(self.config.now, self.config.speed)
        self.faults = FaultInjector()
        self.request_log: collections.deque = collections.deque(maxlen=200_000)
        self._stats_lock = threading.Lock()
        self.stats: collections.Counter = collections.Counter()
        self.krx = KrxService(self.market, self.clock, self.faults, self.config, self._log)
        self.kis = KisService(self.market, self.clock, self.faults, self.config, self._log, virtual=False)
        self.kis_vts = KisService(self.market, self.clock, self.faults, self.config, self._log, virtual=True)
        self.host = host
        self._requested_port = port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> SimulatorServer:
        handler = _make_handler(self)
        self._httpd = _HTTPServer((self.host, self._requested_port), handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="quant-sim", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Foreground serving (CLI)."""
        self._httpd = _HTTPServer((self.host, self._requested_port), _make_handler(self))
        try:
            self._httpd.serve_forever()
        finally:
            self._httpd.server_close()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            return self._requested_port
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def krx_url(self) -> str:
        return self.base_url + "/krx"

    @property
    def kis_url(self) -> str:
        return self.base_url + "/kis"

    @property
    def kis_virtual_url(self) -> str:
        return self.base_url + "/kis-vts"

    # ------------------------------------------------------------------ control
    def set_clock(self, now: dt.datetime | None, speed: float = 1.0) -> None:
        self.clock.set(now, speed)

    def set_faults(self, spec: dict) -> None:
        self.faults.set(spec)

    def clear_faults(self) -> None:
        self.faults.clear()

    def reset_sessions(self) -> None:
        """Forget KRX sessions and KIS tokens/rate windows (a fresh server, same market)."""
        self.krx.reset_sessions()
        self.kis.reset_sessions()
        self.kis_vts.reset_sessions()

    def count(self, source: str | None = None, key: str | None = None) -> int:
        """Requests seen so far, optionally by source ("krx", "kis", "kis-vts") and bld/tr_id."""
        return sum(1 for _, s, _, k, _ in list(self.request_log)
                   if (source is None or s == source) and (key is None or k == key))

    def _log(self, source: str, path: str, key: str, params: dict) -> None:
        clean = {k: v for k, v in params.items() if k.lower() not in SECRET_KEYS}
        self.request_log.append((time.time(), source, path, key, clean))
        with self._stats_lock:
            self.stats[f"{source}"] += 1
            if key:
                self.stats[f"{source}:{key}"] += 1

    def health(self) -> dict:
        m = self.market
        return {"status": "ok", "size": self.config.size, "seed": self.config.seed, "stocks": len(m.stocks),
                "etfs": m.etfs.n, "first_day": m.dates[0].isoformat(), "last_day": m.dates[-1].isoformat(),
                "end_date": m.end_date.isoformat(), "build_seconds": round(self.build_seconds, 3),
                "clock": self.clock.state()}

    # ------------------------------------------------------------------ routing
    def dispatch(self, req: Request, prefix: str) -> Response:
        if prefix == "/krx":
            return self.krx.handle(req)
        if prefix == "/kis":
            return self.kis.handle(req)
        if prefix == "/kis-vts":
            return self.kis_vts.handle(req)
        return self._control(req)

    def _control(self, req: Request) -> Response:
        p, meth = req.path, req.method
        try:
            if p == "/_sim/health":
                return json_response(self.health())
            if p == "/_sim/clock" and meth == "GET":
                return json_response(self.clock.state())
            if p == "/_sim/clock" and meth == "POST":
                body = req.json or {}
                now = body.get("now")
                when = dt.datetime.fromisoformat(now) if now else None
                self.set_clock(when, float(body.get("speed", 1.0)))
                return json_response(self.clock.state())
            if p == "/_sim/faults" and meth == "POST":
                self.set_faults(req.json or {})
                return json_response({"status": "ok", "faults": self.faults.spec})
            if p == "/_sim/faults" and meth == "GET":
                return json_response({"faults": self.faults.spec, "hits": self.faults.hits})
            if p == "/_sim/faults" and meth == "DELETE":
                self.clear_faults()
                return json_response({"status": "ok"})
            if p == "/_sim/stats":
                with self._stats_lock:
                    counts = dict(self.stats)
                return json_response({"requests": counts, "fault_hits": dict(self.faults.hits)})
            if p == "/_sim/sessions/reset" and meth == "POST":
                self.reset_sessions()
                return json_response({"status": "ok"})
        except (ValueError, TypeError) as exc:
            return json_response({"error": str(exc)}, 400)
        return json_response({"error": f"no route {meth} {p}"}, 404)


PREFIXES = ("/kis-vts", "/kis", "/krx", "/_sim")


def _make_handler(sim: SimulatorServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "Apache"
        sys_version = ""

        def setup(self):
            super().setup()
            # headers and body go out in separate writes; without NODELAY, Nagle + delayed ACK add
            # ~40 ms to every keep-alive response
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format, *args):  # noqa: A002 - stdlib signature
            pass

        def _handle(self):
            parts = urlsplit(self.path)
            path = parts.path
            prefix = next((p for p in PREFIXES if path == p or path.startswith(p + "/")), None)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if prefix is None:
                return self._send(json_response({"error": "unknown prefix"}, 404))
            headers = {k.lower(): v for k, v in self.headers.items()}
            ctype = headers.get("content-type", "")
            form: dict[str, str] = {}
            body_json = None
            if raw and "json" in ctype:
                try:
                    body_json = json.loads(raw.decode("utf-8"))
                except (ValueError, UnicodeDecodeError):
                    body_json = None
            elif raw:
                form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
            cookies: dict[str, str] = {}
            if "cookie" in headers:
                jar = SimpleCookie()
                try:
                    jar.load(headers["cookie"])
                except Exception:  # noqa: BLE001 - a malformed cookie header is just ignored
                    jar = SimpleCookie()
                cookies = {k: m.value for k, m in jar.items()}
            sub = path[len(prefix):] if prefix != "/_sim" else path
            req = Request(self.command, sub or "/", dict(parse_qsl(parts.query, keep_blank_values=True)), form,
                          body_json, headers, cookies)
            try:
                resp = sim.dispatch(req, prefix)
            except Exception as exc:  # noqa: BLE001 - a handler bug must not kill the connection
                resp = json_response({"error": f"simulator error: {type(exc).__name__}: {exc}"}, 500)
            self._send(resp)

        def _send(self, resp: Response):
            if resp.delay and not wait_unless_hung_up(self.connection, resp.delay):
                self.close_connection = True  # the client timed out and hung up: nobody to answer
                return
            body = resp.body
            headers = list(resp.headers)
            if len(body) > 1024 and "gzip" in (self.headers.get("Accept-Encoding") or ""):
                body = gzip.compress(body, compresslevel=1)
                headers.append(("Content-Encoding", "gzip"))
            try:
                self.send_response(resp.status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        do_GET = do_POST = do_DELETE = do_PUT = do_HEAD = _handle

    return Handler

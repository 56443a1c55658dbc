"""A webhook receiver for contract tests: http.server on 127.0.0.1, port 0, in a thread; records every request."""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self):
        self.requests = []  # dicts: path, headers (lower-case names), body (raw bytes), json
        self.statuses = []  # scripted answers, then 200
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with owner.lock:
                    owner.requests.append({
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                        "json": json.loads(body) if body else None,
                    })
                    status = owner.statuses.pop(0) if owner.statuses else 200
                reply = b"ok" if status < 300 else b"nope"
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.httpd.server_port}/hooks"

    def answer(self, *statuses):
        with self.lock:
            self.statuses = list(statuses)

    def received(self, event=None):
        with self.lock:
            got = list(self.requests)
        return [r for r in got if event is None or r["headers"].get("x-miosa-event") == event]

    def wait(self, count, event=None, timeout=10.0):
        """Polls (bounded) until `count` requests (of `event`, if given) have arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.received(event)
            if len(got) >= count:
                return got
            time.sleep(0.01)
        raise AssertionError(f"expected {count} webhook requests ({event or 'any'}), got {len(self.received(event))}")

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

"""A stand-in for `trl vllm-serve`, which needs CUDA: the process training/vllm_server.py starts in CPU tests.

    python tests/vllm_stand_in.py MODE PORT

serve: answers GET /health with 200 on 127.0.0.1:PORT, as vLLM's server does once it serves, until SIGTERM.
fail: prints an error and exits with code 1 at once, as a server that cannot load its model.
mute: listens on the port but never answers, as a server still loading its model; SIGTERM ends it.
silent: never answers and ignores SIGTERM, as a server stuck for good: only SIGKILL ends it.
Each prints the GPUs it was given first, so a test can read them in the output the run keeps.
"""

import http.server
import os
import signal
import socket
import sys
import threading


class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per poll would push the lines a test reads out of the kept tail


def main() -> int:
    mode, port = sys.argv[1], int(sys.argv[2])
    print(f"stand-in: CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')}", flush=True)
    if mode == "fail":
        print("stand-in: torch.OutOfMemoryError: CUDA out of memory", flush=True)
        return 1
    stopped = threading.Event()
    if mode == "mute":
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        with socket.create_server(("127.0.0.1", port)):  # connections wait in the backlog, unanswered
            stopped.wait()
        return 0
    if mode == "silent":
        signal.signal(signal.SIGTERM, lambda *_: print("stand-in: ignoring SIGTERM", flush=True))
        stopped.wait()
        return 0
    server = http.server.HTTPServer(("127.0.0.1", port), Health)
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"stand-in: serving on port {port}", flush=True)
    stopped.wait()
    print("stand-in: stopped by SIGTERM", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

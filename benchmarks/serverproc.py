"""The local OSS server in its own process, so its CPU never counts against a client."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

LISTENING = re.compile(r"listening on (https?://\S+)")


class ServerProcess:
    def __init__(
        self,
        root: Path,
        *,
        ak: str,
        sk: str,
        token: str,
        region: str,
        buckets: list[str],
        public_buckets: list[str],
        fail_rate: float = 0.0,
        reset_rate: float = 0.0,
        latency_ms: int = 0,
        log: Path | None = None,
    ) -> None:
        # BENCH_SERVER_MODULE: measure against another server build (same CLI flags).
        module = os.environ.get("BENCH_SERVER_MODULE", "agentbay_oss.server")
        self.cmd = [sys.executable, "-m", module, "--host", "127.0.0.1"]
        self.cmd += ["--port", "0", "--root", str(root), "--region", region]
        self.cmd += ["--access-key-id", ak, "--access-key-secret", sk, "--security-token", token]
        for b in buckets:
            self.cmd += ["--bucket", b]
        for b in public_buckets:
            self.cmd += ["--public-bucket", b]
        if fail_rate:
            self.cmd += ["--fail-rate", str(fail_rate)]
        if reset_rate:
            self.cmd += ["--reset-rate", str(reset_rate)]
        if latency_ms:
            self.cmd += ["--latency-ms", str(latency_ms)]
        self.log_path = log
        self.endpoint = ""
        self.proc: subprocess.Popen[str] | None = None
        self._lines: list[str] = []

    def start(self, timeout: float = 60.0) -> ServerProcess:
        self.proc = subprocess.Popen(
            self.cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        found = threading.Event()

        def drain() -> None:
            # Keep reading for the server's whole life: a full pipe would stall it.
            assert self.proc is not None and self.proc.stdout is not None
            log = open(self.log_path, "a") if self.log_path else None  # noqa: SIM115
            try:
                for line in self.proc.stdout:
                    if log:
                        log.write(line)
                    if not found.is_set():
                        self._lines.append(line)
                        m = LISTENING.search(line)
                        if m:
                            self.endpoint = m.group(1).rstrip("/")
                            found.set()
            finally:
                if log:
                    log.close()

        threading.Thread(target=drain, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not found.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                out = "".join(self._lines[-20:])
                raise RuntimeError(f"server did not start ({' '.join(self.cmd[:3])}):\n{out}")
        return self

    def cpu_seconds(self) -> float:
        """User+sys CPU of the server so far (Linux /proc), to show when it is the bottleneck."""
        if self.proc is None:
            return 0.0
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

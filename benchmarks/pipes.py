"""The far ends of the pipes that the stream rows upload from and download into.

- `feeder`: `cat FILE` writing into a pipe; the client reads the pipe through an ordinary
  buffered file object (`proc.stdout`, as `sys.stdin.buffer` would be): not seekable, size
  unknown.
- `sink`: a process (`python -m benchmarks.pipes`) reading a pipe to its end and counting
  bytes and their CRC-64; the client writes into an ordinary buffered file object
  (`proc.stdin`, as `sys.stdout.buffer` would be). Its count is read after the clock stops,
  so a download nobody keeps is still checked byte for byte.

Both are processes of their own: their CPU and memory are not the client's (RUSAGE_SELF and
VmHWM cover the client process only), as for a real `producer | upload` or `download | consumer`.
Pipes keep the kernel's default size (64 KiB), as a shell's do.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, NamedTuple

READ = 2**20
READY = "ready"


class Received(NamedTuple):
    """What a download delivered somewhere other than a file: byte count and CRC-64."""

    size: int
    crc64: int


@contextmanager
def feeder(path: Path) -> Iterator[IO[bytes]]:
    """`with feeder(path) as reader: upload(reader)`: the file's bytes through a pipe."""
    proc = subprocess.Popen(["cat", str(path)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        yield proc.stdout
    finally:
        proc.stdout.close()  # a client that stopped early: cat gets EPIPE and ends
        rc = proc.wait()
    if rc != 0:  # (not reached when the client failed: its error is the one to tell)
        raise RuntimeError(f"the feeder (cat) exited {rc}")


class Sink:
    """The writable end of a pipe (`writer`) and what its reader counted (`received()`)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self.proc = proc
        self.writer: IO[bytes] = proc.stdin
        self._out = proc.stdout
        # Wait until the reader reads, so its start-up is not inside a measurement.
        if (line := self._out.readline().decode().strip()) != READY:
            raise RuntimeError(f"the sink did not start: {line!r}")

    def received(self) -> Received:
        """Close the pipe and read what the reader counted (call after the clock stops)."""
        self.writer.close()
        out = self._out.read().decode()
        if self.proc.wait() != 0:
            raise RuntimeError(f"the sink exited {self.proc.returncode}")
        got = json.loads(out)
        return Received(int(got["size"]), int(got["crc64"]))


@contextmanager
def sink() -> Iterator[Sink]:
    """`with sink() as s: download(s.writer)`, then `s.received()`."""
    cmd = [sys.executable, "-m", "benchmarks.pipes"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        yield Sink(proc)
    finally:
        if proc.stdin is not None and not proc.stdin.closed:
            proc.stdin.close()  # EOF: the reader prints its count and ends
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> int:
    """The sink process: count stdin's bytes and CRC-64, print them as JSON at the end."""
    from agentbay_oss.protocol.crc64 import crc64

    buf = bytearray(READ)
    view = memoryview(buf)
    size = crc = 0
    print(READY, flush=True)
    with open(sys.stdin.fileno(), "rb", buffering=0, closefd=False) as stdin:
        while n := stdin.readinto(buf):
            crc = crc64(view[:n], crc)
            size += n
    print(json.dumps({"size": size, "crc64": crc}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A bounded load test of `edgedigits serve`'s POST /read, on 127.0.0.1 only.

Starts `edgedigits serve` (API only) as a child process, then sends `--requests`
uploads at `--concurrency` (keep-alive connections, one per worker thread): the
four samples (640x480 JPEGs, each with its truth in samples/truth.jsonl) and,
one request in twenty, a bad upload (random bytes, a cut JPEG, an empty body, a
text file). Checks that every good image is answered 200 with the right text,
every bad one with a 4xx and a JSON error, and that nothing is lost; reports
p50/p99 latency, throughput, and the server's resident memory after warm-up and
at the end. Stops by itself; the server is stopped on the way out.

With `--mjpeg SECONDS`, it measures the live stream instead: `serve` on a
generated 640x480 video at 25 fps, one client reading /stream.mjpg for that
long; frames received per second, and the server's CPU time over the same
span (in cores: 1.0 is one core busy all the time).

Usage:
    python benchmarks/serve_load.py                         # 2,000 requests at concurrency 8
    python benchmarks/serve_load.py --requests 10000        # the memory-growth check
    python benchmarks/serve_load.py --mjpeg 20              # the live stream's rate and CPU
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_mjpeg(port: int, pid: int, seconds: float) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/stream.mjpg")
    response = connection.getresponse()
    frames, start_cpu, start = 0, cpu_seconds(pid), time.perf_counter()
    buffered = b""
    while time.perf_counter() - start < seconds:
        buffered += response.read1(65536)
        frames += buffered.count(b"--frame\r\n")
        buffered = buffered[buffered.rfind(b"--frame\r\n") + 1 :] if b"--frame\r\n" in buffered else buffered[-16:]
    wall, cpu = time.perf_counter() - start, cpu_seconds(pid) - start_cpu
    connection.close()
    print(f"/stream.mjpg: {frames} frames in {wall:.1f} s = {frames / wall:.1f} fps; server CPU {cpu:.1f} s = {cpu / wall:.2f} cores")


def uploads() -> tuple[list[tuple[str, bytes, str]], list[tuple[str, bytes]]]:
    truth = {t["file"]: "\n".join(t["lines"]) for t in map(json.loads, (SAMPLES / "truth.jsonl").read_text().splitlines())}
    good = [(name, (SAMPLES / name).read_bytes(), text) for name, text in sorted(truth.items())]
    jpeg = good[0][1]
    bad = [("random", os.urandom(20_000)), ("cut", jpeg[: len(jpeg) // 2]), ("empty", b""),
           ("text", b"these are not the pixels you are looking for\n" * 50)]
    return good, bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--bad-share", type=float, default=0.05)
    parser.add_argument("--mjpeg", type=float, default=0, help="seconds to read /stream.mjpg of a 25 fps video instead")
    parser.add_argument("--serve-args", default="", help="extra arguments for edgedigits serve, e.g. '--model models/cnn.onnx'")
    args = parser.parse_args()

    port = free_port()
    command = [str(Path(sys.executable).parent / "edgedigits"), "serve", "--port", str(port), *args.serve_args.split()]
    if args.mjpeg:
        import tempfile

        import cv2

        video = Path(tempfile.mkdtemp()) / "page.avi"
        page = cv2.imread(str(SAMPLES / "2017.jpg"))
        writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25, (page.shape[1], page.shape[0]))
        for index in range(int(25 * (args.mjpeg + 15))):
            writer.write(page if index % 50 < 40 else cv2.imread(str(SAMPLES / "two-lines.jpg")))
        writer.release()
        command.insert(2, str(video))
    server = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/health")
                health = json.loads(connection.getresponse().read())
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    print(f"the server did not start: {server.stderr.read() if server.poll() is not None else 'timeout'}")
                    return 1
                time.sleep(0.2)
        if args.mjpeg:
            time.sleep(2)  # the feed's first frames
            measure_mjpeg(port, server.pid, args.mjpeg)
            return 0
        good, bad = uploads()
        rng = random.Random(0)
        plan = [("bad", rng.choice(bad)) if rng.random() < args.bad_share else ("good", rng.choice(good))
                for _ in range(args.requests)]
        local = threading.local()

        def send(item):
            kind, upload = item
            if not hasattr(local, "connection"):
                local.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            start = time.perf_counter()
            try:
                local.connection.request("POST", "/read", body=upload[1], headers={"Content-Type": "application/octet-stream"})
                response = local.connection.getresponse()
                body = json.loads(response.read())
            except (OSError, http.client.HTTPException, ValueError) as error:
                local.connection.close()
                del local.connection
                return kind, upload, None, str(error), time.perf_counter() - start
            return kind, upload, response.status, body, time.perf_counter() - start

        for item in plan[:50]:  # warm-up: sessions, thread pool, allocator
            send(item)
        memory_start = rss_mb(server.pid)
        started = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            results = list(pool.map(send, plan))
        wall = time.perf_counter() - started
        memory_end = rss_mb(server.pid)

        lost = [r for r in results if r[2] is None]
        good_results = [r for r in results if r[0] == "good" and r[2] is not None]
        bad_results = [r for r in results if r[0] == "bad" and r[2] is not None]
        wrong = [r for r in good_results if r[2] != 200 or r[3].get("text") != r[1][2]]
        not_refused = [r for r in bad_results if not (400 <= r[2] < 500 and r[3].get("error"))]
        good_ms = sorted(r[4] * 1e3 for r in good_results)
        print(f"server: {health['reader']}")
        print(f"{len(results)} requests at concurrency {args.concurrency} in {wall:.1f} s ({len(results) / wall:.0f}/s): "
              f"{len(good_results)} good images, {len(bad_results)} bad uploads, {len(lost)} lost")
        print(f"good images answered right: {len(good_results) - len(wrong)}/{len(good_results)}; "
              f"bad uploads refused with a 4xx and an error: {len(bad_results) - len(not_refused)}/{len(bad_results)}")
        if good_ms:
            p99 = good_ms[min(len(good_ms) - 1, int(0.99 * len(good_ms)))]
            print(f"latency of good images: p50 {statistics.median(good_ms):.1f} ms, p99 {p99:.1f} ms")
        print(f"server memory (RSS): {memory_start:.1f} MB after warm-up, {memory_end:.1f} MB at the end "
              f"({memory_end - memory_start:+.1f} MB)")
        for r in (wrong + not_refused)[:5]:
            print(f"  unexpected: {r[0]} {r[1][0]} -> {r[2]} {str(r[3])[:160]}")
        return 0 if not (lost or wrong or not_refused) else 1
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    sys.exit(main())

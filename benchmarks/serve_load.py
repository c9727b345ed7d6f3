"""``python -m benchmarks.serving --clients N --requests M``: a load test of ``python -m glue_lit serve``.

The server runs in its own process group on a free loopback port and is stopped at the end; each
client is a thread with its own HTTP connection.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def serve_check(folder: Path, texts, clients: int, requests: int, threads: int) -> dict:
    """``serve`` on ``folder``: ``requests`` dev texts from ``clients`` threads, answers checked against
    batch-1 predictions of the same folder."""
    import httpx

    from glue_lit.inference import load_classifier

    pairs = texts[1] if len(texts) > 1 else None
    items = [{"text": texts[0][i % len(texts[0])]} | ({"text_pair": pairs[i % len(pairs)]} if pairs else {})
             for i in range(requests)]
    clf = load_classifier(folder, threads=threads)
    expected = [clf.results(clf.predict([it["text"]], [it["text_pair"]] if pairs else None))[0]
                for it in items]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "glue_lit", "serve", "--model", str(folder), "--port",
                             str(port), "--max_batch_size", "16", "--threads", str(threads)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            raise SystemExit("serve did not come up within 180 s")

        def client(k: int) -> list[tuple[int, str | None, float]]:
            out = []
            with httpx.Client(base_url=url, timeout=60) as c:
                for i in range(k, requests, clients):
                    start = time.perf_counter()
                    r = c.post("/predict", json=items[i])
                    label = r.json().get("label") if r.status_code == 200 else None
                    out.append((i, label, time.perf_counter() - start))
            return out

        start = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            answers = [a for part in pool.map(client, range(clients)) for a in part]
        wall = time.perf_counter() - start
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    answered = sum(label is not None for _, label, _ in answers)
    differ = [expected[i]["score"] for i, label, _ in answers if label != expected[i]["label"]]
    latencies = [t for *_, t in answers]
    result = {"clients": clients, "requests": requests, "answered": answered,
              "equal_to_batch1": len(answers) - len(differ), "requests_per_s": requests / wall,
              "p50_ms": 1000 * statistics.median(latencies),
              "differing_batch1_top_probability_max": max(differ, default=None)}
    print(f"\nserve {folder.name}: {clients} clients, {requests} requests: {answered} answered, "
          f"{result['equal_to_batch1']} equal to batch-1 predictions, {result['requests_per_s']:.1f} "
          f"requests/s, p50 {result['p50_ms']:.1f} ms")
    if differ:
        # Dynamic int8 scales activations per batch, so the texts batched together move a score a little.
        print(f"  the {len(differ)} that differ: batch-1 top probability at most {max(differ):.3f}")
    return result

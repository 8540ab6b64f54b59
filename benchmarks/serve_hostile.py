"""Hostile load on ``scratchml nmt serve``: can one client stall everybody else?

The script starts the server as a subprocess on a free loopback port (the shipped model, default
limits, one decoding thread) and reads its limits from ``/healthz``. Then:

1. For ``--seconds``, one client (``--heavy-clients``) sends the heaviest request the limits
   allow, again and again: as many texts of random Chinese as the request's token budget holds,
   each as long as a text may be (Chinese is 3 tokens a character, and the model rarely finishes
   translating it early, so most sentences run to the output length limit), at the widest beam.
   Meanwhile ``--short-clients``
   clients send short English sentences (default beam), each waiting ``--think-ms`` between
   requests. Any non-200 reply to a short request (504 and 503 included) is an error; the heavy
   client's own 504s and 413s are expected and reported apart.
2. The heaviest accepted ``/v1/attention`` request: the size of its reply.
3. ``--idle`` connections that send nothing: how many the server has closed after its idle timeout.
4. SIGTERM while a heavy request decodes and 5 clients are sending their bodies slowly: the time
   to exit, the exit status, the replies, and whether the server's stderr holds a traceback.

    python benchmarks/serve_hostile.py [--seconds 60] [--short-clients 4] [--heavy-clients 1]
                                       [--think-ms 100] [--idle 200]

The last line of stdout is a JSON object with every number.
"""

import argparse
import http.client
import json
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SHORT = ["Hello.", "How are you today?", "Thank you very much.", "Where is the train station?",
         "I don't understand.", "Please close the door.", "What time is it?", "The cat is sleeping.",
         "I would like a cup of coffee, please.", "We are going to the beach tomorrow."]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port: int, method: str, path: str, body=None, timeout: float = 120) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        conn.request(method, path, data, {"Content-Type": "application/json"} if data else {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def start_server(model: Path, log) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "scratchml.cli.main", "nmt", "serve", "--model", str(model),
                             "--port", str(port), "--threads", "1"], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if request(port, "GET", "/healthz", timeout=5)[0] == 200:
                return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"the server did not start; see {log.name}")


def longest_text(translator, rng, max_tokens: int, max_chars: int) -> str:
    """Random Chinese, as many characters as fit in ``max_tokens`` tokens and ``max_chars``."""
    text = ""
    while len(text) < max_chars:
        longer = text + chr(rng.randint(0x4E00, 0x9FFF))
        if translator.prepare([longer]).text_tokens[0] > max_tokens:
            break
        text = longer
    return text


def heaviest_request(translator, limits: dict, rng) -> tuple[list[str], int]:
    texts, tokens = [], 0
    while len(texts) < limits["max_texts"] and tokens < limits["max_request_tokens"] - 3:
        budget = min(limits["max_text_tokens"], limits["max_request_tokens"] - tokens)
        texts.append(longest_text(translator, rng, budget, limits["max_chars"]))
        tokens = sum(translator.prepare(texts).text_tokens)
    return texts, tokens


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 1) if values else 0.0


def tally(results: list[tuple]) -> dict:
    """How many replies of each status."""
    counts: dict[str, int] = {}
    for status, _ in results:
        counts[str(status)] = counts.get(str(status), 0) + 1
    return counts


def hostile_load(port: int, heavy: dict, args) -> tuple[dict, dict]:
    stop, lock = threading.Event(), threading.Lock()
    shorts, heavies = [], []  # (status, ms)

    def heavy_client():
        while not stop.is_set():
            start = time.perf_counter()
            try:
                status = request(port, "POST", "/v1/translate", heavy, timeout=120)[0]
            except OSError:
                status = "connection error"
            with lock:
                heavies.append((status, (time.perf_counter() - start) * 1000))

    def short_client(seed: int):
        rng = random.Random(seed)
        while not stop.is_set():
            start = time.perf_counter()
            try:
                status, body = request(port, "POST", "/v1/translate", {"text": rng.choice(SHORT)}, timeout=60)
            except OSError:
                status = "connection error"
            with lock:
                shorts.append((status, (time.perf_counter() - start) * 1000))
            time.sleep(args.think_ms / 1000)

    heavy_threads = [threading.Thread(target=heavy_client) for _ in range(args.heavy_clients)]
    for t in heavy_threads:
        t.start()
    time.sleep(1.0)  # the heavy request is decoding before the first short one arrives
    threads = [threading.Thread(target=short_client, args=(i,)) for i in range(args.short_clients)]
    for t in threads:
        t.start()
    time.sleep(args.seconds)
    stop.set()
    for t in threads:
        t.join()
    for t in heavy_threads:
        t.join()
    ms = [m for _, m in shorts]
    return ({"requests": len(shorts), "p50_ms": percentile(ms, 0.5), "p99_ms": percentile(ms, 0.99),
             "max_ms": round(max(ms), 1) if ms else 0.0, "errors": sum(1 for s, _ in shorts if s != 200),
             "statuses": tally(shorts)},
            {"requests": len(heavies), "statuses": tally(heavies),
             "mean_s": round(sum(m for _, m in heavies) / max(len(heavies), 1) / 1000, 1)})


def idle_connections(port: int, n: int, idle_timeout: float) -> dict:
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
    time.sleep(idle_timeout + 1.5)
    closed = 0
    for s in socks:
        s.settimeout(0.5)
        try:
            closed += s.recv(1) == b""
        except (TimeoutError, socket.timeout):
            pass
        except OSError:
            closed += 1
        s.close()
    return {"opened": n, "closed_by_server": closed, "after_s": idle_timeout + 1.5}


def sigterm_during_heavy(proc, port: int, heavy: dict, log_path: Path, bound: float) -> dict:
    reply = {}
    log_before = log_path.stat().st_size

    def heavy_client():
        try:
            reply["status"] = request(port, "POST", "/v1/translate", heavy, timeout=120)[0]
        except OSError as e:
            reply["status"] = f"connection error: {e}"

    client = threading.Thread(target=heavy_client)
    client.start()
    time.sleep(3.0)  # well into its decoding
    slow = []
    for _ in range(5):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"POST /v1/translate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100\r\n\r\n{")
        slow.append(s)
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        returncode = proc.wait(bound + 60)
    except subprocess.TimeoutExpired:
        proc.kill()
        returncode = "killed after bound + 60 s"
    took = time.monotonic() - start
    client.join(10)
    statuses = []
    for s in slow:
        s.settimeout(2)
        try:
            head = s.recv(200).split(b"\r\n")[0].decode()
            statuses.append(int(head.split()[1]) if head else "closed")
        except OSError:
            statuses.append("no reply")
        s.close()
    with open(log_path, "rb") as f:
        f.seek(log_before)
        tail = f.read().decode(errors="replace")
    return {"exit_s": round(took, 2), "bound_s": bound, "returncode": returncode,
            "traceback": "Traceback" in tail, "heavy_status": reply.get("status"), "slow_body_statuses": statuses}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60, help="length of the hostile load")
    p.add_argument("--short-clients", type=int, default=4)
    p.add_argument("--heavy-clients", type=int, default=1, help="clients sending the heaviest request")
    p.add_argument("--think-ms", type=float, default=100, help="pause of a short client between its requests")
    p.add_argument("--idle", type=int, default=200, help="idle connections to open")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    from scratchml.shipped import model_dir
    from scratchml.translate import Translator

    logging.getLogger("scratchml.translate").setLevel(logging.ERROR)  # "cut into pieces": yes, on purpose

    model = model_dir("en-es")
    if not (model / "model.safetensors").exists():
        raise SystemExit(f"needs the shipped model in {model}")
    translator = Translator.load(model)  # its tokenizer, to build inputs at exactly the limits
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "serve.log"
        with open(log_path, "w") as log:
            proc, port = start_server(model, log)
            try:
                health = json.loads(request(port, "GET", "/healthz")[1])
                limits = health["limits"]
                texts, tokens = heaviest_request(translator, limits, rng)
                heavy = {"texts": texts, "beam": limits["max_beam"]}
                load_avg = [round(os.getloadavg()[0], 2)]
                short, heavy_result = hostile_load(port, heavy, args)
                load_avg.append(round(os.getloadavg()[0], 2))
                attention_text = longest_text(translator, rng, limits["attention_max_tokens"],
                                              limits["attention_max_chars"])
                start = time.perf_counter()
                status, body = request(port, "POST", "/v1/attention", {"text": attention_text})
                attention = {"status": status, "bytes": len(body), "seconds": round(time.perf_counter() - start, 2),
                             "tokens": translator.prepare([attention_text]).text_tokens[0]}
                idle = idle_connections(port, args.idle, limits["idle_timeout_s"])
                sigterm = sigterm_during_heavy(proc, port, heavy, log_path, limits["timeout_s"] + 5)
            finally:
                if proc.poll() is None:
                    proc.kill()
        print(log_path.read_text()[-3000:], file=sys.stderr)
    print(json.dumps({
        "model": model.name, "precision": health["model"].get("precision"), "seconds": args.seconds,
        "short_clients": args.short_clients, "heavy_clients": args.heavy_clients, "think_ms": args.think_ms,
        "heavy_request": {"texts": len(texts), "chars": sum(map(len, texts)), "tokens": tokens,
                          "beam": heavy["beam"]},
        "short": short, "heavy": heavy_result, "attention": attention, "idle": idle, "sigterm": sigterm,
        "limits": limits, "load_avg_1min": load_avg, "cpus": os.cpu_count(),
    }))


if __name__ == "__main__":
    main()

"""Load test of ``scratchml nmt serve``: dynamic batching on vs off, in one run.

For each mode the script starts the server as a subprocess on a free loopback port (one decoding
thread, ``--threads``), sends a few warm-up requests, then REQUESTS single-sentence requests
(``{"text": ..., "beam": B}``) from CLIENTS concurrent clients, each a thread with its own
keep-alive connection that sends its next request as soon as the last one is answered. It measures
throughput (sentences/s over the whole run) and client-side latency (p50, p99), and counts errors
(any non-200 reply or failed connection; there must be none). This is done for each beam width of
``--beams``: beam 4 is the API's default, beam 1 (greedy) the cheapest decoding.

The model is the shipped models/en-es when it exists; otherwise a ``small`` Transformer with random
weights (same shapes and cost per step as the real one; its outputs are gibberish and always run
to the length limit) and a BPE tokenizer trained on the English-Spanish corpus when it is in the
dataset cache (else on a built-in list). The sentences are Tatoeba-test English when cached.

    python benchmarks/serve_load.py [--requests 500] [--clients 32] [--beams 4,1] [--threads 1] [--rounds 3]

With ``--rounds N`` each mode runs N times, alternating (batched, unbatched, unbatched, batched,
...), and each mode reports its median run: a shared machine's noise then hits both modes alike.

The last line of stdout is a JSON object: for the first beam width (the API default) at the top
level, ``batched``, ``unbatched`` and ``ratio`` = batched / unbatched throughput (medians); every
beam width under ``by_beam``; ``errors`` summed over all runs; the decoder's ``precision``.
"""

import argparse
import http.client
import json
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

BUILTIN = ["How are you today?", "I would like a cup of coffee, please.", "Where is the train station?",
           "The cat is sleeping on the sofa.", "We are going to the beach tomorrow.", "I don't understand.",
           "Can you help me, please?", "Tom bought a new car last week.", "It is raining again.",
           "My sister lives in Madrid with her two children.", "What time does the museum open?",
           "I have never seen such a beautiful sunset.", "Please close the door.", "This book is very interesting.",
           "They didn't want to go home yet.", "How much does this cost?"]


def sentences(n: int, seed: int) -> tuple[list[str], str]:
    from scratchml.data.cache import available
    from scratchml.translate.corpus import load_testset

    if available("en-es-test"):
        pool, origin = load_testset("tatoeba")[0], "tatoeba-test (random sample)"
    else:
        pool, origin = BUILTIN, "built-in sentences"
    rng = random.Random(seed)
    return [rng.choice(pool) for _ in range(n)], origin


def model_dir(tmp: Path, seed: int) -> tuple[Path, str]:
    from scratchml.shipped import model_dir as shipped_model_dir

    shipped = shipped_model_dir("en-es")
    if (shipped / "model.safetensors").exists():
        return shipped, f"shipped {shipped.name}"
    import torch

    from scratchml.bpe import Tokenizer
    from scratchml.data.cache import available
    from scratchml.translate.checkpoint import save_model_dir
    from scratchml.translate.config import preset
    from scratchml.translate.corpus import load_pairs
    from scratchml.translate.model import Transformer

    texts = [t for pair in load_pairs()[:30_000] for t in pair] if available("en-es") else BUILTIN * 8
    tok = Tokenizer.train(texts, vocab_size=10_000, progress=False)
    sp = tok.special_tokens
    torch.manual_seed(seed)
    cfg = preset("small", vocab_size=tok.vocab_size, pad_id=sp["<pad>"], bos_id=sp["<bos>"], eos_id=sp["<eos>"])
    model = Transformer(cfg)
    save_model_dir(tmp / "random-small", model, tok, {})
    name = f"random-weight small ({model.num_parameters() / 1e6:.1f} M parameters, vocab {tok.vocab_size})"
    return tmp / "random-small", name


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


def start_server(model: Path, batching: bool, args, log) -> tuple[subprocess.Popen, int]:
    port = free_port()
    cmd = [sys.executable, "-m", "scratchml.cli.main", "nmt", "serve", "--model", str(model), "--port", str(port),
           "--timeout", "600", "--queue-size", str(max(64, 2 * args.clients)), "--threads", str(args.threads)]
    proc = subprocess.Popen(cmd + ([] if batching else ["--no-batching"]), stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if get(port, "/healthz")[0] == 200:
                return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"the server did not start; see {log.name}")


def load(port: int, texts: list[str], clients: int, beam: int) -> dict:
    """Send every text as one request from ``clients`` threads; latencies in ms and error count."""
    latencies, errors, lock = [], [], threading.Lock()
    todo = iter(range(len(texts)))

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        while True:
            with lock:
                i = next(todo, None)
            if i is None:
                break
            body = json.dumps({"text": texts[i], "beam": beam})
            start = time.perf_counter()
            try:
                conn.request("POST", "/v1/translate", body, {"Content-Type": "application/json"})
                r = conn.getresponse()
                reply = r.read()
                ok = r.status == 200 and isinstance(json.loads(reply).get("translation"), str)
            except (OSError, http.client.HTTPException, ValueError) as e:
                ok, reply = False, repr(e).encode()
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            with lock:
                latencies.append((time.perf_counter() - start) * 1000)
                if not ok:
                    errors.append(reply[:200].decode(errors="replace"))
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    latencies.sort()

    def pct(q):
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1)

    return {"seconds": round(seconds, 2), "sentences_per_s": round(len(texts) / seconds, 2), "p50_ms": pct(0.50),
            "p99_ms": pct(0.99), "errors": len(errors), "first_error": errors[0] if errors else None}


def run_mode(model: Path, batching: bool, texts: list[str], beam: int, args, log) -> dict:
    proc, port = start_server(model, batching, args, log)
    try:
        warm = load(port, texts[:args.clients], args.clients, beam)  # first calls pay for allocation
        health = get(port, "/healthz")[1]
        before = health["queue"]
        result = load(port, texts, args.clients, beam)
        after = get(port, "/healthz")[1]["queue"]
        batches = after["batches"] - before["batches"]
        result["mean_batch_texts"] = round((after["texts"] - before["texts"]) / max(batches, 1), 1)
        result["errors"] += warm["errors"]
        result["precision"] = health["model"].get("precision")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(120)
    return result


def median_run(results: list[dict]) -> dict:
    """The run of median throughput, with every run's throughput and the errors of all runs."""
    ordered = sorted(results, key=lambda r: r["sentences_per_s"])
    return {**ordered[(len(ordered) - 1) // 2], "all_sentences_per_s": [r["sentences_per_s"] for r in results],
            "errors_all_rounds": sum(r["errors"] for r in results)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=500)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--beams", default="4,1", help="beam widths to run, comma-separated; the first is reported on top")
    p.add_argument("--threads", type=int, default=1, help="torch threads in the server (0: PyTorch's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rounds", type=int, default=1, help="runs of each mode; each reports its median run")
    args = p.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        model, model_name = model_dir(Path(tmp), args.seed)
        texts, origin = sentences(args.requests, args.seed)
        log_path = Path(tmp) / "serve.log"
        by_beam, load_avg = {}, [round(os.getloadavg()[0], 2)]
        with open(log_path, "w") as log:
            for beam in [int(b) for b in args.beams.split(",")]:
                runs = {"batched": [], "unbatched": []}
                for r in range(args.rounds):
                    for mode in ("batched", "unbatched")[::1 if r % 2 == 0 else -1]:
                        runs[mode].append(run_mode(model, mode == "batched", texts, beam, args, log))
                run = {mode: median_run(results) for mode, results in runs.items()}
                run["ratio"] = round(run["batched"]["sentences_per_s"] / run["unbatched"]["sentences_per_s"], 2)
                by_beam[f"beam{beam}"] = run
                load_avg.append(round(os.getloadavg()[0], 2))
                print(f"beam {beam}: {json.dumps(run)}", file=sys.stderr)
    first = next(iter(by_beam.values()))
    print(json.dumps({
        "model": model_name, "sentences": origin, "requests": args.requests, "clients": args.clients,
        "threads": args.threads, "beam": int(args.beams.split(",")[0]),
        "rounds": args.rounds, "precision": first["batched"]["precision"],
        "errors": sum(r[m]["errors_all_rounds"] for r in by_beam.values() for m in ("batched", "unbatched")),
        "batched": first["batched"], "unbatched": first["unbatched"], "ratio": first["ratio"], "by_beam": by_beam,
        "load_avg_1min": load_avg, "cpus": os.cpu_count(),
    }))


if __name__ == "__main__":
    main()

"""Stream 20,000 tokens from a local server and time the decoders side by side.

    python benchmarks/bench_stream.py [--tokens 20000] [--repeat 5]

Prints seconds for: our client (SSE framing + accumulate), plain
``requests.iter_lines`` + ``json.loads``, and the official ``openai`` SDK if it is installed
(never a runtime dependency). The same bytes are also decoded in memory, without a socket,
to compare the pure decoding cost.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import requests

from oai_magic.api.accumulator import ChatAccumulator
from oai_magic.api.client import OpenAIClient
from oai_magic.api.sse import EventStream
from oai_magic.practice import PracticeServer, Scripted
from oai_magic.state import Secret, Settings

KEY = "sk-bench-0000000000000000"


def sse_bytes(tokens: int) -> list:
    events = []
    for i in range(tokens):
        chunk = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "bench",
            "choices": [{"index": 0, "delta": {"content": f" tok{i % 97}"}, "finish_reason": None}],
        }
        events.append(b"data: " + json.dumps(chunk).encode() + b"\n\n")
    done = {"id": "chatcmpl-bench", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    events.append(b"data: " + json.dumps(done).encode() + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    # Real servers batch several events per HTTP chunk under load; 8 per chunk here.
    return [b"".join(events[i : i + 8]) for i in range(0, len(events), 8)]


def ours(server: PracticeServer) -> int:
    client = OpenAIClient(Settings(api_key=Secret(KEY), base_url=server.base_url))
    accumulator = ChatAccumulator()
    for event in client.stream("/chat/completions", json_body={"model": "m", "messages": []}):
        accumulator.add(event)
    client.close()
    return len(accumulator.choice(0).content)


def plain_lines(server: PracticeServer) -> int:
    response = requests.post(
        server.base_url + "/chat/completions",
        json={"model": "m", "messages": []},
        headers={"Authorization": f"Bearer {KEY}"},
        stream=True,
    )
    parts = []
    for line in response.iter_lines():
        if not line.startswith(b"data: "):
            continue
        data = line[6:]
        if data == b"[DONE]":
            break
        chunk = json.loads(data)
        for choice in chunk["choices"]:
            content = choice["delta"].get("content")
            if content:
                parts.append(content)
    response.close()
    return len("".join(parts))


def official_sdk(server: PracticeServer):
    try:
        import openai
    except ImportError:
        return None
    client = openai.OpenAI(api_key=KEY, base_url=server.base_url)
    parts = []
    for chunk in client.chat.completions.create(model="m", messages=[], stream=True):
        for choice in chunk.choices:
            if choice.delta.content:
                parts.append(choice.delta.content)
    return len("".join(parts))


def timed(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    chunks = sse_bytes(args.tokens)
    runners = {"oai_magic (SSE framing + accumulate)": ours, "requests.iter_lines + json.loads": plain_lines}
    results: dict = {name: [] for name in runners}
    results["openai SDK"] = []
    with PracticeServer(api_key=KEY) as server:
        for _ in range(args.repeat):  # interleaved, so drift hits every runner alike
            for name, runner in runners.items():
                server.script("/chat/completions", Scripted(chunks=chunks))
                results[name].append(timed(runner, server))
            server.script("/chat/completions", Scripted(chunks=chunks))
            started = time.perf_counter()
            if official_sdk(server) is not None:
                results["openai SDK"].append(time.perf_counter() - started)
    print(f"Streaming {args.tokens} tokens over a socket from a local server (median of {args.repeat}):")
    baseline = statistics.median(results["requests.iter_lines + json.loads"])
    for name, times in results.items():
        if not times:
            print(f"  {name:42s} not installed")
            continue
        median = statistics.median(times)
        print(f"  {name:42s} {median:7.3f} s   {median / baseline:5.2f}x of plain lines")

    body = b"".join(chunks)
    pieces = [body[i : i + 1500] for i in range(0, len(body), 1500)]  # MTU-sized pieces

    def decode_ours():
        accumulator = ChatAccumulator()
        for event in EventStream(iter(pieces)):
            accumulator.add(event)

    def decode_lines():
        parts = []
        for line in body.splitlines():
            if line.startswith(b"data: ") and line[6:] != b"[DONE]":
                for choice in json.loads(line[6:])["choices"]:
                    if choice["delta"].get("content"):
                        parts.append(choice["delta"]["content"])

    ours_mem = statistics.median(timed(decode_ours) for _ in range(args.repeat))
    lines_mem = statistics.median(timed(decode_lines) for _ in range(args.repeat))
    print("Decoding the same bytes in memory (no socket):")
    print(f"  {'oai_magic EventStream + accumulate':42s} {ours_mem:7.3f} s   {ours_mem / lines_mem:5.2f}x")
    print(f"  {'bytes.splitlines + json.loads':42s} {lines_mem:7.3f} s   1.00x")


if __name__ == "__main__":
    main()

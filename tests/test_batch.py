"""%%chat --map --batch and %chat batch, against the practice server's /v1/files and /v1/batches:
the JSONL checked line by line against OpenAI's spec (tests/fixtures/openapi, MIT), the
lifecycle, the errors file, cancelling with partial results, and mapping by custom_id."""

from __future__ import annotations

import json

from IPython.core.error import UsageError

from oai_magic.api.request import ChatOptions
from oai_magic.core import batch
from oai_magic.core.batch import BatchJob
from oai_magic.core.mapping import MapResult, item_payload
from oai_magic.core.session import session_of

from .conftest import TEST_KEY, run
from .openapi import validator


def uploaded_lines(server) -> list:
    upload = next(r for r in server.requests if r.path.endswith("/files"))
    fields = {part.name: part for part in upload.form}
    assert fields["purpose"].value == "batch"
    return [json.loads(line) for line in fields["file"].data.decode().splitlines()]


def test_the_batch_file_is_one_valid_chat_request_per_line_keyed_by_index(shell, server):
    shell.user_ns["xs"] = ["alpha", "beta", "gamma"]
    result = run(shell, "%%chat --map xs --batch -o job -s 'Label it.' --max-tokens 20\n"
                        "[[echo]] {item}")
    assert result.success
    lines = uploaded_lines(server)
    assert [line["custom_id"] for line in lines] == ["0", "1", "2"]
    for line, word in zip(lines, ["alpha", "beta", "gamma"]):
        assert line["method"] == "POST" and line["url"] == "/v1/chat/completions"
        body = line["body"]
        assert "stream" not in body and "stream_options" not in body
        validator("CreateChatCompletionRequest").validate(body)
        assert body["messages"] == [{"role": "system", "content": "Label it."},
                                    {"role": "user", "content": f"[[echo]] {word}"}]
    create = next(r for r in server.requests if r.path.endswith("/batches"))
    validator("CreateBatchRequest").validate(create.json)
    assert create.json["completion_window"] == "24h"
    job = shell.user_ns["job"]
    assert isinstance(job, BatchJob) and job.id.startswith("batch_")
    assert job.request_counts["total"] == 3 and job.status in ("validating", "in_progress")
    validator("Batch").validate(job.batches[job.id])


def test_wait_then_results_map_back_by_custom_id_with_the_errors_file(shell, server, capsys):
    shell.user_ns["xs"] = ["[[echo]] one", "[[tokens=99999999]]", "[[echo]] three", "[[echo]] four"]
    assert run(shell, "%%chat --map xs --batch -o job\n{item}").success
    assert run(shell, "%chat batch wait").success
    job = shell.user_ns["job"]
    assert job.status == "completed" and job.request_counts == {"total": 4, "completed": 3, "failed": 1}
    assert "completed" in capsys.readouterr().out
    output = server.batches.contents[job.batches[job.id]["output_file_id"]].decode().splitlines()
    assert [json.loads(line)["custom_id"] for line in output] == ["3", "2", "0"]  # out of order
    result = shell.run_line_magic("chat", "batch results")
    assert isinstance(result, MapResult)
    assert result.texts == ["one", None, "three", "four"] and result.failed == [1]
    assert "HTTP 400" in result[1].error and result.missing == []
    assert result.usage["total_tokens"] > 0 and result[0].request_id.startswith("req_")


def test_cancel_keeps_the_finished_part_and_lists_the_missing_items(shell, server, capsys):
    clock = [0.0]
    server.batches.clock = lambda: clock[0]
    server.batches.batch_seconds = 10.0
    shell.user_ns["xs"] = [f"[[echo]] n{i}" for i in range(6)]
    assert run(shell, "%%chat --map xs --batch -o job\n{item}").success
    clock[0] = 5.0  # half-way
    assert run(shell, "%chat batch cancel").success
    job = shell.user_ns["job"].refresh()
    assert job.status == "cancelled" and job.request_counts["completed"] == 3
    result = shell.run_line_magic("chat", f"batch results {job.id}")
    assert result.texts == ["n0", "n1", "n2", None, None, None]
    assert result.missing == [3, 4, 5] and result.stop_reason == "batch cancelled"
    assert "3 of 6 items have no answer: [3, 4, 5]" in capsys.readouterr().out


def test_a_job_over_the_per_file_limits_is_split_and_joined_back(shell, server):
    state = session_of(shell)
    client = shell.magics_manager.registry["OAIMagics"].client
    options = ChatOptions(stream=False)
    payloads = {i: item_payload("gpt-4o-mini", f"[[echo]] part {i}", None, options) for i in range(5)}
    job = batch.submit(state, client, payloads, 5, options, max_requests=2)
    assert len(job.ids) == 3 and job.request_counts["total"] == 5
    job.wait(sleep=lambda s: server.batches.__setattr__("batch_seconds", 0.0))
    assert job.status == "completed"
    assert job.results().texts == [f"part {i}" for i in range(5)]
    files = batch.split_files(batch.batch_lines(payloads), max_requests=100, max_bytes=400)
    assert len(files) > 1 and b"".join(files).count(b"\n") == 5


def test_a_batch_id_given_by_hand_after_a_restart_still_gives_results(shell, server):
    shell.user_ns["xs"] = ["[[echo]] kept", "[[echo]] too"]
    server.batches.batch_seconds = 0.0
    run(shell, "%%chat --map xs --batch -o job\n{item}")
    batch_id = shell.user_ns["job"].id
    session_of(shell).batches.clear()  # what a kernel restart forgets
    session_of(shell).configure(log_path="")  # and without the log, nothing remembers it
    assert "no batch in this session" in str(run(shell, "%chat batch results", expect=UsageError))
    result = shell.run_line_magic("chat", f"batch results {batch_id}")
    assert result.texts == ["kept", "too"]


def test_organization_and_project_headers_go_with_every_batch_request(shell, server):
    shell.user_ns["xs"] = ["[[echo]] a"]
    assert run(shell, "%%chat --map xs --batch --org org-9 --project proj-9\n{item}").success
    for request in server.requests:
        assert request.headers["openai-organization"] == "org-9"
        assert request.headers["openai-project"] == "proj-9"
        assert request.headers["authorization"] == f"Bearer {TEST_KEY}"


def test_the_practice_server_refuses_a_batch_file_with_stream_in_a_body(shell, server):
    client = shell.magics_manager.registry["OAIMagics"].client
    line = json.dumps({"custom_id": "0", "method": "POST", "url": "/v1/chat/completions",
                       "body": {"model": "m", "stream": True, "messages": []}})
    try:
        client.post("/files", data={"purpose": "batch"},
                    files={"file": ("x.jsonl", line.encode(), "application/jsonl")})
    except Exception as exc:  # noqa: BLE001 - the one-line API error is what we check
        assert "stream is not allowed" in str(exc)
    else:
        raise AssertionError("the upload was accepted")

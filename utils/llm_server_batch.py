"""Both providers' batch APIs on the loopback server (utils.llm_server), enough for the real SDKs.

OpenAI: files (upload with purpose "batch", retrieve, download content) and batches (create from a JSONL file of
/v1/chat/completions requests, retrieve, list newest first, cancel), results as an output file and an error file.
Anthropic: Message Batches (create, retrieve, cancel, results as JSONL at the batch's results_url).

A batch ends `delay` seconds after it was created (checked whenever it is looked at, so nothing runs in the
background). Its requests are answered as interactive ones would be (same checks, same answers; no rate limit, no
latency, no injected interactive faults); `fail_count` makes the next N batch requests fail with a per-request
error and `expire_count` the next N expire unprocessed. Counters in `stats` let tests prove what was submitted.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from utils.llm_server import _id_headers, _Reject

if TYPE_CHECKING:
    from utils.llm_server import LLMServer

WINDOW = 24 * 3600  # both providers' completion window


@dataclass
class BatchStats:
    files_uploaded: int = 0
    batches_created: int = 0
    requests_submitted: int = 0  # requests inside created batches
    retrieves: int = 0
    lists: int = 0
    cancels: int = 0
    results_downloaded: int = 0


@dataclass
class _Batch:
    id: str
    anthropic: bool
    requests: list[tuple[str, dict[str, Any]]]  # (custom_id, body)
    created: float  # time.time()
    input_file_id: str = ""
    metadata: dict[str, Any] | None = None
    cancelled_at: float | None = None
    ended_at: float | None = None
    results: list[dict[str, Any]] = field(default_factory=list)  # one line per request, the provider's shape
    counts: dict[str, int] = field(default_factory=dict)
    output_file_id: str | None = None
    error_file_id: str | None = None


class BatchAPI:
    """The routes under /v1/files, /v1/batches and /v1/messages/batches of one LLMServer."""

    def __init__(self, server: LLMServer, *, delay: float = 0.0) -> None:
        self.server = server
        self.delay = delay
        self.fail_count = 0
        self.expire_count = 0
        self.stats = BatchStats()
        self._files: dict[str, tuple[dict[str, Any], bytes]] = {}
        self._batches: dict[str, _Batch] = {}

    @staticmethod
    def handles(path: str) -> bool:
        return path.startswith(("/v1/files", "/v1/batches", "/v1/messages/batches"))

    async def route(self, request: web.BaseRequest) -> web.Response:
        parts = request.path.strip("/").split("/")[1:]  # without the leading "v1"
        method = request.method
        if parts[0] == "files":
            if parts == ["files"] and method == "POST":
                return await self._upload(request)
            if len(parts) == 2 and method == "GET":
                return web.json_response(self._file(parts[1])[0])
            if len(parts) == 3 and parts[2] == "content" and method == "GET":
                meta, content = self._file(parts[1])
                if meta["purpose"] == "batch_output":
                    self.stats.results_downloaded += 1
                return web.Response(body=content, content_type="application/octet-stream")
        elif parts[0] == "batches":
            if parts == ["batches"] and method == "POST":
                return await self._create_openai(request)
            if parts == ["batches"] and method == "GET":
                return web.json_response(self._list_openai(request))
            if len(parts) == 2 and method == "GET":
                return web.json_response(self._openai_view(self._retrieve(parts[1], anthropic=False)))
            if len(parts) == 3 and parts[2] == "cancel" and method == "POST":
                return web.json_response(self._openai_view(self._cancel(parts[1], anthropic=False)))
        elif parts[:2] == ["messages", "batches"]:
            rest = parts[2:]
            if not rest and method == "POST":
                return await self._create_anthropic(request)
            if len(rest) == 1 and method == "GET":
                return web.json_response(self._anthropic_view(self._retrieve(rest[0], anthropic=True), request))
            if len(rest) == 2 and rest[1] == "cancel" and method == "POST":
                return web.json_response(self._anthropic_view(self._cancel(rest[0], anthropic=True), request))
            if len(rest) == 2 and rest[1] == "results" and method == "GET":
                return self._anthropic_results(rest[0])
        raise _Reject(404, "not_found", f"no route for {method} {request.path}")

    # ------------------------------------------------------------------------------------------------ OpenAI

    async def _upload(self, request: web.BaseRequest) -> web.Response:
        form = await request.post()
        purpose, upload = form.get("purpose"), form.get("file")
        if purpose != "batch" or not isinstance(upload, web.FileField):
            raise _Reject(400, "invalid_request", "a multipart `file` with purpose `batch` is required")
        content = upload.file.read()
        file_id = f"file-{uuid.uuid4().hex[:24]}"
        meta = {"id": file_id, "object": "file", "bytes": len(content), "created_at": int(time.time()),
                "filename": upload.filename, "purpose": "batch", "status": "processed"}  # fmt: skip
        self._files[file_id] = (meta, content)
        self.stats.files_uploaded += 1
        return web.json_response(meta)

    def _file(self, file_id: str) -> tuple[dict[str, Any], bytes]:
        if file_id not in self._files:
            raise _Reject(404, "not_found", f"No such File object: {file_id}")
        return self._files[file_id]

    async def _create_openai(self, request: web.BaseRequest) -> web.Response:
        body = await request.json()
        if body.get("endpoint") != "/v1/chat/completions" or body.get("completion_window") != "24h":
            raise _Reject(400, "invalid_request", "endpoint must be /v1/chat/completions and completion_window 24h")
        _, content = self._file(str(body.get("input_file_id")))
        requests = []
        for number, line in enumerate(content.decode("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                requests.append((str(entry["custom_id"]), dict(entry["body"])))
            except (ValueError, KeyError, TypeError):
                message = f"line {number} of the input file is not a batch request"
                raise _Reject(400, "invalid_request", message) from None
            if entry.get("url") != "/v1/chat/completions" or entry.get("method") != "POST":
                raise _Reject(400, "invalid_request", f"line {number}: url must be /v1/chat/completions, method POST")
        batch = self._add(requests, anthropic=False)
        batch.input_file_id, batch.metadata = str(body["input_file_id"]), body.get("metadata")
        return web.json_response(self._openai_view(batch))

    def _list_openai(self, request: web.BaseRequest) -> dict[str, Any]:
        """GET /v1/batches: newest first, `limit` (1-100, default 20) at a time, from after the id `after`."""
        try:
            limit = int(request.query.get("limit", "20"))
        except ValueError:
            raise _Reject(400, "invalid_request", "limit must be a whole number") from None
        if not 1 <= limit <= 100:
            raise _Reject(400, "invalid_request", "limit must be between 1 and 100")
        newest = [b for b in sorted(self._batches.values(), key=lambda b: b.created, reverse=True) if not b.anthropic]
        after = request.query.get("after")
        start = next((i + 1 for i, b in enumerate(newest) if b.id == after), 0) if after else 0
        page = newest[start : start + limit]
        self.stats.lists += 1
        return {"object": "list", "data": [self._openai_view(b) for b in page],
                "first_id": page[0].id if page else None, "last_id": page[-1].id if page else None,
                "has_more": start + limit < len(newest)}  # fmt: skip

    def _openai_view(self, batch: _Batch) -> dict[str, Any]:
        ended = batch.ended_at is not None
        ended_at = int(batch.ended_at) if batch.ended_at is not None else None
        if batch.cancelled_at is not None:
            status = "cancelled" if ended else "cancelling"
        elif not ended:
            status = "in_progress"
        else:
            status = "expired" if batch.counts.get("expired") else "completed"
        return {
            "id": batch.id, "object": "batch", "endpoint": "/v1/chat/completions", "errors": None,
            "input_file_id": batch.input_file_id, "completion_window": "24h", "status": status,
            "output_file_id": batch.output_file_id, "error_file_id": batch.error_file_id,
            "created_at": int(batch.created), "in_progress_at": int(batch.created),
            "expires_at": int(batch.created + WINDOW),
            "completed_at": ended_at if status == "completed" else None,
            "expired_at": ended_at if status == "expired" else None,
            "cancelled_at": ended_at if status == "cancelled" else None,
            "request_counts": {"total": len(batch.requests), "completed": batch.counts.get("succeeded", 0),
                               "failed": len(batch.requests) - batch.counts.get("succeeded", 0) if ended else 0},
            "metadata": batch.metadata,
        }  # fmt: skip

    # ------------------------------------------------------------------------------------------------ Anthropic

    async def _create_anthropic(self, request: web.BaseRequest) -> web.Response:
        body = await request.json()
        entries = body.get("requests")
        if not isinstance(entries, list) or not entries:
            raise _Reject(400, "invalid_request", "requests: at least one request is required")
        try:
            requests = [(str(entry["custom_id"]), dict(entry["params"])) for entry in entries]
        except (KeyError, TypeError):
            raise _Reject(400, "invalid_request", "each request needs custom_id and params") from None
        return web.json_response(self._anthropic_view(self._add(requests, anthropic=True), request))

    def _anthropic_view(self, batch: _Batch, request: web.BaseRequest) -> dict[str, Any]:
        ended = batch.ended_at is not None
        status = "ended" if ended else "canceling" if batch.cancelled_at is not None else "in_progress"
        counts = {kind: batch.counts.get(kind, 0) for kind in ("succeeded", "errored", "canceled", "expired")}
        base = f"http://{request.host}"
        return {
            "id": batch.id, "type": "message_batch", "processing_status": status,
            "request_counts": {"processing": 0 if ended else len(batch.requests), **counts},
            "created_at": _rfc3339(batch.created), "expires_at": _rfc3339(batch.created + WINDOW),
            "ended_at": _rfc3339(batch.ended_at) if batch.ended_at is not None else None, "archived_at": None,
            "cancel_initiated_at": _rfc3339(batch.cancelled_at) if batch.cancelled_at is not None else None,
            "results_url": f"{base}/v1/messages/batches/{batch.id}/results" if ended else None,
        }  # fmt: skip

    def _anthropic_results(self, batch_id: str) -> web.Response:
        batch = self._retrieve(batch_id, anthropic=True)
        if batch.ended_at is None:
            raise _Reject(400, "invalid_request", f"Batch {batch_id} has not ended yet: no results")
        self.stats.results_downloaded += 1
        return web.Response(body=_jsonl(batch.results), content_type="application/binary")

    # ------------------------------------------------------------------------------------------------ both

    def _add(self, requests: list[tuple[str, dict[str, Any]]], *, anthropic: bool) -> _Batch:
        ids = [custom_id for custom_id, _ in requests]
        if len(set(ids)) != len(ids):
            raise _Reject(400, "invalid_request", "custom_id values must be unique within a batch")
        prefix = "msgbatch_" if anthropic else "batch_"
        batch = _Batch(f"{prefix}{uuid.uuid4().hex[:24]}", anthropic, requests, time.time())
        self._batches[batch.id] = batch
        self.stats.batches_created += 1
        self.stats.requests_submitted += len(requests)
        return batch

    def _retrieve(self, batch_id: str, *, anthropic: bool) -> _Batch:
        batch = self._batches.get(batch_id)
        if batch is None or batch.anthropic != anthropic:
            raise _Reject(404, "not_found", f"No such batch: {batch_id}")
        self.stats.retrieves += 1
        if batch.ended_at is None and (batch.cancelled_at is not None or time.time() >= batch.created + self.delay):
            self._finish(batch)
        return batch

    def _cancel(self, batch_id: str, *, anthropic: bool) -> _Batch:
        batch = self._retrieve(batch_id, anthropic=anthropic)
        self.stats.cancels += 1
        if batch.ended_at is None:
            batch.cancelled_at = time.time()
        return batch

    def _finish(self, batch: _Batch) -> None:
        """Answer every request (or cancel, fail, expire it) and file the results the provider's way."""
        for index, (custom_id, body) in enumerate(batch.requests):
            if batch.cancelled_at is not None:
                kind, line = "canceled", self._unrun(batch, custom_id, "canceled")
            elif self.expire_count > 0:
                self.expire_count -= 1
                kind, line = "expired", self._unrun(batch, custom_id, "expired")
            else:
                kind, line = self._run(batch, index, custom_id, body)
            batch.counts[kind] = batch.counts.get(kind, 0) + 1
            batch.results.append(line)
        batch.ended_at = time.time()
        if not batch.anthropic:
            good = [line for line in batch.results if line["error"] is None and line["response"]["status_code"] == 200]
            bad = [line for line in batch.results if line not in good]
            batch.output_file_id = self._store(good, batch.id, "output") if good else None
            batch.error_file_id = self._store(bad, batch.id, "error") if bad else None

    def _run(self, batch: _Batch, index: int, custom_id: str, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        server = self.server
        try:
            if self.fail_count > 0:
                self.fail_count -= 1
                raise _Reject(500, "server_error", "The request failed inside the batch (injected).")
            model, text, truncated, input_tokens, output_tokens, _ = server.answer(body, batch.anthropic, live=False)
        except _Reject as reject:
            error = server._error_response(reject, batch.anthropic)
            payload = json.loads(error.text or "{}")
            if batch.anthropic:
                return "errored", {"custom_id": custom_id, "result": {"type": "errored", "error": payload}}
            response = {"status_code": reject.status, "request_id": _id_headers()["request-id"], "body": payload}
            return "errored", {"id": f"batch_req_{index}", "custom_id": custom_id, "response": response, "error": None}
        make = server._anthropic_message if batch.anthropic else server._openai_completion
        answer = make(model, text, truncated, input_tokens, output_tokens)
        if batch.anthropic:
            return "succeeded", {"custom_id": custom_id, "result": {"type": "succeeded", "message": answer}}
        response = {"status_code": 200, "request_id": _id_headers()["request-id"], "body": answer}
        return "succeeded", {"id": f"batch_req_{index}", "custom_id": custom_id, "response": response, "error": None}

    @staticmethod
    def _unrun(batch: _Batch, custom_id: str, kind: str) -> dict[str, Any]:
        if batch.anthropic:
            return {"custom_id": custom_id, "result": {"type": kind}}
        code = "batch_expired" if kind == "expired" else "batch_cancelled"
        message = f"This request was {kind} before it ran."
        return {"id": f"batch_req_{custom_id}", "custom_id": custom_id, "response": None,
                "error": {"code": code, "message": message}}  # fmt: skip

    def _store(self, lines: list[dict[str, Any]], batch_id: str, kind: str) -> str:
        content = _jsonl(lines)
        file_id = f"file-{uuid.uuid4().hex[:24]}"
        meta = {"id": file_id, "object": "file", "bytes": len(content), "created_at": int(time.time()),
                "filename": f"{batch_id}_{kind}.jsonl", "purpose": "batch_output", "status": "processed"}  # fmt: skip
        self._files[file_id] = (meta, content)
        return file_id


def _jsonl(lines: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode("utf-8")


def _rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


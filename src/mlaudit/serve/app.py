"""`mlaudit serve`: any target behind the Open Inference Protocol v2 (REST), with API keys, per-key query
budgets, an output defence and PRADA extraction detection per key.

Endpoints: GET /v2/health/live, /v2/health/ready, /v2/models/{name} (metadata), POST
/v2/models/{name}/infer; for a causal language model, POST /v1/completions (OpenAI-compatible: echo with
max_tokens 0 for the prompt's log-probabilities, or a seeded top-k continuation). A key goes in
`Authorization: Bearer KEY` (or `X-API-Key`). Answers: 401 without a known key, 404 for another model, 400
for a malformed body (with what is wrong), 413 for a body over MAX_BODY, 429 when the rows (prompts) asked
exceed what is left of the key's budget (nothing served, nothing counted). Budgets are reserved in the event
loop before the model runs (a thread pool), so concurrent requests never overspend a key. Each answered
request appends one JSON line to the log: key name, rows, used, PRADA's statistic and flag.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlaudit.defenses.output import OutputDefence, Response, defend
from mlaudit.defenses.prada import Prada
from mlaudit.targets.base import Target
from mlaudit.threat import Access, ThreatModel

MAX_ROWS = 4096  # rows per request
UNKNOWN_KEY = "missing or unknown API key: send 'Authorization: Bearer <key>'"
MAX_BODY = 64 << 20  # bytes per request body: a larger one is refused (413) before it is held in memory


@dataclass
class Key:
    name: str
    secret: str = field(repr=False)  # never in a log line or a traceback
    budget: int | None = None
    used: int = 0
    prada: Prada | None = None


@dataclass
class ServedModel:
    """`text`: inputs are strings (BYTES); else float tensors of `input_shape` (without the batch axis)."""

    name: str
    target: Target
    defence: OutputDefence = field(default_factory=OutputDefence)
    text: bool = False
    input_shape: tuple[int, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        self.language = self.target.modality == "language"
        self.view = self.target.restricted(ThreatModel(access=min(self.target.max_access, Access.PROBABILITIES)))
        self.lock = threading.Lock()
        self.rng = np.random.default_rng(self.seed)

    def metadata(self) -> dict[str, Any]:
        k, d = self.target.num_classes, self.defence
        if d.kind == "label":
            outputs = [{"name": "label", "datatype": "INT64", "shape": [-1]}]
        elif d.kind == "top_k":
            outputs = [
                {"name": "top_classes", "datatype": "INT64", "shape": [-1, min(d.k, k)]},
                {"name": "top_probabilities", "datatype": "FP32", "shape": [-1, min(d.k, k)]},
            ]
        else:
            outputs = [{"name": "probabilities", "datatype": "FP32", "shape": [-1, k]}]
        dtype, shape = ("BYTES", [-1]) if self.text else ("FP32", [-1, *self.input_shape])
        params: dict[str, Any] = {"num_classes": k, "defence": d.to_dict()}
        if d.kind == "round":
            params["decimals"] = d.decimals
        return {
            "name": self.name,
            "platform": "mlaudit",
            "inputs": [{"name": "input", "datatype": dtype, "shape": shape}],
            "outputs": outputs,
            "parameters": params,
        }

    def answer(self, x: Any, key: Key) -> dict[str, Any]:
        """Run the model on a validated batch and build the defended response (in a worker thread)."""
        with self.lock:  # one batch at a time through the model, the defence's noise and the key's detector
            p = self.view.probabilities(x)
            r = defend(p, self.defence, self.rng)
            if key.prada is not None and not self.text:
                key.prada.observe(np.asarray(x), r.labels)
        return {"model_name": self.name, "outputs": _outputs(r)}


def complete(m: ServedModel, body: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI-compatible completion of a language model: the prompts' token log-probabilities (echo with
    max_tokens 0) or sampled continuations (max_tokens > 0, top_k, seed)."""
    import torch

    prompts = body["prompt"]
    with m.lock:
        if body.get("echo"):
            rows = m.view.token_logprobs(prompts)
            choices = [
                {
                    "index": i,
                    "text": p,
                    "logprobs": {"token_logprobs": [float(v) for v in r]},
                    "finish_reason": "length",
                }
                for i, (p, r) in enumerate(zip(prompts, rows, strict=True))
            ]
        else:
            g = torch.Generator().manual_seed(int(body.get("seed") or 0))
            texts = m.view.generate(
                prompts, max_new_tokens=int(body["max_tokens"]), top_k=int(body.get("top_k") or 50), generator=g
            )
            choices = [
                {"index": i, "text": t, "logprobs": None, "finish_reason": "length"} for i, t in enumerate(texts)
            ]
    return {"object": "text_completion", "model": m.name, "choices": choices}


def parse_completion(body: Any) -> dict[str, Any]:
    """A completions request mlaudit answers; BadRequest says what is wrong."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    prompt = body.get("prompt")
    prompts = [prompt] if isinstance(prompt, str) else prompt
    if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
        raise BadRequest("prompt must be a string or a non-empty list of strings")
    if len(prompts) > MAX_ROWS:
        raise BadRequest(f"at most {MAX_ROWS} prompts per request")
    max_tokens = body.get("max_tokens", 16)
    if not isinstance(max_tokens, int) or not 0 <= max_tokens <= 1024:
        raise BadRequest("max_tokens must be an integer from 0 to 1024")
    echo = bool(body.get("echo"))
    if echo != (max_tokens == 0):
        raise BadRequest("mlaudit answers echo with max_tokens 0 (the prompt's log-probabilities) or max_tokens > 0 "
                         "without echo (a continuation)")  # fmt: skip
    return {**body, "prompt": prompts, "max_tokens": max_tokens, "echo": echo}


def _outputs(r: Response) -> list[dict[str, Any]]:
    def tensor(name: str, a: np.ndarray, dtype: str) -> dict[str, Any]:
        return {"name": name, "datatype": dtype, "shape": list(a.shape), "data": a.ravel().tolist()}

    if r.top_classes is not None and r.top_probabilities is not None:
        return [tensor("top_classes", r.top_classes, "INT64"), tensor("top_probabilities", r.top_probabilities, "FP32")]
    if r.probabilities is not None:
        return [tensor("probabilities", r.probabilities, "FP32")]
    return [tensor("label", r.labels.astype(np.int64), "INT64")]


class BadRequest(Exception):
    pass


class TooLarge(Exception):
    pass


def parse_input(body: Any, m: ServedModel) -> Any:
    """The request's one input as the target takes it; BadRequest says what is wrong."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list) or len(body["inputs"]) != 1:
        raise BadRequest('the body must be JSON {"inputs": [one tensor]}')
    t = body["inputs"][0]
    if not isinstance(t, dict) or not isinstance(t.get("shape"), list) or not isinstance(t.get("data"), list):
        raise BadRequest("the input tensor needs 'shape' (a list) and 'data' (a flat list)")
    shape, data = t["shape"], t["data"]
    if not shape or not all(isinstance(s, int) and s >= 0 for s in shape) or not 0 < shape[0] <= MAX_ROWS:
        raise BadRequest(f"shape {shape} is not [rows, ...] with 1 to {MAX_ROWS} rows")
    if m.text:
        if t.get("datatype") != "BYTES" or len(shape) != 1 or len(data) != shape[0]:
            raise BadRequest(f"model {m.name!r} takes text: datatype BYTES, shape [rows], one string per row")
        if not all(isinstance(s, str) for s in data):
            raise BadRequest("every row of a BYTES input must be a string")
        return list(data)
    if t.get("datatype") not in ("FP32", "FP64"):
        raise BadRequest(f"model {m.name!r} takes FP32 tensors, not {t.get('datatype')!r}")
    if tuple(shape[1:]) != m.input_shape:
        raise BadRequest(f"model {m.name!r} takes shape [rows, {', '.join(map(str, m.input_shape))}], got {shape}")
    try:
        a = np.asarray(data, dtype=np.float32)
    except (TypeError, ValueError):
        raise BadRequest("data must be numbers") from None
    if a.ndim != 1 or a.size != int(np.prod(shape)):
        raise BadRequest(f"data holds {a.size} numbers; shape {shape} needs {int(np.prod(shape))}")
    if not np.isfinite(a).all():
        raise BadRequest("data holds NaN or infinite values")
    return a.reshape(shape)


@dataclass
class Server:
    models: dict[str, ServedModel]
    keys: list[Key]
    log: Path | None = None

    def __post_init__(self) -> None:
        self.log_lock = threading.Lock()

    def key(self, headers: Any) -> Key | None:
        auth = headers.get("authorization", "")
        given = auth[7:].strip() if auth.lower().startswith("bearer ") else headers.get("x-api-key", "")
        found = None
        for k in self.keys:  # compare with every key in constant time
            if given and hmac.compare_digest(given.encode(), k.secret.encode()):
                found = k
        return found

    def record(self, key: Key, model: str, rows: int) -> None:
        if self.log is None:
            return
        line = {"time": time.time(), "key": key.name, "model": model, "rows": rows, "used": key.used}
        if key.prada is not None:
            line["prada"] = key.prada.to_dict()
        with self.log_lock, self.log.open("a") as f:
            f.write(json.dumps(line) + "\n")


def make_app(server: Server) -> Any:
    """The Starlette application serving `server`."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    async def body_of(request: Request) -> Any:
        """The JSON body, read up to MAX_BODY bytes (BadRequest past it or when it is not JSON)."""
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY:
                raise TooLarge(f"request body over {MAX_BODY} bytes")
            chunks.append(chunk)
        return json.loads(b"".join(chunks))

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"live": True, "ready": True})

    async def metadata(request: Request) -> JSONResponse:
        m = server.models.get(request.path_params["name"])
        if m is None:
            return error(404, f"no model {request.path_params['name']!r}; served: {', '.join(server.models)}")
        return JSONResponse(m.metadata())

    async def charged(key: Key, m: ServedModel, n: int, work: Any, *args: Any) -> JSONResponse:
        """Serve `n` rows (prompts) for `key`: 429 past its budget; the rows reserved before the model runs
        (no await between the check and the reservation, so concurrent requests cannot overspend) and given
        back if the model fails; the answered request logged."""
        if key.budget is not None and key.used + n > key.budget:
            left = key.budget - key.used
            return error(429, f"query budget spent: key {key.name!r} has {left} of {key.budget} rows left, asked {n}")
        key.used += n
        try:
            out = await run_in_threadpool(work, *args)
        except Exception as e:  # the model failed on this request: nothing served, nothing counted
            key.used -= n
            return error(500, f"the model failed on this request ({type(e).__name__}: {str(e)[:200]})")
        server.record(key, m.name, n)
        return JSONResponse(out)

    async def parsed(request: Request, parse: Any, *args: Any) -> Any:
        """The body as `parse` reads it, or the 413 / 400 answer."""
        try:
            return parse(await body_of(request), *args)
        except TooLarge as e:
            return error(413, str(e))
        except (ValueError, BadRequest) as e:
            return error(400, f"malformed request: {e}")

    async def infer(request: Request) -> JSONResponse:
        key = server.key(request.headers)
        if key is None:
            return error(401, UNKNOWN_KEY)
        m = server.models.get(request.path_params["name"])
        if m is None:
            return error(404, f"no model {request.path_params['name']!r}; served: {', '.join(server.models)}")
        if m.language:
            return error(400, f"{m.name!r} is a language model: POST /v1/completions (OpenAI-compatible)")
        x = await parsed(request, parse_input, m)
        if isinstance(x, JSONResponse):
            return x
        return await charged(key, m, len(x), m.answer, x, key)

    async def completions(request: Request) -> JSONResponse:
        key = server.key(request.headers)
        if key is None:
            return error(401, UNKNOWN_KEY)
        body = await parsed(request, parse_completion)
        if isinstance(body, JSONResponse):
            return body
        m = server.models.get(str(body.get("model")))
        if m is None or not m.language:
            return error(404, f"no language model {body.get('model')!r}; served: {', '.join(server.models)}")
        return await charged(key, m, len(body["prompt"]), complete, m, body)

    routes = [
        Route("/v1/completions", completions, methods=["POST"]),
        Route("/v2/health/live", health),
        Route("/v2/health/ready", health),
        Route("/v2/models/{name}", metadata),
        Route("/v2/models/{name}/ready", health),
        Route("/v2/models/{name}/infer", infer, methods=["POST"]),
    ]
    return Starlette(routes=routes)

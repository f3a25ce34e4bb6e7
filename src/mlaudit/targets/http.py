"""Target adapter for a classifier served over HTTP with the Open Inference Protocol v2 (REST), as KServe,
Triton, MLServer and `mlaudit serve` speak it: GET /v2/models/{name} for the metadata, POST
/v2/models/{name}/infer for predictions.

The client counts queries (one per example, through Target), sends batches concurrently, limits its own
request rate, times out, and retries transport errors and 5xx / 429 answers with exponential backoff (a
429 that says the key's budget is spent is not retried: it is the server's budget, raised as
QueryBudgetExceeded). What the endpoint returns is read from its outputs and recorded (`granularity`):
- "probabilities": one FP32/FP64 (N, K) output (probabilities, or `predict_proba` of an sklearn runtime);
- "rounded": the same, which `mlaudit serve` marks as rounded to `decimals` places;
- "top_k": `top_classes` and `top_probabilities` (N, k): the withheld classes read as probability 0;
- "labels": one integer (N,) output: label-only attacks only.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlaudit.errors import InputError, QueryBudgetExceeded
from mlaudit.targets.base import Target
from mlaudit.threat import Access

_NUMPY = {"FP32": np.float32, "FP64": np.float64, "INT64": np.int64, "INT32": np.int32, "BYTES": object}
PROBABILITY_OUTPUTS = ("probabilities", "predict_proba", "probs", "output_probabilities")


@dataclass(frozen=True)
class HttpSettings:
    timeout_s: float = 30.0
    retries: int = 3
    backoff_s: float = 0.2  # the first retry's wait; doubled at each retry
    rate_limit: float | None = None  # most requests per second from this client
    concurrency: int = 4
    batch_size: int = 64


class _RateLimit:
    """Spaces request starts at least 1/rate seconds apart, across threads."""

    def __init__(self, rate: float | None) -> None:
        self.gap = 1.0 / rate if rate else 0.0
        self.next = 0.0
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.gap:
            return
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next)
            self.next = start + self.gap
        time.sleep(max(0.0, start - now))


class HttpClient:
    """The transport every HTTP target shares: a base URL, a key, timeouts, retries with backoff, a rate
    limit; `requests` counts what was sent."""

    def __init__(self, url: str, *, api_key: str | None, settings: HttpSettings, client: Any = None) -> None:
        import httpx

        self.url, self.settings = url.rstrip("/"), settings
        self.client = client or httpx.Client(base_url=self.url, timeout=settings.timeout_s)
        if api_key:
            self.client.headers.update({"Authorization": f"Bearer {api_key}"})
        self.limit = _RateLimit(settings.rate_limit)
        self.requests = 0
        self.lock = threading.Lock()

    def request(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        import httpx

        wait = self.settings.backoff_s
        for attempt in range(self.settings.retries + 1):
            self.limit.wait()
            try:
                r = self.client.request(method, path, json=body)
            except httpx.TransportError as e:
                if attempt == self.settings.retries:
                    raise InputError(f"{self.url}{path} did not answer ({type(e).__name__}: {e})") from None
            else:
                with self.lock:
                    self.requests += 1
                if r.status_code < 400:
                    return r.json()  # type: ignore[no-any-return]
                message = _error(r)
                if r.status_code == 429 and "budget" in message.lower():
                    raise QueryBudgetExceeded(f"the server refused the query: {message}")
                if r.status_code not in (429, 500, 502, 503, 504) or attempt == self.settings.retries:
                    raise InputError(f"{method} {self.url}{path} answered {r.status_code}: {message}")
                wait = max(wait, float(r.headers.get("retry-after", 0) or 0))
            time.sleep(wait)
            wait *= 2
        raise AssertionError("unreachable")

    def batched(self, fn: Any, items: Any) -> list[Any]:
        """fn over batches of `items` (batch_size each), `concurrency` at a time, in order."""
        size = self.settings.batch_size
        batches = [items[i : i + size] for i in range(0, len(items), size)]
        with ThreadPoolExecutor(max_workers=max(1, self.settings.concurrency)) as pool:
            return list(pool.map(fn, batches))


class OipTarget(Target):
    """A served classifier. `client`: an httpx.Client to use (tests pass Starlette's TestClient)."""

    max_access = Access.PROBABILITIES

    def __init__(
        self,
        url: str,
        model: str,
        *,
        api_key: str | None = None,
        num_classes: int | None = None,
        settings: HttpSettings | None = None,
        client: Any = None,
        name: str | None = None,
    ) -> None:
        super().__init__()
        self.http = HttpClient(url, api_key=api_key, settings=settings or HttpSettings(), client=client)
        self.url, self.model = self.http.url, model
        self.name = name or f"{model} at {self.url}"
        self.metadata = self.http.request("GET", f"/v2/models/{model}", None)
        self.input = _one_input(self.metadata, model)
        self.granularity, self.decimals, outputs = _granularity(self.metadata)
        self.requested = _requested(self.granularity, outputs)  # asked by name: a server may default to labels
        self.max_access = Access.LABELS if self.granularity == "labels" else Access.PROBABILITIES
        self.threat_model = self.threat_model.__class__(access=self.max_access)
        k = _classes(outputs) or (self.metadata.get("parameters") or {}).get("num_classes")
        if num_classes is not None and k is not None and k != num_classes:
            raise InputError(f"{self.name} serves {k} classes but target.num_classes is {num_classes}; set it to {k}")
        if num_classes is None and k is None:
            raise InputError(f"{self.name} does not say how many classes it has; set target.num_classes")
        self.num_classes = int(num_classes or k or 0)

    @property
    def requests(self) -> int:
        return self.http.requests

    def _infer(self, x: Any) -> dict[str, np.ndarray]:
        answers = self.http.batched(self._infer_batch, x)
        if not answers:
            return {}
        return {k: np.concatenate([a[k] for a in answers]) for k in answers[0]}

    def _infer_batch(self, x: Any) -> dict[str, np.ndarray]:
        body = {"inputs": [encode(self.input, x)], "outputs": [{"name": n} for n in self.requested]}
        out = self.http.request("POST", f"/v2/models/{self.model}/infer", body)
        return {o["name"]: decode(o) for o in out.get("outputs", [])}

    # -- Target hooks ------------------------------------------------------------------------
    def labels(self, x: Any) -> np.ndarray:
        if self.granularity != "labels":
            return super().labels(x)
        self._guard(Access.LABELS, len(x))
        out = self._infer(x)
        return np.asarray(next(iter(out.values())), dtype=np.int64).reshape(len(x))

    def _probabilities(self, x: Any) -> np.ndarray:
        out = self._infer(x)
        if self.granularity == "top_k":
            return top_k_rows(out["top_classes"], out["top_probabilities"], self.num_classes)
        name = next(n for n in PROBABILITY_OUTPUTS if n in out)
        p = np.asarray(out[name], dtype=np.float64).reshape(len(x), -1)
        if p.shape[1] != self.num_classes:
            raise InputError(f"{self.name} returned {p.shape[1]} probabilities per row; expected {self.num_classes}")
        return p

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "format": "oip-v2",
            "url": self.url,
            "granularity": self.granularity,
            **({"decimals": self.decimals} if self.decimals is not None else {}),
        }


def top_k_rows(classes: np.ndarray, probabilities: np.ndarray, num_classes: int) -> np.ndarray:
    """(N, K) probability rows from a top-k answer: the k given, the withheld classes at 0."""
    p = np.zeros((len(classes), num_classes))
    np.put_along_axis(p, np.asarray(classes, dtype=np.int64), probabilities, axis=1)
    return p


def encode(spec: dict[str, Any], x: Any) -> dict[str, Any]:
    """One OIP input tensor: text as BYTES (one string per row), numbers as the declared float type."""
    if spec.get("datatype") == "BYTES":
        rows = [str(s) for s in x]
        return {"name": spec["name"], "shape": [len(rows)], "datatype": "BYTES", "data": rows}
    a = np.asarray(x, dtype=np.float64 if spec.get("datatype") == "FP64" else np.float32)
    return {
        "name": spec["name"],
        "shape": list(a.shape),
        "datatype": spec.get("datatype", "FP32"),
        "data": a.ravel().tolist(),
    }


def decode(o: dict[str, Any]) -> np.ndarray:
    """One OIP output tensor as an array of its shape."""
    dtype = _NUMPY.get(str(o.get("datatype")))
    if dtype is None:
        raise InputError(f"output {o.get('name')!r} has datatype {o.get('datatype')!r}, which mlaudit does not read")
    return np.asarray(o["data"], dtype=dtype).reshape(o["shape"])


def _error(r: Any) -> str:
    try:
        return str(r.json().get("error", r.text))[:300]
    except ValueError:
        return r.text[:300]


def _one_input(meta: dict[str, Any], model: str) -> dict[str, Any]:
    inputs = meta.get("inputs") or []
    if len(inputs) != 1:
        raise InputError(f"model {model!r} declares {len(inputs)} inputs; mlaudit queries models with one input")
    return dict(inputs[0])


def _granularity(meta: dict[str, Any]) -> tuple[str, int | None, list[dict[str, Any]]]:
    outputs = list(meta.get("outputs") or [])
    names = {o.get("name") for o in outputs}
    params = meta.get("parameters") or {}
    if {"top_classes", "top_probabilities"} <= names:
        return "top_k", None, outputs
    if names & set(PROBABILITY_OUTPUTS):
        decimals = params.get("decimals")
        return ("rounded" if decimals is not None else "probabilities"), decimals, outputs
    if len(outputs) == 1 and str(outputs[0].get("datatype", "")).startswith("INT"):
        return "labels", None, outputs
    raise InputError(
        f"the served model's outputs {sorted(map(str, names))} hold no probabilities "
        f"({', '.join(PROBABILITY_OUTPUTS)}), top-k pair (top_classes, top_probabilities)"
        " or single integer label output"
    )


def _requested(granularity: str, outputs: list[dict[str, Any]]) -> list[str]:
    names = [str(o.get("name")) for o in outputs]
    if granularity == "top_k":
        return ["top_classes", "top_probabilities"]
    if granularity == "labels":
        return names[:1]
    return [next(n for n in names if n in PROBABILITY_OUTPUTS)]


def _classes(outputs: list[dict[str, Any]]) -> int | None:
    for o in outputs:
        shape = o.get("shape") or []
        if o.get("name") in PROBABILITY_OUTPUTS and len(shape) == 2 and int(shape[1]) > 0:
            return int(shape[1])
    return None

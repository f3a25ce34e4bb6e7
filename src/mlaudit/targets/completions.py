"""Target adapter for a language model served with the OpenAI-compatible completions API (POST
/v1/completions; vLLM, llama.cpp's server, text-generation-inference and `mlaudit serve` speak it).

- `token_logprobs(texts)`: `echo: true, max_tokens: 0, logprobs: 1` returns the prompt's per-token
  log-probabilities (a leading null, for the first token without context, is dropped): probabilities access.
- `generate(prompts, ...)`: `max_tokens`, `top_k` (an extension vLLM and mlaudit accept), `temperature: 1`
  and a seed drawn from the caller's generator: text only, labels access.
The whole next-token distribution is not returned by such APIs, so logits-access attacks (Min-K%++) are
skipped with the reason. One query per document or prompt, counted by Target.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mlaudit.errors import InputError
from mlaudit.targets.base import Target
from mlaudit.targets.http import HttpClient, HttpSettings
from mlaudit.threat import Access


class CompletionsTarget(Target):
    """A served causal LM; `model`: the name the server knows it by."""

    modality = "language"
    max_access = Access.PROBABILITIES

    def __init__(
        self,
        url: str,
        model: str,
        *,
        api_key: str | None = None,
        settings: HttpSettings | None = None,
        client: Any = None,
        name: str | None = None,
    ) -> None:
        super().__init__()
        self.http = HttpClient(url, api_key=api_key, settings=settings or HttpSettings(batch_size=16), client=client)
        self.model = model
        self.name = name or f"{model} at {self.http.url}"
        self.num_classes = 0  # the vocabulary is not exposed by the API
        self.granularity = "logprobs"  # token log-probabilities of the prompt, never the whole distribution

    def _complete(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        out = self.http.request("POST", "/v1/completions", {"model": self.model, **body})
        choices = sorted(out.get("choices") or [], key=lambda c: int(c.get("index", 0)))
        if len(choices) != len(body["prompt"]):
            raise InputError(f"{self.name} answered {len(choices)} choices for {len(body['prompt'])} prompts")
        return choices

    def _token_logprobs(self, texts: list[str]) -> list[np.ndarray]:
        def batch(prompts: list[str]) -> list[np.ndarray]:
            choices = self._complete({"prompt": list(prompts), "max_tokens": 0, "echo": True, "logprobs": 1})
            rows = []
            for c in choices:
                values = ((c.get("logprobs") or {}).get("token_logprobs")) or []
                rows.append(np.asarray([v for v in values if v is not None], dtype=np.float64))
            return rows

        return [row for rows in self.http.batched(batch, list(texts)) for row in rows]

    def _generate(self, prompts: list[str], *, max_new_tokens: int, top_k: int, generator: Any) -> list[str]:
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator)) if generator is not None else 0

        def batch(ps: list[str]) -> list[str]:
            body = {"prompt": list(ps), "max_tokens": max_new_tokens, "top_k": top_k, "temperature": 1.0, "seed": seed}
            return [str(c.get("text", "")) for c in self._complete(body)]

        return [t for texts in self.http.batched(batch, list(prompts)) for t in texts]

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "num_classes": None,  # the vocabulary is not exposed by the API
            "format": "openai-completions",
            "url": self.http.url,
            "granularity": self.granularity,
        }

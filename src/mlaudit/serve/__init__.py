"""`mlaudit serve`: a target behind the Open Inference Protocol v2, with keys, budgets, output defences
and extraction detection (see app.py)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlaudit.config import ServeFileConfig, from_dict
from mlaudit.data.formats import is_causal_lm
from mlaudit.defenses.output import OutputDefence
from mlaudit.defenses.prada import Prada
from mlaudit.errors import ConfigError
from mlaudit.scenarios.own_model import own_target
from mlaudit.serve.app import Key, ServedModel, Server, make_app
from mlaudit.targets.base import Target
from mlaudit.targets.language_model import LanguageModelTarget, load_language_model

__all__ = ["Key", "ServedModel", "Server", "make_app", "build_server", "running", "serve"]


def keys_of(cfg: ServeFileConfig, prada_delta: float | None) -> list[Key]:
    out = []
    for k in cfg.serve.keys:
        secret = k.key if k.key is not None else os.environ.get(k.key_env or "")
        if not secret:
            raise ConfigError(f"serve key {k.name!r}: environment variable {k.key_env!r} is unset or empty; export it")
        prada = Prada(delta=prada_delta) if prada_delta is not None else None
        out.append(Key(k.name, secret, k.budget, prada=prada))
    return out


def build_server(cfg: ServeFileConfig, out_dir: Path | None = None) -> Server:
    """The server of a config: its defence and keys checked first, then the target loaded."""
    defence: OutputDefence = from_dict(OutputDefence, dict(cfg.serve.defence), "serve.defence")
    keys = keys_of(cfg, cfg.serve.prada_delta)
    target = language_target(cfg) or own_target(cfg)[0]
    model = served(cfg.serve.model_name, target, defence, cfg, seed=cfg.seed)
    log = (out_dir or Path.cwd()) / cfg.serve.log if cfg.serve.log else None
    return Server({model.name: model}, keys, log)


def language_target(cfg: ServeFileConfig) -> Target | None:
    """A causal LM (Hugging Face folder, adapter over base:, or GGUF), served on /v1/completions; else None."""
    t = cfg.target
    if t.kind != "huggingface" or not is_causal_lm(Path(str(t.path))):
        return None
    model, tok = load_language_model(str(t.path), base=cfg.base.path if cfg.base else None)
    return LanguageModelTarget(model, tok, name=Path(str(t.path)).name, max_length=t.max_length or 512)


def served(name: str, target: Target, defence: OutputDefence, cfg: ServeFileConfig, *, seed: int) -> ServedModel:
    text = getattr(target, "tokenizer", None) is not None
    shape = () if text else _input_shape(target, cfg)
    return ServedModel(name, target, defence, text=text, input_shape=shape, seed=seed)


def _input_shape(target: Target, cfg: ServeFileConfig) -> tuple[int, ...]:
    n_features = getattr(getattr(target, "estimator", None), "n_features_in_", None)
    if n_features is not None:  # a scikit-learn model knows its width
        return (int(n_features),)
    onnx = getattr(target, "input_shape", None)
    if onnx and all(isinstance(d, int) for d in onnx):
        return tuple(onnx)
    return tuple(cfg.target.input_shape)


@contextmanager
def running(server: Server, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve in a background thread (uvicorn) for the duration of the block; yields the base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    config = uvicorn.Config(make_app(server), log_level="warning", lifespan="off", access_log=False)
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
        sock.close()


def serve(
    cfg: ServeFileConfig, *, host: str | None = None, port: int | None = None, out_dir: Path | None = None
) -> Any:
    """Serve until interrupted (the CLI's `mlaudit serve`)."""
    import uvicorn

    server = build_server(cfg, out_dir)
    uvicorn.run(make_app(server), host=host or cfg.serve.host, port=port or cfg.serve.port, log_level="info")

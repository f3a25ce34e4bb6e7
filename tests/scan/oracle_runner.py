"""The differential oracle's sandbox (issue 21): load files with the real loaders and record what the
load does. Run as a script in a throwaway process: `python oracle_runner.py jobs.json` (or jobs on stdin), jobs a JSON
list of [path, loader]; prints one JSON list of {"events": [...], "outcome": str} in the same order.

The loaders are imported first; then each job runs in a forked child that sets resource limits
(address space: what the parent holds plus 512 MiB; 1 s of CPU, far more than any load of these small
files takes; 5 s of wall time), installs an audit hook (sys.addaudithook) and loads. The hook records,
and blocks by raising before it happens: process creation (os.system, subprocess, exec*, spawn, fork),
network (socket.*), file-system changes (remove, rename, mkdir, chmod, rmtree), an `open` for writing
or of any file other than the one loaded (read-only opens of installed modules and time zones
excepted), and `exec` / `compile` outside the import machinery, jinja2's own template compiler and
ast.parse. A child killed by a limit reports the limit as its outcome.
Nothing is sent anywhere: the hook blocks every socket.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys


def _loaders() -> dict:
    import pickle

    import joblib
    import numpy as np
    import sklearn.linear_model  # noqa: F401 - what the benign files rebuild, imported once, not per load
    import sklearn.pipeline  # noqa: F401
    import sklearn.preprocessing  # noqa: F401
    import sklearn.tree  # noqa: F401
    import torch
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def jinja(path: str) -> None:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        env = ImmutableSandboxedEnvironment()
        env.from_string(text).render(messages=[{"role": "user", "content": "hi"}], add_generation_prompt=True)

    def npz(path: str) -> None:
        with np.load(path, allow_pickle=True) as z:
            for k in z.files:
                z[k]

    def pickle_all(path: str) -> None:
        with open(path, "rb") as f:
            while True:
                try:
                    pickle.load(f)
                except EOFError:
                    return

    return {
        "pickle": pickle_all,
        "torch": lambda p: torch.load(p, weights_only=False),
        "torch-weights-only": lambda p: torch.load(p, weights_only=True),
        "numpy": lambda p: np.load(p, allow_pickle=True),
        "npz": npz,
        "joblib": joblib.load,
        "jinja": jinja,
    }


BLOCK = (
    "os.system", "subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "os.kill",
    "socket.", "os.remove", "os.unlink", "os.rmdir", "os.rename", "os.mkdir", "os.chmod", "os.chown",
    "shutil.rmtree", "shutil.copyfile", "shutil.move", "urllib.Request", "webbrowser.open", "ctypes.dlopen",
    "os.putenv", "os.truncate", "os.symlink", "os.link", "pty.spawn",
)  # fmt: skip


def _hook(path: str, events: list[str]):  # type: ignore[no-untyped-def]
    installed = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix, *(p for p in sys.path if p)})
    real = os.path.realpath(path)

    def expected(event: str) -> bool:
        """Inside the import machinery, jinja2 compiling the template it was asked to render (its job),
        or ast.parse (numpy reads .npy headers with ast.literal_eval: a syntax tree, no code)."""
        f = sys._getframe(2)
        while f is not None:
            name = f.f_code.co_filename
            if "importlib" in name or name.startswith("<frozen") or "/jinja2/" in name:
                return True
            if event == "compile" and name.endswith(os.sep + "ast.py"):
                return True
            f = f.f_back
        return False

    def hook(event: str, args: tuple) -> None:
        if event in ("exec", "compile"):
            if expected(event):
                return
            events.append(event)
            raise RuntimeError(f"oracle blocked {event}")
        if event == "open":
            target, mode, flags = (*args, None, None)[:3]
            if isinstance(target, int):
                return
            p = os.path.realpath(os.fsdecode(target))
            writes = any(c in str(mode or "") for c in "wax+") or bool(
                (flags or 0) & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC)
            )
            if p == real and not writes:
                return
            if not writes and p.startswith((*installed, "/usr/share/zoneinfo", "/proc/self", "/sys/")):
                return  # imports, their data and time zones, read-only
            events.append(f"open {p} {mode or flags}")
            raise RuntimeError("oracle blocked open")
        if event.startswith(BLOCK):
            events.append(event)
            raise RuntimeError(f"oracle blocked {event}")

    return hook


def _child(path: str, load, write_fd: int) -> None:  # type: ignore[no-untyped-def]
    events: list[str] = []
    with open("/proc/self/status") as f:
        vm = next(int(ln.split()[1]) * 1024 for ln in f if ln.startswith("VmSize:"))
    limit = vm + (512 << 20)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CPU, (1, 1))
    signal.alarm(5)
    sys.addaudithook(_hook(path, events))
    try:
        load(path)
        outcome = "loaded"
    except MemoryError:
        outcome = "memory"
    except RecursionError:
        outcome = "recursion"
    except BaseException as e:  # noqa: BLE001 - any refusal or failure of the loader is an outcome
        outcome = "sandbox" if type(e).__name__ == "SecurityError" else f"error {type(e).__name__}"
    os.write(write_fd, json.dumps({"events": events, "outcome": outcome}).encode())
    os._exit(0)


def main() -> None:
    if len(sys.argv) > 1:
        with open(sys.argv[1], encoding="utf-8") as f:
            jobs = json.load(f)
    else:
        jobs = json.load(sys.stdin)
    loaders = _loaders()
    out = []
    for path, name in jobs:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            _child(path, loaders[name], w)
        os.close(w)
        chunks = []
        while chunk := os.read(r, 65536):
            chunks.append(chunk)
        os.close(r)
        _, status = os.waitpid(pid, 0)
        if chunks:
            out.append(json.loads(b"".join(chunks)))
        else:
            sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
            out.append({"events": [], "outcome": f"killed {signal.Signals(sig).name if sig else status}"})
    sys.stdout.write(json.dumps(out))


if __name__ == "__main__":
    main()

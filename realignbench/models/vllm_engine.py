"""The vLLM engine in a process of its own, and the parent's handle on it.

Why a process: a vLLM engine claims a fixed share of GPU memory (``gpu_memory_utilization``)
when it starts and never gives it back. In the process that trained or evaluated a model it
competes with that model's leftovers, and one engine per step piles up. In its own process it
owns its memory and returns all of it when it exits.

Protocol, one JSON object per line. The parent writes ``{"op": "start", "engine": {LLM
kwargs}}``, then any number of ``{"op": "generate", "prompts": [[token ids]], "sampling":
{SamplingParams kwargs}, "lora": path | null}``, then ``{"op": "stop"}``; the engine answers
each request but ``stop`` with one line: ``{"ready": true}``, ``{"outputs": [[token ids]]}``
or ``{"error": traceback}``. Engine logs go to stderr: fd 1 is pointed at stderr in the engine
process, so stdout carries answers only. Run as ``python -m realignbench.models.vllm_engine``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
import weakref
from typing import Any, Callable, Sequence

ENGINE_COMMAND = (sys.executable, "-m", "realignbench.models.vllm_engine")


class EngineError(RuntimeError):
    """The engine process failed a request or died; the message carries its traceback."""


# -- the engine's side ------------------------------------------------------------------------
class VLLMEngine:
    """``vllm.LLM`` behind the protocol (imported here only, in the engine process)."""

    def __init__(self, settings: dict[str, Any]):
        from vllm import LLM
        self.llm = LLM(**settings)

    def generate(self, prompts: list[list[int]], sampling: dict[str, Any],
                 lora: str | None) -> list[list[int]]:
        from vllm import SamplingParams
        from vllm.lora.request import LoRARequest
        request = LoRARequest("adapter", 1, lora) if lora else None
        outs = self.llm.generate([{"prompt_token_ids": ids} for ids in prompts],
                                 SamplingParams(**sampling), lora_request=request, use_tqdm=True)
        return [list(o.outputs[0].token_ids) for o in outs]


def protocol_streams():
    """(requests, answers): stdin and a duplicate of the original stdout; fd 1 then points at
    stderr, so that nothing the engine prints (C libraries included) mixes with answers."""
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return sys.stdin, answers


def serve(requests, answers, make_engine: Callable[[dict[str, Any]], Any]) -> None:
    """Answer requests until ``stop`` or end of input; a failed request answers its traceback
    and the loop goes on (the parent decides whether to stop)."""
    engine = None
    for line in requests:
        request = json.loads(line)
        op = request.get("op")
        if op == "stop":
            break
        try:
            if op == "start":
                engine, answer = make_engine(request["engine"]), {"ready": True}
            elif op == "generate":
                if engine is None:
                    raise RuntimeError("generate before start")
                answer = {"outputs": engine.generate(request["prompts"], request["sampling"],
                                                     request.get("lora"))}
            else:
                raise ValueError(f"unknown op {op!r}")
        except Exception:                       # noqa: BLE001 (sent to the parent)
            answer = {"error": traceback.format_exc()}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


# -- the parent's side ------------------------------------------------------------------------
def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            proc.stdin.write('{"op": "stop"}\n')
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class EngineProcess:
    """A started engine process: ``call(request) -> answer``; ``close()`` (also on garbage
    collection) stops it, which frees all of its GPU memory."""

    def __init__(self, settings: dict[str, Any], command: Sequence[str] = ENGINE_COMMAND):
        self.command = list(command)
        self.proc = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        self._finalizer = weakref.finalize(self, _stop, self.proc)
        self.call({"op": "start", "engine": settings})

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        if self.proc.poll() is not None:
            raise EngineError(f"the engine process has exited (code {self.proc.returncode})")
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            raise EngineError(f"the engine process ({' '.join(self.command)}) exited with code "
                              f"{code} during {request.get('op')!r}; its log is on stderr")
        answer = json.loads(line)
        if "error" in answer:
            raise EngineError(f"the engine process failed {request.get('op')!r}:\n"
                              f"{answer['error']}")
        return answer

    def close(self) -> None:
        self._finalizer()


def main() -> None:
    serve(*protocol_streams(), VLLMEngine)


if __name__ == "__main__":
    main()

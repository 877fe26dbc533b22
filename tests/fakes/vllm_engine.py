"""A stand-in for vLLM behind the real engine-process protocol loop (CPU tests).

The fake "generates" the prompt's last three token ids, then the first stop token, then one
more id (which must be cut off), capped at ``max_tokens``. Every request it receives is
appended to the JSON-lines file named by ``FAKE_VLLM_LOG``; ``max_tokens`` = 13 fails like an
out-of-memory engine; it prints a log line to stdout, which must not reach the protocol.
"""
import json
import os

from realignbench.models.vllm_engine import protocol_streams, serve


class FakeEngine:
    def __init__(self, settings):
        self._log({"op": "start", "engine": settings, "pid": os.getpid()})
        print("INFO fake engine: loaded weights")          # must go to stderr

    @staticmethod
    def _log(record):
        with open(os.environ["FAKE_VLLM_LOG"], "a") as f:
            f.write(json.dumps(record) + "\n")

    def generate(self, prompts, sampling, lora):
        self._log({"op": "generate", "n": len(prompts), "sampling": sampling, "lora": lora})
        if sampling["max_tokens"] == 13:
            raise RuntimeError("CUDA out of memory (fake)")
        stop = sampling["stop_token_ids"][0]
        return [(ids[-3:] + [stop, ids[0]])[:sampling["max_tokens"]] for ids in prompts]


if __name__ == "__main__":
    serve(*protocol_streams(), FakeEngine)

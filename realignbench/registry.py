"""Registries at the user-facing seams: methods, evaluations, oracles, model presets.

Entries name their implementation as ``"module:attribute"`` and import it only when used, so
``realignbench ls`` stays fast and registering a plug-in never creates an import cycle.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    name: str
    target: str                 # "package.module:attribute"
    description: str
    options_target: str = ""    # "package.module:OptionsDataclass" (methods only)

    def load(self):
        return _resolve(self.target)

    @property
    def options(self):
        return _resolve(self.options_target) if self.options_target else _NoOptions


@dataclass
class _NoOptions:
    pass


def _resolve(target: str):
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


class Registry:
    def __init__(self, kind: str, entries: list[Entry]):
        self.kind = kind
        self._entries = {e.name: e for e in entries}

    def get(self, name: str) -> Entry:
        if name not in self._entries:
            raise KeyError(f"unknown {self.kind} {name!r}; known: {sorted(self._entries)}")
        return self._entries[name]

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __iter__(self):
        return iter(self._entries.values())

    def names(self) -> list[str]:
        return list(self._entries)


# Each plug-in adds one line here when it lands (no stubs: only what exists is listed).
METHODS = Registry("method", [
    Entry("old_alignment", "realignbench.train.methods:OLD_ALIGNMENT",
          "M_ref: SFT on every old response, then DPO under pi_old (saves a merged model)",
          options_target="realignbench.train.methods:OldAlignmentOptions"),
    Entry("dpo", "realignbench.train.methods:DPO",
          "plain DPO/IPO/rDPO on the stored (pi_old) orientation",
          options_target="realignbench.train.methods:DpoOptions"),
    Entry("sft", "realignbench.train.methods:SFT", "SFT on the stored chosen (or both) responses",
          options_target="realignbench.train.methods:SftOptions"),
])
EVALS = Registry("evaluation", [
    Entry("human_eval", "realignbench.bench.human.stage:human_eval_stage",
          "blinded best-of-k human study: win rates vs baseline, Krippendorff's alpha"),
    Entry("human_eval_sim", "realignbench.bench.human.stage:simulated_human_eval_stage",
          "the same study filled by a SIMULATED panel following the policy oracle"),
])
ORACLES = Registry("oracle", [
    Entry("label", "realignbench.oracle.label:LabelOracle",
          "exact verdicts from structured labels (SynthValueBench stances, PKU harm categories)"),
    Entry("llm", "realignbench.oracle.llm:LLMJudge",
          "LLM judge over an OpenAI-compatible API (GPT-4o, vllm serve); cached, retried"),
])
BENCHMARKS = Registry("benchmark", [
    Entry("synthvaluebench", "realignbench.synthvaluebench.benchmark:build",
          "synthetic value benchmark: 4 dimensions, stance labels, held-out template family"),
    Entry("pku_saferlhf", "realignbench.data.pku:build",
          "PKU-SafeRLHF (hub or local JSONL): 19 harm categories, severity, safety flags"),
])

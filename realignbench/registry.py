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
    headline: bool = False      # methods only: the method the benchmark is about; the
                                # reproduction plan trains its runs first in every group, so
                                # a partial run already answers the headline comparison
    tuned_as: str = ""          # methods only: take this method's tuned lr/epochs instead of
                                # a grid of its own (an ablation differs in one component only)

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

    def register(self, entry: Entry) -> None:
        """Add a plug-in at run time. Only tests do this (a toy method in a temporary table
        spec); a real plug-in is one line in the lists below."""
        if entry.name in self._entries:
            raise ValueError(f"{self.kind} {entry.name!r} is already registered")
        self._entries[entry.name] = entry

    def unregister(self, name: str) -> None:
        self.get(name)
        del self._entries[name]


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
    Entry("trace", "realignbench.trace.method:TRACE",
          "TRACE: triage + impact-weighted INVERT pref / PUNISH NPO / RETAIN KL anchor",
          options_target="realignbench.trace.method:TraceOptions", headline=True),
    Entry("trace_ours", "realignbench.trace.method:TRACE",
          "TRACE, ours (not the paper's): end-of-turn not an NPO target, length-normalised scores",
          options_target="realignbench.trace.method:TraceOursOptions"),
    Entry("trace_no_triage", "realignbench.trace.method:TRACE",
          "TRACE ablation: impact-weighted NPO on every naive-oracle dispreferred response",
          options_target="realignbench.trace.method:TraceNoTriageOptions", tuned_as="trace"),
    Entry("trace_no_impact", "realignbench.trace.method:TRACE",
          "TRACE ablation: uniform weights (no impact scores)",
          options_target="realignbench.trace.method:TraceNoImpactOptions", tuned_as="trace"),
    Entry("trace_no_kl", "realignbench.trace.method:TRACE",
          "TRACE ablation: no KL anchor on RETAIN (alpha_KL = 0)",
          options_target="realignbench.trace.method:TraceNoKlOptions", tuned_as="trace"),
    Entry("trace_oracle_punish", "realignbench.trace.method:TRACE",
          "TRACE variant: PUNISH as preference correction > old chosen (oracle corrections)",
          options_target="realignbench.trace.method:TraceOraclePunishOptions", tuned_as="trace"),
    Entry("naive_dpo", "realignbench.baselines.naive_dpo:NAIVE_DPO",
          "Naive Oracle DPO: swap when the old chosen violates pi_new (PUNISH too); DPO",
          options_target="realignbench.baselines.naive_dpo:NaiveDpoOptions"),
    Entry("dpo_gold", "realignbench.baselines.dpo_gold:DPO_GOLD",
          "DPO-Gold: INVERT swapped, RETAIN kept, PUNISH as correction > old chosen; DPO",
          options_target="realignbench.baselines.dpo_gold:DpoGoldOptions"),
    Entry("rdpo", "realignbench.baselines.rdpo:RDPO",
          "robust DPO with flip rate epsilon on the naive-oracle pairs",
          options_target="realignbench.baselines.rdpo:RdpoOptions"),
    Entry("u2a", "realignbench.baselines.u2a:U2A",
          "U2A: impact-weighted NPO on violating responses (top-k, mirror-descent rounds)",
          options_target="realignbench.baselines.u2a:U2aOptions"),
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
    Entry("embedding", "realignbench.oracle.embedding_judge:EmbeddingJudge",
          "free-text judge: MiniLM stance probes (training families) + policy stance rules"),
])
# Model presets: one table in realignbench.model_presets (a light module: dataclasses only).
def _model_entries() -> list[Entry]:
    from realignbench.model_presets import PRESETS
    return [Entry(p.name, "realignbench.models.loading:load_model", p.description)
            for p in PRESETS.values()]


MODELS = Registry("model preset", _model_entries())
BENCHMARKS = Registry("benchmark", [
    Entry("synthvaluebench", "realignbench.synthvaluebench.benchmark:build",
          "synthetic value benchmark: 4 dimensions, stance labels, held-out template family"),
    Entry("pku_saferlhf", "realignbench.data.pku:build",
          "PKU-SafeRLHF (hub or local JSONL): 19 harm categories, severity, safety flags"),
])

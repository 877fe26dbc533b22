"""``realignbench judge-pairs`` (stage ``judge_pairs``): judge both responses of every pair with the LLM judge, as a run.

The run directory gets the judged pairs (``pairs.judged.jsonl``, verdicts on both sides,
orientation unchanged), ``judge_usage.json`` (calls, retries, tokens, USD) and ``judge.log``.
Items already answered are in the content-hash cache, so a killed run resumes where it stopped
and a rerun of a finished one makes zero calls. Triage proper (categories) is
``realignbench triage data.triage_oracle=llm``, which uses the same judge.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from realignbench.data.schema import Pair, read_pairs, write_pairs
from realignbench.oracle.verdict import JudgeItem
from realignbench.runs import Run, portable_config, run_stage

if TYPE_CHECKING:                      # the CLI imports this module; openai loads only when used
    from realignbench.oracle.llm import LLMJudge

log = logging.getLogger(__name__)


def judge_items(pairs: list[Pair]) -> list[JudgeItem]:
    """Two items per pair, chosen then rejected; labels are withheld from the LLM judge."""
    return [JudgeItem(p.prompt, getattr(p, side), None, {"id": p.id, "side": side})
            for p in pairs for side in ("chosen", "rejected")]


def verdict_counts(pairs: list[Pair]) -> dict[str, int]:
    counts: Counter = Counter()
    for p in pairs:
        for v in (p.verdicts or {}).values():
            counts["unparseable" if v["status"] == "unparseable"
                   else "compliant" if v["compliant"] else "violating"] += 1
    return dict(sorted(counts.items()))


def judge_pairs(cfg: Any, pairs_path: Path | str, policy: Any, judge: LLMJudge | None = None,
                runs_dir: Path | str | None = None) -> Run:
    """Judge ``pairs_path`` under ``policy`` (a Policy) and return the completed run."""
    from realignbench.oracle.llm import LLMJudge
    pairs_path = Path(pairs_path)
    judge = judge or LLMJudge(cfg)

    def work(run: Run, pairs: list[Pair]) -> None:
        handler = logging.FileHandler(run.path("judge.log"), encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.getLogger("realignbench").addHandler(handler)
        try:
            verdicts = judge.judge(judge_items(pairs), policy)
            judged = [dataclasses.replace(p, verdicts={"chosen": verdicts[2 * i].to_dict(),
                                                       "rejected": verdicts[2 * i + 1].to_dict()})
                      for i, p in enumerate(pairs)]
            write_pairs(run.path("pairs.judged.jsonl"), judged)
            usage = judge.write_usage(run)
            counts = verdict_counts(judged)
            log.info("judged %d pairs (%s); %d calls, %d retries, %d cache hits -> %s",
                     len(pairs), counts, usage["calls"], usage["retries"],
                     usage["cache_hits"], run.path("pairs.judged.jsonl"))
            run.write_results({"n_pairs": len(pairs), "verdicts": counts, "judge_usage": usage,
                               "policy": f"{policy.id}@{policy.version}",
                               "provenance": {"simulated": False, "judge": judge.judge_id}})
        finally:
            logging.getLogger("realignbench").removeHandler(handler)
            handler.close()

    inputs = {"pairs": pairs_path, "policy": f"{policy.id}@{policy.version}",
              "policy_text": policy.text, "judge": judge.judge_id}
    return run_stage("judge_pairs", f"{pairs_path.stem}-{policy.id}",
                     portable_config(cfg.to_dict()), inputs, work,
                     runs_dir=runs_dir or cfg.runs_dir,
                     prepare=lambda: read_pairs(pairs_path))   # validated before any run dir


def _cmd_judge_pairs(args: argparse.Namespace) -> int:
    from realignbench.cli_args import config_from_args
    from realignbench.policies.spec import load_policy
    from realignbench.oracle.chat_client import JudgeError
    cfg = config_from_args(args)
    try:
        run = judge_pairs(cfg, args.pairs, load_policy(args.policy))
    except JudgeError as err:          # already scrubbed of the key; answered items are cached
        print(f"realignbench judge-pairs: error: {err} (rerun to resume from the cache)",
              file=sys.stderr)
        return 3
    res = run.results()
    print(f"{run.dir}: {res['n_pairs']} pairs, verdicts {res['verdicts']}, "
          f"{res['judge_usage']['calls']} calls, {res['judge_usage']['retries']} retries, "
          f"{res['judge_usage']['prompt_tokens']}+{res['judge_usage']['completion_tokens']} "
          f"tokens, ${res['judge_usage']['usd']:.4f}")
    return 0


def register(sub: Any) -> None:
    from realignbench.cli_args import add_config_args
    p = sub.add_parser("judge-pairs", help="judge both responses of every pair with the LLM judge "
                                     "(OpenAI-compatible API; key from judge.api_key_env)")
    p.add_argument("--pairs", required=True, help="pairs JSONL (realignbench.data.schema)")
    p.add_argument("--policy", required=True, help="policy name or YAML path, e.g. pku_new")
    add_config_args(p)
    p.set_defaults(func=_cmd_judge_pairs)

"""The local capability suites: shipped files, answer keys correct by construction, and
lm-eval's own task machinery scoring them (an oracle LM scores 1, an anti-oracle 0)."""
import json
import re
from fractions import Fraction

import pytest

from realignbench.bench.suites import SUITES, TASK_DIR, facts
from realignbench.bench.suites.build import BUILDERS, check, expected_files
from realignbench.bench.suites.scripts import SCRIPTS

LOCAL = [s for s in SUITES if SUITES[s].local]


def rows(name, split="test"):
    path = TASK_DIR / "data" / f"{name}.{split}.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_shipped_files_match_generators_and_are_deterministic():
    assert check() == []
    assert expected_files(0) == expected_files(0)
    assert expected_files(1) != expected_files(0)          # the seed matters


@pytest.mark.parametrize("name", LOCAL)
def test_each_suite_has_200_distinct_items(name):
    items = rows(name)
    assert len(items) >= 200
    assert len({json.dumps(r, sort_keys=True) for r in items}) == len(items)
    assert name in BUILDERS


def test_knowledge_answers_are_the_facts():
    capital = {v[0] for v in facts.COUNTRIES.values()}
    n_checked = 0
    for r in rows("local_knowledge_mcq") + rows("local_knowledge_mcq", "dev"):
        answer = r["choices"][r["answer"]]
        assert len(set(r["choices"])) == 4
        m = re.search(r"capital (?:city )?of (.+?)(?: is which|\?)", r["question"])
        if m and "country whose" not in r["question"]:
            assert answer == facts.COUNTRIES[m.group(1)][0]
            assert sum(c in capital for c in r["choices"]) == 4
            n_checked += 1
        m = re.match(r"What is the opposite of '(.+)'\?", r["question"])
        if m:
            assert answer == facts.OPPOSITES[m.group(1)]
            n_checked += 1
        m = re.match(r"How many (.+)\?", r["question"])
        if m:
            assert int(answer) == facts.COUNTS[m.group(1)]
            n_checked += 1
    assert n_checked > 60


def test_arith_answers_recompute():
    for r in rows("local_arith_exact") + rows("local_arith_exact", "dev"):
        solution, final = r["answer"].rsplit("\n#### ", 1)
        for expr, value in re.findall(r"(\d+(?: [-+*/] \d+)+) = (\d+)", solution):
            assert eval(expr) == int(value), r          # noqa: S307 (digits and operators only)
        assert solution.rstrip(". ").split(" = ")[-1].split()[0] == final


def test_commonsense_correct_ending_is_the_next_script_step():
    steps = {label: [s.replace("{pos}", "X") for s in ss] for label, ss in SCRIPTS.items()}
    for r in rows("local_commonsense_completion"):
        norm = lambda t: re.sub(r"\b(his|her)\b", "X", t).rstrip(".")        # noqa: E731
        script = steps[r["activity_label"]]
        ctx_step = norm(r["ctx"].split(". ")[0].split(" ", 1)[1])
        i = script.index(ctx_step)
        assert norm(r["endings"][r["label"]]) == script[i + 1]
        for k, e in enumerate(r["endings"]):
            if k != r["label"]:
                assert norm(e) not in script          # wrong endings come from other scripts


def _prime(n):
    return n > 1 and all(n % d for d in range(2, int(n ** 0.5) + 1))


def test_hard_answers_recompute():
    checked = 0
    for r in rows("local_hard_mcq"):
        choices = [r[f"choice{i}"] for i in range(1, 5)]
        answer, q = choices[r["answer"]], r["Question"]
        assert len(set(choices)) == 4
        if r["subject"] == "prime":
            assert [_prime(int(c)) for c in choices].count(True) == 1 and _prime(int(answer))
        elif r["subject"] == "weekday":
            day, n = re.match(r"If today is (\w+), .* (\d+) days", q).groups()
            assert answer == facts.DAYS[(facts.DAYS.index(day) + int(n)) % 7]
        elif r["subject"] == "fraction":
            assert Fraction(answer) == max(Fraction(c) for c in choices)
        elif r["subject"] == "remainder":
            a, b = map(int, re.findall(r"\d+", q))
            assert int(answer) == a % b
        elif r["subject"] == "minutes":
            h, m = map(int, re.findall(r"\d+", q))
            assert int(answer) == 60 * h + m
        else:
            continue
        checked += 1
    assert checked > 80


class _KeyedLM:
    """An lm-eval LM that knows the answer key: the right choice (or the reverse) gets the
    highest log-likelihood; generations print the gold ``#### N`` (or a wrong number)."""

    def __new__(cls, invert=False):
        from lm_eval.api.model import LM

        class Keyed(LM):
            def loglikelihood(self, requests):
                out = []
                for r in requests:
                    gold = r.doc.get("answer", r.doc.get("label"))
                    right = r.idx == int(gold)
                    out.append((0.0 if right != invert else -10.0, right != invert))
                return out

            def loglikelihood_rolling(self, requests):
                raise NotImplementedError

            def generate_until(self, requests):
                gold = [r.doc["answer"].split("#### ")[-1] for r in requests]
                return [f" So #### {int(g) + 1 if invert else g}" for g in gold]
        return Keyed()


@pytest.mark.parametrize("invert", [False, True])
def test_lm_eval_scores_local_suites_from_the_package(invert, tmp_path, monkeypatch):
    import lm_eval
    from lm_eval.tasks import TaskManager
    from realignbench.bench.capability import summarise
    monkeypatch.chdir(tmp_path)            # task data must resolve from any working directory
    tm = TaskManager(include_path=str(TASK_DIR), include_defaults=False)
    res = lm_eval.simple_evaluate(model=_KeyedLM(invert), tasks=LOCAL, task_manager=tm,
                                  limit=12, log_samples=True, bootstrap_iters=0)
    out = summarise(res, LOCAL, n_boot=50)
    for name in LOCAL:
        m = out["metrics"][name]
        assert m["n"] == 12
        assert m["value"] == (0.0 if invert else 1.0), name
        assert out["suites"][name]["chance"] == SUITES[name].chance
        assert out["suites"][name]["lm_eval_value"] == m["value"]
    assert res["n-shot"]["local_knowledge_mcq"] == 0
    assert res["n-shot"]["local_arith_exact"] == 4

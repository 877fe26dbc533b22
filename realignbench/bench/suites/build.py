"""Write the local capability suites' JSONL files (deterministic; shipped with the package).

``python -m realignbench.bench.suites.build [--out DIR] [--check]`` regenerates them;
``--check`` fails if the shipped files differ from what the generators produce now.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from realignbench.bench.suites import arith, commonsense, hard, knowledge

BUILDERS = {
    "local_knowledge_mcq": knowledge.build,
    "local_arith_exact": arith.build,
    "local_commonsense_completion": commonsense.build,
    "local_hard_mcq": hard.build,
}
DATA_DIR = Path(__file__).parent / "tasks" / "data"


def render(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)


def expected_files(seed: int = 0) -> dict[str, str]:
    """File name -> exact content the generators produce for ``seed``."""
    out = {}
    for suite, builder in BUILDERS.items():
        for split, rows in builder(seed).items():
            out[f"{suite}.{split}.jsonl"] = render(rows)
    return out


def write(out_dir: Path = DATA_DIR, seed: int = 0) -> list[Path]:
    from realignbench.runs import atomic_write_text
    paths = []
    for name, text in expected_files(seed).items():
        atomic_write_text(out_dir / name, text)
        paths.append(out_dir / name)
    return paths


def check(out_dir: Path = DATA_DIR, seed: int = 0) -> list[str]:
    """Names of shipped files that are missing or differ from a fresh generation."""
    bad = []
    for name, text in expected_files(seed).items():
        path = out_dir / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            bad.append(name)
    return bad


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=DATA_DIR)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    if args.check:
        bad = check(args.out)
        print("suites up to date" if not bad else f"stale suite files: {bad}")
        return 1 if bad else 0
    for path in write(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

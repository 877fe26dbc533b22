"""lm-eval ``custom_dataset`` loader for the local suites (paths resolve beside this file,
so the task YAMLs work from any working directory and need no hub access)."""
from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).parent / "data"


def load(suite: str, **_ignored):
    """The suite's splits as a ``datasets.DatasetDict`` (``test``, and ``dev`` if shipped)."""
    import datasets
    splits = {}
    for split in ("test", "dev"):
        path = DATA / f"{suite}.{split}.jsonl"
        if path.exists():
            with open(path, encoding="utf-8") as f:
                splits[split] = datasets.Dataset.from_list([json.loads(x) for x in f if x.strip()])
    if "test" not in splits:
        raise FileNotFoundError(f"{DATA / (suite + '.test.jsonl')}: local suite data missing")
    return datasets.DatasetDict(splits)

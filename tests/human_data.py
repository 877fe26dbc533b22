"""Small generation files for the human-evaluation tests."""
import json
from pathlib import Path

METHODS = ["dpo_gold", "trace", "u2a"]
XSS = ('<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2; alert(1)">'
       ' & "quotes"')


def write_generations(folder: Path, n: int = 4, compliant: dict | None = None,
                      xss_item: int | None = None) -> dict[str, Path]:
    """One JSONL per method; ``compliant[method][i]`` adds oracle verdicts."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for m_i, m in enumerate(METHODS):
        rows = []
        for i in range(n):
            text = f"Answer number {i} from system {m_i}."
            if xss_item == i and m == "trace":
                text = XSS
            prompt = f"Question {i}: what should I do?" + (" " + XSS if xss_item == i else "")
            row = {"prompt_id": f"p{i:02d}", "prompt": prompt, "text": text}
            if compliant is not None:
                row["compliant"] = compliant[m][i]
            rows.append(row)
        paths[m] = folder / f"{m}.jsonl"
        paths[m].write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return paths

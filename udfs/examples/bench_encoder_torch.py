#!/usr/bin/env python3
"""PyTorch counterpart of udfs/examples/bench_encoder.rs.

Encodes the passages the Rust bench wrote (one per line) as ColBERT
documents with transformers on the CPU: ". " + text, [unused1] marker,
truncation at doc_maxlen 180, punctuation skiplist, L2 normalisation; once per
passage, then in length-sorted batches of 8, 32 and 128 padded per batch.
Prints the same markdown table.

    cargo run -p nodefusion-udfs --example bench_encoder -- --threads 2
    python udfs/examples/bench_encoder_torch.py target/bench_encoder_passages.txt --threads 2 [MODEL_DIR]
"""
import argparse
import os
import string
import time
from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer

DOC_MAXLEN = 180
BATCH_SIZES = [8, 32, 128]


def default_model_dir():
    root = os.environ.get("NODEFUSION_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "nodefusion"
    )
    return Path(root) / "models" / "all-MiniLM-L6-v2"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("passages")
    parser.add_argument("model_dir", nargs="?", default=default_model_dir())
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    texts = Path(args.passages).read_text(encoding="utf-8").splitlines()
    tok = AutoTokenizer.from_pretrained(args.model_dir)
    model = AutoModel.from_pretrained(args.model_dir).eval()
    marker = tok.convert_tokens_to_ids("[unused1]")
    skip = torch.tensor(
        sorted({tok.encode(c, add_special_tokens=False)[0] for c in string.punctuation})
    )

    def encode(batch):
        enc = tok(
            [". " + t for t in batch],
            padding="longest",
            truncation=True,
            max_length=DOC_MAXLEN,
            return_tensors="pt",
        )
        ids, mask = enc["input_ids"], enc["attention_mask"]
        ids[:, 1] = marker
        with torch.inference_mode():
            hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
        vectors = torch.nn.functional.normalize(hidden, p=2, dim=-1)
        keep = mask.bool() & ~torch.isin(ids, skip)
        return [v[k] for v, k in zip(vectors, keep)]

    lengths = [
        len(tok(". " + t, truncation=True, max_length=DOC_MAXLEN)["input_ids"]) for t in texts
    ]
    tokens = sum(lengths)
    encode(texts[:16])  # warm-up

    rows = []
    start = time.perf_counter()
    singles = [encode([t])[0] for t in texts]
    rows.append(("(a) one passage per call", time.perf_counter() - start))

    order = sorted(range(len(texts)), key=lambda i: -lengths[i])
    for size in BATCH_SIZES:
        start = time.perf_counter()
        out = [None] * len(texts)
        for at in range(0, len(order), size):
            chunk = order[at : at + size]
            for i, v in zip(chunk, encode([texts[i] for i in chunk])):
                out[i] = v
        rows.append((f"(b) batch {size}", time.perf_counter() - start))
        worst = max(float((a - b).abs().max()) for a, b in zip(singles, out))
        assert worst < 1e-4, f"batch {size} differs by {worst}"

    print(
        f"all-MiniLM-L6-v2 (PyTorch {torch.__version__}, CPU), {len(texts)} passages, "
        f"{tokens} model tokens ({tokens / len(texts):.1f}/passage), {args.threads} threads, "
        f"doc_maxlen {DOC_MAXLEN}\n"
    )
    print("| variant | passages/s | tokens/s | vs (a) |")
    print("|---|---:|---:|---:|")
    base = rows[0][1]
    for name, seconds in rows:
        print(
            f"| {name} | {len(texts) / seconds:.1f} | {tokens / seconds:.0f} | {base / seconds:.2f}x |"
        )


if __name__ == "__main__":
    main()

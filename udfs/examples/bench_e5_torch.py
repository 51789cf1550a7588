#!/usr/bin/env python3
"""PyTorch side of udfs/examples/bench_vs_torch.rs: multilingual-e5-small in
transformers, f32, on the token ids the Rust encoder prepared.

Reads one JSON object per line ({"ids": [...], "pooled": [...]}, written by
the Rust bench), runs the model in length-sorted batches padded per batch
(the usual transformers way), L2-normalises every token vector and the
attended mean, as the Rust encoder does, and prints one JSON object: the
seconds, tokens, texts, threads, versions, and the lowest cosine between its
pooled vectors and the Rust ones (a check that both ran the same model).

    python udfs/examples/bench_e5_torch.py IDS.jsonl MODEL_DIR --threads 2 --batch 32 [--bf16]

`--bf16` runs the model under `torch.autocast("cpu", dtype=torch.bfloat16)`,
PyTorch's mixed precision: its matrix products in bf16 (oneDNN, on AMX
where the CPU has it), the rest in f32.

Tokenisation is not timed here (the ids come prepared); the Rust time
includes it.
"""
import argparse
import json
import time

import torch
import transformers
from transformers import AutoModel


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("ids")
    parser.add_argument("model_dir")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--bf16", action="store_true")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    records = [json.loads(line) for line in open(args.ids, encoding="utf-8")]
    model = AutoModel.from_pretrained(args.model_dir, torch_dtype=torch.float32).eval()
    pad = model.config.pad_token_id

    def encode(batch):
        longest = max(len(r["ids"]) for r in batch)
        ids = torch.full((len(batch), longest), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), longest), dtype=torch.long)
        for row, r in enumerate(batch):
            ids[row, : len(r["ids"])] = torch.tensor(r["ids"])
            mask[row, : len(r["ids"])] = 1
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state.float()
            tokens = torch.nn.functional.normalize(hidden, p=2, dim=-1)
            weights = mask.unsqueeze(-1).float()
            pooled = (hidden * weights).sum(1) / weights.sum(1)
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=-1)
        return [t[: len(r["ids"])] for t, r in zip(tokens, batch)], pooled

    order = sorted(range(len(records)), key=lambda i: -len(records[i]["ids"]))
    encode([records[i] for i in order[: args.batch]])  # warm-up

    pooled = [None] * len(records)
    start = time.perf_counter()
    for at in range(0, len(order), args.batch):
        chunk = order[at : at + args.batch]
        _, vectors = encode([records[i] for i in chunk])
        for i, v in zip(chunk, vectors):
            pooled[i] = v
    seconds = time.perf_counter() - start

    cosines = [float(torch.dot(p, torch.tensor(r["pooled"]))) for p, r in zip(pooled, records)]
    print(
        json.dumps(
            {
                "seconds": seconds,
                "texts": len(records),
                "tokens": sum(len(r["ids"]) for r in records),
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "min_cosine": min(cosines),
                "bf16": args.bf16,
            }
        )
    )


if __name__ == "__main__":
    main()

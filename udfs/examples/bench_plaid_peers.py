"""fast-plaid (lightonai, CPU) on the embeddings `bench_plaid_peers` wrote.

Run by `cargo run -p nodefusion-udfs --example bench_plaid_peers -- --python
PYTHON`, which needs `pip install fast-plaid` in that Python. Two modes, each
printing one JSON object on stdout:

    python bench_plaid_peers.py build DIR --nbits 4 --threads 2
    python bench_plaid_peers.py search DIR --nbits 4 --threads 1 [--ivf-probe 8] [--full-scores 4096]

`build` indexes DIR/docs.f32 (all passages' token vectors, one after
another) cut by DIR/docs.lens into DIR/fast-plaid-nbits<N>/, and reports the
build's seconds and the index's bytes on disk. `search` loads that index,
searches DIR/queries.f32 for the top 10 of every query (one warm-up round,
then the best of `--rounds` rounds) with fast-plaid's `n_ivf_probe` and
`n_full_scores` (its defaults: 8 and 4096), and reports the seconds and the
top-10 overlap with DIR/truth.u32, the exhaustive MaxSim top 10 nodefusion
computed.
`--threads` sets torch's threads and fast-plaid's query workers; the caller
also pins the process to that many cores.
"""

import argparse
import json
import os
import shutil
import sys
import time

import numpy as np
import torch


def read_multivectors(folder, name, dim):
    lens = np.fromfile(os.path.join(folder, f"{name}.lens"), dtype="<u4").astype(np.int64)
    flat = np.fromfile(os.path.join(folder, f"{name}.f32"), dtype="<f4")
    if flat.size != int(lens.sum()) * dim:
        sys.exit(f"{name}.f32 holds {flat.size} floats, {name}.lens says {int(lens.sum())} tokens of {dim}")
    tokens = torch.from_numpy(flat.reshape(-1, dim))
    return list(torch.split(tokens, lens.tolist()))


def folder_bytes(path):
    return sum(
        os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["build", "search"])
    parser.add_argument("folder")
    parser.add_argument("--nbits", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ivf-probe", type=int, default=8)
    parser.add_argument("--full-scores", type=int, default=4096)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    from fast_plaid import search as fp

    with open(os.path.join(args.folder, "meta.json")) as f:
        meta = json.load(f)
    dim, k = meta["dim"], meta["k"]
    index_dir = os.path.join(args.folder, f"fast-plaid-nbits{args.nbits}")

    if args.mode == "build":
        docs = read_multivectors(args.folder, "docs", dim)
        shutil.rmtree(index_dir, ignore_errors=True)
        start = time.perf_counter()
        fp.FastPlaid(index=index_dir, device="cpu").create(documents_embeddings=docs, nbits=args.nbits)
        seconds = time.perf_counter() - start
        from importlib.metadata import version

        built = {"seconds": seconds, "bytes": folder_bytes(index_dir), "torch": torch.__version__}
        print(json.dumps(built | {"version": version("fast-plaid")}))
        return

    queries = read_multivectors(args.folder, "queries", dim)
    truth = np.fromfile(os.path.join(args.folder, "truth.u32"), dtype="<u4").reshape(len(queries), k)
    index = fp.FastPlaid(index=index_dir, device="cpu")

    def run():
        return index.search(
            queries_embeddings=queries,
            top_k=k,
            n_ivf_probe=args.ivf_probe,
            n_full_scores=args.full_scores,
            show_progress=False,
            n_processes=args.threads,
        )

    run()  # warm-up: loads the index
    best, hits = float("inf"), None
    for _ in range(args.rounds):
        start = time.perf_counter()
        hits = run()
        best = min(best, time.perf_counter() - start)
    overlap = np.mean(
        [len({doc for doc, _ in got[:k]} & set(want.tolist())) / k for got, want in zip(hits, truth)]
    )
    print(json.dumps({"seconds": best, "queries": len(queries), "overlap": float(overlap)}))


if __name__ == "__main__":
    main()

"""bm25s on the tokens written by bench_retrieval.rs, for a side-by-side number.

    cargo run -p nodefusion-udfs --example bench_retrieval -- --skip-plaid --bm25s-out /tmp/bm25s.json
    pip install bm25s
    python udfs/examples/bench_bm25s.py /tmp/bm25s.json

Same tokens, same parameters (Lucene idf, k1 1.5, b 0.75), top 10. Prints a
markdown table like the Rust bench.
"""

import json
import sys
import time

import bm25s


def main():
    data = json.load(open(sys.argv[1], encoding="utf-8"))
    corpus, queries, k = data["corpus_tokens"], data["query_tokens"], data["k"]

    t = time.perf_counter()
    retriever = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
    retriever.index(corpus, show_progress=False)
    build = time.perf_counter() - t

    # Queries must only hold known terms for bm25s; drop unknown ones (they
    # score nothing in BM25 anyway) and keep at least one token.
    vocab = retriever.vocab_dict
    known = [[w for w in q if w in vocab] or [next(iter(vocab))] for q in queries]

    rows = []
    for threads in (0, -1):
        t = time.perf_counter()
        retriever.retrieve(known, k=k, n_threads=threads, show_progress=False)
        took = time.perf_counter() - t
        rows.append((threads, took))

    print(f"### bm25s {bm25s.__version__} on the same tokens\n")
    print(f"{len(corpus)} docs, {len(queries)} queries, top {k}.\n")
    print("| step | time | queries/s |")
    print("|---|---:|---:|")
    print(f"| build from tokens | {build * 1e3:.1f} ms | |")
    for threads, took in rows:
        label = "1 thread" if threads == 0 else "all threads (n_threads=-1)"
        print(f"| search tokens, {label} | {took * 1e3:.1f} ms | {len(queries) / took:.0f} |")


if __name__ == "__main__":
    main()

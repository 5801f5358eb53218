#!/usr/bin/python3
"""SentencePiece BPE tokenizer for the corpus, in the form llama.cpp's `llama` (SPM) tokenizer reproduces exactly.

  tokenizer.py DATA_DIR OUT_PREFIX [VOCAB]     trains on DATA_DIR/train.txt only; writes OUT_PREFIX.model/.vocab
  tokenizer.py --cases DATA_DIR MODEL OUT.json  test strings with SentencePiece's ids (for Panamax's tests)

Why these options: llama.cpp's SPM tokenizer is the BPE merge loop over piece scores (not unigram Viterbi), it
prepends one space and maps spaces to U+2581 without other normalization, and it falls back to <0xXX> byte pieces.
So: model_type=bpe, identity normalization, add_dummy_prefix, no whitespace collapsing, byte_fallback; ids
0/1/2 = <unk>/<s>/</s> as in Llama's tokenizer.model.
"""
import io
import sys

import sentencepiece as spm

# llama.cpp's llama_token_type (gguf-py TokenType)
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


def train(data_dir, prefix, vocab=4096):
    # one verse per line is one SentencePiece "sentence"; blank chapter separators are skipped
    with open(data_dir + "/train.txt", encoding="utf-8") as f:
        verses = [l for l in f.read().split("\n") if l]
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(verses), model_prefix=prefix, vocab_size=vocab, model_type="bpe",
        character_coverage=1.0, byte_fallback=True, normalization_rule_name="identity",
        add_dummy_prefix=True, remove_extra_whitespaces=False, split_digits=True,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, num_threads=1, minloglevel=2)


def gguf_vocab(model_path):
    """The tokenizer.* keys of a GGUF file, as llama.cpp's converter derives them from a tokenizer.model."""
    sp = spm.SentencePieceProcessor(model_file=model_path)
    tokens, scores, types = [], [], []
    for i in range(sp.vocab_size()):
        tokens.append(sp.id_to_piece(i))
        scores.append(sp.get_score(i))
        if sp.is_unknown(i):
            types.append(UNKNOWN)
        elif sp.is_control(i):
            types.append(CONTROL)
        elif sp.is_byte(i):
            types.append(BYTE)
        elif sp.is_unused(i):
            types.append(UNUSED)
        else:
            types.append(NORMAL)
    return {
        "tokenizer.ggml.model": "llama",
        "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.scores": scores,
        "tokenizer.ggml.token_type": types,
        "tokenizer.ggml.bos_token_id": sp.bos_id(),
        "tokenizer.ggml.eos_token_id": sp.eos_id(),
        "tokenizer.ggml.unknown_token_id": sp.unk_id(),
        "tokenizer.ggml.add_bos_token": True,
        "tokenizer.ggml.add_eos_token": False,
    }


# Beyond the corpus: spacing, newlines, digits, characters the KJV lacks (byte fallback), pieces' edges.
EDGE_CASES = ["And God said", " And God said", "And  God   said ", "\n\nAnd it came to pass,\n\tthat", "in the year 1611, 2 Kings 3:14",
              "caf\u00e9 na\u00efve \u2014 \u201cquoted\u201d", "\u6771\u4eac \U0001F642 \u0416", "LORD LORD'S lord's", "a", " ",
              "Ye shall know them by their fruits.", "ZZZ qqq xxx", "<s> </s> <unk> are plain text here",
              "hello world, the quick brown fox jumps over the lazy dog"]


def cases(data_dir, model_path, out_path, n_verses=60):
    """Strings and SentencePiece's ids for them (no BOS): held-out verses spread over the held-out chapters, then
    EDGE_CASES. Panamax's tokenizer test reads this file."""
    import json
    sp = spm.SentencePieceProcessor(model_file=model_path)
    with open(data_dir + "/heldout.txt", encoding="utf-8") as f:
        verses = [l for l in f.read().split("\n") if l]
    step = max(1, len(verses) // n_verses)
    texts = verses[::step][:n_verses] + EDGE_CASES
    with open(out_path, "w", encoding="utf-8") as f:
        f.write("[\n" + ",\n".join(json.dumps({"text": t, "ids": sp.encode(t)}, ensure_ascii=False) for t in texts)
                + "\n]\n")


if __name__ == "__main__":
    if sys.argv[1] == "--cases":
        cases(sys.argv[2], sys.argv[3], sys.argv[4])
        sys.exit(0)
    train(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 4096)
    sp = spm.SentencePieceProcessor(model_file=sys.argv[2] + ".model")
    print("vocab", sp.vocab_size(), sp.encode("And God said, Let there be light: and there was light.", out_type=str))

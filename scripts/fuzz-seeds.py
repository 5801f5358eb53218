#!/usr/bin/env python3
"""Writes the seed inputs of the Jazzer fuzz targets (java/src/test/resources/.../*Inputs/*/seed-*): small valid GGUF
files with every value type, tensor types and layouts, and the tokenizer and chat-template seeds. Deterministic; rerun
after changing it. Crash reproducers that fuzzing finds are added beside the seeds by hand (scripts/fuzz.sh says how)."""
import os, struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "java", "src", "test", "resources", "dev", "panamax")

def s(x):
    b = x.encode() if isinstance(x, str) else x
    return struct.pack("<Q", len(b)) + b

def kv(key, t, val):
    return s(key) + struct.pack("<I", t) + val

def arr(et, items, enc):
    return struct.pack("<IQ", et, len(items)) + b"".join(enc(i) for i in items)

def gguf(kvs, tensors, version=3, align=32):
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs)) + b"".join(kvs)
    data = b""
    infos = b""
    for name, dims, typ, payload in tensors:
        data += b"\0" * ((-len(data)) % align)
        infos += s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", typ, len(data))
        data += payload
    out += infos
    if tensors:
        out += b"\0" * ((-len(out)) % align)
    return out + data

def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

tokens = ["<unk>", "<s>", "</s>", "<0x41>", "▁", "▁a", "a", "b", "ab", "<|im_start|>"]
every_type = [
    kv("general.architecture", 8, s("llama")),
    kv("u8", 0, b"\x07"), kv("i8", 1, b"\xf9"), kv("u16", 2, struct.pack("<H", 7)), kv("i16", 3, struct.pack("<h", -7)),
    kv("u32", 4, struct.pack("<I", 7)), kv("i32", 5, struct.pack("<i", -7)), kv("f32", 6, struct.pack("<f", 1.5)),
    kv("b", 7, b"\x01"), kv("u64", 10, struct.pack("<Q", 7)), kv("i64", 11, struct.pack("<q", -7)),
    kv("f64", 12, struct.pack("<d", 2.5)),
    kv("tokenizer.ggml.tokens", 9, arr(8, tokens, s)),
    kv("tokenizer.ggml.scores", 9, arr(6, range(len(tokens)), lambda i: struct.pack("<f", -i))),
    kv("tokenizer.ggml.token_type", 9, arr(5, [2, 3, 3, 6, 1, 1, 1, 1, 1, 4], lambda i: struct.pack("<i", i))),
    kv("nest", 9, struct.pack("<IQ", 9, 1) + arr(8, ["x"], s)),
]
q8 = struct.pack("<e", 0.5) + bytes(range(32))
write("gguf/GgufFuzzTestInputs/parse", "seed-every-type", gguf(every_type, [
    ("a", [3, 2], 0, struct.pack("<6f", *range(6))), ("q", [32], 8, q8)]))
write("gguf/GgufFuzzTestInputs/parse", "seed-v2-metadata-only", gguf([kv("general.name", 8, s("x"))], [], version=2))
write("gguf/GgufFuzzTestInputs/parse", "seed-aligned-64", gguf(
    [kv("general.alignment", 4, struct.pack("<I", 64))],
    [("e", [0, 3], 0, b""), ("h", [4, 1, 1, 1], 1, b"\0" * 8), ("b", [2], 30, b"\0" * 4)], align=64))

# tokenizer target: the first byte picks the vocabulary, the rest is the text (see TokenizerFuzzTest)
for i, text in enumerate(["Hello world", " leading  spaces\n\ttabs", "é 中文 😀 <s></s><|im_start|>", "ab ab ab 123 4567 don't",
                          "<0x41>\u2581a"]):
    for v in range(3):
        write("tokenizer/TokenizerFuzzTestInputs/encodeDecode", f"seed-{v}-{i}", bytes([v]) + text.encode())

templates = [
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
    "{{ bos_token }}{% for m in messages %}{% if m.role == 'user' %}[INST] {{ m.content.strip() }} [/INST]{% elif m.role == 'assistant' %}{{ m.content }}{{ eos_token }}{% else %}{{ raise_exception('roles') }}{% endif %}{% endfor %}",
    "{% set ns = namespace(sys='') %}{% for m in messages %}{% if m.role == 'system' %}{% set ns.sys = m.content %}{% endif %}{% endfor %}{{ ns.sys|tojson }}{{ messages|length }}{{ (messages|last).content|upper }}",
    "{% macro r(n) %}{% if n > 0 %}{{ n }}{{ r(n - 1) }}{% endif %}{% endmacro %}{{ r(3) }}{{ range(3)|join(',') }}{{ 'a,b'.split(',') }}",
]
for i, t in enumerate(templates):
    write("tokenizer/ChatTemplateFuzzTestInputs/render", f"seed-{i}", t.encode())
# grammar targets: the text, a zero byte, then bytes that choose the tokens of the walk (see GrammarFuzzTest)
import glob, json
res = os.path.join(ROOT, "..", "..", "grammar")
choices = bytes(range(7, 7 * 17, 7))
for f in sorted(glob.glob(os.path.join(res, "*.gbnf"))):
    write("grammar/GrammarFuzzTestInputs/gbnf", "seed-" + os.path.basename(f)[:-5], open(f, "rb").read() + b"\0" + choices)
write("grammar/GrammarFuzzTestInputs/gbnf", "seed-tokens", b'root ::= <[3]> [a-z]{2,4} !<[5]> ("x" | <s>)* [^\\x00-\\x7F]?' + b"\0" + choices)
for f in sorted(glob.glob(os.path.join(res, "schemas", "*.json"))):
    write("grammar/GrammarFuzzTestInputs/schema", "seed-" + os.path.basename(f)[:-5], open(f, "rb").read() + b"\0" + choices)
for i, case in enumerate(json.load(open(os.path.join(res, "llamacpp-json-schema-to-grammar.json")))):
    write("grammar/GrammarFuzzTestInputs/schema", f"seed-llamacpp-{i:02d}", case["schema"].encode() + b"\0" + choices)
# request target: the first byte picks the endpoint (RequestFuzzTest.PATHS; high bit: chunked), the rest is the body
requests = [
    (0, '{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"max_tokens":3,"temperature":0.7,"top_p":0.9,"seed":1,"n":2}'),
    (0, '{"messages":[{"role":"user","content":[{"type":"text","text":"json"}]}],"max_tokens":4,"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object","properties":{"a":{"type":"integer"}}}}},"logprobs":true,"top_logprobs":2}'),
    (0, '{"messages":[{"role":"user","content":"call"}],"max_tokens":6,"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"q":{"type":"string"}},"required":["q"]}}}],"tool_choice":"required"}'),
    (0x80, '{"messages":[{"role":"user","content":"s"}],"max_tokens":2,"stream":true,"stream_options":{"include_usage":true},"stop":["x","\\n"],"logit_bias":{"5":-100}}'),
    (1, '{"prompt":"Once upon","max_tokens":3,"echo":true,"logprobs":2,"grammar":"root ::= [a-z]+","frequency_penalty":0.5,"presence_penalty":-0.5}'),
    (1, '{"prompt":[[1,2,3],"text"],"max_tokens":2,"n":2,"ignore_eos":true,"min_p":0.1,"top_k":5,"repeat_penalty":1.1}'),
    (2, '{"content":"hello <s> world","add_special":false,"parse_special":true}'),
    (3, '{"tokens":[1,2,3,100]}'),
    (4, '{"input":["hello world","the cat"],"encoding_format":"base64"}'),
    (4, '{"input":[[1,2,3]],"model":"tiny-bert","dimensions":8}'),
    (5, '{"query":"what","documents":["a","b","c"],"top_n":2}'),
    (0, '{"messages":[{"role":"user","content":"x"}],"max_tokens":-1,"n":1e400}'),
]
for i, (sel, body) in enumerate(requests):
    write("../../../../../../server/src/test/resources/dev/panamax/server/RequestFuzzTestInputs/post", f"seed-{i:02d}", bytes([sel]) + body.encode())
print("seeds written under", ROOT)

#!/usr/bin/env python3
"""Writes the chat-template test data for ChatTemplateTest (java/src/test/resources/dev/panamax/tokenizer/chat-templates.json).

Two sources, both from llama.cpp's source tree (LLAMA_CPP=/path/to/llama.cpp):
  * the cases of tests/test-chat-template.cpp: template strings and the outputs llama.cpp expects from its Jinja path
    (expected_output_jinja, else expected_output), conversation as in that test;
  * real model templates from models/templates/*.jinja, rendered here with Python's jinja2 set up as Hugging Face
    transformers' apply_chat_template does (sandboxed, trim_blocks, lstrip_blocks, loopcontrols, tojson, raise_exception,
    strftime_now), plus llama.cpp's merge of the system message into the next one for templates without a system role.
Every case is also rendered with jinja2 and the script reports where llama.cpp's expectation and jinja2 disagree.
"""
import datetime
import json
import os
import re
import sys

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

SRC = os.environ.get("LLAMA_CPP", "/tmp/llamacpp-ref/src")
OUT = os.path.join(os.path.dirname(__file__), "..", "java", "src", "test", "resources", "dev", "panamax", "tokenizer",
                   "chat-templates.json")
NOW = datetime.datetime(2025, 1, 15, 12, 0, 0)  # ChatTemplateTest uses the same clock

CONVERSATION = [
    {"role": "system", "content": "You are a helpful assistant"},
    {"role": "user", "content": "Hello"},
    {"role": "assistant", "content": "Hi there"},
    {"role": "user", "content": "Who are you"},
    {"role": "assistant", "content": "   I am an assistant   "},
    {"role": "user", "content": "Another question"},
]

MODEL_TEMPLATES = [
    "meta-llama-Llama-3.1-8B-Instruct.jinja",
    "meta-llama-Llama-3.2-3B-Instruct.jinja",
    "Qwen-Qwen2.5-7B-Instruct.jinja",
    "Qwen-Qwen3-0.6B.jinja",
    "deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja",
    "deepseek-ai-DeepSeek-V3.1.jinja",
    "google-gemma-2-2b-it.jinja",
    "microsoft-Phi-3.5-mini-instruct.jinja",
    "mistralai-Mistral-Nemo-Instruct-2407.jinja",
    "HuggingFaceTB-SmolLM3-3B.jinja",
    "ibm-granite-granite-3.3-2B-Instruct.jinja",
]
# (bos, eos) of the model families
TOKENS = {
    "meta-llama": ("<|begin_of_text|>", "<|eot_id|>"),
    "Qwen": ("", "<|im_end|>"),
    "deepseek": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    "google": ("<bos>", "<eos>"),
    "microsoft": ("<s>", "<|endoftext|>"),
    "mistralai": ("<s>", "</s>"),
    "HuggingFaceTB": ("", "<|im_end|>"),
    "ibm": ("<|end_of_text|>", "<|end_of_text|>"),
}


def hf_render(template, messages, bos, eos, add_generation_prompt=True, tools=None):
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return NOW.strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    t = env.from_string(template)
    extra = {"tools": tools} if tools else {}
    return t.render(messages=messages, add_generation_prompt=add_generation_prompt, bos_token=bos, eos_token=eos, **extra)


def supports_system(template, bos, eos):
    needle = "System message 8c1f"
    try:
        out = hf_render(template, [{"role": "system", "content": needle}, {"role": "user", "content": "User message"}],
                        bos, eos)
        return needle in out
    except Exception:
        return False


def polyfill(template, messages, bos, eos):
    if messages and messages[0]["role"] == "system" and not supports_system(template, bos, eos):
        rest = [dict(m) for m in messages[1:]]
        if rest:
            rest[0]["content"] = messages[0]["content"] + "\n" + rest[0]["content"]
        return rest
    return messages


C_ESC = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0"}


def c_string(lit):
    out = []
    i = 0
    while i < len(lit):
        c = lit[i]
        if c == "\\":
            out.append(C_ESC[lit[i + 1]])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def c_value(text):
    """Concatenated C string literals (optionally inside U8C(...))."""
    return "".join(c_string(m) for m in re.findall(r'"((?:[^"\\]|\\.)*)"', text))


def llama_cpp_cases():
    src = open(os.path.join(SRC, "tests", "test-chat-template.cpp"), encoding="utf-8").read()
    body = src[src.index("std::vector<TestCase> test_cases {"):src.index("std::vector<char> formatted_chat")]
    cases = []
    for block in re.split(r"\n        \},?\n", body):
        if ".name=" not in block:
            continue
        fields = {}
        for key in ["name", "template_str", "expected_output", "expected_output_jinja", "bos_token", "eos_token",
                    "supported_with_jinja", "extra_conversation"]:
            m = re.search(r"/\* \." + key + r"=? \*/(.*?)(?=\n\s*/\* \.|\Z)", block, re.S)
            if m:
                fields[key] = m.group(1).strip().rstrip(",")
        if fields.get("supported_with_jinja", "true").startswith("false"):
            continue
        extra = []
        if "extra_conversation" in fields:
            pairs = re.findall(r'\{"((?:[^"\\]|\\.)*)",\s*"((?:[^"\\]|\\.)*)"\}', fields["extra_conversation"])
            extra = [{"role": c_string(r), "content": c_string(c)} for r, c in pairs]
        expected = c_value(fields.get("expected_output_jinja", "")) or c_value(fields["expected_output"])
        cases.append({
            "name": "llama.cpp test: " + c_value(fields["name"]),
            "template": c_value(fields["template_str"]),
            "bos_token": c_value(fields.get("bos_token", "")),
            "eos_token": c_value(fields.get("eos_token", "")),
            "messages": CONVERSATION + extra,
            "add_generation_prompt": True,
            "expected": expected.replace("\r\n", "\n"),
            "source": "llama.cpp tests/test-chat-template.cpp expected output",
        })
    return cases


def model_cases():
    cases = []
    for f in MODEL_TEMPLATES:
        template = open(os.path.join(SRC, "models", "templates", f), encoding="utf-8").read()
        bos, eos = next(v for k, v in TOKENS.items() if f.startswith(k))
        for agp, msgs in [(True, CONVERSATION), (False, CONVERSATION[:3]), (True, CONVERSATION[1:2])]:
            ms = polyfill(template, msgs, bos, eos)
            cases.append({
                "name": f"{f} ({len(msgs)} messages, add_generation_prompt={agp})",
                "template": template,
                "bos_token": bos,
                "eos_token": eos,
                "messages": msgs,
                "add_generation_prompt": agp,
                "expected": hf_render(template, ms, bos, eos, agp),
                "source": "jinja2 " + jinja2.__version__ + " as transformers' apply_chat_template",
            })
    return cases


TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"},
                                                        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                       "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "add", "description": "Adds two integers",
        "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                       "required": ["a", "b"]}}},
]
TOOL_CONVERSATION = [
    {"role": "system", "content": "You are a helpful assistant"},
    {"role": "user", "content": "What is the weather in Paris?"},
    {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call12345", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
    {"role": "tool", "content": "{\"temperature\": 21}", "tool_call_id": "call12345", "name": "get_weather"},
]
TOOL_TEMPLATES = [
    "meta-llama-Llama-3.1-8B-Instruct.jinja",
    "meta-llama-Llama-3.2-3B-Instruct.jinja",
    "meta-llama-Llama-3.3-70B-Instruct.jinja",
    "Qwen-Qwen2.5-7B-Instruct.jinja",
    "Qwen-Qwen3-0.6B.jinja",
    "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja",
    "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja",
    "deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja",
    "deepseek-ai-DeepSeek-V3.1.jinja",
    "mistralai-Mistral-Nemo-Instruct-2407.jinja",
]
TOOL_OUT = os.path.join(os.path.dirname(OUT), "chat-templates-tools.json")


def tool_cases():
    """Conversations with tools, a call and its result, rendered as apply_chat_template(tools=...) does."""
    cases = []
    tokens = dict(TOKENS, NousResearch=("<|begin_of_text|>", "<|im_end|>"))
    for f in TOOL_TEMPLATES:
        template = open(os.path.join(SRC, "models", "templates", f), encoding="utf-8").read()
        bos, eos = next(v for k, v in tokens.items() if f.startswith(k))
        for agp, msgs in [(True, TOOL_CONVERSATION), (True, TOOL_CONVERSATION[:2])]:
            ms = polyfill(template, msgs, bos, eos)
            cases.append({
                "name": f"{f} with tools ({len(msgs)} messages)",
                "template": template, "bos_token": bos, "eos_token": eos,
                "tools": TOOLS, "messages": msgs, "add_generation_prompt": agp,
                "expected": hf_render(template, ms, bos, eos, agp, TOOLS),
                "source": "jinja2 " + jinja2.__version__ + " as transformers' apply_chat_template(tools=...)",
            })
    return cases


def main():
    tc = tool_cases()
    with open(TOOL_OUT, "w", encoding="utf-8") as f:
        json.dump(tc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{len(tc)} tool cases -> {os.path.normpath(TOOL_OUT)}")
    cases = llama_cpp_cases()
    bad = 0
    for c in cases:
        try:
            mine = hf_render(c["template"], polyfill(c["template"], c["messages"], c["bos_token"], c["eos_token"]),
                             c["bos_token"], c["eos_token"])
        except Exception as e:
            mine = "<error %s>" % e
        if mine != c["expected"]:
            bad += 1
            print("jinja2 and llama.cpp differ:", c["name"], file=sys.stderr)
            print("  llama.cpp:", repr(c["expected"]), file=sys.stderr)
            print("  jinja2:   ", repr(mine), file=sys.stderr)
    cases += model_cases()
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{len(cases)} cases -> {os.path.normpath(OUT)} ({bad} llama.cpp cases differ from jinja2)")


if __name__ == "__main__":
    main()

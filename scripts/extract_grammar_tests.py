#!/usr/bin/env python3
"""Extracts llama.cpp's grammar test DATA (grammars, schemas, accepted and rejected strings) from its C++ test files into
JSON for GrammarLlamaCppCasesTest. Usage: extract_grammar_tests.py LLAMA_SRC/tests OUT_DIR
A token written token(N) in a test string becomes the marker \\u0001N\\u0001."""
import json, re, sys

def lex(src, i):
    """C++ string-ish expression at i: concatenation of literals and token(N); returns (value, end) or (None, i)."""
    parts = []
    while True:
        while i < len(src) and src[i] in ' \t\r\n': i += 1
        if src.startswith('R"""(', i):
            j = src.index(')"""', i)
            parts.append(src[i + 5:j]); i = j + 4
        elif src.startswith('"', i):
            j = i + 1; s = []
            while src[j] != '"':
                if src[j] == '\\':
                    c = src[j + 1]
                    if c == 'x':
                        m = re.match(r'[0-9a-fA-F]+', src[j + 2:]); s.append(chr(int(m.group(0), 16))); j += 2 + len(m.group(0)); continue
                    if c == 'u':
                        s.append(chr(int(src[j + 2:j + 6], 16))); j += 6; continue
                    s.append({'n': '\n', 't': '\t', 'r': '\r', '"': '"', '\\': '\\', '0': '\0'}[c]); j += 2
                else:
                    s.append(src[j]); j += 1
            parts.append(''.join(s)); i = j + 1
        elif src.startswith('token(', i):
            j = src.index(')', i); parts.append('\u0001' + src[i + 6:j] + '\u0001'); i = j + 1
        else:
            break
        k = i
        while k < len(src) and src[k] in ' \t\r\n': k += 1
        if k < len(src) and src[k] == '+': i = k + 1
        else: break
    return (''.join(parts) if parts else None), i

def skip_ws_comments(src, i):
    while True:
        while i < len(src) and src[i] in ' \t\r\n,': i += 1
        if src.startswith('//', i): i = src.index('\n', i)
        else: return i

def string_list(src, i):
    i = skip_ws_comments(src, i)
    assert src[i] == '{', src[i:i + 40]
    i += 1; out = []
    while True:
        i = skip_ws_comments(src, i)
        if src[i] == '}': return out, i + 1
        v, i = lex(src, i)
        assert v is not None, src[i:i + 60]
        out.append(v)

def integration(path):
    src = open(path, encoding='utf-8').read()
    cases = []
    for m in re.finditer(r'\n\s*test_(grammar|schema)\(', src):
        i = m.end()
        i = skip_ws_comments(src, i)
        desc, i = lex(src, i); i = skip_ws_comments(src, i)
        body, i = lex(src, i); i = skip_ws_comments(src, i)
        passing, i = string_list(src, i); i = skip_ws_comments(src, i)
        failing = []
        if src[i] == '{': failing, i = string_list(src, i)
        cases.append({'kind': m.group(1), 'desc': desc, 'text': body, 'passing': passing, 'failing': failing})
    return cases

def schema_cases(path):
    src = open(path, encoding='utf-8').read()
    cases = []
    for m in re.finditer(r'test\(\{\s*(SUCCESS|FAILURE),', src):
        i = skip_ws_comments(src, m.end())
        desc, i = lex(src, i); i = skip_ws_comments(src, i)
        schema, i = lex(src, i); i = skip_ws_comments(src, i)
        grammar, i = lex(src, i)
        cases.append({'expect': m.group(1), 'desc': desc, 'schema': schema, 'grammar': grammar or ''})
    return cases

tests, out = sys.argv[1], sys.argv[2]
json.dump(integration(tests + '/test-grammar-integration.cpp'), open(out + '/llamacpp-grammar-integration.json', 'w'), indent=1, ensure_ascii=False)
json.dump(schema_cases(tests + '/test-json-schema-to-grammar.cpp'), open(out + '/llamacpp-json-schema-to-grammar.json', 'w'), indent=1, ensure_ascii=False)

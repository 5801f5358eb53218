"""Minimal GGUF v3 writer (F32/F16 tensors, scalar and array metadata), so that exporting needs numpy only.

The layout is the one llama.cpp's gguf-py writes: header, key/values, tensor infos, data aligned to 32 bytes.
Tensor shapes are given in numpy order (slowest first) and stored reversed, as ggml's ne[] counts fastest first.
"""
import struct

import numpy as np

ALIGN = 32
# gguf value types
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
GGML_F32, GGML_F16 = 0, 1


def _str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _scalar(vtype, v):
    fmt = {U8: "B", I8: "b", U16: "H", I16: "h", U32: "I", I32: "i", F32: "f", BOOL: "?", U64: "Q", I64: "q", F64: "d"}
    return _str(v) if vtype == STR else struct.pack("<" + fmt[vtype], v)


def _infer(v):
    # explicit types for everything llama.cpp reads with a fixed type: ints are uint32, floats float32
    if isinstance(v, bool):
        return BOOL
    if isinstance(v, int):
        return U32
    if isinstance(v, float):
        return F32
    if isinstance(v, str):
        return STR
    raise TypeError(type(v))


class GgufWriter:
    def __init__(self, arch):
        self.kv = []
        self.tensors = []
        self.add("general.architecture", arch)

    def add(self, key, value, vtype=None):
        """A scalar, or a list (an array whose element type is inferred from its first element unless vtype)."""
        if isinstance(value, (list, tuple)):
            et = vtype if vtype is not None else _infer(value[0])
            body = struct.pack("<IQ", et, len(value)) + b"".join(_scalar(et, x) for x in value)
            self.kv.append(_str(key) + struct.pack("<I", ARR) + body)
        else:
            t = vtype if vtype is not None else _infer(value)
            self.kv.append(_str(key) + struct.pack("<I", t) + _scalar(t, value))

    def tensor(self, name, arr):
        arr = np.ascontiguousarray(arr)
        if arr.dtype == np.float32:
            t = GGML_F32
        elif arr.dtype == np.float16:
            t = GGML_F16
        else:
            raise TypeError(arr.dtype)
        self.tensors.append((name, arr, t))

    def write(self, path):
        infos, off = [], 0
        for name, arr, t in self.tensors:
            ne = list(reversed(arr.shape))
            infos.append(_str(name) + struct.pack("<I", len(ne)) + struct.pack("<%dQ" % len(ne), *ne) + struct.pack("<IQ", t, off))
            off += (arr.nbytes + ALIGN - 1) // ALIGN * ALIGN
        with open(path, "wb") as f:
            f.write(b"GGUF" + struct.pack("<IQQ", 3, len(self.tensors), len(self.kv)))
            for kv in self.kv:
                f.write(kv)
            for info in infos:
                f.write(info)
            f.write(b"\0" * (-f.tell() % ALIGN))
            for _, arr, _ in self.tensors:
                f.write(arr.tobytes())
                f.write(b"\0" * (-arr.nbytes % ALIGN))

"""Minimal GGUF v3 reader for the files gguf_write.py writes (F32/F16 tensors): metadata and tensors as numpy arrays
in numpy order (ggml's ne[] reversed), so a trained model can start from a committed file (train.py --init-from)."""
import struct

import numpy as np

_FMT = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_DTYPE = {0: np.float32, 1: np.float16}


def read(path):
    """-> (metadata {key: value}, tensors {name: numpy array}); raises ValueError for what it cannot read."""
    with open(path, "rb") as f:
        buf = f.read()
    if buf[:4] != b"GGUF" or struct.unpack_from("<I", buf, 4)[0] != 3:
        raise ValueError("%s: not a GGUF v3 file" % path)
    n_t, n_kv = struct.unpack_from("<QQ", buf, 8)
    pos = 24

    def string(pos):
        n = struct.unpack_from("<Q", buf, pos)[0]
        return buf[pos + 8:pos + 8 + n].decode("utf-8"), pos + 8 + n

    def value(pos, t):
        if t == 8:
            return string(pos)
        if t == 9:
            et, n = struct.unpack_from("<IQ", buf, pos)
            pos += 12
            out = []
            for _ in range(n):
                v, pos = value(pos, et)
                out.append(v)
            return out, pos
        v = struct.unpack_from("<" + _FMT[t], buf, pos)[0]
        return v, pos + struct.calcsize(_FMT[t])

    md = {}
    for _ in range(n_kv):
        k, pos = string(pos)
        md[k], pos = value(pos + 4, struct.unpack_from("<I", buf, pos)[0])
    infos = []
    for _ in range(n_t):
        name, pos = string(pos)
        nd = struct.unpack_from("<I", buf, pos)[0]
        ne = struct.unpack_from("<%dQ" % nd, buf, pos + 4)
        t, off = struct.unpack_from("<IQ", buf, pos + 4 + 8 * nd)
        pos += 4 + 8 * nd + 12
        if t not in _DTYPE:
            raise ValueError("%s: tensor %s has ggml type %d (only F32/F16 here)" % (path, name, t))
        infos.append((name, tuple(reversed(ne)), _DTYPE[t], off))
    align = md.get("general.alignment", 32)
    data = pos + (-pos % align)
    tensors = {}
    for name, shape, dt, off in infos:
        n = int(np.prod(shape))
        tensors[name] = np.frombuffer(buf, dtype=dt, count=n, offset=data + off).reshape(shape)
    return md, tensors

#!/usr/bin/env python3
# make_seed_corpus.py — regenerate the committed seed corpus of the safetensors fuzzer
# (tests/fuzz/corpus_safetensors/): valid_* files must validate, bad_* files must be rejected
# (tests/test_safetensors.cpp checks both). Plain Python 3, no packages.
#   python3 tests/fuzz/make_seed_corpus.py
import os
os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus_safetensors"))
import json, struct
def f(name, header, data=b"", pad=True):
    js = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    if pad: js += b" " * ((-len(js)) % 8)
    open(name, "wb").write(struct.pack("<Q", len(js)) + js + data)
a = struct.pack("<6f", *range(6)); i = struct.pack("<3i", 1, -2, 3)
f("valid_f32_i32_meta", {"__metadata__":{"format":"pt"},"a.w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"ids":{"dtype":"I32","shape":[3],"data_offsets":[24,36]}}, a+i)
d = b""; h = {}
def add(n, dt, shape, bs):
    global d
    h[n] = {"dtype":dt,"shape":shape,"data_offsets":[len(d), len(d)+len(bs)]}; d += bs
add("f64", "F64", [2], struct.pack("<2d", 1.5, -1e300))
add("f16", "F16", [4], struct.pack("<4H", 0x3C00, 0x0001, 0x7C00, 0x7E00))
add("bf16", "BF16", [2], struct.pack("<2H", 0x3F80, 0xFF80))
add("i64", "I64", [], struct.pack("<q", -5))
add("i16", "I16", [1,2], struct.pack("<2h", -1, 7))
add("i8", "I8", [2], struct.pack("<2b", -128, 127))
add("u8", "U8", [3], bytes([0,128,255]))
add("bool", "BOOL", [2], bytes([0,1]))
add("empty", "F32", [0], b"")
add("scalar", "F32", [], struct.pack("<f", 3.25))
f("valid_all_dtypes", h, d)
f("valid_empty", {}, b"")
f("valid_meta_only", {"__metadata__":{"k":"v","x":""}}, b"")
f("bad_overlap", {"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"u":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}, bytes(16))
f("bad_size_mismatch_long_name", {"t" * 240:{"dtype":"F16","shape":[3,2],"data_offsets":[0,8]}}, bytes(8))
f("bad_shape_overflow", {"t":{"dtype":"I64","shape":[4294967296,4294967296],"data_offsets":[0,16]}}, bytes(8))
f("bad_header_len", b'{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b"\x01", pad=False)
with open("bad_header_len","r+b") as fh: fh.write(struct.pack("<Q", 4096))
f("bad_json", b'{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]', bytes(4))
f("bad_dup_and_types", b'{"t":{"dtype":"F32","shape":[-1, 2.5],"data_offsets":[0,4]},"t":1,"__metadata__":{"a":1}}', bytes(4))

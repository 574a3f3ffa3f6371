#!/usr/bin/env python3
"""Draws eng/icon.png, the package icon: four bounded lanes, three busy and one idle, inside a frame.

Uses only the standard library, so it runs anywhere Python 3 does: python3 eng/make-icon.py
"""
import os
import struct
import zlib

SIZE = 128
BACKGROUND = (0x1E, 0x3A, 0x5F)
FRAME = (0xE8, 0xEE, 0xF4)
BUSY = (0x4C, 0xC3, 0x8A)
IDLE = (0x5A, 0x72, 0x8F)


def pixel(x, y):
    # A rounded-looking frame: 8 px border inset by 10 px.
    inset, border = 10, 8
    inside_outer = inset <= x < SIZE - inset and inset <= y < SIZE - inset
    inside_inner = inset + border <= x < SIZE - inset - border and inset + border <= y < SIZE - inset - border
    if inside_outer and not inside_inner:
        return FRAME
    if not inside_inner:
        return BACKGROUND
    # Four horizontal lanes; bar lengths say how far each worker got.
    top, lane, gap = 30, 12, 6
    lengths = [68, 52, 80, 0]
    for i, length in enumerate(lengths):
        y0 = top + i * (lane + gap)
        if y0 <= y < y0 + lane and 28 <= x < 100:
            return BUSY if x < 28 + length else IDLE
    return BACKGROUND


def png(width, height, rows):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(c for p in row for c in p) for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


rows = [[pixel(x, y) for x in range(SIZE)] for y in range(SIZE)]
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "icon.png")
with open(out, "wb") as f:
    f.write(png(SIZE, SIZE, rows))
print(out)

"""What an image is, read from its first bytes: format, width and height (stdlib only).

The client checks ``--image`` files by these magic bytes, not by their names, and the practice
server reads the same header to say what it received. No image library is imported.
"""

from __future__ import annotations

import struct
from typing import NamedTuple, Optional


class ImageHeader(NamedTuple):
    format: str  # PNG, JPEG, GIF, WEBP
    width: int
    height: int

    @property
    def mime(self) -> str:
        return "image/" + self.format.lower()


def read_header(data: bytes) -> Optional[ImageHeader]:
    """The header of a PNG, JPEG, GIF or WebP image; None for anything else."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return ImageHeader("PNG", width, height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return ImageHeader("GIF", width, height)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp(data)
    if data[:3] == b"\xff\xd8\xff":
        return _jpeg(data)
    return None


def _webp(data: bytes) -> Optional[ImageHeader]:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return ImageHeader("WEBP", width, height)
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return ImageHeader("WEBP", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return ImageHeader("WEBP", width & 0x3FFF, height & 0x3FFF)
    return ImageHeader("WEBP", 0, 0)


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg(data: bytes) -> Optional[ImageHeader]:
    """Walk the JPEG segments to the frame header (SOFn), which holds the size."""
    at = 2
    while at + 9 < len(data):
        if data[at] != 0xFF:
            return ImageHeader("JPEG", 0, 0)
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[at + 5:at + 9])
            return ImageHeader("JPEG", width, height)
        if 0xD0 <= marker <= 0xD9 or marker == 0x01:  # markers without a length
            at += 2
            continue
        at += 2 + struct.unpack(">H", data[at + 2:at + 4])[0]
    return ImageHeader("JPEG", 0, 0)

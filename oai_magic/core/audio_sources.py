"""What ``%transcribe`` can upload: paths, globs, and variables (bytes, a path, an Audio object).

Everything is checked before the first upload (exists, supported extension, at most 25 MiB, not
empty) so a typo costs no request. Bytes carry no name, so their container is recognised from
their first bytes; the upload then gets a filename with the right extension and content type.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ..errors import InputError

# The containers the API accepts, in the order its documentation lists them.
EXTENSIONS = ("flac", "mp3", "mp4", "mpeg", "mpga", "m4a", "ogg", "wav", "webm")
CONTENT_TYPES = {
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
    "mp4": "video/mp4",
    "mpeg": "audio/mpeg",
    "mpga": "audio/mpeg",
    "m4a": "audio/mp4",
    "ogg": "audio/ogg",
    "wav": "audio/wav",
    "webm": "audio/webm",
}
MAX_BYTES = 25 * 1024 * 1024
_GLOB_CHARS = ("*", "?", "[")


def human_size(size: int) -> str:
    """A file's size as every message says it (audio, images): 1.5 KiB, 26.0 MiB."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MiB"
    if size >= 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size} bytes"


@dataclass
class AudioSource:
    """One upload: what the user called it, the filename sent, and where the bytes are."""

    label: str
    filename: str
    size: int
    path: Optional[str] = None
    data: Optional[bytes] = field(default=None, repr=False)  # a repr shows the size, not MBs

    @property
    def extension(self) -> str:
        return self.filename.rsplit(".", 1)[-1].lower() if "." in self.filename else ""

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES.get(self.extension, "application/octet-stream")

    def read(self) -> bytes:
        """The bytes to upload (read whole: a retry must be able to send them again)."""
        if self.data is not None:
            return self.data
        try:
            with open(self.path or "", "rb") as handle:
                return handle.read()
        except OSError as exc:
            raise InputError(f"could not read {self.label}: {exc.strerror or exc}") from None


def sniff_extension(data: bytes) -> Optional[str]:
    """The container of raw audio bytes, from its signature; None when unknown."""
    head = bytes(data[:12])
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    if head[4:8] == b"ftyp":
        return "m4a" if head[8:11] in (b"M4A", b"M4B") else "mp4"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


def resolve_sources(words: List[str], namespace: Dict[str, Any]) -> List[AudioSource]:
    """Turn the SOURCE words into checked uploads, or raise the first problem as one line."""
    sources: List[AudioSource] = []
    for word in words:
        if word.isidentifier() and word in namespace:
            sources.append(_from_variable(word, namespace[word]))
        elif any(char in word for char in _GLOB_CHARS):
            matches = [p for p in sorted(glob.glob(os.path.expanduser(word))) if os.path.isfile(p)]
            if not matches:
                raise InputError(f"no file matches {word!r}")
            sources.extend(_from_path(path, path) for path in matches)
        else:
            sources.append(_from_path(word, word))
    return sources


def _from_path(label: str, path: Any) -> AudioSource:
    path = os.path.expanduser(os.fspath(path))
    if not os.path.exists(path):
        what = "no file or variable named" if label.isidentifier() else "no such file:"
        folder = os.path.dirname(os.path.abspath(path))
        raise InputError(f"{what} {label!r} (looked in {folder})")
    if os.path.isdir(path):
        raise InputError(f"{label!r} is a directory: name the files, or use a glob like '{label}/*.mp3'")
    filename = os.path.basename(path)
    _check_extension(label, filename)
    source = AudioSource(label, filename, os.path.getsize(path), path=path)
    _check_size(source)
    return source


def from_bytes(label: str, data: bytes, filename: Optional[str] = None) -> AudioSource:
    extension = filename.rsplit(".", 1)[-1].lower() if filename and "." in filename else ""
    if extension not in EXTENSIONS:
        sniffed = sniff_extension(data)
        if sniffed is None:
            raise InputError(
                f"{label} holds bytes of an unknown audio format: save them to a file with one of "
                f"these extensions and pass its path: {', '.join(EXTENSIONS)}"
            )
        stem = filename.rsplit(".", 1)[0] if filename else label
        filename = f"{stem}.{sniffed}"
    source = AudioSource(label, filename or label, len(data), data=data)
    _check_size(source)
    return source


def _from_variable(name: str, value: Any) -> AudioSource:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return from_bytes(name, bytes(value))
    if isinstance(value, (str, os.PathLike)):
        return _from_path(os.fspath(value), value)
    from .recording import Recording

    if isinstance(value, Recording):  # %transcribe --mic's result: send its audio again
        if not value.audio:
            raise InputError(f"{name} holds no recording yet: press Record, then Stop recording")
        return from_bytes(name, value.audio, "recording.wav")
    if any(cls.__name__ == "Audio" for cls in type(value).__mro__):
        return _from_audio_object(name, value)
    raise InputError(
        f"{name} is a {type(value).__name__}: %transcribe takes a path, a glob, or a variable "
        "holding bytes, a path, an IPython.display.Audio object or a --mic recording"
    )


def _from_audio_object(name: str, audio: Any) -> AudioSource:
    """An ``IPython.display.Audio``: its bytes (read from its file, or made from samples)."""
    data = getattr(audio, "data", None)
    filename = getattr(audio, "filename", None)
    if not isinstance(data, (bytes, bytearray)):
        if filename:
            return _from_path(name, filename)
        raise InputError(
            f"{name} is an Audio object without its bytes (made from a URL with embed=False): "
            "download the file and pass its path"
        )
    return from_bytes(name, bytes(data), os.path.basename(filename) if filename else None)


def _check_extension(label: str, filename: str) -> None:
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extension not in EXTENSIONS:
        shown = f"'.{extension}'" if extension else "no extension"
        raise InputError(
            f"{label}: unsupported file type ({shown}); the API takes {', '.join(EXTENSIONS)}"
        )


def _check_size(source: AudioSource) -> None:
    if source.size == 0:
        raise InputError(f"{source.label} is empty (0 bytes)")
    if source.size > MAX_BYTES:
        raise InputError(
            f"{source.label} is {human_size(source.size)}; the API takes at most 25 MiB: compress "
            "it (e.g. to a low-bitrate mp3 or ogg) or split it into shorter parts"
        )

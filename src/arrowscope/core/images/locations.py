"""Locations, normalised once, and containment by path segments.

Every location a table, a properties file, a LoadData file or an OME-Zarr
plate names — a local path, ``file://``, ``s3://``, ``gs://``, ``http(s)://``
— becomes a :class:`Location` here, before it is compared with a root and
before anything is fetched: percent-escapes decoded, back slashes turned into
slashes, repeated slashes, ``.`` and ``..`` segments collapsed, the scheme and
host lower-cased. Containment then compares path segments, never text
prefixes, and what is fetched is built from the same normalised segments, so
the check and the request cannot disagree (S3 and HTTP clients collapse
``..`` themselves, after any check made on the raw text).

A location whose ``..`` climbs above its bucket, host or filesystem root, or
that still holds an encoded dot or slash after decoding (a double encoding),
is refused with :class:`LocationError`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from ..errors import ArrowscopeError

#: schemes read through the store layer's remote filesystems
REMOTE_SCHEMES = ("s3", "gs", "gcs", "http", "https")
_SAME_SCHEME = {"gcs": "gs", "s3a": "s3"}
_ENCODED_SEPARATORS = re.compile(r"%(2e|2f|5c|25)", re.IGNORECASE)
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


class LocationError(ArrowscopeError):
    """A location that cannot be normalised safely (it climbs above its root,
    holds a NUL or a double-encoded separator, names no bucket)."""


@dataclass(frozen=True)
class Location:
    """A normalised location: ``scheme`` (``"file"`` for local paths), ``host``
    (bucket or ``host:port``; empty for local paths), path ``parts`` (no empty,
    ``.`` or ``..`` segment) and the connection ``query`` (endpoint, anonymous
    access…), kept for connecting and compared only by its endpoint."""

    scheme: str
    host: str
    parts: tuple[str, ...]
    query: str = ""

    # ---- what it is
    @property
    def is_remote(self) -> bool:
        return self.scheme != "file"

    @property
    def is_web(self) -> bool:
        return self.scheme in ("http", "https")

    @property
    def name(self) -> str:
        return self.parts[-1] if self.parts else self.host

    @property
    def path(self) -> Path:
        """The local path (``file`` locations only)."""
        if self.is_remote:
            raise ValueError(f"{self} is not a local path")
        return Path("/", *self.parts)

    @property
    def key(self) -> str:
        """What the filesystem is asked for: ``bucket/key`` for object stores,
        the quoted URL (without the connection query) for the web, the path
        for local files."""
        if not self.is_remote:
            return str(self.path)
        if self.is_web:
            path = "/".join(quote(p, safe="") for p in self.parts)
            return f"{self.scheme}://{self.host}/{path}"
        return "/".join((self.host, *self.parts))

    @property
    def uri(self) -> str:
        """The location as text, with its connection query."""
        if not self.is_remote:
            return str(self.path)
        base = f"{self.scheme}://{self.host}/" + "/".join(self.parts)
        return f"{base}?{self.query}" if self.query else base

    def __str__(self) -> str:
        return self.uri

    @property
    def endpoint(self) -> str:
        """The server this location is read from (the S3 endpoint override,
        else the scheme's default), for comparing two locations' origins."""
        for item in self.query.split("&"):
            k, _, v = item.partition("=")
            if k == "endpoint_override":
                return unquote(v).lower().rstrip("/")
        return ""

    # ---- relations
    @property
    def parent(self) -> Location:
        return Location(self.scheme, self.host, self.parts[:-1], self.query)

    @property
    def top(self) -> Location:
        """The bucket (or host, or filesystem root) this location lies in."""
        return Location(self.scheme, self.host, (), self.query)

    def within(self, root: Location) -> bool:
        """Whether this location is ``root`` or lies under it, segment by
        segment (``s3://b/ab`` is not under ``s3://b/a``). A location that names
        no endpoint of its own is read on the root's connection; one naming
        another endpoint lies elsewhere."""
        return (
            self.scheme == root.scheme
            and self.host == root.host
            and self.endpoint in ("", root.endpoint)
            and len(self.parts) >= len(root.parts)
            and self.parts[: len(root.parts)] == root.parts
        )

    def join(self, relative: str) -> Location:
        """``relative`` (a table's or a plate's path text) under this location,
        normalised; a ``..`` above the bucket or host, an absolute path or a URI
        is refused (:class:`LocationError`)."""
        text = _decode(relative, self.is_remote)
        if _is_absolute(text) or "://" in text:
            raise LocationError(f"is not a relative path: {relative!r}")
        return Location(
            self.scheme,
            self.host,
            _collapse([*self.parts, *_split(text)], relative),
            self.query,
        )


def _split(text: str) -> list[str]:
    return text.replace("\\", "/").split("/")


def _is_absolute(text: str) -> bool:
    return text.startswith(("/", "\\")) or bool(_WINDOWS_DRIVE.match(text))


def _collapse(segments: list[str], shown: str) -> tuple[str, ...]:
    out: list[str] = []
    for seg in segments:
        if seg in ("", "."):
            continue
        if seg == "..":
            if not out:
                raise LocationError(f"climbs above its root: {shown!r}")
            out.pop()
            continue
        out.append(seg)
    return tuple(out)


def _decode(text: str, remote: bool) -> str:
    if "\x00" in text:
        raise LocationError(f"holds a NUL character: {text!r}")
    if not remote:
        return text
    decoded = unquote(text)
    if _ENCODED_SEPARATORS.search(decoded):
        raise LocationError(
            f"holds an encoded dot, slash or percent after decoding: {text!r}"
        )
    if "\x00" in decoded:
        raise LocationError(f"holds a NUL character: {text!r}")
    return decoded


def is_remote_text(text: Any) -> bool:
    """Whether ``text`` names a location on a remote filesystem (a URI whose
    scheme is not ``file``)."""
    if not isinstance(text, str) or "://" not in text:
        return False
    return urlsplit(text).scheme.lower() not in ("", "file")


def parse(text: str | os.PathLike[str] | Location) -> Location:
    """``text`` (a path or URI) as a normalised :class:`Location`.

    Local paths (and ``file://`` URIs, percent-decoded) are made absolute and
    their symlinks resolved, so that containment is what the filesystem will
    open. Remote ones are decoded once; a double encoding is refused.
    """
    if isinstance(text, Location):
        return text
    raw = os.fspath(text)
    if not is_remote_text(raw):
        if raw.lower().startswith("file:"):
            raw = unquote(urlsplit(raw).path)
        if "\x00" in raw:
            raise LocationError(f"holds a NUL character: {raw!r}")
        real = Path(os.path.expanduser(raw)).resolve()
        return Location("file", "", tuple(real.parts[1:]))
    split = urlsplit(raw)
    scheme = split.scheme.lower()
    scheme = _SAME_SCHEME.get(scheme, scheme)
    host = split.netloc.lower()
    if "@" in host:  # user:password@host: never part of the comparison
        host = host.rsplit("@", 1)[1]
    default_port = {"http": ":80", "https": ":443"}.get(scheme)
    if default_port and host.endswith(default_port):
        host = host[: -len(default_port)]
    if not host:
        raise LocationError(f"names no bucket or host: {raw!r}")
    path = _decode(split.path, remote=True)
    return Location(scheme, host, _collapse(_split(path), raw), split.query)


def parse_table_value(value: str, folder: Location | None = None) -> Location:
    """A location written in a table (``Image_URL_*``, ``PathName`` +
    ``FileName``, a LoadData or properties entry, an asset uri): a URI or
    absolute path as it is, a relative one under ``folder``. Windows
    separators are separators."""
    text = str(value).strip()
    if is_remote_text(text) or text.lower().startswith("file:"):
        return parse(text)
    if _WINDOWS_DRIVE.match(text):
        raise LocationError(f"is a Windows path: {text!r}")
    if _is_absolute(text):
        return parse(text.replace("\\", "/"))
    if folder is None:
        return parse(text.replace("\\", "/"))
    return folder.join(text)


def within_any(location: Location, roots: list[Location]) -> Location | None:
    """The first root ``location`` lies in, or None."""
    return next((r for r in roots if location.within(r)), None)


def posix_relative(text: str) -> str:
    """A relative path inside a folder (an OME-Zarr plate's well or field
    path), normalised; ``..``, absolute paths, URIs, back slashes and
    percent-escapes are refused (plate paths are plain names like ``A/1``)."""
    raw = str(text)
    if "\x00" in raw or "%" in raw or "\\" in raw:
        raise LocationError(f"is not a plain relative path: {raw!r}")
    if raw.startswith("/") or "://" in raw or _WINDOWS_DRIVE.match(raw):
        raise LocationError(f"is not a relative path: {raw!r}")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise LocationError(f"leaves its folder: {raw!r}")
    if not parts:
        raise LocationError(f"is empty: {raw!r}")
    return str(PurePosixPath(*parts))


# ---- what is at a local path ----------------------------------------------------
def special_kind(path: str | os.PathLike[str]) -> str | None:
    """``"named pipe"``, ``"socket"``, ``"device"`` when ``path`` is one of
    those (opening or reading it could wait forever), else None (a regular
    file, a folder, or nothing there)."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "named pipe"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "device"


def check_regular(path: str | os.PathLike[str]) -> None:
    """Refuse a named pipe, socket or device before anything opens it."""
    from ..errors import CorruptFileError

    kind = special_kind(path)
    if kind is not None:
        raise CorruptFileError(
            f"is a {kind}, not a file: arrowscope reads regular files and "
            "folders only (reading it could wait forever); nothing was opened",
            path=path,
            hint="copy the data into a file and open that",
        )

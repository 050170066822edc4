"""One error hierarchy for everything arrowscope reads and writes.

Every error names what it is about (file, column, row) and what to do, so that
the napari widgets can show it as a notification without further wrapping.
"""

from __future__ import annotations

from os import PathLike


class ArrowscopeError(Exception):
    """Base class of every error raised by arrowscope.

    Parameters
    ----------
    message
        What went wrong.
    path, column, row
        Where it went wrong, when known; they are prefixed to the message.
    hint
        What the user can do about it; appended to the message.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | PathLike[str] | None = None,
        column: str | None = None,
        row: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = None if path is None else str(path)
        self.column = column
        self.row = row
        self.hint = hint
        self.reason = message
        where = []
        if self.path is not None:
            where.append(self.path)
        if column is not None:
            where.append(f"column {column!r}")
        if row is not None:
            where.append(f"row {row}")
        text = f"{': '.join(where)}: {message}" if where else message
        if hint:
            text = f"{text} ({hint})"
        super().__init__(text)


class NotOmeArrowError(ArrowscopeError):
    """The source holds no OME-Arrow image (a foreign or plain table)."""


class CorruptFileError(ArrowscopeError):
    """The file is truncated, corrupt, or not the format its name says."""


class MissingFileError(CorruptFileError):
    """No file or folder at the location given (a :class:`CorruptFileError`
    too, so handlers of unreadable input catch it)."""


class SchemaError(ArrowscopeError):
    """An OME-Arrow struct lacks required fields or has unusable types."""


class PixelDataError(ArrowscopeError):
    """Pixel data disagree with the image's metadata (length, range, extent)."""


class UnsupportedError(ArrowscopeError):
    """A dtype, codec, layout or option arrowscope does not handle."""


class AccessError(ArrowscopeError):
    """A file or folder exists but cannot be read (permissions)."""


def unreadable_folder(path: str | PathLike[str]) -> AccessError:
    """The error for a folder that exists but cannot be entered or listed."""
    return AccessError(
        "permission denied: this folder cannot be read by your user",
        path=path,
        hint="ask its owner for read access (chmod a+rx), or copy it somewhere "
        "you can read",
    )


class ImageNotFoundError(ArrowscopeError):
    """The requested column or row holds no image."""


class WriteError(ArrowscopeError):
    """Writing failed; any existing file at the target was left untouched."""

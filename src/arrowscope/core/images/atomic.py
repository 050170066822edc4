"""Atomic, recoverable replacement of files and folders.

Every writer of arrowscope writes into a hidden temporary sibling and swaps it
into place only once it is complete. A file over a file is one atomic rename.
A folder cannot be renamed over a folder, so that swap takes two renames
(old → backup, new → target); a small journal written before them lets the
next open or write finish (or undo) a swap that a kill interrupted. Hidden
leftovers of writers that are no longer running are removed by the next
successful write of the same target.

Targets arrowscope did not write are protected: an existing folder that is not
an OME-Arrow chunk dataset is never replaced, and a file is never replaced by
a folder (or the reverse) unless the caller asked for it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import ArrowscopeError, WriteError

_PREFIX = ".arrowscope-"
#: ``.{target}.arrowscope-{pid}-{hex}.{tmp|old}`` and ``.{target}.arrowscope-swap``
_SIBLING = re.compile(
    r"^\.(?P<target>.+)\.arrowscope-(?P<pid>\d+)-[0-9a-f]+\.(tmp|old)$"
)
_DATASET_MARKERS = ("images.parquet", "chunks.parquet")


_LANCE_PARTS = {"_versions", "data", "_transactions", "_deletions", "_indices"}


def is_arrowscope_folder(path: Path) -> bool:
    """Whether ``path`` is a folder arrowscope may replace: an OME-Arrow chunk
    dataset, or a Lance dataset holding nothing but Lance's own parts."""
    if not path.is_dir():
        return False
    if all((path / m).is_file() for m in _DATASET_MARKERS):
        return True
    names = {p.name for p in path.iterdir()}
    return "_versions" in names and names <= _LANCE_PARTS


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_output(
    target: str | os.PathLike[str],
    *,
    inputs: Iterable[str | os.PathLike[str]] = (),
    overwrite: bool = False,
    hint: str = "pass --overwrite to replace it",
) -> bool:
    """The one write policy of every command and panel that writes.

    Never write onto (or into) an input: a ``target`` that is one of
    ``inputs`` — the same file by any name, a link to it, or a path inside an
    input folder — is refused whatever ``overwrite`` says. An existing
    ``target`` is replaced only with ``overwrite``; the replace itself is
    atomic (:func:`atomic_target`). Returns whether an existing target will be
    replaced, so that the caller can name it. Checked before anything is
    computed or written.
    """
    out = Path(target)
    resolved = out.resolve()
    for src in inputs:
        if isinstance(src, str) and "://" in src:
            continue  # a URI is never a local write target
        src_path = Path(src)
        onto = resolved == src_path.resolve()
        if not onto and out.exists() and src_path.exists():
            with contextlib.suppress(OSError):
                onto = os.path.samefile(out, src_path)  # a hard link
        into = not onto and src_path.is_dir() and _inside(resolved, src_path.resolve())
        if onto or into:
            raise WriteError(
                f"{'is' if onto else 'is inside'} an input of this command "
                f"({src_path}); writing there would destroy the input, and "
                "nothing was written",
                path=out,
                hint="choose another output name",
            )
    if not os.path.lexists(out):
        return False
    if not overwrite:
        raise WriteError("exists; nothing was written", path=out, hint=hint)
    return True


def check_outputs(
    targets: Iterable[str | os.PathLike[str]],
    inputs: Iterable[Any] = (),
    *,
    overwrite: bool = False,
    hint: str = "pass --overwrite to replace it",
) -> list[Path]:
    """The write policy for all the outputs of one command or call, checked
    before any work: no output onto or into an input (whatever ``overwrite``
    says), no two outputs one file (by any name), no existing output replaced
    without ``overwrite``. Returns the outputs that will be replaced."""
    outs = [Path(t) for t in targets]
    inputs = list(inputs)
    for i, a in enumerate(outs):
        for b in outs[i + 1 :]:
            if _same(a, b):
                raise WriteError(
                    f"is given as two outputs of this command (also as {b}); "
                    "one would overwrite the other, and nothing was written",
                    path=a,
                    hint="give each output its own name",
                )
    existing = [t for t in outs if check_output(t, inputs=inputs, overwrite=True)]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise WriteError(
            f"exists{more}; nothing was written", path=existing[0], hint=hint
        )
    return existing


def _same(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    with contextlib.suppress(OSError):
        return a.exists() and b.exists() and os.path.samefile(a, b)
    return False


def _journal(target: Path) -> Path:
    return target.parent / f".{target.name}{_PREFIX}swap"


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _siblings(target: Path) -> Iterator[tuple[Path, int]]:
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return
    for entry in entries:
        m = _SIBLING.match(entry.name)
        if m and m.group("target") == target.name:
            yield entry, int(m.group("pid"))


def recover(path: str | os.PathLike[str]) -> bool:
    """Finish or undo a folder swap interrupted by a kill; True if one was.

    Called by every open of a missing path and by every write. When the
    journal says the new folder was complete, the swap is finished; otherwise
    the old folder is put back. Nothing is deleted here that is the only
    copy of some data.
    """
    target = Path(path)
    journal = _journal(target)
    if not journal.is_file():
        return False
    try:
        state = json.loads(journal.read_text())
        new = target.parent / str(state["new"])
        old = target.parent / str(state["old"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if not os.path.lexists(target):
        if new.exists():
            os.replace(new, target)
        elif old.exists():
            os.replace(old, target)
    if os.path.lexists(target):
        _remove(old)
        with contextlib.suppress(OSError):
            journal.unlink()
    return True


def _clean_stale(target: Path, keep: set[Path]) -> None:
    """Remove leftovers of writers of ``target`` that no longer run."""
    for entry, pid in _siblings(target):
        if entry in keep or _pid_alive(pid):
            continue
        if entry.name.endswith(".old") and not os.path.lexists(target):
            continue  # the only copy of the old data: recover() puts it back
        _remove(entry)


def check_replaceable(target: Path, *, new_is_dir: bool | None = None) -> None:
    """Refuse to replace what arrowscope did not write.

    ``new_is_dir`` is the kind of what will be written, when known.
    """
    if not os.path.lexists(target):
        return
    if target.is_dir() and not target.is_symlink():
        if not is_arrowscope_folder(target):
            raise WriteError(
                "is an existing folder that is not an OME-Arrow chunk dataset "
                "or a Lance dataset; it was not replaced",
                path=target,
                hint="choose another output name or remove the folder yourself",
            )
        return
    if new_is_dir and not _is_table_file(target):
        raise WriteError(
            "is an existing file; a folder (chunk dataset) would replace it, "
            "and it was not replaced",
            path=target,
            hint="choose another output name or remove the file yourself",
        )


def _is_table_file(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(6)
    except OSError:
        return False
    return head[:4] == b"PAR1" or head == b"ARROW1"


@contextlib.contextmanager
def atomic_target(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary sibling path; on success it replaces ``path``.

    The old file or folder is kept until the new one is complete, and
    restored if the final swap fails. On any error the temporary is removed.
    An existing folder that arrowscope did not write is never replaced
    (:class:`WriteError`).
    """
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise WriteError(
            "the folder does not exist", path=parent, hint="create it first"
        )
    if not os.access(parent, os.W_OK):
        raise WriteError(
            "the folder is not writable", path=parent, hint="choose another folder"
        )
    recover(target)
    check_replaceable(target)
    token = f"{_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp = parent / f".{target.name}{token}.tmp"
    backup = parent / f".{target.name}{token}.old"
    try:
        yield tmp
        if not os.path.lexists(tmp):
            raise WriteError("the writer produced nothing", path=target)
        check_replaceable(target, new_is_dir=tmp.is_dir())
        if target.is_dir() or (tmp.is_dir() and os.path.lexists(target)):
            _swap_folder(target, tmp, backup)
        else:
            os.replace(tmp, target)  # one atomic rename
        _clean_stale(target, keep=set())
    except ArrowscopeError:
        _remove(tmp)
        raise
    except OSError as exc:
        _remove(tmp)
        hint = (
            "free some disk space and try again" if exc.errno == errno.ENOSPC else None
        )
        raise WriteError(
            f"writing failed: {exc.strerror or exc}", path=target, hint=hint
        ) from exc
    except BaseException:
        _remove(tmp)
        raise


def _swap_folder(target: Path, tmp: Path, backup: Path) -> None:
    journal = _journal(target)
    journal.write_text(json.dumps({"new": tmp.name, "old": backup.name}))
    os.replace(target, backup)
    try:
        os.replace(tmp, target)
    except OSError:
        os.replace(backup, target)
        journal.unlink()
        raise
    journal.unlink()
    _remove(backup)


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    elif os.path.lexists(p):
        with contextlib.suppress(OSError):
            p.unlink()

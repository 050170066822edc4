"""Make napari pick arrowscope for OME-Arrow files and folders without asking.

napari's own folder reader accepts every directory, so a dropped chunk
dataset folder would always bring up the reader chooser. napari resolves that
with its ``extension2reader`` preference (what "remember my choice" sets); we
add our patterns there, never overriding a choice the user already made.
"""

from __future__ import annotations

PATTERNS = ("*.ome.parquet", "*.ome.parquet/", "*.ome.arrow", "*.lance/", "*.vortex")


def ensure_reader_preferences() -> list[str]:
    """Prefer arrowscope for OME-Arrow patterns not yet decided; return those added."""
    from napari.settings import get_settings

    plugins = get_settings().plugins
    current = dict(plugins.extension2reader)
    added = [p for p in PATTERNS if p not in current]
    if added:
        plugins.extension2reader = {**current, **{p: "arrowscope" for p in added}}
    return added

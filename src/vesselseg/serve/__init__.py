"""``vesselseg serve``: a local web page and JSON API over the segmenter and the measurements.

Layout: :mod:`.service` (result store, the worker process that runs the library's own
``segment --measure`` pipeline on one upload; no web framework imported there), :mod:`.app`
(routes, request checks, the server), ``static/`` (the page: one HTML file, vanilla JS and CSS,
nothing fetched from elsewhere).

Framework: a small ASGI app on Starlette + uvicorn + python-multipart (the ``serve`` extra, about
1 MB of pure-Python wheels besides what the package already needs). Gradio was the alternative
many ML users know; it was not chosen because it pulls in tens of MB of dependencies (FastAPI,
pandas, huggingface-hub, a bundled front-end), takes seconds to import, sends usage analytics
unless told not to, and would own the page's look and the API's shape.
Starlette starts in well under a second, is testable in-process with its ``TestClient``, and lets
the page stay a single static file whose only client is the documented JSON API.
"""

from __future__ import annotations

import importlib.util

from vesselseg.errors import VesselsegError

#: Import name -> the package to install, for the one-line "extra missing" error.
REQUIRED = {"starlette": "starlette", "uvicorn": "uvicorn", "python_multipart": "python-multipart"}


def missing_dependencies() -> list[str]:
    """Packages of the ``serve`` extra that are not installed (python-multipart under either name)."""
    missing = []
    for module, package in REQUIRED.items():
        found = importlib.util.find_spec(module) is not None
        if module == "python_multipart" and not found:
            found = importlib.util.find_spec("multipart") is not None  # python-multipart < 0.0.13
        if not found:
            missing.append(package)
    return missing


def require_extra() -> None:
    """Raise a one-line :class:`VesselsegError` when the ``serve`` extra is not installed."""
    missing = missing_dependencies()
    if missing:
        raise VesselsegError(f'vesselseg serve needs the server extra: pip install "vesselseg[serve]" '
                             f"(missing: {', '.join(missing)})")

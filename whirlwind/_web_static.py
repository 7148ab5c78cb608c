"""`StaticFileHandler`: files from a directory, with versioned URLs and ranges.

Theory of operation
-------------------

A request path is turned into a file in three guarded steps:

1. `StaticFileHandler.parse_url_path` maps the URL path to a relative path;
   `get_absolute_path` joins and normalises it and refuses (403) anything
   whose normalised form leaves the root (``..``).
2. `validate_absolute_path` resolves symlinks and refuses targets outside the
   root (or ``allowed_symlink_directory``), redirects a directory to its
   trailing-slash form when ``default_filename`` is set (refusing ``//``
   paths, which a browser would follow to another host), and refuses
   non-regular files (devices, FIFOs) with 403; a missing file is 404.
3. `get` answers conditionals (If-None-Match before If-Modified-Since → 304),
   a single byte range (206, or 416 with ``Content-Range: bytes */size``),
   and streams the body in 64 KiB chunks, flushing each one so memory stays
   bounded whatever the file size.

Content versions (``?v=``) are SHA-512 hashes of the file, cached per absolute
path in an LRU of at most `MAX_CACHED_VERSIONS` entries.
"""

from __future__ import annotations

import datetime
import email.utils
import hashlib
import mimetypes
import os
import re
import stat
import threading
from collections.abc import Awaitable, Generator
from typing import Any

from whirlwind import iostream
from whirlwind._web_decorators import _is_protocol_relative
from whirlwind._web_handler import HTTPError, RequestHandler
from whirlwind.log import gen_log

__all__ = ["StaticFileHandler"]

# "a-b", "a-", "-n"; a lone "a" is read as "a-" like other servers do.
_RANGE_VALUE = re.compile(r"\s*(\d*)\s*(?:-\s*(\d*)\s*)?")


def _parse_range(header: str) -> tuple[int | None, int | None] | None:
    """Parses a single ``bytes=`` range into Python-slice-like (start, end).

    ``a-b`` gives (a, b + 1), ``a-`` gives (a, None), ``-n`` gives (-n, None)
    and ``-0`` gives (None, 0) (unsatisfiable). Anything else, including
    multiple ranges, gives None: the header is then ignored.
    """
    unit, _, spec = header.partition("=")
    if unit.strip() != "bytes":
        return None
    m = _RANGE_VALUE.fullmatch(spec)
    if m is None:
        return None
    start_s, end_s = m.groups()
    if not start_s and not end_s:
        return None
    start = int(start_s) if start_s else None
    end = int(end_s) if end_s else None
    if end is not None:
        if start is None:
            if end != 0:
                return -end, None
        else:
            end += 1
    return start, end


def _content_range(start: int | None, end: int | None, total: int) -> str:
    first = start or 0
    last = (end or total) - 1
    return f"bytes {first}-{last}/{total}"


class StaticFileHandler(RequestHandler):
    """Serves the files under ``path`` (see the module docstring).

    Route it with one group for the file path::

        (r"/files/(.*)", StaticFileHandler, {"path": "/var/www"})

    The ``static_path`` setting installs it at ``/static/``, ``/favicon.ico``
    and ``/robots.txt``. Subclasses may override ``get_content``,
    ``get_content_size``, ``get_modified_time``, ``get_absolute_path``,
    ``validate_absolute_path``, ``get_content_type``, ``get_cache_time``,
    ``make_static_url``, ``parse_url_path``, ``get_version``,
    ``set_extra_headers``, ``compute_etag`` and ``should_return_304``.
    """

    CACHE_MAX_AGE = 86400 * 365 * 10  # ten years, for versioned URLs
    MAX_VERSION_CONTENT_SIZE = 64 * 1024 * 1024
    MAX_CACHED_VERSIONS = 10000
    _CHUNK = 64 * 1024

    _static_hashes: dict[str, str | None] = {}
    _lock = threading.Lock()
    allowed_symlink_directory: str | list[str] | None = None

    def initialize(
        self,
        path: str,
        default_filename: str | None = None,
        allowed_symlink_directory: str | list[str] | None = None,
    ) -> None:
        self.root = path
        self.default_filename = default_filename
        self.allowed_symlink_directory = allowed_symlink_directory

    @classmethod
    def reset(cls) -> None:
        """Forgets every cached content version."""
        with cls._lock:
            cls._static_hashes = {}

    def head(self, path: str) -> Awaitable[None]:
        return self.get(path, include_body=False)

    async def get(self, path: str, include_body: bool = True) -> None:
        self.path = self.parse_url_path(path)
        del path  # only the parsed path may be used from here on
        absolute = self.get_absolute_path(self.root, self.path)
        self.absolute_path = self.validate_absolute_path(self.root, absolute)
        if self.absolute_path is None:
            return
        self.modified = self.get_modified_time()
        self.set_headers()
        if self.should_return_304():
            self.set_status(304)
            return

        size = self.get_content_size()
        start: int | None = None
        end: int | None = None
        header = self.request.headers.get("Range")
        wanted = _parse_range(header) if header else None
        if wanted is not None:
            start, end = wanted
            if start is not None and start < 0:
                start = max(start + size, 0)
            if (
                start is not None
                and (start >= size or (end is not None and start >= end))
            ) or end == 0:
                # The client may only ask for bytes that exist.
                self.set_status(416)
                self.set_header("Content-Type", "text/plain")
                self.set_header("Content-Range", f"bytes */{size}")
                return
            if end is not None and end > size:
                end = size
            if size != (end or size) - (start or 0):
                self.set_status(206)
                self.set_header("Content-Range", _content_range(start, end, size))
        if start is not None and end is not None:
            length = end - start
        elif end is not None:
            length = end
        elif start is not None:
            length = size - start
        else:
            length = size
        self.set_header("Content-Length", length)

        if not include_body:
            return
        content = self.get_content(self.absolute_path, start, end)
        if isinstance(content, bytes):
            content = [content]
        for chunk in content:
            try:
                self.write(chunk)
                await self.flush()
            except iostream.StreamClosedError:
                return

    def compute_etag(self) -> str | None:
        """The Etag is the content version hash."""
        assert self.absolute_path is not None
        version = self._get_cached_version(self.absolute_path)
        return f'"{version}"' if version else None

    def set_headers(self) -> None:
        """Sets the caching, type and range headers of the response."""
        self.set_header("Accept-Ranges", "bytes")
        self.set_etag_header()
        if self.modified is not None:
            self.set_header("Last-Modified", self.modified)
        content_type = self.get_content_type()
        if content_type:
            self.set_header("Content-Type", content_type)
        cache_time = self.get_cache_time(self.path, self.modified, content_type)
        if cache_time > 0:
            self.set_header(
                "Expires",
                datetime.datetime.now(datetime.timezone.utc)
                + datetime.timedelta(seconds=cache_time),
            )
            self.set_header("Cache-Control", "max-age=" + str(cache_time))
        self.set_extra_headers(self.path)

    def should_return_304(self) -> bool:
        """Whether the client's cached copy is current: If-None-Match decides
        when present, else If-Modified-Since against the modification time."""
        if self.request.headers.get("If-None-Match"):
            return self.check_etag_header()
        since = self.request.headers.get("If-Modified-Since")
        if since is None or self.modified is None:
            return False
        try:
            when = email.utils.parsedate_to_datetime(since)
        except Exception:
            return False
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.timezone.utc)
        return when >= self.modified

    # -- paths ------------------------------------------------------------------

    @classmethod
    def get_absolute_path(cls, root: str, path: str) -> str:
        """Joins ``root`` and ``path`` into a normalised absolute path (403 if
        it leaves the root)."""
        absolute = os.path.abspath(os.path.join(root, path))
        cls._check_in_root(root, absolute, path)
        return absolute

    def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
        """Checks that ``absolute_path`` may be served and returns the path to
        serve, or None when the response was already produced (a redirect)."""
        root = self._check_in_root(root, absolute_path, self.path)
        allowed = self.allowed_symlink_directory or root
        allowed_dirs = [allowed] if isinstance(allowed, str) else list(allowed)
        absolute_path = self._resolve_symlink_target(
            absolute_path, allowed_dirs, self.path
        )
        if os.path.isdir(absolute_path) and self.default_filename is not None:
            if not self.request.path.endswith("/"):
                if _is_protocol_relative(self.request.path):
                    # "//evil.example/" would redirect off-site.
                    raise HTTPError(
                        403, "cannot redirect path with two initial slashes"
                    )
                self.redirect(self.request.path + "/", permanent=True)
                return None
            absolute_path = self._resolve_symlink_target(
                os.path.join(absolute_path, self.default_filename),
                allowed_dirs,
                self.path,
            )
        self._stat_result = self._stat_regular_file(absolute_path, self.path)
        return absolute_path

    @staticmethod
    def _stat_regular_file(absolute_path: str, path_message: str) -> os.stat_result:
        try:
            st = os.stat(absolute_path)
        except OSError:
            raise HTTPError(404) from None
        if not stat.S_ISREG(st.st_mode):
            raise HTTPError(403, "%s is not a file", path_message)
        return st

    @staticmethod
    def _check_in_root(root: str, absolute_path: str, path_message: str) -> str:
        root = os.path.abspath(root)
        if not root.endswith(os.path.sep):
            root += os.path.sep
        if not (absolute_path + os.path.sep).startswith(root):
            raise HTTPError(403, "%s is not in root static directory", path_message)
        if os.name == "nt" and ":" in absolute_path[len(root) :]:
            # NTFS alternate data streams ("file:stream").
            raise HTTPError(403, "%s is not a file", path_message)
        return root

    @staticmethod
    def _resolve_symlink_target(
        absolute_path: str, allowed_dirs: list[str], path_message: str
    ) -> str:
        resolved = os.path.realpath(absolute_path)
        for directory in allowed_dirs:
            real_dir = os.path.realpath(directory)
            if not real_dir.endswith(os.path.sep):
                real_dir += os.path.sep
            if (resolved + os.path.sep).startswith(real_dir):
                return resolved
        raise HTTPError(403, "%s is not in root static directory", path_message)

    # -- content ------------------------------------------------------------------

    @classmethod
    def get_content(
        cls, abspath: str, start: int | None = None, end: int | None = None
    ) -> Generator[bytes, None, None]:
        """Yields the file's bytes ``[start:end]`` in chunks (override to serve
        from elsewhere; may also return one bytes object)."""
        cls._stat_regular_file(abspath, abspath)
        with open(abspath, "rb") as f:
            if start is not None:
                f.seek(start)
            remaining = None if end is None else end - (start or 0)
            while remaining is None or remaining > 0:
                n = cls._CHUNK if remaining is None else min(cls._CHUNK, remaining)
                chunk = f.read(n)
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    @classmethod
    def get_content_version(cls, abspath: str) -> str:
        """A hash of the file's content (SHA-512 hex), used in ``?v=``."""
        data = cls.get_content(abspath)
        chunks = [data] if isinstance(data, bytes) else data
        hasher = hashlib.sha512()
        size = 0
        try:
            for chunk in chunks:
                size += len(chunk)
                if size > cls.MAX_VERSION_CONTENT_SIZE:
                    raise ValueError(
                        "content is larger than MAX_VERSION_CONTENT_SIZE "
                        f"({cls.MAX_VERSION_CONTENT_SIZE} bytes)"
                    )
                hasher.update(chunk)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        return hasher.hexdigest()

    def _stat(self) -> os.stat_result:
        assert self.absolute_path is not None
        st = self.__dict__.get("_stat_result")
        if st is None:
            st = self._stat_result = os.stat(self.absolute_path)
        return st

    def get_content_size(self) -> int:
        """The size of the content in bytes."""
        return self._stat().st_size

    def get_modified_time(self) -> datetime.datetime | None:
        """The content's modification time (whole seconds, UTC)."""
        return datetime.datetime.fromtimestamp(
            int(self._stat().st_mtime), datetime.timezone.utc
        )

    def get_content_type(self) -> str:
        """The Content-Type, guessed from the file name."""
        assert self.absolute_path is not None
        mime_type, encoding = mimetypes.guess_type(self.absolute_path)
        if encoding == "gzip":
            return "application/gzip"
        if encoding is not None:
            return "application/octet-stream"
        return mime_type or "application/octet-stream"

    def set_extra_headers(self, path: str) -> None:
        """Hook to add headers to every static response."""

    def get_cache_time(
        self, path: str, modified: datetime.datetime | None, mime_type: str
    ) -> int:
        """Seconds the client may cache the file: ten years for versioned
        (``?v=``) URLs, otherwise 0 (no cache headers)."""
        return self.CACHE_MAX_AGE if "v" in self.request.arguments else 0

    @classmethod
    def make_static_url(
        cls, settings: dict[str, Any], path: str, include_version: bool = True
    ) -> str:
        """The URL for static file ``path``, with ``?v=<version>`` if possible."""
        url: str = settings.get("static_url_prefix", "/static/") + path
        if not include_version:
            return url
        version = cls.get_version(settings, path)
        return f"{url}?v={version}" if version else url

    def parse_url_path(self, url_path: str) -> str:
        """Maps the URL path group to a file path relative to the root."""
        if os.path.sep != "/":
            url_path = url_path.replace("/", os.path.sep)
        return url_path

    @classmethod
    def get_version(cls, settings: dict[str, Any], path: str) -> str | None:
        """The content version of static file ``path`` (cached), or None."""
        return cls._get_cached_version(
            cls.get_absolute_path(settings["static_path"], path)
        )

    @classmethod
    def _get_cached_version(cls, abs_path: str) -> str | None:
        with cls._lock:
            hashes = cls._static_hashes
            if abs_path in hashes:
                # Re-insert to mark as most recently used.
                version = hashes[abs_path] = hashes.pop(abs_path)
            else:
                try:
                    version = cls.get_content_version(abs_path)
                except Exception as e:
                    gen_log.error("Could not open static file %r: %s", abs_path, e)
                    version = None
                while hashes and len(hashes) >= cls.MAX_CACHED_VERSIONS:
                    del hashes[next(iter(hashes))]
                hashes[abs_path] = version
            return version or None

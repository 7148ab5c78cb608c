# HTTP/1 heads: parse_head(), the stream's K_HEAD reads, and format_head().
#
# Theory of operation
# -------------------
# Reading (_Stream.read_http_head, stream.pyx).  A pending K_HEAD read first
# drops CR/LF bytes in front of the head (blank lines between keep-alive
# messages, RFC 9112 section 2.2; they count against max_bytes, kept in the
# read's _rfilled), then resumes ww_http_find_head_end() at the read's
# cursor, so a head that trickles in byte by byte is still scanned once.
# Too long a head raises UnsatisfiableReadError, exactly like a
# read_until_regex() with max_bytes.
#
# Splitting (parse_head).  ww_http.h validates and returns offsets; this
# file only makes the objects: the start line and each value are decoded
# as latin-1, and names come from a read-only table of common header names
# (built once at import, looked up case-insensitively, so "content-type"
# and "Content-Type" both yield the one interned "Content-Type") or are
# normalised straight into a new ASCII str.  The HTTPHeaders is built from
# its internal structures (whirlwind.httputil.HTTPHeaders: _d maps a
# normalised name to a str, or a list of str when repeated, and _joined
# caches joined values), with the same results and error classes as the
# Python reference, whirlwind.http1connection._parse_head.
#
# Writing (format_head).  Two passes over the fields: the first checks each
# name and value (exact str, latin-1, no CR/LF/NUL) and adds up the size,
# the second copies them into one bytes object of that size, with the
# start line before and the body after: one allocation, no Python loop.

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_Next, PyDict_SetDefault, PyDict_SetItem
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_INCREF
from cpython.unicode cimport (
    PyUnicode_1BYTE_KIND,
    PyUnicode_CheckExact,
    PyUnicode_DecodeLatin1,
    PyUnicode_GET_LENGTH,
    PyUnicode_KIND,
)
from libc.stdint cimport uint64_t
from libc.string cimport memcpy
from libc.time cimport time as c_time

import types as _types

cdef object _MemberDescriptorType = _types.MemberDescriptorType

cdef extern from "Python.h":
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    void *PyUnicode_DATA(object o)


class HeaderFieldCountError(Exception):
    """parse_head(): more header fields than ``max_count`` (HTTP 431)."""


HeaderFieldCountError.__module__ = "whirlwind._core"

# -- common header names ---------------------------------------------------------

cdef enum:
    _HN_SIZE = 256          # open addressing, power of two, load < 1/3
    _HN_MAXLEN = 40

cdef PyObject *_hn_obj[_HN_SIZE]
cdef Py_ssize_t _hn_len[_HN_SIZE]
cdef unsigned char _hn_low[_HN_SIZE][_HN_MAXLEN]
cdef list _hn_keep = []     # owns the strings the table points to


cdef inline unsigned char _lower(unsigned char c) noexcept nogil:
    return c + 32 if 65 <= c <= 90 else c


cdef inline size_t _hn_hash(const unsigned char *p, Py_ssize_t n) noexcept nogil:
    # Length and four bytes, lower-cased: cheap, and it spreads the common
    # names well enough for linear probing (n >= 1: names are never empty).
    return (<size_t>n * 31u
            ^ (<size_t>_lower(p[0]) << 3)
            ^ (<size_t>_lower(p[n >> 1]) << 7)
            ^ (<size_t>_lower(p[n - 2 if n > 1 else 0]) << 1)
            ^ (<size_t>_lower(p[n - 1]) << 5))


cdef inline bint _hn_equal(const unsigned char *p, const unsigned char *k,
                           Py_ssize_t n) noexcept nogil:
    # k: a stored name, lower-case letters, digits and "-".  For token bytes
    # p[i] | 0x20 equals such a byte only if p[i] is it in either case, so
    # whole words compare at once.
    cdef uint64_t x, y
    cdef Py_ssize_t j = 0
    while j + 8 <= n:
        memcpy(&x, p + j, 8)
        memcpy(&y, k + j, 8)
        if (x | 0x2020202020202020ULL) != y:
            return False
        j += 8
    while j < n:
        if (p[j] | 0x20) != k[j]:
            return False
        j += 1
    return True


cdef object _norm_name(const unsigned char *p, Py_ssize_t n):
    # Http-Header-Case of a valid token: upper after "-" or at the start.
    cdef size_t h
    cdef Py_ssize_t i
    cdef unsigned char *out
    cdef bint up = True
    cdef unsigned char c
    if n < _HN_MAXLEN:
        h = _hn_hash(p, n) & (_HN_SIZE - 1)
        while _hn_obj[h] != NULL:
            if _hn_len[h] == n and _hn_equal(p, _hn_low[h], n):
                return <object>_hn_obj[h]
            h = (h + 1) & (_HN_SIZE - 1)
    s = PyUnicode_New(n, 127)
    out = <unsigned char *>PyUnicode_DATA(s)
    for i in range(n):
        c = p[i]
        if up:
            out[i] = c - 32 if 97 <= c <= 122 else c
        else:
            out[i] = _lower(c)
        up = c == 45    # "-"
    return s


cdef int _hn_add(str name) except -1:
    cdef bytes raw = name.lower().encode("ascii")
    cdef Py_ssize_t n = len(raw)
    if not 0 < n < _HN_MAXLEN or raw.strip(b"abcdefghijklmnopqrstuvwxyz0123456789-"):
        raise ValueError(name)      # _hn_equal relies on this alphabet
    cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(raw)
    cdef size_t h = _hn_hash(p, n) & (_HN_SIZE - 1)
    norm = _sys.intern("-".join([w.capitalize() for w in name.split("-")]))
    while _hn_obj[h] != NULL:
        if _hn_len[h] == n and <object>_hn_obj[h] == norm:
            return 0
        h = (h + 1) & (_HN_SIZE - 1)
    _hn_keep.append(norm)
    _hn_len[h] = n
    memcpy(_hn_low[h], p, n)
    _hn_obj[h] = <PyObject *>norm
    return 0


for _name in (
    "Host", "Connection", "Keep-Alive", "User-Agent", "Accept", "Accept-Encoding",
    "Accept-Language", "Accept-Charset", "Cache-Control", "Pragma", "Cookie",
    "Referer", "Origin", "Upgrade-Insecure-Requests", "Dnt", "Te", "Priority",
    "Sec-Fetch-Site", "Sec-Fetch-Mode", "Sec-Fetch-User", "Sec-Fetch-Dest",
    "Sec-Ch-Ua", "Sec-Ch-Ua-Mobile", "Sec-Ch-Ua-Platform", "Sec-Gpc",
    "Content-Type", "Content-Length", "Content-Encoding", "Content-Language",
    "Content-Disposition", "Content-Range", "Transfer-Encoding", "Trailer",
    "Expect", "Authorization", "Proxy-Authorization", "Proxy-Connection",
    "If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since",
    "If-Range", "Range", "Upgrade", "Via", "Forwarded", "X-Forwarded-For",
    "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port", "X-Real-Ip",
    "X-Scheme", "X-Requested-With", "X-Request-Id", "X-Csrftoken", "X-Xsrftoken",
    "Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Extensions",
    "Sec-Websocket-Protocol", "Access-Control-Request-Method",
    "Access-Control-Request-Headers", "Date", "Server", "Set-Cookie", "Location",
    "Etag", "Last-Modified", "Expires", "Age", "Vary", "Accept-Ranges",
    "Www-Authenticate", "Alt-Svc", "Strict-Transport-Security",
    "Access-Control-Allow-Origin", "Access-Control-Allow-Credentials",
    "X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy",
):
    _hn_add(_name)
del _name

# -- parse_head ------------------------------------------------------------------

cdef object _HTTPHeaders = None       # whirlwind.httputil, imported on first use
cdef object _HTTPInputError = None
cdef Py_ssize_t _off_d = -1           # HTTPHeaders slot offsets (-1: use setattr)
cdef Py_ssize_t _off_joined = -1
cdef tuple _no_args = ()


cdef Py_ssize_t _slot_offset(object cls, str name):
    # The instance offset of a __slots__ member, or -1 if it is not a plain
    # object slot (then parse_head falls back to setattr).
    descr = cls.__dict__.get(name)
    if type(descr) is not _MemberDescriptorType:
        return -1
    cdef PyMemberDef *m = (<PyMemberDescrObject *>descr).d_member
    if m.type != 16:        # Py_T_OBJECT_EX, what __slots__ creates
        return -1
    return m.offset


cdef int _load_httputil() except -1:
    global _HTTPHeaders, _HTTPInputError, _off_d, _off_joined
    from whirlwind import httputil
    cls = httputil.HTTPHeaders
    _off_d = _slot_offset(cls, "_d")
    _off_joined = _slot_offset(cls, "_joined")
    _HTTPInputError = httputil.HTTPInputError
    _HTTPHeaders = cls
    return 0


cdef inline void _set_slot(object obj, Py_ssize_t off, object value) noexcept:
    # Only on a new object whose slot is still empty (NULL).
    Py_INCREF(value)
    (<PyObject **>(<char *><PyObject *>obj + off))[0] = <PyObject *>value


cdef object _new_headers(dict d):
    cdef object h
    if _off_d >= 0 and _off_joined >= 0:
        h = (<PyTypeObject *>_HTTPHeaders).tp_new(_HTTPHeaders, <PyObject *>_no_args, NULL)
        _set_slot(h, _off_d, d)
        _set_slot(h, _off_joined, {})
        return h
    h = object.__new__(_HTTPHeaders)
    h._d = d
    h._joined = {}
    return h


cdef object _field_error(int code, const char *buf, Py_ssize_t len, Py_ssize_t pos):
    # The offending line, for the log message.
    cdef Py_ssize_t e = pos
    while e < len and buf[e] != 10:
        e += 1
    line = PyUnicode_DecodeLatin1(buf + pos, e - pos, NULL)
    if code == WW_HTTP_E_FOLD:
        msg = "header line cannot start with whitespace, folding not supported"
    elif code == WW_HTTP_E_COLON:
        msg = "no colon in header line %r" % (line,)
    elif code == WW_HTTP_E_NAME:
        msg = "Invalid header name in %r" % (line,)
    else:
        msg = "Invalid header value %r" % (line,)
    return _HTTPInputError(msg)


def parse_head(bytes data not None, Py_ssize_t max_count):
    """Split an HTTP/1 head into ``(start_line, HTTPHeaders)``.

    ``data`` is a head as read_http_head() returns it (blank lines before
    it and the closing empty line are allowed).  The start line is returned
    as text, unchecked, for parse_request_start_line/parse_response_start_line.
    Raises HeaderFieldCountError for more than ``max_count`` fields and
    whirlwind.httputil.HTTPInputError for a malformed field: the same
    verdicts as whirlwind.http1connection._parse_head.
    """
    return _parse_head_buf(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), max_count)


cdef tuple _parse_head_buf(const char *buf, Py_ssize_t n, Py_ssize_t max_count):
    # parse_head() over buf[0:n] (a bytes object or a stream's buffer).
    cdef Py_ssize_t line, line_len, pos, size
    cdef ww_http_field_t f
    cdef int r
    cdef PyObject *old
    cdef Py_ssize_t lines
    cdef dict d
    if _HTTPHeaders is None:
        _load_httputil()
    r = ww_http_head_start(buf, n, max_count, &line, &line_len, &pos, &lines)
    if r == WW_HTTP_E_COUNT:
        raise HeaderFieldCountError("too many header fields")
    d = ww_dict_presized(lines if lines < 64 else 64)   # bounded by the data anyway
    start_line = PyUnicode_DecodeLatin1(buf + line, line_len, NULL)
    while True:
        r = ww_http_next_field(buf, n, &pos, &f)
        if r <= 0:
            if r == 0:
                break
            raise _field_error(r, buf, n, pos)
        name = _norm_name(<const unsigned char *>buf + f.name, f.name_len)
        if f.value_high:
            value = PyUnicode_DecodeLatin1(buf + f.value, f.value_len, NULL)
        elif f.value_len:
            value = PyUnicode_New(f.value_len, 127)
            memcpy(PyUnicode_DATA(value), buf + f.value, f.value_len)
        else:
            value = ""
        size = PyDict_GET_SIZE(d)
        old = PyDict_SetDefault(d, name, value)     # one lookup when new
        # (not "old is value": short values may be shared singletons)
        if PyDict_GET_SIZE(d) == size:
            if type(<object>old) is str:
                PyDict_SetItem(d, name, [<object>old, value])
            else:
                (<list>old).append(value)
    return start_line, _new_headers(d)



cdef object _take_head(_Stream s, Py_ssize_t max_bytes, Py_ssize_t max_count):
    # _Stream.take_http_head(): a whole head already buffered (no read
    # pending), consumed and split in place (no bytes object for the head),
    # or None with nothing consumed.  Limits as in _head_read_pos; a head
    # that is too long is left to read_http_head(), which reports it.
    cdef Py_ssize_t avail = s._end - s._start
    cdef Py_ssize_t cursor = 0, k, r, limit = -1
    k = ww_http_skip_blank(s._buf + s._start, avail)
    if k == avail:
        return None
    if max_bytes >= 0:
        limit = max_bytes - k
        if limit < 0:
            return None
    r = ww_http_find_head_end(s._buf + s._start + k, avail - k, &cursor, limit)
    if r < 0:
        return None
    if _HTTPHeaders is None:
        _load_httputil()
    try:
        return _parse_head_buf(s._buf + s._start + k, r, max_count)
    finally:
        s._consume(k + r)   # consumed even when it is malformed, like a read

# -- format_head -----------------------------------------------------------------

cdef Py_ssize_t _out_len(object s, object name) except -2:
    # The length of s written as latin-1, or -1 if s is not exactly a str
    # (format_head then declines).  CR, LF, NUL or a character past U+00FF
    # raise ValueError naming the field.
    if not PyUnicode_CheckExact(s):
        return -1
    if PyUnicode_KIND(s) != PyUnicode_1BYTE_KIND:
        # Canonical strs use the narrowest kind: a wider one holds a
        # character latin-1 cannot encode.
        raise ValueError("Header not encodable as latin-1: %r" % (name,))
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(s)
    if ww_http_out_bad(<const unsigned char *>PyUnicode_DATA(s), n) >= 0:
        raise ValueError("Illegal characters (CR, LF or NUL) in header %r" % (name,))
    return n


cdef inline char *_put_field(char *p, object name, object value) noexcept:
    # "name: value\r\n"; both were checked by _out_len (1-byte kind).
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(name)
    memcpy(p, PyUnicode_DATA(name), n)
    p += n
    p[0] = 58   # ':'
    p[1] = 32   # ' '
    p += 2
    n = PyUnicode_GET_LENGTH(value)
    memcpy(p, PyUnicode_DATA(value), n)
    p += n
    p[0] = 13
    p[1] = 10
    return p + 2


def format_head(bytes first not None, dict fields not None, bytes tail=None):
    """``first`` + one ``Name: value`` line per field + an empty line + ``tail``.

    ``first`` is the start line with its CRLF; ``fields`` maps names to a
    str, or to a list of str for a repeated field (HTTPHeaders._d).
    Returns None if a name, value or item is not exactly a str (the caller
    formats those in Python).  Raises ValueError, before anything is built,
    for CR, LF or NUL in a name or value, or a character latin-1 cannot
    encode.  The Python reference is whirlwind._http1support._format_head.
    """
    cdef Py_ssize_t total = PyBytes_GET_SIZE(first) + 2
    cdef Py_ssize_t pos = 0, n, i, m, k
    cdef PyObject *key
    cdef PyObject *val
    cdef char *p
    if tail is not None:
        total += PyBytes_GET_SIZE(tail)
    # Pass 1: check and measure.  No Python code runs between the passes,
    # so the dict and its lists cannot change under us.
    while PyDict_Next(fields, &pos, &key, &val):
        if type(<object>val) is list:
            m = PyList_GET_SIZE(<object>val)
            if m == 0:
                continue        # no line, so nothing to check
            n = _out_len(<object>key, <object>key)
            if n < 0:
                return None
            for i in range(m):
                k = _out_len(<object>PyList_GET_ITEM(<object>val, i), <object>key)
                if k < 0:
                    return None
                total += n + k + 4
        else:
            n = _out_len(<object>key, <object>key)
            k = _out_len(<object>val, <object>key)
            if n < 0 or k < 0:
                return None
            total += n + k + 4
    # Pass 2: copy into one new bytes object.
    out = PyBytes_FromStringAndSize(NULL, total)
    p = PyBytes_AS_STRING(out)
    n = PyBytes_GET_SIZE(first)
    memcpy(p, PyBytes_AS_STRING(first), n)
    p += n
    pos = 0
    while PyDict_Next(fields, &pos, &key, &val):
        if type(<object>val) is list:
            m = PyList_GET_SIZE(<object>val)
            for i in range(m):
                p = _put_field(p, <object>key, <object>PyList_GET_ITEM(<object>val, i))
        else:
            p = _put_field(p, <object>key, <object>val)
    p[0] = 13
    p[1] = 10
    p += 2
    if tail is not None:
        memcpy(p, PyBytes_AS_STRING(tail), PyBytes_GET_SIZE(tail))
    return out


# -- the Date header -------------------------------------------------------------

cdef long long _date_second = -1
cdef object _date_value = None


def http_date():
    """The current time as an HTTP date (``Sun, 06 Nov 1994 08:49:37 GMT``).

    Formatted at most once a second; between those, a cached str.
    """
    global _date_second, _date_value
    cdef long long now = <long long>c_time(NULL)
    if now != _date_second:
        _date_value = _http_date_at(now)
        _date_second = now
    return _date_value


def _http_date_at(long long t):
    """The HTTP date of POSIX time ``t`` (whole seconds), for tests."""
    cdef char buf[32]
    ww_http_format_date(t, buf)
    return PyUnicode_DecodeLatin1(buf, WW_HTTP_DATE_LEN, NULL)


cdef Py_ssize_t _head_read_pos(_Stream s) except -2:
    # Bytes to consume for a pending read_http_head(), or -1 (not yet).
    cdef Py_ssize_t avail = s._end - s._start
    cdef Py_ssize_t k, r
    cdef Py_ssize_t limit = s._rmax
    if s._rcursor == 0 and avail > 0:
        k = ww_http_skip_blank(s._buf + s._start, avail)
        if k:
            s._rfilled += k
            s._consume(k)
            avail -= k
    if limit >= 0:
        limit -= s._rfilled     # the skipped blank lines count too
    if limit >= 0 or s._rmax < 0:
        r = ww_http_find_head_end(s._buf + s._start, avail, &s._rcursor, limit)
    else:
        r = WW_HTTP_TOO_LONG
    if r >= 0:
        return r
    if r == WW_HTTP_TOO_LONG:
        raise UnsatisfiableReadError(
            "end of HTTP head not found within %d bytes" % s._rmax)
    return -1


def _find_head_end(const unsigned char[:] buf, Py_ssize_t cursor, Py_ssize_t limit=-1):
    """Test hook for ww_http_find_head_end: returns (result, new_cursor).

    result: bytes to consume (>= 0), -1 not found yet, -2 max_bytes exceeded.
    """
    cdef Py_ssize_t c = cursor
    cdef Py_ssize_t r
    cdef const char *p = <const char *>&buf[0] if buf.shape[0] else <const char *>""
    r = ww_http_find_head_end(p, buf.shape[0], &c, limit)
    return r, c

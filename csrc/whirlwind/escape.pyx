# HTML escaping for templates: escape_html().
#
# Why compiled: every `{{ }}` of an autoescaped template goes through it, so
# it is the hottest primitive of every rendered page (a 940-byte page with
# 42 escapes spent about a third of its render time in the Python version).
#
# Theory of operation
# -------------------
# The Python reference is whirlwind.escape._py_escape_any; this gives the
# same results for every value.  Type dispatch first: an exact str goes
# straight to the scanner; an exact int or float becomes str(value) and is
# not scanned (digits, sign, '.', 'e', 'inf', 'nan'); other str subclasses
# are scanned as they are, bytes are decoded as strict UTF-8, anything else
# goes through str() first.
#
# Scanning works on the str's own storage, by kind (1, 2 or 4 bytes per
# code point, one specialisation each).  A first pass looks for the first
# of the five specials & < > " ' and, from there on, adds up how many code
# points the entities add (a table indexed by code point < 256).  None
# found: the input object itself is returned, no allocation.  Otherwise one
# str of the final size is made with the input's own maximum character
# (entities are ASCII, and every non-ASCII code point survives, so the
# result has the same kind and stays canonical), the clean prefix is
# copied with memcpy and the rest code point by code point.
#
# Small ints (0 <= n < 1024: counts, ids, table cells) are the other common
# value; their text is made once, on first use, and kept.

# Included after httphead.pyx, whose cimports (PyUnicode_KIND, memcpy,
# PyBytes_AS_STRING, PyList_GET_ITEM, ...) and PyUnicode_New/PyUnicode_DATA
# declarations this file uses.
from cpython.long cimport PyLong_AsLongAndOverflow
from cpython.object cimport PyObject_Str
from cpython.unicode cimport PyUnicode_2BYTE_KIND, PyUnicode_DecodeUTF8

cdef extern from "Python.h":
    ctypedef unsigned char Py_UCS1
    ctypedef unsigned short Py_UCS2
    bint PyUnicode_IS_ASCII(object o)

ctypedef fused _ucs_t:
    Py_UCS1
    Py_UCS2
    Py_UCS4

# Code points each special adds when replaced by its entity; 0 elsewhere.
cdef unsigned char _html_extra[256]
_html_extra[38] = 4    # &  -> &amp;
_html_extra[60] = 3    # <  -> &lt;
_html_extra[62] = 3    # >  -> &gt;
_html_extra[34] = 5    # "  -> &quot;
_html_extra[39] = 5    # '  -> &#x27;


cdef inline Py_ssize_t _html_first(const _ucs_t *p, Py_ssize_t n) noexcept nogil:
    # Index of the first special, or n.
    cdef Py_ssize_t i
    cdef Py_UCS4 c
    for i in range(n):
        c = p[i]
        if c < 256 and _html_extra[c]:
            return i
    return n


cdef inline Py_ssize_t _html_added(const _ucs_t *p, Py_ssize_t start,
                                   Py_ssize_t n) noexcept nogil:
    # Code points the entities add over p[start:n].
    cdef Py_ssize_t i, extra = 0
    cdef Py_UCS4 c
    for i in range(start, n):
        c = p[i]
        if c < 256:
            extra += _html_extra[c]
    return extra


cdef inline void _html_put(const char *ent, Py_ssize_t size, _ucs_t *q) noexcept nogil:
    cdef Py_ssize_t j
    if _ucs_t is Py_UCS1:
        memcpy(q, ent, <size_t>size)  # a constant size: one or two stores
    else:
        for j in range(size):
            q[j] = <unsigned char>ent[j]


cdef _ucs_t *_html_copy(const _ucs_t *p, Py_ssize_t start, Py_ssize_t n,
                       _ucs_t *q) noexcept nogil:
    # Writes p[start:n], escaped, at q (q already holds the prefix); returns
    # the end of what it wrote.
    cdef Py_ssize_t i
    cdef Py_UCS4 c
    for i in range(start, n):
        c = p[i]
        if c >= 256 or not _html_extra[c]:
            q[0] = <_ucs_t>c
            q += 1
        elif c == 38:
            _html_put(b"&amp;", 5, q)
            q += 5
        elif c == 60:
            _html_put(b"&lt;", 4, q)
            q += 4
        elif c == 62:
            _html_put(b"&gt;", 4, q)
            q += 4
        elif c == 34:
            _html_put(b"&quot;", 6, q)
            q += 6
        else:
            _html_put(b"&#x27;", 6, q)
            q += 6
    return q


cdef object _escape_text(object text):
    # `text` is a str (exact or subclass); returns it when nothing changes.
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(text)
    cdef int kind = PyUnicode_KIND(text)
    cdef void *data = PyUnicode_DATA(text)
    cdef Py_ssize_t first, extra
    cdef Py_UCS4 maxchar
    cdef object out
    if kind == PyUnicode_1BYTE_KIND:
        first = _html_first(<const Py_UCS1 *>data, n)
        if first == n:
            return text
        extra = _html_added(<const Py_UCS1 *>data, first, n)
        maxchar = 127 if PyUnicode_IS_ASCII(text) else 255
    elif kind == PyUnicode_2BYTE_KIND:
        first = _html_first(<const Py_UCS2 *>data, n)
        if first == n:
            return text
        extra = _html_added(<const Py_UCS2 *>data, first, n)
        maxchar = 0xFFFF
    else:
        first = _html_first(<const Py_UCS4 *>data, n)
        if first == n:
            return text
        extra = _html_added(<const Py_UCS4 *>data, first, n)
        maxchar = 0x10FFFF
    out = PyUnicode_New(n + extra, maxchar)
    cdef void *dst = PyUnicode_DATA(out)
    memcpy(dst, data, <size_t>first * <size_t>kind)
    if kind == PyUnicode_1BYTE_KIND:
        _html_copy(<const Py_UCS1 *>data, first, n, (<Py_UCS1 *>dst) + first)
    elif kind == PyUnicode_2BYTE_KIND:
        _html_copy(<const Py_UCS2 *>data, first, n, (<Py_UCS2 *>dst) + first)
    else:
        _html_copy(<const Py_UCS4 *>data, first, n, (<Py_UCS4 *>dst) + first)
    return out


cdef enum:
    _SMALL_INTS = 1024

cdef list _small_int_text = [None] * _SMALL_INTS


cdef inline object _int_text(object value):
    # str(value) for an exact int, from the cache when small.
    cdef int overflow
    cdef long n = PyLong_AsLongAndOverflow(value, &overflow)
    cdef object text
    if overflow or n < 0 or n >= _SMALL_INTS:
        return PyObject_Str(value)
    text = <object>PyList_GET_ITEM(_small_int_text, n)
    if text is None:
        text = PyObject_Str(value)
        _small_int_text[n] = text
    return text


@cython.always_allow_keywords(False)   # METH_O: the cheapest call from templates
def escape_html(value):
    """``value`` as HTML text: ``& < > " '`` become ``&amp; &lt; &gt; &quot;
    &#x27;``. Exact ints and floats give ``str(value)``; bytes are decoded as
    UTF-8; other objects go through ``str()``. A str with nothing to escape
    is returned as it is (the same object)."""
    cdef object cls = type(value)
    if cls is str:
        return _escape_text(value)
    if cls is int:
        return _int_text(value)
    if cls is float:
        return PyObject_Str(value)
    if isinstance(value, str):
        return _escape_text(value)
    if cls is bytes:
        return _escape_text(PyUnicode_DecodeUTF8(
            PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value), NULL))
    if isinstance(value, bytes):
        return _escape_text(value.decode("utf-8"))
    return _escape_text(PyObject_Str(value))



@cython.always_allow_keywords(False)   # METH_O
def early_text(value):
    """``value`` itself if escape_html can write it without running Python
    code (str, int, float, bytes and their subclasses), else ``str(value)``.

    Templates call it on a value whose escaping `TemplateWriter.emit` would
    otherwise defer past the evaluation of later expressions."""
    cdef object cls = type(value)
    if cls is str or cls is int or cls is float or cls is bytes:
        return value
    if isinstance(value, (str, bytes)):
        return value
    return PyObject_Str(value)

# -- the output buffer of one template rendering --------------------------------
#
# Theory of operation
# -------------------
# Generated template code writes into one TemplateWriter instead of a list
# of str pieces: the output is kept as UTF-8 bytes in one growing buffer,
# so a rendering ends with one copy into the result (no join, no encode).
# `append(text)` copies a str as it is. `emit(parts, *values)` is a whole
# run of template text and `{{ }}` values in one call: `parts` is a tuple
# of len(values) + 1 UTF-8 bytes literals that surround the values, and
# each value is written as escape_html(value) would give it, escaped while
# it is copied (no intermediate str). A writer made with a `custom`
# function (a template namespace that replaces xhtml_escape) writes
# custom(value) instead. The Python reference is
# whirlwind._template_code._PyTemplateWriter. ASCII str (the common case) are
# copied from their own storage; other str through their cached UTF-8 form
# (escaping UTF-8 bytes is safe: the five specials are ASCII and never
# appear inside a multi-byte sequence). A str that can't be UTF-8 encoded
# (a lone surrogate) goes through encode("utf-8", "surrogateescape"), as
# the joined output of the list version did.

from cpython.mem cimport PyMem_Free as _tw_free, PyMem_Malloc as _tw_malloc
from cpython.mem cimport PyMem_Realloc as _tw_realloc
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE

cdef extern from "Python.h":
    const Py_ssize_t PY_SSIZE_T_MAX
    const char *PyUnicode_AsUTF8AndSize(object o, Py_ssize_t *size) except NULL
    ctypedef struct PyMethodDef:
        const char *ml_name
        void *ml_meth
        int ml_flags
        const char *ml_doc
    int METH_FASTCALL
    object PyCFunction_New(PyMethodDef *ml, object self)


cdef enum:
    _TW_START = 1024


@cython.final
cdef class TemplateWriter:
    """Output of one template rendering, as UTF-8 bytes (see `emit`).

    ``custom``, if given, is called for each value instead of escape_html."""

    cdef char *_buf
    cdef Py_ssize_t _len
    cdef Py_ssize_t _cap
    cdef object _custom

    def __cinit__(self, custom=None):
        self._custom = custom
        self._buf = <char *>_tw_malloc(_TW_START)
        if self._buf is NULL:
            raise MemoryError()
        self._cap = _TW_START

    def __dealloc__(self):
        _tw_free(self._buf)

    cdef inline char *_reserve(self, Py_ssize_t extra) except NULL:
        # Room for `extra` more bytes; returns the write position.
        if self._len + extra > self._cap:
            self._grow(self._len + extra)
        return self._buf + self._len

    cdef int _grow(self, Py_ssize_t need) except -1:
        cdef Py_ssize_t cap = self._cap
        cdef char *grown
        if need < 0 or need > PY_SSIZE_T_MAX // 2:  # a sum that overflowed
            raise MemoryError()
        while cap < need:
            cap *= 2
        grown = <char *>_tw_realloc(self._buf, cap)
        if grown is NULL:
            raise MemoryError()
        self._buf = grown
        self._cap = cap
        return 0

    cdef inline int _put(self, const char *data, Py_ssize_t n) except -1:
        if self._len + n > self._cap:
            self._grow(self._len + n)
        memcpy(self._buf + self._len, data, <size_t>n)
        self._len += n
        return 0

    cdef int _put_text(self, object text) except -1:
        # A str, unescaped.
        cdef Py_ssize_t n
        cdef const char *utf8
        if PyUnicode_IS_ASCII(text):
            return self._put(<const char *>PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text))
        try:
            utf8 = PyUnicode_AsUTF8AndSize(text, &n)
        except UnicodeEncodeError:
            data = text.encode("utf-8", "surrogateescape")
            return self._put(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
        return self._put(utf8, n)

    cdef int _put_escaped(self, const char *p, Py_ssize_t n) except -1:
        # UTF-8 (or ASCII) bytes, HTML-escaped as they are copied, by the
        # str scanner's code for 1-byte storage.
        cdef const Py_UCS1 *src = <const Py_UCS1 *>p
        cdef Py_ssize_t first = _html_first(src, n)
        cdef Py_UCS1 *q
        if first == n:
            return self._put(p, n)
        # Room for the worst case (every byte an entity), then one pass.
        if n > PY_SSIZE_T_MAX // 8:
            raise MemoryError()
        q = <Py_UCS1 *>self._reserve(first + (n - first) * 6)
        memcpy(q, p, <size_t>first)
        q = _html_copy(src, first, n, q + first)
        self._len = <char *>q - self._buf
        return 0

    cdef int _put_escaped_str(self, object text) except -1:
        cdef Py_ssize_t n
        cdef const char *utf8
        if PyUnicode_IS_ASCII(text):
            return self._put_escaped(<const char *>PyUnicode_DATA(text),
                                     PyUnicode_GET_LENGTH(text))
        try:
            utf8 = PyUnicode_AsUTF8AndSize(text, &n)
        except UnicodeEncodeError:
            return self._put_text(_escape_text(text))
        return self._put_escaped(utf8, n)

    cdef int _put_value(self, object value) except -1:
        # escape_html(value), written.
        cdef object cls = type(value)
        cdef object text
        if self._custom is not None:
            text = self._custom(value)
            if not isinstance(text, str):
                raise TypeError("a template's escape function must give str")
            return self._put_text(text)
        if cls is str:
            return self._put_escaped_str(value)
        if cls is int:
            text = _int_text(value)
            return self._put(<const char *>PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text))
        return self._put_text(escape_html(value))

    @cython.always_allow_keywords(False)
    def append(self, str text not None):
        """Write ``text`` as it is."""
        self._put_text(text)

    cdef int _emit(self, PyObject *const *args, Py_ssize_t nargs) except -1:
        # args[0] is the parts tuple, args[1:] the values.
        cdef Py_ssize_t n = nargs - 1
        cdef Py_ssize_t i
        cdef object parts, part
        if nargs < 1 or type(<object>args[0]) is not tuple:
            raise TypeError("emit() needs a tuple of parts first")
        parts = <object>args[0]
        if PyTuple_GET_SIZE(parts) != n + 1:
            raise ValueError("emit() needs one more part than values")
        for i in range(n + 1):
            part = <object>PyTuple_GET_ITEM(parts, i)
            if type(part) is not bytes:
                raise TypeError("emit() parts must be bytes")
            self._put(PyBytes_AS_STRING(part), PyBytes_GET_SIZE(part))
            if i < n:
                self._put_value(<object>args[i + 1])
        return 0

    @property
    def emit(self):
        """``emit(parts, *values)``: write parts[0], escape_html(values[0]),
        parts[1], ..., parts[-1]; ``parts`` is a tuple of one more bytes
        literal than there are values. (A vectorcall method: no tuple is
        made for the values.)"""
        return PyCFunction_New(&_tw_emit_def, self)

    def getvalue(self):
        """Everything written so far, as bytes."""
        return PyBytes_FromStringAndSize(self._buf, self._len)


# `TemplateWriter.emit` as a METH_FASTCALL function: Cython's own `*values`
# methods pack the values into a tuple first, at every call.
cdef object _tw_emit_fast(object self, PyObject *const *args, Py_ssize_t nargs):
    (<TemplateWriter>self)._emit(args, nargs)
    return None


cdef PyMethodDef _tw_emit_def
_tw_emit_def.ml_name = "emit"
_tw_emit_def.ml_meth = <void *>_tw_emit_fast
_tw_emit_def.ml_flags = METH_FASTCALL
_tw_emit_def.ml_doc = NULL

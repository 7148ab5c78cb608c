# HTTP/1 head reading and splitting declarations (see httphead.pyx).

cdef extern from "ww_http.h" nogil:
    const Py_ssize_t WW_HTTP_MISS
    const Py_ssize_t WW_HTTP_TOO_LONG
    const int WW_HTTP_E_CHAR
    const int WW_HTTP_E_FOLD
    const int WW_HTTP_E_COLON
    const int WW_HTTP_E_NAME
    const int WW_HTTP_E_COUNT
    ctypedef struct ww_http_field_t:
        Py_ssize_t name
        Py_ssize_t name_len
        Py_ssize_t value
        Py_ssize_t value_len
        int value_high
    Py_ssize_t ww_http_skip_blank(const char *buf, Py_ssize_t len)
    Py_ssize_t ww_http_find_head_end(const char *buf, Py_ssize_t len,
                                     Py_ssize_t *cursor, Py_ssize_t limit)
    int ww_http_head_start(const char *buf, Py_ssize_t len, Py_ssize_t max_count,
                           Py_ssize_t *line, Py_ssize_t *line_len, Py_ssize_t *block,
                           Py_ssize_t *lines)
    int ww_http_next_field(const char *buf, Py_ssize_t len, Py_ssize_t *pos,
                           ww_http_field_t *f)
    Py_ssize_t ww_http_out_bad(const unsigned char *b, Py_ssize_t n)
    const int WW_HTTP_DATE_LEN
    void ww_http_format_date(long long t, char *out)

# A dict sized for n items (one allocation instead of growing); private in
# CPython, so only where it is known to exist.
cdef extern from *:
    """
    #if defined(PYPY_VERSION) || PY_VERSION_HEX >= 0x030E0000
    #  define ww_dict_presized(n) PyDict_New()
    #else
    #  define ww_dict_presized(n) ((n) <= 5 ? PyDict_New() : _PyDict_NewPresized(n))
    #endif
    """
    dict ww_dict_presized(Py_ssize_t n)

cdef extern from "Python.h":
    Py_ssize_t PyDict_GET_SIZE(object d)
    ctypedef struct PyMemberDef:
        int type
        Py_ssize_t offset
    ctypedef struct PyMemberDescrObject:
        PyMemberDef *d_member

# The K_HEAD branch of _Stream._find_read_pos.
cdef Py_ssize_t _head_read_pos(_Stream s) except -2
# _Stream.take_http_head().
cdef object _take_head(_Stream s, Py_ssize_t max_bytes, Py_ssize_t max_count)

/*
 * ww_http.h -- finding and splitting an HTTP/1 message head in C.
 *
 * Theory of operation
 * -------------------
 * Reading.  A head ends at the first empty line: an LF followed by LF or by
 * CR LF (lines may end with CRLF or a bare LF, RFC 9112 section 2.2).  Blank
 * lines before a head are skipped by the caller (ww_http_skip_blank).
 * ww_http_find_head_end() resumes at *cursor, the offset of the first byte
 * that may still start a terminator: after a miss that is the last LF that
 * could not be classified yet (its next one or two bytes have not arrived),
 * or the end of the data.  Each byte is therefore examined O(1) times
 * whatever the chunking, and the search never looks past `limit` (the
 * caller's max_bytes): a terminator that ends beyond it, or more than
 * `limit` bytes without one, is WW_HTTP_TOO_LONG.
 *
 * Splitting.  ww_http_head_start() separates the start line (leading CR/LF
 * bytes skipped, one trailing CR removed; its syntax is checked later by the
 * start-line parser) from the field block and counts the block's lines
 * against the field limit first, so "too many fields" wins over any other
 * error, as in the Python reference (whirlwind.http1connection._parse_head).
 * ww_http_next_field() then returns one field per call as offsets into the
 * caller's buffer, in one pass over the bytes: a name of token characters,
 * a colon, and a value scanned until a control byte.  The only controls a
 * value may hold are HTAB and the CR of a closing CRLF, so NUL, a bare CR,
 * DEL and the rest are errors; obs-fold (a line starting with SP/HTAB),
 * whitespace before the colon, a missing colon and an empty or non-token
 * name are errors too.  Empty lines are skipped.  The value is trimmed of
 * SP/HTAB on both sides.  Nothing is allocated; bytes >= 0x80 are allowed in
 * values (obs-text) and never in names.
 */
#ifndef WW_HTTP_H
#define WW_HTTP_H

#include "ww_platform.h"

/* ww_http_find_head_end() results besides an end offset (>= 0). */
#define WW_HTTP_MISS (-1)
#define WW_HTTP_TOO_LONG (-2)

/* Field results: 1 = a field, 0 = no more fields, < 0 an error. */
#define WW_HTTP_E_CHAR (-1)   /* forbidden byte in a value (NUL, bare CR, ...) */
#define WW_HTTP_E_FOLD (-2)   /* obs-fold continuation line */
#define WW_HTTP_E_COLON (-3)  /* no colon in a field line */
#define WW_HTTP_E_NAME (-4)   /* empty or non-token name (incl. space before ':') */
#define WW_HTTP_E_COUNT (-5)  /* more field lines than allowed (431) */

typedef struct {
    Py_ssize_t name;        /* offset of the name */
    Py_ssize_t name_len;
    Py_ssize_t value;       /* offset of the trimmed value */
    Py_ssize_t value_len;
    int value_high;         /* the value has bytes >= 0x80 (not ASCII) */
} ww_http_field_t;

/* RFC 9110 tchar: ! # $ % & ' * + - . ^ _ ` | ~ DIGIT ALPHA */
static const unsigned char ww_http_tchar[256] = {
    /* 0x00 */ 0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,
    /* 0x20 */ 0,1,0,1,1,1,1,1, 0,0,1,1,0,1,1,0, 1,1,1,1,1,1,1,1, 1,1,0,0,0,0,0,0,
    /* 0x40 */ 0,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1, 1,1,1,0,0,0,1,1,
    /* 0x60 */ 1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1, 1,1,1,0,1,0,1,0,
    /* 0x80 and up: never in a token */
};

/* Bytes that stop a value scan: every control except HTAB, and DEL. */
static const unsigned char ww_http_vstop[256] = {
    /* 0x00 */ 1,1,1,1,1,1,1,1, 1,0,1,1,1,1,1,1, 1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,
    /* 0x20 */ 0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,
    /* 0x40 */ 0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,
    /* 0x60 */ 0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,1,
    /* 0x80 and up: obs-text, allowed */
};

/*
 * Offset of the first byte of b[e:len] that stops a value (or len); *high
 * gets the OR of the value bytes' top bits (0: pure ASCII).  Eight bytes at
 * a time while none is below 0x20 or equal to 0x7F (bit tricks from "Bit
 * Twiddling Hacks": hasless(x, 0x20) and haszero(x ^ 0x7F..) are exact
 * about whether such a byte exists); a word that has one, possibly an
 * allowed HTAB, is finished byte by byte.
 */
static inline Py_ssize_t
ww_http_value_end(const unsigned char *b, Py_ssize_t e, Py_ssize_t len, int *high)
{
    const uint64_t ones = 0x0101010101010101ULL;
    const uint64_t top = 0x8080808080808080ULL;
    uint64_t x, y, acc = 0;
    unsigned char c, acc1 = 0;
    Py_ssize_t stop;

    while (e + 8 <= len) {
        memcpy(&x, b + e, 8);
        y = x ^ (ones * 0x7F);
        if ((((x - ones * 0x20) & ~x) | ((y - ones) & ~y)) & top) {
            for (stop = e + 8; e < stop; e++) {
                c = b[e];
                if (ww_http_vstop[c]) {
                    goto done;
                }
                acc1 |= c;
            }
            continue;
        }
        acc |= x;
        e += 8;
    }
    while (e < len && !ww_http_vstop[c = b[e]]) {
        acc1 |= c;
        e++;
    }
done:
    *high = ((acc & top) != 0) | ((acc1 & 0x80) != 0);
    return e;
}

/* Number of CR/LF bytes at the start of buf[0:len]. */
static inline Py_ssize_t
ww_http_skip_blank(const char *buf, Py_ssize_t len)
{
    Py_ssize_t i = 0;
    while (i < len && (buf[i] == '\r' || buf[i] == '\n')) {
        i++;
    }
    return i;
}

/*
 * Find the end of a head in buf[0:len] (LF LF or LF CR LF), resuming at
 * *cursor.  limit < 0 means no limit.  Returns the offset just past the
 * terminator, WW_HTTP_MISS (cursor updated), or WW_HTTP_TOO_LONG.
 */
static inline Py_ssize_t
ww_http_find_head_end(const char *buf, Py_ssize_t len, Py_ssize_t *cursor,
                      Py_ssize_t limit)
{
    Py_ssize_t pos = *cursor;
    Py_ssize_t stop = len;    /* a terminator ending within the limit is in here */
    Py_ssize_t i;
    const char *p;

    if (pos < 0) {
        pos = 0;
    }
    if (limit >= 0 && stop > limit) {
        stop = limit;
    }
    while (pos < stop) {
        p = (const char *)memchr(buf + pos, '\n', (size_t)(stop - pos));
        if (p == NULL) {
            pos = stop;
            break;
        }
        i = (Py_ssize_t)(p - buf);
        if (i + 1 >= stop) {
            pos = i;          /* classify this LF when its next byte arrives */
            break;
        }
        if (buf[i + 1] == '\n') {
            *cursor = i;
            return i + 2;
        }
        if (buf[i + 1] == '\r') {
            if (i + 2 >= stop) {
                pos = i;
                break;
            }
            if (buf[i + 2] == '\n') {
                *cursor = i;
                return i + 3;
            }
        }
        pos = i + 1;
    }
    *cursor = pos;
    if (limit >= 0 && len > limit) {
        return WW_HTTP_TOO_LONG;
    }
    return WW_HTTP_MISS;
}

/*
 * Split a head: the start line is buf[*line:*line + *line_len], the
 * fields start at *block and *lines counts the line ends after the start
 * line (an upper bound on the fields, for presizing).  Returns 0, or WW_HTTP_E_COUNT when the block has
 * more than max_count + 1 line ends (the closing empty line is one of them).
 */
static inline int
ww_http_head_start(const char *buf, Py_ssize_t len, Py_ssize_t max_count,
                   Py_ssize_t *line, Py_ssize_t *line_len, Py_ssize_t *block,
                   Py_ssize_t *lines)
{
    Py_ssize_t i = ww_http_skip_blank(buf, len);
    Py_ssize_t eol, n;
    const char *p, *end = buf + len;

    *line = i;
    *lines = 0;
    p = (const char *)memchr(buf + i, '\n', (size_t)(len - i));
    if (p == NULL) {
        *line_len = len - i;
        *block = len;
        return 0;
    }
    eol = (Py_ssize_t)(p - buf);
    n = eol - i;
    if (n > 0 && buf[eol - 1] == '\r') {
        n--;
    }
    *line_len = n;
    *block = eol + 1;
    /* Count line ends in the block; more than max_count + 1 is too many. */
    n = 0;
    p++;
    while (p < end && (p = (const char *)memchr(p, '\n', (size_t)(end - p))) != NULL) {
        n++;
        if (n - 1 > max_count) {
            return WW_HTTP_E_COUNT;
        }
        p++;
    }
    *lines = n;
    return 0;
}

/*
 * The next field of buf[*pos:len]: returns 1 and fills *f, 0 at the end of
 * the block, or a negative WW_HTTP_E_* code.  *pos moves past each line;
 * after an error it is the start of the offending line.
 */
static inline int
ww_http_next_field(const char *buf, Py_ssize_t len, Py_ssize_t *pos,
                   ww_http_field_t *f)
{
    const unsigned char *b = (const unsigned char *)buf;
    Py_ssize_t s, i, v, e;
    unsigned char c;

    for (;;) {
        s = *pos;
        if (s >= len) {
            return 0;
        }
        c = b[s];
        if (c == '\n') {                      /* empty line */
            *pos = s + 1;
            continue;
        }
        if (c == '\r' && s + 1 < len && b[s + 1] == '\n') {
            *pos = s + 2;                     /* empty line ending in CRLF */
            continue;
        }
        if (c == ' ' || c == '\t') {
            return WW_HTTP_E_FOLD;
        }
        /* name: token characters up to the colon */
        i = s;
        while (i < len && ww_http_tchar[b[i]]) {
            i++;
        }
        if (i == len || b[i] != ':' || i == s) {
            /* Tell a missing colon from a bad name (messages only). */
            while (i < len && b[i] != '\n' && b[i] != ':') {
                i++;
            }
            return (i < len && b[i] == ':') ? WW_HTTP_E_NAME : WW_HTTP_E_COLON;
        }
        f->name = s;
        f->name_len = i - s;
        /* value: up to the first control byte, which must end the line */
        v = i + 1;
        e = ww_http_value_end(b, v, len, &f->value_high);
        if (e == len) {
            *pos = len;                       /* last line without LF */
        }
        else if (b[e] == '\n') {
            *pos = e + 1;
        }
        else if (b[e] == '\r' && e + 1 < len && b[e + 1] == '\n') {
            *pos = e + 2;
        }
        else {
            *pos = s;                         /* errors leave *pos at the line */
            return WW_HTTP_E_CHAR;
        }
        while (v < e && (b[v] == ' ' || b[v] == '\t')) {
            v++;
        }
        while (e > v && (b[e - 1] == ' ' || b[e - 1] == '\t')) {
            e--;
        }
        f->value = v;
        f->value_len = e - v;
        return 1;
    }
}

/*
 * Writing.  A response (or request) head is written by the caller in two
 * passes over its fields: the first measures and checks them, the second
 * copies them into one new bytes object.  ww_http_out_bad() is the check:
 * the offset of the first CR, LF or NUL in b[0:n] (bytes that would let a
 * name or value end the line or the head early: header injection), or -1.
 */
static inline Py_ssize_t
ww_http_out_bad(const unsigned char *b, Py_ssize_t n)
{
    Py_ssize_t i;
    for (i = 0; i < n; i++) {
        unsigned char c = b[i];
        if (c <= '\r' && (c == '\r' || c == '\n' || c == 0)) {
            return i;
        }
    }
    return -1;
}

/*
 * The IMF-fixdate of POSIX time t (RFC 9110 section 5.6.7), for the Date
 * header: "Sun, 06 Nov 1994 08:49:37 GMT", exactly WW_HTTP_DATE_LEN bytes,
 * written to out (no NUL).  The civil date comes from the day count by
 * Howard Hinnant's days-to-civil algorithm: no gmtime(), so it is
 * thread-safe and the same on every platform.
 */
#define WW_HTTP_DATE_LEN 29

static inline void
ww_http_format_date(long long t, char *out)
{
    static const char wday[7][4] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
    static const char mon[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    long long days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
    long long secs = t - days * 86400;
    long long z = days + 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    long long doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long y = yoe + era * 400;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    int w = (int)(((days % 7) + 7) % 7);     /* 1970-01-01 was a Thursday */
    int hh = (int)(secs / 3600), mm = (int)(secs / 60 % 60), ss = (int)(secs % 60);
    y += m <= 2;
    if (y < 0) {
        y = 0;
    }
    else if (y > 9999) {
        y = 9999;
    }
    memcpy(out, wday[w], 3);
    out[3] = ',';
    out[4] = ' ';
    out[5] = (char)('0' + d / 10);
    out[6] = (char)('0' + d % 10);
    out[7] = ' ';
    memcpy(out + 8, mon[m - 1], 3);
    out[11] = ' ';
    out[12] = (char)('0' + y / 1000);
    out[13] = (char)('0' + y / 100 % 10);
    out[14] = (char)('0' + y / 10 % 10);
    out[15] = (char)('0' + y % 10);
    out[16] = ' ';
    out[17] = (char)('0' + hh / 10);
    out[18] = (char)('0' + hh % 10);
    out[19] = ':';
    out[20] = (char)('0' + mm / 10);
    out[21] = (char)('0' + mm % 10);
    out[22] = ':';
    out[23] = (char)('0' + ss / 10);
    out[24] = (char)('0' + ss % 10);
    memcpy(out + 25, " GMT", 4);
}

#endif /* WW_HTTP_H */

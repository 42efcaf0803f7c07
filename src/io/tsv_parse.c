/* Parsing of delimited text in memory (see tsv_parse.h): numbers, lines, cells, matrix rows and
 * string tables. No MPI and no files here.
 *
 * Numbers. A decimal is read into a 64-bit mantissa m (up to 19 significant digits) and a power
 * of ten e. When m < 2^53 and |e| <= 22, m and 10^|e| are exact doubles, so m * 10^e (or
 * m / 10^-e) is the correctly rounded double d of the decimal (Clinger's fast path, W. D. Clinger,
 * "How to read floating point numbers accurately", PLDI 1990). Rounding d to float then gives the
 * correctly rounded float unless d lies exactly on a midpoint between two floats: floats'
 * midpoints are doubles, so the second rounding can only go wrong there. In that range d is
 * always a normal float (1e-22 .. 9e37), so a midpoint is "the low 29 of the 52 fraction bits are
 * 1000...0". Midpoints, longer mantissas and larger exponents go to strtof (rare in real data:
 * expression values have a handful of digits). */
#include "tsv_parse.h"

#include <math.h>
#include <stdlib.h>

static const double kPow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                  1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                  1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

enum { SCAN_NONE = 0, SCAN_FAST = 1, SCAN_SLOW = 2 };

static inline unsigned digit(char c) {
  return (unsigned)(unsigned char)c - '0';
}

/* Scans the longest decimal [+-]?(D+(.D*)?|.D+)([eE][+-]?D+)? at p (p <= e; reads only up to
 * e). SCAN_NONE: there is none, or an exponent marker without digits follows it (then the text
 * is not a number whatever comes next). Otherwise *stop is the first byte after it and either
 * SCAN_FAST with *out set, or SCAN_SLOW: the value needs strtof on [p, *stop). */
static inline int scan_decimal(const char *p, const char *e, const char **stop, float *out) {
  int neg = 0;
  if (p < e && (*p == '-' || *p == '+')) {
    neg = *p == '-';
    p++;
  }
  uint64_t m = 0;
  int nd = 0, any = 0; /* significant digits in m; any digit seen */
  int64_t e10 = 0;
  unsigned d;
  while (p < e && *p == '0') {
    p++;
    any = 1;
  }
  while (p < e && (d = digit(*p)) < 10) {
    if (nd < 19) {
      m = m * 10 + d;
      nd++;
    } else {
      e10++; /* dropped digit: m >= 10^18 > 2^53, so this goes to strtof anyway */
    }
    p++;
    any = 1;
  }
  if (p < e && *p == '.') {
    p++;
    if (nd == 0)
      while (p < e && *p == '0') {
        p++;
        e10--;
        any = 1;
      }
    while (p < e && (d = digit(*p)) < 10) {
      if (nd < 19) {
        m = m * 10 + d;
        nd++;
        e10--;
      }
      p++;
      any = 1;
    }
  }
  if (!any) return SCAN_NONE;
  if (p < e && (*p | 0x20) == 'e') {
    const char *q = p + 1;
    int eneg = 0;
    if (q < e && (*q == '-' || *q == '+')) {
      eneg = *q == '-';
      q++;
    }
    if (!(q < e && digit(*q) < 10)) return SCAN_NONE;
    int64_t x = 0;
    while (q < e && (d = digit(*q)) < 10) {
      if (x < 100000000) x = x * 10 + d; /* saturates far outside float's range */
      q++;
    }
    e10 += eneg ? -x : x;
    p = q;
  }
  *stop = p;
  if (m == 0) {
    *out = neg ? -0.0f : 0.0f;
    return SCAN_FAST;
  }
  if (m < (UINT64_C(1) << 53) && e10 >= -22 && e10 <= 22) {
    double v = (double)m;
    v = e10 < 0 ? v / kPow10[-e10] : v * kPow10[e10];
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    if ((bits & UINT64_C(0x1FFFFFFF)) != UINT64_C(0x10000000)) {
      float f = (float)v;
      *out = neg ? -f : f;
      return SCAN_FAST;
    }
  }
  return SCAN_SLOW;
}

/* strtof on p[0..n) (a decimal that scan_decimal accepted), via a NUL-terminated copy. */
static float slow_strtof(const char *p, size_t n) {
  char tmp[128];
  char *s = n < sizeof tmp ? tmp : OVQ_MALLOC(n + 1);
  memcpy(s, p, n);
  s[n] = '\0';
  float f = strtof(s, NULL);
  if (s != tmp) free(s);
  return f;
}

/* p[0..n) equals the lower-case word w, ignoring ASCII case. */
static int word_is(const char *p, size_t n, const char *w) {
  if (strlen(w) != n) return 0;
  for (size_t i = 0; i < n; i++)
    if ((p[i] | 0x20) != w[i]) return 0;
  return 1;
}

OvqValueKind ovq_parse_value(const char *s, size_t len, float *out) {
  const char *p = s, *e = s + len;
  while (p < e && (*p == ' ' || *p == '\t'))
    p++;
  while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
    e--;
  *out = NAN;
  if (p == e) return OVQ_VALUE_MISSING;
  const char *stop = p;
  float v = 0;
  int k = scan_decimal(p, e, &stop, &v);
  if (k != SCAN_NONE && stop == e) {
    if (k == SCAN_SLOW) v = slow_strtof(p, (size_t)(e - p));
    *out = v;
    return isinf(v) ? OVQ_VALUE_INF : OVQ_VALUE_NUMBER;
  }
  size_t n = (size_t)(e - p);
  if (word_is(p, n, "na") || word_is(p, n, "nan") || word_is(p, n, "null"))
    return OVQ_VALUE_MISSING;
  int neg = 0;
  if (*p == '-' || *p == '+') {
    neg = *p == '-';
    p++;
    n--;
    /* "-nan" is what C's printf writes for a NaN with the sign bit set. */
    if (word_is(p, n, "nan")) return OVQ_VALUE_MISSING;
  }
  if (word_is(p, n, "inf") || word_is(p, n, "infinity")) {
    *out = neg ? -INFINITY : INFINITY;
    return OVQ_VALUE_INF;
  }
  return OVQ_VALUE_BAD;
}

int64_t ovq_tsv_count_lines(const char *buf, size_t len) {
  int64_t n = 0;
  const char *p = buf, *e = buf + len;
  while (p < e) {
    const char *q = memchr(p, '\n', (size_t)(e - p));
    n++;
    if (!q) break;
    p = q + 1;
  }
  return n;
}

int64_t ovq_tsv_split(char *line, size_t n, char delim, char **cells, int64_t max) {
  char *p = line, *e = line + n;
  int64_t k = 0;
  for (;;) {
    char *q = memchr(p, delim, (size_t)(e - p));
    if (!q) q = e;
    if (k < max) {
      size_t len = (size_t)(q - p);
      if (len >= 2 && p[0] == '"' && q[-1] == '"') {
        memmove(p, p + 1, len - 2);
        p[len - 2] = '\0';
      } else {
        *q = '\0';
      }
      cells[k] = p;
    }
    k++;
    if (q == e) break;
    p = q + 1;
  }
  return k;
}

/* A field the fast scan did not take: a pair of double quotes around it is dropped, then
 * ovq_parse_value decides. */
static OvqValueKind field_value(const char *p, size_t n, float *v) {
  if (n >= 2 && p[0] == '"' && p[n - 1] == '"') {
    p++;
    n -= 2;
  }
  return ovq_parse_value(p, n, v);
}

static int64_t count_delims(const char *p, const char *e, char delim) {
  int64_t n = 0;
  while ((p = memchr(p, delim, (size_t)(e - p))) != NULL) {
    n++;
    p++;
  }
  return n;
}

int64_t ovq_tsv_parse_rows(const char *buf, size_t len, char delim, int64_t n_cols, float *x,
                           OvqSpan *ids, OvqRowError *err) {
  size_t pos = 0, n;
  const char *line;
  int64_t rows = 0, li = -1;
  memset(err, 0, sizeof *err);
  while (ovq_tsv_next_line(buf, len, &pos, &line, &n)) {
    li++;
    if (n == 0) continue;
    const char *e = line + n;
    const char *t = memchr(line, delim, n);
    const char *id_end = t ? t : e;
    size_t id_off = (size_t)(line - buf), id_len = (size_t)(id_end - line);
    if (id_len >= 2 && line[0] == '"' && id_end[-1] == '"') {
      id_off++;
      id_len -= 2;
    }
    /* The id is stored as a C string: it ends at a NUL byte (one at its start makes it empty,
     * as the header's column ids are). */
    id_len = strnlen(buf + id_off, id_len);
    err->line = li;
    if (id_len == 0 || id_len > OVQ_TSV_MAX_ID) {
      err->fault = id_len ? OVQ_ROW_LONG_ID : OVQ_ROW_EMPTY_ID;
      err->off = id_off;
      err->len = id_len;
      return -1;
    }
    ids[rows].off = id_off;
    ids[rows].len = id_len;
    if (!t) {
      err->fault = OVQ_ROW_RAGGED;
      err->n_values = 0;
      return -1;
    }
    float *row = x + rows * n_cols;
    const char *p = t + 1;
    int64_t j = 0;
    for (;;) {
      const char *s = p;
      float v;
      if (scan_decimal(p, e, &s, &v) != SCAN_FAST || (s != e && *s != delim)) {
        s = memchr(p, delim, (size_t)(e - p));
        if (!s) s = e;
        OvqValueKind k = field_value(p, (size_t)(s - p), &v);
        if (k == OVQ_VALUE_BAD || k == OVQ_VALUE_INF) {
          err->fault = k == OVQ_VALUE_BAD ? OVQ_ROW_BAD : OVQ_ROW_INF;
          err->value = j;
          err->off = (size_t)(p - buf);
          err->len = (size_t)(s - p);
          return -1;
        }
      }
      row[j++] = v;
      if (s == e) break;
      if (j == n_cols) { /* more cells than the header */
        err->fault = OVQ_ROW_RAGGED;
        err->n_values = n_cols + 1 + count_delims(s + 1, e, delim);
        return -1;
      }
      p = s + 1;
    }
    if (j != n_cols) {
      err->fault = OVQ_ROW_RAGGED;
      err->n_values = j;
      return -1;
    }
    rows++;
  }
  err->line = 0;
  return rows;
}

int ovq_tsv_table_parse(char *text, size_t len, char comment, char delim, OvqTable *t,
                        OvqTableError *err) {
  memset(err, 0, sizeof *err);
  size_t pos = ovq_tsv_bom(text, len), n;
  const char *cline;
  int64_t lineno = 0;
  /* Header: the first line that is neither empty nor a comment. */
  for (;;) {
    if (!ovq_tsv_next_line(text, len, &pos, &cline, &n)) {
      err->fault = OVQ_TABLE_NO_HEADER;
      return -1;
    }
    lineno++;
    if (n > 0 && !(comment && cline[0] == comment)) break;
  }
  /* Move it to the front so that header[0] is the start of the text block (the table's owner
   * frees that one pointer). The header only moves left, over bytes already read. */
  memmove(text, cline, n);
  int64_t n_cols = 1 + count_delims(text, text + n, delim);
  char **header = OVQ_MALLOC(sizeof(char *) * (size_t)n_cols);
  ovq_tsv_split(text, n, delim, header, n_cols);

  int64_t cap = 0, rows = 0;
  char **cells = NULL;
  int64_t *lines = NULL;
  while (ovq_tsv_next_line(text, len, &pos, &cline, &n)) {
    lineno++;
    if (n == 0 || (comment && cline[0] == comment)) continue;
    if (rows == cap) {
      cap = cap ? 2 * cap : 256;
      cells = OVQ_REALLOC(cells, sizeof(char *) * (size_t)(cap * n_cols));
      lines = OVQ_REALLOC(lines, sizeof(int64_t) * (size_t)cap);
    }
    /* cline points into text, which is writable. */
    char *line = text + (cline - text);
    int64_t k = ovq_tsv_split(line, n, delim, cells + rows * n_cols, n_cols);
    if (k != n_cols) {
      err->fault = OVQ_TABLE_RAGGED;
      err->line = lineno;
      err->n_cells = k;
      err->n_header = n_cols;
      free(header);
      free(cells);
      free(lines);
      return -1;
    }
    lines[rows++] = lineno;
  }
  if (rows == 0) {
    err->fault = OVQ_TABLE_NO_ROWS;
    free(header);
    return -1;
  }
  t->n_cols = n_cols;
  t->n_rows = rows;
  t->header = header;
  t->cells = OVQ_REALLOC(cells, sizeof(char *) * (size_t)(rows * n_cols));
  t->line = OVQ_REALLOC(lines, sizeof(int64_t) * (size_t)rows);
  return 0;
}

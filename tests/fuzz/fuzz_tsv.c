/* libFuzzer target of the delimited-text parsing (src/io/tsv_parse.c, the code the reader runs on
 * every buffer it reads). The input bytes are parsed
 *   - as a string table, with tab and comma delimiters, with and without '#' comments;
 *   - as a numeric matrix: the first line is the header, the rest are rows;
 *   - field by field with ovq_parse_value, checked against a strtof-based reference (kind, and the
 *     float's bits for numbers), and whole, as one value;
 *   - as a file (an in-memory file, memfd) through the line reader and ovq_table_read, which
 *     covers the file code of src/io/tsv.c: plain text, and gzip (inflate, concatenated members,
 *     trailing bytes, truncated or corrupt streams) when the bytes start with the gzip magic.
 * Any invariant broken aborts (a crash for libFuzzer), as do the sanitizers' findings.
 * Built and run by tools/fuzz.sh. */
#define _GNU_SOURCE /* memfd_create */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "tsv_parse.h"


static int lower_is(const char *s, size_t n, const char *w) {
  if (strlen(w) != n) return 0;
  for (size_t i = 0; i < n; i++)
    if ((s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]) != w[i]) return 0;
  return 1;
}

/* The documented classification with strtof deciding numbers (see tests/test_tsv.c). */
static OvqValueKind ref_parse(const char *s, size_t len, float *out) {
  while (len && (*s == ' ' || *s == '\t'))
    s++, len--;
  while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
    len--;
  *out = NAN;
  if (len == 0 || lower_is(s, len, "na") || lower_is(s, len, "nan") || lower_is(s, len, "null") ||
      lower_is(s, len, "-nan") || lower_is(s, len, "+nan"))
    return OVQ_VALUE_MISSING;
  size_t sign = (s[0] == '-' || s[0] == '+');
  if (lower_is(s + sign, len - sign, "inf") || lower_is(s + sign, len - sign, "infinity")) {
    *out = s[0] == '-' ? -INFINITY : INFINITY;
    return OVQ_VALUE_INF;
  }
  for (size_t i = 0; i < len; i++)
    if (!strchr("0123456789.eE+-", s[i]) || s[i] == '\0') return OVQ_VALUE_BAD;
  char *t = malloc(len + 1), *end;
  memcpy(t, s, len);
  t[len] = '\0';
  float v = strtof(t, &end);
  int whole = end == t + len;
  free(t);
  if (!whole) return OVQ_VALUE_BAD;
  *out = v;
  return isinf(v) ? OVQ_VALUE_INF : OVQ_VALUE_NUMBER;
}

static void check_value(const char *s, size_t n) {
  float a, b;
  OvqValueKind ka = ovq_parse_value(s, n, &a), kb = ref_parse(s, n, &b);
  if (ka != kb) {
    fprintf(stderr, "fuzz_tsv: '%.*s': kind %d, reference %d\n", (int)n, s, (int)ka, (int)kb);
    abort();
  }
  if (ka == OVQ_VALUE_NUMBER || ka == OVQ_VALUE_INF) REQUIRE(memcmp(&a, &b, sizeof a) == 0);
  if (ka == OVQ_VALUE_MISSING) REQUIRE(isnan(a));
}

static void fuzz_table(const uint8_t *data, size_t size, char comment, char delim) {
  char *text = malloc(size + 1);
  memcpy(text, data, size);
  OvqTable t;
  memset(&t, 0, sizeof t);
  OvqTableError err;
  if (ovq_tsv_table_parse(text, size, comment, delim, &t, &err) != 0) {
    REQUIRE(err.fault != OVQ_TABLE_OK);
    if (err.fault == OVQ_TABLE_RAGGED) REQUIRE(err.n_cells != err.n_header && err.line >= 2);
    REQUIRE(t.header == NULL && t.cells == NULL);
    free(text);
    return;
  }
  REQUIRE(t.n_cols >= 1 && t.n_rows >= 1 && t.header[0] == text);
  const char *end = text + size + 1;
  for (int64_t j = 0; j < t.n_cols; j++)
    REQUIRE(t.header[j] >= text && t.header[j] + strlen(t.header[j]) < end);
  for (int64_t i = 0; i < t.n_rows; i++) {
    REQUIRE(t.line[i] >= 2 && (i == 0 || t.line[i] > t.line[i - 1]));
    for (int64_t j = 0; j < t.n_cols; j++) {
      const char *c = ovq_table_cell(&t, i, j);
      REQUIRE(c >= text && c + strlen(c) < end);
    }
  }
  free(t.header[0]);
  free(t.header);
  free(t.cells);
  free(t.line);
}

static void fuzz_matrix(const uint8_t *data, size_t size, char delim) {
  const char *buf = (const char *)data, *line;
  size_t pos = ovq_tsv_bom(buf, size), n;
  if (!ovq_tsv_next_line(buf, size, &pos, &line, &n)) return;
  char *hdr = malloc(n + 1);
  memcpy(hdr, line, n);
  int64_t n_cols = ovq_tsv_split(hdr, n, delim, NULL, 0) - 1;
  free(hdr);
  /* The rows get their own exact-size buffer, so ASan sees any read past it. */
  size_t len = size - pos;
  char *rows = malloc(len ? len : 1);
  memcpy(rows, buf + pos, len);
  int64_t n_lines = ovq_tsv_count_lines(rows, len);
  if (n_cols >= 1 && n_lines * n_cols <= (1 << 20)) {
    float *x = malloc(sizeof(float) * (size_t)(n_lines * n_cols + 1));
    OvqSpan *ids = malloc(sizeof(OvqSpan) * (size_t)(n_lines + 1));
    OvqRowError err;
    int64_t r = ovq_tsv_parse_rows(rows, len, delim, n_cols, x, ids, &err);
    if (r >= 0) {
      REQUIRE(r <= n_lines);
      for (int64_t i = 0; i < r; i++) {
        REQUIRE(ids[i].len >= 1 && ids[i].len <= OVQ_TSV_MAX_ID && ids[i].off + ids[i].len <= len);
        REQUIRE(memchr(rows + ids[i].off, '\0', ids[i].len) == NULL); /* a C string, non-empty */
        for (int64_t j = 0; j < n_cols; j++)
          REQUIRE(!isinf(x[i * n_cols + j]));
      }
    } else {
      REQUIRE(err.fault != OVQ_ROW_OK && err.line >= 0 && err.line < n_lines);
      if (err.fault == OVQ_ROW_BAD || err.fault == OVQ_ROW_INF) {
        REQUIRE(err.off + err.len <= len && err.value >= 0 && err.value < n_cols);
        float v;
        OvqValueKind k = ovq_parse_value(rows + err.off, err.len, &v);
        /* The field may be quoted; unquoted it must give the same verdict. */
        if (err.len >= 2 && rows[err.off] == '"' && rows[err.off + err.len - 1] == '"')
          k = ovq_parse_value(rows + err.off + 1, err.len - 2, &v);
        REQUIRE(k == (err.fault == OVQ_ROW_BAD ? OVQ_VALUE_BAD : OVQ_VALUE_INF));
      }
      if (err.fault == OVQ_ROW_RAGGED) REQUIRE(err.n_values != n_cols);
    }
    free(x);
    free(ids);
  }
  free(rows);
}

/* tsv.c's matrix reader stores ids with these (src/io/cohort.c, which needs HDF5 files); it
 * needs MPI_Init and is not run here. */
void ovq_strings_alloc(OvqStrings *s, int64_t n, int width) {
  abort();
}
void ovq_strings_set(OvqStrings *s, int64_t i, const char *str) {
  abort();
}
void ovq_strings_free(OvqStrings *s) {
  abort();
}

static void fuzz_files(const uint8_t *data, size_t size) {
  const char *path = fuzz_bytes_as_file(data, size);
  int gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;

  /* Plain text: the reader's lines are ovq_tsv_next_line's (the BOM dropped from line 1). */
  OvqLineReader *r;
  REQUIRE(ovq_lines_open(path, &r) == OVQ_OK);
  const char *buf = (const char *)data, *want;
  size_t pos = gz ? size : ovq_tsv_bom(buf, size), n_want, n;
  char *line;
  int rc;
  int64_t k = 0;
  while ((rc = ovq_lines_next(r, &line, &n)) == 1) {
    REQUIRE(line[n] == '\0' && ++k == ovq_lines_number(r));
    if (!gz) {
      REQUIRE(ovq_tsv_next_line(buf, size, &pos, &want, &n_want));
      REQUIRE(n == n_want && memcmp(line, want, n) == 0);
    }
  }
  REQUIRE(rc == 0 || (gz && rc == -1));
  if (rc == 0 && !gz) REQUIRE(pos == size);
  if (rc == -1) REQUIRE(ovq_lines_next(r, &line, &n) == -1);
  ovq_lines_close(r);

  OvqTable t;
  if (ovq_table_read(path, '#', '\t', &t) == OVQ_OK) {
    REQUIRE(t.n_cols >= 1 && t.n_rows >= 1);
    for (int64_t i = 0; i < t.n_rows * t.n_cols; i++)
      REQUIRE(t.cells[i] != NULL);
  } else {
    REQUIRE(t.header == NULL && t.n_rows == 0);
  }
  ovq_table_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_table(data, size, '#', '\t');
  fuzz_table(data, size, 0, ',');
  fuzz_matrix(data, size, '\t');
  fuzz_matrix(data, size, ',');

  /* Every field of every line, split at tabs and commas; and the whole input as one value. */
  const char *buf = (const char *)data, *line;
  size_t pos = 0, n;
  while (ovq_tsv_next_line(buf, size, &pos, &line, &n)) {
    const char *p = line, *e = line + n;
    for (;;) {
      const char *q = p;
      while (q < e && *q != '\t' && *q != ',')
        q++;
      check_value(p, (size_t)(q - p));
      if (q == e) break;
      p = q + 1;
    }
  }
  check_value(buf, size);
  fuzz_files(data, size);
  return 0;
}

/* Test of the delimited-text reader (include/ovq/tsv.h).
 *   - ovq_parse_value against strtof (bit for bit) on edge cases, random floats printed in many
 *     formats, float rounding midpoints and their neighbours (where a naive double-then-float
 *     conversion is wrong), and random strings (same kind as a strtof-based reference);
 *   - the line reader (BOM, CRLF, empty lines, last line without newline, a 1 MB line, gzip,
 *     truncated gzip);
 *   - string tables (comments, quotes, CRLF, ragged rows, empty and header-only files, gzip, the
 *     broadcast version);
 *   - numeric matrices read by all ranks: every rank's rows equal values known in advance (so the
 *     bytes do not depend on the rank count), plain, CRLF + BOM, gzip, CSV, a 1 MB line, more
 *     ranks than rows; every kind of bad input gives its message with the right line and column.
 * argv[1] = a writable scratch directory. */
#include <errno.h>
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "ovq/tsv.h"

static char g_dir[1024];
static int g_rank, g_size;

/* ---- helpers ------------------------------------------------------------------------------ */
static uint64_t splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static double uniform(uint64_t *s) {
  return (double)(splitmix(s) >> 11) * 0x1p-53;
}

static const char *path_of(const char *name) {
  static char p[4][2048];
  static int k = 0;
  k = (k + 1) % 4;
  snprintf(p[k], sizeof p[k], "%s/%s", g_dir, name);
  return p[k];
}

/* Rank 0 writes (plain, or gzip when gz), then all ranks wait for it. Returns the path. */
static const char *put_file(const char *name, const char *data, size_t n, int gz) {
  const char *p = path_of(name);
  MPI_Barrier(MPI_COMM_WORLD); /* nobody still reads an earlier file of this name */
  if (g_rank == 0) {
    if (gz) {
      gzFile f = gzopen(p, "wb6");
      if (n) gzwrite(f, data, (unsigned)n);
      gzclose(f);
    } else {
      FILE *f = fopen(p, "wb");
      fwrite(data, 1, n, f);
      fclose(f);
    }
  }
  MPI_Barrier(MPI_COMM_WORLD);
  return p;
}

/* Cuts `drop` bytes off the end of a file (rank 0), then all ranks wait. */
static void truncate_file(const char *p, long drop) {
  if (g_rank == 0) {
    struct stat st;
    stat(p, &st);
    CHECK(truncate(p, st.st_size - drop) == 0);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

typedef struct Buf {
  char *p;
  size_t n, cap;
} Buf;
static void buf_put(Buf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    b->cap = 2 * (b->n + n + 1);
    b->p = realloc(b->p, b->cap);
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}
static void buf_str(Buf *b, const char *s) {
  buf_put(b, s, strlen(s));
}

static int same_float(float a, float b) {
  if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
  return memcmp(&a, &b, sizeof a) == 0;
}

/* ---- ovq_parse_value ---------------------------------------------------------------------- */

static int lower_is(const char *s, const char *w) {
  size_t n = strlen(w);
  if (strlen(s) != n) return 0;
  for (size_t i = 0; i < n; i++)
    if ((s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]) != w[i]) return 0;
  return 1;
}

/* The reference: the documented classification, with strtof deciding numbers. A decimal is text
 * of [0-9.eE+-] that strtof consumes whole (its grammar is exactly the decimal forms there). */
static OvqValueKind ref_parse(const char *s, size_t len, float *out) {
  while (len && (*s == ' ' || *s == '\t'))
    s++, len--;
  while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
    len--;
  char t[512];
  if (len >= sizeof t) return OVQ_VALUE_BAD;
  memcpy(t, s, len);
  t[len] = '\0';
  *out = NAN;
  if (len == 0 || lower_is(t, "na") || lower_is(t, "nan") || lower_is(t, "null") ||
      lower_is(t, "-nan") || lower_is(t, "+nan"))
    return OVQ_VALUE_MISSING;
  const char *w = (t[0] == '-' || t[0] == '+') ? t + 1 : t;
  if (lower_is(w, "inf") || lower_is(w, "infinity")) {
    *out = t[0] == '-' ? -INFINITY : INFINITY;
    return OVQ_VALUE_INF;
  }
  if (strspn(t, "0123456789.eE+-") != len) return OVQ_VALUE_BAD;
  char *end;
  float v = strtof(t, &end);
  if (end != t + len) return OVQ_VALUE_BAD;
  *out = v;
  return isinf(v) ? OVQ_VALUE_INF : OVQ_VALUE_NUMBER;
}

static int64_t g_values_checked = 0;

/* ovq_parse_value(s) must match the reference: kind, and bits of the value for numbers. */
static void check_value(const char *s) {
  float a = 0, b = 0;
  size_t n = strlen(s);
  OvqValueKind ka = ovq_parse_value(s, n, &a), kb = ref_parse(s, n, &b);
  g_values_checked++;
  CHECK_MSG(ka == kb, "'%s': kind %d, reference %d", s, (int)ka, (int)kb);
  if (ka == kb && (kb == OVQ_VALUE_NUMBER || kb == OVQ_VALUE_INF))
    CHECK_MSG(same_float(a, b), "'%s': %a, strtof %a", s, a, b);
  if (ka == OVQ_VALUE_MISSING) CHECK_MSG(isnan(a), "'%s': missing but not NaN", s);
}

static void expect_kind(const char *s, OvqValueKind k) {
  float v;
  OvqValueKind got = ovq_parse_value(s, strlen(s), &v);
  CHECK_MSG(got == k, "'%s': kind %d, expected %d", s, (int)got, (int)k);
  check_value(s);
}

static void test_values(void) {
  static const char *numbers[] = {
      "0",
      "-0",
      "+0",
      "0.0",
      "-0.0",
      "00000",
      "1",
      "-1.5",
      ".5",
      "5.",
      "-.5",
      "+.5",
      "1e-3",
      "1E+05",
      "+2",
      " 3.25 ",
      "\t7\t",
      "8.4397",
      "12.5",
      "1e0",
      "1e+0",
      "1e-0",
      "0e999",
      "0e-999",
      "123456789",
      "1234567890123456",
      "12345678901234567",
      "1234567890123456789",
      "12345678901234567890123",
      "0.000000000000000000000000000001",
      "1e-22",
      "1e22",
      "1e23",
      "9007199254740991",
      "9007199254740992",
      "9007199254740993",
      "16777216",
      "16777217",
      "16777218",
      "16777219",
      "33554435",
      "3.4028235e38",
      "3.4028234e38",
      "3.40282346e38",
      "3.4028235677973366e38",
      "3.4028235677973362e38",
      "340282356779733661637539395458142568447",
      "1.17549435e-38",
      "1.1754942e-38",
      "1e-38",
      "1e-40",
      "1.4e-45",
      "1.401298464e-45",
      "7.006492321624085e-46",
      "7.006492321624086e-46",
      "7e-46",
      "1e-46",
      "1e-50",
      "1e-400",
      "2.2250738585072014e-308",
      "0.1",
      "0.2",
      "0.3",
      "0.7",
      "1.1",
      "3.14159265358979323846",
      "1.00000005960464477539062",
      "1.000000059604644775390625",
      "1.000000059604644775390626",
      "1.0000000596046447753906249",
      "0.000001",
      "1000000",
      "4.9406564584124654e-324",
      "100000000000000000000000000000000000000",
      "2.7182818284590452353602874713527",
  };
  for (size_t i = 0; i < sizeof numbers / sizeof *numbers; i++)
    expect_kind(numbers[i], OVQ_VALUE_NUMBER);
  static const char *missing[] = {"",    " ",    "  \t ", "NA",   "na",   "Na",   "NaN", "nan",
                                  "NAN", "null", "NULL",  "Null", " NA ", "-nan", "+NaN"};
  for (size_t i = 0; i < sizeof missing / sizeof *missing; i++)
    expect_kind(missing[i], OVQ_VALUE_MISSING);
  static const char *inf[] = {"inf",
                              "Inf",
                              "-Inf",
                              "+inf",
                              "INF",
                              "infinity",
                              "Infinity",
                              "-INFINITY",
                              "1e39",
                              "-1e39",
                              "3.5e38",
                              "3.40282357e38",
                              "1e400",
                              "-1e99999999999",
                              "3.4028235677973367e38",
                              "340282356779733661637539395458142568448"};
  for (size_t i = 0; i < sizeof inf / sizeof *inf; i++)
    expect_kind(inf[i], OVQ_VALUE_INF);
  static const char *bad[] = {"abc", "1e",    "1e+",   "e5",     ".",    "-",     "+",
                              "+-1", "--1",   "1.2.3", "1e5x",   "0x10", "0x1p3", "1,5",
                              "1 2", "infin", "nana",  "nan(1)", "\rNA", "NA1",   "1d5",
                              ".e5", "1..",   "\"1\"", "1e5.5",  "- 1",  "1-"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    expect_kind(bad[i], OVQ_VALUE_BAD);

  /* Length is honoured: the bytes after len are not read into the number. */
  float v = 0;
  CHECK(ovq_parse_value("12345", 2, &v) == OVQ_VALUE_NUMBER && v == 12.0f);
  CHECK(ovq_parse_value("1e5", 2, &v) == OVQ_VALUE_BAD);
  CHECK(ovq_parse_value("NAN", 2, &v) == OVQ_VALUE_MISSING);

  uint64_t seed = 12345;
  char s[600];
  /* Random finite floats over the whole range, printed in many ways. */
  for (int it = 0; it < 20000; it++) {
    uint32_t bits = (uint32_t)splitmix(&seed);
    float f;
    memcpy(&f, &bits, sizeof f);
    if (!isfinite(f)) continue;
    for (int prec = 1; prec <= 10; prec++) {
      snprintf(s, sizeof s, "%.*g", prec, (double)f);
      check_value(s);
    }
    snprintf(s, sizeof s, "%.*e", (int)(splitmix(&seed) % 14), (double)f);
    check_value(s);
    snprintf(s, sizeof s, "%.17g", (double)f * (1 + (uniform(&seed) - 0.5) * 1e-7));
    check_value(s);
  }
  /* Values like expression data: a few decimals, moderate magnitudes. */
  for (int it = 0; it < 20000; it++) {
    double x = (uniform(&seed) - 0.3) * pow(10, (int)(splitmix(&seed) % 12) - 4);
    snprintf(s, sizeof s, "%.*f", (int)(splitmix(&seed) % 10), x);
    check_value(s);
  }
  /* Rounding midpoints between adjacent floats of moderate size (the fast path's range), the
   * double neighbours of each midpoint, and short decimals that round (as a double) exactly onto
   * a midpoint while being above or below it. `traps` counts texts where rounding to double first
   * and then to float gives a wrong float: the reader must get them right too. */
  int64_t traps = 0, midpoint_texts = 0;
  for (int it = 0; it < 20000; it++) {
    float f = (float)(pow(10, uniform(&seed) * 12 - 5));
    float g = nextafterf(f, INFINITY);
    double mid = ((double)f + (double)g) / 2;
    double cand[3] = {mid, nextafter(mid, 0), nextafter(mid, INFINITY)};
    for (int c = 0; c < 3; c++)
      for (int prec = 7; prec <= 17; prec++) {
        snprintf(s, sizeof s, "%.*g", prec, cand[c]);
        check_value(s);
        double d = strtod(s, NULL);
        if (d == mid) midpoint_texts++;
        if ((float)d != strtof(s, NULL)) traps++;
      }
    snprintf(s, sizeof s, "%.60e", mid); /* exact: ties to even */
    check_value(s);
    char *ex = strchr(s, 'e');
    char expo[16];
    snprintf(expo, sizeof expo, "%s", ex);
    snprintf(ex, sizeof s - (size_t)(ex - s), "000001%s", expo); /* just above */
    check_value(s);
  }
  CHECK_MSG(traps > 100, "only %lld double-rounding traps generated", (long long)traps);
  CHECK_MSG(midpoint_texts > 1000, "only %lld texts round onto a midpoint",
            (long long)midpoint_texts);
  /* Random decimals: up to 25 digits, a point anywhere, signs, exponents. */
  for (int it = 0; it < 50000; it++) {
    char *p = s;
    uint64_t r = splitmix(&seed);
    if (r % 3 == 0) *p++ = (r & 8) ? '-' : '+';
    int nd = 1 + (int)(splitmix(&seed) % 25), dot = (int)(splitmix(&seed) % (nd + 2)) - 1;
    for (int i = 0; i < nd; i++) {
      if (i == dot) *p++ = '.';
      *p++ = (char)('0' + splitmix(&seed) % 10);
    }
    if (dot == nd) *p++ = '.';
    if (splitmix(&seed) % 2) p += sprintf(p, "e%d", (int)(splitmix(&seed) % 101) - 60);
    *p = '\0';
    check_value(s);
  }
  /* Random strings of number-ish and word characters: the kinds must agree. */
  static const char alphabet[] = "0123456789.eE+- \tnNaAiIlLfFtTyYu";
  for (int it = 0; it < 100000; it++) {
    int n = (int)(splitmix(&seed) % 9);
    for (int i = 0; i < n; i++)
      s[i] = alphabet[splitmix(&seed) % (sizeof alphabet - 1)];
    s[n] = '\0';
    check_value(s);
  }
  printf("parse_value: %lld texts compared with strtof (%lld double-rounding traps, %lld texts "
         "rounding onto a float midpoint)\n",
         (long long)g_values_checked, (long long)traps, (long long)midpoint_texts);
}

/* ---- line reader -------------------------------------------------------------------------- */
static void expect_lines(const char *path, const char **want, int n_want) {
  OvqLineReader *r;
  CHECK(ovq_lines_open(path, &r) == OVQ_OK);
  if (!r) return;
  char *line;
  size_t len;
  int k = 0, rc;
  while ((rc = ovq_lines_next(r, &line, &len)) == 1) {
    CHECK_MSG(k < n_want, "%s: extra line '%s'", path, line);
    if (k < n_want)
      CHECK_MSG(len == strlen(want[k]) && !strcmp(line, want[k]), "%s line %d: '%s' vs '%s'", path,
                k + 1, line, want[k]);
    CHECK(line[len] == '\0');
    k++;
    CHECK(ovq_lines_number(r) == k);
  }
  CHECK_MSG(rc == 0 && k == n_want, "%s: %d lines, rc %d: %s", path, k, rc, ovq_error_message());
  CHECK(!strcmp(ovq_lines_path(r), path));
  ovq_lines_close(r);
}

static void test_lines(void) {
  const char text[] = "\xEF\xBB\xBF"
                      "a\tb\r\nbb\n\n\r\nccc";
  const char *want[] = {"a\tb", "bb", "", "", "ccc"};
  expect_lines(put_file("lines.txt", text, sizeof text - 1, 0), want, 5);
  expect_lines(put_file("lines.txt.gz", text, sizeof text - 1, 1), want, 5);
  /* Line ending at the end, and a lone CR at the very end. */
  const char *want2[] = {"x", "y"};
  expect_lines(put_file("lines2.txt", "x\ny\r\n", 5, 0), want2, 2);
  expect_lines(put_file("lines3.txt", "x\ny\r", 4, 0), want2, 2);
  expect_lines(put_file("lines4.txt", "", 0, 0), NULL, 0);
  expect_lines(put_file("lines5.txt", "\xEF\xBB\xBF", 3, 0), NULL, 0); /* a BOM is no line */
  const char *want6[] = {"-"}, *want7[] = {"", "x"};
  expect_lines(put_file("lines6.txt", "-\n", 2, 0), want6, 1); /* shorter than a BOM */
  expect_lines(put_file("lines7.txt", "\xEF\xBB\xBF\nx", 5, 0), want7, 2);
  expect_lines(put_file("lines7.txt.gz", "\xEF\xBB\xBF\nx", 5, 1), want7, 2);

  /* A 1 MB line (plain and gzip). */
  size_t big = (size_t)1 << 20;
  char *b = malloc(big + 16);
  for (size_t i = 0; i < big; i++)
    b[i] = (char)('a' + i % 26);
  memcpy(b + big, "\nend\n", 5);
  char *first = malloc(big + 1);
  memcpy(first, b, big);
  first[big] = '\0';
  const char *want3[] = {first, "end"};
  expect_lines(put_file("bigline.txt", b, big + 5, 0), want3, 2);
  expect_lines(put_file("bigline.txt.gz", b, big + 5, 1), want3, 2);
  free(first);

  /* Truncated gzip: an error at the end, never a silently short file. */
  uint64_t seed = 7;
  for (size_t i = 0; i < big; i++)
    b[i] = (splitmix(&seed) % 11 == 0) ? '\n' : (char)('0' + i % 10);
  long drops[] = {1, 4, 8, 9, 20000};
  for (int d = 0; d < 5; d++) {
    const char *p = put_file("trunc.txt.gz", b, big, 1);
    truncate_file(p, drops[d]);
    OvqLineReader *r;
    CHECK(ovq_lines_open(p, &r) == OVQ_OK);
    char *line;
    size_t len;
    int rc;
    while ((rc = ovq_lines_next(r, &line, &len)) == 1) {
    }
    CHECK_MSG(rc == -1, "truncated by %ld bytes: rc %d", drops[d], rc);
    CHECK_MSG(strstr(ovq_error_message(), "truncated gzip") != NULL, "message: %s",
              ovq_error_message());
    CHECK(ovq_lines_next(r, &line, &len) == -1);
    ovq_lines_close(r);
  }
  free(b);

  OvqLineReader *r = NULL;
  CHECK(ovq_lines_open(path_of("no_such_file.txt"), &r) == OVQ_ERR && r == NULL);
  CHECK(strstr(ovq_error_message(), "cannot open") != NULL);
  CHECK(ovq_lines_open(g_dir, &r) == OVQ_ERR);
  CHECK(strstr(ovq_error_message(), "directory") != NULL);
}

/* ---- tables ------------------------------------------------------------------------------- */
static void check_table_t1(const OvqTable *t) {
  CHECK(t->n_cols == 3 && t->n_rows == 2);
  if (t->n_cols != 3 || t->n_rows != 2) return;
  CHECK(!strcmp(t->header[0], "id") && !strcmp(t->header[1], "name") &&
        !strcmp(t->header[2], "quoted"));
  CHECK(!strcmp(ovq_table_cell(t, 0, 0), "1") && !strcmp(ovq_table_cell(t, 0, 1), "A") &&
        !strcmp(ovq_table_cell(t, 0, 2), "x y"));
  CHECK(!strcmp(ovq_table_cell(t, 1, 0), "2") && !strcmp(ovq_table_cell(t, 1, 1), "") &&
        !strcmp(ovq_table_cell(t, 1, 2), "z\""));
  CHECK(t->line[0] == 4 && t->line[1] == 6);
  CHECK(ovq_table_col(t, "name") == 1 && ovq_table_col(t, "quoted") == 2 &&
        ovq_table_col(t, "zz") == -1);
}

static void expect_table_error(const char *name, const char *text, char delim, const char *msg) {
  const char *p = put_file(name, text, strlen(text), 0);
  char want[2048];
  snprintf(want, sizeof want, "%s%s", p, msg);
  OvqTable t;
  if (g_rank == 0) {
    CHECK(ovq_table_read(p, '#', delim, &t) == OVQ_ERR);
    CHECK_MSG(!strcmp(ovq_error_message(), want), "'%s' vs '%s'", ovq_error_message(), want);
    CHECK(t.n_rows == 0 && t.header == NULL);
    ovq_table_free(&t);
  }
  ovq_error_clear();
  CHECK(ovq_table_read_bcast(p, '#', delim, MPI_COMM_WORLD, &t) == OVQ_ERR);
  CHECK_MSG(!strcmp(ovq_error_message(), want), "bcast: '%s' vs '%s'", ovq_error_message(), want);
  ovq_table_free(&t);
}

static void test_tables(void) {
  const char t1[] = "\xEF\xBB\xBF# comment\n"
                    "\n"
                    "id\tname\t\"quoted\"\r\n"
                    "1\tA\t\"x y\"\r\n"
                    "# c2\n"
                    "2\t\tz\"";
  OvqTable t;
  const char *plain = put_file("t1.tsv", t1, sizeof t1 - 1, 0);
  const char *gz = put_file("t1.tsv.gz", t1, sizeof t1 - 1, 1);
  if (g_rank == 0) {
    CHECK(ovq_table_read(plain, '#', '\t', &t) == OVQ_OK);
    check_table_t1(&t);
    CHECK(!strcmp(t.path, plain));
    ovq_table_free(&t);
    ovq_table_free(&t); /* idempotent */
    CHECK(ovq_table_read(gz, '#', '\t', &t) == OVQ_OK);
    check_table_t1(&t);
    ovq_table_free(&t);
  }
  CHECK(ovq_table_read_bcast(plain, '#', '\t', MPI_COMM_WORLD, &t) == OVQ_OK);
  check_table_t1(&t);
  ovq_table_free(&t);

  /* CSV, quoted header cell first (the string block must still start at header[0]). */
  const char *csv = put_file("t2.csv", "\"a\",b\n1,2\n3,\"\"\n", 15, 0);
  CHECK(ovq_table_read_bcast(csv, 0, ',', MPI_COMM_WORLD, &t) == OVQ_OK);
  CHECK(t.n_cols == 2 && t.n_rows == 2 && !strcmp(t.header[0], "a") &&
        !strcmp(ovq_table_cell(&t, 1, 1), "") && !strcmp(ovq_table_cell(&t, 1, 0), "3"));
  ovq_table_free(&t);

  expect_table_error("ragged.tsv", "a\tb\tc\n1\t2\t3\n4\t5\n", '\t',
                     ":3: 2 cells, the header has 3");
  expect_table_error("ragged2.tsv", "# x\na\tb\n1\t2\t3\t4\n", '\t',
                     ":3: 4 cells, the header has 2");
  expect_table_error("empty.tsv", "", '\t',
                     ": no header line (the file is empty or has only "
                     "comment lines)");
  expect_table_error("comments.tsv", "# a\n#b\n\n", '\t',
                     ": no header line (the file is empty or "
                     "has only comment lines)");
  expect_table_error("hdr.tsv", "a\tb\n\n# c\n", '\t', ": a header line but no data rows");
  CHECK(ovq_table_read_bcast(path_of("missing.tsv"), '#', '\t', MPI_COMM_WORLD, &t) == OVQ_ERR);
  CHECK(strstr(ovq_error_message(), "cannot open") != NULL);

  /* A GDC-sized per-sample file (comment lines, ~60k rows, 1 MB cell), read repeatedly. */
  Buf b = {0};
  buf_str(&b, "# gene-model: GENCODE v36\ngene_id\tgene_name\tgene_type\tunstranded\ttpm\n");
  char line[256];
  for (int i = 0; i < 60000; i++) {
    snprintf(line, sizeof line, "ENSG%011d.%d\tGENE%d\tprotein_coding\t%d\t%.4f\n", i, i % 20, i,
             i * 7 % 1000, i * 0.01);
    buf_str(&b, line);
  }
  char *cell = malloc((1 << 20) + 1);
  memset(cell, 'q', 1 << 20);
  cell[1 << 20] = '\0';
  buf_str(&b, "big\t");
  buf_str(&b, cell);
  buf_str(&b, "\tx\t1\t2\n");
  const char *gdc = put_file("gdc.tsv", b.p, b.n, 0);
  if (g_rank == 0) {
    double t0 = MPI_Wtime();
    int reps = 20;
    for (int k = 0; k < reps; k++) {
      CHECK(ovq_table_read(gdc, '#', '\t', &t) == OVQ_OK);
      CHECK(t.n_rows == 60001 && t.n_cols == 5);
      if (k < reps - 1) ovq_table_free(&t);
    }
    double dt = (MPI_Wtime() - t0) / reps;
    CHECK(!strcmp(ovq_table_cell(&t, 59999, 1), "GENE59999"));
    CHECK(t.line[59999] == 60002);
    CHECK(!strcmp(ovq_table_cell(&t, 60000, 1), cell));
    printf("table: a %.1f MB GDC-like file (60,001 rows) in %.1f ms\n", b.n / 1e6, dt * 1e3);
    ovq_table_free(&t);
  }
  free(cell);
  free(b.p);
}

/* ---- matrices ----------------------------------------------------------------------------- */

/* Text of value (i, j) of a generated matrix (deterministic; all the accepted forms). */
static void value_text(uint64_t seed, int64_t i, int64_t j, char *s, size_t cap) {
  uint64_t st = seed ^ (uint64_t)(i * 1000003 + j) * 0x9E3779B97F4A7C15ull;
  uint64_t r = splitmix(&st);
  double x = (uniform(&st) - 0.2) * 20;
  switch (r % 16) {
  case 0: snprintf(s, cap, "NA"); break;
  case 1: snprintf(s, cap, "%s", ""); break;
  case 2: snprintf(s, cap, "%d", (int)(x * 100)); break;
  case 3: snprintf(s, cap, "%.9g", x); break;
  case 4: snprintf(s, cap, "%.3e", x * 1e-5); break;
  case 5: snprintf(s, cap, "%s", (r >> 8) % 2 ? ".5" : "5."); break;
  case 6: snprintf(s, cap, "%s", (r >> 8) % 2 ? "+2" : "-0"); break;
  case 7: snprintf(s, cap, "%s", (r >> 8) % 2 ? "1E+05" : "nan"); break;
  case 8: snprintf(s, cap, " %.2f ", x); break;
  case 9: snprintf(s, cap, "%.17g", x); break;
  case 10: snprintf(s, cap, "%s", (r >> 8) % 2 ? "\"1.25\"" : "NULL"); break;
  default: snprintf(s, cap, "%.4f", x); break;
  }
}

typedef struct Gen {
  int64_t rows, cols;
  uint64_t seed;
  char delim;
  int crlf, bom, quoted_ids, trailing_blank, no_final_newline;
} Gen;

/* Writes the matrix text and the expected values/ids. */
static void gen_text(const Gen *g, Buf *b, float *x, char **ids) {
  char s[128], d[2] = {g->delim, 0};
  const char *eol = g->crlf ? "\r\n" : "\n";
  if (g->bom) buf_str(b, "\xEF\xBB\xBF");
  buf_str(b, "sample");
  for (int64_t j = 0; j < g->cols; j++) {
    snprintf(s, sizeof s, "%ss%lld", d, (long long)j);
    buf_str(b, s);
  }
  buf_str(b, eol);
  for (int64_t i = 0; i < g->rows; i++) {
    snprintf(s, sizeof s, "gene%lld|%lld", (long long)i, (long long)(i * 31 % 977));
    if (ids) ids[i] = strdup(s);
    if (g->quoted_ids) {
      char q[160];
      snprintf(q, sizeof q, "\"%s\"", s);
      buf_str(b, q);
    } else {
      buf_str(b, s);
    }
    for (int64_t j = 0; j < g->cols; j++) {
      value_text(g->seed, i, j, s, sizeof s);
      buf_str(b, d);
      buf_str(b, s);
      if (x) {
        size_t n = strlen(s);
        const char *p = s;
        if (n >= 2 && s[0] == '"') p++, n -= 2;
        float v;
        OvqValueKind k = ref_parse(p, n, &v);
        if (k != OVQ_VALUE_NUMBER && k != OVQ_VALUE_MISSING) {
          fprintf(stderr, "generator produced '%s'\n", s);
          abort();
        }
        x[i * g->cols + j] = k == OVQ_VALUE_NUMBER ? v : NAN;
      }
    }
    if (!(g->no_final_newline && i == g->rows - 1)) buf_str(b, eol);
    if (g->trailing_blank && i % 7 == 3) buf_str(b, eol);
  }
  if (g->trailing_blank) buf_str(b, "\n\n");
}

/* Reads the generated matrix at all ranks and compares every rank's rows with the expected
 * values, bit for bit; also against a single-rank read (MPI_COMM_SELF). */
static void check_matrix(const char *name, const Gen *g, int gz) {
  Buf b = {0};
  float *x = malloc(sizeof(float) * (size_t)(g->rows * g->cols));
  char **ids = malloc(sizeof(char *) * (size_t)g->rows);
  gen_text(g, &b, x, ids);
  const char *p = put_file(name, b.p, b.n, gz);
  OvqTsvMatrix m;
  OvqStatus st = ovq_tsv_read_matrix(p, g->delim, MPI_COMM_WORLD, &m);
  CHECK_MSG(st == OVQ_OK, "%s: %s", name, ovq_error_message());
  if (st == OVQ_OK) {
    CHECK(!strcmp(m.corner, "sample"));
    CHECK(m.n_cols == g->cols && m.n_rows_total == g->rows);
    for (int64_t j = 0; j < m.n_cols && j < g->cols; j++) {
      char s[32];
      snprintf(s, sizeof s, "s%lld", (long long)j);
      CHECK(!strcmp(ovq_strings_at(&m.col_ids, j), s));
    }
    int64_t before = 0, total = 0;
    MPI_Exscan(&m.n_rows_local, &before, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    if (g_rank == 0) before = 0;
    MPI_Allreduce(&m.n_rows_local, &total, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    CHECK(m.row_start == before && total == g->rows);
    int width = m.row_ids.width, wmax = width, wmin = width;
    MPI_Allreduce(&width, &wmax, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Allreduce(&width, &wmin, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    CHECK(wmax == wmin);
    int64_t bad_ids = 0, bad_values = 0;
    for (int64_t i = 0; i < m.n_rows_local && m.row_start + i < g->rows; i++) {
      int64_t gi = m.row_start + i;
      if (strcmp(ovq_strings_at(&m.row_ids, i), ids[gi]) != 0) bad_ids++;
      for (int64_t j = 0; j < g->cols; j++)
        if (!same_float(m.x[i * g->cols + j], x[gi * g->cols + j])) bad_values++;
    }
    CHECK_MSG(bad_ids == 0 && bad_values == 0, "%s: %lld ids and %lld values differ", name,
              (long long)bad_ids, (long long)bad_values);
    if (g_size > 1) { /* the same bytes as one rank reading alone */
      OvqTsvMatrix one;
      CHECK(ovq_tsv_read_matrix(p, g->delim, MPI_COMM_SELF, &one) == OVQ_OK);
      CHECK(one.n_rows_local == g->rows && one.row_start == 0);
      if (one.n_rows_local == g->rows)
        CHECK(memcmp(one.x + m.row_start * g->cols, m.x,
                     sizeof(float) * (size_t)(m.n_rows_local * g->cols)) == 0);
      ovq_tsv_matrix_free(&one);
    }
    if (g_rank == 0)
      printf("matrix %s: %lld x %lld, rank 0 has %lld rows\n", name, (long long)g->rows,
             (long long)g->cols, (long long)m.n_rows_local);
  }
  ovq_tsv_matrix_free(&m);
  CHECK(m.x == NULL && m.n_cols == 0);
  for (int64_t i = 0; i < g->rows; i++)
    free(ids[i]);
  free(ids);
  free(x);
  free(b.p);
}

/* Reading `text` must fail on every rank with exactly path + msg. */
static void expect_matrix_error(const char *name, const char *text, size_t n, int gz,
                                const char *msg) {
  const char *p = put_file(name, text, n, gz);
  char want[4096];
  snprintf(want, sizeof want, "%s%s", p, msg);
  OvqTsvMatrix m;
  ovq_error_clear();
  OvqStatus st = ovq_tsv_read_matrix(p, '\t', MPI_COMM_WORLD, &m);
  CHECK_MSG(st == OVQ_ERR, "%s accepted", name);
  CHECK_MSG(!strcmp(ovq_error_message(), want), "%s (rank %d): '%s', expected '%s'", name, g_rank,
            ovq_error_message(), want);
  CHECK(m.x == NULL && m.n_rows_local == 0 && m.corner == NULL);
  ovq_tsv_matrix_free(&m);
  if (g_rank == 0) printf("  rejected as expected: %s\n", ovq_error_message());
}

/* A valid matrix text of `rows` x 5 values with line `bad_line` (1-based, >= 2) replaced. */
static void matrix_with_line(Buf *b, int64_t rows, int64_t bad_line, const char *line) {
  Gen g = {rows, 5, 99, '\t', 0, 0, 0, 0, 0};
  Buf ok = {0};
  gen_text(&g, &ok, NULL, NULL);
  int64_t ln = 1;
  for (const char *p = ok.p; *p;) {
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) + 1 : strlen(p);
    if (ln == bad_line) {
      buf_str(b, line);
      buf_str(b, "\n");
    } else {
      buf_put(b, p, n);
    }
    p += n;
    ln++;
  }
  free(ok.p);
}

static void expect_bad_line(const char *name, int64_t rows, int64_t bad_line, const char *line,
                            int gz, const char *msg) {
  Buf b = {0};
  matrix_with_line(&b, rows, bad_line, line);
  expect_matrix_error(name, b.p, b.n, gz, msg);
  free(b.p);
}

static void test_matrices(void) {
  Gen g = {50, 7, 1, '\t', 0, 0, 0, 0, 0};
  check_matrix("m_plain.tsv", &g, 0);
  check_matrix("m_plain.tsv.gz", &g, 1);
  Gen g2 = {2000, 40, 2, '\t', 1, 1, 0, 1, 1}; /* CRLF, BOM, blank lines, no final newline */
  check_matrix("m_crlf.tsv", &g2, 0);
  check_matrix("m_crlf.tsv.gz", &g2, 1);
  Gen g3 = {300, 9, 3, ',', 0, 0, 1, 0, 0}; /* CSV with quoted ids */
  check_matrix("m_quoted.csv", &g3, 0);
  check_matrix("m_quoted.csv.gz", &g3, 1);
  Gen g4 = {3, 5, 4, '\t', 0, 0, 0, 0, 1}; /* fewer rows than ranks at 4 */
  check_matrix("m_small.tsv", &g4, 0);
  check_matrix("m_small.tsv.gz", &g4, 1);
  Gen g5 = {1, 1, 5, '\t', 0, 0, 0, 0, 0};
  check_matrix("m_one.tsv", &g5, 0);
  Gen g6 = {5, 200000, 6, '\t', 0, 0, 0, 0, 0}; /* lines of more than 1 MB */
  check_matrix("m_wide.tsv", &g6, 0);
  check_matrix("m_wide.tsv.gz", &g6, 1);

  /* Bad inputs: line numbers count the header as line 1; columns count the id column as 1. */
  expect_bad_line("bad_value.tsv", 60, 42, "g40\t1\t2\tabc\t4\t5", 0,
                  ":42: column 4 (s2): 'abc' is not a number");
  expect_bad_line("bad_value.tsv.gz", 60, 42, "g40\t1\t2\tabc\t4\t5", 1,
                  ":42: column 4 (s2): 'abc' is not a number");
  expect_bad_line("bad_first.tsv", 60, 2, "g0\t1e\t2\t3\t4\t5", 0,
                  ":2: column 2 (s0): '1e' is not a number");
  expect_bad_line("bad_last.tsv", 60, 61, "g59\t1\t2\t3\t4\t0x10", 0,
                  ":61: column 6 (s4): '0x10' is not a number");
  expect_bad_line("inf.tsv", 60, 33, "g31\t1\t-Inf\t3\t4\t5", 0,
                  ":33: column 3 (s1): '-Inf' is infinite or too large for a float");
  expect_bad_line("overflow.tsv", 60, 20, "g18\t1\t2\t3\t4\t1e39", 0,
                  ":20: column 6 (s4): '1e39' is infinite or too large for a float");
  expect_bad_line("ragged_less.tsv", 60, 32, "g30\t1\t2\t3", 0,
                  ":32: 3 values, the header has 5 columns");
  expect_bad_line("ragged_more.tsv", 60, 50, "g48\t1\t2\t3\t4\t5\t6\t7", 0,
                  ":50: 7 values, the header has 5 columns");
  expect_bad_line("ragged_none.tsv", 60, 9, "g7", 0, ":9: 0 values, the header has 5 columns");
  expect_bad_line("empty_id.tsv", 60, 6, "\t1\t2\t3\t4\t5", 0, ":6: empty row id (first cell)");
  { /* a long field is shown by its first 68 bytes */
    char line[160], msg[160];
    snprintf(line, sizeof line, "g5\t1\t2\t%s\t4\t5", "Z");
    memmove(line + 107, line + 8, strlen(line + 8) + 1);
    memset(line + 7, 'z', 100);
    snprintf(msg, sizeof msg, ":7: column 4 (s2): '%s...' is not a number", "Z");
    memmove(msg + 88, msg + 21, strlen(msg + 21) + 1);
    memset(msg + 20, 'z', 68);
    expect_bad_line("long_field.tsv", 60, 7, line, 0, msg);
  }
  { /* ids longer than 4096 bytes */
    char *id = malloc(5001), msg[200];
    memset(id, 'r', 5000);
    id[5000] = '\0';
    Buf b = {0};
    buf_str(&b, id);
    buf_str(&b, "\t1\t2\t3\t4\t5");
    snprintf(msg, sizeof msg, ":3: row id '%.68s...' has 5000 bytes (at most 4096)", id);
    expect_bad_line("long_id.tsv", 60, 3, b.p, 0, msg);
    b.n = 0;
    buf_str(&b, "sample\t");
    buf_str(&b, id);
    buf_str(&b, "\nx\t1\n");
    expect_matrix_error("long_col.tsv", b.p, b.n, 0,
                        ":1: column 2 of the header has an id of 5000 bytes (at most 4096)");
    free(b.p);
    free(id);
  }
  /* Two faults: the first in file order is reported, whichever rank holds it. */
  {
    Buf b = {0}, c = {0};
    matrix_with_line(&b, 60, 55, "g53\t1\t2\t3\t4\tx");
    /* b has the fault at line 55; put a second one at line 12 */
    int64_t ln = 1;
    for (const char *p = b.p; *p;) {
      const char *nl = strchr(p, '\n');
      size_t n = (size_t)(nl - p) + 1;
      if (ln == 12)
        buf_str(&c, "g10\tNA\t?\t3\t4\t5\n");
      else
        buf_put(&c, p, n);
      p += n;
      ln++;
    }
    expect_matrix_error("two_faults.tsv", c.p, c.n, 0, ":12: column 3 (s1): '?' is not a number");
    free(b.p);
    free(c.p);
  }
  expect_matrix_error("empty.tsv", "", 0, 0, ": empty file");
  expect_matrix_error("empty.tsv.gz", "", 0, 1, ": empty file");
  expect_matrix_error("bom_only.tsv", "\xEF\xBB\xBF", 3, 0, ": empty file");
  expect_matrix_error("header_only.tsv", "sample\ta\tb\n", 11, 0,
                      ": a header line but no data rows");
  expect_matrix_error("header_only2.tsv", "sample\ta\tb", 10, 0,
                      ": a header line but no data rows");
  expect_matrix_error("header_blank.tsv", "sample\ta\tb\r\n\n\r\n\n", 16, 0,
                      ": a header line but no data rows");
  expect_matrix_error("header_only.tsv.gz", "sample\ta\tb\n", 11, 1,
                      ": a header line but no data rows");
  expect_matrix_error("blank_header.tsv", "\nx\t1\n", 5, 0, ":1: the header line is empty");
  expect_matrix_error("no_cols.tsv", "sample,a,b\nx,1,2\n", 17, 0,
                      ":1: the header has no column ids after 'sample,a,b' (is the file delimited "
                      "by tabs?)");
  expect_matrix_error("empty_col.tsv", "sample\ta\t\tb\nx\t1\t2\t3\n", 20, 0,
                      ":1: column 3 of the header has an empty id");

  /* Missing file, directory, truncated gzip. */
  OvqTsvMatrix m;
  CHECK(ovq_tsv_read_matrix(path_of("nothing_here.tsv"), '\t', MPI_COMM_WORLD, &m) == OVQ_ERR);
  CHECK(strstr(ovq_error_message(), "nothing_here.tsv: cannot open: No such file") != NULL);
  CHECK(ovq_tsv_read_matrix(g_dir, '\t', MPI_COMM_WORLD, &m) == OVQ_ERR);
  CHECK(strstr(ovq_error_message(), "is a directory") != NULL);
  Gen gt = {3000, 20, 8, '\t', 0, 0, 0, 0, 0};
  Buf b = {0};
  gen_text(&gt, &b, NULL, NULL);
  const char *p = put_file("trunc.tsv.gz", b.p, b.n, 1);
  truncate_file(p, 100);
  char want[2048];
  snprintf(want, sizeof want, "%s: truncated gzip file (the compressed data end early)", p);
  CHECK(ovq_tsv_read_matrix(p, '\t', MPI_COMM_WORLD, &m) == OVQ_ERR);
  CHECK_MSG(!strcmp(ovq_error_message(), want), "'%s'", ovq_error_message());
  free(b.p);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  ovq_log_init(MPI_COMM_WORLD);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  if (argc < 2) {
    if (g_rank == 0) fprintf(stderr, "usage: test_tsv SCRATCH_DIR\n");
    MPI_Finalize();
    return 2;
  }
  /* One directory per rank count: the 1, 2 and 4 rank runs may run at the same time. */
  snprintf(g_dir, sizeof g_dir, "%s/tsv_np%d", argv[1], g_size);
  if (g_rank == 0) mkdir(g_dir, 0755);
  MPI_Barrier(MPI_COMM_WORLD);

  if (g_rank == 0) {
    test_values();
  }
  test_lines();
  test_tables();
  test_matrices();
  int rc = test_finish("test_tsv");
  MPI_Finalize();
  return rc;
}

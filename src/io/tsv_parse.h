/* Internal to src/io: parsing of delimited text held in memory (lines, cells, numbers, the rows
 * of a numeric matrix, the cells of a string table). No MPI and no files, so the reader (tsv.c),
 * the unit tests and the fuzzer (tests/fuzz/fuzz_tsv.c) run the same code. Everything here is
 * Local. Implemented in tsv_parse.c (ovq_parse_value is there too). */
#ifndef OVQ_TSV_PARSE_H
#define OVQ_TSV_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ovq/tsv.h"

/* Bytes of a UTF-8 byte-order mark at the start of buf[0..len): 3 or 0. */
static inline size_t ovq_tsv_bom(const char *buf, size_t len) {
  return (len >= 3 && (unsigned char)buf[0] == 0xEF && (unsigned char)buf[1] == 0xBB &&
          (unsigned char)buf[2] == 0xBF)
             ? 3
             : 0;
}

/* The line of buf[0..len) that starts at *pos: sets *line and *n (without "\n" or "\r\n", and
 * without a lone "\r" ending the buffer) and moves *pos past its newline. Returns 0 (nothing set)
 * when *pos == len. A last line without a newline is a line. */
static inline int ovq_tsv_next_line(const char *buf, size_t len, size_t *pos, const char **line,
                                    size_t *n) {
  if (*pos >= len) return 0;
  const char *p = buf + *pos;
  const char *nl = memchr(p, '\n', len - *pos);
  size_t k = nl ? (size_t)(nl - p) : len - *pos;
  *pos += nl ? k + 1 : k;
  if (k > 0 && p[k - 1] == '\r') k--;
  *line = p;
  *n = k;
  return 1;
}

/* Lines in buf[0..len): newlines, plus one for a last line without a newline. */
int64_t ovq_tsv_count_lines(const char *buf, size_t len);

/* Splits line[0..n) at delim, in place: every cell is NUL-terminated (line[n] is written, so it
 * must be writable) and loses a pair of double quotes around its whole text (the text moves left
 * by one byte, so cells[i] always points at the cell's first byte). Stores the first `max` cell
 * pointers; returns the number of cells (delimiters + 1), which may exceed max. */
int64_t ovq_tsv_split(char *line, size_t n, char delim, char **cells, int64_t max);

/* ---- Rows of a numeric matrix ------------------------------------------------------------- */
/* Longest row or column id accepted: ids are stored fixed-width, so one huge id would cost its
 * length times the number of ids. */
enum { OVQ_TSV_MAX_ID = 4096 };

typedef enum {
  OVQ_ROW_OK = 0,
  OVQ_ROW_EMPTY_ID, /* the first cell is empty */
  OVQ_ROW_LONG_ID,  /* the first cell is longer than OVQ_TSV_MAX_ID */
  OVQ_ROW_RAGGED,   /* n_values != n_cols */
  OVQ_ROW_BAD,      /* a value is not a number */
  OVQ_ROW_INF,      /* a value is infinite or overflows float */
} OvqRowFault;

typedef struct OvqRowError {
  OvqRowFault fault;
  int64_t line;     /* 0-based line of the buffer (empty lines counted) */
  int64_t value;    /* BAD, INF: 0-based index of the value (file column value + 2) */
  int64_t n_values; /* RAGGED: values after the row id */
  size_t off, len;  /* BAD, INF: the field's text is buf[off .. off + len); LONG_ID: the id's */
} OvqRowError;

/* Where a string lies in a buffer. */
typedef struct OvqSpan {
  size_t off, len;
} OvqSpan;

/* Parses the data lines buf[0..len) of a matrix with n_cols >= 1 values per row: row r's id (its
 * first cell, without a pair of surrounding double quotes, up to a NUL byte) goes to ids[r], its
 * values to x[r * n_cols .. (r + 1) * n_cols) (missing = NaN). Empty lines are skipped; x and ids
 * must have room for ovq_tsv_count_lines(buf, len) rows. Reads only buf[0..len). Returns the
 * number of rows, or -1 with *err describing the first faulty line. */
int64_t ovq_tsv_parse_rows(const char *buf, size_t len, char delim, int64_t n_cols, float *x,
                           OvqSpan *ids, OvqRowError *err);

/* ---- Small tables of strings -------------------------------------------------------------- */
typedef enum {
  OVQ_TABLE_OK = 0,
  OVQ_TABLE_NO_HEADER, /* no line but empty and comment lines */
  OVQ_TABLE_NO_ROWS,   /* a header and no data row */
  OVQ_TABLE_RAGGED,    /* a row's cell count differs from the header's */
} OvqTableFault;

typedef struct OvqTableError {
  OvqTableFault fault;
  int64_t line;     /* RAGGED: 1-based line */
  int64_t n_cells;  /* RAGGED: cells on that line */
  int64_t n_header; /* RAGGED: cells in the header */
} OvqTableError;

/* Parses text[0..len) (the whole file: BOM, comment and empty lines allowed; see ovq_table_read)
 * into t's n_cols, n_rows, header, cells and line (t->path is left alone). text[len] must be
 * writable. The text is modified in place and on success becomes the block that holds every
 * string of the table, with header[0] == text (the header line is moved to the front), so the
 * table owns it from then on. Returns 0, or -1 with *err (t untouched; the caller still owns
 * the text). */
int ovq_tsv_table_parse(char *text, size_t len, char comment, char delim, OvqTable *t,
                        OvqTableError *err);

#endif

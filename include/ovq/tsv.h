/* Delimited text input (TSV / CSV, plain or gzip-compressed): lines, fields, numbers, small tables
 * of strings, and big numeric matrices read in parallel.
 *
 * Accepted everywhere: a UTF-8 byte-order mark at the start of a file, LF or CRLF line endings, a
 * last line without a newline, lines of any length. gzip is recognised by its magic bytes, not by
 * the file name; concatenated gzip members are read as one text. Errors are user errors
 * (ovq_error, OVQ_ERR) whose message names the file and, where there is one, the 1-based line and
 * column (the row-id column is column 1, as `cut -f` counts) with the column's id:
 *   "expr.tsv:12: column 7 (TCGA-A1-A0SB-01): 'abc' is not a number".
 * A truncated or corrupt .gz is an error naming the file (never a silently short table).
 * Delimiters: '\t' or ',' (any byte that cannot be part of a number, a quote or a line end).
 */
#ifndef OVQ_TSV_H
#define OVQ_TSV_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "ovq/cohort.h" /* OvqStrings */
#include "ovq/error.h"

/* ---- Values ------------------------------------------------------------------------------- */
typedef enum {
  OVQ_VALUE_NUMBER = 0,  /* a finite number: *out set */
  OVQ_VALUE_MISSING = 1, /* "", NA, NaN, nan, null, NULL (case-insensitive): *out = NaN */
  OVQ_VALUE_BAD = 2,     /* not a number (or trailing garbage) */
  OVQ_VALUE_INF = 3,     /* Inf / -Inf / infinity, or a finite decimal that overflows float */
} OvqValueKind;

/* Local. Parses s[0..len) (surrounding spaces and tabs allowed; reads nothing beyond len) as a
 * float, correctly rounded: the same bits as strtof on the same text. Numbers are decimals
 * [+-]?(D+[.D*]|.D+)([eE][+-]?D+)? ("1", "-1.5", ".5", "5.", "1e-3", "1E+05", "+2"); hex floats
 * and anything after the number are OVQ_VALUE_BAD. "-nan"/"+nan" (what printf writes for a NaN
 * with its sign bit set) are missing too. A decimal too small for float gives 0 or a subnormal,
 * as strtof does. *out is NaN for MISSING and BAD, +-Inf for INF. */
OvqValueKind ovq_parse_value(const char *s, size_t len, float *out);

/* ---- Lines -------------------------------------------------------------------------------- */
typedef struct OvqLineReader OvqLineReader;

/* Local. Opens a plain or gzip file (detected from its content, not its name). On error *out is
 * NULL and the message names the file. */
OvqStatus ovq_lines_open(const char *path, OvqLineReader **out);
/* Local. Next line without its line ending (and without the BOM on line 1), NUL-terminated, in
 * a buffer owned by the reader and valid until the next call; the caller may modify line[0..len]
 * (e.g. split it in place). Empty lines are returned too. Returns 1 with a line, 0 at the end,
 * -1 on error (message set: read error, corrupt or truncated .gz; later calls return -1 too). */
int ovq_lines_next(OvqLineReader *r, char **line, size_t *len);
/* Local. 1-based number of the line returned last. */
int64_t ovq_lines_number(const OvqLineReader *r);
const char *ovq_lines_path(const OvqLineReader *r);
void ovq_lines_close(OvqLineReader *r);

/* ---- Small tables of strings (clinical tables, sample sheets, GDC per-sample files) -------- */
typedef struct OvqTable {
  char *path;     /* owned copy, for messages */
  int64_t n_cols; /* header cells */
  int64_t n_rows; /* data rows */
  char **header;  /* [n_cols], owned */
  char **cells;   /* [n_rows * n_cols], owned; cell (i, j) = cells[i * n_cols + j] */
  int64_t *line;  /* [n_rows] 1-based file line of each row, for messages */
} OvqTable;
/* Ownership: every string (header and cells) lives in one block that starts at header[0]; the
 * arrays header, cells and line are separate allocations. Only ovq_table_free frees them. */

/* Local. Reads a delimited table whose first non-comment line is the header. Lines starting with
 * `comment` (0 = none) are skipped, and so are empty lines. delim is '\t' or ','. A row with a
 * different number of cells than the header is an error naming the line and both counts
 * ("f.tsv:5: 3 cells, the header has 4"); an empty file or a header without rows is an error.
 * Cells are not unquoted except for a pair of double quotes around a whole cell (a delimiter
 * inside quotes still splits). On error *t is zeroed (ovq_table_free on it is harmless). */
OvqStatus ovq_table_read(const char *path, char comment, char delim, OvqTable *t);
/* Collective on comm: rank 0 reads, every rank gets the same table (or the same error). */
OvqStatus ovq_table_read_bcast(const char *path, char comment, char delim, MPI_Comm comm,
                               OvqTable *t);
/* Local. Index of the column with this header name (exact match), -1 if absent. */
int64_t ovq_table_col(const OvqTable *t, const char *name);
static inline const char *ovq_table_cell(const OvqTable *t, int64_t i, int64_t j) {
  return t->cells[i * t->n_cols + j];
}
/* Local. Frees the table and zeroes it; NULL-safe and idempotent. */
void ovq_table_free(OvqTable *t);

/* ---- Numeric matrices --------------------------------------------------------------------- */
/* A header line (first cell: any name; then one id per column) and rows (first cell: the row id;
 * then one value per column). Which of rows/columns are features or samples is the caller's
 * business (Xena: features as rows). The header is line 1 of the file; empty lines after it are
 * skipped. Ids lose a pair of double quotes around them, and so do values ("\"1.5\""); ids are
 * at most 4096 bytes. Duplicate ids are not checked here. */
typedef struct OvqTsvMatrix {
  char *corner;         /* first header cell, owned */
  OvqStrings col_ids;   /* [n_cols], replicated */
  int64_t n_cols;
  int64_t n_rows_total; /* data rows in the file */
  int64_t row_start;    /* file-order index of this rank's first row */
  int64_t n_rows_local; /* rank r's rows precede rank r+1's; counts may differ between ranks */
  OvqStrings row_ids;   /* [n_rows_local]; width the same on every rank */
  float *x;             /* [n_rows_local][n_cols], NaN = missing, owned */
} OvqTsvMatrix;

/* Collective on comm. Reads a numeric matrix; ranks share the parsing (line-aligned byte ranges
 * of a plain file; a .gz is inflated once, on rank 0, and its text shared). The result does not
 * depend on the number of ranks. Errors (same message on every rank; the first fault in file
 * order): missing or unreadable file, empty or header-only file, an empty header line or column
 * id, a header without column ids (wrong delimiter), a ragged row ("m.tsv:9: 5 values, the header
 * has 7 columns"), a value that is not a number, Inf or a value beyond float's range, corrupt or
 * truncated .gz, an empty or too long row id. Missing values (see ovq_parse_value) become NaN.
 * On error *out is zeroed. Memory: a rank holds its share of the text while parsing (rank 0 of a
 * .gz: the whole text) besides its rows. */
OvqStatus ovq_tsv_read_matrix(const char *path, char delim, MPI_Comm comm, OvqTsvMatrix *out);
/* Local. Frees the matrix and zeroes it; NULL-safe and idempotent. */
void ovq_tsv_matrix_free(OvqTsvMatrix *m);

#endif

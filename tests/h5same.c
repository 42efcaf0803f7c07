/* h5same A.h5 B.h5 [DATASET ...]: exits 0 if both files hold the same datasets with
 * byte-identical contents (same names, types, shapes and raw bytes; attributes are not
 * compared), 1 otherwise, printing the first difference. With dataset names, only those are
 * compared (e.g. to leave out timings). Used to prove that outputs do not depend on the rank
 * count. */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct Ctx {
  hid_t other;
  int ndatasets, differences;
} Ctx;

static int compare(hid_t a, hid_t b, const char *name) {
  hid_t ta = H5Dget_type(a), tb = H5Dget_type(b);
  hid_t sa = H5Dget_space(a), sb = H5Dget_space(b);
  int diff = 0;
  if (H5Tequal(ta, tb) <= 0) {
    printf("%s: types differ\n", name);
    diff = 1;
  } else if (H5Sextent_equal(sa, sb) <= 0) {
    printf("%s: shapes differ\n", name);
    diff = 1;
  } else {
    size_t n = (size_t)H5Sget_simple_extent_npoints(sa) * H5Tget_size(ta);
    char *ba = malloc(n + 1), *bb = malloc(n + 1);
    H5Dread(a, ta, H5S_ALL, H5S_ALL, H5P_DEFAULT, ba);
    H5Dread(b, tb, H5S_ALL, H5S_ALL, H5P_DEFAULT, bb);
    for (size_t i = 0; i < n && !diff; i++)
      if (ba[i] != bb[i]) {
        printf("%s: byte %zu of %zu differs\n", name, i, n);
        diff = 1;
      }
    free(ba);
    free(bb);
  }
  H5Tclose(ta);
  H5Tclose(tb);
  H5Sclose(sa);
  H5Sclose(sb);
  return diff;
}

static herr_t visit(hid_t obj, const char *name, const H5O_info_t *info, void *data) {
  Ctx *ctx = data;
  if (info->type != H5O_TYPE_DATASET) return 0;
  ctx->ndatasets++;
  if (H5Lexists(ctx->other, name, H5P_DEFAULT) <= 0) {
    printf("%s: only in the first file\n", name);
    ctx->differences++;
    return 0;
  }
  hid_t a = H5Dopen2(obj, name, H5P_DEFAULT), b = H5Dopen2(ctx->other, name, H5P_DEFAULT);
  ctx->differences += compare(a, b, name);
  H5Dclose(a);
  H5Dclose(b);
  return 0;
}

static int count_datasets(hid_t f) {
  Ctx c = {f, 0, 0};
  H5Ovisit(f, H5_INDEX_NAME, H5_ITER_INC, visit, &c);
  return c.ndatasets;
}

static int compare_named(hid_t fa, hid_t fb, int n, char **names) {
  int differences = 0;
  for (int i = 0; i < n; i++) {
    if (H5Lexists(fa, names[i], H5P_DEFAULT) <= 0 || H5Lexists(fb, names[i], H5P_DEFAULT) <= 0) {
      printf("%s: missing\n", names[i]);
      differences++;
      continue;
    }
    hid_t a = H5Dopen2(fa, names[i], H5P_DEFAULT), b = H5Dopen2(fb, names[i], H5P_DEFAULT);
    differences += compare(a, b, names[i]);
    H5Dclose(a);
    H5Dclose(b);
  }
  printf("h5same: %d datasets compared, %d differ\n", n, differences);
  return differences;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: h5same A.h5 B.h5 [DATASET ...]\n");
    return 2;
  }
  hid_t fa = H5Fopen(argv[1], H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t fb = H5Fopen(argv[2], H5F_ACC_RDONLY, H5P_DEFAULT);
  if (fa < 0 || fb < 0) {
    fprintf(stderr, "h5same: cannot open %s\n", fa < 0 ? argv[1] : argv[2]);
    return 2;
  }
  if (argc > 3) {
    int d = compare_named(fa, fb, argc - 3, argv + 3);
    H5Fclose(fa);
    H5Fclose(fb);
    return d ? 1 : 0;
  }
  Ctx c = {fb, 0, 0};
  H5Ovisit(fa, H5_INDEX_NAME, H5_ITER_INC, visit, &c);
  int nb = count_datasets(fb);
  if (nb != c.ndatasets) {
    printf("dataset counts differ: %d vs %d\n", c.ndatasets, nb);
    c.differences++;
  }
  printf("h5same: %d datasets compared, %d differ\n", c.ndatasets, c.differences);
  H5Fclose(fa);
  H5Fclose(fb);
  return c.differences ? 1 : 0;
}

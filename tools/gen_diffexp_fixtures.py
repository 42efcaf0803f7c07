#!/usr/bin/python3
"""Reference tables for tests/test_diffexp.c from SciPy (run with /usr/bin/python3: Debian's
python3-scipy).

Each fixture: samples x features float32 log-expression (values on a 0.25 grid so that ties occur
and every value is exact in float32), labels, and for every (cluster, feature) the expected
mean_in, mean_out, log2fc, Welch t and p (scipy.stats.ttest_ind, equal_var=False), Mann-Whitney U
and p (scipy.stats.mannwhitneyu, two-sided, asymptotic, continuity correction) and BH q-values
(per cluster over features). Where SciPy gives NaN the rules of include/ovq/diffexp.h are applied
here, explicitly, so the fixture states them.

  diffexp_main.txt:      60 x 40, 3 clusters; feature 0 constant, feature 1 constant within each
                         cluster (cluster 0 differs: t = +-inf), the rest with ties.
  diffexp_singleton.txt: 31 x 12, 4 clusters, cluster 3 has one sample (t-test undefined), one
                         sample unlabelled (-1), feature 5 constant.

Usage: /usr/bin/python3 tools/gen_diffexp_fixtures.py tests/fixtures
"""
import os
import sys
import warnings

import numpy as np
from scipy import stats


def bh(p):
    p = np.asarray(p, dtype=float)
    n = len(p)
    order = np.argsort(p, kind="stable")
    q = np.empty(n)
    run = 1.0
    for j in range(n, 0, -1):
        run = min(run, p[order[j - 1]] * n / j)
        q[order[j - 1]] = run
    return q


def table(x, labels, k):
    known = labels >= 0
    rows = []
    for c in range(k):
        rec = []
        for j in range(x.shape[1]):
            col = x[known, j].astype(np.float64)
            lab = labels[known]
            a, b = col[lab == c], col[lab != c]
            mi, mo = a.mean(), b.mean()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tt = stats.ttest_ind(a, b, equal_var=False)
            t, tp = float(tt.statistic), float(tt.pvalue)
            if len(a) < 2 or len(b) < 2:
                t, tp = 0.0, 1.0  # rule: Welch t undefined with fewer than 2 per group
            elif np.isnan(t):
                t, tp = 0.0, 1.0  # rule: both groups constant with equal means
            mw = stats.mannwhitneyu(a, b, alternative="two-sided", method="asymptotic",
                                    use_continuity=True)
            u, up = float(mw.statistic), float(mw.pvalue)
            assert not np.isnan(up)
            rec.append([mi, mo, mi - mo, t, tp, u, up])
        rec = np.array(rec)
        tq, uq = bh(rec[:, 4]), bh(rec[:, 6])
        for j in range(x.shape[1]):
            rows.append((c, j, *rec[j], tq[j], uq[j]))
    return rows


def write(path, x, labels, k):
    n, f = x.shape
    rows = table(x, labels, k)
    with open(path, "w") as out:
        out.write(f"# {os.path.basename(path)}: from tools/gen_diffexp_fixtures.py (SciPy "
                  f"{__import__('scipy').__version__})\n")
        out.write(f"samples {n} features {f} clusters {k}\nlabels")
        for lv in labels:
            out.write(f" {lv}")
        out.write("\nx\n")
        for i in range(n):
            out.write(" ".join(repr(float(v)) for v in x[i]) + "\n")
        out.write("table cluster feature mean_in mean_out log2fc t t_p u u_p t_q u_q\n")
        for r in rows:
            out.write(f"{r[0]} {r[1]} " + " ".join(repr(float(v)) for v in r[2:]) + "\n")


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures"
    rng = np.random.default_rng(20240611)

    n, f, k = 60, 40, 3
    labels = np.repeat(np.arange(k), [25, 20, 15])
    rng.shuffle(labels)
    shift = rng.normal(0.0, 1.0, size=(k, f)) * (rng.random(f) < 0.5)
    x = rng.normal(5.0, 1.0, size=(n, f)) + shift[labels]
    x = np.round(x * 4.0) / 4.0  # 0.25 grid: ties, exact in float32
    x[:, 0] = 3.5
    x[:, 1] = np.where(labels == 0, 2.0, 0.0)
    write(os.path.join(outdir, "diffexp_main.txt"), x.astype(np.float32), labels, k)

    n, f, k = 31, 12, 4
    labels = np.append(np.repeat(np.arange(k), [12, 10, 7, 1]), -1)
    rng.shuffle(labels)
    x = rng.normal(8.0, 2.0, size=(n, f)) + 1.5 * (labels[:, None] == 1)
    x = np.round(x * 2.0) / 2.0
    x[:, 5] = -1.25
    write(os.path.join(outdir, "diffexp_singleton.txt"), x.astype(np.float32), labels, k)


if __name__ == "__main__":
    main()

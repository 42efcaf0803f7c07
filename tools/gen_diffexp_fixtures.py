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
  eval_network.txt:      the miRNA-gene network of include/ovq/evaluate.h (tests/test_evaluate.c):
                         47 samples (one unlabelled), 24 genes (one constant) then 8 miRNAs
                         that repress gene groups, 3 clusters. DE = Welch BH q < de_fdr and
                         |log2 FC| > de_lfc in some cluster; for every DE miRNA x DE gene pair
                         scipy.stats.pearsonr over all samples, BH over the tested pairs, edges
                         r <= -network_r; once for all pairs, once for a listed interaction file
                         (names by id or gene symbol, some naming no feature).

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


def network_edges(x, pairs, network_r):
    """Edges (miRNA column, gene column, r, p, q) of the tested pairs, in miRNA then gene order."""
    tested = []
    for m, j in pairs:
        r, p = stats.pearsonr(x[:, m].astype(np.float64), x[:, j].astype(np.float64))
        assert abs(r + network_r) > 1e-6, "r too close to the threshold: pick another seed"
        tested.append((m, j, float(r), float(p)))
    q = bh([t[3] for t in tested]) if tested else []
    return [(m, j, r, p, qq) for (m, j, r, p), qq in zip(tested, q) if r <= -network_r]


def write_network(path, seed):
    """Returns False when a value lies too close to a threshold for a robust fixture."""
    rng = np.random.default_rng(seed)
    g, mi, k = 24, 8, 3
    de_fdr, de_lfc, network_r = 0.05, 0.5, 0.3
    labels = np.append(np.repeat(np.arange(k), [18, 16, 12]), -1)
    rng.shuffle(labels)
    n = len(labels)
    mir = rng.normal(6.0, 0.5, size=(n, mi))
    for j in range(4):  # miRNA j up in cluster j % 3
        mir[:, j] += 1.5 * (labels == j % 3)
    genes = rng.normal(8.0, 0.5, size=(n, g))
    for j in range(18):  # gene j repressed by miRNA j % 6
        genes[:, j] -= 0.8 * (mir[:, j % 6] - 6.0)
    genes[:, 20] += 1.2 * (labels == 1)
    genes[:, 23] = 4.0
    x = np.hstack([genes, mir]).astype(np.float32)
    rows = table(x, labels, k)
    de = np.zeros((k, g + mi), dtype=bool)
    for c, j, _mi, _mo, lfc, _t, _tp, _u, _up, tq, _uq in rows:
        if abs(tq - de_fdr) < 1e-6 * de_fdr or abs(abs(lfc) - de_lfc) < 1e-6:
            return False
        de[c, j] = tq < de_fdr and abs(lfc) > de_lfc
    gene_ids = [f"G{j + 1:02d}|{1000 + j + 1}" for j in range(g)]
    mirna_ids = [f"hsa-mir-{j + 1}" for j in range(mi)]
    any_de = de.any(axis=0)
    all_pairs = [(m, j) for m in range(g, g + mi) for j in range(g) if any_de[m] and any_de[j]]
    listed = [("hsa-mir-1", "G01"), ("hsa-mir-1", "G07|1007"), ("hsa-mir-2", "G02"),
              ("hsa-mir-2", "G08"), ("hsa-mir-3", "G09"), ("hsa-mir-3", "G03"),
              ("hsa-mir-1", "G01"), ("hsa-mir-4", "G04"), ("hsa-mir-1", "G21"),
              ("hsa-mir-99", "G01"), ("hsa-mir-2", "NOTAGENE"), ("hsa-mir-7", "G05")]
    symbols = [s.split("|")[0] for s in gene_ids]

    def gene_cols(name):  # the id itself, else every id whose symbol (before '|') is the name
        return [gene_ids.index(name)] if name in gene_ids else [
            j for j, s in enumerate(symbols) if s == name]

    listed_pairs = sorted({(g + mirna_ids.index(a), j) for a, b in listed if a in mirna_ids
                           for j in gene_cols(b) if any_de[g + mirna_ids.index(a)] and any_de[j]})
    try:
        edges_all = network_edges(x, all_pairs, network_r)
        edges_listed = network_edges(x, listed_pairs, network_r)
    except AssertionError:
        return False
    if not edges_listed or len(edges_listed) == len(edges_all):
        return False

    def clusters(j):
        return ",".join(str(c) for c in range(k) if de[c, j]) or "-"

    with open(path, "w") as out:
        out.write(f"# {os.path.basename(path)}: from tools/gen_diffexp_fixtures.py (SciPy "
                  f"{__import__('scipy').__version__}), seed {seed}\n")
        out.write(f"samples {n} genes {g} mirnas {mi} clusters {k} de_fdr {de_fdr} "
                  f"de_lfc {de_lfc} network_r {network_r}\n")
        out.write("gene_ids " + " ".join(gene_ids) + "\n")
        out.write("mirna_ids " + " ".join(mirna_ids) + "\n")
        out.write("labels " + " ".join(str(v) for v in labels) + "\n")
        out.write("x\n")
        for i in range(n):
            out.write(" ".join(repr(float(v)) for v in x[i]) + "\n")
        out.write(f"interactions {len(listed)}\n")
        for a, b in listed:
            out.write(f"{a} {b}\n")
        for name, edges in (("edges_all", edges_all), ("edges_listed", edges_listed)):
            out.write(f"{name} {len(edges)} mirna gene r p q mirna_clusters gene_clusters\n")
            for m, j, r, p, q in edges:
                out.write(f"{mirna_ids[m - g]} {gene_ids[j]} {r!r} {p!r} {q!r} {clusters(m)} "
                          f"{clusters(j)}\n")
    return True


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

    seed = 7
    while not write_network(os.path.join(outdir, "eval_network.txt"), seed):
        seed += 1


if __name__ == "__main__":
    main()

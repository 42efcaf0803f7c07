#!/usr/bin/env python3
"""Reference values from scikit-learn / NumPy / SciPy for tests/test_separation.c and
tests/test_pca.c.

Run with an interpreter that has numpy, scipy and scikit-learn (Debian: python3-sklearn):
    /usr/bin/python3 tools/gen_pca_separation_fixtures.py tests/fixtures
Writes (data are float32-representable; the references are computed in float64):
  separation_cases.txt  "cases", then per case "n d k", n lines "label x_1 .. x_d",
                        "calinski_harabasz davies_bouldin"
  separation_corr.txt   "n d", n lines of x, d lines of numpy.corrcoef(x, rowvar=False),
                        d lines of scipy.stats.spearmanr(x).correlation (ties in some columns)
  pca_tall.txt, pca_wide.txt
                        "n d c", n lines of x, then lines: mean [d], explained_variance_ [c],
                        explained_variance_ratio_ [c], c lines of components_ [d],
                        n lines of fit_transform scores [c]  (PCA(svd_solver='full'))"""
import os
import sys

try:
    import numpy as np
    import sklearn
    from scipy.stats import spearmanr
    from sklearn.decomposition import PCA
    from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score
except ImportError:
    sys.exit("needs numpy, scipy and scikit-learn: apt-get install python3-sklearn, "
             "run with /usr/bin/python3")

out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures"
rng = np.random.default_rng(2024)


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def row(v):
    return " ".join(repr(float(t)) for t in v)


def separation_cases():
    cases = []
    # Blobs, 4 clusters used out of codes 0..4 (code 2 unused: scikit-learn only sees used labels).
    n, d = 143, 6
    centres = rng.normal(0, 3, size=(5, d))
    lab = rng.choice([0, 1, 3, 4], size=n)
    x = f32(centres[lab] + rng.normal(0, 1.2, size=(n, d)))
    cases.append((x, lab, 5))
    # Two clusters with the same centroid (distance 0 -> treated as infinite by Davies-Bouldin)
    # and a third elsewhere.
    x = f32([[1, 0], [-1, 0], [0, 2], [0, -2], [5, 5], [6, 5], [5, 7]])
    lab = np.array([0, 0, 1, 1, 2, 2, 2])
    cases.append((x, lab, 3))
    # Every cluster a single point repeated: intra dispersion 0 (CH = 1, DB = 0).
    x = f32([[1, 2], [1, 2], [3, 1], [3, 1], [3, 1]])
    lab = np.array([0, 0, 1, 1, 1])
    cases.append((x, lab, 2))
    with open(os.path.join(out, "separation_cases.txt"), "w") as f:
        print(len(cases), file=f)
        for x, lab, k in cases:
            print(x.shape[0], x.shape[1], k, file=f)
            for i in range(x.shape[0]):
                print(lab[i], row(x[i]), file=f)
            print(repr(float(calinski_harabasz_score(x, lab))),
                  repr(float(davies_bouldin_score(x, lab))), file=f)


def correlation_case():
    n, d = 97, 5
    a = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
    a[:, 1] = np.round(a[:, 1] * 2) / 2  # ties
    a[:, 3] = np.round(a[:, 3])  # more ties
    x = f32(a)
    p = np.corrcoef(x, rowvar=False)
    s = spearmanr(x).correlation
    with open(os.path.join(out, "separation_corr.txt"), "w") as f:
        print(n, d, file=f)
        for i in range(n):
            print(row(x[i]), file=f)
        for i in range(d):
            print(row(p[i]), file=f)
        for i in range(d):
            print(row(s[i]), file=f)


def pca_case(name, n, d, c):
    # Decaying spectrum so the first components are well separated.
    scale = 3.0 * 0.7 ** np.arange(d)
    x = f32(rng.normal(size=(n, d)) @ np.diag(scale) @ np.linalg.qr(rng.normal(size=(d, d)))[0]
            + rng.normal(0, 2, size=d))
    p = PCA(n_components=c, svd_solver="full")
    t = p.fit_transform(x)
    with open(os.path.join(out, name), "w") as f:
        print(n, d, c, file=f)
        for i in range(n):
            print(row(x[i]), file=f)
        print(row(p.mean_), file=f)
        print(row(p.explained_variance_), file=f)
        print(row(p.explained_variance_ratio_), file=f)
        for j in range(c):
            print(row(p.components_[j]), file=f)
        for i in range(n):
            print(row(t[i]), file=f)


if sklearn.__version__.split(".")[:2] != ["1", "2"]:
    print("note: generated with scikit-learn %s; the sign convention tested is 1.2's "
          "(svd_flip u-based)" % sklearn.__version__, file=sys.stderr)
separation_cases()
correlation_case()
pca_case("pca_tall.txt", 120, 10, 4)
pca_case("pca_wide.txt", 30, 50, 5)

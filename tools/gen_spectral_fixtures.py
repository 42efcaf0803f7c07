#!/usr/bin/python3
"""Reference fixtures for tests/test_spectral.c, from SciPy and scikit-learn.

Writes tests/fixtures/spectral_cases.txt: small data sets (float32 values), and for each
  - the k + 1 smallest eigenvalues of the normalised Laplacian L = I - D^-1/2 A D^-1/2 that
    scikit-learn's spectral_embedding builds (scipy.sparse.csgraph.laplacian(A, normed=True),
    diagonal of A ignored), by scipy.linalg.eigh on the dense L;
  - sklearn.cluster.SpectralClustering(affinity=..., assign_labels="kmeans", random_state=0)
    labels, for the well-separated cases (the test asks for ARI >= 0.99), or "none".
Affinities: rbf_kernel(X, gamma) and 0.5 (C + C^T) with C = kneighbors_graph(X, n_neighbors,
include_self=True), exactly what SpectralClustering.fit uses.

Run with Debian's interpreter (python3-sklearn, python3-scipy):
    /usr/bin/python3 tools/gen_spectral_fixtures.py
Deterministic (fixed seeds).
"""
import os
import sys

try:
    import numpy as np
    import scipy
    import scipy.linalg
    import sklearn
    from scipy.sparse.csgraph import laplacian
    from sklearn.cluster import SpectralClustering
    from sklearn.metrics import adjusted_rand_score
    from sklearn.metrics.pairwise import rbf_kernel
    from sklearn.neighbors import kneighbors_graph
except ImportError as e:
    sys.exit(f"{e}: install python3-sklearn python3-scipy (Debian) and run with /usr/bin/python3")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "spectral_cases.txt")


def blobs(rng, n, d, k, sep, spread):
    means = rng.normal(0.0, sep, size=(k, d))
    lab = np.arange(n) % k
    x = means[lab] + rng.normal(0.0, spread, size=(n, d))
    return x.astype(np.float32), lab


def affinity(x, kind, gamma, nn):
    if kind == "rbf":
        return rbf_kernel(x, gamma=gamma)
    c = kneighbors_graph(x, n_neighbors=nn, include_self=True).toarray()
    return 0.5 * (c + c.T)


def case(f, name, x, truth, k, kind, gamma=1.0, nn=10, labels=True):
    x64 = x.astype(np.float64)
    a = affinity(x64, kind, gamma, nn)
    lap = laplacian(a, normed=True)
    ev = scipy.linalg.eigh(lap, eigvals_only=True)[: k + 1]
    n, d = x.shape
    f.write(f"case {name} affinity {kind} gamma {gamma!r} n_neighbors {nn} k {k} n {n} d {d}\n")
    f.write("data " + " ".join("%.9g" % v for v in x.ravel()) + "\n")
    f.write("eigenvalues " + " ".join("%.17g" % v for v in ev) + "\n")
    if labels:
        sc = SpectralClustering(n_clusters=k, affinity="nearest_neighbors" if kind == "knn" else "rbf",
                                gamma=gamma, n_neighbors=nn, assign_labels="kmeans",
                                random_state=0, n_init=10).fit(x64)
        ari = adjusted_rand_score(truth, sc.labels_)
        print(f"{name}: eigengap {ev[k] - ev[k - 1]:.4g}, sklearn ARI vs truth {ari:.4f}")
        f.write("labels " + " ".join(str(int(v)) for v in sc.labels_) + "\n")
    else:
        print(f"{name}: eigenvalues only, eigengap {ev[k] - ev[k - 1]:.4g}")
        f.write("labels none\n")
    f.write("end\n")


def main():
    rng = np.random.default_rng(20240524)
    print(f"numpy {np.__version__}, scipy {scipy.__version__}, sklearn {sklearn.__version__}")
    with open(OUT, "w") as f:
        f.write("# tests/test_spectral.c fixture, written by tools/gen_spectral_fixtures.py\n")
        x, t = blobs(rng, 90, 5, 3, 4.0, 0.35)
        case(f, "rbf3", x, t, 3, "rbf", gamma=1.0)
        x, t = blobs(rng, 120, 8, 4, 5.0, 0.5)
        case(f, "knn4", x, t, 4, "knn", nn=10)
        x, t = blobs(rng, 75, 4, 2, 1.0, 0.8)
        case(f, "rbf_overlap", x, t, 2, "rbf", gamma=0.5, labels=False)
        x, t = blobs(rng, 64, 6, 3, 1.5, 0.9)
        case(f, "knn_overlap", x, t, 3, "knn", nn=7, labels=False)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

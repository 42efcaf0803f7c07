#!/usr/bin/env python3
"""Reference silhouettes from scikit-learn for tests/test_silhouette.c.

Run with an interpreter that has numpy and scikit-learn (Debian: python3-sklearn):
    /usr/bin/python3 tools/gen_silhouette_fixture.py > tests/fixtures/silhouette.txt
Format: "n d k", then n lines "label x_1 .. x_d", then "mean", then n lines of s(i)."""
import sys

try:
    import numpy as np
    from sklearn.metrics import silhouette_samples, silhouette_score
except ImportError:
    sys.exit("needs numpy and scikit-learn: apt-get install python3-sklearn, run with /usr/bin/python3")

rng = np.random.default_rng(11)
n, d, k = 157, 5, 4
centres = rng.normal(0, 3, size=(k, d))
labels = rng.integers(0, k, size=n)
labels[0] = 3  # a singleton cluster: its silhouette is 0
labels[labels == 3] = 2
labels[0] = 3
x = (centres[labels] + rng.normal(0, 1.5, size=(n, d))).astype(np.float32)
s = silhouette_samples(x.astype(np.float64), labels)
print(n, d, k)
for i in range(n):
    print(labels[i], " ".join(repr(float(v)) for v in x[i]))
print(repr(float(silhouette_score(x.astype(np.float64), labels))))
for v in s:
    print(repr(float(v)))

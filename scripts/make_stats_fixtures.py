"""Golden values for runtime/eval/stats.ts, computed independently with scipy:
Wilson 95 % intervals (scipy.stats.binomtest(...).proportion_ci(method="wilson")) and exact
two-sided McNemar p-values (scipy.stats.binomtest(fixed, fixed + broken, 0.5).pvalue).

    python3 -m venv .venv-ref && .venv-ref/bin/pip install scipy
    .venv-ref/bin/python scripts/make_stats_fixtures.py      # writes test/fixtures/stats.json
"""
import json
import scipy
from scipy.stats import binomtest

wilson = []
for k, n in [(0, 1), (1, 1), (0, 10), (3, 10), (10, 10), (42, 200), (5, 200), (210, 1000), (1, 1000), (999, 1000), (500, 1000), (17, 23), (4321, 10000)]:
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    wilson.append({"correct": k, "total": n, "ci95": [ci.low, ci.high]})

mcnemar = []
for b, c in [(0, 0), (1, 0), (0, 1), (5, 5), (17, 20), (20, 17), (0, 6), (1, 9), (12, 3), (30, 12), (60, 40), (3, 0), (250, 200), (410, 389), (7, 1)]:
    n = b + c
    p = 1.0 if n == 0 else binomtest(b, n, 0.5).pvalue
    mcnemar.append({"fixed": b, "broken": c, "p_value": p})

out = {"generator": "scripts/make_stats_fixtures.py", "scipy": scipy.__version__, "wilson": wilson, "mcnemar": mcnemar}
with open("test/fixtures/stats.json", "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
print("wrote test/fixtures/stats.json")

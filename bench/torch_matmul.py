"""PyTorch's fp32 GFLOP/s on linear shapes (K->N, `rows` rows), the baseline of `npm run bench`'s matmul figure.
.venv-ref/bin/python bench/torch_matmul.py [--threads 2] [--rows 128] [--shapes 960x960,960x320,...]"""
import argparse, json, time, torch
ap = argparse.ArgumentParser(); ap.add_argument("--threads", type=int, default=2); ap.add_argument("--rows", type=int, default=128)
ap.add_argument("--shapes", default="576x576,576x192,576x1536,896x4864,896x128,960x2560"); a = ap.parse_args()
torch.set_num_threads(a.threads)
for k, n in (map(int, s.split("x")) for s in a.shapes.split(",")):
    x, w = torch.randn(a.rows, k), torch.randn(n, k)
    for _ in range(3): x @ w.T
    ts = []
    for _ in range(7):
        t = time.perf_counter(); reps = 10
        for _ in range(reps): x @ w.T
        ts.append((time.perf_counter() - t) / reps)
    print(json.dumps({"shape": f"{k}x{n}", "rows": a.rows, "threads": a.threads, "gflops": round(2 * a.rows * k * n / sorted(ts)[3] / 1e9, 1)}), flush=True)

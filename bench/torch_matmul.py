"""PyTorch's fp32 GFLOP/s on the linear shapes `npm run bench` uses (128 rows), for the ratio.
.venv-ref/bin/python bench/torch_matmul.py [--threads 2]"""
import argparse, json, time, torch
ap = argparse.ArgumentParser(); ap.add_argument("--threads", type=int, default=2); a = ap.parse_args()
torch.set_num_threads(a.threads)
for name, k, n in [("576->576", 576, 576), ("576->192", 576, 192), ("576->1536", 576, 1536), ("896->4864", 896, 4864), ("896->128", 896, 128), ("960->2560", 960, 2560)]:
    x, w = torch.randn(128, k), torch.randn(n, k)
    for _ in range(3): x @ w.T
    t = time.perf_counter(); reps = 20
    for _ in range(reps): x @ w.T
    print(json.dumps({"shape": name, "threads": a.threads, "gflops": round(2 * 128 * k * n * reps / (time.perf_counter() - t) / 1e9, 1)}))

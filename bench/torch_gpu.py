"""The card's fp32 peak and PyTorch's fp32 (TF32 off) and TF32 matmul GFLOP/s on the same shapes as
`npm run bench:gpu`'s WGSL matmul, x [M, K] @ w[N, K]^T, timed with CUDA events (median of 20 after
warm-up). Prints one JSON line for the card, then one per shape and precision.
python3 bench/torch_gpu.py --shapes 512x4096x4096,1200x960x2560"""
import argparse, json, subprocess, torch
ap = argparse.ArgumentParser(); ap.add_argument("--shapes", required=True); a = ap.parse_args()
if not torch.cuda.is_available(): raise SystemExit("torch sees no CUDA device")
p = torch.cuda.get_device_properties(0)
mhz = int(subprocess.run(["nvidia-smi", "--query-gpu=clocks.max.sm", "--format=csv,noheader,nounits", "-i", "0"],
                         capture_output=True, text=True, check=True).stdout.split()[0])
# FP32 lanes per SM: 64 on GP100/GV100/GA100, 128 on Turing-less consumer Ampere/Ada and on Hopper.
lanes = 64 if (p.major, p.minor) in ((6, 0), (7, 0), (8, 0)) else 128
print(json.dumps({"card": p.name, "sms": p.multi_processor_count, "fp32_lanes_per_sm": lanes, "max_sm_mhz": mhz,
                  "fp32_peak_gflops": round(p.multi_processor_count * lanes * 2 * mhz / 1e3, 1)}), flush=True)
for s in a.shapes.split(","):
    M, K, N = map(int, s.split("x"))
    x, w = torch.randn(M, K, device="cuda"), torch.randn(N, K, device="cuda")
    for prec, tf32 in (("fp32", False), ("tf32", True)):
        torch.backends.cuda.matmul.allow_tf32 = tf32
        for _ in range(5): x @ w.T
        ts = []
        for _ in range(20):
            e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            e0.record(); x @ w.T; e1.record(); torch.cuda.synchronize()
            ts.append(e0.elapsed_time(e1) / 1e3)
        t = sorted(ts)[len(ts) // 2]
        print(json.dumps({"shape": s, "precision": prec, "gflops": round(2 * M * K * N / t / 1e9, 1)}), flush=True)

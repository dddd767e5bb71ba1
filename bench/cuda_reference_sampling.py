"""../shared/bench/reference_sampling.py (or $LR_REFERENCE_DIR's) run unchanged on the GPU: every tensor
and model it creates lands on CUDA through torch.set_default_device, and its own .tolist()/.item() calls
synchronise before each timer read. Arguments pass through. Used by `npm run bench:gpu`."""
import os, runpy, sys, torch
if not torch.cuda.is_available(): raise SystemExit("torch sees no CUDA device")
torch.set_default_device("cuda")
script = os.path.join(os.environ.get("LR_REFERENCE_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "bench")), "reference_sampling.py")
sys.argv = [script] + sys.argv[1:]
runpy.run_path(script, run_name="__main__")

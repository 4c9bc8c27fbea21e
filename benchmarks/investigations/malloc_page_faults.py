"""Page faults in per-measurement NUTS: glibc's malloc settings against the Student-t gradient's cost.

    .venv/bin/python benchmarks/investigations/malloc_page_faults.py [--likelihood student_t] [--obs 400000]
        [--groups 3000] [--plates 500] [--tune 60] [--draws 20]

At 400,000 measurements the Student-t model's full NUTS run (``benchmarks/plate_nuts.py``, 4 chains on 2 cores) spent
35 ms of a core per gradient, against 25.6 ms for one call in ``benchmarks/plate_gradient.py``, and ``/usr/bin/time -v``
counted 1.2 billion minor page faults (the Normal model's run: 1.4 million). The gradient's temporary arrays (3.2 MB
each at 400,000 float64 rows) are handed back to the system when freed and faulted in again on the next call. glibc
reads its malloc settings from the environment when a process starts, so each setting runs in a fresh interpreter:
``default``, and ``keep`` with ``MALLOC_MMAP_THRESHOLD_`` at 32 MiB (arrays of this size come from the heap, not from
fresh mappings), ``MALLOC_TRIM_THRESHOLD_`` at 2 GiB and ``MALLOC_TOP_PAD_`` at 256 MiB (freed memory stays with the
process). Those figures, and the rows of the CSV dated 2026-12-02, are of the builder's per-row form (its default
``curve_at="rows"``, which this script builds); with ``curve_at="points"`` (each curve once per (compound, dose)) the
full Student-t run had 7-8 faults per gradient with the default settings (README, plates row). Both sample the same chains (same seed, same number of gradients); reported: sampling seconds (compilation
excluded), milliseconds of a core per gradient (sampling seconds x the cores the 4 chains
keep busy, min(4, cores), over gradients), minor page faults per gradient. Linux and glibc only. Appends
to benchmarks/results/malloc_page_faults.csv.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from recipes_utils.measurements import append_rows

OUT = Path(__file__).resolve().parents[1] / "results" / "malloc_page_faults.csv"
SETTINGS = {
    "default": {},
    "keep": {"MALLOC_MMAP_THRESHOLD_": str(32 * 2**20), "MALLOC_TRIM_THRESHOLD_": str(2 * 2**30),
             "MALLOC_TOP_PAD_": str(256 * 2**20)},
}  # fmt: skip

CHILD = """
import dataclasses, json, resource, sys, warnings
warnings.filterwarnings("ignore")
from recipes_utils.data import simulate_dose_response
from recipes_utils.dose_response import SIMULATION_PRIORS, hierarchical_four_pl
from recipes_utils.inference import sample_nuts
a = json.loads(sys.argv[1])
sim = simulate_dose_response(a["groups"], a["obs"], seed=1, n_plates=a["plates"], outlier_fraction=0.01)
priors = dataclasses.replace(SIMULATION_PRIORS, plate_sd=10.0)
model = hierarchical_four_pl(sim.data, priors=priors, parameterization="decorrelated", plate="plate",
                             likelihood=a["likelihood"])
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
fit = sample_nuts(model, seed=1, chains=4, tune=a["tune"], draws=a["draws"], progress=False, target_accept=0.65)
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"gradients": fit.gradients, "sampling_s": fit.seconds - fit.compile_seconds, "faults": faults}))
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--likelihood", choices=["normal", "student_t"], default="student_t")
    parser.add_argument("--obs", type=int, default=400_000)
    parser.add_argument("--groups", type=int, default=3_000)
    parser.add_argument("--plates", type=int, default=500)
    parser.add_argument("--tune", type=int, default=60)
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    cores = os.cpu_count()
    busy = min(4, cores)  # 4 chains, one thread each: on more cores the rest sit idle
    rows = []
    for name, env in SETTINGS.items():
        done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(vars(args), default=str)], env={**os.environ, **env},
                              capture_output=True, text=True, check=True)  # fmt: skip
        r = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append({"setting": name, "likelihood": args.likelihood, "n_obs": args.obs, "n_groups": args.groups,
                     "n_plates": args.plates, "tune": args.tune, "draws": args.draws, "gradients": r["gradients"],
                     "sampling_s": r["sampling_s"], "ms_per_gradient_per_core": 1000 * busy * r["sampling_s"] / r["gradients"],
                     "faults_per_gradient": r["faults"] / r["gradients"]})  # fmt: skip
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table = append_rows(table, args.out)
    print(table.round(3).to_string(index=False))
    return table


if __name__ == "__main__":
    main()

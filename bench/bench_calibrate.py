"""How long `bpaste device calibrate --quick` takes here, and how repeatable its figures are.

Runs the quick calibration twice (seeds 0 and 1) and prints each run's wall time (target: well under a
minute) and, per target, class and k, both slowdowns and their difference: a figure that moves more
between runs than the tolerance (10%) says this machine is too busy to calibrate now.

    python bench/bench_calibrate.py [--llm local|remote]
"""

from __future__ import annotations

import argparse
import time

from bpaste_cli.lab import CalibrationConfig, calibrate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm", choices=("local", "remote"), default="local")
    args = parser.parse_args()
    runs = []
    for seed in (0, 1):
        t0 = time.perf_counter()
        runs.append(calibrate(CalibrationConfig.quick(llm=args.llm, seed=seed)))
        print(f"quick calibration, seed {seed}: {time.perf_counter() - t0:.1f} s wall, slots {runs[-1].slots} "
              f"(per class {runs[-1].slots_by_class})")
    a, b = runs
    print(f"{'target':6} {'jobs':4} {'k':>2} {'seed 0':>7} {'seed 1':>7} {'diff':>6}")
    worst = 0.0
    for target, by in a.curves.items():
        for resource, cv in by.items():
            for i, k in enumerate(cv.ks):
                s0, s1 = cv.slowdown[i], b.curves[target][resource].slowdown[i]
                worst = max(worst, abs(s1 - s0))
                print(f"{target:6} {resource:4} {k:>2} {s0:7.2f} {s1:7.2f} {s1 - s0:+6.2f}")
    print(f"largest run-to-run difference of a slowdown: {worst:.2f}")


if __name__ == "__main__":
    main()

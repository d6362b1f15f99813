"""Week 6's headline results over training seeds and over scenes of other seeds.

Lesson 03's detector (mAP@0.5 on the validation and test scenes) and lesson 02's FCN, U-Net and U-Net with
the weight-map loss (mean IoU over the digit classes on the validation scenes; the test scenes' for the network
chosen on them) are each measured once in their lesson. This runs the
lessons themselves in full mode, with their own code and recipe, several times: every pair of a training
seed (``SEED``: weights and batch order) and a scene seed (``SCENE_SEED``: which digits land where, in the
training, validation and test scenes alike), both top-level settings the lessons offer. It prints one line
per run and, per figure, the mean, the smallest and the largest value, and writes every run to ``--out``.

    python -m bench.week6_seeds --data-dir ../shared/data --seeds 0 1 --scene-seeds 0 10
    python -m bench.week6_seeds --tiny --seeds 0 --scene-seeds 0   # a smoke run: tiny mode, numbers mean nothing

Run it alone on the machine: another job on the same cores changes every time it reports.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import statistics
import sys
from pathlib import Path

from bench.common import add_data_dir, apply_data_dir, command, cpu_flags_line, header, machine, today
from bench.full_notebooks import REPO, run

LESSONS = {
    "detector": REPO / "week6_beyond_classification" / "03_one_stage_detector.ipynb",
    "unet": REPO / "week6_beyond_classification" / "02_segmentation.ipynb",
}
# The printed lines each lesson ends with (see the lessons' last result cells), and the figures taken from them.
PATTERNS = {
    "detector": {
        "val mAP@0.5": re.compile(r"^validation: mAP@0\.5 ([0-9.]+)"),
        "test mAP@0.5": re.compile(r"^test \(.*\): mAP@0\.5 ([0-9.]+)"),
        "training seconds": re.compile(r"^([0-9.]+) s of training"),
    },
    "unet": {  # lesson 02 prints its three networks' validation scores, and tests only the one they choose
        "U-Net val mean IoU, digits": re.compile(r"^U-Net\s+pixel accuracy .*mean IoU: digits ([0-9.]+)"),
        "FCN val mean IoU, digits": re.compile(r"^FCN\s+pixel accuracy .*mean IoU: digits ([0-9.]+)"),
        "weighted U-Net val mean IoU, digits": re.compile(
            r"^U-Net, weighted\s+pixel accuracy .*mean IoU: digits ([0-9.]+)"),
        "chosen network's test mean IoU, digits": re.compile(
            r"^.+, test scenes\s+pixel accuracy .*mean IoU: digits ([0-9.]+)"),
        "weighted U-Net training seconds": re.compile(r"^([0-9.]+) s of training"),
    },
}


def figures(lesson: str, lines: list[str]) -> dict[str, float]:
    """Return the figures found in a run's printed lines (a figure printed twice keeps its last value)."""
    found = {}
    for line in lines:
        for name, pattern in PATTERNS[lesson].items():
            match = pattern.search(line.strip())
            if match:
                found[name] = float(match.group(1))
    return found


def summary(values: list[float]) -> str:
    """Return 'mean (min-max, n runs)' for a list of figures."""
    if not values:
        return "no runs"
    return f"{statistics.fmean(values):.3f} ({min(values):.3f}-{max(values):.3f}, {len(values)} runs)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_dir(parser)
    parser.add_argument("--lessons", nargs="+", choices=sorted(LESSONS), default=sorted(LESSONS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1], help="training seeds (SEED)")
    parser.add_argument("--scene-seeds", nargs="+", type=int, default=[0, 10],
                        help="scene seeds (SCENE_SEED); validation and test scenes use the next two")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds a cell may run")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("week6_seeds.json"))
    args = parser.parse_args(argv)
    ordered = sorted(args.scene_seeds)
    if any(later - earlier < 3 for earlier, later in itertools.pairwise(ordered)):
        parser.error(f"scene seeds must be at least 3 apart (each also seeds its validation and test scenes, "
                     f"seed + 1 and seed + 2), got {args.scene_seeds}")
    apply_data_dir(args)
    print(header(), flush=True)
    results = []
    for lesson in args.lessons:
        for scene_seed in args.scene_seeds:
            for seed in args.seeds:
                overrides = {"SEED": str(seed), "SCENE_SEED": str(scene_seed)}
                result = run(LESSONS[lesson], args.timeout, overrides)
                seconds, found = result.seconds, figures(lesson, result.printed)
                missing = sorted(set(PATTERNS[lesson]) - set(found))
                errors = result.errors + [f"printed no line for {name}" for name in missing]
                results.append({"lesson": lesson, "seed": seed, "scene_seed": scene_seed,
                                "seconds": round(seconds), **found, "errors": errors})
                shown = ", ".join(f"{name} {value:g}" for name, value in found.items())
                print(f"{lesson:9s} seed {seed} scenes {scene_seed:3d}: {shown}; notebook {seconds:.0f} s"
                      + (f"; ERRORS {errors}" if errors else ""), flush=True)
    print()
    for lesson in args.lessons:
        runs = [r for r in results if r["lesson"] == lesson and not r["errors"]]
        for name in PATTERNS[lesson]:
            print(f"{lesson:9s} {name:22s} {summary([r[name] for r in runs])}")
    args.out.write_text(json.dumps({"command": command(), "date": today(), "machine": machine(),
                                    "cpu": cpu_flags_line(), "runs": results}, indent=1) + "\n")
    print(f"\nwritten: {args.out}")
    return 1 if any(r["errors"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())

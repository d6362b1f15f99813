"""What the service remembers and how it notices change: a prediction log and a drift check.

Every prediction becomes one JSON line (time, latency, predicted class, confidence and simple input
statistics). The drift check compares recent lines with the validation set's values that the bundle
keeps (``reference_stats.json``), feature by feature, with two measures:

- the **population stability index** (PSI): cut the reference values into ten equally filled bins, and sum
  ``(recent share - reference share) * ln(recent share / reference share)`` over the bins. The usual rule
  of thumb, from credit scoring (e.g. N. Siddiqi, *Credit Risk Scorecards*, 2006), reads below 0.1 as
  stable, 0.1 to 0.2 as a moderate shift and above 0.2 as a significant one; it is a convention, not a
  test. Two samples of one population give a PSI of about ``(bins - 1) * (1/n + 1/m)`` by chance alone,
  which is why the check wants at least 100 recent predictions;
- the **two-sample Kolmogorov-Smirnov test** (``scipy.stats.ks_2samp``): the largest gap between the two
  empirical distribution functions, with its p-value. With thousands of values even a harmless shift is
  "significant", so the alert follows the PSI and the test is reported beside it.

This module needs no torch: ``python -m inference_service drift`` runs in a second.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

# The input statistics, each on a 0..1 scale, then the model's confidence (its top probability).
INPUT_FEATURES = ("input_mean", "input_std", "brightness", "saturation")
FEATURES = (*INPUT_FEATURES, "confidence")
PSI_THRESHOLD = 0.2        # "significant shift" in the rule of thumb above
PSI_MODERATE = 0.1
MIN_SAMPLES = 100
_LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601 weights: how bright a pixel looks to us


def image_statistics(pixels: np.ndarray) -> dict[str, np.ndarray]:
    """Return mean, std, brightness and saturation (0..1) of each uint8 image in a batch (N, H, W, C)."""
    x = pixels.astype(np.float32) / 255
    flat = x.reshape(len(x), -1)
    if x.shape[-1] == 3:
        brightness = (x @ _LUMA).reshape(len(x), -1).mean(axis=1)
        # Saturation as HSV's chroma: the spread between a pixel's strongest and weakest channel. Grey
        # pictures (scans, digits, night-time infrared) have none, whatever their brightness.
        saturation = (x.max(axis=-1) - x.min(axis=-1)).reshape(len(x), -1).mean(axis=1)
    else:
        brightness, saturation = flat.mean(axis=1), np.zeros(len(x))
    return {"input_mean": flat.mean(axis=1), "input_std": flat.std(axis=1), "brightness": brightness,
            "saturation": saturation}


def input_statistics(pixels: np.ndarray) -> dict[str, float]:
    """Return mean, std, brightness and saturation (0..1) of one uint8 image (H, W, C)."""
    return {name: round(float(values[0]), 6) for name, values in image_statistics(pixels[None]).items()}


class PredictionLog:
    """An append-only JSON-lines file of predictions, safe to write from several threads at once."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.count = 0

    def append(self, record: Mapping) -> None:
        """Write one record as one line (whole lines only, flushed at once, so a reader never sees half)."""
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            self.count += 1


def read_log(path: str | Path, last: int | None = None) -> list[dict]:
    """Return the records of a prediction log (the ``last`` ones if given), skipping a half-written last line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No prediction log at {path}: the service writes it (serve --log {path}) once "
                                "it has answered a request.")
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line still being written by the running service
    return records[-last:] if last else records


def read_reference(bundle_dir: str | Path) -> dict:
    """Return the bundle's reference statistics (reference_stats.json), or raise FileNotFoundError saying why."""
    path = Path(bundle_dir) / "reference_stats.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: is {bundle_dir} a bundle folder? Bundles are made by "
                                "inference_service.bundle.save_bundle (see hackathons/to_production/03_deploy.ipynb).")
    return json.loads(path.read_text(encoding="utf-8"))


def population_stability_index(reference: Sequence[float], recent: Sequence[float], bins: int = 10) -> float:
    """Return the PSI of ``recent`` against ``reference``, on bins holding equal shares of the reference."""
    reference, recent = np.asarray(reference, dtype=float), np.asarray(recent, dtype=float)
    # Inner edges at the reference's quantiles; ties (a confidence stuck at 1.0, say) merge bins.
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    expected = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1)
    actual = np.bincount(np.searchsorted(edges, recent, side="right"), minlength=len(edges) + 1)
    return _psi(expected, actual)


def categorical_psi(reference_counts: Sequence[int], recent_counts: Sequence[int]) -> float:
    """Return the PSI between two sets of counts per category (for example, predictions per class)."""
    return _psi(np.asarray(reference_counts, dtype=float), np.asarray(recent_counts, dtype=float))


def _psi(expected: np.ndarray, actual: np.ndarray) -> float:
    # A floor on the shares: an empty bin would make the logarithm infinite.
    p = np.maximum(expected / expected.sum(), 1e-4)
    q = np.maximum(actual / actual.sum(), 1e-4)
    return float(np.sum((q - p) * np.log(q / p)))


@dataclass
class FeatureDrift:
    """One feature's comparison: PSI, KS statistic and p-value, and the two means."""

    feature: str
    psi: float
    ks_statistic: float | None
    ks_pvalue: float | None
    reference_mean: float | None
    recent_mean: float | None
    level: str  # "stable", "moderate" or "shifted", from the PSI rule of thumb


@dataclass
class DriftReport:
    """The drift check's verdict: ``alert``, the features that shifted, and every number behind them."""

    alert: bool
    message: str
    reference_count: int
    recent_count: int
    psi_threshold: float
    min_samples: int
    features: list[FeatureDrift] = field(default_factory=list)

    @property
    def drifted(self) -> list[str]:
        """Return the names of the features whose PSI is over the threshold."""
        return [f.feature for f in self.features if f.psi > self.psi_threshold]

    def rows(self) -> list[dict]:
        """Return one dict per feature (ready for ``pandas.DataFrame``)."""
        return [asdict(f) for f in self.features]

    def __str__(self) -> str:
        lines = [self.message,
                 f"{'feature':<16}{'PSI':>8}{'KS':>8}{'KS p':>11}{'ref mean':>10}{'recent':>10}  level"]
        for f in self.features:
            ks = f"{f.ks_statistic:8.3f}{f.ks_pvalue:11.2g}" if f.ks_statistic is not None else f"{'':8}{'':11}"
            means = (f"{f.reference_mean:10.3f}{f.recent_mean:10.3f}" if f.reference_mean is not None
                     else f"{'':10}{'':10}")
            lines.append(f"{f.feature:<16}{f.psi:8.3f}{ks}{means}  {f.level}")
        lines.append(f"(PSI > {self.psi_threshold} counts as a significant shift, the usual rule of thumb; "
                     f"{self.recent_count} recent predictions against {self.reference_count} reference images)")
        return "\n".join(lines)


def drift_report(records: Iterable[Mapping], reference: Mapping, *, psi_threshold: float = PSI_THRESHOLD,
                 bins: int = 10, min_samples: int = MIN_SAMPLES) -> DriftReport:
    """Return the drift report of prediction-log ``records`` against a bundle's reference statistics."""
    from scipy.stats import ks_2samp  # scipy takes a moment to import; only the check needs it

    records = list(records)
    ref_features = reference["features"]
    n_ref = int(reference.get("count") or len(ref_features.get("confidence", ())))
    if len(records) < min_samples:
        return DriftReport(False, f"Not enough predictions for a reliable check: {len(records)} < {min_samples}. "
                                  "Wait for more traffic (or lower min_samples, knowing that small samples give "
                                  "large PSIs by chance).", n_ref, len(records), psi_threshold, min_samples)
    features = []
    for name in FEATURES:
        ref, recent = np.asarray(ref_features[name], float), np.asarray([r[name] for r in records], float)
        psi = population_stability_index(ref, recent, bins)
        ks = ks_2samp(ref, recent)
        features.append(FeatureDrift(name, round(psi, 4), round(float(ks.statistic), 4), float(ks.pvalue),
                                     round(float(ref.mean()), 4), round(float(recent.mean()), 4),
                                     _level(psi, psi_threshold)))
    ref_counts = reference["predicted_class_counts"]
    recent_counts = np.bincount([r["class_index"] for r in records], minlength=len(ref_counts))
    psi = categorical_psi(ref_counts, recent_counts)
    features.append(FeatureDrift("predicted_class", round(psi, 4), None, None, None, None,
                                 _level(psi, psi_threshold)))
    shifted = [f for f in features if f.psi > psi_threshold]
    if shifted:
        worst = max(shifted, key=lambda f: f.psi)
        message = (f"DRIFT ALERT: {len(shifted)} of {len(features)} features shifted "
                   f"({', '.join(f.feature for f in shifted)}); the largest PSI is {worst.psi:.2f} "
                   f"({worst.feature}), over the threshold {psi_threshold}.")
    else:
        message = f"No drift: every PSI is at most {psi_threshold} (largest {max(f.psi for f in features):.2f})."
    return DriftReport(bool(shifted), message, n_ref, len(records), psi_threshold, min_samples, features)


def _level(psi: float, threshold: float) -> str:
    if math.isnan(psi) or psi > threshold:
        return "shifted"
    return "moderate" if psi > PSI_MODERATE else "stable"

"""What the service remembers and how it notices change: a prediction log, drift checks, model comparison.

Every prediction becomes one JSON line: time, latency, which model answered (its version and SHA-256, and
its role: ``live``, ``candidate``, or ``shadow`` for a copy nobody was answered with), the predicted class,
the confidence, every class probability and simple input statistics. The drift check compares recent lines
with the validation set's values that the bundle keeps (``reference_stats.json``) in two ways.

**Pixel statistics**, feature by feature, with two measures:

- the **population stability index** (PSI): cut the reference values into ten equally filled bins, and sum
  ``(recent share - reference share) * ln(recent share / reference share)`` over the bins. The usual rule
  of thumb, from credit scoring (e.g. N. Siddiqi, *Credit Risk Scorecards*, 2006), reads below 0.1 as
  stable, 0.1 to 0.2 as a moderate shift and above 0.2 as a significant one; it is a convention, not a
  test. Two samples of one population give a PSI of about ``(bins - 1) * (1/n + 1/m)`` by chance alone,
  which is why the check wants at least 100 recent predictions;
- the **two-sample Kolmogorov-Smirnov test** (``scipy.stats.ks_2samp``): the largest gap between the two
  empirical distribution functions, with its p-value. With thousands of values even a harmless shift is
  "significant", so the alert follows the PSI and the test is reported beside it.

**Content**: four pixel statistics miss a change of *what* is photographed (other subjects at the same
brightness, a new mix of classes). The model's own outputs see it: black-box shift detection (S. Rabanser,
S. Günnemann, Z. Lipton, *Failing Loudly: An Empirical Study of Methods for Detecting Dataset Shift*,
NeurIPS 2019) runs one two-sample KS test per class on the softmax probabilities, and a chi-square test
on the mix of predicted classes, against the same probabilities on the validation set. With K classes
that is K + 1 tests, so each is held to ``alpha / (K + 1)`` (Bonferroni): the chance of a false alarm on
unshifted traffic is then at most ``alpha`` (5% by default), and ``false_alarm_rate`` measures it.

``compare_models`` reads the log of a canary or shadow deployment: how often the candidate agrees with the
live model on the same requests, and how confident each is.

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
CONTENT_ALPHA = 0.05       # the content check's family-wise false-alarm rate on unshifted traffic
SERVED_ROLES = ("live", "candidate")  # records whose answer went back to a client ("shadow" ones did not)
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
class ContentDrift:
    """Black-box shift detection on the model's outputs: per-class KS tests and a chi-square test, Bonferroni."""

    alert: bool
    alpha: float
    threshold: float                 # alpha / (number of tests): what each p-value is held to
    ks_statistics: list[float]       # one per class, on that class's probability
    ks_pvalues: list[float]
    chi2_statistic: float            # on the counts of predicted classes, reference against recent
    chi2_pvalue: float
    reference_count: int
    recent_count: int

    @property
    def smallest_pvalue(self) -> float:
        """Return the smallest p-value of all the tests (the alert fires when it is under ``threshold``)."""
        return min([*self.ks_pvalues, self.chi2_pvalue])

    @property
    def shifted_classes(self) -> list[int]:
        """Return the indices of the classes whose probability's KS test is under the threshold."""
        return [i for i, p in enumerate(self.ks_pvalues) if p < self.threshold]

    def __str__(self) -> str:
        verdict = "CONTENT DRIFT" if self.alert else "no content drift"
        worst = int(np.argmin(self.ks_pvalues))
        return (f"{verdict}: smallest p-value {self.smallest_pvalue:.2g} against the threshold {self.threshold:.2g} "
                f"(alpha {self.alpha} over {len(self.ks_pvalues) + 1} tests, Bonferroni); predicted-class mix "
                f"chi-square {self.chi2_statistic:.1f}, p {self.chi2_pvalue:.2g}; largest per-class KS "
                f"{self.ks_statistics[worst]:.3f} (class {worst}, p {self.ks_pvalues[worst]:.2g})"
                + (f"; shifted classes {self.shifted_classes}" if self.shifted_classes else ""))


def content_drift(reference_probabilities: Sequence[Sequence[float]], recent_probabilities: Sequence[Sequence[float]],
                  alpha: float = CONTENT_ALPHA) -> ContentDrift:
    """Return the black-box shift test of recent softmax outputs (N, K) against the reference's (M, K)."""
    from scipy.stats import chi2_contingency, ks_2samp

    reference = np.asarray(reference_probabilities, dtype=float)
    recent = np.asarray(recent_probabilities, dtype=float)
    if reference.ndim != 2 or recent.ndim != 2 or reference.shape[1] != recent.shape[1]:
        raise ValueError(f"Probabilities must be tables with one column per class and the same classes: got "
                         f"{reference.shape} (reference) and {recent.shape} (recent).")
    classes = reference.shape[1]
    # The asymptotic p-value: exact ones cost seconds on thousands of values and differ in the third digit.
    tests = [ks_2samp(reference[:, k], recent[:, k], method="asymp") for k in range(classes)]
    counts = np.stack([np.bincount(reference.argmax(1), minlength=classes),
                       np.bincount(recent.argmax(1), minlength=classes)])
    counts = counts[:, counts.sum(0) > 0]  # a class neither sample predicts adds nothing, and breaks the test
    if counts.shape[1] > 1:
        chi2 = chi2_contingency(counts)
        chi2_statistic, chi2_pvalue = float(chi2.statistic), float(chi2.pvalue)
    else:
        chi2_statistic, chi2_pvalue = 0.0, 1.0
    threshold = alpha / (classes + 1)
    pvalues = [float(t.pvalue) for t in tests]
    return ContentDrift(min([*pvalues, chi2_pvalue]) < threshold, alpha, threshold,
                        [round(float(t.statistic), 4) for t in tests], pvalues, round(chi2_statistic, 3),
                        chi2_pvalue, len(reference), len(recent))


def false_alarm_rate(reference_probabilities: Sequence[Sequence[float]],
                     unshifted_probabilities: Sequence[Sequence[float]], window: int, trials: int = 200,
                     alpha: float = CONTENT_ALPHA, seed: int = 0) -> float:
    """Return the share of ``trials`` random windows of unshifted outputs on which ``content_drift`` alerts."""
    pool = np.asarray(unshifted_probabilities, dtype=float)
    if window > len(pool):
        raise ValueError(f"A window of {window} needs at least {window} unshifted outputs; got {len(pool)}.")
    rng = np.random.default_rng(seed)
    alarms = sum(content_drift(reference_probabilities, pool[rng.choice(len(pool), window, replace=False)],
                               alpha).alert for _ in range(trials))
    return alarms / trials


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
    content: ContentDrift | None = None  # None when the bundle or the log lacks class probabilities
    content_note: str = ""               # why the content check did not run, if it did not

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
        if self.content is not None or self.content_note:
            lines.append(f"Model outputs: {self.content if self.content is not None else self.content_note}")
        return "\n".join(lines)


def drift_report(records: Iterable[Mapping], reference: Mapping, *, psi_threshold: float = PSI_THRESHOLD,
                 bins: int = 10, min_samples: int = MIN_SAMPLES, alpha: float = CONTENT_ALPHA) -> DriftReport:
    """Return the drift report of prediction-log ``records`` against a bundle's reference statistics.

    Give the records of one model (``records_of``): the content check compares that model's outputs with
    its own outputs on the reference images.
    """
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
    content, content_note = None, ""
    if "probabilities" not in reference:
        content_note = ("content check skipped: the bundle's reference_stats.json holds no class probabilities "
                        "(saved by an older save_bundle). Save the bundle again to get it.")
    elif not all("probabilities" in r for r in records):
        content_note = "content check skipped: some log records hold no class probabilities (an older service)."
    else:
        content = content_drift(reference["probabilities"], [r["probabilities"] for r in records], alpha)
    shifted = [f for f in features if f.psi > psi_threshold]
    if shifted:
        worst = max(shifted, key=lambda f: f.psi)
        message = (f"DRIFT ALERT: {len(shifted)} of {len(features)} features shifted "
                   f"({', '.join(f.feature for f in shifted)}); the largest PSI is {worst.psi:.2f} "
                   f"({worst.feature}), over the threshold {psi_threshold}.")
    else:
        message = f"No drift: every PSI is at most {psi_threshold} (largest {max(f.psi for f in features):.2f})."
    if content is not None and content.alert:
        message += (f" CONTENT DRIFT: the model's outputs differ from its outputs on the reference images "
                    f"(p {content.smallest_pvalue:.2g} < {content.threshold:.2g}).")
    alert = bool(shifted) or bool(content is not None and content.alert)
    return DriftReport(alert, message, n_ref, len(records), psi_threshold, min_samples, features, content,
                       content_note)


def records_of(records: Iterable[Mapping], sha256: str) -> list[dict]:
    """Return the records of the model with this SHA-256 (all records if the log predates model hashes)."""
    records = list(records)
    if not any("model_sha256" in r for r in records):
        return records
    return [r for r in records if r.get("model_sha256") == sha256]


def _level(psi: float, threshold: float) -> str:
    if math.isnan(psi) or psi > threshold:
        return "shifted"
    return "moderate" if psi > PSI_MODERATE else "stable"


@dataclass
class ModelSummary:
    """One model's share of the log: its identity, how many requests it answered or shadowed, and how."""

    sha256: str
    version: str
    roles: dict[str, int]            # records per role (live, candidate, shadow)
    mean_confidence: float
    latency_p50_ms: float
    class_shares: dict[int, float]   # share of its predictions per class index


@dataclass
class ModelComparison:
    """A canary or shadow deployment read from the log: each model's summary, and their agreement."""

    models: list[ModelSummary]
    paired: int                      # requests answered by one model and shadowed by another
    agreement: float | None          # share of the paired requests where both predict the same class
    confidence_gap: float | None     # mean (candidate's - live model's) confidence on the paired requests

    def __str__(self) -> str:
        lines = [f"{'version':<22}{'sha256':<14}{'live':>7}{'canary':>8}{'shadow':>8}{'confidence':>12}"
                 f"{'latency p50':>13}"]
        for m in self.models:
            lines.append(f"{m.version[:21]:<22}{m.sha256[:12]:<14}{m.roles.get('live', 0):>7}"
                         f"{m.roles.get('candidate', 0):>8}{m.roles.get('shadow', 0):>8}{m.mean_confidence:>12.3f}"
                         f"{m.latency_p50_ms:>10.1f} ms")
        if self.paired:
            lines.append(f"On {self.paired} requests seen by both: the two models predict the same class on "
                         f"{self.agreement:.1%}; the candidate's confidence is {self.confidence_gap:+.3f} on "
                         "average against the live model's.")
        else:
            lines.append("No request was seen by both models (agreement needs a shadow copy: release with --shadow); "
                         "compare their confidences and class mixes above, on different requests.")
        return "\n".join(lines)


def compare_models(records: Iterable[Mapping]) -> ModelComparison:
    """Return the comparison of the models in a prediction log: volumes, confidences, agreement on shared requests."""
    records = [r for r in records if "model_sha256" in r]
    if not records:
        raise ValueError("The log holds no record naming its model (model_sha256): it was written by a service "
                         "older than model identities. Compare on a log written by the current service.")
    by_model: dict[str, list[Mapping]] = {}
    for r in records:
        by_model.setdefault(r["model_sha256"], []).append(r)
    models = []
    for sha, rows in by_model.items():
        roles: dict[str, int] = {}
        for r in rows:
            roles[r.get("role", "live")] = roles.get(r.get("role", "live"), 0) + 1
        classes = np.array([r["class_index"] for r in rows])
        models.append(ModelSummary(sha, str(rows[-1].get("model_version", "")), roles,
                                   round(float(np.mean([r["confidence"] for r in rows])), 4),
                                   round(float(np.median([r["latency_ms"] for r in rows])), 3),
                                   {int(c): round(float(np.mean(classes == c)), 4) for c in np.unique(classes)}))
    # A shadow record shares its request id with the answer that went back to the client.
    served = {r["request_id"]: r for r in records if r.get("role", "live") in SERVED_ROLES}
    pairs = [(served[r["request_id"]], r) for r in records
             if r.get("role") == "shadow" and r["request_id"] in served]
    if not pairs:
        return ModelComparison(models, 0, None, None)
    agreement = float(np.mean([a["class_index"] == b["class_index"] for a, b in pairs]))
    gap = np.mean([shadow["confidence"] - answer["confidence"] for answer, shadow in pairs])  # only candidates shadow
    return ModelComparison(models, len(pairs), round(agreement, 4), round(float(gap), 4))

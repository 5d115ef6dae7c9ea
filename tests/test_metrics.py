"""Metrics: hand-computed confusion counts and scores, AUCs against sklearn, reductions, edge cases."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    jaccard_score,
    matthews_corrcoef,
    precision_score,
    recall_score,
    roc_auc_score,
)

from vesselseg.errors import InputError
from vesselseg.metrics import (
    METRIC_NAMES,
    Counts,
    Evaluator,
    PixelPool,
    confusion,
    evaluate_images,
    mcc,
    pr_auc,
    roc_auc,
    roc_curve_points,
    scores,
)

# prediction at 0.5 (>=):   [[1, 0, 1], [0, 1, 0]]
PROB = np.array([[0.9, 0.2, 0.6], [0.4, 0.5, 0.1]], dtype=np.float32)
LABEL = np.array([[1, 0, 0], [1, 1, 0]], dtype=bool)
FOV = np.array([[1, 1, 0], [1, 1, 1]], dtype=bool)  # drops pixel (0, 2), a false positive


@pytest.fixture
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def test_confusion_by_hand():
    assert confusion(PROB, LABEL) == Counts(tp=2, fp=1, fn=1, tn=2)
    assert confusion(PROB, LABEL, FOV) == Counts(tp=2, fp=0, fn=1, tn=2)
    # threshold is inclusive (0.5 -> vessel); a higher one moves 0.5 and 0.6 to background
    assert confusion(PROB, LABEL, threshold=0.55) == Counts(tp=1, fp=1, fn=2, tn=2)
    assert confusion(PROB, LABEL, threshold=0.7) == Counts(tp=1, fp=0, fn=2, tn=3)
    # a bool prediction is used as is; 0/1 labels, 0/255 labels and tensors all work
    assert confusion(PROB >= 0.5, LABEL.astype(np.uint8) * 255) == Counts(2, 1, 1, 2)
    assert confusion(torch.from_numpy(PROB), torch.from_numpy(LABEL.astype(np.float32)), torch.from_numpy(FOV)) == Counts(2, 0, 1, 2)
    assert confusion(PROB, LABEL, FOV).total == FOV.sum()


def test_counts_add():
    a, b = Counts(1, 2, 3, 4), Counts(10, 20, 30, 40)
    assert a + b == Counts(11, 22, 33, 44)
    assert sum([a, b]) == a + b
    assert (a + b).as_dict() == {"tp": 11, "fp": 22, "fn": 33, "tn": 44}


def test_scores_by_hand():
    s = scores(Counts(tp=2, fp=1, fn=1, tn=2))
    assert s["accuracy"] == pytest.approx(4 / 6)
    assert s["sensitivity"] == pytest.approx(2 / 3)
    assert s["specificity"] == pytest.approx(2 / 3)
    assert s["precision"] == pytest.approx(2 / 3)
    assert s["f1"] == pytest.approx(4 / 6)
    assert s["iou"] == pytest.approx(2 / 4)
    assert s["mcc"] == pytest.approx((2 * 2 - 1 * 1) / 9)  # sqrt(3*3*3*3)

    s = scores(Counts(tp=3, fp=1, fn=2, tn=4))
    assert s["accuracy"] == pytest.approx(7 / 10)
    assert s["sensitivity"] == pytest.approx(3 / 5)
    assert s["specificity"] == pytest.approx(4 / 5)
    assert s["precision"] == pytest.approx(3 / 4)
    assert s["f1"] == pytest.approx(6 / 9)
    assert s["iou"] == pytest.approx(3 / 6)
    assert s["mcc"] == pytest.approx((12 - 2) / math.sqrt(4 * 5 * 5 * 6))


def test_scores_match_sklearn_on_random_data():
    rng = np.random.default_rng(0)
    prob = rng.random((37, 41))
    label = rng.random((37, 41)) < 0.3
    fov = rng.random((37, 41)) < 0.8
    s = scores(confusion(prob, label, fov))
    y, p = label[fov], prob[fov] >= 0.5
    assert s["accuracy"] == pytest.approx(accuracy_score(y, p))
    assert s["sensitivity"] == pytest.approx(recall_score(y, p))
    assert s["specificity"] == pytest.approx(recall_score(~y, ~p))
    assert s["precision"] == pytest.approx(precision_score(y, p))
    assert s["f1"] == pytest.approx(f1_score(y, p))
    assert s["iou"] == pytest.approx(jaccard_score(y, p))
    assert s["mcc"] == pytest.approx(matthews_corrcoef(y, p))


def test_mcc_no_overflow_on_large_counts():
    tp, fp, fn, tn = 4 * 10**7, 3 * 10**6, 5 * 10**6, 9 * 10**8  # marginal product ~1e33 >> int64
    exact = (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    assert mcc(Counts(tp, fp, fn, tn)) == pytest.approx(exact, rel=1e-12)
    assert -1.0 <= exact <= 1.0


def test_degenerate_all_zero_label_and_pred(no_warnings):
    zero = np.zeros((5, 6), np.float32)
    c = confusion(zero, zero.astype(bool))
    assert c == Counts(tn=30)
    assert scores(c) == dict.fromkeys(["accuracy", "sensitivity", "specificity", "precision", "f1", "iou", "mcc"], 1.0)
    assert math.isnan(roc_auc(zero, zero)) and math.isnan(pr_auc(zero, zero))
    fpr, tpr, thr = roc_curve_points(zero, zero)
    assert fpr.size == tpr.size == thr.size == 0


def test_degenerate_all_zero_pred(no_warnings):
    label = np.zeros((4, 4), bool)
    label[1, 1:3] = True
    s = scores(confusion(np.zeros((4, 4)), label))
    assert s["sensitivity"] == 0.0 and s["f1"] == 0.0 and s["iou"] == 0.0
    assert s["precision"] == 1.0  # no positive prediction: no false alarm (zero_division)
    assert s["specificity"] == 1.0 and s["accuracy"] == pytest.approx(14 / 16)
    assert s["mcc"] == 0.0  # constant prediction
    assert scores(confusion(np.zeros((4, 4)), label), zero_division=0.0)["precision"] == 0.0


def test_degenerate_all_zero_label_with_false_positives(no_warnings):
    prob = np.zeros((4, 4))
    prob[0, 0] = 0.9
    s = scores(confusion(prob, np.zeros((4, 4), bool)))
    assert s["sensitivity"] == 1.0  # nothing to find (zero_division)
    assert s["precision"] == 0.0 and s["f1"] == 0.0 and s["iou"] == 0.0
    assert s["mcc"] == 0.0
    assert scores(Counts(fp=3))["mcc"] == -1.0 and scores(Counts(tp=3))["mcc"] == 1.0


def test_empty_fov_is_defined(no_warnings):
    c = confusion(PROB, LABEL, np.zeros_like(FOV))
    assert c == Counts() and scores(c)["accuracy"] == 1.0


def test_shape_mismatch_is_an_input_error():
    with pytest.raises(InputError, match="shape"):
        confusion(PROB, LABEL[:, :2])
    with pytest.raises(InputError, match="fov"):
        confusion(PROB, LABEL, FOV.T)
    # singleton axes are tolerated: (1, 1, H, W) probabilities against an (H, W) label
    assert confusion(PROB[None, None], LABEL) == Counts(2, 1, 1, 2)


def test_auc_matches_sklearn():
    rng = np.random.default_rng(1)
    label = rng.random((50, 60)) < 0.2
    prob = np.clip(label * 0.3 + rng.random((50, 60)) * 0.8, 0, 1).astype(np.float32)
    fov = rng.random((50, 60)) < 0.75
    assert roc_auc(prob, label, fov) == pytest.approx(roc_auc_score(label[fov], prob[fov]))
    assert pr_auc(prob, label, fov) == pytest.approx(average_precision_score(label[fov], prob[fov]))
    assert roc_auc(prob, label) == pytest.approx(roc_auc_score(label.ravel(), prob.ravel()))


def test_roc_curve_points_downsampled():
    rng = np.random.default_rng(2)
    label = rng.random(20000) < 0.3
    prob = np.clip(label * 0.2 + rng.random(20000), 0, None)
    fpr, tpr, thr = roc_curve_points(prob, label, max_points=500)
    assert 2 < fpr.size <= 500 and fpr.size == tpr.size == thr.size
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc_score(label, prob), abs=2e-3)
    assert roc_curve_points(prob, label)[0].size <= 2000


def _image(rng, shape, prevalence, noise):
    label = rng.random(shape) < prevalence
    prob = np.clip(np.where(label, 0.7, 0.3) + noise * rng.standard_normal(shape), 0, 1).astype(np.float32)
    return prob, label


def test_pooled_vs_per_image():
    rng = np.random.default_rng(3)
    good = _image(rng, (20, 20), 0.2, 0.05)  # small, nearly perfect
    bad = _image(rng, (60, 50), 0.1, 0.4)  # large, poor
    fovs = [np.ones((20, 20), bool), rng.random((60, 50)) < 0.8]
    res = evaluate_images([good[0], bad[0]], [good[1], bad[1]], fovs)
    assert res["n_images"] == 2 and res["region"] == "fov" and set(res["reductions"]) == {"pooled", "mean", "std"}
    per = res["per_image"]
    assert set(per[0]) == set(METRIC_NAMES) == set(res["pooled"]) == set(res["mean"]) == set(res["std"])

    # per image = the single-image functions
    c0, c1 = confusion(good[0], good[1], fovs[0]), confusion(bad[0], bad[1], fovs[1])
    assert per[1]["f1"] == pytest.approx(scores(c1)["f1"])
    assert per[1]["auc"] == pytest.approx(roc_auc(bad[0], bad[1], fovs[1]))
    # mean = unweighted mean over images; std = population std
    for k in ("f1", "auc", "mcc"):
        assert res["mean"][k] == pytest.approx((per[0][k] + per[1][k]) / 2)
        assert res["std"][k] == pytest.approx(abs(per[0][k] - per[1][k]) / 2)
    # pooled = scores of summed counts and AUC of all pixels together, dominated by the big image
    assert res["counts"] == (c0 + c1).as_dict()
    assert res["pooled"]["f1"] == pytest.approx(scores(c0 + c1)["f1"])
    all_p = np.concatenate([good[0].ravel(), bad[0][fovs[1]]])
    all_y = np.concatenate([good[1].ravel(), bad[1][fovs[1]]])
    assert res["pooled"]["auc"] == pytest.approx(roc_auc_score(all_y, all_p))
    assert res["pooled"]["f1"] < res["mean"]["f1"]  # the small good image weighs less when pooled
    assert abs(res["pooled"]["auc"] - res["mean"]["auc"]) > 1e-3


def test_mean_skips_undefined_auc(no_warnings):
    rng = np.random.default_rng(4)
    prob, label = _image(rng, (10, 10), 0.3, 0.2)
    empty = np.zeros((10, 10), bool)
    res = evaluate_images([prob, prob], [label, empty])
    assert math.isnan(res["per_image"][1]["auc"])
    assert res["mean"]["auc"] == pytest.approx(res["per_image"][0]["auc"]) and res["std"]["auc"] == 0.0
    assert res["region"] == "image"


def test_accumulators_and_errors():
    rng = np.random.default_rng(5)
    pool, ev = PixelPool(), Evaluator(threshold=0.4)
    for _ in range(3):
        prob, label = _image(rng, (8, 9), 0.3, 0.3)
        pool.add(prob, label)
        ev.add(prob, label)
    assert len(pool) == 3 and pool.n_pixels == 3 * 72
    p, y = pool.arrays()
    assert p.dtype == np.float32 and y.dtype == bool
    assert ev.pooled()["auc"] == pytest.approx(pool.roc_auc())
    assert ev.result()["threshold"] == 0.4
    with pytest.raises(InputError):
        Evaluator().result()
    with pytest.raises(InputError):
        evaluate_images([PROB], [LABEL, LABEL])

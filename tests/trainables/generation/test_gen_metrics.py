"""IS/FID/KID wiring through torch-fidelity with a tiny registered feature extractor; the real-side
cache; weights checks (FID-only file → no IS; missing standard weights offline → clear error first)."""
from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from gen_helpers import register_tiny_fe, tiny_fe_class

from trainables.errors import InputError
from trainables.generation import compute_metrics
from trainables.generation import metrics as M
from trainables.schema.generation import MetricsConfig


def images(n, seed, lo=0, hi=256, c=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(lo, hi, (n, c, 12, 12), generator=g, dtype=torch.uint8)


@pytest.fixture
def fe():
    return register_tiny_fe()


def test_dataset_repeats_grey_to_rgb():
    ds = M.UInt8Images(images(3, 0))
    assert len(ds) == 3 and ds[1].shape == (3, 12, 12) and ds[1].dtype == torch.uint8
    assert torch.equal(ds[1][0], ds[1][2])
    assert M.UInt8Images(images(2, 0, c=3))[0].shape == (3, 12, 12)
    with pytest.raises(ValueError, match="uint8"):
        M.UInt8Images(images(2, 0).float())


def test_is_fid_kid_and_reference_cache(fe, tmp_path):
    cfg = MetricsConfig(feature_extractor=fe, kid_subsets=10)
    ref, same, other = images(60, 1), images(60, 2), images(60, 3, lo=0, hi=90)
    cls = tiny_fe_class()
    cls.seen = 0
    a = compute_metrics(same, ref, cfg, dataset="toy", cuda=False, cache_root=tmp_path)
    assert cls.seen == 120 and {"fid", "kid_mean", "kid_std", "isc_mean", "isc_std"} <= set(a)
    assert a["n_samples"] == 60 and a["n_reference"] == 60 and a["notes"] == []
    assert list(tmp_path.glob("gen-ref-toy-n60-*-stat-fid-feat.pt"))  # the real side is cached ...
    cls.seen = 0
    b = compute_metrics(other, ref, cfg, dataset="toy", cuda=False, cache_root=tmp_path)
    assert cls.seen == 60  # ... so the second run extracts the samples only
    assert b["fid"] > 10 * a["fid"] and b["kid_mean"] > a["kid_mean"]  # darker images are farther away
    assert compute_metrics(ref, ref, cfg, cuda=False, cache_root=tmp_path)["fid"] == pytest.approx(0, abs=1e-3)


def test_fid_only_weights_never_report_is(fe, tmp_path):
    zero = tmp_path / "fid-only.pth"
    torch.save({"fc.weight": torch.zeros(10, 16), "fc.bias": torch.zeros(10)}, zero)
    cfg = MetricsConfig(feature_extractor=fe, weights_path=str(zero), kid=False)
    m = compute_metrics(images(20, 1), images(20, 2), cfg, cuda=False, cache_root=tmp_path)
    assert "fid" in m and "isc_mean" not in m and "isc_std" not in m
    assert any("FID-only" in n for n in m["notes"]) and any("isc absent" in n for n in m["notes"])
    real = tmp_path / "with-fc.pth"
    torch.save({"fc.weight": torch.ones(10, 16), "fc.bias": torch.zeros(10)}, real)
    m = compute_metrics(images(20, 1), images(20, 2), cfg.model_copy(update={"weights_path": str(real)}),
                        cuda=False, cache_root=tmp_path)
    assert "isc_mean" in m and m["notes"] == []


def test_shared_fid_only_file_is_recognised(shared_data):
    path = shared_data / "weights" / "inception-v3-2015-12-05-fid-only.pth"
    if not path.is_file():
        pytest.skip(f"{path} not here")
    assert M.is_fid_only(path)
    w = M.resolve_weights(MetricsConfig(weights_path=str(path)))
    assert w.fid_only and w.path == path.absolute()


def test_missing_standard_weights_offline_is_a_clear_error(tmp_path, monkeypatch):
    import torch_fidelity

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))  # an empty hub cache
    monkeypatch.setenv("STUDY_OFFLINE", "1")
    monkeypatch.setattr(torch_fidelity, "calculate_metrics", lambda **kw: pytest.fail("torch-fidelity was called"))
    with pytest.raises(InputError) as e:
        compute_metrics(images(4, 0), images(4, 1), MetricsConfig(), cuda=False, cache_root=tmp_path)
    msg = str(e.value)
    hub = str(tmp_path / "torch-home" / "hub" / "checkpoints" / M.STANDARD_WEIGHTS_FILE)
    for part in ("weights-inception-2015-12-05-6726825d.pth", "metrics.weights_path", "--weights", hub,
                 "network access", "STUDY_OFFLINE"):
        assert part in msg, part


def test_bad_weights_and_extractor(fe, tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        M.resolve_weights(MetricsConfig(weights_path=str(tmp_path / "nope.pth")))
    evil = tmp_path / "evil.pth"
    evil.write_bytes(pickle.dumps(Path("/"), protocol=2))  # a pickle with an object the safe loader refuses
    with pytest.raises(InputError, match="loaded safely"):
        M.resolve_weights(MetricsConfig(weights_path=str(evil)))
    with pytest.raises(InputError, match="unknown feature extractor 'nope'"):
        compute_metrics(images(4, 0), images(4, 1), MetricsConfig(feature_extractor="nope"), cache_root=tmp_path)


def test_reference_subset_is_seeded():
    x = images(50, 0)
    a, b = M.reference_subset(x, 10, 3), M.reference_subset(x, 10, 3)
    assert len(a) == 10 and torch.equal(a, b)
    assert M.reference_subset(x, None, 0) is x and M.reference_subset(x, 100, 0) is x

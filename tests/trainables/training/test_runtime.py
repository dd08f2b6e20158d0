"""The GPU path's dtype and memory-format handling, checked on CPU (bf16 autocast exists on CPU too)."""
import pytest
import torch

from testlib import tiny_run
from trainables.schema.config import RunConfig
from trainables.energy.energies import energy
from trainables.training.runtime import Runtime
from trainables.training.trainer import Trainer


def test_auto_resolves_to_fp32_contiguous_on_cpu():
    rt = Runtime.from_config(RunConfig(device="auto"))
    if torch.cuda.is_available():
        pytest.skip("CUDA present: auto picks the GPU path")
    assert rt.device.type == "cpu" and not rt.bf16 and not rt.channels_last
    assert rt.memory_format == torch.contiguous_format


def test_cuda_request_falls_back_to_cpu_without_a_gpu():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert Runtime.from_config(RunConfig(device="cuda")).device.type == "cpu"


def test_bf16_channels_last_device_loader_epoch_on_cpu(data_root):
    """The CUDA recipe's settings (bf16 autocast, channels_last, device-resident loader) on CPU."""
    cfg = RunConfig.model_validate(tiny_run(data_root, precision="bf16", channels_last=True, data__loader="device",
                                            method__name="pgd", method__steps=2, der__weight=1.0, epochs=1))
    t = Trainer(cfg)
    assert t.rt.bf16 and t.rt.channels_last
    conv = t.model.net[0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    x, y = next(iter(t.data.train_batches(0)))
    assert x.dtype == torch.float32 and x.is_contiguous(memory_format=torch.channels_last)
    with t.rt.autocast():
        logits = t.model(x)
    assert logits.dtype == torch.bfloat16  # autocast is really on
    assert energy(logits).dtype == torch.float32  # energies are computed in fp32
    rec = t.train_epoch()
    m = rec.metrics
    assert all(torch.isfinite(torch.tensor(v)) for v in m.values())
    assert m["loss/der"] > 0 and 0 <= m["val/pgd_acc"] <= 1
    assert t.model.net[0].weight.dtype == torch.float32  # parameters stay fp32 (autocast, not .half())

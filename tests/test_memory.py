"""archinspect memory: predicted peaks against real CPU runs, definitions, the budget search, the errors."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from archinspect.analyses.budget import budget_batches, largest_batch
from archinspect.analyses.memory import memory
from archinspect.analyses.memory_check import measured_peak
from archinspect.core.inputs import parse_size
from archinspect.core.memtrack import rounded
from archinspect.errors import ModelRunError, UsageError
from archinspect.models.loading import load_model


def transformer_block() -> nn.Module:
    torch.manual_seed(0)
    return nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, dropout=0.0, batch_first=True)


# (model, input, mode, optimizer, instrument): each predicted on meta and measured for real on CPU at batch 2.
# The transformer's inference takes torch's fused fast path on CPU in the real run and in the prediction
# (no hooks inside it); the workspaces inside that one kernel are not counted, as oneDNN's are not, so the
# comparison is with MemTracker (dispatch level, what archinspect counts).
AGREEMENT = [
    ("resnet20", (2, 3, 32, 32), "train", "momentum", "profiler"),
    pytest.param("densenet-bc", (2, 3, 32, 32), "train", "adam", "memtracker", marks=pytest.mark.slow),
    ("small-densenet", (2, 3, 32, 32), "train", "adam", "memtracker"),
    ("small-densenet-efficient", (2, 3, 32, 32), "train", "sgd", "memtracker"),
    ("transformer", (2, 8, 32), "eval", "sgd", "memtracker"),
    ("transformer", (2, 8, 32), "train", "adamw", "memtracker"),
]


def small_densenet(memory_efficient: bool = False) -> nn.Module:
    """The zoo's ImageNet DenseNet, cut down: growth 8, two blocks of three layers."""
    from archinspect.models.zoo.densenet import DenseNet

    torch.manual_seed(0)
    return DenseNet(8, (3, 3), 16, num_classes=10, memory_efficient=memory_efficient)


def _models(name: str) -> tuple[nn.Module, nn.Module]:
    if name == "transformer":
        block = transformer_block()
        return block, block
    if name.startswith("small-densenet"):
        net = small_densenet(memory_efficient=name.endswith("efficient"))
        return net, net
    return load_model(name, device="meta").model, load_model(name, device="cpu").model


@pytest.mark.parametrize(("name", "shape", "mode", "optimizer", "method"), AGREEMENT)
def test_prediction_agrees_with_a_real_cpu_run(name, shape, mode, optimizer, method):
    meta_model, real_model = _models(name)
    predicted = memory(meta_model, [shape], mode=mode, optimizer=optimizer)
    real = measured_peak(real_model, [shape], mode=mode, optimizer=optimizer, method=method)
    assert abs(predicted.peak_bytes - real) <= 0.05 * real, (predicted.peak_bytes, real)


def test_breakdown_sums_to_the_peak_and_parameters_are_exact():
    model = load_model("resnet20", device="meta").model
    r = memory(model, [(4, 3, 32, 32)], mode="train", optimizer="adam")
    assert sum(r.breakdown.values()) == r.peak_bytes
    n_params = sum(p.numel() for p in model.parameters())
    assert r.breakdown["params"] == 4 * n_params
    # Adam: two float32 moments per parameter plus a 4-byte step counter per parameter tensor.
    assert r.breakdown["optimizer_state"] == 8 * n_params + 4 * len(list(model.parameters()))
    assert r.breakdown["inputs"] == 4 * 3 * 32 * 32 * 4
    assert r.peak_phase == "backward" and r.breakdown["saved_activations"] > 0
    assert (
        r.baseline_bytes
        == r.breakdown["params"] + r.breakdown["buffers"] + r.breakdown["inputs"] + (r.breakdown["optimizer_state"])
    )
    root = r.records[0]
    assert root.saved_bytes == r.saved_bytes  # every saved activation was saved inside the model


def test_inference_holds_no_saved_activations_and_grows_with_the_batch():
    model = load_model("resnet20", device="meta").model
    one, eight = (memory(model, [(b, 3, 32, 32)]) for b in (1, 8))
    assert one.breakdown["saved_activations"] == eight.breakdown["saved_activations"] == 0
    assert one.saved_bytes == 0 and one.peak_phase == "forward"
    assert one.baseline_bytes < one.peak_bytes < eight.peak_bytes


def test_checkpointing_shows_its_saving_with_the_same_parameters():
    plain, efficient = small_densenet(), small_densenet(memory_efficient=True)
    assert sum(p.numel() for p in plain.parameters()) == sum(p.numel() for p in efficient.parameters())
    a, b = (memory(m, [(2, 3, 64, 64)], mode="train", optimizer="none") for m in (plain, efficient))
    assert b.saved_bytes < a.saved_bytes
    assert b.peak_bytes < a.peak_bytes
    # in eval nothing is saved, so checkpointing changes nothing
    assert memory(plain, [(2, 3, 64, 64)]).peak_bytes == memory(efficient, [(2, 3, 64, 64)]).peak_bytes


def test_the_users_model_is_not_modified():
    model = load_model("resnet20", device="cpu").model
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    memory(model, [(2, 3, 32, 32)], mode="train", optimizer="momentum")
    assert not model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_budget_search_is_exact_on_a_known_step_function():
    def peak(b: int) -> int:  # affine with a step every 5 samples, like allocator rounding
        return 1000 + 37 * b + 3 * (b // 5)

    for budget in (1037 + 3, 1500, 4000, 4001, 123_456):
        batch, p, nxt, nxt_peak, probes = budget_batches(peak, budget, max_batch=10_000)
        best = max(b for b in range(1, 10_001) if peak(b) <= budget)
        assert (batch, nxt) == (best, best + 1)
        assert p == peak(batch) <= budget < nxt_peak == peak(batch + 1)
        assert len(probes) <= 12
    assert budget_batches(peak, 10**9, max_batch=50)[:3] == (50, peak(50), None)


def test_largest_batch_boundary_on_a_real_model():
    model = load_model("resnet20", device="meta").model
    budget = memory(model, [(5, 3, 32, 32)], mode="train").peak_bytes + 1
    fit = largest_batch(model, [(1, 3, 32, 32)], budget, mode="train")
    assert fit.batch == 5 and fit.next_batch == 6
    assert fit.peak_bytes <= budget < fit.next_peak_bytes
    assert fit.next_peak_bytes == memory(model, [(6, 3, 32, 32)], mode="train").peak_bytes
    by_batch = sorted(fit.probes)
    assert all(p1 <= p2 for (_, p1), (_, p2) in zip(by_batch, by_batch[1:], strict=False))  # monotonic


def test_budget_that_fits_nothing_is_an_error():
    model = load_model("resnet20", device="meta").model
    with pytest.raises(ModelRunError, match="does not fit the budget: batch 1 needs"):
        largest_batch(model, [(1, 3, 32, 32)], 1000)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("24GiB", 24 * 2**30), ("16GB", 16 * 10**9), ("512MiB", 512 * 2**20), ("1.5KiB", 1536), ("1000", 1000)],
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["lots", "12XB", "-1GiB", "0", ""])
def test_parse_size_rejects(text):
    with pytest.raises(UsageError, match="^budget_bytes="):
        parse_size(text)


def test_cuda_rounding_rule():
    assert [rounded(n, 512) for n in (0, 1, 512, 513, 4096)] == [0, 512, 512, 1024, 4096]
    assert rounded(513, 1) == 513


def test_cli_table_and_json(cli):
    res = cli("memory", "resnet20", "--mode", "train", "--batch", "2", "--depth", "1")
    assert res.exit_code == 0, res.output
    assert "Peak:" in res.stdout and "during the backward" in res.stdout and "Not counted:" in res.stdout
    res = cli("memory", "resnet20", "--batch", "2", "--format", "json")
    data = json.loads(res.stdout)
    model = load_model("resnet20", device="meta").model
    assert data["peak_bytes"] == memory(model, [(2, 3, 32, 32)]).peak_bytes
    assert data["mode"] == "eval" and data["fit"] is None and data["records"][0]["depth"] == 0


def test_cli_budget(cli):
    model = load_model("resnet20", device="meta").model
    budget = memory(model, [(3, 3, 32, 32)]).peak_bytes
    res = cli("memory", "resnet20", "--budget", str(budget), "--format", "json")
    assert res.exit_code == 0, res.output
    fit = json.loads(res.stdout)["fit"]
    assert (fit["batch"], fit["next_batch"], fit["peak_bytes"]) == (3, 4, budget)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--budget", "lots"], 2, "error: --budget 'lots' is not a size; expected a number of bytes"),
        (["--mode", "train", "--optimizer", "rmsprop"], 2, "accepted: none, sgd, momentum, adam, adamw"),
        (["--budget", "1KiB"], 1, "error: resnet20 does not fit the budget: batch 1 needs"),
    ],
)
def test_cli_errors(cli, args, code, message):
    res = cli("memory", "resnet20", *args)
    assert res.exit_code == code
    assert message in res.stderr and "Traceback" not in res.output
    assert len(res.stderr.strip().splitlines()) == 1


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_prediction_agrees_with_max_memory_allocated():
    model = load_model("resnet18", device="cpu").model
    meta = load_model("resnet18", device="meta").model
    shape = (8, 3, 128, 128)
    predicted = memory(meta, [shape], mode="train", optimizer="adam", device="cuda").peak_bytes
    dev = torch.device("cuda")
    real = model.to(dev).train()
    x = torch.randn(shape, device=dev)
    opt = torch.optim.Adam(real.parameters())
    for step in range(2):  # the second step is the steady state the prediction describes
        if step == 1:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        out = real(x)
        loss = out.sum()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step == 0:
            del out, loss
    measured = torch.cuda.max_memory_allocated()
    assert abs(predicted - measured) <= 0.10 * measured


def test_cuda_rules_round_each_storage_and_use_foreach():
    # The CUDA rules, applied on meta (this test needs no GPU): 512-byte blocks, foreach optimizers.
    from archinspect.analyses.memory import MemoryObserver, _Setup
    from archinspect.core.engine import run_pass
    from archinspect.core.options import PassOptions
    from archinspect.core.target import Target

    model = load_model("resnet20", device="meta").model
    setup = _Setup("adam", False, torch.device("cuda"), "cuda:0", 512, True)
    tracker = MemoryObserver(setup, "train", use_fake=False)
    target, options = Target.of(model, [(2, 3, 32, 32)], label="resnet20"), PassOptions.check(mode="train")
    run_pass(target, options.but(count=False), [tracker], step=tracker.step)
    r = tracker.report(target, options)
    params = list(model.parameters())
    assert r.breakdown["params"] == sum(rounded(p.numel() * 4, 512) for p in params)
    # two moments per parameter on the device; Adam's step counters stay on the host
    assert r.breakdown["optimizer_state"] == 2 * r.breakdown["params"]
    plain = memory(model, [(2, 3, 32, 32)], mode="train", optimizer="adam")
    assert r.peak_bytes > plain.peak_bytes and r.foreach and r.block_bytes == 512


def test_a_forward_that_makes_tensors_without_device_runs_on_the_pass_as_in_shapes(user_file):
    path = user_file(
        """
        import torch
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(16, 4)

            def forward(self, x):
                return self.fc(x + torch.zeros(x.shape[0], 16))  # no device=: a CPU tensor beside meta ones
        """
    )
    model = load_model(f"{path}:Net", device="meta").model
    r = memory(model, [(8, 16)], mode="train")
    assert r.notes == []  # the pass makes tensors created without device= on its own device, as in shapes
    assert r.breakdown["params"] == 68 * 4 and r.breakdown["inputs"] == 8 * 16 * 4
    # the peak is the add: params (16*4 + 4 floats), input, the zeros and their sum; the zeros are freed
    # before the Linear makes its 8x4 output
    assert r.peak_bytes == 68 * 4 + 3 * 8 * 16 * 4


def test_attention_is_computed_on_fake_tensors_of_the_modelled_device():
    # On meta, scaled-dot-product attention would take the math path and keep the 8x8x64x64 attention
    # matrix; on CPU it takes the flash kernel. Fake CPU tensors take the real path.
    torch.manual_seed(0)
    block = nn.TransformerEncoderLayer(d_model=64, nhead=8, dim_feedforward=128, dropout=0.0, batch_first=True)
    r = memory(block, [(8, 64, 64)], mode="train", optimizer="momentum")
    assert "computed on fake cpu tensors" in r.notes[0]
    real = measured_peak(block, [(8, 64, 64)], mode="train", optimizer="momentum", method="memtracker")
    assert r.peak_bytes == real

"""The fast path: precision modes, torch.compile, no host syncs, CUDA-graph bookkeeping, batched mode.

The numeric tests take the ``device`` fixture: the CPU by default, a GPU with ``pytest --device
cuda``, where the ``gpu``-marked tests (real CUDA graph capture, channels_last) run too. Speed and
GPU memory are measured by ``scripts/bench.py``, not here.

Tolerances, stated:
- precision modes vs fp32, at one image (a 3-layer average-pooling VGG at 24x32): each loss term within
  2e-2 relative (bf16) / 5e-3 (fp16); the pixel gradient within 5e-2 / 1e-2 (relative L2 norm); after
  3 Adam iterations the edit (result - start) within 0.25 / 0.1 of fp32's edit (relative L2). Adam's
  first steps are nearly sign(gradient) * lr, so pixels whose gradient is close to 0 can step the
  other way under rounding: the edit is compared, not bitwise pixels. ``auto`` and ``tf32`` are exact
  fp32 on the CPU.
- compile vs eager: loss terms within 1e-5 relative, pixel gradient within 1e-4, the image after 3
  Adam iterations within 1e-3 (any pixel).
- batched vs one by one (Adam): bit for bit (pixels, iterations, early stops, loss terms) with the
  convolution computed per image (oneDNN off). oneDNN's batch-size-dependent kernels round differently
  and Adam amplifies rounding near zero gradients (see vidstyle/core/optimize.py, optimize_each), so with them the results
  are equally good, not identical.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
import torch
from helpers import as_tensor, stripes_image, structured_image
from torch.overrides import TorchFunctionMode

from vidstyle.core import runtime
from vidstyle.core.features import VGGFeatures, random_state_dict
from vidstyle.core.layers import LAYER_INDEX
from vidstyle.core.optimize import GraphedAdam, optimize_pixels
from vidstyle.core.runtime import backend_context, fp16_grad_scale, resolve_precision, scale_grad
from vidstyle.core.stylizer import Stylizer
from vidstyle.settings import LossSettings, ModelSettings, OptimSettings

TINY_LAYERS = ("relu1_1", "relu2_1", "relu3_1")
TINY_LOSS = LossSettings(content_layer="relu3_1", style_layers=tuple((name, 1.0) for name in TINY_LAYERS))


def tiny_extractor(layers=TINY_LAYERS, pooling="avg") -> VGGFeatures:
    depth = max(LAYER_INDEX[name] for name in layers) + 1
    return VGGFeatures(layers, random_state_dict(depth, seed=0), pooling=pooling)


@pytest.fixture(scope="module")
def net() -> VGGFeatures:
    return tiny_extractor()


@pytest.fixture
def content() -> torch.Tensor:
    return as_tensor(structured_image(24, 32))


@pytest.fixture
def style() -> torch.Tensor:
    return as_tensor(stripes_image(32, 32))


@pytest.fixture(autouse=True)
def _fresh_compile_state():
    runtime.reset_compile_failure()
    yield
    runtime.reset_compile_failure()


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def make(net, style, precision="fp32", device="cpu", *, compile=False, cuda_graphs=False, **kwargs) -> Stylizer:
    optim = kwargs.pop("optim", OptimSettings(optimizer="adam"))
    model = ModelSettings(device=str(device), precision=precision, compile=compile, cuda_graphs=cuda_graphs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fp16 on the CPU warns that it is slow
        return Stylizer(net, [style], loss=kwargs.pop("loss", TINY_LOSS), optim=optim, model=model)


def step(stylizer: Stylizer, image: torch.Tensor):
    """Loss terms and pixel gradient at ``image``, as the optimiser sees them."""
    x = image.to(stylizer.device).clone().requires_grad_(True)
    with backend_context(stylizer.precision, stylizer.device):
        terms = stylizer.loss_terms(x)
        terms["total"].sum().backward()
    return {k: v.detach() for k, v in terms.items()}, x.grad


# -- precision ----------------------------------------------------------------------------------


def test_precision_resolution_on_cpu():
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) == "fp32"
    assert resolve_precision("tf32", cpu) == "fp32"  # TF32 exists on CUDA tensor cores only
    assert resolve_precision("bf16", cpu) == "bf16"
    with pytest.warns(UserWarning, match="fp16 on the CPU"):
        assert resolve_precision("fp16", cpu) == "fp16"
    with pytest.raises(ValueError, match="unknown precision"):
        resolve_precision("fp8", cpu)


@pytest.mark.parametrize("precision, tf32", [("fp32", False), ("tf32", True), ("bf16", True)])
def test_cuda_flags_are_set_for_the_block_and_restored(precision, tf32):
    """The cuDNN flags are global: set for the whole loop (forward and backward), then restored."""
    before = (torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark, torch.backends.cudnn.enabled)
    with backend_context(precision, torch.device("cuda")):  # only flags: no GPU needed
        assert torch.backends.cudnn.allow_tf32 is tf32
        assert torch.backends.cudnn.benchmark is True
    assert (torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark, torch.backends.cudnn.enabled) == before
    with backend_context(precision, torch.device("cpu")):
        assert torch.backends.cudnn.allow_tf32 == before[0]


def test_backward_runs_inside_the_backend_context(net, style, content, monkeypatch):
    """The optimisation's backward pass sees the precision's flags, not only the forward."""
    import vidstyle.core.stylizer as stylizer_module

    inside = []
    state = {"open": False}

    class Recording:
        def __init__(self, *args):
            pass

        def __enter__(self):
            state["open"] = True

        def __exit__(self, *exc):
            state["open"] = False

    monkeypatch.setattr(stylizer_module, "backend_context", Recording)
    stylizer = make(net, style)
    original = stylizer._step

    def hooked(image):
        if image.requires_grad:
            image.register_hook(lambda grad: inside.append(state["open"]) or grad)
        return original(image)

    stylizer._step = hooked
    stylizer.stylize(content, "content", 3)
    assert len(inside) >= 3 and all(inside)  # (the hooks pile up on the same leaf: 1 + 2 + 3 calls)


@pytest.mark.parametrize("precision", ["auto", "tf32", "bf16", "fp16"])
def test_precision_modes_match_fp32(net, style, content, precision, device):
    reference = make(net, style, "fp32", device)
    other = make(net, style, precision, device)
    content = content.to(device)
    start = (content + 0.05 * torch.randn(content.shape, generator=torch.Generator().manual_seed(1)).to(device)).clamp(0, 1)
    for s in (reference, other):
        s.set_targets(content)
    ref_terms, ref_grad = step(reference, start)
    terms, grad = step(other, start)
    # Pixels, Gram matrices and losses stay fp32 whatever the network's precision.
    assert grad.dtype == torch.float32
    assert all(v.dtype == torch.float32 for v in terms.values())
    assert all(g.dtype == torch.float32 for g in other.style_grams(32).values())
    ref_result = reference.stylize(content, "content", 3)
    result = other.stylize(content, "content", 3)
    assert result.image.dtype == torch.float32
    if other.precision == "fp32":  # auto and tf32 on the CPU
        assert all(torch.equal(terms[k], ref_terms[k]) for k in ref_terms) and torch.equal(grad, ref_grad)
        assert torch.equal(result.image, ref_result.image)
        return
    # (tf32 exists on CUDA only: 10 mantissa bits like fp16, with fp32's range.)
    term_tol, grad_tol, edit_tol = {"bf16": (2e-2, 5e-2, 0.25), "fp16": (5e-3, 1e-2, 0.1),
                                    "tf32": (5e-3, 1e-2, 0.1)}[other.precision]
    for name in ref_terms:
        assert abs(float(terms[name] - ref_terms[name])) <= term_tol * abs(float(ref_terms[name])) + 1e-8, name
    assert rel(grad, ref_grad) < grad_tol
    assert rel(result.image - content, ref_result.image - content) < edit_tol


def test_fp16_gradient_scale_is_exact_and_undone():
    x = torch.rand(5, requires_grad=True)
    (scale_grad(x, 8.0) * 2).sum().backward()
    assert torch.equal(x.grad, torch.full((5,), 16.0))
    for h, w in [(24, 32), (256, 256), (1080, 1920), (8, 8)]:
        scale = fp16_grad_scale(h, w)
        assert scale >= 1 and (scale == 1 or float(np.log2(scale)).is_integer())
    assert fp16_grad_scale(24, 32) == 2.0  # so the fp16 test above runs with a scale
    assert fp16_grad_scale(1080, 1920) == 4096.0


# -- torch.compile ------------------------------------------------------------------------------


def test_compile_matches_eager_or_falls_back_with_one_warning(style, content, device):
    """Inductor on this device (a one-convolution network keeps the cold compile to seconds). Where
    compiling cannot work (no C compiler...), the same test checks the fallback instead."""
    one = tiny_extractor(("relu1_1",), pooling="max")
    loss = LossSettings(content_layer="relu1_1", style_layers=(("relu1_1", 1.0),))
    eager = make(one, style, device=device, loss=loss)
    compiled = make(one, style, device=device, loss=loss, compile=True)
    content = content.to(device)
    start = (content + 0.05 * torch.randn(content.shape, generator=torch.Generator().manual_seed(2)).to(device)).clamp(0, 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for s in (eager, compiled):
            s.set_targets(content)
        ref_terms, ref_grad = step(eager, start)
        terms, grad = step(compiled, start)
        ref_image = eager.stylize(content, "content", 3).image
        image = compiled.stylize(content, "content", 3).image
        # A second frame of the same shape (new content target) reuses the compiled graph.
        from torch._dynamo.utils import counters

        graphs = counters["stats"]["unique_graphs"]
        other = content.flip(-1)
        second = compiled.stylize(other, "content", 2).image
        assert counters["stats"]["unique_graphs"] == graphs or runtime.compile_failure() is not None
        assert torch.allclose(second, eager.stylize(other, "content", 2).image, atol=1e-3)
    fallbacks = [w for w in caught if "torch.compile is unavailable" in str(w.message)]
    if runtime.compile_failure() is None:
        assert not fallbacks
        for name in ref_terms:
            assert abs(float(terms[name] - ref_terms[name])) <= 1e-5 * abs(float(ref_terms[name])) + 1e-9, name
        assert rel(grad, ref_grad) < 1e-4
        assert (image - ref_image).abs().max() < 1e-3
    else:  # compile is unavailable here: one warning, and exactly the eager results
        assert len(fallbacks) == 1
        assert torch.equal(image, ref_image) and torch.equal(grad, ref_grad)


@pytest.mark.parametrize("where", ["at torch.compile", "at the first call"])
def test_compile_failure_warns_once_and_runs_eager(net, style, content, monkeypatch, where):
    def broken_compile(fn, **options):
        if where == "at torch.compile":
            raise RuntimeError("Dynamo is not supported on this Python")

        def call(*args):
            raise RuntimeError("InductorError: no working C compiler found")

        return call

    monkeypatch.setattr(torch, "compile", broken_compile)
    eager = make(net, style).stylize(content, "content", 3).image
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = make(net, style, compile=True)
        results = [first.stylize(content, "content", 3).image, first.stylize(content, "content", 3).image,
                   make(net, style, compile=True).stylize(content, "content", 3).image]
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1 and "continuing without --compile" in messages[0]
    assert all(torch.equal(r, eager) for r in results)
    assert runtime.compile_failure() is not None


def test_out_of_memory_is_not_a_compile_failure(net, style, content, monkeypatch):
    oom = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)

    def call(*args):
        raise oom("CUDA out of memory")

    monkeypatch.setattr(torch, "compile", lambda fn, **options: call)
    with pytest.raises(oom):
        make(net, style, compile=True).stylize(content, "content", 2)
    assert runtime.compile_failure() is None


# -- host synchronisation -----------------------------------------------------------------------


class CountHostReads(TorchFunctionMode):
    """Counts the tensor methods that wait for the device (a read of a value back to the host)."""

    READS = {"item", "__float__", "__bool__", "__int__", "__index__", "tolist", "cpu", "numpy"}

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in self.READS:
            self.count += 1
        return func(*args, **(kwargs or {}))


def test_adam_reads_back_only_at_checks(net, style, content):
    stylizer = make(net, style, optim=OptimSettings(optimizer="adam", check_every=5))
    stylizer.set_targets(content)
    with CountHostReads() as counter:
        result = stylizer.optimize(content, 20)
    assert result.iterations == 20 and len(result.losses) == 4
    # One read per check, and one for the loss of the returned image (Adam's checks read the
    # loss before their step).
    assert counter.count == 5
    assert set(result.terms) >= {"content", "total"}


def test_lbfgs_syncs_inside_torch_itself(net, style, content):
    """Documented, not a goal: L-BFGS reads values back several times per iteration (line search)."""
    stylizer = make(net, style, optim=OptimSettings(optimizer="lbfgs", check_every=100))
    stylizer.set_targets(content)
    with CountHostReads() as counter:
        stylizer.optimize(content, 5)
    assert counter.count > 5


# -- CUDA graphs (bookkeeping, replayed eagerly on the CPU) ------------------------------------


def test_graphed_adam_equals_optimize_pixels_frame_after_frame():
    target = {"t": torch.rand(1, 3, 6, 6)}

    def loss_fn(x):
        return {"total": (x - target["t"]).pow(2).flatten(1).sum(1)}

    graph = GraphedAdam(loss_fn, (1, 3, 6, 6), torch.device("cpu"), 0.05, warmup=2)
    for frame in range(3):
        new = torch.rand(1, 3, 6, 6, generator=torch.Generator().manual_seed(frame))
        target["t"].copy_(new)  # targets change in place, as the graph needs
        init = torch.rand(1, 3, 6, 6, generator=torch.Generator().manual_seed(10 + frame))
        got = graph.run(init, 7, check_every=3)
        want = optimize_pixels(loss_fn, init, 7, optimizer="adam", lr=0.05, check_every=3)
        assert torch.equal(got.image, want.image) and got.losses == want.losses
        assert got.iterations == want.iterations and got.terms == want.terms
    early = graph.run(init, 500, tol=1e-3, check_every=5)
    assert early.stopped_early and early.iterations < 500


def test_stylizer_graph_path_matches_eager_across_frames(net, style, content):
    """The static-target bookkeeping of the CUDA-graph path (new content and temporal targets are
    copied into the buffers the graph reads) gives the eager results, frame after frame."""
    loss = dataclasses.replace(TINY_LOSS, temporal_weight=50.0)
    eager = make(net, style, loss=loss)
    graphed = make(net, style, loss=loss, cuda_graphs=True)
    graphed._graphs_off_cuda = True
    frames = [content, content.roll(2, -1), content.roll(4, -1)]
    prev_e = prev_g = None
    for i, frame in enumerate(frames):
        if i == 0:
            e = eager.stylize(frame, "content", 4)
            g = graphed.stylize(frame, "content", 4)
        else:
            mask = (torch.rand(1, 1, 24, 32, generator=torch.Generator().manual_seed(i)) > 0.3).float()
            e = eager.stylize(frame, prev_e, 4, temporal=(prev_e, mask))
            g = graphed.stylize(frame, prev_g, 4, temporal=(prev_g, mask))
        assert torch.allclose(e.image, g.image, atol=1e-6), i
        assert e.iterations == g.iterations and e.terms.keys() == g.terms.keys()
        prev_e, prev_g = e.image, g.image
    assert len(graphed._graphs) == 2  # (shape, no temporal) and (shape, temporal)


def test_graph_path_evaluates_its_own_buffers_and_leaves_the_loss_targets_alone(net, style, content):
    """The CUDA-graph path reads static copies of the targets, passed to the loss; the loss's own
    targets are never swapped for them."""
    graphed = make(net, style, cuda_graphs=True)
    graphed._graphs_off_cuda = True
    graphed.set_targets(content)
    held = graphed.loss.export_targets()
    graphed.optimize(content, 3)
    assert graphed.loss.export_targets() is held
    [(_, static)] = graphed._graphs.values()
    assert static is not held and all(a is not b for a, b in zip(static.tensors(), held.tensors()))
    assert all(torch.equal(a, b) for a, b in zip(static.tensors(), held.tensors()))
    graphed.set_targets(content.flip(-1))  # a new frame: copied into the same buffers, in place
    buffers = [tensor.data_ptr() for tensor in static.tensors()]
    graphed.optimize(content, 1)
    assert [tensor.data_ptr() for tensor in static.tensors()] == buffers
    assert torch.equal(static.content["relu3_1"], graphed.loss.export_targets().content["relu3_1"])


@pytest.mark.gpu
def test_cuda_graph_capture_replays_the_eager_iteration(net, style, content, device):
    """Real capture on a GPU: the replayed iterations give what the eager loop gives, frame after frame."""
    eager = make(net, style, device=device)
    graphed = make(net, style, device=device, cuda_graphs=True)
    for frame in (content, content.roll(2, -1), content.roll(4, -1)):
        frame = frame.to(device)
        want = eager.stylize(frame, "content", 12)
        got = graphed.stylize(frame, "content", 12)
        assert got.iterations == want.iterations == 12
        assert rel(got.image - frame, want.image - frame) < 0.05  # cuDNN may pick other algorithms
    [(graph, _)] = graphed._graphs.values()
    assert graph.captured


@pytest.mark.gpu
def test_channels_last_and_autocast_on_cuda(net, style, content, device):
    stylizer = make(net, style, "auto", device, optim=OptimSettings(optimizer="adam", check_every=2))
    assert stylizer.channels_last and stylizer.precision in ("bf16", "fp32")
    weight = next(stylizer.extractor.parameters())
    assert weight.is_contiguous(memory_format=torch.channels_last)
    result = stylizer.stylize(content, "content", 10)
    assert result.image.dtype == torch.float32 and result.image.device.type == "cuda"
    assert result.losses[-1] < result.losses[0]


# -- batched mode -------------------------------------------------------------------------------


def test_batch_equals_one_by_one(net, style, content, per_image_convolution):
    loss = dataclasses.replace(TINY_LOSS, temporal_weight=20.0)
    stylizer = make(net, style, loss=loss, optim=OptimSettings(optimizer="adam", check_every=3))
    contents = torch.cat([content, content.flip(-1), content.flip(-2)])
    previous = content.roll(3, -1).clamp(0, 1)
    mask = torch.ones(1, 1, 24, 32)
    inits = ["content", previous, "content"]
    budgets = [7, 4, 0]
    temporal = [None, (previous, mask), None]
    results = stylizer.stylize_each(contents, inits, budgets, temporal=temporal, tol=0.0)
    for i, result in enumerate(results):
        alone = stylizer.stylize(contents[i:i + 1], inits[i], budgets[i], tol=0.0, temporal=temporal[i], multiscale=1)
        assert torch.equal(result.image, alone.image), i
        assert result.iterations == alone.iterations and result.terms == alone.terms
        assert result.losses == alone.losses


def test_batch_early_stopping_is_per_image(net, style, content, per_image_convolution):
    stylizer = make(net, style, optim=OptimSettings(optimizer="adam", lr=0.05, check_every=2))
    contents = torch.cat([content, content.flip(-1)])
    start = [stylizer.stylize(content, "content", 40).image, "content"]  # the first is near its optimum
    results = stylizer.stylize_each(contents, start, [40, 40], tol=0.02)
    for i, result in enumerate(results):
        alone = stylizer.stylize(contents[i:i + 1], start[i], 40, tol=0.02, multiscale=1)
        assert (result.iterations, result.stopped_early) == (alone.iterations, alone.stopped_early)
        assert torch.equal(result.image, alone.image)
    assert results[0].iterations < results[1].iterations  # each stopped on its own loss


def test_batched_mode_refuses_lbfgs(net, style, content):
    stylizer = make(net, style, optim=OptimSettings(optimizer="lbfgs"))
    with pytest.raises(ValueError, match="needs --optimizer adam"):
        stylizer.stylize_each(content, ["content"], [2])




def test_cuda_graphs_that_cannot_apply_say_so_once(net, style):
    """--cuda-graphs off CUDA, with L-BFGS or with --compile would do nothing: one warning says why."""
    for optimizer, compile in (("adam", False), ("lbfgs", False), ("adam", True)):
        model = ModelSettings(device="cpu", cuda_graphs=True, compile=compile)
        with pytest.warns(UserWarning, match="--cuda-graphs needs a CUDA device") as caught:
            Stylizer(net, [style], loss=TINY_LOSS, optim=OptimSettings(optimizer=optimizer), model=model)
        assert len([w for w in caught if "--cuda-graphs" in str(w.message)]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Stylizer(net, [style], loss=TINY_LOSS, optim=OptimSettings(optimizer="adam"), model=ModelSettings(device="cpu"))

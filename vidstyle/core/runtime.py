"""Device and precision, resolved once at the edge and then passed explicitly."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator

import torch

from ..errors import VidstyleError

PRECISIONS = ("auto", "fp32", "tf32", "bf16", "fp16")


# torch.OutOfMemoryError (torch >= 2.5) is the base of torch.cuda.OutOfMemoryError; older torch has only the latter.
OUT_OF_MEMORY = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)


class DeviceError(VidstyleError):
    """The requested device does not exist or is not available on this machine."""


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then MPS, then the CPU; explicit names must be available."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise DeviceError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {name!r} asked for, but CUDA is not available here; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"device {name!r} asked for, but only {torch.cuda.device_count()} CUDA device(s) exist")
    elif device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise DeviceError(f"device {name!r} asked for, but MPS is not available here; use --device cpu")
    elif device.type != "cpu":
        raise DeviceError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps")
    return device


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` is bf16 autocast on CUDA (where the GPU has bf16 natively) and fp32 elsewhere."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        if device.type == "cuda" and _native_bf16(device):
            return "bf16"
        return "fp32"
    if precision == "tf32" and device.type != "cuda":
        return "fp32"  # TF32 is a CUDA tensor-core format; on other devices it is plain fp32
    if precision == "fp16" and device.type == "cpu":
        warnings.warn("fp16 on the CPU is slow and inaccurate; consider --precision bf16 or fp32", stacklevel=2)
    return precision


def _native_bf16(device: torch.device) -> bool:
    try:
        return torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # older torch: no including_emulation
        return torch.cuda.get_device_capability(device) >= (8, 0)


def autocast_context(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """Autocast for the network's forward pass under ``bf16``/``fp16``; nothing otherwise.

    Only the VGG forward runs inside it: the pixels stay fp32, and the Gram matrices and
    losses are computed outside it in fp32 (``losses._fp32`` promotes the features). Autocast
    records its casts, so the backward of the convolutions runs in the same dtype. Safe inside
    ``torch.compile`` (a plain ``torch.autocast``, no global state).
    """
    if precision in ("bf16", "fp16"):
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        # No weight-cast cache: each weight is used once per forward anyway, and the cache
        # must be off for CUDA graph capture.
        return torch.autocast(device_type=device.type, dtype=dtype, cache_enabled=False)
    return contextlib.nullcontext()


class _ScaleGrad(torch.autograd.Function):
    """Identity forward; the backward multiplies the gradient by ``factor``."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor, factor: float) -> torch.Tensor:  # noqa: ANN001
        ctx.factor = factor
        return tensor.view_as(tensor)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # noqa: ANN001
        return grad * ctx.factor, None


def scale_grad(tensor: torch.Tensor, factor: float) -> torch.Tensor:
    """``tensor`` unchanged, but the gradient that flows back through it is multiplied by ``factor``."""
    return _ScaleGrad.apply(tensor, factor)


def fp16_grad_scale(height: int, width: int) -> float:
    """A static loss scale for fp16 backward passes through the network: a power of two.

    The losses are means, so the gradients reaching the features shrink with the pixel count
    (measured: ~1e-3 at 256x256 with the default loss; ~3e-5 at 1080p, where fp16 goes
    subnormal at 6e-5 and flushes to zero under 6e-8). Scaling them by ~pixels/256 brings them back to
    O(1e-2..1): far from fp16's overflow at 65504, and exact to undo (a power of two).
    bf16 has fp32's exponent range and needs no scale.
    """
    return float(2 ** max(0, int(height * width // 256).bit_length() - 1))


@contextlib.contextmanager
def backend_context(precision: str, device: torch.device) -> Iterator[None]:
    """cuDNN flags for a whole optimisation, forward AND backward passes (CUDA only).

    ``fp32`` is strict IEEE fp32 (TF32 off: PyTorch's own default lets cuDNN convolutions use
    TF32); ``tf32`` lets the fp32 convolutions use TF32 tensor cores; under ``bf16``/``fp16``
    the convolutions run in the autocast dtype, so the flag does not matter. ``benchmark``
    picks the fastest algorithm once per shape. The flags are global, so they are set for the
    duration of the block and restored after it (``torch.backends.cudnn.flags``): wrap the
    whole loop, not only the forward, or the backward runs under the caller's flags. Matrix
    products (the Gram matrices) keep torch's matmul setting, IEEE fp32 by default.
    """
    if device.type != "cuda":
        yield
        return
    with torch.backends.cudnn.flags(enabled=True, benchmark=True, allow_tf32=precision != "fp32"):
        yield


@contextlib.contextmanager
def precision_context(precision: str, device: torch.device) -> Iterator[None]:
    """:func:`backend_context` + :func:`autocast_context`: for a forward pass on its own.

    Where a backward follows, wrap the whole loop in :func:`backend_context` instead and use
    only :func:`autocast_context` around the forward.
    """
    with backend_context(precision, device), autocast_context(precision, device):
        yield


def synchronize(device: torch.device) -> None:
    """Wait for queued work on ``device`` (for timing); a no-op on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# -- torch.compile of the loss step -----------------------------------------------------------

_compile_failure: str | None = None  # why compiling failed in this process (then: eager, no retries)


def compile_failure() -> str | None:
    """The reason ``--compile`` fell back to eager in this process, or None."""
    return _compile_failure


def reset_compile_failure() -> None:
    """Forget an earlier compile failure (tests; a process that fixed its compiler)."""
    global _compile_failure
    _compile_failure = None


def _fail_compile(error: BaseException) -> None:
    global _compile_failure
    first = _compile_failure is None
    reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
    _compile_failure = f"{type(error).__name__}: {reason}"[:300]
    if first:  # one warning per process, however many Stylizers and shapes
        warnings.warn(f"torch.compile is unavailable here ({_compile_failure}); continuing without --compile",
                      RuntimeWarning, stacklevel=4)


class CompiledStep:
    """``fn(image) -> {"total": ..., ...}`` through ``torch.compile``, falling back to ``fn``.

    ``dynamic=False``: one specialised graph per input shape (and grad mode, and whichever
    targets are present), compiled on first use and reused for every later frame of that shape;
    dynamo's guards are the cache key, so nothing is recompiled when only tensor *values*
    change (new content or temporal targets of the same shapes). The first call for a new
    shape also runs the backward once on a copy of the input, so that a compiler failure in the
    (lazily compiled) backward shows up here too. Any failure, at ``torch.compile`` itself or
    in compiling a graph (no C compiler, unsupported platform or Python), gives ONE warning per
    process and every later call, in this object or any other, runs ``fn`` eagerly. Out of
    memory is not a compile failure and is raised as usual.
    """

    def __init__(self, fn: "Callable[[torch.Tensor], dict[str, torch.Tensor]]", **options: object) -> None:
        self.fn = fn
        self.options = {"dynamic": False, **options}
        self._compiled: Callable | None = None
        self._probed: set[tuple] = set()

    @property
    def active(self) -> bool:
        """True while calls go through the compiled function."""
        return _compile_failure is None

    def __call__(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        if _compile_failure is not None:
            return self.fn(image)
        try:
            if self._compiled is None:
                self._compiled = torch.compile(self.fn, **self.options)
            wants_grad = image.requires_grad and torch.is_grad_enabled()
            key = (tuple(image.shape), image.dtype, image.device, wants_grad)
            if key not in self._probed:
                probe = image.detach().clone().requires_grad_(wants_grad)
                terms = self._compiled(probe)
                if wants_grad:
                    terms["total"].sum().backward()
                self._probed.add(key)
            return self._compiled(image)
        except OUT_OF_MEMORY:
            raise
        except Exception as error:  # noqa: BLE001 - every way compiling can fail
            _fail_compile(error)
            return self.fn(image)

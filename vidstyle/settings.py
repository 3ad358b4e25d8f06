"""Frozen settings dataclasses: the only place defaults live.

The CLI builds these from its arguments (reading its defaults from here) and hands them down;
nothing below the CLI sees argparse.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

DEFAULT_STYLE_LAYERS: tuple[tuple[str, float], ...] = (
    ("relu1_1", 1.0),
    ("relu2_1", 1.0),
    ("relu3_1", 1.0),
    ("relu4_1", 1.0),
    ("relu5_1", 1.0),
)


@dataclass(frozen=True)
class LossSettings:
    """What the optimisation minimises.

    ``L = L_content + alpha * sum_l w_l L_style_l + beta * L_tv + temporal_weight * L_temporal``
    (+ ``alpha * revealed_weight * sum_l w_l L_revealed_l`` on warm-started video frames).
    """

    content_layer: str = "relu4_2"
    style_layers: tuple[tuple[str, float], ...] = DEFAULT_STYLE_LAYERS
    alpha: float = 100.0
    beta: float = 1.0
    gram: str = "plain"  # "plain" or "centered"
    tv: str = "l2"  # "l2", "l1" or "pow"
    tv_gamma: float = 1.25
    temporal_weight: float = 0.0
    style_loss: str = "gram"  # "gram" (Gram matrices) or "w2" (2-Wasserstein distance of Gaussian fits)
    content_layers: tuple[tuple[str, float], ...] | None = None  # several content layers; None: content_layer, weight 1
    normalize_gradients: bool = False  # each layer's gradient divided by its L1 norm (jcjohnson/neural-style)
    # Warm-started frames: the style term of the region the flow mask rejected (revealed, no stylized
    # past) on its own, relative to the whole frame's; 0: off. Images have no such region.
    revealed_weight: float = 0.25

    def content_weights(self) -> tuple[tuple[str, float], ...]:
        """The content layers with their weights: ``content_layers``, else ``content_layer`` with weight 1."""
        return self.content_layers or ((self.content_layer, 1.0),)


@dataclass(frozen=True)
class OptimSettings:
    """How one image is optimised."""

    optimizer: str = "lbfgs"  # "lbfgs" or "adam"
    iters: int = 300
    lr: float | None = None  # None: 1.0 for L-BFGS, 0.02 for Adam
    tol: float = 0.0  # stop when the relative loss decrease over a window falls below; 0: never
    check_every: int = 10  # iterations between reads of the loss (each read syncs the device)
    init: str = "content"  # "content", "random" or a path to an image
    multiscale: int = 1  # coarse-to-fine levels for cold starts (1: single scale)
    seed: int = 0
    average: float = 0.0  # cold starts: return the EMA of the iterates with this decay (0: off; 0.99 typical)

    def learning_rate(self) -> float:
        """The step size, with the optimiser's own default when none was given."""
        if self.lr is not None:
            return self.lr
        return 1.0 if self.optimizer == "lbfgs" else 0.02


@dataclass(frozen=True)
class ModelSettings:
    """The network and where it runs."""

    weights: str = "auto"  # "auto", "imagenet", "random" or a path to a state dict
    pooling: str = "max"  # "max" or "avg"
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:N" or "mps"
    precision: str = "auto"  # "auto", "fp32", "tf32", "bf16" or "fp16"
    compile: bool = False
    cuda_graphs: bool = False  # capture each frame size's Adam iteration once (CUDA, Adam, no compile)


@dataclass(frozen=True)
class StyleSettings:
    """Which style images, at what size, blended how."""

    paths: tuple[str, ...] = ()
    blend: tuple[float, ...] | None = None  # one weight per style; None: equal weights
    size: int | None = None  # long side of the style image; None: same as the content's
    scale: float = 1.0  # style size relative to the content's long side, when size is None
    preserve_colors: bool = False  # keep the content's colours (vidstyle/core/colors.py)
    color_method: str = "luminance"  # "luminance" (YIQ luminance-only transfer) or "histogram"
    masks: tuple[str, ...] = ()  # one mask (image, or video read frame by frame) per style: region r takes style r


@dataclass(frozen=True)
class CartoonSettings:
    """The cartoon post-process (``--cartoon``; on in the ``cartoon`` preset), see vidstyle/core/cartoon.py."""

    enabled: bool = False
    blend: float = 0.7  # weight of the flat, reduced-palette picture against the stylized one
    colors: int = 8  # palette size
    sigma_s: float = 60.0  # edge-preserving smoothing: spatial extent in pixels
    sigma_r: float = 0.45  # edge-preserving smoothing: colour range in [0, 1]; larger flattens more
    edge_low: float = 40.0  # Canny hysteresis thresholds on the smoothed gray frame (0..255)
    edge_high: float = 110.0
    edge_width: int = 0  # outline width in pixels; 0: 1 px per 360 px of the frame's short side
    edge_strength: float = 0.8  # how dark outlines get (1: black, 0: no outlines)


@dataclass(frozen=True)
class ImageSettings:
    """``vidstyle image``: one content image to one output image."""

    content: str = ""
    output: str = ""
    size: int | None = None  # long side; None: the content's own size, capped at MAX_AUTO_SIZE
    style: StyleSettings = field(default_factory=StyleSettings)
    loss: LossSettings = field(default_factory=LossSettings)
    optim: OptimSettings = field(default_factory=OptimSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    cartoon: CartoonSettings = field(default_factory=CartoonSettings)
    save_every: int = 0  # write the image so far every N iterations as OUT.NNNN.EXT (0: never)


MAX_AUTO_SIZE = 512

INIT_MODES = ("independent", "prev", "flow")
# Videos' default temporal weight, relative to the content term (VideoSettings.temporal_relative). Measured
# (random weights, 96 px, 10 frames, 60 cold / 15 warm L-BFGS): against no temporal loss, 1000 cut the
# warping error 60% on samples/clip.mp4 and 62% on video_his_girl_friday.mp4, warm frames' style loss
# staying within 1.03x of the cold frame's; 100 cut it 15-16%.
VIDEO_TEMPORAL_WEIGHT = 1000.0
FILLS = ("content", "residual")  # what regions the flow mask rejects start from (vidstyle/video/catchup.py)

# How --preserve-colors works (here, not in core/colors.py, so the CLI can list them without torch).
COLOR_METHODS = ("luminance", "histogram")

# Occlusion masks of `vidstyle eval` (the first is its default): "lai" is Lai et al. 2018's released
# evaluation code exactly, so numbers compare with published ones; "warm-start" is the frame chain's mask.
EVAL_MASKS = ("lai", "warm-start")


@dataclass(frozen=True)
class VideoSettings:
    """``vidstyle INPUT STYLE``: a video in, a stylized video out.

    The first frame is a cold start (``optim.iters``, init from the content frame); later
    frames start from the previous stylized frame (``init_mode``) with ``warm_iters`` and
    early stopping at ``optim.tol``.
    """

    input: str = ""
    output: str = ""
    size: int | None = 512  # long side of the processing size (never above the source's)
    warm_iters: int = 50
    keyframe_every: int = 0  # K > 0: full budget (optim.iters) every K-th frame, refine_iters between
    refine_iters: int = 5  # budget of the flow-propagated frames between keyframes
    tol: float = 1e-3  # early stopping of every frame (replaces OptimSettings.tol for videos)
    init_mode: str = "flow"  # "independent", "prev" or "flow"
    flow_preset: str = "medium"  # OpenCV DIS preset: "ultrafast", "fast" or "medium"
    temporal_relative: bool = True  # loss.temporal_weight is relative to the content term (chain.temporal_scale)
    photometric_tol: float = 0.1  # flow mask also rejects where the warped previous input differs this much; 0: off
    scene_detect: bool = True  # find hard cuts (PySceneDetect's AdaptiveDetector); a new shot starts cold
    scene_threshold: float = 3.0  # a cut: content change >= this many times its neighbours' mean change
    scene_min_content: float = 15.0  # ... and a content score (0-255 HSV change) of at least this
    scene_min_frames: int = 8  # no cut within this many frames of the previous one
    fill: str = "residual"  # what regions the flow mask rejects start from: "content" or "residual" (catchup.py)
    catch_up_gain: float = 0.0  # warm budget += gain x rejected share x (iters - warm_iters); 0: fixed budget
    catch_up_margin: float = 0.1  # > 0: warm frames go on while style loss > (1 + margin) x the cold frame's
    catch_up_limit: float = 1.5  # a warm frame spends at most this x warm_iters (catch-up included)
    long_term: tuple[int, ...] = ()  # frame offsets of Ruder's long-term temporal loss, e.g. (1, 2, 4); () off
    passes: int = 1  # > 1: Ruder's multi-pass (alternating backward and forward passes over the whole clip)
    pass_blend: float = 0.5  # delta of the multi-pass start: how much of the neighbour's warp replaces the last pass
    codec: str = "libx264"
    crf: int | None = None  # None: SMALL_CRF below SMALL_OUTPUT_SIDE px (short side), else LARGE_CRF
    pix_fmt: str = "auto"  # "auto": yuv444p below SMALL_OUTPUT_SIDE px with libx264, else yuv420p; or a name
    tune: str | None = "grain"  # x264 --tune: "grain" keeps the optimised fine texture (None: x264's default)
    output_size: str = "processing"  # "processing" or "source"
    audio: bool = True
    start: float | None = None  # seconds
    duration: float | None = None  # seconds
    max_frames: int | None = None
    segment_frames: int = 30  # frames per resumable segment
    queue_size: int = 8  # frames buffered between decoder, stylizer and encoder
    overwrite: bool = False
    resume: bool = False  # require an existing work folder (a rerun resumes anyway)
    restart: bool = False  # delete the work folder of an earlier run and start over
    cartoon: CartoonSettings = field(default_factory=CartoonSettings)
    style: StyleSettings = field(default_factory=StyleSettings)
    loss: LossSettings = field(default_factory=lambda: LossSettings(temporal_weight=VIDEO_TEMPORAL_WEIGHT))
    optim: OptimSettings = field(default_factory=OptimSettings)
    model: ModelSettings = field(default_factory=ModelSettings)


# Encoder defaults, measured on samples/clip.mp4 at 128x96 (random weights, the video defaults, 8 frames):
# the style loss of the decoded output over that of the frames as encoded was 4.7x at crf 18 or crf 4 in
# yuv420p (the halved chroma resolution erases the colour texture), 1.33x at crf 4 yuv444p with grain
# tuning, 1.26x at crf 2, 1.22x at crf 1, and 1.05x (at most 1.08x) at crf 0 (lossless in YUV; the
# RGB->YUV rounding remains), for 1.28x the bytes of crf 4: the one setting within 20%.
SMALL_OUTPUT_SIDE = 480
SMALL_CRF = 0
LARGE_CRF = 18


def encoder_choice(settings: "VideoSettings", width: int, height: int) -> tuple[int, str]:
    """``(crf, pix_fmt)`` for an output of ``width`` x ``height`` under ``settings``."""
    small = min(width, height) < SMALL_OUTPUT_SIDE
    crf = settings.crf if settings.crf is not None else (SMALL_CRF if small else LARGE_CRF)
    pix_fmt = settings.pix_fmt
    if pix_fmt == "auto":
        pix_fmt = "yuv444p" if small and settings.codec == "libx264" else "yuv420p"
    return crf, pix_fmt


# Settings that do not change a single output pixel: a resumed run may change them freely.
RESUME_FREE_FIELDS = (
    "output", "max_frames", "segment_frames", "queue_size", "overwrite", "resume", "restart",
    "model.device", "model.compile", "model.cuda_graphs",
)


@dataclass(frozen=True)
class DistributedSettings:
    """``--ray [ADDRESS]``: a video split into frame ranges, one Ray task each (vidstyle/scale/distributed.py).

    Segment k > 0 first stylizes the ``lead_in`` frames before its range (a cold start, then warm
    frames) and discards them, so its first kept frame is warm-started like any other.
    """

    address: str | None = None  # None: RAY_ADDRESS, else a running local cluster, else start a local Ray
    segments: int | None = None  # frame ranges; None: one per task slot (GPUs, else CPUs / cpus_per_task)
    lead_in: int = 4  # frames stylized and discarded before each segment after the first
    max_retries: int = 2  # Ray retries of a failed task (crashed worker, lost node, exception)
    cpus_per_task: int = 1  # CPU cores (and torch threads) a task asks for on a cluster without GPUs


def settings_hash(settings: object, exclude: tuple[str, ...] = ()) -> str:
    """A short stable hash of a settings dataclass (nested ones included), minus ``exclude`` keys.

    Used to refuse resuming work that was made with different settings.
    """
    data = dataclasses.asdict(settings)  # type: ignore[call-overload]
    for key in exclude:
        data.pop(key, None)
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _webcam_optim() -> OptimSettings:
    # check_every=1: the live loop reads the window's keys at every check, so q acts after one
    # iteration, not after a whole frame's budget.
    return OptimSettings(optimizer="adam", iters=3, lr=0.03, check_every=1)


@dataclass(frozen=True)
class WebcamSettings:
    """``vidstyle webcam STYLE...``: a live camera feed stylized a few iterations per frame.

    Each frame starts from the previous stylized frame (``init_mode``), so the style builds up
    over frames; ``optim.iters`` is the per-frame budget (changed live with + and -).
    """

    camera: str = "0"  # a camera index, a video file (played at its frame rate) or a stream URL
    size: int = 256  # long side of the working image, as everywhere (never above the camera's)
    init_mode: str = "flow"  # "independent", "prev" or "flow" (see INIT_MODES)
    flow_preset: str = "fast"  # OpenCV DIS preset for init_mode "flow"
    fill: str = "residual"  # what regions the flow mask rejects start from (as VideoSettings.fill)
    photometric_tol: float = 0.1  # as VideoSettings.photometric_tol
    scene_detect: bool = True  # find hard cuts as videos do; the first frame of a new shot starts cold
    scene_threshold: float = VideoSettings.scene_threshold  # one definition of the cut rule's numbers
    scene_min_content: float = VideoSettings.scene_min_content
    scene_min_frames: int = VideoSettings.scene_min_frames
    # Frames on either side the live detector compares a frame with; each frame is held back this many
    # camera frames. 1, not the video's 2: it found every splice of the shared clips and no false cut, as 2
    # does; a causal rule (before-frames only) marked the start of every pan of 2+ px/frame as a cut.
    scene_window: int = 1
    display_size: int = 960  # long side of the stylized image in the window (never above the screen)
    side_by_side: bool = False  # start with the camera image beside the stylized one (the v key)
    every_frame: bool = False  # a file source: stylize every frame instead of playing it in real time
    headless: bool = False  # no window (servers, tests); stop with max_frames, seconds or Ctrl-C
    max_frames: int | None = None  # stop after this many stylized frames
    seconds: float | None = None  # stop after this many seconds
    record: str | None = None  # write the shown frames (without the text overlay) to this video
    overwrite: bool = False  # replace an existing record file
    snapshot_dir: str = "."  # where the s key saves PNGs
    style: StyleSettings = field(default_factory=StyleSettings)
    loss: LossSettings = field(default_factory=LossSettings)
    optim: OptimSettings = field(default_factory=_webcam_optim)
    model: ModelSettings = field(default_factory=ModelSettings)


# Parameter bundles for --preset. Keys are CLI option names (dashes as underscores); an explicit
# option always wins over its preset value. "doc" is what --help shows.
PRESETS: dict[str, dict] = {
    "fast": {
        "doc": "size 256, 150 cold / 30 warm iterations, early stop at tol 1e-3",
        "size": 256, "iters": 150, "warm_iters": 30, "tol": 1e-3,
    },
    "quality": {
        "doc": "size 768, 2-level multiscale cold start, 600 cold / 150 warm iterations",
        "size": 768, "iters": 600, "warm_iters": 150, "multiscale": 2, "tol": 0.0,
    },
    "webcam": {
        "doc": "size 256, Adam at lr 0.03, 3 iterations per frame",
        "size": 256, "optimizer": "adam", "lr": 0.03, "iters": 3,
    },
    "cartoon": {
        "doc": "size 320, strong l1 total variation (beta 20) for flat regions, 150 cold / 10 warm iterations, "
               "early stop at tol 1e-3, videos: full budget every 4th frame and 5 refinement iterations between, "
               "cartoon post-process (flat palette, dark outlines) on",
        "size": 320, "tv": "l1", "beta": 20.0, "iters": 150, "warm_iters": 10, "tol": 1e-3,
        "keyframe_every": 4, "refine_iters": 5, "cartoon": True,
    },
}


def describe_preset(name: str) -> str:
    """A preset's prose and its exact values: what --help and the README show."""
    preset = PRESETS[name]
    values = ", ".join(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
                       for key, value in preset.items() if key != "doc")
    return f"{preset['doc']} [{values}]"


@dataclass(frozen=True)
class ReconstructSettings:
    """``vidstyle reconstruct``: an image rebuilt from seeded noise from its content representation
    on each layer and from its style representation on the layers up to each layer."""

    image: str = ""
    output: str = ""
    layers: tuple[str, ...] = tuple(name for name, _ in DEFAULT_STYLE_LAYERS)
    size: int = 128  # long side of the working image
    optim: OptimSettings = field(default_factory=lambda: OptimSettings(iters=200, init="random"))  # per image
    model: ModelSettings = field(default_factory=ModelSettings)


SWEEPABLE = ("alpha", "beta")
DEFAULT_SWEEP = (("alpha", (1e1, 1e2, 1e3, 1e4)),)


@dataclass(frozen=True)
class SweepSettings:
    """``vidstyle sweep``: one stylization per combination of swept values, as a labelled grid.

    ``axes`` = ((name, values), ...): the first varies along the columns, the second down the rows.
    """

    content: str = ""
    output: str = ""
    size: int | None = None  # long side; None: the content's own size, capped at MAX_AUTO_SIZE
    axes: tuple[tuple[str, tuple[float, ...]], ...] = DEFAULT_SWEEP
    style: StyleSettings = field(default_factory=StyleSettings)
    loss: LossSettings = field(default_factory=LossSettings)
    optim: OptimSettings = field(default_factory=OptimSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    cartoon: CartoonSettings = field(default_factory=CartoonSettings)  # the look of every cell


@dataclass(frozen=True)
class BatchSettings:
    """``vidstyle batch``: a folder of images, each stylized with a style chosen from a folder.

    The style of an image depends only on ``optim.seed``, its file name and the style file
    names, so reruns (and resumed runs) choose the same. Images of the same working size are
    optimised ``batch_size`` at a time.
    """

    input_dir: str = ""
    styles_dir: str = ""
    output_dir: str = ""
    size: int | None = None  # long side; None: each image's own size, capped at MAX_AUTO_SIZE
    batch_size: int = 8
    style: StyleSettings = field(default_factory=StyleSettings)
    loss: LossSettings = field(default_factory=LossSettings)
    optim: OptimSettings = field(default_factory=OptimSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    cartoon: CartoonSettings = field(default_factory=CartoonSettings)  # the look of every image


@dataclass(frozen=True)
class AugmentSettings:
    """``vidstyle.RandomStylize``: stylize an image with probability ``p`` with a random style."""

    p: float = 0.5
    size: int | None = None  # long side to stylize at (the result is resized back); None: as given
    seed: int | None = None  # None: torch's global RNG (DataLoader seeds it per worker); int: own generator
    style: StyleSettings = field(default_factory=StyleSettings)
    loss: LossSettings = field(default_factory=LossSettings)
    optim: OptimSettings = field(default_factory=lambda: OptimSettings(iters=50))
    model: ModelSettings = field(default_factory=ModelSettings)

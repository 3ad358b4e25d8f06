"""Generate the project's own sample media in samples/: content.png, style.png, style2.png, clip.mp4.

Everything is procedural and seeded, so a rerun gives the same pictures (no network, no
third-party media). Run from the repository root, with vidstyle installed (pip install -e .):

    python scripts/make_samples.py [--out samples]
"""

import argparse
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from vidstyle.media.video_files import VideoWriter

SEED = 2015  # the year of Gatys et al.


def city_scene(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A dusk skyline: gradient sky, sun, hills, buildings with lit windows, a textured street.

    Returns an HxWx3 float32 RGB image in [0, 1].
    """
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    horizon = int(height * 0.72)
    # Sky: deep blue at the top fading to orange at the horizon, with a soft sun.
    t = np.clip(yy / horizon, 0, 1)[..., None]
    image = (1 - t) * np.array([0.10, 0.18, 0.45]) + t * np.array([0.98, 0.62, 0.32])
    sun = np.exp(-((xx - width * 0.7) ** 2 + (yy - horizon * 0.55) ** 2) / (2 * (height * 0.07) ** 2))
    image += sun[..., None] * np.array([0.6, 0.5, 0.2])
    # Distant hills: a wavy silhouette.
    ridge = horizon - height * (0.12 + 0.05 * np.sin(xx[0] / width * 9) + 0.03 * np.sin(xx[0] / 7))
    image[yy > ridge[None, :]] = [0.30, 0.25, 0.40]
    # Buildings with window grids, some lit.
    x = 0
    while x < width:
        w = int(rng.integers(width // 14, width // 6))
        top = int(horizon - rng.integers(height // 8, height // 2))
        image[top:horizon, x:x + w] = rng.uniform(0.08, 0.25, 3)
        for wy in range(top + 3, horizon - 3, 6):
            for wx in range(x + 2, x + w - 3, 5):
                if rng.random() < 0.45:
                    image[wy:wy + 3, wx:wx + 2] = [1.0, 0.85, 0.45]
        x += w + int(rng.integers(0, 4))
    # Street: grey with noise texture and dashed lane markings.
    image[horizon:] = 0.22 + 0.08 * rng.random((height - horizon, width, 1))
    lane = horizon + (height - horizon) // 2
    for dash in range(0, width, 16):
        image[lane:lane + 2, dash:dash + 8] = [0.95, 0.9, 0.6]
    image += rng.normal(0, 0.02, image.shape)  # fine grain everywhere
    return np.clip(image, 0, 1).astype(np.float32)


def swirl_style(size: int, rng: np.random.Generator) -> np.ndarray:
    """Bold swirling colour bands with brush-stroke streaks: an easy style to recognise."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    angle = np.arctan2(yy - 0.5, xx - 0.5)
    radius = np.hypot(xx - 0.5, yy - 0.5)
    field = np.sin(18 * radius - 3 * angle) + 0.8 * np.sin(11 * xx + 6 * np.sin(7 * yy))
    palette = np.array([[0.05, 0.10, 0.45], [0.10, 0.55, 0.85], [0.95, 0.85, 0.20],
                        [0.90, 0.30, 0.10], [0.55, 0.10, 0.50]], np.float32)
    position = (field - field.min()) / (field.max() - field.min()) * (len(palette) - 1)
    low = np.floor(position).astype(int).clip(0, len(palette) - 2)
    frac = (position - low)[..., None]
    image = (1 - frac) * palette[low] + frac * palette[low + 1]
    # Brush strokes: noise smeared along a diagonal, modulating the brightness.
    kernel = np.eye(9, dtype=np.float32) / 9
    strokes = cv2.filter2D(rng.random((size, size)).astype(np.float32), -1, kernel)
    image *= (0.75 + 0.5 * (strokes - 0.5))[..., None]
    return np.clip(image, 0, 1)


def mosaic_style(size: int, rng: np.random.Generator, tiles: int = 12) -> np.ndarray:
    """Irregular mosaic tiles in earthy colours with dark grout: a second, clearly different style.

    The tiles are the Voronoi cells of a jittered grid of centres; each gets a palette colour and
    a slight brightness of its own, and the grout follows the cell borders.
    """
    step = size / tiles
    grid = (np.mgrid[0:tiles, 0:tiles].reshape(2, -1).T + 0.5) * step
    centres = (grid + rng.uniform(-0.35, 0.35, grid.shape) * step).astype(np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    distances = np.hypot(yy[..., None] - centres[:, 0], xx[..., None] - centres[:, 1])
    nearest = np.partition(distances, 1, axis=-1)  # [..., 0] and [..., 1]: the two nearest
    cell = distances.argmin(axis=-1)
    palette = np.array([[0.80, 0.36, 0.20], [0.90, 0.72, 0.30], [0.12, 0.50, 0.48],
                        [0.45, 0.52, 0.18], [0.93, 0.88, 0.74], [0.20, 0.28, 0.22]], np.float32)
    colours = palette[rng.integers(0, len(palette), len(centres))]
    colours *= rng.uniform(0.85, 1.1, (len(centres), 1)).astype(np.float32)
    image = colours[cell]
    grout = nearest[..., 1] - nearest[..., 0] < 2.5  # pixels about as near to two centres
    image[grout] = [0.16, 0.12, 0.10]
    return np.clip(image, 0, 1)


def to_uint8(image: np.ndarray) -> np.ndarray:
    return (image * 255 + 0.5).astype(np.uint8)


def clip_frames(rng: np.random.Generator, width=128, height=96, count=24) -> list[np.ndarray]:
    """A slow pan across a wide skyline with a small ball bouncing through the shot."""
    pan = 48  # pixels over the whole clip: slow enough for flow to follow
    panorama = to_uint8(city_scene(width + pan, height, rng))
    frames = []
    for i in range(count):
        frame = panorama[:, round(i * pan / (count - 1)):][:, :width].copy()
        x = int(10 + i * (width - 20) / (count - 1))
        y = int(height * 0.55 - 30 * abs(np.sin(i * np.pi / 8)))
        cv2.circle(frame, (x, y), 5, (230, 40, 40), -1, lineType=cv2.LINE_AA)
        frames.append(frame)
    return frames


def write_chord(path: Path, seconds: float, rate: int = 22050) -> None:
    """A soft A-major chord (mono AAC) with fades, to give the clip an audio track."""
    t = np.arange(int(rate * seconds)) / rate
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.18, 329.63)) / 3
    fade = np.minimum(1, np.minimum(t, seconds - t) / 0.2)
    samples = (0.4 * chord * fade).astype(np.float32)[None]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=rate, layout="mono")
        for start in range(0, samples.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(samples[:, start:start + 1024], format="fltp",
                                               layout="mono")
            frame.sample_rate, frame.pts = rate, start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    content = to_uint8(city_scene(256, 192, rng))
    cv2.imwrite(str(out / "content.png"), cv2.cvtColor(content, cv2.COLOR_RGB2BGR))
    style = to_uint8(swirl_style(256, rng))
    cv2.imwrite(str(out / "style.png"), cv2.cvtColor(style, cv2.COLOR_RGB2BGR))
    # style2 draws from a generator of its own, so adding it left the other samples unchanged.
    style2 = to_uint8(mosaic_style(256, np.random.default_rng(SEED + 1)))
    cv2.imwrite(str(out / "style2.png"), cv2.cvtColor(style2, cv2.COLOR_RGB2BGR))

    fps = 12
    frames = clip_frames(rng)
    with tempfile.TemporaryDirectory() as tmp:
        audio = Path(tmp) / "chord.m4a"
        write_chord(audio, len(frames) / fps)
        with VideoWriter(out / "clip.mp4", 128, 96, time_base=Fraction(1, fps), rate=Fraction(fps),
                         audio_source=audio) as writer:
            for i, frame in enumerate(frames):
                writer.write(frame, i)
    for name in ("content.png", "style.png", "style2.png", "clip.mp4"):
        print(f"{out / name}: {(out / name).stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("samples"), help="folder to write to")
    main(parser.parse_args().out)

"""Small clips for tests, written with PyAV only (independent of vidstyle's own writer)."""

from fractions import Fraction

import av
import numpy as np

from vidstyle.media.video_files import probe, read_frames

W, H, N, FPS = 48, 32, 12, 10
AUDIO_RATE = 16000


def frame_image(i: int, width: int = W, height: int = H) -> np.ndarray:
    """Smooth, per-frame distinct content (compresses well, so decoded frames stay close)."""
    yy, xx = np.mgrid[0:height, 0:width]
    red = xx * 200 // width + 2 * i
    green = yy * 200 // height
    blue = np.full_like(xx, 20 + 15 * i)
    return np.stack([red, green, blue], axis=-1).astype(np.uint8)


def marked_image() -> np.ndarray:
    """A frame whose orientation is unambiguous: a white block in the top-left corner."""
    image = np.full((H, W, 3), 40, np.uint8)
    image[:8, :16] = 255
    return image


def make_clip(path, *, images=None, pts=None, time_base=Fraction(1, FPS), audio=True,
              rotation=None, options=None, crf="10", gop=None, x264_params=None, pix_fmt="yuv420p"):
    """Write an H.264 clip (plus a mono AAC sine) with PyAV only, independent of vidstyle.

    ``x264_params`` (libx264's ``x264-params``, e.g. ``"keyint=4:intra-refresh=1"``) shape the stream.
    """
    images = [frame_image(i) for i in range(N)] if images is None else images
    pts = list(range(len(images))) if pts is None else pts
    with av.open(str(path), "w", options=options or {}) as container:
        x264 = {"x264-params": x264_params} if x264_params else {}
        stream = container.add_stream("libx264", rate=FPS, options={"crf": crf, **x264})
        stream.width, stream.height, stream.pix_fmt = images[0].shape[1], images[0].shape[0], pix_fmt
        stream.time_base = stream.codec_context.time_base = time_base
        if gop is not None:
            stream.codec_context.gop_size = gop
        if rotation is not None:
            stream.set_display_rotation(rotation)
        if audio:
            sound = container.add_stream("aac", rate=AUDIO_RATE, layout="mono")
        for image, p in zip(images, pts):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = p, time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
        if audio:
            seconds = float((pts[-1] + 1) * time_base)
            t = np.arange(int(AUDIO_RATE * seconds)) / AUDIO_RATE
            samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            chunk = 1024
            for start in range(0, samples.shape[1], chunk):
                frame = av.AudioFrame.from_ndarray(samples[:, start:start + chunk], format="fltp",
                                                   layout="mono")
                frame.sample_rate, frame.pts = AUDIO_RATE, start
                for packet in sound.encode(frame):
                    container.mux(packet)
            for packet in sound.encode(None):
                container.mux(packet)
    return path


def audio_packets(path):
    """(pts as seconds, bytes) of every audio packet in ``path``."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return [(p.pts * p.time_base, bytes(p)) for p in container.demux(stream) if p.size]


def frame_times(path):
    return [Fraction(f.pts) * probe(path).time_base for f in read_frames(path)]

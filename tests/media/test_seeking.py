"""Seeks are checked before their frames are used: ``read_frames(start=T)`` gives the frames of a
sequential decode, bit for bit, on clips whose seeks go wrong (x264 intra refresh; a decoder made to
give green frames after a seek) and on clips whose seeks are fine."""

import warnings
from fractions import Fraction

import av
import numpy as np
import pytest
from clips import make_clip
from helpers import pan_frames

from vidstyle.media.seeking import SeekChecks, SeekVerdict, SeekWarning, verify_seek
from vidstyle.media.video_files import read_frames

REFRESH = "keyint=4:intra-refresh=1"  # sync samples whose decode "recovers" frames later: seeks miss frames


@pytest.fixture(scope="module")
def refresh_clip(tmp_path_factory):
    """24 frames, yuv444p (High 4:4:4), periodic intra refresh instead of IDR frames."""
    return make_clip(tmp_path_factory.mktemp("seek") / "refresh.mp4", images=pan_frames(24, 48, 32), audio=False,
                     x264_params=REFRESH, pix_fmt="yuv444p")


@pytest.fixture(scope="module")
def gop_clip(tmp_path_factory):
    """24 frames with an IDR frame every 4: seeks that work."""
    return make_clip(tmp_path_factory.mktemp("seek") / "gop.mp4", images=pan_frames(24, 48, 32), audio=False, gop=4)


@pytest.fixture(scope="module")
def long_clips(tmp_path_factory):
    """7 s (70 tiny frames): far enough in, the reference decodes from the sync sample before the
    seek's, not from the start. IDR frames every 4; and intra refresh."""
    folder = tmp_path_factory.mktemp("seek_long")
    images = pan_frames(70, 32, 24)
    return (make_clip(folder / "gop.mp4", images=images, audio=False, gop=4),
            make_clip(folder / "refresh.mp4", images=images, audio=False, x264_params=REFRESH))


def sequential_from(path, start, count=None):
    frames = [f for f in read_frames(path) if f.time >= start]
    return frames[:count] if count is not None else frames


def assert_same_frames(got, want):
    assert [f.pts for f in got] == [f.pts for f in want]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(got, want))


def first_pts_after_plain_seek(path, start):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        container.seek(int(start / stream.time_base), stream=stream, backward=True)
        return next(f.pts for f in container.decode(stream) if f.pts * stream.time_base >= start)


def test_the_intra_refresh_clip_really_breaks_plain_seeks(refresh_clip):
    # The reproduction: after container.seek, the decoder drops frames until it has recovered.
    start = Fraction(55, 100)
    assert first_pts_after_plain_seek(refresh_clip, start) != sequential_from(refresh_clip, start)[0].pts


def test_a_bad_seek_is_caught_and_the_frames_are_sequential_with_one_warning(refresh_clip):
    checks = SeekChecks()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for start in (0.55, 0.85, 1.25, 2.05):
            assert_same_frames(list(read_frames(refresh_clip, start=start, seeks=checks)),
                               sequential_from(refresh_clip, start))
    lines = [str(w.message) for w in caught if issubclass(w.category, SeekWarning)]
    assert len(lines) == 1 and "not trusted" in lines[0] and "\n" not in lines[0]  # once per file per run
    verdict = checks.verdict(refresh_clip)
    assert not verdict.trusted and len(verdict.failed) == 1


def test_without_a_shared_verdict_every_call_still_checks(refresh_clip):
    with pytest.warns(SeekWarning):
        got = list(read_frames(refresh_clip, start=0.85, max_frames=3, size=(24, 16)))
    assert_same_frames(got, [f for f in read_frames(refresh_clip, size=(24, 16)) if f.time >= 0.85][:3])


@pytest.mark.parametrize("start", [0.05, 0.35, 0.4, 0.85, 1.5, 2.3])
def test_good_seeks_verify_and_give_the_sequential_frames(gop_clip, start):
    checks = SeekChecks()
    with warnings.catch_warnings():
        warnings.simplefilter("error", SeekWarning)
        got = list(read_frames(gop_clip, start=start, duration=0.5, seeks=checks))
    assert_same_frames(got, [f for f in sequential_from(gop_clip, start) if f.time < start + 0.5])
    verdict = checks.verdict(gop_clip)
    # Before the second sync sample (0.4 s) the seek lands on the first frame: read from the start, unchecked.
    assert verdict.trusted and len(verdict.verified) == (start >= 0.4)


def test_a_verified_landing_is_not_checked_again(gop_clip, monkeypatch):
    checks = SeekChecks()
    assert verify_seek(gop_clip, 0.85, checks)  # lands on the sync sample at 0.8 s
    opened = []
    real_open = av.open
    monkeypatch.setattr(av, "open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    got = list(read_frames(gop_clip, start=0.95, seeks=checks))  # same sync sample: no reference decode
    assert len(opened) == 1
    assert_same_frames(got, sequential_from(gop_clip, 0.95))


# -- a decoder whose frames come out wrong after a seek (the failure of issue 15, injected) --------


class GreenAfterSeek:
    """Stands in for ``av.open``: after ``seek``, frames decoded with frame threads (AUTO) come out
    flat green (every plane zero), as the H.264 High 4:4:4 file of issue 15 did; slice threads
    decode right, as they did there."""

    def __init__(self, real_open):
        self.real_open = real_open
        self.broken_frames = 0

    def __call__(self, *args, **kwargs):
        return _Container(self, self.real_open(*args, **kwargs))


class _Container:
    def __init__(self, owner, container):
        self._owner, self._container, self._sought = owner, container, False

    def __getattr__(self, name):
        return getattr(self._container, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._container.close()

    def seek(self, *args, **kwargs):
        self._sought = True
        return self._container.seek(*args, **kwargs)

    def decode(self, stream):
        for frame in self._container.decode(stream):
            if self._sought and stream.thread_type == av.codec.context.ThreadType.AUTO:
                for plane in frame.planes:
                    plane.update(bytes(plane.buffer_size))
                self._owner.broken_frames += 1
            yield frame


def test_green_frames_after_a_seek_are_caught_and_never_delivered(gop_clip, monkeypatch):
    want = {start: sequential_from(gop_clip, start, 4) for start in (0.85, 1.65)}
    broken = GreenAfterSeek(av.open)
    monkeypatch.setattr(av, "open", broken)
    with av.open(str(gop_clip)) as container:  # the injection does break a plain seek
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        container.seek(int(0.85 / stream.time_base), stream=stream, backward=True)
        image = next(container.decode(stream)).to_ndarray(format="rgb24")
        assert image[..., 1].min() > 100 and image[..., 0].max() < 10  # flat green
    checks = SeekChecks()
    with pytest.warns(SeekWarning, match="not trusted: reading from the start"):
        got = list(read_frames(gop_clip, start=0.85, max_frames=4, seeks=checks))
    assert broken.broken_frames > 1  # the check saw green frames...
    assert_same_frames(got, want[0.85])  # ...and none of them came out
    before = broken.broken_frames
    with warnings.catch_warnings():
        warnings.simplefilter("error", SeekWarning)  # the verdict is cached: no second line
        assert_same_frames(list(read_frames(gop_clip, start=1.65, max_frames=4, seeks=checks)), want[1.65])
    assert broken.broken_frames == before  # an untrusted file is not sought at all


def test_after_a_failure_reads_start_at_a_seek_that_verified(gop_clip, monkeypatch):
    checks = SeekChecks()
    assert verify_seek(gop_clip, 0.45, checks)  # verified before the decoder broke
    monkeypatch.setattr(av, "open", GreenAfterSeek(av.open))
    with pytest.warns(SeekWarning, match="from a seek to 0.450 s that verified"):
        assert not verify_seek(gop_clip, 1.65, checks)
    monkeypatch.undo()  # seeks work again, and the verdict still says where to start
    assert_same_frames(list(read_frames(gop_clip, start=1.65, max_frames=3, seeks=checks)),
                       sequential_from(gop_clip, 1.65, 3))


def test_far_into_a_clip_the_reference_starts_at_the_previous_sync_sample(long_clips, monkeypatch):
    good, refresh = long_clips
    want = {clip: sequential_from(clip, 6.45, 3) for clip in long_clips}
    with warnings.catch_warnings():
        warnings.simplefilter("error", SeekWarning)
        assert_same_frames(list(read_frames(good, start=6.45, max_frames=3)), want[good])
    with pytest.warns(SeekWarning):
        assert_same_frames(list(read_frames(refresh, start=6.45, max_frames=3)), want[refresh])
    opened = []
    broken = GreenAfterSeek(av.open)
    monkeypatch.setattr(av, "open", lambda *a, **k: opened.append(a[0]) or broken(*a, **k))
    with pytest.warns(SeekWarning):
        assert_same_frames(list(read_frames(good, start=6.45, max_frames=3)), want[good])
    assert broken.broken_frames > 0
    assert len(opened) == 3  # the read, one reference (a seek to the sync sample at 6.0 s), the read from the start


def test_verdict_resume_targets():
    verdict = SeekVerdict("clip.mp4", verified=((100, 90), (300, 310)))
    assert verdict.resume_target(250) == 100  # 300 lies after 250
    assert verdict.resume_target(305) == 100  # the seek to 300 gives frames from 310 on only
    assert verdict.resume_target(400) == 300
    assert verdict.resume_target(50) is None
    assert verdict.known_landing(90, 95) and not verdict.known_landing(310, 305)
    failed = verdict.with_failure(200)
    assert not failed.trusted and failed.failed == (200,) and failed.verified == verdict.verified

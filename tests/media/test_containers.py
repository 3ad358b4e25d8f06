"""Output planning (vidstyle.media.containers): what is refused, and how it is named."""

import av
import pytest

from vidstyle.media import containers
from vidstyle.media.containers import OutputError, check_frame_size, fit_crf, plan_output


def test_an_encoder_that_opens_in_no_container_is_named_as_the_cause(tmp_path, monkeypatch):
    """NVENC without an NVIDIA GPU fails in every container: the message blames the encoder, not the
    output's extension (it said "cannot write h264_nvenc video into .mkv")."""
    def refuse(path, codec, *args, **kwargs):
        raise av.error.PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(containers, "_test_write", refuse)
    with pytest.raises(OutputError, match=r"--codec libx264: the encoder cannot be opened on this machine"):
        plan_output(str(tmp_path / "o.mkv"), "libx264", crf=None, explicit_codec=True, audio_source=None)


def test_a_container_that_refuses_the_encoder_is_named(tmp_path):
    with pytest.raises(OutputError, match=r"cannot write libvpx video into \.mp4"):
        plan_output(str(tmp_path / "o.mp4"), "libvpx", crf=None, explicit_codec=True, audio_source=None)


def test_default_crfs_fit_the_encoder_and_narrow_x265_frames_are_refused():
    assert (fit_crf("libvpx", 0), fit_crf("libsvtav1", 0), fit_crf("libx264", 0), fit_crf("libvpx", 70)) == (4, 1, 0, 63)
    check_frame_size("libx265", 64, 32)
    check_frame_size("libx264", 16, 16)
    with pytest.raises(OutputError, match="too narrow"):
        check_frame_size("libx265", 48, 128)


def test_av1_segments_are_refused_with_the_reason(tmp_path):
    """PyAV copies a stream by its decoder's name (libdav1d for AV1), which no encoder has: the run
    cannot join its segments, and says so instead of advising the extension it already has."""
    with pytest.raises(OutputError, match=r"PyAV copies the stream by its decoder's name, \w+, which names no encoder"
                                          r"\); choose another --codec"):
        plan_output(str(tmp_path / "o.mp4"), "libsvtav1", crf=None, explicit_codec=True, audio_source=None)

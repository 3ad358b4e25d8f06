"""The work folder beside the output: finished segments, their last frames, and a state file.

A long run writes numbered segment files here; a rerun with the same settings continues after
the last finished segment, and a rerun with different settings is refused. The folder is
removed once the final output has been assembled.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

from ..errors import VidstyleError
from ..media.frame_sources import frame_folder_fingerprint, is_frame_pattern

STATE_FILE = "state.json"
STATE_VERSION = 2  # 2: the last stylized frame of a segment is kept losslessly (.npy)


class ResumeError(VidstyleError):
    """The work folder belongs to a run with other settings, or is damaged."""


def flatten(settings: object, prefix: str = "") -> dict[str, object]:
    """A settings dataclass as ``{"loss.alpha": 100.0, ...}`` with JSON-friendly values."""
    flat: dict[str, object] = {}
    for f in dataclasses.fields(settings):  # type: ignore[arg-type]
        value = getattr(settings, f.name)
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            flat.update(flatten(value, f"{key}."))
        else:
            flat[key] = json.loads(json.dumps(value, default=str))
    return flat


def file_fingerprint(path: str | os.PathLike) -> str:
    """Size and SHA-256 of a file (style images are small; videos are identified by size+mtime).

    A folder of frames (``frames/%05d.png``) by its frames' names, sizes and times."""
    if is_frame_pattern(path) and not Path(path).exists():
        return frame_folder_fingerprint(path)
    path = Path(path)
    if path.stat().st_size <= 64 << 20:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    stat = path.stat()
    return f"{stat.st_size}:{int(stat.st_mtime)}"


def work_folder_for(output: str | os.PathLike) -> Path:
    """``out.mp4`` -> ``.out.mp4.vidstyle-work`` in the same folder (same file system: cheap moves)."""
    output = Path(output)
    return output.with_name(f".{output.name}.vidstyle-work")


class WorkFolder:
    """Segments done so far for one output, and the identity of the settings that made them."""

    def __init__(self, path: Path, identity: dict[str, object]) -> None:
        self.path = path
        self.identity = identity
        self.segments: list[dict] = []

    @classmethod
    def open(cls, path: str | os.PathLike, identity: dict[str, object], *, must_exist: bool = False) -> "WorkFolder":
        """Open (or create) the work folder; refuse it if it was made with other settings."""
        path = Path(path)
        state_path = path / STATE_FILE
        folder = cls(path, identity)
        if not state_path.exists():
            if must_exist:
                raise ResumeError(f"nothing to resume: no work folder at {path}")
            path.mkdir(parents=True, exist_ok=True)
            folder._save()
            return folder
        try:
            state = json.loads(state_path.read_text())
            version, saved, segments = state["version"], state["identity"], state["segments"]
        except (OSError, ValueError, KeyError, TypeError):
            raise ResumeError(f"the work folder {path} is damaged; delete it to start over") from None
        if version != STATE_VERSION:
            raise ResumeError(f"the work folder {path} was made by another version of vidstyle; "
                              "delete it to start over")
        if saved != identity:
            changed = sorted(k for k in set(saved) | set(identity) if saved.get(k) != identity.get(k))
            raise ResumeError(
                f"the work folder {path} holds a run with other settings (changed: {', '.join(changed)}); "
                f"rerun with the original settings to resume, or delete the folder to start over"
            )
        folder.segments = [s for s in segments if (path / s["file"]).exists() and (path / s["last"]).exists()]
        # Only an unbroken run of segments from the start counts.
        done, first = [], 0
        for segment in folder.segments:
            if segment["first"] != first:
                break
            done.append(segment)
            first += segment["count"]
        folder.segments = done
        return folder

    @property
    def frames_done(self) -> int:
        return sum(s["count"] for s in self.segments)

    def segment_path(self, index: int) -> Path:
        return self.path / f"segment_{index:05d}.mp4"

    def segment_paths(self) -> list[Path]:
        return [self.path / s["file"] for s in self.segments]

    def add_segment(self, path: Path, first: int, count: int, last_stylized: np.ndarray, end: float) -> None:
        """Record a finished segment file, the last stylized frame in it ((1, 3, h, w) float32,
        kept exactly: a resumed run warm-starts from it and must equal an uninterrupted one)
        and the time (seconds) its last frame ends."""
        last = path.with_suffix(".last.npy")
        tmp = last.with_name(last.name + ".tmp")
        with open(tmp, "wb") as file:
            np.save(file, np.ascontiguousarray(last_stylized, dtype=np.float32))
        os.replace(tmp, last)
        self.segments.append({"file": path.name, "first": first, "count": count, "last": last.name, "end": end})
        self._save()

    def last_stylized(self) -> np.ndarray | None:
        """The last stylized frame of the last finished segment ((1, 3, h, w) float32), if any."""
        if not self.segments:
            return None
        try:
            return np.load(self.path / self.segments[-1]["last"])
        except (OSError, ValueError):
            raise ResumeError(f"the work folder {self.path} is damaged; delete it to start over") from None

    def save_array(self, name: str, array: np.ndarray) -> None:
        """Keep a small array with the run (e.g. the cartoon palette), written atomically."""
        tmp = self.path / f"{name}.npy.tmp"
        with open(tmp, "wb") as file:
            np.save(file, array)
        os.replace(tmp, self.path / f"{name}.npy")

    def load_array(self, name: str) -> np.ndarray | None:
        """An array kept with :meth:`save_array`, or None."""
        path = self.path / f"{name}.npy"
        return np.load(path) if path.exists() else None

    def _save(self) -> None:
        state = {"version": STATE_VERSION, "identity": self.identity, "segments": self.segments}
        tmp = self.path / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(state, indent=1))
        os.replace(tmp, self.path / STATE_FILE)  # a kill never leaves a half-written state

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

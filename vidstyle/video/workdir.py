"""The work folder beside the output: finished segments, their last frames, and a state file.

A long run writes numbered segment files here; a rerun with the same settings continues after
the last finished segment, and a rerun with different settings is refused. The folder is
removed once the final output has been assembled; after a failed run that still delivered a partial
output (a truncated input) it stays, recording that failure.
"""

from __future__ import annotations

import dataclasses
import fcntl
import glob
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import VidstyleError
from ..media.frame_sources import frame_folder_fingerprint, is_frame_pattern

STATE_FILE = "state.json"
LOCK_FILE = "lock"
STATE_VERSION = 2  # 2: the last stylized frame of a segment is kept losslessly (.npy)


class ResumeError(VidstyleError):
    """The work folder belongs to a run with other settings, or is damaged (``--restart`` starts over)."""


class LockedError(VidstyleError):
    """Another run holds the work folder's lock."""


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
        self.suffix = ".mp4"
        self.complete: dict | None = None  # the finished output, once assembled (see mark_complete)
        self.partial: dict | None = None  # a failed run's delivered output and its error (see mark_partial)
        self._lock: int | None = None
        self._created = False  # made by this run's lock (removed again if the run is refused)

    @classmethod
    def open(cls, path: str | os.PathLike, identity: dict[str, object], *, must_exist: bool = False,
             restart: bool = False, suffix: str = ".mp4") -> "WorkFolder":
        """Open (or create) the work folder and lock it; refuse it if it was made with other settings.

        A folder without a single finished segment never blocks a new run (it is started over);
        ``restart`` starts over whatever the folder holds. ``suffix`` names new segment files.
        """
        folder = cls(Path(path), identity)
        folder.lock()
        return folder.load(identity, must_exist=must_exist, restart=restart, suffix=suffix)

    def load(self, identity: dict[str, object], *, must_exist: bool = False, restart: bool = False,
             suffix: str = ".mp4") -> "WorkFolder":
        """:meth:`open` for a folder already locked with :meth:`lock` (the lock is let go on refusal)."""
        self.identity, self.suffix = identity, suffix
        try:
            return self._open(must_exist, restart)
        except BaseException:
            self.unlock()  # a refused folder is not held
            if self._created:
                shutil.rmtree(self.path, ignore_errors=True)
            raise

    def _open(self, must_exist: bool, restart: bool) -> "WorkFolder":
        folder, path, identity = self, self.path, self.identity
        state_path = path / STATE_FILE
        if restart:
            folder.clear()
        if not state_path.exists():
            if must_exist:
                raise ResumeError(f"nothing to resume: no work folder at {path}")
            folder._save()
            return folder
        try:
            state = json.loads(state_path.read_text())
            version, saved, segments = state["version"], state["identity"], state["segments"]
        except (OSError, ValueError, KeyError, TypeError):
            if not folder.has_work():
                return folder.clear()
            raise ResumeError(f"the work folder {path} is damaged") from None
        if version != STATE_VERSION or saved != identity:
            # Nothing finished to lose, or only a failed run's (its input or settings changed since):
            # a bad first try never blocks its fix.
            if not folder.has_work() or state.get("partial") is not None:
                return folder.clear()
            if version != STATE_VERSION:
                raise ResumeError(f"the work folder {path} was made by another version of vidstyle")
            changed = sorted(k for k in set(saved) | set(identity) if saved.get(k) != identity.get(k))
            raise ResumeError(f"the work folder {path} holds a run with other settings (changed: {', '.join(changed)}); "
                              "rerun with the original settings to resume")
        folder.complete = state.get("complete")
        folder.partial = state.get("partial")
        folder.segments = [s for s in segments if (path / s["file"]).exists() and (path / s["last"]).exists()]
        # Only an unbroken run of segments from the start counts.
        done, first = [], 0
        for segment in folder.segments:
            if segment["first"] != first:
                break
            done.append(segment)
            first += segment["count"]
        folder.segments = done
        folder.remove_temporary_files()
        return folder

    def has_work(self) -> bool:
        """True if any segment file has been finished here (temporary files do not count)."""
        return any(self.path.glob("segment_*"))

    def clear(self) -> "WorkFolder":
        """Delete everything but the lock and start an empty state."""
        for item in self.path.iterdir():
            if item.name == LOCK_FILE:
                continue
            if item.is_dir():
                shutil.rmtree(item, ignore_errors=True)
            else:
                item.unlink(missing_ok=True)
        self.segments, self.complete, self.partial = [], None, None
        self._save()
        return self

    def remove_temporary_files(self) -> None:
        """Half-written files of a killed run (``.NAME.partial.EXT``, ``*.tmp``)."""
        for item in self.path.iterdir():
            if ".partial" in item.name or item.name.endswith(".tmp"):
                item.unlink(missing_ok=True)

    def lock(self) -> None:
        """Take the folder's lock (released when the process ends); refuse if another run holds it."""
        if self._lock is not None:
            return
        self._created = not self.path.exists()
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise LockedError(f"another vidstyle run (process {holder}) is writing this output; its work folder "
                              f"{self.path} is locked: wait for it or stop it") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock = fd

    @property
    def created_by_lock(self) -> bool:
        """True if :meth:`lock` made the folder (nothing of an earlier run is in it)."""
        return self._created

    def unlock(self) -> None:
        """Release the lock (the folder stays)."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def drop_damaged(self, decodable: Callable[[Path], int]) -> int:
        """Check each finished segment (``decodable(path)`` frames must match its count); forget
        the first damaged one and all after it (they are redone); return how many were dropped."""
        for number, segment in enumerate(self.segments):
            if decodable(self.path / segment["file"]) != segment["count"]:
                dropped = self.segments[number:]
                for bad in dropped:
                    (self.path / bad["file"]).unlink(missing_ok=True)
                self.segments = self.segments[:number]
                self._save()
                return len(dropped)
        return 0

    @property
    def frames_done(self) -> int:
        return sum(s["count"] for s in self.segments)

    def segment_path(self, index: int) -> Path:
        return self.path / f"segment_{index:05d}{self.suffix}"

    def segment_paths(self) -> list[Path]:
        return [self.path / s["file"] for s in self.segments]

    def add_segment(self, path: Path, first: int, count: int, last_stylized: np.ndarray, end: float) -> None:
        """Record a finished segment file, the last stylized frame in it ((1, 3, h, w) float32,
        kept exactly: a resumed run warm-starts from it and must equal an uninterrupted one)
        and the time (seconds) its last frame ends."""
        last = path.with_suffix(".last.npy")
        _write_atomically(last, np.ascontiguousarray(last_stylized, dtype=np.float32))
        self.segments.append({"file": path.name, "first": first, "count": count, "last": last.name, "end": end})
        self._save()

    def last_stylized(self) -> np.ndarray | None:
        """The last stylized frame of the last finished segment ((1, 3, h, w) float32), if any."""
        if not self.segments:
            return None
        try:
            return np.load(self.path / self.segments[-1]["last"])
        except (OSError, ValueError):
            raise ResumeError(f"the work folder {self.path} is damaged") from None

    def save_array(self, name: str, array: np.ndarray) -> None:
        """Keep a small array with the run (e.g. the cartoon palette), written atomically."""
        _write_atomically(self.path / f"{name}.npy", array)

    def load_array(self, name: str) -> np.ndarray | None:
        """An array kept with :meth:`save_array`, or None."""
        path = self.path / f"{name}.npy"
        return np.load(path) if path.exists() else None

    def has_array(self, name: str) -> bool:
        """Whether an array was kept under ``name``."""
        return (self.path / f"{name}.npy").exists()

    def remove_array(self, name: str) -> None:
        """Drop the array kept under ``name``, if any."""
        (self.path / f"{name}.npy").unlink(missing_ok=True)

    def _save(self) -> None:
        state = {"version": STATE_VERSION, "identity": self.identity, "segments": self.segments}
        if self.complete is not None:
            state["complete"] = self.complete
        if self.partial is not None:
            state["partial"] = self.partial
        tmp = self.path / (STATE_FILE + ".tmp")
        try:
            tmp.write_text(json.dumps(state, indent=1))
            os.replace(tmp, self.path / STATE_FILE)  # a kill never leaves a half-written state
        except OSError:
            tmp.unlink(missing_ok=True)
            raise

    def mark_complete(self, output: str | os.PathLike) -> None:
        """Record the assembled file (still under its temporary name) as this run's result: a
        rerun after a kill between the move into place and :meth:`remove` recognises it."""
        self.complete = file_identity(output)
        self._save()

    def mark_partial(self, output: str | os.PathLike, error: str, frames: int) -> None:
        """Record the assembled file (still under its temporary name) as a failed run's partial
        result, with the error and the frames it holds: the folder is kept, so a rerun with the same
        input and settings reports the same failure instead of counting the output as done."""
        self.partial = {"output": file_identity(output), "error": error, "frames": frames}
        self._save()

    def delivered_partial(self, output: str | os.PathLike) -> dict | None:
        """The partial record (``error``, ``frames``) if ``output`` is the file a failed run delivered."""
        if self.partial is None or not Path(output).exists() or file_identity(output) != self.partial.get("output"):
            return None
        return self.partial

    def completed(self, output: str | os.PathLike) -> bool:
        """True if ``output`` is the file this folder recorded as its finished result."""
        return self.complete is not None and Path(output).exists() and file_identity(output) == self.complete

    def remove(self) -> None:
        self.unlock()
        shutil.rmtree(self.path, ignore_errors=True)


def _write_atomically(path: Path, array: np.ndarray) -> None:
    """``np.save`` under a temporary name, moved into place; nothing is left if writing fails."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as file:
            np.save(file, array)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def file_identity(path: str | os.PathLike) -> dict[str, int]:
    """Size, modification time and inode: kept by ``os.replace``, so a moved file is recognised."""
    stat = os.stat(path)
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "inode": stat.st_ino}


def recorded_complete(output: str | os.PathLike) -> bool:
    """True if ``output`` is the finished file its work folder recorded (a run killed while
    cleaning up): rerunning the same command then only removes the folder."""
    try:
        state = json.loads((work_folder_for(output) / STATE_FILE).read_text())
        return state.get("complete") == file_identity(output)
    except (OSError, ValueError, AttributeError):
        return False


def recorded_partial(output: str | os.PathLike) -> bool:
    """True if ``output`` is the partial file a failed run delivered (a truncated input): it is not
    a finished output, so a rerun (or ``batch-video``) must not count it as done."""
    try:
        state = json.loads((work_folder_for(output) / STATE_FILE).read_text())
        return (state.get("partial") or {}).get("output") == file_identity(output)
    except (OSError, ValueError, AttributeError):
        return False


def stale_partials(output: str | os.PathLike) -> list[Path]:
    """Temporary files a killed run left beside ``output`` (``.NAME.<hash>.partial.EXT``)."""
    output = Path(output)
    return sorted(output.parent.glob(f".{glob.escape(output.name)}.*.partial{glob.escape(output.suffix)}"))

"""``vidstyle batch``: stylize a folder of images, each with a style chosen from a folder of styles.

- The style of an image is a hash of the seed, the image's file name and the style file names:
  the same on every run and on resumed runs, whatever order or batch an image lands in.
- Images of the same working size are optimised together, ``batch_size`` at a time (the loss
  is per image, each against its own style; see :class:`~vidstyle.tools.style_bank.StyleBank`).
- Resumable: an image whose output exists is skipped (outputs are written atomically, so an
  existing file is a finished one). ``vidstyle-batch.json`` in the output folder records the
  settings' hash and each image's style; a rerun with other settings is refused.
- Unreadable files (empty, not images) are reported as ``bad`` events and the batch goes on.

The work is a generator of :class:`BatchEvent`; the CLI draws progress from it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from ..core.cartoon import cartoonize
from ..core.factory import build_stylizer
from ..core.features import VGGFeatures
from ..core.tensors import resize_long_side, scaled_size, to_tensor, to_uint8, working_long_side
from ..errors import VidstyleError
from ..media.image_files import OPENCV_IMAGE_EXTENSIONS, ImageError, load_image, load_init, read_image, save_image
from ..settings import BatchSettings, settings_hash
from .style_bank import StyleBank

MANIFEST = "vidstyle-batch.json"


class BatchError(VidstyleError):
    """A batch cannot start: missing folders, no styles, settings that differ from a previous run."""


@dataclass(frozen=True)
class BatchEvent:
    """``plan`` (``count`` images to do), ``done``, ``skipped`` (already finished) or ``bad``."""

    kind: str
    name: str = ""
    style: str = ""
    message: str = ""
    count: int = 0


def list_files(folder: str | os.PathLike) -> list[Path]:
    """The regular, non-hidden files of ``folder`` (not recursive), sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and not p.name.startswith("."))


def output_name(name: str) -> str:
    """The output file name for input ``name``: the same, or ``.png`` added for unknown suffixes."""
    return name if Path(name).suffix.lower() in OPENCV_IMAGE_EXTENSIONS else f"{name}.png"


def choose_style(name: str, seed: int, count: int) -> int:
    """The style index for image file ``name``: uniform over ``count``, fixed by ``seed`` and the name."""
    digest = hashlib.sha256(f"{seed}\0{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


def load_style_folder(folder: str | os.PathLike) -> tuple[list[str], list[torch.Tensor], list[str]]:
    """(names, images, problems) of the style folder; unreadable files go to ``problems``."""
    names, images, problems = [], [], []
    for path in list_files(folder):
        try:
            images.append(load_image(path, "style"))
            names.append(path.name)
        except ImageError as error:
            problems.append(str(error))
    return names, images, problems


def check_folders(settings: BatchSettings) -> None:
    """Raise :class:`BatchError` unless the input and style folders exist and the output can be made."""
    for what, folder in (("input", settings.input_dir), ("styles", settings.styles_dir)):
        if Path(folder).is_file():
            raise BatchError(f"{folder} is a file; the {what} must be a folder of images "
                             f"(for one image, use 'vidstyle image')")
        if not Path(folder).is_dir():
            raise BatchError(f"{what} folder not found: {folder}")
        if not list_files(folder):
            raise BatchError(f"the {what} folder {folder} has no files")
    out = Path(settings.output_dir)
    if out.exists() and not out.is_dir():
        raise BatchError(f"output path is not a folder: {out}")
    if out.resolve() == Path(settings.input_dir).resolve():
        raise BatchError("the output folder must not be the input folder")
    if not out.parent.resolve().is_dir():
        raise BatchError(f"output folder's parent does not exist: {out.parent}")


def batch_hash(settings: BatchSettings, style_names: list[str]) -> str:
    """Hash of everything that changes output pixels or style choices (not folders, batch size, device)."""
    pixels = dataclasses.replace(
        settings, input_dir="", styles_dir="", output_dir="", batch_size=0,
        model=dataclasses.replace(settings.model, device="", compile=False),
    )
    return settings_hash(pixels) + "-" + hashlib.sha256("\0".join(style_names).encode()).hexdigest()[:8]


def read_manifest(output_dir: str | os.PathLike) -> dict:
    path = Path(output_dir) / MANIFEST
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        raise BatchError(f"cannot read {path}; remove it to start the folder afresh") from None


def check_manifest(settings: BatchSettings, style_names: list[str]) -> None:
    """Refuse to add to an output folder made with other settings or styles."""
    previous = read_manifest(settings.output_dir).get("settings")
    if previous is not None and previous != batch_hash(settings, style_names):
        raise BatchError(f"{settings.output_dir} holds results made with other settings or styles; "
                         "use another output folder, or the same settings to resume")


def _write_manifest(output_dir: Path, manifest: dict) -> None:
    tmp = output_dir / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    os.replace(tmp, output_dir / MANIFEST)


def folder_bank(settings: BatchSettings, styles: list[torch.Tensor], *, extractor: VGGFeatures | None = None,
                progress: bool = True) -> StyleBank:
    """The style bank of a batch: one Stylizer (from the factory) and every style of the folder."""
    return StyleBank(build_stylizer(settings, styles[:1], extractor=extractor, progress=progress), styles)


def stylize_folder(settings: BatchSettings, bank: StyleBank, style_names: list[str]) -> Iterator[BatchEvent]:
    """Stylize every pending image of ``settings.input_dir``; yields a ``plan`` event, then one per file.

    ``--init PATH`` is read once, here, and every image starts from it (resized).
    """
    if len(style_names) != len(bank):
        raise ValueError(f"{len(style_names)} style names for {len(bank)} styles")
    check_manifest(settings, style_names)
    init = load_init(settings.optim.init)
    out = Path(settings.output_dir)
    out.mkdir(exist_ok=True)
    manifest = {"settings": batch_hash(settings, style_names), "styles": style_names,
                "images": read_manifest(out).get("images", {})}
    seed = settings.optim.seed

    def style_of(name: str) -> int:
        return choose_style(name, seed, len(style_names))

    # First pass: what is done, what is unreadable, and each pending image's working size.
    groups: dict[tuple[int, int], list[Path]] = {}
    early: list[BatchEvent] = []
    for path in list_files(settings.input_dir):
        if (out / output_name(path.name)).exists():
            manifest["images"][path.name] = style_names[style_of(path.name)]
            early.append(BatchEvent("skipped", path.name, style_names[style_of(path.name)]))
            continue
        try:
            h, w = read_image(path, "input").shape[:2]
        except ImageError as error:
            early.append(BatchEvent("bad", path.name, message=str(error)))
            continue
        long_side = working_long_side(settings.size, h, w)
        groups.setdefault(scaled_size(h, w, long_side), []).append(path)
    yield BatchEvent("plan", count=sum(len(paths) for paths in groups.values()))
    yield from early

    for size, paths in groups.items():
        for start in range(0, len(paths), settings.batch_size):
            chunk, images = [], []
            for path in paths[start:start + settings.batch_size]:
                try:
                    images.append(resize_long_side(load_image(path, "input"), max(size)))
                    chunk.append(path)
                except ImageError as error:  # changed since the first pass
                    yield BatchEvent("bad", path.name, message=str(error))
            if not chunk:
                continue
            indices = [style_of(p.name) for p in chunk]
            result = bank.stylize(torch.cat(images), indices, init=init)
            for path, content, image, index in zip(chunk, images, result.image, indices):
                if settings.cartoon.enabled:  # as `vidstyle image` finishes a picture
                    image = to_tensor(cartoonize(to_uint8(content), to_uint8(image[None]), settings.cartoon))[0]
                save_image(image[None], out / output_name(path.name))
                manifest["images"][path.name] = style_names[index]
            _write_manifest(out, manifest)
            for path, index in zip(chunk, indices):
                yield BatchEvent("done", path.name, style_names[index])
    _write_manifest(out, manifest)

"""An image folder as a dataset (`labgrader datasets import --lab LAB --dataset ID FOLDER`).

    FOLDER/<class>/*.png|*.jpg|*.jpeg                          all rows; the import splits them
    FOLDER/train/<class>/...  and  FOLDER/test/<class>/...     a split of your own: the test part is hidden

Classes are the sub-folder names in sorted order (label 0 is the first); images are read with Pillow, in file-name
order within a class, and kept as they are: grayscale as (H, W), RGB as (H, W, 3), uint8. Every image has the size and
colours of the first one; the first that differs is named in the error. A palette image counts as RGB, a 1-bit one as
grayscale; an alpha channel is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from grader.errors import DatasetError

SUFFIXES = (".png", ".jpg", ".jpeg")
MAX_IMAGES = 1_000_000
MAX_TOTAL_BYTES = 4 * 1024**3  # of decoded pixels
KEPT_MODES = {"L": "L", "1": "L", "LA": "L", "RGB": "RGB", "P": "RGB", "RGBA": "RGB"}


@dataclass(frozen=True)
class ImageRows:
    """Decoded images of one folder: x (N, H, W) or (N, H, W, 3) uint8, y class indices, the class names."""

    x: NDArray[Any]
    y: NDArray[np.int64]
    classes: list[str]


def _class_folders(folder: Path) -> list[Path]:
    found = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not found:
        raise DatasetError(f"{folder} has no class folders: put each class's images in FOLDER/<class name>/")
    return found


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)


class _Reader:
    """Decodes images one by one and holds them to the size and colours of the first."""

    def __init__(self) -> None:
        try:
            from PIL import Image
        except ImportError as exc:  # Pillow comes with matplotlib, a dependency of the service
            raise DatasetError("reading image folders needs Pillow in the service's environment "
                               "(pip install pillow)") from exc
        self.image = Image
        self.first: tuple[Path, str, tuple[int, int]] | None = None
        self.total = 0

    def read(self, path: Path) -> NDArray[np.uint8]:
        try:
            with self.image.open(path) as img:
                mode = KEPT_MODES.get(img.mode)
                if mode is None:
                    raise DatasetError(f"{path}: images in mode {img.mode} are not read here (use 8-bit grayscale "
                                       "or RGB)")
                pixels = np.asarray(img.convert(mode) if img.mode != mode else img, dtype=np.uint8)
                size = img.size
        except DatasetError:
            raise
        except Exception as exc:  # Pillow raises many kinds on a damaged or foreign file
            raise DatasetError(f"{path} could not be read as an image: {exc}") from exc
        if self.first is None:
            self.first = (path, mode, size)
        elif (mode, size) != self.first[1:]:
            first, first_mode, (w, h) = self.first
            raise DatasetError(f"{path} is {size[0]}x{size[1]} {_words(mode)}, but {first} is {w}x{h} "
                               f"{_words(first_mode)}: every image of the dataset must have the same size and "
                               "colours")
        self.total += pixels.nbytes
        if self.total > MAX_TOTAL_BYTES:
            raise DatasetError(f"the images exceed {MAX_TOTAL_BYTES // 1024**3} GiB of decoded pixels")
        return pixels


def _words(mode: str) -> str:
    return "grayscale" if mode == "L" else "RGB"


def _read_part(folder: Path, reader: _Reader, classes: list[str] | None) -> ImageRows:
    folders = _class_folders(folder)
    names = [f.name for f in folders]
    if classes is not None and not set(names) <= set(classes):
        extra = sorted(set(names) - set(classes))
        raise DatasetError(f"{folder} has classes the training part lacks: {', '.join(extra)}")
    order = classes if classes is not None else names
    rows: list[NDArray[np.uint8]] = []
    labels: list[int] = []
    for class_folder in folders:
        for image in _images(class_folder):
            if len(rows) >= MAX_IMAGES:
                raise DatasetError(f"{folder} holds more than {MAX_IMAGES} images")
            rows.append(reader.read(image))
            labels.append(order.index(class_folder.name))
    if not rows:
        raise DatasetError(f"{folder} holds no .png or .jpg images in its class folders")
    return ImageRows(np.stack(rows), np.array(labels, dtype=np.int64), list(order))


def read_image_folder(folder: Path) -> tuple[ImageRows, ImageRows | None]:
    """(all rows, None), or (training part, test part) when FOLDER has train/ and test/."""
    reader = _Reader()
    train, test = folder / "train", folder / "test"
    if train.is_dir() and test.is_dir():
        first = _read_part(train, reader, None)
        return first, _read_part(test, reader, first.classes)
    return _read_part(folder, reader, None), None

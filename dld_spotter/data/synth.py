"""Synthetic scene text: the project's embedded default data set.

Each image is a varied non-text background (gradients, smooth noise, shapes, lines, stripes,
dot fields, bar codes) with 2-8 non-overlapping words in TrueType fonts shipped by PyPI
packages: half from an embedded vocabulary (and numbers), half random strings of letters and
digits, so that a recognizer must read rather than guess. Word heights are log-uniform over
about a decade (14 px to a quarter of the image height): 40% of the images mix the whole
range, 30% hold only small words (the lowest 40% of the log range) and 30% only large ones, so
the set has small and large text both within images and across them. Words are straight,
rotated, in mild perspective (a homography on the word patch) or curved along an arc (~11%);
~5% of the instances are illegible don't-care marks (text "###", ignore=1).

Geometry is exact: a word is rendered upright, its ink bounding box is measured on the
rendering, and one invertible map (:class:`HomographyWarp` or :class:`ArcWarp`) both resamples
the ink into the image and carries the box outline to the annotated polygon, so the polygon is
tight around the glyph ink (4 points, or ``2 * ARC_POINTS_PER_SIDE`` along a curve).

Generation is deterministic: image ``i`` of a split uses the seed ``(seed, split, i)``, so the
output does not depend on the number of worker processes.

CLI::

    python -m dld_spotter.data.synth --out datasets/synth --num-train 2000 --num-val 100 --seed 0
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib.util
import json
import logging
import math
import multiprocessing
import os
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from shapely.geometry import Polygon
from tqdm import tqdm

from .formats.base import DONT_CARE

logger = logging.getLogger(__name__)

# Bump when a change to this module changes its output (it invalidates generated sets).
GENERATOR_VERSION = 2
SPLITS = ("train", "val")
ARC_POINTS_PER_SIDE = 8
JPEG_QUALITY = 92

Box = Tuple[float, float, float, float]  # x0, y0, x1, y1 in continuous pixel coordinates

# --------------------------------------------------------------------------------------------
# Fonts
# --------------------------------------------------------------------------------------------
FONT_PACKAGES = ("font_roboto", "font_source_sans_pro", "font_source_serif_pro", "font_caladea")
# matplotlib also ships math and symbol fonts; only these families render Latin text.
MATPLOTLIB_FAMILIES = ("DejaVuSans", "DejaVuSerif", "STIXGeneral")
# Hairline weights are illegible at small sizes; "Display" faces lack most glyphs.
SKIPPED_STYLES = ("Thin", "ExtraLight", "Display")


def _package_dir(package: str) -> Optional[str]:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def find_fonts(extra_dirs: Sequence[str] = ()) -> List[str]:
    """Absolute paths of the usable font files, in a fixed order.

    Looks in the font packages of ``setup.py``, in matplotlib's bundled fonts and in
    ``extra_dirs`` (folders of ``.ttf``/``.otf`` files, searched recursively); when a face
    ships as both ``.ttf`` and ``.otf`` the ``.ttf`` is kept.

    Raises:
        FileNotFoundError: a folder of ``extra_dirs`` does not exist or holds no font.
    """
    fonts = []
    roots = [_package_dir(p) for p in FONT_PACKAGES]
    mpl = _package_dir("matplotlib")
    mpl_fonts = os.path.join(mpl, "mpl-data", "fonts", "ttf") if mpl else None
    for root in roots + [mpl_fonts] + list(extra_dirs):
        if root in extra_dirs and not os.path.isdir(root):
            raise FileNotFoundError(f"font folder {root} does not exist")
        if root is None or not os.path.isdir(root):
            continue
        before = len(fonts)
        faces: Dict[str, str] = {}
        for dirpath, _, files in os.walk(root):
            for f in files:
                stem, ext = os.path.splitext(f)
                if ext.lower() not in (".ttf", ".otf") or any(s in stem for s in SKIPPED_STYLES):
                    continue
                if root == mpl_fonts and not stem.startswith(MATPLOTLIB_FAMILIES):
                    continue
                path = os.path.join(dirpath, f)
                if root in extra_dirs and not _covers_latin(path):
                    continue
                if stem not in faces or ext.lower() == ".ttf":
                    faces[stem] = path
        fonts.extend(faces[stem] for stem in sorted(faces))
        if root in extra_dirs and len(fonts) == before:
            raise FileNotFoundError(f"font folder {root} holds no usable .ttf/.otf file")
    if not fonts:
        raise RuntimeError(
            "No TrueType fonts found for the synthetic data set (looked in the Python packages "
            f"{', '.join(FONT_PACKAGES)} and matplotlib); run scripts/setup.sh to install them"
        )
    return fonts


def _covers_latin(path: str) -> bool:
    """Whether the font at ``path`` has a glyph for every letter (both cases) and digit."""
    from fontTools.ttLib import TTFont  # matplotlib's dependency

    try:
        with TTFont(path, fontNumber=0, lazy=True) as font:
            cmap = font.getBestCmap() or {}
    except Exception:  # not a font fontTools reads: not usable either
        return False
    return all(ord(c) in cmap for c in RANDOM_STRING_CHARS + RANDOM_STRING_CHARS.upper())


@functools.lru_cache(maxsize=4096)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


# --------------------------------------------------------------------------------------------
# Words
# --------------------------------------------------------------------------------------------
VOCABULARY = tuple(dict.fromkeys(  # the order is part of the generator's output
    """
    in on at to of by no go up my we it is or as be so do
    the and for you with not this but from they have are was his her one all would there their
    what out about who get which when make can like time just him know take people into year
    your good some could them see other than then now look only come its over think also back
    after use two how our work first well way even new want because any these give day most
    open closed exit enter push pull sale hotel coffee tea bar cafe pizza bakery market shop
    store bank post office police taxi bus train station airport parking street road avenue
    lane bridge park garden center city town north south east west left right stop slow yield
    danger caution warning notice private public free fresh hot cold menu food drink beer wine
    water milk bread cake cheese fruit juice salad burger chicken steak fish rice noodle soup
    sushi grill kitchen house home room floor door window gate hall school college university
    library museum theatre cinema music radio video games sport tennis football hospital
    pharmacy doctor dental clinic health beauty salon hair nails fashion shoes books toys gifts
    flowers pets hardware electric garage motor auto service repair wash laundry cleaning
    welcome thank please sorry hello love happy life world star moon sun sky blue red green
    black white yellow orange purple gold silver pink brown grey dark light great small big
    little long short high low best better cheap price special offer discount limited edition
    daily weekly news paper time table ticket tickets entrance only members staff toilet
    restroom ladies gentlemen info help phone mobile internet online wifi email call order
    delivery takeaway breakfast lunch dinner express super mega ultra royal grand
    central national global local family friends company group studio design
    digital system energy power solar green planet ocean river lake mountain valley forest
    island beach harbor tower castle palace church temple plaza square village county state
    summer winter spring autumn monday tuesday friday sunday january march april june july
    august october december morning evening night today tomorrow yesterday always never
    again together between through during before under above around against without within
    quality natural organic classic modern vintage original premium luxury simple smart
    quick easy safe secure clean bright lucky magic golden silent wild crazy funny sweet
    spicy tasty juicy crispy creamy healthy strong gentle nice fine real true first last next
    """.split()
))
NUMBER_FORMATS = ("year", "price", "cents", "percent", "time", "int")


RANDOM_STRING_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"


def sample_word(rng: np.random.Generator, random_string_prob: float = 0.0) -> str:
    """A vocabulary word in a random case (60% lower, 25% Title, 15% UPPER), a number, or
    (with ``random_string_prob``) a random string of 3-10 letters and digits in a random case.
    Random strings keep a recognizer from reading by a language model of the vocabulary."""
    if rng.random() < random_string_prob:
        n = int(rng.integers(3, 11))
        word = "".join(RANDOM_STRING_CHARS[i] for i in rng.integers(len(RANDOM_STRING_CHARS),
                                                                    size=n))
        return _random_case(rng, word)
    if rng.random() < 0.12:
        kind = NUMBER_FORMATS[rng.integers(len(NUMBER_FORMATS))]
        if kind == "year":
            return str(rng.integers(1950, 2031))
        if kind == "price":
            return f"${rng.integers(1, 500)}.{rng.integers(0, 100):02d}"
        if kind == "cents":
            return f"{rng.integers(0, 100)}.{rng.choice([0, 49, 50, 95, 99]):02d}"
        if kind == "percent":
            return f"{rng.integers(1, 10) * 10}%"
        if kind == "time":
            return f"{rng.integers(1, 13)}:{rng.choice([0, 15, 30, 45]):02d}"
        return str(rng.integers(1, 1000))
    return _random_case(rng, VOCABULARY[rng.integers(len(VOCABULARY))])


def _random_case(rng: np.random.Generator, word: str) -> str:
    case = rng.random()
    if case < 0.15:
        return word.upper()
    if case < 0.40:
        return word.capitalize()
    return word


# --------------------------------------------------------------------------------------------
# Rendering and geometry
# --------------------------------------------------------------------------------------------
class NoInkError(ValueError):
    """A rendering left no pixel at or above the ink threshold."""


def ink_box(mask: np.ndarray, thresh: int = 64) -> Box:
    """Continuous bounding box of the pixels of ``mask`` (H, W) uint8 that are >= ``thresh``."""
    ys, xs = np.nonzero(mask >= thresh)
    if len(xs) == 0:
        raise NoInkError("the rendered mask has no ink")
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


def render_text(text: str, font_path: str, ink_height: float) -> Tuple[np.ndarray, Box]:
    """Render ``text`` upright, white on black, with its ink about ``ink_height`` px tall.

    Returns the coverage mask (H, W) uint8 and its ink box.
    """
    t, b = _font(font_path, 64).getbbox(text)[1::2]
    size = max(4, round(64 * ink_height / max(b - t, 1)))
    font = _font(font_path, size)
    left, top, right, bottom = font.getbbox(text)
    pad = 2 + size // 6  # room for italic overhangs beyond the metric box
    image = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), 0)
    ImageDraw.Draw(image).text((pad - left, pad - top), text, fill=255, font=font)
    mask = np.asarray(image)
    return mask, ink_box(mask)


def render_marks(rng: np.random.Generator, height: float) -> Tuple[np.ndarray, Box]:
    """Illegible scribbles about ``height`` px tall (a don't-care instance)."""
    h = max(int(height), 6)
    w = int(h * rng.uniform(1.5, 5.0))
    mask = np.zeros((h + 8, w + 8), np.uint8)
    for _ in range(rng.integers(1, 4)):
        n = rng.integers(4, 12)
        pts = np.stack([np.sort(rng.uniform(4, w + 4, n)), rng.uniform(4, h + 4, n)], 1)
        thickness = int(rng.integers(1, max(2, h // 6)))
        cv2.polylines(mask, [pts.astype(np.int32)], False, 255, thickness, cv2.LINE_AA)
    return mask, ink_box(mask)


class Warp:
    """An invertible map from word-patch coordinates to image coordinates, plus a translation.

    Subclasses implement ``_forward``/``_inverse`` on (N, 2) points and :meth:`outline`.
    """

    def __init__(self) -> None:
        self.offset = np.zeros(2)

    def forward(self, pts: np.ndarray) -> np.ndarray:
        return self._forward(np.asarray(pts, np.float64)) + self.offset

    def inverse(self, pts: np.ndarray) -> np.ndarray:
        return self._inverse(np.asarray(pts, np.float64) - self.offset)

    def outline(self, box: Box) -> np.ndarray:
        """Polygon (K, 2) enclosing the image of ``box``, clockwise from the top-left."""
        raise NotImplementedError

    def _forward(self, pts: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _inverse(self, pts: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def _rotation(angle_deg: float) -> np.ndarray:
    a = math.radians(angle_deg)
    return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


class HomographyWarp(Warp):
    """A 3x3 homography: rotation about the box centre and an optional perspective tilt."""

    def __init__(self, matrix: np.ndarray):
        super().__init__()
        self.matrix = np.asarray(matrix, np.float64)
        self.inv_matrix = np.linalg.inv(self.matrix)

    @classmethod
    def make(cls, box: Box, angle: float = 0.0, corner_shift: Optional[np.ndarray] = None):
        """Rotate by ``angle`` degrees after moving the box corners by ``corner_shift`` (4, 2)."""
        src = _corners(box)
        dst = src if corner_shift is None else src + corner_shift
        tilt = cv2.getPerspectiveTransform(src.astype(np.float32), dst.astype(np.float32))
        centre = src.mean(0)
        rot = np.eye(3)
        rot[:2, :2] = _rotation(angle)
        rot[:2, 2] = centre - rot[:2, :2] @ centre
        return cls(rot @ tilt)

    @staticmethod
    def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
        h = pts @ m[:2, :2].T + m[:2, 2]
        w = pts @ m[2, :2] + m[2, 2]
        return h / w[:, None]

    def _forward(self, pts):
        return self._apply(self.matrix, pts)

    def _inverse(self, pts):
        return self._apply(self.inv_matrix, pts)

    def outline(self, box):
        return self.forward(_corners(box))


class ArcWarp(Warp):
    """Bends the patch along a circle: patch x runs along the arc, patch y runs radially.

    The box's horizontal mid-line maps to a circle of radius ``(x1 - x0) / span`` (``span`` in
    radians) without stretching. ``arch=True`` puts the centre below the text (a frown),
    ``False`` above it (a smile). The result is then rotated by ``angle`` degrees.
    """

    def __init__(self, box: Box, span: float, arch: bool, angle: float = 0.0):
        super().__init__()
        x0, y0, x1, y1 = box
        self.radius = (x1 - x0) / span
        self.x_mid, self.y_mid = (x0 + x1) / 2, (y0 + y1) / 2
        self.sign = 1.0 if arch else -1.0
        self.rot = _rotation(angle)

    def _forward(self, pts):
        phi = (pts[:, 0] - self.x_mid) / self.radius
        r = self.radius + self.sign * (self.y_mid - pts[:, 1])
        local = np.stack([r * np.sin(phi), -self.sign * r * np.cos(phi)], 1)
        return local @ self.rot.T

    def _inverse(self, pts):
        local = pts @ self.rot  # rotate back
        r = np.hypot(local[:, 0], local[:, 1])
        phi = np.arctan2(local[:, 0], -self.sign * local[:, 1])
        x = self.x_mid + phi * self.radius
        return np.stack([x, self.y_mid - self.sign * (r - self.radius)], 1)

    def outline(self, box):
        x0, y0, x1, y1 = box
        n = ARC_POINTS_PER_SIDE
        half_step = (x1 - x0) / self.radius / (n - 1) / 2
        edges = []
        for y, xs in ((y0, np.linspace(x0, x1, n)), (y1, np.linspace(x1, x0, n))):
            r = self.radius + self.sign * (self.y_mid - y)
            if r > self.radius:  # outer edge: push the vertices out so the chords clear the arc
                y = self.y_mid - self.sign * (r / math.cos(half_step) - self.radius)
            edges.append(np.stack([xs, np.full(n, y)], 1))
        return self.forward(np.concatenate(edges))


def _corners(box: Box) -> np.ndarray:
    x0, y0, x1, y1 = box
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)


@dataclass
class WordPatch:
    """A word ready to paste: ``alpha`` (h, w) float32 ink coverage in [0, 1] and its tight
    ``polygon`` (K, 2) in the patch's frame (add the paste position for image coordinates)."""

    alpha: np.ndarray
    polygon: np.ndarray
    text: str
    ignore: bool
    height: float  # ink height before warping, px


def warp_patch(mask: np.ndarray, box: Box, warp: Warp, text: str, ignore: bool = False,
               margin: int = 2) -> WordPatch:
    """Resample ``mask`` (H, W) uint8 through ``warp`` into the smallest frame that holds the
    warped ``box`` (``warp.offset`` is set to that frame)."""
    outline = warp.outline(box)
    lo = np.floor(outline.min(0)) - margin
    warp.offset = warp.offset - lo
    outline = outline - lo
    w, h = (np.ceil(outline.max(0)) + margin).astype(int)
    # Pixel (i, j) has its centre at (j + 0.5, i + 0.5); cv2.remap samples at pixel centres.
    grid = np.stack(np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5), -1).reshape(-1, 2)
    src = (warp.inverse(grid) - 0.5).astype(np.float32).reshape(h, w, 2)
    alpha = cv2.remap(mask, src[..., 0], src[..., 1], cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return WordPatch(alpha.astype(np.float32) / 255.0, outline, text, ignore, box[3] - box[1])


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SynthConfig:
    """What the generator draws; every field is stored in ``params.json``."""

    height: int = 480
    width: int = 640
    size_jitter: float = 0.15  # each side scaled by a factor in [1 - x, 1 + x]
    min_words: int = 2
    max_words: int = 8
    min_text_height: float = 14.0  # px, legible words
    max_text_height_frac: float = 0.25  # of the image height
    # An image draws its word heights from the whole (log) range, or only from its lowest or
    # highest SIZE_BAND fraction: small-text images need the full resolution, large-text ones
    # stay legible at 0.3x. Resolution selection (DLD) has nothing to choose without both.
    small_text_prob: float = 0.3
    large_text_prob: float = 0.3
    size_band: float = 0.4
    curved_prob: float = 0.15  # short words stay straight: ~11% of the instances curve
    dont_care_prob: float = 0.05
    # Share of the legible words that are random strings instead of vocabulary words: with
    # only a ~550-word vocabulary an attention decoder learns to guess words from its previous
    # characters (a language model) and stops looking at the image.
    random_string_prob: float = 0.5
    max_rotation: float = 20.0  # degrees
    perspective_prob: float = 0.3
    plate_prob: float = 0.25  # a solid sign plate behind the word
    shadow_prob: float = 0.1
    # Real photographs (``background_dirs``: folders of text-free images) as backgrounds, and
    # the degradations of photographed text. 0 = off, and then no random number is drawn for
    # them: the default set is unchanged by their existence.
    background_dirs: Tuple[str, ...] = ()
    photo_background_prob: float = 0.0
    low_contrast_prob: float = 0.0  # text luma 35-90 off its background instead of >= 90
    lighting_prob: float = 0.0  # an illumination gradient and a cast shadow over the image
    motion_blur_prob: float = 0.0
    jpeg_prob: float = 0.0  # JPEG-compressed at quality 25-75


# The degradations of photographed text that ``--degrade`` (and the real-photograph recipe's
# DATASETS.STREAM_SYNTH) switch on.
REAL_DEGRADATIONS = {"low_contrast_prob": 0.3, "lighting_prob": 0.4, "motion_blur_prob": 0.15,
                     "jpeg_prob": 0.4}


def luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of RGB colours ``(..., 3)`` in [0, 255]: ``(...)``."""
    return rgb @ np.array([0.299, 0.587, 0.114])


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0, 255, 3)


def _blend(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(H, W, 3) image going from colour ``a`` (t = 0) to ``b`` (t = 1) for ``t`` (H, W)."""
    return a.astype(np.float32) + t[..., None] * (b - a).astype(np.float32)


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A non-text background (h, w, 3) float32 RGB in [0, 255]."""
    kind = rng.integers(4)
    if kind == 0:  # linear gradient
        a = rng.uniform(0, 2 * math.pi)
        t = (np.arange(w)[None] * math.cos(a) + np.arange(h)[:, None] * math.sin(a))
        t = ((t - t.min()) / max(t.max() - t.min(), 1)).astype(np.float32)
        img = _blend(_random_colour(rng), _random_colour(rng), t)
    elif kind == 1:  # radial gradient
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        t = np.hypot(np.arange(h)[:, None] - cy, np.arange(w)[None] - cx) / math.hypot(h, w)
        img = _blend(_random_colour(rng), _random_colour(rng), t.astype(np.float32))
    elif kind == 2:  # smooth colour noise
        cells = rng.uniform(0, 255, (rng.integers(2, 8), rng.integers(2, 8), 3))
        img = cv2.resize(cells.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    else:  # flat
        img = np.broadcast_to(_random_colour(rng), (h, w, 3))
    img = np.ascontiguousarray(img, dtype=np.float32)
    for _ in range(rng.integers(0, 7)):
        _draw_shape(rng, img)
    if rng.random() < 0.5:
        _draw_texture(rng, img)
    return np.clip(img, 0, 255)


IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@functools.lru_cache(maxsize=8)
def background_files(dirs: Tuple[str, ...]) -> Tuple[str, ...]:
    """The image files under ``dirs`` (recursively, sorted), each checked to be readable.

    Raises:
        FileNotFoundError: a folder does not exist or holds no image.
        ValueError: some files cannot be read as images (the first ones named).
    """
    files = []
    for folder in dirs:
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"background folder {folder} does not exist")
        found = sorted(os.path.join(d, f) for d, _, names in os.walk(folder) for f in names
                       if f.lower().endswith(IMAGE_EXTENSIONS))
        if not found:
            raise FileNotFoundError(f"background folder {folder} holds no image "
                                    f"({', '.join(IMAGE_EXTENSIONS)})")
        files += found
    bad = []
    for path in files:
        try:
            with Image.open(path) as im:
                im.verify()
        except Exception:
            bad.append(path)
    if bad:
        raise ValueError(f"{len(bad)} background image(s) cannot be read, e.g. "
                         f"{', '.join(bad[:3])}: remove or replace them")
    return tuple(files)


def photo_background(rng: np.random.Generator, h: int, w: int,
                     files: Sequence[str]) -> np.ndarray:
    """A random region of a random photograph of ``files``, flipped or not, resized to
    (h, w, 3) float32 RGB in [0, 255]."""
    path = files[rng.integers(len(files))]
    photo = cv2.imread(path, cv2.IMREAD_COLOR)
    if photo is None:
        raise ValueError(f"background image {path} cannot be decoded")
    ph, pw = photo.shape[:2]
    # a region of the output's aspect ratio, 40-100 % of the largest one that fits
    frac = rng.uniform(0.4, 1.0)
    rw = max(int(min(pw, ph * w / h) * frac), 1)
    rh = max(int(rw * h / w), 1)
    x0, y0 = int(rng.integers(0, pw - rw + 1)), int(rng.integers(0, ph - rh + 1))
    region = photo[y0:y0 + rh, x0:x0 + rw, ::-1]
    if rng.random() < 0.5:
        region = region[:, ::-1]
    return cv2.resize(np.ascontiguousarray(region), (w, h),
                      interpolation=cv2.INTER_AREA).astype(np.float32)


def _lighting(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Multiplies ``img`` (h, w, 3) by a linear illumination gradient (0.4-1.2) and, half of
    the time, a soft cast shadow over a random half-plane."""
    h, w = img.shape[:2]
    a = rng.uniform(0, 2 * math.pi)
    t = np.arange(w)[None] * math.cos(a) + np.arange(h)[:, None] * math.sin(a)
    t = (t - t.min()) / max(t.max() - t.min(), 1)
    light = rng.uniform(0.4, 0.9) + t * rng.uniform(0.1, 0.5)
    if rng.random() < 0.5:
        b = rng.uniform(0, 2 * math.pi)
        d = np.arange(w)[None] * math.cos(b) + np.arange(h)[:, None] * math.sin(b)
        edge = rng.uniform(d.min(), d.max())
        soft = rng.uniform(2, 30)
        light = light * (1 - rng.uniform(0.2, 0.5) / (1 + np.exp((d - edge) / soft)))
    return img * light[..., None].astype(np.float32)


def _motion_blur(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """A linear motion blur of 3-9 px in a random direction."""
    n = int(rng.integers(3, 10))
    kernel = np.zeros((n, n), np.float32)
    kernel[n // 2] = 1.0 / n
    rot = cv2.getRotationMatrix2D(((n - 1) / 2, (n - 1) / 2), rng.uniform(0, 180), 1.0)
    kernel = cv2.warpAffine(kernel, rot, (n, n))
    return cv2.filter2D(img, -1, kernel / max(kernel.sum(), 1e-6))


def _draw_shape(rng: np.random.Generator, img: np.ndarray) -> None:
    """Blend a random rectangle, ellipse, line or polygon into ``img`` in place."""
    h, w = img.shape[:2]
    overlay = img.copy()
    colour = tuple(float(c) for c in _random_colour(rng))
    p = (int(rng.integers(w)), int(rng.integers(h)))
    q = (int(rng.integers(w)), int(rng.integers(h)))
    kind = rng.integers(4)
    if kind == 0:
        cv2.rectangle(overlay, p, q, colour, -1 if rng.random() < 0.6 else int(rng.integers(1, 6)))
    elif kind == 1:
        axes = (int(rng.integers(5, w // 3)), int(rng.integers(5, h // 3)))
        cv2.ellipse(overlay, p, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1)
    elif kind == 2:
        cv2.line(overlay, p, q, colour, int(rng.integers(1, 8)))
    else:
        pts = np.stack([rng.integers(0, w, 5), rng.integers(0, h, 5)], 1).astype(np.int32)
        cv2.fillPoly(overlay, [pts], colour)
    a = rng.uniform(0.2, 0.9)
    img *= 1 - a
    img += a * overlay


def _draw_texture(rng: np.random.Generator, img: np.ndarray) -> None:
    """Blend a non-text distractor texture (stripes, grid, dots, bar code) into a region."""
    h, w = img.shape[:2]
    x0, y0 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
    x1, y1 = int(rng.integers(x0 + w // 8, w + 1)), int(rng.integers(y0 + h // 8, h + 1))
    rh, rw = y1 - y0, x1 - x0
    kind = rng.integers(4)
    if kind == 0:  # stripes
        a, period = rng.uniform(0, math.pi), rng.uniform(3, 30)
        t = np.arange(rw)[None] * math.cos(a) + np.arange(rh)[:, None] * math.sin(a)
        pattern = (np.sin(2 * math.pi * t / period) > 0).astype(np.float32)
    elif kind == 1:  # grid
        step = int(rng.integers(6, 40))
        pattern = np.zeros((rh, rw), np.float32)
        pattern[::step] = 1
        pattern[:, ::step] = 1
    elif kind == 2:  # dots
        pattern = np.zeros((rh, rw), np.float32)
        n = int(rng.integers(20, 200))
        for x, y in zip(rng.integers(0, rw, n), rng.integers(0, rh, n)):
            cv2.circle(pattern, (int(x), int(y)), int(rng.integers(1, 5)), 1.0, -1)
    else:  # bar code
        edges = np.cumsum(rng.integers(1, 6, rw))
        bars = np.searchsorted(edges, np.arange(rw), side="right") % 2
        pattern = np.broadcast_to(bars.astype(np.float32), (rh, rw))
    a = rng.uniform(0.2, 0.7) * pattern[..., None]
    region = img[y0:y1, x0:x1]
    region *= 1 - a
    region += a * _random_colour(rng)


def contrasting_colour(rng: np.random.Generator, background_luma: float,
                       contrast: Tuple[float, float] = (90.0, 255.0)) -> np.ndarray:
    """A random colour whose luma differs from ``background_luma`` by ``contrast`` = (at
    least, at most)."""
    lo, hi = contrast
    colour = _random_colour(rng)
    colour_luma = float(luma(colour))
    if background_luma > 128:  # dark text
        target = rng.uniform(max(background_luma - hi, 0.0), background_luma - lo)
        return colour * target / max(colour_luma, 1.0)
    target = rng.uniform(background_luma + lo, min(background_luma + hi, 255.0))
    return 255 - (255 - colour) * (255 - target) / max(255 - colour_luma, 1.0)


def _sample_patch(rng: np.random.Generator, fonts: Sequence[str], cfg: SynthConfig,
                  height: float, max_width: float) -> Optional[WordPatch]:
    """One word (or a don't-care mark) about ``height`` px tall, at most ``max_width`` wide;
    None if it does not fit or its font draws no ink for it (some fonts draw nothing at a
    few pixels)."""
    try:
        return _draw_patch(rng, fonts, cfg, height, max_width)
    except NoInkError:
        return None


def _draw_patch(rng: np.random.Generator, fonts: Sequence[str], cfg: SynthConfig,
                height: float, max_width: float) -> Optional[WordPatch]:
    if rng.random() < cfg.dont_care_prob:
        if rng.random() < 0.5:
            mask, box = render_marks(rng, rng.uniform(8, 30))
        else:  # a tiny blurred word
            mask, box = render_text(sample_word(rng), fonts[rng.integers(len(fonts))],
                                    rng.uniform(5, 9))
            mask = cv2.GaussianBlur(mask, (0, 0), rng.uniform(1.0, 1.6))
        warp = HomographyWarp.make(box, rng.uniform(-10, 10))
        return warp_patch(mask, box, warp, DONT_CARE, ignore=True)

    font = fonts[rng.integers(len(fonts))]
    for _ in range(5):  # shrink or pick a shorter word until it fits
        text = sample_word(rng, cfg.random_string_prob)
        mask, box = render_text(text, font, height)
        box_w, box_h = box[2] - box[0], box[3] - box[1]
        if box_w > max_width:
            height *= max_width / box_w
            if height < cfg.min_text_height:
                continue
            mask, box = render_text(text, font, height)
            box_w, box_h = box[2] - box[0], box[3] - box[1]
        break
    else:
        return None

    angle = 0.0  # most scene text is horizontal
    if rng.random() < 0.6:
        angle = float(np.clip(rng.normal(0, cfg.max_rotation / 3), -cfg.max_rotation,
                              cfg.max_rotation))
    max_span = box_w / (1.6 * box_h)  # keep the inner radius well above the text height
    if rng.random() < cfg.curved_prob and len(text) >= 4 and max_span >= 0.5:
        span = rng.uniform(0.5, min(2.0, max_span))
        warp = ArcWarp(box, span, arch=bool(rng.random() < 0.5), angle=angle / 2)
    else:
        shift = None
        if rng.random() < cfg.perspective_prob:
            shift = rng.uniform(-1, 1, (4, 2)) * np.array([0.1, 0.15]) * box_h
        warp = HomographyWarp.make(box, angle, shift)
    return warp_patch(mask, box, warp, text)


def _place(rng: np.random.Generator, patch: WordPatch, taken: List[Polygon], h: int, w: int,
           tries: int = 20) -> Optional[Tuple[int, int, Polygon]]:
    """A paste position (x, y) where the patch is inside the image and clear of ``taken``."""
    ph, pw = patch.alpha.shape
    if ph > h or pw > w:
        return None
    shape = Polygon(patch.polygon)
    if not shape.is_valid:
        return None
    gap = 0.25 * patch.height + 2
    for _ in range(tries):
        x, y = int(rng.integers(0, w - pw + 1)), int(rng.integers(0, h - ph + 1))
        moved = Polygon(patch.polygon + (x, y))
        if not any(moved.distance(t) < gap for t in taken):
            return x, y, moved
    return None


def generate_image(rng: np.random.Generator, fonts: Sequence[str],
                   cfg: SynthConfig = SynthConfig()) -> Tuple[np.ndarray, List[dict]]:
    """One synthetic image.

    Returns:
        image (H, W, 3) uint8 RGB, and one dict per instance with ``polygon`` (K, 2) float in
        image coordinates, ``text`` and ``ignore`` (bool).
    """
    j = cfg.size_jitter
    h = int(round(cfg.height * rng.uniform(1 - j, 1 + j)))
    w = int(round(cfg.width * rng.uniform(1 - j, 1 + j)))
    if cfg.photo_background_prob > 0 and rng.random() < cfg.photo_background_prob:
        img = photo_background(rng, h, w, background_files(cfg.background_dirs))
    else:
        img = _background(rng, h, w)

    lo, hi = math.log(cfg.min_text_height), math.log(cfg.max_text_height_frac * h)
    hi = max(lo, hi)
    regime = rng.random()
    if regime < cfg.small_text_prob:
        hi = lo + cfg.size_band * (hi - lo)
    elif regime < cfg.small_text_prob + cfg.large_text_prob:
        lo = hi - cfg.size_band * (hi - lo)
    num_words = rng.integers(cfg.min_words, cfg.max_words + 1)
    heights = np.sort(np.exp(rng.uniform(lo, hi, num_words)))
    placed, taken = [], []
    for height in heights[::-1]:  # large words first: they are the hardest to fit
        patch = _sample_patch(rng, fonts, cfg, height, 0.9 * w)
        spot = None if patch is None else _place(rng, patch, taken, h, w)
        if spot is not None:
            x, y, shape = spot
            placed.append((patch, x, y))
            taken.append(shape)

    for patch, x, y in placed:
        ph, pw = patch.alpha.shape
        region = img[y:y + ph, x:x + pw]
        pad = 0.2 * patch.height + 1
        if not patch.ignore and rng.random() < cfg.plate_prob:
            plate = Polygon(patch.polygon).buffer(pad, join_style=2).exterior.coords
            pts = (np.asarray(plate) + (x, y)).round().astype(np.int32)
            cv2.fillPoly(img, [pts], tuple(float(c) for c in _random_colour(rng)))
        a = patch.alpha[..., None]
        background_luma = float(luma((region * a).sum((0, 1)) / max(a.sum(), 1e-6)))
        contrast = (90.0, 255.0)
        if cfg.low_contrast_prob > 0 and rng.random() < cfg.low_contrast_prob:
            contrast = (35.0, 90.0)
        colour = contrasting_colour(rng, background_luma, contrast)
        if rng.random() < cfg.shadow_prob:
            d = max(1, int(round(0.06 * patch.height)))
            shadow = np.zeros_like(patch.alpha)
            shadow[d:, d:] = patch.alpha[:-d, :-d]
            s = 0.7 * shadow[..., None]
            region *= 1 - s
            region += s * (255.0 - colour)
        if rng.random() < 0.15:
            a = cv2.GaussianBlur(patch.alpha, (0, 0), rng.uniform(0.3, 0.8))[..., None]
        region *= 1 - a
        region += a * colour

    if cfg.lighting_prob > 0 and rng.random() < cfg.lighting_prob:
        img = _lighting(rng, img)
    if cfg.motion_blur_prob > 0 and rng.random() < cfg.motion_blur_prob:
        img = _motion_blur(rng, img)
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 1.0))
    if rng.random() < 0.6:
        img += rng.standard_normal(img.shape, dtype=np.float32) * rng.uniform(1, 6)
    image = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    if cfg.jpeg_prob > 0 and rng.random() < cfg.jpeg_prob:
        quality = int(rng.integers(25, 76))
        _, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    instances = [
        {"polygon": patch.polygon + (x, y), "text": patch.text, "ignore": patch.ignore}
        for patch, x, y in placed
    ]
    return image, instances


# --------------------------------------------------------------------------------------------
# Data set files
# --------------------------------------------------------------------------------------------
def _image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, SPLITS.index(split), index])


def _annotation(instance: dict) -> dict:
    """The JSON annotation of an instance (without ids)."""
    poly = instance["polygon"]
    x0, y0 = poly.min(0)
    x1, y1 = poly.max(0)
    return {
        "category_id": 1,
        "bbox": [round(float(v), 2) for v in (x0, y0, x1 - x0, y1 - y0)],
        "segmentation": [[round(float(v), 2) for v in poly.reshape(-1)]],
        "text": instance["text"],
        "ignore": int(instance["ignore"]),
        "iscrowd": 0,
        "area": round(float(Polygon(poly).area), 2),
    }


def _generate_one(job: Tuple[int, str, int, str, Tuple[str, ...], SynthConfig]):
    seed, split, index, image_dir, fonts, cfg = job
    image, instances = generate_image(_image_rng(seed, split, index), fonts, cfg)
    file_name = f"{index:06d}.jpg"
    Image.fromarray(image).save(os.path.join(image_dir, file_name), quality=JPEG_QUALITY)
    record = {"id": index + 1, "file_name": file_name, "height": image.shape[0],
              "width": image.shape[1]}
    return record, [_annotation(i) for i in instances]


def generate_split(out_dir: str, split: str, num_images: int, seed: int,
                   cfg: SynthConfig = SynthConfig(), workers: int = 1,
                   fonts: Optional[Sequence[str]] = None) -> str:
    """Write ``<out_dir>/<split>/*.jpg`` and ``<out_dir>/<split>.json``; returns the JSON path."""
    fonts = tuple(fonts or find_fonts())
    image_dir = os.path.join(out_dir, split)
    os.makedirs(image_dir, exist_ok=True)
    jobs = [(seed, split, i, image_dir, fonts, cfg) for i in range(num_images)]
    bar = dict(total=num_images, desc=f"synth {split}", unit="img", leave=False, mininterval=2.0)
    if workers > 1:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            results = list(tqdm(pool.imap(_generate_one, jobs, chunksize=4), **bar))
    else:
        results = [_generate_one(j) for j in tqdm(jobs, **bar)]
    images, annotations = [], []
    for record, anns in results:
        images.append(record)
        for ann in anns:
            annotations.append({"id": len(annotations) + 1, "image_id": record["id"], **ann})
    data = {"images": images, "annotations": annotations,
            "categories": [{"id": 1, "name": "text"}]}
    json_file = os.path.join(out_dir, f"{split}.json")
    with open(json_file, "w") as f:
        json.dump(data, f, separators=(",", ":"))
    return json_file


def generate_dataset(out_dir: str, num_train: int, num_val: int, seed: int = 0,
                     cfg: SynthConfig = SynthConfig(), workers: int = 2,
                     force: bool = False, font_dirs: Sequence[str] = ()) -> bool:
    """Write both splits and ``<out_dir>/params.json``; returns False if they already existed
    with the same parameters (nothing is regenerated then). ``font_dirs``: more fonts
    (:func:`find_fonts`)."""
    fonts = find_fonts(font_dirs)
    params = {"version": GENERATOR_VERSION, "seed": seed, "num_train": num_train,
              "num_val": num_val, "config": dataclasses.asdict(cfg),
              "fonts": [os.path.basename(f) for f in fonts]}
    params = json.loads(json.dumps(params))  # tuples as lists, as params.json reads back
    params_file = os.path.join(out_dir, "params.json")
    if not force and os.path.isfile(params_file):
        with open(params_file) as f:
            if json.load(f) == params and all(
                os.path.isfile(os.path.join(out_dir, f"{s}.json")) for s in SPLITS
            ):
                logger.info(f"{out_dir} already holds this synthetic set; not regenerating")
                return False
        os.remove(params_file)  # a partial run must not look complete
    start = time.perf_counter()
    for split, n in zip(SPLITS, (num_train, num_val)):
        generate_split(out_dir, split, n, seed, cfg, workers, fonts)
    seconds = time.perf_counter() - start
    logger.info(
        f"Generated {num_train + num_val} images in {seconds:.1f} s "
        f"({(num_train + num_val) / seconds:.1f} images/s, {workers} worker(s)) in {out_dir}"
    )
    with open(params_file, "w") as f:
        json.dump(params, f, indent=1)
    return True


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="datasets/synth", help="output folder")
    parser.add_argument("--num-train", type=int, default=2000)
    parser.add_argument("--num-val", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--height", type=int, default=SynthConfig.height, help="image height")
    parser.add_argument("--width", type=int, default=SynthConfig.width, help="image width")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--force", action="store_true", help="regenerate even if up to date")
    parser.add_argument("--fonts", nargs="+", default=[], metavar="DIR",
                        help="folders of more .ttf/.otf fonts (those with all Latin letters "
                             "and digits are used)")
    parser.add_argument("--backgrounds", nargs="+", default=[], metavar="DIR",
                        help="folders of text-free photographs used as backgrounds")
    parser.add_argument("--photo-background-prob", type=float, default=0.5,
                        help="share of images on a photograph when --backgrounds is given")
    parser.add_argument("--degrade", action="store_true",
                        help="add the degradations of photographed text: low contrast, "
                             "lighting and shadow, motion blur, JPEG")
    args = parser.parse_args(argv)
    for name in ("num_train", "num_val"):
        if getattr(args, name) < 0:
            parser.error(f"--{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}")
    if args.workers < 1:
        parser.error(f"--workers must be >= 1, got {args.workers}")
    min_side = math.ceil(4 * SynthConfig.min_text_height)  # room for the smallest words
    for name in ("height", "width"):
        if getattr(args, name) < min_side:
            parser.error(f"--{name} must be at least {min_side} px (4x the smallest word "
                         f"height, {SynthConfig.min_text_height:g} px), got {getattr(args, name)}")
    if not 0 <= args.photo_background_prob <= 1:
        parser.error(f"--photo-background-prob must be in [0, 1], got "
                     f"{args.photo_background_prob}")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    extra = {}
    if args.backgrounds:
        extra.update(background_dirs=tuple(os.path.abspath(d) for d in args.backgrounds),
                     photo_background_prob=args.photo_background_prob)
    if args.degrade:
        extra.update(REAL_DEGRADATIONS)
    cfg = SynthConfig(height=args.height, width=args.width, **extra)
    try:
        if cfg.background_dirs:
            logger.info(f"{len(background_files(cfg.background_dirs))} background photographs "
                        f"in {', '.join(cfg.background_dirs)}, used for "
                        f"{cfg.photo_background_prob:.0%} of the images")
        generate_dataset(args.out, args.num_train, args.num_val, args.seed, cfg, args.workers,
                         args.force, args.fonts)
    except (FileNotFoundError, ValueError) as e:
        parser.exit(2, f"error: {e}\n")


if __name__ == "__main__":
    main()

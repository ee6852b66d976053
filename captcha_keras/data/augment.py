"""Label-preserving augmentation for small sets of real captchas.

Small affine jitter (shift, rotation, scale), blur and pixel noise, the
changes a captcha generator makes from one image to the next. Everything is
drawn from a `numpy.random.Generator`, so a batch is a pure function of its
seed. Works on uint8 arrays `(n, height, width, channels)`.
"""

import dataclasses
import math

import numpy as np
from PIL import Image
from PIL import ImageFilter


@dataclasses.dataclass
class Augmentation:
    """How strong each change may be.

    Args:
        shift: float. Largest shift, as a fraction of width and height.
        rotation: float. Largest rotation in degrees.
        scale: float. Largest relative zoom in or out.
        blur: float. Probability of a Gaussian blur of radius up to 1 pixel.
        noise: float. Largest standard deviation of added Gaussian noise, in
            grey levels.
    """

    shift: float = 0.05
    rotation: float = 5.0
    scale: float = 0.08
    blur: float = 0.3
    noise: float = 8.0

    def __call__(self, images, rng):
        """Returns augmented copies of `images` (uint8), one draw per image."""
        return np.stack([self.one(image, rng) for image in images])

    def one(self, image, rng):
        height, width, channels = image.shape
        pil = Image.fromarray(image[..., 0] if channels == 1 else image)
        fill = _border_colour(image)
        angle = math.radians(rng.uniform(-self.rotation, self.rotation))
        zoom = 1.0 + rng.uniform(-self.scale, self.scale)
        dx = rng.uniform(-self.shift, self.shift) * width
        dy = rng.uniform(-self.shift, self.shift) * height
        pil = pil.transform(
            (width, height),
            Image.Transform.AFFINE,
            _inverse_affine(width / 2, height / 2, angle, zoom, dx, dy),
            resample=Image.Resampling.BILINEAR,
            fillcolor=fill if channels > 1 else fill[0],
        )
        if rng.random() < self.blur:
            pil = pil.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
        array = np.asarray(pil, dtype="float32").reshape(height, width, channels)
        sigma = rng.uniform(0.0, self.noise)
        if sigma > 0:
            array = array + rng.normal(0.0, sigma, array.shape)
        return np.clip(array, 0, 255).astype("uint8")


def _border_colour(image):
    """Median colour of the border: what appears where the image moved away."""
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    return tuple(int(v) for v in np.median(border, axis=0))


def _inverse_affine(cx, cy, angle, zoom, dx, dy):
    """PIL's AFFINE maps output to input pixels: the inverse of rotate-zoom-shift about the centre."""
    cos, sin = math.cos(angle) / zoom, math.sin(angle) / zoom
    # input = R^-1 (output - centre - shift) + centre
    a, b = cos, sin
    d, e = -sin, cos
    c = cx - a * (cx + dx) - b * (cy + dy)
    f = cy - d * (cx + dx) - e * (cy + dy)
    return (a, b, c, d, e, f)

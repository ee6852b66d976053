"""Reading captchas inside a TensorFlow graph: encoded bytes in, texts out.

The SavedModel's `serving_default` signature is built from these functions,
so that TensorFlow Serving (or any TensorFlow runtime) reads captchas with
no Python code of ours. Each step repeats what `Reader` does in Python,
on the same integer arithmetic where Pillow's is exact:

- decoding: PNG, JPEG (libjpeg's accurate integer DCT, as Pillow's), GIF
  (every frame, fused as `images.fuse_frames` does), BMP, with the pixel
  count checked from the header first;
- transparency composited onto white with Pillow's `alpha_composite`
  formula, then Pillow's `convert("L")` weights;
- padding to the input's aspect ratio with the border's median colour
  (`keep_aspect` runs), and a resize done as Pillow does it: horizontal
  pass, rounding to 8 bits, vertical pass;
- decoding the outputs: for CTC the best path whose length lies within the
  run's label lengths (`decoding.best_path_within`), its confidence the
  text's probability over every alignment (`readings.ctc_text_probability`,
  here the CTC loss's forward pass); for multi-head the most likely class of
  each head, the product of their probabilities; both after the run's
  calibration temperature (`inference.calibration`).

Known differences from the Python path: a resize's weights are exact
floats here and 22-bit fixed point in Pillow (a pixel may differ by one
level); a GIF's transparent pixels are not composited (TensorFlow's
decoder drops the transparency), and its frames are counted only once
TensorFlow has decoded them all (Python counts them first); 16-bit PNGs keep their high byte where
Pillow rescales their range; a JPEG's EXIF orientation is not applied
(Pillow's path turns the image upright); WebP is refused.
"""

import tensorflow as tf

from captcha_keras.images import FUSIONS
from captcha_keras.images import MAX_FRAMES

# The first bytes of each format the graph decodes.
_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG"
_GIF_MAGIC = b"GIF8"
_BMP_MAGIC = b"BM"


def _uint(contents, offset, size, big_endian):
    """An unsigned integer stored at `offset` of a byte string (InvalidArgumentError past its end)."""
    raw = tf.io.decode_raw(tf.strings.substr(contents, offset, size) + b"\x00" * size, tf.uint8)[:size]
    raw = tf.cast(raw, tf.int64)
    weights = tf.constant([256**i for i in (range(size - 1, -1, -1) if big_endian else range(size))], tf.int64)
    return tf.reduce_sum(raw * weights)


def header_pixels(contents):
    """Width x height (float64, so that no product overflows) from an image's header, without decoding it.

    -1 for a format the graph does not decode (WebP, for one, which
    `decode_image` would otherwise decode without this check).
    """
    magic4 = tf.strings.substr(contents, 0, 4)
    is_png = tf.equal(magic4, _PNG_MAGIC)
    is_gif = tf.equal(magic4, _GIF_MAGIC)
    is_bmp = tf.equal(tf.strings.substr(contents, 0, 2), _BMP_MAGIC)
    is_jpeg = tf.equal(tf.strings.substr(contents, 0, 3), _JPEG_MAGIC)

    def jpeg():
        shape = tf.cast(tf.image.extract_jpeg_shape(contents), tf.float64)
        return shape[0] * shape[1]

    def product(a, b):
        return tf.cast(a, tf.float64) * tf.cast(b, tf.float64)

    return tf.case(
        [
            (is_png, lambda: product(_uint(contents, 16, 4, True), _uint(contents, 20, 4, True))),
            (is_gif, lambda: product(_uint(contents, 6, 2, False), _uint(contents, 8, 2, False))),
            # BMP heights are negative for top-down files.
            (is_bmp, lambda: product(_uint(contents, 18, 4, False), tf.abs(_signed32(_uint(contents, 22, 4, False))))),
            (is_jpeg, jpeg),
        ],
        default=lambda: tf.constant(-1.0, tf.float64),
    )


def _signed32(value):
    return tf.where(value >= 2**31, value - 2**32, value)


def decode_rgba(contents, max_pixels, fusion="mean"):
    """Decodes one encoded image to int32 RGBA `(h, w, 4)`, opaque where it has no alpha.

    Raises (when run) `InvalidArgumentError` for bytes that are not a PNG,
    JPEG, GIF or BMP, for a truncated or corrupt file, and for an image of
    more than `max_pixels` pixels (checked from the header before it is
    decoded; a GIF's frames are decoded whole by TensorFlow, so the limit
    holds for its screen size only).
    """
    pixels = header_pixels(contents)
    checks = [
        tf.debugging.assert_non_negative(
            pixels, message="Not an image this model reads: PNG, JPEG, GIF (first frame) or BMP."
        ),
        tf.debugging.assert_less_equal(
            pixels,
            tf.constant(float(max_pixels), tf.float64),
            message=f"The image has more pixels than this model accepts ({max_pixels:,}).",
        ),
    ]
    with tf.control_dependencies(checks):
        is_jpeg = tf.equal(tf.strings.substr(contents, 0, 3), _JPEG_MAGIC)
        is_gif = tf.equal(tf.strings.substr(contents, 0, 4), _GIF_MAGIC)
        # Pillow decodes JPEG with libjpeg's accurate integer DCT; decode_image
        # would use the fast one, a level or two off on many pixels.
        image = tf.case(
            [
                (is_jpeg, lambda: tf.io.decode_jpeg(contents, channels=0, dct_method="INTEGER_ACCURATE")),
                (is_gif, lambda: fuse_gif_frames(tf.io.decode_gif(contents), max_pixels, fusion)),
            ],
            default=lambda: tf.io.decode_image(contents, channels=0, expand_animations=False),
        )
    image = tf.cast(image, tf.int32)
    channels = tf.shape(image)[-1]
    # 1: L, 2: LA, 3: RGB, 4: RGBA (a palette with a transparent index comes as RGBA).
    rgb = tf.cond(channels < 3, lambda: tf.tile(image[..., :1], [1, 1, 3]), lambda: image[..., :3])
    opaque = tf.fill(tf.concat([tf.shape(image)[:2], [1]], 0), 255)
    # A 32-bit BMP's fourth byte is padding to Pillow and to browsers, not alpha.
    is_bmp = tf.equal(tf.strings.substr(contents, 0, 2), _BMP_MAGIC)
    has_alpha = tf.equal(channels % 2, 0) & ~is_bmp
    alpha = tf.cond(has_alpha, lambda: image[..., -1:], lambda: opaque)
    alpha = tf.cond(
        tf.equal(tf.strings.substr(contents, 0, 4), _PNG_MAGIC) & ~has_alpha,
        lambda: _colour_key_alpha(contents, rgb, alpha),
        lambda: alpha,
    )
    return tf.concat([rgb, alpha], axis=-1)


def fuse_gif_frames(frames, max_pixels, fusion):
    """`images.fuse_frames` in the graph: `(n, h, w, 3)` uint8 frames to `(h, w, 3)` uint8.

    Refuses (when run) more than `MAX_FRAMES` frames or frames x pixels past
    `max_pixels`, as Python does, though only after TensorFlow decoded them.
    """
    if fusion not in FUSIONS:
        raise ValueError(f"Unknown fusion. Expected one of {FUSIONS}. Received: fusion={fusion!r}")
    shape = tf.shape(frames, out_type=tf.int64)
    total = tf.cast(tf.reduce_prod(shape[:3]), tf.float64)
    checks = [
        tf.debugging.assert_less_equal(
            shape[0], tf.constant(MAX_FRAMES, tf.int64), message=f"An animation of more than {MAX_FRAMES} frames."
        ),
        tf.debugging.assert_less_equal(
            total,
            tf.constant(float(max_pixels), tf.float64),
            message=f"The animation's frames hold more pixels than this model accepts ({max_pixels:,}).",
        ),
    ]
    with tf.control_dependencies(checks):
        stack = tf.cast(frames, tf.float64)
    n = tf.shape(frames)[0]
    if fusion == "first":
        fused = stack[0]
    elif fusion == "darkest":
        fused = tf.reduce_min(stack, axis=0)
    elif fusion == "lightest":
        fused = tf.reduce_max(stack, axis=0)
    elif fusion == "mean":
        fused = tf.round(tf.reduce_mean(stack, axis=0))  # half to even, as np.rint
    elif fusion == "median":
        ordered = tf.sort(stack, axis=0)
        fused = tf.round((tf.gather(ordered, (n - 1) // 2) + tf.gather(ordered, n // 2)) / 2)
    else:
        # As NumPy: luma in thousandths of a level, the median of every pixel's (the mean of the two
        # middle ones for an even count), and per pixel the first frame farthest from it.
        weighted = tf.tensordot(tf.cast(frames, tf.int32), tf.constant([299, 587, 114], tf.int32), axes=1)
        luma = tf.cast(weighted, tf.float64) / 1000
        ordered = tf.sort(tf.reshape(luma, [-1]))
        count = tf.shape(ordered)[0]
        median = (ordered[(count - 1) // 2] + ordered[count // 2]) / 2
        pick = tf.argmax(tf.abs(luma - median), axis=0, output_type=tf.int32)
        fused = tf.reduce_sum(stack * tf.one_hot(pick, n, axis=0, dtype=tf.float64)[..., None], axis=0)
    return tf.cast(fused, tf.uint8)


def _colour_key_alpha(contents, rgb, alpha):
    """Alpha 0 where an 8-bit grey or RGB PNG's pixels equal its tRNS colour key.

    TensorFlow's decoder ignores that key (it applies a palette's tRNS
    only); Pillow and browsers show those pixels as transparent.
    """
    colour_type = _uint(contents, 25, 1, True)
    bit_depth = _uint(contents, 24, 1, True)
    before = tf.strings.split(contents, b"tRNS", maxsplit=1)
    has_key = (tf.size(before) == 2) & tf.equal(bit_depth, 8) & ((colour_type == 0) | (colour_type == 2))

    def keyed():
        at = tf.strings.length(before[0]) + 4
        # Each sample of the key is 16-bit big-endian; an 8-bit image uses the low byte.
        grey = _uint(contents, at + 1, 1, True)
        key = tf.cond(
            tf.equal(colour_type, 0),
            lambda: tf.stack([grey, grey, grey]),
            lambda: tf.stack([_uint(contents, at + 1 + 2 * i, 1, True) for i in range(3)]),
        )
        matches = tf.reduce_all(tf.equal(rgb, tf.cast(key, tf.int32)), axis=-1, keepdims=True)
        return tf.where(matches, 0, alpha)

    return tf.cond(has_key, keyed, lambda: alpha)


def onto_white(rgba):
    """Composites int32 RGBA onto white: Pillow's `alpha_composite` with an opaque white base.

    Returns int32 RGB.
    """
    rgb, alpha = rgba[..., :3], rgba[..., 3:]
    # AlphaComposite.c with PRECISION_BITS = 7 and an opaque destination:
    # coef1 = a * 128, coef2 = (255 - a) * 128.
    blended = rgb * (alpha * 128) + 255 * ((255 - alpha) * 128) + (0x80 << 7)
    shift = tf.bitwise.right_shift
    blended = shift(shift(shift(blended, 8) + blended, 8), 7)
    return tf.where(alpha == 0, 255, blended)


def to_luminance(rgb):
    """Pillow's `convert("L")`: (R*19595 + G*38470 + B*7471 + 0x8000) >> 16, int32 `(h, w, 1)`."""
    weights = tf.constant([19595, 38470, 7471], tf.int32)
    return tf.bitwise.right_shift(tf.reduce_sum(rgb * weights, axis=-1, keepdims=True) + 0x8000, 16)


def pad_to_aspect(image, aspect):
    """`images._pad_to_aspect` in the graph: centred on the border's median colour."""
    h, w = tf.shape(image)[0], tf.shape(image)[1]
    hf, wf = tf.cast(h, tf.float64), tf.cast(w, tf.float64)
    # Python's round() rounds half to even, as tf.round does.
    target_w = tf.maximum(w, tf.cast(tf.round(hf * aspect), tf.int32))
    target_h = tf.maximum(h, tf.cast(tf.round(wf / aspect), tf.int32))
    border = tf.concat([image[0], image[-1], image[:, 0], image[:, -1]], axis=0)
    ordered = tf.sort(border, axis=0)
    n = tf.shape(ordered)[0]
    # np.median averages the two middle values; int() then truncates.
    median = (ordered[(n - 1) // 2] + ordered[n // 2]) // 2
    top, left = (target_h - h) // 2, (target_w - w) // 2
    paddings = [[top, target_h - h - top], [left, target_w - w - left], [0, 0]]
    return tf.pad(image - median, paddings) + median


def _round_to_levels(x):
    return tf.clip_by_value(tf.floor(x + 0.5), 0.0, 255.0)


def resize_like_pillow(image, height, width):
    """Pillow's BILINEAR resize (antialiased when shrinking) on int32 `(h, w, c)`.

    Pillow resizes horizontally, rounds to 8 bits, then vertically; doing
    the same keeps the two a level apart at most.

    Returns float32 `(height, width, c)` with whole 0-255 values.
    """
    x = tf.cast(image, tf.float32)[None]
    h = tf.shape(x)[1]

    def horizontal():
        return _round_to_levels(tf.image.resize(x, tf.stack([h, width]), "bilinear", antialias=True))

    x = tf.cond(tf.equal(tf.shape(x)[2], width), lambda: x, horizontal)
    x = tf.cond(
        tf.equal(h, height),
        lambda: x,
        lambda: _round_to_levels(tf.image.resize(x, [height, width], "bilinear", antialias=True)),
    )
    return tf.ensure_shape(x[0], (height, width, None))


def preprocess(contents, config, max_pixels):
    """One encoded image as the model's float32 input `(height, width, channels)`, 0-255."""
    rgb = onto_white(decode_rgba(contents, max_pixels, config.fusion))
    image = to_luminance(rgb) if config.channels == 1 else rgb
    if config.keep_aspect:
        image = pad_to_aspect(image, config.width / config.height)
    image = resize_like_pillow(image, config.height, config.width)
    return tf.ensure_shape(image, (config.height, config.width, config.channels))


def preprocess_batch(contents, config, max_pixels):
    """A batch of encoded images `(n,)` as the model's input `(n, height, width, channels)`."""
    spec = tf.TensorSpec((config.height, config.width, config.channels), tf.float32)
    return tf.map_fn(lambda c: preprocess(c, config, max_pixels), contents, fn_output_signature=spec)


def ctc_best_path_within(log_probs, min_length, max_length, blank_index):
    """`decoding.best_path_within` in the graph: the best CTC path of an allowed length.

    Args:
        log_probs: float64 `(batch, time_steps, symbols)`; `time_steps` static.
        min_length, max_length: int. The label lengths a text may have.
        blank_index: int. The blank's symbol index.

    Returns:
        `(path, log_probability)`: int32 `(batch, time_steps)` symbols of the
        best path, and its float64 log-probability (`-inf` where no path
        has an allowed length).
    """
    time_steps, symbols = log_probs.shape[1], log_probs.shape[2]
    batch = tf.shape(log_probs)[0]
    states = max_length + 1
    counts = tf.range(states)[None, :, None]
    symbol = tf.range(symbols)[None, None, :]
    is_blank = tf.equal(symbol, blank_index)
    minus_inf = tf.constant(-float("inf"), tf.float64)
    # score[b, k, s]: best log-probability of a path with k labels so far whose last frame is s.
    first_frame = log_probs[:, 0][:, None, :]
    score = tf.where(
        (tf.equal(counts, 0) & is_blank) | (tf.equal(counts, 1) & ~is_blank),
        tf.broadcast_to(first_frame, [batch, states, symbols]),
        minus_inf,
    )
    back_k, back_s = [], []
    for t in range(1, time_steps):
        # A new label c at count k follows count k-1 ending in any symbol but c.
        top = tf.math.top_k(score, k=2)
        first, second = top.values[..., :1], top.values[..., 1:]
        first_at, second_at = top.indices[..., :1], top.indices[..., 1:]
        is_first = tf.equal(symbol, first_at)
        new_score = tf.where(is_first, second, first)
        new_from = tf.where(is_first, second_at, first_at)
        new_score = tf.concat([tf.fill([batch, 1, symbols], minus_inf), new_score[:, :-1]], axis=1)
        new_from = tf.concat([tf.zeros([batch, 1, symbols], tf.int32), new_from[:, :-1]], axis=1)
        stay = score >= new_score
        step = tf.where(stay, score, new_score)
        from_k = tf.where(stay, counts, counts - 1)
        from_s = tf.where(stay, symbol, new_from)
        # A blank keeps the count and may follow any symbol.
        step = tf.where(is_blank, first, step)
        from_k = tf.where(is_blank, counts, from_k)
        from_s = tf.where(is_blank, first_at, from_s)
        back_k.append(from_k)
        back_s.append(from_s)
        score = step + log_probs[:, t][:, None, :]
    allowed = tf.reshape(score[:, min_length:], [batch, -1])
    best = tf.argmax(allowed, axis=1, output_type=tf.int32)
    log_p = tf.reduce_max(allowed, axis=1)
    k, s = best // symbols + min_length, best % symbols
    rows = tf.range(batch)
    path = [s]
    for t in range(time_steps - 1, 0, -1):
        at = tf.stack([rows, k, s], axis=1)
        k, s = tf.gather_nd(back_k[t - 1], at), tf.gather_nd(back_s[t - 1], at)
        path.append(s)
    return tf.stack(path[::-1], axis=1), log_p


def ctc_texts(probs, config):
    """Texts and confidences of CTC probabilities, as `Reader` reads them (greedy).

    The confidence is the text's probability summed over its alignments:
    `exp(-ctc_loss)` of the decoded labels, as `readings.ctc_text_probability`.
    """
    charset = config.charset
    blank = len(charset)
    probs = tf.cast(probs, tf.float32)
    # As decoding.decode_ctc: exact zeros never used, even where lengths force a path.
    log_probs = tf.where(probs <= 0, -1e9, tf.math.log(tf.clip_by_value(probs, 1e-12, 1.0)))
    log_probs = _calibrated(log_probs, probs, config.temperature)
    path, log_p = ctc_best_path_within(tf.cast(log_probs, tf.float64), config.min_length, config.max_length, blank)
    previous = tf.concat([tf.fill([tf.shape(path)[0], 1], -1), path[:, :-1]], axis=1)
    keep = tf.not_equal(path, blank) & tf.not_equal(path, previous)
    characters = tf.gather(tf.constant(list(charset) + [""]), path)
    texts = tf.strings.reduce_join(tf.where(keep, characters, ""), axis=1)
    found = log_p > -float("inf")
    labels = tf.ragged.boolean_mask(path, keep)
    # At least one column: a batch of empty texts still makes a label matrix.
    dense = labels.to_tensor(default_value=0, shape=[None, max(config.max_length, 1)])
    time_steps = tf.fill([tf.shape(path)[0]], tf.shape(path)[1])
    # ctc_loss takes logits; log-probabilities are their own log-softmax.
    loss = tf.nn.ctc_loss(
        dense,
        tf.cast(log_probs, tf.float32),
        tf.cast(labels.row_lengths(), tf.int32),
        time_steps,
        logits_time_major=False,
        blank_index=blank,
    )
    return tf.where(found, texts, ""), tf.where(found, tf.exp(-loss), 0.0)


def _calibrated(log_probs, probs, temperature):
    """Log-probabilities scaled by the run's temperature, as `calibration.scale_probabilities`
    (an exact zero stays impossible)."""
    if temperature == 1.0:
        return log_probs
    scaled = tf.nn.log_softmax(log_probs / temperature, axis=-1)
    return tf.where(probs <= 0, -1e9, scaled)


def head_texts(outputs, charset, temperature=1.0):
    """Texts and confidences of a multi-head model's outputs `{"c1": (n, classes), ...}`.

    The class `len(charset)` ("no character", variable lengths) reads as nothing.
    """
    from captcha_keras.inference.decoding import head_list

    heads = head_list(outputs)
    stacked = tf.cast(tf.stack(heads, axis=1), tf.float32)
    if temperature != 1.0:
        log_probs = tf.where(stacked <= 0, -1e9, tf.math.log(tf.clip_by_value(stacked, 1e-12, 1.0)))
        stacked = tf.exp(_calibrated(log_probs, stacked, temperature))
    best = tf.argmax(stacked, axis=-1, output_type=tf.int32)
    characters = tf.gather(tf.constant(list(charset) + [""]), best)
    confidence = tf.reduce_prod(tf.reduce_max(stacked, axis=-1), axis=-1)
    return tf.strings.reduce_join(characters, axis=1), confidence


def reading_function(model, config, max_pixels):
    """A `tf.function` from encoded images `(n,)` tf.string to `{"text", "confidence"}`.

    Args:
        model: callable. The (folded) Keras model, float32 0-255 input.
        config: `RunConfig`. Input size, charset, lengths, family.
        max_pixels: int. Larger images are refused before they are decoded.
    """

    @tf.function(input_signature=[tf.TensorSpec((None,), tf.string, name="images")])
    def read(images):
        outputs = model(preprocess_batch(images, config, max_pixels), training=False)
        if config.family == "ctc":
            texts, confidences = ctc_texts(outputs, config)
        else:
            texts, confidences = head_texts(outputs, config.charset, config.temperature)
        return {"text": texts, "confidence": confidences}

    return read

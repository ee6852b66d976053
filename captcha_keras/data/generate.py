"""Write a folder of synthetic captchas named `<label>_<index>.png`, `.gif` for `--style gif` (generate.py)."""

import concurrent.futures
import dataclasses
import math
import multiprocessing
import os
import time

import tqdm
from PIL import Image

from captcha_keras.data.files import UNSAFE_IN_NAMES
from captcha_keras.data.folder import list_folder_images


@dataclasses.dataclass
class GenerateResult:
    """What `generate_folder` wrote: `count` images into `folder` in `seconds`."""

    folder: str
    count: int
    seconds: float

    @property
    def rate(self):
        """Images written per second."""
        return self.count / max(self.seconds, 1e-9)

    def summary(self):
        return f"wrote {self.count:,} captchas to {self.folder} in {self.seconds:.1f} s ({self.rate:,.0f} images/s)"


def generated_name(label, index, count, extension=".png"):
    """`<label>_<index>.png`, the index zero-padded to the width of `count - 1`.

    Example:

    >>> generated_name("AB12", 7, 1000)
    'AB12_007.png'
    """
    return f"{label}_{index:0{len(str(max(count - 1, 0)))}d}{extension}"


def _write_batch(dataset, batch, start, stop, out, count):
    """Draws batch `batch` and writes its images `start..stop-1` (global indices): PNGs, or the
    animated GIFs themselves for the `gif` style (whose fused frames the stream draws)."""
    from captcha_keras.data.styles import encode_animation
    from captcha_keras.data.styles import render_animation
    from captcha_keras.data.synthetic import draw_one_batch

    first = batch * dataset.batch_size
    if dataset.style == "gif":
        texts, seeds, _ = dataset.plan_batch(batch)
        for index in range(start, stop):
            text, seed = texts[index - first], int(seeds[index - first])
            # In colour even with --grayscale: a gray run reads the fused frames in gray, as training draws them.
            frames = render_animation(text, seed, dataset.width, dataset.height)
            with open(os.path.join(out, generated_name(text, index, count, ".gif")), "wb") as f:
                f.write(encode_animation(frames))
        return stop - start
    images, texts = draw_one_batch(dataset, batch)
    for index in range(start, stop):
        image = images[index - first]
        # PIL wants a 2-D array for one channel.
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(
            os.path.join(out, generated_name(texts[index - first], index, count))
        )
    return stop - start


def generate_folder(
    out,
    count,
    charset="alnum_upper",
    width=128,
    height=64,
    length=4,
    seed=0,
    stream="train",
    grayscale=False,
    workers=2,
    force=False,
    batch_size=128,
    progress=True,
    style="captcha",
):
    """Writes `count` synthetic captchas to a folder as `<label>_<index>.png`.

    Image `index` is image `index % batch_size` of batch `index // batch_size`
    of `SyntheticCaptchas(seed=seed, stream=stream, batch_size=batch_size)`,
    so a folder does not depend on `workers` and its first images do not
    depend on `count`. With the training defaults (stream `"train"`, batch
    size 128) the folder holds the very captchas a training run with that
    seed draws: use another seed or stream for test data.

    Args:
        out: str. The folder; created if missing.
        count: int. Images to write.
        charset: str or `Charset`. A preset name or literal characters.
            Defaults to `"alnum_upper"`.
        width: int. Image width. Defaults to 128.
        height: int. Image height. Defaults to 64.
        length: int, `(min, max)` or `"4-6"`. Label length. Defaults to 4.
        seed: int. Defaults to 0.
        stream: str. `"train"`, `"validation"` or `"test"`. Defaults to `"train"`.
        grayscale: bool. One-channel PNGs. Defaults to False.
        workers: int. Processes drawing and writing. Defaults to 2.
        force: bool. Write into a folder that already holds images (files
            of the same name are replaced). Defaults to False.
        batch_size: int. Images per drawn batch. Defaults to 128.
        progress: bool. Show a progress bar. Defaults to True.
        style: str. `"captcha"`, a style of `data.styles`, or `"mix"`.
            Defaults to `"captcha"`.

    Returns:
        A `GenerateResult`.

    Raises:
        ValueError: a bad argument.
        FileExistsError: `out` holds images and `force` is False.

    Example:

    >>> generate_folder("/tmp/digits", 10, charset="digits", progress=False).count
    10
    """
    from captcha_keras.data.synthetic import SyntheticCaptchas

    for name, value in (
        ("count", count),
        ("width", width),
        ("height", height),
        ("workers", workers),
        ("batch_size", batch_size),
    ):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
    steps = math.ceil(count / batch_size)
    dataset = SyntheticCaptchas(
        charset=charset,
        width=width,
        height=height,
        length=length,
        batch_size=batch_size,
        steps=steps,
        seed=seed,
        stream=stream,
        grayscale=grayscale,
        family=None,
        style=style,
    )
    unsafe = sorted(set(dataset.charset.characters) & set(UNSAFE_IN_NAMES))
    blank = sorted(c for c in dataset.charset.characters if c.isspace())
    if unsafe or blank:
        # Labels live in file names, which cannot hold these and lose outer spaces.
        raise ValueError(
            f"A charset for file-name labels cannot hold {''.join(unsafe + blank)!r}. "
            f"Received: charset={dataset.charset.characters!r}"
        )
    if os.path.exists(out) and not os.path.isdir(out):
        raise FileExistsError(f"{out} is a file, not a folder.")
    existing = list_folder_images(out) if os.path.isdir(out) else []
    if existing and not force:
        raise FileExistsError(
            f"{out} already holds {len(existing):,} images; choose an empty folder, or pass --force "
            "(force=True) to write into it anyway."
        )
    os.makedirs(out, exist_ok=True)
    tasks = [(b, b * batch_size, min((b + 1) * batch_size, count)) for b in range(steps)]
    bar = tqdm.tqdm(total=count, desc="generating", unit="img", disable=not progress)
    started = time.perf_counter()
    if workers > 1 and len(tasks) > 1:
        # Fork: the children only draw with PIL and numpy and start at once.
        context = multiprocessing.get_context("fork")
        with concurrent.futures.ProcessPoolExecutor(min(workers, len(tasks)), mp_context=context) as pool:
            futures = [pool.submit(_write_batch, dataset, b, start, stop, out, count) for b, start, stop in tasks]
            for future in concurrent.futures.as_completed(futures):
                bar.update(future.result())
    else:
        for b, start, stop in tasks:
            bar.update(_write_batch(dataset, b, start, stop, out, count))
    bar.close()
    return GenerateResult(folder=out, count=count, seconds=time.perf_counter() - started)

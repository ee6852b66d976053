import numpy as np
import pytest

from captcha_keras.data.cache import CachedCaptchas
from captcha_keras.data.synthetic import SyntheticCaptchas


def source():
    return SyntheticCaptchas("digits", 64, 32, 3, batch_size=8, steps=1, seed=4, family=None)


def test_pool_is_drawn_from_the_stream_and_refreshed_each_epoch():
    cache = CachedCaptchas(source(), pool_size=32, batch_size=8, refresh=0.5, workers=1, family="ctc")
    try:
        expected = [t for i in range(4) for t in source().draw_batch(i)[1]]
        assert cache.texts == expected and len(cache) == 4
        images, labels = cache[0]
        assert images.shape == (8, 32, 64, 3) and labels.shape == (8, 3)
        before = list(cache.texts)
        cache.on_epoch_end()
        # Half the pool (the two oldest chunks) now holds the stream's next batches.
        assert cache.texts[:16] == [t for i in (4, 5) for t in source().draw_batch(i)[1]]
        assert cache.texts[16:] == before[16:]
    finally:
        cache.close()


def test_batches_cover_the_pool_and_are_seeded():
    a = CachedCaptchas(source(), pool_size=32, batch_size=8, refresh=0.0, workers=1)
    b = CachedCaptchas(source(), pool_size=32, batch_size=8, refresh=0.0, workers=1)
    # One epoch shows every pooled image once, in the same order for the same seed.
    texts_a = [t for i in range(len(a)) for t in decode(a[i][1])]
    assert sorted(texts_a) == sorted(a.texts)
    assert texts_a == [t for i in range(len(b)) for t in decode(b[i][1])]
    a.on_epoch_end()
    assert [t for i in range(len(a)) for t in decode(a[i][1])] != texts_a


def decode(labels):
    from captcha_keras.charset import Charset
    from captcha_keras.charset import decode_labels

    return decode_labels(labels, Charset("digits"))


def test_bad_refresh_is_rejected():
    with pytest.raises(ValueError, match="refresh"):
        CachedCaptchas(source(), pool_size=16, refresh=2.0, workers=1)

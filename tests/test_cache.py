import multiprocessing

import numpy as np
import pytest

from captcha_keras.data.cache import CachedCaptchas
from captcha_keras.data.synthetic import SyntheticCaptchas


def source():
    return SyntheticCaptchas("digits", 64, 32, 3, batch_size=8, steps=1, seed=4, family=None)


def end_epoch(cache):
    """What Keras calls around an epoch that trains."""
    cache.on_epoch_begin()
    cache.on_epoch_end()


def test_pool_is_drawn_from_the_stream_and_refreshed_each_epoch():
    cache = CachedCaptchas(source(), pool_size=32, batch_size=8, refresh=0.5, workers=1, family="ctc")
    try:
        expected = [t for i in range(4) for t in source().draw_batch(i)[1]]
        assert cache.texts == expected and len(cache) == 4
        images, labels = cache[0]
        assert images.shape == (8, 32, 64, 3) and labels.shape == (8, 3)
        before = list(cache.texts)
        end_epoch(cache)
        # Half the pool (the two oldest chunks) now holds the stream's next batches.
        assert cache.texts[:16] == [t for i in (4, 5) for t in source().draw_batch(i)[1]]
        assert cache.texts[16:] == before[16:]
    finally:
        cache.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_redrawing_between_epochs_or_in_the_background_fills_the_same_pool(workers):
    between = CachedCaptchas(source(), pool_size=32, batch_size=8, refresh=0.5, workers=workers)
    behind = CachedCaptchas(source(), pool_size=32, batch_size=8, refresh=0.5, workers=workers, background=True)
    try:
        for _ in range(3):
            end_epoch(between)
            end_epoch(behind)
            assert between.texts == behind.texts
            np.testing.assert_array_equal(between.images, behind.images)
        # Three redraws of two chunks each: the pool holds batches 6..9 of the stream.
        assert between.texts == [t for i in (8, 9, 6, 7) for t in source().draw_batch(i)[1]]
        assert behind._executor is not None and between._executor is None
    finally:
        between.close()
        behind.close()


def children():
    return {p.pid for p in multiprocessing.active_children()}


def test_drawing_processes_last_from_one_redraw_to_the_next_until_closed():
    before = children()
    cache = CachedCaptchas(source(), pool_size=32, batch_size=8, refresh=0.5, workers=2)
    try:
        end_epoch(cache)
        drawers = children() - before
        end_epoch(cache)
        assert len(drawers) == 2 and children() - before == drawers
    finally:
        cache.close()
    assert not drawers & children()


@pytest.mark.parametrize("settings", [dict(refresh=0.0), dict(refresh=0.5, background=True)])
def test_no_drawing_processes_are_kept_that_no_redraw_between_epochs_uses(settings):
    before = children()
    cache = CachedCaptchas(source(), pool_size=32, batch_size=8, workers=2, **settings)
    try:
        # The two that drew the first pool are gone; a background redraw has its own one.
        assert len(children() - before) == (1 if settings.get("background") else 0)
    finally:
        cache.close()


def test_batches_cover_the_pool_and_are_seeded():
    a = CachedCaptchas(source(), pool_size=32, batch_size=8, refresh=0.0, workers=1)
    b = CachedCaptchas(source(), pool_size=32, batch_size=8, refresh=0.0, workers=1)
    # One epoch shows every pooled image once, in the same order for the same seed.
    texts_a = [t for i in range(len(a)) for t in decode(a[i][1])]
    assert sorted(texts_a) == sorted(a.texts)
    assert texts_a == [t for i in range(len(b)) for t in decode(b[i][1])]
    end_epoch(a)
    assert [t for i in range(len(a)) for t in decode(a[i][1])] != texts_a


def decode(labels):
    from captcha_keras.charset import Charset
    from captcha_keras.charset import decode_labels

    return decode_labels(labels, Charset("digits"))


def test_drawing_time_counts_the_first_pool_and_each_redraw_only():
    cache = CachedCaptchas(source(), pool_size=32, batch_size=8, refresh=0.5, workers=1)
    frozen = CachedCaptchas(source(), pool_size=32, batch_size=8, refresh=0.0, workers=1)
    try:
        first, still = cache.draw_seconds, frozen.draw_seconds
        assert first > 0 and still > 0
        end_epoch(cache)
        end_epoch(frozen)
        # Two chunks redrawn cost time; a pool that is never refreshed adds none.
        assert cache.draw_seconds > first
        assert frozen.draw_seconds == still
    finally:
        cache.close()
        frozen.close()


def test_fit_redraws_once_an_epoch_and_not_when_it_starts():
    from captcha_keras.models import build_model
    from captcha_keras.training import compile_model

    cache = CachedCaptchas(source(), pool_size=32, batch_size=8, refresh=0.5, workers=1, family="ctc")
    try:
        # Keras 3 calls on_epoch_end when fit starts, with no epoch begun: no redraw.
        before = list(cache.texts)
        cache.on_epoch_end()
        assert cache.texts == before
        model = build_model("crnn_ctc_fast", 10, height=32, width=64, channels=3, min_length=3, max_length=3)
        compile_model(model, "ctc", cache.source.charset, 1e-3)
        model.fit(cache, epochs=2, verbose=0)
        # Two epochs, two redraws of two chunks: the pool is the stream's batches 4..7.
        assert cache.texts == [t for i in range(4, 8) for t in source().draw_batch(i)[1]]
    finally:
        cache.close()


def test_bad_refresh_is_rejected():
    with pytest.raises(ValueError, match="refresh"):
        CachedCaptchas(source(), pool_size=16, refresh=2.0, workers=1)

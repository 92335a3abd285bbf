"""read_image: frames x tiles through the engine in batches, one set of lines back."""

from __future__ import annotations

import io
from collections.abc import Sequence

import pytest
from PIL import Image

from models.base import FakeEngine, TextLine
from models.images import DecodedImage, decode_image
from models.reader import MAX_BATCH, read_image, read_text
from models.tiling import WholeImage, plan_tiles
from tests.models.labels import Label, draw, reader
from worker.errors import OcrError, OcrUnavailable
from worker.settings import Settings

DEFAULTS = Settings()


def still(image: Image.Image) -> DecodedImage:
    return DecodedImage((image,), image.size, "PNG", 1, (0,))


def frames(*images: Image.Image) -> DecodedImage:
    return DecodedImage(
        tuple(images), images[0].size, "GIF", len(images), tuple(range(len(images)))
    )


def found(lines: Sequence[TextLine]) -> list[tuple[str, tuple[float, float, float, float]]]:
    return [(line.text, line.bounds()) for line in lines]


def expected(labels: Sequence[Label]) -> list[tuple[str, tuple[int, int, int, int]]]:
    return [(label.text, label.box) for label in labels]


class RecordingEngine(FakeEngine):
    """A fake that remembers the size of every batch and every crop it was given."""

    def __init__(self, labels: Sequence[Label]) -> None:
        super().__init__(reader(labels))
        self.batches: list[list[tuple[int, int]]] = []

    def recognize(self, images: Sequence[Image.Image]) -> list[list[TextLine]]:
        self.batches.append([image.size for image in images])
        return super().recognize(images)


class BrokenEngine(FakeEngine):
    """A fake whose every call fails with the given exception."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def recognize(self, images: Sequence[Image.Image]) -> list[list[TextLine]]:
        raise self.error


class ShortEngine(FakeEngine):
    """A fake that forgets the last image of every batch."""

    def recognize(self, images: Sequence[Image.Image]) -> list[list[TextLine]]:
        return super().recognize(images)[:-1]


# --- reading -------------------------------------------------------------------------


def test_an_ordinary_image_is_read_whole_in_one_call() -> None:
    labels = [Label(1, "全网最低价", (20, 20, 300, 60)), Label(2, "限时抢购", (20, 100, 200, 140))]
    engine = RecordingEngine(labels)
    lines = read_image(engine, still(draw((400, 300), labels)), DEFAULTS)
    assert engine.batches == [[(400, 300)]]
    assert found(lines) == expected(labels)
    assert all(line.score == 0.9 for line in lines)


def test_a_detail_page_is_read_tile_by_tile_and_put_back_together() -> None:
    size = (750, 8000)
    tiles = plan_tiles(size, DEFAULTS)
    assert len(tiles) > 2
    labels = [
        Label(1, "顶部宣传语", (30, 30, 700, 110)),
        Label(2, "跨越接缝的全网第一", (40, tiles[0][3] - 40, 720, tiles[0][3] + 40)),
        Label(3, "跨越第二条接缝", (40, tiles[2][1] - 20, 600, tiles[2][1] + 60)),
        Label(4, "页面中部", (50, 4000, 600, 4080)),
        Label(5, "底部结尾", (100, 7900, 650, 7980)),
    ]
    engine = RecordingEngine(labels)
    lines = read_image(engine, still(draw(size, labels)), DEFAULTS)
    assert found(lines) == expected(labels)
    assert [size for batch in engine.batches for size in batch] == [
        (right - left, bottom - top) for left, top, right, bottom in tiles
    ]


class WholeImageRecordingEngine(RecordingEngine):
    """A recording fake that reads whole images up to the given limits, as HunyuanOCR."""

    def __init__(self, labels: Sequence[Label], limits: WholeImage) -> None:
        super().__init__(labels)
        self.limits = limits

    def whole_image(self) -> WholeImage:
        return self.limits


def test_an_engine_that_reads_whole_images_gets_a_banner_whole() -> None:
    labels = [Label(1, "全网第一 限时抢购 新品首发", (10, 20, 700, 70))]
    banner = still(draw((728, 90), labels))
    tiled = RecordingEngine(labels)
    read_image(tiled, banner, DEFAULTS)
    assert len(tiled.batches[0]) > 1
    whole = WholeImageRecordingEngine(labels, WholeImage(2048 * 2048))
    lines = read_image(whole, banner, DEFAULTS)
    assert whole.batches == [[(728, 90)]]
    assert found(lines) == expected(labels)


def test_an_engine_that_reads_whole_images_gets_tiles_past_its_pixel_limit() -> None:
    labels = [Label(1, "顶部宣传语", (30, 30, 700, 110)), Label(2, "底部结尾", (100, 7900, 650, 7980))]
    limits = WholeImage(2048 * 2048)
    engine = WholeImageRecordingEngine(labels, limits)
    lines = read_image(engine, still(draw((750, 8000), labels)), DEFAULTS)
    sizes = [size for batch in engine.batches for size in batch]
    assert len(sizes) > 1
    assert all(w * h <= limits.max_pixels for w, h in sizes)
    assert found(lines) == expected(labels)


def test_a_read_cut_short_in_any_crop_makes_the_whole_reading_truncated() -> None:
    labels = [Label(1, "全网第一", (20, 20, 300, 60))]
    image = still(draw((400, 300), labels))
    complete = read_text(FakeEngine(reader(labels)), image, DEFAULTS)
    assert not complete.truncated
    cut = read_text(FakeEngine(reader(labels), truncated=True), image, DEFAULTS)
    assert cut.truncated
    assert found(cut.lines) == expected(labels)


def test_a_decoded_png_goes_through_with_exact_boxes() -> None:
    labels = [Label(3, "最佳选择", (10, 10, 90, 40))]
    buffer = io.BytesIO()
    draw((100, 50), labels).save(buffer, "PNG")
    lines = read_image(FakeEngine(reader(labels)), decode_image(buffer.getvalue(), DEFAULTS),
                       DEFAULTS)
    assert found(lines) == expected(labels)


def test_crops_go_to_the_engine_in_batches_of_at_most_the_maximum() -> None:
    config = Settings(max_tile_side=100)
    image = draw((1000, 1000), [])
    engine = RecordingEngine([])
    read_image(engine, frames(image, image), config)
    crops = 2 * len(plan_tiles(image.size, config))
    assert crops > MAX_BATCH
    assert [len(batch) for batch in engine.batches] == [
        min(MAX_BATCH, crops - start) for start in range(0, crops, MAX_BATCH)
    ]


def test_every_frame_is_read_and_a_line_repeated_across_frames_is_kept_once() -> None:
    steady = Label(1, "品牌名", (10, 10, 200, 40))
    late = Label(2, "全网第一", (10, 100, 200, 140))
    engine = RecordingEngine([steady, late])
    decoded = frames(draw((300, 200), [steady]), draw((300, 200), [steady, late]))
    lines = read_image(engine, decoded, DEFAULTS)
    assert engine.batches == [[(300, 200), (300, 200)]]
    assert found(lines) == expected([steady, late])


def test_lines_of_an_animation_carry_the_frame_they_were_read_in() -> None:
    steady = Label(1, "品牌名", (10, 10, 200, 40))
    late = Label(2, "全网第一", (10, 100, 200, 140))
    images = (draw((300, 200), [steady]), draw((300, 200), [steady, late]))
    decoded = DecodedImage(images, (300, 200), "GIF", 40, (0, 27), (2000.0, 100.0))
    lines = read_image(FakeEngine(reader([steady, late])), decoded, DEFAULTS)
    assert [(line.text, line.frame) for line in lines] == [("品牌名", 0), ("全网第一", 27)]
    one = read_image(FakeEngine(reader([steady])), still(images[0]), DEFAULTS)
    assert [line.frame for line in one] == [None]


def test_different_text_in_the_same_place_in_two_frames_is_two_lines() -> None:
    first = Label(1, "限时优惠", (10, 10, 200, 40))
    second = Label(2, "根治脱发", (10, 10, 200, 40))
    decoded = frames(draw((300, 200), [first]), draw((300, 200), [second]))
    lines = read_image(FakeEngine(reader([first, second])), decoded, DEFAULTS)
    assert sorted(line.text for line in lines) == sorted(["限时优惠", "根治脱发"])


def test_boxes_an_engine_draws_past_the_edge_are_kept_inside_the_image() -> None:
    engine = FakeEngine([TextLine.rect("出界", -5, -3, 120, 60)])
    [line] = read_image(engine, still(Image.new("RGB", (100, 50), "white")), DEFAULTS)
    assert line.bounds() == (0, 0, 100, 50)


def test_lines_come_back_in_reading_order() -> None:
    labels = [
        Label(1, "右下", (200, 100, 280, 130)),
        Label(2, "左上", (10, 10, 90, 40)),
        Label(3, "左下", (10, 102, 90, 132)),
        Label(4, "右上", (200, 8, 280, 38)),
    ]
    lines = read_image(FakeEngine(reader(labels)), still(draw((300, 150), labels)), DEFAULTS)
    assert [line.text for line in lines] == ["左上", "右上", "左下", "右下"]


def test_an_image_with_no_text_reads_as_no_lines() -> None:
    assert read_image(FakeEngine(), still(Image.new("RGB", (64, 64))), DEFAULTS) == []


# --- engine failures -----------------------------------------------------------------


@pytest.mark.parametrize("error", [OcrError("model crashed"), OcrUnavailable("server down")])
def test_ocr_errors_propagate_unchanged(error: OcrError) -> None:
    with pytest.raises(OcrError) as caught:
        read_image(BrokenEngine(error), still(Image.new("RGB", (32, 32))), DEFAULTS)
    assert caught.value is error


def test_any_other_engine_failure_becomes_an_ocr_error_naming_the_engine() -> None:
    cause = RuntimeError("CUDA out of memory")
    with pytest.raises(OcrError) as caught:
        read_image(BrokenEngine(cause), still(Image.new("RGB", (32, 32))), DEFAULTS)
    assert type(caught.value) is OcrError
    assert str(caught.value) == "OCR engine 'fake' failed: RuntimeError: CUDA out of memory"
    assert caught.value.__cause__ is cause


def test_an_engine_answering_for_the_wrong_number_of_images_is_an_ocr_error() -> None:
    with pytest.raises(OcrError, match="returned 0 results for 1 images"):
        read_image(ShortEngine(), still(Image.new("RGB", (32, 32))), DEFAULTS)


def test_an_engine_answering_with_something_other_than_lines_is_an_ocr_error() -> None:
    engine = FakeEngine(lambda image: ["全网第一"])  # type: ignore[list-item]
    with pytest.raises(OcrError, match="something other than lines"):
        read_image(engine, still(Image.new("RGB", (32, 32))), DEFAULTS)

"""The HunyuanOCR transformers engine, run end to end on a tiny randomly initialised model.

The tiny model is built and saved once per session, then loaded back through exactly the
calls production uses (``AutoProcessor.from_pretrained(..., backend="pil")`` and
``HunYuanVLForConditionalGeneration.from_pretrained``). Its random weights decode to
nonsense, so what it says is not checked here; the parser is tested on canned replies.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PIL import Image

from models.base import Reading, TextLine
from models.hunyuan import (
    HunyuanEngine,
    ModelSource,
    Reply,
    missing_requirements,
    read_reply,
    tail_repetition_stop,
)
from models.hunyuan_output import RepetitionStop
from models.registry import create_engine
from models.tiling import WholeImage
from worker.errors import ConfigError, EngineUnavailable, OcrError
from worker.settings import Settings

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

ROOT = Path(__file__).resolve().parents[2]

SPECIAL_TOKENS = [
    "<pad>", "<s>", "</s>", "<eod>", "<sep>",
    "<img_start>", "<img>", "<img_end>", "<img_newline>",
    "<sys>", "<user>", "<bot>", "<unk>",
]  # fmt: skip
NAMED_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
CHARACTERS = list("0123456789(),") + list("全网第一最佳金额小写限时特惠国家级有效无退款文字图中没")

# The shape of HunyuanOCR's template: system text, then the user turn with the image span
# (start, placeholder, end) before the prompt, then the assistant turn.
CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}<sys>{{ m['content'] }}"
    "{% elif m['role'] == 'user' %}<user>"
    "{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<img_start><img><img_end>{% else %}{{ c['text'] }}{% endif %}"
    "{% endfor %}"
    "{% else %}<bot>{{ m['content'] }}</s>{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<bot>{% endif %}"
)


def build_tiny_model(folder: Path) -> None:
    """Save a tiny random HunYuanVL model and its processor into ``folder``."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS + CHARACTERS)}
    backend = Tokenizer(models.WordLevel(vocab, "<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    backend.decoder = decoders.Fuse()
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend,
        **NAMED_TOKENS,
        extra_special_tokens={
            "image_start_token": "<img_start>",
            "image_token": "<img>",
            "image_end_token": "<img_end>",
        },
        chat_template=CHAT_TEMPLATE,
    )
    # Patch 16, merge 1: a 32-64 px image is a 2x2 to 4x4 grid, a handful of tokens.
    image_processor = transformers.HunYuanVLImageProcessorPil(
        min_pixels=32 * 32, max_pixels=64 * 64, patch_size=16, temporal_patch_size=1, merge_size=1
    )
    processor = transformers.HunYuanVLProcessor(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE
    )
    config = transformers.HunYuanVLConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "head_dim": 8,
            "max_position_embeddings": 512,
            "initializer_range": 0.5,
            "pad_token_id": vocab["<pad>"],
            "bos_token_id": vocab["<s>"],
            "eos_token_id": vocab["</s>"],
            "eod_token_id": vocab["<eod>"],
            "sep_token_id": vocab["<sep>"],
            # At least three multimodal axes, summing to head_dim / 2.
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 10000.0,
                "mrope_section": [1, 1, 1, 1],
            },
        },
        vision_config={
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "patch_size": 16,
            "temporal_patch_size": 1,
            "spatial_merge_size": 1,
            "max_image_size": 64,
            "out_hidden_size": 16,
        },
        image_token_id=vocab["<img>"],
        im_start_id=vocab["<img_start>"],
        im_end_id=vocab["<img_end>"],
        im_newline_id=vocab["<img_newline>"],
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    model = transformers.HunYuanVLForConditionalGeneration(config)
    with torch.no_grad():
        # Never predict a special token, so random replies decode to visible characters.
        model.get_output_embeddings().weight[: len(SPECIAL_TOKENS)] = 0
    model.save_pretrained(folder)
    processor.save_pretrained(folder)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-hunyuan")
    build_tiny_model(folder)
    return folder


def tiny_settings(folder: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "hunyuan_model": str(folder),
        "hunyuan_max_new_tokens": 8,
        "hunyuan_batch_size": 2,
        "hunyuan_device": "cpu",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def engine(tiny_model: Path) -> HunyuanEngine:
    return HunyuanEngine.from_settings(tiny_settings(tiny_model))


def ad_images() -> list[Image.Image]:
    """Three differently sized images, one of them greyscale."""
    return [
        Image.new("RGB", (120, 80), "white"),
        Image.new("L", (40, 90), 200),
        Image.new("RGB", (640, 640), (200, 30, 30)),
    ]


def assert_lines_within(lines: list[TextLine], image: Image.Image) -> None:
    for line in lines:
        assert isinstance(line, TextLine)
        for x, y in line.box:
            assert 0 <= x <= image.width
            assert 0 <= y <= image.height


# ---------------------------------------------------------------- laziness


def test_constructing_the_engine_does_not_load_the_model(tiny_model: Path) -> None:
    engine = HunyuanEngine.from_settings(tiny_settings(tiny_model))
    assert not engine.is_loaded
    assert engine.load_count == 0


def test_importing_and_constructing_the_engine_does_not_import_torch(tiny_model: Path) -> None:
    # A prefork parent builds its engine before forking: it must not touch torch (or CUDA).
    code = (
        "import sys\n"
        "from models.hunyuan import HunyuanEngine\n"
        "from worker.settings import Settings\n"
        f"HunyuanEngine.from_settings(Settings(hunyuan_model={str(tiny_model)!r}))\n"
        "print('torch' in sys.modules, 'transformers' in sys.modules)\n"
        "assert HunyuanEngine.is_available()\n"
        "print('torch' in sys.modules, "
        "'transformers.models.hunyuan_vl.modeling_hunyuan_vl' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    # Checking availability imports neither torch nor the model's module either.
    assert result.stdout.split() == ["False", "False", "False", "False"]


def test_the_registry_builds_the_engine_without_loading_it(tiny_model: Path) -> None:
    engine = create_engine("hunyuan", tiny_settings(tiny_model))
    assert isinstance(engine, HunyuanEngine)
    assert engine.name == "hunyuan"
    assert not engine.is_loaded


def test_is_available_where_torch_and_transformers_are_installed() -> None:
    assert HunyuanEngine.is_available()
    assert missing_requirements() is None


def test_is_available_checks_what_loading_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import metadata, util

    versions = {"torch": "2.13.0", "transformers": "5.20.0"}
    real_find_spec = util.find_spec

    def version(name: str) -> str:
        return versions[name]

    def find_spec(name: str) -> object:
        return None if name == "torchvision" else real_find_spec(name)

    monkeypatch.setattr(metadata, "version", version)
    monkeypatch.setattr(util, "find_spec", find_spec)
    missing_requirements.cache_clear()
    try:
        assert "torchvision" in (missing_requirements() or "")
        assert not HunyuanEngine.is_available()
        versions["transformers"] = "5.22.0"
        missing_requirements.cache_clear()
        assert missing_requirements() is None
        versions["torch"] = "2.4.1"
        missing_requirements.cache_clear()
        assert "torch 2.4.1" in (missing_requirements() or "")
    finally:
        missing_requirements.cache_clear()


# ---------------------------------------------------------------- model source and version


def test_when_the_model_folder_is_missing_then_engine_unavailable_names_the_path(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(EngineUnavailable, match="no-such-model"):
        HunyuanEngine.from_settings(tiny_settings(missing))


def test_when_the_folder_has_no_config_then_engine_unavailable(tmp_path: Path) -> None:
    with pytest.raises(EngineUnavailable, match=r"config\.json"):
        HunyuanEngine.from_settings(tiny_settings(tmp_path))


def test_when_a_hub_id_has_no_pinned_revision_then_config_error_says_to_pin_one() -> None:
    with pytest.raises(ConfigError, match="ADREVIEW_HUNYUAN_REVISION"):
        HunyuanEngine.from_settings(Settings(hunyuan_model="tencent/HunyuanOCR"))


def test_a_hub_id_with_a_revision_is_versioned_by_both_and_not_downloaded() -> None:
    engine = HunyuanEngine.from_settings(
        Settings(hunyuan_model="tencent/HunyuanOCR", hunyuan_revision="0123abc")
    )
    assert engine.version.startswith("hunyuan:tencent/HunyuanOCR@0123abc|")
    assert not engine.is_loaded
    assert not engine.local_files_only


def test_a_local_folder_ignores_the_revision_and_is_versioned_by_its_content(
    tiny_model: Path, tmp_path: Path
) -> None:
    plain = HunyuanEngine.from_settings(tiny_settings(tiny_model))
    pinned = HunyuanEngine.from_settings(tiny_settings(tiny_model, hunyuan_revision="abc"))
    assert pinned.version == plain.version
    assert pinned.source.revision is None
    assert plain.local_files_only

    copy = tmp_path / tiny_model.name
    shutil.copytree(tiny_model, copy)
    assert HunyuanEngine.from_settings(tiny_settings(copy)).version == plain.version

    config = json.loads((copy / "config.json").read_text())
    config["text_config"]["rms_norm_eps"] = 1e-6
    (copy / "config.json").write_text(json.dumps(config))
    assert HunyuanEngine.from_settings(tiny_settings(copy)).version != plain.version


def test_a_relative_path_that_does_not_exist_is_not_taken_for_a_hub_id() -> None:
    with pytest.raises(EngineUnavailable, match="does not exist"):
        ModelSource.resolve("./models/HunyuanOCR", "abc")


def test_the_defaults_are_how_tencent_runs_the_model() -> None:
    settings = Settings()
    assert settings.hunyuan_max_new_tokens == 8192
    assert settings.hunyuan_batch_size == 1
    assert settings.hunyuan_attn_implementation == "eager"


@pytest.mark.parametrize(
    "change",
    [
        {"hunyuan_max_new_tokens": 4096},
        {"hunyuan_attn_implementation": "sdpa"},
        {"hunyuan_batch_size": 4},
    ],
)
def test_the_version_changes_with_the_generation_settings(
    tiny_model: Path, change: dict[str, object]
) -> None:
    plain = HunyuanEngine.from_settings(tiny_settings(tiny_model))
    changed = HunyuanEngine.from_settings(tiny_settings(tiny_model, **change))
    assert changed.version != plain.version
    assert changed.version.split("|")[0] == plain.version.split("|")[0]


def test_the_version_changes_with_the_repetition_stop(tiny_model: Path) -> None:
    source = ModelSource.resolve(str(tiny_model), None)
    plain = HunyuanEngine(source)
    stricter = HunyuanEngine(source, repeat_stop=RepetitionStop(min_repeats=4))
    assert stricter.version != plain.version


def test_when_the_attention_is_unknown_then_config_error_lists_the_choices(
    tiny_model: Path,
) -> None:
    with pytest.raises(ConfigError, match="eager"):
        HunyuanEngine.from_settings(
            tiny_settings(tiny_model, hunyuan_attn_implementation="flash")
        )


@pytest.mark.parametrize(("batch_size", "cap"), [(0, 8), (2, 0)])
def test_when_limits_are_not_positive_then_config_error(
    tiny_model: Path, batch_size: int, cap: int
) -> None:
    with pytest.raises(ConfigError):
        HunyuanEngine.from_settings(
            tiny_settings(tiny_model, hunyuan_batch_size=batch_size, hunyuan_max_new_tokens=cap)
        )


# ---------------------------------------------------------------- recognition


def test_a_batch_returns_one_list_of_lines_per_image(engine: HunyuanEngine) -> None:
    images = ad_images()
    results = engine.recognize(images)
    assert len(results) == len(images)
    for lines, image in zip(results, images, strict=True):
        assert_lines_within(lines, image)


def test_the_model_is_loaded_once_and_reused(engine: HunyuanEngine) -> None:
    engine.recognize(ad_images()[:1])
    loaded = engine._loaded
    engine.recognize(ad_images())
    assert engine.load_count == 1
    assert engine._loaded is loaded


def test_cpu_runs_in_float32_with_left_padding(engine: HunyuanEngine) -> None:
    engine.load()
    loaded = engine._loaded
    assert loaded is not None
    assert loaded.device == "cpu"
    assert next(loaded.model.parameters()).dtype == torch.float32
    assert loaded.processor.tokenizer.padding_side == "left"


@pytest.mark.parametrize("attention", ["eager", "sdpa"])
def test_the_model_is_loaded_with_the_configured_attention(
    tiny_model: Path, attention: str
) -> None:
    engine = HunyuanEngine.from_settings(
        tiny_settings(tiny_model, hunyuan_attn_implementation=attention)
    )
    engine.load()
    assert engine._loaded is not None
    assert engine._loaded.model.config._attn_implementation == attention


def test_the_whole_image_limit_is_the_processors_max_pixels(engine: HunyuanEngine) -> None:
    # The tiny processor was saved with max_pixels 64 x 64.
    assert engine.whole_image() == WholeImage(64 * 64)


def test_decoding_is_greedy_with_the_repetition_penalty_and_the_cap(
    engine: HunyuanEngine,
) -> None:
    engine.load()
    assert engine._loaded is not None
    config = engine._generation_config(engine._loaded)
    assert config.do_sample is False
    assert config.num_beams == 1
    assert config.repetition_penalty == pytest.approx(1.08)
    assert config.max_new_tokens == 8
    assert config.pad_token_id == engine._loaded.processor.tokenizer.pad_token_id


def test_an_empty_batch_returns_nothing(engine: HunyuanEngine) -> None:
    assert engine.recognize([]) == []


def test_generation_stops_at_max_new_tokens(tiny_model: Path) -> None:
    for cap in (3, 8):
        engine = HunyuanEngine.from_settings(
            tiny_settings(tiny_model, hunyuan_max_new_tokens=cap, hunyuan_batch_size=3)
        )
        replies = engine.generate(ad_images())
        assert len(replies) == 3
        for reply in replies:
            assert isinstance(reply.text, str)
            assert 1 <= reply.new_tokens <= cap
            assert reply.new_tokens == cap or not reply.truncated
        # The random model never says end-of-sequence: every reply runs into the cap.
        assert all(reply.truncated for reply in replies)


def test_the_reader_gives_the_engine_whole_images_within_the_processors_limits(
    engine: HunyuanEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from models.images import DecodedImage
    from models.reader import read_text

    sizes: list[tuple[int, int]] = []
    generate = engine.generate

    def spy(images: list[Image.Image]) -> list[Reply]:
        sizes.extend(image.size for image in images)
        return generate(images)

    monkeypatch.setattr(engine, "generate", spy)
    # Within the tiny processor's 64 x 64 pixels: whole, aspect 3 included.
    for size in ((60, 40), (96, 32)):
        image = Image.new("RGB", size, "white")
        reading = read_text(engine, DecodedImage((image,), size, "PNG", 1, (0,)), Settings())
        assert sizes[-1] == size
        assert reading.truncated  # the random model runs into the cap of 8 tokens
    # Past them: tiles, each within the pixel budget.
    sizes.clear()
    image = Image.new("RGB", (200, 60), "white")
    read_text(engine, DecodedImage((image,), image.size, "PNG", 1, (0,)), Settings())
    assert len(sizes) > 1
    assert all(w * h <= 64 * 64 for w, h in sizes)


def test_a_read_that_hit_the_cap_is_a_truncated_reading(engine: HunyuanEngine) -> None:
    readings = engine.read(ad_images()[:2])
    assert len(readings) == 2
    # The random model never says end-of-sequence: every read runs into the cap of 8.
    assert all(isinstance(r, Reading) and r.truncated for r in readings)


class CharTokenizer:
    """Decodes token ids as the characters at those places of an alphabet."""

    alphabet = "ab(),0123456789"

    def decode(self, ids: object, skip_special_tokens: bool = True) -> str:
        return "".join(self.alphabet[int(i)] for i in ids)  # type: ignore[attr-defined]


def test_the_repetition_stop_ends_only_the_rows_stuck_in_a_loop() -> None:
    policy = RepetitionStop(min_repeats=4, start=8, every=1)
    stop = tail_repetition_stop(CharTokenizer(), 2, 2, policy, probe_tokens=4)
    prompt = [0, 1]
    loop = [2, 5, 3] * 6  # "(0)" over and over
    varied = [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 5, 6, 7, 8, 9, 10, 11, 12]
    ids = torch.tensor([prompt + loop, prompt + varied])
    flags = stop(ids, None)
    assert flags.tolist() == [True, False]
    assert [s.stopped for s in stop.stops] == [True, False]
    # The policy it was given is a template: it is never stopped itself.
    assert not policy.stopped


def test_the_repetition_stop_waits_for_the_reply_to_reach_its_first_checkpoint() -> None:
    policy = RepetitionStop(min_repeats=4, start=100, every=1)
    stop = tail_repetition_stop(CharTokenizer(), 0, 1, policy, probe_tokens=1)
    assert stop(torch.tensor([[2, 5, 3] * 10]), None).tolist() == [False]


def test_a_reply_stopped_for_repeating_itself_is_cut_short() -> None:
    reply = Reply("特惠(0,0),(100,100)", 300, truncated=False, stopped=True)
    assert reply.cut_short
    assert not Reply("特惠(0,0),(100,100)", 30, truncated=False).cut_short


def test_batched_and_one_by_one_generation_agree(tiny_model: Path) -> None:
    # Left padding must not change what a greedy decode says about an image.
    batched = HunyuanEngine.from_settings(tiny_settings(tiny_model, hunyuan_batch_size=3))
    images = ad_images()
    together = [reply.text for reply in batched.generate(images)]
    alone = [batched.generate([image])[0].text for image in images]
    assert together == alone


def test_concurrent_first_calls_load_the_model_once(tiny_model: Path) -> None:
    engine = HunyuanEngine.from_settings(tiny_settings(tiny_model))
    results: list[list[list[TextLine]]] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(engine.recognize(ad_images()[:2]))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 4
    assert engine.load_count == 1


def test_when_generation_fails_then_ocr_error_says_which_images(engine: HunyuanEngine) -> None:
    # The image processor refuses aspect ratios above 200:1.
    with pytest.raises(OcrError, match="2000x5") as caught:
        engine.recognize([Image.new("RGB", (2000, 5), "white")])
    assert not isinstance(caught.value, EngineUnavailable)


def test_when_the_weights_cannot_be_loaded_then_engine_unavailable_names_the_folder(
    tiny_model: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken-model"
    broken.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_model / name, broken / name)
    engine = HunyuanEngine.from_settings(tiny_settings(broken))
    with pytest.raises(EngineUnavailable, match="broken-model"):
        engine.recognize(ad_images()[:1])
    assert not engine.is_loaded


# ---------------------------------------------------------------- reading a reply


def test_a_reply_is_parsed_against_the_original_image_size() -> None:
    reply = Reply("全网第一(100,100),(500,200)金额(小写)(0,900),(250,1000)", 20, False)
    lines = read_reply(reply, (2000, 1000))
    assert lines == [
        TextLine.rect("全网第一", 200.0, 100.0, 1000.0, 200.0),
        TextLine.rect("金额(小写)", 0.0, 900.0, 500.0, 1000.0),
    ]


def test_a_truncated_runaway_reply_is_trimmed_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = "最佳(100,200),(300,260)"
    reply = Reply("特惠(0,0),(100,100)" + loop * 30 + "最佳(1", 8, True)
    with caplog.at_level(logging.WARNING, logger="models.hunyuan"):
        lines = read_reply(reply, (1000, 1000))
    assert [line.text for line in lines] == ["特惠", "最佳"]
    assert "new-token cap" in caplog.text


def test_a_no_text_reply_gives_no_lines_quietly(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="models.hunyuan"):
        assert read_reply(Reply("图中没有文字", 6, False), (100, 100)) == []
    assert caplog.text == ""


# ---------------------------------------------------------------- GPU


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_cuda_the_model_runs_in_bfloat16(tiny_model: Path) -> None:
    engine = HunyuanEngine.from_settings(tiny_settings(tiny_model, hunyuan_device=None))
    images = ad_images()
    results = engine.recognize(images)
    assert len(results) == len(images)
    for lines, image in zip(results, images, strict=True):
        assert_lines_within(lines, image)
    loaded = engine._loaded
    assert loaded is not None
    assert loaded.device.startswith("cuda")
    assert next(loaded.model.parameters()).dtype == torch.bfloat16
    assert all(1 <= reply.new_tokens <= 8 for reply in engine.generate(images))
    assert engine.load_count == 1


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_cuda_batched_bfloat16_output_equals_one_by_one(tiny_model: Path) -> None:
    # Until this holds on the real model too, the batch size stays 1 by default.
    engine = HunyuanEngine.from_settings(
        tiny_settings(tiny_model, hunyuan_device=None, hunyuan_batch_size=3)
    )
    images = ad_images()
    together = [reply.text for reply in engine.generate(images)]
    alone = [engine.generate([image])[0].text for image in images]
    assert engine._loaded is not None and engine._loaded.dtype == torch.bfloat16
    assert together == alone

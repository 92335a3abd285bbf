"""Banner ads of every test group: ad copy with claims, evasions, clean text and
context traps, and the deterministic corpus built from them (``corpus``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image

from models.base import Box
from worker.samples.drawing import (
    ARTISTIC_FONTS,
    PLAIN_FONTS,
    Colour,
    _luminance,
    _rng,
    faint_ink,
    pick_ink,
)
from worker.samples.render import Block, Style, _background, compose

PRODUCTS = (
    "精华液", "保湿面霜", "洗发水", "蛋白粉", "运动鞋", "蓝牙耳机", "空气炸锅", "儿童牙膏",
    "防晒霜", "口红", "行李箱", "电动牙刷", "坚果礼盒", "羽绒服", "净水器", "扫地机器人",
    "养生茶", "台灯", "猫粮", "双肩包",
)  # fmt: skip
#: Ordinary copy with no claim in it (no 最 / 第一 / 首 / 极 / 顶 / 唯一 / 效 / 治 ...).
CLEAN_HEADLINES = (
    "{p}夏季新品上市", "{p}限时特惠", "会员专享福利", "新店开业 全场八折", "周末狂欢购",
    "{p}好物推荐", "轻松打理每一天", "开学季焕新", "{p}年货节大促", "买{p}就来这里",
)  # fmt: skip
CLEAN_LINES = (
    "满199减30", "全场包邮", "下单立减20元", "买二送一", "进店领取优惠券", "舒适透气 简约百搭",
    "大容量 轻巧便携", "现货速发", "七天无理由退换", "扫码关注领红包", "官方旗舰店",
    "新客专享价", "多色可选", "限时抢购中", "活动时间 6月1日至6月18日", "收藏加购 优先发货",
    "今日下单 明日送达", "支持花呗分期", "家庭装更划算", "送礼自用两相宜",
)  # fmt: skip
#: Claims as drawn -> the canonical phrase the rule set lists.
ABSOLUTE = (
    ("全网第一", "全网第一"), ("销量第一", "销量第一"), ("行业最佳", "最佳"),
    ("全网最好用", "最好"), ("同类最优", "最优"), ("顶级品质", "顶级"),
    ("极品享受", "极品"), ("国家级品质", "国家级"), ("行业唯一", "唯一"),
    ("史上最低价", "史上最低价"), ("世界领先技术", "世界领先"), ("销量NO.1", "NO.1"),
)  # fmt: skip
MEDICAL = (
    ("根治脱发", "根治"), ("三天治愈痘痘", "治愈"), ("药到病除", "药到病除"),
    ("纯天然无副作用", "无副作用"), ("7天见效", "7天见效"), ("祛斑淡印", "祛斑"),
    ("治愈率高达98%", "治愈率"),
)  # fmt: skip
GUARANTEE = (
    ("100%有效", "100%有效"), ("无效退款", "无效退款"), ("保证有效", "保证有效"),
    ("零风险", "零风险"), ("稳赚不赔", "稳赚不赔"), ("考试包过", "包过"),
)  # fmt: skip
CLAIMS = ABSOLUTE + MEDICAL + GUARANTEE
#: Claims dressed the way advertisers dodge filters.
EVASIONS = (
    ("全 网 第 一", "全网第一"), ("最·佳品质", "最佳"), ("國家級品質", "国家级"),
    ("１００％有效", "100%有效"), ("销量NO.1", "NO.1"), ("人气Top1", "TOP1"),
    ("无效★退款", "无效退款"), ("全-网-第-一", "全网第一"), ("No.1 {p}", "NO.1"),
    ("根 治 脱 发", "根治"),
)  # fmt: skip
#: Words that look like claims but are not (order, time, recency, usage advice).
CONTEXT = (
    "第一步：温水洁面", "第一次下单立减10元", "第一时间发货", "最新款上市", "最近三天热卖",
    "最好在睡前使用", "第二步：轻拍吸收", "第一季度新品",
)  # fmt: skip
PRICES = ("到手价 ¥{n}", "券后价¥{n}", "秒杀价 {n}元", "活动价 ¥{n}")
FINE_PRINT = (
    "*图片仅供参考 以实物为准", "*活动最终解释权归本店所有", "*具体优惠以结算页为准",
    "*详情请咨询在线客服",
)  # fmt: skip

#: Canonical claim -> the decision it brings under the shipped rule set: ``reject`` except
#: 祛斑, which registered special-use cosmetics may claim, so a reviewer decides.
CLAIM_DECISION = {phrase: "reject" for _, phrase in (*CLAIMS, *EVASIONS)} | {"祛斑": "review"}

GROUPS = ("plain", "artistic", "rotated", "small_lowcontrast", "evasion", "clean", "context")
SIZES = ((800, 800), (750, 1000), (1000, 1000), (1200, 628), (640, 960), (900, 600))


@dataclass(frozen=True)
class SampleAd:
    """A generated ad: the text drawn on it (reading order) and the expected decision.

    ``boxes`` holds the four corners of each line of ``lines`` in image pixels;
    ``claims`` the canonical banned phrases present; ``expect`` the decision the shipped
    rule set should reach on the text ("pass", "review" or "reject").
    """

    name: str
    group: str
    image: Image.Image
    lines: tuple[str, ...]
    expect: str
    claims: tuple[str, ...]
    boxes: tuple[Box, ...] = field(default=(), compare=False)


def _expect(claims: Sequence[str]) -> str:
    decisions = {CLAIM_DECISION[c] for c in claims}
    for decision in ("reject", "review"):
        if decision in decisions:
            return decision
    return "pass"


def _fill(template: str, product: str) -> str:
    return template.replace("{p}", product)


def _ad(group: str, seed: int, index: int) -> SampleAd:
    key = f"{group}:{seed}:{index}"
    rng = _rng(key)
    product = rng.choice(PRODUCTS)
    size = rng.choice(SIZES)
    backdrop = _background(rng, size)
    palette = backdrop[1]
    ink = pick_ink(rng, palette)
    family = rng.choice(ARTISTIC_FONTS if group == "artistic" else PLAIN_FONTS)
    head_size = rng.randint(48, 90) if size[0] >= 750 else rng.randint(40, 64)
    body_size = rng.randint(26, 40)
    small = group == "small_lowcontrast"
    faint = faint_ink(palette[0], rng.uniform(1.9, 2.6))
    turn_blocks = group == "rotated" and index % 2 == 0
    turn_card = 0.0
    if group == "rotated" and not turn_blocks:
        turn_card = rng.choice((-1, 1)) * rng.uniform(5, 15)

    def style(px: int, *, body: bool = False, claim: bool = False) -> Style:
        fam = rng.choice(PLAIN_FONTS) if group == "plain" and body else family
        effect, accent, colour, angle = "none", _accent(ink), ink, 0.0
        if group == "artistic" or (group == "plain" and not body and rng.random() < 0.3):
            effect = rng.choice(("stroke", "shadow", "gradient", "none"))
        if small and claim:
            # small print, faint print, or both
            kind = rng.choice(("small", "faint", "both"))
            if kind in ("small", "both"):
                px = rng.randint(14, 18)
            if kind in ("faint", "both"):
                colour = faint
        if turn_blocks:
            angle = rng.choice((-1, 1)) * rng.uniform(10, 30)
        return Style(fam, px, colour, effect, accent, angle=angle)

    pool: Sequence[tuple[str, str]] = ()
    if group in ("plain", "artistic", "rotated", "small_lowcontrast"):
        pool = CLAIMS
    elif group == "evasion":
        pool = EVASIONS
    chosen = rng.sample(list(pool), k=rng.randint(1, 2)) if pool else []
    context = rng.sample(CONTEXT, k=2) if group == "context" else []

    rows: list[list[Block]] = []
    if chosen and not small and rng.random() < 0.5:
        text, phrase = chosen.pop(0)
        rows.append([Block(_fill(text, product), style(head_size), (phrase,), 36)])
    else:
        headline = _fill(rng.choice(CLEAN_HEADLINES), product)
        rows.append([Block(headline, style(head_size), min_size=36)])
    body: list[tuple[str, tuple[str, ...]]] = [(t, ()) for t in rng.sample(CLEAN_LINES, k=2)]
    for text, phrase in chosen:
        body.insert(rng.randint(0, len(body)), (_fill(text, product), (phrase,)))
    for text in context:
        body.insert(rng.randint(0, len(body)), (text, ()))
    body = body[: max(3, len(chosen) + len(context) + 1)]
    for text, claims in body:
        line_style = style(body_size, body=True, claim=bool(claims))
        rows.append([Block(text, line_style, claims, min(line_style.size, 22))])

    price = rng.choice(PRICES).replace("{n}", str(rng.randint(19, 899)))
    tag = rng.choice(((216, 30, 6), (255, 214, 0), (20, 20, 20), (255, 255, 255)))
    price_row = [Block(price, Style(rng.choice(PLAIN_FONTS), body_size + 4,
                                    pick_ink(rng, [tag]), tag=tag), min_size=22)]
    if rng.random() < 0.5:
        original = f"原价¥{rng.randint(900, 1999)}"
        price_row.append(Block(original, Style("sans", max(22, body_size - 6), ink, strike=True),
                               min_size=20))
    rows.append(price_row)
    if small or rng.random() < 0.3:
        note_size = rng.randint(14, 18) if small else rng.randint(20, 24)
        note = Style("sans", note_size, faint if small else ink)
        rows.append([Block(rng.choice(FINE_PRINT), note, min_size=14)])

    rendered = compose(rows, seed=key, size=size, backdrop=backdrop,
                       align=rng.choice(("center", "center", "left")), rotate=turn_card)
    return SampleAd(
        name=f"{group}-{seed}-{index:02d}",
        group=group,
        image=rendered.image,
        lines=rendered.lines,
        expect=_expect(rendered.claims),
        claims=rendered.claims,
        boxes=rendered.boxes,
    )


def _accent(ink: Colour) -> Colour:
    # An outline or shadow reads as a contrasting rim around the ink.
    return (255, 255, 255) if _luminance(ink) < 0.4 else (40, 20, 20)


def corpus(seed: int = 0, per_group: int = 8) -> list[SampleAd]:
    """``per_group`` ads of each group in ``GROUPS`` (group by group)."""
    return [_ad(group, seed, index) for group in GROUPS for index in range(per_group)]

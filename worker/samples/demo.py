"""The handful of realistic sample ads ``adreview demo`` writes and scans."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from worker.samples.animated import animated_gif
from worker.samples.drawing import Colour
from worker.samples.pages import detail_page
from worker.samples.render import Block, Style, _gradient, compose


def demo_ads(folder: Path) -> list[Path]:
    """Write a handful of realistic sample ads into ``folder``; return their paths.

    Some carry claims (plain, dressed up to evade, rotated, in an animation's later frame,
    along a long detail page), some are clean or only look like claims.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def save(name: str, image: Image.Image, quality: int = 90) -> None:
        path = folder / name
        if path.suffix in (".jpg", ".webp"):
            image.save(path, quality=quality)
        else:
            image.save(path)
        written.append(path)

    def ad(seed: str, rows: list[list[Block]], size: tuple[int, int],
           colours: tuple[Colour, Colour], rotate: float = 0.0, align: str = "center",
           ) -> Image.Image:
        start, end = colours
        backdrop = (_gradient(size, start, end), [start, end])
        return compose(rows, seed=seed, size=size, backdrop=backdrop, rotate=rotate,
                       align=align).image

    red, white, gold, dark = (216, 30, 6), (255, 255, 255), (255, 214, 0), (33, 33, 33)
    plum, teal, brown = (136, 14, 79), (0, 96, 100), (62, 39, 35)
    save("banner-sales-first.jpg", ad("demo-1", [
        [Block("蓝牙耳机 全网销量第一", Style("sans-bold", 64, white, "shadow", (60, 0, 0)))],
        [Block("行业最佳音质 史上最低价", Style("sans", 36, white))],
        [Block("到手价 ¥199", Style("sans-bold", 40, red, tag=gold)),
         Block("原价¥399", Style("sans", 30, white, strike=True))],
    ], (1200, 628), (red, (160, 10, 0))))
    save("cosmetics-medical-claims.png", ad("demo-2", [
        [Block("美白淡斑精华", Style("serif-bold", 72, dark))],
        [Block("祛斑淡印 7天见效", Style("sans", 38, plum))],
        [Block("纯天然配方 无副作用", Style("sans", 34, dark))],
        [Block("券后价¥259", Style("sans-bold", 40, white, tag=plum))],
    ], (800, 800), ((252, 228, 236), (255, 245, 248))))
    save("evasion-spaced-fullwidth.webp", ad("demo-3", [
        [Block("全 网 第 一", Style("display", 86, gold, "stroke", (120, 0, 0)))],
        [Block("１００％有效 无效★退款", Style("sans-bold", 40, white))],
        [Block("國家級品質 人气Top1", Style("serif-bold", 38, white))],
    ], (800, 800), ((26, 35, 126), (74, 20, 140))))
    save("clean-summer-sale.jpg", ad("demo-4", [
        [Block("夏季新品上市", Style("sans-bold", 72, dark))],
        [Block("满199减30 全场包邮", Style("sans", 38, (183, 28, 28)))],
        [Block("舒适透气 简约百搭", Style("sans", 34, dark))],
        [Block("到手价 ¥89", Style("sans-bold", 40, white, tag=red))],
    ], (750, 1000), ((225, 245, 254), (200, 230, 250))))
    save("clean-skincare-steps.png", ad("demo-5", [
        [Block("晚安修护精华", Style("serif-bold", 64, dark))],
        [Block("第一步：温水洁面", Style("sans", 36, dark))],
        [Block("第二步：取两滴轻拍", Style("sans", 36, dark))],
        [Block("最好在睡前使用", Style("wenkai-bold", 40, teal))],
        [Block("最新款 第一时间发货", Style("sans", 32, dark))],
    ], (750, 1000), ((255, 248, 240), (255, 236, 220)), align="left"))
    save("rotated-kaiti-claims.png", ad("demo-6", [
        [Block("养生茶礼盒", Style("kaiti", 80, brown, angle=12))],
        [Block("国家级非遗工艺 极品好茶", Style("kaiti", 40, (183, 28, 28), angle=-8))],
        [Block("送礼自用两相宜", Style("wenkai", 34, brown))],
    ], (900, 900), ((255, 236, 179), (255, 248, 225)), rotate=6))
    page, _truth = detail_page(7)
    save("detail-page-long.jpg", page, quality=88)
    gif = folder / "animated-claim-late-frame.gif"
    gif.write_bytes(animated_gif(3))
    written.append(gif)
    return written

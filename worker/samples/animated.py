"""Animated GIFs whose claim shows only in later frames."""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, ImageDraw

from worker.samples.banners import PRODUCTS
from worker.samples.drawing import BACKGROUNDS, _luminance, _rng, contrast, pick_ink
from worker.samples.render import Block, Rendered, Style, compose

GIF_CLAIM = ("全网销量第一 爆款直降", "销量第一")


def gif_frames(
    seed: int = 0, frames: int = 20, claim_frame: int = 12, shown: int | None = None
) -> list[Rendered]:
    """The frames of ``animated_gif``: the claim shows from ``claim_frame`` on, in
    ``shown`` frames (None: in every later frame)."""
    rng = _rng(f"gif:{seed}")
    product = rng.choice(PRODUCTS)
    base = rng.choice(BACKGROUNDS)
    ink = pick_ink(rng, [base], 7.0)
    accent = rng.choice(((255, 214, 0), (255, 255, 255), (20, 20, 20)))
    if contrast(accent, base) < 1.5:  # a highlight the background hides moves nothing
        accent = (20, 20, 20) if _luminance(base) > 0.18 else (255, 255, 255)
    result = []
    for k in range(frames):
        rows = [[Block(f"{product}限时特惠", Style("sans-bold", 48, ink))]]
        if claim_frame <= k and (shown is None or k < claim_frame + shown):
            rows.append([Block(GIF_CLAIM[0], Style("sans-bold", 40, ink), (GIF_CLAIM[1],))])
        else:
            rows.append([Block("满199减30 全场包邮", Style("sans", 34, ink))])
        backdrop = (Image.new("RGB", (480, 480), base), [base])
        rendered = compose(rows, seed=f"gif:{seed}", size=(480, 480), backdrop=backdrop,
                           decorate=False, product=False)
        # A moving highlight keeps every frame distinct (Pillow merges equal frames).
        frame = rendered.image
        draw = ImageDraw.Draw(frame)
        x = 20 + (440 * k) // max(1, frames - 1)
        draw.ellipse((x - 5, 445, x + 5, 455), fill=accent)
        result.append(Rendered(frame, rendered.lines, rendered.boxes, rendered.claims))
    return result


def animated_gif(
    seed: int = 0,
    frames: int = 20,
    claim_frame: int = 12,
    shown: int | None = None,
    duration: int | Sequence[int] = 100,
) -> bytes:
    """An animated GIF whose claim (``GIF_CLAIM``) appears only from frame ``claim_frame``
    (in ``shown`` frames; None: to the end). ``duration`` is every frame's display time in
    ms, or one per frame."""
    images = [r.image for r in gif_frames(seed, frames, claim_frame, shown)]
    out = io.BytesIO()
    times = duration if isinstance(duration, int) else list(duration)
    images[0].save(out, format="GIF", save_all=True, append_images=images[1:], duration=times,
                   loop=0, optimize=False, disposal=1)
    return out.getvalue()

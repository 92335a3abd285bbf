# ruff: noqa: E501 - a table of translations: Chinese lines are wide
"""The console's words in Chinese (the default) and English.

A page's language comes from the ``adreview_lang`` cookie (``zh`` or ``en``), set by
``GET /review/lang``; without it the console speaks Chinese. ``words(lang)`` gives the
templates a function ``t(key, **values)``.
"""

from __future__ import annotations

from collections.abc import Callable

#: Cookie holding the chosen language.
LANG_COOKIE = "adreview_lang"
#: Languages, by cookie value, with their HTML ``lang``.
LANGS = {"zh": "zh-CN", "en": "en"}
DEFAULT_LANG = "zh"

#: key: (Chinese, English).
WORDS: dict[str, tuple[str, str]] = {
    "app": ("广告审核台", "adreview"),
    "sign_in": ("登录", "Sign in"),
    "api_key": ("API 密钥", "API key"),
    "skip": ("跳到主要内容", "Skip to the content"),
    "queue": ("待审", "Queue"),
    "done": ("已审", "Done"),
    "errors": ("出错", "Errors"),
    "all": ("全部", "All"),
    "rules": ("规则统计", "Rule stats"),
    "sign_out": ("退出", "Sign out"),
    "keys": ("快捷键", "Keys"),
    "other_lang": ("English", "中文"),
    "h_queue": ("待审核", "To review"),
    "h_done": ("已审核", "Reviewed"),
    "h_errors": ("无法判定的图片", "Error verdicts"),
    "h_all": ("全部判定", "All verdicts"),
    "about_queue": ("机器判为“待人工审核”或“拒绝”且尚无人决定的广告，按优先级、由旧到新；他人正在审的已略过。",
                    "Review and reject verdicts no reviewer has decided about, by priority, "
                    "oldest first; items another reviewer has open are skipped."),
    "about_done": ("已有审核员决定的广告；最新的决定即生效结果。",
                   "Verdicts a reviewer has decided about; the latest decision is the "
                   "effective one."),
    "about_errors": ("无法处理的图片及原因。", "Images that could not be judged, with the reason."),
    "about_all": ("所有当前判定。", "Every current verdict."),
    "decision": ("机器判定", "decision"),
    "effective": ("生效结果", "effective"),
    "category": ("类别", "category"),
    "rule": ("规则", "rule"),
    "industry": ("行业", "industry"),
    "ad_id": ("广告编号", "ad id"),
    "since": ("时间范围", "since"),
    "search": ("识别文字", "OCR text"),
    "reviewer": ("审核员", "reviewer"),
    "any": ("不限", "any"),
    "filter": ("筛选", "Filter"),
    "clear": ("清除", "clear"),
    "export": ("导出 CSV", "Export CSV"),
    "nothing_left": ("没有待审核的广告了。", "Nothing left to review."),
    "nothing": ("这里没有内容。", "Nothing here."),
    "more": ("还有 {n} 条", "+{n} more"),
    "copies": ("相同图片 ×{n}", "identical ×{n}"),
    "first_page": ("第一页", "first page"),
    "next_page": ("下一页 →", "next page →"),
    "select": ("选择", "select"),
    "selected": ("已选 {n} 条", "{n} selected"),
    "batch_pass": ("全部通过", "Pass all"),
    "batch_reject": ("全部拒绝", "Reject all"),
    "batch_done": ("已决定 {n} 条，{bad} 条未成功。", "{n} decided, {bad} not."),
    "list": ("← 列表", "← list"),
    "previous": ("‹ 上一条", "‹ previous"),
    "next": ("下一条 ›", "next ›"),
    "first": ("第一条", "first"),
    "last": ("最后一条", "last"),
    "place": ("第 {place} / {total} 条", "{place} of {total}"),
    "left": ("剩 {total} 条", "{total} left"),
    "saved": ("已保存：{what} → {decision}", "Saved: {what} → {decision}"),
    "undo": ("撤销", "Undo"),
    "undone": ("已撤销对 {what} 的决定。", "Your decision about {what} was undone."),
    "cannot_undo": ("无法撤销：只能撤销自己最近 {m} 分钟内的最新决定。",
                    "Cannot undo: only your own latest decision of the last {m} minutes."),
    "conflict": ("{who} 已在 {when} 决定为「{decision}」；你的决定未保存。请查看后再决定。",
                 "{who} decided {decision} at {when}; your decision was not saved. "
                 "Look again, then decide."),
    "claimed": ("{who} 正在审核此条（至 {until}）。", "{who} has this item open (until {until})."),
    "not_judged": ("未能判定：", "Not judged: "),
    "no_image": ("此处无法显示该图片。", "The image of this submission is not available here."),
    "zoom_hint": ("点击图片（或按 z）放大。", "Click the image (or press z) to zoom."),
    "frame_of": ("第 {n} 帧 / 共 {m} 帧", "frame {n} of {m}"),
    "now": ("现为", "now"),
    "judged_at": ("判定于 {when}", "judged {when}"),
    "submitted_by": ("提交方", "submitted by"),
    "confirm_reject": ("确认拒绝", "Confirm reject"),
    "pass_btn": ("通过", "Pass"),
    "reject_btn": ("拒绝", "Reject"),
    "note": ("备注（为什么）", "Note (why)"),
    "with_copies": ("同时决定 {n} 张相同图片", "decide the {n} identical images too"),
    "no_matches": ("没有命中（依据不确定的证据判定）。", "No matches (decided on uncertain evidence)."),
    "phrase": ("词", "phrase"),
    "uncertain": ("不确定", "uncertain"),
    "old_rules": ("旧规则集判定", "judged by an older rule set"),
    "rejudge": ("按现行规则重判", "Re-judge with the current rules"),
    "rejudged": ("已按现行规则重判。", "Re-judged with the current rules."),
    "requeue": ("重新排队", "Requeue"),
    "requeued": ("已重新排队。", "Requeued."),
    "d_pass": ("通过", "pass"),
    "d_review": ("待人工审核", "review"),
    "d_reject": ("拒绝", "reject"),
    "d_error": ("出错", "error"),
    "h_rules": ("哪些规则误判", "Which rules misfire"),
    "rules_about": ("根据审核员对 {n} 条当前判定的决定（已审 {r} 条）。确认：审核员维持标记；推翻：审核员放行。准确率 = 确认 / 已审命中。",
                    "From reviewer decisions on {n} current verdicts ({r} reviewed). A hit is "
                    "confirmed when the reviewer kept the ad flagged, overridden when they "
                    "passed it; precision = confirmed / reviewed hits."),
    "show": ("显示", "Show"),
    "hits": ("命中", "hits"),
    "confirmed": ("确认", "confirmed"),
    "overridden": ("推翻", "overridden"),
    "precision": ("准确率", "precision"),
    "in_context": ("被推翻时的上下文", "overridden in context"),
    "no_hits": ("还没有命中。", "No hits yet."),
    "ads": ("查看广告", "ads"),
    "k_next": ("下一条 / 上一条", "next / previous item"),
    "k_open": ("打开选中的条目（列表）", "open the selected item (queue)"),
    "k_x": ("选中 / 取消选中（批量）", "select for a batch"),
    "k_a": ("确认机器判定（仅限通过或拒绝）", "confirm the machine decision (pass or reject only)"),
    "k_p": ("通过", "pass"),
    "k_r": ("拒绝", "reject"),
    "k_n": ("写备注（Esc 离开；Ctrl+Enter 确认）", "write a note (Esc leaves; Ctrl+Enter confirms)"),
    "k_z": ("放大图片", "zoom the image"),
    "k_u": ("回到列表（保留位置）", "back to the list (your place kept)"),
    "k_help": ("显示 / 隐藏快捷键", "show or hide these keys"),
    "k_after": ("决定后自动打开下一条。", "After a decision the next item opens."),
    "bad_filter": ("筛选条件无效：{why}", "Filter not usable: {why}"),
    "not_found": ("没有这条提交的判定。", "No verdict for this submission."),
    "form_expired": ("表单已过期，请刷新后重试。", "The form expired; reload and try again."),
}


def words(lang: str) -> Callable[..., str]:
    """``t(key, **values)`` in ``lang`` (``zh`` or ``en``); an unknown key is itself."""
    index = 1 if lang == "en" else 0

    def t(key: str, **values: object) -> str:
        pair = WORDS.get(key)
        text = key if pair is None else pair[index]
        return text.format(**values) if values else text

    return t


def pick_lang(cookie: str | None) -> str:
    """The language a cookie value names, else the default."""
    return cookie if cookie in LANGS else DEFAULT_LANG


__all__ = ["DEFAULT_LANG", "LANGS", "LANG_COOKIE", "WORDS", "pick_lang", "words"]

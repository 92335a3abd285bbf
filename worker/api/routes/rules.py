"""Rule editors: the active rule set, what it finds in a text, which rules misfire
(``GET /v1/rules/stats``, from reviewer decisions) and what a candidate rule set would
change in the stored verdicts (``POST /v1/rules/diff``, the dry run of ``adreview rules
diff``).

Judging runs off the event loop, at most ``CPU_SLOTS`` texts at once per process, and a
text is at most ``RULE_TEST_MAX_CHARS`` characters, so that a long text neither stalls
other requests nor keeps a process busy for long. A candidate rule set is loaded within
the loader's limits (no YAML aliases, bounded file, folder and rule counts; the routes'
bodies are at most ``RULES_BODY_LIMIT``) and a diff stops after ``RULES_DIFF_SECONDS``.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query

from rules import load_ruleset
from worker.api.deps import StateDep, roles
from worker.api.routes.verdicts import Moment, _moment
from worker.api.schemas import RuleDiffIn, RulesOut, RuleTestIn, RuleTestOut
from worker.api.state import ApiProblem
from worker.db.keys import StoredKey
from worker.db.records import ruleset_content
from worker.errors import RuleError
from worker.rule_stats import CONTEXT, MIN_OVERRIDES, rule_stats
from worker.rules_diff import diff_rules

#: Seconds a rule diff may judge stored ads before it stops with 422 ``diff_too_large``
#: (narrow it with ``since`` or ``limit``); the candidate's loading is bounded by the
#: loader's size limits.
RULES_DIFF_SECONDS = 60.0

#: A candidate rule file's name: a relative path of plain parts ending in .yaml or .yml.
RULE_FILE = re.compile(r"(?:[A-Za-z0-9_-][A-Za-z0-9._-]*/){0,3}[A-Za-z0-9_-][A-Za-z0-9._-]*\.ya?ml")

router = APIRouter()


@router.get("/v1/rules", response_model=RulesOut, tags=["rule editors"])
async def get_rules(state: StateDep,
                    _key: Annotated[StoredKey, roles("GET", "/v1/rules")]) -> RulesOut:
    """The active rule set: version, categories, declared industries and rules."""
    ruleset = await state.run_cpu(state.ruleset)
    return RulesOut(version=ruleset.version, **ruleset_content(ruleset))


@router.post("/v1/rules/test", response_model=RuleTestOut, tags=["rule editors"])
async def test_rules(
    body: RuleTestIn, state: StateDep,
    _key: Annotated[StoredKey, roles("POST", "/v1/rules/test")],
) -> RuleTestOut:
    """What fires on a text: the same JSON as `adreview rules test --json`.

    With `industry`, only the rules that apply to ads of that industry; one the rule
    set does not declare is 422 `unknown_industry`. Answered 503 `busy` (with
    `Retry-After`) when this process is already judging as many texts as it may.
    """

    def judge() -> dict[str, Any]:
        return state.ruleset().judge(body.text, body.industry).to_dict()

    return RuleTestOut(**await state.run_cpu(judge))


@router.get("/v1/rules/stats", tags=["rule editors"])
async def get_rule_stats(
    state: StateDep,
    _key: Annotated[StoredKey, roles("GET", "/v1/rules/stats")],
    since: Annotated[Moment, Query(
        description="Verdicts judged at or after: an ISO time or an age (7d).")] = None,
    context: Annotated[int, Query(ge=0, le=20, description="Characters either side.")]
    = CONTEXT,
    min_overrides: Annotated[int, Query(ge=1, le=1000)] = MIN_OVERRIDES,
) -> dict[str, Any]:
    """Per rule and per phrase: hits, confirmed, overridden, precision, and the most
    common surrounding text of overridden hits; for a rule with many overrides in one
    context, the YAML exception that would silence it (to review, never applied)."""
    start = _moment("since", since)
    ruleset = await state.run_cpu(state.ruleset)

    def tally() -> dict[str, Any]:
        return rule_stats(state.store(), ruleset, since=start, context=context,
                          min_overrides=min_overrides).to_dict()

    return await state.run_db(tally)


@router.post("/v1/rules/diff", tags=["rule editors"])
async def post_rules_diff(
    body: RuleDiffIn, state: StateDep,
    _key: Annotated[StoredKey, roles("POST", "/v1/rules/diff")],
) -> dict[str, Any]:
    """Dry run of a candidate rule set on the stored OCR: the JSON of `adreview rules
    diff --json`. `files` (path -> YAML text) replace or add files of the active rule
    folder (with `replace: true`, they are the whole candidate). Nothing is written.
    A candidate that does not load is 422 `invalid_rules` with its problems."""
    for name in body.files:
        if not RULE_FILE.fullmatch(name) or ".." in name.split("/"):
            raise ApiProblem(422, "invalid_request", f"files: {name[:80]!r} is not a rule "
                             "file name (a relative path ending in .yaml or .yml)")
    start = _moment("since", body.since)
    active = Path(state.settings.rules_dir)
    settings = state.settings

    def run() -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="adreview-candidate-") as folder:
            root = Path(folder) / "rules"
            if body.replace:
                root.mkdir()
            else:
                shutil.copytree(active, root)
            for name, text in body.files.items():
                target = root / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
            try:
                candidate = load_ruleset(root)
            except RuleError as exc:
                message = str(exc).replace(str(root) + "/", "")
                raise ApiProblem(422, "invalid_rules", message[:4000]) from None
        deadline = time.monotonic() + RULES_DIFF_SECONDS
        judged = 0

        def in_time(count: int) -> None:
            nonlocal judged
            judged += count
            if time.monotonic() > deadline:
                raise ApiProblem(422, "diff_too_large", f"the candidate judged {judged:,} "
                                 f"stored ads in {RULES_DIFF_SECONDS:g} s without finishing; "
                                 "narrow the diff with `since` or `limit`")

        return diff_rules(state.store(), candidate,
                          min_confidence=settings.min_match_confidence, since=start,
                          limit=body.limit, examples=body.examples,
                          on_progress=in_time).to_dict()

    return await state.run_db(run)


__all__ = ["router"]

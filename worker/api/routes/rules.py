"""Rule editors: the active rule set, and what it finds in a text.

Judging runs off the event loop, at most ``CPU_SLOTS`` texts at once per process, and a
text is at most ``RULE_TEST_MAX_CHARS`` characters, so that a long text neither stalls
other requests nor keeps a process busy for long.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter

from worker.api.deps import StateDep, roles
from worker.api.schemas import RulesOut, RuleTestIn, RuleTestOut
from worker.db.keys import StoredKey
from worker.db.records import ruleset_content

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


__all__ = ["router"]

"""The rule engine: banned-phrase rules as validated YAML data, matched in one pass.

``load_ruleset(dir)`` reads and validates a folder of rule files into a ``RuleSet``;
``RuleSet.match(text)`` returns the ``Match`` list and ``RuleSet.judge(text)`` the
decision with its evidence.
"""

from rules.engine import Judgement, Match, RuleSet
from rules.loader import load_ruleset
from rules.schema import Decision, Severity

__all__ = ["Decision", "Judgement", "Match", "RuleSet", "Severity", "load_ruleset"]

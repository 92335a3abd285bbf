"""Loading a rule folder: parse, validate, cross-check, compile.

Every problem is reported as ``file:line: what is wrong``, and all of them are collected
before failing, so a rule editor fixes a file in one round. Checked: YAML syntax,
duplicate keys, unknown keys, missing fields, wrong types, empty phrases, phrases that
normalise to nothing, duplicate rule and category ids, unknown categories and
severities, patterns and exception patterns RE2 cannot compile (with RE2's reason) or
that match empty text, exceptions that cannot excuse any hit of their rule, duplicate
industry ids and industries a rule names that no file declares, duplicate lexicon ids,
lexicon names that are macros, terms that normalise to nothing, and patterns naming a
lexicon no file declares.

Work is bounded whatever a file holds, because rule files also come from rule editors
over the API (``POST /v1/rules/diff``): a file over ``MAX_RULE_FILE_BYTES``, a folder of
more than ``MAX_RULE_FILES`` files or ``MAX_FOLDER_BYTES`` in all, more than
``MAX_YAML_NODES`` YAML values in a file or ``MAX_RULES`` rules in the set is refused
naming the limit, and YAML aliases (``*name``, merge keys included) are refused where
they are used: an alias repeats a value without copying text, so a few hundred bytes
of nested aliases stand for billions of values (the "billion laughs").
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import re2
import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from rules.engine import CORE_GROUP, RuleSet, compile_pattern, lexicon_expressions
from rules.normalize import Normalizer
from rules.schema import (
    PATTERN_MACROS,
    CategorySpec,
    IndustrySpec,
    LexiconSpec,
    RuleFile,
    RuleSpec,
    references,
)
from worker.errors import RuleError, RuleProblem

RULE_FILE_SUFFIXES = (".yaml", ".yml")

#: libyaml's parser when PyYAML was built with it (ten times faster on a rule folder);
#: the pure-Python one otherwise. Both give the same nodes, marks and errors.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Path_ = tuple[str | int, ...]

#: The largest rule file read, in bytes (the largest shipped file is about 22 KB).
MAX_RULE_FILE_BYTES = 1024 * 1024
#: The most bytes of rule files a folder may hold in all.
MAX_FOLDER_BYTES = 8 * 1024 * 1024
#: The most rule files a folder may hold.
MAX_RULE_FILES = 500
#: The most YAML values (mappings, lists and scalars) one file may hold.
MAX_YAML_NODES = 500_000
#: The most rules a rule set may hold (the shipped set has a few hundred).
MAX_RULES = 10_000


class _TooLarge(Exception):
    """A file holds more YAML values than ``MAX_YAML_NODES``."""


class _Aliased(Exception):
    """A YAML node met twice: an alias repeats it (``node`` is the anchored value)."""

    def __init__(self, node: yaml.Node) -> None:
        super().__init__()
        self.node = node


class _LineMap:
    """Where each value of a parsed YAML document starts (1-based lines), by path."""

    def __init__(self) -> None:
        self.lines: dict[Path_, int] = {}

    def line(self, path: Path_) -> int | None:
        """The line of ``path``, or of its nearest parent that has one."""
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]


@dataclass
class _Builder:
    """Turns a composed YAML node into Python data, recording lines and duplicate keys."""

    loader: Any
    file: str
    lines: _LineMap
    problems: list[RuleProblem]
    seen: set[int] = field(default_factory=set)

    def build(self, node: yaml.Node, path: Path_) -> Any:
        # An alias is the node it names, shared: met a second time, it is refused rather
        # than built again (built, nested aliases grow as their fan-out to the depth).
        if id(node) in self.seen:
            raise _Aliased(node)
        self.seen.add(id(node))
        if len(self.seen) > MAX_YAML_NODES:
            raise _TooLarge()
        self.lines.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                line = key_node.start_mark.line + 1
                if not isinstance(key_node, yaml.ScalarNode):
                    self.problems.append(RuleProblem(self.file, line, "a key must be plain text"))
                    continue
                name = key_node.value
                if name in result:
                    self.problems.append(RuleProblem(self.file, line, f"duplicate key {name!r}"))
                result[name] = self.build(value_node, (*path, name))
                self.lines.lines[(*path, name)] = line
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        # A scalar: the safe constructor resolves its type (str, int, bool, null ...).
        return self.loader.construct_object(node, deep=True)


def _describe(error: ErrorDetails) -> str:
    """A rule editor's wording of one pydantic error."""
    loc = error["loc"]
    field = loc[-1] if loc else ""
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"unknown key {field!r}"
    if kind == "missing":
        return f"missing field {field!r}"
    if kind == "enum":
        expected = error.get("ctx", {}).get("expected", "")
        return f"{_where(loc)}: {error['input']!r} is not one of {expected}"
    if kind == "string_too_short":
        return f"{_where(loc)}: empty text"
    if kind == "string_pattern_mismatch":
        return (
            f"{_where(loc)}: {error['input']!r} is not a valid id "
            "(lower-case letters, digits, '.', '_', '-')"
        )
    return f"{_where(loc)}: {error['msg']}"


def _where(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if not isinstance(p, int)]
    return parts[-1] if parts else "document"


@dataclass
class _Parsed:
    file: str
    model: RuleFile
    lines: _LineMap


def _first_alias(text: str) -> tuple[int | None, str]:
    """The line and name of the first alias in ``text`` (scanned, never built)."""
    for token in yaml.scan(text, Loader=_LOADER):
        if isinstance(token, yaml.AliasToken):
            return token.start_mark.line + 1, str(token.value)
    return None, ""


def _parse_file(path: Path, display: str, problems: list[RuleProblem]) -> _Parsed | None:
    try:
        size = path.stat().st_size
        if size > MAX_RULE_FILE_BYTES:
            problems.append(RuleProblem(
                display, None, f"the file is {size:,} bytes, over the limit of "
                f"{MAX_RULE_FILE_BYTES:,} bytes for a rule file (MAX_RULE_FILE_BYTES)"))
            return None
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        problems.append(RuleProblem(display, None, f"not UTF-8 text ({exc.reason})"))
        return None
    except OSError as exc:
        problems.append(RuleProblem(display, None, f"cannot read: {exc.strerror}"))
        return None
    try:
        loader = _LOADER(text)  # rejects control characters right here
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problems.append(RuleProblem(display, line, f"invalid YAML: {exc.problem or exc}"))
        return None
    except yaml.YAMLError as exc:
        problems.append(RuleProblem(display, None, f"invalid YAML: {exc}"))
        return None
    if node is None:
        loader.dispose()
        return _Parsed(display, RuleFile(), _LineMap())
    lines = _LineMap()
    try:
        data = _Builder(loader, display, lines, problems).build(node, ())
    except yaml.YAMLError as exc:
        problems.append(RuleProblem(display, node.start_mark.line + 1, f"invalid YAML: {exc}"))
        return None
    except _Aliased as exc:
        line, name = _first_alias(text)
        anchored = exc.node.start_mark.line + 1
        problems.append(RuleProblem(
            display, line or anchored,
            f"YAML alias *{name} (anchored at line {anchored}): aliases and merge keys are "
            "not allowed in rule files; write the values out"))
        return None
    except _TooLarge:
        problems.append(RuleProblem(
            display, None, f"the file holds more than {MAX_YAML_NODES:,} YAML values "
            "(MAX_YAML_NODES)"))
        return None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        problems.append(
            RuleProblem(
                display, lines.line(()), "a rule file is a mapping with 'categories' and/or 'rules'"
            )
        )
        return None
    try:
        model = RuleFile.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            problems.append(RuleProblem(display, lines.line(tuple(error["loc"])), _describe(error)))
        return _salvage(display, data, lines)
    return _Parsed(display, model, lines)


_ITEM_SPECS: tuple[
    tuple[str, type[CategorySpec | IndustrySpec | LexiconSpec | RuleSpec]], ...
] = (
    ("categories", CategorySpec), ("industries", IndustrySpec), ("lexicons", LexiconSpec),
    ("rules", RuleSpec),
)


def _salvage(display: str, data: dict[Any, Any], lines: _LineMap) -> _Parsed:
    """The entries of a file that failed validation which do validate on their own, so
    that the cross-file and semantic checks still see them (one pass reports everything).

    An invalid category or industry that has an id still counts as declared under it, so
    that the rules naming it get no second, misleading problem. The result only serves
    the checks: a file with problems never reaches ``RuleSet.build``.
    """
    kept: dict[str, list[Any]] = {}
    index: dict[tuple[str | int, ...], int] = {}  # (key, old index) -> new index
    for key, spec in _ITEM_SPECS:
        items = data.get(key)
        kept[key] = []
        for j, item in enumerate(items if isinstance(items, list) else []):
            try:
                entry: Any = spec.model_validate(item)
            except ValidationError as exc:
                ident = item.get("id") if isinstance(item, dict) else None
                if spec is RuleSpec:
                    entry = _partial_rule(item, exc)
                    if entry is None:
                        continue
                elif spec is LexiconSpec or not isinstance(ident, str):
                    continue
                else:
                    entry = spec.model_construct(id=ident.strip())
            index[(key, j)] = len(kept[key])
            kept[key].append(entry)
    renumbered = _LineMap()
    for path, line in lines.lines.items():
        if len(path) < 2 or path[0] not in kept:
            renumbered.lines[path] = line
        elif path[:2] in index:
            renumbered.lines[(path[0], index[path[:2]], *path[2:])] = line
    model = RuleFile.model_construct(categories=kept["categories"],
                                     industries=kept["industries"],
                                     lexicons=kept["lexicons"], rules=kept["rules"])
    return _Parsed(display, model, renumbered)


#: Stands for the category or id of a rule whose own failed validation (already reported),
#: so that the checks of its phrases, patterns and exceptions still run without a second,
#: misleading problem about it.
_UNCHECKED = "unchecked.invalid-value"
#: The description of such a rule, so that what it lacks is not reported again.
_PARTIAL = "\0a rule with invalid fields, rebuilt for the remaining checks"


def _partial_rule(item: Any, error: ValidationError) -> RuleSpec | None:
    """A rule that failed validation, without its invalid fields (a missing category, id
    or severity filled with a neutral value), or None when even that does not validate."""
    if not isinstance(item, dict):
        return None
    bad = {e["loc"][0] for e in error.errors() if e["loc"]}
    fields = {k: v for k, v in item.items() if k not in bad}
    if bad & {"phrases", "patterns"}:
        # What the rule matches is unknown: whether an exception could excuse a hit is too.
        fields.pop("exceptions", None)
    fields["description"] = _PARTIAL
    fields.setdefault("id", _UNCHECKED)
    fields.setdefault("category", _UNCHECKED)
    fields.setdefault("severity", "review")
    try:
        return RuleSpec.model_validate(fields)
    except ValidationError:
        return None


def rule_files(directory: Path) -> list[Path]:
    """The rule files of a folder (recursively), in a stable order."""
    return sorted(p for p in directory.rglob("*") if p.suffix in RULE_FILE_SUFFIXES and p.is_file())


def _declared(
    parsed: list[_Parsed], key: str, what: str, problems: list[RuleProblem]
) -> dict[str, str]:
    """The ids declared under ``key`` in every file, each with where it was first declared."""
    seen: dict[str, str] = {}
    for p in parsed:
        items: list[CategorySpec | IndustrySpec | LexiconSpec] = getattr(p.model, key)
        for i, item in enumerate(items):
            line = p.lines.line((key, i, "id"))
            if item.id in seen:
                problems.append(
                    RuleProblem(
                        p.file, line,
                        f"duplicate {what} id {item.id!r} (first declared at {seen[item.id]})",
                    )
                )
            else:
                seen[item.id] = f"{p.file}:{line}"
    return seen


def _check(parsed: list[_Parsed], problems: list[RuleProblem]) -> None:
    """Cross-file and semantic checks on schema-valid files."""
    normalizer = Normalizer()
    categories = _declared(parsed, "categories", "category", problems)
    industries = _declared(parsed, "industries", "industry", problems)
    _declared(parsed, "lexicons", "lexicon", problems)
    lexicons: list[LexiconSpec] = []
    for p in parsed:
        for i, lexicon in enumerate(p.model.lexicons):
            lexicons.append(lexicon)
            for line, message in _check_lexicon(lexicon, normalizer, p.lines, i):
                problems.append(RuleProblem(p.file, line, message))
    expressions = lexicon_expressions(lexicons, normalizer)
    rule_ids: dict[str, str] = {}
    for p in parsed:
        for i, rule in enumerate(p.model.rules):
            for line, message in _check_rule(
                rule, normalizer, set(categories), set(industries), p.lines, i, expressions
            ):
                problems.append(RuleProblem(p.file, line, message))
            line = p.lines.line(("rules", i, "id"))
            if rule.id == _UNCHECKED:
                continue
            if rule.id in rule_ids:
                problems.append(
                    RuleProblem(
                        p.file,
                        line,
                        f"duplicate rule id {rule.id!r} (first defined at {rule_ids[rule.id]})",
                    )
                )
            else:
                rule_ids[rule.id] = f"{p.file}:{line}"


def _check_lexicon(
    lexicon: LexiconSpec, normalizer: Normalizer, lines: _LineMap, index: int
) -> Iterator[tuple[int | None, str]]:
    def at(*path: str | int) -> int | None:
        return lines.line(("lexicons", index, *path))

    if lexicon.id in PATTERN_MACROS:
        yield at("id"), f"lexicon {lexicon.id!r}: the name of a pattern macro; choose another"
    seen: dict[str, str] = {}
    for j, term in enumerate(lexicon.terms):
        key = normalizer.fold(term)
        if not key:
            yield at("terms", j), f"lexicon {lexicon.id!r}: term {term!r} is only separators"
        elif key in seen:
            yield (at("terms", j),
                   f"lexicon {lexicon.id!r}: term {term!r} repeats {seen[key]!r}")
        else:
            seen[key] = term


def _compile(
    rule: RuleSpec, key: str, patterns: list[str], at: Any, expressions: dict[str, str]
) -> Iterator[tuple[int | None, str] | Any]:
    """Compile each pattern, yielding a compiled regex or a located problem."""
    label = "pattern" if key == "patterns" else "exception pattern"
    for j, pattern in enumerate(patterns):
        unknown = sorted({name for name in references(pattern)
                          if name not in expressions and name not in PATTERN_MACROS})
        if unknown:
            known = ", ".join(sorted([*PATTERN_MACROS, *expressions]))
            yield (at(key, j), f"rule {rule.id!r}: {label} {pattern!r} names unknown lexicon "
                   f"{', '.join(unknown)} (known: {known})")
            continue
        try:
            regex = compile_pattern(pattern, expressions)
        except re2.error as exc:
            reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
            yield (at(key, j), f"rule {rule.id!r}: {label} {pattern!r} does not compile: {reason}")
            continue
        if regex.search("") is not None:
            yield at(key, j), f"rule {rule.id!r}: {label} {pattern!r} matches empty text"
            continue
        others = sorted(set(regex.groupindex) - {CORE_GROUP})
        if others:
            yield (
                at(key, j),
                f"rule {rule.id!r}: {label} {pattern!r}: the only named group may be "
                f"{CORE_GROUP!r} (found {', '.join(others)})",
            )
            continue
        yield regex


def _check_rule(
    rule: RuleSpec, normalizer: Normalizer, categories: set[str], industries: set[str],
    lines: _LineMap, index: int, expressions: dict[str, str],
) -> Iterator[tuple[int | None, str]]:
    def at(*path: str | int) -> int | None:
        return lines.line(("rules", index, *path))

    if rule.category not in categories and rule.category != _UNCHECKED:
        known = ", ".join(sorted(categories)) or "none declared"
        yield (
            at("category"),
            f"rule {rule.id!r}: unknown category {rule.category!r} (known: {known})",
        )
    for key in ("industries", "exempt_industries", "review_industries"):
        for j, industry in enumerate(getattr(rule, key)):
            if industry not in industries:
                known = ", ".join(sorted(industries)) or "none declared"
                yield (
                    at(key, j),
                    f"rule {rule.id!r}: unknown industry {industry!r} (known: {known})",
                )
    overlap = set(rule.industries) & set(rule.exempt_industries)
    if overlap:
        yield (
            at("exempt_industries"),
            f"rule {rule.id!r}: {', '.join(sorted(overlap))} both limited to and exempt",
        )
    if rule.declared_only and not rule.industries:
        yield (at("declared_only"),
               f"rule {rule.id!r}: declared_only needs the industries it is limited to")
    overlap = set(rule.review_industries) & set(rule.exempt_industries)
    if overlap:
        yield (
            at("review_industries"),
            f"rule {rule.id!r}: {', '.join(sorted(overlap))} both review and exempt",
        )
    if not rule.phrases and not rule.patterns and rule.description != _PARTIAL:
        yield at(), f"rule {rule.id!r} has neither phrases nor patterns"
    folded: list[str] = []
    for j, phrase in enumerate(rule.phrases):
        key = normalizer.fold(phrase)
        if not phrase:
            yield at("phrases", j), f"rule {rule.id!r}: empty phrase"
        elif not key:
            yield at("phrases", j), f"rule {rule.id!r}: phrase {phrase!r} is only separators"
        folded.append(key)
    compiled = []
    for item in _compile(rule, "patterns", rule.patterns, at, expressions):
        if isinstance(item, tuple):
            yield item
        else:
            compiled.append(item)
    # An exception may lie on a pattern reported above: it is not judged against the rest.
    patterns_whole = len(compiled) == len(rule.patterns)
    for item in _compile(rule, "exception_patterns", rule.exception_patterns, at, expressions):
        if isinstance(item, tuple):
            yield item
    for j, exception in enumerate(rule.exceptions):
        key = normalizer.fold(exception)
        if not key:
            yield at("exceptions", j), f"rule {rule.id!r}: empty exception"
            continue
        if (patterns_whole and not any(f and f in key for f in folded)
                and not any(r.search(key) for r in compiled)):
            yield (
                at("exceptions", j),
                f"rule {rule.id!r}: exception {exception!r} contains none of the rule's "
                "phrases or patterns, so it can never excuse a hit",
            )


def _check_folder_size(root: Path, files: list[Path]) -> None:
    """Refuse a folder over ``MAX_RULE_FILES`` files or ``MAX_FOLDER_BYTES`` in all."""
    if len(files) > MAX_RULE_FILES:
        raise RuleError([RuleProblem(str(root), None, f"{len(files):,} rule files, over the "
                                     f"limit of {MAX_RULE_FILES:,} (MAX_RULE_FILES)")])
    total = 0
    for path in files:
        try:
            total += path.stat().st_size
        except OSError:  # reported when the file is read
            continue
    if total > MAX_FOLDER_BYTES:
        raise RuleError([RuleProblem(str(root), None, f"the rule files hold {total:,} bytes, "
                                     f"over the limit of {MAX_FOLDER_BYTES:,} (MAX_FOLDER_BYTES)")])


def load_ruleset(directory: Path | str) -> RuleSet:
    """Load, validate and compile every rule file under ``directory``.

    Raises ``RuleError`` listing every problem found, each as ``file:line: message``.
    """
    root = Path(directory)
    if not root.is_dir():
        raise RuleError([RuleProblem(str(root), None, "rule folder not found")])
    files = rule_files(root)
    if not files:
        raise RuleError([RuleProblem(str(root), None, "no rule files (*.yaml, *.yml) found")])
    _check_folder_size(root, files)
    problems: list[RuleProblem] = []
    parsed = []
    for path in files:
        result = _parse_file(path, str(path), problems)
        if result is not None:
            parsed.append(result)
    _check(parsed, problems)
    if problems:
        raise RuleError(sorted(problems, key=lambda p: (p.file, p.line or 0)))
    categories: list[CategorySpec] = [c for p in parsed for c in p.model.categories]
    industries: list[IndustrySpec] = [i for p in parsed for i in p.model.industries]
    lexicons: list[LexiconSpec] = [x for p in parsed for x in p.model.lexicons]
    rules: list[RuleSpec] = [r for p in parsed for r in p.model.rules]
    if len(rules) > MAX_RULES:
        raise RuleError([RuleProblem(str(root), None, f"the rule set has {len(rules):,} "
                                     f"rules, over the limit of {MAX_RULES:,} (MAX_RULES)")])
    if not rules:
        raise RuleError([RuleProblem(str(root), None, "the rule set has no rules")])
    return RuleSet.build(categories, rules, sources=[str(p) for p in files],
                         industries=industries, lexicons=lexicons)

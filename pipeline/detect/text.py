"""Narrative understanding: concept mentions and their context (NegEx-style, our own implementation).

Compiled patterns (one per first letter) find every term of every concept at word starts
(longest term first). Each mention is
then judged in its sentence: negated ("denies drug use", "no signs of overdose", "narcan
withheld"), historical ("hx of heroin use", "overdosed last year"), about another person
("brother overdosed"), hypothetical ("risk of overdose explained") or asserted. Uncertain
mentions ("possible OD", "suspected fentanyl") stay asserted: a suspected overdose is an overdose
for detection. Only offsets leave this module, never text.
"""
from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from typing import Literal

Status = Literal["asserted", "negated", "history", "other", "hypothetical"]
_SPACE = r"[\s-]+"
_WORD_START = re.compile(r"(?<![a-z0-9])[a-z0-9]", re.I)
_TOKEN = re.compile(r"[a-z0-9][a-z0-9'&/-]*")
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+|\s*<br\s*/?>\s*", re.I)


@dataclass(frozen=True, slots=True)
class Mention:
    concept: str
    start: int
    end: int
    status: Status
    field: str
    sentence: int = 0
    improved: bool | None = None  # naloxone mentions: response improved / not / unknown


@dataclass(frozen=True)
class TextRules:
    """Compiled narrative vocabulary and context cues (built from narrative.yaml)."""

    patterns: dict[str, re.Pattern]  # first character of a term -> the terms starting with it
    group_concept: dict[str, str]
    other_sensitive: frozenset[str]
    negation_pre: Phrases
    negation_post: Phrases
    history_pre: Phrases
    history_list: Phrases
    history_post: re.Pattern
    hypothetical_pre: Phrases
    hypothetical_exempt: frozenset[str]
    dispatch_info_pre: Phrases
    terminators: Phrases
    other_persons: frozenset[str]
    patient_anchors: frozenset[str]
    reporter_marks: frozenset[str]
    reporter_verbs: frozenset[str]
    possessives: frozenset[str]
    improved: re.Pattern
    not_improved: re.Pattern
    window: int
    post_window: int
    response_concept: str


class Phrases:
    """A set of cue phrases compared on whole tokens: one-word cues by set lookup, longer ones by
    substring tests on the space-joined tokens (both in C, faster than a regex per mention)."""

    def __init__(self, phrases: list[str]) -> None:
        grams = {" ".join(_TOKEN.findall(p.lower())) for p in phrases} - {""}
        self.words = frozenset(g for g in grams if " " not in g)
        self.multi = tuple(f" {g} " for g in sorted(grams) if " " in g)

    def any_in(self, tokens: list[str]) -> bool:
        if not self.words.isdisjoint(tokens):
            return True
        if not self.multi or len(tokens) < 2:
            return False
        joined = f" {' '.join(tokens)} "
        return any(p in joined for p in self.multi)

    def starts(self, tokens: list[str]) -> bool:
        if not tokens:
            return False
        if tokens[0] in self.words:
            return True
        joined = f" {' '.join(tokens)} "
        return any(joined.startswith(p) for p in self.multi)

    def after_last(self, tokens: list[str]) -> int:
        """Index just after the last phrase in tokens (0 when none)."""
        last = next((i + 1 for i in range(len(tokens) - 1, -1, -1) if tokens[i] in self.words), 0)
        if self.multi and len(tokens) >= 2:
            joined = f" {' '.join(tokens)} "
            end = max((i + len(p) for p in self.multi if (i := joined.rfind(p)) >= 0), default=0)
            if end:
                last = max(last, joined.count(" ", 0, end) - 1)
        return last


def _alternation(words: list[str]) -> str:
    return "|".join(sorted((w.replace(" ", _SPACE) for w in words), key=len, reverse=True))


def _cue(words: list[str], anchor: str = "") -> re.Pattern:
    return re.compile(rf"(?<![a-z0-9])(?:{_alternation(words)})(?![a-z0-9]){anchor}", re.I)


def _first_chars(term: str) -> set[str]:
    """The characters a term can start with (a leading "(?:a|b)" group is expanded)."""
    lead = re.match(r"\(\?:([^()]*)\)", term)
    alternatives = lead.group(1).split("|") if lead else [term]
    firsts = {a[:1].lower() for a in alternatives}
    if not firsts or not all(c.isalnum() for c in firsts):
        raise ValueError(f"term {term!r} must start with a letter or digit (or a (?:...) group of such)")
    return firsts


def compile_text_rules(spec: dict) -> TextRules:
    """Compile the `terms` and `cues` sections of narrative.yaml."""
    seen: dict[str, str] = {}
    group_concept = {}
    terms = [(concept, term) for concept, ts in spec["terms"].items() for term in ts]
    for concept, term in terms:
        key = term.lower()
        if key in seen:
            raise ValueError(f"term {term!r} is in both {seen[key]} and {concept}")
        seen[key] = concept
    buckets: dict[str, list[str]] = {}
    for i, (concept, term) in enumerate(sorted(terms, key=lambda t: len(t[1]), reverse=True)):
        group = f"g{i}"
        group_concept[group] = concept
        for first in _first_chars(term):
            buckets.setdefault(first, []).append(f"(?P<{group}>{term.replace(' ', _SPACE)})")
    patterns = {c: re.compile(rf"(?:{'|'.join(ps)})(?![a-z0-9])", re.I) for c, ps in buckets.items()}
    cues = spec["cues"]
    return TextRules(
        patterns=patterns, group_concept=group_concept,
        other_sensitive=frozenset(spec["other_person_sensitive"]),
        negation_pre=Phrases(cues["negation_pre"]), negation_post=Phrases(cues["negation_post"]),
        history_pre=Phrases(cues["history_pre"]), history_list=Phrases(cues["history_list"]),
        history_post=_cue(cues["history_post"]), hypothetical_pre=Phrases(cues["hypothetical_pre"]),
        hypothetical_exempt=frozenset(spec.get("hypothetical_exempt", ())),
        dispatch_info_pre=Phrases(cues["dispatch_info_pre"]),
        terminators=Phrases(cues["terminators"]),
        other_persons=frozenset(cues["other_persons"]), patient_anchors=frozenset(cues["patient_anchors"]),
        reporter_marks=frozenset(cues["reporter_marks"]), reporter_verbs=frozenset(cues["reporter_verbs"]),
        possessives=frozenset(cues["possessives"]),
        improved=_cue(cues["response_improved"]), not_improved=_cue(cues["response_not_improved"]),
        window=int(cues.get("window", 6)), post_window=int(cues.get("post_window", 4)),
        response_concept=spec.get("response_concept", "naloxone"),
    )


def _sentences(text: str) -> list[int]:
    starts = [0]
    starts.extend(m.end() for m in _SENTENCE_END.finditer(text))
    return starts


def _about_other(rules: TextRules, tokens: list[str], need_possessive: bool) -> bool:
    """Whether the last person named before the term (in its sentence) is someone else."""
    for i in range(len(tokens) - 1, -1, -1):
        tok = tokens[i]
        if tok in rules.patient_anchors:
            return False
        if tok in rules.other_persons or (tok.startswith("ex-") and tok[3:] in rules.other_persons):
            prev = tokens[i - 1] if i else ""
            prev2 = tokens[i - 2] if i > 1 else ""
            after = tokens[i + 1] if i + 1 < len(tokens) else ""
            if prev in rules.reporter_marks or prev2 in rules.reporter_marks or after in rules.reporter_verbs:
                continue
            if need_possessive and prev not in rules.possessives:
                continue
            return True
    return False


def _status(rules: TextRules, text: str, start: int, end: int, s_start: int, s_end: int,
            concept: str, need_possessive: bool) -> Status:
    before = _TOKEN.findall(text[s_start:start].lower())
    clause = before[rules.terminators.after_last(before):]
    window = clause[-rules.window:]
    after = _TOKEN.findall(text[end:s_end].lower())[: rules.post_window]
    if rules.negation_pre.any_in(window) or rules.negation_post.starts(after):
        return "negated"
    if concept not in rules.hypothetical_exempt and rules.hypothetical_pre.any_in(window):
        return "hypothetical"
    if rules.dispatch_info_pre.any_in(clause[-3:]):
        return "hypothetical"
    if (rules.history_pre.any_in(clause[-4:]) or rules.history_list.any_in(before)
            or rules.history_post.search(text, end, s_end)):
        return "history"
    if concept in rules.other_sensitive and _about_other(rules, before, need_possessive):
        return "other"
    return "asserted"


def _response(rules: TextRules, text: str, end: int, s_end: int, next_end: int) -> bool | None:
    scope = text[end:next_end]
    if rules.not_improved.search(scope[: s_end - end + 40]):
        return False
    if rules.improved.search(scope):
        return True
    return None


def _find(rules: TextRules, text: str):
    """Leftmost, first-listed (longest) term matches at word starts, not overlapping."""
    last_end = 0
    for w in _WORD_START.finditer(text):
        pos = w.start()
        if pos < last_end:
            continue
        pattern = rules.patterns.get(text[pos].lower())
        m = pattern.match(text, pos) if pattern else None
        if m:
            last_end = m.end()
            yield m


def mentions(rules: TextRules, text: str, field: str, *, dispatch: bool = False) -> list[Mention]:
    """Every concept mention in `text`, with its context status (offsets into `text`)."""
    if not text:
        return []
    starts = _sentences(text)
    out: list[Mention] = []
    for m in _find(rules, text):
        group = m.lastgroup
        assert group is not None
        concept = rules.group_concept[group]
        i = bisect_right(starts, m.start()) - 1
        s_start = starts[i]
        s_end = starts[i + 1] if i + 1 < len(starts) else len(text)
        status = _status(rules, text, m.start(), m.end(), s_start, s_end, concept, dispatch)
        improved = None
        if concept == rules.response_concept:
            next_end = starts[i + 2] if i + 2 < len(starts) else len(text)
            improved = _response(rules, text, m.end(), s_end, next_end)
        out.append(Mention(concept, m.start(), m.end(), status, field, i, improved))
    return out

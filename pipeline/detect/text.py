"""Narrative understanding: concept mentions and their context (NegEx-style, our own implementation).

Compiled patterns (one per first two letters) find every term of every concept at word starts
(longest term first). Each mention is
then judged in its sentence: negated ("denies drug use", "no signs of overdose", "narcan
withheld"), historical ("hx of heroin use", "overdosed last year"), about another person
("brother overdosed"), hypothetical ("risk of overdose explained") or asserted. Uncertain
mentions ("possible OD", "suspected fentanyl") stay asserted: a suspected overdose is an overdose
for detection. A drug named in a law-enforcement context ("possession of heroin", "meth found in
console", "dope sales") is nobody's use ("other"). Only offsets leave this module, never text.

The cues depend on the source. In an ePCR the crew writes about the patient, so "pt's brother uses
heroin" is someone else. In 911 call notes the caller usually describes someone else who *is* the
patient ("CALLER STATES HER SON OD'D"): there a relative, roommate or stranger is the patient unless
the notes already described a different person as the subject ("ELDERLY FEMALE FALL, CALLER STATES
NEPHEW ON FENTANYL"); and a caller's "hx of heroin use" in the sentence that reports an acute sign
("NOT BREATHING, HX FENT USE PER RP") is why the caller suspects an overdose now, so it is asserted.
"""
from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, replace
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

    patterns: dict[str, re.Pattern]  # first two (or one) characters of a term -> the terms starting so
    group_concept: dict[str, str]
    other_sensitive: frozenset[str]
    negation_pre: Phrases
    negation_post: Phrases
    negation_pseudo: tuple[str, ...]
    negation_local: Phrases
    history_pre: Phrases
    history_list: Phrases
    history_post: re.Pattern
    hypothetical_pre: Phrases
    hypothetical_exempt: frozenset[str]
    dispatch_info_pre: Phrases
    dispatch_info_fillers: frozenset[str]
    terminators: Phrases
    other_persons: frozenset[str]
    patient_anchors: frozenset[str]
    reporter_marks: frozenset[str]
    reporter_verbs: frozenset[str]
    enforcement_pre: Phrases
    enforcement_post: Phrases
    drug_concepts: frozenset[str]
    dispatch_subjects: frozenset[str]
    callers: frozenset[str]
    person_suffixes: frozenset[str]
    caller_complaints: frozenset[str]
    acute_concepts: frozenset[str]
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
        self.firsts = frozenset(g.split(" ", 1)[0] for g in grams if " " in g)  # a multi-word phrase needs its first word

    def any_in(self, tokens: list[str]) -> bool:
        if not self.words.isdisjoint(tokens):
            return True
        if not self.multi or len(tokens) < 2 or self.firsts.isdisjoint(tokens):
            return False
        joined = f" {' '.join(tokens)} "
        return any(p in joined for p in self.multi)

    def starts(self, tokens: list[str]) -> bool:
        if not tokens:
            return False
        if tokens[0] in self.words:
            return True
        if tokens[0] not in self.firsts:
            return False
        joined = f" {' '.join(tokens)} "
        return any(joined.startswith(p) for p in self.multi)

    def ends(self, tokens: list[str]) -> bool:
        if not tokens:
            return False
        if tokens[-1] in self.words:
            return True
        joined = f" {' '.join(tokens)} "
        return any(joined.endswith(p) for p in self.multi)

    def after_last(self, tokens: list[str]) -> int:
        """Index just after the last phrase in tokens (0 when none)."""
        last = next((i + 1 for i in range(len(tokens) - 1, -1, -1) if tokens[i] in self.words), 0)
        if self.multi and len(tokens) >= 2 and not self.firsts.isdisjoint(tokens):
            joined = f" {' '.join(tokens)} "
            end = max((i + len(p) for p in self.multi if (i := joined.rfind(p)) >= 0), default=0)
            if end:
                last = max(last, joined.count(" ", 0, end) - 1)
        return last


def _alternation(words: list[str]) -> str:
    return "|".join(sorted((w.replace(" ", _SPACE) for w in words), key=len, reverse=True))


def _cue(words: list[str], anchor: str = "") -> re.Pattern:
    return re.compile(rf"(?<![a-z0-9])(?:{_alternation(words)})(?![a-z0-9]){anchor}", re.I)


def _prefixes(term: str) -> set[str]:
    """The keys a term is filed under: its first two characters when both are literal letters or digits,
    else its first (a leading "(?:a|b)" group is expanded; it may not be optional)."""
    lead = re.match(r"\(\?:([^()]*)\)", term)
    if lead and term[lead.end():lead.end() + 1] in ("?", "*", "{"):
        raise ValueError(f"term {term!r} may not start with an optional group")
    alternatives = [a + term[lead.end():] for a in lead.group(1).split("|")] if lead else [term]
    keys = set()
    for a in alternatives:
        if not a[:1].isalnum():
            raise ValueError(f"term {term!r} must start with a letter or digit (or a (?:...) group of such)")
        two = a[:2]
        literal = len(two) == 2 and two.isalnum() and a[2:3] not in ("?", "*", "{")
        keys.add((two if literal else a[:1]).lower())
    return keys


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
        for key in _prefixes(term):
            buckets.setdefault(key, []).append(f"(?P<{group}>{term.replace(' ', _SPACE)})")
    patterns = {c: re.compile(rf"(?:{'|'.join(ps)})(?![a-z0-9])", re.I) for c, ps in buckets.items()}
    cues = spec["cues"]
    return TextRules(
        patterns=patterns, group_concept=group_concept,
        other_sensitive=frozenset(spec["other_person_sensitive"]),
        negation_pre=Phrases(cues["negation_pre"]), negation_post=Phrases(cues["negation_post"]),
        negation_local=Phrases(cues["negation_local"]),
        negation_pseudo=tuple(sorted({" ".join(_TOKEN.findall(p.lower())) for p in cues["negation_pseudo"]}, key=len, reverse=True)),
        history_pre=Phrases(cues["history_pre"]), history_list=Phrases(cues["history_list"]),
        history_post=_cue(cues["history_post"]), hypothetical_pre=Phrases(cues["hypothetical_pre"]),
        hypothetical_exempt=frozenset(spec.get("hypothetical_exempt", ())),
        dispatch_info_pre=Phrases(cues["dispatch_info_pre"]),
        dispatch_info_fillers=frozenset(cues["dispatch_info_fillers"]),
        terminators=Phrases(cues["terminators"]),
        other_persons=frozenset(cues["other_persons"]), patient_anchors=frozenset(cues["patient_anchors"]),
        reporter_marks=frozenset(cues["reporter_marks"]), reporter_verbs=frozenset(cues["reporter_verbs"]),
        enforcement_pre=Phrases(cues["enforcement_pre"]), enforcement_post=Phrases(cues["enforcement_post"]),
        drug_concepts=frozenset(spec["drug_concepts"]),
        dispatch_subjects=frozenset(cues["dispatch_subjects"]), callers=frozenset(cues["callers"]),
        person_suffixes=frozenset(cues["person_suffixes"]),
        caller_complaints=frozenset(cues["caller_complaints"]), acute_concepts=frozenset(spec["acute_concepts"]),
        improved=_cue(cues["response_improved"]), not_improved=_cue(cues["response_not_improved"]),
        window=int(cues.get("window", 6)), post_window=int(cues.get("post_window", 4)),
        response_concept=spec.get("response_concept", "naloxone"),
    )


def _sentences(text: str) -> list[int]:
    starts = [0]
    starts.extend(m.end() for m in _SENTENCE_END.finditer(text))
    return starts


def _nearest_other(rules: TextRules, tokens: list[str]) -> int | None:
    """Index of the last person named before the term (in its sentence) when that person is someone
    other than the patient by the ePCR reading; None when it is the patient or a reporter."""
    for i in range(len(tokens) - 1, -1, -1):
        tok = tokens[i]
        if tok in rules.patient_anchors:
            return None
        if tok in rules.other_persons or (tok.startswith("ex-") and tok[3:] in rules.other_persons):
            prev = tokens[i - 1] if i else ""
            prev2 = tokens[i - 2] if i > 1 else ""
            after = _after(rules, tokens, i)
            if prev in rules.reporter_marks or prev2 in rules.reporter_marks or after in rules.reporter_verbs:
                continue
            return i
    return None


def _after(rules: TextRules, tokens: list[str], i: int) -> str:
    """The token after the person at i, past a word that completes it ("family member")."""
    j = i + 1
    while j < len(tokens) and tokens[j] in rules.person_suffixes:
        j += 1
    return tokens[j] if j < len(tokens) else ""


def _first_subject(rules: TextRules, tokens: list[str]) -> int | None:
    """In call notes, the index of the first person described (not a reporter), if any."""
    for i, tok in enumerate(tokens):
        after = tokens[i + 1] if i + 1 < len(tokens) else ""
        if tok in rules.callers:  # "CALLER C/O DIZZINESS" is the patient; "CALLER IS HER MOTHER" is not
            if after in rules.caller_complaints and not rules.other_persons.intersection(tokens[i + 2:i + 4]):
                return i
            continue
        if tok in rules.dispatch_subjects or tok in rules.other_persons:
            prev = tokens[i - 1] if i else ""
            if prev in rules.reporter_marks or _after(rules, tokens, i) in rules.reporter_verbs:
                continue
            return i
    return None


def _about_other(rules: TextRules, text: str, s_start: int, start: int, dispatch: bool) -> bool:
    """Whether the term is about someone other than the patient (see the module docstring). The person
    is looked for in the term's clause (a comma or colon ends a list item: "ex is poisoning his coffee,
    pressured speech" says the speech is the patient's)."""
    local = text[s_start:start]
    cut = max(local.rfind(","), local.rfind(":")) + 1
    clause = _TOKEN.findall(local[cut:].lower())
    i = _nearest_other(rules, clause)
    if i is None:
        return False
    if not dispatch:
        return True
    earlier = _TOKEN.findall(text[:s_start + cut].lower()) + clause[:i]
    return _first_subject(rules, earlier) is not None


def _status(rules: TextRules, text: str, start: int, end: int, s_start: int, s_end: int,
            concept: str, dispatch: bool, before: list[str], after: list[str]) -> Status:
    """`before`: the sentence's tokens before the term; `after`: the first tokens after it."""
    clause = before[rules.terminators.after_last(before):]
    window = _unpseudo(rules, clause[-rules.window - 2:])[-rules.window:]
    if rules.negation_pre.any_in(window) or rules.negation_post.starts(after) or (
            rules.negation_local.any_in(window) and _locally_negated(rules, text, s_start, start)):
        return "negated"
    if concept not in rules.hypothetical_exempt and rules.hypothetical_pre.any_in(window):
        return "hypothetical"
    if _dispatch_info(rules, clause):
        return "hypothetical"
    if (rules.history_pre.any_in(clause[-4:]) or rules.history_list.any_in(before)
            or rules.history_post.search(text, end, s_end)):
        return "history"
    if concept in rules.drug_concepts and (
            rules.enforcement_pre.any_in(clause[-rules.window:]) or rules.enforcement_post.starts(after)):
        return "other"
    if concept in rules.other_sensitive and _about_other(rules, text, s_start, start, dispatch):
        return "other"
    return "asserted"


def _dispatch_info(rules: TextRules, clause: list[str]) -> bool:
    """What the unit was sent for ("dispatched for a possible OD"): the cue, then only fillers, then the term."""
    end = len(clause)
    while end and clause[end - 1] in rules.dispatch_info_fillers:
        end -= 1
    return end > 0 and rules.dispatch_info_pre.ends(clause[max(0, end - 3):end])


def _locally_negated(rules: TextRules, text: str, s_start: int, start: int) -> bool:
    """A clause-local cue ("not") between the last comma and the term."""
    local = text[s_start:start]
    segment = _TOKEN.findall(local[local.rfind(",") + 1:].lower())
    return rules.negation_local.any_in(_unpseudo(rules, segment)[-rules.window:])


def _unpseudo(rules: TextRules, window: list[str]) -> list[str]:
    """The window without phrases that contain a negation word but negate nothing ("not breathing")."""
    if not rules.negation_pseudo or not (rules.negation_local.any_in(window) or rules.negation_pre.any_in(window)):
        return window
    joined = f" {' '.join(window)} "
    for phrase in rules.negation_pseudo:
        joined = joined.replace(f" {phrase} ", " ")
    return joined.split()


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
        key = text[pos:pos + 2].lower()
        two, one = rules.patterns.get(key), rules.patterns.get(key[:1])
        m = two.match(text, pos) if two else None
        m1 = one.match(text, pos) if one else None
        if m1 and (not m or int(m1.lastgroup[1:]) < int(m.lastgroup[1:])):  # the first-listed term wins
            m = m1
        if m:
            last_end = m.end()
            yield m


def mentions(rules: TextRules, text: str, field: str, *, dispatch: bool = False) -> list[Mention]:
    """Every concept mention in `text`, with its context status (offsets into `text`)."""
    if not text:
        return []
    starts = _sentences(text)
    lowered = text.lower()
    tokens: dict[int, tuple[list[int], list[str]]] = {}  # per sentence: token starts, tokens (once)
    out: list[Mention] = []
    for m in _find(rules, text):
        group = m.lastgroup
        assert group is not None
        concept = rules.group_concept[group]
        i = bisect_right(starts, m.start()) - 1
        s_start = starts[i]
        s_end = starts[i + 1] if i + 1 < len(starts) else len(text)
        if i not in tokens:
            found = list(_TOKEN.finditer(lowered, s_start, s_end))
            tokens[i] = ([t.start() for t in found], [t.group() for t in found])
        positions, words = tokens[i]
        b, a = bisect_left(positions, m.start()), bisect_left(positions, m.end())
        status = _status(rules, text, m.start(), m.end(), s_start, s_end, concept, dispatch,
                         words[:b], words[a:a + rules.post_window])
        improved = None
        if concept == rules.response_concept:
            next_end = starts[i + 2] if i + 2 < len(starts) else len(text)
            improved = _response(rules, text, m.end(), s_end, next_end)
        out.append(Mention(concept, m.start(), m.end(), status, field, i, improved))
    return _acute_history(rules, out) if dispatch else out


def _acute_history(rules: TextRules, found: list[Mention]) -> list[Mention]:
    """Call notes: a drug history told in the sentence that reports an acute sign is asserted."""
    acute = {m.sentence for m in found if m.status == "asserted" and m.concept in rules.acute_concepts}
    if not acute:
        return found
    return [replace(m, status="asserted") if m.status == "history" and m.sentence in acute
            and m.concept in rules.drug_concepts else m for m in found]

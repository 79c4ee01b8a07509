"""Checks every sentence a model wrote against the quotes it cites, and renumbers what survives.

A model answer is only ever a rephrasing of the numbered quotes the extractive answerer chose. Each
reply sentence must end in citation markers ([2][3]) that name quotes it was given; every number
in it must appear in one of those quotes (the same rule `enforce_grounding` applies); every person
or organisation it names must appear in them; and, when a similarity function is given, it must
read like the quotes it cites rather than like some other quote. A sentence failing any check is
dropped whole; nothing is repaired.

Beyond traceability, each sentence is checked as one claim: its figures, the source it attributes
them to (when it attributes at all) and its verbs of denial and harm must all be carried by ONE
cited quote, not pieced together from several ("Yonhap reported 1.500" citing a quote with 1.500
and another naming Yonhap); negation and denial must agree between sentence and quote ("denied
that" over a quote that reports it); a verb of death or harm ("killed", "verletzt") must be in the
quote. Text in a quote that addresses a model ("antworte nur: ...", "ignore all previous
instructions") is data, never evidence: it is cut from the quote before these checks, so a reply
that obeys it contradicts what is left and is dropped. Links in a reply must point where a cited
quote (or its article) points.

These are still checks, not proof of entailment: a sentence that passes them can misstate its quote
in ways no word list sees ("did not confirm" → "could not rule out"). What the user always gets is
the verbatim quote next to the sentence, so such a misstatement is one glance away from being caught.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from answers.claim_support import SupportModel, best_support
from answers.grounding import CITATION_MARKER
from answers.quantities import Quantity, quantities_in, unsupported_quantities
from answers.types import Citation, Figure
from retrieval.language import detect_language
from retrieval.sentences import SENTENCE_OPENERS, split_sentences

logger = logging.getLogger(__name__)

SimilarityFn = Callable[[Sequence[str]], np.ndarray]
"""Maps sentences to a (sentences × quotes) matrix of cosine similarities, quotes in citation order."""

# A sentence that reads closer to a quote it does not cite than to every quote it cites, by more
# than this, cites the wrong quote. Hand-written paraphrases of the seed quotes (English and German,
# multilingual-e5-small) that cite the right quote trailed the best other quote by at most 0.004
# (near-identical wire copies); wrongly cited sentences led by 0.065 to 0.096.
WRONG_QUOTE_MARGIN = 0.04
# Whether a cited quote supports a sentence at all (whatever it claims) is `answers/claim_support.py`:
# a model fitted on XQuAD with a held-out half, replacing a hand-picked cosine floor (issue 28).

_LOOSE_MARKERS = re.compile(r"\[\s*(\d{1,3}(?:\s*(?:,|;|-|–|und|and)\s*\d{1,3})+)\s*\]")
_LEADING_MARKERS = re.compile(r"^((?:\[\d{1,3}\]\s*)+)")
_THINKING = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL | re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+")
_HEADING = re.compile(r"^\s*(?:#{1,6}|>+)\s+")
# Markdown "[text](target)" (but not a citation marker "[2]"), "<https://...>" and HTML links.
_MD_LINK = re.compile(r"!?\[([^\]]*[^\]\d\s][^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_AUTOLINK = re.compile(r"<((?:https?|ftp)://[^>\s]+|mailto:[^>\s]+)>", re.IGNORECASE)
_HTML_LINK = re.compile(r"<a\s[^>]*?href\s*=\s*[\"']?([^\"'\s>]+)[^>]*>(.*?)</a\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"</?[a-zA-Z][\w-]*(?:\s[^<>]*)?/?>")
_EMPHASIS = re.compile(r"(?<![\w*])[*_]([^\s*_](?:[^*_\n]*[^\s*_])?)[*_](?![\w*])")
# A link target: with a scheme or "www.", or a bare lower-case host name ("evil.example/x"; not
# "z.B." or "1.500", whose last label is not two letters or more).
_URL = re.compile(r"(?:(?:https?|ftp)://|mailto:|www\.)[^\s<>\"'()\[\]]+", re.IGNORECASE)
_BARE_HOST = re.compile(r"(?<![\w@./-])(?:[a-z0-9-]+\.)+[a-z]{2,24}(?:/[^\s<>\"'()\[\]]*)?(?![\w-])")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")

# Capitalised words that are not names: function words at the start of a sentence, calendar
# words, and roles or institutions that are named in one language and quoted in another
# ("Foreign Minister" over "Außenminister"). Roles also end a run of capitalised words, so that
# "Generalsekretär Mark Rutte" yields the name "Mark Rutte".
_NOT_NAMES = frozenset(
    SENTENCE_OPENERS
    | set(
        """
        i a an the this that these those it its he she they we you his her their our my your there here
        according also both however meanwhile moreover furthermore while since after before until during
        some many several most other another no not all each every any such what which who whom whose
        when where why how if whether one two three yes no quote quotes source sources article articles
        monday tuesday wednesday thursday friday saturday sunday january february march april may june
        july august september october november december montag dienstag mittwoch donnerstag freitag
        samstag sonntag januar februar märz april mai juni juli august september oktober november dezember
        president prime minister ministry ministries chancellor secretary general foreign defence defense
        interior government army military intelligence service services agency news council parliament
        committee office department state republic democratic federal national ambassador embassy
        spokesman spokeswoman spokesperson commander chief head leader officials official mr mrs ms dr
        prof sir western eastern northern southern special forces troops union security police court navy air force
        guard bank central
        präsident präsidentin kanzler kanzlerin minister ministerin ministerium regierung sprecher
        sprecherin generalsekretär botschafter botschafterin chef chefin geheimdienst nachrichtenagentur
        agentur armee militär dass weil wenn ob jedoch zudem bereits insgesamt demnach sowie beim vom zum
        zur für über unter gegen ohne durch zwischen sein seine seinen ihr ihre ihren kein keine mehrere
        einige viele alle jeder jede frau herr angaben schätzungen berichten berichte informationen
        erkenntnissen
        """.split()  # noqa: SIM905 - a word list reads better as words than as quoted strings
    )
)
_ROLE_SUFFIXES = (
    "präsident",
    "minister",
    "ministerin",
    "sprecher",
    "sprecherin",
    "sekretär",
    "kanzler",
    "chef",
)
_NOUN_SUFFIXES = ("ung", "ungen", "heit", "keit", "schaft", "tion", "tionen", "tät", "ismus", "nis", "nisse")
# In a German sentence most capitalised words are nouns; a single one counts as a name only next
# to an attribution cue ("laut Selenskyj", "Peskow zufolge", "sagte Rutte").
_CUES_BEFORE = frozenset(
    "laut sagte sagten erklärte erklärten so betonte warnte berichtete meldete schrieb".split()  # noqa: SIM905
)
_CUES_AFTER = frozenset(
    """zufolge sagte sagten erklärte erklärten betonte warnte berichtete berichteten meldete teilte said says told
    warned reported announced confirmed claimed stated added denied wrote""".split()  # noqa: SIM905
)
# English names of places that German articles spell differently, with the German word's start.
_EXONYM_STEMS: dict[str, tuple[str, ...]] = {
    "north": ("nord",), "south": ("süd",), "east": ("ost",), "west": ("west",),
    "russia": ("russ",), "russian": ("russ",), "russians": ("russ",), "moscow": ("moskau",),
    "kyiv": ("kiew", "kyjiw"), "kiev": ("kiew",), "ukrainian": ("ukrain",), "ukrainians": ("ukrain",),
    "germany": ("deutsch",), "german": ("deutsch",), "germans": ("deutsch",), "us": ("usa", "us"),
    "america": ("amerik", "usa"), "american": ("amerik", "usa"), "americans": ("amerik", "usa"),
    "united": ("usa", "verein"), "states": ("usa", "staat"), "kremlin": ("kreml",),
    "beijing": ("peking",), "chinese": ("chin",), "britain": ("brit", "großbritann"), "british": ("brit",),
    "france": ("frankreich",), "french": ("französ",), "poland": ("polen",), "polish": ("polni", "polen"),
    "turkey": ("türk",), "turkish": ("türk",), "austria": ("österreich",), "switzerland": ("schweiz",),
    "italy": ("italien",), "spain": ("spanien",), "hungary": ("ungarn",), "syria": ("syrien",),
    "lebanon": ("libanon",), "egypt": ("ägypt",), "india": ("indien",), "vienna": ("wien",),
    "munich": ("münchen",), "cologne": ("köln",), "european": ("europ", "eu"), "europe": ("europ",),
    "nations": ("nation", "un", "uno"), "white": ("weiß",), "house": ("haus",),
}  # fmt: skip


@dataclass(frozen=True)
class SentenceVerdict:
    """One reply sentence as written (markers included) and why it was dropped (None: kept)."""

    text: str
    markers: tuple[int, ...]
    reason: str | None = None


@dataclass
class Verification:
    """The verified reply: surviving sentences with markers renumbered 1..m, and what was dropped."""

    text: str
    citations: list[Citation]
    renumbered: dict[int, int]  # old citation number -> new
    verdicts: list[SentenceVerdict] = field(default_factory=list)

    @property
    def kept(self) -> int:
        return sum(v.reason is None for v in self.verdicts)

    @property
    def dropped(self) -> int:
        return sum(v.reason is not None for v in self.verdicts)

    @property
    def dropped_sentences(self) -> list[SentenceVerdict]:
        """The sentences dropped, as the model wrote them, each with its reason."""
        return [v for v in self.verdicts if v.reason is not None]


# -- the words a claim turns on ----------------------------------------------------------------
# Language-level word lists (English and German), not tuned to any story: verbs of saying that
# make a sentence an attribution, words that negate or deny, and verbs of death and harm.

# A sentence containing one of these attributes what it says to someone; then the figures and
# every name in it must come from one quote together.
_SPEECH_WORDS = frozenset(
    """
    said say says saying told tells reported reports announced announces stated claimed claims confirmed
    confirms denied denies added wrote writes warned warns estimated estimates believes according citing
    cited quoted alleged insisted noted explained informed
    sagte sagten sagt sagen gesagt erklärte erklärten erklärt berichtete berichteten berichtet berichten
    meldete meldeten meldet gemeldet teilte teilten mitgeteilt schrieb schrieben schreibt warnte warnten
    warnt gewarnt betonte betont schätzt schätzte schätzen geschätzt bestätigte bestätigten bestätigt
    dementierte dementiert bestritt bestreitet bestritten hieß heißt laut zufolge angaben berufung
    äußerte verkündete kündigte forderte forderten fordert gefordert lautete lautet demanded demands urged urges
    """.split()  # noqa: SIM905
)
# Words that negate or deny; a sentence and the quote carrying it must agree on them.
_NEGATION_WORDS = frozenset(
    """
    not no never none nobody nothing neither nor cannot deny denies denied denying denial refuted refutes
    rejected rejects dismissed disputed
    nicht nie niemals nichts niemand weder dementi dementiert dementierte dementierten dementieren
    bestritt bestritten bestreitet bestreiten leugnete leugnet geleugnet zurückgewiesen zurückweisen
    wies wiesen
    """.split()  # noqa: SIM905
)
_NEGATION_PREFIXES = ("kein",)  # kein, keine, keinen, keiner, keines, keinem
# Phrases with a negation word that negate nothing ("not only", "nicht nur", "no fewer than").
_NOT_NEGATING = re.compile(
    r"\b(?:not only|not just|no (?:fewer|less|more) than|not least|nicht nur|nicht zuletzt|"
    r"nicht weniger als|nicht mehr als|no doubt)\b",
    re.IGNORECASE,
)
# "wies ... zurück" (German separable "rejected"); "wies" alone also means "pointed".
_SEPARABLE_DENIAL = re.compile(r"\bwies(?:en)?\b(?=.*\bzurück\b)", re.IGNORECASE | re.DOTALL)
# Verbs (and nouns) of death and harm, grouped by what they assert; a sentence may only assert a
# kind of harm its quote asserts. German stems may sit inside compounds ("Kriegsgefangene").
HARM_WORDS: dict[str, re.Pattern[str]] = {
    "death": re.compile(
        r"\b(?:kill\w*|dead|deaths?|died|dying|slain|fatalit\w*|lives lost|lost their lives|"
        r"\w*getötet\w*|töte[tn]?\w*|tötung\w*|tot|tote[nr]?|\w*todesopfer\w*|starb\w*|sterben|gestorben|"
        r"ums leben|umgekommen|umgebracht|gefallen)\b",
        re.IGNORECASE,
    ),
    "injury": re.compile(r"\b(?:injur\w*|wound\w*|hurt|\w*verletz\w*|\w*verwund\w*)\b", re.IGNORECASE),
    "capture": re.compile(
        r"\b(?:captur\w*|prisoners?|imprison\w*|arrest\w*|\w*gefangen\w*|festgenommen|verhaftet\w*)\b",
        re.IGNORECASE,
    ),
    "attack": re.compile(
        r"\b(?:attack\w*|bomb\w*|shell(?:ed|ing)|destroy\w*|\w*angriff\w*|angegriffen|\w*bombardier\w*|"
        r"beschoss\w*|beschossen|\w*zerstör\w*)\b",
        re.IGNORECASE,
    ),
}
# Text addressed to a model rather than to readers. From such a phrase to the end of its quote
# nothing is evidence: the quote reports that the text exists, it does not support what it says.
_IMPERATIVE_START = r"(?:^|(?<=[:;\"“„(\n])|(?<=[.!?] )|(?<=\bund )|(?<=\band )|(?<=\bbitte )|(?<=\bplease ))\s*"
_INSTRUCTION = re.compile(
    _IMPERATIVE_START + r"(?:ignore|disregard|forget|override)\b[^.!?\n]{0,40}\b(?:instructions?|prompts?|rules|"
    r"quotes|context)\b"
    r"|\b(?:answer|reply|respond|say|write|output|print)\s+(?:only|just|exactly|nothing but)\s*(?:[:\"“„]|with\b)"
    r"|\byou (?:are now|must now|will now)\b|\bsystem prompt\b|\bas an? (?:ai|language model|assistant)\b"
    r"|" + _IMPERATIVE_START + r"(?:ignoriere|ignoriert|vergiss|vergesst|missachte|missachtet)\b[^.!?\n]{0,40}"
    r"\b(?:anweisungen|anweisung|"
    r"befehle|regeln|zitate|vorgaben|instruktionen|prompts?|kontext)\b"
    r"|\b(?:antworte|antwortet|sage|sag|schreibe|schreib|gib|gebt)\s+(?:nur|ausschließlich|lediglich|einfach|"
    r"genau)\s*(?:[:\"“„]|mit\b)"
    r"|\bdu bist (?:jetzt|nun|ab sofort)\b",
    re.IGNORECASE,
)


def evidence_of(quote: str) -> str:
    """The part of `quote` that can support a claim: cut from the first instruction aimed at a model."""
    match = _INSTRUCTION.search(quote)
    return quote if match is None else quote[: match.start()]


def negations_in(text: str) -> list[str]:
    """Words in `text` that negate or deny ("not", "denied", "keine", "dementierte", "wies … zurück")."""
    plain = _NOT_NEGATING.sub(" ", text)
    found = []
    for match in _WORD.finditer(plain):
        word = match.group(0).lower()
        if word in ("wies", "wiesen"):
            if _SEPARABLE_DENIAL.search(plain[match.start() :]):
                found.append(f"{word} … zurück")
        elif word in _NEGATION_WORDS or word.startswith(_NEGATION_PREFIXES) or word.endswith(("n't", "n’t")):
            found.append(match.group(0))
    return found


def harms_in(text: str) -> dict[str, str]:
    """The kinds of harm `text` asserts, each with the first word that asserts it."""
    found = {}
    for kind, pattern in HARM_WORDS.items():
        match = pattern.search(text)
        if match:
            found[kind] = match.group(0)
    return found


def attributes(sentence: str) -> bool:
    """True when the sentence says who said or reported something (a verb of saying or "according to")."""
    return any(m.group(0).lower() in _SPEECH_WORDS for m in _WORD.finditer(sentence))


def urls_in(text: str) -> list[str]:
    """Link targets in `text`, with or without a scheme, in order."""
    spans = [m.span() for m in _URL.finditer(text)]
    spans += [m.span() for m in _BARE_HOST.finditer(text) if not any(a <= m.start() < b for a, b in spans)]
    return [text[a:b].rstrip(".,;:!?") for a, b in sorted(spans)]


def _bare(url: str) -> str:
    return re.sub(r"^(?:(?:https?|ftp)://|mailto:)?(?:www\.)?", "", url.lower()).rstrip("/")


# -- splitting ---------------------------------------------------------------------------------


def clean_reply(reply: str) -> str:
    """The reply as plain text: no reasoning blocks, bullets, headings or emphasis, markers in one form
    ("[1, 3]" → "[1][3]"), and every link written out as "text (target)" so that its target is
    seen, checked (`urls_in`) and never rendered as a link by any front end."""
    text = _THINKING.sub("", reply)
    text = _HTML_LINK.sub(lambda m: f"{_strip_tags(m.group(2))} ({m.group(1)})", text)
    text = _MD_LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _TAG.sub("", text)
    text = _LOOSE_MARKERS.sub(lambda m: "".join(f"[{n}]" for n in _expand(m.group(1))), text)
    text = text.replace("**", "").replace("__", "").replace("`", "")
    text = _EMPHASIS.sub(r"\1", text)
    return "\n".join(_BULLET.sub("", _HEADING.sub("", line)) for line in text.splitlines())


def _strip_tags(text: str) -> str:
    return _TAG.sub("", text)


def _expand(markers: str) -> list[int]:
    numbers: list[int] = []
    for part in re.split(r"\s*(?:,|;|und|and)\s*", markers):
        if re.fullmatch(r"\d+\s*[-–]\s*\d+", part):
            low, high = (int(x) for x in re.split(r"\s*[-–]\s*", part))
            numbers.extend(range(low, min(high, low + 20) + 1))
        elif part.strip().isdigit():
            numbers.append(int(part))
    return numbers


def reply_paragraphs(reply: str) -> list[list[str]]:
    """The cleaned reply as paragraphs of sentences (the house sentence splitter, spans kept verbatim)."""
    text = clean_reply(reply)
    paragraphs: list[list[str]] = []
    for line in text.split("\n"):
        sentences: list[str] = []
        for start, end in split_sentences(line):
            sentence = line[start:end]
            # "…Russland. [2] Danach…" splits after the full stop; the markers belong to the sentence before.
            leading = _LEADING_MARKERS.match(sentence)
            if leading and sentences:
                sentences[-1] += " " + leading.group(1).strip()
                sentence = sentence[leading.end() :]
            if sentence.strip():
                sentences.append(sentence)
        if sentences:
            paragraphs.append(sentences)
    return paragraphs


def markers_of(sentence: str) -> tuple[int, ...]:
    """Citation numbers in order of first appearance, each once."""
    return tuple(dict.fromkeys(int(n) for n in CITATION_MARKER.findall(sentence)))


def without_markers(sentence: str) -> str:
    return re.sub(r"\s+([.!?…,;:])", r"\1", CITATION_MARKER.sub("", sentence)).strip()


# -- names -------------------------------------------------------------------------------------


def fold(word: str) -> str:
    """A spelling-tolerant key: "Selenskyj" and "Zelensky", "Pjöngjang" and "Pyongyang" fold alike."""
    word = re.sub(r"['’]s?$", "", word.lower())
    word = word.replace("ß", "ss")
    word = "".join(ch for ch in unicodedata.normalize("NFKD", word) if not unicodedata.combining(ch))
    for old, new in (
        ("sch", "sh"),
        ("kh", "h"),
        ("ch", "h"),
        ("ck", "k"),
        ("ph", "f"),
        ("c", "k"),
        ("w", "v"),
        ("z", "s"),
    ):
        word = word.replace(old, new)
    word = word.replace("j", "i").replace("y", "i")
    return re.sub(r"(.)\1+", r"\1", word)


_EXONYMS = {fold(english): tuple(fold(stem) for stem in stems) for english, stems in _EXONYM_STEMS.items()}


def _is_role(word: str) -> bool:
    lower = word.lower()
    return lower in _NOT_NAMES or lower.endswith(_ROLE_SUFFIXES)


def _is_acronym(word: str) -> bool:
    return sum(ch.isupper() for ch in word) >= 2


@dataclass(frozen=True)
class _Word:
    text: str
    capitalised: bool  # and not a function, calendar or role word
    in_run: bool  # next to another such word, separated by one space or hyphen, neither sentence-initial
    acronym: bool


def _words(sentence: str) -> list[_Word]:
    text = without_markers(sentence)
    spans = [(m.group(0), m.start(), m.end()) for m in _WORD.finditer(text)]
    capitalised = [w[0].isupper() and not _is_role(w) for w, _, _ in spans]

    def joined(i: int, j: int) -> bool:  # words i < j adjacent and both capitalised
        return i > 0 and capitalised[i] and capitalised[j] and text[spans[i][2] : spans[j][1]] in (" ", "-")

    words = []
    for i, (word, _, _) in enumerate(spans):
        in_run = (i + 1 < len(spans) and joined(i, i + 1)) or (i > 1 and joined(i - 1, i))
        words.append(_Word(word, capitalised[i], in_run, _is_acronym(word)))
    return words


def names_in(sentence: str, language: str, known_names: frozenset[str] = frozenset()) -> list[str]:
    """Capitalised words in `sentence` that name someone or something, by spelling cues alone.

    There is no named-entity model here, so the rules trade recall for few false drops:
    - a word is a name only if capitalised and not a function, calendar or role word;
    - in English, every such word after the first is a name; the first word of a sentence only
      if it is an acronym, starts a run of capitalised words ("Kim Jong Un"), is one of
      `known_names` (names found in the quotes) or precedes a speech verb ("Putin said");
    - in German, where every noun is capitalised, a word is a name only if it is an acronym
      ("NATO"), in a run ("Mark Rutte"), one of `known_names`, or next to an attribution cue
      ("laut Peskow", "Rutte zufolge", "Selenskyj sagte"). A single German name without a cue that
      appears in no quote ("Auch Scholz warnte") is missed; in exchange a German noun is never
      taken for a name unless the model puts it next to a cue.
    """
    words = _words(sentence)
    names = []
    for i, word in enumerate(words):
        if not word.capitalised:
            continue
        before = words[i - 1].text.lower() if i > 0 else ""
        after = words[i + 1].text.lower() if i + 1 < len(words) else ""
        starts_run = i == 0 and language != "de" and i + 1 < len(words) and words[i + 1].in_run
        strong = word.acronym or word.in_run or starts_run or _is_known(word.text, known_names)
        cue = before in _CUES_BEFORE or after in _CUES_AFTER
        if strong or cue or (language != "de" and i > 0):
            names.append(word.text)
    return names


def known_names_in(quotes: Sequence[str]) -> frozenset[str]:
    """Folded names the quotes themselves spell out: acronyms and runs of capitalised words.

    German puts nouns next to names ("zur Unterstützung Russlands"), so run members shaped like
    abstract nouns ("-ung", "-heit", "-tion"...) are left out.
    """
    return frozenset(
        fold(w.text)
        for quote in quotes
        for w in _words(quote)
        if w.capitalised and (w.acronym or (w.in_run and not w.text.lower().endswith(_NOUN_SUFFIXES)))
    )


def _is_known(word: str, known_names: frozenset[str]) -> bool:
    key = fold(word)
    return len(key) >= 3 and any(key[:5] == name[:5] for name in known_names)


def _support_words(texts: Sequence[str]) -> tuple[set[str], str]:
    words = {fold(m.group(0)) for text in texts for m in _WORD.finditer(text)}
    return words, " " + " ".join(sorted(words)) + " "


def name_is_supported(name: str, words: set[str], joined: str) -> bool:
    """True when `name` (or its German exonym) appears in the folded support words.

    Short keys (≤ 3 letters: "EU", "Kim") must equal a word; four-letter keys must start one;
    longer keys match on their first five letters anywhere in a word, which tolerates German
    inflection ("Selenskyjs") and compounds ("Nordkorea" supports "Korea"). An English place name
    also matches the start of its German form ("Moscow" → "Moskaus", "North" → "Nordkorea").
    """
    key = fold(name)
    if len(key) <= 3:
        found = key in words
    elif len(key) == 4:
        found = f" {key}" in joined
    else:
        found = key[:5] in joined
    return found or any(f" {stem}" in joined for stem in _EXONYMS.get(key, ()))


# -- the verification --------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    """What one cited quote can support: its text up to any instruction aimed at a model, and that
    text's quantities, negations, harms and words (with the article's title and outlet, which
    name who published it)."""

    citation: Citation
    text: str
    quantities: frozenset[str]
    negations: tuple[str, ...]
    harms: frozenset[str]
    words: set[str]
    joined: str

    @classmethod
    def of(cls, citation: Citation) -> Evidence:
        text = evidence_of(citation.quote)
        words, joined = _support_words([text, citation.title, citation.outlet or ""])
        return cls(
            citation=citation,
            text=text,
            quantities=frozenset(q.key for q in quantities_in(text)),
            negations=tuple(negations_in(text)),
            harms=frozenset(harms_in(text)),
            words=words,
            joined=joined,
        )


def verify_reply(
    reply: str,
    citations: Sequence[Citation],
    question: str,
    language: str,
    similarity: SimilarityFn | None = None,
    support: SupportModel | None = None,
) -> Verification:
    """Check each reply sentence against its cited quotes; keep, renumber and rewrite survivors.

    Names are also accepted when the cited article's title, its outlet or the question names them
    (a user who asks about "Selenskyj" may read his name back), except in a sentence that
    attributes: there the one quote carrying the claim (its title or outlet) must name them.
    Numbers only count when a cited quote carries them, as `enforce_grounding` demands.
    """
    by_number = {c.n: c for c in citations}
    evidence = {c.n: Evidence.of(c) for c in citations}
    known = known_names_in([c.quote for c in citations])
    verdicts: list[SentenceVerdict] = []
    layout: list[list[int]] = []  # paragraph -> indices into verdicts
    for paragraph in reply_paragraphs(reply):
        layout.append([])
        for sentence in paragraph:
            layout[-1].append(len(verdicts))
            verdicts.append(_check(sentence, by_number, evidence, question, language, known))

    if similarity is not None:
        verdicts = _check_support(verdicts, citations, evidence, language, similarity, support)

    renumbered: dict[int, int] = {}
    for verdict in verdicts:
        if verdict.reason is None:
            for n in verdict.markers:
                renumbered.setdefault(n, len(renumbered) + 1)
    lines = []
    for indices in layout:
        kept = [_renumber(verdicts[i].text, renumbered) for i in indices if verdicts[i].reason is None]
        if kept:
            lines.append(" ".join(kept))
    new_citations = [
        replace(by_number[old], n=new) for old, new in sorted(renumbered.items(), key=lambda kv: kv[1])
    ]
    for verdict in verdicts:
        if verdict.reason is not None:
            logger.info("dropped a model sentence (%d chars): %s", len(verdict.text), verdict.reason)
    return Verification(
        text="\n".join(lines), citations=new_citations, renumbered=renumbered, verdicts=verdicts
    )


def _check(
    sentence: str,
    by_number: dict[int, Citation],
    evidence: dict[int, Evidence],
    question: str,
    language: str,
    known: frozenset[str],
) -> SentenceVerdict:
    markers = markers_of(sentence)
    if not markers:
        return SentenceVerdict(sentence, markers, "no citation marker")
    unknown = [n for n in markers if n not in by_number]
    if unknown:
        return SentenceVerdict(sentence, markers, f"cites {unknown} of {len(by_number)} quotes")
    cited = [by_number[n] for n in markers]
    plain = without_markers(sentence)
    foreign = _unsupported_urls(plain, cited)
    if foreign:
        return SentenceVerdict(sentence, markers, f"links to {', '.join(foreign)}, which none of its quotes contains")
    missing_numbers = unsupported_quantities(plain, [c.quote for c in cited])
    if missing_numbers:
        shown = ", ".join(q.text for q in missing_numbers)
        return SentenceVerdict(sentence, markers, f"numbers not in its quotes: {shown}")
    words, joined = _support_words(
        [c.quote for c in cited] + [c.title for c in cited] + [c.outlet or "" for c in cited] + [question]
    )
    names = names_in(sentence, language, known)
    missing_names = [name for name in names if not name_is_supported(name, words, joined)]
    if missing_names:
        return SentenceVerdict(sentence, markers, f"names not in its quotes: {missing_names}")
    reason = _claim_unsupported(plain, names if attributes(plain) else [], [evidence[n] for n in markers])
    return SentenceVerdict(sentence, markers, reason)


def _unsupported_urls(sentence: str, cited: Sequence[Citation]) -> list[str]:
    """Link targets in the sentence that no cited quote, article address or outlet contains."""
    haystack = " ".join(
        [c.quote.lower() for c in cited] + [_bare(c.url) for c in cited if c.url] + [_bare(c.outlet) for c in cited if c.outlet]
    )
    return [url for url in urls_in(sentence) if _bare(url) not in haystack]


def _claim_unsupported(sentence: str, names: Sequence[str], evidence: Sequence[Evidence]) -> str | None:
    """Why no single cited quote carries the sentence's claim, or None when one does.

    The claim is checked figure by figure: each figure must sit in one quote together with every
    attributed name, the sentence's negation (or its absence) and each kind of harm it asserts.
    A sentence without figures needs one quote carrying the rest.
    """
    # Even "the quotes do not say ..." (which the prompt asks for when they do not answer) is held
    # to this: "the quotes report no soldiers" would otherwise contradict them unchecked.
    negations = negations_in(sentence)
    harms = harms_in(sentence)
    stated = sorted(quantities_in(sentence), key=lambda q: sentence.find(q.text))
    figures: list[Quantity | None] = list(stated) if stated else [None]
    for figure in figures:
        gaps = [_gaps(figure, names, negations, harms, e) for e in evidence]
        if all(gaps):
            best = min(range(len(evidence)), key=lambda i: len(gaps[i]))
            where = f"quote [{evidence[best].citation.n}]"
            lead = f"its {where}" if len(evidence) == 1 else f"no single quote carries the claim; the closest, {where},"
            return f"{lead} {'; '.join(gaps[best])}"
    return None


def _gaps(
    figure: Quantity | None,
    names: Sequence[str],
    negations: Sequence[str],
    harms: dict[str, str],
    e: Evidence,
) -> list[str]:
    """What quote `e` lacks to carry the claim (empty: it carries it)."""
    gaps = []
    if figure is not None and figure.key not in e.quantities:
        gaps.append(f"lacks {figure.text}")
    missing = [name for name in names if not name_is_supported(name, e.words, e.joined)]
    if missing:
        gaps.append(f"does not name {', '.join(missing)}")
    if negations and not e.negations:
        gaps.append(f"neither negates nor denies (the sentence says '{negations[0]}')")
    elif e.negations and not negations:
        gaps.append(f"says '{e.negations[0]}', which the sentence drops")
    for kind, word in harms.items():
        if kind not in e.harms:
            gaps.append(f"reports no {kind} (the sentence says '{word}')")
    return gaps


def _check_support(
    verdicts: list[SentenceVerdict],
    citations: Sequence[Citation],
    evidence: dict[int, Evidence],
    language: str,
    similarity: SimilarityFn,
    support: SupportModel | None,
) -> list[SentenceVerdict]:
    """Drop sentences that read like another quote than the ones they cite, or that no cited quote
    supports (`answers/claim_support.py`; only with `support`, which is fitted for one embedding model)."""
    candidates = [i for i, v in enumerate(verdicts) if v.reason is None]
    if not candidates:
        return verdicts
    numbers = [c.n for c in citations]
    scores = similarity([without_markers(verdicts[i].text) for i in candidates])
    column = {n: j for j, n in enumerate(numbers)}
    same_language: dict[str, bool] = {}
    checked = list(verdicts)
    for row, i in zip(scores, candidates):
        verdict = verdicts[i]
        cited = [column[n] for n in verdict.markers]
        best_cited = float(row[cited].max())
        others = [j for j in range(len(numbers)) if j not in cited]
        if others:
            best_other = max(others, key=lambda j: float(row[j]))
            if float(row[best_other]) - best_cited > WRONG_QUOTE_MARGIN:
                checked[i] = replace(
                    verdict, reason=f"reads like uncited quote [{numbers[best_other]}], not its own"
                )
                continue
        if support is not None:
            plain = without_markers(verdict.text)
            # A sentence that says who said what may report an instruction its quote holds (that is
            # what was said); one that does not attribute is held to the evidence alone, so obeying
            # the instruction is never supported.
            texts = [evidence[n].citation.quote if attributes(plain) else evidence[n].text for n in verdict.markers]
            for text in texts:
                if text not in same_language:
                    same_language[text] = detect_language(text, default="de") == language
            margin, _ = best_support(
                plain, texts, [float(row[column[n]]) for n in verdict.markers], [same_language[t] for t in texts], support
            )
            if margin < 0:
                cited_text = ", ".join(f"[{n}]" for n in verdict.markers)
                checked[i] = replace(
                    verdict,
                    reason=f"its quote {cited_text} does not support it: too few of its words or too little of its meaning are there",
                )
    return checked


def _renumber(sentence: str, renumbered: dict[int, int]) -> str:
    """Markers rewritten to the new numbers, duplicates within the sentence removed."""
    seen: set[int] = set()

    def rewrite(match: re.Match[str]) -> str:
        new = renumbered[int(match.group(1))]
        if new in seen:
            return ""
        seen.add(new)
        return f"[{new}]"

    return re.sub(r"\s+(?=[.!?…,;:]|$)", "", CITATION_MARKER.sub(rewrite, sentence))


def renumber_figures(figures: Sequence[Figure], renumbered: dict[int, int]) -> list[Figure]:
    """Figures whose citations survive, with their numbers remapped; the others are dropped."""
    kept = []
    for figure in figures:
        numbers = tuple(sorted(renumbered[n] for n in figure.citations if n in renumbered))
        if numbers:
            sources = tuple(replace(s, citation=renumbered[s.citation]) for s in figure.sources if s.citation in renumbered)
            kept.append(replace(figure, citations=numbers, sources=sources))
    return kept

"""Text primitives shared by the lexical index, the extractive answerer and citations.

Pure functions, no state beyond a cached stemmer: word tokens for BM25 and for matching a
question against sentences, and sentence boundaries that survive PDF line wrapping.
"""

from __future__ import annotations

import bisect
import re
from functools import lru_cache
from typing import Sequence

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|[ \t]*\n\s*")


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def tokenize(texts: Sequence[str], stopwords: str = "en") -> list[list[str]]:
    """Lowercase word tokens, stopwords removed, Snowball-stemmed.

    ``en`` is Lucene's short English list (what BM25 indexes use); ``en_plus`` is NLTK's longer
    list, which also drops question words (how, many, does) -- right for matching a question's
    content words against sentences, where idf over a handful of sentences cannot discount them.
    """
    import bm25s

    return bm25s.tokenize(
        list(texts), stopwords=stopwords, stemmer=_stemmer(), return_ids=False, show_progress=False
    )


#: Words that tell the answerer how to answer rather than what to find ("Give a response … relying
#: on the details shown in the cash flow statement; round to one decimal"). As query terms they
#: match everywhere and drown the content words, so BM25 queries and question coverage skip them.
INSTRUCTION_WORDS = frozenset("""
answer answers answering respond response responses reply give giving provide providing rely relying
relied based according detail details shown show please round rounded rounding decimal decimals
place places format formatted briefly brief concise concisely exact exactly specify specified mention
mentioned following question questions kindly write explain describe using refer referring
""".split())


#: Words that point at a place in the documents rather than at what is there ("in the report",
#: "on page 14", "the chart on slide 4"); a number after one is a locator, not a name.
LOCATOR_WORDS = frozenset("""
document documents report reports paper article page pages slide slides figure figures fig image
images picture pictures photo photos chart charts graph graphs diagram table tables appendix section
chapter cover brochure brochures leaflet
""".split())
#: a date format to answer in ("YYYY-MM-DD") or a rank ("top2"): instructions, not names
_PLACEHOLDER = re.compile(r"^(y{2,4}|m{1,2}|d{1,2}|(top|bottom|first|last)\d+)$", re.IGNORECASE)


@lru_cache(maxsize=1)
def _instruction_stems() -> frozenset[str]:
    return frozenset(_stemmer().stemWords(sorted(INSTRUCTION_WORDS)))


def content_terms(text: str, stopwords: str = "en") -> list[str]:
    """The query's stemmed words without stopwords and without instruction words; a fiscal
    period counts as its year (:func:`period_years`)."""
    stems = _instruction_stems()
    return [t for t in tokenize([period_years(text)], stopwords)[0] if t not in stems]


#: a fiscal or calendar period with its year ("FY2018", "FY18", "CY2020", "Q3 2019" is two words,
#: "3Q19", "1H2020", "H2'21"): reports write the year on its own ("fiscal 2018", "2018"), so
#: questions that say "FY2018" must be matched, checked and scoped by 2018
#: ("Q400" and "H150" are product codes: after "Q3" or "H1" a year needs an apostrophe or four digits)
_PERIOD_YEAR = re.compile(r"\b(?:(?:FY|CY|[1-4]Q|[12]H)['’]?(?P<a>(?:19|20)\d\d|\d\d)"
                          r"|(?:Q[1-4]|H[12])(?:['’](?P<b>\d\d)|(?P<c>(?:19|20)\d\d)))\b", re.IGNORECASE)
#: a quarter or fiscal year named without a year ("Q3", "FY"): a period, not a name, when the
#: question gives a year elsewhere ("Q3 of FY2019")
_BARE_PERIOD = re.compile(r"^(FY|CY|[1-4]Q|Q[1-4])$", re.IGNORECASE)


def period_years(text: str) -> str:
    """``text`` with each fiscal or calendar period written as its year: "FY2018" -> "2018",
    "3Q19" -> "2019" (two-digit years below 50 are 20xx, the others 19xx)."""
    def year(match: re.Match[str]) -> str:
        digits = match.group("a") or match.group("b") or match.group("c")
        if len(digits) == 4:
            return digits
        return ("20" if int(digits) < 50 else "19") + digits

    return _PERIOD_YEAR.sub(year, text)


def keyword_query(text: str) -> str:
    """A natural-language request as the words a search needs ("Please give me the warranty
    period of the solar panel?" -> "warranty period solar panel"): the words, as written, whose
    stems are neither stopwords nor instruction words. The text itself when nothing would remain."""
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    stops = set(STOPWORDS_EN_PLUS) | INSTRUCTION_WORDS
    words = [w for w in re.findall(r"(?u)\b[\w-]+\b", text) if w.lower() not in stops]
    return " ".join(words) or text.strip()


#: abbreviations whose period rarely ends a sentence (lowercase, without their last period):
#: titles go before a name ("Dr. Lindqvist"), the others before a lowercase word or a number
_TITLES = frozenset("mr mrs ms dr prof st gen gov sen rep lt col capt sgt mt ft".split())
_ABBREVIATIONS = frozenset("""
no nos fig figs eq eqs approx cf ca e.g i.e al pp p vol vols ed eds dept est incl resp ref refs sec art ch vs
""".split())
_LAST_WORD = re.compile(r"([\w.]+)\.$")


def _abbreviation_before(text: str, start: int, end: int) -> bool:
    """Is the period before ``start`` an initial's or an abbreviation's, the sentence going on
    after ``end``? An initial ("William E. Simon") or dotted letters ("U.S. Army") followed by a
    capitalised word that is not a function word ("World War I. The ..." ends there), a title
    before a word ("Dr. Lindqvist"), or another abbreviation before a lowercase word, a digit or
    a bracket ("Fig. 3", "i.e. the"; "The answer is no. It ..." ends at "no.")."""
    if start == 0 or text[start - 1] != "." or "\n" in text[start:end] or end >= len(text):
        return False
    word = _LAST_WORD.search(text, max(0, start - 12), start)
    if word is None:
        return False
    token = word.group(1)
    if token.lower() in _TITLES:
        return text[end].isalnum()
    if token.lower() in _ABBREVIATIONS:
        return text[end].islower() or text[end].isdigit() or text[end] == "("
    if (len(token) == 1 and token.isupper()) or _DOTTED_LETTERS.match(token):
        following = _NEXT_WORD.match(text, end)
        return bool(following) and following.group()[0].isupper() and following.group().lower() not in _stopwords()
    return False


_DOTTED_LETTERS = re.compile(r"^(?:[A-Za-z]\.)+[A-Za-z]$")
_NEXT_WORD = re.compile(r"[A-Za-z]+")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    return frozenset(STOPWORDS_EN_PLUS)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of ``text``, whitespace trimmed, empty ones dropped.

    Sentences end at ``.!?`` followed by space, at blank lines, and at a line break followed by
    something that starts a new unit (a capital, a bullet, a table row). A line break followed by
    a lowercase letter or a digit is a wrapped line (PDF text is full of them) and does not end
    the sentence, nor does the period of an initial or a common abbreviation ("William E. Simon",
    "Dr. Lindqvist", "i.e. the", "Fig. 3"): a quote cut there is half a sentence.
    """
    spans: list[tuple[int, int]] = []
    cursor = 0
    for match in _SENTENCE_END.finditer(text):
        if _abbreviation_before(text, match.start(), match.end()):
            continue
        if match.group(0).count("\n") == 1 and "\n" in match.group(0):
            following = text[match.end() : match.end() + 1]
            before = text[max(0, match.start() - 1) : match.start()]
            if (following.islower() or following.isdigit()) and before not in ".!?:":
                continue
        spans.append((cursor, match.start()))
        cursor = match.end()
    spans.append((cursor, len(text)))
    trimmed = []
    for start, end in spans:
        piece = text[start:end]
        left = len(piece) - len(piece.lstrip())
        right = len(piece.rstrip())
        if right > left:
            trimmed.append((start + left, start + right))
    return trimmed


_ORDINAL_OR_DECADE = re.compile(r"^\d+(st|nd|rd|th|s)$", re.IGNORECASE)


def name_like_words(text: str) -> list[str]:
    """Words that name something: capitalised (not as the first word) or containing a digit,
    not stopwords or instruction words ("WS-300" gives "WS" and "300"; "France").

    Left out, because documents often write them another way: ordinals and decades ("15th",
    "80s"), and quarters of a year the question names ("Q3 2019"). A fiscal period is its year
    ("FY2018" gives "2018"). Acronyms stay; :func:`spells_acronym` checks them against the
    passages."""
    text = period_years(re.sub(r"(\d)['’]s\b", r"\1s", text))  # "the 70's" is a decade; "FY2018" is 2018
    words = re.findall(r"(?u)\b\w\w+\b", text)
    dated = any(re.fullmatch(_YEAR, word) for word in words)
    found = []
    for position, word in enumerate(words):
        named = (position > 0 and word[0].isupper()) or any(ch.isdigit() for ch in word)
        if not named or word.lower() in INSTRUCTION_WORDS or _ORDINAL_OR_DECADE.match(word):
            continue
        if dated and _BARE_PERIOD.match(word):
            continue  # "Q3" of a year the question names: a period, not a name
        if word in _CURRENCY_CODES or word in _UNIT_NAMES or defines_acronym(text, word):
            continue  # "(in USD millions)", "in degrees Celsius": units; "return on assets (ROA)" defines its name
        located = word.isdigit() and position > 0 and words[position - 1].lower() in LOCATOR_WORDS
        if _PLACEHOLDER.match(word) or word.lower() in LOCATOR_WORDS or located:
            continue  # "YYYY", "top2", "Figure 7": how to answer, or where to look
        if tokenize([word], "en_plus")[0]:
            found.append(word)
    return list(dict.fromkeys(found))


_YEAR = r"(1[89]|20)\d\d"


def named_years(text: str) -> list[str]:
    """The years a question names ("the 2019 survey", "in 2022"), not those of an answer format
    or a locator. A question about a year its documents never mention is about something they
    do not cover, even when every other word matches."""
    return [word for word in name_like_words(text) if re.fullmatch(_YEAR, word)]


_SMALL = {"of", "the", "and", "for", "in", "on", "to", "a", "an", "&"}
#: currency codes: a unit to answer in ("in USD millions"); reports write "$" or "dollars"
_CURRENCY_CODES = frozenset("""USD EUR GBP JPY CNY RMB CHF CAD AUD NZD HKD SGD INR KRW SEK NOK DKK PLN CZK
HUF BRL MXN ZAR RUB TRY""".split())
#: units named after people, capitalised in a question ("in degrees Celsius") and written as a
#: symbol in the documents ("565 °C")
_UNIT_NAMES = frozenset("Celsius Fahrenheit Kelvin".split())


def defines_acronym(text: str, acronym: str) -> bool:
    """Does ``text`` spell ``acronym`` out right before it, in any case ("return on assets (ROA)",
    "earnings before interest and taxes (EBIT)")? Then the text defines it, and a question that
    does so is not naming something the documents must contain."""
    if not (acronym.isupper() and acronym.isalpha() and len(acronym) >= 2):
        return False
    for match in re.finditer(rf"\(\s*{acronym}\s*\)", text):
        before = re.findall(r"[A-Za-z][\w'-]*", text[:match.start()])[-2 * len(acronym):]
        for words in (before, [w for w in before if w.lower() not in _SMALL]):
            if "".join(w[0] for w in words[-len(acronym):]).upper() == acronym:
                return True
    return False


def spells_acronym(acronym: str, texts: Sequence[str]) -> bool:
    """Do consecutive capitalised words in ``texts`` have ``acronym`` as their initials
    ("UMC" in "the United Methodist Church"; small words such as "of" may stand between)?"""
    if not (acronym.isupper() and acronym.isalpha() and len(acronym) >= 2):
        return False
    for text in texts:
        words = [w for w in re.findall(r"[A-Za-z][\w'-]*", text) if w.lower() not in _SMALL]
        initials = "".join(w[0] if w[0].isupper() else " " for w in words)
        if acronym in initials:
            return True
    return False


def fold(text: str) -> str:
    """Lowercase without accents ("Maizière" -> "maiziere"), for comparing spellings."""
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def table_header(text: str, row: str) -> str | None:
    """The first line of the table (a block of ``cell | cell`` lines) that ``row`` belongs to,
    when ``row`` is a table row below it; None otherwise."""
    return header_above(text, text.find(row)) if "|" in row else None


#: a cell that is a figure: "53.8", "(1.4)", "$1,200", "12%", "53.8(0.5)", "-1.5"; dashes are empty cells
_FIGURE = re.compile(r"^[(\[]?[-−+~≈<>]?[$€£¥]?\d[\d,.]*(%|x|×)?(\([^)\s]{0,8}\))?[)\]]?[,;]?$")
_EMPTY_CELL = {"-", "–", "—", "n/a", "N/A", "na", "NA", "×", "✓", "✗"}
#: consecutive figure rows that make a table (two could be any two lines with numbers)
MIN_TABLE_ROWS = 3


def is_figure_row(line: str) -> bool:
    """Is ``line`` a row of a table of figures as PDF text gives it ("InstructGPT 53.6 54.6 57.2"):
    at least two figures, and figures (or empty cells) at least half of its words?"""
    words = line.split()
    figures = sum(1 for w in words if _FIGURE.match(w) or w in _EMPTY_CELL)
    return figures >= 2 and 2 * figures >= len(words)


def figure_tables(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of each run of at least :data:`MIN_TABLE_ROWS` consecutive figure rows."""
    return [(start, end) for start, end, kind in table_runs(text) if kind == "figures"]


def table_runs(text: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) of each run of ``cell | cell`` lines ("pipes", two lines or more) and of
    figure rows ("figures", :data:`MIN_TABLE_ROWS` or more), in one pass over the lines."""
    runs: list[tuple[int, int, str]] = []
    current: list = [None, 0, 0, 0]  # kind, start, end, rows
    position = 0

    def close() -> None:
        kind, start, end, rows = current
        if kind == "pipes" and rows >= 2 or kind == "figures" and rows >= MIN_TABLE_ROWS:
            runs.append((start, end, kind))

    for line in text.split("\n"):
        end = position + len(line)
        kind = "pipes" if "|" in line else "figures" if is_figure_row(line) else None
        if kind is not None and kind == current[0]:
            current[2], current[3] = end, current[3] + 1
        else:
            close()
            current[:] = [kind, position, end, 1]
        position = end + 1
    close()
    return runs


def table_spans(text: str) -> list[tuple[int, int, str]]:
    """(first row start, end, header) of every table in ``text`` whose rows a chunk could start
    among without its header: the rows after a ``cell | cell`` table's first line, and the rows of
    a table of figures under the line just above it -- with the table's first line too when that
    is a row of column years (:func:`is_year_row`), so a header of two lines is read whole."""
    spans: list[tuple[int, int, str]] = []
    for start, end, kind in table_runs(text):
        if kind == "pipes":
            first_end = text.find("\n", start)
            spans.append((first_end + 1, end, text[start:first_end].strip()))
            continue
        above_end = start - 1
        while above_end > 0 and text[above_end - 1] == "\n":
            above_end -= 1
        above = text[text.rfind("\n", 0, max(0, above_end)) + 1:max(0, above_end)].strip()
        if not above or len(above) > 200 or is_figure_row(above) or "|" in above:
            above = ""
        first_end = text.find("\n", start, end)
        if first_end != -1 and is_year_row(text[start:first_end]):
            # "2019 2018" heads the columns of a report's table: the header is it and the line above
            spans.append((first_end + 1, end, f"{above} {text[start:first_end].strip()}".strip()))
        elif above:
            spans.append((start, end, above))
    return spans


_YEAR_CELL = re.compile(rf"^[(\[]?{_YEAR}[)\]]?$")


def is_year_row(line: str) -> bool:
    """Is ``line`` a row of column years ("2019 2018", "Revenue 2020 2019"): the figures of a
    report's table begin under it, so it belongs to the header, not to the rows."""
    figures = [w for w in line.split() if _FIGURE.match(w)]
    return len(figures) >= 2 and all(_YEAR_CELL.match(w) for w in figures)


def header_above(text: str, start: int, spans: Sequence[tuple[int, int, str]] | None = None) -> str | None:
    """The header row of the table that the line starting at ``start`` belongs to, when that line
    is not the header itself: what a chunk cut from inside a table lacks. For ``cell | cell``
    tables the header is the block's first line; for a table of figures (PDF text) it is the
    line just above its rows. Pass ``table_spans(text)`` when asking about many starts in one
    text: each question is then a binary search, never a walk over the text."""
    spans = table_spans(text) if spans is None else spans
    index = bisect.bisect_right([s for s, _, _ in spans], start) - 1
    if index >= 0 and spans[index][0] <= start <= spans[index][1]:
        return spans[index][2]
    return None

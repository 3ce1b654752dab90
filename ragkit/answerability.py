"""Does a passage hold the *kind* of thing a question asks for?

An on-topic sentence is not an answer: "What is the price of the WS-200?" is not answered by
"The WS-200 ships with a solar panel", however many question words it shares. Questions that
ask for an amount, a date or a duration name that in their wording; an extractive answer that
quotes no such thing is refused rather than shown. Pure functions, no model: cheap enough to
run on every answer, and predictable.
"""

from __future__ import annotations

import re
from typing import Literal

Kind = Literal["number", "price", "weight", "percentage", "date", "duration", "name", "email", "phone", "website"]

_NUMBER_QUESTION = re.compile(
    r"\b(how (much|many|often|far|big|large|tall|long is the [a-z]+ (in|of) (cm|mm|m|km|inches|feet))"
    r"|what (is|was|are|were) the (price|cost|fee|rate|percentage|share|number|amount|total|size|weight|"
    r"height|width|length|capacity|temperature|voltage|revenue|income|value|ratio|count|score)"
    r"|(price|cost|fee)s? (of|for)\b|percentage|how much"
    # "what screen size", "what resolution does": a measure is asked for, whatever the wording
    r"|what( [a-z]+)?( [a-z]+)? (size|dimensions|resolution|voltage|wattage|temperature|height|width|depth|"
    r"diameter|population)\b)",
    re.IGNORECASE,
)
#: "Who is Halvard's finance director?" asks for a person; "Who approves expenses?" may be answered
#: by a role ("the finance director"), so only identity questions expect a name
_NAME_QUESTION = re.compile(r"^\s*(who|whom) (is|was|are|were)\b", re.IGNORECASE)
#: "When many people are arrested, what is a common tactic?" opens with a condition: the question
#: is the clause after the comma, and it does not ask for a date
_DATE_QUESTION = re.compile(r"^\s*(when\b(?![^?,]*,\s*(what|which|who|whom|whose|how|why|where)\b)|(in )?what year\b"
                            r"|on what date\b|which year\b)", re.IGNORECASE)
#: "What is the return *window*?", "What is the warranty *period*?": a noun that names a span of
#: time asks for one, as "how long" does
_SPAN_NOUNS = r"(window|timeframe|time frame|time limit|duration|period)"
_DURATION_QUESTION = re.compile(r"\bhow long\b|\bfor how many (days|weeks|months|years|hours)\b"
                                r"|\b(what|which) (is|was|are|were) the ([a-z-]+ ){0,2}" + _SPAN_NOUNS
                                + r"\s*(\?|$|\b(for|of|on|to)\b)", re.IGNORECASE)

_HAS_NUMBER = re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|"
                         r"thirty|forty|fifty|hundred|thousand|million|billion|half|dozen|free|no charge)\b",
                         re.IGNORECASE)
_HAS_DATE = re.compile(
    r"\b(1\d\d\d|20\d\d)(s|'s)?\b|\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d"
    r"|\b(january|february|march|april|june|july|august|september|october|november|december)\b"
    r"|\b\d{1,2}[./-]\d{1,2}[./-]\d{2,4}\b|\b(century|centuries|decade|spring|summer|autumn|fall|winter|"
    r"yesterday|today|ago|bc|ad|bce|ce)\b|\d[\d,]*\s*(BP|ka|kya)\b"
    # a time told by an event ("at the end of World War I", "during the siege") or a condition
    # ("occurs when the immune system is less active"): what "when" asks for, without a calendar
    r"|\b(during|at the (end|start|beginning|close|height|outbreak) of|in the (wake|aftermath|course) of)\b"
    # a time of the week or the day: "When is support open?" "Monday to Friday, 08:00 to 17:00"
    r"|\b(mon|tues|wednes|thurs|fri|satur|sun)days?\b|\b(weekdays?|weekends?|noon|midnight|o'clock)\b"
    r"|\b([01]?\d|2[0-3]):[0-5]\d\b|\b(1[0-2]|0?[1-9])\s*(am|pm|a\.m\.|p\.m\.)(?!\w)"
    r"|\b(occurs?|occurred|happens?|happened|arises?|arose|begins?|began|starts?|started|ends?|ended)"
    r" (only )?(when|whenever|once)\b", re.IGNORECASE)
_HAS_DURATION = re.compile(
    r"\b(\d+|one|two|three|four|five|six|seven|eight|nine|ten|twelve|twenty|thirty|fifty|hundred|thousand|"
    r"million|billion|several|few|many)\s*[- ]?"
    r"(seconds?|minutes?|hours?|days?|nights?|weeks?|months?|years?|yrs?|hrs?|min|s|decades?|centuries|"
    r"generations?)\b|\b(lifetime|forever|indefinitely|until|annually|daily|weekly|monthly|century|decade)\b",
    re.IGNORECASE)


#: contact details: "What is the support email?" is answered by an address, not by a sentence
#: about e-mail ("We answer e-mails within two working days")
_EMAIL_QUESTION = re.compile(r"\b(what|which)\b[^?]*\be-?mail( address)?\b", re.IGNORECASE)
#: the number is asked for ("phone number", "telephone", "What is the support phone?"), not a device
#: the question talks about ("people with a cell phone and a tablet")
_PHONE_QUESTION = re.compile(r"\b(what|which)\b[^?]*(\b(tele)?phone (number|no)\b|\btelephone\b|\bfax\b"
                             r"|\bphone\s*\?\s*$)", re.IGNORECASE)
_WEBSITE_QUESTION = re.compile(r"\b(what|which)\b[^?]*\b(website|web site|web address|url|homepage)\b", re.IGNORECASE)
_HAS_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_HAS_PHONE = re.compile(r"(?<![\w.])\+?\(?\d[\d ().-]{6,}\d(?![\w.])")
_HAS_WEBSITE = re.compile(r"\bhttps?://\S+|\bwww\.[\w-]+(\.[\w-]+)+", re.IGNORECASE)
#: the words that name a contact detail or a span of time, which a sentence holding one covers
#: ("email" is covered by "support@halvard.example", the return "window" by "within 30 days",
#: even where no sentence says "email" or "window")
_KIND_WORDS = ((_HAS_EMAIL, "email mail"), (_HAS_PHONE, "phone telephone"), (_HAS_WEBSITE, "website url homepage"),
               (_HAS_DURATION, "window timeframe duration period"))

#: "charge" and "mass" are left out on purpose: electric charge, the Catholic mass, mass graves
#: "How do the fees compare …?", "Why did prices rise?" and "Which component costs the most?" are
#: about prices without asking for one: a manner or reason question, or a comparison
_PRICE_QUESTION = re.compile(r"^(?!\s*(how (do|does|did|are|is|were|was|can|could|would|will)|why)\b)"
                             r"(?!.*\b(price|prices|cost|costs|fee|fees) (the )?(most|least|more|less)\b)"
                             r".*\b(price|prices|cost|costs|fee|fees)\b", re.IGNORECASE)
_WEIGHT_QUESTION = re.compile(r"\b(weigh|weighs|weight)\b", re.IGNORECASE)
_PERCENT_QUESTION = re.compile(r"\b(percentage|percent|share of|proportion)\b", re.IGNORECASE)

_HAS_PRICE = re.compile(r"\d\s*(eur|euros?|usd|dollars?|sek|nok|dkk|jpy|yen|gbp|pounds?|chf|kr|cents?)\b|[€$£¥]\s*\d"
                        r"|\b(eur|usd|sek|gbp|jpy|chf)\s*\d|\bfree( of charge)?\b|\bno charge\b", re.IGNORECASE)
_HAS_WEIGHT = re.compile(r"\d\s*(kg|kilo(gram)?s?|g|grams?|mg|tonnes?|tons?|lbs?|pounds?|oz|ounces?)\b", re.IGNORECASE)
_HAS_PERCENT = re.compile(r"\d\s*(%|percent|per cent|pct)|\bpercent(age)?\b", re.IGNORECASE)
_HAS_SHARE = re.compile(r"\b(half|quarter|third|majority|minority|most|all|none|\d+ (in|out of) \d+)\b", re.IGNORECASE)
#: product codes and versions ("WS-200", "CR123A", "E42", "v4.2") are names, not amounts
_IDENTIFIER = re.compile(r"\b[A-Za-z]+[-_]?\d[\w.-]*|\b\d+[A-Za-z]+\d[\w-]*|\bv?\d+\.\d+\.\d+\b")


#: question wording -> what it asks for, most specific first
_QUESTION_KINDS: tuple[tuple[re.Pattern, Kind], ...] = (
    (_EMAIL_QUESTION, "email"), (_PHONE_QUESTION, "phone"), (_WEBSITE_QUESTION, "website"),
    (_PRICE_QUESTION, "price"), (_WEIGHT_QUESTION, "weight"), (_PERCENT_QUESTION, "percentage"),
    (_DURATION_QUESTION, "duration"), (_DATE_QUESTION, "date"), (_NUMBER_QUESTION, "number"),
    (_NAME_QUESTION, "name"),
)
#: what counts as an answer of each kind (any pattern matching is enough); a fee is often a share
#: ("a restocking fee of 10 percent"), "from 1870 to 1939" is a duration too, and "when" is often
#: answered by a time span ("90 days after they are created")
_EVIDENCE: dict[str, tuple[re.Pattern, ...]] = {
    "price": (_HAS_PRICE, _HAS_PERCENT), "weight": (_HAS_WEIGHT,), "percentage": (_HAS_PERCENT, _HAS_SHARE),
    "date": (_HAS_DATE, _HAS_DURATION), "duration": (_HAS_DURATION, _HAS_DATE), "number": (_HAS_NUMBER,), "name": (),
    "email": (_HAS_EMAIL,), "phone": (_HAS_PHONE,), "website": (_HAS_WEBSITE,),
}
_CAPITALISED = re.compile(r"(?<![\w'’])[A-Z][a-z][\w'’-]*")
_SENTENCE_START = re.compile(r"(^|[.!?:;|]\s+|\n\s*)$")


def expected_kind(question: str) -> Kind | None:
    """What a question asks for, when its wording says so unambiguously; None otherwise."""
    return next((kind for pattern, kind in _QUESTION_KINDS if pattern.search(question)), None)


def holds(text: str, kind: Kind | None, question: str = "") -> bool:
    """Does ``text`` contain something of ``kind`` (always True when no kind is expected)?
    Identifiers such as model numbers do not count as amounts; a name must be one the question
    does not already say (a sentence that only repeats "Halvard" names nobody new)."""
    if kind is None:
        return True
    if kind == "name":
        return has_new_name(text, question)
    if kind in ("email", "phone", "website"):
        return any(pattern.search(text) for pattern in _EVIDENCE[kind])
    text = _IDENTIFIER.sub(" ", text)
    return any(pattern.search(text) for pattern in _EVIDENCE[kind])


#: column headers that say what their cells hold: "Price", "Unit cost (EUR)", "Weight (kg)", "Share %"
_COLUMN_KINDS: dict[str, re.Pattern] = {
    "price": re.compile(r"\b(price|prices|cost|costs|fee|fees|msrp|eur|usd|gbp|sek|nok|dkk|chf|jpy)\b|[€$£¥]",
                        re.IGNORECASE),
    "weight": re.compile(r"\b(weight|weighs|mass|kg|kilograms?|grams?|g|lbs?|pounds|oz|ounces|tonnes?)\b", re.IGNORECASE),
    "percentage": re.compile(r"%|\b(percent|percentage|per cent|share)\b", re.IGNORECASE),
}


def holds_in_column(row: str, header: str, kind: Kind | None) -> bool:
    """Does a table row hold ``kind`` under a column whose header names it? A price list gives
    "Zephyr probe | 129" under "Item | Price": the 129 is a price though no currency sits beside
    it, as "within 30 days" is a duration without the word. Only number cells count."""
    pattern = _COLUMN_KINDS.get(kind or "")
    if pattern is None or "|" not in row or "|" not in header:
        return False
    names, cells = [c.strip() for c in header.split("|")], [c.strip() for c in row.split("|")]
    return len(names) == len(cells) and any(
        pattern.search(name) and re.search(r"\d", cell) and not _IDENTIFIER.fullmatch(cell)
        for name, cell in zip(names, cells))


#: the words that name an amount a table column holds: "What does the solar panel *cost*?" is
#: covered by "Solar panel | 149" under "Item | Price", as "email" is by an address
_COLUMN_KIND_WORDS = {"price": "price prices cost costs fee fees", "weight": "weight weigh weighs"}


def kind_words(text: str, question: str, header: str = "") -> str:
    """The words of ``question`` that name a contact detail or a span of time ``text`` holds
    ("email" for a sentence with an address), or an amount a table row holds under its column
    (``header``), so that a question asking for one by name is covered by it. Only the
    question's own words: the others would only dilute how much of the sentence is about the
    question (a sentence saying "66 million years" lost its pick)."""
    asked = set(re.findall(r"[a-z]+", question.lower()))
    found = [words for pattern, words in _KIND_WORDS if pattern.search(text)]
    found += [words for kind, words in _COLUMN_KIND_WORDS.items() if header and holds_in_column(text, header, kind)]
    return " ".join(word for words in found for word in words.split() if word in asked)


def has_new_name(text: str, question: str) -> bool:
    """Does ``text`` hold a capitalised word that does not start a sentence and is not a word of
    ``question``? The cheapest sign of a proper name ("Maria Lindqvist", "Gothenburg")."""
    asked = {w.lower().removesuffix("'s").removesuffix("’s") for w in re.findall(r"[\w'’-]+", question)}
    for match in _CAPITALISED.finditer(text):
        word = match.group().lower().removesuffix("'s").removesuffix("’s")
        if word in asked or len(word) < 2 or _SENTENCE_START.search(text[:match.start()]):
            continue
        return True
    return False

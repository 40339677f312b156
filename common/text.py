"""RTVC's English text front end: cleaners (unidecode, numbers, abbreviations) and the 66-symbol table."""
import re
from functools import cache

from unidecode import unidecode

PAD, EOS = "_", "~"
SYMBOLS = [PAD, EOS] + list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!'\"(),-.:;? ")
SYMBOL_TO_ID = {s: i for i, s in enumerate(SYMBOLS)}
EOS_ID = SYMBOL_TO_ID[EOS]


@cache
def _inflect():
    # Imported on first use: `import inflect` (pydantic/typeguard underneath) took 2.2 s of the orchestrator's
    # 3.2 s start-up under load, and the orchestrator only splits sentences. The synthesizer warms it at load.
    import inflect
    return inflect.engine()


_ABBREVIATIONS = [(re.compile(rf"\b{short}\.", re.IGNORECASE), full) for short, full in [
    ("mrs", "misess"), ("mr", "mister"), ("dr", "doctor"), ("st", "saint"), ("co", "company"),
    ("jr", "junior"), ("maj", "major"), ("gen", "general"), ("drs", "doctors"), ("rev", "reverend"),
    ("lt", "lieutenant"), ("hon", "honorable"), ("sgt", "sergeant"), ("capt", "captain"),
    ("esq", "esquire"), ("ltd", "limited"), ("col", "colonel"), ("ft", "fort")]]
_COMMA_NUMBER = re.compile(r"([0-9][0-9,]+[0-9])")
_DECIMAL = re.compile(r"([0-9]+\.[0-9]+)")
_POUNDS = re.compile(r"£([0-9,]*[0-9]+)")
_DOLLARS = re.compile(r"\$([0-9.,]*[0-9]+)")
_ORDINAL = re.compile(r"[0-9]+(st|nd|rd|th)")
_NUMBER = re.compile(r"[0-9]+")
# inflect names numbers up to 36 digits (decillions) and raises past that; longer runs (ids, keys) are read
# digit by digit, as a person would read them out.
_LONG_NUMBER = re.compile(r"[0-9]{37,}")
_DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_WHITESPACE = re.compile(r"\s+")
_CURLY = re.compile(r"(.*?)\{(.+?)\}(.*)")


def _dollars(m: re.Match) -> str:
    parts = m.group(1).split(".")
    if len(parts) > 2:
        return m.group(1) + " dollars"
    dollars = int(parts[0]) if parts[0] else 0
    cents = int(parts[1]) if len(parts) > 1 and parts[1] else 0
    dollar_unit = "dollar" if dollars == 1 else "dollars"
    cent_unit = "cent" if cents == 1 else "cents"
    if dollars and cents:
        return f"{dollars} {dollar_unit}, {cents} {cent_unit}"
    if dollars:
        return f"{dollars} {dollar_unit}"
    if cents:
        return f"{cents} {cent_unit}"
    return "zero dollars"


def _number(m: re.Match) -> str:
    num = int(m.group(0))
    if 1000 < num < 3000:
        # Years read as years: "nineteen ninety", "two thousand five", "twenty ten".
        if num == 2000:
            return "two thousand"
        if 2000 < num < 2010:
            return "two thousand " + _inflect().number_to_words(num % 100)
        if num % 100 == 0:
            return _inflect().number_to_words(num // 100) + " hundred"
        return _inflect().number_to_words(num, andword="", zero="oh", group=2).replace(", ", " ")
    return _inflect().number_to_words(num, andword="")


def normalize_numbers(text: str) -> str:
    text = _COMMA_NUMBER.sub(lambda m: m.group(1).replace(",", ""), text)
    text = _LONG_NUMBER.sub(lambda m: " ".join(_DIGIT_WORDS[int(d)] for d in m.group(0)), text)
    text = _POUNDS.sub(r"\1 pounds", text)
    text = _DOLLARS.sub(_dollars, text)
    text = _DECIMAL.sub(lambda m: m.group(1).replace(".", " point "), text)
    text = _ORDINAL.sub(lambda m: _inflect().number_to_words(m.group(0)), text)
    return _NUMBER.sub(_number, text)


def unspeakable_reason(text: str) -> str | None:
    """Why a text cannot be synthesized (or echoed back in JSON), or None when it can."""
    if m := _SURROGATE.search(text):
        return f"contains an unpaired surrogate U+{ord(m.group(0)):04X} (not valid Unicode)"
    if not any(c.isalnum() for c in text):
        return "has nothing to speak"
    return None


def english_cleaners(text: str) -> str:
    text = unidecode(text).lower()
    text = normalize_numbers(text)
    for pattern, full in _ABBREVIATIONS:
        text = pattern.sub(full, text)
    return _WHITESPACE.sub(" ", text)


def _ids(symbols) -> list[int]:
    return [SYMBOL_TO_ID[s] for s in symbols if s in SYMBOL_TO_ID and s not in (PAD, EOS)]


def text_to_sequence(text: str) -> list[int]:
    """Cleaned ids plus EOS. Curly-brace ARPAbet is accepted but yields nothing: RTVC's table has no phones."""
    seq: list[int] = []
    while text:
        m = _CURLY.match(text)
        if not m:
            seq += _ids(english_cleaners(text))
            break
        seq += _ids(english_cleaners(m.group(1)))
        seq += _ids("@" + p for p in m.group(2).split())
        text = m.group(3)
    return seq + [EOS_ID]


def sequence_to_text(seq) -> str:
    return "".join(SYMBOLS[i] for i in seq if 0 <= i < len(SYMBOLS))


_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")


def split_sentences(text: str, max_chars: int = 200) -> list[str]:
    """Split long text at sentence ends, then at commas/spaces, so each chunk stays within what Tacotron aligns."""
    chunks = []
    for sentence in (s.strip() for s in _SENTENCE_END.split(text)):
        while len(sentence) > max_chars:
            cut = max(sentence.rfind(",", 0, max_chars), sentence.rfind(" ", 0, max_chars))
            cut = cut if cut > 0 else max_chars
            chunks.append(sentence[:cut + 1].strip())
            sentence = sentence[cut + 1:].strip()
        if sentence:
            chunks.append(sentence)
    return chunks


def speakable_sentences(text: str, max_chars: int = 200) -> list[str]:
    """The chunks a text is synthesized in, one Tacotron call each: `split_sentences`, or the whole (stripped)
    text when it has no sentence to split. The synthesizer and the orchestrator's streaming both use this."""
    return split_sentences(text, max_chars) or [text.strip()]

"""Phone numbers as people type them, for property tests (hypothesis strategies): every
script's digits, every space and dash, parentheses, country prefixes, invisible marks."""

from hypothesis import strategies as st

# Each digit 0-9 in other scripts, as people (and their keyboards, phones and PDFs)
# produce them. Every one of these is a Unicode decimal digit: Python's (and
# PostgreSQL's) `\d` matches them all.
DIGIT_FORMS = {
    "ascii": "0123456789",
    "full-width": "０１２３４５６７８９",
    "arabic-indic": "٠١٢٣٤٥٦٧٨٩",
    "extended arabic-indic (persian)": "۰۱۲۳۴۵۶۷۸۹",
    "devanagari": "०१२३४५६७८९",
    "bengali": "০১২৩৪৫৬৭৮৯",
    "thai": "๐๑๒๓๔๕๖๗๘๙",
    "mathematical bold": "𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗",
    "mathematical double-struck": "𝟘𝟙𝟚𝟛𝟜𝟝𝟞𝟟𝟠𝟡",
    "mathematical monospace": "𝟶𝟷𝟸𝟹𝟺𝟻𝟼𝟽𝟾𝟿",
}
SEPARATORS = [
    "",
    " ",
    "\u00a0",  # no-break space
    "\u202f",  # narrow no-break space
    "\u3000",  # ideographic space
    "-",
    "\u2010",  # hyphen
    "\u2011",  # non-breaking hyphen
    "\u2012",  # figure dash
    "\u2013",  # en dash
    "\u2014",  # em dash
    "\u2212",  # minus sign
    "\uff0d",  # full-width hyphen-minus
    ".",
    "\uff0e",  # full-width full stop
    " - ",
]
PREFIXES = ["", "+1 ", "+1", "1-", "1 ", "\uff0b1 ", "+\uff11 "]
PARENS = [("", ""), ("(", ")"), ("\uff08", "\uff09"), ("(", ") ")]
INVISIBLE = ["\u200b", "\u200e", "\u200f", "\u202a", "\u202c", "\u2060", "\ufeff", "\u00ad"]

# Real North American numbers: area codes in use, exchanges that can be dialled.
AREA_CODES = ["503", "971", "212", "415", "617", "206", "312", "702", "808", "907"]
numbers = st.builds(
    lambda npa, nxx, line: f"{npa}{nxx}{line}",
    st.sampled_from(AREA_CODES),
    st.from_regex(r"\A[2-9][0-9]{2}\Z"),
    st.from_regex(r"\A[0-9]{4}\Z"),
).filter(lambda d: not d[3:6].endswith("11"))  # N11 codes are not exchanges


@st.composite
def typed(draw, digits: str) -> str:
    """`digits` as a person might type it: each digit in any script (mixed freely), any
    separator between the groups, optional parentheses and country prefix."""
    forms = st.sampled_from(sorted(DIGIT_FORMS))
    spelled = "".join(DIGIT_FORMS[draw(forms)][int(d)] for d in digits)
    open_, close = draw(st.sampled_from(PARENS))
    sep = st.sampled_from(SEPARATORS)
    npa, nxx, line = spelled[:3], spelled[3:6], spelled[6:]
    if open_:
        body = f"{open_}{npa}{close}{nxx}{draw(sep)}{line}"
    else:
        body = f"{npa}{draw(sep)}{nxx}{draw(sep)}{line}"
    return draw(st.sampled_from(PREFIXES)) + body

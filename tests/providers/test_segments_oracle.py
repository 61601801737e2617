"""The segment counter agrees with Twilio's calculator (npm sms-segments-calculator
1.3.0) on every figure, over a generated corpus. The calculator runs for real
(tools/segment-oracle, installed with `npm ci` by `make test` or here when missing)."""

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from providers.encoding import _GSM_BASIC, _GSM_EXTENDED, segment, segment_count

ORACLE_DIR = Path(__file__).resolve().parents[2] / "tools" / "segment-oracle"

EXTENSION = sorted(_GSM_EXTENDED)  # ^ { } \ [ ~ ] | € and form feed
BASIC = sorted(_GSM_BASIC)
EMOJI = [
    "😜",
    "👍🏽",  # skin tone modifier
    "👨‍👩‍👧‍👦",  # ZWJ family
    "👩‍💻",  # ZWJ with a newer glue (two graphemes for the calculator's splitter)
    "🏳️‍🌈",
    "❤️",
    "🇺🇸",
    "🇬🇧🇫🇷",  # flags back to back
    "🎉",
    "🗳️",
]
CURLY = ["’", "‘", "“", "”", "–", "—", "…", "\u00a0"]
ACCENTED = ["á", "í", "ó", "ú", "ç", "ê", "ô", "â", "ã", "õ", "ë", "ï", "e\u0301", "n\u0303"]
OTHER = ["\t", "€", "\r\n", "\f", "你好", "Привет", "مرحبا", "한국어", "ı", "ß", "Ç"]
POOL = BASIC + EXTENSION + EMOJI + CURLY + ACCENTED + OTHER


def edge_cases() -> list[str]:
    cases = [
        "",
        "A",
        "A" * 160,
        "A" * 161,
        "A" * 153 * 2,
        "A" * 307,
        "A" * 1530,
        "A" * 1531,
        "A" * 152 + "{" + "A" * 152,
        "A" * 159 + "€",
        "A" * 160 + "€",
        "á" * 70,
        "á" * 71,
        "á" * 66 + "😜" + "á" * 66,
        "😜" * 35,
        "😜" * 36,
        "😜" * 34 + "A",
        "😜" * 33 + "👍🏽",
        "á" * 670,
        "á" * 671,
        "Hi {first_name}, vote on Nov 3! Reply STOP to opt out.",
        "Line one\r\nLine two\r\nLine three",
        "Line one\nLine two\r\n",
        "\r\n" * 81,
        "Form\ffeed",
        "Tab\tcharacter",
        "It’s “quoted” — really…",
        "Ça va? ça va.",
        "más información",
        "\n".join(EMOJI),
        "".join(BASIC),
        "".join(BASIC) * 2,
        "".join(EXTENSION) * 20,
    ]
    cases += [ch for ch in EXTENSION]  # every extension character alone
    cases += ["A" * 152 + ch + "B" * 10 for ch in EXTENSION]  # each one at the split
    cases += [f"Price {ch} 5" for ch in EXTENSION]
    cases += [f"Hello {e}!" for e in EMOJI]
    cases += ["á" * 66 + e + "á" * 66 for e in EMOJI]
    cases += [f"Hello {c}there" for c in CURLY + ACCENTED]
    return cases


def random_cases(n: int, seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    cases = []
    for i in range(n):
        length = rng.choice([rng.randint(0, 40), rng.randint(140, 180), rng.randint(60, 1600)])
        if i % 3 == 0:  # pure GSM-7, extension characters sprinkled in
            alphabet = BASIC + EXTENSION
        elif i % 3 == 1:  # GSM-7 with one or two odd characters
            alphabet = BASIC
        else:
            alphabet = POOL
        text = "".join(rng.choice(alphabet) for _ in range(length))
        if i % 3 == 1 and text:
            for _ in range(rng.randint(1, 2)):
                at = rng.randrange(len(text))
                text = text[:at] + rng.choice(EMOJI + CURLY + ACCENTED) + text[at:]
        cases.append(text)
    return cases


def run_oracle(bodies: list[str]) -> list[dict]:
    node = shutil.which("node")
    assert node, "Node.js is needed to run the segment oracle"
    if not (ORACLE_DIR / "node_modules" / "sms-segments-calculator").is_dir():
        npm = shutil.which("npm")
        assert npm, "npm is needed to install the segment oracle"
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=ORACLE_DIR, check=True
        )
    out = subprocess.run(
        [node, str(ORACLE_DIR / "oracle.js")],
        input=json.dumps(bodies),
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=True,
    )
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def corpus() -> list[tuple[str, dict]]:
    bodies = edge_cases() + random_cases(400)
    return list(zip(bodies, run_oracle(bodies), strict=True))


def test_the_corpus_is_large_and_covers_the_edges(corpus):
    bodies = [body for body, _ in corpus]
    assert len(bodies) >= 300
    assert all(any(ch in body for body in bodies) for ch in EXTENSION)
    encodings = {oracle["encoding"] for _, oracle in corpus}
    assert encodings == {"GSM-7", "UCS-2"}
    assert max(oracle["segments"] for _, oracle in corpus) > 10


def test_every_figure_matches_the_calculator(corpus):
    mismatches = []
    for body, oracle in corpus:
        ours = segment(body)
        got = {
            "encoding": ours.encoding,
            "segments": ours.segments,
            "characters": ours.characters,
            "non_gsm_characters": ours.non_gsm_characters,
        }
        if got != oracle:
            mismatches.append((body[:80], got, oracle))
    assert not mismatches, f"{len(mismatches)} differ, first: {mismatches[:3]}"


@pytest.mark.parametrize(
    "body, segments, encoding",
    [
        ("", 1, "GSM-7"),
        ("A" * 152 + "{" + "A" * 152, 3, "GSM-7"),  # the escape pair is not split
        ("á" * 66 + "😜" + "á" * 66, 3, "UCS-2"),  # nor the surrogate pair
        ("A" * 1531, 11, "GSM-7"),
        ("ça", 1, "UCS-2"),  # lowercase ç is not GSM-7
    ],
)
def test_known_figures(body, segments, encoding):
    assert segment_count(body) == (segments, encoding)

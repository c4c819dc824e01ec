"""flaskops.stack.mask: the filter every quoted host output goes through."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("mask", ROOT / "plugins" / "filter" / "mask.py")
mask_module = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(mask_module)
mask = mask_module.mask


def test_every_value_is_replaced_wherever_it_appears():
    text = "KeyError: 'sk-live-1234' not in ('sk-live-1234', 'db-pass-99')"
    assert mask(text, {"SECRET_KEY": "sk-live-1234", "DB": "db-pass-99"}) == (
        "KeyError: '********' not in ('********', '********')")


def test_a_secret_containing_another_is_hidden_whole():
    assert mask("token=abcdef-123456", ["abcdef", "abcdef-123456"]) == "token=********"


def test_short_and_empty_values_do_not_hide_ordinary_words():
    assert mask("port 80 is open", ["80", "", None, "is"]) == "port 80 is open"


def test_lists_strings_and_missing_text():
    assert mask("a s3cret b", "s3cret") == "a ******** b"
    assert mask(None, ["s3cret"]) == ""
    assert mask("nothing to hide", []) == "nothing to hide"


SECRET = 'p@ss w\\rd"é/x'


def test_every_spelling_a_program_prints_is_hidden():
    import json as json_module
    from urllib.parse import quote, quote_plus
    printed = [
        SECRET, repr(SECRET), repr({"SECRET_KEY": SECRET}), json_module.dumps({"SECRET_KEY": SECRET}),
        json_module.dumps(SECRET, ensure_ascii=False), quote(SECRET, safe=""), quote(SECRET), quote_plus(SECRET),
        "SECRET_KEY=" + SECRET.replace("\\", "\\\\").replace('"', '\\"'),
        SECRET.encode("unicode_escape").decode("ascii"),
    ]
    for line in printed:
        masked = mask(f"before {line} after", [SECRET])
        assert "********" in masked, line
        for fragment in ("p@ss", "w\\rd", "w\\\\rd", "p%40ss", "p%40ss+w"):
            assert fragment not in masked, (line, masked)

"""flaskops.stack.mask: hide secret values in text the roles print."""

import json
from urllib.parse import quote, quote_plus

PLACEHOLDER = "********"
MINIMUM = 4


def spellings(value):
    """VALUE as programs print it: as is, in a Python repr (backslashes
    doubled, either quote escaped), JSON-escaped, percent-encoded for a URL
    path or a query, and with backslashes and quotes escaped as the
    environment file writes them."""
    forms = {
        value,
        repr(value)[1:-1],
        value.encode("unicode_escape").decode("ascii"),
        value.encode("unicode_escape").decode("ascii").replace("'", "\\'"),
        value.encode("unicode_escape").decode("ascii").replace('"', '\\"'),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
        value.replace("\\", "\\\\").replace('"', '\\"'),
    }
    return {form for form in forms if form}


def mask(text, secrets):
    """Return TEXT with each of SECRETS, however printed, replaced by PLACEHOLDER."""
    if isinstance(secrets, dict):
        secrets = list(secrets.values())
    elif isinstance(secrets, str):
        secrets = [secrets]
    # Shorter values would hide ordinary words; they are no secret anyway.
    values = set()
    for value in secrets or []:
        if value is not None and len(str(value)) >= MINIMUM:
            values |= spellings(str(value))
    text = "" if text is None else str(text)
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, PLACEHOLDER)
    return text


class FilterModule:
    """The collection's filters."""

    def filters(self):
        return {"mask": mask}

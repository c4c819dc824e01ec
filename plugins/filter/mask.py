"""flaskops.stack.mask: hide secret values in text the roles print."""

PLACEHOLDER = "********"
MINIMUM = 4


def mask(text, secrets):
    """Return TEXT with each of SECRETS replaced by PLACEHOLDER."""
    if isinstance(secrets, dict):
        secrets = list(secrets.values())
    elif isinstance(secrets, str):
        secrets = [secrets]
    # Shorter values would hide ordinary words; they are no secret anyway.
    values = sorted({str(value) for value in secrets or [] if value is not None and len(str(value)) >= MINIMUM},
                    key=len, reverse=True)
    text = "" if text is None else str(text)
    for value in values:
        text = text.replace(value, PLACEHOLDER)
    return text


class FilterModule:
    """The collection's filters."""

    def filters(self):
        return {"mask": mask}

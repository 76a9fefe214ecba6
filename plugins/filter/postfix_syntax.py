"""Postfix's configuration syntax, in one place for every role that writes
main.cf or master.cf (postfix, relay_client): YAML values in, Postfix text
out."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence


def _items(value):
    """The items of a list-like value, or None for a scalar."""
    if isinstance(value, (str, bytes)):
        return None
    if isinstance(value, (Sequence, Mapping)):
        return list(value)
    return None


def postfix_value(value):
    """A main.cf value: booleans become yes/no, a list its items separated
    by commas (each after four spaces, as the collection has always written
    them: a changed layout would rewrite every host's main.cf), anything
    else its text."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    items = _items(value)
    if items is not None:
        return ",".join(f"    {item}" for item in items)
    return str(value)


def postfix_option(value, name):
    """A master.cf "-o name=value"; a value with white space in Postfix 3's
    "{ name = value }" form, which -o takes as one argument."""
    if isinstance(value, bool):
        text = "yes" if value else "no"
    else:
        items = _items(value)
        text = ",".join(str(item) for item in items) if items is not None else str(value)
    if re.search(r"\s", text):
        return f"-o {{ {name} = {text} }}"
    return f"-o {name}={text}"


class FilterModule:
    def filters(self):
        return {"postfix_value": postfix_value, "postfix_option": postfix_option}

"""Small checks on request text shared by the parsers."""

from __future__ import annotations

__all__ = ["is_ascii_digits", "version_number"]


def is_ascii_digits(text: str) -> bool:
    """Whether `text` is one or more of 0-9. `str.isdigit()` also accepts other scripts'
    digits and superscripts (`²`, `٣`), which `int()` then reads or refuses."""
    return text.isascii() and text.isdigit()


def version_number(text: str) -> int | None:
    """A version id as the number it names, or None when it names none (versions are
    positive int64s; anything longer could only overflow the store's integers)."""
    if not is_ascii_digits(text) or len(text) > 19:
        return None
    number = int(text)
    # ids are strings: "01" is not the id "1" names (the server writes no leading zeros)
    return number if 0 < number < 2**63 and str(number) == text else None

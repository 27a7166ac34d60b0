"""Small checks on request text shared by the parsers."""

from __future__ import annotations

__all__ = ["clamped_int", "is_ascii_digits", "version_number"]


def is_ascii_digits(text: str) -> bool:
    """Whether `text` is one or more of 0-9. `str.isdigit()` also accepts other scripts'
    digits and superscripts (`²`, `٣`), which `int()` then reads or refuses."""
    return text.isascii() and text.isdigit()


def clamped_int(digits: str, ceiling: int) -> int:
    """The number an ASCII digit string names, or `ceiling` if it names more. No more
    digits are converted than `ceiling` has: Python refuses to read an integer of over
    4,300 digits (a ValueError), and reading a long one costs time that grows with the
    square of its length."""
    significant = digits.lstrip("0") or "0"
    if len(significant) > len(str(ceiling)):
        return ceiling
    return min(int(significant), ceiling)


def version_number(text: str) -> int | None:
    """A version id as the number it names, or None when it names none (versions are
    positive int64s; anything longer could only overflow the store's integers)."""
    if not is_ascii_digits(text) or len(text) > 19:
        return None
    number = int(text)
    # ids are strings: "01" is not the id "1" names (the server writes no leading zeros)
    return number if 0 < number < 2**63 and str(number) == text else None

"""Small checks on request text shared by the parsers."""

from __future__ import annotations

__all__ = ["is_ascii_digits"]


def is_ascii_digits(text: str) -> bool:
    """Whether `text` is one or more of 0-9. `str.isdigit()` also accepts other scripts'
    digits and superscripts (`²`, `٣`), which `int()` then reads or refuses."""
    return text.isascii() and text.isdigit()

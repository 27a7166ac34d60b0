"""Narrative XHTML (http://hl7.org/fhir/R4/narrative.html#xhtml): the `div` must be
well-formed XHTML in the XHTML namespace, with no entities beyond XML's own, only the
basic HTML elements txt-1 allows (no scripts, forms, frames, objects, svg...), no event
attributes or `javascript:` links, and nothing a browser would read where this check does
not (comments, processing instructions, CDATA). Stored narrative is shown to users by
other systems, so a hostile `div` must never be accepted.
"""

from __future__ import annotations

import re
from typing import Any
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

__all__ = ["check_xhtml"]

XHTML = "http://www.w3.org/1999/xhtml"
# txt-1: "only the basic html formatting elements and attributes described in chapters
# 7-11 (except section 4 of chapter 9) and 15 of the HTML 4.0 standard, <a> elements
# (either name or href), images and internally contained style attributes". Anything
# else (script, style, forms, frames, objects, svg...) is refused: a list of what is
# allowed, since a list of what is not misses what browsers add.
_ALLOWED = frozenset(
    {
        # 7: the global structure, within a div
        "div", "span", "h1", "h2", "h3", "h4", "h5", "h6", "address",
        # 8: language and direction
        "bdo",
        # 9: text (9.4, the ins and del of document changes, excepted... and kept by
        # common narratives, so allowed)
        "em", "strong", "dfn", "code", "samp", "kbd", "var", "cite", "abbr", "acronym",
        "blockquote", "q", "sub", "sup", "p", "br", "pre", "ins", "del",
        # 10: lists
        "ul", "ol", "li", "dl", "dt", "dd", "dir", "menu",
        # 11: tables
        "table", "caption", "thead", "tfoot", "tbody", "colgroup", "col", "tr", "th", "td",
        # 15: alignment, font styles and rules
        "tt", "i", "b", "big", "small", "strike", "s", "u", "font", "hr", "center",
        # links and images
        "a", "img", "map", "area",
    }
)  # fmt: skip
# The div and nothing around it but whitespace: no declaration, comment, processing
# instruction or byte order mark, which JSON would keep and XML (where the div is an
# element) cannot, so that a resource reads the same in both formats. (Whitespace is
# tolerated: partners' serializers add a newline, and it carries no content.)
_WHOLE_DIV = re.compile(
    r"<(?:[A-Za-z_][\w.-]*:)?div[\s/>].*(?:</(?:[A-Za-z_][\w.-]*:)?div\s*>|/>)", re.S
)
_HIDDEN = ("<!--", "<?", "<![CDATA[")
_SPACE = " \t\r\n"  # around the div: kept in JSON, insignificant in XML
_URL_ATTRIBUTES = frozenset({"href", "src", "cite", "longdesc", "usemap", "action"})
_XHTML_TAG = f"{{{XHTML}}}"
_XLINK = "{http://www.w3.org/1999/xlink}"


def check_xhtml(text: str) -> str | None:
    """None when `text` is an acceptable narrative div, else what is wrong.

    Parsed by expat (through defusedxml, which refuses any DTD: the only way to declare
    entities, and so to expand one into millions; an entity beyond XML's own, such as
    &nbsp;, then fails to parse). Expat keeps the GIL while it parses: lxml lets go of it,
    and in a server with a busy thread (searches, a heavy write), getting it back cost
    each create ~0.1 ms of waiting (3 ms per parse beside a thread that never yields)."""
    if not _WHOLE_DIV.fullmatch(text.strip(_SPACE)):
        return "the narrative must be one <div> element, with nothing before or after it"
    if any(mark in text for mark in _HIDDEN):
        # XML drops them, but the JSON text is served as sent, and browsers end an HTML
        # comment at `<!-->` and read `<![CDATA[` and `<?` as bogus comments: markup
        # hidden in them from this check would run
        return "a narrative may not hold comments, processing instructions or CDATA sections"
    try:
        root = fromstring(text, forbid_dtd=True)
    except DefusedXmlException:
        return "a narrative may not declare a DOCTYPE or entities"
    except (ParseError, ValueError) as exc:
        return f"not well-formed XHTML: {_short(exc)}"
    if _deeper_than(root, MAX_DEPTH):
        return f"the narrative nests elements deeper than {MAX_DEPTH} levels"
    if root.tag != f"{_XHTML_TAG}div":
        return "the narrative must be a <div> in the XHTML namespace (http://www.w3.org/1999/xhtml)"
    for element in root.iter():  # comments and processing instructions are not kept
        if not element.tag.startswith(_XHTML_TAG):
            namespace = element.tag[1:].split("}", 1)[0] if element.tag.startswith("{") else ""
            return f"only XHTML elements are allowed in a narrative, not {{{namespace}}}"
        name = element.tag[len(_XHTML_TAG) :]
        if not name.islower():
            # XHTML names are lower case; browsers read <SCRIPT> as <script>
            return f"<{name}> is not an XHTML element (XHTML element names are lower case)"
        if name not in _ALLOWED:
            return f"<{name}> is not allowed in a narrative (txt-1)"
        for attribute, value in element.attrib.items():
            if attribute.startswith(_XLINK):
                # Narrative.div: "SHALL NOT contain ... base/link/xlink"
                return "xlink attributes are not allowed in a narrative"
            local = attribute.rsplit("}", 1)[-1].lower()
            if local.startswith("on"):
                return f"the event attribute '{local}' is not allowed in a narrative (txt-1)"
            # Browsers drop tabs, line breaks and control characters inside a URL's scheme.
            scheme = "".join(ch for ch in value if ord(ch) > 0x20).lower()
            if local in _URL_ATTRIBUTES and scheme.startswith(("javascript:", "vbscript:")):
                return f"a script link in '{local}' is not allowed in a narrative (txt-1)"
    return None


# Deeper than any real narrative, and than the XML writer's parser allows (a deeper div
# could be stored but never answered in XML).
MAX_DEPTH = 200


def _deeper_than(root: Any, limit: int) -> bool:
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in element)
    return False


def _short(exc: Exception) -> str:
    message = str(exc).split("(")[0].strip()
    return message[:120] or "parse error"

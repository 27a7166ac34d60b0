"""Narrative XHTML (http://hl7.org/fhir/R4/narrative.html#xhtml): the `div` must be
well-formed XHTML in the XHTML namespace, with no entities beyond XML's own, and none of
what the spec forbids (txt-1, txt-2): scripts, forms, frames, objects, head/body, base,
link, style, event attributes, `javascript:` links. Stored narrative is shown to users by
other systems, so a hostile `div` must never be accepted.
"""

from __future__ import annotations

from lxml import etree

__all__ = ["check_xhtml"]

XHTML = "http://www.w3.org/1999/xhtml"
_FORBIDDEN = frozenset(
    {
        "script",
        "style",
        "form",
        "input",
        "button",
        "select",
        "option",
        "optgroup",
        "textarea",
        "iframe",
        "frame",
        "frameset",
        "noframes",
        "object",
        "embed",
        "applet",
        "param",
        "base",
        "basefont",
        "link",
        "meta",
        "head",
        "body",
        "html",
        "title",
        "noscript",
    }
)
_URL_ATTRIBUTES = frozenset({"href", "src", "cite", "longdesc", "usemap", "action"})
# No entity resolution, no network, no DTD: undefined entities (&nbsp;) fail to parse.
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True, remove_comments=False
)


def check_xhtml(text: str) -> str | None:
    """None when `text` is an acceptable narrative div, else what is wrong."""
    try:
        root = etree.fromstring(text.encode("utf-8"), parser=_PARSER)
    except (etree.XMLSyntaxError, ValueError) as exc:
        return f"not well-formed XHTML: {_short(exc)}"
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        return "a narrative may not declare a DOCTYPE or entities"
    if root.tag != f"{{{XHTML}}}div":
        return "the narrative must be a <div> in the XHTML namespace (http://www.w3.org/1999/xhtml)"
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue  # comments and processing instructions carry no markup
        qname = etree.QName(element)
        if qname.namespace != XHTML:
            return f"only XHTML elements are allowed in a narrative, not {{{qname.namespace}}}"
        name = qname.localname
        if name in _FORBIDDEN:
            return f"<{name}> is not allowed in a narrative (txt-1)"
        for attribute, value in element.attrib.items():
            local = etree.QName(attribute).localname.lower()
            if local.startswith("on"):
                return f"the event attribute '{local}' is not allowed in a narrative (txt-1)"
            # Browsers drop tabs, line breaks and control characters inside a URL's scheme.
            scheme = "".join(ch for ch in value if ord(ch) > 0x20).lower()
            if local in _URL_ATTRIBUTES and scheme.startswith(("javascript:", "vbscript:")):
                return f"a script link in '{local}' is not allowed in a narrative (txt-1)"
    return None


def _short(exc: Exception) -> str:
    message = str(exc).split("(")[0].strip()
    return message[:120] or "parse error"

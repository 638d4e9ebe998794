"""Every character the graph drawer can write has a glyph in the fonts the shipped renderer uses:
no formula symbol comes out of a PNG as an empty box.

A character the fonts lack is drawn as the renderer's "missing glyph" box, the same picture for
every missing character; so each character is rendered alone and compared with a private-use
character that no font has.
"""
from __future__ import annotations

import functools

import pytest

from tinygrad_attn.ops import all_ops
from tinygrad_attn.viz import find_dot, pipe
from tinygrad_attn.viz import graph as graph_module
from tinygrad_attn.viz.graph import CONSTANT_ROLES
from tinygrad_attn.viz.render import DEFAULT_FONT, MONO_FONT

pytestmark = pytest.mark.skipif(find_dot() is None, reason="no dot renderer installed")
NO_FONT_HAS_IT = "\ue000"


@functools.lru_cache(maxsize=None)
def rendered(character: str, font: str) -> bytes:
    source = f'digraph {{ a [shape=plaintext fontname="{font}" label="{character}"] }}'
    return pipe(source, "png", quiet=True)


def drawn_characters() -> dict[str, str]:
    """Every non-ASCII character the drawer can put in a label, with where it comes from."""
    found: dict[str, str] = {}
    for op in all_ops():
        for formula in (op.formula, *op.formulas):
            for character in formula:
                found.setdefault(character, f"the formula of {op.name}: {formula}")
    for role in CONSTANT_ROLES.values():
        for character in role:
            found.setdefault(character, f"the constant role {role!r}")
    for name in ("PENDING_GRAD", "PENDING_GRAD_SHORT"):
        for character in getattr(graph_module, name):
            found.setdefault(character, f"viz.graph.{name}")
    return {c: where for c, where in found.items() if ord(c) > 127 and not c.isspace()
            and not 0x300 <= ord(c) < 0x370}  # combining marks are drawn on the letter before them


def test_the_missing_glyph_reference_is_really_missing():
    assert rendered(NO_FONT_HAS_IT, DEFAULT_FONT) == rendered("\ue001", DEFAULT_FONT)
    assert rendered("x", DEFAULT_FONT) != rendered(NO_FONT_HAS_IT, DEFAULT_FONT)


@pytest.mark.parametrize("font", [DEFAULT_FONT, MONO_FONT])
def test_every_character_in_a_drawn_label_has_a_glyph(font):
    characters = drawn_characters()
    assert "√" in characters or "·" in characters  # the scan does find the formulas' symbols
    missing = {c: where for c, where in characters.items() if rendered(c, font) == rendered(NO_FONT_HAS_IT, font)}
    assert not missing, "no glyph in " + font + " for " + "; ".join(
        f"{c!r} (U+{ord(c):04X}, in {where})" for c, where in missing.items())

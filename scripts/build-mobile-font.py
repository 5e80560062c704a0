#!/usr/bin/env python3
"""Build the technician app's fonts: subsets of Noto Sans CJK SC, renamed "Fixroute Sans".

    .venv/bin/python scripts/build-mobile-font.py                  # both faces (make mobile-font)
    .venv/bin/python scripts/build-mobile-font.py --face Bold      # one face
    .venv/bin/python scripts/build-mobile-font.py --face Regular --hanzi gb2312 --output /tmp/gb.otf

Source: the Simplified Chinese faces of Debian's fonts-noto-cjk collections
(/usr/share/fonts/opentype/noto/NotoSansCJK-{Regular,Bold}.ttc, SIL OFL 1.1), picked by the
PostScript name in their name tables, not by an index in the collection.

Characters kept: every character the GBK codec decodes (its 20,902 hanzi plus pinyin,
kana, Greek, Cyrillic, box drawing and full-width forms), and the Unicode blocks a
Latin/Chinese UI uses (ASCII, Latin-1, Latin Extended-A, general punctuation, currency,
letterlike symbols, arrows, shapes, CJK symbols and punctuation, half/full-width
forms). Measured for the regular face (Noto Sans CJK SC 2.004, fontTools 4.68, no hints):
GB2312's 6,763 hanzi give 1.6 MB, GBK's 20,902 give 5.1 MB (the bold face the same). GBK
is kept: names and addresses with a character outside GB2312 (堃, 喆, 珺, 玥, 赟 ...) are
common, and a box instead of a customer's name is worse than 7 MB more in the APK.

Layout tables: only the features HarfBuzz applies by default to horizontal Latin and Han
text (kern, liga, ...). The Japanese/Korean/Traditional 'locl' forms and the vertical
tables would add 5 MB and are never used by the app.

Hints are dropped: 1 MB less per face, and FreeType's default rendering looked the same
at 12-18 px (compared on screenshots); phones draw at 2-3x that anyway.

Two faces, Regular and Bold (5.1 MB each): Kivy 2.3's SDL2 text provider has no synthetic
bold (it only switches to the file registered as bold), and a 1 px outline as fake bold
smudged the hanzi at 14 px. Customer names and times are bold in the app, so the bold face
needs the same characters as the regular one.

The output is a build product (gitignored); the OFL requires the licence to travel with
it: mobile/fonts/OFL.txt.
"""

from __future__ import annotations

import argparse
import sys
import unicodedata
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection, TTFont

ROOT = Path(__file__).resolve().parents[1]
FACES = ("Regular", "Bold")
SOURCE = "/usr/share/fonts/opentype/noto/NotoSansCJK-{face}.ttc"
SOURCE_FACE = "NotoSansCJKsc-{face}"  # name ID 6 (PostScript name) of the SC face
OUTPUT = ROOT / "mobile" / "fonts" / "FixrouteSans-{face}.otf"
FAMILY = "Fixroute Sans"

BLOCKS = (
    (0x0020, 0x007E),  # ASCII
    (0x00A0, 0x00FF),  # Latin-1 supplement: ¥ £ © ° ± × ÷ é ü ...
    (0x0100, 0x017F),  # Latin extended-A: pinyin ā ē ī ō ū, European names
    (0x01CD, 0x01DC),  # pinyin ǎ ǐ ǒ ǔ ǖ ǘ ǚ ǜ
    (0x02C6, 0x02DD),  # spacing accents ˇ ˉ ˊ ˋ
    (0x2000, 0x206F),  # general punctuation: – — ‘ ’ “ ” • … ‰ ※
    (0x20A0, 0x20CF),  # currency: € ₩ ₹
    (0x2100, 0x218F),  # letterlike and number forms: ℃ № ™ Ⅰ Ⅱ
    (0x2190, 0x21FF),  # arrows
    (0x2460, 0x24FF),  # enclosed alphanumerics ① ②
    (0x25A0, 0x25FF),  # geometric shapes ● ○ ■ □ ▲ ▼
    (0x2600, 0x26FF),  # misc symbols ★ ☆ ☎
    (0x2700, 0x27BF),  # dingbats ✓ ✕
    (0x3000, 0x303F),  # CJK symbols and punctuation: 、 。 「 」 【 】 〜
    (0xFF00, 0xFFEF),  # half-width and full-width forms: ， ： （ ） ￥
)

# What HarfBuzz applies by default to horizontal text; 'locl' and 'vert' stay out.
LAYOUT_FEATURES = ["ccmp", "calt", "clig", "kern", "liga", "mark", "mkmk", "rlig"]


def names(face: str) -> dict[int, str]:
    """Name IDs rewritten for the renamed, modified font; the rest (copyright 0, trademark 7,
    designers 8-12, licence 13-14) is kept as the OFL asks."""
    postscript = f"FixrouteSans-{face}"
    source = SOURCE_FACE.format(face=face)
    return {
        1: FAMILY,
        2: face,
        3: f"{postscript};subset of {source}",
        4: f"{FAMILY} {face}",
        6: postscript,
        10: f"Subset of {source} made by scripts/build-mobile-font.py",
        16: FAMILY,
        17: face,
    }


def _decodable(codec: str, leads: range, trails: range) -> set[int]:
    found = set()
    for lead in leads:
        for trail in trails:
            try:
                text = bytes((lead, trail)).decode(codec)
            except UnicodeDecodeError:
                continue
            if len(text) == 1 and unicodedata.category(text) != "Co":  # no private-use slots
                found.add(ord(text))
    return found


def hanzi(charset: str) -> set[int]:
    """The CJK unified ideographs of GB2312 (6,763) or GBK (20,902), from Python's codecs."""
    if charset == "gb2312":
        chars = _decodable("gb2312", range(0xA1, 0xFF), range(0xA1, 0xFF))
    elif charset == "gbk":
        chars = _decodable("gbk", range(0x81, 0xFF), range(0x40, 0xFF))
    else:
        raise ValueError(f"unknown charset {charset!r}")
    return {c for c in chars if unicodedata.name(chr(c), "").startswith("CJK UNIFIED IDEOGRAPH")}


def wanted(charset: str) -> set[int]:
    """Every code point the subset should map (the source font may lack a few symbols)."""
    codes = {c for start, end in BLOCKS for c in range(start, end + 1)}
    if charset == "gbk":  # GBK's symbols too: kana, Greek, Cyrillic, box drawing, pinyin
        codes |= _decodable("gbk", range(0x81, 0xFF), range(0x40, 0xFF))
    else:
        codes |= _decodable("gb2312", range(0xA1, 0xFF), range(0xA1, 0xFF))
    return codes | hanzi(charset)


def load_face(path: Path, postscript_name: str) -> TTFont:
    """The face of a .ttc collection (or a single font file) with that PostScript name."""
    fonts = TTCollection(str(path)).fonts if path.suffix.lower() in (".ttc", ".otc") else [TTFont(str(path))]
    for font in fonts:
        if font["name"].getDebugName(6) == postscript_name:
            return font
    names = [font["name"].getDebugName(6) for font in fonts]
    raise SystemExit(f"{path}: no face named {postscript_name!r} (has {names})")


def rename(font: TTFont, face: str) -> None:
    """A modified OFL font must not use the original's names: name table and CFF both."""
    new = names(face)
    table = font["name"]
    for name_id, value in new.items():
        table.removeNames(nameID=name_id)
        table.setName(value, name_id, 3, 1, 0x409)  # Windows, Unicode BMP, en-US
    if "CFF " in font:
        cff = font["CFF "].cff
        cff.fontNames = [new[6]]
        top = cff.topDictIndex[0]
        top.FamilyName, top.FullName = FAMILY, new[4]


def build(face: str, source: Path, output: Path, charset: str) -> dict[str, int]:
    font = load_face(source, SOURCE_FACE.format(face=face))
    options = subset.Options()
    options.layout_features = LAYOUT_FEATURES
    options.drop_tables += ["VORG", "vhea", "vmtx", "BASE"]  # vertical text only
    options.hinting = False
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.notdef_outline = True  # keep the .notdef box: a missing character shows as one
    options.recalc_timestamp = False  # the same input gives the same bytes
    codes = wanted(charset)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=codes)
    subsetter.subset(font)
    rename(font, face)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".part")
    font.save(str(partial), reorderTables=True)
    partial.replace(output)  # never leave a half-written font where the app looks
    mapped = set(font.getBestCmap())
    return {
        "bytes": output.stat().st_size,
        "mapped": len(mapped),
        "hanzi": len(hanzi(charset) & mapped),
        "not_in_source": len(codes - mapped),
        "glyphs": len(font.getGlyphOrder()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--face", choices=FACES, action="append", help="Regular or Bold (default: both)")
    parser.add_argument("--source", type=Path, help=f"font collection (default {SOURCE})")
    parser.add_argument("--output", type=Path, help="default mobile/fonts/FixrouteSans-<face>.otf")
    parser.add_argument("--hanzi", choices=("gbk", "gb2312"), default="gbk", help="which hanzi to keep (default gbk)")
    args = parser.parse_args(argv)
    faces = args.face or list(FACES)
    if len(faces) > 1 and (args.source or args.output):
        parser.error("--source and --output need a single --face")
    for face in faces:
        source = args.source or Path(SOURCE.format(face=face))
        output = args.output or Path(str(OUTPUT).format(face=face))
        if not source.is_file():
            sys.stderr.write(f"{source} is missing: install Debian's fonts-noto-cjk (make system-packages)\n")
            return 1
        stats = build(face, source, output, args.hanzi)
        sys.stdout.write(
            f"{output}: {stats['bytes'] / 1e6:.2f} MB, {stats['mapped']} characters "
            f"({stats['hanzi']} {args.hanzi.upper()} hanzi), {stats['glyphs']} glyphs; "
            f"{stats['not_in_source']} wanted code points are not in the source font\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

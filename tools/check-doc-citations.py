#!/usr/bin/env python3
"""Checks that every `docs/<name>.md §N` cited in the Rust sources and the SDKs' sources
(clients/) names a section that exists in that file, and that every other `docs/...` path
cited in them or README.md exists. Comment lines are joined first, so a citation wrapped across lines is still read.
Run from the repository root; exits 1 and lists the broken citations if there are any:

    python3 tools/check-doc-citations.py
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
CITATION = re.compile(
    r"docs/([\w-]+)\.md`?,?\s*((?:§\d+(?:\.\d+)*(?:[–-]\d+(?:\.\d+)*)?"
    r"(?:\s*#\d+)?(?:'s)?(?:,?\s*(?:and\s+)?)?)+)"
)
SECTION = re.compile(r"§(\d+(?:\.\d+)*)(?:[–-](\d+(?:\.\d+)*))?")
PATH = re.compile(r"\bdocs/[\w./-]+\.(?:md|png)")


def sections(doc):
    """Section numbers of a doc's headings: `## 1. Basics` → 1, `### 1.2 Headers` → 1.2."""
    text = (ROOT / "docs" / doc).read_text()
    return set(re.findall(r"^#{2,4} (\d+(?:\.\d+)*)\.?\s", text, re.M))


def comment_text(path):
    """The file with comment prefixes (`//`, `///`, `//!`, ` * `, `#`) removed and lines joined
    by spaces."""
    lines = path.read_text().splitlines()
    return " ".join(re.sub(r"^\s*(?://[/!]?|\*|#)\s?", "", line) for line in lines)


def sdk_sources():
    """The SDKs' own TypeScript and Python files: not installed packages or build output."""
    skip = {"node_modules", "dist", "build-test", ".venv", "generated"}
    return [
        p
        for pattern in ("*.ts", "*.mjs", "*.py")
        for p in (ROOT / "clients").rglob(pattern)
        if not skip.intersection(p.relative_to(ROOT).parts)
    ]


def main():
    broken = []
    cited = 0
    files = [p for d in ("src", "tests", "benches") for p in (ROOT / d).rglob("*.rs")]
    files += sdk_sources()
    for path in files:
        text = comment_text(path)
        for match in CITATION.finditer(text):
            doc = match.group(1) + ".md"
            if not (ROOT / "docs" / doc).exists():
                broken.append(f"{path.relative_to(ROOT)}: docs/{doc} does not exist")
                continue
            known = sections(doc)
            for start, end in SECTION.findall(match.group(2)):
                cited += 1
                if end and "." not in end and "." in start:
                    end = start.rsplit(".", 1)[0] + "." + end
                for number in filter(None, (start, end)):
                    if number not in known:
                        broken.append(f"{path.relative_to(ROOT)}: docs/{doc} has no §{number}")
    for path in files + [ROOT / "README.md"]:
        for cited_path in set(PATH.findall(path.read_text())):
            if not (ROOT / cited_path).exists():
                broken.append(f"{path.relative_to(ROOT)}: {cited_path} does not exist")
    for line in broken:
        print(line)
    print(f"{cited} section citations checked, {len(broken)} broken", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())

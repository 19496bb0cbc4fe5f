#!/usr/bin/env python3
"""The documents' links: the docs suite of test/run.sh (no cluster, no network).

Checks README.md and docs/*.md:
  - every page the README promises exists (PAGES below), and every page of
    docs/ is linked from the README;
  - every relative link resolves to a file or directory of the checkout, and
    every #anchor to a heading (or an explicit <a id/name>) of the page it
    names, with GitHub's anchor slugs (lower case, punctuation other than
    '-' and '_' dropped, each space a '-', '-1', '-2' ... for repeats);
  - README.md stays a front page: fewer than MAX_README_LINES lines.
Links and headings inside fenced code blocks and inline code are not links.
Prints each failure as FILE:LINE: what, and exits 1 if there is any.

    python3 test/docs.py [ROOT]      (ROOT: the checkout, by default this one)
"""
import os
import re
import sys
import urllib.parse

MAX_README_LINES = 320
PAGES = ["api", "concurrency", "python", "typescript", "citus", "performance",
         "design", "security", "operations", "editions", "packages"]

FENCE = re.compile(r"^\s{0,3}(```|~~~)")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
# [text](target "title") and ![alt](target); text may hold one level of [...]
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HTML_ANCHOR = re.compile(r"<a\s+(?:[^>]*\s)?(?:id|name)=\"([^\"]+)\"", re.I)


def slug(text):
    """GitHub's heading anchor: the rendered text, lower case, punctuation
    (everything but letters, digits, '_', '-' and spaces) dropped, spaces
    to '-'."""
    text = CODE_SPAN.sub(lambda m: m.group(2), text)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)   # a link: its text
    text = re.sub(r"<[^>]+>", "", text)                       # inline HTML
    text = text.replace("*", "").replace("~", "")
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def scan(path):
    """(anchors, links): the page's anchors, and (line, target) per link."""
    anchors, links, seen = set(), [], {}
    fence = None
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            m = FENCE.match(line)
            if m:
                if fence is None:
                    fence = m.group(1)
                elif m.group(1) == fence:
                    fence = None
                continue
            if fence:
                continue
            for a in HTML_ANCHOR.findall(line):
                anchors.add(a)
            h = HEADING.match(line)
            if h:
                s = slug(h.group(2))
                k = seen.get(s, 0)
                seen[s] = k + 1
                anchors.add(s if k == 0 else f"{s}-{k}")
            text = CODE_SPAN.sub("", line)
            r = REF_DEF.match(text)
            if r:
                links.append((n, r.group(1)))
                continue
            for target in INLINE_LINK.findall(text):
                links.append((n, target))
    if fence:
        anchors.add(None)       # an unclosed fence: reported by the caller
    return anchors, links


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(os.path.dirname(__file__), ".."))
    errors = []
    readme = os.path.join(root, "README.md")
    docs = os.path.join(root, "docs")
    pages = [readme] + sorted(os.path.join(docs, p) for p in os.listdir(docs)
                              if p.endswith(".md")) if os.path.isdir(docs) else [readme]
    for p in PAGES:
        if not os.path.isfile(os.path.join(docs, p + ".md")):
            errors.append(f"docs/{p}.md: missing")
    if not os.path.isfile(readme):
        print("README.md: missing")
        return 1
    with open(readme, encoding="utf-8") as f:
        lines = sum(1 for _ in f)
    if lines >= MAX_README_LINES:
        errors.append(f"README.md: {lines} lines, the front page must stay under {MAX_README_LINES}")

    scanned = {}
    for page in pages:
        if os.path.isfile(page):
            scanned[page] = scan(page)
    linked_from_readme = set()
    for page, (anchors, links) in scanned.items():
        rel = os.path.relpath(page, root)
        if None in anchors:
            errors.append(f"{rel}: a code fence is not closed")
        for n, target in links:
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):    # http:, mailto: ...
                continue
            path, _, frag = target.partition("#")
            path = urllib.parse.unquote(path)
            dest = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
            where = f"{rel}:{n}: {target}"
            if not os.path.exists(dest):
                errors.append(f"{where}: no such file")
                continue
            if not os.path.realpath(dest).startswith(os.path.realpath(root) + os.sep):
                errors.append(f"{where}: outside the repository")
                continue
            if page == readme:
                linked_from_readme.add(os.path.realpath(dest))
            if frag:
                if not dest.endswith(".md") or os.path.isdir(dest):
                    errors.append(f"{where}: an anchor into a file that is not a page")
                    continue
                if dest not in scanned:
                    scanned[dest] = scan(dest)
                if urllib.parse.unquote(frag) not in scanned[dest][0]:
                    errors.append(f"{where}: no heading with the anchor #{frag}")
    for page in pages[1:]:
        if os.path.realpath(page) not in linked_from_readme:
            errors.append(f"{os.path.relpath(page, root)}: not linked from README.md")

    for e in errors:
        print(e)
    n_links = sum(len(l) for _, l in scanned.values())
    print(f"docs: {len(pages)} pages, {n_links} links, README.md {lines} lines: "
          + ("ok" if not errors else f"{len(errors)} problems"))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

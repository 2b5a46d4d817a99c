"""Our category-list file format: one domain per line.

    # Online gambling, curated by the security team.
    bet365.com
    pokerstars.com      # the whole site, every subdomain included

    xn--bcher-kva.de    # or bücher.de: Unicode is converted to punycode

Rules: UTF-8 text; `#` starts a comment (a whole line, or after whitespace at the end of an
entry); blank lines are ignored; each entry is a host name or an IP literal and matches itself
and every subdomain; entries are normalised exactly like hosts at lookup time
(`rules.domains.normalize_domain`). An invalid entry is reported as `file:line: reason`.
"""

from __future__ import annotations

from collections.abc import Iterable

from rules.domains import normalize_domain


def _strip_comment(line: str) -> str:
    if line.lstrip().startswith("#"):
        return ""
    for marker in (" #", "\t#"):
        cut = line.find(marker)
        if cut >= 0:
            line = line[:cut]
    return line.strip()


def parse_list(text: str, source: str = "<list>") -> tuple[list[str], list[str]]:
    """Parse list-file text into (normalised unique domains in file order, errors).

    Each error reads `source:line: reason`. Valid entries are returned even when others fail,
    so a caller can decide whether a few bad lines are fatal (bundles) or not (UT1 import).
    """
    domains: dict[str, None] = {}
    errors = []
    for number, line in enumerate(text.splitlines(), start=1):
        entry = _strip_comment(line)
        if not entry:
            continue
        try:
            domains[normalize_domain(entry)] = None
        except ValueError as exc:
            errors.append(f"{source}:{number}: {exc}")
    return list(domains), errors


def format_list(domains: Iterable[str], header: Iterable[str] = ()) -> str:
    """List-file text: `header` lines as `#` comments, then one domain per line."""
    lines = [f"# {h}".rstrip() for h in header]
    lines.extend(domains)
    return "\n".join(lines) + "\n"

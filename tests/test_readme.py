"""The README is a user guide: short, its headline numbers equal the results files, its links resolve."""

from __future__ import annotations

import re

from benchmarks import headline
from conftest import REPO

README = (REPO / "README.md").read_text()


def test_readme_is_a_guide_of_at_most_250_lines():
    assert len(README.splitlines()) <= 250


def test_headline_numbers_equal_the_results_files():
    table = headline.table()
    assert table.count("\n") >= 2, "the headline table has no rows: are the results files there?"  # header, rule, rows
    assert table.splitlines()[0].count("|") - 1 <= 7, "the README's headline keeps at most 7 columns"
    block = README.split(headline.START, 1)[1].split(headline.END, 1)[0]
    assert block.split("-->\n", 1)[1].strip() == table
    assert (REPO / "benchmarks" / "results" / "headline.md").read_text().strip() == table


def test_the_headlines_details_in_results_md_equal_the_results_files():
    details = headline.details()
    results = (REPO / "docs" / "results.md").read_text()
    block = results.split(headline.DETAILS_START, 1)[1].split(headline.DETAILS_END, 1)[0]
    assert block.split("-->\n", 1)[1].strip() == details
    assert len(details.splitlines()) == len(headline.table().splitlines())  # one row per headline row


def test_every_linked_file_exists():
    links = re.findall(r"\]\(([^)#]+)\)", README)
    assert links, "no links found"
    for link in links:
        if not link.startswith("http"):
            assert (REPO / link).exists(), link

"""Inventory's pure rules: ISBN checksums, one key per ISBN in either form, catalog filters, edits."""

from __future__ import annotations

from decimal import Decimal

import pytest

from inventory_service.domain import Book, BookChanges, BookQuery, isbn_key, normalize_isbn

GATSBY = Book("123", "The Great Gatsby", "F. Scott Fitzgerald", Decimal("15.99"), 50, "9780743273565")
SOLD_OUT = Book("9", "Tender Is the Night", "F. Scott Fitzgerald", Decimal("11.00"), 0, "9780684801544")


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("9780743273565", "9780743273565"),
        ("978-0-7432-7356-5", "9780743273565"),
        ("978 0 7432 7356 5", "9780743273565"),
        ("0306406152", "0306406152"),
        ("0-19-852663-6", "0198526636"),
        ("043942089X", "043942089X"),
        ("0-8044-2957-x", "080442957X"),
    ],
    ids=["isbn-13", "isbn-13 hyphens", "isbn-13 spaces", "isbn-10", "isbn-10 hyphens", "X check", "x check"],
)
def test_a_valid_isbn_is_kept_as_its_digits(written: str, stored: str) -> None:
    assert normalize_isbn(written) == stored


@pytest.mark.parametrize(
    "written",
    [
        "9780743273566",  # ISBN-13, check digit off by one
        "9780743273556",  # two digits swapped
        "0306406153",  # ISBN-10, wrong check digit
        "0439420891",  # should end in X
        "978074327356",  # 12 digits
        "97807432735650",  # 14 digits
        "030640615",  # 9 digits
        "",
        "978074327356X",  # X only ends an ISBN-10
        "X306406152",  # X only as the check digit
        "ISBN0306406152",
        "abcdefghij",
        "978O743273565",  # a letter O for a zero
        "٩٧٨٠٧٤٣٢٧٣٥٦٥",  # Arabic-Indic digits are digits, but not ISBN digits
        "978_0743273565",
        "978\t0743273565",
    ],
)
def test_an_invalid_isbn_is_refused(written: str) -> None:
    assert normalize_isbn(written) is None


def test_an_isbn_10_and_the_isbn_13_it_became_share_one_key() -> None:
    assert isbn_key("0743273567") == isbn_key("9780743273565") == "9780743273565"
    assert isbn_key("043942089X") == "9780439420891"
    assert isbn_key("0306406152") != isbn_key("9780743273565")


@pytest.mark.parametrize(
    ("query", "gatsby", "sold_out"),
    [
        (BookQuery(), True, True),
        (BookQuery(q="gatsby"), True, False),
        (BookQuery(q="SCOTT"), True, True),
        (BookQuery(q="night"), False, True),
        (BookQuery(q="tolstoy"), False, False),
        (BookQuery(author="f. scott fitzgerald"), True, True),
        (BookQuery(author="Fitzgerald"), False, False),  # exact, not a substring
        (BookQuery(in_stock=True), True, False),
        (BookQuery(in_stock=False), False, True),
        (BookQuery(q="the", author="F. SCOTT FITZGERALD", in_stock=True), True, False),
    ],
)
def test_a_catalog_query_matches_by_text_author_and_stock(
    query: BookQuery, gatsby: bool, sold_out: bool
) -> None:
    assert (query.matches(GATSBY), query.matches(SOLD_OUT)) == (gatsby, sold_out)


def test_changes_replace_only_the_fields_they_name() -> None:
    changed = BookChanges(price=Decimal("9.99"), isbn="0743273567").apply(GATSBY)

    assert changed == Book("123", GATSBY.title, GATSBY.author, Decimal("9.99"), 50, "0743273567")
    assert not BookChanges()
    assert BookChanges(title="x")

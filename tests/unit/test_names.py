import pytest

from samoflow.names import InvalidNameError, slugify, validate_slug


@pytest.mark.parametrize(
    "name",
    [
        "../x",
        "/etc/passwd",
        "a b",
        "ａdmin",
        "раypal",
        ".hidden",
        "x/../y",
        "",
        "A",
        "-x",
        "x" * 65,
        "a\u200bb",
        "x\\y",
    ],
)
def test_hostile_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidNameError):
        validate_slug(name)


@pytest.mark.parametrize("name", ["a", "add-jwt-auth", "s1", "x" * 64])
def test_slugs_pass(name: str) -> None:
    assert validate_slug(name) == name


def test_slugify_makes_a_valid_slug_from_any_text() -> None:
    assert slugify("Add JWT auth (v2)!") == "add-jwt-auth-v2"
    assert slugify("日本語") == "session"
    assert validate_slug(slugify("Ünïcödé   tâsk " * 10))

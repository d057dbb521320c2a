import pytest
from django.core.exceptions import ImproperlyConfigured

from core.env import Env


def test_it_parses_booleans_and_rejects_garbage():
    env = Env({"A": "yes", "B": "0", "C": "maybe"})
    assert env.boolean("A", default=False) is True
    assert env.boolean("B", default=True) is False
    assert env.boolean("MISSING", default=True) is True
    with pytest.raises(ImproperlyConfigured, match="C='maybe' is not a boolean"):
        env.boolean("C", default=False)


def test_it_parses_integers_within_bounds():
    env = Env({"N": "12", "BAD": "twelve", "NEG": "-1"})
    assert env.integer("N", default=1) == 12
    assert env.integer("MISSING", default=7) == 7
    with pytest.raises(ImproperlyConfigured, match="BAD='twelve' is not an integer"):
        env.integer("BAD", default=1)
    with pytest.raises(ImproperlyConfigured, match="below the minimum 0"):
        env.integer("NEG", default=1, min_value=0)


def test_it_requires_strings_without_default():
    env = Env({"EMPTY": "  "})
    with pytest.raises(ImproperlyConfigured, match="EMPTY is required"):
        env.string("EMPTY")
    assert env.string("EMPTY", default="x") == "x"


def test_it_splits_lists_and_checks_choices():
    env = Env({"HOSTS": "a.example, b.example,,", "FMT": "JSON", "BADFMT": "xml"})
    assert env.strings("HOSTS") == ["a.example", "b.example"]
    assert env.strings("MISSING", default=["x"]) == ["x"]
    assert env.choice("FMT", ("text", "json"), default="text") == "json"
    with pytest.raises(ImproperlyConfigured, match="must be one of: text, json"):
        env.choice("BADFMT", ("text", "json"), default="text")


def test_a_secret_comes_from_the_file_its_file_variable_names(tmp_path):
    secret = tmp_path / "secret_key"
    secret.write_text("s3cret-from-a-mounted-file\n")
    env = Env({"SECRET_KEY_FILE": str(secret), "PLAIN": "p"})
    assert env.secret("SECRET_KEY") == "s3cret-from-a-mounted-file"
    assert env.secret("PLAIN") == "p"
    assert env.secret("MISSING", default="d") == "d"
    assert env.secret_is_set("SECRET_KEY") and not env.secret_is_set("MISSING")


def test_a_secret_file_must_be_readable_non_empty_and_alone(tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(ImproperlyConfigured, match=r"SECRET_KEY_FILE='.*nope' cannot be read"):
        Env({"SECRET_KEY_FILE": str(tmp_path / "nope")}).secret("SECRET_KEY")
    with pytest.raises(ImproperlyConfigured, match="is empty"):
        Env({"SECRET_KEY_FILE": str(empty)}).secret("SECRET_KEY")
    with pytest.raises(ImproperlyConfigured, match="Set SECRET_KEY or SECRET_KEY_FILE, not both"):
        Env({"SECRET_KEY_FILE": str(empty), "SECRET_KEY": "x"}).secret("SECRET_KEY")
